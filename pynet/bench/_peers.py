"""Reference echo servers for the benchmark: asyncio's and uvloop's
protocol-based servers, the usual way to write a fast echo server in Python.

`python -m pynet.bench._peers --loop asyncio|uvloop [--proto tcp|udp] --port N`
prints the same startup line as pynet.echo and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, List, Optional, Tuple

__all__ = ["main"]


class _TcpEcho(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def _serve(proto: str, host: str, port: int, label: str) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    if proto == "tcp":
        server = await loop.create_server(_TcpEcho, host, port, backlog=511)
        bound = server.sockets[0].getsockname()
        closer: Any = server
    else:
        transport, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=(host, port))
        bound = transport.get_extra_info("sockname")
        closer = transport
    print(f"{proto} echo server ({label}) listening on {bound[0]} port {bound[1]}", flush=True)
    await stop
    closer.close()


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pynet.bench._peers")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), required=True)
    p.add_argument("--proto", choices=("tcp", "udp"), default="tcp")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    coro = _serve(args.proto, args.host, args.port, args.loop)
    if args.loop == "uvloop":
        import uvloop
        uvloop.run(coro)
    else:
        asyncio.run(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main())
