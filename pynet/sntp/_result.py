"""SNTPResult: what one server said, or why it said nothing usable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from .._errors import KissOfDeath, SNTPError
from ._packet import LEAP_TEXT
from ._timestamp import local_text

__all__ = ["SNTPResult"]


@dataclass(frozen=True)
class SNTPResult:
    """One server's answer. When ``error`` is set the measurements are None.

    server: as the caller named it; address, port: where the request went;
        family: 4 or 6.
    offset_s: how far the server's clock is ahead of ours (add it to ours).
    delay_s: the round trip, minus the server's own processing time.
    root_distance_s: the error bound (sntp's "+/-"), (root_delay_s +
        delay_s) / 2 + root_dispersion_s + precision_s + 15 ppm of the
        round trip.
    stratum, leap (0-3, see leap_text), version, poll_log2: as the server
        sent them; precision_s, root_delay_s, root_dispersion_s: its
        precision and its own distance from the reference, in seconds.
    server_time_s: the server's transmit timestamp as UNIX seconds.
    ref_id: the reference id as text (a kiss or clock code such as "GPS"
        at stratum 0-1, an IPv4 address above); ref_id_raw: as a 32-bit int.
    ignored: datagrams that looked like replies to this request but were
        not (wrong originate timestamp, mode, source port, truncated).
    """

    server: str
    address: str
    port: int
    family: int
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

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-safe dict (what the CLI's --json prints, one per line).

        Always: server, address, port, family (4/6), ok, ignored. A failure
        adds error (the error's ``kind``: "timeout", "port-unreachable",
        "kiss-of-death", ...), message (its text) and, for a Kiss-o'-Death,
        kiss_code. An answer adds every measurement under its field name,
        except that leap is ntpdig's word (leap_text), and time: the server's
        transmit time in local time, ISO 8601 with the UTC offset."""
        out: Dict[str, Any] = {"server": self.server, "address": self.address,
                               "port": self.port, "family": self.family, "ok": self.ok}
        if self.error is not None:
            out["error"] = self.error.kind
            out["message"] = str(self.error)
            if isinstance(self.error, KissOfDeath):
                out["kiss_code"] = self.error.code
        else:
            assert self.server_time_s is not None
            stamp, zone = local_text(self.server_time_s)
            out.update(
                time=stamp.replace(" ", "T") + zone, server_time_s=self.server_time_s,
                offset_s=self.offset_s, delay_s=self.delay_s,
                root_distance_s=self.root_distance_s, stratum=self.stratum,
                leap=self.leap_text, version=self.version, ref_id=self.ref_id,
                ref_id_raw=self.ref_id_raw, precision_s=self.precision_s,
                root_delay_s=self.root_delay_s, root_dispersion_s=self.root_dispersion_s,
                poll_log2=self.poll_log2)
        out["ignored"] = self.ignored
        return out
