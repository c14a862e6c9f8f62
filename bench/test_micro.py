"""Micro-benchmarks, every peer side by side in one run:

    pytest bench/test_micro.py

Groups: checksum at 64 B, 1500 B, 64 KiB, 1 MiB; echo build; echo parse.
Each timed call works through a batch of distinct inputs (as a tool does
with a stream of packets), so the benchmark harness's own per-call cost,
which would shrink every ratio of sub-microsecond functions, is spread over
the batch. Times are per batch; ratios are what to read. The summary at the
end prints each group's ratios to pynet-c and the goals.
"""

from __future__ import annotations

import os
from typing import Any, Callable, List

import peers
import pytest
from peers import _pynet_fields

CHECKSUM = peers.checksum_peers()
BUILD = peers.build_peers()
PARSE = peers.parse_peers()

# Inputs per timed call: about 64 KiB of data for the checksum groups.
BATCH = {"64B": 1024, "1500B": 64, "64KiB": 1, "1MiB": 1}
PACKETS = 1000


def each(fn: Callable[[Any], Any], inputs: List[Any]) -> Callable[[], None]:
    def run() -> None:
        for item in inputs:
            fn(item)
    return run


@pytest.mark.parametrize("size", list(peers.SIZES))
@pytest.mark.parametrize("peer", list(CHECKSUM))
def test_checksum(benchmark: Any, peer: str, size: str) -> None:
    buffers = [os.urandom(peers.SIZES[size]) for _ in range(BATCH[size])]
    benchmark.group = f"checksum {size}"
    benchmark.extra_info["peer"] = peer
    fn = CHECKSUM[peer]
    if peer != "pynet-c" and peers.SIZES[size] >= 1 << 16:
        benchmark.pedantic(each(fn, buffers), rounds=20, iterations=1)
    else:
        benchmark(each(fn, buffers))
    for data in buffers[:8]:
        want = CHECKSUM["pynet-c"](data)
        if peer == "ping3":
            want = ((want & 0xFF) << 8) | (want >> 8)
        assert fn(data) == want


@pytest.mark.parametrize("peer", list(BUILD))
def test_echo_build(benchmark: Any, peer: str) -> None:
    benchmark.group = "echo build"
    benchmark.extra_info["peer"] = peer
    benchmark(each(BUILD[peer], list(range(PACKETS))))
    for seq in (0, 1, 0xFFFF):
        assert BUILD[peer](seq) == BUILD["pynet-c"](seq)


@pytest.mark.parametrize("peer", list(PARSE))
def test_echo_parse(benchmark: Any, peer: str) -> None:
    benchmark.group = "echo parse"
    benchmark.extra_info["peer"] = peer
    run, fields = PARSE[peer]
    benchmark(each(run, [peers.reply(seq) for seq in range(PACKETS)]))
    for seq in (0, 1, 0xFFFF):
        got = fields(run(peers.reply(seq)))
        want = _pynet_fields(PARSE["pynet-c"][0](peers.reply(seq)))
        assert [g for g in got if g is not None] == [w for w, g in zip(want, got) if g is not None]
