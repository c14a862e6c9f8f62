"""What the two ping-loop backends share: the loop's configuration, its
counters, and the record it writes per event (struct pn_ping_config,
pn_ping_state and pn_ping_record in csrc/pynet.h).

The C loop is csrc/ping.c (wrapped by pynet/_c/ping.py), its pure-Python
twin pynet/_reference/ping.py; both take a LoopConfig, return records as
plain tuples in RECORD layout, and must agree record for record.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Tuple

__all__ = [
    "BAD_CHECKSUM", "DUP", "ERROR", "FLOOD_WAIT_NS", "LOCAL_ERROR", "NOTICE", "OUTSTANDING",
    "RECORD", "REPLY", "SEND_FAILED", "SEQS", "Counters", "LoopConfig", "Record",
]

# enum pn_ping_kind
REPLY = 1
ERROR = 2
LOCAL_ERROR = 3
SEND_FAILED = 4
NOTICE = 5
OUTSTANDING = 6
# enum pn_ping_flag
DUP = 1
BAD_CHECKSUM = 2

# Flood mode sends the next request when the last one is answered, or after
# this long: a hundred requests a second, as iputils does.
FLOOD_WAIT_NS = 10_000_000
SEQS = 65536
# Room for the largest IPv4 datagram: -s 65000 is never truncated.
RXBUF = 65600

# struct pn_ping_record: ten int64 fields, then the sender's address.
RECORD = struct.Struct("=10q16s")

# (kind, seq, rtt_ns, ttl, bytes, flags, type, code, info, when_ns, from)
Record = Tuple[int, int, int, int, int, int, int, int, int, int, bytes]


class LoopConfig(NamedTuple):
    fd: int
    family: int                # 4 or 6
    raw: bool                  # raw socket: our id; IPv4 replies carry the IP header
    ident: int                 # echo id on raw sockets
    target: bytes              # packed address, 4 or 16 bytes
    scope_id: int = 0
    payload_len: int = 56
    report_outstanding: bool = False
    interval_ns: int = 1_000_000_000
    count: int = 0  # type: ignore[assignment]  # 0: no limit (shadows tuple.count, unused)
    deadline_ns: int = 0       # CLOCK_MONOTONIC; 0: none
    linger_ns: int = 10_000_000_000
    batch: int = 4096          # records per call at most


class Counters(NamedTuple):
    transmitted: int
    received: int
    duplicates: int
    corrupted: int
    errors: int
    malformed: int
    pipesize: int
    first_send_ns: int         # CLOCK_MONOTONIC
    last_send_ns: int
    done: bool

# Socket options the loop relies on, which Python's socket module lacks
# (Linux numbers; SCM_TIMESTAMPNS equals SO_TIMESTAMPNS).
SO_TIMESTAMPNS = 35
IP_TTL = 2
IP_RECVTTL = 12
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
SOL_RAW = 255
ICMP_FILTER = 1            # level SOL_RAW: a 32-bit mask of ICMP types to drop
ICMP6_FILTER = 1           # level IPPROTO_ICMPV6: 256 bits, set = drop
