"""The asyncio drivers of the connect and the exchange: the same rules
(Connector, Exchange) as the blocking client, with every wait done by the
running event loop (add_reader / add_writer on the non-blocking socket), not
by a thread. Cancelling the task stops the wait and closes the socket."""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from typing import Dict, List, Optional, Tuple

from ._connect import IN_PROGRESS, Attempt, Connection, Connector, new_socket, outcome
from ._exchange import Exchange, Exchanged

__all__ = ["async_exchange", "async_open_connection"]

_READ, _WRITE, _INPUT = "read", "write", "input"


class _Watch:
    """Readiness of a few descriptors, reported once per wait."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready: Dict[str, bool] = {}
        self.future: Optional[asyncio.Future[None]] = None
        self.readers: List[int] = []
        self.writers: List[int] = []

    def _fire(self, what: str) -> None:
        self.ready[what] = True
        if self.future is not None and not self.future.done():
            self.future.set_result(None)

    def reader(self, fd: int, what: str) -> None:
        self.loop.add_reader(fd, self._fire, what)
        self.readers.append(fd)

    def writer(self, fd: int, what: str) -> None:
        self.loop.add_writer(fd, self._fire, what)
        self.writers.append(fd)

    async def wait(self, timeout_s: float) -> Dict[str, bool]:
        """Until something registered is ready or timeout_s passed; then
        unregister everything and say what was ready."""
        self.future = self.loop.create_future()
        try:
            if not self.ready:
                await asyncio.wait([self.future], timeout=timeout_s)
            return self.ready
        finally:
            self.clear()

    def clear(self) -> None:
        for fd in self.readers:
            self.loop.remove_reader(fd)
        for fd in self.writers:
            self.loop.remove_writer(fd)
        self.readers, self.writers = [], []
        self.future, self.ready = None, {}


async def _attempt(loop: asyncio.AbstractEventLoop,
                   attempt: Attempt) -> Tuple[Optional[socket.socket], str, int]:
    try:
        sock = new_socket(attempt.family)
    except OSError as exc:
        return None, exc.strerror or str(exc), exc.errno or 0
    try:
        err = sock.connect_ex(attempt.sockaddr)
        if err in IN_PROGRESS:
            watch = _Watch(loop)
            watch.writer(sock.fileno(), _WRITE)
            if not await watch.wait(attempt.budget_s):
                sock.close()
                return None, "timed out", errno.ETIMEDOUT
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        ok, why, err = outcome(sock, err)
        if ok:
            return sock, "", err
        sock.close()
        return None, why, err
    except BaseException:
        sock.close()
        raise


async def async_open_connection(connector: Connector) -> Connection:
    """open_connection() on the event loop."""
    loop = asyncio.get_running_loop()
    for attempt in connector.attempts():
        start = time.monotonic()
        sock, why, err = await _attempt(loop, attempt)
        if sock is not None:
            return connector.connected(attempt, sock, time.monotonic() - start,
                                       err == errno.ECONNRESET)
        connector.failed(attempt, why, err)
    raise connector.error()


async def async_exchange(ex: Exchange) -> Exchanged:
    """exchange() on the event loop. An input descriptor the loop cannot
    watch (epoll refuses regular files: a stdin redirected from a file) is
    always ready, so it is read without waiting."""
    loop = asyncio.get_running_loop()
    watch = _Watch(loop)
    fd = ex.sock.fileno()
    try:
        while True:
            wait = ex.plan()
            if wait is None:
                break
            if wait.read:
                watch.reader(fd, _READ)
            if wait.write:
                watch.writer(fd, _WRITE)
            if wait.input_fd is not None:
                try:
                    watch.reader(wait.input_fd, _INPUT)
                except PermissionError:
                    watch.ready[_INPUT] = True
            ready = await watch.wait(wait.timeout_s)
            ex.handle(ready.get(_READ, False), ready.get(_WRITE, False),
                      ready.get(_INPUT, False))
    finally:
        watch.clear()
    return ex.finish()
