"""`pynet bench sntp`: pynet's SNTP client beside ntplib, in one run, against
a real chronyd on loopback. Server and client read one clock, so the true
offset is exactly 0 and every offset measured is the method's error.

Rows, taking turns round by round (20 rounds; --quick: 3):
  pynet query(count=8)          kernel stamps, the least-delay sample of 8
  pynet query(count=1)          kernel stamps, one request
  pynet query(count=8), clock   the same burst timed by the clock in Python
  ntplib request()              one request, timed by time.time()
  ntplib, least delay of 8      eight requests, the least-delay one kept here

Each row: median |offset| and median delay over the rounds, and the two legs
of the round trip that the four timestamps give (forward T2 - T1 = delay/2 +
offset, back T4 - T3 = delay/2 - offset; the offset is half their difference,
so where the legs differ is where the error comes from). Then how far the
clock read in Python is from the kernel's own stamps of the same datagrams
(what kernel stamps take out), and the goals. A Markdown table on stdout and
a JSON file.
"""

from __future__ import annotations

import os
import platform
import select
import socket
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .._cli import ArgumentParser, UsageError, warn
from ._chrony import chronyd
from ._report import write_json

__all__ = ["Row", "main"]

PROG = "pynet bench sntp"
HOST = "127.0.0.1"
# chronyd limits no rate in this configuration: 10 ms between the samples
# of a burst keeps a round short without a request waiting on the last.
INTERVAL = 0.01
GOAL_OFFSET_US = 10.0
GOAL_DELAY_RATIO = 0.5

Measure = Callable[[int], Tuple[float, float, str]]  # port -> (offset_s, delay_s, stamps)


@dataclass
class Row:
    peer: str
    requests: int  # per round
    offsets_s: List[float] = field(default_factory=list, repr=False)
    delays_s: List[float] = field(default_factory=list, repr=False)
    stamps: str = ""
    error: str = ""

    @property
    def median_abs_offset_us(self) -> float:
        return statistics.median(abs(o) for o in self.offsets_s) * 1e6 if self.offsets_s else 0.0

    @property
    def median_delay_us(self) -> float:
        return statistics.median(self.delays_s) * 1e6 if self.delays_s else 0.0

    @property
    def max_abs_offset_us(self) -> float:
        return max(abs(o) for o in self.offsets_s) * 1e6 if self.offsets_s else 0.0

    @property
    def median_forward_us(self) -> float:
        legs = [d / 2 + o for o, d in zip(self.offsets_s, self.delays_s)]
        return statistics.median(legs) * 1e6 if legs else 0.0

    @property
    def median_back_us(self) -> float:
        legs = [d / 2 - o for o, d in zip(self.offsets_s, self.delays_s)]
        return statistics.median(legs) * 1e6 if legs else 0.0

    def as_dict(self) -> Dict[str, object]:
        d = asdict(self)
        d.update(rounds=len(self.offsets_s), median_abs_offset_us=self.median_abs_offset_us,
                 median_delay_us=self.median_delay_us, max_abs_offset_us=self.max_abs_offset_us,
                 median_forward_us=self.median_forward_us, median_back_us=self.median_back_us)
        return d


def _pynet(count: int, interval: float, own_clock: bool) -> Measure:
    from .. import sntp

    def measure(port: int) -> Tuple[float, float, str]:
        clock = (lambda: time.time_ns()) if own_clock else time.time_ns
        (r,) = sntp.query(HOST, port=port, timeout=5.0, count=count, interval=interval,
                          clock=clock)
        if r.error is not None:
            raise RuntimeError(str(r.error))
        assert r.offset_s is not None and r.delay_s is not None
        return r.offset_s, r.delay_s, f"{r.tx_stamp}/{r.rx_stamp}"
    return measure


def _ntplib(count: int, interval: float) -> Optional[Measure]:
    try:
        import ntplib  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    client = ntplib.NTPClient()

    def measure(port: int) -> Tuple[float, float, str]:
        best: Optional[Tuple[float, float]] = None
        for number in range(count):
            if number:
                time.sleep(interval)
            stats = client.request(HOST, version=4, port=port, timeout=5)
            if best is None or stats.delay < best[1]:
                best = (float(stats.offset), float(stats.delay))
        assert best is not None
        return best[0], best[1], "user/user"
    return measure


def peers(count: int, interval: float) -> List[Tuple[Row, Optional[Measure]]]:
    ntp1, ntp8 = _ntplib(1, interval), _ntplib(count, interval)
    return [
        (Row(f"pynet query(count={count})", count), _pynet(count, interval, False)),
        (Row("pynet query(count=1)", 1), _pynet(1, interval, False)),
        (Row(f"pynet query(count={count}), clock in Python", count),
         _pynet(count, interval, True)),
        (Row("ntplib request()", 1), ntp1),
        (Row(f"ntplib, least delay of {count}", count), ntp8),
    ]


def run_rounds(port: int, rounds: int, cases: Sequence[Tuple[Row, Optional[Measure]]]) -> None:
    """Every case once to warm up, then the rounds, the cases taking turns."""
    for row, measure in cases:
        if measure is None:
            row.error = "ntplib is not installed (pip install 'pynet[bench]')"
    for number in range(rounds + 1):
        for row, measure in cases:
            if measure is None or row.error:
                continue
            try:
                offset_s, delay_s, stamps = measure(port)
            except (OSError, RuntimeError) as exc:
                row.error = str(exc) or type(exc).__name__
                continue
            if number:  # round 0 is the warm-up
                row.offsets_s.append(offset_s)
                row.delays_s.append(delay_s)
                row.stamps = stamps


@dataclass
class StampGap:
    """How far the clock read in Python is from the kernel's stamps of the
    same datagrams: clock before send() to the transmit stamp (syscall
    entry and the UDP/IP send path), and receive stamp to the clock after
    recvmsg() returns (the wake-up from poll, the syscall, Python)."""

    requests: int = 0
    tx_median_us: float = 0.0
    rx_median_us: float = 0.0
    error: str = ""


def stamp_gap(port: int, requests: int) -> StampGap:
    from .. import _errqueue, _stamps

    gap = StampGap()
    tx: List[int] = []
    rx: List[int] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        if not (_stamps.enable_rx(sock) and _stamps.enable_tx(sock)):
            gap.error = "no kernel timestamps here"
            return gap
        sock.connect((HOST, port))
        sock.setblocking(False)
        for _ in range(requests):
            before = time.time_ns()
            sock.send(b"\x23" + bytes(47))
            sent_ns = received_ns = after = None
            deadline = time.monotonic() + 5
            while (sent_ns is None or received_ns is None) and time.monotonic() < deadline:
                select.select([sock], [], [], 1.0)
                try:
                    _data, anc, _flags, _addr = sock.recvmsg(64, _errqueue.CONTROL_LEN,
                                                             _errqueue.MSG_ERRQUEUE)
                    stamp = _stamps.tx_stamp(anc)
                    if stamp is not None:
                        sent_ns = stamp.unix_ns
                except BlockingIOError:
                    pass
                try:
                    _data, anc, _flags, _addr = sock.recvmsg(2048, _stamps.RX_CONTROL_LEN)
                    after = time.time_ns()
                    received_ns = _stamps.rx_ns(anc)
                except BlockingIOError:
                    pass
            if sent_ns is None or received_ns is None or after is None:
                gap.error = "a stamp did not come"
                return gap
            tx.append(sent_ns - before)
            rx.append(after - received_ns)
            time.sleep(INTERVAL)
    gap.requests = requests
    gap.tx_median_us = statistics.median(tx) / 1e3
    gap.rx_median_us = statistics.median(rx) / 1e3
    return gap


def goals(rows: Sequence[Row]) -> List[str]:
    ours, theirs = rows[0], next((r for r in rows if r.peer == "ntplib request()"), None)
    if ours.error or not ours.offsets_s:
        return [f"- {ours.peer}: not measured ({ours.error})"]
    off = ours.median_abs_offset_us
    out = [f"- {ours.peer}: median |offset| {off:.1f} µs (goal <= {GOAL_OFFSET_US:g} µs): "
           f"{'met' if off <= GOAL_OFFSET_US else 'MISSED'}"]
    if theirs is None or theirs.error or not theirs.offsets_s:
        out.append("- against ntplib: not measured")
        return out
    their_off, delay, their_delay = (theirs.median_abs_offset_us, ours.median_delay_us,
                                     theirs.median_delay_us)
    out.append(f"- median |offset| pynet / ntplib = {off:.1f} / {their_off:.1f} µs = "
               f"{off / their_off if their_off else float('inf'):.2f}x (goal < 1x): "
               f"{'met' if off < their_off else 'MISSED'}")
    out.append(f"- median delay pynet / ntplib = {delay:.1f} / {their_delay:.1f} µs = "
               f"{delay / their_delay if their_delay else float('inf'):.2f}x "
               f"(goal <= {GOAL_DELAY_RATIO:g}x): "
               f"{'met' if delay <= GOAL_DELAY_RATIO * their_delay else 'MISSED'}")
    best = next((r for r in rows if r.peer.startswith("ntplib, least")), None)
    if best is not None and best.offsets_s:
        out.append(f"- for reference, ntplib's least delay of {best.requests} (selected here): "
                   f"median |offset| {best.median_abs_offset_us:.1f} µs, max "
                   f"{best.max_abs_offset_us:.1f} µs, median delay {best.median_delay_us:.1f} µs "
                   f"(pynet: max {ours.max_abs_offset_us:.1f} µs)")
    return out


def markdown(rows: Sequence[Row], gap: StampGap, command: str, rounds: int) -> str:
    lines = [
        "## pynet bench sntp", "",
        f"`{command}`: chronyd on loopback (one clock: the true offset is 0), {rounds} rounds, "
        f"the rows taking turns; bursts {INTERVAL * 1e3:g} ms apart. Forward leg T2 - T1 = "
        "delay/2 + offset, back leg T4 - T3 = delay/2 - offset.", "",
        "| peer | requests/round | stamps (send/receive) | median \\|offset\\| µs "
        "| max \\|offset\\| µs | median delay µs | forward leg µs | back leg µs | note |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.peer} | {r.requests} | {r.stamps or '-'} "
                     f"| {r.median_abs_offset_us:.1f} | {r.max_abs_offset_us:.1f} "
                     f"| {r.median_delay_us:.1f} | {r.median_forward_us:.1f} "
                     f"| {r.median_back_us:.1f} | {r.error} |")
    lines += ["", "Clock read in Python vs the kernel's stamps of the same datagrams "
              "(what kernel stamps take out of each leg):"]
    if gap.error:
        lines.append(f"- not measured: {gap.error}")
    else:
        lines.append(f"- send: clock before send() -> transmit stamp, median "
                     f"{gap.tx_median_us:.1f} µs over {gap.requests} requests")
        lines.append(f"- receive: receive stamp -> clock after recvmsg() returns, median "
                     f"{gap.rx_median_us:.1f} µs")
    lines += ["", "Goals (same run):", *goals(rows)]
    return "\n".join(lines)


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 rounds (for tests)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 20)")
    p.add_argument("--count", type=int, default=8, help="requests per burst (default 8)")
    p.add_argument("--chronyd", default="chronyd", help="the chronyd to run (default: on PATH)")
    p.add_argument("--json", default="sntp-bench.json", help="where to write the results")
    return p


def main(argv: List[str]) -> int:
    args = _parser().parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 20)
    if rounds < 1 or not 2 <= args.count <= 1000:
        raise UsageError("--rounds must be >= 1 and --count in 2..1000")
    cases = peers(args.count, INTERVAL)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with chronyd(Path(tmp), args.chronyd) as port:
                run_rounds(port, rounds, cases)
                gap = stamp_gap(port, 20 if args.quick else 200)
        except (OSError, RuntimeError) as exc:
            warn(PROG, f"chronyd: {exc}")
            return 1
    rows = [row for row, _measure in cases]
    command = PROG + (" --quick" if args.quick else "")
    print(markdown(rows, gap, command, rounds), flush=True)
    write_json(args.json, {
        "tool": PROG, "command": command,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform()},
        "settings": {"rounds": rounds, "count": args.count, "interval_s": INTERVAL},
        "rows": [r.as_dict() for r in rows], "stamp_gap": asdict(gap), "goals": goals(rows),
    })
    for r in rows:
        if r.error:
            warn(PROG, f"{r.peer}: {r.error}")
    return 1 if any(r.error for r in rows) or gap.error else 0
