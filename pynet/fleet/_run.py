"""One fleet run: the options checked once, the sockets and the engine set
up, the targets fed to the engine a chunk at a time, and its records folded
into per-target results. ping(), sweep() and the CLI all drive this.

The hot loop touches each record once: the engine's records arrive packed
(RECORD layout) and are unpacked by struct.iter_unpack, one tuple each.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterator, List, Optional, Tuple

from .. import _backend
from .. import _checks as checks
from .._fleet_engine import (DONE, ERROR, KEY_LEN, MAX_RETRIES, MIN_PAYLOAD, REPLY, SEND_FAILED, TIMEOUT,
                             Counters, EngineConfig)
from ._result import FleetResult, Summary, Tally
from ._socket import FleetSockets, open_sockets
from ._targets import CHUNK, Targets, address_of

__all__ = ["MAX_SIZE", "Options", "Run", "engine_module", "check_options"]

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

# Called per record for REPLY, TIMEOUT, ERROR and SEND_FAILED:
# (record, target state, family).
OnRecord = Callable[[Tuple[Any, ...], Any, int], None]


def engine_module(backend: Optional[str] = None) -> ModuleType:
    """pynet._c.fleet or pynet._reference.fleet, through the backend seam."""
    return _backend.module("fleet", backend)


@dataclass(frozen=True)
class Options:
    """The knobs of a run, in seconds (fping's -c, -i, -p, -t, -r, -B, ...)."""

    count: int = 1
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

    def config(self, sockets: FleetSockets, batch: int = 4096) -> EngineConfig:
        return EngineConfig(
            fd4=sockets.fd4, raw4=sockets.raw4, fd6=sockets.fd6, raw6=sockets.raw6,
            ident=sockets.ident, key=os.urandom(KEY_LEN), payload_len=self.size,
            count=self.count, interval_ns=int(self.interval * NS),
            period_ns=max(1, int(self.period * NS)), timeout_ns=max(1, int(self.timeout * NS)),
            retries=self.retries if self.count == 1 else 0, backoff=float(self.backoff),
            rate_pps=int(math.ceil(self.rate)) if self.rate else 0, batch=batch)


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


def _source_for(source: Optional[str], family: int) -> Optional[str]:
    if source is None:
        return None
    return source if (":" in source) == (family == 6) else None


class Run:
    """The engine over targets. Iterate results() once; close() at the end
    (results() does it when it finishes)."""

    def __init__(self, targets: Targets, options: Options, backend: Optional[str] = None,
                 on_record: Optional[OnRecord] = None,
                 on_batch: Optional[Callable[[], None]] = None) -> None:
        self.targets = targets
        self.options = options
        self.on_record = on_record
        self.on_batch = on_batch
        self.tally = Tally(options.keep_replies, fast=on_record is None)
        self.module = engine_module(backend)
        self.sockets = open_sockets(
            targets.families(), options.privileged, rate_pps=int(options.rate or 0),
            payload_len=options.size, ttl=options.ttl, interface=options.interface,
            source4=_source_for(options.source, 4), source6=_source_for(options.source, 6))
        try:
            self.engine = self.module.Engine(options.config(self.sockets, RUN_BATCH))
        except BaseException:
            self.sockets.close()
            raise
        self.feed = targets.chunks()
        self.added = 0
        self.stop_requested = False
        self.started = time.monotonic()
        self.elapsed_s = 0.0
        self.final_counters: Optional[Counters] = None

    def stop(self) -> None:
        """End the run early (any thread, a signal handler too): nothing more
        is sent; every target still going gets its result from what it has,
        as fping does on SIGINT."""
        self.stop_requested = True

    def _refill(self, active: int) -> bool:
        """Add targets while fewer than LOW_WATER are active. False when
        there is nothing left to add."""
        while active < LOW_WATER:
            chunk = next(self.feed, None)
            if chunk is None:
                return False
            first, family, packed, scope_id = chunk
            got = self.engine.add(family, packed, scope_id)
            if got != first:
                raise RuntimeError(f"engine numbered target {first} as {got}")
            n = len(packed) // (4 if family == 4 else 16)
            self.added += n
            active += n
        return True

    def _drive(self, handed: "queue.SimpleQueue[Any]", quit_now: threading.Event) -> None:
        """The worker thread: the only one that touches the engine while the
        run goes. The C engine runs without the GIL, so the caller folds one
        batch on the other core while the next is sent and received."""
        engine = self.engine
        run_raw = engine.run_raw
        flush_ns = int(FLUSH_S * NS)
        wake_ns = int(WAKE_S * NS)
        try:
            more = self._refill(0)
            cancelled = False
            while not quit_now.is_set():
                if self.stop_requested and not cancelled:
                    cancelled = True
                    more = False
                    cancel = engine.cancel
                    for t in range(self.added):
                        cancel(t)
                handed.put(run_raw(time.monotonic_ns() + wake_ns, flush_ns))
                counters = engine.counters()
                if not cancelled:
                    more = self._refill(counters.active)
                if counters.done and not more:
                    self.final_counters = counters
                    break
        except BaseException as exc:  # handed to the caller's thread
            handed.put(exc)
        handed.put(None)

    def results(self) -> Iterator[Tuple[int, FleetResult]]:
        """(index, result) of every target, each as soon as it is final."""
        try:
            yield from self._loop()
            # Targets never handed to the engine (the run was stopped).
            for index in range(self.added, self.targets.total):
                yield index, self.tally.done(index, 0, self.targets.host(index),
                                             self.targets.address(index),
                                             self.targets.family_of(index))
        finally:
            self.close()

    def _loop(self) -> Iterator[Tuple[int, FleetResult]]:
        handed: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        quit_now = threading.Event()
        worker = threading.Thread(target=self._drive, args=(handed, quit_now),
                                  name="pynet-fleet", daemon=True)
        records = self.engine.records
        tally = self.tally
        targets = self.targets
        on_record = self.on_record
        reply, error, done, timeout = tally.reply, tally.error, tally.done, TIMEOUT
        segment_of = targets.segment_of
        s = targets.segments[0] if targets.segments else None
        worker.start()
        try:
            while True:
                item = handed.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                out: List[Tuple[int, FleetResult]] = []
                for r in records(item):
                    kind = r[0]
                    t = r[1]
                    if s is None or not s.first <= t < s.first + s.size:
                        s = segment_of(t)
                    if kind == DONE:
                        address = address_of(s.family, s.base + t - s.first)
                        out.append((t, done(t, r[2], s.host or address, address, s.family)))
                        continue
                    if kind == REPLY:
                        state = reply(t, r, s.family)
                    elif kind == timeout:
                        state = tally.target(t, s.family)
                        state.timeouts += 1
                    elif kind == error:
                        state = error(t, r, s.family)
                    elif kind == SEND_FAILED:
                        state = tally.target(t, s.family)
                        state.failed += 1
                    else:
                        continue
                    if on_record is not None:
                        on_record(r, state, s.family)
                if out:
                    yield from out
                if self.on_batch is not None:
                    self.on_batch()
        finally:
            quit_now.set()
            worker.join()  # within one run() call; only then may the engine close

    def summary(self) -> Summary:
        counters = self.final_counters or self.engine_counters()
        return self.tally.summary(counters, self.targets.total + len(self.targets.unknown),
                                  len(self.targets.unknown), self.elapsed_s)

    def engine_counters(self) -> Counters:
        if self.final_counters is not None:
            return self.final_counters
        counters: Counters = self.engine.counters()
        return counters

    def close(self) -> None:
        if self.sockets.socks:
            self.elapsed_s = time.monotonic() - self.started
            if self.final_counters is None:
                self.final_counters = self.engine.counters()
            self.engine.close()
            self.sockets.close()
