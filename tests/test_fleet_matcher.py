"""The fleet matcher fed garbage and near misses (Hypothesis): no packet
crashes it, and the C and Python engines, in the same state, say the same
about every one of them (records and counters)."""

from __future__ import annotations

import importlib
import os
import socket
import struct
import time
from types import ModuleType
from typing import Any, Iterator, List, Tuple

import pytest
from fleet_support import Fleet
from hypothesis import given
from hypothesis import strategies as st
from support import need_root

from pynet._fleet_engine import TIMEOUT, EngineConfig
from pynet.fleet._socket import open_sockets

KEY = os.urandom(8)
IDENT = 0x4242
V4 = socket.inet_aton("127.0.0.1")
V6 = socket.inet_pton(socket.AF_INET6, "::1")


def _sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo(family: int, icmp_type: int, target: int, probe: int, ident: int = IDENT,
         key: bytes = KEY, fill: int = 40) -> bytes:
    payload = key + struct.pack("!II", target, probe) + bytes(range(16, 16 + fill))
    head = struct.pack("!BBHHH", icmp_type, 0, 0, ident, 7)
    if family == 6:
        return head + payload
    value = _sum(head + payload)
    return struct.pack("!BBHHH", icmp_type, 0, value, ident, 7) + payload


def ip4(body: bytes, src: bytes = V4) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, 1, 0, src, V4) + body


@pytest.fixture(scope="module")
def engines(c_backend: ModuleType, py_backend: ModuleType) -> Iterator[List[Any]]:
    """One engine per backend, each with targets 0 (127.0.0.1) and 1 (::1)
    whose probe 0 went out and was answered."""
    need_root()
    fleets = [Fleet(b, (4, 6), filter_id=False, key=KEY, ident=IDENT, count=0, period_ns=3600 * 10**9,
                    timeout_ns=3600 * 10**9) for b in (c_backend, py_backend)]
    try:
        for fleet in fleets:
            fleet.add(["127.0.0.1", "::1"])
            end = time.monotonic() + 10
            while fleet.engine.counters().received < 2:
                assert time.monotonic() < end
                fleet.engine.step()
        yield [f.engine for f in fleets]
    finally:
        for fleet in fleets:
            fleet.close()


def same(engines: List[Any], feed: str, *args: Any) -> List[Tuple[Any, ...]]:
    results = []
    for engine in engines:
        out: List[Any] = []
        before = engine.counters()
        getattr(engine, feed)(out, *args)
        # rtt and receive time depend on when the call ran; the counters
        # before may differ (other processes' replies seen while setting up)
        delta = tuple(b - a for a, b in zip(before[:7], engine.counters()[:7]))
        results.append(([r[:3] + r[4:9] + r[10:] for r in out], delta))
    assert results[0] == results[1]
    return results[0][0]


def test_a_second_reply_is_a_duplicate(engines: List[Any]) -> None:
    records = same(engines, "feed", 4, ip4(echo(4, 0, 0, 0)), V4, -1, time.time_ns())
    assert [(r[0], r[1], r[2], r[5]) for r in records] == [(1, 0, 0, 1)]
    records = same(engines, "feed", 6, echo(6, 129, 1, 0), V6, 64, time.time_ns())
    assert [(r[0], r[1], r[2], r[5]) for r in records] == [(1, 1, 0, 1)]


@pytest.mark.parametrize("what, packet, sender", [
    ("another key", ip4(echo(4, 0, 0, 0, key=bytes(8))), V4),
    ("another id", ip4(echo(4, 0, 0, 0, ident=IDENT ^ 1)), V4),
    ("another source", ip4(echo(4, 0, 0, 0), src=socket.inet_aton("127.0.0.2")),
     socket.inet_aton("127.0.0.2")),
    ("a target of the other family", ip4(echo(4, 0, 1, 0)), V4),
    ("no such target", ip4(echo(4, 0, 9, 0)), V4),
    ("a probe not sent", ip4(echo(4, 0, 0, 5)), V4),
    ("an echo request", ip4(echo(4, 8, 0, 0)), V4),
])
def test_near_misses_are_foreign(engines: List[Any], what: str, packet: bytes,
                                 sender: bytes) -> None:
    before = engines[0].counters()
    assert same(engines, "feed", 4, packet, sender, -1, time.time_ns()) == [], what
    after = engines[0].counters()
    assert after.foreign == before.foreign + 1 and after.duplicates == before.duplicates


def test_bad_checksum_is_corrupted(engines: List[Any]) -> None:
    packet = bytearray(ip4(echo(4, 0, 0, 0)))
    packet[22] ^= 0xFF
    before = engines[0].counters()
    records = same(engines, "feed", 4, bytes(packet), V4, -1, time.time_ns())
    assert [(r[0], r[5]) for r in records] == [(1, 2)]    # REPLY, BAD_CHECKSUM
    assert engines[0].counters().corrupted == before.corrupted + 1


def test_errors_quoting_answered_probes_are_foreign(engines: List[Any]) -> None:
    before = engines[0].counters()
    assert same(engines, "feed_error", 4, echo(4, 8, 0, 0), V4, 3, 1, V4, time.time_ns()) == []
    assert same(engines, "feed_error", 4, echo(4, 8, 0, 0)[:8], V4, 3, 1, V4,
                time.time_ns()) == []
    assert engines[0].counters().foreign == before.foreign + 2


@given(family=st.sampled_from([4, 6]), data=st.binary(max_size=200),
       right_sender=st.booleans())
def test_garbage_never_crashes(engines: List[Any], family: int, data: bytes,
                               right_sender: bool) -> None:
    sender = (V4 if family == 4 else V6) if right_sender else os.urandom(4 if family == 4 else 16)
    same(engines, "feed", family, data, sender, -1, time.time_ns())


@given(family=st.sampled_from([4, 6]), target=st.integers(0, 3), probe=st.integers(0, 2),
       cut=st.integers(0, 80), flips=st.lists(st.tuples(st.integers(0, 90), st.integers(1, 255)),
                                              max_size=3))
def test_damaged_replies_and_quotes(engines: List[Any], family: int, target: int, probe: int,
                                    cut: int, flips: List[Tuple[int, int]]) -> None:
    message = bytearray(echo(family, 0 if family == 4 else 129, target, probe))
    for at, mask in flips:
        if at < len(message):
            message[at] ^= mask
    message = message[:len(message) - cut] if cut < len(message) else message[:1]
    own = V4 if family == 4 else V6
    packet = ip4(bytes(message)) if family == 4 else bytes(message)
    same(engines, "feed", family, packet, own, 64, time.time_ns())
    quote = bytearray(echo(family, 8 if family == 4 else 128, target, probe))
    for at, mask in flips:
        if at < len(quote):
            quote[at] ^= mask
    same(engines, "feed_error", family, bytes(quote[:max(0, len(quote) - cut)]), own, 3, 1, own,
         time.time_ns())


@pytest.mark.parametrize("count", [1, 0], ids=["one probe", "until cancelled"])
def test_a_reply_later_than_its_timeout_is_late(backend: ModuleType, count: int) -> None:
    """A reply whose round trip by its receive stamp exceeds the probe's
    timeout is not a reply, however soon it is read (fping discards it):
    counted late, and the probe's deadline still writes its TIMEOUT. The
    socket's id filter passes another id than the engine's, so the kernel's
    own answer never reaches the engine; the reply is fed to it instead."""
    need_root()
    socks = open_sockets([4], True, filter_id=True, ident=IDENT ^ 1)
    timeout_ns = 2_000_000
    engine = importlib.import_module(f"{backend.__name__}.fleet").Engine(EngineConfig(
        fd4=socks.fd4, raw4=socks.raw4, ident=IDENT, key=KEY, count=count,
        period_ns=3600 * 10**9, timeout_ns=timeout_ns))
    try:
        engine.add(4, V4)
        records = engine.step()
        assert engine.counters().sent == 1 and not records
        sent = time.monotonic_ns()
        while time.monotonic_ns() < sent + 2 * timeout_ns:
            pass    # the probe's time runs out; nothing has looked at its deadline yet
        out: List[Any] = []
        engine.feed(out, 4, ip4(echo(4, 0, 0, 0)), V4, -1, time.time_ns())
        c = engine.counters()
        assert out == [] and (c.received, c.late, c.duplicates) == (0, 1, 0), (out, c)
        end = time.monotonic() + 10
        while not any(r[0] == TIMEOUT for r in records):
            assert time.monotonic() < end, records
            records += engine.step()
        assert [(r[0], r[1], r[2]) for r in records if r[0] == TIMEOUT] == [(TIMEOUT, 0, 0)]
    finally:
        engine.close()
        socks.close()


def test_the_clock_offset_survives_a_preemption(monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin turns kernel stamps (CLOCK_REALTIME) into round trips
    through the clocks' offset; a reading held up between the two clocks
    (here 5 ms, as a preempted thread) must not shift it, or a loopback
    reply would come out at 0 ms and pass a timeout of 0 (fping: late)."""
    from pynet._reference import fleet as ref
    true_offset = 1_700_000_000 * 10**9
    # (monotonic before, realtime - offset, monotonic after) for each try:
    # the first held up 5 ms after its first reading, the second tight.
    monos = iter([1000, 5_002_000, 6_000_000, 6_000_080, 7_000_000, 7_000_500])
    reals = iter([5_001_000, 6_000_040, 7_000_250])
    monkeypatch.setattr(ref, "_mono", lambda: next(monos))
    monkeypatch.setattr(ref, "_real", lambda: true_offset + next(reals))
    assert ref._offset() == true_offset
