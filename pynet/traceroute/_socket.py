"""The sockets a trace runs over, per method, and how to get them without
root: UDP probes on a datagram socket whose ICMP errors come back through
its error queue (IP_RECVERR, as tracepath reads them), -I on the
unprivileged ICMP datagram socket; raw sockets where allowed (-T always).
Every socket is tuned as Linux traceroute tunes its own: the interface
(-i) and firewall mark (--fwmark) on each, and on the probes' socket the
TOS or traffic class (-t) and the don't-fragment bit (-F; without it the
probes may be fragmented, IP_PMTUDISC_DONT, as traceroute sends them)."""

from __future__ import annotations

import errno
import os
import socket
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, NamedTuple, Optional, Tuple
else:
    from .._records import NamedTuple

from .. import _errqueue as errqueue
from .. import _icmp_socket as ics
from .. import _ping_loop as pl
from .._errors import (TracerouteConnectError, TraceroutePermissionError, TracerouteSetupError,
                       TracerouteSocketError)
from .._trace_loop import ICMP, TCP

__all__ = ["Sockets", "open_sockets"]

# The probe that finds our source address (a UDP connect sends nothing).
PROBE_PORT = 1025
IPV6_CHECKSUM = 7
# The kernel locates RFC 4884 extensions in what the error queue returns.
IP_RECVERR_RFC4884 = 26
IPV6_RECVERR_RFC4884 = 31
TCP_CHECKSUM_OFFSET = 16
# ICMP types a raw socket passes to the loop; the rest are filtered out.
ICMP4_WANTED = (0, 3, 11, 12)          # echo reply, unreachable, time exceeded, parameter
ICMP6_WANTED = (1, 2, 3, 4, 129)       # unreachable, too big, time exceeded, parameter, reply


class Tuning(NamedTuple):
    """What every socket of a trace is given (Linux traceroute's tune_socket)."""
    interface: Optional[str] = None     # -i: SO_BINDTODEVICE
    mark: Optional[int] = None          # --fwmark: SO_MARK
    tos: Optional[int] = None           # -t: IP_TOS / IPV6_TCLASS, on the probes' socket
    dont_fragment: bool = False         # -F: DF on (IP_PMTUDISC_PROBE), else off


NO_TUNING = Tuning()


class Sockets:
    """A trace's open sockets, closed together."""

    __slots__ = ("fd", "rfd", "raw", "source", "sport", "ident", "keep")

    def __init__(self, fd: socket.socket, rfd: Optional[socket.socket], raw: bool, source: str,
                 sport: int, ident: int, keep: Optional[List[socket.socket]] = None) -> None:
        self.fd = fd            # probes go out here
        self.rfd = rfd          # a raw ICMP socket for answers, or None: fd's error queue
        self.raw = raw          # fd is raw
        self.source = source    # our address toward the target
        self.sport = sport      # UDP: bound port; TCP: reserved port
        self.ident = ident      # ICMP echo id
        self.keep = keep if keep is not None else []    # held for their port

    def close(self) -> None:
        for sock in [self.fd, self.rfd, *self.keep]:
            if sock is not None:
                sock.close()


def _setopt(sock: socket.socket, level: int, option: int, value: object, what: str) -> None:
    ics.setopt(sock, level, option, value, what, TracerouteSocketError)


def _tune(sock: socket.socket, tuning: Tuning, address: str) -> None:
    """The interface and mark, on every socket of the trace (and on the one
    that finds our source address, whose route they decide)."""
    if tuning.interface:
        _setup(sock, socket.SOL_SOCKET, socket.SO_BINDTODEVICE, tuning.interface.encode(),
               "setsockopt SO_BINDTODEVICE", address)
    if tuning.mark is not None:
        _setup(sock, socket.SOL_SOCKET, pl.SO_MARK, tuning.mark, "setsockopt SO_MARK", address)


def _outgoing(sock: socket.socket, family: int, tuning: Tuning, address: str) -> None:
    """The probes' socket: fragmentation as traceroute allows it, and -t."""
    mode = pl.PMTUDISC["probe" if tuning.dont_fragment else "dont"]
    if family == 4:
        _setup(sock, socket.IPPROTO_IP, pl.IP_MTU_DISCOVER, mode, "setsockopt IP_MTU_DISCOVER",
               address)
        if tuning.tos:
            _setup(sock, socket.IPPROTO_IP, socket.IP_TOS, tuning.tos, "setsockopt IP_TOS",
                   address)
    else:
        _setup(sock, socket.IPPROTO_IPV6, pl.IPV6_MTU_DISCOVER, mode,
               "setsockopt IPV6_MTU_DISCOVER", address)
        if tuning.tos:
            _setup(sock, socket.IPPROTO_IPV6, pl.IPV6_TCLASS, tuning.tos,
                   "setsockopt IPV6_TCLASS", address)


def _setup(sock: socket.socket, level: int, option: int, value: object, what: str,
           address: str) -> None:
    """_setopt() for what Linux traceroute reports after its header (exit 1)."""
    ics.setopt(sock, level, option, value, what,
               lambda code, message: TracerouteSetupError(code, message, address))


def _source(af: int, address: str, scope_id: int, source: Optional[str],
            tuning: Tuning = NO_TUNING) -> str:
    with socket.socket(af, socket.SOCK_DGRAM) as probe:
        _tune(probe, tuning, address)
        if source:
            _bind(probe, af, source, 0, address)
        sockaddr: Tuple[object, ...] = (address, PROBE_PORT)
        if af == socket.AF_INET6:
            sockaddr = (address, PROBE_PORT, 0, scope_id)
        try:
            probe.connect(sockaddr)
        except OSError as exc:
            raise TracerouteConnectError(exc.errno or 0, f"connect: {exc.strerror}",
                                         address) from None
        return str(probe.getsockname()[0])


def _bind(sock: socket.socket, af: int, address: str, port: int, target: str) -> None:
    try:
        sock.bind((address, port) if af == socket.AF_INET else (address, port, 0, 0))
    except OSError as exc:
        raise TracerouteSetupError(exc.errno or 0, f"bind: {exc.strerror}", target) from None


def _common(sock: socket.socket, family: int, *, recverr: bool = True) -> None:
    """Timestamps and reply TTLs; errors in the error queue unless the
    socket is raw (a raw ICMP socket reads them whole, extensions and all)."""
    sock.set_inheritable(False)
    _setopt(sock, socket.SOL_SOCKET, pl.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS")
    if not recverr:
        if family == 6:
            _setopt(sock, socket.IPPROTO_IPV6, pl.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")
        return
    if family == 4:
        _setopt(sock, socket.IPPROTO_IP, errqueue.IP_RECVERR, 1, "IP_RECVERR")
        _setopt(sock, socket.IPPROTO_IP, pl.IP_RECVTTL, 1, "IP_RECVTTL")
        level, option = socket.IPPROTO_IP, IP_RECVERR_RFC4884
    else:
        _setopt(sock, socket.IPPROTO_IPV6, errqueue.IPV6_RECVERR, 1, "IPV6_RECVERR")
        _setopt(sock, socket.IPPROTO_IPV6, pl.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")
        level, option = socket.IPPROTO_IPV6, IPV6_RECVERR_RFC4884
    try:
        sock.setsockopt(level, option, 1)
    except OSError:
        pass  # before Linux 5.9: no extensions without a raw socket


def _raw_icmp(af: int, family: int) -> socket.socket:
    """A raw ICMP socket that passes only what a trace reads."""
    proto = socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6
    sock = socket.socket(af, socket.SOCK_RAW, proto)
    try:
        _common(sock, family, recverr=False)
        if family == 4:
            passed = sum(1 << t for t in ICMP4_WANTED)
            _setopt(sock, pl.SOL_RAW, pl.ICMP_FILTER, struct.pack("=I", ~passed & 0xFFFFFFFF),
                    "ICMP_FILTER")
        else:
            words = [0xFFFFFFFF] * 8
            for t in ICMP6_WANTED:
                words[t >> 5] &= ~(1 << (t & 31)) & 0xFFFFFFFF
            _setopt(sock, socket.IPPROTO_ICMPV6, pl.ICMP6_FILTER, struct.pack("=8I", *words),
                    "ICMP6_FILTER")
    except BaseException:
        sock.close()
        raise
    return sock


def _no_permission(what: str, exc: OSError) -> TraceroutePermissionError:
    return TraceroutePermissionError(f"no permission to open {what} ({exc.strerror})")


def open_sockets(af: int, address: str, scope_id: int, method: int, *,
                 source: Optional[str] = None, privileged: Optional[bool] = None,
                 tuning: Tuning = NO_TUNING) -> Sockets:
    """The sockets for one trace to address. privileged: True to insist on
    raw sockets, False to refuse them, None to take them when allowed."""
    family = 4 if af == socket.AF_INET else 6
    src = _source(af, address, scope_id, source, tuning)
    opened: List[socket.socket] = []
    try:
        socks = _open(af, family, address, method, src, privileged, opened)
        for sock in [socks.fd, socks.rfd]:
            if sock is not None:
                _tune(sock, tuning, address)
        _outgoing(socks.fd, family, tuning, address)
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return socks


def _open(af: int, family: int, address: str, method: int, src: str,
          privileged: Optional[bool], opened: List[socket.socket]) -> Sockets:
    """The method's sockets, each put in opened as it is made (so that
    the caller closes them all should anything fail)."""
    if method == TCP:
        if privileged is False:
            raise TraceroutePermissionError("TCP probes need a raw socket")
        try:
            fd = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_TCP)
        except PermissionError as exc:
            raise _no_permission("a raw TCP socket", exc) from None
        opened.append(fd)
        _common(fd, family, recverr=False)
        if family == 6:
            _setopt(fd, socket.IPPROTO_IPV6, IPV6_CHECKSUM, TCP_CHECKSUM_OFFSET,
                    "IPV6_CHECKSUM")
        # A TCP socket bound to the port, so the kernel gives it to no one else.
        holder = socket.socket(af, socket.SOCK_STREAM)
        opened.append(holder)
        _bind(holder, af, src, 0, address)
        sport = int(holder.getsockname()[1])
        rfd = _raw_icmp(af, family)
        opened.append(rfd)
        return Sockets(fd, rfd, True, src, sport, 0, [holder])
    if method == ICMP:
        proto = socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6
        raw_error: Optional[OSError] = None
        if privileged is not False:
            try:
                fd = _raw_icmp(af, family)
                opened.append(fd)
                return Sockets(fd, None, True, src, 0,
                               int.from_bytes(os.urandom(2), "big"))
            except PermissionError as exc:
                if privileged:
                    raise _no_permission("a raw ICMP socket", exc) from None
                raw_error = exc
        try:
            fd = socket.socket(af, socket.SOCK_DGRAM, proto)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EPROTONOSUPPORT):
                raise TracerouteSocketError(exc.errno, f"socket: {exc.strerror}") from None
            detail = f"datagram ICMP socket: {exc.strerror}"
            if raw_error is not None:
                detail = f"raw ICMP socket: {raw_error.strerror}; {detail}"
            raise TraceroutePermissionError(f"no permission to open an ICMP socket ({detail})") \
                from None
        opened.append(fd)
        _common(fd, family)
        # The kernel's echo id is the socket's port: bind to learn it.
        _bind(fd, af, src, 0, address)
        return Sockets(fd, None, False, src, 0, int(fd.getsockname()[1]))
    # UDP: a plain datagram socket; its errors come through the error queue.
    fd = socket.socket(af, socket.SOCK_DGRAM)
    opened.append(fd)
    _common(fd, family)
    _bind(fd, af, src, 0, address)
    return Sockets(fd, None, False, src, int(fd.getsockname()[1]), 0)
