"""The targets of a fleet run: names, addresses, networks and address ranges,
numbered 0, 1, 2, ... as the engine numbers them.

A network or range is one Segment (its first address as an int and its
length), never a Python object per address: a /12 is one row here and is
packed for the engine a chunk at a time. Names are resolved when the Targets
are built, before anything is sent.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
import sys
from array import array
# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

    Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
    Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
    TargetSpec = Union[str, Address, Network]
else:
    from .._records import NamedTuple

from .._errors import ResolveError
from .._resolve import resolve

__all__ = ["MAX_TARGETS", "address_of", "Segment", "Targets", "parse_range", "split_scope"]

# The most addresses one network or range may expand to (2**24: a /8).
MAX_TARGETS = 1 << 24
# Addresses packed per Engine.add call.
CHUNK = 65536



class Segment(NamedTuple):
    first: int          # index of its first target
    size: int
    family: int         # 4 or 6
    base: int           # its first address, as an int
    host: Optional[str]  # the name or text it was given as (count 1), else None
    scope_id: int = 0


def split_scope(text: str) -> Tuple[str, str]:
    """("fe80::1", "eth0") from "fe80::1%eth0"; the scope is "" without %."""
    address, _, scope = text.partition("%")
    return address, scope


def _network_hosts(net: Network) -> Tuple[int, int]:
    """(first, count) of net's hosts as ipaddress.hosts() counts them: IPv4
    without the network and broadcast addresses (but all of a /31 and a /32),
    IPv6 without the subnet-router anycast address (all of a /127 and /128)."""
    size = net.num_addresses
    base = int(net.network_address)
    if net.version == 4:
        if net.prefixlen >= 31:
            return base, size
        return base + 1, size - 2
    if net.prefixlen >= 127:
        return base, size
    return base + 1, size - 1


def parse_range(start: str, end: str) -> Tuple[int, int, int]:
    """(family, first, count) of the addresses START..END, both included
    (fping -g START END). ValueError when they are not one family's
    addresses in order."""
    try:
        a = ipaddress.ip_address(start)
        b = ipaddress.ip_address(end)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if a.version != b.version:
        raise ValueError(f"{start} and {end} are not of the same address family")
    if int(b) < int(a):
        raise ValueError(f"{end} comes before {start}")
    count = int(b) - int(a) + 1
    if count > MAX_TARGETS:
        raise ValueError(f"{start}..{end} has {count} addresses, more than {MAX_TARGETS}")
    return a.version, int(a), count


def _as_network(spec: Any) -> Optional[Network]:
    if isinstance(spec, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return spec
    if isinstance(spec, str) and "/" in spec:
        try:
            return ipaddress.ip_network(spec, strict=False)
        except ValueError as exc:
            raise ValueError(f"{spec}: {exc}") from None
    return None


def _literal(text: str) -> Optional[Tuple[int, int, int]]:
    """(family, address int, scope id) of an address literal, else None."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big"), 0
    except OSError:
        pass
    address, scope = split_scope(text)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    scope_id = 0
    if scope:
        if ip.version != 6:
            return None
        scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
    return ip.version, int(ip), scope_id


class Targets:
    """The targets, in order, as segments. ``unknown`` lists the names that
    did not resolve (with on_unknown given; else the first raises)."""

    def __init__(self, specs: Iterable[TargetSpec], *, family: Optional[int] = None,
                 on_unknown: Optional[Callable[[ResolveError], None]] = None) -> None:
        if family not in (None, 4, 6):
            raise ValueError(f"family must be 4, 6 or None, got {family!r}")
        self.family = family
        self.segments: List[Segment] = []
        self._firsts: List[int] = []
        self.total = 0
        self.unknown: List[ResolveError] = []
        if isinstance(specs, (str, ipaddress.IPv4Address, ipaddress.IPv6Address,
                              ipaddress.IPv4Network, ipaddress.IPv6Network)):
            specs = [specs]
        for spec in specs:
            try:
                self._take(spec)
            except ResolveError as exc:
                if on_unknown is None:
                    raise
                self.unknown.append(exc)
                on_unknown(exc)

    # ---- building ----

    def _append(self, count: int, family: int, base: int, host: Optional[str],
                scope_id: int = 0) -> None:
        if count <= 0:
            return
        self.segments.append(Segment(self.total, count, family, base, host, scope_id))
        self._firsts.append(self.total)
        self.total += count

    def _check_family(self, family: int, what: str) -> None:
        if self.family is not None and family != self.family:
            raise ResolveError(what, f"not an IPv{self.family} address")

    def add_range(self, family: int, first: int, count: int) -> None:
        self._check_family(family, "range")
        self._append(count, family, first, None)

    def _take(self, spec: Any) -> None:
        if isinstance(spec, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            self._check_family(spec.version, str(spec))
            self._append(1, spec.version, int(spec), str(spec))
            return
        net = _as_network(spec)
        if net is not None:
            self._check_family(net.version, str(net))
            first, count = _network_hosts(net)
            if count > MAX_TARGETS:
                raise ValueError(f"{net} has {count} addresses, more than {MAX_TARGETS}")
            self._append(count, net.version, first, None)
            return
        if not isinstance(spec, str):
            raise TypeError(f"a target must be a str or an ipaddress object, "
                            f"not {type(spec).__name__}")
        literal = _literal(spec)
        if literal is not None:
            fam, value, scope_id = literal
            self._check_family(fam, spec)
            self._append(1, fam, value, spec, scope_id)
            return
        af, sockaddr = resolve(spec, family=self.family, socktype=socket.SOCK_DGRAM)[0]
        fam = 4 if af == socket.AF_INET else 6
        address, _ = split_scope(str(sockaddr[0]))
        scope_id = int(sockaddr[3]) if fam == 6 else 0  # type: ignore[misc]
        self._append(1, fam, int(ipaddress.ip_address(address)), spec, scope_id)

    # ---- reading ----

    def __len__(self) -> int:
        return self.total

    def families(self) -> List[int]:
        return sorted({s.family for s in self.segments})

    def segment_of(self, index: int) -> Segment:
        return self.segments[bisect.bisect_right(self._firsts, index) - 1]

    def address(self, index: int) -> str:
        """Target index's address as text."""
        s = self.segment_of(index)
        return address_of(s.family, s.base + index - s.first)

    def host(self, index: int) -> str:
        """What target index was given as: its name, else its address."""
        s = self.segment_of(index)
        return s.host if s.host is not None else self.address(index)

    def family_of(self, index: int) -> int:
        return self.segment_of(index).family

    def chunks(self, size: int = CHUNK) -> Iterator[Tuple[int, int, bytes, int]]:
        """(first index, family, packed addresses, scope id) in index order,
        at most size addresses each: what Engine.add takes."""
        for s in self.segments:
            done = 0
            while done < s.size:
                n = min(size, s.size - done)
                yield s.first + done, s.family, _pack(s.family, s.base + done, n), s.scope_id
                done += n


_ntop = socket.inet_ntop
_AF = {4: (socket.AF_INET, 4), 6: (socket.AF_INET6, 16)}


def address_of(family: int, value: int) -> str:
    """An address as text, from its int."""
    af, size = _AF[family]
    return _ntop(af, value.to_bytes(size, "big"))


def _pack(family: int, first: int, n: int) -> bytes:
    """n consecutive addresses from first, packed in network order."""
    if family == 4:
        words = array("I", range(first, first + n))
        if sys.byteorder == "little":
            words.byteswap()
        return words.tobytes()
    return b"".join((first + i).to_bytes(16, "big") for i in range(n))
