"""ICMPv4/ICMPv6 echo build and parse in pure Python: the twin of csrc/icmp.c.

Parsing fills the same flat field list as the C parser (enum pn_icmp_field)
and raises MalformedPacket with the same reason codes.
"""

from __future__ import annotations

from .. import _wire as w
from .._errors import MalformedPacket
from .._message import IcmpMessage, from_fields
from .checksum import checksum, sum16

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

    from .._checks import Buffer

__all__ = ["echo_build", "ext_parse", "parse", "parse_fields"]


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
    f[w.F_QUOTED_PROTOCOL] = protocol
    f[w.F_QUOTED_UPPER_OFF] = upper
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
        _locate_ext(icmp, family, icmp_type, off + w.ICMP_HEADER_LEN, f)
    return f


def _locate_ext(icmp: Buffer, family: int, icmp_type: int, payload_off: int,
                f: List[int]) -> None:
    """Where the RFC 4884 extension structure of an error lies, if it has one."""
    if icmp_type not in w.EXT_LENGTH_TYPES[family]:
        return
    at = w.ICMP4_EXT_LENGTH if family == 4 else w.ICMP6_EXT_LENGTH
    quoted = icmp[at] * w.EXT_LENGTH_UNIT[family]
    if quoted == 0:
        return
    payload_len = len(icmp) - w.ICMP_HEADER_LEN
    if quoted > payload_len or payload_len - quoted < w.EXT_HEADER_LEN:
        f[w.F_EXT_LEN] = w.EXT_LEN_BEYOND
        return
    f[w.F_EXT_OFF] = payload_off + quoted
    f[w.F_EXT_LEN] = payload_len - quoted


def parse(data: Buffer, family: int, ip_header: int,
          src: Optional[bytes], dst: Optional[bytes]) -> IcmpMessage:
    data = bytes(data)
    return from_fields(data, parse_fields(data, family, ip_header, src, dst))


def _ext_item(klass: int, ctype: int, off: int, length: int) -> List[int]:
    x = [-1] * w.X_COUNT
    x[w.X_CLASS], x[w.X_CTYPE], x[w.X_OFF], x[w.X_LEN] = klass, ctype, off, length
    return x


def _ext_interface(p: bytes, off: int, length: int, ctype: int, x: List[int]) -> bool:
    """RFC 5837's parts, in order; False when they do not fill the body."""
    pos, end = off, off + length
    x[w.X_ROLE] = ctype >> w.IF_ROLE_SHIFT
    if ctype & w.IF_HAS_IFINDEX:
        if end - pos < 4:
            return False
        (x[w.X_IFINDEX],) = w.MPLS_ENTRY.unpack_from(p, pos)
        pos += 4
    if ctype & w.IF_HAS_ADDRESS:
        if end - pos < w.IF_ADDRESS_HEADER.size:
            return False
        afi, _reserved = w.IF_ADDRESS_HEADER.unpack_from(p, pos)
        size = {w.AFI_IPV4: 4, w.AFI_IPV6: 16}.get(afi, 0)
        if size == 0 or end - pos - 4 < size:
            return False
        x[w.X_ADDR_AFI], x[w.X_ADDR_OFF] = afi, pos + 4
        pos += 4 + size
    if ctype & w.IF_HAS_NAME:
        if end - pos < 1:
            return False
        nlen = p[pos]
        # The length counts its own octet, in whole 32-bit words.
        if nlen < 4 or nlen > w.IF_NAME_MAX + 1 or nlen % 4 or nlen > end - pos:
            return False
        x[w.X_NAME_OFF], x[w.X_NAME_LEN] = pos + 1, nlen - 1
        pos += nlen
    if ctype & w.IF_HAS_MTU:
        if end - pos < 4:
            return False
        (x[w.X_MTU],) = w.MPLS_ENTRY.unpack_from(p, pos)
        pos += 4
    return pos == end


def ext_parse(data: Buffer, cap: int) -> Tuple[int, List[List[int]], int]:
    """An RFC 4884 extension structure: (-reason or the item count, the
    items (enum pn_ext_item_field each), objects counted as malformed)."""
    p = bytes(data)
    items: List[List[int]] = []
    bad = 0
    if len(p) < w.EXT_HEADER_LEN:
        return -w.EXT_SHORT, items, 0
    version, _reserved, value = w.EXT_HEADER.unpack_from(p)
    if version >> 4 != w.EXT_VERSION:
        return -w.EXT_VERSION, items, 0
    # A zero checksum means the sender computed none (RFC 4884 sec. 7).
    if value != 0 and checksum(p, 0) != 0:
        return -w.EXT_CHECKSUM, items, 0
    pos = w.EXT_HEADER_LEN
    while pos < len(p):
        if len(p) - pos < w.EXT_OBJECT_LEN:
            bad += 1
            break
        olen, klass, ctype = w.EXT_OBJECT.unpack_from(p, pos)
        if olen < w.EXT_OBJECT_LEN or olen > len(p) - pos:
            bad += 1
            break
        body, blen = pos + w.EXT_OBJECT_LEN, olen - w.EXT_OBJECT_LEN
        if klass == w.EXT_CLASS_MPLS and ctype == w.EXT_CTYPE_MPLS:
            if blen % w.MPLS_ENTRY.size:
                bad += 1
            else:
                for e in range(body, pos + olen, w.MPLS_ENTRY.size):
                    if len(items) >= cap:
                        bad += 1
                        break
                    (v,) = w.MPLS_ENTRY.unpack_from(p, e)
                    x = _ext_item(klass, ctype, e, w.MPLS_ENTRY.size)
                    x[w.X_LABEL], x[w.X_TC], x[w.X_S], x[w.X_TTL] = (
                        v >> 12, (v >> 9) & 7, (v >> 8) & 1, v & 0xFF)
                    items.append(x)
        elif len(items) >= cap:
            bad += 1
        elif klass == w.EXT_CLASS_INTERFACE:
            x = _ext_item(klass, ctype, body, blen)
            if _ext_interface(p, body, blen, ctype, x):
                items.append(x)
            else:
                bad += 1
        else:
            items.append(_ext_item(klass, ctype, body, blen))
        pos += olen
    return len(items), items, bad
