"""traceroute: Linux traceroute as a library and a command, every TTL at
once, Paris flow ids by default, no root needed for UDP and ICMP.

    >>> from pynet.traceroute import traceroute
    >>> result = traceroute("127.0.0.1")                 # doctest: +SKIP
    >>> [hop.addresses for hop in result.hops]              # doctest: +SKIP
    [('127.0.0.1',)]

`python -m pynet.traceroute [options] HOST...` (or `pynet traceroute`)
prints what Linux traceroute prints. The probe loop runs in C
(csrc/trace.c) with a pure-Python twin (pynet/_reference/trace.py).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

from .._errors import (TracerouteError, TracerouteNameError, TraceroutePermissionError,
                       TracerouteSocketError, TracerouteConnectError,
                       TracerouteSetupError)
from .._tool import make_callable
from ._api import async_traceroute, traceroute, traceroute_many
from ._extensions import InterfaceInfo, MplsLabel, OtherObject
from ._result import TraceHop, TraceProbe, TraceResult


def main(argv: Optional[List[str]] = None) -> int:
    """The command line; returns the exit code."""
    from ._main import main as run_command

    return run_command(argv)


__all__ = [
    "InterfaceInfo",
    "MplsLabel",
    "OtherObject",
    "TraceHop",
    "TraceProbe",
    "TraceResult",
    "TracerouteError",
    "TracerouteNameError",
    "TraceroutePermissionError",
    "TracerouteSocketError",
    "TracerouteConnectError",
    "TracerouteSetupError",
    "async_traceroute",
    "main",
    "traceroute",
    "traceroute_many",
]

# pynet.traceroute(...) is traceroute(...): see pynet/_tool.py for why a callable module.
make_callable(__name__, traceroute)
