"""fping's command line, parsed as fping parses it (getopt: bundled short
flags, -cN or -c N, long names), with fping's complaints and exit codes."""

from __future__ import annotations

import math
# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

from .._errors import PynetError
from .._fleet_engine import MIN_PAYLOAD

__all__ = ["Args", "FpingUsage", "USAGE", "parse"]

PROG = "fping"
# fping: "data size N not valid, must be lower than 65488"
MAX_SIZE = 65488
# A -t/-p default: the period, up to this, in count and loop modes.
MAX_DEFAULT_TIMEOUT_MS = 2000.0

USAGE = f"""Usage: {PROG} [options] [targets...]

Probing options:
   -4, --ipv4         only ping IPv4 addresses
   -6, --ipv6         only ping IPv6 addresses
   -b, --size=BYTES   amount of ping data to send, in bytes (default: 56, at least {MIN_PAYLOAD})
   -B, --backoff=N    set exponential backoff factor to N (default: 1.5)
   -c, --count=N      count mode: send N pings to each target
   -f, --file=FILE    read list of targets from a file ( - means stdin)
   -g, --generate     generate target list (only if no -f specified)
                      (give start and end IP in the target list, or a CIDR address)
   -H, --ttl=N        set the IP TTL value (Time To Live hops)
   -I, --iface=IFACE  bind to a particular interface
   -l, --loop         loop mode: send pings forever
   -p, --period=MSEC  interval between ping packets to one target (in ms)
                      (in loop and count modes, default: 1000 ms)
   -r, --retry=N      number of retries (default: 3)
   -S, --src=IP       set source address
   -t, --timeout=MSEC individual target initial timeout (default: 500 ms,
                      except with -l/-c/-C, where it's the -p period up to 2000 ms)
       --rate=PPS     send at most PPS packets per second in all (pynet)

Output options:
   -a, --alive        show targets that are alive
   -C, --vcount=N     same as -c, report results in verbose format
   -D, --timestamp    print timestamp before each output line
   -e, --elapsed      show elapsed time on return packets
   -i, --interval=MSEC  interval between sending ping packets (default: 10 ms)
   -n, --name         show targets by name (reverse-DNS lookup for target IPs)
   -o, --outage       show the accumulated outage time (lost packets * packet interval)
   -q, --quiet        quiet (don't show per-target/per-ping results)
   -Q, --squiet=SECS  same as -q, but add interval summary every SECS seconds
   -s, --stats        print final stats
   -u, --unreach      show targets that are unreachable
   -v, --version      show version
   -x, --reachable=N  shows if >=N hosts are reachable or not
   -X, --fast-reachable=N  exits true immediately when N hosts are found
       --json         NDJSON on stdout: one object per target, then {{"summary": ...}} (pynet)

exit status: 0 all targets alive, 1 some unreachable, 2 an unknown host or address,
3 bad arguments, 4 a system call failed (fping's codes).
"""

# Short options: True when they take an argument.
_SHORT: Dict[str, bool] = {c: False for c in "46aADdeglmMnNoqRsuvh"}
_SHORT.update({c: True for c in "bBcCfHIipQrStxXO"})
_LONG: Dict[str, Tuple[str, bool]] = {
    "ipv4": ("4", False), "ipv6": ("6", False), "size": ("b", True), "backoff": ("B", True),
    "count": ("c", True), "file": ("f", True), "generate": ("g", False), "ttl": ("H", True),
    "iface": ("I", True), "loop": ("l", False), "period": ("p", True), "retry": ("r", True),
    "src": ("S", True), "timeout": ("t", True), "alive": ("a", False), "addr": ("A", False),
    "vcount": ("C", True), "timestamp": ("D", False), "elapsed": ("e", False),
    "interval": ("i", True), "name": ("n", False), "outage": ("o", False),
    "quiet": ("q", False), "squiet": ("Q", True), "stats": ("s", False),
    "unreach": ("u", False), "version": ("v", False), "reachable": ("x", True),
    "fast-reachable": ("X", True), "help": ("h", False),
    "rate": ("rate", True), "json": ("json", False),
}


class FpingUsage(PynetError):
    """A bad command line. fping exits 1 for these (its man page says 3)."""

    exit_code = 1

    def __init__(self, message: str, hint: bool = True) -> None:
        super().__init__(message)
        self.hint = hint


class Args:
    """The command line, read. Class attributes are the defaults; parse()
    sets what the command line says on the instance."""

    family: Optional[int] = None
    size: int = 56
    backoff: float = 1.5
    count: Optional[int] = None
    vcount: bool = False
    file: Optional[str] = None
    generate: bool = False
    ttl: Optional[int] = None
    interface: Optional[str] = None
    loop: bool = False
    period_ms: float = 1000.0
    retries: int = 3
    source: Optional[str] = None
    timeout_ms: Optional[float] = None
    alive: bool = False
    timestamp: bool = False
    elapsed: bool = False
    interval_ms: float = 10.0
    names: bool = False
    outage: bool = False
    quiet: bool = False
    squiet_s: Optional[float] = None
    stats: bool = False
    unreach: bool = False
    version: bool = False
    help: bool = False
    reachable: Optional[int] = None
    fast_reachable: Optional[int] = None
    rate: Optional[float] = None
    json: bool = False

    def __init__(self) -> None:
        self.targets: List[str] = []

    @property
    def counting(self) -> bool:
        """-c, -C or -l: per-probe lines and summaries."""
        return self.count is not None or self.loop

    def timeout_s(self) -> float:
        if self.timeout_ms is not None:
            return self.timeout_ms / 1000.0
        if self.counting:
            return min(self.period_ms, MAX_DEFAULT_TIMEOUT_MS) / 1000.0
        return 0.5


def _bad(option: str, value: str) -> FpingUsage:
    return FpingUsage(f"invalid value for -{option}: '{value}'")


def _int(option: str, value: str, low: int, high: int = 1 << 31) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        raise _bad(option, value) from None
    if not low <= number <= high:
        raise _bad(option, value)
    return number


def _float(option: str, value: str, low: float = 0.0) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _bad(option, value) from None
    if not math.isfinite(number) or number < low:
        raise _bad(option, value)
    return number


def _apply(a: Args, opt: str, value: str) -> None:
    if opt == "4" or opt == "6":
        if a.family is not None and a.family != int(opt):
            raise FpingUsage("can't specify both -4 and -6", hint=False)
        a.family = int(opt)
    elif opt == "b":
        a.size = _int(opt, value, 0)
        if a.size >= MAX_SIZE:
            raise FpingUsage(f"data size {a.size} not valid, must be lower than {MAX_SIZE}",
                             hint=False)
        if a.size < MIN_PAYLOAD:
            raise FpingUsage(f"data size {a.size} not valid, must be at least {MIN_PAYLOAD} "
                             "(the run's key, the target and the probe number)", hint=False)
    elif opt == "B":
        a.backoff = _float(opt, value)
        if not 1.0 <= a.backoff <= 5.0:
            raise FpingUsage(f"backoff factor {a.backoff:.1f} not valid, must be between 1.0 "
                             "and 5.0",
                             hint=False)
    elif opt in ("c", "C"):
        a.count = _int(opt, value, 1)
        a.vcount = a.vcount or opt == "C"
    elif opt == "f":
        a.file = value
    elif opt == "g":
        a.generate = True
    elif opt == "H":
        a.ttl = _int(opt, value, 1)     # above 255: refused once all is parsed, as fping
    elif opt == "I":
        a.interface = value
    elif opt == "l":
        a.loop = True
    elif opt == "p":
        a.period_ms = _float(opt, value)    # 0: as fast as -i allows (and -t defaults to 0)
    elif opt == "r":
        a.retries = _int(opt, value, 0, 1000)
    elif opt == "S":
        a.source = value
    elif opt == "t":
        a.timeout_ms = _float(opt, value)
    elif opt == "a":
        a.alive = True
    elif opt == "D":
        a.timestamp = True
    elif opt == "e":
        a.elapsed = True
    elif opt == "i":
        a.interval_ms = _float(opt, value)
    elif opt == "n":
        a.names = True
    elif opt == "o":
        a.outage = True
    elif opt == "q":
        a.quiet = True
    elif opt == "Q":
        seconds = _float(opt, value)
        a.squiet_s = seconds if seconds > 0 else None   # -Q 0: -q, no interval summaries
        a.quiet = True
    elif opt == "s":
        a.stats = True
    elif opt == "u":
        a.unreach = True
    elif opt == "v":
        a.version = True
    elif opt == "h":
        a.help = True
    elif opt == "x":
        a.reachable = _int(opt, value, 1)
    elif opt == "X":
        a.fast_reachable = _int(opt, value, 1)
    elif opt == "rate":
        a.rate = _float(opt, value)
        if a.rate <= 0:
            raise _bad(opt, value)
    elif opt == "json":
        a.json = True
    # -A, -d, -m, -M, -N, -O, -R: accepted, no effect here.


def parse(argv: List[str]) -> Args:
    a = Args()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            a.targets.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name not in _LONG:
                raise FpingUsage(f"invalid option -- '{name}'")
            opt, takes = _LONG[name]
            if takes and not eq:
                if i >= len(argv):
                    raise FpingUsage(f"option requires an argument -- '{name}'")
                value = argv[i]
                i += 1
            _apply(a, opt, value)
            continue
        if not arg.startswith("-") or arg == "-":
            a.targets.append(arg)
            continue
        j = 1
        while j < len(arg):
            opt = arg[j]
            j += 1
            if opt not in _SHORT:
                raise FpingUsage(f"invalid option -- '{opt}'")
            value = ""
            if _SHORT[opt]:
                if j < len(arg):
                    value = arg[j:]
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise FpingUsage(f"option requires an argument -- '{opt}'")
                j = len(arg)
            _apply(a, opt, value)
    _check(a)
    return a


def _check(a: Args) -> None:
    """The combinations fping refuses, in its words."""
    if a.ttl is not None and a.ttl > 255:
        raise FpingUsage(f"ttl {a.ttl} out of range", hint=False)
    if a.alive and a.unreach:
        raise FpingUsage("specify only one of a, u", hint=False)
    if a.count is not None and a.loop:
        raise FpingUsage("specify only one of c, l", hint=False)
