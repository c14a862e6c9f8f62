"""`pynet exporter`: pynet's probes as Prometheus metrics.

    pynet exporter [--listen 127.0.0.1:9427] [--config FILE] [--config-check]

/probe?target=T&module=M answers one probe (icmp, tcp, sntp, traceroute)
in blackbox_exporter's multi-target pattern, with its metric names and
pynet's measurements beside them (loss, duplicates, min/avg/max/mdev, the
hops of the path). /metrics
shows the config's groups, probed continuously by the fleet engine, as
smokeping-style RTT histograms per target. Needs the `exporter` extra
(prometheus_client); `import pynet` does not load any of it.
"""

from __future__ import annotations

from typing import List, Optional

from .._errors import ConfigError, ExporterError

__all__ = ["ConfigError", "ExporterError", "main"]


def main(argv: Optional[List[str]] = None) -> int:
    """The command line (`python -m pynet.exporter`); returns the exit code."""
    from ._command import main as run_command

    return run_command(argv)
