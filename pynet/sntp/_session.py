"""One round of queries, without I/O: which request went where, and what
each datagram or ICMP error that comes back means. The blocking and the
asyncio drivers both feed it, so they cannot disagree.

Every request carries its own random cookie in the transmit timestamp. A
datagram counts as the answer to a request only if it comes from the
address and port the request went to, is a server reply (mode 4), and
echoes that request's cookie as its originate timestamp; anything else is
counted and ignored, so a forged or stale datagram cannot end a query and
the real reply, arriving later, is still taken.

A server is asked count times (one Probe, count Requests). An answer the
server refuses to give (Kiss-o'-Death, unsynchronised, port unreachable)
ends that server at once, with no more requests; otherwise every answered
request is a sample, and the server's result is made of them at the end.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Callable, Dict, List, Optional, Tuple

from . import _packet as p
from .._errors import NoReply, PortUnreachable, SNTPSendFailed, SNTPError, Unreachable
from .._resolve import version_of
from ._reply import answer, judge, measure
from ._result import KERNEL, USER, SNTPResult, SNTPSample

__all__ = ["Clock", "Probe", "Request", "Session", "Target"]

Clock = Callable[[], int]  # UNIX time in nanoseconds, like time.time_ns
Target = Tuple[str, int, Tuple[object, ...]]  # (server as named, family, sockaddr)
_COOKIE = p.PACKET.size - p.TRANSMIT_OFFSET  # 8 bytes

# ICMP errors as the kernel hands them over (errno), in words.
_UNREACHABLE = {
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EACCES: "communication administratively prohibited",
    errno.EPERM: "communication administratively prohibited",
    errno.EPROTO: "protocol error",
}


class Request:
    """One request to a server: its cookie and when it left."""

    def __init__(self, probe: "Probe", number: int, cookie: int) -> None:
        self.probe = probe
        self.number = number  # 0 for the first request to the server
        self.cookie = cookie
        self.t1_ns: Optional[int] = None  # our send time, UNIX ns
        self.tx_stamp = USER
        self.answered = False


class Probe:
    """One server: its requests, the samples they gave and, in the end, its result."""

    def __init__(self, server: str, family: int, sockaddr: Tuple[object, ...]) -> None:
        self.server = server
        self.family = family
        self.sockaddr = sockaddr
        self.address = str(sockaddr[0])
        self.port = int(sockaddr[1])  # type: ignore[call-overload]
        self.requests: List[Request] = []
        self.measured: List[Tuple[int, SNTPSample, p.NtpPacket]] = []  # (request number, ...)
        self.result: Optional[SNTPResult] = None
        self.ignored = 0
        self.last_ignored = ""

    def ignore(self, why: str) -> None:
        self.ignored += 1
        self.last_ignored = why

    def fail(self, error: SNTPError) -> None:
        if self.result is None:
            self.result = SNTPResult(self.server, self.address, self.port,
                                     version_of(self.family), error=error, ignored=self.ignored,
                                     sent=self.sent)

    @property
    def sent(self) -> int:
        return sum(1 for request in self.requests if request.t1_ns is not None)


class Session:
    def __init__(self, targets: List[Target], clock: Clock, count: int = 1) -> None:
        self.clock = clock
        self.count = count
        self.probes = [Probe(server, family, sockaddr) for server, family, sockaddr in targets]
        self.by_cookie: Dict[int, Request] = {}
        self.stray = 0  # datagrams that matched no request at all

    def _new_cookie(self) -> int:
        while True:
            cookie = int.from_bytes(os.urandom(_COOKIE), "big")
            if cookie != 0 and cookie not in self.by_cookie:
                return cookie

    def done(self, probe: Probe) -> bool:
        """Nothing more to send to probe's server or to wait for from it."""
        return probe.result is not None or len(probe.measured) == self.count

    @property
    def finished(self) -> bool:
        return all(self.done(probe) for probe in self.probes)

    def request(self, probe: Probe) -> Optional[Tuple[Request, bytes]]:
        """The next request to probe's server and its datagram, or None when
        the server needs no more. Stamp it with sent() once it is sent."""
        if probe.result is not None or len(probe.requests) >= self.count:
            return None
        request = Request(probe, len(probe.requests), self._new_cookie())
        probe.requests.append(request)
        self.by_cookie[request.cookie] = request
        return request, p.request(request.cookie)

    def sent(self, request: Request, t1_unix_ns: int) -> None:
        """The request left at t1_unix_ns, by the clock read just before send."""
        request.t1_ns = t1_unix_ns

    def on_tx_stamp(self, request: Request, unix_ns: int) -> None:
        """The kernel's transmit stamp of request. Taken after the clock read
        before send, by the same clock: one before it belongs to another
        datagram (a miscounted key), and is not used."""
        if request.t1_ns is not None and not request.answered and unix_ns >= request.t1_ns:
            request.t1_ns = unix_ns
            request.tx_stamp = KERNEL

    def send_failed(self, probe: Probe, exc: OSError) -> None:
        """probe's server cannot be asked: its socket, or a send to it, failed."""
        if exc.errno == errno.ECONNREFUSED:
            probe.fail(PortUnreachable("port unreachable"))
        else:
            probe.fail(SNTPSendFailed(f"could not send: {exc.strerror or exc}"))

    def on_datagram(self, data: bytes, source: Tuple[object, ...], t4_unix_ns: int,
                    rx_stamp: str = USER) -> None:
        address, port = str(source[0]), int(source[1])  # type: ignore[call-overload]
        by_address = [pr for pr in self.probes if pr.address == address and pr.result is None]
        try:
            reply = p.parse(data)
        except ValueError as exc:
            self._ignore(by_address, str(exc))
            return
        if reply.mode != p.MODE_SERVER:
            self._ignore(by_address, f"mode {reply.mode}, not a server reply")
            return
        request = self.by_cookie.get(reply.originate)
        if request is None:
            self._ignore(by_address, "originate timestamp does not match our request")
            return
        probe = request.probe
        if probe.address != address:
            self._ignore(by_address, f"the reply to {probe.address} came from {address}")
            return
        if probe.port != port:
            probe.ignore(f"reply from port {port}, not {probe.port}")
            return
        if probe.result is not None or request.answered or request.t1_ns is None:
            return  # a duplicate of an answer already taken, or too late
        request.answered = True
        error = judge(reply)
        if error is not None:
            probe.fail(error)
            return
        sample = measure(reply, request.t1_ns, t4_unix_ns, request.tx_stamp, rx_stamp)
        probe.measured.append((request.number, sample, reply))

    def _ignore(self, candidates: List[Probe], why: str) -> None:
        if not candidates:
            self.stray += 1
        for probe in candidates:
            probe.ignore(why)

    def on_icmp_error(self, err: int, probe: Optional[Probe] = None, *,
                      quoted: bytes = b"", destination: Optional[Tuple[object, ...]] = None) -> None:
        """An ICMP error for one of our requests: the probe itself (connected
        socket), or found by the cookie in the quoted request, or else by
        the destination it was sent to."""
        if probe is None and len(quoted) >= p.PACKET_LEN:
            request = self.by_cookie.get(p.parse(quoted).transmit)
            probe = None if request is None else request.probe
        if probe is None and destination is not None:
            for candidate in self.probes:
                if (candidate.address, candidate.port) == (str(destination[0]), destination[1]):
                    probe = candidate
                    break
        if probe is None:
            self.stray += 1
            return
        if err == errno.ECONNREFUSED:
            probe.fail(PortUnreachable("port unreachable"))
        else:
            probe.fail(Unreachable(_UNREACHABLE.get(err) or os.strerror(err)))

    def results(self, timeout: float) -> List[SNTPResult]:
        """Every server's result: made of its samples, or NoReply when none came."""
        for probe in self.probes:
            if probe.result is None and probe.measured:
                measured = [(sample, reply) for _number, sample, reply in sorted(
                    probe.measured, key=lambda entry: entry[0])]
                probe.result = answer(probe.server, probe.address, probe.port,
                                      version_of(probe.family), measured, probe.sent,
                                      probe.ignored)
            if probe.result is None:
                # The wait after the last request is the timeout.
                within = (f"within {timeout:g} s" if self.count == 1
                          else f"to {probe.sent} requests within {timeout:g} s of the last")
                message = f"no reply {within}"
                if probe.ignored:
                    plural = "s" if probe.ignored > 1 else ""
                    message = (f"no valid reply {within} (ignored {probe.ignored} "
                               f"datagram{plural}: {probe.last_ignored})")
                probe.fail(NoReply(message))
        return [probe.result for probe in self.probes if probe.result is not None]
