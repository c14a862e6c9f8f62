"""pynet: sockets done right, with a C packet core.

Every tool is a module that is also its main function, so both spellings
work: ``pynet.ping("127.0.0.1")`` and ``from pynet.ping import PingError``.
The fast paths (Internet checksum, ICMP build and parse, the packet loops)
run in C through cffi, with a pure-Python twin of each; ``pynet.backend``
says which one is live (PYNET_BACKEND=auto|c|python chooses) and
``pynet.backend_features`` what it has.
"""

from __future__ import annotations

from ._lazy import lazy_attributes

# typing loads only for mypy (see pynet/_records.py): start-up is part of the product.
TYPE_CHECKING = False

# The backend is chosen at import: a bad PYNET_BACKEND is an ImportError here.
from ._backend import features as backend_features
from ._backend import name as backend
from ._errors import (
    BadReply,
    BindError,
    ConfigError,
    ConnectFailed,
    ConnectionRefused,
    ConnectionReset,
    ConnectTimeout,
    EchoConfigError,
    EchoError,
    EmptyReply,
    ExporterError,
    FleetError,
    FleetNameError,
    FleetPermissionError,
    FleetSocketError,
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
    TracerouteError,
    TracerouteNameError,
    TraceroutePermissionError,
    TracerouteSocketError,
    TracerouteConnectError,
    TracerouteSetupError,
    Unreachable,
    Unsynchronised,
    UsageError,
)

__version__ = "0.1.0"

# Everything but the errors loads on first use, so that `import pynet` (and
# every `pynet COMMAND`, which imports it first) pays only for what it uses:
# `pynet tcp` never loads the ping loop, `pynet ping` never loads asyncio.
# `from pynet import checksum` and `pynet.sntp.query(...)` both work.
_LAZY: Dict[str, str] = {
    "icmp": ".icmp",
    "Checksum": "._checksum:Checksum",
    "checksum": "._checksum:checksum",
    "checksum_update": "._checksum:checksum_update",
    "IcmpMessage": "._message:IcmpMessage",
    "ping": ".ping",
    "async_ping": ".ping:async_ping",
    "PingIcmpError": ".ping:PingIcmpError",
    "PingReply": ".ping:PingReply",
    "PingResult": ".ping:PingResult",
    "tcp": ".tcp",
    "TcpResult": ".tcp:TcpResult",
    "sntp": ".sntp",
    "SNTPResult": ".sntp:SNTPResult",
    "SNTPSample": ".sntp:SNTPSample",
    "echo": ".echo",
    "fleet": ".fleet",
    "FleetResult": ".fleet:FleetResult",
    "traceroute": ".traceroute",
    "async_traceroute": ".traceroute:async_traceroute",
    "TraceResult": ".traceroute:TraceResult",
    "exporter": ".exporter",
    "bench": ".bench",
}

if TYPE_CHECKING:
    from typing import Dict

    from . import bench, echo, exporter, fleet, icmp, sntp, tcp
    from .fleet import FleetResult
    from .traceroute import TraceResult, async_traceroute
    from .traceroute._api import traceroute
    from ._checksum import Checksum, checksum, checksum_update
    from ._message import IcmpMessage
    from .ping import PingIcmpError, PingReply, PingResult, async_ping
    from .ping._api import ping
    from .sntp import SNTPResult, SNTPSample
    from .tcp import TcpResult


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)


__all__ = [
    "BadReply",
    "BindError",
    "ConfigError",
    "Checksum",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionRefused",
    "ConnectionReset",
    "EchoConfigError",
    "EchoError",
    "EmptyReply",
    "ExporterError",
    "FleetError",
    "FleetNameError",
    "FleetPermissionError",
    "FleetResult",
    "FleetSocketError",
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
    "SNTPSample",
    "SNTPSendFailed",
    "TcpError",
    "TcpNameError",
    "TcpResult",
    "TcpSendFailed",
    "TraceResult",
    "TracerouteError",
    "TracerouteNameError",
    "TraceroutePermissionError",
    "TracerouteSocketError",
    "TracerouteConnectError",
    "TracerouteSetupError",
    "Unreachable",
    "Unsynchronised",
    "UsageError",
    "__version__",
    "async_ping",
    "async_traceroute",
    "backend",
    "backend_features",
    "checksum",
    "checksum_update",
    "echo",
    "fleet",
    "icmp",
    "ping",
    "sntp",
    "tcp",
    "traceroute",
]
