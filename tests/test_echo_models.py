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
    with pynet.echo.serve(port=0, model=model, poller=poller) as server:
        yield server


@pytest.fixture(params=UDP_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def udp_server(request: pytest.FixtureRequest) -> Iterator[pynet.echo.Server]:
    model, poller = request.param
    with pynet.echo.serve(port=0, proto="udp", model=model, poller=poller) as server:
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
        server = pynet.echo.serve("::1", 0, model="native")
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
    """Settings that cannot work raise EchoConfigError (also a ValueError,
    and an EchoError with the command's exit code), before anything binds."""
    for kwargs, words in (
            ({"proto": "udp", "model": "fork"}, "does not serve udp"),
            ({"model": "thread", "workers": 2}, "several workers need the native model"),
            ({"model": "native", "poller": "kqueue"}, "poller kqueue is not available"),
            ({"proto": "udp", "model": "native", "poller": "uring"},
             "poller uring serves TCP only"),
            ({"model": "select", "poller": "poll"}, "choosing a poller needs the native model"),
            ({"workers": 0}, "workers must be >= 1"),
            ({"backlog": 0}, "backlog must be >= 1"),
            ({"max_clients": 0}, "max_clients must be >= 1")):
        with pytest.raises(pynet.echo.EchoConfigError, match=words) as info:
            pynet.echo.serve(port=0, **kwargs)
        assert isinstance(info.value, ValueError) and isinstance(info.value, pynet.EchoError)
        assert info.value.exit_code == 2
    with pytest.raises(pynet.echo.EchoConfigError, match="port must be in 0..65535"):
        pynet.echo.serve(port=70000)
    with pytest.raises(TypeError, match="port must be an int"):
        pynet.echo.serve(port="80")  # type: ignore[arg-type]
    # The order before host and port came first: a protocol is not a host.
    with pytest.raises(pynet.echo.EchoConfigError, match="pass proto='udp'"):
        pynet.echo.serve("udp")
    with pynet.echo.serve(port=0, model="select") as server:
        with pytest.raises(pynet.echo.BindError, match="address already in use") as bind:
            pynet.echo.serve(port=server.address[1], model="select")
        assert isinstance(bind.value, OSError) and bind.value.exit_code == 2
        with pytest.raises(ValueError, match="timeout"):
            server.stop(timeout=-1)


def test_callable_module_and_options_keyword_only() -> None:
    """pynet.echo(...) is serve(...); host and port are the only positional
    parameters, every other option keyword-only."""
    import inspect

    import pynet as top

    params = inspect.signature(pynet.echo.serve).parameters
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == ["host", "port"]
    assert inspect.signature(pynet.echo).parameters == params
    assert inspect.signature(pynet.echo.open).parameters == params
    assert list(inspect.signature(pynet.echo.Server.stop).parameters) == ["self", "timeout"]
    assert inspect.signature(pynet.echo.Server.stop).parameters["timeout"].kind is \
        inspect.Parameter.KEYWORD_ONLY
    with top.echo("127.0.0.1", 0, model="thread") as server:
        assert server.config.model == "thread"
        assert exchange(server.address, b"call") == b"call"
    assert top.echo.BindError is top.BindError and top.echo.EchoError is top.EchoError
