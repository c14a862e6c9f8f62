"""The ping loop in pure Python: the twin of csrc/ping.c, rule for rule.

Send echo requests on schedule, read replies and ICMP errors (the error
queue, IP_RECVERR), and return one record per event. Readable first; the
C loop is the fast one.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import struct
import time

from .. import _wire as w
from .._errors import MalformedPacket
from .. import _errqueue as errqueue
from .._ping_loop import (BAD_CHECKSUM, DUP, ERROR, FLOOD_WAIT_NS, IP_RETOPTS, IP_TTL,
                          IPV6_HOPLIMIT, LOCAL_ERROR, NOTICE, OPTIONS_MAX, OUTSTANDING,
                          PATTERN_MAX, REPLY, RXBUF, SEND_FAILED, SEQS, SO_TIMESTAMPNS,
                          WRONG_DATA, Counters, LoopConfig, Record)
from .icmp import parse_fields
from .checksum import checksum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

__all__ = ["Loop"]

NS = 1_000_000_000
TIMESPEC = struct.Struct("=qq")
TIMEVAL = struct.Struct("=qq")
INT = struct.Struct("=i")
# errnos recvmsg returns for the socket itself, not for one packet
SOCKET_BROKEN = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EFAULT, errno.EINVAL})
NOT_SENT = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ENOMEM})
# Python retries interrupted waits itself (PEP 475), so the loop waits in
# slices this long at most, to see a stop request from a signal handler.
WAIT_SLICE_NS = 50_000_000


def _mono() -> int:
    return time.monotonic_ns()


def _real() -> int:
    return time.time_ns()


class Loop:
    """One ping run over an open socket; run() until counters().done."""

    def __init__(self, config: LoopConfig) -> None:
        if len(config.pattern) > PATTERN_MAX:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self.c = config
        family = socket.AF_INET if config.family == 4 else socket.AF_INET6
        kind = socket.SOCK_RAW if config.raw else socket.SOCK_DGRAM
        proto = socket.IPPROTO_ICMP if config.family == 4 else socket.IPPROTO_ICMPV6
        self.sock = socket.socket(family, kind, proto, fileno=os.dup(config.fd))
        self.sock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN)
        if config.family == 4:
            self.dest: tuple = (socket.inet_ntop(socket.AF_INET, config.target), 0)  # type: ignore[type-arg]
        else:
            # -F: with IPV6_FLOWINFO_SEND on, the kernel takes the label from here.
            self.dest = (socket.inet_ntop(socket.AF_INET6, config.target), 0, config.flowinfo,
                         config.scope_id)
        self.addr_len = 4 if config.family == 4 else 16
        self.target = config.target[:self.addr_len]
        self.transmitted = self.received = self.duplicates = 0
        self.corrupted = self.errors = self.malformed = 0
        self.first_send_ns = self.last_send_ns = self.next_send_ns = 0
        self.tmax_ns = self.answered_upto = self.retry_ns = self.pipesize = 0
        self.done = False
        self.wrong_data = 0
        # The payload of the latest reply whose data differed: run() returns
        # right after one, so each batch holds at most one.
        self.wrong = b""
        self.ewma_us8 = 0          # iputils' rtt: 8 times the moving average, microseconds
        self.adaptive_ns = 0       # -A: the interval in force once a reply came
        # Read the error queue only when the kernel says it holds something:
        # at first, on POLLERR, on a pending socket error, after a failed send.
        self.errors_queued = True
        self.sent_real = [0] * SEQS
        self.sent_mono = [0] * SEQS
        self.answered = bytearray(SEQS)
        # The payload as iputils sends it: bytes counting up (or the -p
        # pattern, repeated), the send time (a struct timeval) written over
        # the first 16 when there is room.
        pattern = config.pattern
        if pattern:
            self.payload = bytearray(pattern[i % len(pattern)]
                                     for i in range(config.payload_len))
        else:
            self.payload = bytearray(i & 0xFF for i in range(config.payload_len))

    # ---- bookkeeping (iputils' rcvd table, acknowledge and in-flight) ----

    @staticmethod
    def seq_of(index: int) -> int:
        """Requests are numbered 0, 1, ...; iputils numbers seqs from 1."""
        return (index + 1) & 0xFFFF

    def index_of(self, seq: int) -> int:
        last = self.transmitted - 1
        return last - ((self.seq_of(last) - seq) & 0xFFFF)

    def acknowledge(self, seq: int) -> None:
        upto = self.index_of(seq) + 1
        self.pipesize = max(self.pipesize, self.transmitted - upto + 1)
        self.answered_upto = max(self.answered_upto, upto)

    def in_flight(self) -> int:
        return self.transmitted - self.answered_upto

    def record(self, out: List[Record], kind: int, seq: int, when_ns: int, *, rtt_ns: int = 0,
               ttl: int = -1, nbytes: int = 0, flags: int = 0, icmp_type: int = 0,
               code: int = 0, info: int = 0, sender: bytes = b"",
               options: bytes = b"") -> None:
        out.append((kind, seq, rtt_ns, ttl, nbytes, flags, icmp_type, code, info, when_ns,
                    sender.ljust(16, b"\0"), len(options), options.ljust(OPTIONS_MAX, b"\0")))

    # ---- when to send, when to stop (iputils' rules) ----

    def interval(self) -> int:
        """-i, or under -A the moving average round trip once a reply came."""
        if self.c.adaptive and self.ewma_us8 > 0:
            return self.adaptive_ns
        return self.c.interval_ns

    def preload(self) -> int:
        return max(1, self.c.preload)

    def linger(self) -> int:
        c = self.c
        if self.received > 0:
            return max(2 * self.tmax_ns, self.interval())
        return c.linger_ns

    def finished(self, now: int) -> bool:
        c = self.c
        if c.deadline_ns > 0 and now >= c.deadline_ns:
            return True
        if c.count > 0 and self.received + self.errors >= c.count:
            return True
        if c.deadline_ns > 0 and self.errors > 0:
            return True
        if c.count > 0 and self.transmitted >= c.count and c.deadline_ns == 0:
            return now >= self.last_send_ns + self.linger()
        return False

    def end_by(self) -> int:
        c = self.c
        end = math.inf
        if c.count > 0 and self.transmitted >= c.count and c.deadline_ns == 0:
            end = self.last_send_ns + self.linger()
        if c.deadline_ns > 0:
            end = min(end, c.deadline_ns)
        return end  # type: ignore[return-value]

    def may_send(self) -> bool:
        c = self.c
        return c.count == 0 or self.transmitted < c.count or c.deadline_ns > 0

    def send_due(self) -> float:
        if not self.may_send():
            return math.inf
        interval = self.interval()
        if self.transmitted < self.preload():
            due = 0                         # -l: the first requests at once
        elif interval > 0 and self.c.adaptive:
            due = self.last_send_ns + interval
        elif interval > 0:
            due = self.next_send_ns
        elif self.in_flight() < self.preload():
            due = 0
        else:
            due = self.last_send_ns + FLOOD_WAIT_NS
        return max(due, self.retry_ns)

    # ---- sending ----

    def packet(self, seq: int, real: int) -> bytes:
        c = self.c
        payload = self.payload
        if c.payload_len >= TIMEVAL.size:
            TIMEVAL.pack_into(payload, 0, real // NS, (real % NS) // 1000)
        icmp_type = w.ICMP_ECHO_REQUEST if c.family == 4 else w.ICMP6_ECHO_REQUEST
        header = w.ICMP_HEADER.pack(icmp_type, 0, 0, c.ident, seq)
        if c.family == 4:
            value = checksum(header + payload, 0)
            header = w.ICMP_HEADER.pack(icmp_type, 0, value, c.ident, seq)
        # ICMPv6 checksums cover the pseudo-header: the kernel fills them in.
        return header + bytes(payload)

    def send(self, out: List[Record]) -> int:
        c = self.c
        index = self.transmitted
        seq = self.seq_of(index)
        if c.report_outstanding and index > 0:
            prev = self.seq_of(index - 1)
            if not self.answered[prev]:
                self.record(out, OUTSTANDING, prev, _real())
        now = _mono()
        real = _real()
        data = self.packet(seq, real)
        failure = 0
        while True:
            try:
                self.sock.sendto(data, self.dest)
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno in NOT_SENT:
                    return 1
                failure = exc.errno or errno.EIO
            break
        # Sent, or failed for good, which iputils counts as sent all the same.
        self.sent_real[seq] = real
        self.sent_mono[seq] = now
        self.answered[seq] = 0
        if self.transmitted == 0:
            self.first_send_ns = now
            self.next_send_ns = now
        self.transmitted += 1
        self.last_send_ns = now
        if c.interval_ns > 0:
            if self.transmitted <= self.preload():
                # iputils' token bucket: the preloaded burst costs one interval.
                self.next_send_ns = self.first_send_ns + c.interval_ns
            else:
                self.next_send_ns += c.interval_ns
            if self.next_send_ns < now:
                self.next_send_ns = now + c.interval_ns
        if failure:
            self.record(out, SEND_FAILED, seq, real, info=failure)
            return -failure
        return 0

    # ---- receiving ----

    def rtt(self, seq: int, received_real: int) -> int:
        """Kernel receive time minus send time (CLOCK_REALTIME both); the
        monotonic clock if the realtime one was stepped in between."""
        rtt = received_real - self.sent_real[seq]
        mono = _mono() - self.sent_mono[seq]
        if rtt < 0 or rtt > mono:
            rtt = mono
        return rtt

    def sent(self, seq: int) -> bool:
        return self.transmitted > 0 and self.sent_real[seq] != 0 and self.index_of(seq) >= 0

    def wrong_byte(self, data: bytes, offset: int, length: int) -> int:
        """The first payload byte past the timestamp that differs from what
        was sent, or -1 (also when the reply is too short to hold it)."""
        size = self.c.payload_len
        if length < size:
            return -1
        sent = self.payload
        for i in range(TIMEVAL.size, size):
            if data[offset + i] != sent[i]:
                return i
        return -1

    def update_interval(self, rtt_ns: int) -> None:
        """iputils' moving average, and -A's interval from it (whole ms)."""
        t = rtt_ns // 1000
        if self.ewma_us8 == 0:
            self.ewma_us8 = max(t * 8, 1)   # nonzero: a reply came
        else:
            self.ewma_us8 += t - self.ewma_us8 // 8
        self.adaptive_ns = max((self.ewma_us8 // 8 + 500) // 1000 * 1_000_000,
                               self.c.min_interval_ns)

    def reply(self, out: List[Record], f: List[int], data: bytes, when: int, ttl: int,
              sender: bytes, options: bytes) -> None:
        c = self.c
        seq = f[w.F_SEQ]
        if c.raw and f[w.F_ID] != c.ident:
            return
        if not self.sent(seq) or (sender != self.target and not c.any_source):
            return
        rtt = self.rtt(seq, when)
        hops = f[w.F_TTL] if f[w.F_TTL] >= 0 else ttl
        nbytes = f[w.F_PAYLOAD_LEN] + w.ICMP_HEADER_LEN
        if f[w.F_CHECKSUM_OK] == 0:
            self.corrupted += 1
            self.record(out, REPLY, seq, when, rtt_ns=rtt, ttl=hops, nbytes=nbytes,
                        flags=BAD_CHECKSUM, sender=sender, options=options)
            return
        self.acknowledge(seq)
        self.tmax_ns = max(self.tmax_ns, rtt)
        if c.payload_len >= TIMEVAL.size:
            self.update_interval(rtt)
        flags = 0
        if self.answered[seq]:
            flags = DUP
            self.duplicates += 1
        else:
            self.answered[seq] = 1
            self.received += 1
        wrong = self.wrong_byte(data, f[w.F_PAYLOAD_OFF], f[w.F_PAYLOAD_LEN])
        sent = got = 0
        if wrong >= 0:
            flags |= WRONG_DATA
            off = f[w.F_PAYLOAD_OFF]
            sent, got = self.payload[wrong], data[off + wrong]
            self.wrong_data += 1
            # Kept for iputils' dump of the payload after the wrong byte.
            self.wrong = bytes(data[off:off + c.payload_len])
        self.record(out, REPLY, seq, when, rtt_ns=rtt, ttl=hops, nbytes=nbytes, flags=flags,
                    icmp_type=max(wrong, 0), code=sent, info=got, sender=sender,
                    options=options)

    def notice(self, out: List[Record], f: List[int], data: bytes, when: int,
               sender: bytes) -> None:
        """A redirect or source quench quoting our request (raw IPv4)."""
        off = f[w.F_QUOTED_DESTINATION_OFF]
        if f[w.F_QUOTED_ID] != self.c.ident or off < 0 or data[off:off + 4] != self.target:
            return
        seq = f[w.F_QUOTED_SEQ]
        if self.transmitted == 0 or self.sent_real[seq] == 0:
            return
        self.record(out, NOTICE, seq, when, icmp_type=f[w.F_TYPE], code=f[w.F_CODE],
                    info=f[w.F_REST_OF_HEADER], sender=sender)

    def receive(self, out: List[Record], cap: int) -> int:
        """Read what the socket holds without waiting, until it is empty or
        the next request is due (in flood mode the reply just read makes it
        due). Sets self.errors_queued when an ICMP error waits in the error
        queue. Returns how many packets were read."""
        c = self.c
        got = 0
        reply_type = w.ICMP_ECHO_REPLY if c.family == 4 else w.ICMP6_ECHO_REPLY
        mode = w.IP_HEADER_PRESENT if c.raw and c.family == 4 else w.IP_HEADER_ABSENT
        while len(out) < cap:
            try:
                data, ancdata, flags, address = self.sock.recvmsg(RXBUF, errqueue.CONTROL_LEN,
                                                                  socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except BlockingIOError:
                return got
            except OSError as exc:
                if exc.errno in SOCKET_BROKEN:
                    raise
                # An ICMP error (with IP_RECVERR) leaves its errno pending on
                # the socket, and the next recvmsg returns it once, packets
                # queued or not; the details wait in the error queue.
                self.errors_queued = True
                continue
            got += 1
            if flags & socket.MSG_TRUNC:
                self.malformed += 1
                continue
            when = 0
            ttl = -1
            options = b""
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = TIMESPEC.unpack_from(value)
                    when = sec * NS + nsec
                elif ((level == socket.IPPROTO_IP and kind == IP_TTL) or
                      (level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT)) and len(value) >= 4:
                    (ttl,) = INT.unpack_from(value)
                elif level == socket.IPPROTO_IP and kind == IP_RETOPTS:
                    options = value[:OPTIONS_MAX]   # a datagram socket's copy of them
            if when == 0 or c.user_latency:   # -U: timed on reading
                when = _real()
            try:
                sender = socket.inet_pton(socket.AF_INET if c.family == 4 else socket.AF_INET6,
                                          address[0].split("%")[0])
            except (OSError, IndexError, TypeError):
                continue
            try:
                f = parse_fields(data, c.family, mode, None, None)
            except MalformedPacket:
                self.malformed += 1
                continue
            if mode == w.IP_HEADER_PRESENT:
                # The parse checked that the header (20 to 60 bytes) is all there.
                options = data[w.IPV4_MIN_HEADER_LEN:(data[0] & 0x0F) * 4]
            icmp_type = f[w.F_TYPE]
            if icmp_type == reply_type:
                self.reply(out, f, data, when, ttl, sender, options)
                if self.wrong:
                    return got   # the caller reads its payload before the next one comes
            elif c.raw and c.family == 4 and icmp_type in (w.ICMP_REDIRECT, w.ICMP_SOURCE_QUENCH):
                self.notice(out, f, data, when, sender)
            if self.send_due() <= _mono():
                return got
        return got

    def receive_errors(self, out: List[Record], cap: int) -> int:
        c = self.c
        got = 0
        echo_request = w.ICMP_ECHO_REQUEST if c.family == 4 else w.ICMP6_ECHO_REQUEST
        af = socket.AF_INET if c.family == 4 else socket.AF_INET6
        while len(out) < cap:
            try:
                data, ancdata, _flags, address = self.sock.recvmsg(
                    RXBUF, errqueue.CONTROL_LEN, errqueue.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except BlockingIOError:
                return got
            got += 1
            ee = errqueue.extended_error(ancdata)
            if ee is None:
                continue
            ee_errno, origin, ee_type, ee_code, ee_info = ee.errno, ee.origin, ee.type, ee.code, ee.info
            quoted_seq = -1
            if len(data) >= w.ICMP_HEADER_LEN and data[0] == echo_request:
                quoted_seq = (data[6] << 8) | data[7]
            if origin == errqueue.SO_EE_ORIGIN_LOCAL:
                self.record(out, LOCAL_ERROR, max(quoted_seq, 0), _real(), info=ee_errno,
                            code=ee_info)
                self.errors += 1
                continue
            if origin not in (errqueue.SO_EE_ORIGIN_ICMP, errqueue.SO_EE_ORIGIN_ICMP6):
                continue
            if quoted_seq < 0:
                continue
            if c.raw and ((data[4] << 8) | data[5]) != c.ident:
                continue
            try:
                target = socket.inet_pton(af, address[0].split("%")[0])
            except (OSError, IndexError, TypeError):
                continue
            if target != self.target:
                continue
            if self.transmitted == 0 or self.sent_real[quoted_seq] == 0:
                continue
            self.acknowledge(quoted_seq)
            self.errors += 1
            self.record(out, ERROR, quoted_seq, _real(), icmp_type=ee_type, code=ee_code,
                        info=ee_info, sender=ee.offender or b"")
        return got

    # ---- the loop ----

    def run(self, flush_ns: int) -> List[Record]:
        cap = max(2, self.c.batch)
        out: List[Record] = []
        start = _mono()
        events = 0
        self.wrong = b""
        while True:
            now = _mono()
            if self.finished(now):
                self.done = True
                return out
            if cap - len(out) < 2:
                return out
            if self.send_due() <= now:
                sent = self.send(out)
                if sent < 0:
                    self.errors_queued = True
                if sent == 1:
                    self.retry_ns = now + FLOOD_WAIT_NS
                else:
                    events += 1
                # -l: the whole preload goes out before any reply is read.
                if sent == 0 and self.transmitted < self.preload() and self.may_send():
                    continue
            events += self.receive(out, cap)
            if self.wrong:
                return out   # a reply whose payload is in self.wrong ends the batch
            if self.errors_queued:
                self.errors_queued = False
                events += self.receive_errors(out, cap)
            if len(out) == cap:
                return out
            now = _mono()
            if self.finished(now):
                self.done = True
                return out
            due = self.send_due()
            if due <= now:
                continue
            if events > 0 and now - start >= flush_ns:
                return out
            wake = min(due, self.end_by())
            if events > 0 and start + flush_ns > now:
                wake = min(wake, start + flush_ns)
            if wake == math.inf:
                wake = now + NS
            wait_ns = min(max(wake - now, 0), WAIT_SLICE_NS)
            for _fd, revents in self.poller.poll(math.ceil(wait_ns / 1_000_000)):
                if revents & select.POLLERR:
                    self.errors_queued = True
            if events == 0 and _mono() - start >= WAIT_SLICE_NS and self.send_due() > _mono():
                # Give the caller a look (a stop request, Ctrl-C) now and then.
                return out

    def run_raw(self, flush_ns: int) -> List[Record]:
        """run(), as the C loop's run_raw: here the records are already Python's."""
        return self.run(flush_ns)

    @staticmethod
    def records(raw: List[Record]) -> List[Record]:
        return raw

    def wrong_payload(self) -> bytes:
        """The payload of the batch's reply whose data differed, as it
        came (a batch ends with such a reply); b"" when none did."""
        return self.wrong

    def counters(self) -> Counters:
        return Counters(self.transmitted, self.received, self.duplicates, self.corrupted,
                        self.errors, self.malformed, self.pipesize, self.first_send_ns,
                        self.last_send_ns, self.done, self.wrong_data)

    def close(self) -> None:
        self.sock.close()
