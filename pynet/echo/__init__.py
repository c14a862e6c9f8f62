"""Echo servers in every concurrency model: ``python -m pynet.echo``.

TCP: iterative (one client at a time, the course's first server), fork (a
process per client, every child reaped), thread (a thread per client, up to a
bound), select (one thread, readiness notification) and native (the C event
loop: epoll, kqueue or poll, or io_uring for TCP; ``workers`` loops sharing
the port). UDP: the
Python model ("iterative") and native (recvmmsg/sendmmsg batches).

>>> import pynet.echo, socket
>>> with pynet.echo.serve(port=0) as server:          # in a background thread
...     with socket.create_connection(server.address) as s:
...         _ = s.sendall(b"hi"); s.recv(2)
b'hi'

Servers bind 127.0.0.1 unless asked otherwise. Errors binding the address
raise BindError (exit code 2 on the command line) naming the address.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from .. import _backend
from ._common import MODELS, BindError, EchoConfig, Server, open_sockets

__all__ = ["MODELS", "BindError", "EchoConfig", "Server", "default_model", "main", "open",
           "serve"]


def default_model(proto: str = "tcp") -> str:
    """native when the live backend has the C echo loop (PYNET_BACKEND
    picks it: see pynet._backend), else select for TCP and the Python model
    for UDP."""
    if _backend.has("echo"):
        return "native"
    return "select" if proto == "tcp" else "iterative"


def _model_runner(model: str, proto: str) -> Callable[[Server], None]:
    if proto == "udp" and model == "iterative":
        from . import udp
        return udp.serve_forever
    if model == "iterative":
        from . import iterative
        return iterative.serve_forever
    if model == "fork":
        from . import forking
        return forking.serve_forever
    if model == "thread":
        from . import threaded
        return threaded.serve_forever
    if model == "select":
        from . import selecting
        return selecting.serve_forever
    from . import native
    return native.serve_forever


def open(proto: str = "tcp", model: Optional[str] = None, host: str = "127.0.0.1",
         port: int = 30000, *, workers: int = 1, backlog: int = 511,
         max_clients: Optional[int] = None, poller: str = "auto",
         verbose: bool = False) -> Server:
    """A bound server, not yet serving: call ``serve_forever()`` (this
    thread) or ``start()`` (a background thread). ValueError for settings
    that cannot work, BindError when the address cannot be taken."""
    config = EchoConfig(proto=proto, model=model or default_model(proto), host=host, port=port,
                        workers=workers, backlog=backlog, max_clients=max_clients,
                        poller=poller, verbose=verbose)
    config.check()
    if config.model == "native":
        from . import native
        native.check(config)
    runner = _model_runner(config.model, config.proto)
    return Server(config, open_sockets(config), runner)


def serve(proto: str = "tcp", model: Optional[str] = None, host: str = "127.0.0.1",
          port: int = 30000, *, workers: int = 1, backlog: int = 511,
          max_clients: Optional[int] = None, poller: str = "auto",
          verbose: bool = False) -> Server:
    """Start an echo server in a background thread and return its handle:
    ``.address``, ``.stop()``, and a context manager that stops it."""
    return open(proto, model, host, port, workers=workers, backlog=backlog,
                max_clients=max_clients, poller=poller, verbose=verbose).start()


def main(argv: Optional[List[str]] = None) -> int:
    """`pynet echo ARGS...` (the same as `python -m pynet.echo ARGS...`)."""
    from .._cli import run_main
    from .__main__ import PROG
    from .__main__ import main as cli_main
    return run_main(PROG, cli_main, argv)
