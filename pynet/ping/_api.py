"""pynet.ping() and pynet.async_ping(): the library face of ping."""

from __future__ import annotations

import functools
import math
import threading
from typing import Any, Callable, Optional

from ._result import PingResult, Tally
from ._session import Plan, Session, lookup

__all__ = ["MAX_SIZE", "async_ping", "check_arguments", "ping"]

# The largest echo payload: 65535 minus the IPv4 (20) and ICMP (8) headers;
# IPv6 has no header in its payload length.
MAX_SIZE = {4: 65507, 6: 65527}
# The library prints nothing: let the loop gather records this long.
LIBRARY_FLUSH_S = 0.2


def _number(value: Any, name: str, low: float, *, integer: bool = False,
            high: float = math.inf) -> Any:
    kind = "an int" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int,) if integer else (int, float)):
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}")
    if not (low <= value <= high) or (not integer and not math.isfinite(value)):
        bound = f"{low:g}..{high:g}" if high != math.inf else f">= {low:g}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def check_arguments(count: int, interval: float, timeout: float, deadline: Optional[float],
                    size: int, ttl: Optional[int], family: Optional[int]) -> None:
    _number(count, "count", 0, integer=True)
    _number(interval, "interval", 0)
    _number(timeout, "timeout", 0)
    if deadline is not None:
        _number(deadline, "deadline", 0)
    _number(size, "size", 0, integer=True, high=MAX_SIZE[6 if family == 6 else 4])
    if ttl is not None:
        _number(ttl, "ttl", 1, integer=True, high=255)
    if family not in (None, 4, 6):
        raise ValueError(f"family must be 4, 6 or None, got {family!r}")


def ping(host: str, count: int = 4, interval: float = 1.0, timeout: float = 2.0,
         deadline: Optional[float] = None, size: int = 56, ttl: Optional[int] = None,
         family: Optional[int] = None, source: Optional[str] = None,
         privileged: Optional[bool] = None, *, backend: Optional[str] = None,
         stop: Optional[Callable[[], bool]] = None) -> PingResult:
    """Ping host as iputils ping does and return what came back.

    count: requests to send (0: until deadline or stop); interval: seconds
    between them (0: the next as soon as the last is answered); timeout:
    seconds to wait after the last request when no reply came (-W);
    deadline: seconds for the whole run (-w); size: payload bytes (-s);
    ttl: IP TTL / hop limit; family: 4, 6 or None; source: a source address
    or interface name (-I); privileged: True for a raw socket, False for an
    unprivileged datagram socket, None to take raw when allowed.
    Raises PingNameError, PingPermissionError, PingSocketError (PingError).
    """
    check_arguments(count, interval, timeout, deadline, size, ttl, family)
    if count == 0 and deadline is None and stop is None:
        raise ValueError("count=0 needs a deadline or a stop callable, or it never ends")
    af, sockaddr = lookup(host, family)
    plan = Plan(count=count, interval_s=interval, linger_s=timeout, deadline_s=deadline,
                size=size, flush_s=LIBRARY_FLUSH_S)
    session = Session.open(af, sockaddr, plan, privileged=privileged, ttl=ttl,
                           interface=source, backend=backend, stop=stop)
    tally = Tally(session.isock.family)
    try:
        batches = session.batches_overlapped if session.native else session.batches
        for records in batches():
            tally.add(records)
    finally:
        session.close()
    assert session.counters is not None
    return tally.result(host, session.isock.address, session.counters, count,
                        deadline is not None)


async def async_ping(host: str, count: int = 4, interval: float = 1.0, timeout: float = 2.0,
                     deadline: Optional[float] = None, size: int = 56,
                     ttl: Optional[int] = None, family: Optional[int] = None,
                     source: Optional[str] = None, privileged: Optional[bool] = None, *,
                     backend: Optional[str] = None) -> PingResult:
    """ping() for asyncio. Concurrent calls share one fleet engine per
    event loop and options, driven on the loop itself (pynet.fleet.Pinger);
    cancelling a call stops its probes only. A ping the shared engine
    cannot do (count 0, a deadline, size < 16, a source) runs the one-target
    loop in a worker thread instead."""
    import asyncio  # here: importing it costs every `import pynet` some 25 ms

    check_arguments(count, interval, timeout, deadline, size, ttl, family)
    from ..fleet._shared import fits, shared_ping
    if fits(count, deadline, size, source):
        return await shared_ping(host, count=count, interval=interval, timeout=timeout,
                                 size=size, ttl=ttl, family=family, privileged=privileged,
                                 backend=backend)
    cancelled = threading.Event()
    call = functools.partial(ping, host, count, interval, timeout, deadline, size, ttl, family,
                             source, privileged, backend=backend, stop=cancelled.is_set)
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        raise
