"""Hand-built packets for the ICMP tests: IP headers with options, errors
quoting our requests, IPv6 with extension headers. Written with struct alone,
so they do not depend on what they test."""

from __future__ import annotations

import socket
import struct

from oracle import naive_checksum


def icmp4(icmp_type: int, code: int, rest: bytes, payload: bytes, *, good: bool = True) -> bytes:
    body = struct.pack("!BBH", icmp_type, code, 0) + rest + payload
    value = naive_checksum(body) if good else naive_checksum(body) ^ 0x5A5A
    return body[:2] + struct.pack("!H", value) + body[4:]


def echo4(icmp_type: int, ident: int, seq: int, payload: bytes, *, good: bool = True) -> bytes:
    return icmp4(icmp_type, 0, struct.pack("!HH", ident, seq), payload, good=good)


def ipv4(src: str, dst: str, payload: bytes, *, ttl: int = 64, protocol: int = 1,
         options: bytes = b"") -> bytes:
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload),
                         0x1234, 0, ttl, protocol, 0,
                         socket.inet_aton(src), socket.inet_aton(dst)) + options
    value = naive_checksum(header)
    return header[:10] + struct.pack("!H", value) + header[12:] + payload


def ipv6(src: str, dst: str, payload: bytes, *, next_header: int = 58, hop_limit: int = 64,
         extensions: bytes = b"") -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(extensions) + len(payload), next_header,
                       hop_limit, socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + extensions + payload


def icmp6(icmp_type: int, code: int, rest: bytes, payload: bytes, src: str, dst: str,
          *, good: bool = True) -> bytes:
    body = struct.pack("!BBH", icmp_type, code, 0) + rest + payload
    pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + struct.pack("!I3xB", len(body), 58))
    value = naive_checksum(pseudo + body)
    if not good:
        value ^= 0x5A5A
    return body[:2] + struct.pack("!H", value) + body[4:]


def echo6(icmp_type: int, ident: int, seq: int, payload: bytes, src: str, dst: str) -> bytes:
    return icmp6(icmp_type, 0, struct.pack("!HH", ident, seq), payload, src, dst)


# IPv4 options: record route with room for 2 addresses (11 bytes) + NOP.
RECORD_ROUTE = bytes([7, 11, 4]) + bytes(8) + b"\x01"
# IPv6 hop-by-hop options header: next header 58, length 0 (8 bytes), PadN.
def hop_by_hop(next_header: int) -> bytes:
    return bytes([next_header, 0, 1, 4, 0, 0, 0, 0])
