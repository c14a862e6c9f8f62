"""pynet.sntp.query() and query_async(): resolve, send every request at
once, gather the answers until all are in or the timeout passes."""

from __future__ import annotations

import asyncio
import math
import selectors
import socket
import time
from typing import Iterable, List, Optional, Tuple, Union

from .._resolve import family_of, resolve, resolve_async
from .._wait import Deadline, new_selector
from ._io import open_round
from ._result import SNTPResult
from ._session import Clock, Session, Target

__all__ = ["DEFAULT_PORT", "DEFAULT_TIMEOUT_S", "query", "query_async"]

DEFAULT_PORT = 123
DEFAULT_TIMEOUT_S = 5.0
Servers = Union[str, Iterable[str]]


def _checked(servers: Servers, port: int, timeout_s: float,
             family: Optional[int]) -> Tuple[List[str], int, float, Optional[int]]:
    names = [servers] if isinstance(servers, str) else list(servers)
    if not names:
        raise ValueError("no server to query")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a server must be a str, not {type(name).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
        raise TypeError(f"timeout_s must be a number of seconds, not {type(timeout_s).__name__}")
    if not timeout_s > 0 or not math.isfinite(timeout_s):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    family_of(family)  # ValueError unless 4, 6 or None
    return names, port, float(timeout_s), family


def query(servers: Servers, *, port: int = DEFAULT_PORT, timeout_s: float = DEFAULT_TIMEOUT_S,
          family: Optional[int] = None, clock: Clock = time.time_ns) -> List[SNTPResult]:
    """Ask each server for the time, all at once; one SNTPResult per server,
    in the order given. A server that fails has ``error`` set (NoReply,
    PortUnreachable, KissOfDeath, Unsynchronised, ...); the others are
    measured all the same.

    servers: a name or address, or several. Each is resolved (family 4, 6 or
    None for either) and asked at its first address; a name that does not
    resolve raises pynet.ResolveError before anything is sent. timeout_s
    bounds the whole round. clock: the local clock as UNIX nanoseconds."""
    names, port, timeout_s, family = _checked(servers, port, timeout_s, family)
    targets: List[Target] = []
    for name in names:
        af, sockaddr = resolve(name, port, family=family, socktype=socket.SOCK_DGRAM)[0]
        targets.append((name, af, sockaddr))
    session = Session(targets, clock)
    rnd = open_round(session)
    try:
        with new_selector() as sel:
            for sock in rnd.sockets:
                sel.register(sock, selectors.EVENT_READ)
            rnd.send_all()
            deadline = Deadline(timeout_s)
            while not session.finished:
                events = sel.select(deadline.remaining())
                if not events and deadline.expired():
                    break
                for key, _ in events:
                    rnd.drain(key.fileobj)  # type: ignore[arg-type]
    finally:
        rnd.close()
    return session.results(timeout_s)


async def query_async(servers: Servers, *, port: int = DEFAULT_PORT,
                      timeout_s: float = DEFAULT_TIMEOUT_S, family: Optional[int] = None,
                      clock: Clock = time.time_ns) -> List[SNTPResult]:
    """query() for asyncio: the same round, with the sockets watched by the
    running event loop instead of a poll() of our own."""
    names, port, timeout_s, family = _checked(servers, port, timeout_s, family)
    resolved = await asyncio.gather(*(
        resolve_async(name, port, family=family, socktype=socket.SOCK_DGRAM) for name in names))
    targets: List[Target] = [(name, addrs[0][0], addrs[0][1]) for name, addrs in zip(names, resolved)]
    session = Session(targets, clock)
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
            await asyncio.wait([done], timeout=timeout_s)
        if done.done() and done.exception() is not None:
            raise done.exception()  # type: ignore[misc]
    finally:
        for fd in watched:
            loop.remove_reader(fd)
        rnd.close()
    return session.results(timeout_s)
