"""Echo servers in every concurrency model: ``python -m pynet.echo``.

TCP: iterative (one client at a time, the course's first server), fork (a
process per client, every child reaped), thread (a thread per client, up to a
bound), select (one thread, readiness notification) and native (the C event
loop: epoll, kqueue or poll, or io_uring for TCP; ``workers`` loops sharing
the port). UDP: the Python model ("iterative") and native (recvmmsg/sendmmsg
batches).

>>> import pynet.echo, socket
>>> with pynet.echo(port=0) as server:          # serves in a background thread
...     with socket.create_connection(server.address) as s:
...         _ = s.sendall(b"hi"); s.recv(2)
b'hi'

``pynet.echo(...)`` is ``pynet.echo.serve(...)``: the package is callable,
like ``pynet.ping`` (see pynet/_tool.py). Servers bind 127.0.0.1 unless asked
otherwise. Settings that cannot work raise EchoConfigError (a ValueError);
an address that cannot be taken raises BindError (an OSError) naming it;
both are EchoErrors, exit code 2 on the command line.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from .. import _backend
from .._errors import BindError, EchoConfigError, EchoError
from .._tool import make_callable
from ._common import MODELS, EchoConfig, Server, open_sockets

__all__ = ["MODELS", "BindError", "EchoConfig", "EchoConfigError", "EchoError", "Server",
           "default_model", "main", "open", "serve"]


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


def open(host: str = "127.0.0.1", port: int = 30000, *, proto: str = "tcp",
         model: Optional[str] = None, workers: int = 1, backlog: int = 511,
         max_clients: Optional[int] = None, poller: str = "auto",
         verbose: bool = False) -> Server:
    """A bound server, not yet serving: call ``serve_forever()`` (this
    thread) or ``start()`` (a background thread).

    The address is the target, so host and port come first and may be
    given by position, as with ``socket.create_server((host, port))`` and
    ``pynet.tcp.request(host, port)``; every other setting is keyword-only.
    Both have defaults because a server has a sensible place to listen
    (127.0.0.1, the course's port 30000; port 0 picks a free one).

    proto: "tcp" or "udp". model: one of MODELS[proto]; None is
    default_model(proto). workers: native loops sharing the port.
    backlog: the listen queue. max_clients: clients served at once (None:
    256 for thread and fork, no bound for select and native). poller: the
    native loop's ("auto", "epoll", "poll", "kqueue", "uring"). verbose:
    log clients to stderr.

    EchoConfigError for settings that cannot work (a poller this system
    lacks, the native model without the C extension, ...), BindError when
    the address cannot be taken.
    """
    config = EchoConfig(proto=proto, model=model or default_model(proto), host=host, port=port,
                        workers=workers, backlog=backlog, max_clients=max_clients,
                        poller=poller, verbose=verbose)
    config.check()
    if config.model == "native":
        from . import native
        native.check(config)
    runner = _model_runner(config.model, config.proto)
    return Server(config, open_sockets(config), runner)


def serve(host: str = "127.0.0.1", port: int = 30000, *, proto: str = "tcp",
          model: Optional[str] = None, workers: int = 1, backlog: int = 511,
          max_clients: Optional[int] = None, poller: str = "auto",
          verbose: bool = False) -> Server:
    """Start an echo server in a background thread and return its handle:
    ``.address``, ``.stats``, ``.stop(timeout=...)``, and a context manager
    that stops it. The arguments and errors are open()'s."""
    return open(host, port, proto=proto, model=model, workers=workers, backlog=backlog,
                max_clients=max_clients, poller=poller, verbose=verbose).start()


def main(argv: Optional[List[str]] = None) -> int:
    """`pynet echo ARGS...` (the same as `python -m pynet.echo ARGS...`)."""
    from .._cli import run_main
    from .__main__ import PROG
    from .__main__ import main as cli_main
    return run_main(PROG, cli_main, argv)


# pynet.echo(...) is serve(...): see pynet/_tool.py for why a callable module.
make_callable(__name__, serve)
