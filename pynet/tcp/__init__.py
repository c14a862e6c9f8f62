"""A TCP client that fails with clear words, with curl's exit codes.

    >>> import pynet.tcp
    >>> result = pynet.tcp.request("127.0.0.1", 8080,
    ...                            data=pynet.tcp.http_get("127.0.0.1", "/", 8080))
    >>> result.data[:12], result.peer_closed          # doctest: +SKIP
    (b'HTTP/1.0 200', True)

request(host, port, *, data=b"", family=None, connect_timeout=5.0,
idle_timeout=2.0, max_time=None, shutdown=False, input_fd=None, sink=None,
trace=None) returns a TcpResult; async_request() takes the same arguments
and runs on the asyncio event loop.

Every failure is a TcpError (a pynet.PynetError) carrying curl's exit code:
TcpNameError (6, a pynet.ResolveError), ConnectFailed (7) and its
ConnectionRefused (also ConnectionRefusedError), ConnectTimeout, IdleTimeout
and MaxTimeExceeded (28, all TimeoutError), EmptyReply (52), TcpSendFailed
(55), ConnectionReset (56, also ConnectionResetError).
"""

from __future__ import annotations

from typing import List, Optional

from .._errors import (
    ConnectFailed,
    ConnectionRefused,
    ConnectionReset,
    ConnectTimeout,
    EmptyReply,
    IdleTimeout,
    MaxTimeExceeded,
    TcpError,
    TcpNameError,
    TcpSendFailed,
)
from ._client import TcpResult, async_request, request
from ._http import http_get
from .._tool import make_callable


def main(argv: Optional[List[str]] = None) -> int:
    """The command line (`python -m pynet.tcp`); returns the exit code.
    Its modules (argparse and all) load only when it runs."""
    from ._command import main as run_command

    return run_command(argv)


__all__ = [
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionRefused",
    "ConnectionReset",
    "EmptyReply",
    "IdleTimeout",
    "MaxTimeExceeded",
    "TcpError",
    "TcpNameError",
    "TcpResult",
    "TcpSendFailed",
    "async_request",
    "http_get",
    "main",
    "request",
]

# pynet.tcp(...) is request(...): see pynet/_tool.py for why a callable module.
make_callable(__name__, request)
