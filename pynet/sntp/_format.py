"""Output: one line per server in the style of sntp/ntpdig, or JSON.

    2026-11-30 01:50:52.123456 (+0000) +0.000151 +/- 0.000366 127.0.0.1 s10 no-leap

The date is the server's transmit time in local time, then the local UTC
offset, our clock's offset from the server (add it to ours), the error bound
(root distance), the server as named and, when that was a name, the address
asked, the stratum and the leap indicator. When each server was asked
several times, the jitter of its samples and how many answered follow:

    ... 127.0.0.1 s10 no-leap jitter 0.000002 samples 8/8
"""

from __future__ import annotations

import json

from ._result import SNTPResult
from ._timestamp import local_text

__all__ = ["json_line", "text_line", "who"]


def who(result: SNTPResult) -> str:
    """The server as named, and its address when the name was not one."""
    if result.server == result.address:
        return result.address
    return f"{result.server} {result.address}"


def text_line(result: SNTPResult, count: int = 1) -> str:
    """The ntpdig-style line of a server that answered, count times asked."""
    assert result.server_time_s is not None and result.offset_s is not None
    assert result.root_distance_s is not None and result.leap_text is not None
    stamp, zone = local_text(result.server_time_s)
    line = (f"{stamp} ({zone}) {result.offset_s:+.6f} +/- {result.root_distance_s:.6f} "
            f"{who(result)} s{result.stratum} {result.leap_text}")
    if count > 1:
        jitter = "-" if result.jitter_s is None else f"{result.jitter_s:.6f}"
        line += f" jitter {jitter} samples {len(result.samples)}/{count}"
    return line


def json_line(result: SNTPResult) -> str:
    """result.to_dict() as one line of JSON (the CLI's --json is NDJSON)."""
    return json.dumps(result.to_dict())
