"""Open and set up the ICMP socket: raw when allowed (root, CAP_NET_RAW),
else the unprivileged datagram kind (net.ipv4.ping_group_range), where the
kernel owns the echo id."""

from __future__ import annotations

import errno
import os
import socket
import struct

from .. import _errqueue as errqueue
from .. import _icmp_socket as ics
from .. import _ping_loop as pl
from .. import _wire as w
from .._errors import PingPermissionError, PingSocketError
from . import _ipopt as ipo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Optional, Tuple
else:
    from .._records import NamedTuple

__all__ = ["IcmpSocket", "SocketOptions", "open_socket"]

# Big enough for a burst of flood replies and for the largest datagram.
RCVBUF = 1 << 20
# The port of the probe that finds our source address (a UDP connect sends nothing).
PROBE_PORT = 1025
SO_MARK = pl.SO_MARK
IPV6_TCLASS = pl.IPV6_TCLASS
# -F: the flow label manager (linux/in6.h). A label is leased to the socket
# (shared with no one else), and the kernel takes each request's from the
# destination's sin6_flowinfo once IPV6_FLOWINFO_SEND is on.
IPV6_FLOWLABEL_MGR = 32
IPV6_FLOWINFO_SEND = 33
IPV6_FL_A_GET = 0
IPV6_FL_F_CREATE = 1
IPV6_FL_S_EXCL = 1
# struct in6_flowlabel_req: destination, label (big-endian), action, share,
# flags, expires, linger, padding.
FLOWLABEL_REQ = struct.Struct("=16s4sBBHHHI")
FLOWLABEL_OFF = 16
FLOWLABEL_MASK = 0xFFFFF


class SocketOptions(NamedTuple):
    """What iputils sets on its socket for the options beyond the basics."""

    tos: Optional[int] = None          # -Q: IP_TOS / IPV6_TCLASS
    mark: Optional[int] = None         # -m: SO_MARK
    pmtudisc: Optional[str] = None     # -M: do, want, dont, probe
    dontroute: bool = False            # -r: SO_DONTROUTE
    broadcast: bool = False            # -b: SO_BROADCAST
    noloop: bool = False               # -L: IP_MULTICAST_LOOP off
    sndbuf: Optional[int] = None       # -S: SO_SNDBUF
    ident: Optional[int] = None        # -e: the echo id
    sticky: bool = False               # -B: bind to the source address found
    ip_options: bytes = b""            # -R, -T, a source route: IP_OPTIONS, as built by _ipopt
    flowlabel: Optional[int] = None    # -F: the IPv6 flow label (0: the kernel picks one)


class IcmpSocket(NamedTuple):
    sock: socket.socket
    family: int               # 4 or 6
    raw: bool
    ident: int                # our echo id (raw); 0 on datagram sockets, where the kernel owns it
    target: bytes             # packed
    scope_id: int
    address: str              # the target as text
    source: str               # the source address the kernel picks
    broadcast: bool = False   # the target is a broadcast address (-b)
    flowinfo: int = 0         # -F: the flow label the requests carry (the kernel's pick for 0)

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
            raise PingSocketError(exc.errno, f"bind: {exc.strerror}") from None   # iputils words
    else:
        _setopt(sock, socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode(),
                f"SO_BINDTODEVICE {interface}")


def _source(af: int, sockaddr: tuple, interface: Optional[str],  # type: ignore[type-arg]
            opts: SocketOptions) -> Tuple[str, bool]:
    """The source address the kernel will use, found as iputils does: by
    connecting a UDP socket (nothing is sent). No route fails here, and so
    does a broadcast address without -b. Also says whether the target is a
    broadcast address."""
    with socket.socket(af, socket.SOCK_DGRAM) as probe:
        _bind(probe, af, interface)
        if opts.mark is not None:
            try:
                probe.setsockopt(socket.SOL_SOCKET, SO_MARK, opts.mark)
            except OSError:
                pass  # reported once, for the ICMP socket
        address = (sockaddr[0], PROBE_PORT) + tuple(sockaddr[2:])
        broadcast = False
        try:
            probe.connect(address)
        except PermissionError:
            if af != socket.AF_INET:
                raise PingSocketError(errno.EACCES, "connect: Permission denied") from None
            if not opts.broadcast:
                raise PingSocketError(errno.EACCES, "Do you want to ping broadcast? Then -b. "
                                      "If not, check your local firewall rules") from None
            broadcast = True
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            try:
                probe.connect(address)
            except OSError as exc:
                raise PingSocketError(exc.errno, f"connect: {exc.strerror}") from None
        except OSError as exc:
            raise PingSocketError(exc.errno, f"connect: {exc.strerror}") from None
        return str(probe.getsockname()[0]), broadcast


def _warn(text: str) -> None:
    import sys
    print(f"ping: {text}", file=sys.stderr, flush=True)


def _options(sock: socket.socket, family: int, opts: SocketOptions, broadcast: bool,
             source: str, warnings: bool) -> None:
    """The socket options of -Q -m -M -r -b -L -S -B, with iputils'
    words when one fails."""
    if opts.tos is not None and opts.tos:
        if family == 4:
            _setopt(sock, socket.IPPROTO_IP, socket.IP_TOS, opts.tos, "setsockopt(IP_TOS)")
        else:
            _setopt(sock, socket.IPPROTO_IPV6, IPV6_TCLASS, opts.tos, "setsockopt(IPV6_TCLASS)")
    if opts.mark is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, opts.mark)
        except OSError as exc:
            if warnings:
                _warn(f"WARNING: failed to set mark: {opts.mark}: {exc.strerror}")
                if exc.errno == errno.EPERM:
                    _warn("=> missing cap_net_admin+p or cap_net_raw+p (since Linux 5.17) "
                          "capability?")
    pmtudisc = opts.pmtudisc
    if pmtudisc is None and broadcast:
        pmtudisc = "do"  # iputils: broadcast pings do not fragment
    if pmtudisc is not None:
        if family == 4:
            _setopt(sock, socket.IPPROTO_IP, pl.IP_MTU_DISCOVER, pl.PMTUDISC[pmtudisc],
                    "IP_MTU_DISCOVER")
        else:
            _setopt(sock, socket.IPPROTO_IPV6, pl.IPV6_MTU_DISCOVER, pl.PMTUDISC[pmtudisc],
                    "IPV6_MTU_DISCOVER")
    if opts.dontroute:
        _setopt(sock, socket.SOL_SOCKET, socket.SO_DONTROUTE, 1, "SO_DONTROUTE")
    if opts.broadcast and family == 4:
        _setopt(sock, socket.SOL_SOCKET, socket.SO_BROADCAST, 1, "cannot set broadcasting")
    if opts.noloop:
        if family == 4:
            _setopt(sock, socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0,
                    "cannot disable multicast loopback")
        else:
            _setopt(sock, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0,
                    "can't disable multicast loopback")
    if opts.sndbuf is not None:
        _setopt(sock, socket.SOL_SOCKET, socket.SO_SNDBUF, opts.sndbuf, "SO_SNDBUF")
    if opts.sticky:
        try:
            sock.bind((source, 0) if family == 4 else (source, 0, 0, 0))
        except OSError as exc:
            raise PingSocketError(exc.errno, f"bind: {exc.strerror}") from None


def _ip_options(sock: socket.socket, options: bytes) -> None:
    """-R, -T, a source route: the option on every request, in iputils' words
    when the kernel refuses it."""
    what = "ts option" if options[0] == ipo.TS else "record route"
    _setopt(sock, socket.IPPROTO_IP, socket.IP_OPTIONS, options, what)


def _flowlabel(sock: socket.socket, target: bytes, label: int) -> int:
    """-F: lease the label for this destination (0: any free one, the
    kernel's pick) and send with it; returns the label leased."""
    request = bytearray(FLOWLABEL_REQ.pack(target, (label & FLOWLABEL_MASK).to_bytes(4, "big"),
                                           IPV6_FL_A_GET, IPV6_FL_S_EXCL, IPV6_FL_F_CREATE,
                                           0, 0, 0))
    # A bytearray: socket.setsockopt hands its buffer to the kernel as it is,
    # and the kernel writes the label it picked back into it.
    _setopt(sock, socket.IPPROTO_IPV6, IPV6_FLOWLABEL_MGR, request, "can't set flowlabel")
    _setopt(sock, socket.IPPROTO_IPV6, IPV6_FLOWINFO_SEND, 1, "can't send flowinfo")
    return int.from_bytes(request[FLOWLABEL_OFF:FLOWLABEL_OFF + 4], "big") & FLOWLABEL_MASK


def open_socket(af: int, sockaddr: tuple, *, privileged: Optional[bool] = None,  # type: ignore[type-arg]
                ttl: Optional[int] = None, interface: Optional[str] = None,
                options: SocketOptions = SocketOptions(), warnings: bool = False) -> IcmpSocket:
    """An ICMP socket to sockaddr, ready for the ping loop. warnings:
    print iputils' warnings (the command line does, the library does not)."""
    family = 4 if af == socket.AF_INET else 6
    source, broadcast = _source(af, sockaddr, interface, options)
    if broadcast and warnings:
        import sys
        print("WARNING: pinging broadcast address", file=sys.stderr, flush=True)
    if options.ident is not None and privileged is None:
        privileged = True  # iputils: -e wants the raw socket, where the id is ours
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
                # A reply's options: raw sockets read them in its header.
                _setopt(sock, socket.IPPROTO_IP, pl.IP_RETOPTS, 1, "IP_RETOPTS")
            if options.ip_options:
                _ip_options(sock, options.ip_options)
            if ttl is not None:
                if broadcast or options.broadcast:
                    _setopt(sock, socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl,
                            "cannot set multicast time-to-live")
                _setopt(sock, socket.IPPROTO_IP, socket.IP_TTL, ttl,
                        "cannot set unicast time-to-live")
        else:
            _setopt(sock, socket.IPPROTO_IPV6, errqueue.IPV6_RECVERR, 1, "IPV6_RECVERR")
            _setopt(sock, socket.IPPROTO_IPV6, pl.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")
            if ttl is not None:
                _setopt(sock, socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl,
                        "cannot set unicast hop limit")
        _options(sock, family, options, broadcast, source, warnings)
        flowinfo = 0
        if family == 6 and options.flowlabel is not None:
            flowinfo = _flowlabel(sock, socket.inet_pton(af, sockaddr[0].split("%")[0]),
                                  options.flowlabel)
        if raw:
            _filters(sock, family)
            ident = options.ident
            if ident is None:
                ident = int.from_bytes(os.urandom(2), "big")
            _id_filter(sock, family, ident)
        else:
            ident = 0  # the kernel picks it at the first send, and checks replies against it
    except BaseException:
        sock.close()
        raise
    target = socket.inet_pton(af, sockaddr[0].split("%")[0])
    scope_id = int(sockaddr[3]) if family == 6 else 0
    return IcmpSocket(sock, family, raw, ident, target, scope_id, sockaddr[0], source, broadcast,
                      flowinfo)
