"""The select model: one thread serves every client through readiness
notification (selectors: epoll, kqueue or poll). The course's threads plus
select, without the second thread: accepting is one more readable socket.

Each client is Reading or Writing, like the native loop: what the kernel did
not take at once is kept and the client is not read from until it drains, so
a client that sends without reading costs the server at most one read."""

from __future__ import annotations

import selectors
import socket
from typing import Dict, Optional

from ._common import READ_SIZE, WAIT_S, Server

__all__ = ["serve_forever"]

ACCEPT_BURST = 64


class _Client:
    __slots__ = ("sock", "pending")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending: Optional[memoryview] = None


def serve_forever(server: Server) -> None:
    listener = server.sockets[0]
    listener.setblocking(False)
    bound = server.config.client_bound
    clients: Dict[int, _Client] = {}
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(server.stop_fd, selectors.EVENT_READ)
    listening = True

    def close(client: _Client, reset: bool) -> None:
        nonlocal listening
        sel.unregister(client.sock)
        del clients[client.sock.fileno()]
        client.sock.close()
        server.count("closed")
        if reset:
            server.count("resets")
        if not listening and not server.stopping:
            sel.register(listener, selectors.EVENT_READ)
            listening = True

    def accept() -> None:
        nonlocal listening
        for _ in range(ACCEPT_BURST):
            if bound and len(clients) >= bound:
                sel.unregister(listener)  # the rest wait in the backlog
                listening = False
                return
            accepted = server.accept(listener)
            if accepted is None:
                return
            sock, _ = accepted
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            clients[sock.fileno()] = _Client(sock)
            sel.register(sock, selectors.EVENT_READ)

    def readable(client: _Client) -> None:
        try:
            data = client.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            close(client, True)
            return
        if not data:
            close(client, False)  # all of it was echoed already
            return
        server.count("bytes", len(data))
        try:
            sent = client.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            close(client, True)
            return
        if sent < len(data):
            client.pending = memoryview(data)[sent:]
            sel.modify(client.sock, selectors.EVENT_WRITE)
            server.count("stalls")

    def writable(client: _Client) -> None:
        assert client.pending is not None
        try:
            sent = client.sock.send(client.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            close(client, True)
            return
        client.pending = client.pending[sent:] if sent < len(client.pending) else None
        if client.pending is None:
            sel.modify(client.sock, selectors.EVENT_READ)

    try:
        while not server.stopping:
            for key, _ in sel.select(WAIT_S):
                obj = key.fileobj
                if obj == server.stop_fd:
                    return
                if obj is listener:
                    accept()
                    continue
                client = clients.get(key.fd)
                if client is None:
                    continue  # closed earlier in this round
                if client.pending is not None:
                    writable(client)
                else:
                    readable(client)
    finally:
        for client in list(clients.values()):
            client.sock.close()
        clients.clear()
        sel.close()
