"""Flood ping on loopback, every peer side by side in one run:

    cd bench && ../.venv/bin/python -m pytest test_ping.py

Each row sends COUNT echo requests to 127.0.0.1, one after the other (the
next as soon as the last is answered), and must get every reply back:

  pynet-c        pynet.ping(count=COUNT, interval=0): the C loop (csrc/ping.c)
  pynet-python   the same call on the pure-Python loop
  pynet-cli      `python -m pynet.ping -f -q -c COUNT`, interpreter start-up included
  iputils        `ping -f -q -c COUNT 127.0.0.1` (needs root, as -f does)
  icmplib        icmplib.ping(count=COUNT, interval=0, privileged=True), sequential

fping is left out: it paces each target at 10 ms or more, so it measures
its pacing, not its speed. The summary (bench/conftest.py) prints each
row's time relative to pynet-c and the goals: pynet-c at least 1.0x
iputils' rate and 15x icmplib's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict

import pytest

import pynet

COUNT = 20000
HOST = "127.0.0.1"
ROUNDS = 5
GROUP = f"ping flood {COUNT}"


def _counts(text: str) -> int:
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    assert m, text
    return int(m.group(2))


def _process(args: list) -> Callable[[], int]:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYNET_BACKEND")}

    def run() -> int:
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd,
                                  env=env)
        assert done.returncode == 0, done.stderr
        return _counts(done.stdout)
    return run


def peers() -> Dict[str, Callable[[], int]]:
    if os.geteuid() != 0:
        return {}
    if pynet.backend != "c":
        raise RuntimeError("benchmarks need the C backend live (unset PYNET_BACKEND)")
    rows: Dict[str, Callable[[], int]] = {
        "pynet-c": lambda: pynet.ping(HOST, count=COUNT, interval=0, timeout=1).received,
        "pynet-python": lambda: pynet.ping(HOST, count=COUNT, interval=0, timeout=1,
                                           backend="python").received,
        "pynet-cli": _process([sys.executable, "-m", "pynet.ping", "-f", "-q", "-c", str(COUNT),
                               HOST]),
    }
    iputils = shutil.which("ping")
    if iputils:
        rows["iputils"] = _process([iputils, "-f", "-q", "-c", str(COUNT), HOST])
    try:
        import icmplib

        def with_icmplib() -> int:
            host: Any = icmplib.ping(HOST, count=COUNT, interval=0, timeout=1, privileged=True)
            return int(host.packets_received)
        rows["icmplib"] = with_icmplib
    except ImportError:
        pass
    return rows


PEERS = peers()


@pytest.mark.skipif(not PEERS, reason="flood ping needs root")
@pytest.mark.parametrize("peer", list(PEERS))
def test_flood(benchmark: Any, peer: str) -> None:
    benchmark.group = GROUP
    benchmark.extra_info["peer"] = peer
    run = PEERS[peer]
    received = benchmark.pedantic(run, rounds=2 if peer == "icmplib" else ROUNDS,
                                  iterations=1, warmup_rounds=0)
    assert received == COUNT
