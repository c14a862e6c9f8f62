"""The ping loop through csrc/ping.c: one call drives many packets, with
the GIL released while it waits (pynet._native_nogil)."""

from __future__ import annotations


from .._ping_loop import RECORD, Counters, LoopConfig, Record
from ._ffi import ffi_nogil as ffi
from ._ffi import records_or_raise
from ._ffi import lib_nogil as lib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List

__all__ = ["Loop"]

_run = lib.pn_ping_run
_iter_unpack = RECORD.iter_unpack
_SIZE = RECORD.size


class Loop:
    """One ping run over an open socket; run() until counters().done."""

    def __init__(self, config: LoopConfig) -> None:
        if ffi.sizeof("struct pn_ping_record") != _SIZE:
            raise ImportError("struct pn_ping_record does not match pynet._ping_loop.RECORD")
        c: Any = ffi.new("struct pn_ping_config *")
        c.fd = config.fd
        c.family = config.family
        c.raw = int(config.raw)
        c.ident = config.ident
        ffi.memmove(c.target, config.target, len(config.target))
        c.scope_id = config.scope_id
        c.payload_len = config.payload_len
        c.report_outstanding = int(config.report_outstanding)
        c.interval_ns = config.interval_ns
        c.count = config.count
        c.deadline_ns = config.deadline_ns
        c.linger_ns = config.linger_ns
        ffi.memmove(c.pattern, config.pattern, len(config.pattern))
        c.pattern_len = len(config.pattern)
        c.preload = config.preload
        c.adaptive = int(config.adaptive)
        c.user_latency = int(config.user_latency)
        c.min_interval_ns = config.min_interval_ns
        c.any_source = int(config.any_source)
        c.flowinfo = config.flowinfo
        self._config = c
        self._state: Any = ffi.new("struct pn_ping_state *")  # zeroed, as the loop wants
        self._cap = max(2, config.batch)
        self._out = ffi.new("struct pn_ping_record[]", self._cap)
        self._view = ffi.buffer(self._out)

    def run(self, flush_ns: int) -> List[Record]:
        return self.records(self.run_raw(flush_ns))

    def run_raw(self, flush_ns: int) -> bytes:
        """run(), with the records left packed: a worker thread hands them
        over as they are, and the thread that reads them unpacks them."""
        n = _run(self._config, self._state, self._out, self._cap, flush_ns)
        return records_or_raise(n, self._view, _SIZE)

    @staticmethod
    def records(raw: bytes) -> List[Record]:
        return list(_iter_unpack(raw))

    def wrong_payload(self) -> bytes:
        """The payload of the batch's reply whose data differed, as it
        came (a batch ends with such a reply); b"" when none did."""
        s = self._state
        return bytes(ffi.buffer(s.wrong_payload, s.wrong_len))

    def counters(self) -> Counters:
        s = self._state
        return Counters(s.transmitted, s.received, s.duplicates, s.corrupted, s.errors,
                        s.malformed, s.pipesize, s.first_send_ns, s.last_send_ns, bool(s.done),
                        s.wrong_data)

    def close(self) -> None:
        pass
