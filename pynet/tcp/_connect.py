"""Connecting with a deadline, to every address a name resolves to in turn.

A blocking connect() to a port whose SYNs are dropped hangs for the kernel's
whole SYN retry budget (75 s in the course, over two minutes on Linux). Here
the socket is non-blocking and the handshake is awaited with poll(): the
connect timeout is a total for all the addresses, shared out so that one
silent address cannot eat the time of the others.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from .._resolve import Address
from .._wait import Deadline, new_selector
from .._errors import ConnectFailed, ConnectTimeout

__all__ = ["Connection", "Trace", "open_connection", "sockaddr_text"]

Trace = Optional[Callable[[str], None]]

_IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)


@dataclass(frozen=True)
class Connection:
    """A connected, non-blocking socket and how it was reached."""

    sock: socket.socket
    family: int
    address: str
    port: int
    connect_time_s: float
    # The peer accepted and reset before we looked (a RST after the
    # handshake: SO_ERROR says ECONNRESET, not ECONNREFUSED). What it sent
    # first may still wait in the socket; the exchange reads it, then fails.
    reset: bool = False


def sockaddr_text(family: int, address: str, port: int) -> str:
    return f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"


def _attempt(family: int, sockaddr: Tuple[object, ...],
             budget_s: float) -> Tuple[Optional[socket.socket], str, int]:
    """One connect with a time budget: (socket, "", 0 or ECONNRESET) or
    (None, why not, errno)."""
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return None, exc.strerror or str(exc), exc.errno or 0
    try:
        sock.setblocking(False)
        err = sock.connect_ex(sockaddr)
        if err in _IN_PROGRESS:
            with new_selector() as sel:
                sel.register(sock, selectors.EVENT_WRITE)
                if not sel.select(budget_s):
                    sock.close()
                    return None, "timed out", errno.ETIMEDOUT
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err in (0, errno.ECONNRESET):
            return sock, "", err
        sock.close()
        return None, os.strerror(err), err
    except BaseException:
        sock.close()
        raise


def open_connection(host: str, port: int, addresses: List[Address], connect_timeout_s: float,
                    trace: Trace = None) -> Connection:
    """Try each address in order until one completes the handshake.

    Each attempt may use the time left divided by the number of addresses
    still to try. Raises ConnectTimeout when any attempt timed out and none
    succeeded, ConnectFailed when every one failed at once (refused,
    unreachable)."""
    deadline = Deadline(connect_timeout_s)
    failures: List[Tuple[str, str]] = []  # (address, why it failed)
    timed_out = False
    for index, (family, sockaddr) in enumerate(addresses):
        address = str(sockaddr[0])
        where = sockaddr_text(family, address, port)
        budget = deadline.remaining() / (len(addresses) - index)
        if budget <= 0:
            timed_out = True
            failures.append((address, "not tried (connect timeout used up)"))
            break
        if trace:
            trace(f"trying {where}")
        start = time.monotonic()
        sock, why, err = _attempt(family, sockaddr, budget)
        if sock is not None:
            elapsed = time.monotonic() - start
            if trace:
                trace(f"connected to {where} in {elapsed * 1e3:.3f} ms")
            return Connection(sock, family, address, port, elapsed, err == errno.ECONNRESET)
        if trace:
            trace(f"{where}: {why}")
        timed_out = timed_out or err == errno.ETIMEDOUT
        failures.append((address, why))
    if len(failures) == 1:
        address, why = failures[0]
        named = host if address == host else f"{host} ({address})"
        if timed_out:
            raise ConnectTimeout(
                f"connect to {named} port {port}: timed out after {connect_timeout_s:g} s")
        raise ConnectFailed(f"connect to {named} port {port}: {why}")
    each = "; ".join(f"{address}: {why}" for address, why in failures)
    if timed_out:
        raise ConnectTimeout(
            f"connect to {host} port {port}: timed out after {connect_timeout_s:g} s ({each})")
    raise ConnectFailed(f"connect to {host} port {port} failed ({each})")
