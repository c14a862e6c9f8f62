"""The two traceroute loops agree: the same probe bytes for any
configuration (Hypothesis), and the same records, field for field but the
times, for a trace of every method through the same chain; and so do the
two loops that run many traces at once, trace for trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynet import _trace_loop as tl
from pynet.traceroute._engine import module
from trace_chain import Chain

HERE = Path(__file__).resolve().parent

# Through loop_config: the fields not drawn here keep their defaults (given
# the class itself, st.builds would draw every field from its type).
configs = st.builds(
    tl.loop_config,
    fd=st.just(-1), rfd=st.just(-1), family=st.sampled_from([4, 6]),
    method=st.sampled_from([tl.UDP, tl.UDP_FIXED, tl.ICMP, tl.TCP]), raw=st.booleans(),
    target=st.binary(min_size=16, max_size=16), source=st.binary(min_size=16, max_size=16),
    port=st.integers(1, 65535), sport=st.integers(1024, 65535), ident=st.integers(0, 65535),
    key=st.integers(0, 0xFFFFFFFF), classic=st.booleans(), first_ttl=st.integers(1, 30),
    max_ttl=st.just(255), queries=st.integers(1, 10), packet_len=st.integers(28, 1500))


@given(configs, st.integers(0, tl.MAX_PROBES - 1))
def test_probe_bytes(c_backend: ModuleType, py_backend: ModuleType, config: tl.LoopConfig,
                     index: int) -> None:
    ours = module("trace", "c").build_probe(config, index)
    theirs = module("trace", "python").build_probe(config, index)
    assert ours == theirs


@given(configs, st.integers(0, 200), st.integers(0, 200))
def test_paris_keeps_the_flow(c_backend: ModuleType, config: tl.LoopConfig, a: int,
                              b: int) -> None:
    """Paris mode: what a balancer hashes is the same for any two probes;
    the probe word differs."""
    build = module("trace", "c").build_probe
    config = config._replace(classic=False)
    pa, pb = build(config, a), build(config, b)
    if config.method == tl.TCP:
        assert pa[:4] == pb[:4]                               # ports
    elif config.method == tl.ICMP:
        assert pa[2:4] == pb[2:4] and pa[4:6] == pb[4:6]      # checksum, id
        assert (pa[6:8] == pb[6:8]) == (a == b)
    else:
        # UDP data: probe word and complement sum to 0xFFFF; the rest is equal.
        assert pa[4:] == pb[4:]
        assert (int.from_bytes(pa[0:2], "big") + int.from_bytes(pa[2:4], "big")) == 0xFFFF
        assert (pa[:2] == pb[:2]) == (a == b)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain(3)
    try:
        yield c
    finally:
        c.close()


def _records(chain: Chain, *args: str) -> Any:
    """tests/trace_records.py run in the chain's client namespace."""
    # HERE first; the rest of PYTHONPATH kept (the sanitizer run's build lives there).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([*chain.client.prefix(), sys.executable, str(HERE / "trace_records.py"),
                           *args], capture_output=True, text=True, timeout=120, env=env, cwd="/")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("classic", [False, True])
@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("method", ["udp", "udp-port", "icmp", "tcp"])
def test_records_agree_on_the_chain(chain: Chain, c_backend: ModuleType, method: str,
                                    family: int, classic: bool) -> None:
    target = chain.target4 if family == 4 else chain.target6
    result = _records(chain, method, str(family), target, "1" if classic else "0")
    c_rows, c_counters = result["c"]
    py_rows, py_counters = result["python"]
    assert c_counters == py_counters
    # An answer past the end may come first (the target answers every TTL
    # from 4 up); what counts is everything up to the end.
    c_rows = [r for r in c_rows if r[0] <= c_counters[4]]
    py_rows = [r for r in py_rows if r[0] <= py_counters[4]]
    assert c_rows == py_rows
    # 4 hops of 3 probes each, every one answered, the last by the target.
    assert [(r[0], r[1], r[2]) for r in c_rows] == [(t, q, tl.REPLY) for t in range(1, 5)
                                                   for q in range(3)]
    assert c_counters[4] == 4 and c_counters[5] is True


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("method", ["udp", "udp-port", "icmp", "tcp"])
def test_many_traces_agree_trace_for_trace(chain: Chain, c_backend: ModuleType, method: str,
                                           family: int) -> None:
    """Every hop of the chain and the target twice, 3 slots for 6 traces:
    each trace ends at its own hop, every probe answered, in both loops."""
    hops = chain.hops4 if family == 4 else chain.hops6
    targets = [*hops, hops[-1], hops[0]]
    result = _records(chain, method, str(family), ",".join(targets), "0", "3")
    assert len(result["c"]) == len(result["python"]) == len(targets)
    for target, (c_rows, c_counters), (py_rows, py_counters) in zip(
            targets, result["c"], result["python"]):
        end = hops.index(target) + 1
        assert c_counters == py_counters, target
        assert c_counters[3] == end and c_counters[4] is True, target   # final_ttl, done
        c_rows = [r for r in c_rows if r[0] <= end]
        py_rows = [r for r in py_rows if r[0] <= end]
        assert c_rows == py_rows, target
        assert [(r[0], r[1], r[2]) for r in c_rows] == [(t, q, tl.REPLY) for t in range(1, end + 1)
                                                       for q in range(3)], target
