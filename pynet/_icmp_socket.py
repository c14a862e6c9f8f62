"""What ping and fleet share when they open an ICMP socket: raw when
allowed, else the unprivileged datagram kind; the raw sockets' ICMP type
filter; the classic-BPF filter on our echo id; receive-buffer sizing.

Each tool wraps the errors in its own classes: the callers pass them in.
"""

from __future__ import annotations

import array
import errno
import socket
import struct

from . import _ping_loop as pl
from . import _wire as w

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable, Optional, Tuple, TypeAlias

__all__ = ["create", "id_filter", "setopt", "size_rcvbuf", "type_filter"]

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

SocketErrorFactory: TypeAlias = "Callable[[int, str], Exception]"
PermissionFactory: TypeAlias = "Callable[[str], Exception]"


# struct sock_filter (code, jt, jf, k) and struct sock_fprog (len, then a
# pointer to the instructions, in native alignment). The instructions sit in
# an array, whose buffer_info() gives their address: no ctypes, which would
# cost every `pynet ping` 5 ms of start-up.
SOCK_FILTER = struct.Struct("=HBBI")
SOCK_FPROG = struct.Struct("@HP")


def setopt(sock: socket.socket, level: int, option: int, value: object, what: str,
           error: SocketErrorFactory) -> None:
    try:
        sock.setsockopt(level, option, value)  # type: ignore[call-overload]
    except OSError as exc:
        raise error(exc.errno or errno.EIO, f"{what}: {exc.strerror}") from None


def create(af: int, privileged: Optional[bool], permission: PermissionFactory,
           error: SocketErrorFactory) -> Tuple[socket.socket, bool]:
    """An ICMP socket of af (close-on-exec, as Python makes every socket) and
    whether it is raw. privileged: True raw only, False datagram only, None
    raw if allowed, else datagram. Neither allowed: permission(detail)."""
    proto = socket.IPPROTO_ICMP if af == socket.AF_INET else socket.IPPROTO_ICMPV6
    raw_error: Optional[OSError] = None
    if privileged is not False:
        try:
            return socket.socket(af, socket.SOCK_RAW, proto), True
        except PermissionError as exc:
            if privileged:
                raise permission(f"raw socket: {exc.strerror}") from None
            raw_error = exc
    try:
        return socket.socket(af, socket.SOCK_DGRAM, proto), False
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EPROTONOSUPPORT):
            raise error(exc.errno or errno.EIO, f"socket: {exc.strerror}") from None
        detail = f"datagram socket: {exc.strerror}"
        if raw_error is not None:
            detail = f"raw socket: {raw_error.strerror}; {detail}"
        raise permission(detail) from None


def type_filter(sock: socket.socket, family: int, passed: Iterable[int],
                error: SocketErrorFactory) -> None:
    """Raw sockets see every ICMP message: let through only the types passed
    (ICMP_FILTER, ICMP6_FILTER). Errors come through the error queue, which
    no filter touches."""
    types = list(passed)
    if family == 4:
        mask = 0
        for t in types:
            mask |= 1 << t
        setopt(sock, pl.SOL_RAW, pl.ICMP_FILTER, struct.pack("=I", ~mask & 0xFFFFFFFF),
               "ICMP_FILTER", error)
    else:
        words = [0xFFFFFFFF] * 8
        for t in types:
            words[t >> 5] &= ~(1 << (t & 31)) & 0xFFFFFFFF
        setopt(sock, socket.IPPROTO_ICMPV6, pl.ICMP6_FILTER, struct.pack("=8I", *words),
               "ICMP6_FILTER", error)


def id_filter(sock: socket.socket, family: int, ident: int, error: SocketErrorFactory) -> None:
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
    insns = array.array("B", b"".join(SOCK_FILTER.pack(*i) for i in program))
    fprog = SOCK_FPROG.pack(len(program), insns.buffer_info()[0])
    # The kernel copies the program during the call; insns lives until then.
    setopt(sock, socket.SOL_SOCKET, pl.SO_ATTACH_FILTER, fprog, "SO_ATTACH_FILTER", error)


def size_rcvbuf(sock: socket.socket, size: int) -> int:
    """Ask for a receive buffer of size bytes: past net.core.rmem_max when
    allowed (SO_RCVBUFFORCE, root), else up to it. Returns what the kernel
    granted (it doubles the request for its own bookkeeping)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, pl.SO_RCVBUFFORCE, size)
    except OSError:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError:
            pass  # the default buffer still works, only smaller
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
