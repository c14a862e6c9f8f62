"""One round of queries, without I/O: which request went where, and what
each datagram or ICMP error that comes back means. The blocking and the
asyncio drivers both feed it, so they cannot disagree.

Every request carries its own random cookie in the transmit timestamp. A
datagram counts as the answer to a request only if it comes from the
address and port the request went to, is a server reply (mode 4), and
echoes that request's cookie as its originate timestamp; anything else is
counted and ignored, so a forged or stale datagram cannot end a query and
the real reply, arriving later, is still taken.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Callable, Dict, List, Optional, Tuple

from . import _packet as p
from .._errors import NoReply, PortUnreachable, SNTPSendFailed, SNTPError, Unreachable
from .._resolve import version_of
from ._reply import judge, measure
from ._result import SNTPResult
from ._timestamp import from_unix_ns

__all__ = ["Clock", "Probe", "Session", "Target"]

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


class Probe:
    """One request to one server and, in the end, its result."""

    def __init__(self, server: str, family: int, sockaddr: Tuple[object, ...], cookie: int) -> None:
        self.server = server
        self.family = family
        self.sockaddr = sockaddr
        self.address = str(sockaddr[0])
        self.port = int(sockaddr[1])  # type: ignore[call-overload]
        self.cookie = cookie
        self.t1: Optional[int] = None  # NTP timestamp of our send time
        self.result: Optional[SNTPResult] = None
        self.ignored = 0
        self.last_ignored = ""

    def ignore(self, why: str) -> None:
        self.ignored += 1
        self.last_ignored = why

    def fail(self, error: SNTPError) -> None:
        if self.result is None:
            self.result = SNTPResult(self.server, self.address, self.port,
                                     version_of(self.family), error=error, ignored=self.ignored)


class Session:
    def __init__(self, targets: List[Target], clock: Clock) -> None:
        self.clock = clock
        self.probes: List[Probe] = []
        self.by_cookie: Dict[int, Probe] = {}
        for server, family, sockaddr in targets:
            cookie = self._new_cookie()
            probe = Probe(server, family, sockaddr, cookie)
            self.probes.append(probe)
            self.by_cookie[cookie] = probe
        self.stray = 0  # datagrams that matched no request at all

    def _new_cookie(self) -> int:
        while True:
            cookie = int.from_bytes(os.urandom(_COOKIE), "big")
            if cookie != 0 and cookie not in self.by_cookie:
                return cookie

    @property
    def finished(self) -> bool:
        return all(probe.result is not None for probe in self.probes)

    def request(self, probe: Probe) -> bytes:
        """The datagram for probe; stamps T1, so send it right away."""
        probe.t1 = from_unix_ns(self.clock())
        return p.request(probe.cookie)

    def send_failed(self, probe: Probe, exc: OSError) -> None:
        if exc.errno == errno.ECONNREFUSED:
            probe.fail(PortUnreachable("port unreachable"))
        else:
            probe.fail(SNTPSendFailed(f"could not send: {exc.strerror or exc}"))

    def on_datagram(self, data: bytes, source: Tuple[object, ...], t4_unix_ns: int) -> None:
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
        probe = self.by_cookie.get(reply.originate)
        if probe is None:
            self._ignore(by_address, "originate timestamp does not match our request")
            return
        if probe.address != address:
            self._ignore(by_address, f"the reply to {probe.address} came from {address}")
            return
        if probe.port != port:
            probe.ignore(f"reply from port {port}, not {probe.port}")
            return
        if probe.result is not None or probe.t1 is None:
            return  # a duplicate of an answer already taken
        error = judge(reply)
        if error is not None:
            probe.fail(error)
            return
        probe.result = measure(probe.server, probe.address, probe.port,
                               version_of(probe.family), reply, probe.t1, t4_unix_ns,
                               probe.ignored)

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
            probe = self.by_cookie.get(p.parse(quoted).transmit)
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
        """Every probe's result, the unanswered ones as NoReply."""
        for probe in self.probes:
            if probe.result is None:
                message = f"no reply within {timeout:g} s"
                if probe.ignored:
                    plural = "s" if probe.ignored > 1 else ""
                    message = (f"no valid reply within {timeout:g} s (ignored {probe.ignored} "
                               f"datagram{plural}: {probe.last_ignored})")
                probe.fail(NoReply(message))
        return [probe.result for probe in self.probes if probe.result is not None]
