"""Several samples of one server, reduced to one answer (RFC 5905 10, the
clock filter, for a burst taken within seconds).

The offset a sample measures is wrong by at most half its delay, and a
sample whose packets were held up anywhere (a queue, a late wake-up of
either side) has a longer delay and, most likely, a less even one. So the
answer is the sample of least delay; over a burst of a few seconds the
dispersion that RFC 5905 adds with a sample's age hardly differs between
samples, and ordering by distance is ordering by delay. Ties go to the
earlier sample.

The jitter is the RMS of the other samples' offsets about the chosen one:

    jitter = sqrt( sum over j != chosen of (offset_j - offset_chosen)**2 / (n - 1) )

as ntpd computes it. ntpd then raises it to the local clock's precision
before using it in further arithmetic; here it is a report and stays as
measured. One sample has no jitter (None).
"""

from __future__ import annotations

import math
from typing import Optional, Protocol, Sequence

__all__ = ["jitter_s", "select"]


class Measured(Protocol):
    @property
    def offset_s(self) -> float: ...

    @property
    def delay_s(self) -> float: ...


def select(samples: Sequence[Measured]) -> int:
    """The index of the sample of least delay (the first of equals)."""
    if not samples:
        raise ValueError("no sample to select from")
    best = 0
    for index, sample in enumerate(samples):
        if sample.delay_s < samples[best].delay_s:
            best = index
    return best


def jitter_s(samples: Sequence[Measured], selected: int) -> Optional[float]:
    """RMS of the offsets' differences from samples[selected], over the
    n - 1 others; None for fewer than two samples."""
    if len(samples) < 2:
        return None
    chosen = samples[selected].offset_s
    total = 0.0
    for index, sample in enumerate(samples):
        if index != selected:
            total += (sample.offset_s - chosen) ** 2
    return math.sqrt(total / (len(samples) - 1))
