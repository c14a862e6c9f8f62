"""One trace, start to end: resolve, open the sockets, run a backend's loop,
build the result. The loop comes from pynet._backend.module("trace")."""

from __future__ import annotations

import os
import queue
import socket
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple
    from typing import TypeAlias
else:
    from .._records import NamedTuple

from .. import _backend
from .._backend import module
from .. import _trace_loop as tl
from .. import _wire as w
from .._errors import (ResolveError, TracerouteError, TracerouteNameError,
                       TracerouteSocketError)
from .._resolve import resolve
from ._result import METHODS, TraceResult, build_hops
from ._socket import NO_TUNING, Sockets, Tuning, open_sockets

__all__ = ["Plan", "lookup", "module", "run_many", "run_trace"]

METHOD_NAMES = {name: number for number, name in METHODS.items()}
DEFAULT_PORT = {tl.UDP: 33434, tl.UDP_FIXED: 53, tl.ICMP: 0, tl.TCP: 80}
DEFAULT_PACKET_LEN = {4: 60, 6: 80}
IP_HEADER_LEN = {4: 20, 6: 40}


def probe_length(method: int, family: int, asked: Optional[int]) -> int:
    """The length a trace's probes have: as asked, but no shorter than the
    IP and UDP/ICMP headers and the probe's mark; TCP probes are a SYN with
    its options whatever is asked, as Linux traceroute sends them."""
    if method == tl.TCP or asked is None:
        return DEFAULT_PACKET_LEN[family]
    return max(asked, IP_HEADER_LEN[family] + 8 + tl.PROBE_MARK.size)
FLUSH_NS = 200_000_000


class Plan(NamedTuple):
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
    tuning: Tuning = NO_TUNING


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
        probe = trace.build_probe(config._replace(raw=False), 0)
        if config.family == 4:
            initial = 0
        else:
            size = len(probe)
            initial = (core.sum16(config.source[:16] + config.target[:16]) + (size >> 16) +
                       (size & 0xFFFF) + w.IPPROTO_ICMPV6)
        flow["icmp_checksum"] = int(core.checksum(probe, initial))
    return flow


def _configure(resolved: Tuple[int, str, int], plan: Plan,
               socks: Sockets) -> tl.LoopConfig:
    af, address, scope = resolved
    family = 4 if af == socket.AF_INET else 6
    port = DEFAULT_PORT[plan.method] if plan.port is None else plan.port
    return tl.loop_config(
        fd=socks.fd.fileno(),
        rfd=(socks.rfd.fileno() if socks.rfd is not None
             else socks.fd.fileno() if socks.raw else -1),
        family=family, method=plan.method, raw=socks.raw,
        target=socket.inet_pton(af, address).ljust(16, b"\0"),
        source=socket.inet_pton(af, socks.source).ljust(16, b"\0"),
        port=port, sport=socks.sport, ident=socks.ident,
        key=int.from_bytes(os.urandom(4), "big"), scope_id=scope, classic=plan.classic,
        first_ttl=plan.first_ttl, max_ttl=plan.max_ttl, queries=plan.queries, sim=plan.sim,
        packet_len=probe_length(plan.method, family, plan.packet_len),
        wait_ns=int(plan.wait_s * 1e9), pause_ns=int(plan.pause_s * 1e9),
        here_milli=int(plan.here * 1000), near_milli=int(plan.near * 1000))


def _open(resolved: Tuple[int, str, int], plan: Plan) -> Sockets:
    af, address, scope = resolved
    return open_sockets(af, address, scope, plan.method, source=plan.source,
                        privileged=plan.privileged, tuning=plan.tuning)


def _result(target: str, address: str, plan: Plan, config: tl.LoopConfig,
            records: List[tl.Record], counters: tl.Counters, core: ModuleType,
            trace: ModuleType) -> TraceResult:
    hops, bad_ext = build_hops(config, records, counters.final_ttl, core)
    reached = any(p.address == address and p.final for h in hops for p in h.probes)
    flow = _flow(config, core, trace)
    return TraceResult(target, address, config.family, METHODS[plan.method], not plan.classic,
                       flow, plan.first_ttl, plan.max_ttl, plan.queries, config.packet_len,
                       hops, reached, counters.malformed, counters.unmatched, bad_ext)


def _flush(end: Optional[float]) -> int:
    """A batch's flush: never past the deadline by more than the loop's idle
    slice (a loop hands back what it has at flush)."""
    if end is None:
        return FLUSH_NS
    return max(min(FLUSH_NS, int((end - time.monotonic()) * 1e9)), 0)


def run_trace(target: str, resolved: Tuple[int, str, int], plan: Plan, *,
              backend: Optional[str] = None,
              stop: Optional[Callable[[], bool]] = None) -> TraceResult:
    trace = module("trace", backend)
    core = _backend.active if backend is None else _backend.load(backend)
    socks = _open(resolved, plan)
    try:
        config = _configure(resolved, plan, socks)
        loop = trace.Loop(config)
        records: List[tl.Record] = []
        end = None if plan.deadline_s is None else time.monotonic() + plan.deadline_s
        try:
            while True:
                records.extend(loop.records(loop.run(_flush(end))))
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
    return _result(target, resolved[1], plan, config, records, counters, core, trace)


class _Running:
    """A trace on its way: opened by the caller's thread, run in a slot of
    a loop thread, its result built by the caller's thread again."""

    __slots__ = ("index", "target", "address", "socks", "config", "end", "records", "counters")

    def __init__(self, index: int, target: str, address: str, socks: Sockets,
                 config: tl.LoopConfig) -> None:
        self.index = index
        self.target = target
        self.address = address
        self.socks = socks
        self.config = config
        self.end: Optional[float] = None
        self.records: List[tl.Record] = []
        self.counters: Optional[tl.Counters] = None


Job: TypeAlias = "Tuple[str, Tuple[int, str, int]]"
# Targets per loop thread before a second one pays: the kernel forwards and
# answers each loop's probes on the CPU that sent them.
TRACES_PER_LOOP = 64
# How long a thread waits for the others before it looks at its own work.
POLL_S = 0.05

def run_many(jobs: Sequence[Job], plan: Plan, *, backend: Optional[str] = None,
             window: int = 256, loops: Optional[int] = None,
             keep_errors: bool = False,
             emit: Optional[Callable[[int, Any], None]] = None) -> List[Any]:
    """Every (target, resolved) traced, `window` at a time in all, results in
    the order given. The calling thread opens each trace's sockets and
    builds each result; `loops` threads (one per CPU unless given, fewer for
    few targets) each drive their share of the traces in one backend Many
    loop (the C one without the GIL), so the kernel's work for the probes
    is spread over the CPUs and Python's work runs beside it. At most
    2 x window traces have sockets open at once: those running, and as many
    opened ahead. keep_errors: a trace whose sockets cannot be set up
    (TracerouteError) has that error in its place and the others go on;
    else the error ends the run. emit(index, result or error), if given, is
    called by the calling thread as each one is known."""
    if not jobs:
        return []
    if loops is None:
        loops = min(os.cpu_count() or 1, max(1, len(jobs) // TRACES_PER_LOOP))
    window = max(1, min(window, len(jobs)))
    loops = max(1, min(loops, window))
    trace = module("trace", backend)
    core = _backend.active if backend is None else _backend.load(backend)
    feed = _Feed(window)
    finished: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
    threads = [threading.Thread(target=_loop_thread,
                                args=(trace, plan, -(-window // loops), feed, finished),
                                name=f"pynet-trace-{k}", daemon=True)
               for k in range(loops)]
    results: List[Any] = [None] * len(jobs)
    waiting = iter(enumerate(jobs))
    pending: Optional[_Running] = None
    running = loops

    def known(index: int, outcome: Any) -> None:
        results[index] = outcome
        if emit is not None:
            emit(index, outcome)

    for thread in threads:
        thread.start()
    try:
        while running:
            # Keep the loops fed, then fold one thing they finished.
            while not feed.fed.is_set():
                if pending is None:
                    job = next(waiting, None)
                    if job is None:
                        feed.fed.set()
                        break
                    index, (target, resolved) = job
                    try:
                        socks = _open(resolved, plan)
                    except TracerouteError as exc:
                        if not keep_errors:
                            raise
                        known(index, exc)
                        continue
                    pending = _Running(index, target, resolved[1], socks,
                                       _configure(resolved, plan, socks))
                try:
                    feed.opened.put_nowait(pending)
                except queue.Full:
                    break
                pending = None
            try:
                item = finished.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                assert item.counters is not None
                known(item.index, _result(item.target, item.address, plan, item.config,
                                          item.records, item.counters, core, trace))
    except TracerouteError:
        raise
    except OSError as exc:
        raise TracerouteSocketError(exc.errno, f"trace: {exc.strerror}") from None
    finally:
        feed.abort.set()
        for thread in threads:
            thread.join()
        if pending is not None:
            pending.socks.close()
        feed.close()
    return [r for r in results if r is not None]


class _Feed:
    """Opened traces on their way from the caller's thread to the loops."""

    def __init__(self, size: int) -> None:
        self.opened: "queue.Queue[_Running]" = queue.Queue(maxsize=size)
        self.fed = threading.Event()     # set once every trace has been put
        self.abort = threading.Event()   # set to make the loops drop their traces and end

    def take(self, wait: bool) -> Tuple[Optional[_Running], bool]:
        """(an opened trace or None, whether more may come)."""
        fed = self.fed.is_set()          # before the get: a put before fed is seen
        try:
            if wait and not fed:
                return self.opened.get(timeout=POLL_S), True
            return self.opened.get_nowait(), True
        except queue.Empty:
            return None, not fed

    def close(self) -> None:
        """Close the sockets of traces no loop took."""
        while True:
            try:
                self.opened.get_nowait().socks.close()
            except queue.Empty:
                return


def _loop_thread(trace: ModuleType, plan: Plan, window: int, feed: _Feed,
                 finished: "queue.SimpleQueue[Any]") -> None:
    """One Many loop: takes opened traces into free slots, runs them, hands
    each finished one back (sockets closed), then None when it ends."""
    many = trace.Many(window)
    running: Dict[int, _Running] = {}
    free = list(range(window - 1, -1, -1))
    more = True
    try:
        while (more or running) and not feed.abort.is_set():
            while more and free:
                job, more = feed.take(wait=not running)
                if job is None:
                    break
                try:
                    many.start(free[-1], job.config)
                except BaseException:
                    job.socks.close()
                    raise
                if plan.deadline_s is not None:
                    job.end = time.monotonic() + plan.deadline_s
                running[free.pop()] = job
            if not running:
                continue
            timed = plan.deadline_s is not None
            ends = [job.end for job in running.values() if job.end is not None] if timed else []
            seen = set()
            for slot, record in many.records(many.run(_flush(min(ends) if ends else None))):
                running[slot].records.append(record)
                seen.add(slot)
            now = time.monotonic()
            # Only a trace with new records can have finished, unless traces
            # have deadlines: then every one is looked at.
            for slot in list(running) if timed else seen:
                job = running[slot]
                if ((slot in seen and many.counters(slot).done)
                        or (job.end is not None and now >= job.end)):
                    job.counters = many.counters(slot)
                    many.release(slot)
                    job.socks.close()
                    del running[slot]
                    free.append(slot)
                    finished.put(job)
    except BaseException as exc:  # handed to the caller's thread
        finished.put(exc)
    finally:
        for slot, job in running.items():
            many.release(slot)
            job.socks.close()
        many.close()
        finished.put(None)
