"""An RFC 4330 SNTP client: the course's UDP lessons done right.

    >>> import pynet.sntp
    >>> for r in pynet.sntp.query(["127.0.0.1", "127.0.0.2"], timeout=1):   # doctest: +SKIP
    ...     print(r.server, r.offset_s if r.ok else r.error)
    127.0.0.1 2.1e-05
    127.0.0.2 port unreachable

Requests carry a random cookie that the reply must echo; replies are checked
(mode, version, source, stratum 0 Kiss-o'-Death, leap 3 unsynchronised) and
measured with era-safe timestamp arithmetic (right after 2036). Several
servers are asked at once from one socket; a single server over a connected
socket, so that an ICMP port unreachable is reported at once.

query(servers, *, port=123, timeout=5.0, family=None, count=1, interval=2.0)
and its asyncio twin async_query() (same arguments, run on the event loop)
return one SNTPResult per server: with count > 1, the sample of least delay
(RFC 5905's clock filter), the jitter of all, and every SNTPSample. Send and
receive times are the kernel's own stamps where it gives them. A name that
does not resolve raises SNTPNameError (a pynet.ResolveError) before anything
is sent; every other failure is the ``error`` of that server's result, an
SNTPError subclass.
"""

from __future__ import annotations

from typing import List, Optional

from .._errors import (
    BadReply,
    KissOfDeath,
    NoReply,
    PortUnreachable,
    SNTPError,
    SNTPNameError,
    SNTPSendFailed,
    Unreachable,
    Unsynchronised,
)
from ._query import async_query, query
from ._result import SNTPResult, SNTPSample
from .._tool import make_callable


def main(argv: Optional[List[str]] = None) -> int:
    """The command line (`python -m pynet.sntp`); returns the exit code.
    Its modules (argparse and all) load only when it runs."""
    from ._command import main as run_command

    return run_command(argv)


__all__ = [
    "BadReply",
    "KissOfDeath",
    "NoReply",
    "PortUnreachable",
    "SNTPError",
    "SNTPNameError",
    "SNTPResult",
    "SNTPSample",
    "SNTPSendFailed",
    "Unreachable",
    "Unsynchronised",
    "async_query",
    "main",
    "query",
]

# pynet.sntp(...) is query(...): see pynet/_tool.py for why a callable module.
make_callable(__name__, query)
