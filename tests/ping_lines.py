"""iputils ping's output, line by line, as regular expressions: the same
patterns must match what iputils prints and what pynet prints."""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

STAMP = r"(?:\[\d+\.\d{6}\] )?"
PATTERNS: List[Tuple[str, "re.Pattern[str]"]] = [(kind, re.compile(rx)) for kind, rx in [
    ("header4", r"^PING (?P<host>\S+) \((?P<addr>[\d.]+)\) (?:from (?P<src>\S+) (?P<dev>\S*): )?"
                r"(?P<size>\d+)\((?P<total>\d+)\) bytes of data\.$"),
    ("header6", r"^PING (?P<host>\S+)\((?P<addr>[\da-fA-F:.%\w]+)\) "
                r"(?:, flow 0x(?P<flow>[\da-f]{5}), )?"
                r"(?:from (?P<src>\S+) (?P<dev>\S*): )?(?P<size>\d+) data bytes$"),
    ("reply", r"^" + STAMP + r"(?P<bytes>\d+) bytes from (?P<from>.+?): "
              r"icmp_seq=(?P<seq>\d+)(?: ttl=(?P<ttl>\d+))?(?: time=(?P<time>\d+(?:\.\d+)?) ms)?"
              r"(?P<dup> \(DUP!\))?(?P<bad> \(BAD CHECKSUM!\))?(?P<trunc> \(truncated\))?"
              r"(?P<bell>\a)?(?P<same>\t\(same route\))?$"),
    ("pattern", r"^PATTERN: 0x(?P<pattern>[\da-f]*)$"),
    ("wrong", r"^wrong data byte #(?P<index>\d+) should be 0x(?P<sent>[\da-f]+) "
              r"but was 0x(?P<got>[\da-f]+)(?P<bell>\a)?$"),
    # the payload, dumped after a wrong byte
    ("dump", r"^#(?P<offset>\d+)\t(?P<hex>[\da-f ]*)(?P<bell>\a)?$"),
    # a reply's IPv4 options: the first line of each, then a line per entry
    ("rr", r"^RR: \t(?P<entry>.+)$"),
    ("ts", r"^TS: \t(?P<entry>.+)$"),
    ("srr", r"^(?P<strict>[LS])SRR: \t(?P<entry>.+)$"),
    ("entry", r"^\t(?P<entry>.+)$"),
    ("unrecorded", r"^Unrecorded hops: (?P<hops>\d+)$"),
    ("error", r"^" + STAMP + r"From (?P<from>\S+(?: \(\S+\))?) icmp_seq=(?P<seq>\d+) (?P<text>.+)$"),
    ("outstanding", r"^" + STAMP + r"no answer yet for icmp_seq=(?P<seq>\d+)$"),
    ("blank", r"^\s*$"),
    ("title", r"^--- (?P<host>\S+) ping statistics ---$"),
    ("counts", r"^(?P<tx>\d+) packets transmitted, (?P<rx>\d+) received"
               r"(?:, \+(?P<dups>\d+) duplicates)?(?:, \+(?P<corrupted>\d+) corrupted)?"
               r"(?:, \+(?P<errors>\d+) errors)?, (?P<loss>\d+(?:\.\d+)?)% packet loss, "
               r"time (?P<ms>\d+)ms$"),
    ("rtt", r"^rtt min/avg/max/mdev = (?P<min>\d+\.\d{3})/(?P<avg>\d+\.\d{3})/"
            r"(?P<max>\d+\.\d{3})/(?P<mdev>\d+\.\d{3}) ms(?:, pipe (?P<pipe>\d+))?"
            r"(?:, ipg/ewma (?P<ipg>\d+\.\d{3})/(?P<ewma>\d+\.\d{3}) ms)?$"),
]]


def classify(line: str) -> Tuple[str, Dict[str, Optional[str]]]:
    """The kind of an output line and its fields; AssertionError if no
    pattern matches."""
    for kind, rx in PATTERNS:
        m = rx.match(line)
        if m:
            return kind, m.groupdict()
    raise AssertionError(f"no iputils pattern matches {line!r}")


def render(text: str) -> List[str]:
    """The lines a terminal would show: backspaces (flood mode) applied."""
    lines = []
    for raw in text.split("\n"):
        screen: List[str] = []
        pos = 0
        for ch in raw:
            if ch == "\b":
                pos = max(0, pos - 1)
                continue
            if pos < len(screen):
                screen[pos] = ch
            else:
                screen.append(ch)
            pos += 1
        lines.append("".join(screen).rstrip())
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse(text: str) -> List[Tuple[str, Dict[str, Optional[str]]]]:
    return [classify(line) for line in render(text)]


def time_decimals_ok(value: str) -> bool:
    """iputils' rule for time=: 3 decimals below 1 ms, 2 below 10 ms, 1
    below 100 ms, none from 100 ms on (the value as shown, after rounding)."""
    number = float(value)
    decimals = len(value.split(".")[1]) if "." in value else 0
    want = 3 if number < 1 else 2 if number < 10 else 1 if number < 100 else 0
    return decimals == want
