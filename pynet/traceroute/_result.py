"""TraceResult and its parts, built from the loop's records.

Named tuples, as PingResult is, not dataclasses: `pynet traceroute` starts
without the dataclasses module (and inspect, which it loads), and
build_hops makes a probe with one tuple.__new__."""

from __future__ import annotations

import os
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple
else:
    from .._records import NamedTuple

from .. import _trace_loop as tl
from .. import _wire as w
from ._extensions import Extension, parse_extensions

__all__ = ["TraceHop", "TraceProbe", "TraceResult", "annotation", "build_hops"]

METHODS = {tl.UDP: "udp", tl.UDP_FIXED: "udp-port", tl.ICMP: "icmp", tl.TCP: "tcp"}

# Linux traceroute's marks for destination unreachable codes.
_UNREACH4 = {0: "!N", 1: "!H", 2: "!P", 3: "", 5: "!S", 9: "!X", 10: "!X", 13: "!X",
             14: "!V", 15: "!C"}
_UNREACH6 = {0: "!N", 1: "!X", 3: "!H", 4: "", 5: "!X", 6: "!X"}


def annotation(family: int, icmp_type: Optional[int], code: Optional[int], info: int,
               method: int) -> str:
    """The mark Linux traceroute prints after a probe's time ("" for none)."""
    if icmp_type is None or code is None or icmp_type == tl.TCP_REPLY:
        return ""
    if family == 4:
        if icmp_type == w.ICMP_DEST_UNREACH:
            if code == 4:
                return f"!F-{info & 0xFFFF}"
            return _UNREACH4.get(code, f"!<{code}>")
        if icmp_type in (w.ICMP_TIME_EXCEEDED, w.ICMP_ECHO_REPLY):
            return ""
    else:
        if icmp_type == w.ICMP6_DEST_UNREACH:
            return _UNREACH6.get(code, f"!<{code}>")
        if icmp_type == w.ICMP6_PACKET_TOO_BIG:
            return f"!F-{info}"
        if icmp_type in (w.ICMP6_TIME_EXCEEDED, w.ICMP6_ECHO_REPLY):
            return ""
    return f"!<{code}>" if icmp_type not in w.ERROR_TYPES[family] else ""


class TraceProbe(NamedTuple):
    """One probe and its answer. address/rtt_ms are None for a probe that
    timed out ("*"); icmp_type/icmp_code are the answer's (tcp: None, and
    tcp_flags set); reply_ttl is the answer's TTL/hop limit as it arrived."""

    ttl: int
    probe: int
    address: Optional[str]
    rtt_ms: Optional[float]
    reply_ttl: Optional[int]
    icmp_type: Optional[int]
    icmp_code: Optional[int]
    tcp_flags: Optional[int]
    annotation: str
    final: bool
    extensions: Tuple[Extension, ...] = ()
    error: Optional[str] = None       # a send that failed: its errno's words

    @property
    def answered(self) -> bool:
        return self.address is not None


class TraceHop(NamedTuple):
    ttl: int
    probes: Tuple[TraceProbe, ...]

    @property
    def addresses(self) -> Tuple[str, ...]:
        """The distinct addresses that answered, in order of first answer."""
        seen: List[str] = []
        for probe in self.probes:
            if probe.address is not None and probe.address not in seen:
                seen.append(probe.address)
        return tuple(seen)


class TraceResult(NamedTuple):
    """A whole trace. hops run from first_ttl to the hop that ended the
    trace (reached: the target answered) or to max_ttl."""

    target: str
    address: str
    family: int
    method: str
    paris: bool
    flow: Dict[str, int]
    first_ttl: int
    max_ttl: int
    queries: int
    packet_len: int
    hops: Tuple[TraceHop, ...]
    reached: bool
    malformed: int
    unmatched: int
    extensions_malformed: int

    def to_dict(self) -> Dict[str, Any]:
        """Every field, the hops, probes and extensions as dicts in turn."""
        doc = self._asdict()
        doc["flow"] = dict(self.flow)
        doc["hops"] = tuple({"ttl": hop.ttl, "probes": tuple(_probe_dict(p) for p in hop.probes)}
                            for hop in self.hops)
        return doc


def _probe_dict(probe: TraceProbe) -> Dict[str, Any]:
    doc = probe._asdict()
    doc["extensions"] = tuple(e._asdict() for e in probe.extensions)
    return doc


_new = tuple.__new__
_STAR_REST = (None, None, None, None, None, None, "", False, (), None)


def build_hops(config: tl.LoopConfig, records: Sequence[tl.Record], final_ttl: int,
               backend: Any) -> Tuple[Tuple[TraceHop, ...], int]:
    """The hops from the records: first_ttl up to the final TTL (or max_ttl),
    each with its queries in probe order; and how many extension structures
    were malformed."""
    last = final_ttl if final_ttl else config.max_ttl
    family, method = config.family, config.method
    af, size = (socket.AF_INET, 4) if family == 4 else (socket.AF_INET6, 16)
    slots: Dict[Tuple[int, int], TraceProbe] = {}
    names: Dict[bytes, str] = {}      # a hop answers every query from one address, mostly
    marks: Dict[Tuple[int, int, int], str] = {}
    bad_ext = 0
    for (ttl, probe, kind, flags, icmp_type, code, rtt_ns, reply_ttl, info, _when, ext_len,
         sender, ext) in records:
        if ttl > last:
            continue
        if kind == tl.REPLY:
            tcp = icmp_type == tl.TCP_REPLY
            extensions: Tuple[Extension, ...] = ()
            if ext_len > 0:
                extensions, bad = parse_extensions(ext[:ext_len], backend)
                bad_ext += bad
            address = names.get(sender)
            if address is None:
                address = names[sender] = socket.inet_ntop(af, sender[:size])
            mark = marks.get((icmp_type, code, info))
            if mark is None:
                mark = marks[(icmp_type, code, info)] = annotation(
                    family, None if tcp else icmp_type, code, info, method)
            slots[(ttl, probe)] = _new(TraceProbe, (
                ttl, probe, address, rtt_ns / 1e6, None if reply_ttl < 0 else reply_ttl,
                None if tcp else icmp_type, None if tcp else code, code if tcp else None,
                mark, bool(flags & tl.FINAL), extensions, None))
        elif kind == tl.SEND_FAILED:
            slots[(ttl, probe)] = _new(TraceProbe, (ttl, probe, None, None, None, None, None,
                                                    None, "", False, (), os.strerror(info)))
    hops = []
    get = slots.get
    queries = range(config.queries)
    for ttl in range(config.first_ttl, last + 1):
        probes = tuple(get((ttl, q)) or _new(TraceProbe, (ttl, q) + _STAR_REST)
                       for q in queries)
        hops.append(_new(TraceHop, (ttl, probes)))
    return tuple(hops), bad_ext
