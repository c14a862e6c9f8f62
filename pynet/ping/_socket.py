"""Open and set up the ICMP socket: raw when allowed (root, CAP_NET_RAW),
else the unprivileged datagram kind (net.ipv4.ping_group_range), where the
kernel owns the echo id."""

from __future__ import annotations

import os
import socket
from typing import NamedTuple, Optional, Tuple

from .. import _errqueue as errqueue
from .. import _icmp_socket as ics
from .. import _ping_loop as pl
from .. import _wire as w
from .._errors import PingPermissionError, PingSocketError

__all__ = ["IcmpSocket", "open_socket"]

# Big enough for a burst of flood replies and for the largest datagram.
RCVBUF = 1 << 20
# The port of the probe that finds our source address (a UDP connect sends nothing).
PROBE_PORT = 1025


class IcmpSocket(NamedTuple):
    sock: socket.socket
    family: int               # 4 or 6
    raw: bool
    ident: int                # our echo id (raw); 0 on datagram sockets, where the kernel owns it
    target: bytes             # packed
    scope_id: int
    address: str              # the target as text
    source: str               # the source address the kernel picks

    def close(self) -> None:
        self.sock.close()


def _setopt(sock: socket.socket, level: int, option: int, value: object, what: str) -> None:
    ics.setopt(sock, level, option, value, what, PingSocketError)


def _create(af: int, proto: int, privileged: Optional[bool]) -> Tuple[socket.socket, bool]:
    return ics.create(af, privileged, PingPermissionError, PingSocketError)


def _filters(sock: socket.socket, family: int) -> None:
    """Let through only what ping reads: echo replies (on IPv4 also
    redirects and source quenches)."""
    passed = ((w.ICMP_ECHO_REPLY, w.ICMP_SOURCE_QUENCH, w.ICMP_REDIRECT) if family == 4
              else (w.ICMP6_ECHO_REPLY,))
    ics.type_filter(sock, family, passed, PingSocketError)


def _id_filter(sock: socket.socket, family: int, ident: int) -> None:
    ics.id_filter(sock, family, ident, PingSocketError)


def _is_address(text: str) -> bool:
    for af in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(af, text.split("%")[0])
            return True
        except OSError:
            pass
    return False


def _bind(sock: socket.socket, af: int, interface: Optional[str]) -> None:
    if not interface:
        return
    if _is_address(interface):
        try:
            sock.bind((interface, 0) if af == socket.AF_INET else (interface, 0, 0, 0))
        except OSError as exc:
            raise PingSocketError(exc.errno, f"bind {interface}: {exc.strerror}") from None
    else:
        _setopt(sock, socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode(),
                f"SO_BINDTODEVICE {interface}")


def _source(af: int, sockaddr: tuple, interface: Optional[str]) -> str:  # type: ignore[type-arg]
    """The source address the kernel will use, found as iputils does: by
    connecting a UDP socket (nothing is sent). No route fails here."""
    with socket.socket(af, socket.SOCK_DGRAM) as probe:
        _bind(probe, af, interface)
        try:
            probe.connect((sockaddr[0], PROBE_PORT) + tuple(sockaddr[2:]))
        except OSError as exc:
            raise PingSocketError(exc.errno, f"connect: {exc.strerror}") from None
        return str(probe.getsockname()[0])


def open_socket(af: int, sockaddr: tuple, *, privileged: Optional[bool] = None,  # type: ignore[type-arg]
                ttl: Optional[int] = None, interface: Optional[str] = None) -> IcmpSocket:
    """An ICMP socket to sockaddr, ready for the ping loop."""
    family = 4 if af == socket.AF_INET else 6
    source = _source(af, sockaddr, interface)
    proto = socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6
    sock, raw = _create(af, proto, privileged)
    try:
        sock.set_inheritable(False)
        _bind(sock, af, interface)
        _setopt(sock, socket.SOL_SOCKET, pl.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS")
        # Past net.core.rmem_max when allowed (root), for flood bursts.
        ics.size_rcvbuf(sock, RCVBUF)
        if family == 4:
            _setopt(sock, socket.IPPROTO_IP, errqueue.IP_RECVERR, 1, "IP_RECVERR")
            if not raw:
                _setopt(sock, socket.IPPROTO_IP, pl.IP_RECVTTL, 1, "IP_RECVTTL")
            if ttl is not None:
                _setopt(sock, socket.IPPROTO_IP, socket.IP_TTL, ttl,
                        "cannot set unicast time-to-live")
        else:
            _setopt(sock, socket.IPPROTO_IPV6, errqueue.IPV6_RECVERR, 1, "IPV6_RECVERR")
            _setopt(sock, socket.IPPROTO_IPV6, pl.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")
            if ttl is not None:
                _setopt(sock, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl,
                        "cannot set unicast hop limit")
        if raw:
            _filters(sock, family)
            ident = int.from_bytes(os.urandom(2), "big")
            _id_filter(sock, family, ident)
        else:
            ident = 0  # the kernel picks it at the first send, and checks replies against it
    except BaseException:
        sock.close()
        raise
    target = socket.inet_pton(af, sockaddr[0].split("%")[0])
    scope_id = int(sockaddr[3]) if family == 6 else 0
    return IcmpSocket(sock, family, raw, ident, target, scope_id, sockaddr[0], source)
