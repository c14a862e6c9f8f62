"""A misbehaving ping responder, for the tests: run it (as root) inside a
network namespace whose kernel does not answer pings
(net.ipv4.icmp_echo_ignore_all=1). It reads echo requests on a raw socket
and answers each according to its sequence number (BEHAVIOUR below),
printing one line per request it handled:

    ID SEQ ACTION HOLD_NS

HOLD_NS is how long the reply was held: from the kernel's receive
timestamp of the request to just before the reply was sent. It prints
"ready" once listening, and stops when its standard input closes.

With `-6 ADDRESS` it answers ICMPv6 instead (net.ipv6.icmp.echo_ignore_all=1
in the namespace), sent from ADDRESS, following BEHAVIOUR6: the kernel
fills in ICMPv6 checksums on raw sockets, so there is no corrupt case.
With `--mangle` (IPv4) every request gets a plain reply whose payload has
one byte flipped (MANGLE_AT), for the wrong-data report.
"""

from __future__ import annotations

import heapq
import ipaddress
import select
import socket
import struct
import sys
import time
from typing import List, Tuple

SO_TIMESTAMPNS = 35
ICMP = struct.Struct("!BBHHH")
NS = 1_000_000_000

# seq -> what to do. Anything not listed gets one plain reply.
BEHAVIOUR = {
    2: "duplicate",         # the reply, twice
    3: "corrupt",           # one reply with a wrong checksum
    4: "delay30",           # the reply after 30 ms
    5: "foreign",           # a reply with another id only: for someone else
    6: "unreachable",       # Destination Host Unreachable quoting the request
    7: "foreign-error",     # an error quoting someone else's request, then the reply
    8: "delay80",           # the reply after 80 ms
    9: "ttl",               # Time to live exceeded quoting the request
    10: "malformed",        # a redirect quoting a cut-off header (unparseable), then the reply
}

BEHAVIOUR6 = {
    2: "duplicate",
    3: "unreachable",       # Destination unreachable: Address unreachable
    4: "delay30",
    5: "foreign",
    6: "ttl",               # Time exceeded: Hop limit
    7: "foreign-error",
}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp(icmp_type: int, code: int, rest: bytes, body: bytes) -> bytes:
    head = struct.pack("!BBH", icmp_type, code, 0) + rest
    value = checksum(head + body)
    return struct.pack("!BBH", icmp_type, code, value) + rest + body


def echo_reply(ident: int, seq: int, payload: bytes, corrupt: bool = False) -> bytes:
    packet = bytearray(icmp(0, 0, struct.pack("!HH", ident, seq), payload))
    if corrupt:
        packet[2] ^= 0x5A
    return bytes(packet)


def error(icmp_type: int, code: int, datagram: bytes) -> bytes:
    """An ICMP error quoting the IP header and the first 8 bytes after it."""
    ihl = (datagram[0] & 0x0F) * 4
    return icmp(icmp_type, code, b"\0\0\0\0", datagram[:ihl + 8])


def with_id(datagram: bytes, ident: int) -> bytes:
    ihl = (datagram[0] & 0x0F) * 4
    out = bytearray(datagram)
    struct.pack_into("!H", out, ihl + 4, ident)
    return bytes(out)


def echo_reply6(ident: int, seq: int, payload: bytes) -> bytes:
    return ICMP.pack(129, 0, 0, ident, seq) + payload  # the kernel sums it


def error6(icmp_type: int, code: int, message: bytes, src: str, dst: str) -> bytes:
    """An ICMPv6 error quoting the request: its IPv6 header, rebuilt (a raw
    ICMPv6 socket hands over no header), and the ICMPv6 message."""
    header = struct.pack("!IHBB16s16s", 6 << 28, len(message), 58, 64,
                         ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)
    return struct.pack("!BBHI", icmp_type, code, 0, 0) + (header + message)[:1232]


def with_id6(message: bytes, ident: int) -> bytes:
    return message[:4] + struct.pack("!H", ident) + message[6:]


def main6(address: str) -> int:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    return serve(sock, 6, address)


# --mangle: every reply comes back with payload byte MANGLE_AT flipped
# (past the 16-byte timestamp), for the wrong-data report.
MANGLE_AT = 20
MANGLE = {"on": False}


def mangled(payload: bytes) -> bytes:
    if len(payload) <= MANGLE_AT:
        return payload
    out = bytearray(payload)
    out[MANGLE_AT] ^= 0xFF
    return bytes(out)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "-6":
        return main6(sys.argv[2])
    if sys.argv[1:] == ["--mangle"]:
        MANGLE["on"] = True
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    return serve(sock, 4, "")


def serve(sock: socket.socket, family: int, address: str) -> int:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.register(sys.stdin, select.POLLIN)
    pending: List[Tuple[int, int, bytes, str, int, int, str, int]] = []
    print("ready", flush=True)
    counter = 0
    while True:
        timeout = -1
        if pending:
            timeout = max(0, (pending[0][0] - time.time_ns()) // 1_000_000 - 1)
        for fd, _event in poller.poll(timeout):
            if fd == sys.stdin.fileno():
                if not sys.stdin.readline():
                    return 0
                continue
            while True:
                try:
                    data, anc, _flags, addr = sock.recvmsg(70000, 512)
                except BlockingIOError:
                    break
                received = time.time_ns()
                for level, kind, value in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("=qq", value[:16])
                        received = sec * NS + nsec
                ihl = (data[0] & 0x0F) * 4 if family == 4 else 0
                icmp_type, _code, _sum, ident, seq = ICMP.unpack_from(data, ihl)
                if icmp_type != (8 if family == 4 else 128):
                    continue
                payload = data[ihl + 8:]
                if MANGLE["on"]:
                    payload = mangled(payload)
                host = addr[0]
                out: List[bytes] = []
                delay = 0
                if family == 6:
                    action = BEHAVIOUR6.get(seq, "reply")
                    if action == "duplicate":
                        out = [echo_reply6(ident, seq, payload)] * 2
                    elif action.startswith("delay"):
                        delay = int(action[5:]) * 1_000_000
                        out = [echo_reply6(ident, seq, payload)]
                    elif action == "foreign":
                        out = [echo_reply6(ident ^ 0x5555, seq, payload)]
                    elif action == "unreachable":
                        out = [error6(1, 3, data, host, address)]
                    elif action == "ttl":
                        out = [error6(3, 0, data, host, address)]
                    elif action == "foreign-error":
                        out = [error6(1, 3, with_id6(data, ident ^ 0x5555), host, address),
                               echo_reply6(ident, seq, payload)]
                    else:
                        out = [echo_reply6(ident, seq, payload)]
                    for packet in out:
                        counter += 1
                        heapq.heappush(pending, (received + delay, counter, packet, host, ident,
                                                 seq, action, received))
                    continue
                action = "reply" if MANGLE["on"] else BEHAVIOUR.get(seq, "reply")
                if action == "duplicate":
                    out = [echo_reply(ident, seq, payload)] * 2
                elif action == "corrupt":
                    out = [echo_reply(ident, seq, payload, corrupt=True)]
                elif action.startswith("delay"):
                    delay = int(action[5:]) * 1_000_000
                    out = [echo_reply(ident, seq, payload)]
                elif action == "foreign":
                    out = [echo_reply(ident ^ 0x5555, seq, payload)]
                elif action == "unreachable":
                    out = [error(3, 1, data)]
                elif action == "foreign-error":
                    out = [error(3, 1, with_id(data, ident ^ 0x5555)), echo_reply(ident, seq, payload)]
                elif action == "ttl":
                    out = [error(11, 0, data)]
                elif action == "malformed":
                    cut = icmp(5, 1, b"\0\0\0\0", b"\x45" + bytes(9))
                    out = [cut, echo_reply(ident, seq, payload)]
                else:
                    out = [echo_reply(ident, seq, payload)]
                for packet in out:
                    counter += 1
                    heapq.heappush(pending, (received + delay, counter, packet, host, ident, seq,
                                             action, received))
        while pending and pending[0][0] <= time.time_ns() + 1_000_000:
            due, _n, packet, host, ident, seq, action, received = heapq.heappop(pending)
            while time.time_ns() < due:
                pass  # the last millisecond spun away, for an exact hold
            sent = time.time_ns()
            sock.sendto(packet, (host, 0) if family == 4 else (host, 0, 0, 0))
            print(f"{ident} {seq} {action} {sent - received}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
