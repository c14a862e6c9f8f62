"""Output: one line per server in the style of sntp/ntpdig, or JSON.

    2026-11-30 01:50:52.123456 (+0000) +0.000151 +/- 0.000366 127.0.0.1 s10 no-leap

The date is the server's transmit time in local time, then the local UTC
offset, our clock's offset from the server (add it to ours), the error bound
(root distance), the server as named and, when that was a name, the address
asked, the stratum and the leap indicator.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict

from .._errors import KissOfDeath
from ._result import SNTPResult

__all__ = ["json_line", "text_line", "who"]


def who(result: SNTPResult) -> str:
    """The server as named, and its address when the name was not one."""
    if result.server == result.address:
        return result.address
    return f"{result.server} {result.address}"


def _local(unix_s: float) -> tuple[str, str]:
    """('YYYY-MM-DD HH:MM:SS.ffffff', '+HHMM') in local time."""
    whole = int(unix_s // 1)
    micros = int(round((unix_s - whole) * 1e6))
    if micros == 1000000:
        whole, micros = whole + 1, 0
    tm = time.localtime(whole)
    gmtoff = tm.tm_gmtoff // 60
    sign = "+" if gmtoff >= 0 else "-"
    zone = f"{sign}{abs(gmtoff) // 60:02d}{abs(gmtoff) % 60:02d}"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', tm)}.{micros:06d}", zone


def text_line(result: SNTPResult) -> str:
    """The ntpdig-style line of a server that answered."""
    assert result.server_time_s is not None and result.offset_s is not None
    assert result.root_distance_s is not None and result.leap_text is not None
    stamp, zone = _local(result.server_time_s)
    return (f"{stamp} ({zone}) {result.offset_s:+.6f} +/- {result.root_distance_s:.6f} "
            f"{who(result)} s{result.stratum} {result.leap_text}")


def json_line(result: SNTPResult) -> str:
    """One JSON object: the measurements, or the error and its kind."""
    out: Dict[str, Any] = {"server": result.server, "address": result.address,
                           "port": result.port}
    if result.error is not None:
        out["error"] = result.error.kind
        out["message"] = str(result.error)
        if isinstance(result.error, KissOfDeath):
            out["kiss_code"] = result.error.code
    else:
        assert result.server_time_s is not None
        stamp, zone = _local(result.server_time_s)
        out.update(
            time=stamp.replace(" ", "T") + zone,
            server_time_s=result.server_time_s,
            offset_s=result.offset_s, delay_s=result.delay_s,
            root_distance_s=result.root_distance_s, stratum=result.stratum,
            leap=result.leap_text, version=result.version, ref_id=result.ref_id,
            precision_s=result.precision_s, root_delay_s=result.root_delay_s,
            root_dispersion_s=result.root_dispersion_s, poll_log2=result.poll_log2)
    out["ignored"] = result.ignored
    return json.dumps(out)
