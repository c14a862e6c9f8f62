"""NTP timestamps and the era they wrap in.

An NTP timestamp is 64 bits: seconds since 1900-01-01 in the high 32, the
fraction in the low 32. The seconds wrap every 2**32 s (136 years): era 0
ends on 2036-02-07 06:28:16 UTC and era 1 starts again from zero. The
course's ``t - 2208988800`` turns a timestamp after that moment into a date
in 1900. Two rules make the arithmetic right in every era (RFC 5905 6):
differences of two timestamps are taken modulo 2**64 and read as signed,
which is exact whenever the two are within 68 years of each other; and an
absolute date is placed in the era that puts it nearest a known time (the
local clock).
"""

from __future__ import annotations

import time
from typing import Tuple

__all__ = [
    "ERA_S",
    "FRACTION",
    "NTP_UNIX_OFFSET_S",
    "diff_s",
    "diff_units",
    "from_unix_ns",
    "local_text",
    "short_s",
    "to_unix_ns",
]

NTP_UNIX_OFFSET_S = 2208988800  # 1900-01-01 to 1970-01-01, seconds
ERA_S = 1 << 32  # seconds in one NTP era
FRACTION = 1 << 32  # timestamp units per second
_WRAP = 1 << 64
_HALF = 1 << 63
_NS = 10**9


def from_unix_ns(unix_ns: int) -> int:
    """The 64-bit NTP timestamp of a UNIX time in nanoseconds (era dropped)."""
    units = ((unix_ns + NTP_UNIX_OFFSET_S * _NS) * FRACTION) // _NS
    return units % _WRAP


def diff_units(a: int, b: int) -> int:
    """a - b in timestamp units, modulo 2**64, as a signed number."""
    d = (a - b) % _WRAP
    return d - _WRAP if d >= _HALF else d


def diff_s(a: int, b: int) -> float:
    """a - b in seconds, right across an era boundary."""
    return diff_units(a, b) / FRACTION


def to_unix_ns(stamp: int, near_unix_ns: int) -> int:
    """The UNIX time (ns) of an NTP timestamp, in the era that puts it nearest
    near_unix_ns (normally the local clock when the timestamp arrived)."""
    near = from_unix_ns(near_unix_ns)
    return near_unix_ns + (diff_units(stamp, near) * _NS) // FRACTION


def short_s(value: int, signed: bool = False) -> float:
    """An NTP short (16.16 fixed point: root delay, root dispersion) in seconds."""
    if signed and value >= 1 << 31:
        value -= 1 << 32
    return value / (1 << 16)


def local_text(unix_s: float) -> Tuple[str, str]:
    """('YYYY-MM-DD HH:MM:SS.ffffff', '+HHMM'): a UNIX time in local time,
    to the microsecond, and the local offset from UTC then."""
    whole = int(unix_s // 1)
    micros = int(round((unix_s - whole) * 1e6))
    if micros == 1000000:
        whole, micros = whole + 1, 0
    tm = time.localtime(whole)
    gmtoff = tm.tm_gmtoff // 60
    sign = "+" if gmtoff >= 0 else "-"
    zone = f"{sign}{abs(gmtoff) // 60:02d}{abs(gmtoff) % 60:02d}"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', tm)}.{micros:06d}", zone
