"""Round-trip statistics two ways: iputils' integer-microsecond arithmetic
for the text it prints (so the numbers match to the digit), and exact
floats for the library's results."""

from __future__ import annotations

import math
import operator
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

__all__ = ["RttStats", "format_ms", "loss_percent", "loss_text", "rtt_us"]

_FLOAT = struct.Struct("=f")
_LONG_MAX = (1 << 63) - 1
_INT_MAX = (1 << 31) - 1


def rtt_us(rtt_ns: int) -> int:
    """iputils measures round trips in whole microseconds."""
    return rtt_ns // 1000


def format_ms(us: int) -> str:
    """A reply's time= as iputils prints it: three significant decimals
    below 10 ms, fewer above, rounded (gather_statistics)."""
    if us >= 100000 - 50:
        return f"{(us + 500) // 1000}"
    if us >= 10000 - 5:
        return f"{(us + 50) // 1000}.{((us + 50) % 1000) // 100}"
    if us >= 1000:
        return f"{(us + 5) // 1000}.{((us + 5) % 1000) // 10:02d}"
    return f"{us // 1000}.{us % 1000:03d}"


def loss_percent(transmitted: int, received: int) -> float:
    return (transmitted - received) * 100.0 / transmitted if transmitted else 0.0


def loss_text(transmitted: int, received: int) -> str:
    """iputils prints the loss as a C float through %g."""
    value = _FLOAT.unpack(_FLOAT.pack(loss_percent(transmitted, received)))[0]
    return "%g" % value


def _llsqrt(a: int) -> int:
    """iputils' integer square root (Newton's method, rounding down)."""
    if a <= 0:
        return a
    prev, x = _LONG_MAX, a
    while x < prev:
        prev = x
        x = (x + a // x) // 2
    return x


def _ms3(us: int) -> str:
    return f"{us // 1000}.{us % 1000:03d}"


class RttStats:
    """Round trips of the replies that count (duplicates included, as in
    iputils; corrupted ones not), in integer nanoseconds. extend() takes a
    batch and keeps the library's sums up to date (while the C loop pings
    on); iputils' own sums are made only when its line is asked for."""

    def __init__(self) -> None:
        self.rtts_ns: List[int] = []
        self._n = 0
        self._total = 0
        self._squares = 0
        self._min = 0
        self._max = 0
        self._steps = 0              # sum of |difference| between successive round trips
        self._summed = 0
        self.tsum = 0                # microseconds, as iputils sums them
        self.tsum2 = 0
        self.tmin = _LONG_MAX
        self.tmax = 0
        self._ewma = 0               # iputils' rtt: 8 times a moving average

    def extend(self, rtts: List[int]) -> None:
        if not rtts:
            return
        previous = self.rtts_ns[-1] if self.rtts_ns else rtts[0]
        self.rtts_ns.extend(rtts)
        self._total += sum(rtts)
        self._squares += sum([x * x for x in rtts])
        low, high = min(rtts), max(rtts)
        self._min = low if not self._n else min(self._min, low)
        self._max = max(self._max, high)
        self._steps += abs(rtts[0] - previous) + sum(map(abs, map(operator.sub, rtts[1:], rtts)))
        self._n += len(rtts)

    @property
    def count(self) -> int:
        return len(self.rtts_ns)

    def _sum(self) -> None:
        """Fold in the round trips added since the last look, in order."""
        tsum, tsum2, tmin, tmax, ewma = self.tsum, self.tsum2, self.tmin, self.tmax, self._ewma
        for rtt_ns in self.rtts_ns[self._summed:]:
            t = rtt_ns // 1000
            tsum += t
            # iputils adds the square as a double into a long long.
            tsum2 = int(float(tsum2) + float(t * t))
            if t < tmin:
                tmin = t
            if t > tmax:
                tmax = t
            ewma = t * 8 if not ewma else ewma + t - ewma // 8
        self._summed = len(self.rtts_ns)
        self.tsum, self.tsum2, self.tmin, self.tmax, self._ewma = tsum, tsum2, tmin, tmax, ewma

    @property
    def ewma(self) -> int:
        self._sum()
        return self._ewma

    def line(self) -> Optional[str]:
        """`rtt min/avg/max/mdev = ...` as iputils' finish() computes it."""
        self._sum()
        total = self.count
        if not total:
            return None
        avg = self.tsum // total
        if self.tsum < _INT_MAX:
            # iputils' order of operations, which keeps small times exact.
            var = (self.tsum2 - (self.tsum * self.tsum) // total) // total
        else:
            var = self.tsum2 // total - avg * avg
        mdev = _llsqrt(var)
        return (f"rtt min/avg/max/mdev = {_ms3(self.tmin)}/{_ms3(avg)}/"
                f"{_ms3(self.tmax)}/{_ms3(mdev)} ms")

    # ---- exact values for the library (milliseconds, floats), from the sums ----

    def min_ms(self) -> Optional[float]:
        return self._min / 1e6 if self._n else None

    def max_ms(self) -> Optional[float]:
        return self._max / 1e6 if self._n else None

    def avg_ms(self) -> Optional[float]:
        return self._total / self._n / 1e6 if self._n else None

    def mdev_ms(self) -> Optional[float]:
        """The population standard deviation, which iputils calls mdev
        (exact: the sums are integers)."""
        n = self._n
        if not n:
            return None
        variance = (n * self._squares - self._total * self._total) / (n * n)
        return math.sqrt(max(0.0, variance)) / 1e6

    def jitter_ms(self) -> Optional[float]:
        """The mean absolute difference between successive round trips."""
        if self._n < 2:
            return None
        return self._steps / (self._n - 1) / 1e6
