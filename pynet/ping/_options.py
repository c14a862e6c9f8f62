"""The command line, as iputils ping takes it."""

from __future__ import annotations

import math
from typing import List, NamedTuple, Optional

from .._cli import ArgumentParser, add_family
from ._api import MAX_SIZE

__all__ = ["Options", "parse"]

USAGE = "ping [options] HOST"
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


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _size(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_SIZE[6]:
        raise ValueError(text)
    return value


def _ttl(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 255:
        raise ValueError(text)
    return value


_count.__name__ = "count (1 or more)"
_seconds.__name__ = "number of seconds"
_size.__name__ = f"size (0..{MAX_SIZE[6]})"
_ttl.__name__ = "TTL (1..255)"


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="ping", usage=USAGE, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("host", metavar="HOST", help="host name or IP address")
    p.add_argument("-c", dest="count", type=_count, default=0, metavar="COUNT",
                   help="stop after COUNT replies (or COUNT requests without -w)")
    p.add_argument("-i", dest="interval", type=_seconds, metavar="INTERVAL",
                   help="seconds between requests (default 1; fractions allowed)")
    p.add_argument("-W", dest="timeout", type=_seconds, metavar="TIMEOUT",
                   help="seconds to wait for a reply when none came (default 10)")
    p.add_argument("-w", dest="deadline", type=_seconds, metavar="DEADLINE",
                   help="stop after DEADLINE seconds, whatever happened")
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
    p.add_argument("--json", action="store_true",
                   help="print one JSON document with every reply and the summary")
    p.add_argument("--unprivileged", action="store_true",
                   help="use an unprivileged ICMP datagram socket even as root")
    return p


def parse(argv: List[str]) -> Options:
    args = parser().parse_intermixed_args(argv)
    return Options(**vars(args))
