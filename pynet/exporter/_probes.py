"""The /probe probers: icmp, tcp, sntp and traceroute, each run once against
one target within a time budget, each returning blackbox_exporter's metrics
(same names, help texts and meaning) and pynet's own beside them.

A prober resolves the target itself (timed as probe_dns_lookup_time_seconds),
asks ``allowed`` about the address, and only then sends anything.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._errors import PynetError, ResolveError
from .._resolve import resolve
from ._config import Module

__all__ = ["Outcome", "PROBERS", "Refused", "Sample", "run_probe", "split_host_port"]

# (name, help, value, labels)
Sample = Tuple[str, str, float, Tuple[Tuple[str, str], ...]]
Allowed = Callable[[str], bool]

# What a tcp probe keeps of the reply while it waits for `expect` to match.
EXPECT_WINDOW = 64 * 1024

_HELP = {
    "probe_ip_protocol": "Specifies whether probe ip protocol is IP4 or IP6",
    "probe_dns_lookup_time_seconds": "Returns the time taken for probe dns lookup in seconds",
    "probe_icmp_duration_seconds": "Duration of icmp request by phase",
    "probe_icmp_reply_hop_limit": "Replied packet hop limit (TTL for ipv4)",
    "probe_icmp_packets_sent": "Echo requests sent by this probe",
    "probe_icmp_packets_received": "Echo replies received (duplicates and corrupted not counted)",
    "probe_icmp_packets_duplicated": "Duplicate echo replies received",
    "probe_icmp_packets_corrupted": "Echo replies with a bad checksum",
    "probe_icmp_errors": "ICMP errors (unreachable, time exceeded) quoting this probe's requests",
    "probe_icmp_loss_ratio": "Share of echo requests that got no reply, 0 to 1",
    "probe_icmp_rtt_min_seconds": "Shortest round trip of this probe's replies",
    "probe_icmp_rtt_avg_seconds": "Mean round trip of this probe's replies",
    "probe_icmp_rtt_max_seconds": "Longest round trip of this probe's replies",
    "probe_icmp_rtt_mdev_seconds": "Mean deviation of the round trips (iputils' mdev)",
    "probe_tcp_connect_duration_seconds": "Time the TCP handshake took",
    "probe_tcp_bytes_received": "Bytes received after connecting",
    "probe_failed_due_to_regex": "Indicates if probe failed due to regex",
    "probe_sntp_offset_seconds": "How far the server's clock is ahead of ours",
    "probe_sntp_delay_seconds": "Round trip to the server minus its processing time",
    "probe_sntp_root_distance_seconds": "Error bound of the offset (root distance)",
    "probe_sntp_stratum": "The server's stratum",
    "probe_traceroute_reached": "Whether the target itself answered (1) or the trace ended "
                                "short of it (0)",
    "probe_traceroute_hops": "Hops to the target: the TTL it answered at (absent when not "
                             "reached)",
    "probe_traceroute_hop_responded": "Whether any probe at this hop (TTL) got an answer",
    "probe_traceroute_hop_loss_ratio": "Share of this hop's probes that got no answer, 0 to 1",
    "probe_traceroute_hop_rtt_seconds": "Mean round trip of the answers from this address at "
                                        "this hop",
}


class Refused(PynetError):
    """The target's address is outside the config's allow-list."""

    exit_code = 1


@dataclass
class Outcome:
    success: bool = False
    samples: List[Sample] = field(default_factory=list)
    message: str = ""           # why it failed, for the log line

    def add(self, name: str, value: float, **labels: str) -> None:
        self.samples.append((name, _HELP[name], float(value), tuple(labels.items())))


def split_host_port(target: str, default_port: Optional[int]) -> Tuple[str, int]:
    """'host:port', '[v6]:port', or a bare host when default_port is set."""
    match = re.fullmatch(r"\[([^\]]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})", target)
    if match:
        host = match.group(1) or match.group(3)
        port = int(match.group(2) or match.group(4))
    elif default_port is not None:
        host = target[1:-1] if target.startswith("[") and target.endswith("]") else target
        port = default_port
    else:
        raise ValueError(f"target {target!r} needs a port (host:port or [v6]:port)")
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    return host, port


def _resolve(out: Outcome, host: str, module: Module, socktype: int,
             allowed: Allowed) -> Tuple[int, str, float]:
    """(AF_*, address, seconds it took); raises ResolveError or Refused."""
    start = time.monotonic()
    af, sockaddr = resolve(host, family=module.family, socktype=socktype)[0]
    took = time.monotonic() - start
    out.add("probe_dns_lookup_time_seconds", took)
    out.add("probe_ip_protocol", 4 if af == socket.AF_INET else 6)
    address = str(sockaddr[0])
    if not allowed(address):
        raise Refused(f"{address} is not in the allow-list")
    return af, address, took


def probe_icmp(out: Outcome, target: str, module: Module, budget: float,
               allowed: Allowed) -> None:
    from ..ping import ping

    # blackbox's phases: resolving, until the first request left, the round trip
    # (here the mean over the replies; 0 while none came).
    phases = {"resolve": 0.0, "setup": 0.0, "rtt": 0.0}
    try:
        af, address, phases["resolve"] = _resolve(out, target, module, socket.SOCK_DGRAM,
                                                  allowed)
        left = max(budget - phases["resolve"], 0.001)
        called = time.time()
        r = ping(address, count=module.count, interval=module.interval,
                 timeout=left, deadline=left, size=module.size, ttl=module.ttl,
                 family=4 if af == socket.AF_INET else 6)
        good = [p for p in r.replies if p.checksum_ok and not p.duplicate]
        if good:
            first = good[0]
            # Sequence numbers start at 1, as iputils numbers them.
            sent_at = first.time_s - first.rtt_ms / 1e3 - (first.seq - 1) * module.interval
            phases["setup"] = min(max(sent_at - called, 0.0), budget)
            assert r.rtt_avg_ms is not None  # a good reply came
            phases["rtt"] = r.rtt_avg_ms / 1e3
    finally:
        for phase, seconds in phases.items():
            out.add("probe_icmp_duration_seconds", seconds, phase=phase)
    out.add("probe_icmp_packets_sent", r.transmitted)
    out.add("probe_icmp_packets_received", r.received)
    out.add("probe_icmp_packets_duplicated", r.duplicates)
    out.add("probe_icmp_packets_corrupted", r.corrupted)
    out.add("probe_icmp_errors", r.errors)
    if r.transmitted:
        out.add("probe_icmp_loss_ratio", 1.0 - min(r.received, r.transmitted) / r.transmitted)
    if good:
        if good[-1].ttl is not None:
            out.add("probe_icmp_reply_hop_limit", good[-1].ttl)
        for stat in ("min", "avg", "max", "mdev"):
            out.add(f"probe_icmp_rtt_{stat}_seconds", getattr(r, f"rtt_{stat}_ms") / 1e3)
    out.success = r.received > 0
    if not out.success:
        out.message = f"no reply from {address} to {r.transmitted} echo requests"


class _Matched(Exception):
    """Raised from the sink to end the exchange: expect matched, or time is up."""


def probe_tcp(out: Outcome, target: str, module: Module, budget: float,
              allowed: Allowed) -> None:
    from ..tcp import _connect, _exchange  # pynet.tcp's connect and exchange steps

    start = time.monotonic()
    host, port = split_host_port(target, module.port)
    _, address, _took = _resolve(out, host, module, socket.SOCK_STREAM, allowed)
    addresses = resolve(address, port, socktype=socket.SOCK_STREAM)
    left = max(budget - (time.monotonic() - start), 0.001)
    conn = _connect.open_connection(_connect.Connector(host, port, addresses[:1], left))
    try:
        out.add("probe_tcp_connect_duration_seconds", conn.connect_time_s)
        if module.expect is None and not module.send:
            out.success = True
            return
        end = start + budget
        window = bytearray()
        total = [0]
        pattern = module.expect

        def sink(chunk: bytes) -> None:
            total[0] += len(chunk)
            window.extend(chunk)
            del window[:-EXPECT_WINDOW]
            if pattern is not None and pattern.search(window):
                raise _Matched()
            if time.monotonic() >= end:
                raise _Matched()

        matched = False
        try:
            _exchange.exchange(_exchange.Exchange(
                conn.sock, module.send, sink, idle_timeout=max(end - time.monotonic(), 0.001)))
        except _Matched:
            matched = pattern is not None and pattern.search(window) is not None
        except PynetError as exc:
            out.message = str(exc)
        out.add("probe_tcp_bytes_received", total[0])
        if pattern is None:
            out.success = not out.message
            return
        matched = matched or pattern.search(window) is not None
        out.add("probe_failed_due_to_regex", 0 if matched else 1)
        out.success = matched
        if not matched and not out.message:
            out.message = "the reply did not match expect"
    finally:
        conn.sock.close()


def probe_sntp(out: Outcome, target: str, module: Module, budget: float,
               allowed: Allowed) -> None:
    from ..sntp import query

    start = time.monotonic()
    host, port = split_host_port(target, module.port or 123)
    af, address, _took = _resolve(out, host, module, socket.SOCK_DGRAM, allowed)
    left = max(budget - (time.monotonic() - start), 0.001)
    (r,) = query([address], port=port, timeout=left,
                 family=4 if af == socket.AF_INET else 6)
    out.success = r.ok
    if not r.ok:
        out.message = str(r.error)
        return
    # A usable answer has every measurement.
    assert (r.offset_s is not None and r.delay_s is not None and r.root_distance_s is not None
            and r.stratum is not None)
    out.add("probe_sntp_offset_seconds", r.offset_s)
    out.add("probe_sntp_delay_seconds", r.delay_s)
    out.add("probe_sntp_root_distance_seconds", r.root_distance_s)
    out.add("probe_sntp_stratum", r.stratum)


def probe_traceroute(out: Outcome, target: str, module: Module, budget: float,
                     allowed: Allowed) -> None:
    from ..traceroute import traceroute

    start = time.monotonic()
    af, address, _took = _resolve(out, target, module, socket.SOCK_DGRAM, allowed)
    # The trace ends at the budget whatever its probes still wait for, and
    # no probe waits longer than the budget.
    left = max(budget - (time.monotonic() - start), 0.001)
    r = traceroute(address, method=module.method, family=4 if af == socket.AF_INET else 6,
                   port=module.port, first_ttl=module.first_ttl, max_ttl=module.max_hops,
                   queries=module.queries, wait=min(module.wait, left), deadline=left)
    out.add("probe_traceroute_reached", 1 if r.reached else 0)
    if r.reached:
        out.add("probe_traceroute_hops", r.hops[-1].ttl)
    for hop in r.hops:
        ttl = str(hop.ttl)
        answered = [p for p in hop.probes if p.answered and p.rtt_ms is not None]
        out.add("probe_traceroute_hop_responded", 1 if answered else 0, hop=ttl)
        out.add("probe_traceroute_hop_loss_ratio", 1 - len(answered) / len(hop.probes),
                hop=ttl)
        for where in hop.addresses:
            rtts = [p.rtt_ms for p in answered if p.address == where and p.rtt_ms is not None]
            out.add("probe_traceroute_hop_rtt_seconds", sum(rtts) / len(rtts) / 1e3, hop=ttl,
                    address=where)
    out.success = r.reached
    if not r.reached:
        last = next((h for h in reversed(r.hops) if h.addresses), None)
        out.message = (f"{address} not reached within {r.max_ttl} hops and {left:.3g} s; " +
                       (f"last answer from hop {last.ttl} ({last.addresses[0]})" if last
                        else "no hop answered"))


PROBERS = {"icmp": probe_icmp, "tcp": probe_tcp, "sntp": probe_sntp,
           "traceroute": probe_traceroute}


def run_probe(target: str, module: Module, budget: float, allowed: Allowed) -> Outcome:
    """Probe target once. Never raises for the target's sake: a name that
    does not resolve, a refusal, a timeout all come back as success False
    with the reason in ``message``. Raises Refused when the address is
    outside the allow-list (before anything was sent to it)."""
    out = Outcome()
    try:
        PROBERS[module.prober](out, target, module, budget, allowed)
    except Refused:
        raise
    except ResolveError as exc:
        out.success, out.message = False, str(exc)
    except (PynetError, OSError, ValueError) as exc:
        out.success, out.message = False, f"{type(exc).__name__}: {exc}"
    return out
