"""The C load generator (csrc/loadgen.c) driven from Python: one call runs
the whole measurement with the GIL released."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Tuple

__all__ = ["LoadResult", "percentile_ns", "run_load"]


@dataclass(frozen=True)
class LoadResult:
    """What one measurement saw. ``latency`` holds (floor_ns, count) for each
    non-empty histogram bucket (16 buckets per power of two)."""

    messages: int
    bytes: int
    mismatches: int
    lost: int
    elapsed_s: float
    latency: Tuple[Tuple[int, int], ...]

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        """Echoed bytes per second, in MB (10^6 bytes), one direction."""
        return self.bytes / self.elapsed_s / 1e6 if self.elapsed_s > 0 else 0.0

    def percentile_us(self, p: float) -> float:
        return percentile_ns(self.latency, p) / 1000.0


def percentile_ns(latency: Tuple[Tuple[int, int], ...], p: float) -> float:
    """The p-th percentile (0..100) of a histogram, as the middle of the
    bucket it falls in (the buckets are 6 % wide)."""
    total = sum(count for _, count in latency)
    if total == 0:
        return 0.0
    rank = p / 100.0 * total
    seen = 0
    for i, (floor, count) in enumerate(latency):
        seen += count
        if seen >= rank:
            nxt = floor + max(1, floor // 16) if floor >= 32 else floor + 1
            return (floor + nxt) / 2.0
    return float(latency[-1][0])


def run_load(host: str, port: int, *, udp: bool = False, connections: int = 10,
             size: int = 1024, warmup_s: float = 1.0, duration_s: float = 3.0,
             timeout_s: float = 5.0, stop_fd: int = -1) -> LoadResult:
    """Load an echo server at host (a numeric address) and port. OSError
    when it cannot be reached, stops answering (TCP, for timeout_s) or
    closes a connection."""
    from .._native import lib as lib_gil
    from .._native_nogil import ffi, lib

    c_host = ffi.new("char[]", host.encode())
    cfg = ffi.new("struct pn_loadgen_config *", {
        "host": c_host, "port": port, "udp": int(udp), "connections": connections,
        "message_size": size, "warmup_s": warmup_s, "duration_s": duration_s,
        "timeout_s": timeout_s, "stop_fd": stop_fd, "poller": 0})
    res = ffi.new("struct pn_loadgen_result *")
    rc = lib.pn_loadgen_run(cfg, res)
    if rc < 0:
        code = -rc
        if code == errno.EINVAL:
            raise ValueError(f"load settings refused: {connections} connections, {size} bytes")
        raise OSError(code, os.strerror(code))
    buckets = tuple((int(lib_gil.pn_loadgen_bucket_floor_ns(i)), int(res.latency_ns[i]))
                    for i in range(lib_gil.PN_LOADGEN_BUCKETS) if res.latency_ns[i])
    return LoadResult(messages=int(res.messages), bytes=int(res.bytes),
                      mismatches=int(res.mismatches), lost=int(res.lost),
                      elapsed_s=float(res.elapsed_s), latency=buckets)
