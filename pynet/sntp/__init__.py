"""An RFC 4330 SNTP client: the course's UDP lessons done right.

    >>> import pynet.sntp
    >>> for r in pynet.sntp.query(["127.0.0.1", "127.0.0.2"], timeout_s=1):   # doctest: +SKIP
    ...     print(r.server, r.offset_s if r.ok else r.error)
    127.0.0.1 2.1e-05
    127.0.0.2 port unreachable

Requests carry a random cookie that the reply must echo; replies are checked
(mode, version, source, stratum 0 Kiss-o'-Death, leap 3 unsynchronised) and
measured with era-safe timestamp arithmetic (right after 2036). Several
servers are asked at once from one socket; a single server over a connected
socket, so that an ICMP port unreachable is reported at once.
"""

from __future__ import annotations

from ._command import main
from .._errors import (
    BadReply,
    KissOfDeath,
    NoReply,
    PortUnreachable,
    SNTPSendFailed,
    SNTPError,
    Unreachable,
    Unsynchronised,
)
from ._query import query, query_async
from ._result import SNTPResult

__all__ = [
    "BadReply",
    "KissOfDeath",
    "NoReply",
    "PortUnreachable",
    "SNTPError",
    "SNTPResult",
    "SNTPSendFailed",
    "Unreachable",
    "Unsynchronised",
    "main",
    "query",
    "query_async",
]
