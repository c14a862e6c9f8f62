"""fping's lines, word for word (fping 5.1 is the oracle; see
tests/fping_lines.py for the patterns both must match)."""

from __future__ import annotations

import time
# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence

from ..fleet._result import FleetResult, Summary

__all__ = ["alive_line", "count_summary", "interval_header", "reachable_line", "reply_line",
           "stamp", "stats_block", "timeout_line", "tm", "vcount_summary"]


def tm(ms: float) -> str:
    """A time as fping's sprint_tm prints it: three significant digits
    below 100 ms, whole milliseconds above."""
    if ms < 0:
        return "%.2g" % ms
    if ms < 1.0:
        return "%.3f" % ms
    if ms < 10.0:
        return "%.2f" % ms
    if ms < 100.0:
        return "%.1f" % ms
    if ms < 1_000_000.0:
        return "%.0f" % ms
    return "%.3e" % ms


def loss(sent: int, received: int) -> int:
    """fping's integer loss percentage."""
    return (sent - received) * 100 // sent if sent else 0


def stamp(now: Optional[float] = None) -> str:
    """-D: the Unix time before a line, as fping prints it."""
    return "[%.5f] " % (time.time() if now is None else now)


def alive_line(name: str, *, bare: bool, elapsed_ms: Optional[float]) -> str:
    line = name if bare else f"{name} is alive"
    if elapsed_ms is not None:
        line += f" ({tm(elapsed_ms)} ms)"
    return line


def unreachable_line(name: str, *, bare: bool) -> str:
    return name if bare else f"{name} is unreachable"


def reply_line(name: str, probe: int, nbytes: int, rtt_ms: float, avg_ms: float,
               loss_pct: int) -> str:
    return (f"{name} : [{probe}], {nbytes} bytes, {tm(rtt_ms)} ms "
            f"({tm(avg_ms)} avg, {loss_pct}% loss)")


def duplicate_line(name: str, probe: int, nbytes: int, rtt_ms: float) -> str:
    return f"{name} : duplicate for [{probe}], {nbytes} bytes, {tm(rtt_ms)} ms"


def timeout_line(name: str, probe: int, avg_ms: Optional[float], loss_pct: int) -> str:
    avg = "NaN" if avg_ms is None else tm(avg_ms)
    return f"{name} : [{probe}], timed out ({avg} avg, {loss_pct}% loss)"


def count_summary(name: str, sent: int, received: int, rtt_min_ms: Optional[float],
                  rtt_avg_ms: Optional[float], rtt_max_ms: Optional[float],
                  outage_ms: Optional[int] = None) -> str:
    """-c / -l / -Q: one target's xmt/rcv/%loss line."""
    line = f"{name} : xmt/rcv/%loss = {sent}/{received}/{loss(sent, received)}%"
    if outage_ms is not None:
        line += f", outage(ms) = {outage_ms}"
    if received and rtt_min_ms is not None and rtt_avg_ms is not None and rtt_max_ms is not None:
        line += f", min/avg/max = {tm(rtt_min_ms)}/{tm(rtt_avg_ms)}/{tm(rtt_max_ms)}"
    return line


def vcount_summary(name: str, times: Sequence[Optional[float]]) -> str:
    """-C: every probe's time, "-" for the lost ones."""
    return f"{name} :" + "".join(" -" if t is None else f" {tm(t)}" for t in times)


def probe_times(result: FleetResult, sent: int) -> List[Optional[float]]:
    times: List[Optional[float]] = [None] * sent
    for r in result.replies:
        if not r.duplicate and r.checksum_ok and r.seq < sent and times[r.seq] is None:
            times[r.seq] = r.rtt_ms
    return times


def interval_header(now: Optional[float] = None) -> str:
    """-Q: the time of day before each interval's lines."""
    return time.strftime("[%H:%M:%S]", time.localtime(now))


def reachable_line(required: int, reachable: int) -> str:
    enough = "Enough" if reachable >= required else "Not enough"
    return f"{enough} hosts reachable (required: {required}, reachable: {reachable})"


def stats_block(s: Summary, timeouts: int) -> List[str]:
    """-s: the block fping prints on stderr at the end."""
    if s.rtt_min_ms is None or s.rtt_avg_ms is None or s.rtt_max_ms is None:
        low = avg = high = 0.0
    else:
        low, avg, high = s.rtt_min_ms, s.rtt_avg_ms, s.rtt_max_ms
    return [
        "",
        f" {s.targets:7d} targets",
        f" {s.alive:7d} alive",
        f" {s.unreachable:7d} unreachable",
        f" {s.unknown:7d} unknown addresses",
        "",
        f" {timeouts:7d} timeouts (waiting for response)",
        f" {s.sent:7d} ICMP Echos sent",
        # fping counts every reply from a target here, duplicates and
        # those too late to count for their probe included.
        f" {s.received + s.duplicates + s.late:7d} ICMP Echo Replies received",
        f" {s.errors:7d} other ICMP received",
        "",
        f" {tm(low)} ms (min round trip time)",
        f" {tm(avg)} ms (avg round trip time)",
        f" {tm(high)} ms (max round trip time)",
        f" {s.elapsed_s:12.3f} sec (elapsed real time)",
        "",
    ]
