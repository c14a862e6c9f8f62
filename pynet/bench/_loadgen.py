"""The C load generator (csrc/loadgen.c) driven from Python: one call runs
the whole measurement with the GIL released. Only the C backend has it; it
is reached through pynet._backend whichever backend is live (a Python load
generator would measure itself, not the server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Tuple, cast

from .. import _backend
from .. import _checks as checks

__all__ = ["LoadGenerator", "LoadResult", "Measurement", "percentile_ns", "run_load"]


class Measurement(Protocol):
    """What a backend's run() returns (pynet._c.loadgen.Measurement)."""

    @property
    def messages(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    @property
    def mismatches(self) -> int: ...

    @property
    def lost(self) -> int: ...

    @property
    def elapsed_s(self) -> float: ...

    @property
    def latency(self) -> Tuple[Tuple[int, int], ...]: ...


class LoadGenerator(Protocol):
    """What run_load needs of a backend (pynet/_c/loadgen.py)."""

    def run(self, host: str, port: int, *, udp: bool, connections: int, size: int,
            warmup: float, duration: float, timeout: float, stop_fd: int) -> Measurement: ...


if TYPE_CHECKING:
    # mypy checks here that the C adapter implements the interface.
    from .._c import loadgen as _c_loadgen
    _conforms: LoadGenerator = _c_loadgen


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
             size: int = 1024, warmup: float = 1.0, duration: float = 3.0,
             timeout: float = 5.0, stop_fd: int = -1) -> LoadResult:
    """Load an echo server at host (a numeric address) and port for warmup
    seconds uncounted, then duration seconds counted, one message of size
    bytes in flight on each of connections connections (UDP: flows), every
    reply checked byte for byte. A readable stop_fd ends it early.

    ImportError without the C extension; TypeError/ValueError for bad
    settings; OSError when the server cannot be reached, stops answering
    (TCP, for timeout seconds) or closes a connection."""
    checks.port(port)
    checks.integer(connections, "connections", 1)
    checks.integer(size, "size", 1)
    warmup = checks.seconds(warmup, "warmup", zero=True)
    duration = checks.seconds(duration, "duration")
    timeout = checks.seconds(timeout, "timeout")
    generator = cast(LoadGenerator, _backend.module("loadgen", "c"))
    got = generator.run(host, port, udp=udp, connections=connections, size=size, warmup=warmup,
                        duration=duration, timeout=timeout, stop_fd=stop_fd)
    return LoadResult(messages=got.messages, bytes=got.bytes, mismatches=got.mismatches,
                      lost=got.lost, elapsed_s=got.elapsed_s, latency=got.latency)
