"""Prints the IPv6 flow label of every ICMPv6 echo request the namespace it
runs in receives, for the -F tests: run it as root inside a network
namespace of the test's own, ping ::1 there, then close its standard input.

It prints "ready" once listening, then one line per request:

    FLOWLABEL ID SEQ

(the label in hex). The kernel hands a raw ICMPv6 socket each request's
flow information as a control message (IPV6_FLOWINFO), so no packet
capture is needed. It stops when its standard input closes, after printing
every request already queued: the kernel queues a request to this socket
before it answers it, so every request that ping saw answered is printed
even when the close and the request are seen by one select() together.
"""

from __future__ import annotations

import select
import socket
import struct
import sys

IPV6_FLOWINFO = 11          # a bool: the flow information as a cmsg
ICMP6_FILTER = 1
ECHO_REQUEST = 128
FLOWLABEL_MASK = 0xFFFFF
ECHO = struct.Struct("!BBHHH")


def main() -> int:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    # ICMP6_FILTER: 256 bits, a set bit blocks the type; let echo requests only.
    blocked = bytearray(b"\xff" * 32)
    blocked[ECHO_REQUEST >> 3] &= ~(1 << (ECHO_REQUEST & 7)) & 0xFF
    sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, bytes(blocked))
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FLOWINFO, 1)
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select([sock, sys.stdin], [], [], 30)
        if not readable or sys.stdin in readable:
            break   # stdin closed (or nothing for 30 s): the test is done
        report(sock)
    sock.setblocking(False)
    try:
        while True:
            report(sock)
    except BlockingIOError:
        return 0


def report(sock: socket.socket) -> None:
    """Read one packet and print its line, if it is an echo request with
    its flow information."""
    data, ancdata, _flags, _address = sock.recvmsg(2048, 256)
    label = None
    for level, kind, value in ancdata:
        if level == socket.IPPROTO_IPV6 and kind == IPV6_FLOWINFO and len(value) >= 4:
            label = struct.unpack("!I", value[:4])[0] & FLOWLABEL_MASK
    if label is None or len(data) < ECHO.size:
        return
    _type, _code, _sum, ident, seq = ECHO.unpack_from(data)
    print(f"{label:05x} {ident} {seq}", flush=True)

if __name__ == "__main__":
    sys.exit(main())
