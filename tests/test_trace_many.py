"""The loop that runs many traces at once (pn_trace_many_* and its twin),
held to its contract on loopback, where the kernel answers a UDP probe to
127.0.0.1 with port unreachable at the first hop: slots started, run,
released and taken again; a busy slot or a bad configuration refused
without harm; a trace abandoned before its end leaves nothing behind."""

from __future__ import annotations

import errno
import os
import socket
from types import ModuleType
from typing import Any, Dict, Iterator, List

import pytest

from pynet import _trace_loop as tl
from pynet.traceroute import traceroute, traceroute_many
from pynet.traceroute._engine import DEFAULT_PORT, module
from pynet.traceroute._socket import Sockets, open_sockets

LOOPBACK = "127.0.0.1"
SECOND = 5_000_000_000


@pytest.fixture
def many(backend: ModuleType) -> Iterator[Any]:
    loop = module("trace", backend.NAME).Many(3)
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture
def sockets() -> Iterator[List[Sockets]]:
    opened: List[Sockets] = []
    try:
        yield opened
    finally:
        for socks in opened:
            socks.close()


def _config(opened: List[Sockets], **changes: Any) -> tl.LoopConfig:
    socks = open_sockets(socket.AF_INET, LOOPBACK, 0, tl.UDP)
    opened.append(socks)
    config = tl.LoopConfig(
        fd=socks.fd.fileno(), rfd=-1, family=4, method=tl.UDP, raw=False,
        target=socket.inet_pton(socket.AF_INET, LOOPBACK).ljust(16, b"\0"),
        source=socket.inet_pton(socket.AF_INET, socks.source).ljust(16, b"\0"),
        port=DEFAULT_PORT[tl.UDP], sport=socks.sport, ident=0,
        key=int.from_bytes(os.urandom(4), "big"), max_ttl=4)
    return config._replace(**changes)


def _until_done(loop: Any, slots: List[int]) -> Dict[int, List[tl.Record]]:
    """Run until every slot's trace is done; the records per slot."""
    got: Dict[int, List[tl.Record]] = {slot: [] for slot in slots}
    for _ in range(200):     # 200 calls of at most a flush each: ample, and bounded
        for slot, record in loop.records(loop.run(100_000_000)):
            got[slot].append(record)
        if all(loop.counters(slot).done for slot in slots):
            return got
    raise AssertionError(f"not done: {[loop.counters(s) for s in slots]}")


def _reached_at_hop_one(records: List[tl.Record]) -> None:
    assert sorted((r[0], r[1], r[2]) for r in records if r[0] == 1) == [
        (1, q, tl.REPLY) for q in range(3)]
    assert all(r[3] & tl.FINAL and r[3] & tl.DEST for r in records if r[0] == 1)


def test_traces_in_their_slots_each_get_their_own_records(many: Any,
                                                         sockets: List[Sockets]) -> None:
    for slot in range(3):
        many.start(slot, _config(sockets))
    got = _until_done(many, [0, 1, 2])
    for slot in range(3):
        _reached_at_hop_one(got[slot])
        counters = many.counters(slot)
        assert counters.final_ttl == 1 and counters.answered >= 3


def test_a_released_slot_is_taken_again(many: Any, sockets: List[Sockets]) -> None:
    many.start(1, _config(sockets))
    first = _until_done(many, [1])[1]
    many.release(1)
    sockets.pop().close()
    many.start(1, _config(sockets))
    second = _until_done(many, [1])[1]
    _reached_at_hop_one(first)
    _reached_at_hop_one(second)
    # A fresh state: the counters start again from nothing. All 12 probes
    # (4 TTLs x 3) go out at once; the first hop's 3 answers end the trace.
    assert many.counters(1).sent == 12
    assert many.counters(1).answered == 3


def test_a_busy_slot_is_refused_and_keeps_its_trace(many: Any,
                                                   sockets: List[Sockets]) -> None:
    many.start(0, _config(sockets))
    with pytest.raises(OSError) as caught:
        many.start(0, _config(sockets))
    assert caught.value.errno == errno.EBUSY
    _reached_at_hop_one(_until_done(many, [0])[0])


@pytest.mark.parametrize("changes", [{"first_ttl": 5, "max_ttl": 4}, {"queries": 0},
                                     {"sim": 0}, {"family": 5}])
def test_a_bad_config_is_refused_and_the_slot_stays_free(many: Any, sockets: List[Sockets],
                                                         changes: Dict[str, int]) -> None:
    with pytest.raises(OSError) as caught:
        many.start(2, _config(sockets, **changes))
    assert caught.value.errno in (errno.EINVAL, errno.EAFNOSUPPORT)
    many.start(2, _config(sockets))
    _reached_at_hop_one(_until_done(many, [2])[2])


def test_a_slot_out_of_range_is_an_index_error(many: Any, sockets: List[Sockets]) -> None:
    with pytest.raises(IndexError):
        many.start(3, _config(sockets))


def test_an_abandoned_trace_leaves_the_loop_idle(many: Any, sockets: List[Sockets]) -> None:
    """Released before its end: run() has nothing left to do and returns."""
    many.start(0, _config(sockets, wait_ns=SECOND))
    many.release(0)
    assert many.records(many.run(100_000_000)) == []
    many.start(0, _config(sockets))
    _reached_at_hop_one(_until_done(many, [0])[0])


def test_the_socket_of_another_slot_is_refused(many: Any, sockets: List[Sockets]) -> None:
    config = _config(sockets)
    many.start(0, config)
    with pytest.raises(OSError) as caught:
        many.start(1, config)
    assert caught.value.errno == errno.EBUSY


def test_many_targets_match_single_traces(backend: ModuleType) -> None:
    """traceroute_many over more targets than traces at once (slots used
    again, two loop threads) finds what one traceroute() finds for each."""
    targets = [f"127.0.{i // 200}.{i % 200 + 1}" for i in range(40)]
    results = traceroute_many(targets, workers=4, max_ttl=4, backend=backend.NAME)
    alone = traceroute(targets[7], max_ttl=4, backend=backend.NAME)
    assert [r.target for r in results] == targets
    for result in [*results, alone]:
        assert result.reached
        assert [[p.address for p in hop.probes] for hop in result.hops] == [[result.address] * 3]
        assert all(p.final for hop in result.hops for p in hop.probes)
