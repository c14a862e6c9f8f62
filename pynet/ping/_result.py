"""What a ping run returns: every reply and error, the counts, and the
round-trip statistics in milliseconds."""

from __future__ import annotations

import socket

from .. import _ping_loop as pl
from .._ping_loop import Counters, Record
from . import _ipopt as ipo
from ._icmp_text import describe
from ._ipopt import IpTimestamp
from ._stats import RttStats, loss_percent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, NamedTuple, Optional, Tuple
else:
    from .._records import NamedTuple

__all__ = ["IpTimestamp", "PingIcmpError", "PingReply", "PingResult", "Tally"]


class PingReply(NamedTuple):
    """One echo reply. ``rtt_ms`` runs from just before the send to the
    kernel's receive timestamp. Corrupted replies (``checksum_ok`` False)
    and duplicates are listed here but counted apart."""

    seq: int
    rtt_ms: float
    ttl: Optional[int]
    bytes: int
    duplicate: bool
    checksum_ok: bool
    source: str
    time_s: float            # unix time it arrived
    data_ok: bool = True     # the payload came back as it was sent
    # IPv4 options the reply came with (record_route=, timestamp=): the
    # addresses recorded, the hops' timestamps, the hops that found no room.
    route: Tuple[str, ...] = ()
    timestamps: Tuple[IpTimestamp, ...] = ()
    unrecorded_hops: int = 0

    def to_dict(self) -> Dict[str, Any]:
        """iputils -j's keys for a reply (bytes, host, seq, ttl, time in ms,
        a number here where iputils writes a string), pynet's beside them."""
        return {"bytes": self.bytes, "host": self.source, "seq": self.seq, "ttl": self.ttl,
                "time": self.rtt_ms, "duplicate": self.duplicate,
                "checksum_ok": self.checksum_ok, "data_ok": self.data_ok,
                "time_s": self.time_s, "route": list(self.route),
                "timestamps": [t.to_dict() for t in self.timestamps],
                "unrecorded_hops": self.unrecorded_hops}


class PingIcmpError(NamedTuple):
    """An ICMP error (unreachable, time exceeded, ...) quoting one of our requests."""

    seq: int
    source: str
    type: int
    code: int
    info: int
    text: str                # as iputils prints it
    time_s: float


class PingResult(NamedTuple):
    """One ping run: the counts as iputils prints them, the round-trip
    statistics in milliseconds (None when no reply came), and every reply
    and ICMP error. A named tuple rather than a dataclass: `pynet ping`
    starts 10 ms sooner without the dataclasses module."""

    host: str
    address: str
    family: int
    transmitted: int
    received: int
    duplicates: int
    corrupted: int
    errors: int
    loss_percent: float
    time_ms: int             # first to last request, as iputils reports it
    rtt_min_ms: Optional[float]
    rtt_avg_ms: Optional[float]
    rtt_max_ms: Optional[float]
    rtt_mdev_ms: Optional[float]
    jitter_ms: Optional[float]
    replies: Tuple[PingReply, ...]
    icmp_errors: Tuple[PingIcmpError, ...]
    deadline_missed: bool = False   # -w ended the run before -c replies came
    malformed: int = 0              # packets that could not be parsed: counted, skipped
    size: int = 56                  # payload bytes of each request
    wrong_data: int = 0             # replies whose payload differed from what was sent

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: what `ping --json` (-j) prints. iputils -j's summary
        keys (host, transmitted, received, duplicates, corrupted, errors,
        loss, time, rtt min/avg/max/mdev; numbers in ms here, where iputils
        writes strings), pynet's fields beside them, each reply (iputils'
        per-reply keys) under "replies"; "exit_code" is iputils'."""
        return {
            "host": self.host, "address": self.address, "family": self.family,
            "size": self.size,
            "transmitted": self.transmitted, "received": self.received,
            "duplicates": self.duplicates, "corrupted": self.corrupted, "errors": self.errors,
            "loss": self.loss_percent, "time": self.time_ms,
            "rtt": {"min": self.rtt_min_ms, "avg": self.rtt_avg_ms, "max": self.rtt_max_ms,
                    "mdev": self.rtt_mdev_ms},
            "jitter": self.jitter_ms, "wrong_data": self.wrong_data,
            "malformed": self.malformed, "deadline_missed": self.deadline_missed,
            "replies": [r.to_dict() for r in self.replies],
            "icmp_errors": [e._asdict() for e in self.icmp_errors],
            "exit_code": self.exit_code,
        }

    def __repr__(self) -> str:
        # Every reply of a 20,000-request flood would drown the counts.
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields
                          if name not in ("replies", "icmp_errors"))
        return f"PingResult({shown}, ...)"

    @property
    def is_alive(self) -> bool:
        return self.received > 0

    @property
    def exit_code(self) -> int:
        """iputils' exit status: 0 when replies came, 1 when none did (or,
        under a deadline, fewer than asked for)."""
        return 1 if self.received == 0 or self.deadline_missed else 0


def address_text(family: int, raw: bytes) -> str:
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw[:16])


_new = tuple.__new__
NO_OPTIONS = ipo.IpOptions()


class Tally:
    """Folds the loop's records into replies, errors and statistics."""

    def __init__(self, family: int, keep: bool = True) -> None:
        self.family = family
        self.keep = keep
        self.stats = RttStats()
        self.replies: List[PingReply] = []
        self.icmp_errors: List[PingIcmpError] = []
        self.names: Dict[bytes, str] = {}

    def source(self, raw: bytes) -> str:
        try:
            return self.names[raw]
        except KeyError:
            name = self.names[raw] = address_text(self.family, raw)
            return name

    def add(self, records: List[Record]) -> None:
        """Fold in one batch. Runs once per reply, flood included: one pass,
        locals bound, replies built as the tuples they are."""
        reply, error, bad, dup, wrong = pl.REPLY, pl.ERROR, pl.BAD_CHECKSUM, pl.DUP, pl.WRONG_DATA
        rtts: List[int] = []
        add_rtt = rtts.append
        keep = self.keep
        append = self.replies.append
        names = self.names
        for r in records:
            kind = r[0]
            if kind == reply:
                flags = r[5]
                ok = not flags & bad
                if ok:
                    add_rtt(r[2])
                if keep:
                    options = ipo.parse(r[12][:r[11]]) if r[11] else NO_OPTIONS
                    append(_new(PingReply, (
                        r[1], r[2] / 1e6, r[3] if r[3] >= 0 else None, r[4], bool(flags & dup),
                        ok, names.get(r[10]) or self.source(r[10]), r[9] / 1e9,
                        not flags & wrong, *options)))
            elif kind == error and keep:
                self.icmp_errors.append(PingIcmpError(
                    seq=r[1], source=self.source(r[10]), type=r[6], code=r[7], info=r[8],
                    text=describe(self.family, r[6], r[7], r[8]), time_s=r[9] / 1e9))
        self.stats.extend(rtts)

    def result(self, host: str, address: str, counters: Counters, count: int,
               deadline: bool, size: int) -> PingResult:
        s = self.stats
        c = counters
        elapsed_us = max(0, c.last_send_ns - c.first_send_ns) // 1000
        return PingResult(
            host=host, address=address, family=self.family, transmitted=c.transmitted,
            received=c.received, duplicates=c.duplicates, corrupted=c.corrupted, errors=c.errors,
            loss_percent=loss_percent(c.transmitted, c.received),
            time_ms=(elapsed_us + 500) // 1000,
            rtt_min_ms=s.min_ms(), rtt_avg_ms=s.avg_ms(), rtt_max_ms=s.max_ms(),
            rtt_mdev_ms=s.mdev_ms(), jitter_ms=s.jitter_ms(),
            replies=tuple(self.replies), icmp_errors=tuple(self.icmp_errors),
            deadline_missed=deadline and count > 0 and c.received < count,
            malformed=c.malformed, size=size, wrong_data=c.wrong_data)
