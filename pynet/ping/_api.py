"""pynet.ping() and pynet.async_ping(): the library face of ping."""

from __future__ import annotations

import functools
from typing import Callable, Optional

from .. import _checks as checks
from ._result import PingResult, Tally
from ._session import Plan, Session, lookup

__all__ = ["DEFAULT_TIMEOUT", "MAX_SIZE", "async_ping", "check_arguments", "ping"]

# The largest echo payload: 65535 minus the IPv4 (20) and ICMP (8) headers;
# IPv6 has no header in its payload length.
MAX_SIZE = {4: 65507, 6: 65527}
# The library prints nothing: let the loop gather records this long.
LIBRARY_FLUSH_S = 0.2
# iputils' -W default: how long to wait after the last request when no
# reply came. The library and the command share it.
DEFAULT_TIMEOUT = 10.0


def check_arguments(count: int, interval: float, timeout: float, deadline: Optional[float],
                    size: int, ttl: Optional[int], family: Optional[int]) -> None:
    checks.integer(count, "count", 0)
    checks.seconds(interval, "interval", zero=True)
    checks.seconds(timeout, "timeout", zero=True)
    if deadline is not None:
        checks.seconds(deadline, "deadline", zero=True)
    checks.family(family)
    checks.integer(size, "size", 0, MAX_SIZE[6 if family == 6 else 4])
    if ttl is not None:
        checks.integer(ttl, "ttl", 1, 255)


def ping(host: str, *, count: int = 4, interval: float = 1.0, timeout: float = DEFAULT_TIMEOUT,
         deadline: Optional[float] = None, size: int = 56, ttl: Optional[int] = None,
         family: Optional[int] = None, source: Optional[str] = None,
         privileged: Optional[bool] = None, backend: Optional[str] = None,
         stop: Optional[Callable[[], bool]] = None) -> PingResult:
    """Ping host as iputils ping does and return what came back.

    count: requests to send (0: until deadline or stop; iputils -c).
    interval: seconds between them (0: the next as soon as the last is
    answered; -i). timeout: seconds to wait after the last request when no
    reply came at all (-W, default 10 s as iputils; once replies came, the
    wait is twice the longest round trip). deadline: seconds for the whole
    run (-w). size: payload bytes (-s). ttl: IP TTL / hop limit (-t).
    family: 4, 6 or None. source: a source address or interface name (-I).
    privileged: True for a raw socket, False for an unprivileged datagram
    socket, None to take raw when allowed. backend: "c" or "python" to pick
    the loop (default: the live backend). stop: called between batches;
    True ends the run.
    Raises PingNameError (a ResolveError) before sending anything,
    PingPermissionError, PingSocketError (all PingError).
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
                        deadline is not None, size)


async def async_ping(host: str, *, count: int = 4, interval: float = 1.0,
                     timeout: float = DEFAULT_TIMEOUT, deadline: Optional[float] = None,
                     size: int = 56, ttl: Optional[int] = None, family: Optional[int] = None,
                     source: Optional[str] = None, privileged: Optional[bool] = None,
                     backend: Optional[str] = None) -> PingResult:
    """ping() for asyncio: the loop runs in a worker thread (the C loop
    without the GIL), so the event loop keeps going; cancelling the task
    ends the run at its next batch."""
    import asyncio  # here: importing it costs every `import pynet` some 25 ms
    import threading

    check_arguments(count, interval, timeout, deadline, size, ttl, family)
    cancelled = threading.Event()
    call = functools.partial(ping, host, count=count, interval=interval, timeout=timeout,
                             deadline=deadline, size=size, ttl=ttl, family=family,
                             source=source, privileged=privileged, backend=backend,
                             stop=cancelled.is_set)
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        raise
