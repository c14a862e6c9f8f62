"""The sockets of one round, and reading everything they hold.

One server: a connected UDP socket. The kernel then drops datagrams from
any other source, and an ICMP port unreachable for our request comes back
as ECONNREFUSED on the next recv, at once instead of after the timeout.

Several servers: one unconnected socket per address family, every request
sent from it. An unconnected socket hears no ICMP errors unless it asks: on
Linux, IP_RECVERR / IPV6_RECVERR queue each error with the request it
quotes (our cookie inside) and the address it was sent to, read back with
recvmsg(MSG_ERRQUEUE) and parsed by pynet._errqueue. Elsewhere the silent
servers simply time out.

Timing (pynet._stamps): when the session's clock is the system's
(time.time_ns, CLOCK_REALTIME), every socket asks the kernel for the receive
stamp of each datagram (SO_TIMESTAMPNS) and for the software transmit stamp
of each request (SO_TIMESTAMPING, read back from the error queue, matched
to the request by its OPT_ID key: the number of datagrams sent before it on
that socket). The clock is still read right before each send, the fallback
for a request whose stamp does not come; a datagram without a stamp is
timed by the clock right after it is read. A caller's own clock is not the
kernel's, so with one the clock times everything.
"""

from __future__ import annotations

import socket
import time
from typing import Dict, List, Optional

from .. import _errqueue, _stamps
from ._result import KERNEL, USER
from ._session import Probe, Request, Session

__all__ = ["Round", "open_round"]

RECV_MAX = 2048  # an NTP reply is 48 bytes, more with extensions and a MAC


class Round:
    """The sockets of a query round and which probes each one serves."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sockets: List[socket.socket] = []
        self.connected: Dict[int, Probe] = {}  # fd -> the probe of a connected socket
        self.recverr: Dict[int, bool] = {}  # fd -> error queue enabled
        self.by_socket: Dict[int, List[Probe]] = {}
        # fd -> OPT_ID key -> the request it stamps, for the sockets whose
        # transmit stamps are on (None once they cannot be trusted: they
        # still come, and are read and dropped); the key of the next datagram.
        self.tx_keys: Dict[int, Optional[Dict[int, Request]]] = {}
        self.next_key: Dict[int, int] = {}
        self.kernel_stamps = session.clock is time.time_ns

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def add(self, sock: socket.socket, probes: List[Probe]) -> None:
        fd = sock.fileno()
        self.sockets.append(sock)
        self.by_socket[fd] = probes
        if self.kernel_stamps:
            _stamps.enable_rx(sock)
            if _stamps.enable_tx(sock):
                self.tx_keys[fd] = {}
                self.next_key[fd] = 0

    def send_all(self) -> None:
        """Send every server its next request; a failure to send is that
        server's result."""
        clock = self.session.clock
        for sock in self.sockets:
            fd = sock.fileno()
            connected = fd in self.connected
            for probe in self.by_socket[fd]:
                made = self.session.request(probe)
                if made is None:
                    continue
                request, data = made
                try:
                    # The clock as late as possible: nothing but the call between it and send.
                    t1 = clock()
                    if connected:
                        sock.send(data)
                    else:
                        sock.sendto(data, probe.sockaddr)
                except OSError as exc:
                    self.session.send_failed(probe, exc)
                    # Whether a datagram that failed used up a key is the
                    # kernel's business: later stamps on this socket might
                    # not be what they seem, and are not taken.
                    if fd in self.tx_keys:
                        self.tx_keys[fd] = None
                    continue
                self.session.sent(request, t1)
                keys = self.tx_keys.get(fd)
                if keys is not None:
                    keys[self.next_key[fd]] = request
                    self.next_key[fd] += 1

    def drain(self, sock: socket.socket) -> None:
        """Read every datagram and queued ICMP error the socket holds. The
        error queue first: the transmit stamp of a request is queued there
        before its answer can arrive, and belongs in its measurement."""
        fd = sock.fileno()
        clock = self.session.clock
        if fd in self.tx_keys or self.recverr.get(fd):
            self._drain_errors(sock)
        while True:
            try:
                data, ancillary, _flags, source = sock.recvmsg(RECV_MAX, _stamps.RX_CONTROL_LEN)
            except BlockingIOError:
                break
            except OSError as exc:
                # A pending ICMP error. On a connected socket it can only be
                # about our one request; on a shared one the error queue, read
                # below, says whose it was. What is still queued behind it is
                # read on the next round of poll().
                probe = self.connected.get(fd)
                if probe is not None:
                    self.session.on_icmp_error(exc.errno or 0, probe)
                elif not self.recverr.get(fd):
                    self.session.stray += 1
                break
            t4 = _stamps.rx_ns(ancillary) if self.kernel_stamps else None
            if t4 is None:
                self.session.on_datagram(data, source, clock(), USER)
            else:
                self.session.on_datagram(data, source, t4, KERNEL)
        if self.recverr.get(fd):
            self._drain_errors(sock)

    def _drain_errors(self, sock: socket.socket) -> None:
        keys = self.tx_keys.get(sock.fileno())
        while True:
            try:
                quoted, ancillary, _flags, destination = sock.recvmsg(
                    RECV_MAX, _errqueue.CONTROL_LEN, _errqueue.MSG_ERRQUEUE)
            except BlockingIOError:
                return
            stamp = _stamps.tx_stamp(ancillary)
            if stamp is not None:
                request = None if keys is None else keys.pop(stamp.key, None)
                if request is not None:
                    self.session.on_tx_stamp(request, stamp.unix_ns)
                continue
            error = _errqueue.extended_error(ancillary)
            if error is not None:
                self.session.on_icmp_error(error.errno, quoted=quoted, destination=destination)


def _new_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


def open_round(session: Session) -> Round:
    """Sockets for the session's probes: connected for a lone probe, one
    unconnected socket per family otherwise. A probe whose socket cannot be
    made (no IPv6 here) fails with the reason."""
    rnd = Round(session)
    try:
        if len(session.probes) == 1:
            probe = session.probes[0]
            try:
                sock = _new_socket(probe.family)
            except OSError as exc:
                session.send_failed(probe, exc)
                return rnd
            try:
                sock.connect(probe.sockaddr)
            except OSError as exc:
                sock.close()
                session.send_failed(probe, exc)
                return rnd
            rnd.connected[sock.fileno()] = probe
            rnd.add(sock, [probe])
            return rnd
        for family in sorted({probe.family for probe in session.probes}):
            probes = [probe for probe in session.probes if probe.family == family]
            try:
                sock = _new_socket(family)
            except OSError as exc:
                for probe in probes:
                    session.send_failed(probe, exc)
                continue
            rnd.add(sock, probes)
            rnd.recverr[sock.fileno()] = _errqueue.enable(sock, family)
        return rnd
    except BaseException:
        rnd.close()
        raise

