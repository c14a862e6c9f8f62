"""One ping run: resolve, open the socket, and drive the backend's loop
(C or pure Python), handing each batch of records to the caller."""

from __future__ import annotations

import socket
import time

from .. import _backend
from .._errors import PingError, PingNameError, ResolveError
from .._ping_loop import Counters, LoopConfig, Record
from . import _ipopt as ipo
from ._socket import IcmpSocket, SocketOptions, open_socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple
else:
    from .._records import NamedTuple

__all__ = ["Plan", "Session", "ip_options", "lookup"]

NS = 1_000_000_000


class Plan(NamedTuple):
    count: int = 0  # type: ignore[assignment]  # 0: until stopped (shadows tuple.count)
    interval_s: float = 1.0           # 0: flood pacing
    linger_s: float = 10.0            # -W: wait after the last request when nothing came
    deadline_s: Optional[float] = None
    size: int = 56
    outstanding: bool = False
    flush_s: float = 0.0              # how long the loop may hold records back
    pattern: bytes = b""              # -p
    preload: int = 1                  # -l
    adaptive: bool = False            # -A
    user_latency: bool = False        # -U
    min_interval_s: float = 0.0       # -A's floor


def lookup(host: str, family: Optional[int]) -> Tuple[int, tuple]:  # type: ignore[type-arg]
    """The first address of host, as (AF_*, sockaddr)."""
    # Imported here: pynet._resolve brings asyncio, which `import pynet` need not pay for.
    from .._resolve import resolve

    if not isinstance(host, str) or not host:
        raise PingNameError(str(host), "no host given")
    try:
        af, sockaddr = resolve(host, family=family, socktype=socket.SOCK_DGRAM)[0]
    except ResolveError as exc:
        raise PingNameError(exc.host, exc.reason) from None
    return af, sockaddr


def ip_options(record_route: bool, timestamp: Optional[str], hops: Sequence[str],
               strict: bool) -> bytes:
    """The IP_OPTIONS bytes for -R, -T KIND [HOP ...] or a source route
    through hops (strict under -r), the hops resolved as IPv4 addresses."""
    packed = [socket.inet_pton(socket.AF_INET, lookup(hop, 4)[1][0]) for hop in hops]
    if record_route:
        return ipo.record_route()
    if timestamp is not None:
        return ipo.timestamp(timestamp, packed)
    if packed:
        return ipo.source_route(packed, strict)
    return b""


class Session:
    """Owns the socket for one run; iterate to drive the loop."""

    def __init__(self, isock: IcmpSocket, plan: Plan, *, backend: Optional[str] = None,
                 stop: Optional[Callable[[], bool]] = None) -> None:
        self.isock = isock
        self.plan = plan
        self.loop_cls = _backend.ping_loop(backend)
        self.stop = stop or (lambda: False)
        self.counters: Optional[Counters] = None
        # batches(): the payload of the last batch's reply whose data differed.
        self.wrong_payload = b""
        # A loop that runs without the GIL is worth overlapping with Python.
        self.native = _backend.has("nogil", backend)

    @classmethod
    def open(cls, af: int, sockaddr: tuple, plan: Plan, *,  # type: ignore[type-arg]
             privileged: Optional[bool] = None, ttl: Optional[int] = None,
             interface: Optional[str] = None, backend: Optional[str] = None,
             stop: Optional[Callable[[], bool]] = None,
             options: SocketOptions = SocketOptions(), warnings: bool = False) -> "Session":
        return cls(open_socket(af, sockaddr, privileged=privileged, ttl=ttl,
                               interface=interface, options=options, warnings=warnings),
                   plan, backend=backend, stop=stop)

    def _loop(self) -> Any:
        p = self.plan
        s = self.isock
        deadline = 0
        if p.deadline_s is not None:
            deadline = time.monotonic_ns() + int(p.deadline_s * NS)
        config = LoopConfig(
            fd=s.sock.fileno(), family=s.family, raw=s.raw, ident=s.ident, target=s.target,
            scope_id=s.scope_id, payload_len=p.size, report_outstanding=p.outstanding,
            interval_ns=int(round(p.interval_s * NS)), count=p.count, deadline_ns=deadline,
            linger_ns=int(round(p.linger_s * NS)), pattern=p.pattern, preload=p.preload,
            adaptive=p.adaptive, user_latency=p.user_latency,
            min_interval_ns=int(round(p.min_interval_s * NS)), any_source=s.broadcast,
            flowinfo=s.flowinfo)
        return self.loop_cls(config)

    def _run(self, loop: Any, flush_ns: int, raw: bool = False) -> Any:
        try:
            records = loop.run_raw(flush_ns) if raw else loop.run(flush_ns)
        except OSError as exc:
            raise PingError(f"recvmsg: {exc.strerror}") from None
        self.counters = loop.counters()
        return records

    def batches(self) -> Iterator[List[Record]]:
        """The loop's records, batch by batch, until the run is over; after
        each, wrong_payload holds the payload of its reply whose data
        differed (b"" if none did)."""
        loop = self._loop()
        flush_ns = int(self.plan.flush_s * NS)
        try:
            while True:
                records = self._run(loop, flush_ns)
                self.wrong_payload = loop.wrong_payload()
                yield records
                assert self.counters is not None
                if self.counters.done or self.stop():
                    return
        finally:
            self.counters = loop.counters()
            loop.close()

    def batches_overlapped(self) -> Iterator[List[Record]]:
        """batches(), with the loop in a worker thread: while the C loop
        (which runs without the GIL) pings on, the caller digests the last
        batch on the other core."""
        import queue  # here: the command line never overlaps, and starts faster
        import threading

        loop = self._loop()
        flush_ns = int(self.plan.flush_s * NS)
        handed: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        quit_now = threading.Event()

        def work() -> None:
            try:
                while True:
                    # Packed: the worker spends as little as it can holding the GIL.
                    handed.put(self._run(loop, flush_ns, raw=True))
                    assert self.counters is not None
                    if self.counters.done or self.stop() or quit_now.is_set():
                        break
            except BaseException as exc:  # handed to the caller's thread
                handed.put(exc)
            handed.put(None)

        worker = threading.Thread(target=work, name="pynet-ping", daemon=True)
        worker.start()
        try:
            while True:
                item = handed.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield loop.records(item)
        finally:
            quit_now.set()
            worker.join()  # the loop returns within a batch; only then may the socket close
            self.counters = loop.counters()
            loop.close()

    def close(self) -> None:
        self.isock.close()
