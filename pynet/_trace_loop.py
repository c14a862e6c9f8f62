"""What the two traceroute-loop backends share: the loop's configuration,
the record it writes per probe (struct pn_trace_config and pn_trace_record
in csrc/pynet.h), and the probe layout both build.

The C loop is csrc/trace.c (wrapped by pynet/_c/trace.py), its pure-Python
twin pynet/_reference/trace.py; both take a LoopConfig and return records
as plain tuples in RECORD layout, and must agree record for record.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Tuple, TypeAlias
else:
    from ._records import NamedTuple

__all__ = [
    "DEST", "EXT_MAX", "FINAL", "ICMP", "MAX_PROBES", "MAX_QUERIES", "MAX_TTL", "PAYLOAD_MIN",
    "RECORD", "REPLY", "SEND_FAILED", "TCP", "TCP_REPLY", "TIMEOUT", "UDP", "UDP_FIXED",
    "Counters", "LoopConfig", "Record", "loop_config", "probe_word",
]

# enum pn_trace_method
UDP = 1          # ports as Linux traceroute: 33434 + probe number (Paris: fixed)
UDP_FIXED = 2    # -U: one destination port for every probe
ICMP = 3         # -I: echo requests
TCP = 4          # -T: SYN to one port
# enum pn_trace_kind
REPLY = 1        # an answer to the probe: ICMP error, echo reply, TCP segment
TIMEOUT = 2      # no answer within the wait
SEND_FAILED = 3  # sendto failed for good (info: errno)
# enum pn_trace_flag
FINAL = 1        # the answer ends the trace (anything but time exceeded)
DEST = 2         # it came from the target itself
# The type a record carries for a TCP answer (code: the TCP flags).
TCP_REPLY = 256

MAX_TTL = 255
MAX_QUERIES = 10
MAX_PROBES = MAX_TTL * MAX_QUERIES
# Bytes of an ICMP extension structure (RFC 4884) a record keeps at most.
EXT_MAX = 128
# The probe's marker in UDP data and ICMP echo data: the probe number, its
# one's complement (so the checksum stays constant across probes: Paris),
# and the run's key.
PROBE_MARK = struct.Struct("!HHI")
MAX_PACKET = 65536      # the largest probe (PN_TRACE_MAX_PACKET): a packet length up to 65000
PAYLOAD_MIN = PROBE_MARK.size

# struct pn_trace_record: eleven int64 fields, the sender's address, the
# extension bytes.
RECORD = struct.Struct(f"=11q16s{EXT_MAX}s")

# (ttl, probe, kind, flags, type, code, rtt_ns, reply_ttl, info, when_ns, ext_len, from, ext)
Record: TypeAlias = "Tuple[int, int, int, int, int, int, int, int, int, int, int, bytes, bytes]"


class LoopConfig(NamedTuple):
    fd: int                    # the probe socket (UDP datagram, ICMP raw/datagram, raw TCP)
    rfd: int                   # a raw ICMP socket for the answers, or -1: fd's error queue
    family: int                # 4 or 6
    method: int                # UDP, UDP_FIXED, ICMP, TCP
    raw: bool                  # fd is a raw socket
    target: bytes              # packed, 4 or 16 bytes
    source: bytes              # packed source address (the TCP checksum)
    port: int                  # destination port (UDP: the base)
    sport: int                 # our source port (UDP: the bound one; TCP: chosen)
    ident: int                 # ICMP echo id (datagram sockets: the kernel's, from bind)
    key: int                   # 32 random bits that mark this run's probes
    scope_id: int = 0
    classic: bool = False      # the flow changes per probe (ports, ICMP checksum)
    first_ttl: int = 1
    max_ttl: int = 30
    queries: int = 3
    sim: int = 16
    packet_len: int = 60       # the whole datagram, IP header included
    wait_ns: int = 5_000_000_000
    pause_ns: int = 0
    here_milli: int = 3000     # -w MAX,HERE,NEAR as Linux traceroute: 5,3,10
    near_milli: int = 10000
    batch: int = 1024          # records per call at most


class Counters(NamedTuple):
    sent: int
    answered: int
    malformed: int             # packets that could not be parsed
    unmatched: int             # well-formed answers to nobody's probe here
    final_ttl: int             # the lowest TTL whose answer ended the trace; 0: none yet
    done: bool


_FIELDS = frozenset(LoopConfig._fields)
_REQUIRED = _FIELDS - LoopConfig._field_defaults.keys()


def loop_config(**values: Any) -> LoopConfig:
    """LoopConfig(**values), with one error naming every unknown and missing
    field at once."""
    unknown, missing = values.keys() - _FIELDS, _REQUIRED - values.keys()
    if unknown or missing:
        raise TypeError(f"LoopConfig: unknown {sorted(unknown)}, missing {sorted(missing)}")
    return LoopConfig(**values)


def probe_count(config: LoopConfig) -> int:
    return (config.max_ttl - config.first_ttl + 1) * config.queries


def probe_word(config: LoopConfig, index: int) -> int:
    """The 16-bit value that tells probe `index` apart: the UDP/TCP probe
    number, or the ICMP sequence."""
    return (index + 1) & 0xFFFF
