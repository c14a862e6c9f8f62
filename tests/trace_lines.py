"""Linux traceroute's output, read back: the regexes both traceroute and
pynet's lines must match, line by line, and the hops they name."""

from __future__ import annotations

import re
from typing import List, Tuple

__all__ = ["HEADER", "HOP", "hops", "shape"]

HEADER = re.compile(r"^traceroute to (\S+) \((\S+)\), (\d+) hops max, (\d+) byte packets$")
_ADDR = r"[0-9A-Za-z.:-]+"
_PROBE = (rf"(?: (?P<addr>{_ADDR})(?: \({_ADDR}\))?(?: <[^>]*>)*)?  \d+\.\d{{3}} ms"
          r"(?: ![A-Z]|(?: !<\d+>)| !F-\d+)?| \*")
HOP = re.compile(rf"^ ?(\d{{1,3}}) ((?:{_PROBE})+)$")
_ONE = re.compile(_PROBE)


def shape(text: str) -> List[str]:
    """Each line's kind ("header", "hop"); AssertionError for a line that
    matches neither."""
    kinds = []
    for line in text.rstrip("\n").split("\n"):
        if HEADER.match(line):
            kinds.append("header")
        elif HOP.match(line):
            kinds.append("hop")
        else:
            raise AssertionError(f"a line of neither shape: {line!r}")
    return kinds


def hops(text: str) -> List[Tuple[int, Tuple[str, ...], Tuple[str, ...]]]:
    """(ttl, the addresses named, the annotations) per hop line."""
    out = []
    for line in text.rstrip("\n").split("\n")[1:]:
        m = HOP.match(line)
        assert m, line
        addresses: List[str] = []
        marks: List[str] = []
        for probe in _ONE.finditer(m.group(2)):
            if probe.group("addr") and probe.group("addr") not in addresses:
                addresses.append(probe.group("addr"))
            mark = re.search(r"(![A-Z]\S*|!<\d+>)$", probe.group(0))
            if mark:
                marks.append(mark.group(1))
        out.append((int(m.group(1)), tuple(addresses), tuple(marks)))
    return out
