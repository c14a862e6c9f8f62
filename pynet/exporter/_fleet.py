"""Continuous probing for /metrics: the config's target groups pinged by the
fleet engine (one engine per group, for its period and timeout), driven by
one background thread, folded into smokeping-style histograms per target.

The engine is the active backend's ``fleet.Engine`` (pynet._c.fleet or
pynet._reference.fleet, the interface in pynet._fleet_engine); this module
only opens its sockets, feeds it targets and reads its records.
"""

from __future__ import annotations

import dataclasses
import importlib
import ipaddress
import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .._errors import ExporterError, ResolveError
from .._fleet_engine import KEY_LEN, MIN_PAYLOAD
from .._resolve import resolve
from ._config import Group

__all__ = ["BUCKETS", "FleetProber", "TargetStats", "engine_class"]

log = logging.getLogger("pynet.exporter")

# smokeping_prober's buckets: 50 us doubling, to 26 s.
BUCKETS = tuple(50e-6 * 2 ** i for i in range(20))
# The thread looks at its stop flag at least this often.
WAKE_NS = 250_000_000
FLUSH_NS = 50_000_000
SO_RXQ_OVFL = 40           # Linux: count receive-queue drops into each message
RCVBUF = 4 << 20

EngineFactory = Callable[[Any], Any]


def engine_class(backend: Optional[str] = None) -> Tuple[EngineFactory, Any]:
    """(the fleet Engine class of the backend, the EngineConfig class), or
    ExporterError when this build has no fleet engine yet."""
    from .. import _backend

    try:
        iface = importlib.import_module("pynet._fleet_engine")
        pkg = _backend.active if backend is None else _backend.load(backend)
        fleet = importlib.import_module(f"{pkg.__name__}.fleet")
        return fleet.Engine, iface.EngineConfig
    except (ImportError, AttributeError) as exc:
        raise ExporterError(f"the fleet engine is not available: {exc}") from None


@dataclass
class TargetStats:
    """What /metrics shows for one target. Counters only grow."""

    group: str
    host: str                       # as the config names it
    ip: str
    buckets: List[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    rtt_sum: float = 0.0
    replies: int = 0
    requests: int = 0               # probes whose outcome is known (numbered in send order)
    base: int = 0                   # requests counted by an earlier engine (before a reload)
    duplicates: int = 0
    corrupted: int = 0
    icmp_errors: int = 0
    timeouts: int = 0

    def observe(self, seconds: float) -> None:
        self.replies += 1
        self.rtt_sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
                break


def _open_socket(family: int, ident: int) -> Tuple[socket.socket, bool]:
    """An ICMP socket for the engine: raw when allowed (with the kernel
    filters ping uses, passing echo replies with our id), else the
    unprivileged datagram socket (where the kernel owns the id)."""
    from .. import _errqueue as errqueue
    from .. import _ping_loop as pl
    from ..ping import _socket as ps

    af = socket.AF_INET if family == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6
    sock, raw = ps._create(af, proto, None)
    try:
        sock.set_inheritable(False)
        sock.setblocking(False)
        ps._setopt(sock, socket.SOL_SOCKET, pl.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS")
        ps._setopt(sock, socket.SOL_SOCKET, SO_RXQ_OVFL, 1, "SO_RXQ_OVFL")
        try:
            sock.setsockopt(socket.SOL_SOCKET, pl.SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        if family == 4:
            ps._setopt(sock, socket.IPPROTO_IP, errqueue.IP_RECVERR, 1, "IP_RECVERR")
            if not raw:
                ps._setopt(sock, socket.IPPROTO_IP, pl.IP_RECVTTL, 1, "IP_RECVTTL")
        else:
            ps._setopt(sock, socket.IPPROTO_IPV6, errqueue.IPV6_RECVERR, 1, "IPV6_RECVERR")
            ps._setopt(sock, socket.IPPROTO_IPV6, pl.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT")
        if raw:
            ps._filters(sock, family)
            ps._id_filter(sock, family, ident)
    except BaseException:
        sock.close()
        raise
    return sock, raw


def expand(group: Group) -> Iterator[Tuple[str, str]]:
    """(host as configured, address) for every target of the group; names
    that do not resolve are logged and left out until the next reload."""
    for address in group.addresses:
        yield address, str(ipaddress.ip_address(address))
    for name in group.names:
        try:
            _af, sockaddr = resolve(name, socktype=socket.SOCK_DGRAM)[0]
        except ResolveError as exc:
            log.warning("group %s: %s: left out until the next reload", group.name, exc)
            continue
        yield name, str(sockaddr[0]).split("%", 1)[0]
    for net in group.networks:
        hosts = net.hosts() if net.version == 4 and net.prefixlen < 31 else iter(net)
        for ip in hosts:
            text = str(ip)
            yield text, text


class _GroupEngine:
    """One engine with its sockets and its targets' stats (by index)."""

    def __init__(self, group: Group, factory: EngineFactory, config_cls: Any,
                 previous: Dict[Tuple[str, str, str], TargetStats]) -> None:
        self.group = group
        self.stats: List[TargetStats] = []
        self.socks: List[socket.socket] = []
        by_family: Dict[int, List[int]] = {4: [], 6: []}
        packed: Dict[int, List[bytes]] = {4: [], 6: []}
        seen = set()
        for host, ip in expand(group):
            if (host, ip) in seen:
                continue
            seen.add((host, ip))
            family = 6 if ":" in ip else 4
            packed[family].append(socket.inet_pton(
                socket.AF_INET6 if family == 6 else socket.AF_INET, ip))
            by_family[family].append(len(self.stats))
            old = previous.get((group.name, host, ip))
            if old is None:
                self.stats.append(TargetStats(group.name, host, ip))
            else:  # counters carry on; the new engine numbers its probes from 0
                self.stats.append(dataclasses.replace(old, buckets=list(old.buckets),
                                                      base=old.requests))
        fds: Dict[str, Any] = {}
        # One echo id for both families: the engine takes one.
        ident = int.from_bytes(os.urandom(2), "big")
        try:
            for family in (4, 6):
                if packed[family]:
                    sock, raw = _open_socket(family, ident)
                    self.socks.append(sock)
                    fds[f"fd{family}"], fds[f"raw{family}"] = sock.fileno(), raw
            config = config_cls(
                **fds, ident=ident, key=os.urandom(KEY_LEN),
                payload_len=max(group.size, MIN_PAYLOAD), count=0,
                period_ns=int(group.period * 1e9), timeout_ns=int(group.timeout * 1e9))
            self.engine = factory(config)
        except BaseException:
            for sock in self.socks:
                sock.close()
            raise
        self.counters: Any = None   # the engine's, as of its last call (read by its thread)
        # Engine indices run over both families in the order added.
        self.index: List[int] = []
        for family in (4, 6):
            if packed[family]:
                self.engine.add(family, b"".join(packed[family]))
                self.index.extend(by_family[family])

    def fold(self, records: Sequence[Tuple[Any, ...]]) -> None:
        from .. import _fleet_engine as fe

        stats, index = self.stats, self.index
        for r in records:
            kind, target, probe = r[0], r[1], r[2]
            if not 0 <= target < len(index):
                continue
            s = stats[index[target]]
            if kind == fe.REPLY:
                flags = r[6]
                if flags & fe.DUP:
                    s.duplicates += 1
                    continue
                if flags & fe.BAD_CHECKSUM:
                    s.corrupted += 1
                    continue
                s.observe(r[3] / 1e9)
            elif kind == fe.ERROR:
                s.icmp_errors += 1
            elif kind in (fe.TIMEOUT, fe.SEND_FAILED):
                s.timeouts += 1
            else:
                continue
            if s.base + probe + 1 > s.requests:
                s.requests = s.base + probe + 1

    def close(self) -> None:
        try:
            self.engine.close()
        finally:
            for sock in self.socks:
                sock.close()


class FleetProber:
    """The background thread and the engines it drives. start(), then
    snapshot() from any thread; stop() ends the thread and frees everything."""

    def __init__(self, groups: Sequence[Group], *, backend: Optional[str] = None,
                 previous: Optional["FleetProber"] = None,
                 engine: Optional[Tuple[EngineFactory, Any]] = None) -> None:
        """engine: (Engine class, EngineConfig class) instead of the backend's."""
        self.lock = threading.Lock()
        self.engines: List[_GroupEngine] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.failure = ""
        self.retired: List[TargetStats] = []   # the stats, once stopped
        if not groups:
            return
        factory, config_cls = engine if engine is not None else engine_class(backend)
        old = {} if previous is None else {(s.group, s.host, s.ip): s
                                           for s in previous.all_stats()}
        try:
            for group in groups:
                self.engines.append(_GroupEngine(group, factory, config_cls, old))
        except BaseException:
            self.close()
            raise
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def all_stats(self) -> List[TargetStats]:
        if not self.engines:
            return self.retired
        return [s for e in self.engines for s in e.stats]

    def start(self) -> None:
        if self.engines:
            self._thread = threading.Thread(target=self._run, name="pynet-fleet", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            if len(self.engines) == 1:
                self._run_one(self.engines[0])
            else:
                self._run_many()
        except Exception as exc:  # the scrape shows it; the HTTP side keeps serving
            self.failure = f"{type(exc).__name__}: {exc}"
            log.error("fleet prober stopped: %s", self.failure)

    def _run_one(self, e: _GroupEngine) -> None:
        while not self._stop.is_set():
            records = e.engine.run(time.monotonic_ns() + WAKE_NS, FLUSH_NS)
            counters = e.engine.counters()
            with self.lock:
                e.fold(records)
                e.counters = counters

    def _run_many(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        for e in self.engines:
            for sock in e.socks:
                poller.register(sock.fileno(), select.POLLIN)
        while not self._stop.is_set():
            now = time.monotonic_ns()
            due = [w for w in (e.engine.next_wakeup_ns() for e in self.engines) if w >= 0]
            wait_ns = min([WAKE_NS] + [max(w - now, 0) for w in due])
            poller.poll(wait_ns / 1e6)
            for e in self.engines:
                records = e.engine.step()
                counters = e.engine.counters()
                with self.lock:
                    e.fold(records)
                    e.counters = counters

    def snapshot(self) -> Tuple[List[TargetStats], Dict[str, Any]]:
        """Copies of every target's stats, and each group's engine counters."""
        with self.lock:
            stats = [dataclasses.replace(s, buckets=list(s.buckets)) for s in self.all_stats()]
            counters = {e.group.name: e.counters for e in self.engines if e.counters}
        return stats, counters

    def stop(self) -> None:
        self._stop.set()
        if self.engines:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.lock:
            self.retired = self.all_stats()
        self.close()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return  # still inside the engine: leave its memory alone
        for e in self.engines:
            e.close()
        if self.engines and hasattr(self, "_wake_r"):
            os.close(self._wake_r)
            os.close(self._wake_w)
        self.engines = []
