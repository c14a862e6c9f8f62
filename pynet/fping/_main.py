"""`pynet fping`: fping's options, lines and exit codes over the fleet engine."""

from __future__ import annotations

import signal
import sys
import time
# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, TextIO, Tuple

from .. import __version__
from .._errors import FleetSocketError, PynetError, ResolveError
from .._fleet_engine import BAD_CHECKSUM, DUP, ERROR, REPLY, TIMEOUT
from ..fleet._result import FleetResult
from ..fleet._run import Options, Run, check_options
from . import _output as o
from ._options import PROG, USAGE, Args, FpingUsage, parse
from ._targets import load_targets, reverse_name

__all__ = ["main"]


def _json() -> Any:
    """json, loaded for --json only."""
    import json

    return json


class _Interval:
    """-Q: one target's counts since the last interval summary."""

    __slots__ = ("sent", "received", "sum", "min", "max")

    def __init__(self) -> None:
        self.sent = self.received = 0
        self.sum = 0.0
        self.min = self.max = -1.0


class Command:
    def __init__(self, a: Args, out: TextIO, err: TextIO) -> None:
        self.a = a
        self.out = out
        self.err = err
        self.unknown = 0
        self.names: Dict[str, str] = {}
        self.alive = 0
        self.unreachable: List[int] = []
        self.kept: Dict[int, FleetResult] = {}
        self.intervals: Dict[int, _Interval] = {}
        self.next_interval = 0.0
        self.run: Optional[Run] = None
        self.stopped = False
        self.width = 0
        # fping 5.1's flags after its option parsing: -q/-Q, -a, -u and -x
        # each turn "verbose" off; counting (-c, -C) prints a line per probe
        # only when verbose was still on, -l unless -Q; neither lists
        # targets as alive or unreachable. --json prints none of these.
        reach = a.reachable is not None or a.fast_reachable is not None
        verbose = not (a.quiet or a.alive or a.unreach or reach or a.json)
        self.per_probe = not a.json and ((a.loop and a.squiet_s is None) or
                                         (a.count is not None and verbose))
        self.verbose = verbose and not a.counting
        self.list_alive = not a.json and not a.counting and (verbose or a.alive)
        self.list_unreachable = not a.json and not a.counting and (verbose or a.unreach)

    # ---- names ----

    def name(self, index: int) -> str:
        assert self.run is not None
        targets = self.run.targets
        if self.a.names:
            return reverse_name(targets.address(index), self.names, True)
        return targets.host(index)

    def label(self, index: int) -> str:
        """The name padded as fping pads it in -c/-C/-l lines: to the longest."""
        return self.name(index).ljust(self.width)

    def measure_width(self) -> None:
        assert self.run is not None
        targets = self.run.targets
        width = 0
        for seg in targets.segments:
            if seg.host is not None and not self.a.names:
                width = max(width, len(seg.host))
                continue
            for i in range(seg.first, seg.first + seg.size):
                width = max(width, len(self.name(i)))
        self.width = width

    def on_unknown(self, exc: ResolveError) -> None:
        self.unknown += 1
        if exc.reason.startswith("not an IPv"):     # -4/-6 against the other family's address
            print(f"{exc.host}: Address family for hostname not supported", file=self.err,
                  flush=True)
            return
        print(str(exc), file=self.err, flush=True)

    # ---- per record (the main thread, as batches arrive) ----

    def on_record(self, r: Tuple[Any, ...], state: Any, family: int) -> None:
        kind = r[0]
        a = self.a
        if a.squiet_s is not None and kind in (REPLY, TIMEOUT):
            self.count_interval(r)
        t, probe = r[1], r[2]
        if not self.per_probe:
            # fping tells of a duplicate only where it prints no probe lines.
            if kind == REPLY and r[6] & DUP and not a.loop and not a.json:
                print(o.duplicate_line(self.name(t), probe, r[5], r[3] / 1e6), file=self.err)
            return
        prefix = o.stamp(r[9] / 1e9) if a.timestamp else ""
        if kind == REPLY:
            # A line per probe: none for its duplicates (as fping) or corrupted replies.
            if not r[6] & (DUP | BAD_CHECKSUM):
                sent = probe + 1
                line = o.reply_line(self.label(t), probe, r[5], r[3] / 1e6,
                                    state.sum / state.n / 1e6, o.loss(sent, state.received))
                print(prefix + line, file=self.out)
        elif kind == TIMEOUT:
            sent = probe + 1
            avg = state.sum / state.n / 1e6 if state.n else None
            print(prefix + o.timeout_line(self.label(t), probe, avg,
                                          o.loss(sent, state.received)), file=self.out)

    def alive_result(self, index: int, r: FleetResult) -> None:
        self.alive += 1
        a = self.a
        if a.fast_reachable is not None and self.alive >= a.fast_reachable and self.run:
            self.run.stop()
        if not self.list_alive:
            return
        elapsed = r.rtt_min_ms if a.elapsed else None
        name = reverse_name(r.address, self.names, True) if a.names else r.host
        print(o.alive_line(name, bare=not self.verbose, elapsed_ms=elapsed), file=self.out)

    def count_interval(self, r: Tuple[Any, ...]) -> None:
        iv = self.intervals.get(r[1])
        if iv is None:
            iv = self.intervals[r[1]] = _Interval()
        iv.sent += 1
        if r[0] == REPLY and not r[6]:
            ms = r[3] / 1e6
            iv.received += 1
            iv.sum += ms
            iv.min = ms if iv.min < 0 else min(iv.min, ms)
            iv.max = max(iv.max, ms)

    def on_batch(self) -> None:
        self.out.flush()
        if self.a.squiet_s is None:
            return
        now = time.monotonic()
        if now < self.next_interval:
            return
        self.next_interval = now + self.a.squiet_s
        if not self.intervals:
            return
        print(o.interval_header(), file=self.err)
        for t in sorted(self.intervals):
            iv = self.intervals[t]
            avg = iv.sum / iv.received if iv.received else None
            print(o.count_summary(self.label(t), iv.sent, iv.received, iv.min, avg, iv.max),
                  file=self.err)
        self.err.flush()
        self.intervals.clear()

    # ---- per target result ----

    def on_result(self, index: int, r: FleetResult) -> None:
        a = self.a
        if a.json:
            print(_json().dumps(r.to_dict()), file=self.out)
        elif a.counting:
            self.kept[index] = r
        if r.received == 0:
            self.unreachable.append(index)
        elif not a.counting:
            self.alive_result(index, r)

    def plain(self) -> bool:
        """A mode whose per-target work is one line per alive target (or
        none): fping's default, -a, -u, -q, -s without -c/-C/-l, names as
        given, no times in the lines."""
        a = self.a
        return not (a.counting or a.json or a.names or a.elapsed or a.timestamp
                    or a.fast_reachable is not None)

    def plain_run(self, run: Run) -> None:
        """on_result() for a plain mode, a batch at a time: the alive
        targets' lines are written together (a /16 is 65,534 of them)."""
        emit = self.list_alive
        tail = " is alive\n" if self.verbose else "\n"
        write = self.out.write
        unreachable = self.unreachable
        for hosts, batch in run.alive_batches():
            alive = [r.host for _, r in batch if r.received]
            self.alive += len(hosts) + len(alive)
            if len(alive) < len(batch):
                unreachable.extend([i for i, r in batch if not r.received])
            if emit:
                for names in (hosts, alive):
                    if names:
                        write(tail.join(names))
                        write(tail)

    # ---- the end ----

    def sent_of(self, r: FleetResult) -> int:
        """Probes that are final: fping does not count those still in
        flight when it is interrupted."""
        if not self.stopped:
            return r.transmitted
        return min(r.transmitted, r.received + r.timeouts + r.errors)

    def finish(self) -> None:
        a = self.a
        assert self.run is not None
        if a.json:
            summary = self.run.summary()
            print(_json().dumps({"summary": summary.to_dict()}), file=self.out)
            return
        if self.list_unreachable:
            for t in sorted(self.unreachable):
                print(o.unreachable_line(self.name(t), bare=not self.verbose), file=self.out)
        self.out.flush()
        if a.counting:
            if self.per_probe:
                print("", file=self.err)
            for t in sorted(self.kept):
                self.summary_line(t, self.kept[t])
        if a.stats:
            summary = self.run.summary()
            for line in o.stats_block(summary, summary.timeouts):
                print(line, file=self.err)
        if a.reachable is not None:
            print(o.reachable_line(a.reachable, self.reached()), file=self.out)
        self.err.flush()

    def summary_line(self, t: int, r: FleetResult) -> None:
        a = self.a
        sent = self.sent_of(r)
        if a.vcount:
            print(o.vcount_summary(self.label(t), o.probe_times(r, sent)), file=self.err)
            return
        outage = None
        if a.outage:
            outage = int((sent - r.received) * a.period_ms)
        print(o.count_summary(self.label(t), sent, r.received, r.rtt_min_ms, r.rtt_avg_ms,
                              r.rtt_max_ms, outage), file=self.err)

    def reached(self) -> int:
        assert self.run is not None
        return self.run.targets.total - len(self.unreachable)

    def exit_code(self) -> int:
        a = self.a
        if self.unknown:
            return 2
        if a.reachable is not None:
            return 0 if self.reached() >= a.reachable else 1
        if a.fast_reachable is not None:
            return 0 if self.alive >= a.fast_reachable else 1
        return 1 if self.unreachable else 0

    # ---- the run ----

    def options(self) -> Options:
        a = self.a
        count = 0 if a.loop else (a.count if a.count is not None else 1)
        return Options(
            count=count, interval=a.interval_ms / 1000.0, period=max(a.period_ms / 1000.0, 1e-9),
            timeout=max(a.timeout_s(), 1e-6), retries=a.retries if not a.counting else 0,
            backoff=a.backoff, rate=a.rate, size=a.size, ttl=a.ttl, family=a.family,
            interface=a.interface, source=a.source,
            keep_replies=a.vcount or a.json)

    def execute(self) -> int:
        options = self.options()
        check_options(options)
        targets = load_targets(self.a, self.on_unknown)
        if targets.total == 0:
            return 2 if self.unknown else 1
        # Default mode needs no per-record callback (a target's one reply
        # and its DONE come together): the run keeps its fast path.
        self.run = Run(targets, options, on_record=self.on_record if self.a.counting else None,
                       on_batch=self.on_batch)
        if self.a.counting:
            self.measure_width()
        if self.a.squiet_s is not None:
            self.next_interval = time.monotonic() + self.a.squiet_s
        previous = signal.getsignal(signal.SIGINT)

        def interrupted(_signum: int, _frame: Any) -> None:
            self.stopped = True
            if self.run is not None:
                self.run.stop()

        signal.signal(signal.SIGINT, interrupted)
        try:
            if self.plain():
                self.plain_run(self.run)
            else:
                for index, result in self.run.results():
                    self.on_result(index, result)
        finally:
            signal.signal(signal.SIGINT, previous)
        self.finish()
        return self.exit_code()


def _socket_failure(exc: FleetSocketError) -> Tuple[str, int]:
    """fping's words (and exit code) for the socket set-ups it names."""
    import os

    text = str(exc)
    reason = os.strerror(exc.errno) if exc.errno else text
    if text.startswith("SO_BINDTODEVICE"):
        # fping 5.1 says it through perror(), so spelt, and exits 1
        return f"binding to specific interface (SO_BINTODEVICE): {reason}", 1
    if text.startswith("bind "):
        return f"{PROG}: cannot bind source address : {reason}", exc.exit_code
    return f"{PROG}: {text}", exc.exit_code


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        a = parse(args)
        if a.help:
            print(USAGE, end="")
            return 0
        if a.version:
            print(f"{PROG}: Version 5.1 (pynet {__version__})")
            return 0
        return Command(a, sys.stdout, sys.stderr).execute()
    except FpingUsage as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"see '{PROG} -h' for usage information", file=sys.stderr)
        return exc.exit_code
    except FleetSocketError as exc:
        line, code = _socket_failure(exc)
        print(line, file=sys.stderr)
        return code
    except PynetError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        print(f"{PROG}: {exc.strerror or exc}", file=sys.stderr)
        return 4
