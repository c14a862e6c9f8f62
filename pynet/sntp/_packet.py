"""The NTP packet (RFC 4330 4, RFC 5905 7.3): build a request, read a reply.

     0                   1                   2                   3
    |LI | VN  |Mode |    Stratum    |     Poll      |   Precision   |
    |                          Root Delay                           |
    |                       Root Dispersion                         |
    |                     Reference Identifier                      |
    |                   Reference Timestamp (64)                    |
    |                   Originate Timestamp (64)                    |
    |                    Receive Timestamp (64)                     |
    |                    Transmit Timestamp (64)                    |

Extension fields and a MAC may follow the 48 bytes; they are ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "LEAP_TEXT",
    "LEAP_UNSYNCHRONISED",
    "MODE_CLIENT",
    "MODE_SERVER",
    "NtpPacket",
    "PACKET",
    "PACKET_LEN",
    "VERSION",
    "build",
    "parse",
    "request",
]

PACKET = struct.Struct("!BBbbII4sQQQQ")
PACKET_LEN = PACKET.size  # 48
TRANSMIT_OFFSET = 40  # where the transmit timestamp (our cookie) sits

LEAP_SHIFT, VERSION_SHIFT = 6, 3
MODE_MASK, VERSION_MASK = 0x07, 0x07
MODE_CLIENT = 3
MODE_SERVER = 4
VERSION = 4
LEAP_NONE = 0
LEAP_UNSYNCHRONISED = 3
STRATUM_KISS = 0  # a Kiss-o'-Death: the reference id holds the kiss code
STRATUM_MAX = 15  # 16 means unsynchronised
# ntpdig's words for the leap indicator.
LEAP_TEXT = ("no-leap", "add-leap", "del-leap", "unsync")


@dataclass(frozen=True)
class NtpPacket:
    """The 48-byte header, field by field, as raw wire values."""

    leap: int
    version: int
    mode: int
    stratum: int
    poll: int  # log2 seconds
    precision: int  # log2 seconds
    root_delay: int  # 16.16 fixed point seconds
    root_dispersion: int  # 16.16 fixed point seconds
    ref_id: bytes  # 4 bytes
    reference: int  # 64-bit timestamps from here on
    originate: int
    receive: int
    transmit: int


def build(p: NtpPacket) -> bytes:
    first = (p.leap << LEAP_SHIFT) | (p.version << VERSION_SHIFT) | p.mode
    return PACKET.pack(first, p.stratum, p.poll, p.precision, p.root_delay, p.root_dispersion,
                       p.ref_id, p.reference, p.originate, p.receive, p.transmit)


def request(cookie: int) -> bytes:
    """A mode 3 (client), version 4 request whose transmit timestamp is the
    random cookie the server must echo as the reply's originate timestamp.
    Every other field is zero, as RFC 4330 5 allows: the client's own time
    never goes on the wire, and an off-path forger cannot guess the cookie."""
    return build(NtpPacket(LEAP_NONE, VERSION, MODE_CLIENT, 0, 0, 0, 0, 0, bytes(4),
                           0, 0, 0, cookie))


def parse(data: bytes) -> NtpPacket:
    """The header of a datagram of at least PACKET_LEN bytes (ValueError if shorter)."""
    if len(data) < PACKET_LEN:
        raise ValueError(f"truncated ({len(data)} bytes, an NTP packet has {PACKET_LEN})")
    (first, stratum, poll, precision, root_delay, root_dispersion, ref_id,
     reference, originate, receive, transmit) = PACKET.unpack_from(data)
    return NtpPacket(first >> LEAP_SHIFT, (first >> VERSION_SHIFT) & VERSION_MASK,
                     first & MODE_MASK, stratum, poll, precision, root_delay, root_dispersion,
                     ref_id, reference, originate, receive, transmit)
