"""pynet.sntp.query() and async_query(): resolve, send every request at
once, gather the answers until all are in or the timeout passes.

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

__all__ = ["DEFAULT_PORT", "DEFAULT_TIMEOUT", "async_query", "query"]

DEFAULT_PORT = 123
DEFAULT_TIMEOUT = 5.0
Servers = Union[str, Iterable[str]]


def _checked(servers: Servers, port: int, timeout: float,
             family: Optional[int]) -> Tuple[List[str], int, float]:
    names = [servers] if isinstance(servers, str) else list(servers)
    if not names:
        raise ValueError("no server to query")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a server must be a str, not {type(name).__name__}")
    port = _checks.port(port)
    timeout = _checks.seconds(timeout, "timeout")
    _checks.family(family)
    return names, port, timeout


def _targets(names: Sequence[str], resolved: Sequence[List[Address]]) -> List[Target]:
    """Each server at its first address."""
    return [(name, addrs[0][0], addrs[0][1]) for name, addrs in zip(names, resolved)]


def query(servers: Servers, *, port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT,
          family: Optional[int] = None, clock: Clock = time.time_ns) -> List[SNTPResult]:
    """Ask each server for the time, all at once; one SNTPResult per server,
    in the order given. A server that fails has ``error`` set (NoReply,
    PortUnreachable, Unreachable, KissOfDeath, Unsynchronised, BadReply,
    SNTPSendFailed); the others are measured all the same.

    servers: a name or address, or several; each is asked at the first
        address it resolves to.
    port: the servers' UDP port, 1..65535 (default 123).
    timeout: seconds, > 0 (default 5.0): bounds the whole round, from the
        first request sent to the last answer awaited.
    family: 4, 6 or None (default: either).
    clock: the local clock as UNIX nanoseconds (default time.time_ns).

    Raises SNTPNameError (a pynet.ResolveError, exit code 2) for a name that
    does not resolve, before anything is sent; TypeError/ValueError for bad
    arguments."""
    names, port, timeout = _checked(servers, port, timeout, family)
    resolved: List[List[Address]] = []
    for name in names:
        try:
            resolved.append(resolve(name, port, family=family, socktype=socket.SOCK_DGRAM))
        except ResolveError as exc:
            raise SNTPNameError(exc.host, exc.reason) from None
    session = Session(_targets(names, resolved), clock)
    rnd = open_round(session)
    try:
        with new_selector() as sel:
            for sock in rnd.sockets:
                sel.register(sock, selectors.EVENT_READ)
            rnd.send_all()
            deadline = Deadline(timeout)
            while not session.finished:
                events = sel.select(deadline.remaining())
                if not events and deadline.expired():
                    break
                for key, _ in events:
                    rnd.drain(key.fileobj)  # type: ignore[arg-type]
    finally:
        rnd.close()
    return session.results(timeout)


async def async_query(servers: Servers, *, port: int = DEFAULT_PORT,
                      timeout: float = DEFAULT_TIMEOUT, family: Optional[int] = None,
                      clock: Clock = time.time_ns) -> List[SNTPResult]:
    """query() for asyncio, with the same arguments, results and errors: the
    names are resolved through the loop's getaddrinfo and the sockets are
    watched by the running event loop (add_reader), not by a thread or a
    poll() of our own. Cancelling it closes the sockets."""
    import asyncio

    names, port, timeout = _checked(servers, port, timeout, family)
    try:
        resolved = await asyncio.gather(*(
            resolve_async(name, port, family=family, socktype=socket.SOCK_DGRAM)
            for name in names))
    except ResolveError as exc:
        raise SNTPNameError(exc.host, exc.reason) from None
    session = Session(_targets(names, resolved), clock)
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

    watched: List[int] = []
    try:
        for sock in rnd.sockets:
            loop.add_reader(sock.fileno(), readable, sock)
            watched.append(sock.fileno())
        rnd.send_all()
        if not session.finished:
            await asyncio.wait([done], timeout=timeout)
        if done.done() and done.exception() is not None:
            raise done.exception()  # type: ignore[misc]
    finally:
        for fd in watched:
            loop.remove_reader(fd)
        rnd.close()
    return session.results(timeout)
