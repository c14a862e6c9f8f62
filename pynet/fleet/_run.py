"""One fleet run: the options checked once, the sockets and the engine set
up, the targets fed to the engine a chunk at a time, and its records folded
into per-target results. ping(), sweep() and the CLI all drive this.

The hot loop touches each record once: the engine's records arrive packed
(RECORD layout) and are unpacked by struct.iter_unpack, one tuple each.
"""

from __future__ import annotations

import bisect
import math
import os
import queue
import socket
import struct
import threading
import time
# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Dict, Generator, Iterator, List, NamedTuple, Optional, Tuple

    # Called per record for REPLY, TIMEOUT, ERROR and SEND_FAILED:
    # (record, target state, family).
    OnRecord = Callable[[Tuple[Any, ...], Any, int], None]
else:
    from .._records import NamedTuple

from .. import _backend
from .. import _checks as checks
from .._fleet_engine import (DONE, ERROR, KEY_LEN, MAX_RETRIES, MIN_PAYLOAD, REPLY, SEND_FAILED, TIMEOUT,
                             Counters, EngineConfig)
from ._result import FleetResult, Summary, Tally
from ._socket import FleetSockets, open_sockets
from ._targets import CHUNK, Segment, Targets, address_of

__all__ = ["MAX_SIZE", "Options", "Run", "engine_module", "check_options", "lanes_for"]

NS = 1_000_000_000
MAX_SIZE = 65000
# How long run() may hold records before handing them up: results stream
# at least this often.
FLUSH_S = 0.05
# Refill the engine when fewer targets than this are still active.
LOW_WATER = CHUNK
# Records per engine call in a run. The worker thread takes the GIL once per
# call, and waits up to the switch interval (5 ms) for it while the caller
# folds the last batch: big batches make those waits rare (a 1M-host sweep
# took 27.6 s with 4,096, 13.6 s with the waits cut short, on a busy host).
RUN_BATCH = 32768
# The worker looks at stop() at least this often.
WAKE_S = 0.1
# Engines in one run at most, and the fewest targets worth one of its own.
MAX_LANES = 8
LANE_MIN = 8192



def engine_module(backend: Optional[str] = None) -> ModuleType:
    """pynet._c.fleet or pynet._reference.fleet, through the backend seam."""
    return _backend.module("fleet", backend)


class Options(NamedTuple):
    """The knobs of a run, in seconds (fping's -c, -i, -p, -t, -r, -B, ...)."""

    count: int = 1  # type: ignore[assignment]  # shadows tuple.count
    interval: float = 0.0
    period: float = 1.0
    timeout: float = 0.5
    retries: int = 0
    backoff: float = 1.5
    rate: Optional[float] = None
    size: int = 56
    ttl: Optional[int] = None
    family: Optional[int] = None
    privileged: Optional[bool] = None
    interface: Optional[str] = None
    source: Optional[str] = None
    keep_replies: bool = True
    lanes: Optional[int] = None    # engines side by side; None: lanes_for() chooses

    def config(self, sockets: FleetSockets, batch: int = 4096,
               fold: bool = False) -> EngineConfig:
        return EngineConfig(
            fd4=sockets.fd4, raw4=sockets.raw4, fd6=sockets.fd6, raw6=sockets.raw6,
            ident=sockets.ident, key=os.urandom(KEY_LEN), payload_len=self.size,
            count=self.count, interval_ns=int(self.interval * NS),
            period_ns=max(1, int(self.period * NS)), timeout_ns=max(1, int(self.timeout * NS)),
            retries=self.retries if self.count == 1 else 0, backoff=float(self.backoff),
            rate_pps=int(math.ceil(self.rate)) if self.rate else 0, batch=batch, fold=fold)


def check_options(o: Options) -> None:
    """The façade's checks, so both engines get the same clean input."""
    checks.integer(o.count, "count", 0)
    checks.seconds(o.interval, "interval", zero=True)
    checks.seconds(o.period, "period", zero=True)
    checks.seconds(o.timeout, "timeout", zero=True)
    if o.period <= 0 or o.timeout <= 0:
        raise ValueError("period and timeout must be > 0")
    checks.integer(o.retries, "retries", 0, MAX_RETRIES)
    checks.number(o.backoff, "backoff", 1, 100)
    if o.rate is not None:
        checks.number(o.rate, "rate", 0)
        if o.rate <= 0:
            raise ValueError(f"rate must be > 0 packets per second, got {o.rate!r}")
    checks.integer(o.size, "size", MIN_PAYLOAD, MAX_SIZE)
    if o.ttl is not None:
        checks.integer(o.ttl, "ttl", 1, 255)
    if o.family not in (None, 4, 6):
        raise ValueError(f"family must be 4, 6 or None, got {o.family!r}")
    if o.lanes is not None:
        checks.integer(o.lanes, "lanes", 1, MAX_LANES)


def _source_for(source: Optional[str], family: int) -> Optional[str]:
    if source is None:
        return None
    return source if (":" in source) == (family == 6) else None


_OCTETS = [str(i) for i in range(256)]
_NO_MIN = 1 << 62
_NO_SEGMENT = Segment(0, 0, 4, 0, None)
_pack4 = struct.Struct(">I").pack


def _head4(value: int) -> str:
    """"a.b.c." of an IPv4 address, its int."""
    return socket.inet_ntoa(_pack4(value & 0xFFFFFF00))[:-1]


def lanes_for(total: int, options: Options, native: bool) -> int:
    """How many engines a run of total targets gets, each with its own
    sockets and worker thread. On loopback the kernel answers each request
    inside our sendmmsg, so one engine is bound by one CPU's share of the
    kernel: an engine per CPU spreads that work. One engine when the
    options name a pace that is one schedule's (-i, the gap between any two
    sends; --rate), for the pure-Python engine (the GIL serialises it), and
    for runs too small to gain."""
    if options.lanes is not None:
        return options.lanes
    if options.interval > 0 or options.rate or not native:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_LANES, total // LANE_MIN))


def _summed(counters: List[Counters]) -> Counters:
    if len(counters) == 1:
        return counters[0]
    return Counters(
        sent=sum(c.sent for c in counters), received=sum(c.received for c in counters),
        duplicates=sum(c.duplicates for c in counters),
        corrupted=sum(c.corrupted for c in counters), errors=sum(c.errors for c in counters),
        malformed=sum(c.malformed for c in counters), foreign=sum(c.foreign for c in counters),
        kernel_drops=sum(c.kernel_drops for c in counters),
        active=sum(c.active for c in counters), done=all(c.done for c in counters),
        late=sum(c.late for c in counters))


class _Lane:
    """One engine, its sockets, and how its target numbers (0, 1, ... in
    the order it was given them) map to the run's."""

    def __init__(self, number: int, engine: Any, sockets: FleetSockets) -> None:
        self.number = number
        self.engine = engine
        self.sockets = sockets
        self.added = 0
        self.starts: List[int] = []     # its number of each chunk's first target
        self.bases: List[int] = []      # the run's number of it
        self.final: Optional[Counters] = None
        self.last = (0, 0, 0)           # span() of the last target seen

    def add(self, first: int, family: int, packed: bytes, scope_id: int) -> int:
        got = self.engine.add(family, packed, scope_id)
        if got != self.added:
            raise RuntimeError(f"engine numbered target {self.added} as {got}")
        n = len(packed) // (4 if family == 4 else 16)
        self.starts.append(self.added)
        self.bases.append(first)
        self.added += n
        return n

    def span(self, t: int) -> Tuple[int, int, int]:
        """(lo, hi, delta): its targets lo..hi-1, t among them, are the
        run's lo+delta..hi-1+delta."""
        i = bisect.bisect_right(self.starts, t) - 1
        lo = self.starts[i]
        hi = self.starts[i + 1] if i + 1 < len(self.starts) else self.added
        return lo, hi, self.bases[i] - lo

    def counters(self) -> Counters:
        if self.final is not None:
            return self.final
        counters: Counters = self.engine.counters()
        return counters

    def close(self) -> None:
        if self.sockets.socks:
            if self.final is None:
                self.final = self.engine.counters()
            self.engine.close()
            self.sockets.close()


class Run:
    """The engine(s) over targets. Iterate results() once; close() at the
    end (results() does it when it finishes)."""

    def __init__(self, targets: Targets, options: Options, backend: Optional[str] = None,
                 on_record: Optional[OnRecord] = None,
                 on_batch: Optional[Callable[[], None]] = None) -> None:
        self.targets = targets
        self.options = options
        self.on_record = on_record
        self.on_batch = on_batch
        self.tally = Tally(options.keep_replies, fast=on_record is None)
        # lean: no callback and no replies kept, so a target whose only
        # record is one clean reply needs no state object and its result is
        # built in _fold() (most of a sweep's Python time, measured); with
        # one probe per target the engine folds that reply into its DONE.
        self.lean = on_record is None and not options.keep_replies
        self.fold = self.lean and options.count == 1
        # IPv4 text by its first three octets (one string per /24 seen).
        self.heads: Dict[int, str] = {}
        self.segment = targets.segments[0] if targets.segments else _NO_SEGMENT
        self.module = engine_module(backend)
        n = lanes_for(targets.total, options, self.module.__name__.startswith("pynet._c."))
        self.lanes: List[_Lane] = []
        ident = int.from_bytes(os.urandom(2), "big")
        try:
            for k in range(n):
                self.lanes.append(self._open_lane(k, (ident + k) & 0xFFFF))
        except BaseException:
            self.close()
            raise
        # A chunk per lane at least, so every lane has work from the start.
        self.low_water = LOW_WATER if n == 1 else max(1, min(CHUNK, -(-targets.total // n)))
        self.feed = targets.chunks(self.low_water)
        self.feed_lock = threading.Lock()
        self.added = 0
        self.stop_requested = False
        self.started = time.monotonic()
        self.elapsed_s = 0.0
        self.final_counters: Optional[Counters] = None

    def _open_lane(self, number: int, ident: int) -> _Lane:
        o = self.options
        sockets = open_sockets(
            self.targets.families(), o.privileged, rate_pps=int(o.rate or 0),
            payload_len=o.size, ttl=o.ttl, interface=o.interface,
            source4=_source_for(o.source, 4), source6=_source_for(o.source, 6), ident=ident)
        try:
            engine = self.module.Engine(o.config(sockets, RUN_BATCH, self.fold))
        except BaseException:
            sockets.close()
            raise
        return _Lane(number, engine, sockets)

    def stop(self) -> None:
        """End the run early (any thread, a signal handler too): nothing more
        is sent; every target still going gets its result from what it has,
        as fping does on SIGINT."""
        self.stop_requested = True

    def _refill(self, lane: _Lane, active: int) -> bool:
        """Add targets to lane while fewer than low_water of its own are
        active. False when there is nothing left to add."""
        while active < self.low_water:
            with self.feed_lock:
                chunk = next(self.feed, None)
                if chunk is None:
                    return False
                n = lane.add(*chunk)
                self.added += n
            active += n
        return True

    def _drive(self, lane: _Lane, handed: "queue.SimpleQueue[Any]",
               quit_now: threading.Event) -> None:
        """A lane's worker thread: the only one that touches its engine while
        the run goes. The C engine runs without the GIL, so the caller folds
        one batch while the lanes send and receive the next."""
        engine = lane.engine
        run_raw = engine.run_raw
        flush_ns = int(FLUSH_S * NS)
        wake_ns = int(WAKE_S * NS)
        try:
            more = True
            cancelled = False
            while not quit_now.is_set():
                if self.stop_requested and not cancelled:
                    cancelled = True
                    more = False
                    cancel = engine.cancel
                    for t in range(lane.added):
                        cancel(t)
                handed.put((lane, run_raw(time.monotonic_ns() + wake_ns, flush_ns)))
                counters = engine.counters()
                had = lane.added
                if not cancelled:
                    more = self._refill(lane, counters.active)
                # done is from before the refill: targets it added are not.
                if counters.done and not more and lane.added == had:
                    lane.final = counters
                    break
        except BaseException as exc:  # handed to the caller's thread
            handed.put(exc)
        handed.put(None)

    def results(self) -> Iterator[Tuple[int, FleetResult]]:
        """(index, result) of every target, each as soon as it is final."""
        batches = self.batches()
        try:
            for batch in batches:
                yield from batch
        finally:
            batches.close()

    def batches(self) -> Generator[List[Tuple[int, FleetResult]], None, None]:
        """results(), a list per engine call: the (index, result) pairs that
        became final in it (a caller with per-target work that is a list
        comprehension runs it once per batch, not once per target)."""
        try:
            for _, out in self._loop(False):
                yield out
            yield from self._never_sent()
        finally:
            self.close()

    def alive_batches(self) -> Iterator[Tuple[List[str], List[Tuple[int, FleetResult]]]]:
        """For a lean run (no on_record, no replies kept): per engine call,
        (hosts, results): the host text of each target that ended with one
        clean reply and nothing else, for which no FleetResult is built
        (fping's default lines need no more), and the (index, result) of
        every other target that became final."""
        if not self.lean:
            raise ValueError("alive_batches() needs a run without on_record or kept replies")
        try:
            for hosts, out in self._loop(True):
                yield hosts or [], out
            for out in self._never_sent():
                yield [], out
        finally:
            self.close()

    def _never_sent(self) -> Iterator[List[Tuple[int, FleetResult]]]:
        """The results of targets never handed to an engine (the run was
        stopped), a chunk at a time."""
        t = self.targets
        for first in range(self.added, t.total, CHUNK):
            yield [(i, self.tally.done(i, 0, t.host(i), t.address(i), t.family_of(i)))
                   for i in range(first, min(first + CHUNK, t.total))]

    def _loop(self, collect_hosts: bool
              ) -> Iterator[Tuple[Optional[List[str]], List[Tuple[int, FleetResult]]]]:
        """Per engine call: (hosts, results) as alive_batches() says, hosts
        None unless collect_hosts."""
        handed: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        quit_now = threading.Event()
        # Every lane's first chunk before any starts: each one has work.
        for lane in self.lanes:
            self._refill(lane, 0)
        workers = [threading.Thread(target=self._drive, args=(lane, handed, quit_now),
                                    name=f"pynet-fleet-{lane.number}", daemon=True)
                   for lane in self.lanes]
        running = len(workers)
        for worker in workers:
            worker.start()
        try:
            while running:
                item = handed.get()
                if item is None:
                    running -= 1
                    continue
                if isinstance(item, BaseException):
                    raise item
                lane, raw = item
                hosts: Optional[List[str]] = [] if collect_hosts else None
                out = self._fold(lane, raw, hosts)
                if out or hosts:
                    yield hosts, out
                if self.on_batch is not None:
                    self.on_batch()
        finally:
            quit_now.set()
            for worker in workers:
                if worker.ident is not None:
                    worker.join()  # within one run() call; only then may the engine close
            self.final_counters = _summed([lane.counters() for lane in self.lanes])

    def _fold(self, lane: _Lane, raw: bytes,
              hosts: Optional[List[str]] = None) -> List[Tuple[int, FleetResult]]:
        """One engine call's records into the tally; the results that became
        final. The hot loop of a sweep: it touches each record once. hosts
        (see alive_batches): where the host text of a target that ended
        with one clean reply goes instead of its FleetResult."""
        tally = self.tally
        on_record = self.on_record
        reply, error, done = tally.reply, tally.error, tally.done
        lean = self.lean
        open_ = tally.open
        open_pop = open_.pop
        new = tuple.__new__
        heads = self.heads
        heads_get = heads.get
        seg = self.segment
        seg_lo, seg_hi = seg.first, seg.first + seg.size
        lo, hi, delta = lane.last
        out: List[Tuple[int, FleetResult]] = []
        fast_n = fast_sum = 0
        fast_min, fast_max = _NO_MIN, -1
        for r in lane.engine.records(raw):
            kind = r[0]
            t = r[1]
            if not lo <= t < hi:
                lo, hi, delta = lane.span(t)
            if delta:
                t += delta
                if on_record is not None:
                    r = (kind, t, *r[2:])
            if kind == REPLY and lean and not r[6] and t not in open_:
                open_[t] = r     # its DONE comes next, most often in this batch
                continue
            if not seg_lo <= t < seg_hi:
                seg = self.targets.segment_of(t)
                seg_lo, seg_hi = seg.first, seg.first + seg.size
            if kind == DONE:
                value = seg.base + t - seg_lo
                if seg.family == 4:
                    head = heads_get(value >> 8)
                    if head is None:
                        head = heads[value >> 8] = _head4(value)
                    address = head + _OCTETS[value & 255]
                else:
                    address = address_of(6, value)
                if r[6]:        # ANSWERED: a fold run's reply and DONE in one
                    first = r
                    if open_ and t in open_:     # it has a state: fold it in there
                        reply(t, (REPLY, t, *r[2:6], 0, *r[7:]), seg.family)
                        first = None
                else:
                    first = open_pop(t, None) if lean else None
                    if first is not None and type(first) is not tuple:
                        open_[t] = first
                        first = None
                if first is None:
                    out.append((t, done(t, r[2], seg.host or address, address, seg.family)))
                    continue
                # One clean reply and nothing else: done() inline.
                rtt = first[3]
                fast_n += 1
                fast_sum += rtt
                if rtt < fast_min:
                    fast_min = rtt
                if rtt > fast_max:
                    fast_max = rtt
                if hosts is not None:
                    hosts.append(seg.host or address)
                    continue
                ms = rtt / 1e6
                sent = r[2]
                out.append((t, new(FleetResult, (
                    seg.host or address, address, seg.family, sent, 1, 0, 0, 0, 0,
                    (sent - 1) * 100.0 / sent, ms, ms, ms, 0.0, (), ()))))
                continue
            if kind == REPLY:
                state = reply(t, r, seg.family)
            elif kind == TIMEOUT:
                state = tally.target(t, seg.family)
                state.timeouts += 1
            elif kind == ERROR:
                state = error(t, r, seg.family)
            elif kind == SEND_FAILED:
                state = tally.target(t, seg.family)
                state.failed += 1
            else:
                continue
            if on_record is not None:
                on_record(r, state, seg.family)
        lane.last = (lo, hi, delta)
        self.segment = seg
        if fast_n:
            tally.fold_clean(fast_n, fast_sum, fast_min, fast_max)
        return out

    def summary(self) -> Summary:
        return self.tally.summary(self.engine_counters(),
                                  self.targets.total + len(self.targets.unknown),
                                  len(self.targets.unknown), self.elapsed_s)

    def engine_counters(self) -> Counters:
        if self.final_counters is not None:
            return self.final_counters
        return _summed([lane.counters() for lane in self.lanes])

    def close(self) -> None:
        if any(lane.sockets.socks for lane in self.lanes):
            self.elapsed_s = time.monotonic() - self.started
            if self.final_counters is None:
                self.final_counters = _summed([lane.counters() for lane in self.lanes])
        for lane in self.lanes:
            lane.close()
