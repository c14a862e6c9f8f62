"""Every echo model echoes exactly: several clients at once, messages from
1 byte to 1 MiB, over TCP and UDP, the native loop over each poller."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Tuple

import pytest
from support import need

import pynet.echo
from echo_helpers import TCP_MODELS, exchange, need_poller, payload, udp_exchange

SIZES = (1, 2, 1000, 65536 + 7, 1 << 20)
CLIENTS = 4

# (model, poller): the native loop runs over both pollers Linux has, and
# over io_uring (TCP only).
TCP_CASES = [(m, "auto") for m in TCP_MODELS if m != "native"] + [
    ("native", "epoll"), ("native", "poll"), ("native", "uring")]
UDP_CASES = [("iterative", "auto"), ("native", "epoll"), ("native", "poll")]


@pytest.fixture(params=TCP_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def tcp_server(request: pytest.FixtureRequest) -> Iterator[pynet.echo.Server]:
    model, poller = request.param
    need_poller(poller)
    with pynet.echo.serve("tcp", model, port=0, poller=poller) as server:
        yield server


@pytest.fixture(params=UDP_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def udp_server(request: pytest.FixtureRequest) -> Iterator[pynet.echo.Server]:
    model, poller = request.param
    with pynet.echo.serve("udp", model, port=0, poller=poller) as server:
        yield server


def test_tcp_echo_exact(tcp_server: pynet.echo.Server) -> None:
    jobs = [(size, seed) for size in SIZES for seed in range(CLIENTS)]

    def one(job: Tuple[int, int]) -> bool:
        size, seed = job
        data = payload(size, seed)
        return exchange(tcp_server.address, data) == data

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, jobs))
    assert all(results), [job for job, ok in zip(jobs, results) if not ok]


def test_tcp_conversation(tcp_server: pynet.echo.Server) -> None:
    """Many exchanges on one connection, each answered before the next."""
    with socket.create_connection(tcp_server.address, timeout=30) as sock:
        for i in range(50):
            data = payload(1 + i * 37, i)
            sock.sendall(data)
            got = b""
            while len(got) < len(data):
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection"
                got += chunk
            assert got == data


def test_udp_echo_exact(udp_server: pynet.echo.Server) -> None:
    sizes = (1, 64, 1472, 9000, 65507)

    def one(seed: int) -> bool:
        datagrams = [payload(size, seed) for size in sizes]
        return udp_exchange(udp_server.address, datagrams) == datagrams

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert all(pool.map(one, range(CLIENTS)))


def test_ipv6_loopback() -> None:
    need(socket.has_ipv6, "this Python was built without IPv6")
    try:
        server = pynet.echo.serve(model="native", host="::1", port=0)
    except pynet.echo.BindError as exc:
        need(False, f"no IPv6 loopback here: {exc}")
        raise
    with server:
        assert server.address[0] == "::1"
        assert exchange(server.address, b"over six") == b"over six"


def test_handle_reports_and_frees() -> None:
    server = pynet.echo.serve(model="native", port=0)
    assert repr(server).startswith("<pynet echo tcp native on 127.0.0.1 port ")
    assert exchange(server.address, b"abc") == b"abc"
    server.stop()
    assert server.stats["accepted"] == 1 and server.stats["bytes"] == 3
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=5)


def test_api_errors() -> None:
    with pytest.raises(ValueError, match="does not serve udp"):
        pynet.echo.serve("udp", "fork", port=0)
    with pytest.raises(ValueError, match="several workers need the native model"):
        pynet.echo.serve(model="thread", workers=2, port=0)
    with pytest.raises(ValueError, match="not available"):
        pynet.echo.serve(model="native", poller="kqueue", port=0)
    with pytest.raises(ValueError, match="poller uring serves TCP only"):
        pynet.echo.serve("udp", "native", poller="uring", port=0)
    with pynet.echo.serve(model="select", port=0) as server:
        with pytest.raises(pynet.echo.BindError, match="address already in use") as info:
            pynet.echo.serve(model="select", port=server.address[1])
        assert info.value.exit_code == 2
