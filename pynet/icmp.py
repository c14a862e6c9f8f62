"""ICMP echo messages: build them, and parse what a socket hands back.

    >>> from pynet import icmp
    >>> packet = icmp.echo_request(0x1234, 1, b"hello")
    >>> msg = icmp.parse(packet)
    >>> (msg.type, msg.id, msg.seq, msg.payload, msg.checksum_ok)
    (8, 4660, 1, b'hello', True)

parse() takes an IPv4 datagram as a raw socket returns it (the header length
comes from IHL, so options are fine), a bare ICMP message as an unprivileged
datagram socket returns it, or ICMPv6 (family=6). Anything it cannot make
sense of raises MalformedPacket; it never reads past the buffer.
"""

from __future__ import annotations

from typing import Any, Optional

from . import _backend
from . import _wire as w
from ._checks import Buffer, as_buffer, packed_address, uint
from ._errors import MalformedPacket
from ._message import IcmpMessage

__all__ = [
    "IcmpMessage",
    "MalformedPacket",
    "echo_reply",
    "echo_request",
    "parse",
]

_impl = _backend.active
_parse = _impl.parse
_build = _impl.echo_build


def _family(family: Any) -> int:
    if family != 4 and family != 6:
        raise ValueError(f"family must be 4 or 6, got {family!r}")
    return int(family)


def _pseudo_addresses(family: int, src: Any, dst: Any) -> tuple[Optional[bytes], Optional[bytes]]:
    if src is None and dst is None:
        return None, None
    if family != 6:
        raise ValueError("src and dst apply to ICMPv6 only (ICMPv4 has no pseudo-header)")
    if src is None or dst is None:
        raise ValueError("give both src and dst for the ICMPv6 pseudo-header, or neither")
    return packed_address(src, "src", 6), packed_address(dst, "dst", 6)


def _echo(types: dict[int, int], ident: int, seq: int, payload: Any, family: int,
          src: Any, dst: Any, code: int) -> bytes:
    if family != 4 and family != 6:
        family = _family(family)
    if type(ident) is not int or not 0 <= ident <= 0xFFFF:
        ident = uint(ident, "id", 16)
    if type(seq) is not int or not 0 <= seq <= 0xFFFF:
        seq = uint(seq, "seq", 16)
    if type(payload) is not bytes:
        payload = as_buffer(payload, "payload")
    if code != 0:
        code = uint(code, "code", 8)
    if src is None and dst is None:
        return _build(family, types[family], 0 if code == 0 else code, ident, seq,  # type: ignore[no-any-return]
                      payload, None, None)
    packed_src, packed_dst = _pseudo_addresses(family, src, dst)
    return _build(family, types[family], code, ident, seq,  # type: ignore[no-any-return]
                  payload, packed_src, packed_dst)


def echo_request(id: int, seq: int, payload: Buffer = b"", *, family: int = 4,
                 src: Any = None, dst: Any = None, code: int = 0) -> bytes:
    """An ICMP (family=4) or ICMPv6 (family=6) echo request with its checksum.

    For ICMPv6 the checksum covers the pseudo-header, so it is computed only
    when src and dst are given; otherwise it is left 0, which raw ICMPv6
    sockets fill in on sending.
    """
    return _echo(w.ECHO_REQUEST_TYPE, id, seq, payload, family, src, dst, code)


def echo_reply(id: int, seq: int, payload: Buffer = b"", *, family: int = 4,
               src: Any = None, dst: Any = None, code: int = 0) -> bytes:
    """An echo reply, built like echo_request."""
    return _echo(w.ECHO_REPLY_TYPE, id, seq, payload, family, src, dst, code)


def parse(data: Buffer, *, family: int = 4, ip_header: Optional[bool] = None,
          src: Any = None, dst: Any = None) -> IcmpMessage:
    """Parse an ICMP message, with or without the IP header in front.

    ip_header: None to tell by the version nibble, True when the data must
    start with an IP header (raw IPv4 sockets), False for a bare ICMP message
    (datagram sockets, raw ICMPv6 sockets). src/dst: the ICMPv6 pseudo-header
    addresses, to verify the checksum when no IPv6 header is present.
    Raises MalformedPacket for what cannot be parsed.
    """
    if type(data) is not bytes:
        data = as_buffer(data)
    if family != 4 and family != 6:
        family = _family(family)
    if ip_header is None:
        mode = w.IP_HEADER_AUTO
    elif ip_header is True or ip_header is False:
        mode = w.IP_HEADER_PRESENT if ip_header else w.IP_HEADER_ABSENT
    else:
        raise TypeError(f"ip_header must be None, True or False, got {ip_header!r}")
    if src is None and dst is None:
        return _parse(data, family, mode, None, None)  # type: ignore[no-any-return]
    packed_src, packed_dst = _pseudo_addresses(family, src, dst)
    return _parse(data, family, mode, packed_src, packed_dst)  # type: ignore[no-any-return]
