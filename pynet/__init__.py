"""pynet: sockets done right, with a C packet core.

The fast paths (Internet checksum, ICMP build and parse) run in C through
cffi, with a pure-Python twin of each; ``pynet.backend`` says which one is
live (PYNET_BACKEND=auto|c|python chooses).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from . import icmp
from ._backend import name as backend
from ._errors import ExporterError, MalformedPacket, PynetError, ResolveError
from ._message import IcmpMessage
from ._checksum import Checksum, checksum, checksum_update
# ---- issue 3: ping (the function shadows the pynet.ping package on purpose;
# `python -m pynet.ping` and `pynet ping` still reach the package's main)
from .ping import PingResult, async_ping, ping

__version__ = "0.1.0"

# The tools are imported on first use (pynet.sntp.query(...) works after a
# bare `import pynet`): importing them here would slow down `import pynet`
# and make `python -m pynet.TOOL` warn that the module was already imported.
_LAZY_SUBMODULES = frozenset({"bench", "echo", "sntp", "tcp"})


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Checksum",
    "ExporterError",
    "IcmpMessage",
    "MalformedPacket",
    "PynetError",
    "ResolveError",
    "PingResult",
    "__version__",
    "async_ping",
    "backend",
    "checksum",
    "checksum_update",
    "icmp",
    "ping",
]
