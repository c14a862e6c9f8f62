"""A router that answers with ICMP extensions, for the tests: run it (as
root) in a router namespace whose kernel never sees the probes that expire
there (nftables drops IPv4 packets arriving with TTL 1 at prerouting). It
reads those probes from a packet socket on the interface given and answers
each with a time exceeded from ADDRESS, quoting 128 bytes of the probe
(RFC 4884) followed by an extension structure: the n-th probe gets
VARIANTS[n % len(VARIANTS)], some of them broken on purpose. It prints
"ready" once listening, one line "N VARIANT" per answer, and stops when its
standard input closes.

    python trace_responder.py INTERFACE ADDRESS
"""

from __future__ import annotations

import select
import socket
import struct
import sys

ETH_P_IP = 0x0800
ETH_HEADER = 14
QUOTED = 128
MPLS_GOOD = (16001 << 12) | (0 << 9) | (1 << 8) | 1        # label 16001, TC 0, S 1, TTL 1
MPLS_TWO = ((24000 << 12) | (5 << 9) | 7, (16 << 12) | (1 << 8) | 254)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def structure(objects: bytes, *, version: int = 2, good_sum: bool = True,
              no_sum: bool = False) -> bytes:
    head = struct.pack("!BBH", version << 4, 0, 0) + objects
    value = 0 if no_sum else checksum(head) if good_sum else 0x1234
    return head[:2] + struct.pack("!H", value) + head[4:]


def mpls(*entries: int) -> bytes:
    return struct.pack("!HBB", 4 + 4 * len(entries), 1, 1) + b"".join(
        struct.pack("!I", e) for e in entries)


def interface(ifindex: int, address: str, name: str, mtu: int) -> bytes:
    raw_name = name.encode()
    size = (1 + len(raw_name) + 3) & ~3
    body = (struct.pack("!I", ifindex) + struct.pack("!HH", 1, 0) + socket.inet_aton(address) +
            bytes([size]) + raw_name.ljust(size - 1, b"\0") + struct.pack("!I", mtu))
    ctype = (0 << 6) | 0x08 | 0x04 | 0x02 | 0x01
    return struct.pack("!HBB", 4 + len(body), 2, ctype) + body


# name -> (extension bytes, the RFC 4884 length in words or None for "right")
VARIANTS = [
    ("mpls", structure(mpls(MPLS_GOOD)), None),
    ("bad-checksum", structure(mpls(MPLS_GOOD), good_sum=False), None),
    ("two-labels+interface", structure(mpls(*MPLS_TWO) + interface(7, "10.9.9.9", "ge-0/0/1",
                                                                  1500)), None),
    ("bad-version", structure(mpls(MPLS_GOOD), version=1), None),
    ("object-too-long", structure(struct.pack("!HBB", 200, 1, 1) + b"\0" * 8), None),
    ("length-beyond", structure(mpls(MPLS_GOOD)), 250),
    ("truncated-object", structure(mpls(MPLS_GOOD), no_sum=True)[:-2], None),
]


def answer(probe: bytes, ext: bytes, length: "int | None") -> bytes:
    quoted = probe[:QUOTED].ljust(QUOTED, b"\0")
    words = QUOTED // 4 if length is None else length
    body = quoted + ext
    head = struct.pack("!BBHBBH", 11, 0, 0, 0, words, 0)
    value = checksum(head + body)
    return struct.pack("!BBHBBH", 11, 0, value, 0, words, 0) + body


def main() -> None:
    interface_name, address = sys.argv[1], sys.argv[2]
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    sniff.bind((interface_name, 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    out.bind((address, 0))
    print("ready", flush=True)
    n = 0
    while True:
        ready, _, _ = select.select([sniff, sys.stdin], [], [])
        if sys.stdin in ready and not sys.stdin.readline():
            return
        if sniff not in ready:
            continue
        frame, meta = sniff.recvfrom(65535)
        if meta[2] == socket.PACKET_OUTGOING:
            continue
        packet = frame[ETH_HEADER:] if meta[3] == 1 else frame  # ARPHRD_ETHER
        if len(packet) < 20 or packet[0] >> 4 != 4 or packet[8] != 1:
            continue
        source = socket.inet_ntoa(packet[12:16])
        name, ext, length = VARIANTS[n % len(VARIANTS)]
        out.sendto(answer(packet, ext, length), (source, 0))
        print(n, name, flush=True)
        n += 1


if __name__ == "__main__":
    main()
