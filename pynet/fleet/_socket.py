"""The sockets of one fleet-engine run: one ICMP socket per address family,
raw when allowed (root, CAP_NET_RAW), else the unprivileged datagram kind
(net.ipv4.ping_group_range), set up for batched, timestamped reads."""

from __future__ import annotations

import os
import socket

from .. import _errqueue as errqueue
from .. import _icmp_socket as ics
from .. import _ping_loop as pl
from .. import _wire as w
from .._errors import FleetPermissionError, FleetSocketError

# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, Optional, Tuple

__all__ = ["FleetSockets", "open_sockets", "rcvbuf_for"]

# What one small reply costs the receive buffer (skb truesize, about), and
# how long a burst of replies the buffer should hold at the send rate.
PER_REPLY = 1024
HOLD_S = 0.2
RCVBUF_MIN = 4 << 20
RCVBUF_MAX = 64 << 20
RCVBUF_UNPACED = 16 << 20
# IPv4 probes up to this size (the datagram every host must take whole) go
# out with IP_PMTUDISC_PROBE: DF set, as the default mode sets it on any
# packet that fits the path, but IP ID 0 instead of one drawn per packet
# (__ip_select_ident: a siphash and an atomic on a table both CPUs share),
# ~10 % of the engine's CPU in a /16 sweep. No path fragments a packet this
# small, so nothing else changes on the wire; larger probes keep the default.
DF_UP_TO = 576


def rcvbuf_for(rate_pps: int, payload_len: int) -> int:
    """The receive buffer to ask for: HOLD_S of replies at rate_pps (0: as
    fast as the engine sends, which is bursts of its send batch)."""
    if rate_pps <= 0:
        return RCVBUF_UNPACED
    want = int(rate_pps * (PER_REPLY + payload_len) * HOLD_S)
    return max(RCVBUF_MIN, min(RCVBUF_MAX, want))


class FleetSockets:
    """fd4/fd6 are -1 for a family not opened. The engine borrows the fds;
    close() closes the sockets."""

    def __init__(self, ident: int = 0) -> None:
        self.fd4 = self.fd6 = -1
        self.raw4 = self.raw6 = False
        self.ident = ident      # our echo id on raw sockets (the kernel's on datagram ones)
        self.rcvbuf: Dict[int, int] = {}              # granted, per family
        self.socks: Dict[int, socket.socket] = {}

    def __repr__(self) -> str:
        return (f"FleetSockets(fd4={self.fd4}, raw4={self.raw4}, fd6={self.fd6}, "
                f"raw6={self.raw6}, ident={self.ident}, rcvbuf={self.rcvbuf})")

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()
        self.socks.clear()
        self.fd4 = self.fd6 = -1

    def __enter__(self) -> "FleetSockets":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _setopt(sock: socket.socket, level: int, option: int, value: object, what: str) -> None:
    ics.setopt(sock, level, option, value, what, FleetSocketError)


def _bind(sock: socket.socket, af: int, interface: Optional[str], source: Optional[str]) -> None:
    if interface:
        _setopt(sock, socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode(),
                f"SO_BINDTODEVICE {interface}")
    if source:
        try:
            sock.bind((source, 0) if af == socket.AF_INET else (source, 0, 0, 0))
        except OSError as exc:
            raise FleetSocketError(exc.errno, f"bind {source}: {exc.strerror}") from None


def _open_one(family: int, privileged: Optional[bool], ident: int, rcvbuf: int,
              ttl: Optional[int], interface: Optional[str], source: Optional[str],
              filter_id: bool, df: bool) -> Tuple[socket.socket, bool, int]:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    sock, raw = ics.create(af, privileged, FleetPermissionError, FleetSocketError)
    try:
        sock.set_inheritable(False)
        sock.setblocking(False)
        _bind(sock, af, interface, source)
        _setopt(sock, socket.SOL_SOCKET, pl.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS")
        _setopt(sock, socket.SOL_SOCKET, pl.SO_RXQ_OVFL, 1, "SO_RXQ_OVFL")
        granted = ics.size_rcvbuf(sock, rcvbuf)
        if family == 4:
            _setopt(sock, socket.IPPROTO_IP, errqueue.IP_RECVERR, 1, "IP_RECVERR")
            _setopt(sock, socket.IPPROTO_IP, pl.IP_RECVTTL, 1, "IP_RECVTTL")
            if ttl is not None:
                _setopt(sock, socket.IPPROTO_IP, socket.IP_TTL, ttl,
                        "cannot set unicast time-to-live")
            if df:
                _setopt(sock, socket.IPPROTO_IP, pl.IP_MTU_DISCOVER, pl.PMTUDISC["probe"],
                        "IP_MTU_DISCOVER")
        else:
            _setopt(sock, socket.IPPROTO_IPV6, errqueue.IPV6_RECVERR, 1, "IPV6_RECVERR")
            _setopt(sock, socket.IPPROTO_IPV6, pl.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")
            if ttl is not None:
                _setopt(sock, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl,
                        "cannot set unicast hop limit")
        if raw:
            # Our own echo requests loop back on lo to every raw socket: read
            # only echo replies here (ICMP errors come by the error queue).
            reply = w.ICMP_ECHO_REPLY if family == 4 else w.ICMP6_ECHO_REPLY
            ics.type_filter(sock, family, (reply,), FleetSocketError)
            if filter_id:
                ics.id_filter(sock, family, ident, FleetSocketError)
    except BaseException:
        sock.close()
        raise
    return sock, raw, granted


def open_sockets(families: Iterable[int], privileged: Optional[bool] = None, *,
                 rate_pps: int = 0, payload_len: int = 56, ttl: Optional[int] = None,
                 interface: Optional[str] = None, source4: Optional[str] = None,
                 source6: Optional[str] = None, rcvbuf: Optional[int] = None,
                 filter_id: bool = True, ident: Optional[int] = None) -> FleetSockets:
    """One socket per family in families (4, 6). privileged: True raw only,
    False datagram only, None raw when allowed. rcvbuf: bytes to ask for
    (default: rcvbuf_for(rate_pps, payload_len)). filter_id: drop other
    processes' echo replies in the kernel (raw sockets). ident: the echo id
    on raw sockets (default: a random one)."""
    if ident is None:
        ident = int.from_bytes(os.urandom(2), "big")
    out = FleetSockets(ident=ident & 0xFFFF)
    want = rcvbuf if rcvbuf is not None else rcvbuf_for(rate_pps, payload_len)
    try:
        for family in sorted(set(families)):
            if family not in (4, 6):
                raise ValueError(f"family must be 4 or 6, not {family!r}")
            source = source4 if family == 4 else source6
            sock, raw, granted = _open_one(family, privileged, out.ident, want, ttl, interface,
                                           source, filter_id,
                                           w.IPV4_MIN_HEADER_LEN + w.ICMP_HEADER_LEN + payload_len <= DF_UP_TO)
            out.socks[family] = sock
            out.rcvbuf[family] = granted
            if family == 4:
                out.fd4, out.raw4 = sock.fileno(), raw
            else:
                out.fd6, out.raw6 = sock.fileno(), raw
    except BaseException:
        out.close()
        raise
    return out
