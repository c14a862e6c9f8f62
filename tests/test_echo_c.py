"""The C entry points as C (through cffi: bad arguments refused with an
errno), the adapters pynet/_c/echo.py and pynet/_c/loadgen.py over them, and
the load generator's byte-for-byte check catching a server that corrupts."""

from __future__ import annotations

import errno
import os
import socket
import threading
from types import ModuleType
from typing import Iterator

import pytest

import pynet.echo
from echo_helpers import need_poller, uring_available
from pynet.bench._loadgen import percentile_ns, run_load


@pytest.fixture(scope="module")
def nogil(c_backend: ModuleType) -> tuple:  # type: ignore[type-arg]
    from pynet._native_nogil import ffi, lib
    return ffi, lib


def test_echo_run_refuses_bad_settings(nogil: tuple) -> None:  # type: ignore[type-arg]
    ffi, lib = nogil
    stats = ffi.new("struct pn_echo_stats *")
    cfg = ffi.new("struct pn_echo_config *", {"fd": -1, "stop_fd": -1})
    assert lib.pn_echo_run(cfg, stats) == -errno.EBADF
    with socket.socket() as sock:
        cfg = ffi.new("struct pn_echo_config *", {"fd": sock.fileno(), "stop_fd": -1,
                                                 "read_size": -1})
        assert lib.pn_echo_run(cfg, stats) == -errno.EINVAL
        cfg = ffi.new("struct pn_echo_config *", {"fd": sock.fileno(), "stop_fd": -1,
                                                 "poller": 99})
        assert lib.pn_echo_run(cfg, stats) == -errno.ENOTSUP


@pytest.mark.parametrize("poller", ("epoll", "uring"))
def test_echo_run_stops_on_request(nogil: tuple, poller: str) -> None:  # type: ignore[type-arg]
    ffi, lib = nogil
    need_poller(poller)
    from pynet._native import lib as gil
    kind = {"epoll": gil.PN_POLLER_EPOLL, "uring": gil.PN_POLLER_URING}[poller]
    r, w = os.pipe()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        cfg = ffi.new("struct pn_echo_config *", {"fd": sock.fileno(), "stop_fd": r,
                                                 "poller": kind})
        stats = ffi.new("struct pn_echo_stats *")
        result = []
        t = threading.Thread(target=lambda: result.append(lib.pn_echo_run(cfg, stats)))
        t.start()
        held = socket.create_connection(sock.getsockname(), timeout=10)
        held.sendall(b"z")
        assert held.recv(1) == b"z"
        os.write(w, b"s")
        t.join(10)
        assert result == [0] and stats.accepted == 1 and stats.clients == 0
        assert held.recv(1) == b""
        held.close()
    os.close(r)
    os.close(w)


def test_echo_poller_choice(nogil: tuple) -> None:  # type: ignore[type-arg]
    """io_uring serves TCP only; AUTO means a readiness poller for UDP."""
    from pynet._native import lib as gil
    ffi, lib = nogil
    assert gil.pn_echo_poller(gil.PN_POLLER_URING, 1) == -errno.ENOTSUP
    assert gil.pn_echo_poller(gil.PN_POLLER_AUTO, 1) == gil.PN_POLLER_EPOLL
    assert gil.pn_echo_poller(gil.PN_POLLER_POLL, 0) == gil.PN_POLLER_POLL
    if uring_available():
        assert gil.pn_uring_status() == 0
        assert gil.pn_echo_poller(gil.PN_POLLER_URING, 0) == gil.PN_POLLER_URING
    else:
        assert gil.pn_echo_poller(gil.PN_POLLER_URING, 0) == gil.pn_uring_status() < 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        cfg = ffi.new("struct pn_echo_config *", {"fd": sock.fileno(), "stop_fd": -1, "udp": 1,
                                                 "poller": gil.PN_POLLER_URING})
        assert lib.pn_echo_run(cfg, ffi.new("struct pn_echo_stats *")) == -errno.ENOTSUP


def test_loadgen_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="connections must be >= 1"):
        run_load("127.0.0.1", 9, connections=0)
    with pytest.raises(ValueError, match="refused: 'not-an-address'"):
        run_load("not-an-address", 9)
    with pytest.raises(ValueError, match="4-byte datagrams"):
        run_load("127.0.0.1", 9, udp=True, size=4)
    with pytest.raises(ValueError, match="duration must be a positive number of seconds"):
        run_load("127.0.0.1", 9, duration=0)
    with pytest.raises(TypeError, match="timeout must be a number of seconds"):
        run_load("127.0.0.1", 9, timeout="5")  # type: ignore[arg-type]


def test_echo_adapter(c_backend: ModuleType) -> None:
    """pynet/_c/echo.py: names in, C's answers out, errors as exceptions."""
    from pynet import _backend
    loop = _backend.module("echo", "c")
    assert loop.poller_available("epoll") and loop.poller_available("poll")
    assert not loop.poller_available("kqueue")
    assert loop.unavailable_reason("kqueue") == "on this system"
    assert loop.poller_name("auto", True) == "epoll"
    assert loop.poller_name("auto", False) == ("uring" if uring_available() else "epoll")
    with pytest.raises(OSError) as info:
        loop.poller_name("uring", True)
    assert info.value.errno == errno.ENOTSUP
    with pytest.raises(ValueError, match="poller must be one of"):
        loop.poller_available("devpoll")
    assert (loop.uring_status() == 0) is uring_available()
    counts = {"accepted": 5}
    with pytest.raises(OSError) as info:
        loop.run(-1, stop_fd=-1, udp=False, poller="auto", max_clients=0, read_size=1024,
                 counts=counts)
    assert info.value.errno == errno.EBADF
    assert counts["accepted"] == 5 and counts["bytes"] == 0  # added to, even on failure


def test_loadgen_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(ConnectionRefusedError):
            run_load("127.0.0.1", port, duration=0.1, warmup=0)


@pytest.fixture()
def native_server() -> Iterator[pynet.echo.Server]:
    with pynet.echo.serve(model="native", port=0) as server:
        yield server


@pytest.mark.parametrize("udp, size, conns", [(False, 64, 3), (False, 200_000, 2),
                                              (True, 64, 3), (True, 65507, 1)])
def test_loadgen_measures(native_server: pynet.echo.Server, udp: bool, size: int,
                          conns: int) -> None:
    if udp:
        with pynet.echo.serve(port=0, proto="udp", model="native") as server:
            result = run_load("127.0.0.1", server.address[1], udp=True, connections=conns,
                              size=size, warmup=0.02, duration=0.2)
    else:
        result = run_load("127.0.0.1", native_server.address[1], connections=conns, size=size,
                          warmup=0.02, duration=0.2)
    assert result.messages > 0 and result.mismatches == 0
    assert result.bytes == result.messages * size
    assert sum(count for _, count in result.latency) == result.messages
    assert 0 < result.percentile_us(50) <= result.percentile_us(99)
    assert result.msgs_per_s > 0 and 0.15 < result.elapsed_s < 5


@pytest.mark.parametrize("poller", ("epoll", "uring"))
def test_many_bulk_clients_share_bounded_buffers(poller: str) -> None:
    """200 connections echoing 64 KiB messages at once: more than the io_uring
    loop's buffer ring holds (recvs run out of buffers and wait for them);
    every reply still exact, no connection starved (the load generator fails
    on a connection silent for 5 s)."""
    need_poller(poller)
    with pynet.echo.serve(model="native", port=0, poller=poller) as server:
        result = run_load("127.0.0.1", server.address[1], connections=200, size=65536,
                          warmup=0.05, duration=0.5)
    assert result.messages >= 200 and result.mismatches == 0
    assert server.stats["accepted"] == 200


def test_loadgen_catches_a_corrupting_server() -> None:
    """A server that changes one byte in a thousand replies is caught."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        n = 0
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                    if not data:
                        break
                    n += 1
                    if n % 1000 == 0:
                        data = bytes([data[0] ^ 1]) + data[1:]
                    conn.sendall(data)
                except ConnectionError:
                    break  # the load generator closes with a reply in flight

    t = threading.Thread(target=serve)
    t.start()
    try:
        result = run_load("127.0.0.1", listener.getsockname()[1], connections=1, size=64,
                          warmup=0, duration=0.3)
    finally:
        stop.set()
        t.join(10)
        listener.close()
    assert result.messages > 1000 and result.mismatches > 0


def test_percentiles_of_a_histogram() -> None:
    hist = ((10, 50), (1000, 49), (64000, 1))
    assert percentile_ns(hist, 50) == 10.5
    assert 1000 <= percentile_ns(hist, 99) < 1100
    assert percentile_ns(hist, 100) >= 64000
    assert percentile_ns((), 50) == 0.0
