"""pynet.sntp.query() and async_query(): resolve, send every server its
request at once (count times, interval apart), gather the answers until all
are in or the timeout after the last request passes.

asyncio is imported inside async_query only, so that the command-line tool
(which never needs it) does not pay for importing it.
"""

from __future__ import annotations

import selectors
import socket
import time
from typing import TYPE_CHECKING, Iterable, List, Optional, Sequence, Tuple, Union

from .. import _checks
from .._errors import ResolveError, SNTPNameError
from .._resolve import Address, resolve, resolve_async
from .._wait import Deadline, new_selector
from ._io import open_round
from ._result import SNTPResult
from ._session import Clock, Session, Target

if TYPE_CHECKING:
    import asyncio

__all__ = ["COUNT_MAX", "DEFAULT_COUNT", "DEFAULT_INTERVAL", "DEFAULT_PORT", "DEFAULT_TIMEOUT",
           "async_query", "check_count", "check_interval", "query"]

DEFAULT_PORT = 123
DEFAULT_TIMEOUT = 5.0
DEFAULT_COUNT = 1
COUNT_MAX = 1000  # bounds the memory of a round and the load on a server
# Between the samples of a burst: ntpd's own burst spacing, and its default
# minimum headway between one client's packets (`discard minimum 1`, 2 s);
# an ntpd server with `restrict ... limited` drops or kisses (RATE) closer
# ones. chronyd's rate limit, where it is on, lets a burst of 8 through.
DEFAULT_INTERVAL = 2.0
Servers = Union[str, Iterable[str]]


def check_count(count: object) -> int:
    return _checks.integer(count, "count", 1, COUNT_MAX)


def check_interval(interval: object) -> float:
    return _checks.seconds(interval, "interval", zero=True)


def _checked(servers: Servers, port: int, timeout: float, family: Optional[int], count: int,
             interval: float) -> Tuple[List[str], int, float]:
    names = [servers] if isinstance(servers, str) else list(servers)
    if not names:
        raise ValueError("no server to query")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a server must be a str, not {type(name).__name__}")
    port = _checks.port(port)
    timeout = _checks.seconds(timeout, "timeout")
    _checks.family(family)
    check_count(count)
    check_interval(interval)
    return names, port, timeout


def _targets(names: Sequence[str], resolved: Sequence[List[Address]]) -> List[Target]:
    """Each server at its first address."""
    return [(name, addrs[0][0], addrs[0][1]) for name, addrs in zip(names, resolved)]


def query(servers: Servers, *, port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT,
          family: Optional[int] = None, count: int = DEFAULT_COUNT,
          interval: float = DEFAULT_INTERVAL, clock: Clock = time.time_ns) -> List[SNTPResult]:
    """Ask each server for the time, all at once; one SNTPResult per server,
    in the order given. A server that fails has ``error`` set (NoReply,
    PortUnreachable, Unreachable, KissOfDeath, Unsynchronised, BadReply,
    SNTPSendFailed); the others are measured all the same.

    servers: a name or address, or several; each is asked at the first
        address it resolves to.
    port: the servers' UDP port, 1..65535 (default 123).
    timeout: seconds, > 0 (default 5.0): how long the answers are awaited
        after the last request is sent (with count=1, the whole round).
    family: 4, 6 or None (default: either).
    count: requests per server, 1..1000 (default 1); the result is the
        sample of least delay, with the jitter of them all (RFC 5905's clock
        filter). A server that refuses one (Kiss-o'-Death, unsynchronised,
        port unreachable) fails and is asked no more.
    interval: seconds between one request to a server and the next, >= 0
        (default 2.0: what ntpd servers allow one client; 0 sends them back
        to back).
    clock: the local clock as UNIX nanoseconds (default time.time_ns). With
        the default the kernel's own send and receive stamps are used where
        it gives them (the result says which, tx_stamp and rx_stamp); with
        any other clock, that clock times everything.

    Raises SNTPNameError (a pynet.ResolveError, exit code 2) for a name that
    does not resolve, before anything is sent; TypeError/ValueError for bad
    arguments."""
    names, port, timeout = _checked(servers, port, timeout, family, count, interval)
    interval = float(interval)
    resolved: List[List[Address]] = []
    for name in names:
        try:
            resolved.append(resolve(name, port, family=family, socktype=socket.SOCK_DGRAM))
        except ResolveError as exc:
            raise SNTPNameError(exc.host, exc.reason) from None
    session = Session(_targets(names, resolved), clock, count)
    rnd = open_round(session)
    try:
        with new_selector() as sel:
            for sock in rnd.sockets:
                sel.register(sock, selectors.EVENT_READ)

            def wait(deadline: Deadline) -> None:
                while not session.finished:
                    events = sel.select(deadline.remaining())
                    if not events and deadline.expired():
                        return
                    for key, _ in events:
                        rnd.drain(key.fileobj)  # type: ignore[arg-type]

            start = time.monotonic()
            for number in range(count):
                if number:
                    wait(Deadline(start + number * interval - time.monotonic()))
                rnd.send_all()
            wait(Deadline(timeout))
    finally:
        rnd.close()
    return session.results(timeout)


async def async_query(servers: Servers, *, port: int = DEFAULT_PORT,
                      timeout: float = DEFAULT_TIMEOUT, family: Optional[int] = None,
                      count: int = DEFAULT_COUNT, interval: float = DEFAULT_INTERVAL,
                      clock: Clock = time.time_ns) -> List[SNTPResult]:
    """query() for asyncio, with the same arguments, results and errors: the
    names are resolved through the loop's getaddrinfo and the sockets are
    watched by the running event loop (add_reader), not by a thread or a
    poll() of our own; the pauses between requests are the loop's. The
    receive stamps are the kernel's, so the loop's latency in calling back
    is not in the measurement. Cancelling it closes the sockets."""
    import asyncio

    names, port, timeout = _checked(servers, port, timeout, family, count, interval)
    interval = float(interval)
    try:
        resolved = await asyncio.gather(*(
            resolve_async(name, port, family=family, socktype=socket.SOCK_DGRAM)
            for name in names))
    except ResolveError as exc:
        raise SNTPNameError(exc.host, exc.reason) from None
    session = Session(_targets(names, resolved), clock, count)
    rnd = open_round(session)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable(sock: socket.socket) -> None:
        try:
            rnd.drain(sock)
        except BaseException as exc:  # handed to the awaiting task, not lost in the loop
            if not done.done():
                done.set_exception(exc)
            return
        if session.finished and not done.done():
            done.set_result(None)

    async def wait(seconds: float) -> None:
        if not session.finished:
            await asyncio.wait([done], timeout=max(seconds, 0.0))
        if done.done() and done.exception() is not None:
            raise done.exception()  # type: ignore[misc]

    watched: List[int] = []
    try:
        for sock in rnd.sockets:
            loop.add_reader(sock.fileno(), readable, sock)
            watched.append(sock.fileno())
        start = loop.time()
        for number in range(count):
            if number:
                await wait(start + number * interval - loop.time())
            rnd.send_all()
        await wait(timeout)
    finally:
        for fd in watched:
            loop.remove_reader(fd)
        rnd.close()
    return session.results(timeout)
