"""fleet: many targets at once, one engine and one socket per address family.

    >>> from pynet import fleet
    >>> results = fleet.ping(["127.0.0.1", "127.1.0.0/30"])        # doctest: +SKIP
    >>> [(r.address, r.received) for r in results]                 # doctest: +SKIP
    [('127.0.0.1', 1), ('127.1.0.1', 1), ('127.1.0.2', 1)]

ping() returns every target's FleetResult, sweep() yields each as soon as
it is final (a million-host sweep never holds a million of them), and
Pinger shares one engine among any number of asyncio calls. The engine is
C (csrc/fleet.c) with a pure-Python twin (pynet/_reference/fleet.py).
`python -m pynet.fping` (or `pynet fping`) is fping on top of it.
"""

from __future__ import annotations

from .._errors import FleetError, FleetNameError, FleetPermissionError, FleetSocketError
from .._lazy import lazy_attributes

# typing loads only for mypy: `pynet fping` is a command, its start-up counts.
TYPE_CHECKING = False

# Loaded on first use, so that `pynet fping` (which needs the run, not the
# asyncio Pinger) never imports asyncio.
_LAZY = {
    "ping": "._api:ping",
    "sweep": "._api:sweep",
    "Pinger": "._pinger:Pinger",
    "FleetResult": "._result:FleetResult",
    "Summary": "._result:Summary",
}

if TYPE_CHECKING:
    from ._api import ping, sweep
    from ._pinger import Pinger
    from ._result import FleetResult, Summary


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)

__all__ = [
    "FleetError",
    "FleetNameError",
    "FleetPermissionError",
    "FleetResult",
    "FleetSocketError",
    "Pinger",
    "Summary",
    "ping",
    "sweep",
]
