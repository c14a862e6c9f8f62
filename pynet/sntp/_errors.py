"""Why a server gave no usable time. One class per cause, each with a short
``kind`` for scripts (the CLI's --json) and a one-line message for people."""

from __future__ import annotations

from .._errors import PynetError

__all__ = [
    "BadReply",
    "KissOfDeath",
    "NoReply",
    "PortUnreachable",
    "SNTPError",
    "SendFailed",
    "Unreachable",
    "Unsynchronised",
]


class SNTPError(PynetError):
    """Base class: the server named in the result gave no usable time."""

    exit_code = 1  # the CLI exits 1 only when no server answered
    kind = "error"


class NoReply(SNTPError, TimeoutError):
    """No valid reply before the timeout (lost, filtered, or never sent)."""

    kind = "timeout"


class Unreachable(SNTPError, ConnectionError):
    """An ICMP error came back for our request (host or network unreachable,
    administratively prohibited)."""

    kind = "unreachable"


class PortUnreachable(Unreachable, ConnectionRefusedError):
    """ICMP port unreachable: the host is up but nothing listens on the port."""

    kind = "port-unreachable"


class SendFailed(SNTPError, ConnectionError):
    """The request could not be sent at all (no route, no IPv6, ...)."""

    kind = "send-failed"


class KissOfDeath(SNTPError):
    """Stratum 0: the server refuses service; ``code`` is its kiss code
    (RATE: query less often, DENY/RSTR: access denied, ...)."""

    kind = "kiss-of-death"

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class Unsynchronised(SNTPError):
    """The server says its own clock is not synchronised (leap indicator 3
    or stratum 16): its time must not be used."""

    kind = "unsynchronised"


class BadReply(SNTPError):
    """A reply to our request that breaks the protocol (bad version, zero
    transmit timestamp)."""

    kind = "bad-reply"
