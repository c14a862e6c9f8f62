"""SNTPResult: what one server said, or why it said nothing usable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .._errors import SNTPError
from ._packet import LEAP_TEXT

__all__ = ["SNTPResult"]


@dataclass(frozen=True)
class SNTPResult:
    """One server's answer. When ``error`` is set the measurements are None.

    offset_s: how far the server's clock is ahead of ours (add it to ours).
    delay_s: the round trip, minus the server's own processing time.
    root_distance_s: the error bound, (root_delay_s + delay_s) / 2 +
        root_dispersion_s + precision_s + 15 ppm of the round trip.
    server_time_s: the server's transmit timestamp as UNIX seconds.
    ref_id: the reference id as text (a kiss or clock code such as "GPS"
        at stratum 0-1, an IPv4 address above); ref_id_raw: as a 32-bit int.
    ignored: datagrams that looked like replies to this request but were
        not (wrong originate timestamp, mode, source port, truncated).
    """

    server: str  # as the caller named it
    address: str
    port: int
    error: Optional[SNTPError] = None
    offset_s: Optional[float] = None
    delay_s: Optional[float] = None
    root_distance_s: Optional[float] = None
    stratum: Optional[int] = None
    leap: Optional[int] = None
    version: Optional[int] = None
    poll_log2: Optional[int] = None
    precision_s: Optional[float] = None
    root_delay_s: Optional[float] = None
    root_dispersion_s: Optional[float] = None
    ref_id: Optional[str] = None
    ref_id_raw: Optional[int] = None
    server_time_s: Optional[float] = None
    ignored: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def leap_text(self) -> Optional[str]:
        """ntpdig's words: no-leap, add-leap, del-leap, unsync."""
        return None if self.leap is None else LEAP_TEXT[self.leap]
