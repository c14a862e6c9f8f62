"""pynet: sockets done right, with a C packet core.

The fast paths (Internet checksum, ICMP build and parse) run in C through
cffi, with a pure-Python twin of each; ``pynet.backend`` says which one is
live (PYNET_BACKEND=auto|c|python chooses).
"""

from __future__ import annotations

from . import icmp
from ._backend import name as backend
from ._errors import MalformedPacket, PynetError, ResolveError
from ._message import IcmpMessage
from ._checksum import Checksum, checksum, checksum_update

__version__ = "0.1.0"

__all__ = [
    "Checksum",
    "IcmpMessage",
    "MalformedPacket",
    "PynetError",
    "ResolveError",
    "__version__",
    "backend",
    "checksum",
    "checksum_update",
    "icmp",
]
