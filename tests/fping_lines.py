"""fping's output, line by line, as regular expressions: the same patterns
must match what fping 5.1 prints and what pynet fping prints."""

from __future__ import annotations

import re
from collections import Counter
from typing import Dict, List, Optional, Tuple

TIME = r"(?:\d+\.\d{3}|\d\.\d{2}|\d{2}\.\d|\d{3,})"
STAMP = r"(?:\[\d+\.\d{5}\] )?"
NAME = r"(?P<name>\S+) *"
PATTERNS: List[Tuple[str, "re.Pattern[str]"]] = [(kind, re.compile(rx)) for kind, rx in [
    ("alive", r"^" + NAME + r" is alive(?: \((?P<elapsed>" + TIME + r") ms\))?$"),
    ("unreachable", r"^" + NAME + r" is unreachable$"),
    ("reply", r"^" + STAMP + NAME + r" : \[(?P<probe>\d+)\], (?P<bytes>\d+) bytes, "
              r"(?P<ms>" + TIME + r") ms \((?P<avg>" + TIME + r") avg, (?P<loss>\d+)% loss\)$"),
    ("timeout", r"^" + STAMP + NAME + r" : \[(?P<probe>\d+)\], timed out "
                r"\((?P<avg>NaN|" + TIME + r") avg, (?P<loss>\d+)% loss\)$"),
    ("count", r"^" + NAME + r" : xmt/rcv/%loss = (?P<xmt>\d+)/(?P<rcv>\d+)/(?P<loss>\d+)%"
              r"(?:, outage\(ms\) = (?P<outage>\d+))?"
              r"(?:, min/avg/max = (?P<min>" + TIME + r")/(?P<avg>" + TIME + r")/(?P<max>"
              + TIME + r"))?$"),
    ("duplicate", r"^" + NAME + r" : duplicate for \[(?P<probe>\d+)\], (?P<bytes>\d+) bytes, "
                  r"(?P<ms>" + TIME + r") ms$"),
    ("vcount", r"^" + NAME + r" :(?P<times>(?: (?:-|" + TIME + r"))+)$"),
    ("interval", r"^\[\d{2}:\d{2}:\d{2}\]$"),
    ("stat", r"^ +(?P<n>\d+) (?P<what>targets|alive|unreachable|unknown addresses|"
             r"timeouts \(waiting for response\)|ICMP Echos sent|ICMP Echo Replies received|"
             r"other ICMP received)$"),
    ("stat_ms", r"^ (?P<ms>" + TIME + r") ms \((?P<what>min|avg|max) round trip time\)$"),
    ("elapsed", r"^ +(?P<s>\d+\.\d{3}) sec \(elapsed real time\)$"),
    ("reachable", r"^(?:Enough|Not enough) hosts reachable \(required: (?P<req>\d+), "
                  r"reachable: (?P<got>\d+)\)$"),
    ("bare", r"^" + NAME + r"$"),
    ("blank", r"^$"),
]]


def classify(line: str) -> Tuple[str, Dict[str, Optional[str]]]:
    for kind, rx in PATTERNS:
        m = rx.match(line)
        if m:
            return kind, m.groupdict()
    raise AssertionError(f"no fping pattern matches {line!r}")


def parse(text: str) -> List[Tuple[str, Dict[str, Optional[str]]]]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [classify(line) for line in lines]


def fields(text: str) -> Counter[Tuple[str, ...]]:
    """Each line's kind and the fields that do not depend on timing."""
    out: Counter[Tuple[str, ...]] = Counter()
    for kind, f in parse(text):
        if kind in ("reply", "timeout"):
            key: Tuple[str, ...] = (kind, f["name"] or "", f["probe"] or "",
                                    f.get("bytes") or "", f["loss"] or "")
        elif kind == "count":
            key = (kind, f["name"] or "", f["xmt"] or "", f["rcv"] or "", f["loss"] or "",
                   f["outage"] or "", str(f["min"] is not None))
        elif kind == "vcount":
            times = (f["times"] or "").split()
            key = (kind, f["name"] or "", str(len(times)), str(times.count("-")))
        elif kind == "stat":
            key = (kind, f["what"] or "", f["n"] or "")
        elif kind in ("stat_ms", "elapsed", "interval"):
            key = (kind, f.get("what") or "")
        elif kind == "duplicate":
            key = (kind, f["name"] or "", f["probe"] or "", f["bytes"] or "")
        elif kind == "alive":
            key = (kind, f["name"] or "", str(f["elapsed"] is not None))
        else:
            key = (kind, *(v or "" for v in f.values()))
        out[key] += 1
    return out
