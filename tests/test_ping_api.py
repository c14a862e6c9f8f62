"""pynet.ping() and pynet.async_ping() on the kernel's own echo replies
(127.0.0.1, ::1), for both backends."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from types import ModuleType

import pytest
from support import need_root, outside_env, program

import pynet
from pynet import PynetError, ResolveError
from pynet.ping import PingError, PingNameError, PingResult, async_ping, ping


@pytest.fixture(autouse=True)
def _root() -> None:
    need_root()  # raw sockets (the unprivileged kind is tested in its own namespace)


@pytest.mark.parametrize("host, family", [("127.0.0.1", 4), ("::1", 6)])
def test_loopback(backend: ModuleType, host: str, family: int) -> None:
    result = ping(host, count=3, interval=0.02, backend=backend.NAME)
    assert isinstance(result, PingResult)
    assert (result.host, result.address, result.family) == (host, host, family)
    assert (result.transmitted, result.received, result.duplicates, result.corrupted,
            result.errors) == (3, 3, 0, 0, 0)
    assert result.loss_percent == 0.0 and result.exit_code == 0 and result.is_alive
    assert [r.seq for r in result.replies] == [1, 2, 3]
    for r in result.replies:
        assert r.source == host and r.ttl == 64 and r.bytes == 64
        assert r.checksum_ok and not r.duplicate
        assert 0 < r.rtt_ms < 100
    assert result.rtt_min_ms <= result.rtt_avg_ms <= result.rtt_max_ms  # type: ignore[operator]
    assert result.rtt_mdev_ms is not None and result.jitter_ms is not None
    # Two 20 ms intervals; 2,000 ms had the default 1 s interval been used. How late
    # past 40 ms is the machine's load, not ping's, so no tighter bound.
    assert 30 <= result.time_ms < 1000


def test_top_level_names() -> None:
    import pynet.ping as module
    assert pynet.ping is module and module.ping is ping and pynet.async_ping is async_ping
    assert module.PingError is PingError is pynet.PingError
    assert pynet.PingResult is PingResult
    assert issubclass(PingError, PynetError) and issubclass(PingNameError, ResolveError)


@pytest.mark.parametrize("size", [0, 8, 1472, 65000])
def test_sizes_come_back_whole(backend: ModuleType, size: int) -> None:
    result = ping("127.0.0.1", count=1, size=size, backend=backend.NAME)
    assert result.received == 1 and result.replies[0].bytes == size + 8


def test_ipv6_jumbo(backend: ModuleType) -> None:
    result = ping("::1", count=1, size=65000, backend=backend.NAME)
    assert result.received == 1 and result.replies[0].bytes == 65008


def test_flood_interval_zero(backend: ModuleType) -> None:
    result = ping("127.0.0.1", count=2000, interval=0, backend=backend.NAME)
    assert (result.transmitted, result.received, result.duplicates) == (2000, 2000, 0)
    assert [r.seq for r in result.replies] == list(range(1, 2001))


def test_others_pings_are_not_ours(backend: ModuleType) -> None:
    """Raw sockets see every echo reply on the host: with iputils flooding
    127.0.0.1 meanwhile, and a second pynet ping too, each counts only its own."""
    flood = subprocess.Popen([program("ping"), "-f", "-c", "20000", "-q", "127.0.0.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=outside_env())
    try:
        async def both() -> tuple:  # type: ignore[type-arg]
            return await asyncio.gather(
                async_ping("127.0.0.1", count=50, interval=0.002, backend=backend.NAME),
                async_ping("127.0.0.1", count=50, interval=0.002, backend=backend.NAME))

        results = asyncio.run(both())
    finally:
        flood.kill()
        flood.wait()
    for result in results:
        assert (result.transmitted, result.received, result.duplicates, result.errors) == \
            (50, 50, 0, 0)
        assert sorted(r.seq for r in result.replies) == list(range(1, 51))


def test_async_ping_cancel_stops_the_run() -> None:
    async def cancel_soon() -> float:
        task = asyncio.ensure_future(async_ping("127.0.0.1", count=1000, interval=0.05))
        await asyncio.sleep(0.2)
        task.cancel()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(asyncio.CancelledError):
            await task
        return loop.time() - start

    assert asyncio.run(cancel_soon()) < 1.0


def test_deadline_with_fewer_replies_than_count(backend: ModuleType) -> None:
    result = ping("127.0.0.1", count=100, interval=0.1, deadline=0.5, backend=backend.NAME)
    assert 0 < result.received < 100
    assert result.deadline_missed and result.exit_code == 1


def test_deadline_and_count_both_met(backend: ModuleType) -> None:
    result = ping("127.0.0.1", count=3, interval=0.05, deadline=5, backend=backend.NAME)
    assert result.received == 3 and result.exit_code == 0


@pytest.mark.parametrize("kwargs, error", [
    ({"count": -1}, ValueError), ({"count": 1.5}, TypeError), ({"interval": -0.1}, ValueError),
    ({"size": 70000}, ValueError), ({"ttl": 0}, ValueError), ({"family": 5}, ValueError),
    ({"timeout": "2"}, TypeError), ({"count": 0}, ValueError), ({"deadline": float("nan")}, ValueError),
])
def test_bad_arguments(kwargs: dict, error: type) -> None:  # type: ignore[type-arg]
    with pytest.raises(error):
        ping("127.0.0.1", **kwargs)


def test_name_errors_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PingNameError):
        ping("::1", family=4)

    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(PingNameError) as info:
        ping("miminet.rus")
    assert str(info.value) == "miminet.rus: Name or service not known"
    assert info.value.exit_code == 2
