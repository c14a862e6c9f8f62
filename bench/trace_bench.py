"""traceroute side by side, in one run, on a chain of namespaces built here:

1. N targets (default 1,000) behind 4 routers, all held by the target
   namespace (10.235.200.0/22 is local there): pynet's concurrent trace of
   all of them against Linux traceroute run one target after another, as
   one runs it in a shell inside the client namespace (every target, in
   one `ip netns exec`), and `mtr --report -c 1` run the same way on a
   sample (its wall time extrapolated to N, as stated). The hops traceroute
   and mtr find are checked against pynet's, target for target. Beside
   them, the floor: bench/trace_floor.c sends the same probes from C on
   every CPU and reads their answers, nothing else - the kernel's work,
   which no program on this machine can do in less time.
2. One trace through a chain whose second router stays silent: both wall
   times (traceroute waits for every `*`).

    sudo python bench/trace_bench.py [--targets N] [--sample K] [--mtr-sample M]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
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
    """Where pynet's time goes (median of RUNS each): the interpreter's
    start, the library call's wall time, and its CPU, user and kernel (every
    thread: sockets, probes, results), the part spent in the C loops too."""
    prefix = [*chain.client.prefix(), "env", f"PYNET_BACKEND={backend}", sys.executable]
    starts = [_timed([*prefix, "-c", "import pynet.traceroute"])[0] for _ in range(RUNS)]
    docs = [json.loads(_timed([*prefix, "-c", _ENGINE_CPU, path])[1]) for _ in range(RUNS)]
    assert all(d["reached"] == n for d in docs), docs
    engine = statistics.median(d["engine_cpu_s"] for d in docs)
    start = statistics.median(starts)
    kernel = statistics.median(d["sys_s"] for d in docs)
    return {"start_s": start, "engine_cpu_s": engine,
            "library_wall_s": statistics.median(d["library_wall_s"] for d in docs),
            "user_s": statistics.median(d["user_s"] for d in docs), "sys_s": kernel}


def _limit_lines(limit: Dict[str, float]) -> List[str]:
    return [
        f"  pynet's library call in the same namespace: {limit['library_wall_s']:.3f} s; "
        f"its CPU in every thread: user {limit['user_s']:.3f} s, kernel {limit['sys_s']:.3f} "
        f"s (in the C loops {limit['engine_cpu_s']:.3f} s); interpreter start "
        f"{limit['start_s']:.3f} s",
    ]


# Each target in turn, one process after another, in one shell inside the
# client namespace: how one runs traceroute over a list by hand.
_ONE_AFTER_ANOTHER = 'while read -r t; do "$@" "$t"; done < "$0"'


def _one_after_another(chain: Chain, path: str, program: Sequence[str]) -> List[str]:
    return [*chain.client.prefix(), "sh", "-c", _ONE_AFTER_ANOTHER, path, *program]


def _targets_file(targets: Sequence[str]) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(targets) + "\n")
    os.chmod(f.name, 0o644)
    return f.name


def _floor(chain: Chain, path: str) -> Dict[str, float]:
    """bench/trace_floor.c on every CPU, median of RUNS by wall time (empty
    without a C compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "trace_floor")
        subprocess.run([cc, "-O2", "-pthread", "-o", exe,
                        str(Path(__file__).resolve().parent / "trace_floor.c")], check=True)
        docs = [json.loads(_timed([*chain.client.prefix(), exe, path,
                                   str(os.cpu_count() or 1)])[1]) for _ in range(RUNS)]
    assert all(d["answered"] == d["sent"] for d in docs), docs
    middle: Dict[str, float] = sorted(docs, key=lambda d: float(d["wall_s"]))[len(docs) // 2]
    return middle


def many(n: int, sample: int, mtr_sample: int, backend: str) -> List[str]:
    chain = Chain(4, tag="b")
    paths: List[str] = []
    try:
        _hold_block(chain)
        targets = _targets(n)
        path = _targets_file(targets)
        step = max(1, n // sample)
        picked = targets[::step][:sample]
        mtr_picked = picked[:mtr_sample]
        paths += [path, _targets_file(picked), _targets_file(mtr_picked or targets[:1])]
        env_prefix = ["env", f"PYNET_BACKEND={backend}"]
        ours_cmd = [*chain.client.prefix(), *env_prefix, sys.executable, "-m",
                    "pynet.traceroute", "-n", "--targets", path]
        theirs_cmd = _one_after_another(chain, path, ["traceroute", "-n"])
        _timed(ours_cmd)    # warm: every node's neighbour entries, the page cache
        _timed(theirs_cmd)
        # Rounds interleaved (this machine's speed drifts by the minute):
        # pynet once, then traceroute over every target; each round's ratio
        # is its traceroute wall over its pynet wall.
        walls: List[float] = []
        tr_walls: List[float] = []
        for _ in range(RUNS):
            wall, ours_out = _timed(ours_cmd)
            walls.append(wall)
            tr_wall, theirs_out = _timed(theirs_cmd)
            tr_walls.append(tr_wall)
        ratios = [t / w for t, w in zip(tr_walls, walls)]
        ours_wall = statistics.median(walls)
        tr_wall = statistics.median(tr_walls)
        # The way this bench timed traceroute before: a namespace entry each.
        apart = 0.0
        for target in picked:
            apart += _timed([*chain.client.prefix(), "traceroute", "-n", target])[0]
        mtr_wall, mtr_out = (_timed(_one_after_another(chain, paths[2],
                                                       ["mtr", "--report", "-c", "1", "-n"]))
                             if mtr_picked else (0.0, ""))
        floor = _floor(chain, path)
        limit = _limit(chain, path, backend, n)
        ours = _blocks(ours_out)
        theirs = _blocks(theirs_out)
        assert len(ours) == n, f"pynet traced {len(ours)} of {n}"
        same = sum(1 for t in targets if theirs.get(t) == ours[t])
        mtr_reports = re.split(r"\n(?=Start: )", mtr_out.strip()) if mtr_out else []
        mtr_same = sum(1 for t, text in zip(mtr_picked, mtr_reports)
                       if _mtr_hops(text) == ours[t])
        expected = [(a,) for a in chain.hops4[:-1]]
        reached = sum(1 for t in targets if ours[t] == expected + [(t,)])
        ratio = statistics.median(ratios)
        lines = [
            f"{n} targets behind 4 routers (pynet backend {backend})",
            f"  pynet traceroute (concurrent)        {ours_wall:8.2f} s   "
            f"{reached}/{n} traced to the target through the 4 routers "
            f"(median of {RUNS}: {', '.join(f'{w:.2f}' for w in walls)})",
            f"  Linux traceroute, one after another  {tr_wall:8.2f} s   "
            f"(all {n}, in one shell in the namespace; median of {RUNS}: "
            f"{', '.join(f'{w:.2f}' for w in tr_walls)})   {ratio:5.1f}x pynet's time "
            f"(median of the rounds' ratios: {', '.join(f'{x:.1f}' for x in ratios)})",
        ]
        if mtr_picked:
            mtr_total = mtr_wall * n / len(mtr_picked)
            lines.append(
                f"  mtr --report -c 1, one after another {mtr_total:8.2f} s   (measured "
                f"{mtr_wall:.2f} s on {len(mtr_picked)} targets, x{n / len(mtr_picked):.0f})   "
                f"{mtr_total / ours_wall:.1f}x pynet's time")
        lines.append(f"  identical hops: pynet = traceroute on {same}/{n} targets" +
                     (f", = mtr on {mtr_same}/{len(mtr_picked)}" if mtr_picked else ""))
        if floor:
            lines.append(
                f"  the floor: the same {floor['sent']:.0f} probes sent and answered from C on "
                f"{os.cpu_count() or 1} CPUs (bench/trace_floor.c: no interpreter, no "
                f"results) {floor['wall_s']:.3f} s (kernel CPU {floor['sys_s']:.3f} s): "
                f"{tr_wall / floor['wall_s']:.1f}x traceroute's time at most, for any program "
                f"on this machine")
        lines += _limit_lines(limit)
        lines.append(
            f"  (each traceroute in an `ip netns exec` of its own, as this bench timed it "
            f"until 2026-12-07: {apart / len(picked) * 1e3:.1f} ms a target on "
            f"{len(picked)}, {apart / len(picked) * n:.2f} s for {n}; in one shell "
            f"{tr_wall / n * 1e3:.1f} ms)")
        return lines
    finally:
        for p in paths:
            os.unlink(p)
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
