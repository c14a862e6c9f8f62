"""The errors ping raises, under one base class (a pynet.PynetError)."""

from __future__ import annotations

from .._errors import PynetError, ResolveError

__all__ = ["PingError", "PingNameError", "PingPermissionError", "PingSocketError",
           "PERMISSION_FIX"]

PERMISSION_FIX = ('run as root or with CAP_NET_RAW, or allow unprivileged ping with: '
                  'sysctl -w net.ipv4.ping_group_range="0 2147483647"')


class PingError(PynetError):
    """Base class of ping's errors. The command exits with ``exit_code``
    (2, as iputils does for anything but missing replies)."""

    exit_code = 2


class PingNameError(PingError, ResolveError):
    """The host name did not resolve (to an address of the family asked for)."""


class PingPermissionError(PingError, PermissionError):
    """No ICMP socket may be opened: neither raw (root, CAP_NET_RAW) nor
    datagram (net.ipv4.ping_group_range). The message names the fix."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"no permission to open an ICMP socket ({detail}): {PERMISSION_FIX}")


class PingSocketError(PingError, OSError):
    """The socket could not be set up or used: a bad -I, -t, no route, ...
    Made as PingSocketError(errno, message); str() is the message alone."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()
