"""What the two ping-loop backends share: the loop's configuration, its
counters, and the record it writes per event (struct pn_ping_config,
pn_ping_state and pn_ping_record in csrc/pynet.h).

The C loop is csrc/ping.c (wrapped by pynet/_c/ping.py), its pure-Python
twin pynet/_reference/ping.py; both take a LoopConfig, return records as
plain tuples in RECORD layout, and must agree record for record.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Tuple, TypeAlias
else:
    from ._records import NamedTuple

__all__ = [
    "BAD_CHECKSUM", "DUP", "ERROR", "FLOOD_WAIT_NS", "LOCAL_ERROR", "NOTICE", "OPTIONS_MAX",
    "OUTSTANDING", "PATTERN_MAX", "RECORD", "REPLY", "SEND_FAILED", "SEQS", "WRONG_DATA", "Counters",
    "LoopConfig", "Record",
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
# The payload differs from what was sent: the record's type is the index of
# the first byte that differs, code the byte sent, info the byte received.
WRONG_DATA = 4
# -p: at most this many pattern bytes.
PATTERN_MAX = 16
# The most IPv4 option bytes a header holds (60 minus the fixed 20).
OPTIONS_MAX = 40

# Flood mode sends the next request when the last one is answered, or after
# this long: a hundred requests a second, as iputils does.
FLOOD_WAIT_NS = 10_000_000
SEQS = 65536
# Room for the largest IPv4 datagram: -s 65000 is never truncated.
RXBUF = 65600

# struct pn_ping_record: ten int64 fields, the sender's address, then the
# IPv4 options a reply came with (their length, and the bytes, zero-padded).
RECORD = struct.Struct(f"=10q16sq{OPTIONS_MAX}s")

# (kind, seq, rtt_ns, ttl, bytes, flags, type, code, info, when_ns, from,
#  options_len, options)
Record: TypeAlias = "Tuple[int, int, int, int, int, int, int, int, int, int, bytes, int, bytes]"


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
    pattern: bytes = b""       # -p: payload fill, repeated; empty: bytes counting up
    preload: int = 1           # -l: requests sent at once before pacing starts
    adaptive: bool = False     # -A: the interval follows the moving average round trip
    user_latency: bool = False  # -U: replies timed on reading, not by the kernel
    min_interval_ns: int = 0   # -A: the shortest interval allowed
    any_source: bool = False   # -b: a broadcast target, answered from other addresses
    flowinfo: int = 0          # -F: the IPv6 flow label every request carries


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
    wrong_data: int = 0        # replies whose payload differed from what was sent

# Socket options the loop relies on, which Python's socket module lacks
# (Linux numbers; SCM_TIMESTAMPNS equals SO_TIMESTAMPNS).
SO_TIMESTAMPNS = 35
IP_TTL = 2
IP_RECVTTL = 12
IP_RETOPTS = 7             # datagram sockets: a reply's IPv4 options, as a cmsg
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
SOL_RAW = 255
ICMP_FILTER = 1            # level SOL_RAW: a 32-bit mask of ICMP types to drop
ICMP6_FILTER = 1           # level IPPROTO_ICMPV6: 256 bits, set = drop
SO_RXQ_OVFL = 40           # a cmsg per packet: the socket's drops since it was made
SO_MEMINFO = 55            # getsockopt: struct of u32, SK_MEMINFO_DROPS the ninth
SO_RCVBUFFORCE = 33        # SO_RCVBUF past net.core.rmem_max (CAP_NET_ADMIN)
SO_ATTACH_FILTER = 26
IP_MTU_DISCOVER = 10
IPV6_MTU_DISCOVER = 23
SO_MARK = 36
IPV6_TCLASS = 67
# The path-MTU discovery modes, the same numbers for IPv4 and IPv6.
PMTUDISC = {"dont": 0, "want": 1, "do": 2, "probe": 3}
