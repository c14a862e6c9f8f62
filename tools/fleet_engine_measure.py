#!/usr/bin/env python3
"""Measure the fleet engine alone (no pynet.fleet API on top) against fping,
same run, on loopback (root: raw sockets, as fping). Not a test: it prints
a table and a JSON line.

    sudo .venv/bin/python tools/fleet_engine_measure.py [--rounds 5]

Rows: 65,534 hosts (127.9.0.0/16), one probe each, interval 0: the C engine
(time from the first send to the last DONE record, and the whole process
including Python's start) against `fping -i 0 -r 0 -t 500 -g 127.9.0.0/16 -q`
(the whole process, as a user sees it); rounds interleaved, medians. Then
1,048,574 hosts (127.16.0.0/12): done time, peak RSS, bytes per target after
add() and after the run; and fping's answer to the same range.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List

PY = sys.executable


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(cidr: str, backend: str) -> Dict[str, Any]:
    """One sweep in this process; what the parent prints."""
    import ipaddress

    from pynet import _backend
    from pynet._fleet_engine import EngineConfig
    from pynet.fleet._socket import open_sockets
    import importlib

    net = ipaddress.ip_network(cidr)
    first = int(net.network_address) + 1
    n = net.num_addresses - 2
    packed = array.array("I", range(first, first + n))
    if sys.byteorder == "little":
        packed.byteswap()   # network order, without a Python object per address
    addresses = packed.tobytes()
    del packed
    engine_cls = importlib.import_module(f"{_backend.load(backend).__name__}.fleet").Engine
    socks = open_sockets([4])
    config = EngineConfig(fd4=socks.fd4, raw4=socks.raw4, ident=socks.ident, key=os.urandom(8),
                          timeout_ns=500_000_000, batch=8192)
    engine = engine_cls(config)
    before = rss()
    engine.add(4, addresses)
    added = rss()
    start = time.monotonic()
    records = 0
    while not engine.counters().done:
        records += len(engine.run_raw(0, 100_000_000)) // 96 if backend == "c" \
            else len(engine.run(0, 100_000_000))
    elapsed = time.monotonic() - start
    after = rss()
    c = engine.counters()
    return {"hosts": n, "elapsed_s": elapsed, "received": c.received, "sent": c.sent,
            "kernel_drops": c.kernel_drops, "foreign": c.foreign, "records": records,
            "bytes_per_target_added": (added - before) / n,
            "bytes_per_target_after": (after - before) / n,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(cidr: str, backend: str = "c") -> Dict[str, Any]:
    start = time.monotonic()
    done = subprocess.run([PY, __file__, "--child", cidr, backend], capture_output=True,
                          text=True, check=True, cwd="/")
    out: Dict[str, Any] = json.loads(done.stdout)
    out["process_s"] = time.monotonic() - start
    return out


def run_fping(cidr: str) -> Dict[str, Any]:
    start = time.monotonic()
    done = subprocess.run(["fping", "-i", "0", "-r", "0", "-t", "500", "-g", cidr, "-q", "-s"],
                          capture_output=True, text=True)
    elapsed = time.monotonic() - start
    alive = next((int(line.split()[0]) for line in done.stderr.splitlines()
                  if line.strip().endswith("alive")), -1)
    return {"process_s": elapsed, "alive": alive, "exit": done.returncode,
            "first_line": (done.stderr.strip().splitlines() or [""])[0]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    small = "127.9.0.0/16"
    ours: List[Dict[str, Any]] = []
    theirs: List[Dict[str, Any]] = []
    for _ in range(args.rounds):
        ours.append(run_child(small))
        theirs.append(run_fping(small))
    n = ours[0]["hosts"]
    engine_s = statistics.median(r["elapsed_s"] for r in ours)
    process_s = statistics.median(r["process_s"] for r in ours)
    fping_s = statistics.median(r["process_s"] for r in theirs)
    print(f"65,534 hosts, {args.rounds} rounds interleaved, medians")
    print(f"  C engine, sweep only  {engine_s:7.3f} s  {n / engine_s:9.0f} hosts/s  "
          f"{n / engine_s / (n / fping_s):5.2f}x fping  received "
          f"{min(r['received'] for r in ours)}..{max(r['received'] for r in ours)} of {n}")
    print(f"  C engine, whole proc  {process_s:7.3f} s  {n / process_s:9.0f} hosts/s  "
          f"{fping_s / process_s:5.2f}x fping")
    print(f"  fping 5.1             {fping_s:7.3f} s  {n / fping_s:9.0f} hosts/s  alive "
          f"{min(r['alive'] for r in theirs)}..{max(r['alive'] for r in theirs)}")
    big = "127.16.0.0/12"
    one = run_child(big)
    fping_big = run_fping(big)
    print(f"1,048,574 hosts: sweep {one['elapsed_s']:.2f} s, process {one['process_s']:.2f} s, "
          f"received {one['received']}, peak RSS {one['peak_rss_mib']:.0f} MiB, "
          f"{one['bytes_per_target_added']:.1f} B/target after add, "
          f"{one['bytes_per_target_after']:.1f} after the run")
    print(f"  fping: exit {fping_big['exit']}: {fping_big['first_line']}")
    print(json.dumps({"small": {"ours": ours, "fping": theirs}, "big": one,
                      "fping_big": fping_big}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
