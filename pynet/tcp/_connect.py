"""Connecting with a deadline, to every address a name resolves to in turn.

A blocking connect() to a port whose SYNs are dropped hangs for the kernel's
whole SYN retry budget (75 s in the course, over two minutes on Linux). Here
the socket is non-blocking and the handshake is awaited with poll(): the
connect timeout is a total for all the addresses, shared out so that one
silent address cannot eat the time of the others. The rules (budgets,
failures, which error) live in Connector, which the blocking driver here and
the asyncio driver in _async share.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple

from .._errors import ConnectFailed, ConnectionRefused, ConnectTimeout, MaxTimeExceeded, TcpError
from .._resolve import Address
from .._wait import Deadline, earliest, new_selector

__all__ = ["Attempt", "Connection", "Connector", "Trace", "open_connection", "sockaddr_text"]

Trace = Optional[Callable[[str], None]]

IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)


@dataclass(frozen=True)
class Connection:
    """A connected, non-blocking socket and how it was reached."""

    sock: socket.socket
    family: int  # socket.AF_INET or AF_INET6
    address: str
    port: int
    connect_time_s: float
    # The peer accepted and reset before we looked (a RST after the
    # handshake: SO_ERROR says ECONNRESET, not ECONNREFUSED). What it sent
    # first may still wait in the socket; the exchange reads it, then fails.
    reset: bool = False


@dataclass(frozen=True)
class Attempt:
    """One address to try, and the seconds it may take."""

    family: int
    sockaddr: Tuple[object, ...]
    address: str
    where: str
    budget_s: float


def sockaddr_text(family: int, address: str, port: int) -> str:
    return f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"


class Connector:
    """Which address to try next, with how much time, and what to raise
    when none connected. limit: the whole run's max_time deadline, if any;
    when it comes before the connect timeout it is the one that ends the
    attempts, and the error is MaxTimeExceeded."""

    def __init__(self, host: str, port: int, addresses: List[Address],
                 connect_timeout: float, limit: Optional[Deadline] = None,
                 trace: Trace = None) -> None:
        self.host = host
        self.port = port
        self.addresses = addresses
        self.connect_timeout = connect_timeout
        self.limit = limit
        self.deadline = earliest(Deadline(connect_timeout), limit)
        self.trace = trace
        self.failures: List[Tuple[str, str, int]] = []  # (address, why, errno)
        self.timed_out = False

    def attempts(self) -> Iterator[Attempt]:
        """Each address in turn, with the time left divided by the number of
        addresses still to try; stops when the time is used up."""
        for index, (family, sockaddr) in enumerate(self.addresses):
            address = str(sockaddr[0])
            budget = self.deadline.remaining() / (len(self.addresses) - index)
            if budget <= 0:
                self.timed_out = True
                self.failures.append((address, "not tried (connect timeout used up)", 0))
                return
            where = sockaddr_text(family, address, self.port)
            if self.trace:
                self.trace(f"trying {where}")
            yield Attempt(family, sockaddr, address, where, budget)

    def connected(self, attempt: Attempt, sock: socket.socket, elapsed_s: float,
                  reset: bool) -> Connection:
        if self.trace:
            self.trace(f"connected to {attempt.where} in {elapsed_s * 1e3:.3f} ms")
        return Connection(sock, attempt.family, attempt.address, self.port, elapsed_s, reset)

    def failed(self, attempt: Attempt, why: str, err: int) -> None:
        if self.trace:
            self.trace(f"{attempt.where}: {why}")
        self.timed_out = self.timed_out or err == errno.ETIMEDOUT
        self.failures.append((attempt.address, why, err))

    def error(self) -> TcpError:
        """Why nothing connected: MaxTimeExceeded when max_time ran out,
        ConnectTimeout when an attempt timed out, ConnectionRefused when
        every address refused, ConnectFailed otherwise (unreachable, ...)."""
        by_max = self.limit is not None and self.deadline is self.limit
        seconds = self.deadline.seconds
        what = (f"timed out after the max time of {seconds:g} s" if by_max
                else f"timed out after {seconds:g} s")
        if len(self.failures) == 1:
            address, why, _ = self.failures[0]
            named = self.host if address == self.host else f"{self.host} ({address})"
            text = f"connect to {named} port {self.port}: " + (what if self.timed_out else why)
        else:
            each = "; ".join(f"{address}: {why}" for address, why, _ in self.failures)
            text = (f"connect to {self.host} port {self.port}: {what} ({each})" if self.timed_out
                    else f"connect to {self.host} port {self.port} failed ({each})")
        if self.timed_out:
            return MaxTimeExceeded(text) if by_max else ConnectTimeout(text)
        if all(err == errno.ECONNREFUSED for _, _, err in self.failures):
            return ConnectionRefused(text)
        return ConnectFailed(text)


def new_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


def outcome(sock: socket.socket, err: int) -> Tuple[bool, str, int]:
    """(connected?, why not, errno) from connect's or SO_ERROR's errno; a
    RST after the handshake (ECONNRESET) is a connection, reset at once."""
    if err in (0, errno.ECONNRESET):
        return True, "", err
    return False, os.strerror(err), err


def _attempt(attempt: Attempt) -> Tuple[Optional[socket.socket], str, int]:
    """One connect within its budget: (socket, "", 0 or ECONNRESET) or
    (None, why not, errno)."""
    try:
        sock = new_socket(attempt.family)
    except OSError as exc:
        return None, exc.strerror or str(exc), exc.errno or 0
    try:
        err = sock.connect_ex(attempt.sockaddr)
        if err in IN_PROGRESS:
            with new_selector() as sel:
                sel.register(sock, selectors.EVENT_WRITE)
                if not sel.select(attempt.budget_s):
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


def open_connection(connector: Connector) -> Connection:
    """Try each address in order until one completes the handshake; raise
    connector.error() when none does."""
    for attempt in connector.attempts():
        start = time.monotonic()
        sock, why, err = _attempt(attempt)
        if sock is not None:
            return connector.connected(attempt, sock, time.monotonic() - start,
                                       err == errno.ECONNRESET)
        connector.failed(attempt, why, err)
    raise connector.error()
