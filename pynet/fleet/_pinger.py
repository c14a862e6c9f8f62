"""Pinger: any number of concurrent asyncio pings over one engine and one
socket per family.

With the C backend the engine runs on a thread of its own (a C thread,
csrc/fleet_serve.c; it never takes the GIL): the kernel's work for the
probes - on loopback the whole echo exchange, inside sendmmsg - then runs
on another CPU while the loop makes and finishes its calls. Calls hand
their targets over in runs of HANDOFF as they are made, the loop watches
the server's eventfd and takes the records. Otherwise (the Python twin, or
threaded=False) the engine is driven on the event loop itself: the
sockets' fds are watched with loop.add_reader, the engine's next due send
or timeout is a loop.call_at, and both call engine.step(), which never waits.

    async with Pinger(timeout=1.0) as p:
        results = await asyncio.gather(*(p.ping(h, count=3) for h in hosts))

The engine runs in its until-cancelled mode (count 0); a call's target is
cancelled once it has as many final probes as the call asked for, so calls
with different counts share the one engine.

An engine numbers its targets for life, one per call, and keeps each one's
few bytes. So that a Pinger serving calls for days stays small, an engine
that has taken RECYCLE_AT calls is retired: new calls go to a fresh engine
on fresh sockets, and the old one closes when its last call ends. (While
both run, a rate cap applies to each, not to the two together.)
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._errors import ResolveError
from .._fleet_engine import ERROR, REPLY, SEND_FAILED, TIMEOUT
from .._resolve import resolve_async
from ..ping._result import PingReply
from .._errors import FleetNameError
from ._result import FleetResult, Tally, clean_result
from ._run import Options, check_options, engine_module
from ._socket import open_sockets
from ._targets import _literal

__all__ = ["Pinger"]

NS = 1_000_000_000
_pton = socket.inet_pton
_ntop = socket.inet_ntop
OnReply = Callable[[str, PingReply], None]


class _Call:
    __slots__ = ("future", "count", "finals", "host", "address", "family", "on_reply", "one")

    def __init__(self, future: "asyncio.Future[FleetResult]", count: int, host: str,
                 address: str, family: int, on_reply: Optional[OnReply]) -> None:
        self.future = future
        self.count = count
        self.finals = 0
        self.host = host
        self.address = address
        self.family = family
        self.on_reply = on_reply
        # One probe and no callback: its first clean reply is its result.
        self.one = count == 1 and on_reply is None


class _Engine:
    """One engine, its sockets and the calls it serves, on the loop."""

    # Calls made before their targets go to the server's thread (a run of
    # calls made in one loop iteration starts probing while it is made).
    HANDOFF = 32

    def __init__(self, options: Options, backend: Optional[str],
                 loop: asyncio.AbstractEventLoop, on_spent: Callable[["_Engine"], None],
                 threaded: Optional[bool] = None) -> None:
        self.loop = loop
        self.on_spent = on_spent   # called once a retired engine has closed
        self.engine: Any = None
        self.tally = Tally(keep_replies=True, fast=False)
        self.calls: Dict[int, _Call] = {}
        self.timer: Optional[asyncio.TimerHandle] = None
        self.timer_at = -1
        self.pending = False
        self.retired = False
        # Calls not yet in the engine: (family, packed addresses, scope id) runs.
        self.adds: List[Tuple[int, List[bytes], int]] = []
        self.n_adds = 0           # targets in adds
        self.drops: List[int] = []   # served: drops for the thread's next round
        self.server: Any = None
        self.next_target = 0      # the number the next call's target gets
        self.added = 0            # targets in the engine
        families = [4]
        try:
            # IPv6 when the host has it; an IPv6 target fails alone otherwise.
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
            families.append(6)
        except OSError:
            pass
        o = options
        self.sockets = open_sockets(families, o.privileged, rate_pps=int(o.rate or 0),
                                    payload_len=o.size, ttl=o.ttl, interface=o.interface,
                                    source4=o.source if o.source and ":" not in o.source else None,
                                    source6=o.source if o.source and ":" in o.source else None)
        try:
            config = o.config(self.sockets)
            self.batch = config.batch
            module = engine_module(backend)
            self.engine = module.Engine(config)
            server = getattr(module, "Server", None)
            if threaded and server is None:
                raise ValueError("threaded=True: this backend's engine has no server thread")
            if server is not None and threaded is not False:
                self.server = server(self.engine, self.batch)
        except BaseException:
            if self.engine is not None:
                self.engine.close()
            self.sockets.close()
            raise
        if self.server is not None:
            loop.add_reader(self.server.fd, self._take)
            return
        for fd in (self.sockets.fd4, self.sockets.fd6):
            if fd >= 0:
                loop.add_reader(fd, self._pump)

    def has_family(self, fam: int) -> bool:
        return (self.sockets.fd4 if fam == 4 else self.sockets.fd6) >= 0

    def close(self) -> None:
        if self.engine is None:
            return
        if self.server is not None:
            self.loop.remove_reader(self.server.fd)
            self.server.stop()
        else:
            for fd in (self.sockets.fd4, self.sockets.fd6):
                if fd >= 0:
                    self.loop.remove_reader(fd)
        if self.timer is not None:
            self.timer.cancel()
        for call in self.calls.values():
            if not call.future.done():
                call.future.cancel()
        self.calls.clear()
        self.adds.clear()
        self.n_adds = 0
        self.drops.clear()
        self.engine.close()
        self.sockets.close()
        self.engine = None

    def retire(self) -> None:
        """No new calls from now on; closed when the last one has ended."""
        self.retired = True
        self._close_if_spent()

    def _close_if_spent(self) -> None:
        if self.retired and not self.calls and self.engine is not None:
            self.close()
            self.on_spent(self)

    def submit(self, fam: int, packed: bytes, scope_id: int, call: _Call) -> int:
        """call's target, added to the engine at the next step with every
        call made since (one engine.add for a thousand calls, not a thousand)."""
        t = self.next_target
        self.next_target += 1
        adds = self.adds
        if adds and adds[-1][0] == fam and adds[-1][2] == scope_id:
            adds[-1][1].append(packed)
        else:
            adds.append((fam, [packed], scope_id))
        self.n_adds += 1
        self.calls[t] = call
        if self.server is not None and self.n_adds >= self.HANDOFF:
            self._add_pending()
        self._kick()
        return t

    def cancel(self, t: int) -> None:
        """A cancelled call: its probes stop and its state goes (no DONE
        record comes back for it)."""
        if t in self.calls and self.engine is not None:
            del self.calls[t]
            self._add_pending()
            if self.server is not None:
                self.server.drop([t])
            else:
                self.engine.drop(t)
            self.tally.open.pop(t, None)
            self._close_if_spent()

    # ---- driving the engine on the loop ----

    def _kick(self) -> None:
        if not self.pending:
            self.pending = True
            self.loop.call_soon(self._pump)

    def _add_pending(self) -> None:
        """The targets of calls made since the last step, into the engine
        (which numbers them as submit() did)."""
        add = self.engine.add if self.server is None else self.server.add
        for fam, packed, scope_id in self.adds:
            first = add(fam, b"".join(packed), scope_id)
            if first != self.added:
                raise RuntimeError(f"engine numbered target {self.added} as {first}")
            self.added += len(packed)
        self.adds.clear()
        self.n_adds = 0

    def _pump(self) -> None:
        self.pending = False
        engine = self.engine
        if engine is None:
            return
        if self.adds:
            self._add_pending()
        if self.server is not None:
            return  # the thread steps; its records come to _take
        records = engine.step()
        if self._fold(records, engine.drop):
            return
        if len(records) >= self.batch:
            self._kick()  # more may be queued
            return
        wake = engine.next_wakeup_ns()
        if wake < 0 or wake == self.timer_at:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = wake
        delay = max(0.0, (wake - time.monotonic_ns()) / NS)
        self.timer = self.loop.call_later(delay, self._timer_fired)

    def _take(self) -> None:
        """The server's fd is readable: its records, folded into the calls."""
        server = self.server
        if server is None or self.engine is None:
            return
        try:
            records = server.take()
        except OSError as exc:
            self._fail(exc)
            return
        drops = self.drops
        if self._fold(records, drops.append):
            return
        if drops and self.server is not None:
            server.drop(drops)
            drops.clear()

    def _fail(self, exc: OSError) -> None:
        """The server's thread ended on a socket failure: every call gets it,
        and the engine closes (the Pinger's next call opens a fresh one)."""
        calls = list(self.calls.values())
        self.calls.clear()
        for call in calls:
            if not call.future.done():
                call.future.set_exception(exc)
        self.close()
        self.on_spent(self)

    def _fold(self, records: List[Any], drop: Callable[[int], Any]) -> bool:
        """Records into the calls' results; True when the engine is gone (a
        callback closed the Pinger, or a retired engine's last call ended)."""
        engine = self.engine
        calls = self.calls
        get = calls.get
        open_ = self.tally.open
        for r in records:
            t = r[1]
            call = get(t)
            if call is None:        # a call answered or cancelled already
                continue
            if r[0] == REPLY and call.one and not r[6] and t not in open_:
                # One clean reply ends a one-probe call: its result at once,
                # with no state kept, and no DONE record to come.
                drop(t)
                del calls[t]
                future = call.future
                if not future.done():
                    future.set_result(clean_result(r, 1, call.host, call.address, call.family))
                continue
            self._record(r, call, drop)
            if self.engine is not engine:
                return True  # a callback closed the Pinger
        if self.retired and not calls:
            self._close_if_spent()
            return True
        return False

    def _timer_fired(self) -> None:
        self.timer = None
        self.timer_at = -1
        self._pump()

    def _record(self, r: Any, call: _Call, drop: Callable[[int], Any]) -> None:
        """One record of call's target but a one-probe call's clean reply.
        No DONE comes: the engine runs until cancelled and the Pinger drops."""
        kind, t = r[0], r[1]
        tally = self.tally
        if kind == REPLY:
            state = tally.reply(t, r, call.family)
            if r[6] == 0:
                call.finals += 1
            if call.on_reply is not None and state is not None and state.replies:
                call.on_reply(call.host, state.replies[-1])
        elif kind == TIMEOUT:
            tally.target(t, call.family).timeouts += 1
            call.finals += 1
        elif kind == ERROR:
            tally.error(t, r, call.family)
            call.finals += 1
        elif kind == SEND_FAILED:
            tally.target(t, call.family).failed += 1
            call.finals += 1
        if call.finals >= call.count and self.engine is not None and t in self.calls:
            # Final now: the call's result, its target dropped from the engine.
            del self.calls[t]
            result = tally.done(t, call.count, call.host, call.address, call.family)
            drop(t)
            if not call.future.done():
                call.future.set_result(result)


class Pinger:
    """One engine shared by concurrent ping() calls on the running loop.

    interval: least seconds between any two sends; period: seconds between
    probes to one target; timeout: seconds per probe; rate: a cap on sends
    per second; size, ttl, privileged, source, interface, backend: as in
    pynet.fleet.ping(). on_reply(host, reply) is called for every reply.
    threaded: the engine on a thread of its own (None: when the backend has
    one, as the C backend does; False: driven on the loop; True: insist).
    """

    RECYCLE_AT = 1 << 16   # calls an engine takes before a fresh one takes over

    def __init__(self, *, interval: float = 0.0, period: float = 1.0, timeout: float = 1.0,
                 rate: Optional[float] = None, size: int = 56, ttl: Optional[int] = None,
                 privileged: Optional[bool] = None, source: Optional[str] = None,
                 interface: Optional[str] = None, backend: Optional[str] = None,
                 on_reply: Optional[OnReply] = None, threaded: Optional[bool] = None) -> None:
        self.options = Options(count=0, interval=interval, period=period, timeout=timeout,
                               retries=0, rate=rate, size=size, ttl=ttl, privileged=privileged,
                               source=source, interface=interface)
        check_options(self.options)
        self.backend = backend
        self.on_reply = on_reply
        self.threaded = threaded
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.current: Optional[_Engine] = None
        self.retired: List[_Engine] = []    # finishing their calls

    # ---- life ----

    async def __aenter__(self) -> "Pinger":
        self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self.current is None

    @property
    def engine(self) -> Any:
        """The engine new calls go to (None when closed)."""
        return self.current.engine if self.current is not None else None

    def open(self) -> None:
        if self.current is not None:
            return
        self.loop = asyncio.get_running_loop()
        self.current = _Engine(self.options, self.backend, self.loop, self._spent, self.threaded)

    def _spent(self, e: _Engine) -> None:
        if e in self.retired:
            self.retired.remove(e)

    def close(self) -> None:
        if self.current is None:
            return
        for e in [self.current, *self.retired]:
            e.close()
        self.current = None
        self.retired.clear()

    def _engine_for_a_call(self) -> _Engine:
        e = self.current
        assert e is not None and self.loop is not None
        if e.engine is None:    # closed by a socket failure
            e = self.current = _Engine(self.options, self.backend, self.loop, self._spent,
                                       self.threaded)
        elif e.next_target >= self.RECYCLE_AT:
            fresh = _Engine(self.options, self.backend, self.loop, self._spent, self.threaded)
            self.retired.append(e)
            self.current = fresh
            e.retire()
            e = fresh
        return e

    # ---- calls ----

    async def ping(self, host: str, *, count: int = 1, family: Optional[int] = None,
                   on_reply: Optional[OnReply] = None) -> FleetResult:
        """Probe host count times (period apart) and return its FleetResult.
        Cancelling the call stops its probes only."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an int >= 1, got {count!r}")
        if self.current is None:
            self.open()
        try:    # an IPv4 address, the common call: no coroutine, no int round trip
            if family == 6:
                raise OSError
            packed = _pton(socket.AF_INET, host)
            # inet_pton takes only the dotted quad without leading zeros:
            # host is already the address's text.
            fam, scope_id, address = 4, 0, host
        except OSError:
            literal = _literal(host)
            if literal is not None and (family is None or family == literal[0]):
                fam, value, scope_id = literal  # no coroutine for an address: 1,000 calls add up
            else:
                fam, value, scope_id = await self._address(host, family)
            packed = value.to_bytes(4 if fam == 4 else 16, "big")
            address = _ntop(socket.AF_INET if fam == 4 else socket.AF_INET6, packed)
        if self.current is None:
            raise RuntimeError("the Pinger was closed")
        e = self._engine_for_a_call()
        if not e.has_family(fam):
            raise FleetNameError(host, f"no IPv{fam} socket for it")
        assert self.loop is not None
        future: "asyncio.Future[FleetResult]" = self.loop.create_future()
        t = e.submit(fam, packed, scope_id,
                     _Call(future, count, host, address, fam, on_reply or self.on_reply))
        try:
            return await future
        except asyncio.CancelledError:
            e.cancel(t)
            raise

    async def _address(self, host: str, family: Optional[int]) -> "tuple[int, int, int]":
        literal = _literal(host)
        if literal is not None:
            if family is not None and literal[0] != family:
                raise FleetNameError(host, f"not an IPv{family} address")
            return literal
        try:
            af, sockaddr = (await resolve_async(host, family=family,
                                                socktype=socket.SOCK_DGRAM))[0]
        except FleetNameError:
            raise
        except ResolveError as exc:
            raise FleetNameError(exc.host, exc.reason) from None
        fam = 4 if af == socket.AF_INET else 6
        found = _literal(str(sockaddr[0]))
        assert found is not None
        return fam, found[1], int(sockaddr[3]) if fam == 6 else 0  # type: ignore[misc]
