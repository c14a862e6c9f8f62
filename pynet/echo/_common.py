"""What every echo model shares: the settings, binding with clear errors, the
stop pipe, and the Server handle that runs a model in the foreground or in a
background thread."""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set, Tuple

from .. import _checks as checks
from .._errors import BindError, EchoConfigError
from .._resolve import resolve

__all__ = [
    "ALL_INTERFACES",
    "BindError",
    "EchoConfig",
    "MODELS",
    "READ_SIZE",
    "Server",
    "open_sockets",
]

# Models per protocol; the first one listed is not the default (see default_model).
MODELS: Dict[str, Tuple[str, ...]] = {
    "tcp": ("iterative", "fork", "thread", "select", "native"),
    "udp": ("iterative", "native"),
}
POLLERS = ("auto", "epoll", "poll", "kqueue", "uring")
# Hosts that mean "every interface" (the course's HOST = '').
ALL_INTERFACES = {"": "0.0.0.0", "*": "0.0.0.0", "0.0.0.0": "0.0.0.0", "::": "::"}
READ_SIZE = 64 * 1024          # bytes read at once; bounds what a client can make us hold
DEFAULT_MAX_CLIENTS = 256      # thread and fork models: a thread or process each
WAIT_S = 1.0                   # every wait has a deadline


@dataclass(frozen=True)
class EchoConfig:
    """What to serve and how. ``max_clients=None`` means the model's default:
    256 for the thread and fork models (one thread or process each), no bound
    for select and native (the descriptor limit bounds them)."""

    proto: str = "tcp"
    model: str = "native"
    host: str = "127.0.0.1"
    port: int = 30000
    workers: int = 1
    backlog: int = 511
    max_clients: Optional[int] = None
    poller: str = "auto"
    verbose: bool = False

    def check(self) -> None:
        """EchoConfigError naming the first setting that cannot work
        (TypeError for a value of the wrong type)."""
        if self.proto not in MODELS:
            raise EchoConfigError(f"protocol must be tcp or udp, not {self.proto!r}")
        if self.model not in MODELS[self.proto]:
            raise EchoConfigError(f"model {self.model!r} does not serve {self.proto}; "
                                  f"choose one of {', '.join(MODELS[self.proto])}")
        if not isinstance(self.host, str):
            raise TypeError(f"host must be a str, not {type(self.host).__name__}")
        if self.host in MODELS:
            # serve("udp") from before host and port came first would
            # otherwise look the protocol's name up as a host.
            raise EchoConfigError(f"host {self.host!r} is a protocol: pass proto={self.host!r}")
        try:
            checks.port(self.port, zero=True)
            checks.integer(self.workers, "workers", 1)
            checks.integer(self.backlog, "backlog", 1)
            if self.max_clients is not None:
                checks.integer(self.max_clients, "max_clients", 1)
        except ValueError as exc:
            raise EchoConfigError(str(exc)) from None
        if self.workers > 1 and self.model != "native":
            raise EchoConfigError("several workers need the native model")
        if self.poller not in POLLERS:
            raise EchoConfigError(f"poller must be one of {', '.join(POLLERS)}, "
                                  f"not {self.poller!r}")
        if self.poller != "auto" and self.model != "native":
            raise EchoConfigError("choosing a poller needs the native model")
        if self.poller == "uring" and self.proto != "tcp":
            raise EchoConfigError("poller uring serves TCP only (UDP echo uses recvmmsg/sendmmsg)")

    @property
    def client_bound(self) -> int:
        """The bound on clients served at once (0: none)."""
        if self.max_clients is not None:
            return self.max_clients
        return DEFAULT_MAX_CLIENTS if self.model in ("thread", "fork") else 0

    @property
    def all_interfaces(self) -> bool:
        return self.host.strip() in ALL_INTERFACES


def _bind_error(exc: OSError, host: str, port: int) -> BindError:
    where = f"cannot listen on {host} port {port}"
    if exc.errno == errno.EADDRINUSE:
        return BindError(errno.EADDRINUSE, f"{where}: address already in use")
    if exc.errno == errno.EADDRNOTAVAIL:
        return BindError(errno.EADDRNOTAVAIL, f"{where}: cannot assign requested address "
                                              f"({host} is not an address of this host)")
    if exc.errno == errno.EACCES:
        return BindError(errno.EACCES, f"{where}: permission denied (ports below 1024 need root)")
    return BindError(exc.errno or 0, f"{where}: {exc.strerror or exc}")


def _address(config: EchoConfig) -> Tuple[int, Tuple[str, int]]:
    socktype = socket.SOCK_DGRAM if config.proto == "udp" else socket.SOCK_STREAM
    host = ALL_INTERFACES.get(config.host.strip(), config.host)
    family, sockaddr = resolve(host, config.port, socktype=socktype)[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


def open_sockets(config: EchoConfig) -> List[socket.socket]:
    """The bound (and, for TCP, listening) sockets: one, or one per worker
    sharing the port through SO_REUSEPORT. BindError on failure."""
    config.check()
    family, (host, port) = _address(config)
    udp = config.proto == "udp"
    sockets: List[socket.socket] = []
    try:
        for _ in range(config.workers):
            sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
            sockets.append(sock)
            if not udp:
                # A restarted server must not wait for TIME_WAIT to expire.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if config.workers > 1:
                # Only when asked: otherwise a second server on the same port
                # would silently share it instead of failing.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise _bind_error(exc, config.host or host, port) from None
            port = sock.getsockname()[1]  # port 0: the others join the one chosen
            if not udp:
                sock.listen(config.backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _pipe() -> Tuple[int, int]:
    r, w = os.pipe()  # close-on-exec since Python 3.4
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


Model = Callable[["Server"], None]


class Server:
    """A bound echo server. ``serve_forever()`` serves in this thread until
    ``stop_soon()`` (safe in a signal handler) or ``stop()``; ``start()``
    serves in a background thread. As a context manager it stops and frees
    everything on exit.

    ``address`` is (host, port) as bound (the real port when 0 was asked).
    ``stats`` holds counters: accepted, closed, resets, bytes, datagrams...
    """

    def __init__(self, config: EchoConfig, sockets: List[socket.socket], model: Model) -> None:
        self.config = config
        self.sockets = sockets
        name = sockets[0].getsockname()
        self.address: Tuple[str, int] = (str(name[0]), int(name[1]))
        self.stats: Dict[str, int] = {}
        self.stop_fd, self._stop_w = _pipe()
        self._model = model
        self._stopping = False
        self._clients: Set[socket.socket] = set()
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self._closed = False

    # -- for the models --------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def wakeup_fd(self) -> int:
        """Writing a byte here stops the server (for signal.set_wakeup_fd:
        a signal then stops even the C loop, which holds no Python frame)."""
        return self._stop_w

    def log(self, message: str) -> None:
        if self.config.verbose:
            print(f"pynet echo: {message}", file=sys.stderr, flush=True)

    def track(self, client: socket.socket) -> None:
        """Remember a blocking client so that a stop can unblock it."""
        self._clients.add(client)
        if self._stopping:
            _shutdown(client)

    def untrack(self, client: socket.socket) -> None:
        self._clients.discard(client)

    def count(self, name: str, n: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + n

    def accept(self, listener: socket.socket) -> Optional[Tuple[socket.socket, Tuple[str, int]]]:
        """The next client and its address, counted and logged; None when
        none is waiting, or when accept failed (counted in accept_errors
        and logged: a connection aborted before accept, or a lack of
        descriptors, never stops the server)."""
        try:
            client, peer = listener.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self.count("accept_errors")
            self.log(f"accept: {exc.strerror or exc}")
            return None
        self.count("accepted")
        self.log(f"client connected from {peer[0]} port {peer[1]}")
        return client, peer[:2]

    # -- running and stopping ---------------------------------------------

    def serve_forever(self) -> None:
        """Serve in this thread until stopped."""
        if self._closed:
            raise RuntimeError("this echo server is closed")
        self._model(self)

    def start(self) -> "Server":
        """Serve in a background thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("this echo server is already running")

        def run() -> None:
            try:
                self.serve_forever()
            except BaseException as exc:  # handed to stop()
                self._error = exc

        self._thread = threading.Thread(target=run, name=f"pynet-echo-{self.config.model}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop_soon(self) -> None:
        """Ask the server to stop (returns at once; safe in a signal
        handler: no locks). Blocked clients are shut down so that their
        threads or processes wake up."""
        self._stopping = True
        try:
            os.write(self._stop_w, b"s")
        except (BlockingIOError, OSError):
            pass  # already full (stopping) or closed (stopped)
        for client in list(self._clients):
            _shutdown(client)

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop, wait up to timeout seconds for the background thread, free
        everything. Re-raises what ended the background thread, if it
        failed. A thread still serving after timeout (a model that did not
        heed the stop) keeps its sockets: stop() may be called again."""
        checks.seconds(timeout, "timeout", zero=True)
        self.stop_soon()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        if self._closed:
            return
        if self._thread is not None and self._thread.is_alive():
            return  # still serving: stop() first
        self._closed = True
        for sock in self.sockets:
            sock.close()
        os.close(self.stop_fd)
        os.close(self._stop_w)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        host, port = self.address
        return f"<pynet echo {self.config.proto} {self.config.model} on {host} port {port}>"


def _shutdown(client: socket.socket) -> None:
    try:
        client.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def echo_stream(server: Server, client: socket.socket) -> None:
    """Echo one TCP client with blocking calls until it closes (the thread,
    fork and iterative models). sendall blocks while the client does not
    read, and nothing more is read meanwhile: one read's worth is all the
    server holds for it."""
    server.track(client)
    try:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.setblocking(True)
        recv, sendall = client.recv, client.sendall
        while True:
            data = recv(READ_SIZE)
            if not data:
                break
            sendall(data)
    except OSError:
        pass  # reset by the client, or shut down by a stop: either ends it
    finally:
        server.untrack(client)
        client.close()


def describe(config: EchoConfig, address: Tuple[str, int], poller: str = "") -> str:
    """The startup line: what serves, and where (scripts wait for it)."""
    what = [config.model]
    if poller:
        what.append(poller)
    if config.workers > 1:
        what.append(f"{config.workers} workers")
    host, port = address
    return f"{config.proto} echo server ({', '.join(what)}) listening on {host} port {port}"
