"""`pynet bench fleet`: pynet's fleet engine beside fping and icmplib, in one
run, on loopback (every address of 127.0.0.0/8 answers on Linux).

Cases: a /16 one ping each (pynet fleet.sweep vs `fping -i 0 -r 0 -t 500`,
interleaved rounds, with the limit the kernel's work sets on 2x fping);
a /12 (1,048,574 hosts: pynet's done time and peak RSS, fping's refusal);
1,000 concurrent asyncio pings (pynet Pinger vs fping on the same hosts vs
icmplib's async_multiping); `-l` over many hosts at 1 probe/s each (CPU per
probe and the RTT reported). Each measurement runs in its own process, so
peak RSS and CPU are that run's alone. --quick shrinks every case.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

from .._cli import ArgumentParser
from ._report import write_json

__all__ = ["Row", "main"]


@dataclass
class Row:
    case: str
    peer: str
    hosts: int
    answered: int
    wall_s: float
    hosts_per_s: float
    peak_rss_mib: float
    cpu_us_per_probe: float = 0.0
    rtt_avg_ms: float = 0.0
    note: str = ""


# What a pynet child process runs; it prints one JSON object.
_SWEEP = """
import json, resource, sys, time
from pynet import fleet
t = time.perf_counter()
n = answered = 0
for r in fleet.sweep(sys.argv[1], keep_replies=False, timeout=float(sys.argv[2])):
    n += 1
    answered += r.received > 0
wall = time.perf_counter() - t
print(json.dumps({"hosts": n, "answered": answered, "wall_s": wall,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# `pynet fping` in-process with the time its lanes spend in the engine
# (sendmmsg, recvmmsg and the kernel's echo work under them, the C matching)
# summed: what no amount of Python work saved can take away.
_ENGINE_CPU = """
import json, os, sys, threading, time
from pynet._backend import module
from pynet.fping import main
engine = module("fleet")
spent, lock, run = [0.0], threading.Lock(), engine.Engine.run_raw
def timed(self, until_ns, flush_ns):
    t = time.thread_time()
    try:
        return run(self, until_ns, flush_ns)
    finally:
        with lock:
            spent[0] += time.thread_time() - t
engine.Engine.run_raw = timed
out, sys.stdout = sys.stdout, open(os.devnull, "w")
rc = main(sys.argv[1:])
sys.stdout.close()
sys.stdout = out
print(json.dumps({"engine_cpu_s": spent[0], "rc": rc}))
"""

_ASYNC = """
import asyncio, json, resource, sys, time
from pynet import fleet
hosts = sys.argv[1].split(",")
async def go():
    # "loop-driven": the engine stepped on the loop's thread (threaded=False),
    # as the Pinger ran before its server thread; else the default.
    threaded = False if sys.argv[2] == "loop-driven" else None
    async with fleet.Pinger(timeout=1.0, threaded=threaded) as p:
        t = time.perf_counter()
        rs = await asyncio.gather(*(p.ping(h) for h in hosts))
        return time.perf_counter() - t, sum(r.received > 0 for r in rs)
if sys.argv[2] == "uvloop":
    import uvloop
    wall, answered = uvloop.run(go())
else:
    wall, answered = asyncio.run(go())
print(json.dumps({"hosts": len(hosts), "answered": answered, "wall_s": wall,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# asyncio's own share of the case: as many tasks, each awaiting a future,
# all resolved in one callback (what any asyncio program of this shape
# pays before it sends a packet), with pynet imported as the case has it.
_FLOOR = """
import asyncio, json, resource, sys, time
from pynet import fleet
hosts = sys.argv[1].split(",")
async def go():
    loop = asyncio.get_running_loop()
    futures = []
    def resolve():
        for f in futures:
            f.set_result(1)
    async def one(host):
        f = loop.create_future()
        futures.append(f)
        if len(futures) == 1:
            loop.call_soon(resolve)
        return await f
    t = time.perf_counter()
    await asyncio.gather(*(one(h) for h in hosts))
    return time.perf_counter() - t
wall = asyncio.run(go())
print(json.dumps({"hosts": len(hosts), "answered": 0, "wall_s": wall,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

_ICMPLIB = """
import asyncio, json, resource, sys, time
from icmplib import async_multiping
hosts = sys.argv[1].split(",")
t = time.perf_counter()
rs = asyncio.run(async_multiping(hosts, count=1, interval=0, timeout=1, concurrent_tasks=len(hosts),
                                 privileged=True))
wall = time.perf_counter() - t
print(json.dumps({"hosts": len(hosts), "answered": sum(r.is_alive for r in rs), "wall_s": wall,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _child(code: str, *args: str, timeout: float = 300) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                           else f"exit {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _row(case: str, peer: str, doc: Dict[str, Any], note: str = "") -> Row:
    wall = doc["wall_s"]
    return Row(case, peer, doc["hosts"], doc["answered"], wall,
               doc["hosts"] / wall if wall else 0.0, doc["rss_kib"] / 1024.0, note=note)


def _fping() -> Optional[str]:
    return shutil.which("fping")


# Runs a peer and reports its wall time, exit code, output lines and peak
# RSS alone (RUSAGE_CHILDREN of a fresh process has only that peer in it).
_WRAP = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "rc": done.returncode,
                  "lines": len(done.stdout.splitlines()), "err": done.stderr.strip()[:200],
                  "rss_kib": used.ru_maxrss, "cpu_s": used.ru_utime + used.ru_stime}))
"""


def _timed(cmd: Sequence[str], timeout: float = 300) -> Dict[str, Any]:
    return _child(_WRAP, *cmd, timeout=timeout)


def fping_hosts(case: str, cmd: List[str], hosts: int, ours: bool = False) -> Row:
    """fping itself, or (ours) `pynet fping` with the same arguments: both
    timed as whole processes, start-up included."""
    fping = _fping()
    peer = "pynet fping (process)" if ours else "fping"
    if fping is None and not ours:
        return Row(case, peer, hosts, 0, 0, 0, 0, note="fping is not installed")
    prefix = [sys.executable, "-m", "pynet.fping"] if ours else [str(fping)]
    doc = _timed([*prefix, *cmd])
    wall, rss = doc["wall_s"], doc["rss_kib"] / 1024.0
    if doc["rc"] not in (0, 1):
        note = f"exit {doc['rc']}: {doc['err'].splitlines()[0][:100]}" if doc["err"] \
            else f"exit {doc['rc']}"
        return Row(case, peer, hosts, 0, wall, 0.0, rss, note=note)
    return Row(case, peer, hosts, doc["lines"], wall, hosts / wall, rss,
               cpu_us_per_probe=doc["cpu_s"] / hosts * 1e6)


SWEEP_PEERS = ("pynet fleet.sweep", "pynet fping (process)", "fping")
LIMIT = "the limit (engine CPU / CPUs + fixed cost)"


def sweep_case(case: str, net: str, hosts: int, rounds: int = 1,
               limit: bool = False) -> List[Row]:
    """Each peer once a round, rounds interleaved, each peer's median shown.
    With limit: the least wall `pynet fping` could take on this machine,
    its lanes' engine time spread over every CPU plus a one-host run (the
    interpreter's start, the imports, the exit), as the median of rounds."""
    args = ["-i", "0", "-r", "0", "-t", "500", "-a", "-g", net]
    runs: Dict[str, List[Row]] = {peer: [] for peer in SWEEP_PEERS}
    floors: List[Row] = []
    for _ in range(rounds):
        try:
            runs["pynet fleet.sweep"].append(_row(case, "pynet fleet.sweep",
                                                  _child(_SWEEP, net, "0.5")))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            runs["pynet fleet.sweep"].append(Row(case, "pynet fleet.sweep", hosts, 0, 0, 0, 0,
                                                 note=str(exc)[:90]))
        runs["pynet fping (process)"].append(fping_hosts(case, args, hosts, ours=True))
        runs["fping"].append(fping_hosts(case, args, hosts))
        if limit:
            floors.append(_limit_row(case, args, hosts))
    rows = _medians(runs, rounds > 1)
    if floors:
        rows.append(_medians({LIMIT: floors}, False)[0])
    return rows


def _limit_row(case: str, args: List[str], hosts: int) -> Row:
    cpus = os.cpu_count() or 1
    try:
        engine = _child(_ENGINE_CPU, *args)["engine_cpu_s"]
        fixed = _timed([sys.executable, "-m", "pynet.fping", "-q", "127.0.0.1"])["wall_s"]
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return Row(case, LIMIT, hosts, 0, 0, 0, 0, note=str(exc)[:90])
    floor = fixed + engine / cpus
    return Row(case, LIMIT, hosts, hosts, floor, hosts / floor, 0.0,
               cpu_us_per_probe=engine / hosts * 1e6,
               note=f"{engine:.3f} s in the engine over {cpus} CPUs + a one-host run "
                    f"{fixed:.3f} s")


def _medians(runs: Dict[str, List[Row]], say: bool) -> List[Row]:
    """Each peer's median row (of those that ran), in runs' order; say: the
    note tells how many rounds and each one's wall."""
    rows = []
    for peer, tried in runs.items():
        done = sorted((r for r in tried if r.wall_s), key=lambda r: r.wall_s)
        if not done:
            rows.append(tried[0])
            continue
        row = done[(len(done) - 1) // 2]
        if say:
            walls = ", ".join(f"{r.wall_s * 1000:.1f}" for r in tried)
            row.note = (f"median of {len(done)} interleaved rounds (ms: {walls})"
                        + (f"; {row.note}" if row.note else ""))
        rows.append(row)
    return rows


ASYNC_PEERS = ("pynet Pinger (async)", "pynet Pinger (async, uvloop)",
               "pynet Pinger (async, loop-driven)", "fping",
               "asyncio alone (the floor)", "icmplib async_multiping")


def async_case(case: str, n: int, rounds: int) -> List[Row]:
    """Every peer once a round, rounds interleaved (this machine's speed
    drifts by the minute): each peer's row is its median round."""
    hosts = [f"127.12.{i // 250}.{i % 250 + 1}" for i in range(n)]
    joined = ",".join(hosts)
    runs: Dict[str, List[Row]] = {peer: [] for peer in ASYNC_PEERS}
    children = {"pynet Pinger (async)": (_ASYNC, joined, "asyncio"),
                "pynet Pinger (async, uvloop)": (_ASYNC, joined, "uvloop"),
                "pynet Pinger (async, loop-driven)": (_ASYNC, joined, "loop-driven"),
                "asyncio alone (the floor)": (_FLOOR, joined),
                "icmplib async_multiping": (_ICMPLIB, joined)}
    for _ in range(rounds):
        for peer in ASYNC_PEERS:
            if peer == "fping":
                runs[peer].append(fping_hosts(case, ["-i", "0", "-r", "0", "-t", "500", "-a",
                                                     *hosts], n))
                continue
            try:
                runs[peer].append(_row(case, peer, _child(*children[peer])))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                runs[peer].append(Row(case, peer, n, 0, 0, 0, 0, note=str(exc)[:90]))
    return _medians(runs, True)


_SUMMARY = re.compile(r"^\S+ +: xmt/rcv/%loss = (\d+)/(\d+)/\d+%(?:, min/avg/max = "
                      r"[\d.]+/([\d.]+)/[\d.]+)?$")


def loop_case(case: str, first: str, last: str, hosts: int, seconds: float) -> List[Row]:
    rows = []
    peers = [("pynet fping -l", [sys.executable, "-m", "pynet.fping"])]
    fping = _fping()
    if fping:
        peers.append(("fping -l", [fping]))
    for peer, prefix in peers:
        # -Q past the run: no line per probe (-l -q prints them, as fping
        # does), the summaries at Ctrl-C.
        cmd = [*prefix, "-l", "-Q", str(int(seconds) + 60), "-p", "1000", "-i", "0", "-g",
               first, last]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        # From "/": `python -m` puts the working directory first on sys.path,
        # and a source tree there (no compiled module) would be measured.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd="/")
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        sent = received = 0
        rtt_sum = 0.0
        for line in err.splitlines():
            m = _SUMMARY.match(line)
            if m:
                sent += int(m.group(1))
                received += int(m.group(2))
                if m.group(3):
                    rtt_sum += float(m.group(3)) * int(m.group(2))
        others = [line for line in err.splitlines() if line.strip() and not _SUMMARY.match(line)]
        why = others[0][:100] if others else ""
        note = "" if sent else f"no summary (exit {proc.returncode}) {why}".strip()
        if proc.returncode not in (0, 1) and sent:
            # Ended before its time (fping: its 16-bit sequence map runs out).
            note = f"exit {proc.returncode} after {wall:.1f} s: {why}".strip()
        rows.append(Row(case, peer, hosts, received, wall, sent / wall if wall else 0.0,
                        0.0,
                        cpu_us_per_probe=cpu / sent * 1e6 if sent else 0.0,
                        rtt_avg_ms=rtt_sum / received if received else 0.0, note=note))
    return rows


def goals(rows: Sequence[Row]) -> List[str]:
    def find(case: str, peer: str) -> Optional[Row]:
        return next((r for r in rows if r.case == case and r.peer.startswith(peer)), None)

    out = []
    for case in [r.case for r in rows if r.peer == "pynet fleet.sweep"]:
        ours, theirs = find(case, "pynet fleet"), find(case, "fping")
        if ours and theirs and theirs.hosts_per_s and ours.hosts_per_s:
            for mine in (ours, find(case, "pynet fping")):
                if mine is None or not mine.hosts_per_s:
                    continue
                ratio = mine.hosts_per_s / theirs.hosts_per_s
                lost = mine.hosts - mine.answered
                out.append(f"- {case}, {mine.peer}: pynet / fping = {ratio:.2f}x hosts/s "
                           f"(goal >= 2x), {lost} unanswered: "
                           f"{'met' if ratio >= 2 and not lost else 'MISSED'}")
            floor = find(case, "the limit")
            if floor and floor.hosts_per_s:
                out.append(f"- {case}, the limit: at best {floor.wall_s:.3f} s "
                           f"({floor.note}): at most "
                           f"{floor.hosts_per_s / theirs.hosts_per_s:.2f}x fping's hosts/s; "
                           f"fping spends {theirs.cpu_us_per_probe:.2f} us of CPU a probe, "
                           f"pynet's engine {floor.cpu_us_per_probe:.2f} us")
        elif ours and ours.wall_s:
            out.append(f"- {case}: pynet done in {ours.wall_s:.2f} s (goal <= 10 s), "
                       f"{ours.hosts - ours.answered} unanswered, peak RSS "
                       f"{ours.peak_rss_mib:.0f} MiB: "
                       f"{'met' if ours.wall_s <= 10 and ours.answered == ours.hosts else 'MISSED'}")
    for r in rows:
        if r.peer.startswith("pynet Pinger"):
            fp, ic = find(r.case, "fping"), find(r.case, "icmplib")
            floor = find(r.case, "asyncio alone")
            if fp and fp.wall_s and r.wall_s:
                out.append(f"- {r.case}, {r.peer}: pynet wall / fping wall = "
                           f"{r.wall_s / fp.wall_s:.2f}x (goal <= 2x): "
                           f"{'met' if r.wall_s <= 2 * fp.wall_s else 'MISSED'}"
                           + (f"; asyncio alone takes {floor.wall_s / fp.wall_s:.2f}x fping's wall"
                              if floor and floor.wall_s and "uvloop" not in r.peer else ""))
            if ic and ic.wall_s and r.wall_s:
                out.append(f"- {r.case}, {r.peer}: icmplib wall / pynet wall = {ic.wall_s / r.wall_s:.1f}x "
                           f"(goal >= 10x): {'met' if ic.wall_s >= 10 * r.wall_s else 'MISSED'}")
    return out


def markdown(rows: Sequence[Row], command: str) -> str:
    lines = ["## pynet bench fleet", "", f"`{command}`, loopback, every peer in the same run.", "",
             "| case | peer | hosts | answered | wall s | hosts/s (probes/s for -l) "
             "| peak RSS MiB | CPU µs/probe | RTT avg ms | note |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.case} | {r.peer} | {r.hosts:,} | {r.answered:,} | {r.wall_s:.3f} "
                     f"| {r.hosts_per_s:,.0f} | {r.peak_rss_mib:,.1f} "
                     f"| {r.cpu_us_per_probe:.2f} | {r.rtt_avg_ms:.3f} | {r.note} |")
    lines += ["", "Goals (same run):", *goals(rows)]
    return "\n".join(lines)


def chart(path: str, rows: Sequence[Row]) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no chart: matplotlib is not installed (pip install 'pynet[bench]')"
    cases: Dict[str, List[Row]] = {}
    for r in rows:
        cases.setdefault(r.case, []).append(r)
    fig, axes = plt.subplots(len(cases), 1, figsize=(7, 1.8 * len(cases)), squeeze=False)
    for ax, (case, group) in zip(axes.flat, cases.items()):
        names = [r.peer for r in group]
        values = [r.wall_s for r in group]
        ax.barh(names, values, color=["#d62728" if n.startswith("pynet") else "#7f7f7f"
                                      for n in names])
        for i, r in enumerate(group):
            ax.text(r.wall_s, i, f" {r.wall_s:.2f} s {r.note[:40]}", va="center", fontsize=7)
        ax.set_title(case, fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[-1].set_xlabel("wall seconds (less is better)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ""


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog="pynet bench fleet", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small cases, a few seconds in all")
    p.add_argument("--async-rounds", type=int, default=9,
                   help="interleaved rounds of the asyncio case (each peer's median is shown)")
    p.add_argument("--sweep-rounds", type=int, default=5,
                   help="interleaved rounds of the /16 case (each peer's median is shown)")
    p.add_argument("--loop-seconds", type=float, default=None, help="length of the -l case")
    p.add_argument("--json", default="fleet-bench.json", help="where to write the results")
    p.add_argument("--chart", default="fleet-bench.png", help="where to draw the chart ('' none)")
    return p


def main(argv: List[str]) -> int:
    a = _parser().parse_args(argv)
    rows: List[Row] = []
    if a.quick:
        rows += sweep_case("1,022 hosts (127.9.0.0/22)", "127.9.0.0/22", 1022, 3, limit=True)
        rows += sweep_case("16,382 hosts (127.16.0.0/18)", "127.16.0.0/18", 16382)
        rows += async_case("100 concurrent asyncio pings", 100, 3)
        rows += loop_case("-l, 200 hosts, 1 probe/s each", "127.13.0.1", "127.13.0.200", 200,
                          a.loop_seconds or 2.5)
    else:
        rows += sweep_case("65,534 hosts (127.9.0.0/16)", "127.9.0.0/16", 65534,
                           a.sweep_rounds, limit=True)
        rows += sweep_case("1,048,574 hosts (127.16.0.0/12)", "127.16.0.0/12", 1048574)
        rows += async_case("1,000 concurrent asyncio pings", 1000, a.async_rounds)
        rows += loop_case("-l, 10,000 hosts, 1 probe/s each", "127.13.0.1", "127.13.39.16",
                          10000, a.loop_seconds or 30.0)
    command = "pynet bench fleet" + (" --quick" if a.quick else "")
    print(markdown(rows, command))
    if a.json:
        write_json(a.json, {"command": command, "rows": [asdict(r) for r in rows],
                            "goals": goals(rows)})
    if a.chart:
        why = chart(a.chart, rows)
        if why:
            print(why, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
