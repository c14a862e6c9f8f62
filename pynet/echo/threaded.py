"""The thread model: a thread per client, never more than the bound
(``max_clients``, default 256). At the bound, new connections wait in the
backlog until a client leaves; the thread count never exceeds it."""

from __future__ import annotations

import selectors
import socket
import threading
from typing import List

from ._common import WAIT_S, Server, echo_stream

__all__ = ["serve_forever"]


def serve_forever(server: Server) -> None:
    listener = server.sockets[0]
    listener.setblocking(False)
    slots = threading.BoundedSemaphore(server.config.client_bound)
    threads: List[threading.Thread] = []

    def serve_client(client: socket.socket) -> None:
        try:
            echo_stream(server, client)
            server.count("closed")
        finally:
            slots.release()

    with selectors.DefaultSelector() as sel:
        sel.register(listener, selectors.EVENT_READ)
        sel.register(server.stop_fd, selectors.EVENT_READ)
        try:
            while not server.stopping:
                # A free slot first, so that a thread can be started for the
                # connection about to be accepted.
                if not slots.acquire(timeout=WAIT_S):
                    continue
                ready = sel.select(WAIT_S)
                accepted = None
                if ready and not any(key.fileobj == server.stop_fd for key, _ in ready):
                    accepted = server.accept(listener)
                if accepted is None:
                    slots.release()
                    continue
                client, peer = accepted
                thread = threading.Thread(target=serve_client, args=(client,), daemon=True,
                                          name=f"pynet-echo-client-{peer[1]}")
                thread.start()
                threads = [t for t in threads if t.is_alive()]
                threads.append(thread)
        finally:
            server.stop_soon()  # shuts the clients down: their threads end
            for thread in threads:
                thread.join(WAIT_S * 5)
