"""Open and set up the ICMP socket: raw when allowed (root, CAP_NET_RAW),
else the unprivileged datagram kind (net.ipv4.ping_group_range), where the
kernel owns the echo id."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from typing import NamedTuple, Optional, Tuple

from .. import _errqueue as errqueue
from .. import _ping_loop as pl
from .. import _wire as w
from .._errors import PingPermissionError, PingSocketError

__all__ = ["IcmpSocket", "open_socket"]

# Big enough for a burst of flood replies and for the largest datagram.
RCVBUF = 1 << 20
# The port of the probe that finds our source address (a UDP connect sends nothing).
PROBE_PORT = 1025
SO_RCVBUFFORCE = 33
SO_ATTACH_FILTER = 26

# Classic BPF (linux/filter.h): opcodes and the two outcomes.
BPF_LD_B_ABS = 0x30
BPF_LD_H_ABS = 0x28
BPF_LD_B_IND = 0x50
BPF_LD_H_IND = 0x48
BPF_LDX_B_MSH = 0xB1
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
BPF_ACCEPT = 0xFFFFFFFF
BPF_DROP = 0


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


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
    try:
        sock.setsockopt(level, option, value)  # type: ignore[call-overload]
    except OSError as exc:
        raise PingSocketError(exc.errno, f"{what}: {exc.strerror}") from None


def _create(af: int, proto: int, privileged: Optional[bool]) -> Tuple[socket.socket, bool]:
    raw_error: Optional[OSError] = None
    if privileged is not False:
        try:
            return socket.socket(af, socket.SOCK_RAW, proto), True
        except PermissionError as exc:
            if privileged:
                raise PingPermissionError(f"raw socket: {exc.strerror}") from None
            raw_error = exc
    try:
        return socket.socket(af, socket.SOCK_DGRAM, proto), False
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EPROTONOSUPPORT):
            raise PingSocketError(exc.errno, f"socket: {exc.strerror}") from None
        detail = f"datagram socket: {exc.strerror}"
        if raw_error is not None:
            detail = f"raw socket: {raw_error.strerror}; {detail}"
        raise PingPermissionError(detail) from None


def _filters(sock: socket.socket, family: int) -> None:
    """Raw sockets see every ICMP message: let through only what ping
    reads (echo replies; on IPv4 also redirects and source quenches). ICMP
    errors come through the error queue, which no filter touches."""
    if family == 4:
        passed = (1 << w.ICMP_ECHO_REPLY) | (1 << w.ICMP_SOURCE_QUENCH) | (1 << w.ICMP_REDIRECT)
        _setopt(sock, pl.SOL_RAW, pl.ICMP_FILTER, struct.pack("=I", ~passed & 0xFFFFFFFF),
                "ICMP_FILTER")
    else:
        words = [0xFFFFFFFF] * 8
        words[w.ICMP6_ECHO_REPLY >> 5] &= ~(1 << (w.ICMP6_ECHO_REPLY & 31)) & 0xFFFFFFFF
        _setopt(sock, socket.IPPROTO_ICMPV6, pl.ICMP6_FILTER, struct.pack("=8I", *words),
                "ICMP6_FILTER")


def _id_filter(sock: socket.socket, family: int, ident: int) -> None:
    """A socket filter that drops other processes' echo replies in the
    kernel, as iputils installs: with another ping flooding the host, they
    would otherwise fill our receive buffer and crowd out our own replies."""
    if family == 4:
        # X = the IPv4 header length; the ICMP header follows it.
        prologue = [(BPF_LDX_B_MSH, 0, 0, 0)]
        load_type, load_id = (BPF_LD_B_IND, 0, 0, 0), (BPF_LD_H_IND, 0, 0, 4)
        reply = w.ICMP_ECHO_REPLY
    else:
        prologue = []  # raw ICMPv6 sockets see no IPv6 header
        load_type, load_id = (BPF_LD_B_ABS, 0, 0, 0), (BPF_LD_H_ABS, 0, 0, 4)
        reply = w.ICMP6_ECHO_REPLY
    program = prologue + [
        load_type,
        (BPF_JEQ_K, 1, 0, reply),        # an echo reply: look at its id
        (BPF_RET_K, 0, 0, BPF_ACCEPT),   # anything else: the ICMP filter decided
        load_id,
        (BPF_JEQ_K, 0, 1, ident),
        (BPF_RET_K, 0, 0, BPF_ACCEPT),   # ours
        (BPF_RET_K, 0, 0, BPF_DROP),     # another process's reply
    ]
    insns = (_SockFilter * len(program))(*[_SockFilter(*i) for i in program])
    fprog = _SockFprog(len(program), insns)
    # The kernel copies the program during the call; insns lives until then.
    _setopt(sock, socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog), "SO_ATTACH_FILTER")


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
        try:
            # Past net.core.rmem_max when allowed (root), for flood bursts.
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            except OSError:
                pass  # the default buffer still works, only smaller
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
