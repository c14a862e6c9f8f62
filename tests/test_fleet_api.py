"""The fleet library on both backends: ping(), sweep(), Pinger, targets and
errors; and `pynet fping --json`."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import subprocess
import sys
from types import ModuleType
from typing import Any, Dict

import pytest
from support import cli, offline

from conftest import load_backend
from pynet import PingReply, ResolveError, fleet
from pynet.fleet._targets import Targets, parse_range

# How a Pinger drives its engine: the C engine on its server thread or on
# the loop, the Python twin on the loop.
DRIVERS = [("c", True), ("c", False), ("python", False)]


@pytest.fixture(params=DRIVERS, ids=["c-thread", "c-loop", "python-loop"])
def driver(request: pytest.FixtureRequest) -> Dict[str, Any]:
    name, threaded = request.param
    load_backend(name)
    return {"backend": name, "threaded": threaded}


def test_ping_many_targets_mixed_families(backend: ModuleType) -> None:
    results = fleet.ping(["127.0.0.1", "::1", "127.1.0.0/30", ipaddress.ip_address("127.2.0.1")],
                         count=2, period=0.02, backend=backend.NAME)
    assert [r.address for r in results] == ["127.0.0.1", "::1", "127.1.0.1", "127.1.0.2",
                                            "127.2.0.1"]
    for r in results:
        assert (r.transmitted, r.received, r.loss_percent) == (2, 2, 0.0)
        assert [p.seq for p in sorted(r.replies, key=lambda p: p.seq)] == [0, 1]
        assert r.rtt_min_ms is not None and r.rtt_max_ms is not None
        # >= 0: the send times of one sendmmsg batch are spread over the call,
        # and on loopback a reply can be stamped before its share (clamped to 0).
        assert 0 <= r.rtt_min_ms <= r.rtt_avg_ms <= r.rtt_max_ms < 1000  # type: ignore[operator]
        assert r.to_dict()["replies"][0]["source"] == r.address
        for p in r.replies:     # whole replies: every field of PingReply, defaults too
            assert len(p) == len(PingReply._fields) and p.data_ok and p.route == ()
            assert repr(p).startswith("PingReply(seq=")
    assert results[1].family == 6


def test_sweep_streams_every_host(backend: ModuleType) -> None:
    seen = set()
    for r in fleet.sweep("127.5.0.0/22", keep_replies=False, backend=backend.NAME):
        assert r.received == 1 and r.replies == ()
        seen.add(r.address)
    assert len(seen) == 1022
    assert "127.5.0.0" not in seen and "127.5.3.255" not in seen


def test_more_than_a_sequence_space_in_one_run(c_backend: ModuleType) -> None:
    got = sum(r.received for r in fleet.sweep("127.6.0.0/15", keep_replies=False,
                                                timeout=2.0, backend="c"))
    assert got == 131070


def test_targets_stay_segments() -> None:
    t = Targets(["127.16.0.0/12", "10.0.0.1"])
    assert len(t) == 1048575 and len(t.segments) == 2
    assert t.address(0) == "127.16.0.1" and t.address(1048573) == "127.31.255.254"
    assert t.host(1048574) == "10.0.0.1"
    assert parse_range("127.0.0.1", "127.0.1.0") == (4, 0x7F000001, 256)
    with pytest.raises(ValueError):
        parse_range("127.0.0.2", "127.0.0.1")
    with pytest.raises(ValueError):
        Targets(["::/64"])


def test_bad_arguments_before_anything_is_sent(backend: ModuleType) -> None:
    with pytest.raises(ValueError):
        fleet.ping("127.0.0.1", size=8, backend=backend.NAME)
    with pytest.raises(ValueError):
        fleet.ping("127.0.0.1", timeout=0, backend=backend.NAME)
    with pytest.raises(TypeError):
        fleet.ping("127.0.0.1", count=1.5, backend=backend.NAME)  # type: ignore[arg-type]
    with pytest.raises(ResolveError):
        fleet.ping("127.0.0.1", family=6, backend=backend.NAME)


def test_unknown_name_raises_resolve_error() -> None:
    code = ("from pynet import fleet\n"
            "try:\n fleet.ping(['127.0.0.1', 'nosuch.invalid'])\n"
            "except fleet.FleetNameError as e:\n print('RESOLVE', isinstance(e, OSError), e.host)")
    out = subprocess.run([*offline(), sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=60, cwd="/")
    assert out.stdout.strip() == "RESOLVE True nosuch.invalid", out.stderr


def test_pinger_shares_one_engine(driver: Dict[str, Any]) -> None:
    async def go() -> None:
        replies = []
        async with fleet.Pinger(timeout=1.0, period=0.02, **driver,
                                on_reply=lambda host, r: replies.append(host)) as p:
            assert (p.current.server is not None) == driver["threaded"]
            hosts = [f"127.7.0.{i}" for i in range(1, 201)]
            results = await asyncio.gather(*(p.ping(h) for h in hosts), p.ping("::1", count=3))
            assert [r.received for r in results] == [1] * 200 + [3]
            assert results[-1].transmitted == 3
            assert sorted(replies) == sorted(hosts + ["::1"] * 3)
    asyncio.run(go())


def test_pinger_calls_of_one_step_keep_their_targets(driver: Dict[str, Any]) -> None:
    """Calls made between two engine steps go into the engine together (one
    add per run of a family; to a server thread, HANDOFF calls at a time as
    they are made): each still gets its own host's result, one cancelled
    before it ever reached the engine included."""
    async def go() -> None:
        async with fleet.Pinger(timeout=1.0, period=0.02, **driver) as p:
            hosts = [h for i in range(1, 151) for h in (f"127.9.1.{i}", "::1")]
            tasks = [asyncio.ensure_future(p.ping(h, count=1 + i % 3))
                     for i, h in enumerate(hosts)]
            victim = asyncio.ensure_future(p.ping("127.9.2.1"))
            await asyncio.sleep(0)      # every call has run up to its await
            handed = p.current.HANDOFF * (len(hosts) // p.current.HANDOFF) \
                if driver["threaded"] else 0
            # The victim (the last call) has not reached the engine yet.
            assert p.current.adds and p.current.added == handed < len(hosts)
            victim.cancel()
            results = await asyncio.gather(*tasks)
            assert victim.cancelled()
            for i, (h, r) in enumerate(zip(hosts, results)):
                assert (r.host, r.address, r.family) == (h, h, 6 if ":" in h else 4)
                assert r.transmitted == r.received == 1 + i % 3, r
                assert [q.source for q in r.replies] == [h] * r.received
            assert p.current.added == len(hosts) + 1 and not p.current.calls
    asyncio.run(go())


def test_cancelling_one_call_stops_only_its_probes(driver: Dict[str, Any]) -> None:
    async def go() -> None:
        async with fleet.Pinger(timeout=1.0, period=0.01, **driver) as p:
            seen = asyncio.Event()
            victim = asyncio.ensure_future(p.ping("127.8.0.1", count=10_000,
                                                  on_reply=lambda h, r: seen.set()))
            others = [asyncio.ensure_future(p.ping(f"127.8.1.{i}", count=5)) for i in range(1, 21)]
            await asyncio.wait_for(seen.wait(), 10)
            victim.cancel()
            results = await asyncio.gather(*others)
            assert victim.cancelled()
            assert all(r.received == 5 for r in results)
            # The engine forgot the victim: nothing of it is left in flight.
            for _ in range(100):
                if p.engine.counters().active == 0:
                    break
                await asyncio.sleep(0.01)
            assert p.engine.counters().active == 0
            assert not p.current.calls
    asyncio.run(go())


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def test_pinger_retires_an_engine_after_recycle_at_calls(driver: Dict[str, Any]) -> None:
    """An engine keeps a few bytes for every call it has served: after
    RECYCLE_AT calls new ones go to a fresh engine, the old one finishing
    its own calls (a long one, a cancelled one) and then closing with its
    sockets, so a Pinger that serves calls for days stays small."""
    async def go() -> None:
        async with fleet.Pinger(timeout=1.0, period=0.01, **driver) as p:
            p.RECYCLE_AT = 4
            first = p.current
            assert first is not None
            long_call = asyncio.ensure_future(p.ping("127.9.3.1", count=12))
            victim = asyncio.ensure_future(p.ping("127.9.3.2", count=10_000))
            short = [asyncio.ensure_future(p.ping(f"127.9.3.{i}")) for i in range(3, 5)]
            await asyncio.sleep(0)      # every call has run up to its await
            assert first.next_target == 4 and p.retired == []
            later = [asyncio.ensure_future(p.ping(f"127.9.4.{i}")) for i in range(1, 4)]
            await asyncio.sleep(0)
            assert p.current is not first and p.retired == [first]
            assert first.retired and first.engine is not None
            for r, h in zip(await asyncio.gather(*short, *later),
                            ["127.9.3.3", "127.9.3.4", "127.9.4.1", "127.9.4.2", "127.9.4.3"]):
                assert (r.address, r.transmitted, r.received) == (h, 1, 1)
            r = await long_call
            assert (r.transmitted, r.received) == (12, 12)  # its engine ran on, retired
            assert p.retired == [first] and first.engine is not None   # the victim runs on
            fds = [fd for fd in (first.sockets.fd4, first.sockets.fd6) if fd >= 0]
            victim.cancel()
            with pytest.raises(asyncio.CancelledError):
                await victim
            assert p.retired == [] and first.engine is None   # its last call gone: closed
            assert all(_closed(fd) for fd in fds)
            # Calls one after another: never more than RECYCLE_AT in one engine.
            for i in range(1, 14):
                r = await p.ping(f"127.9.5.{i}")
                assert r.received == 1 and p.current.next_target <= p.RECYCLE_AT
                assert p.retired == []
    asyncio.run(go())


def test_json_is_ndjson() -> None:
    done = cli("pynet.fping", "--json", "-c", "2", "-p", "20", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3
    assert sorted(d["address"] for d in lines[:2]) == ["127.0.0.1", "::1"]
    assert all(d["received"] == 2 and len(d["replies"]) == 2 for d in lines[:2])
    summary = lines[2]["summary"]
    assert (summary["targets"], summary["alive"], summary["sent"], summary["received"]) == \
        (2, 2, 4, 4)
