"""ICMPv4/ICMPv6 echo build and parse in pure Python: the twin of csrc/icmp.c.

Parsing fills the same flat field list as the C parser (enum pn_icmp_field)
and raises MalformedPacket with the same reason codes.
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

from .. import _wire as w
from .._errors import MalformedPacket
from .._message import IcmpMessage, from_fields
from .checksum import checksum, sum16

__all__ = ["echo_build", "parse"]

Buffer = Union[bytes, bytearray, memoryview]


def _pseudo_sum6(src: bytes, dst: bytes, icmp_len: int) -> int:
    tail = w.IPV6_PSEUDO_TAIL.pack(icmp_len, w.IPPROTO_ICMPV6)
    return sum16(src) + sum16(dst) + sum16(tail)


def echo_build(family: int, icmp_type: int, code: int, ident: int, seq: int,
               payload: Buffer, src: Optional[bytes], dst: Optional[bytes]) -> bytes:
    message = w.ICMP_HEADER.pack(icmp_type, code, 0, ident, seq) + bytes(payload)
    if family == 4:
        value = checksum(message, 0)
    elif src is not None and dst is not None:
        value = checksum(message, _pseudo_sum6(src, dst, len(message)))
    else:
        return message  # left zero: the kernel fills it in for raw ICMPv6
    return w.ICMP_HEADER.pack(icmp_type, code, value, ident, seq) + bytes(payload)


def _ip4_walk(data: Buffer, off: int) -> Tuple[int, int]:
    """The IPv4 header at data[off:]: (offset of what follows, protocol)."""
    if len(data) - off < w.IPV4_MIN_HEADER_LEN:
        raise MalformedPacket(w.MALFORMED_IPV4_TRUNCATED)
    if data[off] >> 4 != 4:
        raise MalformedPacket(w.MALFORMED_IPV4_VERSION)
    ihl = (data[off] & 0x0F) * 4
    if ihl < w.IPV4_MIN_HEADER_LEN:
        raise MalformedPacket(w.MALFORMED_IPV4_IHL_SHORT)
    if ihl > len(data) - off:
        raise MalformedPacket(w.MALFORMED_IPV4_IHL_BEYOND)
    return off + ihl, data[off + w.IPV4_PROTOCOL]


def _ip6_walk(data: Buffer, off: int) -> Tuple[int, int]:
    """The IPv6 header at data[off:] and its extension headers: (offset of the
    upper-layer header, its protocol; -1 for a non-first fragment)."""
    if len(data) - off < w.IPV6_HEADER_LEN:
        raise MalformedPacket(w.MALFORMED_IPV6_TRUNCATED)
    if data[off] >> 4 != 6:
        raise MalformedPacket(w.MALFORMED_IPV6_VERSION)
    pos = off + w.IPV6_HEADER_LEN
    protocol = data[off + w.IPV6_NEXT_HEADER]
    while protocol in w.IPV6_EXTENSIONS:
        if len(data) - pos < w.IPV6_EXT_MIN_LEN:
            raise MalformedPacket(w.MALFORMED_IPV6_EXT_TRUNCATED)
        if protocol == w.IPPROTO_FRAGMENT:
            (offset,) = w.IPV6_FRAGMENT_OFFSET.unpack_from(data, pos + 2)
            if offset & w.IPV6_FRAGMENT_OFFSET_MASK:
                return pos, -1  # only a first fragment carries the ICMP header
            ext_len = w.IPV6_EXT_MIN_LEN
        else:
            ext_len = (data[pos + 1] + 1) * 8
        if ext_len > len(data) - pos:
            raise MalformedPacket(w.MALFORMED_IPV6_EXT_TRUNCATED)
        protocol = data[pos]
        pos += ext_len
    return pos, protocol


def _parse_quote(data: Buffer, off: int, family: int, f: List[int]) -> None:
    """The datagram an ICMP error quotes, starting at data[off]."""
    try:
        if family == 4:
            upper, protocol = _ip4_walk(data, off)
            f[w.F_QUOTED_DESTINATION_OFF] = off + w.IPV4_DESTINATION
            wanted = (w.IPPROTO_ICMP, w.ICMP_ECHO_REQUEST)
        else:
            upper, protocol = _ip6_walk(data, off)
            f[w.F_QUOTED_DESTINATION_OFF] = off + w.IPV6_DESTINATION
            wanted = (w.IPPROTO_ICMPV6, w.ICMP6_ECHO_REQUEST)
    except MalformedPacket as exc:
        raise MalformedPacket(w.MALFORMED_QUOTED + exc.reason) from None
    if len(data) - upper < w.QUOTE_DATA_MIN:
        raise MalformedPacket(w.MALFORMED_QUOTE_SHORT)
    if (protocol, data[upper + w.ICMP_TYPE]) == wanted:
        f[w.F_QUOTED_ID], f[w.F_QUOTED_SEQ] = w.ICMP_ID_SEQ.unpack_from(data, upper + w.ICMP_ID_OFFSET)


def parse_fields(data: Buffer, family: int, ip_header: int,
                 src: Optional[bytes], dst: Optional[bytes]) -> List[int]:
    f = [-1] * w.F_COUNT
    f[w.F_FAMILY] = family
    if len(data) == 0:
        raise MalformedPacket(w.MALFORMED_EMPTY)
    if ip_header == w.IP_HEADER_AUTO:
        ip_header = int(data[0] >> 4 == family)

    off = 0
    if ip_header:
        if family == 4:
            off, protocol = _ip4_walk(data, 0)
            if protocol != w.IPPROTO_ICMP:
                raise MalformedPacket(w.MALFORMED_IPV4_NOT_ICMP)
            f[w.F_TTL] = data[w.IPV4_TTL]
            f[w.F_SOURCE_OFF] = w.IPV4_SOURCE
            f[w.F_DESTINATION_OFF] = w.IPV4_DESTINATION
        else:
            off, protocol = _ip6_walk(data, 0)
            if protocol != w.IPPROTO_ICMPV6:
                raise MalformedPacket(w.MALFORMED_IPV6_NOT_ICMP)
            f[w.F_TTL] = data[w.IPV6_HOP_LIMIT]
            f[w.F_SOURCE_OFF] = w.IPV6_SOURCE
            f[w.F_DESTINATION_OFF] = w.IPV6_DESTINATION
            src = bytes(data[w.IPV6_SOURCE:w.IPV6_SOURCE + 16])
            dst = bytes(data[w.IPV6_DESTINATION:w.IPV6_DESTINATION + 16])
    if len(data) - off < w.ICMP_HEADER_LEN:
        raise MalformedPacket(w.MALFORMED_ICMP_TRUNCATED)

    icmp = data[off:]
    icmp_type, code, value, ident, seq = w.ICMP_HEADER.unpack_from(icmp)
    f[w.F_TYPE] = icmp_type
    f[w.F_CODE] = code
    f[w.F_CHECKSUM] = value
    (f[w.F_REST_OF_HEADER],) = w.ICMP_REST.unpack_from(icmp, w.ICMP_REST_OFFSET)
    f[w.F_PAYLOAD_OFF] = off + w.ICMP_HEADER_LEN
    f[w.F_PAYLOAD_LEN] = len(icmp) - w.ICMP_HEADER_LEN

    # The checksum over a message that carries a right checksum is 0,
    # whichever of the two zeros (0x0000, 0xFFFF) the sender wrote.
    if family == 4:
        f[w.F_CHECKSUM_OK] = int(checksum(icmp, 0) == 0)
    elif src is not None and dst is not None:
        f[w.F_CHECKSUM_OK] = int(checksum(icmp, _pseudo_sum6(src, dst, len(icmp))) == 0)

    if icmp_type in w.ECHO_TYPES[family]:
        f[w.F_ID] = ident
        f[w.F_SEQ] = seq
    elif icmp_type in w.ERROR_TYPES[family]:
        _parse_quote(data, off + w.ICMP_HEADER_LEN, family, f)
    return f


def parse(data: Buffer, family: int, ip_header: int,
          src: Optional[bytes], dst: Optional[bytes]) -> IcmpMessage:
    data = bytes(data)
    return from_fields(data, parse_fields(data, family, ip_header, src, dst))
