"""What the two fleet-engine backends share: the engine's configuration, its
counters, and the record it writes per event (struct pn_fleet_config,
pn_fleet_counters and pn_fleet_record in csrc/pynet.h).

The C engine is csrc/fleet.c (wrapped by pynet/_c/fleet.py), its pure-Python
twin pynet/_reference/fleet.py. Both implement the Engine protocol below,
take an EngineConfig, return records as plain tuples in RECORD layout, and
must agree record for record on the same traffic.

One engine probes many targets over one socket per address family. Targets
are numbered 0, 1, 2, ... in the order they are added (both families share
the numbering). A probe is one echo request to one target; probes of a
target are numbered 0, 1, 2, ... in the order they are sent, retries
included. A reply is matched only when it comes from the target's address,
carries our identifier (raw sockets; the kernel owns it on datagram sockets)
and echoes the payload we sent: the run's random key, the target index and
the probe number. The RTT runs from the send time kept in memory to the
kernel's receive timestamp; nothing in the payload is trusted for arithmetic.
"""

from __future__ import annotations

import struct

# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, NamedTuple, Protocol, Tuple
else:
    from ._records import NamedTuple

__all__ = [
    "ANSWERED", "BAD_CHECKSUM", "DONE", "DUP", "ERROR", "KEY_LEN", "MAX_PAYLOAD", "MAX_RETRIES",
    "MAX_TARGETS", "MAX_WINDOW", "MIN_PAYLOAD", "RECORD", "REPLY", "SEQ_LOG",
    "SEND_FAILED", "TIMEOUT", "Counters", "EngineConfig", "Record",
]

# enum pn_fleet_kind
REPLY = 1          # an echo reply matched to (target, probe)
ERROR = 2          # an ICMP error (unreachable, time exceeded, ...) quoting our probe
TIMEOUT = 3        # a probe got no reply within its timeout
SEND_FAILED = 4    # the kernel refused the send for good; the probe counts as sent
DONE = 5           # the target is finished: every probe final, or cancelled
# enum pn_fleet_flag
DUP = 1
BAD_CHECKSUM = 2
ANSWERED = 4       # DONE of a fold run: the clean reply that ended the target

# The payload starts with the run's key, the target index and the probe
# number (network order); the rest is a fill pattern.
KEY_LEN = 8
MIN_PAYLOAD = KEY_LEN + 4 + 4
MAX_PAYLOAD = 65000
# (target, probe) is remembered per ICMP seq for this many sends back.
SEQ_LOG = 65536
MAX_WINDOW = 65536          # probe slots per target at most
MAX_TARGETS = 0x7FFFFFFE    # target indexes fit a signed 32-bit int
MAX_RETRIES = 1000

# struct pn_fleet_record: ten int64 fields, then the sender's address.
RECORD = struct.Struct("=10q16s")

# (kind, target, probe, rtt_ns, ttl, bytes, flags, type, code, when_ns, from)
#   rtt_ns, ttl, bytes: replies (ttl -1 when unknown); type, code: errors;
#   when_ns: CLOCK_REALTIME of the event; from: the sender (4 or 16 bytes used)
#   DONE: probe = how many probes the target was sent; SEND_FAILED: code = errno
#   (the rules behind each kind: pynet/_reference/fleet.py's module text)
if TYPE_CHECKING:
    Record = Tuple[int, int, int, int, int, int, int, int, int, int, bytes]
else:
    Record = tuple


class EngineConfig(NamedTuple):
    fd4: int = -1              # ICMP socket for IPv4 targets, -1: none
    raw4: bool = True          # raw (our id; replies carry the IP header) or datagram
    fd6: int = -1
    raw6: bool = True
    ident: int = 0             # echo id on raw sockets
    key: bytes = bytes(KEY_LEN)  # per-run random key, KEY_LEN bytes
    payload_len: int = 56      # >= MIN_PAYLOAD
    # probes per target; 0: until cancelled or stopped (the name shadows tuple.count)
    count: int = 1  # type: ignore[assignment]
    interval_ns: int = 0       # least gap between any two sends (fping -i); 0: none
    period_ns: int = 1_000_000_000   # between probes to one target (fping -p)
    timeout_ns: int = 500_000_000    # per probe (fping -t); retries multiply it by backoff
    retries: int = 0           # extra probes to a target that has not answered yet (fping -r)
    backoff: float = 1.5       # (fping -B)
    rate_pps: int = 0          # global cap on sends per second; 0: none
    batch: int = 4096          # records per call at most
    fold: bool = False         # count == 1 only: a clean reply that ends its target comes
                               # as its DONE alone, flagged ANSWERED, with the reply's rtt,
                               # ttl, bytes, sender and time (probe: the probes sent)


class Counters(NamedTuple):
    sent: int
    received: int              # matched replies, duplicates and corrupted ones not included
    duplicates: int
    corrupted: int             # bad checksum
    errors: int                # ICMP errors quoting our probes
    malformed: int             # unparseable packets: counted, skipped
    foreign: int               # well-formed packets that are not ours (other id, key, source),
                               # and replies to probes already timed out or cancelled
    kernel_drops: int          # receive-queue overflows (SO_RXQ_OVFL)
    active: int                # targets not yet DONE
    done: bool                 # no target left and nothing in flight
    late: int = 0              # replies after their probe's timeout by the kernel's stamp
                               # (lost: the probe times out, as fping counts it)


# The interface, for mypy only (typing is not loaded at run time).
if TYPE_CHECKING:
    class Engine(Protocol):
        """The interface both backends implement (pynet._c.fleet.Engine,
        pynet._reference.fleet.Engine). Not thread-safe: one thread drives it."""

        def __init__(self, config: EngineConfig) -> None: ...

        def add(self, family: int, addresses: bytes, scope_id: int = 0) -> int:
            """Append targets: ``addresses`` is n packed addresses of ``family``
            (4 or 6) laid end to end. Returns the index of the first. Targets
            added while a run is going are probed from the next call on."""

        def cancel(self, target: int) -> None:
            """Stop probing target; its DONE record follows (late replies to it
            are then ignored as foreign)."""

        def drop(self, target: int) -> None:
            """cancel() without the DONE record, for a caller that has the
            target's result already."""

        def run(self, until_ns: int, flush_ns: int) -> List[Record]:
            """Drive sends and receives, waiting when nothing is due, with the GIL
            released (C). Returns when: every target is DONE, ``batch`` records
            are ready, CLOCK_MONOTONIC reaches until_ns (0: no limit), flush_ns
            has passed since the first record of this call, or a signal
            interrupted a wait."""

        def step(self) -> List[Record]:
            """run() that never waits: read what is queued, send what is due,
            expire what timed out, pass after pass while a pass sends (up to
            about ``batch`` sends), so that probes due at once go in one call
            with the replies that came meanwhile. For an event loop that
            watches the sockets."""

        def next_wakeup_ns(self) -> int:
            """CLOCK_MONOTONIC of the next due send or timeout; -1: none."""

        def counters(self) -> Counters: ...

        def close(self) -> None:
            """Free the engine's memory (the sockets belong to the caller)."""
