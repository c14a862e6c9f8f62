"""The fleet engine in pure Python: the twin of csrc/fleet.c, rule for rule.

Readable first; the C engine is the fast one. The rules both follow:

Schedule. Targets start in the order they were added. Sends come from three
queues, each in due order: retries (due when the previous try's deadline
passed), next probes of count mode (due a period after the target's last
send) and first probes (due at once); the earliest due goes first, ties in
that order. Globally, two sends are at least interval_ns apart, and with
rate_pps a token bucket (BURST_NS deep) caps the rate. Every probe has a
deadline: its send time plus timeout_ns, times backoff**k for the k-th retry.

count == 1 (fping's default mode): one probe; a target that has not answered
by the deadline gets a retry, up to `retries`; the first reply finishes it.
count != 1 (fping -c N / -l with count 0): probes a period apart, each final
at its reply or its deadline; retries do not apply (fping ignores -r there).

Timers. Deadlines of one retry level grow with send time, because every probe
of a level has the same timeout and sends happen in time order. So each level
is a FIFO (as is each send queue) and every timer event is O(1): no heap.
Stale entries (answered, cancelled) are dropped when they reach the head.

Probe states. A probe is PENDING once sent; a matching reply makes it
ANSWERED (a REPLY record); a second reply is a duplicate (REPLY with DUP); an
ICMP error makes it ERRORED (an ERROR record) and a refused send FAILED (a
SEND_FAILED record): both are settled at the deadline without a TIMEOUT
record, so the schedule (retries, backoff) does not depend on them. At the
deadline a PENDING probe becomes TIMED_OUT (a TIMEOUT record). A reply to a
probe that timed out, or to a cancelled target, is counted foreign.

Memory. Per target: its address, the number of probes sent, a flag byte,
and W probe slots (send time, state): W = 1 for count == 1, else enough to
cover the probes a timeout can keep in flight (timeout_ns // period_ns + 2).

Matching. A reply counts only if it is an echo reply from the target's
address, carries our id (raw sockets), and echoes key + target index + probe
(network order) at the start of its payload, for a probe in the target's
window. The ICMP seq is the low 16 bits of the run's send counter; SEQ_LOG
remembers (target, probe) per seq. An ICMP error is ours when its quote is an
echo request with our id (raw) sent to the target's address (the kernel's
quoted destination) and either (full quote) its payload holds our key, the
target index and the probe, or (an RFC 792 quote of 8 bytes) its seq names a
probe to that very address in SEQ_LOG.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import struct
import time
from array import array
from collections import deque
from typing import Deque, List, Optional, Tuple

from .. import _wire as w
from .._errors import MalformedPacket
from .._fleet_engine import (ANSWERED, BAD_CHECKSUM, DONE, DUP, ERROR, KEY_LEN, MAX_PAYLOAD,
                             MAX_RETRIES, MAX_TARGETS, MAX_WINDOW, MIN_PAYLOAD, REPLY,
                             SEND_FAILED, SEQ_LOG, TIMEOUT, Counters, EngineConfig, Record)
from .. import _errqueue as errqueue
from .._ping_loop import IP_TTL, IPV6_HOPLIMIT, SO_MEMINFO, SO_RXQ_OVFL, SO_TIMESTAMPNS
from .checksum import checksum
from .icmp import parse_fields

__all__ = ["BURST_NS", "Engine", "MAX_PAYLOAD", "MAX_WINDOW", "SEND_BATCH", "SEQ_LOG",
           "window_of"]

NS = 1_000_000_000
# Probe states (one byte per slot, as in C).
EMPTY, PENDING, ERRORED, FAILED, ANSWERED, TIMED_OUT = range(6)
# Target flags.
T_ANSWERED, T_DONE, T_CANCELLED = 1, 2, 4
# Sends per sendmmsg batch (C), and the same unit of work here.
SEND_BATCH = 256
# How far the rate cap lets sends catch up after a pause.
BURST_NS = 10_000_000
# A send the kernel had no room for is tried again this much later.
SEND_RETRY_NS = 1_000_000
# Python retries interrupted waits itself (PEP 475): wait in slices this
# long, and return to the caller after one with nothing to report.
WAIT_SLICE_NS = 50_000_000
NOT_SENT = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ENOMEM, errno.EINTR})
SOCKET_BROKEN = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EFAULT, errno.EINVAL})
INDEX_PROBE = struct.Struct("!II")
TIMESPEC = struct.Struct("=qq")
INT = struct.Struct("=i")
UINT = struct.Struct("=I")
SK_MEMINFO = struct.Struct("=9I")          # SK_MEMINFO_DROPS is the ninth
ZERO16 = bytes(16)


def window_of(config: EngineConfig) -> int:
    """Probe slots per target (see the module text)."""
    if config.count == 1:
        return 1
    w_ = config.timeout_ns // max(config.period_ns, 1) + 2
    if config.count > 0:
        w_ = min(w_, config.count)
    return int(w_)


def check_config(config: EngineConfig) -> None:
    """What pn_fleet_new refuses with -EINVAL."""
    if len(config.key) != KEY_LEN:
        raise ValueError(f"key must be {KEY_LEN} bytes")
    if not MIN_PAYLOAD <= config.payload_len <= MAX_PAYLOAD:
        raise ValueError(f"payload_len must be {MIN_PAYLOAD}..{MAX_PAYLOAD}")
    if config.count < 0 or config.retries < 0 or config.interval_ns < 0 or config.rate_pps < 0:
        raise ValueError("count, retries, interval_ns and rate_pps must be >= 0")
    if config.timeout_ns <= 0 or config.period_ns <= 0 or config.batch < 2:
        raise ValueError("timeout_ns and period_ns must be > 0, batch >= 2")
    if not 1.0 <= config.backoff <= 100.0 or config.retries > MAX_RETRIES:
        raise ValueError(f"backoff must be 1..100 and retries <= {MAX_RETRIES}")
    if window_of(config) > MAX_WINDOW:
        raise ValueError("timeout_ns / period_ns leaves too many probes in flight per target")
    if not 0 <= config.ident <= 0xFFFF:
        raise ValueError("ident must be 0..65535")
    if config.fold and config.count != 1:
        raise ValueError("fold needs count == 1")


def timeouts_of(config: EngineConfig) -> List[int]:
    """Per retry level: timeout * backoff**level, multiplied step by step in
    doubles (as C does, so both round alike)."""
    levels = config.retries + 1 if config.count == 1 else 1
    out = []
    t = float(config.timeout_ns)
    for _ in range(levels):
        out.append(int(t))
        t *= config.backoff
    return out


def _mono() -> int:
    return time.monotonic_ns()


def _real() -> int:
    return time.time_ns()


def _offset() -> int:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC: the realtime reading against the
    midpoint of two monotonic ones around it, the tightest of three tries
    (as the C engine), so that a preemption between two readings does not
    shift the RTT made through it (it could take a loopback RTT below 0)."""
    best, gap = 0, None
    for _ in range(3):
        before = _mono()
        real = _real()
        after = _mono()
        if gap is None or after - before < gap:
            gap, best = after - before, real - (before + (after - before) // 2)
    return best


class Engine:
    """Many targets over one socket per family; see the module text."""

    def __init__(self, config: EngineConfig) -> None:
        check_config(config)
        self.c = config
        self.W = window_of(config)
        self.tmo = timeouts_of(config)
        self.socks: dict = {}  # type: ignore[type-arg]
        self.raw = {4: config.raw4, 6: config.raw6}
        for family, fd in ((4, config.fd4), (6, config.fd6)):
            if fd >= 0:
                af = socket.AF_INET if family == 4 else socket.AF_INET6
                kind = socket.SOCK_RAW if self.raw[family] else socket.SOCK_DGRAM
                proto = socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6
                s = socket.socket(af, kind, proto, fileno=os.dup(fd))
                s.setblocking(False)
                self.socks[family] = s
        self.poller = select.poll()
        for s in self.socks.values():
            self.poller.register(s.fileno(), select.POLLIN)
        self.errors_queued = {f: True for f in self.socks}
        # Per target.
        self.family = bytearray()
        self.addr: List[bytes] = []
        self.scope: List[int] = []
        self.sent = array("I")
        self.flags = bytearray()
        self.slot_time = array("q")
        self.slot_state = bytearray()
        # Queues.
        self.cursor = 0                                   # next target to start
        self.expiry: List[Deque[Tuple[int, int]]] = [deque() for _ in self.tmo]
        self.retry: Deque[Tuple[int, int]] = deque()      # (target, due)
        self.nexts: Deque[int] = deque()                  # count mode: due last send + period
        self.done_queue: Deque[int] = deque()             # cancelled, DONE not yet written
        self.seq_target = array("I", bytes(4 * SEQ_LOG))
        self.seq_probe = array("I", bytes(4 * SEQ_LOG))
        # Pacing.
        self.last_send_ns = -1
        self.rate_next_ns = 0
        self.rate_gap_ns = -(-NS // config.rate_pps) if config.rate_pps else 0
        self.retry_send_ns = 0
        # Counters.
        self.n_sent = self.received = self.duplicates = self.corrupted = 0
        self.errors = self.malformed = self.foreign = self.late = 0
        self.drops = {f: 0 for f in self.socks}
        self.active = 0
        # A longer datagram is truncated and counted malformed, as in C.
        self.rx_slot = max(2048, config.payload_len + 192)
        fill = bytes(i & 0xFF for i in range(config.payload_len))
        self.fill = fill[MIN_PAYLOAD:]

    # ---- targets ----

    def add(self, family: int, addresses: bytes, scope_id: int = 0) -> int:
        size = 4 if family == 4 else 16
        if family not in (4, 6) or len(addresses) % size:
            raise ValueError("addresses must be whole 4- or 16-byte addresses of the family")
        if family not in self.socks:
            raise ValueError(f"no IPv{family} socket in this engine")
        n = len(addresses) // size
        if len(self.addr) + n > MAX_TARGETS:
            raise ValueError("too many targets")
        first = len(self.addr)
        for i in range(n):
            self.addr.append(bytes(addresses[i * size:(i + 1) * size]))
            self.scope.append(scope_id)
        self.family.extend(bytes([family]) * n)
        self.sent.extend([0] * n)
        self.flags.extend(bytes(n))
        self.slot_time.extend([0] * (n * self.W))
        self.slot_state.extend(bytes(n * self.W))
        self.active += n
        return first

    def cancel(self, target: int, record: bool = True) -> None:
        if not 0 <= target < len(self.addr):
            raise IndexError(f"no target {target}")
        if self.flags[target] & T_DONE:
            return
        self.flags[target] |= T_DONE | T_CANCELLED
        self.active -= 1
        if record:
            self.done_queue.append(target)

    def drop(self, target: int) -> None:
        self.cancel(target, record=False)

    # ---- records ----

    @staticmethod
    def _record(out: List[Record], kind: int, target: int, probe: int, when: int, *,
                rtt: int = 0, ttl: int = -1, nbytes: int = 0, flags: int = 0, icmp_type: int = 0,
                code: int = 0, sender: bytes = ZERO16) -> None:
        out.append((kind, target, probe, rtt, ttl, nbytes, flags, icmp_type, code, when,
                    sender.ljust(16, b"\0")))

    def _finish(self, t: int) -> None:
        self.flags[t] |= T_DONE
        self.active -= 1

    def _done(self, out: List[Record], t: int) -> None:
        self._finish(t)
        self._record(out, DONE, t, self.sent[t], _real())

    def _settled(self, t: int) -> bool:
        """count mode: every probe sent and none still open."""
        c = self.c
        if c.count == 0 or self.sent[t] < c.count:
            return False
        base = t * self.W
        return all(self.slot_state[base + i] not in (PENDING, ERRORED, FAILED)
                   for i in range(self.W))

    # ---- sending ----

    def _send_due(self, now: int) -> Tuple[int, int]:
        """(due, queue) of the next send: queue 0 retry, 1 next, 2 first; -1 none.
        A retry or next probe that is due goes before any first probe; first
        probes are always due."""
        best, which = -1, -1
        while self.retry and self.flags[self.retry[0][0]] & T_DONE:
            self.retry.popleft()
        if self.retry:
            best, which = self.retry[0][1], 0
        while self.nexts and self.flags[self.nexts[0]] & T_DONE:
            self.nexts.popleft()
        if self.nexts:
            t = self.nexts[0]
            due = self.slot_time[t * self.W + (self.sent[t] - 1) % self.W] + self.c.period_ns
            if which < 0 or due < best:
                best, which = due, 1
        if which >= 0 and best <= now:
            return best, which
        while self.cursor < len(self.addr) and self.flags[self.cursor] & T_DONE:
            self.cursor += 1
        if self.cursor < len(self.addr):
            return now, 2
        return best, which

    def _pace(self) -> int:
        """The earliest time the next send may go out."""
        t = self.retry_send_ns
        if self.c.interval_ns and self.last_send_ns >= 0:
            t = max(t, self.last_send_ns + self.c.interval_ns)
        if self.rate_gap_ns:
            t = max(t, self.rate_next_ns)
        return t

    def _packet(self, family: int, t: int, p: int, seq: int) -> bytes:
        c = self.c
        payload = c.key + INDEX_PROBE.pack(t, p) + self.fill
        icmp_type = w.ICMP_ECHO_REQUEST if family == 4 else w.ICMP6_ECHO_REQUEST
        ident = c.ident if self.raw[family] else 0
        value = 0
        if family == 4:
            value = checksum(w.ICMP_HEADER.pack(icmp_type, 0, 0, ident, seq) + payload, 0)
        # ICMPv6 checksums cover the pseudo-header: the kernel fills them in.
        return w.ICMP_HEADER.pack(icmp_type, 0, value, ident, seq) + payload

    def _send_one(self, out: List[Record], t: int) -> bool:
        """Send target t's next probe. False when the kernel had no room."""
        family = self.family[t]
        sock = self.socks[family]
        p = self.sent[t]
        seq = self.n_sent & 0xFFFF
        data = self._packet(family, t, p, seq)
        addr = self.addr[t]
        if family == 4:
            dest: tuple = (socket.inet_ntop(socket.AF_INET, addr), 0)  # type: ignore[type-arg]
        else:
            dest = (socket.inet_ntop(socket.AF_INET6, addr), 0, 0, self.scope[t])
        failure = 0
        # The send time is taken before the send: on loopback the reply is in
        # our receive queue, timestamped, before sendto returns.
        now = _mono()
        for _attempt in range(4):
            try:
                sock.sendto(data, dest)
                failure = 0
            except OSError as exc:
                if exc.errno in NOT_SENT:
                    return False
                failure = exc.errno or errno.EIO
                # A datagram socket hands a pending ICMP error to the next
                # send, which the kernel then drops: read the queue, try again.
                if not self.raw[family] and self._receive_errors(out, family, 2) > 0:
                    continue
            break
        slot = t * self.W + p % self.W
        if self.slot_state[slot] in (PENDING, ERRORED, FAILED):
            # The window wrapped over a probe whose deadline has not been seen.
            self._expire_probe(out, t, p - self.W)
        self.slot_time[slot] = now
        self.slot_state[slot] = FAILED if failure else PENDING
        self.sent[t] = p + 1
        self.seq_target[seq] = t
        self.seq_probe[seq] = p
        self.n_sent += 1
        self.last_send_ns = now
        if self.rate_gap_ns:
            self.rate_next_ns = max(self.rate_next_ns, now - BURST_NS) + self.rate_gap_ns
        level = p if self.c.count == 1 else 0
        self.expiry[level].append((t, p))
        if self.c.count != 1 and (self.c.count == 0 or p + 1 < self.c.count):
            self.nexts.append(t)
        if failure:
            self._record(out, SEND_FAILED, t, p, _real(), code=failure)
        return True

    def _send(self, out: List[Record]) -> None:
        # Room for two records a send, kept from the start as the C engine does.
        for _ in range(min(SEND_BATCH, (self.c.batch - len(out)) // 2)):
            now = _mono()
            due, which = self._send_due(now)
            if which < 0 or due > now or self._pace() > now:
                return
            if which == 0:
                t = self.retry[0][0]
            elif which == 1:
                t = self.nexts[0]
            else:
                t = self.cursor
            if not self._send_one(out, t):
                self.retry_send_ns = now + SEND_RETRY_NS
                return
            if which == 0:
                self.retry.popleft()
            elif which == 1:
                self.nexts.popleft()
            else:
                self.cursor += 1
            if self.c.interval_ns:
                return  # one send per pass: the gap is measured from this one

    # ---- timeouts ----

    def _expire_probe(self, out: List[Record], t: int, p: int) -> None:
        slot = t * self.W + p % self.W
        state = self.slot_state[slot]
        self.slot_state[slot] = TIMED_OUT
        if state == PENDING:
            self._record(out, TIMEOUT, t, p, _real())
        c = self.c
        if c.count == 1:
            if self.flags[t] & T_ANSWERED:
                return
            if p < c.retries:
                self.retry.append((t, self.slot_time[slot] + self.tmo[p]))
            else:
                self._done(out, t)
        elif self._settled(t):
            self._done(out, t)

    def _expire(self, out: List[Record]) -> None:
        now = _mono()
        for level, fifo in enumerate(self.expiry):
            while fifo and self.c.batch - len(out) >= 2:
                t, p = fifo[0]
                slot = t * self.W + p % self.W
                if (self.flags[t] & T_DONE or p + self.W < self.sent[t]
                        or self.slot_state[slot] not in (PENDING, ERRORED, FAILED)):
                    fifo.popleft()  # stale: answered, cancelled or already expired
                    continue
                if self.slot_time[slot] + self.tmo[level] > now:
                    break
                fifo.popleft()
                self._expire_probe(out, t, p)

    # ---- receiving ----

    def _probe_of(self, family: int, sender: bytes, t: int, p: int) -> int:
        """The slot of (t, p) if it is a probe of ours to sender, else -1."""
        if t >= len(self.addr) or self.family[t] != family or self.addr[t] != sender:
            return -1
        if self.flags[t] & T_CANCELLED or p >= self.sent[t] or p + self.W < self.sent[t]:
            return -1
        return t * self.W + p % self.W

    def _rtt(self, slot: int, when_real: int) -> int:
        """Kernel receive time (CLOCK_REALTIME) minus the send time
        (CLOCK_MONOTONIC), through the clocks' offset now; clamped to the
        monotonic time elapsed, should the realtime clock have stepped."""
        elapsed = _mono() - self.slot_time[slot]
        rtt = when_real - _offset() - self.slot_time[slot]
        return min(max(rtt, 0), elapsed)

    def feed(self, out: List[Record], family: int, data: bytes, sender: bytes, ttl: int,
             when: int) -> None:
        """One packet read from the family's socket (the matcher; tests feed it garbage)."""
        raw = self.raw[family]
        mode = w.IP_HEADER_PRESENT if raw and family == 4 else w.IP_HEADER_ABSENT
        try:
            f = parse_fields(data, family, mode, None, None)
        except MalformedPacket:
            self.malformed += 1
            return
        if f[w.F_TYPE] != (w.ICMP_ECHO_REPLY if family == 4 else w.ICMP6_ECHO_REPLY) \
                or f[w.F_CODE] != 0 or (raw and f[w.F_ID] != self.c.ident):
            self.foreign += 1
            return
        off, length = f[w.F_PAYLOAD_OFF], f[w.F_PAYLOAD_LEN]
        slot = -1
        if length >= MIN_PAYLOAD and data[off:off + KEY_LEN] == self.c.key:
            t, p = INDEX_PROBE.unpack_from(data, off + KEY_LEN)
            slot = self._probe_of(family, sender, t, p)
        hops = f[w.F_TTL] if f[w.F_TTL] >= 0 else ttl
        nbytes = length + w.ICMP_HEADER_LEN
        if f[w.F_CHECKSUM_OK] == 0:
            self.corrupted += 1
            if slot >= 0 and self.slot_state[slot] in (PENDING, ERRORED, ANSWERED):
                self._record(out, REPLY, t, p, when, rtt=self._rtt(slot, when), ttl=hops,
                             nbytes=nbytes, flags=BAD_CHECKSUM, sender=sender)
            return
        if slot < 0 or self.slot_state[slot] not in (PENDING, ERRORED, ANSWERED):
            self.foreign += 1
            return
        rtt = self._rtt(slot, when)
        if self.slot_state[slot] != ANSWERED and rtt > self.tmo[p if self.c.count == 1 else 0]:
            # Later than its timeout by the kernel's stamp, however soon we
            # read it: lost, as fping counts it; its deadline writes TIMEOUT.
            self.late += 1
            return
        if self.slot_state[slot] == ANSWERED:
            self.duplicates += 1
            self._record(out, REPLY, t, p, when, rtt=rtt, ttl=hops, nbytes=nbytes, flags=DUP,
                         sender=sender)
            return
        self.slot_state[slot] = ANSWERED
        self.flags[t] |= T_ANSWERED
        self.received += 1
        if self.c.fold:     # count == 1: this reply ends t, as its DONE
            self._finish(t)
            self._record(out, DONE, t, self.sent[t], when, rtt=rtt, ttl=hops, nbytes=nbytes,
                         flags=ANSWERED, sender=sender)
            return
        self._record(out, REPLY, t, p, when, rtt=rtt, ttl=hops, nbytes=nbytes, sender=sender)
        if self.c.count == 1 or self._settled(t):
            self._done(out, t)

    def feed_error(self, out: List[Record], family: int, data: bytes, dest: bytes,
                   icmp_type: int, code: int, offender: bytes, when: int) -> None:
        """One ICMP error from the error queue: data is the quoted ICMP
        message (our echo request as far as the router quoted it), dest
        the quoted destination."""
        c = self.c
        request = w.ICMP_ECHO_REQUEST if family == 4 else w.ICMP6_ECHO_REQUEST
        if len(data) < w.ICMP_HEADER_LEN or data[0] != request or (
                self.raw[family] and ((data[4] << 8) | data[5]) != c.ident):
            self.foreign += 1
            return
        if len(data) >= w.ICMP_HEADER_LEN + MIN_PAYLOAD:
            if data[8:8 + KEY_LEN] != c.key:
                self.foreign += 1
                return
            t, p = INDEX_PROBE.unpack_from(data, 8 + KEY_LEN)
        else:
            seq = (data[6] << 8) | data[7]
            if self.n_sent <= seq and self.n_sent < SEQ_LOG:
                self.foreign += 1
                return
            t, p = self.seq_target[seq], self.seq_probe[seq]
        slot = self._probe_of(family, dest, t, p)
        if slot < 0 or self.slot_state[slot] != PENDING:
            self.foreign += 1
            return
        self.slot_state[slot] = ERRORED
        self.errors += 1
        self._record(out, ERROR, t, p, when, icmp_type=icmp_type, code=code, sender=offender)

    @staticmethod
    def _address(family: int, address: object) -> Optional[bytes]:
        try:
            text = address[0].split("%")[0]  # type: ignore[index]
            return socket.inet_pton(socket.AF_INET if family == 4 else socket.AF_INET6, text)
        except (OSError, IndexError, TypeError, AttributeError):
            return None

    def _ancillary(self, family: int, ancdata: list) -> Tuple[int, int]:  # type: ignore[type-arg]
        when, ttl = 0, -1
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = TIMESPEC.unpack_from(value)
                when = sec * NS + nsec
            elif level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                self.drops[family] = max(self.drops[family], UINT.unpack_from(value)[0])
            elif ((level == socket.IPPROTO_IP and kind == IP_TTL) or
                  (level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT)) and len(value) >= 4:
                (ttl,) = INT.unpack_from(value)
        return (when or _real()), ttl

    def _receive(self, out: List[Record], family: int) -> None:
        sock = self.socks[family]
        while self.c.batch - len(out) >= 2:
            try:
                data, ancdata, flags, address = sock.recvmsg(self.rx_slot, errqueue.CONTROL_LEN,
                                                             socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in SOCKET_BROKEN:
                    raise
                # A pending ICMP error's errno; its details wait in the error queue.
                self._receive_errors(out, family)
                continue
            when, ttl = self._ancillary(family, ancdata)
            if flags & socket.MSG_TRUNC:
                self.malformed += 1
                continue
            sender = self._address(family, address)
            if sender is None:
                self.malformed += 1
                continue
            self.feed(out, family, data, sender, ttl, when)

    def _receive_errors(self, out: List[Record], family: int, reserve: int = 0) -> int:
        sock = self.socks[family]
        got = 0
        while self.c.batch - reserve - len(out) >= 2:
            try:
                data, ancdata, _flags, address = sock.recvmsg(
                    self.rx_slot, errqueue.CONTROL_LEN, errqueue.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except BlockingIOError:
                return got
            got += 1
            when, _ttl = self._ancillary(family, ancdata)
            ee = errqueue.extended_error(ancdata)
            dest = self._address(family, address)
            if ee is None or dest is None:
                self.foreign += 1
                continue
            if ee.origin not in (errqueue.SO_EE_ORIGIN_ICMP, errqueue.SO_EE_ORIGIN_ICMP6):
                self.foreign += 1  # a local error carries no quote to attribute it by
                continue
            offender = ee.offender or bytes(4 if family == 4 else 16)
            self.feed_error(out, family, data, dest, ee.type, ee.code, offender, when)
        return got

    def _read_drops(self) -> None:
        for family, sock in self.socks.items():
            try:
                info = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, SK_MEMINFO.size)
                self.drops[family] = max(self.drops[family], SK_MEMINFO.unpack_from(info)[8])
            except OSError:
                pass

    # ---- the loop ----

    def _pass(self, out: List[Record]) -> None:
        """Everything due, without waiting: DONE of cancelled targets, what
        the sockets hold, expired deadlines, due sends."""
        while self.done_queue and self.c.batch - len(out) >= 2:
            t = self.done_queue.popleft()
            self._record(out, DONE, t, self.sent[t], _real())
        for family in self.socks:
            if self.errors_queued[family]:
                self.errors_queued[family] = False
                self._receive_errors(out, family)
            self._receive(out, family)
        self._expire(out)
        self._send(out)

    def _finished(self) -> bool:
        return self.active == 0 and not self.done_queue

    def step(self) -> List[Record]:
        out: List[Record] = []
        sends = 0
        while True:  # pass after pass while they send, as the C step
            before = self.n_sent
            self._pass(out)
            if self.n_sent == before:
                break
            sends += self.n_sent - before
            if sends >= self.c.batch or self.c.batch - len(out) < 2:
                break
        self._read_drops()
        return out

    def next_wakeup_ns(self) -> int:
        if self.done_queue:
            return _mono()
        wake = math.inf
        due, which = self._send_due(_mono())
        if which >= 0:
            wake = max(due, self._pace())
        for level, fifo in enumerate(self.expiry):
            if fifo:
                t, p = fifo[0]
                wake = min(wake, self.slot_time[t * self.W + p % self.W] + self.tmo[level])
        return -1 if wake == math.inf else int(wake)

    def run(self, until_ns: int, flush_ns: int) -> List[Record]:
        out: List[Record] = []
        first = -1
        while True:
            self._pass(out)
            now = _mono()
            if out and first < 0:
                first = now
            if self._finished() or self.c.batch - len(out) < 2:
                break
            if until_ns and now >= until_ns:
                break
            if first >= 0 and now - first >= flush_ns:
                break
            wake = self.next_wakeup_ns()
            if 0 <= wake <= now:
                continue
            limit = now + WAIT_SLICE_NS
            for bound in (wake, until_ns, first + flush_ns if first >= 0 else -1):
                if bound > 0:
                    limit = min(limit, bound)
            for _fd, revents in self.poller.poll(max(0, math.ceil((limit - now) / 1e6))):
                if revents & select.POLLERR:
                    for family, s in self.socks.items():
                        if s.fileno() == _fd:
                            self.errors_queued[family] = True
            if not out and _mono() - now >= WAIT_SLICE_NS:
                break  # a look for the caller (a stop request, Ctrl-C)
        self._read_drops()
        return out

    def run_raw(self, until_ns: int, flush_ns: int) -> List[Record]:
        """run(), as the C engine's run_raw: here the records are already Python's."""
        return self.run(until_ns, flush_ns)

    def step_raw(self) -> List[Record]:
        return self.step()

    @staticmethod
    def records(raw: List[Record]) -> List[Record]:
        return raw

    def counters(self) -> Counters:
        return Counters(self.n_sent, self.received, self.duplicates, self.corrupted, self.errors,
                        self.malformed, self.foreign, sum(self.drops.values()), self.active,
                        self._finished(), self.late)

    def close(self) -> None:
        for s in self.socks.values():
            s.close()
        self.socks = {}
