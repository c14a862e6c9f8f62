"""The native loop under pressure: a client that does not read, abrupt
resets, 10,000 connections held at once and no descriptor leaked after
them, clean stops on signals, several workers."""

from __future__ import annotations

import hashlib
import resource
import select
import signal
import socket

import pytest

from echo_helpers import EchoProcess, close_with_reset, exchange, need_poller, payload, wait_until

MIB = 1 << 20


@pytest.mark.parametrize("poller", ("epoll", "uring"))
def test_slow_reader_bounds_memory(poller: str) -> None:
    """50 MiB sent without reading: the server holds at most a read's worth
    or two for this client (it stops reading until its output drains), and
    the client gets every byte once it reads."""
    need_poller(poller)
    total = 50 * MIB
    block = payload(MIB, 5)
    with EchoProcess("--model", "native", "--poller", poller) as server:
        assert exchange(server.address, b"warm") == b"warm"
        base = server.rss_kib()
        sock = socket.create_connection(server.address, timeout=30)
        sock.setblocking(False)
        sent = 0
        # Send until the path is full: nothing more accepted for a while.
        while sent < total:
            _, writable, _ = select.select([], [sock], [], 0.5)
            if not writable:
                break
            try:
                sent += sock.send(block[sent % MIB:])
            except BlockingIOError:
                continue
        assert 0 < sent < total, "the server kept reading from a client that does not read"
        grown = server.rss_kib() - base
        assert grown < 8 * 1024, f"server memory grew by {grown} KiB for one stalled client"
        # Now read everything while sending the rest.
        want = hashlib.sha256()
        for off in range(0, total, MIB):
            want.update(block)
        got = hashlib.sha256()
        received = 0
        while received < total:
            wlist = [sock] if sent < total else []
            readable, writable, _ = select.select([sock], wlist, [], 30)
            assert readable or writable, "stalled"
            if writable:
                try:
                    sent += sock.send(block[sent % MIB:][:total - sent])
                except BlockingIOError:
                    pass
            if readable:
                chunk = sock.recv(4 * MIB)
                assert chunk, "the server closed the connection"
                got.update(chunk)
                received += len(chunk)
        sock.close()
        assert received == total and got.hexdigest() == want.hexdigest()
        assert server.rss_kib() - base < 16 * 1024
        code, err = server.stop()
        assert code == 0, err


@pytest.mark.parametrize("poller", ("epoll", "uring"))
def test_resets_leave_the_server_serving(poller: str) -> None:
    need_poller(poller)
    with EchoProcess("--model", "native", "--poller", poller) as server:
        assert exchange(server.address, b"warm") == b"warm"  # the loop runs: its poller is open
        base = server.fds()
        for i in range(200):
            sock = socket.create_connection(server.address, timeout=30)
            if i % 3 == 0:
                sock.sendall(payload(100_000, i))  # reset with data in flight both ways
            elif i % 3 == 1:
                sock.sendall(b"x")
                assert sock.recv(1) == b"x"
            close_with_reset(sock)
        assert exchange(server.address, payload(300_000)) == payload(300_000)
        assert wait_until(lambda: server.fds() == base), (server.fds(), base)
        code, err = server.stop()
        assert code == 0, err


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.fail(f"this test needs {need} descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


@pytest.mark.parametrize("poller", ("epoll", "poll", "uring"))
def test_ten_thousand_connections_then_no_fd_leak(poller: str) -> None:
    """10,000 connections at once, each served (a byte echoed); then all of
    them closed (most with a reset): the server is back to its descriptors."""
    need_poller(poller)
    count = 10_000
    _raise_fd_limit(count + 1024)
    with EchoProcess("--model", "native", "--poller", poller, "--backlog", "4096") as server:
        assert exchange(server.address, b"warm") == b"warm"  # the loop runs: its poller is open
        base_fds = server.fds()
        base_rss = server.rss_kib()
        socks = []
        try:
            for start in range(0, count, 500):
                group = [socket.create_connection(server.address, timeout=30)
                         for _ in range(500)]
                socks.extend(group)
                for s in group:
                    s.sendall(b"i")
                for s in group:
                    assert s.recv(1) == b"i"
            assert server.fds() >= base_fds + count
            per_connection = (server.rss_kib() - base_rss) * 1024 / count
            assert per_connection < 2048, f"{per_connection:.0f} bytes of RSS per idle connection"
        finally:
            for i, s in enumerate(socks):
                if i % 10 == 0:
                    s.close()  # graceful
                else:
                    close_with_reset(s)
        assert wait_until(lambda: server.fds() == base_fds), (server.fds(), base_fds)
        assert exchange(server.address, b"after") == b"after"
        code, err = server.stop()
        assert code == 0, err


@pytest.mark.parametrize("poller", ("epoll", "uring"))
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signals_stop_cleanly_with_clients(sig: int, code: int, poller: str) -> None:
    need_poller(poller)
    with EchoProcess("--model", "native", "--workers", "2", "--poller", poller, "-v") as server:
        assert "2 workers" in server.line
        held = [socket.create_connection(server.address, timeout=30) for _ in range(20)]
        for s in held:
            s.sendall(b"q")
            assert s.recv(1) == b"q"
        got_code, err = server.stop(sig)
        assert got_code == code, err
        assert "Traceback" not in err and "stopped: " in err
        for s in held:
            assert s.recv(1) == b""  # closed by the loop on its way out
            s.close()


@pytest.mark.parametrize("poller", ("epoll", "uring"))
def test_workers_share_the_port(poller: str) -> None:
    need_poller(poller)
    with EchoProcess("--model", "native", "--workers", "2", "--poller", poller) as server:
        assert wait_until(lambda: server.threads() >= 2)  # a loop per worker
        for i in range(40):
            assert exchange(server.address, payload(1000, i)) == payload(1000, i)
        code, err = server.stop()
        assert code == 0, err
