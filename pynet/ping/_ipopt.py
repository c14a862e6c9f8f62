"""IPv4 options for -R, -T and source routes (RFC 791): the bytes iputils
sets with IP_OPTIONS, and what a reply's options say, read into plain values."""

from __future__ import annotations

import socket
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple
else:
    from .._records import NamedTuple

__all__ = ["IpOptions", "IpTimestamp", "OPTIONS_LEN", "ROUTE_SLOTS", "TIMESTAMP_HOSTS_MAX",
           "TIMESTAMP_KINDS", "parse",
           "record_route", "source_route", "timestamp"]

EOL = 0
NOP = 1
RR = 7
TS = 68
LSRR = 131
SSRR = 137
# Option bytes: type, length, pointer (1-based, to the next free slot), data.
TYPE, LENGTH, POINTER = 0, 1, 2
# The first pointer value: RR and source routes start their data at byte 4,
# TS at byte 5 (after its overflow/flags byte).
RR_FIRST = 4
TS_FIRST = 5
TS_FLAGS = 3
# -T: the low nibble of a TS option's flags byte; the high one counts the
# hops that found no room (overflow).
TIMESTAMP_KINDS = {"tsonly": 0, "tsandaddr": 1, "tsprespec": 3}
TS_TSONLY = TIMESTAMP_KINDS["tsonly"]
# iputils' room: nine addresses (an RR option in 40 bytes, after a NOP).
ROUTE_SLOTS = 9
OPTIONS_SPACE = 3 + 4 * ROUTE_SLOTS + 1
# What iputils counts in its header line for any of these options.
OPTIONS_LEN = 40
# -T tsprespec stamps at most four hosts (an address and a time each).
TIMESTAMP_HOSTS_MAX = 4
# A timestamp with this bit set is not milliseconds since midnight UT.
NONSTANDARD = 0x80000000
WORD = struct.Struct("!I")


def record_route() -> bytes:
    """-R: a NOP, then a record-route option with nine empty slots."""
    option = bytearray(OPTIONS_SPACE)
    option[0] = NOP
    option[1 + TYPE] = RR
    option[1 + LENGTH] = OPTIONS_SPACE - 1
    option[1 + POINTER] = RR_FIRST
    return bytes(option)


def timestamp(kind: str, hosts: Sequence[bytes] = ()) -> bytes:
    """-T: a timestamp option, as long as iputils makes it (tsonly: nine
    times in 40 bytes; tsandaddr: four address and time pairs; tsprespec:
    a pair for each host given, packed addresses)."""
    flags = TIMESTAMP_KINDS[kind]
    if flags == TIMESTAMP_KINDS["tsprespec"]:
        length = 4 + 8 * len(hosts)
    else:
        length = OPTIONS_SPACE if flags == TS_TSONLY else OPTIONS_SPACE - 4
    option = bytearray(length)
    option[TYPE], option[LENGTH], option[POINTER], option[TS_FLAGS] = TS, length, TS_FIRST, flags
    for i, host in enumerate(hosts):
        option[4 + 8 * i:8 + 8 * i] = host
    return bytes(option)


def source_route(hops: Sequence[bytes], strict: bool) -> bytes:
    """HOP ... HOST: a NOP, then a loose (strict with -r) source route
    through the packed addresses; the kernel sends to the first and puts
    the destination last."""
    option = bytearray(4 + 4 * len(hops))
    option[0] = NOP
    option[1 + TYPE] = SSRR if strict else LSRR
    option[1 + LENGTH] = 3 + 4 * len(hops)
    option[1 + POINTER] = RR_FIRST
    for i, hop in enumerate(hops):
        option[4 + 4 * i:8 + 4 * i] = hop
    return bytes(option)


class IpTimestamp(NamedTuple):
    """One slot of a reply's timestamp option. time_ms: milliseconds since
    midnight UT when standard, else whatever the host put there (RFC 791)."""

    address: Optional[str]   # None under tsonly
    time_ms: int
    standard: bool

    def to_dict(self) -> Dict[str, Any]:
        return self._asdict()


class IpOptions(NamedTuple):
    """What a reply's IPv4 options recorded: the record-route addresses,
    the timestamps, and the hops that found the timestamp option full."""

    route: Tuple[str, ...] = ()
    timestamps: Tuple[IpTimestamp, ...] = ()
    unrecorded_hops: int = 0


def _address(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw)


def _filled(option: bytes, first: int) -> int:
    """How many data bytes an option's pointer says are filled."""
    return min(option[POINTER], option[LENGTH]) - first


def _timestamps(option: bytes) -> Tuple[IpTimestamp, ...]:
    with_address = option[TS_FLAGS] & 0x0F != TS_TSONLY
    slot = 8 if with_address else 4
    end = TS_FIRST - 1 + _filled(option, TS_FIRST)
    found = []
    for j in range(TS_FIRST - 1, end, slot):
        if j + slot > len(option):
            break
        address = _address(option[j:j + 4]) if with_address else None
        (value,) = WORD.unpack_from(option, j + slot - 4)
        found.append(IpTimestamp(address, value & ~NONSTANDARD, not value & NONSTANDARD))
    return tuple(found)


def parse(options: bytes) -> IpOptions:
    """The record route and timestamp options among a reply's option bytes,
    walked as iputils walks them; anything else is passed over."""
    route: Tuple[str, ...] = ()
    stamps: Tuple[IpTimestamp, ...] = ()
    unrecorded = 0
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == EOL:
            break
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= len(options):
            break
        length = options[i + LENGTH]
        if length < 2 or i + length > len(options):
            break
        option = options[i:i + length]
        if kind == RR and length > POINTER:
            end = RR_FIRST - 1 + _filled(option, RR_FIRST)
            route = tuple(_address(option[j:j + 4])
                          for j in range(RR_FIRST - 1, end, 4) if j + 4 <= length)
        elif kind == TS and length > TS_FLAGS:
            stamps = _timestamps(option)
            unrecorded = option[TS_FLAGS] >> 4
        i += length
    return IpOptions(route, stamps, unrecorded)
