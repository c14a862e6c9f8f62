"""The fleet engine on loopback, one body per backend: every 127/8 address
answers on Linux's lo, ::1 too. Sweeps, IPv4 and IPv6 in one run, count
mode with a period, the send gap and the rate cap, cancel, step() for an
event loop, and the two backends agreeing on the same traffic."""

from __future__ import annotations

import ipaddress
import select
import socket
import time
from types import ModuleType
from typing import Dict, List

import pytest
from fleet_support import Fleet, kinds, network, outcome
from support import need_root

from pynet._fleet_engine import DONE, REPLY, EngineConfig

MS = 1_000_000
SO_SNDBUFFORCE = 32  # Linux, root: a send buffer above wmem_max


@pytest.fixture(autouse=True)
def _root() -> None:
    need_root()  # raw sockets (unprivileged ones are tested in a namespace)


# How far two clock readings of one send time may differ (the realtime
# minus monotonic offset, read per batch).
SLACK = 200_000


def sent_times(records: List[tuple]) -> List[int]:  # type: ignore[type-arg]
    """When each answered probe went out: receive time less round trip."""
    return sorted(r[9] - r[3] for r in records if r[0] == REPLY)


def by_target(records: List[tuple]) -> Dict[int, List[tuple]]:  # type: ignore[type-arg]
    out: Dict[int, List[tuple]] = {}  # type: ignore[type-arg]
    for r in records:
        out.setdefault(r[1], []).append(r)
    return out


def test_sweep_answers_every_host(backend: ModuleType) -> None:
    n = 2000
    with Fleet(backend, timeout_ns=5000 * MS) as fleet:
        first = fleet.engine.add(4, network("127.41.0.0/16", n))
        assert first == 0
        records = fleet.run()
        c = fleet.engine.counters()
    assert (c.sent, c.received, c.duplicates, c.corrupted, c.errors, c.malformed) == \
        (n, n, 0, 0, 0, 0)
    assert c.active == 0 and c.done
    assert kinds(records) == {"reply": n, "done": n}
    base = int(ipaddress.IPv4Address("127.41.0.1"))
    for t, rs in by_target(records).items():
        (reply, done) = rs
        assert reply[0] == REPLY and done[0] == DONE
        assert reply[2] == 0 and done[2] == 1          # probe 0; one probe sent
        assert reply[10][:4] == (base + t).to_bytes(4, "big") and reply[10][4:] == bytes(12)
        assert reply[4] == 64 and reply[5] == 64 and reply[6] == 0   # ttl, bytes, flags
        assert 0 <= reply[3] < 5000 * MS


def test_backends_agree_on_a_sweep(c_backend: ModuleType, py_backend: ModuleType) -> None:
    results = []
    for backend in (c_backend, py_backend):
        with Fleet(backend, (4, 6), timeout_ns=5000 * MS) as fleet:
            fleet.engine.add(4, network("127.42.0.0/24"))
            fleet.add(["::1", "127.0.0.1", "::1"])
            records = fleet.run()
            c = fleet.engine.counters()
            # foreign may hold other programs' packets on a shared host
            results.append((outcome(records), c._replace(kernel_drops=0, foreign=0)))
    assert results[0] == results[1]
    assert results[0][1].received == 257


def test_ipv4_and_ipv6_in_one_run(backend: ModuleType) -> None:
    """Targets that share an address (::1 three times) are told apart by
    the index each probe carries."""
    hosts = ["127.0.0.1", "::1", "127.43.0.9", "::1", "::1", "127.43.0.10"]
    with Fleet(backend, (4, 6), timeout_ns=5000 * MS) as fleet:
        assert fleet.add(hosts) == list(range(len(hosts)))
        records = fleet.run()
        c = fleet.engine.counters()
    assert (c.sent, c.received, c.duplicates) == (6, 6, 0)
    for t, rs in by_target(records).items():
        assert [r[0] for r in rs] == [REPLY, DONE]
        packed = ipaddress.ip_address(hosts[t]).packed
        assert rs[0][10] == packed.ljust(16, b"\0")
        assert rs[0][4] == 64   # TTL or hop limit, from the header or the cmsg


def test_count_and_period(backend: ModuleType) -> None:
    period = 30 * MS
    with Fleet(backend, count=3, period_ns=period, timeout_ns=1000 * MS) as fleet:
        fleet.engine.add(4, network("127.44.0.0/29"))
        records = fleet.run()
        c = fleet.engine.counters()
    assert (c.sent, c.received) == (18, 18)
    for rs in by_target(records).values():
        assert [(r[0], r[2]) for r in rs] == [(REPLY, 0), (REPLY, 1), (REPLY, 2), (DONE, 3)]
        # Send times (receive time less the round trip, as the engine keeps
        # them) are a period apart at least.
        times = sent_times(rs[:3])
        assert all(b - a >= period - SLACK for a, b in zip(times, times[1:])), times


def test_interval_between_any_two_sends(backend: ModuleType) -> None:
    interval = 5 * MS
    with Fleet(backend, interval_ns=interval, timeout_ns=1000 * MS) as fleet:
        fleet.engine.add(4, network("127.45.0.0/27"))
        records = fleet.run()
    times = sent_times(records)
    assert len(times) == 30
    assert all(b - a >= interval - SLACK for a, b in zip(times, times[1:])), times


def test_rate_cap(backend: ModuleType) -> None:
    rate, n = 200, 40
    with Fleet(backend, rate_pps=rate, timeout_ns=1000 * MS) as fleet:
        fleet.engine.add(4, network("127.46.0.0/24", n))
        records = fleet.run()
    times = sent_times(records)
    assert len(times) == n
    # A bucket 10 ms deep lets two sends go at once; the rest keep the rate.
    assert times[-1] - times[0] >= (n - 3) * 1_000_000_000 // rate - SLACK


def test_cancel_one_target_among_many(backend: ModuleType) -> None:
    with Fleet(backend, count=0, period_ns=20 * MS, timeout_ns=1000 * MS) as fleet:
        fleet.engine.add(4, network("127.47.0.0/28"))   # 14 targets, probed until cancelled
        end = time.monotonic() + 30
        while min((sum(1 for r in fleet.records if r[1] == t and r[0] == REPLY)
                   for t in range(14)), default=0) < 3:
            assert time.monotonic() < end
            fleet.records.extend(fleet.engine.run(time.monotonic_ns() + 100 * MS, 10 * MS))
        fleet.engine.cancel(4)
        fleet.engine.cancel(4)   # a second cancel changes nothing
        cut = len(fleet.records)
        while sum(1 for r in fleet.records[cut:] if r[1] == 0 and r[0] == REPLY) < 3:
            assert time.monotonic() < end
            fleet.records.extend(fleet.engine.run(time.monotonic_ns() + 100 * MS, 10 * MS))
        later = fleet.records[cut:]
        assert [r[0] for r in later if r[1] == 4] == [DONE]
        assert fleet.engine.counters().active == 13
        with pytest.raises(IndexError):
            fleet.engine.cancel(99)
        for t in range(14):
            fleet.engine.cancel(t)
        records = fleet.run()
        c = fleet.engine.counters()
    assert c.done and c.active == 0
    assert sorted(r[1] for r in records if r[0] == DONE) == list(range(14))
    # Each target's replies are to probes 0, 1, 2, ... in order (no gaps, no repeats).
    for t, rs in by_target(records).items():
        probes = [r[2] for r in rs if r[0] == REPLY]
        assert probes == list(range(len(probes)))


def test_drop_stops_a_target_without_a_done_record(backend: ModuleType) -> None:
    with Fleet(backend, count=0, period_ns=20 * MS, timeout_ns=1000 * MS) as fleet:
        fleet.engine.add(4, network("127.47.1.0/29"))   # 6 targets, probed until cancelled
        fleet.engine.drop(2)
        fleet.engine.drop(2)     # a second drop changes nothing
        fleet.engine.cancel(2)   # nor does a cancel after it: no DONE record either
        assert fleet.engine.counters().active == 5
        with pytest.raises(IndexError):
            fleet.engine.drop(6)
        for t in (0, 1, 3, 4, 5):
            fleet.engine.cancel(t)
        records = fleet.run()
    assert not [r for r in records if r[1] == 2]
    assert sorted(r[1] for r in records if r[0] == DONE) == [0, 1, 3, 4, 5]


@pytest.mark.parametrize("batch, hosts", [(4096, 1000), (64, 1000)])
def test_one_step_sends_everything_due_up_to_its_batch(backend: ModuleType, batch: int,
                                                        hosts: int) -> None:
    """Probes due at once go in one step(), pass after pass (a pass sends
    at most the send batch), up to about `batch` sends: an event loop gets
    a thousand calls out in one turn and is never held for long."""
    with Fleet(backend, timeout_ns=1000 * MS, batch=batch) as fleet:
        # Room for every probe in the send buffer: a full one would end the
        # step early (EAGAIN), which is not what this test is about.
        fleet.socks.socks[4].setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 32 << 20)
        fleet.engine.add(4, network("127.47.16.0/22", limit=hosts))
        fleet.records.extend(fleet.engine.step())
        sent = fleet.engine.counters().sent
        if batch >= 2 * hosts:
            assert sent == hosts    # four passes of 256, their replies read between
        else:
            # A pass sends at most half the records' room (two records a
            # send at most); no pass starts once batch sends are done.
            assert 0 < sent < 2 * batch
        fleet.run()
        assert kinds(fleet.records) == {"reply": hosts, "done": hosts}


def test_step_for_an_event_loop(backend: ModuleType) -> None:
    """Driven by step() and poll on the sockets, as asyncio would."""
    with Fleet(backend, count=2, period_ns=10 * MS, timeout_ns=1000 * MS) as fleet:
        fleet.engine.add(4, network("127.48.0.0/26"))
        poller = select.poll()
        poller.register(fleet.socks.fd4, select.POLLIN)
        end = time.monotonic() + 30
        while not fleet.engine.counters().done:
            assert time.monotonic() < end
            fleet.records.extend(fleet.engine.step())
            wake = fleet.engine.next_wakeup_ns()
            if wake >= 0:
                poller.poll(max(0, (wake - time.monotonic_ns()) // MS))
        assert fleet.engine.next_wakeup_ns() == -1
        assert kinds(fleet.records) == {"reply": 124, "done": 62}


def test_targets_added_during_a_run(backend: ModuleType) -> None:
    with Fleet(backend, timeout_ns=1000 * MS) as fleet:
        fleet.engine.add(4, network("127.49.0.0/29"))
        fleet.run()
        assert fleet.engine.counters().done
        assert fleet.engine.add(4, network("127.49.1.0/29")) == 6
        assert not fleet.engine.counters().done
        records = fleet.run()
    assert kinds(records) == {"reply": 12, "done": 12}


@pytest.mark.parametrize("change", [
    {"payload_len": 15}, {"payload_len": 70000}, {"count": -1}, {"timeout_ns": 0},
    {"period_ns": 0}, {"backoff": 0.5}, {"retries": -1}, {"batch": 1},
    {"count": 0, "period_ns": 1, "timeout_ns": 10**9}, {"key": b"short"},
])
def test_bad_config_is_refused(backend: ModuleType, change: Dict[str, object]) -> None:
    import importlib
    engine = importlib.import_module(f"{backend.__name__}.fleet").Engine
    with pytest.raises(ValueError):
        engine(EngineConfig(**change))  # type: ignore[arg-type]


def test_add_checks_its_input(backend: ModuleType) -> None:
    with Fleet(backend) as fleet:
        with pytest.raises(ValueError):
            fleet.engine.add(4, b"\x7f\0\0")          # not whole addresses
        with pytest.raises(ValueError):
            fleet.engine.add(6, bytes(16))            # no IPv6 socket
        with pytest.raises(ValueError):
            fleet.engine.add(5, bytes(4))
        assert fleet.engine.counters().active == 0


def test_a_signal_ends_the_wait(backend: ModuleType) -> None:
    """run() returns when a signal interrupts its wait (so that Python runs
    the handler: Ctrl-C), long before until_ns."""
    import signal

    seen = []
    old = signal.signal(signal.SIGALRM, lambda *_: seen.append(1))
    try:
        with Fleet(backend, count=0, period_ns=10_000 * MS, timeout_ns=1000 * MS) as fleet:
            fleet.engine.add(4, network("127.53.0.0/30"))
            fleet.engine.run(time.monotonic_ns() + 200 * MS, 0)   # the first probes, answered
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            start = time.monotonic()
            while not seen:
                assert time.monotonic() - start < 5
                fleet.engine.run(time.monotonic_ns() + 8000 * MS, 10 * MS)
            assert time.monotonic() - start < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
