"""Metric families for the two endpoints, built on prometheus_client: one
registry per /probe request (blackbox's way: a probe's metrics are its own),
one long-lived registry for /metrics."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_PER_TARGET = (
    ("requests", "Echo requests whose outcome is known"),
    ("replies", "Echo replies matched to their request"),
    ("duplicates", "Duplicate echo replies"),
    ("corrupted", "Echo replies with a bad checksum"),
    ("icmp_errors", "ICMP errors quoting our requests (unreachable, time exceeded)"),
    ("timeouts", "Echo requests that got no reply in time (or whose send failed)"),
)
_ENGINE = (
    ("sent", "Echo requests the engine sent"),
    ("kernel_drops", "Packets the kernel dropped from the receive queue (ours, not the "
                     "network's)"),
    ("malformed", "Packets that could not be parsed (counted, skipped)"),
    ("foreign", "Well-formed ICMP packets that were not replies to us"),
    ("late", "Echo replies that came after their request's timeout (counted as timeouts)"),
)


class FleetCollector:
    """pynet_ping_* per target of the continuous probing, and the engines'
    own counters per group, for whichever FleetProber is current.

    Written straight to the text format rather than through metric family
    objects: with 10,000 targets that is 290,000 samples a scrape, which
    prometheus_client's generic path takes some 5 s to render and this loop
    a fraction of it. The output is the same format (promtool checks it)."""

    def __init__(self, current: Callable[[], Optional[FleetProber]]) -> None:
        self.current = current
        self._labels: Dict[Tuple[str, str, str], str] = {}

    def _labels_of(self, group: str, host: str, ip: str) -> str:
        key = (group, host, ip)
        text = self._labels.get(key)
        if text is None:
            if len(self._labels) > 4 * 1024 * 1024:
                self._labels.clear()
            text = self._labels[key] = \
                f'group="{_label(group)}",host="{_label(host)}",ip="{_label(ip)}"'
        return text

    def render(self) -> bytes:
        prober = self.current()
        if prober is None:
            return b""
        stats, counters = prober.snapshot()
        labels = [self._labels_of(s.group, s.host, s.ip) for s in stats]
        out: List[str] = [
            "# HELP pynet_ping_rtt_seconds Round trip of each echo reply (kernel receive "
            "timestamp)\n# TYPE pynet_ping_rtt_seconds histogram\n"]
        add = out.append
        bounds = BUCKET_BOUNDS
        for s, lab in zip(stats, labels):
            running = 0
            head = "pynet_ping_rtt_seconds_bucket{" + lab + ',le="'
            for bound, n in zip(bounds, s.buckets):
                running += n
                add(f'{head}{bound}"}} {running}\n')
            add(f'{head}+Inf"}} {s.replies}\n'
                f"pynet_ping_rtt_seconds_count{{{lab}}} {s.replies}\n"
                f"pynet_ping_rtt_seconds_sum{{{lab}}} {s.rtt_sum!r}\n")
        for key, text in _PER_TARGET:
            name = f"pynet_ping_{key}"
            add(f"# HELP {name}_total {text}\n# TYPE {name}_total counter\n")
            for s, lab in zip(stats, labels):
                add(f"{name}_total{{{lab}}} {getattr(s, key)}\n")
        for key, text in _ENGINE:
            name = f"pynet_fleet_{key}_total"
            add(f"# HELP {name} {text}\n# TYPE {name} counter\n")
            for group, c in counters.items():
                add(f'{name}{{group="{_label(group)}"}} {getattr(c, key)}\n')
        per_group: Dict[str, int] = defaultdict(int)
        for s in stats:
            per_group[s.group] += 1
        add("# HELP pynet_fleet_targets Targets probed continuously\n"
            "# TYPE pynet_fleet_targets gauge\n")
        for group, n in per_group.items():
            add(f'pynet_fleet_targets{{group="{_label(group)}"}} {n}\n')
        add("# HELP pynet_fleet_up 1 while the probing thread runs\n"
            f"# TYPE pynet_fleet_up gauge\npynet_fleet_up {0 if prober.failure else 1}\n")
        return "".join(out).encode()


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


def exporter_registry(own: ExporterCollector) -> CollectorRegistry:
    """The exporter's own metrics and its process's, through prometheus_client."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(own)
    return registry


def render(registry: CollectorRegistry, fleet: FleetCollector) -> bytes:
    """The whole /metrics page: the registry's families, then the fleet's."""
    return generate_latest(registry) + fleet.render()


