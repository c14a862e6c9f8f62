"""The traceroute loop in pure Python: the twin of csrc/trace.c, rule for rule.

Every TTL in flight at once (at most `sim` probes unanswered), each probe
marked so that its answer finds it again, answers read from a raw ICMP
socket or from the probe socket's error queue (IP_RECVERR), one record per
probe once it is answered or has waited long enough.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import struct
import time
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

from .. import _wire as w
from .._errors import MalformedPacket
from .._errqueue import (CONTROL_LEN, EXTENDED_ERR, IP_RECVERR, IPV6_RECVERR, MSG_ERRQUEUE,
                         SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6)
from .._ping_loop import IP_TTL, IPV6_HOPLIMIT, SO_TIMESTAMPNS
from .._trace_loop import (DEST, EXT_MAX, FINAL, ICMP, MAX_PACKET, MAX_QUERIES, MAX_TTL,
                           PROBE_MARK, REPLY, SEND_FAILED, TCP, TCP_REPLY, TIMEOUT, UDP,
                           Counters, LoopConfig, Record, probe_count, probe_word)
from .checksum import checksum, sum16
from .icmp import parse_fields

__all__ = ["Loop", "Many", "build_probe"]

NS = 1_000_000_000
RXBUF = 4096
# The last word of sock_extended_err as struct sock_ee_data_rfc4884: where
# the extension starts in the returned data (0: none), and its flags.
RFC4884 = struct.Struct("=HBB")
RFC4884_OFFSET = 12
RFC4884_FLAG_INVALID = 1
TIMESPEC = struct.Struct("=qq")
INT = struct.Struct("=i")
SOCKADDR_IN = struct.Struct("=H2s4s8x")
SOCKADDR_IN6 = struct.Struct("=H2s4s16sI")
UDP_HEADER = struct.Struct("!HHHH")
TCP_HEADER = struct.Struct("!HHIIBBHHH")   # ports, seq, ack, offset, flags, window, sum, urg
TCP_PORTS_SEQ = struct.Struct("!HHI")
TCP_ACK = struct.Struct("!I")
TCP_HEADER_LEN = 20
TCP_OPTIONS_MAX = 40
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK_FLAG = 0x10
TCP_MSS = b"\x02\x04\x05\xb4"                # MSS 1460
TCP_NOP = 1
PSEUDO4 = struct.Struct("!4s4sBBH")
PSEUDO6_TAIL = struct.Struct("!I3xB")
IPPROTO_UDP = 17
IPPROTO_TCP = 6
SOCKET_BROKEN = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EFAULT, errno.EINVAL})
NOT_SENT = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ENOMEM})
# With IP_RECVERR an ICMP error also leaves its errno pending on the socket,
# and the next send returns it instead of sending: such a send is retried
# (a few times: a lasting one is the network's answer).
PENDING = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPROTO,
                     errno.EHOSTDOWN, errno.ENONET, errno.EACCES, errno.EMSGSIZE})
SEND_TRIES = 4
# Python retries interrupted waits itself (PEP 475): wait in slices this
# long at most, so the caller sees a stop request from a signal handler.
WAIT_SLICE_NS = 50_000_000
# Linux traceroute adds its timer's precision, 1 ms, to a round trip before
# it scales it by HERE or NEAR.
WAIT_PREC_NS = 1_000_000
DONE, IN_FLIGHT, UNSENT = 2, 1, 0


def _mono() -> int:
    return time.monotonic_ns()


def _real() -> int:
    return time.time_ns()


def ip_header_len(family: int) -> int:
    return w.IPV4_MIN_HEADER_LEN if family == 4 else w.IPV6_HEADER_LEN


def _filler(n: int) -> bytes:
    return bytes((0x40 + i) & 0xFF for i in range(n))


def _tcp_options(n: int) -> bytes:
    """n bytes (a multiple of 4) of SYN options: an MSS, then no-ops."""
    if n < len(TCP_MSS):
        return b""
    return TCP_MSS + bytes([TCP_NOP]) * (n - len(TCP_MSS))


def tcp_option_len(c: LoopConfig) -> int:
    room = c.packet_len - ip_header_len(c.family) - TCP_HEADER_LEN
    return max(0, min(TCP_OPTIONS_MAX, room)) & ~3


def data_len(c: LoopConfig) -> int:
    """Bytes after the UDP or ICMP header: what -packet_len leaves, and at
    least the probe mark."""
    return max(PROBE_MARK.size, c.packet_len - ip_header_len(c.family) - 8)


def dest_port(c: LoopConfig, index: int) -> int:
    if c.method == UDP and c.classic:
        return (c.port + index) & 0xFFFF
    return c.port


def tcp_sport(c: LoopConfig, index: int) -> int:
    if c.classic:
        return ((c.sport + index - 1024) % (65536 - 1024)) + 1024
    return c.sport


def tcp_seq(c: LoopConfig, index: int) -> int:
    return (c.key & 0xFFFF0000) | probe_word(c, index)


def build_probe(c: LoopConfig, index: int) -> bytes:
    """What goes into sendto for probe `index` (the kernel adds the IP
    header; for UDP, the UDP header too)."""
    word = probe_word(c, index)
    if c.method == ICMP:
        n = data_len(c)
        comp = 0 if c.classic else ~word & 0xFFFF
        data = PROBE_MARK.pack(comp, 0, c.key) + _filler(n - PROBE_MARK.size)
        icmp_type = w.ICMP_ECHO_REQUEST if c.family == 4 else w.ICMP6_ECHO_REQUEST
        value = 0
        # Raw IPv4 sockets send the checksum we write; the kernel fills it in
        # on ICMPv6 and on datagram ICMP sockets.
        if c.family == 4 and c.raw:
            value = checksum(w.ICMP_HEADER.pack(icmp_type, 0, 0, c.ident, word) + data, 0)
        return w.ICMP_HEADER.pack(icmp_type, 0, value, c.ident, word) + data
    if c.method == TCP:
        options = _tcp_options(tcp_option_len(c))
        offset = ((TCP_HEADER_LEN + len(options)) // 4) << 4
        header = TCP_HEADER.pack(tcp_sport(c, index), c.port, tcp_seq(c, index), 0, offset,
                                 TCP_SYN, 5840, 0, 0)
        segment = header + options
        value = 0
        if c.family == 4:  # raw IPv6 sockets compute it (IPV6_CHECKSUM)
            pseudo = PSEUDO4.pack(c.source[:4], c.target[:4], 0, IPPROTO_TCP, len(segment))
            value = checksum(segment, sum16(pseudo))
        return segment[:16] + struct.pack("!H", value) + segment[18:]
    n = data_len(c)
    return PROBE_MARK.pack(word, ~word & 0xFFFF, c.key) + _filler(n - PROBE_MARK.size)


class Loop:
    """One trace over open sockets; run() until counters().done."""

    def __init__(self, config: LoopConfig) -> None:
        self.c = config
        af = socket.AF_INET if config.family == 4 else socket.AF_INET6
        self.af = af
        self.sock = socket.socket(fileno=os.dup(config.fd))
        self.sock.setblocking(False)
        self.rsock: Optional[socket.socket] = None
        if config.rfd >= 0 and config.rfd != config.fd:
            self.rsock = socket.socket(fileno=os.dup(config.rfd))
            self.rsock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN)
        if self.rsock is not None:
            self.poller.register(self.rsock.fileno(), select.POLLIN)
        addr = socket.inet_ntop(af, config.target[:4 if config.family == 4 else 16])
        self.dest_addr = addr
        self.addr_len = 4 if config.family == 4 else 16
        self.target = config.target[:self.addr_len]
        self.total = probe_count(config)
        self.state = bytearray(self.total)
        self.sent_real = [0] * self.total
        self.sent_mono = [0] * self.total
        self.hop_rtt = [0] * (config.max_ttl + 2)  # the first answer's round trip per TTL
        self.next_index = 0
        self.in_flight = 0
        self.final_ttl = 0
        self.last_send_ns = 0
        self.last_ttl = -1
        self.sent = self.answered = self.malformed = self.unmatched = 0
        self.done = False
        # Read the error queue at first and whenever poll says POLLERR.
        self.errors_queued = config.rfd < 0

    # ---- bookkeeping ----

    def ttl_of(self, index: int) -> int:
        return self.c.first_ttl + index // self.c.queries

    def limit(self) -> int:
        """Probes worth sending or waiting for: those up to the final TTL."""
        if self.final_ttl:
            return (self.final_ttl - self.c.first_ttl + 1) * self.c.queries
        return self.total

    def record(self, out: List[Record], index: int, kind: int, when: int, *, flags: int = 0,
               icmp_type: int = -1, code: int = -1, rtt_ns: int = 0, reply_ttl: int = -1,
               info: int = 0, sender: bytes = b"", ext: bytes = b"") -> None:
        ext = ext[:EXT_MAX]
        out.append((self.ttl_of(index), index % self.c.queries, kind, flags, icmp_type, code,
                    rtt_ns, reply_ttl, info, when, len(ext), sender.ljust(16, b"\0"),
                    ext.ljust(EXT_MAX, b"\0")))

    def finish(self, index: int) -> None:
        if self.state[index] == IN_FLIGHT:
            self.in_flight -= 1
        self.state[index] = DONE

    def finished(self) -> bool:
        limit = self.limit()
        if self.next_index < limit:
            return False
        return all(self.state[i] == DONE for i in range(limit))

    # ---- sending ----

    def send_due(self) -> float:
        c = self.c
        if self.next_index >= self.limit() or self.in_flight >= c.sim:
            return math.inf
        if self.sent == 0:
            return 0
        return self.last_send_ns + c.pause_ns

    def set_ttl(self, ttl: int) -> None:
        if ttl == self.last_ttl:
            return
        if self.c.family == 4:
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        else:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        self.last_ttl = ttl

    def send(self, out: List[Record]) -> int:
        """Send the next probe. Returns 0, or 1 when the kernel had no room."""
        c = self.c
        index = self.next_index
        self.set_ttl(self.ttl_of(index))
        data = build_probe(c, index)
        port = dest_port(c, index) if c.method != ICMP and not c.raw else 0
        dest: Tuple[object, ...] = (self.dest_addr, port)
        if c.family == 6:
            dest = (self.dest_addr, port, 0, c.scope_id)
        now = _mono()
        real = _real()
        failure = 0
        tries = 0
        while True:
            try:
                self.sock.sendto(data, dest)
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno in NOT_SENT:
                    return 1
                failure = exc.errno or errno.EIO
                tries += 1
                if failure in PENDING and tries < SEND_TRIES:
                    self.errors_queued = True
                    failure = 0
                    continue
            break
        self.next_index += 1
        self.sent += 1
        self.last_send_ns = now
        self.sent_real[index] = real
        self.sent_mono[index] = now
        if failure:
            self.state[index] = DONE
            self.record(out, index, SEND_FAILED, real, info=failure)
            return 0
        self.state[index] = IN_FLIGHT
        self.in_flight += 1
        return 0

    # ---- answers ----

    def rtt(self, index: int, received_real: int) -> int:
        rtt = received_real - self.sent_real[index]
        mono = _mono() - self.sent_mono[index]
        if rtt < 0 or rtt > mono:
            rtt = mono
        return rtt

    def answer(self, out: List[Record], index: int, when: int, icmp_type: int, code: int,
               reply_ttl: int, sender: bytes, info: int = 0, ext: bytes = b"") -> None:
        """An answer to probe `index` (already checked to be ours)."""
        if index < 0 or index >= self.total or self.state[index] != IN_FLIGHT:
            self.unmatched += 1
            return
        time_exceeded = w.ICMP_TIME_EXCEEDED if self.c.family == 4 else w.ICMP6_TIME_EXCEEDED
        flags = 0 if icmp_type == time_exceeded else FINAL
        if sender == self.target:
            flags |= DEST
        self.finish(index)
        self.answered += 1
        rtt = self.rtt(index, when)
        self.record(out, index, REPLY, when, flags=flags, icmp_type=icmp_type, code=code,
                    rtt_ns=rtt, reply_ttl=reply_ttl, info=info, sender=sender, ext=ext)
        ttl = self.ttl_of(index)
        if self.hop_rtt[ttl] == 0:
            self.hop_rtt[ttl] = max(rtt, 1)
        if flags & FINAL and (self.final_ttl == 0 or ttl < self.final_ttl):
            self.final_ttl = ttl
            # Probes past the end are no longer waited for, nor reported.
            for i in range(self.limit(), self.total):
                if self.state[i] == IN_FLIGHT:
                    self.finish(i)

    def index_from_udp(self, dport: int, data: bytes) -> int:
        """The probe a quoted UDP datagram was: the mark in its data when
        quoted, else (classic ports) its destination port."""
        c = self.c
        if len(data) >= PROBE_MARK.size:
            word, comp, key = PROBE_MARK.unpack_from(data)
            if key != c.key or comp != ~word & 0xFFFF:
                return -1
            return int(word) - 1
        if c.method == UDP and c.classic:
            return (dport - c.port) & 0xFFFF
        return -1

    def index_from_quote(self, data: bytes, f: List[int]) -> int:
        """The probe quoted by an ICMP error read from the raw socket."""
        c = self.c
        qdst = f[w.F_QUOTED_DESTINATION_OFF]
        upper = f[w.F_QUOTED_UPPER_OFF]
        if qdst < 0 or upper < 0 or data[qdst:qdst + self.addr_len] != self.target:
            return -1
        proto = f[w.F_QUOTED_PROTOCOL]
        if c.method == ICMP:
            if f[w.F_QUOTED_ID] != c.ident:
                return -1
            return f[w.F_QUOTED_SEQ] - 1
        if c.method == TCP:
            if proto != IPPROTO_TCP:
                return -1
            sport, dport, seq = TCP_PORTS_SEQ.unpack_from(data, upper)
            if dport != c.port or (seq & 0xFFFF0000) != (c.key & 0xFFFF0000):
                return -1
            index = (seq & 0xFFFF) - 1
            if index < 0 or index >= self.total or sport != tcp_sport(c, index):
                return -1
            return int(index)
        if proto != IPPROTO_UDP:
            return -1
        sport, dport, _length, _sum = UDP_HEADER.unpack_from(data, upper)
        if sport != c.sport:
            return -1
        return self.index_from_udp(dport, data[upper + UDP_HEADER.size:])

    @staticmethod
    def ancillary(ancdata: List[Tuple[int, int, bytes]]) -> Tuple[int, int, Optional[bytes]]:
        when, ttl, err = 0, -1, None
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = TIMESPEC.unpack_from(value)
                when = sec * NS + nsec
            elif ((level == socket.IPPROTO_IP and kind == IP_TTL) or
                  (level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT)) and len(value) >= 4:
                (ttl,) = INT.unpack_from(value)
            elif ((level == socket.IPPROTO_IP and kind == IP_RECVERR) or
                  (level == socket.IPPROTO_IPV6 and kind == IPV6_RECVERR)) and \
                    len(value) >= EXTENDED_ERR.size:
                err = value
        return (when or _real()), ttl, err

    def sender_of(self, address: object) -> Optional[bytes]:
        try:
            return socket.inet_pton(self.af, address[0].split("%")[0])  # type: ignore[index]
        except (OSError, IndexError, TypeError, AttributeError):
            return None

    def icmp_packet(self, out: List[Record], data: bytes, ancdata: List[Tuple[int, int, bytes]],
                    address: object) -> None:
        """A packet from a raw ICMP socket: an error quoting a probe, or an
        echo reply."""
        c = self.c
        when, ttl, _err = self.ancillary(ancdata)
        mode = w.IP_HEADER_PRESENT if c.family == 4 else w.IP_HEADER_ABSENT
        try:
            f = parse_fields(data, c.family, mode, None, None)
        except MalformedPacket:
            self.malformed += 1
            return
        sender = self.sender_of(address)
        if sender is None:
            return
        if f[w.F_TTL] >= 0:
            ttl = f[w.F_TTL]
        icmp_type = f[w.F_TYPE]
        if icmp_type in w.ERROR_TYPES[c.family]:
            index = self.index_from_quote(data, f)
            if index < 0:
                self.unmatched += 1
                return
            ext = b""
            if f[w.F_EXT_OFF] >= 0:
                ext = data[f[w.F_EXT_OFF]:f[w.F_EXT_OFF] + f[w.F_EXT_LEN]]
            info = f[w.F_REST_OF_HEADER]
            if f[w.F_EXT_LEN] == w.EXT_LEN_BEYOND:
                self.malformed += 1
            self.answer(out, index, when, icmp_type, f[w.F_CODE], ttl, sender, info, ext)
        elif c.method == ICMP and icmp_type == w.ECHO_REPLY_TYPE[c.family]:
            if (c.raw and f[w.F_ID] != c.ident) or sender != self.target:
                self.unmatched += 1
                return
            self.answer(out, f[w.F_SEQ] - 1, when, icmp_type, f[w.F_CODE], ttl, sender)

    def tcp_packet(self, out: List[Record], data: bytes, ancdata: List[Tuple[int, int, bytes]],
                   address: object) -> None:
        """A segment on the raw TCP socket: the target's SYN-ACK or RST."""
        c = self.c
        when, ttl, _err = self.ancillary(ancdata)
        off = 0
        if c.family == 4:
            if len(data) < w.IPV4_MIN_HEADER_LEN:
                self.malformed += 1
                return
            off = (data[0] & 0x0F) * 4
            ttl = data[w.IPV4_TTL]
        if len(data) - off < TCP_HEADER_LEN:
            self.malformed += 1
            return
        sender = self.sender_of(address)
        if sender != self.target:
            return
        sport, dport, _seq, ack, _off, flags, _win, _sum, _urg = TCP_HEADER.unpack_from(data, off)
        if sport != c.port or not flags & (TCP_RST | TCP_ACK_FLAG):
            return
        seq = (ack - 1) & 0xFFFFFFFF
        if (seq & 0xFFFF0000) != (c.key & 0xFFFF0000):
            self.unmatched += 1
            return
        index = (seq & 0xFFFF) - 1
        if index < 0 or index >= self.total or dport != tcp_sport(c, index):
            self.unmatched += 1
            return
        self.answer(out, index, when, TCP_REPLY, flags, ttl, sender)

    def echo_packet(self, out: List[Record], data: bytes, ancdata: List[Tuple[int, int, bytes]],
                    address: object) -> None:
        """An echo reply on a datagram ICMP socket (the kernel checked the id)."""
        c = self.c
        when, ttl, _err = self.ancillary(ancdata)
        try:
            f = parse_fields(data, c.family, w.IP_HEADER_ABSENT, None, None)
        except MalformedPacket:
            self.malformed += 1
            return
        sender = self.sender_of(address)
        if f[w.F_TYPE] != w.ECHO_REPLY_TYPE[c.family] or sender != self.target:
            return
        self.answer(out, f[w.F_SEQ] - 1, when, f[w.F_TYPE], f[w.F_CODE], ttl, sender)

    def error_queue(self, out: List[Record]) -> None:
        """ICMP errors the kernel matched to the probe socket (IP_RECVERR):
        type, code and sender in the extended error, the quoted data (UDP:
        after the UDP header; ICMP: from the ICMP header) as the payload."""
        c = self.c
        while True:
            try:
                data, ancdata, _flags, address = self.sock.recvmsg(
                    RXBUF, CONTROL_LEN, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            when, ttl, err = self.ancillary(ancdata)
            if err is None:
                continue
            _errno, origin, ee_type, ee_code, _pad, ee_info, _data = EXTENDED_ERR.unpack_from(err)
            if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                continue
            rest = err[EXTENDED_ERR.size:]
            if c.family == 4 and len(rest) >= SOCKADDR_IN.size:
                sender = bytes(SOCKADDR_IN.unpack_from(rest)[2])
            elif c.family == 6 and len(rest) >= SOCKADDR_IN6.size:
                sender = bytes(SOCKADDR_IN6.unpack_from(rest)[3])
            else:
                continue
            if self.sender_of(address) != self.target:
                self.unmatched += 1
                continue
            if c.method == ICMP:
                if len(data) < w.ICMP_HEADER_LEN:
                    self.unmatched += 1
                    continue
                _t, _c, _s, _ident, seq = w.ICMP_HEADER.unpack_from(data)
                index = seq - 1
            else:
                index = self.index_from_udp(int(address[1]), data)
            if index < 0:
                self.unmatched += 1
                continue
            ext = b""
            ext_at, ext_flags, _reserved = RFC4884.unpack_from(err, RFC4884_OFFSET)
            if ext_flags & RFC4884_FLAG_INVALID:
                self.malformed += 1  # the kernel found the extension structure broken
            elif ext_at and ext_at < len(data):
                ext = data[ext_at:]
            self.answer(out, index, when, ee_type, ee_code, ttl, sender, ee_info, ext)

    def drain(self, sock: socket.socket, out: List[Record], handler: str) -> None:
        # Echo replies are as long as the probes (-I with a long packet length).
        room = RXBUF if self.c.packet_len + 64 <= RXBUF else MAX_PACKET
        while True:
            try:
                data, ancdata, flags, address = sock.recvmsg(room, CONTROL_LEN,
                                                             socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in SOCKET_BROKEN:
                    raise
                # A pending socket error (IP_RECVERR): the details wait in
                # the error queue.
                self.errors_queued = True
                continue
            if handler == "ignore":
                continue
            if flags & socket.MSG_TRUNC:
                self.malformed += 1
                continue
            getattr(self, handler)(out, data, ancdata, address)

    def deadline(self, index: int) -> int:
        """When probe `index` is given up: after the wait, or sooner as Linux
        traceroute does once its hop or a later one has answered."""
        c = self.c
        sent = self.sent_mono[index]
        end = sent + c.wait_ns
        ttl = self.ttl_of(index)
        if c.here_milli > 0 and self.hop_rtt[ttl] > 0:
            return min(end, sent + (self.hop_rtt[ttl] + WAIT_PREC_NS) * c.here_milli // 1000)
        if c.near_milli > 0:
            for t in range(ttl + 1, c.max_ttl + 1):
                if self.hop_rtt[t] > 0:
                    return min(end, sent + (self.hop_rtt[t] + WAIT_PREC_NS) * c.near_milli // 1000)
        return end

    def expire(self, out: List[Record], now: int) -> None:
        for index in range(min(self.next_index, self.limit())):
            if self.state[index] == IN_FLIGHT and now >= self.deadline(index):
                self.finish(index)
                self.record(out, index, TIMEOUT, _real())

    def next_expiry(self) -> float:
        first = math.inf
        for index in range(min(self.next_index, self.limit())):
            if self.state[index] == IN_FLIGHT:
                first = min(first, self.deadline(index))
        return first

    # ---- the loop ----

    def handlers(self) -> Tuple[str, str]:
        """What the probe socket and the raw ICMP socket deliver."""
        c = self.c
        if c.method == TCP:
            return "tcp_packet", "icmp_packet"
        if c.method == ICMP:
            return ("icmp_packet" if c.raw else "echo_packet"), "icmp_packet"
        return "ignore", "icmp_packet"

    def step(self, out: List[Record], cap: int) -> None:
        """One round without waiting: the probes due, the answers waiting,
        the errors queued, the probes given up; done once the trace is over."""
        on_sock, on_rsock = self.handlers()
        now = _mono()
        while self.send_due() <= now and len(out) < cap - 1:
            if self.send(out) == 1:
                break
            now = _mono()
        self.drain(self.sock, out, on_sock)
        if self.rsock is not None:
            self.drain(self.rsock, out, on_rsock)
        if self.errors_queued:
            self.errors_queued = False
            self.error_queue(out)
        self.expire(out, _mono())
        if self.finished():
            self.done = True

    def wake(self) -> float:
        """When the trace next has something to do (inf: answers only)."""
        return min(self.send_due(), self.next_expiry())

    def run(self, flush_ns: int) -> List[Record]:
        cap = max(2, self.c.batch)
        out: List[Record] = []
        start = _mono()
        while True:
            if self.finished():
                self.done = True
                return out
            # Room left for a round of answers and expiries, or hand back what we have.
            if out and cap - len(out) < self.c.sim + 2:
                return out
            self.step(out, cap)
            if self.done:
                return out
            now = _mono()
            if out and now - start >= flush_ns:
                return out
            wake = self.wake()
            if wake == math.inf:
                wake = now + WAIT_SLICE_NS
            wait_ns = min(max(wake - now, 0), WAIT_SLICE_NS)
            if wait_ns <= 0:
                continue
            for _fd, revents in self.poller.poll(math.ceil(wait_ns / 1_000_000)):
                if revents & select.POLLERR:
                    self.errors_queued = True
            if not out and _mono() - start >= WAIT_SLICE_NS:
                return out  # give the caller a look (a stop request, Ctrl-C)

    @staticmethod
    def records(raw: List[Record]) -> List[Record]:
        return raw

    def counters(self) -> Counters:
        return Counters(self.sent, self.answered, self.malformed, self.unmatched,
                        self.final_ttl, self.done)

    def close(self) -> None:
        self.sock.close()
        if self.rsock is not None:
            self.rsock.close()



def check(c: LoopConfig) -> None:
    """What pn_trace_many_start refuses (csrc/trace.c pn__check)."""
    if c.family not in (4, 6):
        raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
    if (c.first_ttl < 1 or c.max_ttl > MAX_TTL or c.first_ttl > c.max_ttl or c.queries < 1
            or c.queries > MAX_QUERIES or c.sim < 1):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))


class Many:
    """Up to `slots` traces at once in one thread, as pn_trace_many_*: a
    Loop per slot, their sockets in one poll set, each stepped when its
    sockets are ready or its next send or expiry is due."""

    def __init__(self, slots: int, batch: int = 4096) -> None:
        if slots < 1:
            raise MemoryError("pn_trace_many_open")
        self.loops: List[Optional[Loop]] = [None] * slots
        self.due = [0.0] * slots
        self.ready = [False] * slots
        self.fd_slot: Dict[int, int] = {}     # the Loops' own descriptors -> slot
        self.owner: Dict[int, int] = {}       # the callers' descriptors -> slot
        self.poller = select.poll()
        self.cap = max(2, batch)

    def _watch(self, loop: Loop, slot: int) -> None:
        for sock in (loop.sock, loop.rsock):
            if sock is not None:
                self.poller.register(sock.fileno(), select.POLLIN)
                self.fd_slot[sock.fileno()] = slot

    def _unwatch(self, slot: int) -> None:
        loop = self.loops[slot]
        assert loop is not None
        for sock in (loop.sock, loop.rsock):
            if sock is not None and self.fd_slot.get(sock.fileno()) == slot:
                self.poller.unregister(sock.fileno())
                del self.fd_slot[sock.fileno()]
        for fd in (loop.c.fd, loop.c.rfd):
            if self.owner.get(fd) == slot:
                del self.owner[fd]
        self.ready[slot] = False

    def start(self, slot: int, config: LoopConfig) -> None:
        if not 0 <= slot < len(self.loops):
            raise IndexError(f"slot {slot} out of range")
        if self.loops[slot] is not None:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        check(config)
        given = [config.fd] + ([config.rfd] if 0 <= config.rfd != config.fd else [])
        if any(fd in self.owner for fd in given):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))  # another slot's socket
        loop = Loop(config)
        for fd in given:
            self.owner[fd] = slot
        self.loops[slot] = loop
        self._watch(loop, slot)
        self.ready[slot] = True
        self.due[slot] = 0

    def release(self, slot: int) -> None:
        loop = self.loops[slot]
        if loop is not None:
            self._unwatch(slot)
            loop.close()
            self.loops[slot] = None

    def run(self, flush_ns: int) -> List[Tuple[int, Record]]:
        cap = self.cap
        out: List[Tuple[int, Record]] = []
        start = _mono()
        while True:
            running = 0
            now = _mono()
            for slot, loop in enumerate(self.loops):
                if loop is None or loop.done:
                    continue
                running += 1
                if not self.ready[slot] and self.due[slot] > now:
                    continue
                if out and cap - len(out) < loop.c.sim + 2:
                    return out  # the rest next call: their flags stay
                self.ready[slot] = False
                got: List[Record] = []
                loop.step(got, cap - len(out))
                out.extend((slot, r) for r in got)
                if loop.done:
                    self._unwatch(slot)
                    running -= 1
                    continue
                self.due[slot] = loop.wake()
                now = _mono()
            if running == 0:
                return out
            now = _mono()
            if out and now - start >= flush_ns:
                return out
            wake: float = now + WAIT_SLICE_NS
            for slot, loop in enumerate(self.loops):
                if loop is not None and not loop.done and self.due[slot] < wake:
                    wake = self.due[slot]
            if wake <= now:
                continue
            for fd, revents in self.poller.poll(math.ceil((wake - now) / 1_000_000)):
                slot = self.fd_slot.get(fd, -1)
                if slot < 0:
                    continue
                self.ready[slot] = True
                loop = self.loops[slot]
                if revents & select.POLLERR and loop is not None and fd == loop.sock.fileno():
                    loop.errors_queued = True
            if not out and _mono() - start >= WAIT_SLICE_NS:
                return out  # give the caller a look (a stop request, Ctrl-C)

    @staticmethod
    def records(batch: List[Tuple[int, Record]]) -> List[Tuple[int, Record]]:
        return batch

    def counters(self, slot: int) -> Counters:
        loop = self.loops[slot]
        if loop is None:
            raise IndexError(f"slot {slot} holds no trace")
        return loop.counters()

    def close(self) -> None:
        for slot in range(len(self.loops)):
            self.release(slot)
