"""SNTPResult: what one server said, or why it said nothing usable; and
SNTPSample, one request's measurement, of which a result holds count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from .._errors import KissOfDeath, SNTPError
from ._packet import LEAP_TEXT
from ._timestamp import local_text

__all__ = ["KERNEL", "SNTPResult", "SNTPSample", "USER"]

# Where a sample's send or receive time came from.
KERNEL = "kernel"  # the kernel's software stamp (SO_TIMESTAMPING, SO_TIMESTAMPNS)
USER = "user"  # the clock read right before send / right after receive


@dataclass(frozen=True)
class SNTPSample:
    """One request and its answer.

    offset_s, delay_s, root_distance_s, server_time_s: as in SNTPResult.
    tx_stamp: where our send time (T1) came from, "kernel" (the software
        transmit stamp) or "user" (the clock read just before send);
        rx_stamp: our receive time (T4), "kernel" (SO_TIMESTAMPNS) or "user"
        (the clock read just after the datagram was read).
    """

    offset_s: float
    delay_s: float
    root_distance_s: float
    server_time_s: float
    tx_stamp: str
    rx_stamp: str

    def to_dict(self) -> Dict[str, Any]:
        return {"offset_s": self.offset_s, "delay_s": self.delay_s,
                "root_distance_s": self.root_distance_s, "server_time_s": self.server_time_s,
                "tx_stamp": self.tx_stamp, "rx_stamp": self.rx_stamp}


@dataclass(frozen=True)
class SNTPResult:
    """One server's answer. When ``error`` is set the measurements are None
    and ``samples`` is empty.

    server: as the caller named it; address, port: where the request went;
        family: 4 or 6.
    offset_s: how far the server's clock is ahead of ours (add it to ours).
    delay_s: the round trip, minus the server's own processing time.
        Both, like every measurement here, are those of the selected sample.
    root_distance_s: the error bound (sntp's "+/-"), (root_delay_s +
        delay_s) / 2 + root_dispersion_s + precision_s + 15 ppm of the
        round trip.
    stratum, leap (0-3, see leap_text), version, poll_log2: as the server
        sent them; precision_s, root_delay_s, root_dispersion_s: its
        precision and its own distance from the reference, in seconds.
    server_time_s: the server's transmit timestamp as UNIX seconds.
    ref_id: the reference id as text (a kiss or clock code such as "GPS"
        at stratum 0-1, an IPv4 address above); ref_id_raw: as a 32-bit int.
    ignored: datagrams that looked like replies to these requests but were
        not (wrong originate timestamp, mode, source port, truncated).
    sent: requests sent to the server (count of them, unless it failed first).
    samples: the answered requests' samples, in the order sent (the lost
        ones left out); selected: the index of the one of least delay
        among them (RFC 5905's clock filter), whose figures the result has.
    jitter_s: the RMS of the other samples' offsets about the selected
        one's (RFC 5905 10); None for a single sample.
    tx_stamp, rx_stamp: where the selected sample's send and receive times
        came from, "kernel" or "user" (see SNTPSample).
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
    sent: int = 0
    samples: Tuple[SNTPSample, ...] = ()
    selected: Optional[int] = None
    jitter_s: Optional[float] = None
    tx_stamp: Optional[str] = None
    rx_stamp: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def leap_text(self) -> Optional[str]:
        """ntpdig's words: no-leap, add-leap, del-leap, unsync."""
        return None if self.leap is None else LEAP_TEXT[self.leap]

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-safe dict (what the CLI's --json prints, one per line).

        Always: server, address, port, family (4/6), ok, ignored, sent. A
        failure adds error (the error's ``kind``: "timeout",
        "port-unreachable", "kiss-of-death", ...), message (its text) and,
        for a Kiss-o'-Death, kiss_code. An answer adds every measurement
        under its field name, except that leap is ntpdig's word (leap_text);
        time: the server's transmit time in local time, ISO 8601 with the
        UTC offset; and samples: every sample's to_dict(), in the order sent."""
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
                poll_log2=self.poll_log2, jitter_s=self.jitter_s, selected=self.selected,
                tx_stamp=self.tx_stamp, rx_stamp=self.rx_stamp,
                samples=[sample.to_dict() for sample in self.samples])
        out["ignored"] = self.ignored
        out["sent"] = self.sent
        return out
