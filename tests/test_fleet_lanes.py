"""A fleet run over several engines side by side (lanes), and the engine's
fold mode that a lean run uses: on loopback, both backends.

A run numbers its targets 0, 1, 2, ...; each lane's engine numbers the
chunks it was given from 0 again. These tests hold the run to its own
numbering whatever the lanes, and the lean path (no state per target, the
reply folded into DONE by the engine) to the same results as the full one.
"""

from __future__ import annotations

import importlib
import ipaddress
from types import ModuleType
from typing import Any, Dict, List, Tuple

import pytest
from fleet_support import Fleet

from pynet._fleet_engine import ANSWERED, DONE, EngineConfig
from pynet.fleet._result import FleetResult
from pynet.fleet._socket import open_sockets
from pynet.fleet._run import LANE_MIN, MAX_LANES, Options, Run, check_options, lanes_for
from pynet.fleet._targets import Targets

# Two networks, a literal of each family and a range: segments of both
# families that chunks of 97 cut across.
SPECS = ["127.21.0.0/25", "::1", "127.21.1.0/24", "127.0.0.1", "127.21.2.7"]


def _run(backend: ModuleType, lanes: int, keep: bool, **options: Any) -> Tuple[Run, Dict[int, FleetResult]]:
    run = Run(Targets(SPECS), Options(lanes=lanes, keep_replies=keep, timeout=2.0, **options),
              backend.NAME)
    run.low_water = 97          # many chunks per lane, so the numbering is tested
    run.feed = run.targets.chunks(97)
    got: Dict[int, FleetResult] = {}
    for index, result in run.results():
        assert index not in got, f"target {index} got two results"
        got[index] = result
    return run, got


@pytest.mark.parametrize("lanes", [1, 3])
def test_every_target_once_under_its_own_number(backend: ModuleType, lanes: int) -> None:
    run, got = _run(backend, lanes, keep=False)
    targets = run.targets
    assert sorted(got) == list(range(targets.total)) and targets.total == 126 + 1 + 254 + 2
    for index, r in got.items():
        assert (r.address, r.host) == (targets.address(index), targets.host(index))
        assert (r.family, r.transmitted, r.received, r.loss_percent) == \
            (ipaddress.ip_address(r.address).version, 1, 1, 0.0)
        assert r.rtt_min_ms == r.rtt_avg_ms == r.rtt_max_ms and r.rtt_min_ms is not None
        assert r.rtt_min_ms >= 0 and r.replies == ()
    s = run.summary()
    assert (s.targets, s.alive, s.unreachable, s.sent, s.received) == (383, 383, 0, 383, 383)
    assert s.rtt_min_ms == min(r.rtt_min_ms for r in got.values())      # type: ignore[type-var]
    assert s.rtt_max_ms == max(r.rtt_max_ms for r in got.values())      # type: ignore[type-var]
    assert len(run.lanes) == lanes
    assert len({lane.sockets.ident for lane in run.lanes}) == lanes    # one echo id each
    assert sum(lane.added for lane in run.lanes) == 383
    if lanes > 1:
        assert all(lane.added for lane in run.lanes)    # every lane had work


def test_lean_and_full_runs_agree(backend: ModuleType) -> None:
    """keep_replies=True takes the full path (state per target, REPLY then
    DONE); False the lean one (the engine folds the reply into DONE)."""
    lean_run, lean = _run(backend, 2, keep=False)
    full_run, full = _run(backend, 2, keep=True)
    assert lean_run.fold and not full_run.fold
    assert sorted(lean) == sorted(full)
    for index in lean:
        a, b = lean[index], full[index]
        assert a._replace(rtt_min_ms=0, rtt_avg_ms=0, rtt_max_ms=0, replies=()) == \
            b._replace(rtt_min_ms=0, rtt_avg_ms=0, rtt_max_ms=0, replies=())
        assert [p.source for p in b.replies] == [b.address]
    a, b = lean_run.summary(), full_run.summary()
    assert (a.alive, a.sent, a.received, a.unreachable) == (b.alive, b.sent, b.received,
                                                            b.unreachable)


def test_alive_batches_cover_every_target(backend: ModuleType) -> None:
    run = Run(Targets(SPECS), Options(lanes=2, keep_replies=False, timeout=2.0), backend.NAME)
    hosts: List[str] = []
    others: List[int] = []
    for names, batch in run.alive_batches():
        hosts.extend(names)
        others.extend(index for index, _ in batch)
    expected = sorted(run.targets.host(i) for i in range(run.targets.total))
    assert sorted(hosts + [run.targets.host(i) for i in others]) == expected
    assert len(hosts) >= 1 and run.summary().alive == run.targets.total
    with pytest.raises(ValueError):
        next(Run(Targets(["127.0.0.1"]), Options(keep_replies=True), backend.NAME).alive_batches())


def test_stop_ends_every_lane(backend: ModuleType) -> None:
    """count=0 probes until stopped: stop() after the first batch ends
    every lane, and every target still gets its result."""
    runs: List[Run] = []
    run = Run(Targets(["127.22.0.0/26"]), Options(lanes=2, count=0, period=0.02, timeout=1.0),
              backend.NAME, on_batch=lambda: runs[0].stop())
    runs.append(run)
    got: Dict[int, FleetResult] = {}
    for index, result in run.results():
        got[index] = result
    assert sorted(got) == list(range(62))
    assert all(r.transmitted >= 1 and r.received <= r.transmitted for r in got.values())
    assert all(lane.counters().done for lane in run.lanes)


def test_engine_fold_writes_one_done_per_answered_target(backend: ModuleType) -> None:
    with Fleet(backend, (4, 6), count=1, fold=True, timeout_ns=2 * 10**9) as fleet:
        fleet.add(["127.0.0.1", "::1", "127.23.0.9"])
        records = fleet.run()
    assert sorted(r[1] for r in records) == [0, 1, 2]
    for r in records:
        assert (r[0], r[2], r[6]) == (DONE, 1, ANSWERED)      # kind, probes sent, flags
        assert r[3] >= 0 and r[5] == 64                       # rtt_ns, bytes
    sender = {r[1]: r[10] for r in records}
    assert sender[0][:4] == ipaddress.ip_address("127.0.0.1").packed
    assert sender[1] == ipaddress.ip_address("::1").packed
    assert sender[2][:4] == ipaddress.ip_address("127.23.0.9").packed


def test_engine_fold_needs_one_probe(backend: ModuleType) -> None:
    engine = importlib.import_module(f"{backend.__name__}.fleet").Engine
    with open_sockets([4]) as socks:
        for count in (0, 2):
            with pytest.raises(ValueError):
                engine(EngineConfig(fd4=socks.fd4, raw4=socks.raw4, ident=socks.ident,
                                    count=count, fold=True))
        engine(EngineConfig(fd4=socks.fd4, raw4=socks.raw4, ident=socks.ident,
                            count=1, fold=True)).close()


def test_lanes_policy() -> None:
    many = 4 * LANE_MIN
    assert lanes_for(many, Options(interval=0.001), True) == 1     # -i is one schedule's gap
    assert lanes_for(many, Options(rate=1000), True) == 1
    assert lanes_for(many, Options(), False) == 1                  # the GIL would serialise it
    assert lanes_for(LANE_MIN - 1, Options(), True) == 1
    assert 1 <= lanes_for(many, Options(), True) <= min(4, MAX_LANES)
    assert lanes_for(5, Options(lanes=3), False) == 3
    check_options(Options(lanes=MAX_LANES))
    for bad in (0, MAX_LANES + 1):
        with pytest.raises(ValueError):
            check_options(Options(lanes=bad))
