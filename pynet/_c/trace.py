"""The traceroute loop through csrc/trace.c: one call drives the whole
trace, with the GIL released while it waits (pynet._native_nogil)."""

from __future__ import annotations

import os
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Tuple

from .._trace_loop import MAX_PACKET, RECORD, Counters, LoopConfig, Record
from ._ffi import ffi_nogil as ffi
from ._ffi import records_or_raise
from ._ffi import lib_nogil as lib

__all__ = ["Loop", "Many", "build_probe"]

_run = lib.pn_trace_run
_run_many = lib.pn_trace_many_run
_iter_unpack = RECORD.iter_unpack
_SIZE = RECORD.size


def _config(config: LoopConfig, c: Any = None) -> Any:
    """config as a struct pn_trace_config: a new one, or written into c."""
    if c is None:
        c = ffi.new("struct pn_trace_config *")
    c.fd = config.fd
    c.rfd = config.rfd
    c.family = config.family
    c.method = config.method
    c.raw = int(config.raw)
    ffi.memmove(c.target, config.target, len(config.target))
    ffi.memmove(c.source, config.source, len(config.source))
    c.scope_id = config.scope_id
    c.port = config.port
    c.sport = config.sport
    c.ident = config.ident
    c.key = config.key
    c.classic = int(config.classic)
    c.first_ttl = config.first_ttl
    c.max_ttl = config.max_ttl
    c.queries = config.queries
    c.sim = config.sim
    c.packet_len = config.packet_len
    c.wait_ns = config.wait_ns
    c.pause_ns = config.pause_ns
    c.here_milli = config.here_milli
    c.near_milli = config.near_milli
    return c


def build_probe(config: LoopConfig, index: int) -> bytes:
    """What goes into sendto for probe `index` (pn_trace_probe)."""
    out = ffi.new("uint8_t[]", MAX_PACKET)
    n = lib.pn_trace_probe(_config(config), index, out, MAX_PACKET)
    if n < 0:
        raise OSError(-n, os.strerror(-n))
    return bytes(ffi.buffer(out, n))


class Loop:
    """One trace over open sockets; run() until counters().done."""

    def __init__(self, config: LoopConfig) -> None:
        _check_layout()
        c = _config(config)
        self._config = c
        self._state: Any = ffi.new("struct pn_trace_state *")  # zeroed, as the loop wants
        self._cap = max(2, config.batch)
        self._out = ffi.new("struct pn_trace_record[]", self._cap)
        self._view = ffi.buffer(self._out)

    def run(self, flush_ns: int) -> bytes:
        n = _run(self._config, self._state, self._out, self._cap, flush_ns)
        return records_or_raise(n, self._view, _SIZE)

    @staticmethod
    def records(raw: bytes) -> List[Record]:
        return list(_iter_unpack(raw))

    def counters(self) -> Counters:
        s = self._state
        return Counters(s.sent, s.answered, s.malformed, s.unmatched, s.final_ttl, bool(s.done))

    def close(self) -> None:
        pass


def _check_layout() -> None:
    if ffi.sizeof("struct pn_trace_record") != _SIZE:
        raise ImportError("struct pn_trace_record does not match pynet._trace_loop.RECORD")


class Many:
    """Up to `slots` traces at once in one thread (pn_trace_many_*): start()
    a trace in a free slot, run() until each is done, release() the slot
    before closing its sockets."""

    def __init__(self, slots: int, batch: int = 4096) -> None:
        _check_layout()
        handle = lib.pn_trace_many_open(slots)
        if handle == ffi.NULL:
            raise MemoryError("pn_trace_many_open")
        self._handle: Any = ffi.gc(handle, lib.pn_trace_many_close)
        self._cap = max(2, batch)
        self._out = ffi.new("struct pn_trace_record[]", self._cap)
        self._slot = ffi.new("int64_t[]", self._cap)
        self._view = ffi.buffer(self._out)
        # Each slot's config and state stay where open put them: read once,
        # so that start() and counters() touch them without a C call (each
        # call into this library lets go of the GIL).
        self._configs = [lib.pn_trace_many_config(handle, i) for i in range(slots)]
        self._states = [lib.pn_trace_many_state(handle, i) for i in range(slots)]

    def start(self, slot: int, config: LoopConfig) -> None:
        if not 0 <= slot < len(self._configs):
            raise IndexError(f"slot {slot} out of range")
        _config(config, self._configs[slot])
        rc = lib.pn_trace_many_start(self._handle, slot)
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))

    def release(self, slot: int) -> None:
        lib.pn_trace_many_release(self._handle, slot)

    def run(self, flush_ns: int) -> Tuple[bytes, List[int]]:
        n = _run_many(self._handle, self._out, self._slot, self._cap, flush_ns)
        raw = records_or_raise(n, self._view, _SIZE)
        return raw, list(ffi.unpack(self._slot, n))

    @staticmethod
    def records(batch: Tuple[bytes, List[int]]) -> List[Tuple[int, Record]]:
        raw, slots = batch
        return list(zip(slots, _iter_unpack(raw)))

    def counters(self, slot: int) -> Counters:
        s = self._states[slot]
        return Counters(s.sent, s.answered, s.malformed, s.unmatched, s.final_ttl, bool(s.done))

    def close(self) -> None:
        if self._handle is not None:
            ffi.release(self._handle)  # runs pn_trace_many_close now
            self._handle = None
