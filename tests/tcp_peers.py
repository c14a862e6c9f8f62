"""Loopback TCP peers for the client tests, each showing one failure
scenario: refusing (a closed port), silent, closing at once, resetting
(SO_LINGER 0), echoing, answering HTTP, trickling a byte at a time (which
no idle timeout ends), and a listener whose backlog is full so that SYNs
are dropped (the connect timeout).

Each server runs in one thread that serves connections one after another;
every wait in it has a deadline, and stop() wakes it through a socketpair.
"""

from __future__ import annotations

import contextlib
import select
import selectors
import socket
import struct
import threading
import time
from typing import Callable, Iterator, List, Tuple

Handler = Callable[[socket.socket], None]

WAIT_S = 10.0  # no handler waits longer than this for its client


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on: bound once by us and released, so the
    kernel answers a SYN to it with RST (connection refused)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Server:
    """A listening socket on loopback and the thread that serves it."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(16)
        self.host = host
        self.port = int(self.listener.getsockname()[1])
        self.handler = handler
        self.errors: List[BaseException] = []
        self.served = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in sel.select()]
                if self._wake_r in ready:
                    return
                conn, _ = self.listener.accept()
                try:
                    conn.settimeout(WAIT_S)
                    self.handler(conn)
                except BaseException as exc:  # reported by stop()
                    self.errors.append(exc)
                finally:
                    conn.close()
                    self.served += 1

    def stop(self) -> None:
        self._wake_w.send(b"x")
        self._thread.join(WAIT_S * 2)
        for s in (self.listener, self._wake_r, self._wake_w):
            s.close()


@contextlib.contextmanager
def serving(handler: Handler, host: str = "127.0.0.1") -> Iterator[Server]:
    server = Server(handler, host)
    try:
        yield server
    finally:
        server.stop()


def read_until_eof(conn: socket.socket) -> bytes:
    chunks = []
    while True:
        data = conn.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def read_request(conn: socket.socket, end: bytes = b"\r\n\r\n") -> bytes:
    """Read until `end` (the blank line closing HTTP headers) or EOF."""
    data = b""
    while end not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def silent(conn: socket.socket) -> None:
    """Accept and say nothing until the client goes away."""
    read_until_eof(conn)


def closing(conn: socket.socket) -> None:
    """Read the request's first line, then close (FIN): an empty reply. (Closing
    with the request unread would send RST instead.)"""
    read_request(conn, b"\n")


def resetting(conn: socket.socket, first: bytes = b"") -> None:
    """Optionally send `first`, then close with SO_LINGER 0 (RST)."""
    if first:
        conn.sendall(first)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def trickling(interval_s: float = 0.5, byte: bytes = b".") -> Handler:
    """A peer that sends one byte at once and then one every interval_s,
    reading (and dropping) whatever the client sends, until the client goes
    away or WAIT_S passes."""
    def handler(conn: socket.socket) -> None:
        end = time.monotonic() + WAIT_S
        next_send = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= end:
                return
            if now < next_send:
                readable, _, _ = select.select([conn], [], [], next_send - now)
                if readable:
                    try:
                        if not conn.recv(65536):
                            return  # the client closed
                    except OSError:
                        return
                continue
            try:
                conn.sendall(byte)
            except OSError:
                return  # the client is gone
            next_send += interval_s
    return handler


def echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class HttpRecorder:
    """Answers one fixed response to every request and keeps the requests."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.requests: List[bytes] = []

    def __call__(self, conn: socket.socket) -> None:
        self.requests.append(read_request(conn))
        conn.sendall(self.response)


_TCP_INFO_LEN = 104
_TCPI_UNACKED = 24  # for a listener: connections waiting in the accept queue
_TCP_LISTEN_INFO = struct.Struct("II")  # tcpi_unacked, tcpi_sacked (the backlog)


def _accept_queue(listener: socket.socket) -> Tuple[int, int]:
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    queued, backlog = _TCP_LISTEN_INFO.unpack_from(info, _TCPI_UNACKED)
    return int(queued), int(backlog)


@contextlib.contextmanager
def full_backlog(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """A port whose listener never accepts and whose accept queue is full:
    Linux then drops further SYNs, so a connect to it hangs like the
    course's filtered port 8000 (no RST, no answer)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    fillers: List[socket.socket] = []
    try:
        listener.bind((host, port))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        deadline = time.monotonic() + WAIT_S
        while True:
            queued, backlog = _accept_queue(listener)
            if queued > backlog:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"accept queue did not fill ({queued} of {backlog})")
            if len(fillers) <= backlog:
                filler = socket.socket(family, socket.SOCK_STREAM)
                fillers.append(filler)
                filler.settimeout(WAIT_S)
                filler.connect((host, port))
            else:
                # The handshake is done on the client side; the server side
                # queues it from softirq context a moment later.
                time.sleep(0.001)
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


def wait_listening(port: int, timeout_s: float = WAIT_S, family: int = socket.AF_INET) -> None:
    """Wait until something listens on TCP `port` (an outside program such as
    nc), reading /proc/net/tcp rather than connecting, which would use up
    the program's one accept."""
    table = "/proc/net/tcp" if family == socket.AF_INET else "/proc/net/tcp6"
    wanted = f":{port:04X}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(wanted) and fields[3] == "0A":  # TCP_LISTEN
                    return
        time.sleep(0.005)
    raise TimeoutError(f"nothing listened on port {port} within {timeout_s} s")

