"""What can go wrong in a TCP exchange, each with curl's exit code.

The codes are the ones curl users already script against: 6 could not
resolve, 7 could not connect, 28 timed out, 52 empty reply, 55 send
failure, 56 receive failure (reset).
"""

from __future__ import annotations

from .._errors import PynetError, ResolveError

__all__ = [
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionReset",
    "EmptyReply",
    "IdleTimeout",
    "NameNotResolved",
    "SendFailed",
    "TcpError",
]


class TcpError(PynetError):
    """Base class of the TCP client's errors. ``received`` holds whatever
    arrived before the failure (nothing is dropped silently)."""

    exit_code = 2
    received: bytes = b""


class NameNotResolved(ResolveError):
    """The host name did not resolve (curl: "Could not resolve host")."""

    exit_code = 6


class ConnectFailed(TcpError, ConnectionError):
    """Every address refused or could not be reached (curl: "Couldn't connect")."""

    exit_code = 7


class ConnectTimeout(TcpError, TimeoutError):
    """No address completed the handshake within the connect timeout."""

    exit_code = 28


class IdleTimeout(TcpError, TimeoutError):
    """Connected, but nothing came back within the idle timeout."""

    exit_code = 28


class EmptyReply(TcpError, ConnectionError):
    """The peer closed the connection without sending a byte (curl: "Empty reply")."""

    exit_code = 52


class SendFailed(TcpError, ConnectionError):
    """The request could not be delivered: the peer went away while we sent."""

    exit_code = 55


class ConnectionReset(TcpError, ConnectionError):
    """The peer reset the connection (RST): what was in flight is lost."""

    exit_code = 56
