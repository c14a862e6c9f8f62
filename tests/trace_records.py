"""Run inside the client namespace: one trace per backend over fresh
sockets with the same key, the records printed as JSON (times left out),
for the record-for-record test of the two loops.

    python trace_records.py METHOD FAMILY TARGET CLASSIC
"""

from __future__ import annotations

import json
import socket
import sys

from pynet import _backend
from pynet import _trace_loop as tl
from pynet.traceroute._engine import DEFAULT_PACKET_LEN, DEFAULT_PORT, METHOD_NAMES, module
from pynet.traceroute._socket import open_sockets

KEY = 0x5EED1234


def records(backend: str, method: int, family: int, target: str, classic: bool) -> list:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    socks = open_sockets(af, target, 0, method)
    try:
        config = tl.LoopConfig(
            fd=socks.fd.fileno(),
            rfd=(socks.rfd.fileno() if socks.rfd is not None
                 else socks.fd.fileno() if socks.raw else -1),
            family=family, method=method, raw=socks.raw,
            target=socket.inet_pton(af, target).ljust(16, b"\0"),
            source=socket.inet_pton(af, socks.source).ljust(16, b"\0"),
            port=DEFAULT_PORT[method], sport=socks.sport, ident=socks.ident, key=KEY,
            classic=classic, max_ttl=8, packet_len=DEFAULT_PACKET_LEN[family],
            wait_ns=2_000_000_000)
        loop = module("trace", backend).Loop(config)
        out = []
        while True:
            out.extend(loop.records(loop.run(100_000_000)))
            if loop.counters().done:
                break
        counters = loop.counters()
        loop.close()
    finally:
        socks.close()
    rows = []
    for (ttl, probe, kind, flags, icmp_type, code, _rtt, reply_ttl, info, _when, ext_len,
         sender, ext) in out:
        rows.append([ttl, probe, kind, flags, icmp_type, code, reply_ttl, info, ext_len,
                     sender.hex(), ext.hex()])
    rows.sort()
    return [rows, list(counters)]


def main() -> None:
    method, family, target, classic = (METHOD_NAMES[sys.argv[1]], int(sys.argv[2]), sys.argv[3],
                                       sys.argv[4] == "1")
    print(json.dumps({b: records(b, method, family, target, classic)
                      for b in _backend.BACKENDS}))


if __name__ == "__main__":
    main()
