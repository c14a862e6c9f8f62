"""The iterative TCP model, the course's first server: one client at a time,
served until it closes, then the next (the others wait in the backlog)."""

from __future__ import annotations

import selectors

from ._common import WAIT_S, Server, echo_stream

__all__ = ["serve_forever"]


def serve_forever(server: Server) -> None:
    listener = server.sockets[0]
    listener.setblocking(False)
    with selectors.DefaultSelector() as sel:
        sel.register(listener, selectors.EVENT_READ)
        sel.register(server.stop_fd, selectors.EVENT_READ)
        while not server.stopping:
            ready = sel.select(WAIT_S)
            if any(key.fileobj == server.stop_fd for key, _ in ready):
                return
            if not ready:
                continue
            accepted = server.accept(listener)
            if accepted is None:
                continue
            client, _ = accepted
            echo_stream(server, client)
            server.count("closed")
