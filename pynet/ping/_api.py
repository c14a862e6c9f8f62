"""pynet.ping() and pynet.async_ping(): the library face of ping."""

from __future__ import annotations

import functools
import socket

from .. import _checks as checks
from .._ping_loop import PATTERN_MAX
from ._ipopt import TIMESTAMP_HOSTS_MAX, TIMESTAMP_KINDS
from ._result import PingResult, Tally
from ._session import Plan, Session, ip_options, lookup
from .._ping_loop import PMTUDISC
from ._socket import SocketOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Sequence

__all__ = ["DEFAULT_TIMEOUT", "MAX_SIZE", "async_ping", "check_arguments", "ping"]

# The largest echo payload: 65535 minus the IPv4 (20) and ICMP (8) headers;
# IPv6 has no header in its payload length.
MAX_SIZE = {4: 65507, 6: 65527}
# The library prints nothing: let the loop gather records this long.
LIBRARY_FLUSH_S = 0.2
# iputils' -W default: how long to wait after the last request when no
# reply came. The library and the command share it.
DEFAULT_TIMEOUT = 10.0
FLOWLABEL_MAX = 0xFFFFF


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


def check_options(pattern: Optional[bytes], pmtudisc: Optional[str], tos: Optional[int],
                  mark: Optional[int], preload: int, ident: Optional[int],
                  sndbuf: Optional[int]) -> None:
    """The keywords beyond the basics, checked as iputils checks its flags."""
    if pattern is not None:
        data = checks.as_buffer(pattern, "pattern")
        if not 1 <= len(data) <= PATTERN_MAX:
            raise ValueError(f"pattern must be 1..{PATTERN_MAX} bytes, got {len(data)}")
    if pmtudisc is not None and pmtudisc not in PMTUDISC:
        raise ValueError(f"pmtudisc must be one of {', '.join(PMTUDISC)}, got {pmtudisc!r}")
    if tos is not None:
        checks.integer(tos, "tos", 0, 255)
    if mark is not None:
        checks.integer(mark, "mark", 0, 0xFFFFFFFF)
    checks.integer(preload, "preload", 1, 65536)
    if ident is not None:
        checks.integer(ident, "ident", 0, 65535)
    if sndbuf is not None:
        checks.integer(sndbuf, "sndbuf", 1, 0x7FFFFFFF)


def check_ip_options(record_route: bool, timestamp: Optional[str],
                     timestamp_hosts: Sequence[str], flowlabel: Optional[int]) -> None:
    """-R, -T and -F, checked as iputils checks them."""
    if timestamp is not None and timestamp not in TIMESTAMP_KINDS:
        raise ValueError(f"timestamp must be one of {', '.join(TIMESTAMP_KINDS)}, "
                         f"got {timestamp!r}")
    if record_route and timestamp is not None:
        raise ValueError("only one of record_route and timestamp may be given")
    if isinstance(timestamp_hosts, str):
        raise TypeError("timestamp_hosts must be a sequence of host names, not a str")
    if timestamp_hosts and timestamp != "tsprespec":
        raise ValueError("timestamp_hosts goes with timestamp='tsprespec'")
    if len(timestamp_hosts) > TIMESTAMP_HOSTS_MAX:
        raise ValueError(f"timestamp_hosts takes at most {TIMESTAMP_HOSTS_MAX} hosts, "
                         f"got {len(timestamp_hosts)}")
    if flowlabel is not None:
        checks.integer(flowlabel, "flowlabel", 0, FLOWLABEL_MAX)


def _family_options(options: SocketOptions, af: int, record_route: bool,
                    timestamp: Optional[str], timestamp_hosts: Sequence[str],
                    flowlabel: Optional[int]) -> SocketOptions:
    """options, with the IPv4 or IPv6 ones of the address family the host
    resolved to (the other family's are a ValueError here, where iputils'
    command line passes over them)."""
    if af == socket.AF_INET6 and (record_route or timestamp is not None):
        raise ValueError("record_route and timestamp are IPv4 options")
    if af == socket.AF_INET and flowlabel is not None:
        raise ValueError("flowlabel is an IPv6 option")
    packed = b""
    if af == socket.AF_INET:
        packed = ip_options(record_route, timestamp, timestamp_hosts, False)
    return options._replace(ip_options=packed, flowlabel=flowlabel)


def ping(host: str, *, count: int = 4, interval: float = 1.0, timeout: float = DEFAULT_TIMEOUT,
         deadline: Optional[float] = None, size: int = 56, ttl: Optional[int] = None,
         family: Optional[int] = None, source: Optional[str] = None,
         privileged: Optional[bool] = None, backend: Optional[str] = None,
         stop: Optional[Callable[[], bool]] = None, pattern: Optional[bytes] = None,
         pmtudisc: Optional[str] = None, tos: Optional[int] = None,
         mark: Optional[int] = None, preload: int = 1, adaptive: bool = False,
         ident: Optional[int] = None, broadcast: bool = False, dontroute: bool = False,
         sndbuf: Optional[int] = None, user_latency: bool = False, record_route: bool = False,
         timestamp: Optional[str] = None, timestamp_hosts: Sequence[str] = (),
         flowlabel: Optional[int] = None) -> PingResult:
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
    As iputils' flags: pattern: up to 16 bytes repeated through the
    payload (-p). pmtudisc: "do", "want", "dont" or "probe" (-M). tos:
    IPv4 TOS / IPv6 traffic class (-Q). mark: SO_MARK (-m). preload:
    requests sent at once before pacing (-l). adaptive: the interval
    follows the round trip (-A). ident: the echo id (-e; a raw socket).
    broadcast: allow a broadcast target (-b). dontroute: bypass routing
    (-r). sndbuf: SO_SNDBUF (-S). user_latency: time replies on reading
    rather than by the kernel's stamp (-U). record_route: ask every hop to
    record its address (-R; IPv4): each reply's route. timestamp: "tsonly",
    "tsandaddr" or "tsprespec" (-T; IPv4; timestamp_hosts: the hosts
    tsprespec stamps, up to 4): each reply's timestamps. flowlabel: the
    IPv6 flow label (-F; 0: one the kernel picks). Replies whose payload
    differs from what was sent have data_ok False and are counted in
    wrong_data.
    Raises PingNameError (a ResolveError) before sending anything,
    PingPermissionError, PingSocketError (all PingError).
    """
    check_arguments(count, interval, timeout, deadline, size, ttl, family)
    check_options(pattern, pmtudisc, tos, mark, preload, ident, sndbuf)
    check_ip_options(record_route, timestamp, timestamp_hosts, flowlabel)
    if count == 0 and deadline is None and stop is None:
        raise ValueError("count=0 needs a deadline or a stop callable, or it never ends")
    af, sockaddr = lookup(host, family)
    plan = Plan(count=count, interval_s=interval, linger_s=timeout, deadline_s=deadline,
                size=size, flush_s=LIBRARY_FLUSH_S,
                pattern=bytes(pattern) if pattern is not None else b"", preload=preload,
                adaptive=adaptive, user_latency=user_latency)
    options = _family_options(
        SocketOptions(tos=tos, mark=mark, pmtudisc=pmtudisc, dontroute=dontroute,
                      broadcast=broadcast, sndbuf=sndbuf, ident=ident),
        af, record_route, timestamp, timestamp_hosts, flowlabel)
    session = Session.open(af, sockaddr, plan, privileged=privileged, ttl=ttl,
                           interface=source, backend=backend, stop=stop, options=options)
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
                     backend: Optional[str] = None, pattern: Optional[bytes] = None,
                     pmtudisc: Optional[str] = None, tos: Optional[int] = None,
                     mark: Optional[int] = None, preload: int = 1, adaptive: bool = False,
                     ident: Optional[int] = None, broadcast: bool = False,
                     dontroute: bool = False, sndbuf: Optional[int] = None,
                     user_latency: bool = False, record_route: bool = False,
                     timestamp: Optional[str] = None, timestamp_hosts: Sequence[str] = (),
                     flowlabel: Optional[int] = None) -> PingResult:
    """ping() for asyncio. Concurrent calls share one fleet engine per
    event loop and options (pynet.fleet.Pinger; the C engine runs on a
    thread of its own beside the loop);
    cancelling a call stops its probes only. A ping the shared engine
    cannot do (count 0, a deadline, size < 16, a source, or any of the
    socket and payload options beyond ping's basics) runs the one-target
    loop in a worker thread instead."""
    import asyncio  # here: importing it costs every `import pynet` some 25 ms
    import threading

    check_arguments(count, interval, timeout, deadline, size, ttl, family)
    check_options(pattern, pmtudisc, tos, mark, preload, ident, sndbuf)
    check_ip_options(record_route, timestamp, timestamp_hosts, flowlabel)
    from ..fleet._shared import fits, shared_ping
    basic = (pattern is None and pmtudisc is None and tos is None and mark is None
             and preload == 1 and not adaptive and ident is None and not broadcast
             and not dontroute and sndbuf is None and not user_latency
             and not record_route and timestamp is None and flowlabel is None)
    if basic and fits(count, deadline, size, source):
        return await shared_ping(host, count=count, interval=interval, timeout=timeout,
                                 size=size, ttl=ttl, family=family, privileged=privileged,
                                 backend=backend)
    cancelled = threading.Event()
    call = functools.partial(ping, host, count=count, interval=interval, timeout=timeout,
                             deadline=deadline, size=size, ttl=ttl, family=family,
                             source=source, privileged=privileged, backend=backend,
                             stop=cancelled.is_set, pattern=pattern, pmtudisc=pmtudisc,
                             tos=tos, mark=mark, preload=preload, adaptive=adaptive,
                             ident=ident, broadcast=broadcast, dontroute=dontroute,
                             sndbuf=sndbuf, user_latency=user_latency,
                             record_route=record_route, timestamp=timestamp,
                             timestamp_hosts=timestamp_hosts, flowlabel=flowlabel)
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        raise
