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
"""

from __future__ import annotations

import socket
from typing import Dict, List

from .. import _errqueue
from ._session import Probe, Session

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

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def send_all(self) -> None:
        """Send every request; a failure to send is that probe's result."""
        for sock in self.sockets:
            for probe in self.by_socket[sock.fileno()]:
                data = self.session.request(probe)
                try:
                    if sock.fileno() in self.connected:
                        sock.send(data)
                    else:
                        sock.sendto(data, probe.sockaddr)
                except OSError as exc:
                    self.session.send_failed(probe, exc)

    def drain(self, sock: socket.socket) -> None:
        """Read every datagram and queued ICMP error the socket holds."""
        fd = sock.fileno()
        clock = self.session.clock
        while True:
            try:
                data, source = sock.recvfrom(RECV_MAX)
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
            self.session.on_datagram(data, source, clock())
        if self.recverr.get(fd):
            self._drain_errors(sock)

    def _drain_errors(self, sock: socket.socket) -> None:
        while True:
            try:
                quoted, ancillary, _flags, destination = sock.recvmsg(
                    RECV_MAX, _errqueue.CONTROL_LEN, _errqueue.MSG_ERRQUEUE)
            except BlockingIOError:
                return
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
            rnd.sockets.append(sock)
            rnd.connected[sock.fileno()] = probe
            rnd.by_socket[sock.fileno()] = [probe]
            return rnd
        for family in sorted({probe.family for probe in session.probes}):
            probes = [probe for probe in session.probes if probe.family == family]
            try:
                sock = _new_socket(family)
            except OSError as exc:
                for probe in probes:
                    session.send_failed(probe, exc)
                continue
            rnd.sockets.append(sock)
            rnd.by_socket[sock.fileno()] = probes
            rnd.recverr[sock.fileno()] = _errqueue.enable(sock, family)
        return rnd
    except BaseException:
        rnd.close()
        raise

