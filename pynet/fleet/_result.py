"""What a fleet run returns: one FleetResult per target (the PingResult shape:
counts, loss, round-trip statistics in milliseconds, the replies) and a
Summary of the whole run.

FleetResult is a named tuple, not a dataclass: a million-host sweep builds a
million of them, and a frozen dataclass's __init__ (one object.__setattr__
per field) costs about ten times tuple.__new__.
"""

from __future__ import annotations

import math
import socket
# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, NamedTuple, Optional, Tuple
else:
    from .._records import NamedTuple

from .._fleet_engine import BAD_CHECKSUM, DUP, Counters
from ..ping._icmp_text import describe
from ..ping._result import PingIcmpError, PingReply
from ..ping._stats import loss_percent

__all__ = ["FleetResult", "Summary", "Tally", "address_text", "clean_result"]


def address_text(family: int, raw: bytes) -> str:
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw[:16])


class FleetResult(NamedTuple):
    """One target's result. ``transmitted`` counts its probes, retries
    included; ``replies`` holds every reply (duplicates and corrupted ones
    too, flagged), ``icmp_errors`` the ICMP errors quoting its probes; seq in
    both is the probe number."""

    host: str
    address: str
    family: int
    transmitted: int
    received: int
    duplicates: int
    corrupted: int
    errors: int
    timeouts: int
    loss_percent: float
    rtt_min_ms: Optional[float]
    rtt_avg_ms: Optional[float]
    rtt_max_ms: Optional[float]
    rtt_mdev_ms: Optional[float]
    replies: Tuple[PingReply, ...]
    icmp_errors: Tuple[PingIcmpError, ...]

    @property
    def is_alive(self) -> bool:
        return self.received > 0

    def to_dict(self) -> Dict[str, Any]:
        d = self._asdict()
        d["replies"] = [r._asdict() for r in self.replies]
        d["icmp_errors"] = [e._asdict() for e in self.icmp_errors]
        return d


class Summary(NamedTuple):
    """The whole run, as fping -s counts it, plus what pynet explains: ICMP
    errors, duplicates, unparseable and foreign packets, and the replies the
    kernel dropped from our receive queue (kernel_drops: our loss, not the
    network's)."""

    targets: int
    alive: int
    unreachable: int
    unknown: int
    sent: int
    received: int
    timeouts: int
    duplicates: int
    corrupted: int
    errors: int
    malformed: int
    foreign: int
    kernel_drops: int
    loss_percent: float
    rtt_min_ms: Optional[float]
    rtt_avg_ms: Optional[float]
    rtt_max_ms: Optional[float]
    elapsed_s: float
    late: int = 0       # replies after their probe's timeout: lost, as fping counts them

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._asdict())


_new = tuple.__new__
_EMPTY: Tuple[Any, ...] = ()
# PingReply's fields after the eight a fleet reply sets (tuple.__new__
# applies no defaults): data_ok, and the IPv4 options a fleet probe never asks for.
_REPLY_REST = tuple(PingReply._field_defaults[f] for f in PingReply._fields[8:])


def clean_result(r: Tuple[Any, ...], sent: int, host: str, address: str, family: int,
                 keep: bool = True) -> FleetResult:
    """The result of a target sent `sent` probes whose one record is the
    clean reply r (from the target's address: the engine matches nothing
    else); its reply kept in it when keep. No tally: an asyncio call
    answered by its reply needs none."""
    ms = r[3] / 1e6
    replies: Tuple[PingReply, ...] = _EMPTY
    if keep:
        replies = (_new(PingReply, (r[2], ms, r[4] if r[4] >= 0 else None, r[5], False, True,
                                    address, r[9] / 1e9) + _REPLY_REST),)
    return _new(FleetResult, (host, address, family, sent, 1, 0, 0, 0, 0,
                              (sent - 1) * 100.0 / sent, ms, ms, ms, 0.0, replies, _EMPTY))


class _Target:
    """One target's tally while it is in flight (dropped at its DONE)."""

    __slots__ = ("received", "dups", "corrupted", "errors", "timeouts", "failed", "n", "sum",
                 "sumsq", "min", "max", "replies", "icmp_errors")

    def __init__(self) -> None:
        self.received = self.dups = self.corrupted = self.errors = 0
        self.timeouts = self.failed = 0
        self.n = self.sum = self.sumsq = 0
        self.min = self.max = -1
        self.replies: Optional[List[PingReply]] = None
        self.icmp_errors: Optional[List[PingIcmpError]] = None


class Tally:
    """Folds engine records into per-target results and the run's totals.
    Only targets with a record and no DONE yet have state here."""

    def __init__(self, keep_replies: bool = True, fast: bool = True) -> None:
        self.keep = keep_replies
        # fast: a target's first clean reply is kept as its bare record
        # until a second record for it comes; a one-probe sweep then builds
        # no state object at all (two thirds of its Python time, measured).
        self.fast = fast
        self.open: Dict[int, Any] = {}
        self.alive = self.unreachable = 0
        self.timeouts = 0
        self.rtt_n = self.rtt_sum = 0
        self.rtt_min = self.rtt_max = -1

    def target(self, t: int, family: int) -> _Target:
        state = self.open.get(t)
        if state is None:
            state = self.open[t] = _Target()
        elif type(state) is tuple:
            state = self._promote(t, state, family)
        return state

    def _promote(self, t: int, first: Tuple[Any, ...], family: int) -> _Target:
        self.open[t] = _Target()
        return self._add_reply(self.open[t], first, family)

    def reply(self, t: int, r: Tuple[Any, ...], family: int) -> Optional[_Target]:
        s = self.open.get(t)
        if s is None:
            if self.fast and not r[6]:
                self.open[t] = r
                return None
            s = self.open[t] = _Target()
        elif type(s) is tuple:
            s = self._promote(t, s, family)
        return self._add_reply(s, r, family)

    def _add_reply(self, s: _Target, r: Tuple[Any, ...], family: int) -> _Target:
        flags = r[6]
        rtt = r[3]
        if not flags:
            s.received += 1
            s.n += 1
            s.sum += rtt
            s.sumsq += rtt * rtt
            if s.min < 0 or rtt < s.min:
                s.min = rtt
            if rtt > s.max:
                s.max = rtt
        elif flags & DUP:
            s.dups += 1
        else:
            s.corrupted += 1
        if self.keep:
            if s.replies is None:
                s.replies = []
            s.replies.append(_new(PingReply, (
                r[2], rtt / 1e6, r[4] if r[4] >= 0 else None, r[5], bool(flags & DUP),
                not flags & BAD_CHECKSUM, address_text(family, r[10]), r[9] / 1e9,
                *_REPLY_REST)))
        return s

    def error(self, t: int, r: Tuple[Any, ...], family: int) -> _Target:
        s = self.target(t, family)
        s.errors += 1
        if self.keep:
            if s.icmp_errors is None:
                s.icmp_errors = []
            s.icmp_errors.append(PingIcmpError(
                seq=r[2], source=address_text(family, r[10]), type=r[7], code=r[8], info=0,
                text=describe(family, r[7], r[8], 0), time_s=r[9] / 1e9))
        return s

    def fold_clean(self, n: int, total: int, low: int, high: int) -> None:
        """n targets done with one clean reply each (total, low, high: their
        RTTs' sum, least and greatest, ns), their results built elsewhere."""
        self.alive += n
        self.rtt_n += n
        self.rtt_sum += total
        if self.rtt_min < 0 or low < self.rtt_min:
            self.rtt_min = low
        if high > self.rtt_max:
            self.rtt_max = high

    def done(self, t: int, sent: int, host: str, address: str, family: int) -> FleetResult:
        """Target t's result, its state dropped. sent: DONE's probe count."""
        s = self.open.pop(t, None)
        if s is None:
            self.unreachable += 1
            return _new(FleetResult, (host, address, family, sent, 0, 0, 0, 0, 0,
                                      100.0 if sent else 0.0, None, None, None, None,
                                      _EMPTY, _EMPTY))
        if type(s) is tuple:
            return self._one_reply(s, sent, host, address, family)
        self.timeouts += s.timeouts
        if s.received:
            self.alive += 1
            n = s.n
            mean = s.sum / n
            var = max(0.0, s.sumsq / n - mean * mean)
            self.rtt_n += n
            self.rtt_sum += s.sum
            if self.rtt_min < 0 or s.min < self.rtt_min:
                self.rtt_min = s.min
            if s.max > self.rtt_max:
                self.rtt_max = s.max
            stats: Tuple[Optional[float], ...] = (s.min / 1e6, mean / 1e6, s.max / 1e6,
                                                  math.sqrt(var) / 1e6)
        else:
            self.unreachable += 1
            stats = (None, None, None, None)
        return _new(FleetResult, (
            host, address, family, sent, s.received, s.dups, s.corrupted, s.errors, s.timeouts,
            loss_percent(sent, s.received), *stats,
            tuple(s.replies) if s.replies else _EMPTY,
            tuple(s.icmp_errors) if s.icmp_errors else _EMPTY))

    def _one_reply(self, r: Tuple[Any, ...], sent: int, host: str, address: str,
                   family: int) -> FleetResult:
        """done() for a target whose only record was one clean reply."""
        self.alive += 1
        rtt = r[3]
        self.rtt_n += 1
        self.rtt_sum += rtt
        if self.rtt_min < 0 or rtt < self.rtt_min:
            self.rtt_min = rtt
        if rtt > self.rtt_max:
            self.rtt_max = rtt
        return clean_result(r, sent, host, address, family, self.keep)

    def summary(self, counters: Counters, targets: int, unknown: int,
                elapsed_s: float) -> Summary:
        n = self.rtt_n
        return Summary(
            targets=targets, alive=self.alive, unreachable=self.unreachable, unknown=unknown,
            sent=counters.sent, received=counters.received, timeouts=self.timeouts,
            duplicates=counters.duplicates, corrupted=counters.corrupted, errors=counters.errors,
            malformed=counters.malformed, foreign=counters.foreign,
            kernel_drops=counters.kernel_drops,
            loss_percent=loss_percent(counters.sent, counters.received),
            rtt_min_ms=self.rtt_min / 1e6 if n else None,
            rtt_avg_ms=self.rtt_sum / n / 1e6 if n else None,
            rtt_max_ms=self.rtt_max / 1e6 if n else None,
            elapsed_s=elapsed_s, late=counters.late)
