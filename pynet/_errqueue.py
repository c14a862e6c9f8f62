"""Reading the socket error queue (IP_RECVERR / IPV6_RECVERR, Linux).

With IP_RECVERR set, the kernel queues every ICMP error for a datagram the
socket sent, and recvmsg(MSG_ERRQUEUE) hands it back: the quoted datagram as
the data, the address it was sent to as the source, and one control message
holding a struct sock_extended_err followed by the address of the host that
sent the error (SO_EE_OFFENDER). ping and sntp both read it through here.

The same queue carries the kernel's transmit timestamps (SO_TIMESTAMPING,
see pynet._stamps): an extended error of origin SO_EE_ORIGIN_TIMESTAMPING
and errno ENOMSG, whose ee_data is the datagram's OPT_ID key.

<linux/errqueue.h>:

    struct sock_extended_err {
        __u32 ee_errno;    errno of the error (ECONNREFUSED, EHOSTUNREACH...)
        __u8  ee_origin;   SO_EE_ORIGIN_*: who raised it
        __u8  ee_type;     ICMP type, for the ICMP origins
        __u8  ee_code;     ICMP code
        __u8  ee_pad;
        __u32 ee_info;     e.g. the MTU of a "fragmentation needed"
        __u32 ee_data;
    };                     then a struct sockaddr_in or sockaddr_in6
"""

from __future__ import annotations

import errno as _errno
import socket
import struct
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, NamedTuple, Optional, Tuple
else:
    from ._records import NamedTuple

__all__ = [
    "CONTROL_LEN",
    "EXTENDED_ERR",
    "ExtendedError",
    "IPV6_RECVERR",
    "IP_RECVERR",
    "MSG_ERRQUEUE",
    "SOCKADDR_IN",
    "SOCKADDR_IN6",
    "SO_EE_ORIGIN_ICMP",
    "SO_EE_ORIGIN_ICMP6",
    "SO_EE_ORIGIN_LOCAL",
    "SO_EE_ORIGIN_NONE",
    "SO_EE_ORIGIN_TIMESTAMPING",
    "enable",
    "extended_error",
    "timestamp_key",
]

# <linux/in.h>, <linux/in6.h>, <sys/socket.h>: Python names them only on some
# versions, so the Linux numbers are the fallback.
IP_RECVERR: int = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR: int = getattr(socket, "IPV6_RECVERR", 25)
MSG_ERRQUEUE: int = getattr(socket, "MSG_ERRQUEUE", 0x2000)

SO_EE_ORIGIN_NONE = 0
SO_EE_ORIGIN_LOCAL = 1  # raised by this host (EMSGSIZE against the local MTU, ...)
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
SO_EE_ORIGIN_TIMESTAMPING = 4  # not an error: a timestamp report
SCM_TSTAMP_SND = 0  # ee_info of a timestamp report: taken by the driver on sending

# ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data
EXTENDED_ERR = struct.Struct("=IBBBBII")
# The offender after it: sa_family (host order), port, address, padding.
SOCKADDR_IN = struct.Struct("=H2s4s8x")
SOCKADDR_IN6 = struct.Struct("=H2s4s16sI")  # ... flowinfo, address, scope id
_SA_FAMILY = struct.Struct("=H")

# Room for the control message: the extended error, a sockaddr_in6 and the
# cmsg header, with space to spare.
CONTROL_LEN = 512

_LEVELS = frozenset({(socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)})


class ExtendedError(NamedTuple):
    """One struct sock_extended_err, and the offender's packed address
    (4 or 16 bytes) or None when the kernel named none (a local error)."""

    errno: int
    origin: int
    type: int
    code: int
    info: int
    offender: Optional[bytes]


def _offender(rest: bytes) -> Optional[bytes]:
    if len(rest) < _SA_FAMILY.size:
        return None
    (family,) = _SA_FAMILY.unpack_from(rest)
    if family == socket.AF_INET and len(rest) >= SOCKADDR_IN.size:
        return bytes(SOCKADDR_IN.unpack_from(rest)[2])
    if family == socket.AF_INET6 and len(rest) >= SOCKADDR_IN6.size:
        return bytes(SOCKADDR_IN6.unpack_from(rest)[3])
    return None


def extended_error(ancdata: Iterable[Tuple[int, int, bytes]]) -> Optional[ExtendedError]:
    """The extended error among recvmsg(MSG_ERRQUEUE)'s control messages,
    or None when there is none (or it is truncated)."""
    for level, kind, data in ancdata:
        if (level, kind) in _LEVELS and len(data) >= EXTENDED_ERR.size:
            err, origin, icmp_type, code, _pad, info, _data = EXTENDED_ERR.unpack_from(data)
            return ExtendedError(err, origin, icmp_type, code, info,
                                 _offender(bytes(data[EXTENDED_ERR.size:])))
    return None


def timestamp_key(ancdata: Iterable[Tuple[int, int, bytes]]) -> Optional[int]:
    """The OPT_ID key (ee_data) when the control messages hold a transmit
    timestamp report (the stamp itself is an SCM_TIMESTAMPING beside it),
    or None for anything else."""
    for level, kind, data in ancdata:
        if (level, kind) in _LEVELS and len(data) >= EXTENDED_ERR.size:
            err, origin, _type, _code, _pad, info, key = EXTENDED_ERR.unpack_from(data)
            if (err, origin, info) == (_errno.ENOMSG, SO_EE_ORIGIN_TIMESTAMPING, SCM_TSTAMP_SND):
                return int(key)
            return None
    return None


def enable(sock: socket.socket, family: int) -> bool:
    """Turn on the error queue of a socket of family (AF_INET or AF_INET6);
    False where there is none (not Linux) or the kernel refuses."""
    if not sys.platform.startswith("linux"):
        return False
    level, option = ((socket.IPPROTO_IP, IP_RECVERR) if family == socket.AF_INET
                     else (socket.IPPROTO_IPV6, IPV6_RECVERR))
    try:
        sock.setsockopt(level, option, 1)
    except OSError:
        return False
    return True
