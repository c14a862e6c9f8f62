"""Where fping's targets come from: the arguments, -f FILE (- for stdin),
stdin when nothing else is given, or -g (one network, or START END)."""

from __future__ import annotations

import ipaddress
import sys
# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator, List, Optional

from .._errors import ResolveError
from ..fleet._targets import Targets, parse_range
from ._options import Args, FpingUsage

__all__ = ["FpingFileError", "load_targets"]


class FpingFileError(FpingUsage):
    """-f FILE could not be read: fping exits 4 (a system call failed)."""

    exit_code = 4


def _lines(stream: "Iterator[str]") -> Iterator[str]:
    """The first word of each line, as fping reads a target file: blank
    lines and # comments are skipped."""
    for line in stream:
        words = line.split("#", 1)[0].split()
        if words:
            yield words[0]


def _file_targets(path: str) -> List[str]:
    if path == "-":
        return list(_lines(sys.stdin))
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return list(_lines(f))
    except OSError as exc:
        raise FpingFileError(f"fopen : {exc.strerror}", hint=False) from None


def load_targets(a: Args, on_unknown: Callable[[ResolveError], None]) -> Targets:
    if a.generate:
        return _generated(a)
    names: List[str] = list(a.targets)
    if a.file is not None:
        names += _file_targets(a.file)
    elif not names and not sys.stdin.isatty():
        names = list(_lines(sys.stdin))
    if not names:
        raise FpingUsage("no targets given")
    return Targets(names, family=a.family, on_unknown=on_unknown)


def _generated(a: Args) -> Targets:
    out = Targets([], family=a.family)
    if len(a.targets) == 1:
        text = a.targets[0]
        if "/" not in text:
            raise FpingUsage(f"can't parse address {text}", hint=True)
        address, _, bits = text.partition("/")
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            limit = 32 if ":" not in address else 128
            if bits.isdigit() and not 1 <= int(bits) <= limit:
                raise FpingUsage(f"netmask must be between 1 and {limit} (is: {bits})",
                                 hint=False) from None
            raise FpingUsage(f"can't parse address {text}") from None
        return Targets([net], family=a.family)
    if len(a.targets) == 2:
        try:
            family, first, count = parse_range(*a.targets)
        except ValueError:
            if _ordered_wrong(*a.targets):
                return out  # fping: nothing to ping, and exit 1
            raise FpingUsage(f"can't parse address range {a.targets[0]} {a.targets[1]}") \
                from None
        out.add_range(family, first, count)
        return out
    raise FpingUsage("-g takes a network (A.B.C.D/N) or a start and an end address")


def _ordered_wrong(start: str, end: str) -> bool:
    try:
        return int(ipaddress.ip_address(end)) < int(ipaddress.ip_address(start))
    except ValueError:
        return False


def reverse_name(address: str, cache: "dict[str, str]", resolve: Optional[bool]) -> str:
    """-n: the address's name (the system resolver; /etc/hosts first)."""
    if not resolve:
        return address
    name = cache.get(address)
    if name is None:
        import socket
        try:
            name = socket.gethostbyaddr(address)[0]
        except OSError:
            name = address
        cache[address] = name
    return name
