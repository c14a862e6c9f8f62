"""A misbehaving responder for the fleet tests: run it (as root) inside a
network namespace whose kernel does not answer pings
(net.ipv4.icmp_echo_ignore_all=1) and holds the addresses .10 to .21 of its
subnet. It reads echo requests on a raw socket and answers each according to
the last byte of the address it was sent to (BEHAVIOUR below), sending
through an IP_HDRINCL socket so that it can pick any source address. It
prints "ready" once listening, then "ADDRESS ACTION" per request, and stops
when its standard input closes. Built from tests/ping_responder.py's pieces.
"""

from __future__ import annotations

import select
import socket
import struct
import sys

from ping_responder import ICMP, checksum, icmp

BEHAVIOUR = {
    10: "reply",
    11: "duplicate",        # the reply, twice
    12: "corrupt",          # one reply with a wrong checksum, nothing else
    13: "wrong-key",        # the reply with the payload's key changed
    14: "wrong-source",     # the reply, sent from the subnet's .2
    15: "foreign-id",       # the reply with another echo id
    16: "unreachable",      # host unreachable quoting the whole request
    17: "unreachable8",     # host unreachable quoting 8 bytes of it (RFC 792's least)
    18: "foreign-error",    # an error quoting someone else's probe (other key), then the reply
    19: "oversize",         # a 3000-byte reply (too long to be ours: truncated), then the reply
    20: "silent",
    21: "wrong-index",      # the reply with the target index of .10's probe
}


def ip_header(src: str, dst: str, body: bytes) -> bytes:
    """IPv4 header for IP_HDRINCL: the kernel fills in the checksum and id."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, 1, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + body


def reply(ident: int, seq: int, payload: bytes) -> bytes:
    return icmp(0, 0, struct.pack("!HH", ident, seq), payload)


def answers(datagram: bytes, mine: str, peer: str, primary: str) -> "list[tuple[str, bytes]]":
    """(source, ICMP message) pairs to send for one request."""
    ihl = (datagram[0] & 0x0F) * 4
    _type, _code, _sum, ident, seq = ICMP.unpack_from(datagram, ihl)
    payload = datagram[ihl + 8:]
    action = BEHAVIOUR.get(int(mine.rsplit(".", 1)[1]), "silent")
    good = reply(ident, seq, payload)
    if action == "reply":
        return [(mine, good)]
    if action == "duplicate":
        return [(mine, good), (mine, good)]
    if action == "corrupt":
        bad = bytearray(good)
        bad[2] ^= 0x5A
        return [(mine, bytes(bad))]
    if action == "wrong-key":
        return [(mine, reply(ident, seq, bytes([payload[0] ^ 1]) + payload[1:]))]
    if action == "wrong-source":
        return [(primary, good)]
    if action == "foreign-id":
        return [(mine, reply(ident ^ 0x5555, seq, payload))]
    if action == "unreachable":
        return [(mine, icmp(3, 1, b"\0\0\0\0", datagram))]
    if action == "unreachable8":
        return [(mine, icmp(3, 1, b"\0\0\0\0", datagram[:ihl + 8]))]
    if action == "foreign-error":
        other = bytearray(datagram)
        other[ihl + 8] ^= 1                       # the quoted key: not ours
        struct.pack_into("!H", other, ihl + 2, 0)
        struct.pack_into("!H", other, ihl + 2, checksum(bytes(other[ihl:])))
        return [(mine, icmp(3, 1, b"\0\0\0\0", bytes(other))), (mine, good)]
    if action == "oversize":
        return [(mine, reply(ident, seq, payload + bytes(3000))), (mine, good)]
    if action == "wrong-index":
        index = struct.unpack_from("!I", payload, 8)[0]
        wrong = payload[:8] + struct.pack("!I", index - 11) + payload[12:]
        return [(mine, reply(ident, seq, wrong))]
    return []


def main() -> int:
    primary = sys.argv[1]
    listen = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    listen.setblocking(False)
    send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    poller = select.poll()
    poller.register(listen, select.POLLIN)
    poller.register(sys.stdin, select.POLLIN)
    print("ready", flush=True)
    while True:
        for fd, _event in poller.poll():
            if fd == sys.stdin.fileno():
                if not sys.stdin.readline():
                    return 0
                continue
            while True:
                try:
                    data, (peer, _port) = listen.recvfrom(70000)
                except BlockingIOError:
                    break
                ihl = (data[0] & 0x0F) * 4
                if len(data) < ihl + 8 + 16 or data[ihl] != 8:
                    continue
                mine = socket.inet_ntoa(data[16:20])
                out = answers(data, mine, peer, primary)
                action = BEHAVIOUR.get(int(mine.rsplit(".", 1)[1]), "silent")
                for source, message in out:
                    try:
                        send.sendto(ip_header(source, peer, message), (peer, 0))
                    except OSError as exc:   # said, not fatal: the test sees what is missing
                        action += f"-failed:{exc.errno}"
                print(f"{mine} {action}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
