"""Judging a reply that matched our request, measuring with it, and
making a server's samples its result.

Matching (is this datagram an answer to our request at all?) happens in
_session: source address and port, mode 4, originate timestamp == our
cookie. What is checked here makes a matched reply unusable: it came from
the server we asked, so its complaint is final for that server.
"""

from __future__ import annotations

import socket
from typing import Optional, Sequence, Tuple

from . import _packet as p
from .._errors import BadReply, KissOfDeath, SNTPError, Unsynchronised
from ._filter import jitter_s, select
from ._result import SNTPResult, SNTPSample
from ._timestamp import FRACTION, diff_units, from_unix_ns, short_s, to_unix_ns

__all__ = ["answer", "judge", "measure", "ref_id_text"]

PHI = 15e-6  # RFC 5905: the frequency tolerance, 15 ppm
_FIRST_VERSION = 1

# RFC 5905 7.4 and RFC 4330 8: the kiss codes a client acts upon.
_KISS_MEANING = {
    "RATE": "the server asks us to query less often",
    "DENY": "access denied by the server",
    "RSTR": "access restricted by the server",
    "NKEY": "no such key",
    "CRYP": "cryptographic authentication failed",
    "AUTH": "authentication failed",
    "AUTO": "autokey sequence failed",
    "STEP": "the server's clock just stepped",
    "INIT": "the server is not synchronised yet",
}


def ref_id_text(ref_id: bytes, stratum: int) -> str:
    """Stratum 0 and 1: up to four ASCII characters (a kiss code, a clock
    such as GPS); above: the IPv4 address of the server's own reference
    (for an IPv6 reference, the first 4 bytes of its MD5, shown the same way)."""
    if stratum <= 1:
        text = ref_id.rstrip(b"\0")
        if all(0x20 < ch < 0x7F for ch in text):
            return text.decode("ascii")
        return "0x" + ref_id.hex()
    return socket.inet_ntoa(ref_id)


def judge(reply: p.NtpPacket) -> Optional[SNTPError]:
    """Why a matched reply cannot be used, or None when it can."""
    if not _FIRST_VERSION <= reply.version <= p.VERSION:
        return BadReply(f"bad reply: NTP version {reply.version}")
    if reply.stratum == p.STRATUM_KISS:
        code = ref_id_text(reply.ref_id, 0)
        meaning = _KISS_MEANING.get(code, "the server refuses to serve us")
        return KissOfDeath(f"kiss-o'-death {code}: {meaning}", code)
    if reply.leap == p.LEAP_UNSYNCHRONISED:
        return Unsynchronised("the server's clock is not synchronised (leap indicator 3)")
    if reply.stratum > p.STRATUM_MAX:
        return Unsynchronised(f"the server's clock is not synchronised (stratum {reply.stratum})")
    if reply.transmit == 0:
        return BadReply("bad reply: zero transmit timestamp")
    return None


def measure(reply: p.NtpPacket, t1_unix_ns: int, t4_unix_ns: int, tx_stamp: str,
            rx_stamp: str) -> SNTPSample:
    """Offset and delay from the four timestamps (RFC 4330 5): T1 our send
    time, T2 the server's receive time, T3 its transmit time, T4 our receive
    time. Each difference is taken modulo 2**64, so an era boundary between
    any two of them changes nothing."""
    t1, t4 = from_unix_ns(t1_unix_ns), from_unix_ns(t4_unix_ns)
    t2, t3 = reply.receive, reply.transmit
    offset_s = (diff_units(t2, t1) + diff_units(t3, t4)) / 2 / FRACTION
    delay_s = (diff_units(t4, t1) - diff_units(t3, t2)) / FRACTION
    round_trip_s = diff_units(t4, t1) / FRACTION
    root_distance_s = ((short_s(reply.root_delay, signed=True) + max(delay_s, 0.0)) / 2
                       + short_s(reply.root_dispersion) + 2.0 ** reply.precision
                       + PHI * round_trip_s)
    return SNTPSample(offset_s=offset_s, delay_s=delay_s, root_distance_s=root_distance_s,
                      server_time_s=to_unix_ns(t3, t4_unix_ns) / 1e9,
                      tx_stamp=tx_stamp, rx_stamp=rx_stamp)


def answer(server: str, address: str, port: int, family: int,
           measured: Sequence[Tuple[SNTPSample, p.NtpPacket]], sent: int,
           ignored: int) -> SNTPResult:
    """The result of a server's samples (in the order sent): the figures of
    the one of least delay, what its reply said, and the jitter of them all."""
    samples = tuple(sample for sample, _reply in measured)
    selected = select(samples)
    best, reply = measured[selected]
    return SNTPResult(
        server=server, address=address, port=port, family=family,
        offset_s=best.offset_s, delay_s=best.delay_s, root_distance_s=best.root_distance_s,
        stratum=reply.stratum, leap=reply.leap, version=reply.version,
        poll_log2=reply.poll, precision_s=2.0 ** reply.precision,
        root_delay_s=short_s(reply.root_delay, signed=True),
        root_dispersion_s=short_s(reply.root_dispersion),
        ref_id=ref_id_text(reply.ref_id, reply.stratum),
        ref_id_raw=int.from_bytes(reply.ref_id, "big"),
        server_time_s=best.server_time_s, ignored=ignored, sent=sent, samples=samples,
        selected=selected, jitter_s=jitter_s(samples, selected),
        tx_stamp=best.tx_stamp, rx_stamp=best.rx_stamp)
