"""C == Python on random input: buffers, packets, truncations, garbage."""

from __future__ import annotations

import socket
from types import ModuleType
from typing import Any, Callable

from hypothesis import given
from hypothesis import strategies as st
from oracle import naive_sum16
from packets import echo4, echo6, hop_by_hop, icmp4, icmp6, ipv4, ipv6

from pynet import MalformedPacket

u16 = st.integers(0, 0xFFFF)
v4addr = st.ip_addresses(v=4).map(str)
v6addr = st.ip_addresses(v=6).map(str)


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """A result, or the reason a packet was refused: comparable across backends."""
    try:
        return fn(*args)
    except MalformedPacket as exc:
        return ("malformed", exc.reason)


@given(st.binary(max_size=3000), st.integers(0, 0xFFFFFFFF))
def test_checksum(c_backend: ModuleType, py_backend: ModuleType, data: bytes, initial: int) -> None:
    assert c_backend.sum16(data) == py_backend.sum16(data) == naive_sum16(data)
    assert c_backend.checksum(data, initial) == py_backend.checksum(data, initial)


@given(st.binary(min_size=1, max_size=600), st.integers(0, 63))
def test_checksum_unaligned_views(c_backend: ModuleType, py_backend: ModuleType, data: bytes,
                                  offset: int) -> None:
    view = memoryview(bytes(offset) + data)[offset:]
    assert c_backend.sum16(view) == py_backend.sum16(view) == naive_sum16(data)


@given(u16, u16, u16)
def test_checksum_update(c_backend: ModuleType, py_backend: ModuleType, a: int, b: int, c: int) -> None:
    assert c_backend.checksum_update(a, b, c) == py_backend.checksum_update(a, b, c)


@given(st.sampled_from([(4, 8), (4, 0), (6, 128), (6, 129)]), st.integers(0, 255), u16, u16,
       st.binary(max_size=300), st.one_of(st.none(), st.tuples(v6addr, v6addr)))
def test_echo_build(c_backend: ModuleType, py_backend: ModuleType, kind: tuple[int, int],
                    code: int, ident: int, seq: int, payload: bytes,
                    addrs: tuple[str, str] | None) -> None:
    family, icmp_type = kind
    src = dst = None
    if family == 6 and addrs:
        src, dst = (socket.inet_pton(socket.AF_INET6, a) for a in addrs)
    args = (family, icmp_type, code, ident, seq, payload, src, dst)
    assert c_backend.echo_build(*args) == py_backend.echo_build(*args)


def _v4_packets() -> st.SearchStrategy[tuple[bytes, int]]:
    echo = st.builds(lambda t, i, s, p, good: echo4(t, i, s, p, good=good),
                     st.sampled_from([0, 8, 13]), u16, u16, st.binary(max_size=64), st.booleans())
    options = st.sampled_from([b"", b"\x01" * 4, b"\x01" * 40])
    datagram = st.builds(lambda src, dst, body, ttl, opts: ipv4(src, dst, body, ttl=ttl, options=opts),
                         v4addr, v4addr, echo, st.integers(0, 255), options)
    error = st.builds(lambda t, code, quoted: icmp4(t, code, bytes(4), quoted),
                      st.sampled_from([3, 4, 5, 11, 12]), st.integers(0, 15), datagram)
    outer = st.builds(lambda src, dst, body: ipv4(src, dst, body), v4addr, v4addr, error)
    return st.tuples(st.one_of(echo, datagram, error, outer), st.just(4))


def _v6_packets() -> st.SearchStrategy[tuple[bytes, int]]:
    def echo(t: int, i: int, s: int, p: bytes, a: str, b: str) -> bytes:
        return echo6(t, i, s, p, a, b)
    body = st.builds(echo, st.sampled_from([128, 129]), u16, u16, st.binary(max_size=64), v6addr, v6addr)
    packet = st.builds(lambda a, b, inner, ext: ipv6(a, b, inner, next_header=0 if ext else 58,
                                                     extensions=hop_by_hop(58) if ext else b""),
                       v6addr, v6addr, body, st.booleans())
    error = st.builds(lambda t, a, b, quoted: icmp6(t, 0, bytes(4), quoted, a, b),
                      st.sampled_from([1, 2, 3, 4]), v6addr, v6addr, packet)
    return st.tuples(st.one_of(body, packet, error), st.just(6))


packets = st.one_of(_v4_packets(), _v6_packets())


@given(packets, st.sampled_from([-1, 0, 1]), st.data())
def test_parse_packets_and_truncations(c_backend: ModuleType, py_backend: ModuleType,
                                       packet: tuple[bytes, int], mode: int, data: st.DataObject) -> None:
    raw, family = packet
    cut = data.draw(st.integers(0, len(raw)))
    for sample in (raw, raw[:cut]):
        assert outcome(c_backend.parse, sample, family, mode, None, None) == \
            outcome(py_backend.parse, sample, family, mode, None, None)


@given(st.binary(max_size=120), st.sampled_from([4, 6]), st.sampled_from([-1, 0, 1]),
       st.one_of(st.none(), st.binary(min_size=32, max_size=32)))
def test_parse_garbage(c_backend: ModuleType, py_backend: ModuleType, raw: bytes, family: int,
                       mode: int, addrs: bytes | None) -> None:
    src, dst = (addrs[:16], addrs[16:]) if addrs else (None, None)
    assert outcome(c_backend.parse, raw, family, mode, src, dst) == \
        outcome(py_backend.parse, raw, family, mode, src, dst)


@given(st.binary(min_size=20, max_size=80), st.integers(0, 255), st.integers(0, 255))
def test_parse_mutated_headers(c_backend: ModuleType, py_backend: ModuleType, tail: bytes,
                               first: int, protocol: int) -> None:
    """Random version/IHL nibbles and protocols on an otherwise plausible header."""
    raw = bytes([first]) + tail[:8] + bytes([protocol]) + tail[9:]
    for mode in (-1, 1):
        assert outcome(c_backend.parse, raw, 4, mode, None, None) == \
            outcome(py_backend.parse, raw, 4, mode, None, None)
