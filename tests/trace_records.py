"""Run inside the client namespace: one trace per backend over fresh
sockets with the same key, the records printed as JSON (times left out),
for the record-for-record test of the two loops.

    python trace_records.py METHOD FAMILY TARGET CLASSIC
    python trace_records.py METHOD FAMILY TARGET,TARGET,... CLASSIC SLOTS

The second form runs every target through each backend's Many loop with
SLOTS slots (fewer than targets, so slots are used again), and prints each
trace's records with the counters but `unmatched` (traces over raw sockets
see each other's answers, as many as happen to arrive while they run).
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Dict, List, Tuple

from pynet import _backend
from pynet import _trace_loop as tl
from pynet.traceroute._engine import DEFAULT_PACKET_LEN, DEFAULT_PORT, METHOD_NAMES, module
from pynet.traceroute._socket import Sockets, open_sockets

KEY = 0x5EED1234


def _config(socks: Sockets, method: int, family: int, target: str,
            classic: bool) -> tl.LoopConfig:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    return tl.LoopConfig(
        fd=socks.fd.fileno(),
        rfd=(socks.rfd.fileno() if socks.rfd is not None
             else socks.fd.fileno() if socks.raw else -1),
        family=family, method=method, raw=socks.raw,
        target=socket.inet_pton(af, target).ljust(16, b"\0"),
        source=socket.inet_pton(af, socks.source).ljust(16, b"\0"),
        port=DEFAULT_PORT[method], sport=socks.sport, ident=socks.ident, key=KEY,
        classic=classic, max_ttl=8, packet_len=DEFAULT_PACKET_LEN[family],
        wait_ns=2_000_000_000)


def _rows(out: List[tl.Record]) -> list:
    rows = []
    for (ttl, probe, kind, flags, icmp_type, code, _rtt, reply_ttl, info, _when, ext_len,
         sender, ext) in out:
        rows.append([ttl, probe, kind, flags, icmp_type, code, reply_ttl, info, ext_len,
                     sender.hex(), ext.hex()])
    rows.sort()
    return rows


def records(backend: str, method: int, family: int, target: str, classic: bool) -> list:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    socks = open_sockets(af, target, 0, method)
    try:
        config = _config(socks, method, family, target, classic)
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
    return [_rows(out), list(counters)]


def many(backend: str, method: int, family: int, targets: List[str], classic: bool,
         slots: int) -> list:
    """Every target through one Many loop, `slots` at a time, a slot taken
    again as soon as its trace is done."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    loop = module("trace", backend).Many(slots)
    waiting = list(enumerate(targets))[::-1]
    running: Dict[int, Tuple[int, Sockets]] = {}
    out: Dict[int, List[tl.Record]] = {i: [] for i in range(len(targets))}
    counters: Dict[int, list] = {}
    try:
        while waiting or running:
            for slot in range(slots):
                if slot not in running and waiting:
                    index, target = waiting.pop()
                    socks = open_sockets(af, target, 0, method)
                    loop.start(slot, _config(socks, method, family, target, classic))
                    running[slot] = (index, socks)
            for slot, record in loop.records(loop.run(100_000_000)):
                out[running[slot][0]].append(record)
            for slot in list(running):
                got = loop.counters(slot)
                if got.done:
                    index, socks = running.pop(slot)
                    loop.release(slot)
                    socks.close()
                    counters[index] = [c for f, c in zip(got._fields, got) if f != "unmatched"]
    finally:
        for _index, socks in running.values():
            socks.close()
        loop.close()
    return [[_rows(out[i]), counters[i]] for i in range(len(targets))]


def main() -> None:
    method, family, target, classic = (METHOD_NAMES[sys.argv[1]], int(sys.argv[2]), sys.argv[3],
                                       sys.argv[4] == "1")
    if len(sys.argv) > 5:
        print(json.dumps({b: many(b, method, family, target.split(","), classic,
                                  int(sys.argv[5]))
                          for b in _backend.BACKENDS}))
        return
    print(json.dumps({b: records(b, method, family, target, classic)
                      for b in _backend.BACKENDS}))


if __name__ == "__main__":
    main()
