"""The shared default Pinger behind pynet.async_ping: one per event loop and
set of engine-wide options (period, timeout, size, ...), so a thousand
concurrent async_ping calls share one engine and one socket per family
instead of a thousand sockets and a thread pool."""

from __future__ import annotations

import asyncio
import weakref
from typing import Dict, Optional, Tuple

from .._fleet_engine import MIN_PAYLOAD
from .._errors import PingNameError
from ..ping._result import PingReply, PingResult
from ..ping._stats import RttStats
from .._errors import FleetNameError
from ._pinger import Pinger
from ._result import FleetResult

__all__ = ["fits", "shared_ping"]

Key = Tuple[float, float, int, Optional[int], Optional[bool], Optional[str], Optional[str]]
_PINGERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[Key, Pinger]]" = \
    weakref.WeakKeyDictionary()


def fits(count: int, deadline: Optional[float], size: int, source: Optional[str]) -> bool:
    """Whether the shared engine can do this ping: a fixed count, no
    deadline, room for the engine's key in the payload, and no -I (an
    interface or source is per socket, not per call)."""
    return count > 0 and deadline is None and size >= MIN_PAYLOAD and source is None


def _as_ping_result(r: FleetResult, interval: float) -> PingResult:
    """A FleetResult in iputils' terms: sequence numbers from 1."""
    stats = RttStats()
    clean = sorted((p for p in r.replies if p.checksum_ok and not p.duplicate),
                   key=lambda p: p.seq)
    stats.extend([int(p.rtt_ms * 1e6) for p in clean])
    replies = tuple(PingReply(p.seq + 1, p.rtt_ms, p.ttl, p.bytes, p.duplicate, p.checksum_ok,
                              p.source, p.time_s) for p in sorted(r.replies, key=lambda p: p.seq))
    errors = tuple(e._replace(seq=e.seq + 1) for e in r.icmp_errors)
    return PingResult(
        host=r.host, address=r.address, family=r.family, transmitted=r.transmitted,
        received=r.received, duplicates=r.duplicates, corrupted=r.corrupted, errors=r.errors,
        loss_percent=r.loss_percent, time_ms=int(round(max(0, r.transmitted - 1) * interval * 1000)),
        rtt_min_ms=r.rtt_min_ms, rtt_avg_ms=r.rtt_avg_ms, rtt_max_ms=r.rtt_max_ms,
        rtt_mdev_ms=r.rtt_mdev_ms, jitter_ms=stats.jitter_ms(), replies=replies,
        icmp_errors=errors)


async def shared_ping(host: str, *, count: int, interval: float, timeout: float, size: int,
                      ttl: Optional[int], family: Optional[int], privileged: Optional[bool],
                      backend: Optional[str]) -> PingResult:
    loop = asyncio.get_running_loop()
    pingers = _PINGERS.setdefault(loop, {})
    key: Key = (interval, timeout, size, ttl, privileged, backend, None)
    pinger = pingers.get(key)
    if pinger is None or pinger.closed:
        pinger = pingers[key] = Pinger(period=max(interval, 1e-6), timeout=max(timeout, 1e-3),
                                       size=size, ttl=ttl, privileged=privileged,
                                       backend=backend)
        pinger.open()
    try:
        result = await pinger.ping(host, count=count, family=family)
    except FleetNameError as exc:
        raise PingNameError(exc.host, exc.reason) from None
    return _as_ping_result(result, interval)
