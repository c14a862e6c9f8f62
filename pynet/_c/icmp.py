"""ICMP echo build and parse through csrc/icmp.c."""

from __future__ import annotations

import struct
from _thread import _local as _thread_local  # threading.local, without threading

from .. import _wire as w
from .._errors import MalformedPacket
from .._message import IcmpMessage, from_fields
from ._ffi import ffi, lib, pointer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple, Union

    from .._checks import Buffer

__all__ = ["echo_build", "ext_parse", "parse", "parse_fields"]

_NULL = ffi.NULL
_HEADER = w.ICMP_HEADER
_FIELDS = struct.Struct(f"={w.F_COUNT}q")  # int64_t fields[PN_F_COUNT]
_checksum = lib.pn_checksum
_sum16 = lib.pn_sum16
_parse = lib.pn_icmp_parse
_scratch = _thread_local()
_unpack_from = _FIELDS.unpack_from
_from_fields = from_fields


def echo_build(family: int, icmp_type: int, code: int, ident: int, seq: int,
               payload: Buffer, src: Optional[bytes], dst: Optional[bytes]) -> bytes:
    # The header's four words enter the sum as the initial value, so C sums
    # the payload in place and struct writes the header once, checksum and all.
    initial = ((icmp_type << 8) | code) + ident + seq
    if family == 6:
        if src is None or dst is None:
            return _HEADER.pack(icmp_type, code, 0, ident, seq) + payload
        length = w.ICMP_HEADER_LEN + len(payload)
        initial += _sum16(src + dst, 32) + (length >> 16) + (length & 0xFFFF) + w.IPPROTO_ICMPV6
    value = _checksum(pointer(payload), len(payload), initial)
    return _HEADER.pack(icmp_type, code, value, ident, seq) + payload


def _fields_buffer() -> Tuple[Any, Any]:
    """This thread's int64_t[PN_F_COUNT] and a buffer view of it. Reused: a
    fresh cffi allocation per packet would cost as much as the parse."""
    try:
        return _scratch.fields  # type: ignore[no-any-return]
    except AttributeError:
        fields = ffi.new("int64_t[]", w.F_COUNT)
        _scratch.fields = (fields, ffi.buffer(fields))
        return _scratch.fields  # type: ignore[no-any-return]


def parse_fields(data: Buffer, family: int, ip_header: int,
                 src: Optional[bytes], dst: Optional[bytes]) -> Tuple[int, ...]:
    """The flat field list alone (enum pn_icmp_field), for the equivalence tests."""
    fields, view = _fields_buffer()
    rc = _parse(pointer(data), len(data), family, ip_header,
                _NULL if src is None else src, _NULL if dst is None else dst, fields)
    if rc < 0:
        raise MalformedPacket(-rc)
    return _FIELDS.unpack_from(view)


def parse(data: Buffer, family: int, ip_header: int,
          src: Optional[bytes], dst: Optional[bytes]) -> IcmpMessage:
    try:
        fields, view = _scratch.fields
    except AttributeError:
        fields, view = _fields_buffer()
    if type(data) is not bytes:
        data = bytes(data)  # one copy; the result's slices are bytes anyway
    rc = _parse(data, len(data), family, ip_header,
                _NULL if src is None else src, _NULL if dst is None else dst, fields)
    if rc < 0:
        raise MalformedPacket(-rc)
    return _from_fields(data, _unpack_from(view))


def ext_parse(data: Buffer, cap: int) -> Tuple[int, List[List[int]], int]:
    """An RFC 4884 extension structure: (-reason or the item count, the
    items (enum pn_ext_item_field each), objects counted as malformed)."""
    items = ffi.new("int64_t[]", max(1, cap) * w.X_COUNT)
    bad = ffi.new("int *")
    rc = lib.pn_icmp_ext_parse(pointer(data), len(data), items, cap, bad)
    out = [list(items[i * w.X_COUNT:(i + 1) * w.X_COUNT]) for i in range(max(rc, 0))]
    return int(rc), out, int(bad[0])
