"""The contestants of the micro-benchmarks: pynet's two backends and every
installed peer that has the same function. Each task is defined once, as
what its caller gets back, so every row does the same work."""

from __future__ import annotations

import socket
import struct
from typing import Any, Callable, Dict, Tuple

import pynet
from pynet import _backend, icmp

Fn = Callable[[bytes], Any]
py = _backend.load("python")


def _c_live() -> None:
    if pynet.backend != "c":
        raise RuntimeError("benchmarks need the C backend live (unset PYNET_BACKEND)")


# ---- checksum(data) -> int ------------------------------------------------------

def checksum_peers() -> Dict[str, Fn]:
    _c_live()
    peers: Dict[str, Fn] = {
        "pynet-c": pynet.checksum,
        "pynet-python": lambda data: py.checksum(data, 0),
    }
    try:
        from scapy.utils import checksum as scapy_checksum
        peers["scapy"] = scapy_checksum
    except ImportError:
        pass
    try:
        import dpkt
        peers["dpkt"] = dpkt.in_cksum
    except ImportError:
        pass
    try:
        import ping3

        # ping3 returns the checksum with its bytes swapped (it sums
        # little-endian words): the same work, read back the other way round.
        peers["ping3"] = ping3.checksum
    except ImportError:
        pass
    try:
        from icmplib.sockets import ICMPSocket
        peers["icmplib"] = lambda data: ICMPSocket._checksum(None, data)  # type: ignore[arg-type]
    except ImportError:
        pass
    return peers


# ---- build an echo request (id, seq, 56-byte payload) -> bytes -----------------------

PAYLOAD = bytes(range(56))
ID = 0x1234


def build_peers() -> Dict[str, Callable[[int], bytes]]:
    """Each builds the echo request with sequence number seq."""
    _c_live()
    peers: Dict[str, Callable[[int], bytes]] = {
        "pynet-c": lambda seq: icmp.echo_request(ID, seq, PAYLOAD),
        "pynet-python": lambda seq: py.echo_build(4, 8, 0, ID, seq, PAYLOAD, None, None),
    }
    try:
        import dpkt
        echo, icmp_cls = dpkt.icmp.ICMP.Echo, dpkt.icmp.ICMP
        peers["dpkt"] = lambda seq: bytes(icmp_cls(type=8, data=echo(id=ID, seq=seq, data=PAYLOAD)))
    except ImportError:
        pass
    try:
        from scapy.all import ICMP, raw
        peers["scapy"] = lambda seq: raw(ICMP(type=8, id=ID, seq=seq) / PAYLOAD)
    except ImportError:
        pass
    try:
        from icmplib.sockets import ICMPv4Socket
        sock = object.__new__(ICMPv4Socket)
        sock._sock = None  # type: ignore[attr-defined]  # no socket: __del__ has nothing to close
        peers["icmplib"] = lambda seq: sock._create_packet(ID, seq, PAYLOAD)
    except ImportError:
        pass
    return peers


# ---- parse a raw-socket echo reply ----------------------------------------------------
# The timed call turns the packet into an object that holds what a ping needs:
# type, code, id, seq, payload, TTL, the source address as text, and whether
# the checksum verifies (a ping must count corrupted replies). Peers that do
# not verify on parse verify explicitly; "-noverify" rows skip that, for
# reference. FIELDS reads a row's object back, outside the timing, to check
# that every row found the same values.

def reply(seq: int) -> bytes:
    """An echo reply from 127.0.0.2 as a raw IPv4 socket returns it."""
    header = bytearray.fromhex("4500005412344000" "4001" "0000" "7f000002" "7f000001")
    header[10:12] = struct.pack("!H", pynet.checksum(header))
    return bytes(header) + icmp.echo_reply(ID, seq, PAYLOAD)


Parsed = Tuple[Callable[[bytes], Any], Callable[[Any], tuple]]


def _pynet_fields(m: Any) -> tuple:
    return m.type, m.code, m.id, m.seq, m.payload, m.ttl, m.source, m.checksum_ok


def parse_peers() -> Dict[str, Parsed]:
    _c_live()
    peers: Dict[str, Parsed] = {
        "pynet-c": (icmp.parse, _pynet_fields),
        "pynet-python": (lambda packet: py.parse(packet, 4, -1, None, None), _pynet_fields),
    }
    try:
        import dpkt

        def with_dpkt(verify: bool) -> Callable[[], Any]:
            def run(packet: bytes) -> Any:
                ip = dpkt.ip.IP(packet)
                ok = dpkt.in_cksum(packet[ip.hl * 4:]) == 0 if verify else None
                return ip, socket.inet_ntoa(ip.src), ok

            return run

        def dpkt_fields(r: Any) -> tuple:
            ip, source, ok = r
            return (ip.data.type, ip.data.code, ip.data.data.id, ip.data.data.seq,
                    ip.data.data.data, ip.ttl, source, ok)
        peers["dpkt"] = (with_dpkt(True), dpkt_fields)
        peers["dpkt-noverify"] = (with_dpkt(False), dpkt_fields)
    except ImportError:
        pass
    try:
        from scapy.all import ICMP, IP
        from scapy.utils import checksum as scapy_checksum

        def with_scapy(packet: bytes) -> Any:
            ip = IP(packet)
            return ip, scapy_checksum(packet[ip.ihl * 4:]) == 0

        def scapy_fields(r: Any) -> tuple:
            ip, ok = r
            ic = ip[ICMP]
            return ic.type, ic.code, ic.id, ic.seq, bytes(ic.payload), ip.ttl, ip.src, ok
        peers["scapy"] = (with_scapy, scapy_fields)
    except ImportError:
        pass
    try:
        from icmplib.sockets import ICMPv4Socket
        sock = object.__new__(ICMPv4Socket)
        sock._sock = None  # type: ignore[attr-defined]
        sock._privileged = True  # type: ignore[attr-defined]

        # icmplib takes the source from recvfrom rather than the header and
        # reads neither the TTL, the payload nor the checksum: a partial row.
        def icmplib_fields(r: Any) -> tuple:
            return r.type, r.code, r.id, r.sequence, None, None, r.source, None
        peers["icmplib-partial"] = (lambda packet: sock._parse_reply(packet, "127.0.0.2", 0.0),
                                      icmplib_fields)
    except ImportError:
        pass
    return peers


SIZES = {"64B": 64, "1500B": 1500, "64KiB": 64 * 1024, "1MiB": 1 << 20}
