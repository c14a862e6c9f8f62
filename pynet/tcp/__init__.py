"""A TCP client that fails with clear words: the course's first lesson done right.

    >>> import pynet.tcp
    >>> result = pynet.tcp.request("127.0.0.1", 8080, pynet.tcp.http_get("127.0.0.1", "/", 8080))
    >>> result.data[:12], result.peer_closed          # doctest: +SKIP
    (b'HTTP/1.0 200', True)

Every failure is a pynet.PynetError subclass carrying curl's exit code:
TcpNameError (6), ConnectFailed (7), ConnectTimeout and IdleTimeout (28),
EmptyReply (52), TcpSendFailed (55), ConnectionReset (56).
"""

from __future__ import annotations

from ._client import TcpResult, request
from ._command import main
from .._errors import (
    ConnectFailed,
    ConnectionReset,
    ConnectTimeout,
    EmptyReply,
    IdleTimeout,
    TcpNameError,
    TcpSendFailed,
    TcpError,
)
from ._http import http_get

__all__ = [
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionReset",
    "EmptyReply",
    "IdleTimeout",
    "TcpNameError",
    "TcpSendFailed",
    "TcpError",
    "TcpResult",
    "http_get",
    "main",
    "request",
]
