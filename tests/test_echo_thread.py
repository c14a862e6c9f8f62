"""The thread model never runs more client threads than its bound; the
connections over the bound wait in the backlog and are served in turn."""

from __future__ import annotations

import select
import socket

from echo_helpers import EchoProcess

BOUND = 4
CLIENTS = 10


def _echoes(sock: socket.socket, data: bytes, timeout: float) -> bool:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return False
        chunk = sock.recv(4096)
        if not chunk:
            return False
        got += chunk
    return got == data


def test_thread_bound() -> None:
    with EchoProcess("--model", "thread", "--max-clients", str(BOUND)) as server:
        base = server.threads()
        assert base == 1
        socks = [socket.create_connection(server.address, timeout=30) for _ in range(CLIENTS)]
        try:
            served = [s for s in socks[:BOUND] if _echoes(s, b"first", 30)]
            assert len(served) == BOUND
            assert server.threads() <= BOUND + 1
            # The rest wait: their bytes stay unanswered while the bound is full.
            waiting = socks[BOUND:]
            for s in waiting:
                s.sendall(b"queued")
            ready, _, _ = select.select(waiting, [], [], 0.3)
            assert ready == []
            assert server.threads() <= BOUND + 1
            # As clients leave, the waiting ones are served, never more at once.
            for s in served:
                s.close()
            for s in waiting:
                got = b""
                while len(got) < len(b"queued"):
                    ready, _, _ = select.select([s], [], [], 30)
                    assert ready, "a queued client was never served"
                    got += s.recv(100)
                assert got == b"queued"
                assert server.threads() <= BOUND + 1
                s.close()  # frees a slot for the next one
        finally:
            for s in socks:
                s.close()
        code, err = server.stop()
        assert code == 0, err
