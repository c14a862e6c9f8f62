"""Benchmark summary: per group, how many times faster pynet-c is than each
row (median against median, same run), and the goals from the issues."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

# (group, peer): the least factor by which pynet-c must beat that peer.
GOALS = {
    ("checksum 64KiB", "scapy"): 150.0,
    ("checksum 64B", "ping3"): 4.0,
    ("echo build", "dpkt"): 5.0,
    ("echo parse", "dpkt"): 5.0,
    # issue 3: flood ping on loopback (bench/test_ping.py)
    ("ping flood 20000", "iputils"): 1.0,
    ("ping flood 20000", "icmplib"): 15.0,
}
# The pure-Python reference: at most this much slower than the fastest pure-Python peer.
PYTHON_PEERS = ("scapy", "dpkt", "ping3", "icmplib")
PYTHON_GOAL = 2.0


def _medians(session: pytest.Session) -> Dict[str, Dict[str, float]]:
    bs = getattr(session.config, "_benchmarksession", None)
    groups: Dict[str, Dict[str, float]] = {}
    if bs is None:
        return groups
    for bench in bs.benchmarks:
        peer = bench.extra_info.get("peer")
        if peer is None or not bench.stats:
            continue
        groups.setdefault(bench.group, {})[peer] = bench.stats.median
    return groups


def pytest_terminal_summary(terminalreporter: Any) -> None:
    groups = _medians(terminalreporter._session)
    if not groups:
        return
    lines: List[str] = ["", "pynet-c speed-up (median time of the row / median time of pynet-c):"]
    for group in sorted(groups):
        times = groups[group]
        if "pynet-c" not in times:
            continue
        base = times["pynet-c"]
        row = ", ".join(f"{peer} {t / base:.1f}x" for peer, t in sorted(times.items(), key=lambda kv: kv[1])
                        if peer != "pynet-c")
        lines.append(f"  {group:16s} pynet-c {base * 1e6:.3f} us; {row}")
    lines.append("goals:")
    for (group, peer), goal in GOALS.items():
        times = groups.get(group, {})
        if peer in times and "pynet-c" in times:
            ratio = times[peer] / times["pynet-c"]
            verdict = "met" if ratio >= goal else "MISSED"
            lines.append(f"  {group}: pynet-c vs {peer} {ratio:.1f}x (goal {goal:g}x) {verdict}")
    for group in sorted(groups):
        times = groups[group]
        pure = [times[p] for p in PYTHON_PEERS if p in times]
        if "pynet-python" in times and pure:
            ratio = times["pynet-python"] / min(pure)
            verdict = "met" if ratio <= PYTHON_GOAL else "MISSED"
            lines.append(f"  {group}: pynet-python vs fastest pure-Python peer: "
                         f"{ratio:.2f}x its time (goal <= {PYTHON_GOAL:g}x) {verdict}")
    terminalreporter.write_line("\n".join(lines))
