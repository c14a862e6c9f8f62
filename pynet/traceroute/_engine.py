"""One trace, start to end: resolve, open the sockets, run a backend's loop,
build the result. The loop comes from pynet._backend.module("trace")."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Callable, Dict, List, Optional, Tuple

from .. import _backend
from .._backend import module
from .. import _trace_loop as tl
from .. import _wire as w
from .._errors import ResolveError, TracerouteNameError, TracerouteSocketError
from .._resolve import resolve
from ._result import METHODS, TraceResult, build_hops
from ._socket import open_sockets

__all__ = ["Plan", "lookup", "module", "run_trace"]

METHOD_NAMES = {name: number for number, name in METHODS.items()}
DEFAULT_PORT = {tl.UDP: 33434, tl.UDP_FIXED: 53, tl.ICMP: 0, tl.TCP: 80}
DEFAULT_PACKET_LEN = {4: 60, 6: 80}
FLUSH_NS = 200_000_000


@dataclass(frozen=True)
class Plan:
    method: int = tl.UDP
    port: Optional[int] = None
    first_ttl: int = 1
    max_ttl: int = 30
    queries: int = 3
    sim: int = 16
    wait_s: float = 5.0
    here: float = 3.0
    near: float = 10.0
    pause_s: float = 0.0
    packet_len: Optional[int] = None
    classic: bool = False
    source: Optional[str] = None
    privileged: Optional[bool] = None
    deadline_s: Optional[float] = None


def lookup(target: str, family: Optional[int]) -> Tuple[int, str, int]:
    """(AF_*, address text, IPv6 scope id). Raises TracerouteNameError."""
    try:
        af, sockaddr = resolve(target, family=family, socktype=socket.SOCK_DGRAM)[0]
    except ResolveError as exc:
        raise TracerouteNameError(exc.host, exc.reason) from None
    scope = int(sockaddr[3]) if af == socket.AF_INET6 and len(sockaddr) > 3 else 0
    return af, str(sockaddr[0]).split("%")[0], scope


def _flow(config: tl.LoopConfig, core: ModuleType, trace: ModuleType) -> Dict[str, int]:
    """What a load balancer sees of the probes: the ports, or the ICMP id and
    (Paris mode: the same for every probe) the checksum on the wire."""
    if config.method != tl.ICMP:
        port = config.port
        return {"source_port": config.sport, "destination_port": port}
    flow = {"icmp_id": config.ident}
    if not config.classic:
        probe = trace.build_probe(replace(config, raw=False), 0)
        if config.family == 4:
            initial = 0
        else:
            size = len(probe)
            initial = (core.sum16(config.source[:16] + config.target[:16]) + (size >> 16) +
                       (size & 0xFFFF) + w.IPPROTO_ICMPV6)
        flow["icmp_checksum"] = int(core.checksum(probe, initial))
    return flow


def run_trace(target: str, resolved: Tuple[int, str, int], plan: Plan, *,
              backend: Optional[str] = None,
              stop: Optional[Callable[[], bool]] = None) -> TraceResult:
    af, address, scope = resolved
    family = 4 if af == socket.AF_INET else 6
    trace = module("trace", backend)
    core = _backend.active if backend is None else _backend.load(backend)
    socks = open_sockets(af, address, scope, plan.method, source=plan.source,
                         privileged=plan.privileged)
    try:
        port = DEFAULT_PORT[plan.method] if plan.port is None else plan.port
        config = tl.LoopConfig(
            fd=socks.fd.fileno(),
            rfd=(socks.rfd.fileno() if socks.rfd is not None
                 else socks.fd.fileno() if socks.raw else -1),
            family=family, method=plan.method, raw=socks.raw,
            target=socket.inet_pton(af, address).ljust(16, b"\0"),
            source=socket.inet_pton(af, socks.source).ljust(16, b"\0"),
            port=port, sport=socks.sport, ident=socks.ident,
            key=int.from_bytes(os.urandom(4), "big"), scope_id=scope, classic=plan.classic,
            first_ttl=plan.first_ttl, max_ttl=plan.max_ttl, queries=plan.queries, sim=plan.sim,
            packet_len=plan.packet_len or DEFAULT_PACKET_LEN[family],
            wait_ns=int(plan.wait_s * 1e9), pause_ns=int(plan.pause_s * 1e9),
            here_milli=int(plan.here * 1000), near_milli=int(plan.near * 1000))
        loop = trace.Loop(config)
        records: List[tl.Record] = []
        end = None if plan.deadline_s is None else time.monotonic() + plan.deadline_s
        try:
            while True:
                flush = FLUSH_NS
                if end is not None:
                    # A batch never runs past the deadline by more than the
                    # loop's idle slice: it hands back what it has at flush.
                    flush = max(min(flush, int((end - time.monotonic()) * 1e9)), 0)
                records.extend(loop.records(loop.run(flush)))
                counters = loop.counters()
                if counters.done or (stop is not None and stop()):
                    break
                if end is not None and time.monotonic() >= end:
                    break
        except OSError as exc:
            raise TracerouteSocketError(exc.errno, f"trace: {exc.strerror}") from None
        finally:
            loop.close()
    finally:
        socks.close()
    hops, bad_ext = build_hops(config, records, counters.final_ttl, core)
    reached = any(p.address == address and p.final for h in hops for p in h.probes)
    flow = _flow(config, core, trace)
    return TraceResult(target, address, family, METHODS[plan.method], not plan.classic, flow,
                       plan.first_ttl, plan.max_ttl, plan.queries, config.packet_len, hops,
                       reached, counters.malformed, counters.unmatched, bad_ext)
