"""The errors the fleet tool raises, under one base class (a pynet.PynetError)."""

from __future__ import annotations

from .._errors import PynetError

__all__ = ["FleetError", "FleetPermissionError", "FleetSocketError", "PERMISSION_FIX"]

PERMISSION_FIX = ('run as root or with CAP_NET_RAW, or allow unprivileged ping with: '
                  'sysctl -w net.ipv4.ping_group_range="0 2147483647"')


class FleetError(PynetError):
    """Base class of the fleet tool's errors. fping exits 4 when a system
    call failed, and so does `pynet fping`."""

    exit_code = 4


class FleetPermissionError(FleetError, PermissionError):
    """No ICMP socket may be opened: neither raw (root, CAP_NET_RAW) nor
    datagram (net.ipv4.ping_group_range). The message names the fix."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"no permission to open an ICMP socket ({detail}): {PERMISSION_FIX}")


class FleetSocketError(FleetError, OSError):
    """A socket could not be set up: FleetSocketError(errno, message)."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()
