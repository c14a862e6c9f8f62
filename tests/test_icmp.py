"""ICMP echo build and parse, per backend: IPv4 with and without options,
bare messages, ICMPv6, errors quoting our requests, malformed input."""

from __future__ import annotations

import struct
from types import ModuleType

import pytest
from oracle import naive_checksum
from packets import (RECORD_ROUTE, echo4, echo6, hop_by_hop, icmp4, icmp6, ipv4,
                     ipv6)

import pynet
from pynet import MalformedPacket, icmp

AUTO, ABSENT, PRESENT = -1, 0, 1
V6_SRC, V6_DST = "2001:db8::1", "2001:db8::2"


def parse(backend: ModuleType, data: bytes, family: int = 4, mode: int = AUTO,
          src: bytes | None = None, dst: bytes | None = None) -> pynet.IcmpMessage:
    return backend.parse(data, family, mode, src, dst)  # type: ignore[no-any-return]


# ---- build ------------------------------------------------------------------

@pytest.mark.parametrize("icmp_type", [8, 0])
@pytest.mark.parametrize("payload", [b"", b"x", b"hello", bytes(range(256)) * 4])
def test_build_v4(backend: ModuleType, icmp_type: int, payload: bytes) -> None:
    built = backend.echo_build(4, icmp_type, 0, 0xBEEF, 7, payload, None, None)
    assert built == echo4(icmp_type, 0xBEEF, 7, payload)
    assert naive_checksum(built) == 0


def test_build_v6_with_pseudo_header(backend: ModuleType) -> None:
    import socket
    src = socket.inet_pton(socket.AF_INET6, V6_SRC)
    dst = socket.inet_pton(socket.AF_INET6, V6_DST)
    built = backend.echo_build(6, 128, 0, 1, 2, b"abc", src, dst)
    assert built == echo6(128, 1, 2, b"abc", V6_SRC, V6_DST)


def test_build_v6_without_addresses_leaves_checksum_zero(backend: ModuleType) -> None:
    built = backend.echo_build(6, 128, 0, 1, 2, b"abc", None, None)
    assert built == struct.pack("!BBHHH", 128, 0, 0, 1, 2) + b"abc"


def test_public_builders() -> None:
    assert icmp.echo_request(1, 2, b"hi") == echo4(8, 1, 2, b"hi")
    assert icmp.echo_reply(1, 2, b"hi") == echo4(0, 1, 2, b"hi")
    assert icmp.echo_request(1, 2, bytearray(b"hi")) == echo4(8, 1, 2, b"hi")
    assert icmp.echo_request(1, 2, memoryview(b"xhi")[1:]) == echo4(8, 1, 2, b"hi")
    assert icmp.echo_request(1, 2, b"hi", family=6, src=V6_SRC, dst=V6_DST) == \
        echo6(128, 1, 2, b"hi", V6_SRC, V6_DST)
    import ipaddress
    assert icmp.echo_reply(3, 4, family=6, src=ipaddress.ip_address(V6_SRC),
                           dst=ipaddress.ip_address(V6_DST).packed) == \
        echo6(129, 3, 4, b"", V6_SRC, V6_DST)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(id=-1, seq=0), ValueError, "id must be in 0..65535"),
    (dict(id=0, seq=65536), ValueError, "seq must be in 0..65535"),
    (dict(id="1", seq=0), TypeError, "id must be an int"),
    (dict(id=0, seq=0, payload="text"), TypeError, "payload must be a bytes-like object, not str"),
    (dict(id=0, seq=0, family=5), ValueError, "family must be 4 or 6"),
    (dict(id=0, seq=0, src="::1", dst="::1"), ValueError, "ICMPv6 only"),
    (dict(id=0, seq=0, family=6, src="::1"), ValueError, "both src and dst"),
    (dict(id=0, seq=0, family=6, src="::1", dst="1.2.3.4"), ValueError, "not an IPv6 address"),
    (dict(id=0, seq=0, family=6, src=b"\0" * 4, dst="::1"), ValueError, "16 bytes"),
])
def test_builder_refuses(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        icmp.echo_request(**kwargs)


# ---- parse ------------------------------------------------------------------

def test_parse_ipv4_echo_reply(backend: ModuleType) -> None:
    pkt = ipv4("127.0.0.2", "127.0.0.1", echo4(0, 0x1234, 9, b"payload"), ttl=61)
    msg = parse(backend, pkt)
    assert (msg.type, msg.code, msg.id, msg.seq, msg.payload) == (0, 0, 0x1234, 9, b"payload")
    assert (msg.ttl, msg.source, msg.destination, msg.family) == (61, "127.0.0.2", "127.0.0.1", 4)
    assert msg.checksum_ok is True
    assert msg.quoted_id is msg.quoted_seq is msg.quoted_destination is None
    assert msg.rest_of_header == (0x1234 << 16) | 9


def test_parse_ipv4_with_options(backend: ModuleType) -> None:
    """The ICMP header starts where IHL says, not at byte 20."""
    pkt = ipv4("10.9.8.7", "127.0.0.1", echo4(0, 7, 8, b"opt"), options=RECORD_ROUTE)
    assert pkt[0] == 0x48
    msg = parse(backend, pkt, mode=PRESENT)
    assert (msg.id, msg.seq, msg.payload, msg.source, msg.checksum_ok) == (7, 8, b"opt", "10.9.8.7", True)


def test_parse_bare_icmp(backend: ModuleType) -> None:
    msg = parse(backend, echo4(0, 5, 6, b"dgram"))
    assert (msg.id, msg.seq, msg.payload, msg.checksum_ok) == (5, 6, b"dgram", True)
    assert msg.ttl is msg.source is msg.destination is None
    assert parse(backend, echo4(0, 5, 6, b"dgram"), mode=ABSENT) == msg


def test_bad_checksum_is_reported_not_raised(backend: ModuleType) -> None:
    msg = parse(backend, ipv4("127.0.0.1", "127.0.0.1", echo4(0, 1, 1, b"x", good=False)))
    assert msg.checksum_ok is False and msg.id == 1


def test_either_zero_verifies(backend: ModuleType) -> None:
    """A sender may write 0xFFFF where 0x0000 is right (RFC 1624): both verify."""
    body = struct.pack("!BBHHH", 0, 0, 0, 0xFFFF, 0) + b""
    assert naive_checksum(body) == 0  # the right checksum is 0x0000 here
    minus_zero = body[:2] + b"\xff\xff" + body[4:]
    assert parse(backend, body).checksum_ok is True
    assert parse(backend, minus_zero).checksum_ok is True


def test_parse_destination_unreachable_quoting_our_request(backend: ModuleType) -> None:
    request = ipv4("192.0.2.1", "198.51.100.7", echo4(8, 0xABCD, 42, b"0123456789"))
    error = ipv4("192.0.2.254", "192.0.2.1", icmp4(3, 1, bytes(4), request))
    msg = parse(backend, error)
    assert (msg.type, msg.code, msg.source) == (3, 1, "192.0.2.254")
    assert (msg.quoted_id, msg.quoted_seq, msg.quoted_destination) == (0xABCD, 42, "198.51.100.7")
    assert msg.id is None and msg.seq is None and msg.checksum_ok is True
    assert msg.payload == request


def test_parse_time_exceeded_with_only_8_quoted_bytes(backend: ModuleType) -> None:
    request = ipv4("192.0.2.1", "198.51.100.7", echo4(8, 1, 2, b"long payload cut"),
                   options=RECORD_ROUTE)
    quote = request[:32 + 8]  # the 32-byte header with options, then 8 bytes
    msg = parse(backend, ipv4("192.0.2.254", "192.0.2.1", icmp4(11, 0, bytes(4), quote)))
    assert (msg.type, msg.quoted_id, msg.quoted_seq) == (11, 1, 2)


def test_error_about_someone_elses_udp(backend: ModuleType) -> None:
    udp = ipv4("192.0.2.1", "198.51.100.7", struct.pack("!HHHH", 5000, 53, 8, 0), protocol=17)
    msg = parse(backend, icmp4(3, 3, bytes(4), udp))
    assert msg.quoted_destination == "198.51.100.7"
    assert msg.quoted_id is None and msg.quoted_seq is None


def test_error_quoting_an_echo_reply_has_no_quoted_id(backend: ModuleType) -> None:
    reply = ipv4("192.0.2.1", "198.51.100.7", echo4(0, 1, 2, b""))
    msg = parse(backend, icmp4(3, 0, bytes(4), reply))
    assert msg.quoted_id is None


def test_frag_needed_carries_mtu(backend: ModuleType) -> None:
    request = ipv4("192.0.2.1", "198.51.100.7", echo4(8, 1, 2, b"x" * 8))
    msg = parse(backend, icmp4(3, 4, struct.pack("!HH", 0, 1400), request))
    assert msg.rest_of_header & 0xFFFF == 1400


def test_parse_icmpv6_bare(backend: ModuleType) -> None:
    import socket
    pkt = echo6(129, 77, 88, b"six", V6_SRC, V6_DST)
    msg = parse(backend, pkt, family=6)
    assert (msg.type, msg.id, msg.seq, msg.payload, msg.family) == (129, 77, 88, b"six", 6)
    assert msg.checksum_ok is None  # no addresses, no pseudo-header
    src = socket.inet_pton(socket.AF_INET6, V6_SRC)
    dst = socket.inet_pton(socket.AF_INET6, V6_DST)
    assert parse(backend, pkt, 6, ABSENT, src, dst).checksum_ok is True
    other = socket.inet_pton(socket.AF_INET6, "2001:db8::3")
    assert parse(backend, pkt, 6, ABSENT, src, other).checksum_ok is False


def test_parse_ipv6_packet_with_extension_header(backend: ModuleType) -> None:
    body = echo6(129, 1, 2, b"ext", V6_SRC, V6_DST)
    pkt = ipv6(V6_SRC, V6_DST, body, next_header=0, extensions=hop_by_hop(58), hop_limit=9)
    msg = parse(backend, pkt, family=6)
    assert (msg.id, msg.seq, msg.ttl, msg.source, msg.destination) == (1, 2, 9, V6_SRC, V6_DST)
    assert msg.checksum_ok is True


def test_parse_icmpv6_error_quoting_our_request(backend: ModuleType) -> None:
    request = ipv6(V6_SRC, "2001:db8::99", echo6(128, 0x4242, 3, b"abcd", V6_SRC, "2001:db8::99"))
    error = icmp6(1, 3, bytes(4), request, "2001:db8::fe", V6_SRC)
    msg = parse(backend, error, family=6)
    assert (msg.type, msg.code, msg.quoted_id, msg.quoted_seq) == (1, 3, 0x4242, 3)
    assert msg.quoted_destination == "2001:db8::99"


def test_packet_too_big_quoting_through_extension(backend: ModuleType) -> None:
    inner = echo6(128, 5, 6, b"x" * 16, V6_SRC, "2001:db8::99")
    request = ipv6(V6_SRC, "2001:db8::99", inner, next_header=60, extensions=hop_by_hop(58))
    msg = parse(backend, icmp6(2, 0, struct.pack("!I", 1280), request, "2001:db8::fe", V6_SRC),
                family=6)
    assert (msg.quoted_id, msg.quoted_seq, msg.rest_of_header) == (5, 6, 1280)


# ---- malformed input ----------------------------------------------------------

GOOD_V4 = ipv4("127.0.0.1", "127.0.0.1", echo4(0, 1, 2, b"abcdefgh"), options=RECORD_ROUTE)
REQUEST = ipv4("192.0.2.1", "198.51.100.7", echo4(8, 1, 2, b"x" * 8))
ERROR_V4 = icmp4(3, 1, bytes(4), REQUEST)

MALFORMED = [
    ("empty", b"", 4, AUTO, 1),
    ("ip truncated", GOOD_V4[:19], 4, PRESENT, 2),
    ("wrong version", b"\x60" + GOOD_V4[1:], 4, PRESENT, 3),
    ("ihl below 5", b"\x44" + GOOD_V4[1:], 4, PRESENT, 4),
    ("ihl beyond", b"\x4f" + GOOD_V4[1:40], 4, PRESENT, 5),
    ("not icmp", GOOD_V4[:9] + b"\x11" + GOOD_V4[10:], 4, PRESENT, 6),
    ("icmp truncated after options", GOOD_V4[:32 + 7], 4, PRESENT, 11),
    ("bare icmp truncated", echo4(0, 1, 2, b"")[:7], 4, ABSENT, 11),
    ("ipv6 truncated", ipv6(V6_SRC, V6_DST, b"")[:39], 6, PRESENT, 7),
    ("ipv6 wrong version", b"\x40" + ipv6(V6_SRC, V6_DST, bytes(8))[1:], 6, PRESENT, 8),
    ("ipv6 ext truncated", ipv6(V6_SRC, V6_DST, b"", next_header=0, extensions=b"\x3a\x00\x01"),
     6, PRESENT, 9),
    ("ipv6 not icmp", ipv6(V6_SRC, V6_DST, bytes(8), next_header=17), 6, PRESENT, 10),
    ("quote short", icmp4(3, 1, bytes(4), REQUEST[:27]), 4, ABSENT, 12),
    ("quote truncated header", icmp4(11, 0, bytes(4), REQUEST[:12]), 4, ABSENT, 32 + 2),
    ("quote bad ihl", icmp4(3, 1, bytes(4), b"\x43" + REQUEST[1:]), 4, ABSENT, 32 + 4),
    ("quote wrong version", icmp6(1, 0, bytes(4), REQUEST, V6_SRC, V6_DST), 6, ABSENT, 32 + 7),
]


@pytest.mark.parametrize("name, data, family, mode, reason", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed(backend: ModuleType, name: str, data: bytes, family: int, mode: int,
                   reason: int) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse(backend, data, family, mode)
    assert info.value.reason == reason
    assert str(info.value) == pynet._errors.describe_malformed(reason)


def test_every_truncation_of_valid_packets(backend: ModuleType) -> None:
    """Cut anywhere: a clean result or MalformedPacket, nothing else, and a
    cut inside the headers is always MalformedPacket."""
    for pkt, family, header_len in [(GOOD_V4, 4, 32 + 8), (ERROR_V4, 4, 8 + 20 + 8),
                                    (echo6(129, 1, 2, b"abc", V6_SRC, V6_DST), 6, 8)]:
        for n in range(len(pkt)):
            try:
                parse(backend, pkt[:n], family)
            except MalformedPacket:
                continue
            assert n >= header_len, (pkt.hex(), n)


def test_malformed_is_a_value_error_with_words() -> None:
    with pytest.raises(ValueError, match=r"IPv4 header length \(IHL\) is below 5 words"):
        icmp.parse(b"\x44" + GOOD_V4[1:], ip_header=True)
    with pytest.raises(pynet.PynetError, match="in the quoted datagram: IPv4 header truncated"):
        icmp.parse(icmp4(11, 0, bytes(4), REQUEST[:12]))


def test_malformed_pickles() -> None:
    import pickle
    exc = pickle.loads(pickle.dumps(MalformedPacket(34)))
    assert exc.reason == 34 and "quoted" in str(exc)


def test_public_parse_options() -> None:
    msg = icmp.parse(bytearray(GOOD_V4))
    assert msg.id == 1 and msg.source == "127.0.0.1"
    assert icmp.parse(memoryview(GOOD_V4), ip_header=True) == msg
    pkt = echo6(129, 1, 2, b"", V6_SRC, V6_DST)
    assert icmp.parse(pkt, family=6, src=V6_SRC, dst=V6_DST).checksum_ok is True
    with pytest.raises(TypeError, match="ip_header"):
        icmp.parse(pkt, ip_header=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="family"):
        icmp.parse(pkt, family=0)
    with pytest.raises(TypeError, match="bytes-like"):
        icmp.parse("text")  # type: ignore[arg-type]


def test_results_are_immutable_and_typed() -> None:
    msg = icmp.parse(GOOD_V4)
    assert isinstance(msg, tuple) and isinstance(msg, pynet.IcmpMessage)
    with pytest.raises(AttributeError):
        msg.id = 5  # type: ignore[misc]
    assert msg._asdict()["seq"] == 2
