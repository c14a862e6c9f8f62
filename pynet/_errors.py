"""The exceptions pynet raises on purpose, under one base class."""

from __future__ import annotations

from . import _wire as w

__all__ = ["MalformedPacket", "PynetError", "ResolveError", "TRACEROUTE_PERMISSION_FIX",
           "TracerouteError", "TracerouteNameError", "TraceroutePermissionError",
           "TracerouteSocketError", "describe_malformed"]


class PynetError(Exception):
    """Base class of every error pynet raises deliberately.

    ``exit_code`` is what a command-line tool exits with when this error ends
    it; each tool's own error classes set the codes its users expect.
    """

    exit_code: int = 2


class ResolveError(PynetError, OSError):
    """A host name that did not resolve (to an address of the wanted family)."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"{host}: {reason}")

    def __str__(self) -> str:
        return f"{self.host}: {self.reason}"

    def __reduce__(self) -> tuple[type[ResolveError], tuple[str, str]]:
        return (type(self), (self.host, self.reason))


_REASONS = {
    w.MALFORMED_EMPTY: "empty packet",
    w.MALFORMED_IPV4_TRUNCATED: "IPv4 header truncated (fewer than 20 bytes)",
    w.MALFORMED_IPV4_VERSION: "IP version is not 4",
    w.MALFORMED_IPV4_IHL_SHORT: "IPv4 header length (IHL) is below 5 words",
    w.MALFORMED_IPV4_IHL_BEYOND: "IPv4 header length (IHL) runs past the end of the packet",
    w.MALFORMED_IPV4_NOT_ICMP: "IPv4 protocol is not ICMP",
    w.MALFORMED_IPV6_TRUNCATED: "IPv6 header truncated (fewer than 40 bytes)",
    w.MALFORMED_IPV6_VERSION: "IP version is not 6",
    w.MALFORMED_IPV6_EXT_TRUNCATED: "IPv6 extension header truncated",
    w.MALFORMED_IPV6_NOT_ICMP: "IPv6 next header is not ICMPv6",
    w.MALFORMED_ICMP_TRUNCATED: "ICMP header truncated (fewer than 8 bytes)",
    w.MALFORMED_QUOTE_SHORT: "ICMP error quotes fewer than 8 bytes of the original payload",
}


def describe_malformed(reason: int) -> str:
    """Words for a MalformedPacket reason code."""
    if reason > w.MALFORMED_QUOTED:
        return "in the quoted datagram: " + describe_malformed(reason - w.MALFORMED_QUOTED)
    return _REASONS.get(reason, f"malformed packet (reason {reason})")


class MalformedPacket(PynetError, ValueError):
    """A packet that cannot be parsed: truncated, or with impossible headers.

    ``reason`` is a stable numeric code, the same in the C and Python
    backends; ``str(exc)`` says in words what is wrong.
    """

    reason: int

    def __init__(self, reason: int) -> None:
        self.reason = reason
        super().__init__(describe_malformed(reason))

    def __reduce__(self) -> tuple[type[MalformedPacket], tuple[int]]:
        return (type(self), (self.reason,))


# ==== traceroute (pynet.traceroute) =========================================
# The traceroute section: its base class and the three ways it fails.

TRACEROUTE_PERMISSION_FIX = (
    'run as root or with CAP_NET_RAW, or (for -I) allow unprivileged ICMP with: '
    'sysctl -w net.ipv4.ping_group_range="0 2147483647"')


class TracerouteError(PynetError):
    """Base class of traceroute's errors; the command exits with ``exit_code``."""

    exit_code = 2


class TracerouteNameError(TracerouteError, ResolveError):
    """The target did not resolve (to an address of the family asked for);
    raised before any probe is sent."""


class TraceroutePermissionError(TracerouteError, PermissionError):
    """The method's sockets may not be opened (TCP needs a raw socket; -I a
    raw or an unprivileged ICMP socket). The message names the fix."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{detail}: {TRACEROUTE_PERMISSION_FIX}")


class TracerouteSocketError(TracerouteError, OSError):
    """A socket could not be set up or used (no route, a bad source, ...).
    Made as TracerouteSocketError(errno, message); str() is the message."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()

# ==== end of traceroute =====================================================
