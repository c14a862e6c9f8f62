"""The fleet's IPv4 probes up to 576 bytes go with DF set and IP ID 0 (the
kernel draws no ID for them: IP_PMTUDISC_PROBE); larger ones keep the
kernel's default mode and still get their answers. Seen on the wire by a raw
socket of the test's own, which loopback hands every echo request before the
kernel answers it."""

from __future__ import annotations

import socket
import struct
from types import ModuleType
from typing import List, Tuple

from support import need_root

from pynet import _ping_loop as pl
from pynet import fleet
from pynet.fleet._socket import DF_UP_TO, open_sockets

TARGETS = ["127.31.0.10", "127.31.0.9"]   # sorted, as requests_seen() returns them
IP_DF = 0x4000


def requests_seen(size: int, backend: ModuleType) -> List[Tuple[str, int, bool, int]]:
    """(destination, ICMP data bytes, DF, IP ID) of each echo request sent
    to TARGETS by one fleet.ping of that size, all answered."""
    need_root()
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sniff:
        results = fleet.ping(TARGETS, size=size, backend=backend.NAME)
        assert [r.received for r in results] == [1, 1], results
        sniff.setblocking(False)
        seen = []
        while True:
            try:
                packet = sniff.recv(65535)
            except BlockingIOError:
                break
            header = (packet[0] & 0x0F) * 4
            destination = socket.inet_ntoa(packet[16:20])
            if packet[header] == 8 and destination in TARGETS:
                ident, frag = struct.unpack_from("!HH", packet, 4)
                seen.append((destination, len(packet) - header - 8, bool(frag & IP_DF), ident))
    return sorted(seen)


def test_small_probes_carry_df_and_no_ip_id(backend: ModuleType) -> None:
    assert requests_seen(56, backend) == [(t, 56, True, 0) for t in TARGETS]


def test_the_largest_small_probe_too(backend: ModuleType) -> None:
    size = DF_UP_TO - 28
    assert requests_seen(size, backend) == [(t, size, True, 0) for t in TARGETS]


def test_larger_probes_keep_the_kernels_mode(backend: ModuleType) -> None:
    seen = requests_seen(1400, backend)
    assert [(t, n) for t, n, _df, _id in seen] == [(t, 1400) for t in TARGETS]
    with open_sockets([4], payload_len=1400) as big, open_sockets([4], payload_len=56) as small:
        mode = {name: s.socks[4].getsockopt(socket.IPPROTO_IP, pl.IP_MTU_DISCOVER)
                for name, s in (("big", big), ("small", small))}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        default = plain.getsockopt(socket.IPPROTO_IP, pl.IP_MTU_DISCOVER)
    assert mode == {"big": default, "small": pl.PMTUDISC["probe"]}
