"""pynet.tcp.request() and async_request(): resolve, connect, send,
collect; the result typed. asyncio is imported by async_request only (via
_async), so the command-line tool does not pay for it."""

from __future__ import annotations

import base64
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .. import _checks
from .._checks import Buffer
from .._errors import MaxTimeExceeded, ResolveError, TcpError, TcpNameError
from .._resolve import Address, resolve, resolve_async, version_of
from .._wait import Deadline
from ._connect import Connection, Connector, Trace, open_connection
from ._exchange import Exchange, Exchanged, drain_after_reset, exchange

__all__ = ["TcpResult", "async_request", "request", "resolve_host"]

Sink = Optional[Callable[[bytes], None]]


@dataclass(frozen=True)
class TcpResult:
    """One finished exchange.

    host, port: as asked; address: the one that accepted the connection;
    family: 4 or 6. data: everything received (empty when a sink took it
    instead); bytes_sent, bytes_received: counts of the whole exchange;
    peer_closed: False when the exchange ended because nothing moved for the
    idle timeout. connect_time_s: the handshake with the address that
    accepted; elapsed_s: from the start of the call (resolving included) to
    the end."""

    host: str
    address: str
    port: int
    family: int
    data: bytes
    bytes_sent: int
    bytes_received: int
    peer_closed: bool
    connect_time_s: float
    elapsed_s: float

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-safe dict (what the CLI's --json prints): every field
        under its name, except data, which is given as ``data_base64``
        (standard base64, RFC 4648). Base64 rather than text decoded with
        errors="replace": the reply is any bytes, and a JSON document that
        silently turned some of them into U+FFFD could not be trusted for
        binary protocols; ``jq -r '.data_base64 | @base64d'`` gives the text."""
        return {
            "host": self.host, "address": self.address, "port": self.port,
            "family": self.family,
            "data_base64": base64.b64encode(self.data).decode("ascii"),
            "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
            "peer_closed": self.peer_closed, "connect_time_s": self.connect_time_s,
            "elapsed_s": self.elapsed_s,
        }


def resolve_host(host: str, port: int, family: Optional[int] = None) -> List[Address]:
    """Every TCP address of host; TcpNameError (curl's exit 6) if none."""
    try:
        return resolve(host, port, family=family, socktype=socket.SOCK_STREAM)
    except ResolveError as exc:
        raise TcpNameError(exc.host, exc.reason) from None


class _Call:
    """One call's checked arguments and the steps both drivers share."""

    def __init__(self, host: str, port: int, data: Buffer, family: Optional[int],
                 connect_timeout: float, idle_timeout: float, max_time: Optional[float],
                 shutdown: bool, input_fd: Optional[int], sink: Sink, trace: Trace) -> None:
        if not isinstance(host, str):
            raise TypeError(f"host must be a str, not {type(host).__name__}")
        self.host = host
        self.port = _checks.port(port)
        self.payload = bytes(_checks.as_buffer(data, "data"))
        _checks.family(family)
        self.family = family
        self.connect_timeout = _checks.seconds(connect_timeout, "connect_timeout")
        self.idle_timeout = _checks.seconds(idle_timeout, "idle_timeout")
        max_time = None if max_time is None else _checks.seconds(max_time, "max_time")
        if input_fd is not None:
            _checks.integer(input_fd, "input_fd", 0)
        self.shutdown = bool(shutdown)
        self.input_fd = input_fd
        self.trace = trace
        self.received = bytearray()
        self.sink = self.received.extend if sink is None else sink
        self.start = time.monotonic()
        self.limit = None if max_time is None else Deadline(max_time)

    def resolved(self, addresses: List[Address]) -> Connector:
        if self.limit is not None and self.limit.expired():
            raise MaxTimeExceeded(f"{self.host}: timed out after the max time of "
                                  f"{self.limit.seconds:g} s while resolving")
        if self.trace:
            self.trace(f"{self.host} resolved to "
                       f"{', '.join(str(sa[0]) for _, sa in addresses)}")
        return Connector(self.host, self.port, addresses, self.connect_timeout,
                         self.limit, self.trace)

    def exchange(self, conn: Connection) -> Exchange:
        if conn.reset:
            drain_after_reset(conn.sock, self.sink)
        return Exchange(conn.sock, self.payload, self.sink, input_fd=self.input_fd,
                        idle_timeout=self.idle_timeout, limit=self.limit,
                        shutdown=self.shutdown, trace=self.trace)

    def failed(self, exc: TcpError) -> None:
        exc.received = bytes(self.received)

    def result(self, conn: Connection, done: Exchanged) -> TcpResult:
        return TcpResult(self.host, conn.address, self.port, version_of(conn.family),
                         bytes(self.received), done.bytes_sent, done.bytes_received,
                         done.peer_closed, conn.connect_time_s, time.monotonic() - self.start)


def request(host: str, port: int, *, data: Buffer = b"", family: Optional[int] = None,
            connect_timeout: float = 5.0, idle_timeout: float = 2.0,
            max_time: Optional[float] = None, shutdown: bool = False,
            input_fd: Optional[int] = None, sink: Sink = None,
            trace: Trace = None) -> TcpResult:
    """Connect to host:port (every address it resolves to, in turn), send
    data, and collect what comes back until the peer closes or nothing moves
    for idle_timeout.

    data: the request, any bytes-like object (default b"": send nothing).
    family: 4, 6 or None (default: either).
    connect_timeout: seconds, > 0 (default 5.0), for the whole connect
        phase, shared out between the addresses.
    idle_timeout: seconds, > 0 (default 2.0) with nothing sent or received;
        reaching it after some data arrived ends the exchange successfully.
    max_time: seconds, > 0, or None (default: no limit): bounds the whole
        call, like curl's -m/--max-time: resolving, connecting and the
        exchange. The blocking resolver cannot be interrupted; the time it
        takes counts, and async_request bounds it too.
    shutdown: True half-closes our side once everything is sent (default
        False), telling the peer the request is complete.
    input_fd: a file descriptor (stdin) whose bytes are sent after data, up
        to its end (default None).
    sink: called with each received chunk as it arrives (then ``data`` in
        the result is empty; default None).
    trace: called with one line per step (the CLI's -v; default None).

    Raises TcpNameError (6), ConnectionRefused or ConnectFailed (7),
    ConnectTimeout, IdleTimeout or MaxTimeExceeded (28, all TimeoutError),
    EmptyReply (52), TcpSendFailed (55), ConnectionReset (56): curl's exit
    codes, as ``exit_code``. A TcpError's ``received`` holds what had
    arrived (when no sink took it). TypeError/ValueError for bad arguments."""
    call = _Call(host, port, data, family, connect_timeout, idle_timeout, max_time,
                 shutdown, input_fd, sink, trace)
    try:
        conn = open_connection(call.resolved(resolve_host(host, call.port, family)))
        try:
            done = exchange(call.exchange(conn))
        finally:
            conn.sock.close()
    except TcpError as exc:
        call.failed(exc)
        raise
    return call.result(conn, done)


async def async_request(host: str, port: int, *, data: Buffer = b"",
                        family: Optional[int] = None, connect_timeout: float = 5.0,
                        idle_timeout: float = 2.0, max_time: Optional[float] = None,
                        shutdown: bool = False, input_fd: Optional[int] = None,
                        sink: Sink = None, trace: Trace = None) -> TcpResult:
    """request() for asyncio, with the same arguments, results and errors.

    It runs on the running event loop: the name is resolved with the loop's
    getaddrinfo (bounded by max_time, unlike the blocking client), and the
    non-blocking socket is watched by the loop (add_reader/add_writer), not
    by a thread. sink and trace are called from the task. Cancelling the
    task ends the call at once and closes the socket."""
    import asyncio

    from ._async import async_exchange, async_open_connection

    call = _Call(host, port, data, family, connect_timeout, idle_timeout, max_time,
                 shutdown, input_fd, sink, trace)
    try:
        try:
            lookup = resolve_async(host, call.port, family=family, socktype=socket.SOCK_STREAM)
            if call.limit is None:
                addresses = await lookup
            else:
                addresses = await asyncio.wait_for(lookup, call.limit.remaining())
        except ResolveError as exc:
            raise TcpNameError(exc.host, exc.reason) from None
        except asyncio.TimeoutError:
            assert call.limit is not None
            raise MaxTimeExceeded(f"{host}: timed out after the max time of "
                                  f"{call.limit.seconds:g} s while resolving") from None
        conn = await async_open_connection(call.resolved(addresses))
        try:
            done = await async_exchange(call.exchange(conn))
        finally:
            conn.sock.close()
    except TcpError as exc:
        call.failed(exc)
        raise
    return call.result(conn, done)
