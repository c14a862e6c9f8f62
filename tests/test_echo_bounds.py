"""Bounds the single-threaded models keep: --max-clients (the rest wait in
the backlog, and are served as others leave), and running out of file
descriptors (accepting pauses instead of spinning, and resumes)."""

from __future__ import annotations

import os
import select
import socket
import time

import pytest
from support import program

from echo_helpers import EchoProcess, exchange, need_poller


def _answered(sock: socket.socket, timeout: float) -> bool:
    ready, _, _ = select.select([sock], [], [], timeout)
    return bool(ready) and sock.recv(100) == b"ping"


@pytest.mark.parametrize("model, poller", [("select", "auto"), ("native", "epoll"),
                                           ("native", "uring")])
def test_max_clients(model: str, poller: str) -> None:
    need_poller(poller)
    with EchoProcess("--model", model, "--poller", poller, "--max-clients", "2") as server:
        socks = [socket.create_connection(server.address, timeout=30) for _ in range(4)]
        for s in socks:
            s.sendall(b"ping")
        assert _answered(socks[0], 30) and _answered(socks[1], 30)
        # The other two wait in the backlog while the bound is full.
        ready, _, _ = select.select(socks[2:], [], [], 0.3)
        assert ready == []
        socks[0].close()
        socks[1].close()
        assert _answered(socks[2], 30) and _answered(socks[3], 30)
        for s in socks[2:]:
            s.close()
        code, err = server.stop()
        assert code == 0, err


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("poller", ("epoll", "uring"))
def test_out_of_descriptors_pauses_accepting(poller: str) -> None:
    """With 64 descriptors, clients beyond them wait; the loop does not spin
    on the listener meanwhile (it stops accepting for 100 ms at a time),
    and serves them once others leave."""
    need_poller(poller)
    prlimit = program("prlimit")
    with EchoProcess("--model", "native", "--poller", poller,
                     prefix=[prlimit, "--nofile=64:64", "--"]) as server:
        socks = [socket.create_connection(server.address, timeout=30) for _ in range(80)]
        for s in socks:
            s.sendall(b"ping")
        # Collect answers until none has come for half a second.
        waiting, served = set(socks), set()
        while waiting:
            ready, _, _ = select.select(list(waiting), [], [], 0.5)
            if not ready:
                break
            for s in ready:
                assert s.recv(100) == b"ping"
                waiting.discard(s)
                served.add(s)
        assert 40 <= len(served) < 80
        answered = [s in served for s in socks]
        # Half a second with connections pending and no descriptor free:
        # a loop spinning on the listener would burn most of it.
        before, start = _cpu_s(server.pid), time.monotonic()
        select.select([], [], [], 0.5)
        used = _cpu_s(server.pid) - before
        assert used < 0.25 * (time.monotonic() - start), f"{used:.2f} s of CPU while waiting"
        for s, ok in zip(socks, answered):
            if ok:
                s.close()
        for s, ok in zip(socks, answered):
            if not ok:
                assert _answered(s, 30), "a waiting client was never served"
                s.close()
        assert exchange(server.address, b"after") == b"after"
        code, err = server.stop()
        assert code == 0, err
