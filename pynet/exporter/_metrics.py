"""Metric families for the two endpoints, built on prometheus_client: one
registry per /probe request (blackbox's way: a probe's metrics are its own),
one long-lived registry for /metrics."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.platform_collector import PlatformCollector

from ._fleet import BUCKETS, FleetProber
from ._probes import Outcome

__all__ = ["ExporterCollector", "FleetCollector", "exporter_registry", "probe_page"]

BUCKET_BOUNDS = tuple(repr(b) for b in BUCKETS)


class _Static:
    def __init__(self, families: List[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def probe_page(out: Outcome, duration: float, timeout: float) -> bytes:
    """The text exposition of one probe, in blackbox's order."""
    families: Dict[str, GaugeMetricFamily] = {}
    for name, text, value, labels in out.samples:
        family = families.get(name)
        if family is None:
            family = families[name] = GaugeMetricFamily(name, text,
                                                        labels=[k for k, _ in labels])
        family.add_metric([v for _, v in labels], value)
    head = [
        GaugeMetricFamily("probe_success", "Displays whether or not the probe was a success",
                          value=1.0 if out.success else 0.0),
        GaugeMetricFamily("probe_duration_seconds",
                          "Returns how long the probe took to complete in seconds",
                          value=duration),
        GaugeMetricFamily("probe_timeout_seconds",
                          "Returns how long the probe timeout is in seconds", value=timeout),
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(list(families.values()) + head))  # type: ignore[arg-type]
    return generate_latest(registry)


class FleetCollector:
    """pynet_ping_* per target of the continuous probing, and the engines'
    own counters per group; reads whichever FleetProber is current."""

    def __init__(self, current: Callable[[], Optional[FleetProber]]) -> None:
        self.current = current

    def collect(self) -> Iterator[Metric]:
        prober = self.current()
        if prober is None:
            return
        stats, counters = prober.snapshot()
        names = ["group", "host", "ip"]
        rtt = HistogramMetricFamily("pynet_ping_rtt_seconds",
                                    "Round trip of each echo reply (kernel receive timestamp)",
                                    labels=names)
        per_target = {
            "requests": "Echo requests whose outcome is known",
            "replies": "Echo replies matched to their request",
            "duplicates": "Duplicate echo replies",
            "corrupted": "Echo replies with a bad checksum",
            "icmp_errors": "ICMP errors quoting our requests (unreachable, time exceeded)",
            "timeouts": "Echo requests that got no reply in time",
        }
        families = {key: CounterMetricFamily(f"pynet_ping_{key}", text, labels=names)
                    for key, text in per_target.items()}
        for s in stats:
            labels = [s.group, s.host, s.ip]
            cumulative, running = [], 0
            for bound, n in zip(BUCKET_BOUNDS, s.buckets):
                running += n
                cumulative.append((bound, float(running)))
            cumulative.append(("+Inf", float(s.replies)))
            rtt.add_metric(labels, cumulative, s.rtt_sum)
            for key, family in families.items():
                family.add_metric(labels, getattr(s, key))
        yield rtt
        yield from families.values()
        engine = {
            "sent": "Echo requests the engine sent",
            "kernel_drops": "Packets the kernel dropped from the receive queue (ours, not "
                            "the network's)",
            "malformed": "Packets that could not be parsed (counted, skipped)",
            "foreign": "Well-formed ICMP packets that were not replies to us",
        }
        for key, text in engine.items():
            family = CounterMetricFamily(f"pynet_fleet_{key}", text, labels=["group"])
            for group, c in counters.items():
                family.add_metric([group], getattr(c, key))
            yield family
        active = GaugeMetricFamily("pynet_fleet_targets", "Targets probed continuously",
                                   labels=["group"])
        per_group: Dict[str, int] = defaultdict(int)
        for s in stats:
            per_group[s.group] += 1
        for group, n in per_group.items():
            active.add_metric([group], n)
        yield active
        yield GaugeMetricFamily("pynet_fleet_up", "1 while the probing thread runs",
                                value=0.0 if prober.failure else 1.0)


class ExporterCollector:
    """The exporter's own counters: probes by module and result, refusals."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.probes: Dict[Tuple[str, str], int] = defaultdict(int)
        self.rejected: Dict[str, int] = defaultdict(int)
        self.reload_ok = 1.0
        self.reload_time = 0.0

    def count_probe(self, module: str, success: bool) -> None:
        with self.lock:
            self.probes[(module, "success" if success else "failure")] += 1

    def count_rejected(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] += 1

    def collect(self) -> Iterator[Metric]:
        probes = CounterMetricFamily("pynet_exporter_probes", "Probes served on /probe",
                                     labels=["module", "result"])
        rejected = CounterMetricFamily("pynet_exporter_requests_rejected",
                                       "Requests refused (bad query 400, not allowed 403, "
                                       "too many 429)", labels=["reason"])
        with self.lock:
            for (module, result), n in sorted(self.probes.items()):
                probes.add_metric([module, result], n)
            for reason, n in sorted(self.rejected.items()):
                rejected.add_metric([reason], n)
            ok, when = self.reload_ok, self.reload_time
        yield probes
        yield rejected
        yield GaugeMetricFamily("pynet_exporter_config_last_reload_successful",
                                "Whether the last configuration reload attempt was successful",
                                value=ok)
        yield GaugeMetricFamily("pynet_exporter_config_last_reload_success_timestamp_seconds",
                                "Timestamp of the last successful configuration reload",
                                value=when)


def exporter_registry(own: ExporterCollector, fleet: FleetCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(own)
    registry.register(fleet)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


