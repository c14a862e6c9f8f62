"""The fork model reaps every child: no zombie after many short connections
(the course's one wait() per SIGCHLD loses children when signals merge)."""

from __future__ import annotations

import socket
import threading

from echo_helpers import EchoProcess, close_with_reset, exchange, wait_until

CONNECTIONS = 500


def test_no_zombie_after_many_short_connections() -> None:
    with EchoProcess("--model", "fork") as server:
        # Four clients at once, so that children often exit together (the
        # case where SIGCHLD signals merge).
        def client(k: int) -> None:
            for i in range(k, CONNECTIONS, 4):
                if i % 2:
                    assert exchange(server.address, b"x%d" % i) == b"x%d" % i
                else:
                    sock = socket.create_connection(server.address, timeout=30)
                    close_with_reset(sock)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert exchange(server.address, b"still serving") == b"still serving"
        assert wait_until(lambda: not server.children()), server.children()
        code, err = server.stop()
        assert code == 0, err


def test_stop_ends_children_serving_clients() -> None:
    with EchoProcess("--model", "fork") as server:
        held = [socket.create_connection(server.address, timeout=30) for _ in range(3)]
        for sock in held:
            sock.sendall(b"hi")
            assert sock.recv(2) == b"hi"
        assert len(server.children()) == 3
        code, err = server.stop()
        assert code == 0, err
        for sock in held:
            assert sock.recv(10) == b""  # the child went away with the server
            sock.close()
