"""IcmpMessage, the result of pynet.icmp.parse, and its construction from the
flat field list that both backends fill (enum pn_icmp_field in csrc/pynet.h).
"""

from __future__ import annotations

import socket

from . import _wire as w

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Optional, Sequence, Tuple, Union

    from ._checks import Buffer
else:
    from ._records import NamedTuple

__all__ = ["IcmpMessage", "from_fields"]


class IcmpMessage(NamedTuple):
    """One parsed ICMPv4 or ICMPv6 message. None marks a field that does not
    apply: ``id``/``seq`` exist for echo messages, ``ttl``/``source``/
    ``destination`` when an IP header came with the message, ``quoted_*``
    for errors (destination unreachable, time exceeded, ...) that quote one
    of our echo requests, ``checksum_ok`` is None for ICMPv6 when the
    pseudo-header addresses are unknown."""

    type: int
    code: int
    id: Optional[int]
    seq: Optional[int]
    payload: bytes
    checksum_ok: Optional[bool]
    ttl: Optional[int]
    source: Optional[str]
    quoted_id: Optional[int]
    quoted_seq: Optional[int]
    family: int
    checksum: int
    destination: Optional[str]
    quoted_destination: Optional[str]
    rest_of_header: int  # ICMP header bytes 4..7 (MTU, pointer, gateway)


_new = tuple.__new__

# Replies come from few addresses: remember their text form instead of
# formatting the same bytes for every packet. The source and destination
# addresses sit next to each other in both IP headers, so one slice of both
# is the key for the pair.
_NAMES: dict[bytes, Tuple[str, ...]] = {}
_NAMES_MAX = 4096


def _names(raw: bytes) -> Tuple[str, ...]:
    """Text of one IPv4/IPv6 address, or of a source+destination pair."""
    if len(_NAMES) >= _NAMES_MAX:
        _NAMES.clear()
    af, size = (socket.AF_INET, 4) if len(raw) in (4, 8) else (socket.AF_INET6, 16)
    names = _NAMES[raw] = tuple(socket.inet_ntop(af, raw[i:i + size])
                                for i in range(0, len(raw), size))
    return names


def from_fields(data: bytes, f: Sequence[int]) -> IcmpMessage:
    """Build the result from a parser's field list and the parsed bytes."""
    # One unpacking in enum pn_icmp_field order: this runs once per packet.
    (family, icmp_type, code, msg_id, seq, checksum, ok, ttl, source_off,
     destination_off, payload_off, payload_len, rest, quoted_id, quoted_seq,
     quoted_destination_off) = f[:16]
    payload = data[payload_off:payload_off + payload_len]
    source: Optional[str]
    destination: Optional[str]
    if source_off >= 0:
        raw = data[source_off:destination_off + (4 if family == 4 else 16)]
        source, destination = _NAMES.get(raw) or _names(raw)
        if msg_id >= 0 and ok >= 0:
            # The hot path: an echo message behind its IP header, as a raw
            # socket returns it. Every optional field but the quoted ones is set.
            return _new(IcmpMessage, (icmp_type, code, msg_id, seq, payload, ok == 1, ttl, source,
                                      None, None, family, checksum, destination, None, rest))
    else:
        source = destination = None
    quoted_destination: Optional[str] = None
    if quoted_destination_off >= 0:
        raw = data[quoted_destination_off:quoted_destination_off + (4 if family == 4 else 16)]
        (quoted_destination,) = _NAMES.get(raw) or _names(raw)
    return _new(IcmpMessage, (
        icmp_type,
        code,
        None if msg_id < 0 else msg_id,
        None if msg_id < 0 else seq,
        payload,
        None if ok < 0 else ok == 1,
        None if ttl < 0 else ttl,
        source,
        None if quoted_id < 0 else quoted_id,
        None if quoted_id < 0 else quoted_seq,
        family,
        checksum,
        destination,
        quoted_destination,
        rest,
    ))
