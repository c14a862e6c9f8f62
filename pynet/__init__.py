"""pynet: sockets done right, with a C packet core.

Every tool is a module that is also its main function, so both spellings
work: ``pynet.ping("127.0.0.1")`` and ``from pynet.ping import PingError``.
The fast paths (Internet checksum, ICMP build and parse, the packet loops)
run in C through cffi, with a pure-Python twin of each; ``pynet.backend``
says which one is live (PYNET_BACKEND=auto|c|python chooses) and
``pynet.backend_features`` what it has.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import icmp
from ._backend import features as backend_features
from ._backend import name as backend
from ._checksum import Checksum, checksum, checksum_update
from ._errors import (
    BadReply,
    BindError,
    ConnectFailed,
    ConnectionRefused,
    ConnectionReset,
    ConnectTimeout,
    EchoConfigError,
    EchoError,
    EmptyReply,
    IdleTimeout,
    KissOfDeath,
    MalformedPacket,
    MaxTimeExceeded,
    NoReply,
    PingError,
    PingNameError,
    PingPermissionError,
    PingSocketError,
    PortUnreachable,
    PynetError,
    ResolveError,
    SNTPError,
    SNTPNameError,
    SNTPSendFailed,
    TcpError,
    TcpNameError,
    TcpSendFailed,
    Unreachable,
    Unsynchronised,
    UsageError,
)
from ._message import IcmpMessage

if TYPE_CHECKING:
    from .ping._api import ping
else:
    from . import ping
from .ping import PingIcmpError, PingReply, PingResult, async_ping

__version__ = "0.1.0"

# The other tools load on first use (pynet.sntp.query(...) works after a
# bare `import pynet`): importing them here would slow down `import pynet`
# and make `python -m pynet.TOOL` warn that the module was already imported.
_LAZY_SUBMODULES = frozenset({"bench", "echo", "sntp", "tcp"})
_LAZY_NAMES = {
    "TcpResult": "tcp",
    "SNTPResult": "sntp",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BadReply",
    "BindError",
    "Checksum",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionRefused",
    "ConnectionReset",
    "EchoConfigError",
    "EchoError",
    "EmptyReply",
    "IcmpMessage",
    "IdleTimeout",
    "KissOfDeath",
    "MalformedPacket",
    "MaxTimeExceeded",
    "NoReply",
    "PingError",
    "PingIcmpError",
    "PingNameError",
    "PingPermissionError",
    "PingReply",
    "PingResult",
    "PingSocketError",
    "PortUnreachable",
    "PynetError",
    "ResolveError",
    "SNTPError",
    "SNTPNameError",
    "SNTPResult",
    "SNTPSendFailed",
    "TcpError",
    "TcpNameError",
    "TcpResult",
    "TcpSendFailed",
    "Unreachable",
    "Unsynchronised",
    "UsageError",
    "__version__",
    "async_ping",
    "backend",
    "backend_features",
    "checksum",
    "checksum_update",
    "echo",
    "icmp",
    "ping",
    "sntp",
    "tcp",
]
