"""pynet.traceroute() and pynet.async_traceroute(): the library face."""

from __future__ import annotations

import functools
import math
import resource
import threading
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Sequence

from .. import _trace_loop as tl
from .._errors import TracerouteNameError
from ._engine import METHOD_NAMES, Plan, lookup, run_many, run_trace
from ._socket import Tuning
from ._result import TraceResult

__all__ = ["async_traceroute", "make_plan", "trace_each", "traceroute", "traceroute_many"]

# Traces at once for many targets, all in one loop per CPU: enough to keep
# a path busy, and no more than the descriptors allow (TCP traces hold three
# sockets each; a few are kept for everything else).
WORKERS_MAX = 256
# A raw socket gets a copy of every ICMP message (and the raw TCP one of
# every segment) that reaches the host, so each trace over raw sockets reads
# every other trace's answers too: past about 16 of them the copies overflow
# their receive buffers and answers are lost (measured: 1,000 targets with
# -I lose none at 16 at once, 788 probes at 32).
WORKERS_RAW = 16
SOCKETS_PER_TRACE = {tl.TCP: 3}
FDS_SPARE = 32


def _window(count: int, workers: Optional[int], plan: Plan) -> int:
    """Traces at once for count targets."""
    if workers is not None:
        _int(workers, "workers", 1, 1 << 20)
        allowed = workers
    elif plan.method == tl.TCP or (plan.method == tl.ICMP and plan.privileged is not False):
        allowed = WORKERS_RAW
    else:
        allowed = WORKERS_MAX
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        # Twice: the traces running, and as many opened ahead for them.
        per_trace = 2 * SOCKETS_PER_TRACE.get(plan.method, 1)
        allowed = min(allowed, max(1, (soft - FDS_SPARE) // per_trace))
    return max(1, min(count, allowed))


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def make_plan(method: str, port: Optional[int], first_ttl: int, max_ttl: int, queries: int,
              sim: int, wait: float, pause: float, packet_len: Optional[int], classic: bool,
              source: Optional[str], privileged: Optional[bool], here: float = 3.0,
              near: float = 10.0, deadline: Optional[float] = None, *,
              interface: Optional[str] = None, tos: Optional[int] = None,
              dont_fragment: bool = False, mark: Optional[int] = None) -> Plan:
    """Checked arguments as a Plan (TypeError/ValueError naming the argument)."""
    if method not in METHOD_NAMES:
        raise ValueError(f"method must be one of {', '.join(METHOD_NAMES)}, got {method!r}")
    if port is not None:
        _int(port, "port", 1, 65535)
    _int(max_ttl, "max_ttl", 1, tl.MAX_TTL)
    _int(first_ttl, "first_ttl", 1, max_ttl)
    _int(queries, "queries", 1, tl.MAX_QUERIES)
    _int(sim, "sim", 1, tl.MAX_PROBES)
    if packet_len is not None:
        _int(packet_len, "packet_len", 0, 65000)   # shorter: the headers' least
    if interface is not None and (not isinstance(interface, str) or not interface
                                  or len(interface.encode()) > 15 or "/" in interface):
        raise ValueError(f"interface must be an interface name, got {interface!r}")
    if tos is not None:
        _int(tos, "tos", 0, 255)
    if mark is not None:
        _int(mark, "mark", 0, 0xFFFFFFFF)
    return Plan(METHOD_NAMES[method], port, first_ttl, max_ttl, queries, sim,
                _seconds(wait, "wait"), _seconds(here, "here"), _seconds(near, "near"),
                _seconds(pause, "pause"), packet_len, bool(classic), source, privileged,
                None if deadline is None else _seconds(deadline, "deadline"),
                Tuning(interface, mark, tos, bool(dont_fragment)))


def traceroute(target: str, *, method: str = "udp", family: Optional[int] = None,
               port: Optional[int] = None, first_ttl: int = 1, max_ttl: int = 30,
               queries: int = 3, sim: int = 16, wait: float = 5.0, here: float = 3.0,
               near: float = 10.0, pause: float = 0.0, packet_len: Optional[int] = None,
               classic: bool = False, source: Optional[str] = None,
               privileged: Optional[bool] = None, deadline: Optional[float] = None,
               interface: Optional[str] = None, tos: Optional[int] = None,
               dont_fragment: bool = False, mark: Optional[int] = None,
               backend: Optional[str] = None,
               stop: Optional[Callable[[], bool]] = None) -> TraceResult:
    """Trace the path to target, as Linux traceroute does, every TTL at once.

    method: "udp" (ports 33434 up), "udp-port" (one port, 53 unless given:
    -U), "icmp" (-I), "tcp" (SYN, port 80 unless given: -T). Paris mode
    unless classic: the flow (addresses, ports, ICMP checksum) is the same
    for every probe, so load balancers keep them on one path. wait: seconds
    for an answer per probe at most, and (as Linux traceroute's -w
    MAX,HERE,NEAR) no longer than `here` times the round trip of an answer
    from the same hop or `near` times that of a later hop (0: off); pause:
    seconds between probes; sim: probes unanswered at once; deadline:
    seconds for the whole trace (None: until every probe is answered or
    given up), past which it ends with the answers it has (reached False
    unless the target had answered). interface (-i), tos (-t: the IPv4 TOS or
    IPv6 traffic class byte), dont_fragment (-F; else the probes may be
    fragmented, as Linux traceroute's) and mark (--fwmark, SO_MARK) tune the
    sockets as Linux traceroute does. Raises TracerouteNameError (before
    sending), TraceroutePermissionError, TracerouteSocketError (its
    TracerouteSetupError: a source, interface or option the kernel refused)
    (TracerouteError).
    """
    plan = make_plan(method, port, first_ttl, max_ttl, queries, sim, wait, pause, packet_len,
                     classic, source, privileged, here, near, deadline, interface=interface,
                     tos=tos, dont_fragment=dont_fragment, mark=mark)
    if family not in (None, 4, 6):
        raise ValueError(f"family must be 4, 6 or None, got {family!r}")
    return run_trace(target, lookup(target, family), plan, backend=backend, stop=stop)


def traceroute_many(targets: Sequence[str], *, family: Optional[int] = None,
                    backend: Optional[str] = None, workers: Optional[int] = None,
                    return_exceptions: bool = False, **options: Any) -> List[Any]:
    """traceroute() for each target, traced concurrently in one loop
    (`workers` traces at once at most: unless given, 256, or 16 over raw
    sockets (tcp; icmp unless privileged is False), fewer when the
    descriptor limit says so); results in the order given. Every name is
    resolved before anything is sent. A target that fails (a name that does
    not resolve, sockets that cannot be set up) raises its TracerouteError
    and nothing is returned; with return_exceptions (as asyncio.gather's),
    its error takes its place in the list and every other target is traced."""
    return trace_each(targets, None, family=family, backend=backend, workers=workers,
                      return_exceptions=return_exceptions, **options)


def trace_each(targets: Sequence[str], emit: Optional[Callable[[int, Any], None]], *,
               family: Optional[int] = None, backend: Optional[str] = None,
               workers: Optional[int] = None, return_exceptions: bool = False,
               **options: Any) -> List[Any]:
    """traceroute_many(), and emit(place, outcome) called by this thread as
    each target's outcome is known (the command prints as they come)."""
    plan = make_plan(options.pop("method", "udp"), options.pop("port", None),
                     options.pop("first_ttl", 1), options.pop("max_ttl", 30),
                     options.pop("queries", 3), options.pop("sim", 16),
                     options.pop("wait", 5.0), options.pop("pause", 0.0),
                     options.pop("packet_len", None), options.pop("classic", False),
                     options.pop("source", None), options.pop("privileged", None),
                     options.pop("here", 3.0), options.pop("near", 10.0),
                     options.pop("deadline", None), interface=options.pop("interface", None),
                     tos=options.pop("tos", None),
                     dont_fragment=options.pop("dont_fragment", False),
                     mark=options.pop("mark", None))
    if options:
        raise TypeError(f"unexpected keyword argument {next(iter(options))!r}")
    outcomes: List[Any] = [None] * len(targets)
    jobs, places = [], []
    for place, target in enumerate(targets):
        try:
            jobs.append((target, lookup(target, family)))
        except TracerouteNameError as exc:
            if not return_exceptions:
                raise
            outcomes[place] = exc
            if emit is not None:
                emit(place, exc)
            continue
        places.append(place)
    if jobs:
        def placed(i: int, outcome: Any) -> None:
            if emit is not None:
                emit(places[i], outcome)

        traced = run_many(jobs, plan, backend=backend, window=_window(len(jobs), workers, plan),
                          keep_errors=return_exceptions, emit=None if emit is None else placed)
        for place, outcome in zip(places, traced):
            outcomes[place] = outcome
    return outcomes


async def async_traceroute(target: str, *, method: str = "udp", family: Optional[int] = None,
                           port: Optional[int] = None, first_ttl: int = 1, max_ttl: int = 30,
                           queries: int = 3, sim: int = 16, wait: float = 5.0,
                           here: float = 3.0, near: float = 10.0, pause: float = 0.0,
                           packet_len: Optional[int] = None,
                           classic: bool = False, source: Optional[str] = None,
                           privileged: Optional[bool] = None, deadline: Optional[float] = None,
                           interface: Optional[str] = None, tos: Optional[int] = None,
                           dont_fragment: bool = False, mark: Optional[int] = None,
                           backend: Optional[str] = None) -> TraceResult:
    """traceroute() for asyncio: the loop runs in a worker thread (the C
    loop without the GIL); cancelling the task ends the run at its next
    batch. The name is resolved on the event loop's resolver first."""
    import asyncio

    from .._errors import ResolveError
    from .._resolve import resolve_async

    plan = make_plan(method, port, first_ttl, max_ttl, queries, sim, wait, pause, packet_len,
                     classic, source, privileged, here, near, deadline, interface=interface,
                     tos=tos, dont_fragment=dont_fragment, mark=mark)
    if family not in (None, 4, 6):
        raise ValueError(f"family must be 4, 6 or None, got {family!r}")
    import socket
    try:
        af, sockaddr = (await resolve_async(target, family=family, socktype=socket.SOCK_DGRAM))[0]
    except ResolveError as exc:
        raise TracerouteNameError(exc.host, exc.reason) from None
    scope = int(sockaddr[3]) if af == socket.AF_INET6 and len(sockaddr) > 3 else 0
    resolved = (af, str(sockaddr[0]).split("%")[0], scope)
    cancelled = threading.Event()
    call = functools.partial(run_trace, target, resolved, plan, backend=backend,
                             stop=cancelled.is_set)
    future = asyncio.get_running_loop().run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        raise
