"""The fleet engine through csrc/fleet.c: run() drives a whole batch of
sends, receives and timeouts in one call with the GIL released
(pynet._native_nogil); the short calls hold it (pynet._native)."""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional

from .._fleet_engine import KEY_LEN, RECORD, Counters, EngineConfig, Record
from ._ffi import ffi, ffi_nogil, lib, lib_nogil, pointer, records_or_raise

__all__ = ["Engine", "Server"]

_iter_unpack = RECORD.iter_unpack
_SIZE = RECORD.size
_run = lib_nogil.pn_fleet_run
_step = lib_nogil.pn_fleet_step
_add = lib_nogil.pn_fleet_add
_ZERO16 = bytes(16)


def _check(rc: int, what: str) -> int:
    if rc < 0:
        if -rc == errno.EINVAL:
            raise ValueError(f"{what}: invalid argument")
        if -rc == errno.ERANGE:
            raise IndexError(f"{what}: no such target")
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


class Engine:
    """Many targets over one socket per family (see pynet._fleet_engine)."""

    def __init__(self, config: EngineConfig) -> None:
        if ffi.sizeof("struct pn_fleet_record") != _SIZE:
            raise ImportError("struct pn_fleet_record does not match pynet._fleet_engine.RECORD")
        if len(config.key) != KEY_LEN:
            raise ValueError(f"key must be {KEY_LEN} bytes")
        c: Any = ffi.new("struct pn_fleet_config *")
        c.fd4, c.raw4 = config.fd4, int(config.raw4)
        c.fd6, c.raw6 = config.fd6, int(config.raw6)
        c.ident = config.ident
        ffi.memmove(c.key, config.key, KEY_LEN)
        c.payload_len = config.payload_len
        c.count = config.count
        c.interval_ns = config.interval_ns
        c.period_ns = config.period_ns
        c.timeout_ns = config.timeout_ns
        c.retries = config.retries
        c.backoff = config.backoff
        c.rate_pps = config.rate_pps
        c.fold = int(config.fold)
        if config.batch < 2:
            raise ValueError("batch must be >= 2")
        holder: Any = ffi.new("struct pn_fleet **")
        _check(lib.pn_fleet_new(c, holder), "fleet engine")
        self._f: Any = holder[0]
        # The same engine as the other module's type (two ffi instances).
        self._fn: Any = ffi_nogil.cast("struct pn_fleet *", ffi.cast("uintptr_t", self._f))
        self._cap = config.batch
        self._out: Any = ffi_nogil.new("struct pn_fleet_record[]", self._cap)
        self._view = ffi_nogil.buffer(self._out)
        self._one: Any = ffi.new("struct pn_fleet_record[]", 4)
        self._one_view = ffi.buffer(self._one)
        self._counters: Any = ffi.new("struct pn_fleet_counters *")
        self._server: Optional[Server] = None

    def _live(self) -> None:
        if self._f is None:
            raise ValueError("the engine is closed")
        if self._server is not None:
            raise RuntimeError("the engine is driven by its server's thread")

    def add(self, family: int, addresses: bytes, scope_id: int = 0) -> int:
        self._live()
        size = 4 if family == 4 else 16
        if family not in (4, 6) or len(addresses) % size:
            raise ValueError("addresses must be whole 4- or 16-byte addresses of the family")
        rc = _add(self._fn, family, pointer(addresses), len(addresses) // size, scope_id)
        if rc == -errno.EINVAL:
            raise ValueError(f"no IPv{family} socket in this engine, or too many targets")
        return _check(rc, "add")

    def cancel(self, target: int) -> None:
        self._stop(target, lib.pn_fleet_cancel, "cancel")

    def drop(self, target: int) -> None:
        self._stop(target, lib.pn_fleet_drop, "drop")

    def _stop(self, target: int, fn: Callable[[Any, int], int], what: str) -> None:
        self._live()
        if target < 0:
            raise IndexError(f"no target {target}")
        _check(fn(self._f, target), what)

    def run_raw(self, until_ns: int, flush_ns: int) -> bytes:
        """run(), with the records left packed (RECORD layout)."""
        self._live()
        n = _run(self._fn, until_ns, flush_ns, self._out, self._cap)
        return records_or_raise(n, self._view, _SIZE)

    def step_raw(self) -> bytes:
        self._live()
        n = _step(self._fn, self._out, self._cap)
        return records_or_raise(n, self._view, _SIZE)

    @staticmethod
    def records(raw: bytes) -> List[Record]:
        return list(_iter_unpack(raw))

    def run(self, until_ns: int, flush_ns: int) -> List[Record]:
        return list(_iter_unpack(self.run_raw(until_ns, flush_ns)))

    def step(self) -> List[Record]:
        return list(_iter_unpack(self.step_raw()))

    def next_wakeup_ns(self) -> int:
        self._live()
        return int(lib.pn_fleet_next_wakeup(self._f))

    def feed(self, out: List[Record], family: int, data: bytes, sender: bytes, ttl: int,
             when: int) -> None:
        """The matcher alone: one packet as read from the family's socket."""
        self._live()
        n = _check(lib.pn_fleet_feed(self._f, family, pointer(data), len(data),
                                     sender.ljust(16, b"\0"), ttl, when, self._one, 4), "feed")
        out.extend(_iter_unpack(self._one_view[:n * _SIZE]))

    def feed_error(self, out: List[Record], family: int, data: bytes, dest: bytes,
                   icmp_type: int, code: int, offender: bytes, when: int) -> None:
        """The matcher alone: one error-queue message (data: the quote)."""
        self._live()
        n = _check(lib.pn_fleet_feed_error(self._f, family, pointer(data), len(data),
                                           dest.ljust(16, b"\0"), icmp_type, code,
                                           offender.ljust(16, b"\0"), when, self._one, 4),
                   "feed_error")
        out.extend(_iter_unpack(self._one_view[:n * _SIZE]))

    def counters(self) -> Counters:
        if self._server is not None:
            return self._server.counters()
        self._live()
        k = self._counters
        lib.pn_fleet_counters(self._f, k)
        return _counters(k)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._f is not None:
            lib.pn_fleet_free(self._f)
            self._f = None
            self._fn = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _counters(k: Any) -> Counters:
    return Counters(k.sent, k.received, k.duplicates, k.corrupted, k.errors, k.malformed,
                    k.foreign, k.kernel_drops, k.active, bool(k.done), k.late)


class Server:
    """The engine driven by a thread of its own (csrc/fleet_serve.c), for an
    event loop: watch `fd` for reading and take() the records; add() and
    drop() hand work to the thread. While it runs the engine refuses every
    call of its own but counters() (the thread's copy) and close() (which
    stops the server first)."""

    def __init__(self, engine: Engine, cap: int) -> None:
        engine._live()
        holder: Any = ffi.new("struct pn_fleet_serve **")
        _check(lib.pn_fleet_serve_start(engine._f, holder), "fleet server")
        self._s: Any = holder[0]
        self._sn: Any = ffi_nogil.cast("struct pn_fleet_serve *", ffi.cast("uintptr_t", self._s))
        self.engine = engine
        engine._server = self
        self.fd = int(lib.pn_fleet_serve_fd(self._s))
        self._cap = cap
        self._out: Any = ffi.new("struct pn_fleet_record[]", cap)
        self._view = ffi.buffer(self._out)
        self._counters: Any = ffi.new("struct pn_fleet_counters *")

    def _live(self) -> None:
        if self._s is None:
            raise ValueError("the server is stopped")

    def add(self, family: int, addresses: bytes, scope_id: int = 0) -> int:
        """The first target's number, as Engine.add gives it."""
        self._live()
        size = 4 if family == 4 else 16
        if family not in (4, 6) or len(addresses) % size or not addresses:
            raise ValueError("addresses must be whole 4- or 16-byte addresses of the family")
        rc = lib.pn_fleet_serve_add(self._s, family, addresses, len(addresses) // size, scope_id)
        if rc == -errno.EINVAL:
            raise ValueError(f"no IPv{family} socket in this engine, or too many targets")
        return _check(rc, "add")

    def drop(self, targets: List[int]) -> None:
        """Engine.drop of each target, in the thread's next round."""
        self._live()
        if targets:
            _check(lib.pn_fleet_serve_drop(self._s, ffi.new("int64_t[]", targets),
                                           len(targets)), "drop")

    def take(self) -> List[Record]:
        """The records the thread has written (at most cap of them; fd stays
        readable while more wait). OSError: the socket failure that ended
        the thread, once its earlier records are taken."""
        self._live()
        n = lib.pn_fleet_serve_take(self._s, self._out, self._cap)
        return list(_iter_unpack(records_or_raise(n, self._view, _SIZE)))

    def counters(self) -> Counters:
        self._live()
        lib.pn_fleet_serve_counters(self._s, self._counters)
        return _counters(self._counters)

    def stop(self) -> None:
        """Join the thread; the engine is its owner's again (and what was
        queued, in it)."""
        if self._s is not None:
            lib_nogil.pn_fleet_serve_stop(self._sn)
            self._s = self._sn = None
            self.engine._server = None

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass
