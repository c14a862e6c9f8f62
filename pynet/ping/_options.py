"""The command line, as iputils ping takes it."""

from __future__ import annotations

import math

from .._argv import Namespace, Parser
from .._cli import add_family
from .._errors import PingError, UsageError
from .._ping_loop import PATTERN_MAX
from ._api import MAX_SIZE
from ._ipopt import ROUTE_SLOTS, TIMESTAMP_HOSTS_MAX, TIMESTAMP_KINDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, NamedTuple, Optional, Tuple
else:
    from .._records import NamedTuple

__all__ = ["Options", "parse"]

USAGE = "ping [options] [HOP ...] HOST"
DESCRIPTION = "Send ICMP ECHO_REQUEST to a host and report what comes back, like iputils ping."
EPILOG = ("exit status: 0 when replies came, 1 when none did (or, with -w, fewer than -c), "
          "2 on other errors.")


class Options(NamedTuple):
    host: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, which nothing calls
    interval: Optional[float]
    timeout: Optional[float]
    deadline: Optional[float]
    size: int
    ttl: Optional[int]
    quiet: bool
    timestamps: bool
    numeric: bool
    family: Optional[int]
    interface: Optional[str]
    flood: bool
    outstanding: bool
    json: bool
    unprivileged: bool
    pattern: Optional[bytes] = None
    pmtudisc: Optional[str] = None
    tos: Optional[int] = None
    flowlabel: Optional[int] = None
    mark: Optional[int] = None
    preload: int = 1
    adaptive: bool = False
    ident: Optional[int] = None
    precise: bool = False
    user_latency: bool = False
    broadcast: bool = False
    dontroute: bool = False
    sticky: bool = False
    noloop: bool = False
    rroute: bool = False
    timestamp: Optional[str] = None
    sndbuf: Optional[int] = None
    audible: bool = False
    version: bool = False
    hops: Tuple[str, ...] = ()      # the hosts before HOST: a source route, or -T tsprespec's


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _fatal(text: str, exit_code: int = 2) -> PingError:
    """iputils' words for a bad option argument: argparse lets anything but
    ValueError/TypeError through, so this reaches run_main as it is."""
    error = PingError(text)
    error.exit_code = exit_code
    return error


def _ranged(low: int, high: int, base: int = 10):  # type: ignore[no-untyped-def]
    """strtol_or_err(): "invalid argument: 'X'" and its range, as iputils says it."""
    def parse(text: str) -> int:
        try:
            value = int(text, base)
        except ValueError:
            raise _fatal(f"invalid argument: '{text}'", 1) from None
        if not low <= value <= high:
            # iputils' strtol_or_err() exits 1 (EXIT_FAILURE), unlike its other checks.
            raise _fatal(f"invalid argument: '{text}': out of range: {low} <= value <= {high}",
                         1)
        return value
    return parse


def _pattern(text: str) -> bytes:
    """-p: up to 16 bytes as hex digits (iputils reads pairs with %2x)."""
    for i, ch in enumerate(text):
        if ch not in "0123456789abcdefABCDEF":
            raise _fatal(f"patterns must be specified as hex digits: {text[i:]}")
    pairs = [text[i:i + 2] for i in range(0, len(text), 2)][:PATTERN_MAX]
    return bytes(int(pair, 16) for pair in pairs)


def _pmtudisc(text: str) -> str:
    if text not in ("do", "dont", "want", "probe"):
        raise _fatal(f"invalid -M argument: {text}")
    return text


def _hex_or_decimal(text: str) -> int:
    """strtol as iputils calls it for -Q and -F: 0x... hex, else decimal; the
    digits it can read, -1 when none (so the caller complains)."""
    digits, base = (text[2:], 16) if text[:2] in ("0x", "0X") else (text, 10)
    try:
        return int(digits, base)
    except ValueError:
        return -1


def _tos(text: str) -> int:
    value = _hex_or_decimal(text)
    if value < 0:
        raise _fatal(f"bad TOS value: {text}")
    if value > 255:
        raise _fatal(f"the decimal value of TOS bits must be in range 0-255: {value}")
    return value


def _flowlabel(text: str) -> int:
    value = _hex_or_decimal(text)
    if value < 0:
        raise _fatal(f"bad value for flowinfo: {text}")
    if value & ~0xFFFFF:
        raise _fatal(f"flow value is greater than 20 bits: {text}")
    return value


def _timestamp(text: str) -> str:
    if text not in TIMESTAMP_KINDS:
        raise _fatal(f"invalid timestamp type: {text}")
    return text


_seconds.__name__ = "number of seconds"
# strtol_or_err's ranges, as iputils reads -c, -s and -t (exit 1 out of them);
# a size past the family's largest datagram and a TTL of 0 are refused later.
_count = _ranged(1, (1 << 63) - 1)
_size = _ranged(0, (1 << 31) - 1)
_ttl = _ranged(0, 255)


def parser() -> Parser:
    p = Parser(prog="ping", usage=USAGE, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("host", metavar="HOST", nargs="*",
                   help="host name or IP address; hosts before it: a loose source route "
                        "(strict with -r), or with -T tsprespec the hops to stamp (up to 4)")
    p.add_argument("-c", dest="count", type=_count, default=0, metavar="COUNT",
                   help="stop after COUNT replies (or COUNT requests without -w)")
    p.add_argument("-i", dest="interval", type=_seconds, metavar="INTERVAL",
                   help="seconds between requests (default 1; fractions allowed)")
    p.add_argument("-W", dest="timeout", type=_seconds, metavar="TIMEOUT",
                   help="seconds to wait for a reply when none came (default 10)")
    p.add_argument("-w", dest="deadline", type=_seconds, metavar="DEADLINE",
                   help="stop after DEADLINE seconds, whatever happened (0: none)")
    p.add_argument("-s", dest="size", type=_size, default=56, metavar="SIZE",
                   help="payload bytes (default 56)")
    p.add_argument("-t", dest="ttl", type=_ttl, metavar="TTL", help="IP time to live / hop limit")
    p.add_argument("-q", dest="quiet", action="store_true", help="print only the summary")
    p.add_argument("-D", dest="timestamps", action="store_true",
                   help="prefix lines with the unix time")
    p.add_argument("-n", dest="numeric", action="store_true", help="no reverse name lookups")
    add_family(p)
    p.add_argument("-I", dest="interface", metavar="ADDRESS|INTERFACE",
                   help="source address or interface to send from")
    p.add_argument("-f", dest="flood", action="store_true",
                   help="flood: next request as soon as a reply comes, at least 100 a second")
    p.add_argument("-O", dest="outstanding", action="store_true",
                   help="report requests still unanswered when the next one goes out")
    p.add_argument("-j", "--json", dest="json", action="store_true",
                   help="print one JSON document, on one line: iputils -j's summary keys "
                        "(transmitted, received, ..., rtt) and each reply under \"replies\"")
    p.add_argument("-p", dest="pattern", type=_pattern, metavar="PATTERN",
                   help="fill the payload with up to 16 bytes given as hex digits")
    p.add_argument("-M", dest="pmtudisc", type=_pmtudisc, metavar="do|want|dont|probe",
                   help="path-MTU discovery: do (never fragment), want, dont, probe")
    p.add_argument("-Q", dest="tos", type=_tos, metavar="TOS",
                   help="IP type of service / IPv6 traffic class (0..255, or 0x..)")
    p.add_argument("-F", dest="flowlabel", type=_flowlabel, metavar="FLOWLABEL",
                   help="IPv6 flow label (20 bits)")
    p.add_argument("-m", dest="mark", type=_ranged(0, 0xFFFFFFFF), metavar="MARK",
                   help="tag outgoing packets with this socket mark (SO_MARK)")
    p.add_argument("-l", dest="preload", type=_ranged(1, 65536), default=1, metavar="PRELOAD",
                   help="send PRELOAD requests at once before pacing (users: at most 3)")
    p.add_argument("-A", dest="adaptive", action="store_true",
                   help="adaptive: the interval follows the round trip")
    p.add_argument("-e", dest="ident", type=_ranged(0, 65535), metavar="IDENTIFIER",
                   help="the ICMP echo identifier (implies a raw socket)")
    p.add_argument("-3", dest="precise", action="store_true",
                   help="print round trips with microseconds, unrounded")
    p.add_argument("-U", dest="user_latency", action="store_true",
                   help="user-to-user latency: time replies when read, not by the kernel")
    p.add_argument("-b", dest="broadcast", action="store_true", help="allow pinging a broadcast address")
    p.add_argument("-r", dest="dontroute", action="store_true",
                   help="bypass the routing table: send to a host on an attached network")
    p.add_argument("-B", dest="sticky", action="store_true",
                   help="sticky source: bind to the source address chosen at the start")
    p.add_argument("-L", dest="noloop", action="store_true",
                   help="no loopback of multicast packets")
    p.add_argument("-R", dest="rroute", action="store_true",
                   help="record route (IPv4): the addresses a reply came by, after it")
    p.add_argument("-T", dest="timestamp", type=_timestamp,
                   metavar="tsonly|tsandaddr|tsprespec",
                   help="IP timestamp option (IPv4): the hops' times (and addresses) after "
                        "each reply")
    p.add_argument("-S", dest="sndbuf", type=_ranged(1, 2147483647), metavar="SNDBUF",
                   help="socket send buffer bytes")
    p.add_argument("-a", dest="audible", action="store_true", help="audible: a bell per reply")
    p.add_argument("-V", dest="version", action="store_true", help="print the version and exit")
    p.add_argument("--unprivileged", action="store_true",
                   help="use an unprivileged ICMP datagram socket even as root")
    return p


def _hops(args: Namespace) -> None:
    """iputils' rules for more than one host (it prints its usage where
    these say one line)."""
    hops = args.hops
    if not hops:
        return
    if args.rroute:
        raise UsageError("-R takes one host")
    if args.timestamp is not None and args.timestamp != "tsprespec":
        raise UsageError(f"-T {args.timestamp} takes one host")
    if args.timestamp == "tsprespec" and len(hops) > TIMESTAMP_HOSTS_MAX:
        raise UsageError(f"-T tsprespec takes at most {TIMESTAMP_HOSTS_MAX} hosts before HOST")
    if args.timestamp is None and len(hops) > ROUTE_SLOTS:
        raise UsageError(f"a source route takes at most {ROUTE_SLOTS} hosts before HOST")


def parse(argv: List[str]) -> Options:
    args = parser().parse(argv)
    if args.rroute and args.timestamp:
        raise _fatal("only one of -T or -R may be used")
    hosts = args.host
    if not hosts:
        if not args.version:
            raise _fatal("usage error: Destination address required", 1)
        hosts = [""]
    args.host, args.hops = hosts[-1], tuple(hosts[:-1])
    _hops(args)
    if args.deadline == 0:
        args.deadline = None    # iputils: -w 0 sets no deadline
    if args.ttl == 0:
        raise _fatal("cannot set unicast time-to-live: Invalid argument")   # iputils' setsockopt
    return Options(**vars(args))
