"""Send the request and collect the reply on one connected socket.

One poll() loop, full duplex: the request is written as the socket takes it
while whatever arrives is read at once, so a peer that answers before it has
read everything (an echo server fed a large request) cannot deadlock us.
Every wait is bounded by the idle timeout: the time allowed with no progress
in either direction. Sending has sendall() semantics: the loop ends only
when every byte was taken by the kernel, and a peer that resets or goes away
before that is an error, never a silent loss.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .._wait import Deadline, new_selector
from ._connect import Trace
from .._errors import ConnectionReset, EmptyReply, IdleTimeout, TcpSendFailed

__all__ = ["Exchanged", "drain_after_reset", "exchange"]

CHUNK = 65536
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # EPIPE rather than SIGPIPE


@dataclass(frozen=True)
class Exchanged:
    bytes_sent: int
    bytes_received: int
    peer_closed: bool  # False: ended by the idle timeout
    elapsed_s: float


class _Exchange:
    """The loop's state; one method per kind of event."""

    def __init__(self, sock: socket.socket, request: bytes, sink: Callable[[bytes], None],
                 input_fd: Optional[int]) -> None:
        self.sock = sock
        self.sink = sink
        self.pending = memoryview(request)
        self.input_fd = input_fd  # None once read to its end (or when absent)
        self.sent = 0
        self.received = 0
        self.peer_closed = False

    def on_readable(self) -> bool:
        try:
            data = self.sock.recv(CHUNK)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            raise ConnectionReset(
                f"connection reset by peer after {self.received} bytes received "
                f"and {self.sent} sent") from None
        if not data:
            self.peer_closed = True
            return True
        self.received += len(data)
        self.sink(data)
        return True

    def on_writable(self) -> bool:
        try:
            n = self.sock.send(self.pending, _NOSIGNAL)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            raise ConnectionReset(
                f"connection reset by peer after {self.sent} bytes sent "
                f"({len(self.pending)} not delivered)") from None
        except BrokenPipeError:
            raise TcpSendFailed(
                f"the peer closed the connection after {self.sent} bytes sent "
                f"({len(self.pending)} not delivered)") from None
        self.sent += n
        self.pending = self.pending[n:]
        return True

    def on_input(self) -> bool:
        assert self.input_fd is not None
        data = os.read(self.input_fd, CHUNK)
        if data:
            self.pending = memoryview(data)
        else:
            self.input_fd = None
        return True


def drain_after_reset(sock: socket.socket, sink: Callable[[bytes], None]) -> None:
    """The peer reset the connection before we used it: hand over what it
    sent before the RST, which the socket still holds, then fail."""
    received = 0
    while True:
        try:
            data = sock.recv(CHUNK)
        except (BlockingIOError, ConnectionResetError):
            break
        if not data:
            break
        received += len(data)
        sink(data)
    raise ConnectionReset(f"connection reset by peer after {received} bytes received and 0 sent")


def exchange(sock: socket.socket, request: bytes, sink: Callable[[bytes], None], *,
             input_fd: Optional[int] = None, idle_timeout_s: float = 2.0,
             shutdown: bool = False, trace: Trace = None) -> Exchanged:
    """Send request, then what input_fd yields up to its end; pass every
    received chunk to sink; return when the peer closes or when nothing moved
    for idle_timeout_s. shutdown=True half-closes our side once everything is
    sent, telling the peer the request is complete.

    When the peer closes, reading stops; bytes already taken from the request
    are still delivered (the peer may only have shut its own side).

    Raises IdleTimeout (nothing received), EmptyReply (closed without a
    byte), ConnectionReset, TcpSendFailed."""
    start = time.monotonic()
    ex = _Exchange(sock, request, sink, input_fd)
    shut = False
    idle = Deadline(idle_timeout_s)
    with new_selector() as sel:
        sock_events = selectors.EVENT_READ
        sel.register(sock, sock_events)
        input_registered: Optional[int] = None
        while True:
            if shutdown and not shut and not ex.pending and ex.input_fd is None:
                shut = True
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass  # already reset or closed: the next read reports how
                if trace:
                    trace("request sent; our side shut down for writing")
            wanted = 0 if ex.peer_closed else selectors.EVENT_READ
            if ex.pending:
                wanted |= selectors.EVENT_WRITE
            if wanted == 0:
                break  # the peer closed and nothing is left to send
            if wanted != sock_events:
                sel.modify(sock, wanted)
                sock_events = wanted
            want_input = None if ex.pending or ex.peer_closed else ex.input_fd
            if want_input != input_registered:
                if input_registered is not None:
                    sel.unregister(input_registered)
                if want_input is not None:
                    sel.register(want_input, selectors.EVENT_READ)
                input_registered = want_input
            events = sel.select(idle.remaining())
            if not events and idle.expired():
                break
            progressed = False
            for key, mask in events:
                if key.fileobj is not sock:
                    progressed |= ex.on_input()
                    continue
                if mask & selectors.EVENT_READ and not ex.peer_closed:
                    progressed |= ex.on_readable()
                if mask & selectors.EVENT_WRITE and ex.pending:
                    progressed |= ex.on_writable()
            if progressed:
                idle = Deadline(idle_timeout_s)
    elapsed = time.monotonic() - start
    if trace:
        end = "the peer closed the connection" if ex.peer_closed else \
            f"nothing moved for {idle_timeout_s:g} s (idle timeout)"
        trace(f"sent {ex.sent} bytes, received {ex.received} bytes in {elapsed:.3f} s; {end}")
    if ex.pending:
        raise IdleTimeout(f"sending stalled: the peer took nothing for {idle_timeout_s:g} s "
                          f"({ex.sent} bytes sent, {len(ex.pending)} not delivered)")
    if ex.received == 0 and ex.peer_closed:
        raise EmptyReply(f"the peer closed the connection without sending anything "
                         f"({ex.sent} bytes sent)")
    if ex.received == 0:
        raise IdleTimeout(f"nothing received within {idle_timeout_s:g} s "
                          f"({ex.sent} bytes sent; the connection is open but silent)")
    return Exchanged(ex.sent, ex.received, ex.peer_closed, elapsed)
