"""scapy as an independent oracle: packets pynet builds are read back by
scapy with the right fields and checksum; packets scapy builds (IP options,
ICMP errors, ICMPv6) parse correctly in pynet, on both backends."""

from __future__ import annotations

import socket
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pynet
from pynet import icmp

scapy_all = pytest.importorskip("scapy.all")  # installed by the test extra
from scapy.all import (ICMP, IP, IPOption_RR, IPv6, ICMPv6DestUnreach,  # noqa: E402
                       ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6PacketTooBig,
                       ICMPv6TimeExceeded, IPv6ExtHdrHopByHop, Raw, raw)
from scapy.layers.inet import UDP  # noqa: E402

u16 = st.integers(0, 0xFFFF)


def rechecksum_v4(packet: bytes) -> int:
    """scapy's own checksum of the same ICMP fields and payload."""
    parsed = ICMP(packet)
    del parsed.chksum
    return ICMP(raw(parsed)).chksum


@given(u16, u16, st.binary(max_size=200), st.booleans())
def test_scapy_reads_what_pynet_builds_v4(ident: int, seq: int, payload: bytes, reply: bool) -> None:
    built = (icmp.echo_reply if reply else icmp.echo_request)(ident, seq, payload)
    parsed = ICMP(built)
    assert parsed.type == (0 if reply else 8) and parsed.code == 0
    assert (parsed.id, parsed.seq) == (ident, seq)
    assert bytes(parsed.payload) == payload
    assert parsed.chksum == rechecksum_v4(built)


@given(u16, u16, st.binary(max_size=200), st.ip_addresses(v=6), st.ip_addresses(v=6))
def test_scapy_reads_what_pynet_builds_v6(ident: int, seq: int, payload: bytes, src: object,
                                          dst: object) -> None:
    built = icmp.echo_request(ident, seq, payload, family=6, src=str(src), dst=str(dst))
    reference = raw(IPv6(src=str(src), dst=str(dst)) / ICMPv6EchoRequest(id=ident, seq=seq, data=payload))
    assert built == reference[40:]  # checksum over the pseudo-header included
    header = raw(IPv6(src=str(src), dst=str(dst), nh=58, plen=len(built)))
    parsed = IPv6(header + built)[ICMPv6EchoRequest]
    assert (parsed.id, parsed.seq, parsed.data) == (ident, seq, payload)


def test_ip_options_from_scapy(backend: ModuleType) -> None:
    pkt = raw(IP(src="127.0.0.3", dst="127.0.0.1", ttl=33, options=[IPOption_RR(routers=["1.2.3.4"])])
              / ICMP(type=0, id=0x1111, seq=0x2222) / b"with options")
    assert pkt[0] & 0x0F > 5
    msg = backend.parse(pkt, 4, 1, None, None)
    assert (msg.id, msg.seq, msg.payload, msg.ttl, msg.source) == \
        (0x1111, 0x2222, b"with options", 33, "127.0.0.3")
    assert msg.checksum_ok is True


@pytest.mark.parametrize("icmp_type, code", [(3, 1), (3, 3), (11, 0), (12, 0), (4, 0), (5, 1)])
def test_icmp_errors_from_scapy(backend: ModuleType, icmp_type: int, code: int) -> None:
    quoted = IP(src="192.0.2.1", dst="198.51.100.9") / ICMP(type=8, id=4242, seq=17) / b"quoted payload"
    pkt = raw(IP(src="192.0.2.254", dst="192.0.2.1") / ICMP(type=icmp_type, code=code) / quoted)
    msg = backend.parse(pkt, 4, -1, None, None)
    assert (msg.type, msg.code, msg.source) == (icmp_type, code, "192.0.2.254")
    assert (msg.quoted_id, msg.quoted_seq, msg.quoted_destination) == (4242, 17, "198.51.100.9")
    assert msg.checksum_ok is True


def test_icmp_error_about_udp_from_scapy(backend: ModuleType) -> None:
    quoted = IP(src="192.0.2.1", dst="198.51.100.9") / UDP(sport=33434, dport=53)
    pkt = raw(ICMP(type=3, code=3) / quoted)
    msg = backend.parse(pkt, 4, 0, None, None)
    assert msg.quoted_destination == "198.51.100.9" and msg.quoted_id is None


@pytest.mark.parametrize("layer", [ICMPv6DestUnreach(code=3), ICMPv6PacketTooBig(mtu=1280),
                                   ICMPv6TimeExceeded()])
def test_icmpv6_errors_from_scapy(backend: ModuleType, layer: object) -> None:
    quoted = IPv6(src="2001:db8::1", dst="2001:db8::99") / ICMPv6EchoRequest(id=99, seq=100, data=b"q")
    pkt = raw(IPv6(src="2001:db8::fe", dst="2001:db8::1") / layer / quoted)
    msg = backend.parse(pkt, 6, -1, None, None)
    assert (msg.quoted_id, msg.quoted_seq, msg.quoted_destination) == (99, 100, "2001:db8::99")
    assert msg.source == "2001:db8::fe" and msg.checksum_ok is True


def test_icmpv6_with_hop_by_hop_from_scapy(backend: ModuleType) -> None:
    pkt = raw(IPv6(src="::1", dst="::1", hlim=5) / IPv6ExtHdrHopByHop() /
              ICMPv6EchoReply(id=7, seq=8, data=b"hbh"))
    msg = backend.parse(pkt, 6, 1, None, None)
    assert (msg.type, msg.id, msg.seq, msg.payload, msg.ttl) == (129, 7, 8, b"hbh", 5)
    assert msg.checksum_ok is True


def test_bare_icmpv6_checksum_with_given_addresses(backend: ModuleType) -> None:
    full = raw(IPv6(src="fe80::1", dst="fe80::2") / ICMPv6EchoReply(id=1, seq=2, data=b"x" * 33))
    src, dst = (socket.inet_pton(socket.AF_INET6, a) for a in ("fe80::1", "fe80::2"))
    assert backend.parse(full[40:], 6, 0, src, dst).checksum_ok is True


@given(u16, u16, st.binary(max_size=100), st.integers(1, 255),
       st.ip_addresses(v=4), st.ip_addresses(v=4))
def test_random_scapy_datagrams(ident: int, seq: int, payload: bytes, ttl: int, src: object,
                                dst: object) -> None:
    pkt = raw(IP(src=str(src), dst=str(dst), ttl=ttl) / ICMP(type=0, id=ident, seq=seq) / Raw(payload))
    msg = pynet.icmp.parse(pkt)
    assert (msg.id, msg.seq, msg.payload, msg.ttl, msg.source, msg.destination) == \
        (ident, seq, payload, ttl, str(src), str(dst))
    assert msg.checksum_ok is True
