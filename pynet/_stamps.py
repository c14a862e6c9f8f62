"""Kernel timestamps of datagrams, in CLOCK_REALTIME (the clock of
time.time_ns, and so of NTP time), Linux.

Receive: with SO_TIMESTAMPNS set, every datagram read with recvmsg carries
an SCM_TIMESTAMPNS control message, a struct timespec taken when the packet
reached the stack, before any wake-up or scheduling of the reader.

Transmit: with SO_TIMESTAMPING set to report software transmit stamps, the
kernel queues one report per datagram sent on the socket's error queue,
taken when the driver hands the packet to the device (on loopback, in
loopback_xmit). recvmsg(MSG_ERRQUEUE) reads it back as an SCM_TIMESTAMPING
control message (struct scm_timestamping: three timespecs, the first the
software stamp) next to a struct sock_extended_err of origin
SO_EE_ORIGIN_TIMESTAMPING (parsed by pynet._errqueue). OPT_TSONLY returns
the stamp without a copy of the packet (which unprivileged sockets may not
get back), OPT_ID numbers the reports in ee_data: 0 for the first datagram
sent after the option was set, counting up by one per datagram.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Iterable, NamedTuple, Optional, Tuple

from . import _errqueue
from ._ping_loop import SO_TIMESTAMPNS

__all__ = [
    "RX_CONTROL_LEN",
    "SCM_TIMESTAMPING",
    "SOF_TIMESTAMPING_OPT_ID",
    "SOF_TIMESTAMPING_OPT_TSONLY",
    "SOF_TIMESTAMPING_SOFTWARE",
    "SOF_TIMESTAMPING_TX_SOFTWARE",
    "SO_TIMESTAMPING",
    "SO_TIMESTAMPNS",
    "TIMESPEC",
    "TX_FLAGS",
    "TxStamp",
    "enable_rx",
    "enable_tx",
    "rx_ns",
    "tx_stamp",
]

# <asm-generic/socket.h>, <linux/net_tstamp.h> (SCM_TIMESTAMPING equals
# SO_TIMESTAMPING, as SCM_TIMESTAMPNS equals SO_TIMESTAMPNS).
SO_TIMESTAMPING = 37
SCM_TIMESTAMPING = SO_TIMESTAMPING
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
TX_FLAGS = (SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID
            | SOF_TIMESTAMPING_OPT_TSONLY)

TIMESPEC = struct.Struct("=qq")  # tv_sec, tv_nsec (64-bit time_t)
_NS = 10**9

# A datagram's control messages once SO_TIMESTAMPING is on as well: the
# SCM_TIMESTAMPNS and, for SOF_TIMESTAMPING_SOFTWARE, an SCM_TIMESTAMPING
# (three timespecs), with room to spare.
RX_CONTROL_LEN = socket.CMSG_SPACE(TIMESPEC.size) + socket.CMSG_SPACE(3 * TIMESPEC.size) + 64


class TxStamp(NamedTuple):
    """A software transmit stamp: the OPT_ID key of the datagram it times
    and the time it left, UNIX nanoseconds."""

    key: int
    unix_ns: int


def _setopt(sock: socket.socket, option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, value)
    except OSError:
        return False
    return True


def enable_rx(sock: socket.socket) -> bool:
    """Ask for the kernel's receive stamp on every datagram; False where
    there is none (not Linux) or the kernel refuses."""
    return _setopt(sock, SO_TIMESTAMPNS, 1)


def enable_tx(sock: socket.socket) -> bool:
    """Ask for a software transmit stamp of every datagram sent from now on,
    numbered from 0; False where there is none (not Linux) or the kernel
    refuses. Unprivileged: OPT_TSONLY needs no right to see packet data."""
    return _setopt(sock, SO_TIMESTAMPING, TX_FLAGS)


def _timespec_ns(data: bytes) -> Optional[int]:
    sec, nsec = TIMESPEC.unpack_from(data)
    if sec == 0 and nsec == 0:  # the kernel's "no stamp"
        return None
    return int(sec) * _NS + int(nsec)


def rx_ns(ancdata: Iterable[Tuple[int, int, bytes]]) -> Optional[int]:
    """The receive stamp among a datagram's control messages (UNIX ns), or
    None when there is none."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            return _timespec_ns(data)
    return None


def tx_stamp(ancdata: Iterable[Tuple[int, int, bytes]]) -> Optional[TxStamp]:
    """The transmit stamp of an error-queue message, or None when the
    message is something else (an ICMP error) or the stamp is missing."""
    messages = list(ancdata)
    key = _errqueue.timestamp_key(messages)
    if key is None:
        return None
    for level, kind, data in messages:
        if (level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPING
                and len(data) >= TIMESPEC.size):
            when = _timespec_ns(data)  # [0]: software; [1] legacy, [2] hardware
            return None if when is None else TxStamp(key, when)
    return None
