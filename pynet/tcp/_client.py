"""pynet.tcp.request(): resolve, connect, send, collect; the result typed."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Union

from .._checks import as_buffer
from .._errors import ResolveError
from .._resolve import Address, resolve
from ._connect import Trace, open_connection
from .._errors import TcpNameError, TcpError
from ._exchange import drain_after_reset, exchange

__all__ = ["TcpResult", "request", "resolve_host"]

Buffer = Union[bytes, bytearray, memoryview]


@dataclass(frozen=True)
class TcpResult:
    """One finished exchange. ``data`` is everything received (empty when a
    sink took it instead); ``peer_closed`` is False when the exchange ended
    because nothing moved for the idle timeout."""

    host: str
    address: str  # the address that accepted the connection
    port: int
    family: int  # socket.AF_INET or AF_INET6
    data: bytes
    bytes_sent: int
    bytes_received: int
    peer_closed: bool
    connect_time_s: float
    elapsed_s: float  # from the start of connecting to the end


def _seconds(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    return port


def resolve_host(host: str, port: int, family: Optional[int] = None) -> List[Address]:
    """Every TCP address of host; TcpNameError (curl's exit 6) if none."""
    try:
        return resolve(host, port, family=family, socktype=socket.SOCK_STREAM)
    except ResolveError as exc:
        raise TcpNameError(exc.host, exc.reason) from None


def request(host: str, port: int, data: Buffer = b"", *, family: Optional[int] = None,
            connect_timeout_s: float = 5.0, idle_timeout_s: float = 2.0,
            shutdown: bool = False, input_fd: Optional[int] = None,
            sink: Optional[Callable[[bytes], None]] = None, trace: Trace = None) -> TcpResult:
    """Connect to host:port (every address it resolves to, in turn), send
    data, and collect what comes back until the peer closes or nothing moves
    for idle_timeout_s.

    family: 4, 6 or None (either). connect_timeout_s bounds the whole connect
    phase. shutdown=True half-closes our side after sending. input_fd: a file
    descriptor (stdin) whose bytes are sent after data, up to its end. sink:
    called with each received chunk as it arrives (then ``data`` in the
    result is empty). trace: called with one line per step (the CLI's -v).

    Raises TcpNameError, ConnectFailed, ConnectTimeout, IdleTimeout,
    EmptyReply, ConnectionReset or TcpSendFailed (all pynet.PynetError, with
    curl's exit codes); a TcpError's ``received`` holds what had arrived."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    port = _port(port)
    payload = bytes(as_buffer(data, "data"))
    connect_timeout_s = _seconds(connect_timeout_s, "connect_timeout_s")
    idle_timeout_s = _seconds(idle_timeout_s, "idle_timeout_s")
    start = time.monotonic()
    addresses = resolve_host(host, port, family)
    if trace:
        trace(f"{host} resolved to {', '.join(str(sa[0]) for _, sa in addresses)}")
    conn = open_connection(host, port, addresses, connect_timeout_s, trace)
    received = bytearray()
    take = received.extend if sink is None else sink
    try:
        if conn.reset:
            drain_after_reset(conn.sock, take)
        done = exchange(conn.sock, payload, take, input_fd=input_fd,
                        idle_timeout_s=idle_timeout_s, shutdown=shutdown, trace=trace)
    except TcpError as exc:
        exc.received = bytes(received)
        raise
    finally:
        conn.sock.close()
    return TcpResult(host, conn.address, port, conn.family, bytes(received), done.bytes_sent,
                     done.bytes_received, done.peer_closed, conn.connect_time_s,
                     time.monotonic() - start)
