"""The C engine on a thread of its own (csrc/fleet_serve.c), as the asyncio
Pinger drives it: targets and drops in through queues, records out when
the eventfd is readable, the engine refusing every other call meanwhile,
and a socket failure handed to the loop instead of a thread that dies
silently."""

from __future__ import annotations

import asyncio
import errno
import os
import select
import socket
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List

import pytest
from support import need_root, outside_env, program

from pynet import fleet
from pynet._fleet_engine import DONE, REPLY, EngineConfig
from pynet.fleet._run import engine_module
from pynet.fleet._socket import open_sockets


def _engine(c_backend: ModuleType, **changes: Any) -> Any:
    socks = open_sockets([4, 6])
    config = EngineConfig(fd4=socks.fd4, raw4=socks.raw4, fd6=socks.fd6, raw6=socks.raw6,
                          ident=socks.ident, key=os.urandom(8), count=1,
                          timeout_ns=1_000_000_000)._replace(**changes)
    engine = engine_module("c").Engine(config)
    engine.sockets = socks      # kept alive (and closed) with it
    return engine


def _take_until(server: Any, want: int) -> List[Any]:
    """Records until want DONE records came, each wait on the eventfd."""
    records: List[Any] = []
    while sum(r[0] == DONE for r in records) < want:
        ready, _, _ = select.select([server.fd], [], [], 10)
        assert ready, f"no records within 10 s: {records}"
        records += server.take()
    return records


def test_server_numbers_targets_and_answers_them(c_backend: ModuleType) -> None:
    engine = _engine(c_backend)
    try:
        first = engine.add(4, socket.inet_aton("127.0.0.1"))
        server = engine_module("c").Server(engine, 64)
        # While it serves, the engine's own calls would race with the thread.
        with pytest.raises(RuntimeError, match="server"):
            engine.step()
        with pytest.raises(RuntimeError, match="server"):
            engine.add(4, socket.inet_aton("127.0.0.2"))
        assert server.add(4, socket.inet_aton("127.0.0.2") + socket.inet_aton("127.0.0.3")) \
            == first + 1
        assert server.add(6, socket.inet_pton(socket.AF_INET6, "::1")) == first + 3
        records = _take_until(server, 4)
        replies = {r[1] for r in records if r[0] == REPLY}
        assert replies == {first, first + 1, first + 2, first + 3}
        # The eventfd is drained with the last record: nothing more is ready.
        assert select.select([server.fd], [], [], 0)[0] == []
        counters = engine.counters()     # the thread's copy, after its last step
        assert (counters.sent, counters.received) == (4, 4)
        with pytest.raises(ValueError, match="whole"):
            server.add(4, b"\x7f\x00\x00")
        with pytest.raises(IndexError):
            server.drop([first + 99])
        server.stop()
        # The engine is its owner's again: every target in it, counters its own.
        assert engine.add(4, socket.inet_aton("127.0.0.4")) == first + 4
        assert engine.counters().sent == 4
    finally:
        engine.close()
        engine.sockets.close()


def test_dropped_targets_stop_and_stop_joins(c_backend: ModuleType) -> None:
    """count 0 runs until cancelled: drops end the probing, and stop() with
    targets still running joins the thread (closing the engine stops it)."""
    engine = _engine(c_backend, count=0, period_ns=5_000_000)
    try:
        server = engine_module("c").Server(engine, 64)
        a = server.add(4, socket.inet_aton("127.0.0.1"))
        b = server.add(4, socket.inet_aton("127.0.0.2"))
        seen: Dict[int, int] = {a: 0, b: 0}
        while min(seen.values()) < 3:
            ready, _, _ = select.select([server.fd], [], [], 10)
            assert ready
            for r in server.take():
                if r[0] == REPLY:
                    seen[r[1]] += 1
        server.drop([a])
        # Wait for b's next three replies: a's drop has been applied by then.
        later = seen[b] + 3
        while seen[b] < later:
            ready, _, _ = select.select([server.fd], [], [], 10)
            assert ready
            for r in server.take():
                if r[0] == REPLY:
                    seen[r[1]] += 1
        counters = engine.counters()
        assert counters.active == 1          # b alone runs on
    finally:
        engine.close()                      # stops the server first
        engine.sockets.close()
    assert engine._server is None


def test_a_socket_failure_reaches_every_call() -> None:
    """The thread ends on a broken socket (here the IPv4 socket's fd made
    /dev/null's: not a socket): the calls in flight get the OSError, and the
    engine closes."""
    async def go() -> None:
        async with fleet.Pinger(timeout=5.0, period=0.01, backend="c", threaded=True) as p:
            call = asyncio.ensure_future(p.ping("127.0.0.1", count=1000))
            await asyncio.sleep(0)
            e = p.current
            assert e is not None and e.server is not None
            null = os.open(os.devnull, os.O_RDONLY)
            try:
                os.dup2(null, e.sockets.fd4)
            finally:
                os.close(null)
            with pytest.raises(OSError) as info:
                await asyncio.wait_for(call, 10)
            assert info.value.errno == errno.ENOTSOCK
            assert e.engine is None             # closed, its sockets with it
            # The next call opens a fresh engine.
            r = await p.ping("127.0.0.1")
            assert r.received == 1 and p.current is not e and p.current.server is not None
    asyncio.run(go())


def test_threaded_needs_a_backend_with_a_server(py_backend: ModuleType) -> None:
    async def go() -> None:
        with pytest.raises(ValueError, match="no server thread"):
            async with fleet.Pinger(backend="python", threaded=True):
                pass
    asyncio.run(go())


def test_server_has_no_data_race_under_threadsanitizer(tmp_path: Path) -> None:
    """tests/c/serve_check.c drives a server as the Pinger does (adds in
    small runs, drops, counters, takes on the eventfd) while its thread
    probes loopback; built with -fsanitize=thread, any race between the two
    threads fails it."""
    need_root()
    here = Path(__file__).resolve().parent
    csrc = here.parent / "csrc"
    binary = tmp_path / "serve_check"
    build = subprocess.run([program("cc"), "-fsanitize=thread", "-g", "-O1", "-Wall", "-Wextra",
                            "-Werror", f"-I{csrc}", str(here / "c" / "serve_check.c"),
                            *map(str, sorted(csrc.glob("*.c"))), "-o", str(binary)],
                           capture_output=True, text=True, env=outside_env(), timeout=300)
    assert build.returncode == 0, build.stderr
    env = {**outside_env(), "TSAN_OPTIONS": "halt_on_error=1 exitcode=66"}
    done = subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "serve ok", done.stdout + done.stderr


def test_the_thread_keeps_the_least_gap_between_sends() -> None:
    """interval= is a least gap between any two sends: the thread waits for
    it to the nanosecond (not to poll's millisecond), and never sends
    sooner. A reply's kernel stamp less its round trip is the send time the
    engine kept (the wire may see a send later, should the thread be
    preempted before its sendmmsg, which a gap between stamps would show)."""
    async def go() -> List[float]:
        async with fleet.Pinger(interval=0.0025, timeout=2.0, backend="c", threaded=True) as p:
            results = await asyncio.gather(*(p.ping(f"127.31.0.{i}") for i in range(1, 41)))
        return sorted(r.replies[0].time_s - r.replies[0].rtt_ms / 1e3 for r in results)
    sends = asyncio.run(go())
    gaps = [b - a for a, b in zip(sends, sends[1:])]
    # 20 us for the two clocks' offset, read afresh for each batch received.
    assert len(gaps) == 39 and min(gaps) > 0.0025 - 20e-6, gaps
