"""The native model: the C event loop over epoll, kqueue or poll, or the
completion-based TCP loop over io_uring, one loop per worker. Each loop runs
in one call into C with the GIL released; ``workers=N`` runs N loops in N
threads, each on its own socket bound to the same port with SO_REUSEPORT, so
the kernel spreads connections over them. A stop request (or SIGINT/SIGTERM
through the stop pipe, which the CLI makes the signal wake-up descriptor)
makes every loop return and free what it holds.

Only the C backend has this loop. It is reached through pynet._backend,
whichever backend is live: PYNET_BACKEND=python changes the default model
(see pynet.echo.default_model), not what an explicit model="native" means.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Dict, List, Optional, Protocol, cast

from .. import _backend
from .._errors import EchoConfigError
from ._common import READ_SIZE, EchoConfig, Server

__all__ = ["EchoLoop", "check", "poller_available", "poller_name", "serve_forever"]


class EchoLoop(Protocol):
    """What the native model needs of a backend (pynet/_c/echo.py)."""

    def poller_available(self, poller: str) -> bool: ...

    def unavailable_reason(self, poller: str) -> str: ...

    def poller_name(self, poller: str, udp: bool) -> str: ...

    def run(self, fd: int, *, stop_fd: int, udp: bool, poller: str, max_clients: int,
            read_size: int, counts: Dict[str, int]) -> None: ...


if TYPE_CHECKING:
    # mypy checks here that the C adapter implements the interface.
    from .._c import echo as _c_echo
    _conforms: EchoLoop = _c_echo


def _loop() -> EchoLoop:
    """The C echo loop, or EchoConfigError saying why it cannot load."""
    try:
        return cast(EchoLoop, _backend.module("echo", "c"))
    except ImportError as exc:
        raise EchoConfigError(f"the native model needs pynet's C extension, which does not "
                              f"load here ({exc})") from None


def poller_available(poller: str) -> bool:
    """Whether the native loop can serve over poller here (False too when
    the C extension does not load)."""
    try:
        return _loop().poller_available(poller)
    except EchoConfigError:
        return False


def poller_name(config: EchoConfig) -> str:
    """The poller config's loops serve over ("auto" resolved: "uring" for
    TCP where io_uring may be used, else "epoll"). EchoConfigError when the
    poller asked for cannot serve here."""
    loop = _loop()
    try:
        return loop.poller_name(config.poller, config.proto == "udp")
    except OSError:
        raise EchoConfigError(f"poller {config.poller} is not available "
                              f"{loop.unavailable_reason(config.poller)}") from None


def check(config: EchoConfig) -> None:
    """EchoConfigError unless the native loop can serve config here."""
    loop = _loop()
    if not loop.poller_available(config.poller):
        raise EchoConfigError(f"poller {config.poller} is not available "
                              f"{loop.unavailable_reason(config.poller)}")
    poller_name(config)


def serve_forever(server: Server) -> None:
    loop = _loop()
    config = server.config
    check(config)
    # One connection is at most one read behind: max-clients divides among workers.
    bound = config.client_bound
    per_worker = -(-bound // config.workers) if bound else 0
    counts: List[Dict[str, int]] = [{} for _ in server.sockets]
    errors: List[Optional[OSError]] = [None for _ in server.sockets]

    def run(i: int) -> None:
        try:
            loop.run(server.sockets[i].fileno(), stop_fd=server.stop_fd,
                     udp=config.proto == "udp", poller=config.poller, max_clients=per_worker,
                     read_size=READ_SIZE, counts=counts[i])
        except OSError as exc:
            errors[i] = exc
            server.stop_soon()  # one loop failed: stop the others too

    threads = [threading.Thread(target=run, args=(i,), daemon=True,
                                name=f"pynet-echo-native-{i}")
               for i in range(1, len(server.sockets))]
    for thread in threads:
        thread.start()
    try:
        run(0)
    finally:
        server.stop_soon()
        for thread in threads:
            thread.join()
        for worker in counts:
            for name, n in worker.items():
                server.count(name, n)
    for error in errors:
        if error is not None:
            raise error
