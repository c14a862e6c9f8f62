"""traceroute side by side, in one run, on a chain of namespaces built here:

1. N targets (default 1,000) behind 4 routers, all held by the target
   namespace (10.235.200.0/22 is local there): pynet's concurrent trace of
   all of them against Linux traceroute run one target after another and
   `mtr --report -c 1` run the same way. The two peers are timed on a
   sample of targets and their wall time extrapolated to N (stated in the
   table); the hops they find are checked against pynet's, target for
   target.
2. One trace through a chain whose second router stays silent: both wall
   times (traceroute waits for every `*`).

    sudo python bench/trace_bench.py [--targets N] [--sample K]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from trace_chain import Chain  # noqa: E402
from trace_lines import hops  # noqa: E402

BLOCK = ipaddress.ip_network("10.235.200.0/22")


def _targets(n: int) -> List[str]:
    return [str(a) for a, _ in zip(BLOCK.hosts(), range(n))]


def _hold_block(chain: Chain) -> None:
    """The target namespace answers for the whole block; every node routes it on."""
    chain.target.ip("route", "add", "local", str(BLOCK), "dev", "lo")
    for node, link in zip(chain.chain[:-1], chain.link_of):
        node.ip("route", "add", str(BLOCK), "via", f"10.235.{link}.2")


def _timed(cmd: Sequence[str]) -> Tuple[float, str]:
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd="/")
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[3:6]} failed: {done.stderr}")
    return wall, done.stdout


def _blocks(text: str) -> Dict[str, List[Tuple[str, ...]]]:
    out = {}
    for block in re.split(r"\n(?=traceroute to )", text.rstrip("\n")):
        target = block.split()[2]
        out[target] = [h[1] for h in hops(block + "\n")]
    return out


def _mtr_hops(text: str) -> List[Tuple[str, ...]]:
    return [(line.split()[1],) for line in text.splitlines() if "|--" in line]


RUNS = 3
# In the client namespace: traceroute_many in-process, the CPU time its loop
# threads spend in Many.run (the probes' kernel work: forwarding through the
# chain, the routers' ICMP, our sockets; and the C loop) summed over threads.
_ENGINE_CPU = """
import json, resource, sys, threading, time
from pynet import _backend
from pynet.traceroute import _engine, traceroute_many
cls = _engine.module("trace", None).Many
spent, lock, run = [0.0], threading.Lock(), cls.run
def timed(self, flush):
    t = time.thread_time()
    try:
        return run(self, flush)
    finally:
        with lock:
            spent[0] += time.thread_time() - t
cls.run = timed
targets = open(sys.argv[1]).read().split()
before = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
results = traceroute_many(targets)
wall = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"engine_cpu_s": spent[0], "library_wall_s": wall,
                  "user_s": after.ru_utime - before.ru_utime,
                  "sys_s": after.ru_stime - before.ru_stime,
                  "reached": sum(r.reached for r in results)}))
"""


def _limit(chain: Chain, path: str, backend: str, n: int) -> Dict[str, float]:
    """What the kernel leaves: the probes' CPU time spread over every CPU,
    plus the interpreter's start (median of RUNS each); and the whole
    call's CPU, user and kernel (every thread: sockets, probes, results),
    whose kernel share alone spread over every CPU is a floor no user-space
    work can lower."""
    prefix = [*chain.client.prefix(), "env", f"PYNET_BACKEND={backend}", sys.executable]
    starts = [_timed([*prefix, "-c", "import pynet.traceroute"])[0] for _ in range(RUNS)]
    docs = [json.loads(_timed([*prefix, "-c", _ENGINE_CPU, path])[1]) for _ in range(RUNS)]
    assert all(d["reached"] == n for d in docs), docs
    cpus = os.cpu_count() or 1
    engine = statistics.median(d["engine_cpu_s"] for d in docs)
    start = statistics.median(starts)
    kernel = statistics.median(d["sys_s"] for d in docs)
    return {"start_s": start, "engine_cpu_s": engine, "cpus": cpus,
            "library_wall_s": statistics.median(d["library_wall_s"] for d in docs),
            "user_s": statistics.median(d["user_s"] for d in docs), "sys_s": kernel,
            "floor_s": start + engine / cpus, "kernel_floor_s": start + kernel / cpus}


def _limit_lines(limit: Dict[str, float], traceroute_s: float, n: int) -> List[str]:
    return [
        f"  the limit: the probes' CPU in the loops {limit['engine_cpu_s']:.3f} s "
        f"({limit['engine_cpu_s'] / n * 1e6:.0f} us a trace) over {limit['cpus']:.0f} CPUs"
        f" + interpreter start {limit['start_s']:.3f} s = {limit['floor_s']:.3f} s at best: "
        f"{traceroute_s / limit['floor_s']:.1f}x traceroute's time at most "
        f"(library call alone: {limit['library_wall_s']:.3f} s)",
        f"  the call's CPU in all threads: user {limit['user_s']:.3f} s, kernel "
        f"{limit['sys_s']:.3f} s; the kernel's alone over {limit['cpus']:.0f} CPUs + start = "
        f"{limit['kernel_floor_s']:.3f} s: {traceroute_s / limit['kernel_floor_s']:.1f}x "
        f"traceroute's time if user space cost nothing; with it "
        f"({(limit['user_s'] + limit['sys_s']) / limit['cpus'] + limit['start_s']:.3f} s) "
        f"{traceroute_s / ((limit['user_s'] + limit['sys_s']) / limit['cpus'] + limit['start_s']):.1f}x",
    ]


def many(n: int, sample: int, mtr_sample: int, backend: str) -> List[str]:
    chain = Chain(4, tag="b")
    try:
        _hold_block(chain)
        targets = _targets(n)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(targets) + "\n")
        os.chmod(f.name, 0o644)
        env_prefix = ["env", f"PYNET_BACKEND={backend}"]
        ours_cmd = [*chain.client.prefix(), *env_prefix, sys.executable, "-m",
                    "pynet.traceroute", "-n", "--targets", f.name]
        _timed(ours_cmd)    # warm: every node's neighbour entries, the page cache
        step = max(1, n // sample)
        picked = targets[::step][:sample]
        # Rounds interleaved (this machine's speed drifts by the minute):
        # pynet once, then a share of the sampled traceroute runs; each
        # round's ratio is its traceroute mean x n over its pynet wall.
        walls: List[float] = []
        ratios: List[float] = []
        tr_wall = 0.0
        mtr_wall = 0.0
        same = 0
        theirs_all: Dict[str, List[Tuple[str, ...]]] = {}
        for r in range(RUNS):
            wall, ours_out = _timed(ours_cmd)
            walls.append(wall)
            share = picked[r::RUNS]
            spent = 0.0
            for target in share:
                t_wall, out = _timed([*chain.client.prefix(), "traceroute", "-n", target])
                spent += t_wall
                theirs_all[target] = _blocks(out)[target]
            tr_wall += spent
            if share:
                ratios.append(spent / len(share) * n / wall)
        ours_wall = statistics.median(walls)
        limit = _limit(chain, f.name, backend, n)
        os.unlink(f.name)
        ours = _blocks(ours_out)
        assert len(ours) == n, f"pynet traced {len(ours)} of {n}"
        for i, target in enumerate(picked):
            mtr_same = True
            if i < mtr_sample:
                wall, out = _timed([*chain.client.prefix(), "mtr", "--report", "-c", "1", "-n",
                                    target])
                mtr_wall += wall
                mtr_same = _mtr_hops(out) == ours[target]
            if theirs_all[target] == ours[target] and mtr_same:
                same += 1
        scale = n / len(picked)
        mtr_scale = n / min(mtr_sample, len(picked))
        expected = [(a,) for a in chain.hops4[:-1]]
        reached = sum(1 for t in targets if ours[t] == expected + [(t,)])
        ratio = statistics.median(ratios)
        return [
            f"{n} targets behind 4 routers (pynet backend {backend})",
            f"  pynet traceroute (concurrent)       {ours_wall:8.2f} s   "
            f"{reached}/{n} traced to the target through the 4 routers "
            f"(median of {RUNS}: {', '.join(f'{w:.2f}' for w in walls)})",
            f"  Linux traceroute, one after another {tr_wall * scale:8.2f} s   "
            f"(measured {tr_wall:.2f} s on {len(picked)} targets, x{scale:.0f})   "
            f"{ratio:6.1f}x pynet's time (median of the {RUNS} interleaved rounds' ratios: "
            f"{', '.join(f'{x:.1f}' for x in ratios)})",
            f"  mtr --report -c 1, one after another {mtr_wall * mtr_scale:7.2f} s   "
            f"(measured {mtr_wall:.2f} s on {min(mtr_sample, len(picked))} targets, "
            f"x{mtr_scale:.0f})   {mtr_wall * mtr_scale / ours_wall:6.1f}x pynet's time",
            f"  identical hops (pynet = traceroute [= mtr on the first {mtr_sample}]) on "
            f"{same}/{len(picked)} sampled targets",
            *_limit_lines(limit, tr_wall * scale, n),
        ]
    finally:
        chain.close()


def silent(backend: str) -> List[str]:
    chain = Chain(4, tag="s")
    try:
        chain.nodes["r2"].nft(
            "table inet pynet_silent {\n chain out {\n"
            "  type filter hook output priority 0; policy accept;\n"
            "  icmp type time-exceeded drop\n }\n}\n")
        ours_wall, ours_out = _timed([*chain.client.prefix(), "env", f"PYNET_BACKEND={backend}",
                                      sys.executable, "-m", "pynet.traceroute", "-n",
                                      chain.target4])
        tr_wall, tr_out = _timed([*chain.client.prefix(), "traceroute", "-n", chain.target4])
        same = _blocks(ours_out) == _blocks(tr_out)
        return [
            "one trace, 4 routers, the second silent (default waits: 5 s; traceroute 5,3,10)",
            f"  pynet traceroute  {ours_wall:6.2f} s",
            f"  Linux traceroute  {tr_wall:6.2f} s   {tr_wall / ours_wall:5.1f}x pynet's time",
            f"  identical hops: {same}",
        ]
    finally:
        chain.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--targets", type=int, default=1000)
    p.add_argument("--sample", type=int, default=20, help="traceroute runs timed")
    p.add_argument("--mtr-sample", type=int, default=5, help="mtr runs timed")
    p.add_argument("--backend", default="c", choices=("c", "python"))
    o = p.parse_args()
    print(f"$ {' '.join(sys.argv)}")
    for line in many(o.targets, o.sample, o.mtr_sample, o.backend):
        print(line, flush=True)
    for line in silent(o.backend):
        print(line, flush=True)


if __name__ == "__main__":
    main()
