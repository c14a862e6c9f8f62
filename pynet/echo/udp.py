"""The Python UDP model: recvfrom and sendto on one socket, serving every
client at once (datagrams carry their sender's address). The socket is
non-blocking and drained in bursts; the wait for more has a deadline."""

from __future__ import annotations

import selectors

from ._common import WAIT_S, Server

__all__ = ["serve_forever"]

BURST = 64
DATAGRAM_MAX = 65535


def serve_forever(server: Server) -> None:
    sock = server.sockets[0]
    sock.setblocking(False)
    recvfrom, sendto = sock.recvfrom, sock.sendto
    datagrams = dropped = 0
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        sel.register(server.stop_fd, selectors.EVENT_READ)
        try:
            while not server.stopping:
                ready = sel.select(WAIT_S)
                if any(key.fileobj == server.stop_fd for key, _ in ready):
                    return
                for _ in range(BURST):
                    try:
                        data, peer = recvfrom(DATAGRAM_MAX)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        continue  # an ICMP error reported on the socket
                    try:
                        sendto(data, peer)
                        datagrams += 1
                    except OSError:
                        dropped += 1  # full send buffer or unreachable: UDP may lose it
        finally:
            server.count("datagrams", datagrams)
            server.count("dropped", dropped)
