"""Every exception pynet raises on purpose: one tree, in one file.

    PynetError                      exit_code: what a command exits with
    ├── UsageError                  a bad command line (exit 2)
    ├── ResolveError (OSError)      a name that does not resolve, raised before
    │                               anything is sent; each tool raises its own
    │                               subclass, so the exit code is the tool's
    ├── MalformedPacket (ValueError)
    ├── PingError                   ping and its subclasses
    ├── TcpError                    the TCP client, with curl's exit codes
    ├── SNTPError                   why a server gave no usable time
    ├── EchoError                   the echo servers
    ├── FleetError                  many targets at once (pynet.fleet, pynet fping)
    ├── TracerouteError             traceroute
    └── ExporterError               the Prometheus exporter (its config errors too)

Timeouts also derive from TimeoutError, refusals from ConnectionRefusedError
and permission problems from PermissionError, so the built-in ``except``
clauses Python users already write catch them. The classes live here so that
``import pynet`` can export all of them without importing any tool; each
tool's module re-exports its own.
"""

from __future__ import annotations

from . import _wire as w

__all__ = [
    "BadReply", "BindError", "ConfigError", "ConnectFailed", "ConnectTimeout", "ConnectionRefused",
    "ConnectionReset", "EchoConfigError", "EchoError", "EmptyReply", "ExporterError", "FleetError",
    "FleetNameError", "FleetPermissionError", "FleetSocketError", "IdleTimeout",
    "KissOfDeath", "MalformedPacket", "MaxTimeExceeded", "NoReply", "PingError",
    "PingNameError", "PingPermissionError", "PingSocketError", "PortUnreachable",
    "PynetError", "ResolveError", "SNTPError", "SNTPNameError", "SNTPSendFailed",
    "TRACEROUTE_PERMISSION_FIX", "TcpError", "TcpNameError", "TcpSendFailed",
    "TracerouteError", "TracerouteNameError", "TraceroutePermissionError", "TracerouteSocketError",
    "TracerouteConnectError",
    "TracerouteSetupError",
    "Unreachable", "Unsynchronised", "UsageError",
    "describe_malformed",
]


class PynetError(Exception):
    """Base class of every error pynet raises deliberately.

    ``exit_code`` is what a command-line tool exits with when this error ends
    it; each tool's classes set the codes its users expect from the tool it
    imitates (iputils ping, curl, sntp).
    """

    exit_code: int = 2


class UsageError(PynetError):
    """A bad command line: unknown option, missing or malformed argument."""

    exit_code = 2


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


# ---- the packet core ------------------------------------------------------

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


# ---- ping: exit 2, as iputils exits for anything but missing replies ------

PERMISSION_FIX = ('run as root or with CAP_NET_RAW, or allow unprivileged ping with: '
                  'sysctl -w net.ipv4.ping_group_range="0 2147483647"')


class PingError(PynetError):
    """Base class of ping's errors (exit 2, as iputils)."""

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


# ---- the TCP client: curl's exit codes ------------------------------------


class TcpError(PynetError):
    """Base class of the TCP client's errors. ``received`` holds whatever
    arrived before the failure (nothing is dropped silently)."""

    exit_code = 2
    received: bytes = b""


class TcpNameError(TcpError, ResolveError):
    """The host name did not resolve (curl: "Could not resolve host")."""

    exit_code = 6


class ConnectFailed(TcpError, ConnectionError):
    """Every address refused or could not be reached (curl: "Couldn't connect")."""

    exit_code = 7


class ConnectionRefused(ConnectFailed, ConnectionRefusedError):
    """Every address answered the connect with a reset: nothing listens there."""


class ConnectTimeout(TcpError, TimeoutError):
    """No address completed the handshake within the connect timeout."""

    exit_code = 28


class IdleTimeout(TcpError, TimeoutError):
    """Connected, but nothing came back within the idle timeout."""

    exit_code = 28


class MaxTimeExceeded(TcpError, TimeoutError):
    """The whole exchange ran longer than max_time (curl's -m/--max-time)."""

    exit_code = 28


class EmptyReply(TcpError, ConnectionError):
    """The peer closed the connection without sending a byte (curl: "Empty reply")."""

    exit_code = 52


class TcpSendFailed(TcpError, ConnectionError):
    """The request could not be delivered: the peer went away while we sent."""

    exit_code = 55


class ConnectionReset(TcpError, ConnectionResetError):
    """The peer reset the connection (RST): what was in flight is lost."""

    exit_code = 56


# ---- SNTP: each cause with a short ``kind`` for scripts ---------------------


class SNTPError(PynetError):
    """Base class: the server named in the result gave no usable time. The
    command exits 1 when no server gave a usable time."""

    exit_code = 1
    kind = "error"


class SNTPNameError(SNTPError, ResolveError):
    """A server name did not resolve; nothing was sent to any server."""

    exit_code = 2
    kind = "not-resolved"


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


class SNTPSendFailed(SNTPError, ConnectionError):
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


# ---- echo servers ---------------------------------------------------------


class EchoError(PynetError):
    """Base class of the echo servers' errors (exit 2)."""

    exit_code = 2


class EchoConfigError(EchoError, ValueError):
    """Settings that cannot work together (a poller this system lacks, UDP
    with the fork model, a bad port, ...)."""


class BindError(EchoError, OSError):
    """The server could not take its address (in use, not ours, denied).
    Made as BindError(errno, message); str() is the message alone."""

    def __str__(self) -> str:
        return str(self.strerror)


# ---- fleet and fping: exit 4 when a system call failed, 2 for a name, as fping --


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


class FleetNameError(FleetError, ResolveError):
    """A target name did not resolve (to an address of the family asked
    for); raised before anything is sent. fping exits 2 for it."""

    exit_code = 2


# ---- traceroute: its base class and the three ways it fails ---------------

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


class TracerouteSetupError(TracerouteSocketError):
    """A trace's own socket could not be set up as asked: the source address
    is not ours ("bind: Cannot assign requested address"), the interface
    does not exist ("setsockopt SO_BINDTODEVICE: No such device"), a TOS or
    mark refused. Linux traceroute meets these after printing its header
    and exits 1: the command does the same. ``address`` is the target's
    address."""

    exit_code = 1

    def __init__(self, errno: int, message: str, address: str) -> None:
        super().__init__(errno, message)
        self.address = address


class TracerouteConnectError(TracerouteSetupError):
    """A datagram socket could not be connected to the target: no route
    from here ("connect: Network is unreachable"), a broadcast address, ..."""


# ---- exporter (pynet exporter): its base error and the config's --------------


class ExporterError(PynetError):
    """Base class of the exporter's errors: a bad listen address, a port
    in use, a missing optional dependency. The command exits with 1."""

    exit_code = 1


class ConfigError(ExporterError, ValueError):
    """A config file that cannot be used; the message names the file and
    the line (``line`` is 0 when no line applies)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(path, line, message)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, int, str]]:
        return (type(self), (self.path, self.line, self.message))
