"""The exporter's config: one TOML file of modules, target groups and the
/probe allow-list, checked whole before it is used.

    [exporter]
    max_probes = 16                 # /probe requests served at once (429 beyond)
    timeout_offset = 0.5            # taken off Prometheus's scrape timeout
    allow = ["127.0.0.0/8", "::1"]  # /probe targets must be in these; absent: any

    [modules.icmp3]                 # /probe?module=icmp3
    prober = "icmp"                 # icmp, tcp, sntp or traceroute
    count = 3

    [groups.loopback]               # probed continuously, shown on /metrics
    period = 1.0
    addresses = ["127.0.0.1"]
    networks = ["127.1.0.0/28"]

Every error names the file and the line: tomllib's own say where the syntax
broke; for the rest the line of the offending key is found by a scan of the
text (tomllib does not keep positions).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple, Union

from .. import _trace_loop as tl
from .._errors import ConfigError, ExporterError
from ..traceroute._engine import METHOD_NAMES

__all__ = ["BUILTIN_MODULES", "Config", "Group", "Module", "Network", "default_config",
           "load", "parse"]

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
PROBERS = ("icmp", "tcp", "sntp", "traceroute")
# A probe never runs longer than this, whatever the header or module says.
MAX_PROBE_S = 120.0
# Networks in [groups] expand to at most this many targets in all.
MAX_TARGETS = 1 << 20
MAX_PROBES_LIMIT = 4096
MAX_CONFIG_BYTES = 64 << 20


@dataclass(frozen=True)
class Module:
    """How /probe probes a target (one module of [modules])."""

    name: str
    prober: str
    timeout: float = 10.0          # the probe's budget when Prometheus gives a longer one
    family: Optional[int] = None
    count: int = 3                 # icmp: echo requests
    interval: float = 0.2          # icmp: seconds between them
    size: int = 56                 # icmp: payload bytes
    ttl: Optional[int] = None      # icmp: outgoing TTL / hop limit
    port: Optional[int] = None     # tcp: when the target has none; sntp: default 123;
                                   # traceroute: the method's destination port
    send: bytes = b""              # tcp: sent once connected
    expect: Optional[Pattern[bytes]] = None  # tcp: must match what comes back
    method: str = "udp"            # traceroute: udp, udp-port, icmp or tcp
    first_ttl: int = 1             # traceroute: the first hop probed
    max_hops: int = 30             # traceroute: the last TTL probed
    queries: int = 3               # traceroute: probes per hop
    wait: float = 5.0              # traceroute: seconds per probe at most (within the budget)


@dataclass(frozen=True)
class Group:
    """Targets probed continuously by the fleet engine ([groups.NAME])."""

    name: str
    period: float = 1.0
    timeout: float = 1.0           # per echo request
    size: int = 56
    addresses: Tuple[str, ...] = ()
    names: Tuple[str, ...] = ()
    networks: Tuple[Network, ...] = ()

    def count(self) -> int:
        return len(self.addresses) + len(self.names) + sum(_hosts(n) for n in self.networks)


@dataclass(frozen=True)
class Config:
    path: str = ""
    modules: Mapping[str, Module] = field(default_factory=dict)
    groups: Tuple[Group, ...] = ()
    allow: Optional[Tuple[Network, ...]] = None   # None: any target (an open prober)
    max_probes: int = 16
    timeout_offset: float = 0.5

    def allowed(self, address: str) -> bool:
        if self.allow is None:
            return True
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return any(ip in net for net in self.allow)


BUILTIN_MODULES: Mapping[str, Module] = {name: Module(name, name) for name in PROBERS}


def default_config() -> Config:
    """No file: the built-in modules icmp, tcp, sntp and traceroute, no
    groups, open."""
    return Config(modules=dict(BUILTIN_MODULES))


def _hosts(net: Network) -> int:
    """Addresses fping -g would probe: all but network and broadcast
    addresses, for IPv4 prefixes shorter than /31."""
    if net.version == 4 and net.prefixlen < 31:
        return int(net.num_addresses) - 2
    return int(net.num_addresses)


# ---- where a key is: a line scan of the TOML text ----------------------------

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
                  r"(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _split_key(text: str) -> Tuple[str, ...]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+", text)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def key_lines(text: str) -> Dict[Tuple[str, ...], int]:
    """(table..., key) -> the 1-based line that sets it; tables -> their header."""
    lines: Dict[Tuple[str, ...], int] = {}
    table: Tuple[str, ...] = ()
    in_multiline = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        if in_multiline:
            continue
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault(table + _split_key(key.group(1)), number)
    return lines


class _Checker:
    """Turns the parsed document into a Config, raising ConfigError at the
    first problem, with the line of the key (or of its table)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = key_lines(text)

    def fail(self, where: Sequence[str], message: str) -> ExporterError:
        key = tuple(where)
        while key and key not in self.lines:
            key = key[:-1]
        return ConfigError(self.path, self.lines.get(key, 0), message)

    def table(self, doc: Mapping[str, Any], where: Tuple[str, ...],
              keys: Sequence[str]) -> Mapping[str, Any]:
        value = doc.get(where[-1], {})
        if not isinstance(value, dict):
            raise self.fail(where, f"{'.'.join(where)} must be a table")
        for key in value:
            if key not in keys:
                raise self.fail(where + (key,), f"unknown key {key!r} in [{'.'.join(where)}]"
                                f" (known: {', '.join(keys)})")
        return value

    def number(self, table: Mapping[str, Any], where: Tuple[str, ...], default: Any, *,
               low: float, high: float = math.inf, integer: bool = False) -> Any:
        value = table.get(where[-1], default)
        if value is None:
            return None
        kinds = (int,) if integer else (int, float)
        name = ".".join(where)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.fail(where, f"{name} must be {'an integer' if integer else 'a number'}")
        if not (low <= value <= high) or not math.isfinite(value):
            bound = f"{low:g}..{high:g}" if high != math.inf else f"at least {low:g}"
            raise self.fail(where, f"{name} must be {bound}, got {value!r}")
        return value if integer else float(value)

    def strings(self, table: Mapping[str, Any], where: Tuple[str, ...]) -> List[str]:
        value = table.get(where[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"{'.'.join(where)} must be a list of strings")
        return list(value)

    def family(self, table: Mapping[str, Any], where: Tuple[str, ...]) -> Optional[int]:
        value = table.get(where[-1])
        if value not in (None, 4, 6) or isinstance(value, bool):
            raise self.fail(where, f"{'.'.join(where)} must be 4 or 6")
        return value

    def network(self, text: str, where: Tuple[str, ...]) -> Network:
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise self.fail(where, f"{'.'.join(where)}: {exc}") from None

    def module(self, name: str, doc: Mapping[str, Any]) -> Module:
        where = ("modules", name)
        keys = ("prober", "timeout", "family", "count", "interval", "size", "ttl", "port",
                "send", "expect", "method", "first_ttl", "max_hops", "queries", "wait")
        t = self.table(doc, where, keys)
        prober = t.get("prober", name if name in PROBERS else None)
        if prober not in PROBERS:
            raise self.fail(where + ("prober",), f"modules.{name}.prober must be one of "
                            f"{', '.join(PROBERS)}, got {prober!r}")
        own = {"icmp": ("count", "interval", "size", "ttl"), "tcp": ("port", "send", "expect"),
               "sntp": ("port",),
               "traceroute": ("method", "port", "first_ttl", "max_hops", "queries", "wait"),
               }[prober]
        for key in t:
            if key not in ("prober", "timeout", "family") + own:
                raise self.fail(where + (key,), f"modules.{name}.{key} is not an option of "
                                f"the {prober} prober")
        send = t.get("send", "")
        if not isinstance(send, str):
            raise self.fail(where + ("send",), f"modules.{name}.send must be a string")
        expect = t.get("expect")
        pattern = None
        if expect is not None:
            if not isinstance(expect, str):
                raise self.fail(where + ("expect",), f"modules.{name}.expect must be a string")
            try:
                pattern = re.compile(expect.encode())
            except re.error as exc:
                raise self.fail(where + ("expect",),
                                f"modules.{name}.expect is not a valid regex: {exc}") from None
        method = t.get("method", "udp")
        if method not in METHOD_NAMES:
            raise self.fail(where + ("method",), f"modules.{name}.method must be one of "
                            f"{', '.join(METHOD_NAMES)}, got {method!r}")
        max_hops = self.number(t, where + ("max_hops",), 30, low=1, high=tl.MAX_TTL,
                               integer=True)
        first_ttl = self.number(t, where + ("first_ttl",), 1, low=1, high=tl.MAX_TTL,
                                integer=True)
        if first_ttl > max_hops:
            raise self.fail(where + ("first_ttl",), f"modules.{name}.first_ttl must be at "
                            f"most max_hops ({max_hops}), got {first_ttl}")
        return Module(
            name, prober,
            timeout=self.number(t, where + ("timeout",), 10.0, low=0.001, high=MAX_PROBE_S),
            family=self.family(t, where + ("family",)),
            count=self.number(t, where + ("count",), 3, low=1, high=1000, integer=True),
            interval=self.number(t, where + ("interval",), 0.2, low=0.0, high=60.0),
            size=self.number(t, where + ("size",), 56, low=16, high=65507, integer=True),
            ttl=self.number(t, where + ("ttl",), None, low=1, high=255, integer=True),
            port=self.number(t, where + ("port",), None, low=1, high=65535, integer=True),
            send=send.encode(), expect=pattern, method=method, first_ttl=first_ttl,
            max_hops=max_hops,
            queries=self.number(t, where + ("queries",), 3, low=1, high=tl.MAX_QUERIES,
                                integer=True),
            wait=self.number(t, where + ("wait",), 5.0, low=0.001, high=MAX_PROBE_S))

    def group(self, name: str, doc: Mapping[str, Any]) -> Group:
        where = ("groups", name)
        t = self.table(doc, where, ("period", "timeout", "size", "addresses", "names",
                                    "networks"))
        addresses = self.strings(t, where + ("addresses",))
        for text in addresses:
            try:
                ipaddress.ip_address(text)
            except ValueError:
                raise self.fail(where + ("addresses",), f"groups.{name}.addresses: {text!r} "
                                "is not an IP address (names go in names)") from None
        names = self.strings(t, where + ("names",))
        for text in names:
            if not text or len(text) > 253 or any(c.isspace() for c in text):
                raise self.fail(where + ("names",), f"groups.{name}.names: {text!r} is not "
                                "a host name")
        networks = tuple(self.network(text, where + ("networks",))
                         for text in self.strings(t, where + ("networks",)))
        if not (addresses or names or networks):
            raise self.fail(where, f"groups.{name} has no addresses, names or networks")
        period = self.number(t, where + ("period",), 1.0, low=0.01, high=3600.0)
        return Group(name, period,
                     timeout=self.number(t, where + ("timeout",), min(period, 1.0),
                                         low=0.001, high=60.0),
                     size=self.number(t, where + ("size",), 56, low=16, high=1400, integer=True),
                     addresses=tuple(addresses), names=tuple(names), networks=networks)

    def config(self, doc: Mapping[str, Any]) -> Config:
        for key in doc:
            if key not in ("exporter", "modules", "groups"):
                raise self.fail((key,), f"unknown table {key!r} (known: exporter, modules, "
                                "groups)")
        ex = self.table(doc, ("exporter",), ("max_probes", "timeout_offset", "allow"))
        allow = None
        if "allow" in ex:
            allow = tuple(self.network(text, ("exporter", "allow"))
                          for text in self.strings(ex, ("exporter", "allow")))
        modules = dict(BUILTIN_MODULES)
        mods = self.table(doc, ("modules",), list(doc.get("modules", {})))
        for name in mods:
            modules[name] = self.module(name, mods)
        groups = []
        grps = self.table(doc, ("groups",), list(doc.get("groups", {})))
        total = 0
        for name in grps:
            group = self.group(name, grps)
            total += group.count()
            if total > MAX_TARGETS:
                raise self.fail(("groups", name), f"the groups hold over {MAX_TARGETS} "
                                "targets")
            groups.append(group)
        return Config(
            self.path, modules, tuple(groups), allow,
            max_probes=self.number(ex, ("exporter", "max_probes"), 16, low=1,
                                   high=MAX_PROBES_LIMIT, integer=True),
            timeout_offset=self.number(ex, ("exporter", "timeout_offset"), 0.5, low=0.0,
                                       high=10.0))


def _toml() -> Any:
    try:
        import tomllib
        return tomllib
    except ModuleNotFoundError:
        pass
    try:
        import tomli  # type: ignore[import-not-found, unused-ignore]
        return tomli
    except ModuleNotFoundError:
        raise ExporterError("reading the config needs Python 3.11 (tomllib) or the tomli "
                            "package: pip install 'pynet[exporter]'") from None


_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def parse(text: str, path: str = "<config>") -> Config:
    """The Config that text describes, or ConfigError naming the line."""
    toml = _toml()
    try:
        doc = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_LINE.search(message)
        line = int(found.group(1)) if found else 0
        raise ConfigError(path, line, _TOML_LINE.sub("", message).strip()) from None
    return _Checker(path, text).config(doc)


def load(path: str) -> Config:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, 0, exc.strerror or str(exc)) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(path, 0, f"larger than {MAX_CONFIG_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, raw[:exc.start].count(b"\n") + 1, "not UTF-8") from None
    return parse(text, path)
