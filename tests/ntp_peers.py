"""NTP peers for the SNTP tests: a real chronyd on loopback, and a scripted
fake server for what chrony will not do on demand (Kiss-o'-Death, spoofed
or malformed replies, replies from the wrong port, silence).

The fake server builds its replies with plain struct code written here, not
with pynet, so a mistake in pynet's packet code cannot hide in both."""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

from support import program

from pynet.bench import _chrony

NTP_FORMAT = struct.Struct("!BBbbII4sQQQQ")
NTP_UNIX_OFFSET_S = 2208988800
WAIT_S = 10.0


def ntp_stamp(unix_ns: int) -> int:
    """64-bit NTP timestamp (era dropped) of a UNIX time in nanoseconds."""
    return (((unix_ns + NTP_UNIX_OFFSET_S * 10**9) << 32) // 10**9) & ((1 << 64) - 1)


def unpack(data: bytes) -> Tuple[int, ...]:
    return NTP_FORMAT.unpack_from(data)


def reply(request: bytes, *, shift_ns: int = 0, clock: Callable[[], int] = time.time_ns,
          leap: int = 0, version: Optional[int] = None, mode: int = 4, stratum: int = 2,
          ref_id: bytes = b"\xc0\x00\x02\x01", originate: Optional[int] = None,
          transmit: Optional[int] = None, precision: int = -20,
          root_delay: int = 0x0000_0200, root_dispersion: int = 0x0000_0400) -> bytes:
    """A server reply to request from a clock shift_ns ahead of `clock`."""
    first, *_, req_transmit = unpack(request)
    now = ntp_stamp(clock() + shift_ns)
    return NTP_FORMAT.pack(
        (leap << 6) | ((first >> 3 & 7 if version is None else version) << 3) | mode,
        stratum, 6, precision, root_delay, root_dispersion, ref_id,
        ntp_stamp(clock() + shift_ns - 64 * 10**9),
        req_transmit if originate is None else originate,
        now, now if transmit is None else transmit)


# A script gets the request and returns what to send back: (datagram, from
# the other socket?) pairs; the other socket has another port.
Script = Callable[[bytes], List[Tuple[bytes, bool]]]


def answer(**kwargs: object) -> Script:
    return lambda request: [(reply(request, **kwargs), False)]  # type: ignore[arg-type]


def silence(request: bytes) -> List[Tuple[bytes, bool]]:
    return []


class FakeNtp:
    """A UDP server on loopback that answers each request with its script,
    recording (request, client address) pairs."""

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.other = socket.socket(family, socket.SOCK_DGRAM)
        self.other.bind((host, 0))
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.script = script
        self.requests: List[Tuple[bytes, Tuple[object, ...]]] = []
        self.errors: List[BaseException] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in sel.select()]
                if self._wake_r in ready:
                    return
                try:
                    data, client = self.sock.recvfrom(2048)
                    self.requests.append((data, client))
                    for datagram, from_other in self.script(data):
                        (self.other if from_other else self.sock).sendto(datagram, client)
                except BaseException as exc:
                    self.errors.append(exc)

    def stop(self) -> None:
        self._wake_w.send(b"x")
        self._thread.join(WAIT_S)
        for s in (self.sock, self.other, self._wake_r, self._wake_w):
            s.close()


@contextlib.contextmanager
def fake_ntp(script: Script, host: str = "127.0.0.1") -> Iterator[FakeNtp]:
    server = FakeNtp(script, host)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def fake_ntp_group(*scripts: Script) -> Iterator[List[FakeNtp]]:
    """Fake servers on 127.0.0.1, 127.0.0.2, ... sharing one port, like the
    course's three pool servers on port 123."""
    servers: List[FakeNtp] = []
    try:
        for index, script in enumerate(scripts):
            port = servers[0].port if servers else 0
            servers.append(FakeNtp(script, f"127.0.0.{index + 1}", port))
        yield servers
    finally:
        for server in servers:
            server.stop()


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on (a datagram to it draws ICMP port unreachable)."""
    return _chrony.free_udp_port(host)


@contextlib.contextmanager
def chronyd(workdir: Path) -> Iterator[int]:
    """A real chronyd serving NTP on 127.0.0.1 and ::1 at a free port, with
    its own local clock as reference (stratum 10) and hands off the system
    clock (-x): the benchmark's (pynet.bench._chrony). Yields the port once
    it answers; stopped on exit."""
    with _chrony.chronyd(workdir, program("chronyd")) as port:
        yield port
