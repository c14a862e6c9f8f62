"""What the command prints: Linux traceroute's lines, mtr's report, JSON."""

from __future__ import annotations

import math
import socket
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Union

from ._extensions import format_extensions
from ._result import TraceHop, TraceProbe, TraceResult

__all__ = ["Names", "header", "header_line", "hop_line", "json_document", "report", "trace_lines"]


class Names:
    """Reverse lookups, one per address (traceroute without -n)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.cache: Dict[str, str] = {}

    def __call__(self, address: str) -> str:
        if not self.enabled:
            return address
        name = self.cache.get(address)
        if name is None:
            try:
                name = socket.getnameinfo((address, 0), socket.NI_NAMEREQD)[0]
            except (OSError, UnicodeError):
                name = address
            self.cache[address] = name
        return name


def header(result: TraceResult) -> str:
    return header_line(result.target, result.address, result.max_ttl, result.packet_len)


def header_line(target: str, address: str, max_ttl: int, packet_len: int) -> str:
    return (f"traceroute to {target} ({address}), {max_ttl} hops max, "
            f"{packet_len} byte packets")


def _address_text(probe: TraceProbe, names: Names, numeric: bool) -> str:
    assert probe.address is not None
    if numeric:
        return f" {probe.address}"
    return f" {names(probe.address)} ({probe.address})"


def hop_line(hop: TraceHop, names: Names, *, numeric: bool, extensions: bool) -> str:
    """One hop as Linux traceroute prints it: the address again whenever it
    (or its extensions) differs from the last answered probe's."""
    parts = [f"{hop.ttl:2d} "]
    previous: Optional[TraceProbe] = None
    for probe in hop.probes:
        if probe.address is None:
            parts.append(" *")
            if probe.error:
                parts.append(f" !<{probe.error}>")
            continue
        ext = format_extensions(probe.extensions) if extensions else ""
        if previous is None or previous.address != probe.address or (
                extensions and format_extensions(previous.extensions) != ext):
            parts.append(_address_text(probe, names, numeric))
            parts.append(ext)
        previous = probe
        parts.append(f"  {probe.rtt_ms:.3f} ms")
        if probe.annotation:
            parts.append(f" {probe.annotation}")
    return "".join(parts)


def trace_lines(result: TraceResult, *, numeric: bool, extensions: bool = False,
                names: Optional[Names] = None) -> List[str]:
    names = names or Names(not numeric)
    return [header(result)] + [hop_line(h, names, numeric=numeric, extensions=extensions)
                               for h in result.hops]


def json_document(results: Sequence[Union[TraceResult, Dict[str, Any]]]) -> str:
    """One trace's object, or a list in order for several; an item that is
    a dict already (a target that could not be traced: its "target" and
    "error") goes in as it is."""
    import json     # only for --json: the command starts sooner without it

    docs = [r if isinstance(r, dict) else r.to_dict() for r in results]
    return json.dumps(docs[0] if len(docs) == 1 else docs)


def _stdev(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def report(result: TraceResult, *, numeric: bool, names: Optional[Names] = None,
           start: Optional[float] = None) -> List[str]:
    """mtr --report's layout: a start line, a header, one line per hop
    (further addresses of a hop on lines of their own)."""
    names = names or Names(not numeric)
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start or time.time()))
    host = socket.gethostname()
    lines = [f"Start: {when}",
             f"HOST: {host:<28s}Loss%   Snt   Last   Avg  Best  Wrst StDev"]
    for hop in result.hops:
        rtts = [p.rtt_ms for p in hop.probes if p.rtt_ms is not None]
        sent = len(hop.probes)
        loss = 100.0 * (sent - len(rtts)) / sent
        addresses = hop.addresses
        shown = names(addresses[0]) if addresses else "???"
        last = next((p.rtt_ms for p in reversed(hop.probes) if p.rtt_ms is not None), 0.0)
        stats = (last, sum(rtts) / len(rtts), min(rtts), max(rtts), _stdev(rtts)) if rtts \
            else (0.0, 0.0, 0.0, 0.0, 0.0)
        label = f"{hop.ttl:3d}.|-- {shown}"
        last_ms, *rest = stats
        lines.append(f"{label:<33s}{loss:5.1f}%{sent:6d}{last_ms:7.1f}" +
                     "".join(f"{v:6.1f}" for v in rest))
        for extra in addresses[1:]:
            lines.append(f"    |  `|-- {names(extra)}")
    return lines
