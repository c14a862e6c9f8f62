"""Send the request and collect the reply on one connected socket.

One loop, full duplex: the request is written as the socket takes it while
whatever arrives is read at once, so a peer that answers before it has read
everything (an echo server fed a large request) cannot deadlock us. Every
wait is bounded by the idle timeout (the time allowed with no progress in
either direction) and by the max_time deadline of the whole run, if any.
Sending has sendall() semantics: the loop ends only when every byte was
taken by the kernel, and a peer that resets or goes away before that is an
error, never a silent loss.

Exchange holds the rules and never waits: plan() says what to wait for and
how long, handle() takes what became ready, finish() gives the outcome. The
blocking driver here waits with poll(); the asyncio driver in _async waits
on the event loop.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

from .._errors import ConnectionReset, EmptyReply, IdleTimeout, MaxTimeExceeded, TcpSendFailed
from .._wait import Deadline, new_selector
from ._connect import Trace

__all__ = ["Exchange", "Exchanged", "Wait", "drain_after_reset", "exchange"]

CHUNK = 65536
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # EPIPE rather than SIGPIPE


@dataclass(frozen=True)
class Exchanged:
    bytes_sent: int
    bytes_received: int
    peer_closed: bool  # False: ended by the idle timeout
    elapsed_s: float


class Wait(NamedTuple):
    """What the loop waits for next, for at most timeout_s."""

    read: bool
    write: bool
    input_fd: Optional[int]
    timeout_s: float


class Exchange:
    """The loop's state and rules; one method per kind of event."""

    def __init__(self, sock: socket.socket, request: bytes, sink: Callable[[bytes], None], *,
                 input_fd: Optional[int] = None, idle_timeout: float = 2.0,
                 limit: Optional[Deadline] = None, shutdown: bool = False,
                 trace: Trace = None) -> None:
        self.sock = sock
        self.sink = sink
        self.pending = memoryview(request)
        self.input_fd = input_fd  # None once read to its end (or when absent)
        self.idle_timeout = idle_timeout
        self.idle = Deadline(idle_timeout)
        self.limit = limit
        self.shutdown = shutdown
        self.shut = False
        self.trace = trace
        self.sent = 0
        self.received = 0
        self.peer_closed = False
        self.start = time.monotonic()

    def plan(self) -> Optional[Wait]:
        """What to wait for next, or None when the exchange is over. Raises
        MaxTimeExceeded once the max_time deadline has passed."""
        if self.shutdown and not self.shut and not self.pending and self.input_fd is None:
            self.shut = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # already reset or closed: the next read reports how
            if self.trace:
                self.trace("request sent; our side shut down for writing")
        read = not self.peer_closed
        write = bool(self.pending)
        if not read and not write:
            return None  # the peer closed and nothing is left to send
        if self.limit is not None and self.limit.expired():
            raise MaxTimeExceeded(
                f"timed out after the max time of {self.limit.seconds:g} s "
                f"({self.received} bytes received, {self.sent} sent)")
        if self.idle.expired():
            return None
        timeout = self.idle.remaining()
        if self.limit is not None:
            timeout = min(timeout, self.limit.remaining())
        want_input = None if self.pending or self.peer_closed else self.input_fd
        return Wait(read, write, want_input, timeout)

    def handle(self, readable: bool, writable: bool, input_ready: bool) -> None:
        """Act on what became ready; any progress restarts the idle timeout."""
        progressed = False
        if input_ready and self.input_fd is not None and not self.pending:
            progressed |= self._on_input()
        if readable and not self.peer_closed:
            progressed |= self._on_readable()
        if writable and self.pending:
            progressed |= self._on_writable()
        if progressed:
            self.idle = Deadline(self.idle_timeout)

    def _on_readable(self) -> bool:
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

    def _on_writable(self) -> bool:
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

    def _on_input(self) -> bool:
        assert self.input_fd is not None
        data = os.read(self.input_fd, CHUNK)
        if data:
            self.pending = memoryview(data)
        else:
            self.input_fd = None
        return True

    def finish(self) -> Exchanged:
        """The outcome once plan() said the exchange is over. Raises
        IdleTimeout (nothing received, or the send stalled), EmptyReply
        (closed without a byte)."""
        elapsed = time.monotonic() - self.start
        if self.trace:
            end = "the peer closed the connection" if self.peer_closed else \
                f"nothing moved for {self.idle_timeout:g} s (idle timeout)"
            self.trace(f"sent {self.sent} bytes, received {self.received} bytes in "
                       f"{elapsed:.3f} s; {end}")
        if self.pending:
            raise IdleTimeout(f"sending stalled: the peer took nothing for "
                              f"{self.idle_timeout:g} s ({self.sent} bytes sent, "
                              f"{len(self.pending)} not delivered)")
        if self.received == 0 and self.peer_closed:
            raise EmptyReply(f"the peer closed the connection without sending anything "
                             f"({self.sent} bytes sent)")
        if self.received == 0:
            raise IdleTimeout(f"nothing received within {self.idle_timeout:g} s "
                              f"({self.sent} bytes sent; the connection is open but silent)")
        return Exchanged(self.sent, self.received, self.peer_closed, elapsed)


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


def exchange(ex: Exchange) -> Exchanged:
    """Run the exchange, waiting with poll(): send the request, then what
    input_fd yields up to its end; pass every received chunk to the sink;
    end when the peer closes or nothing moved for the idle timeout.

    When the peer closes, reading stops; bytes already taken from the request
    are still delivered (the peer may only have shut its own side)."""
    with new_selector() as sel:
        sock_events = selectors.EVENT_READ
        sel.register(ex.sock, sock_events)
        input_registered: Optional[int] = None
        while True:
            wait = ex.plan()
            if wait is None:
                break
            wanted = (selectors.EVENT_READ if wait.read else 0) | \
                (selectors.EVENT_WRITE if wait.write else 0)
            if wanted != sock_events:
                sel.modify(ex.sock, wanted)
                sock_events = wanted
            if wait.input_fd != input_registered:
                if input_registered is not None:
                    sel.unregister(input_registered)
                if wait.input_fd is not None:
                    sel.register(wait.input_fd, selectors.EVENT_READ)
                input_registered = wait.input_fd
            readable = writable = input_ready = False
            for key, mask in sel.select(wait.timeout_s):
                if key.fileobj is not ex.sock:
                    input_ready = True
                    continue
                readable = readable or bool(mask & selectors.EVENT_READ)
                writable = writable or bool(mask & selectors.EVENT_WRITE)
            ex.handle(readable, writable, input_ready)
    return ex.finish()
