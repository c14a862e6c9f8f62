"""ping: iputils ping as a library and a command.

    >>> import pynet
    >>> result = pynet.ping("127.0.0.1", count=2, interval=0.2)   # doctest: +SKIP
    >>> result.received, result.rtt_avg_ms                        # doctest: +SKIP
    (2, 0.031)

`python -m pynet.ping [options] HOST` (or `pynet ping`) prints what iputils
prints, takes its options and exits with its codes. The send/receive loop
runs in C (csrc/ping.c) with a pure-Python twin (pynet/_reference/ping.py).
"""

from __future__ import annotations


from .._errors import PingError, PingNameError, PingPermissionError, PingSocketError
from .._tool import make_callable
from ._api import async_ping, ping
from ._result import IpTimestamp, PingIcmpError, PingReply, PingResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """The command line (`python -m pynet.ping`); returns the exit code.
    Its modules (argparse and all) load only when it runs."""
    from ._main import main as run_command

    return run_command(argv)


__all__ = [
    "IpTimestamp",
    "PingError",
    "PingIcmpError",
    "PingNameError",
    "PingPermissionError",
    "PingReply",
    "PingResult",
    "PingSocketError",
    "async_ping",
    "main",
    "ping",
]

# pynet.ping(...) is ping(...): see pynet/_tool.py for why a callable module.
make_callable(__name__, ping)
