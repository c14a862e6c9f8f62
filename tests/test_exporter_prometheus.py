"""The exporter scraped by a real Prometheus (Debian's 2.42) on loopback: a
/probe job relabelled over two targets, 127.0.0.1 (answers) and a silent
host in a namespace of ours, a traceroute /probe job to 127.0.0.1, and a
/metrics job; results read back through Prometheus's own HTTP API. Also:
SIGHUP reloads, a bad reload keeps the old config, and the README's scrape
config is one promtool accepts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import urllib.parse
from typing import Dict, Iterator, List

import pytest

from conftest import REPO
from exporter_helpers import ExporterProcess, SilentHost, free_port, get, wait_for
from support import need, need_root, program

SCRAPE = """\
global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: pynet_probe
    metrics_path: /probe
    params:
      module: [icmp]
    static_configs:
      - targets: ["127.0.0.1", "{silent}"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: "127.0.0.1:{port}"
  - job_name: pynet_path
    metrics_path: /probe
    params:
      module: [traceroute]
    static_configs:
      - targets: ["127.0.0.1"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - target_label: __address__
        replacement: "127.0.0.1:{port}"
  - job_name: pynet
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


class Prometheus:
    def __init__(self, config: str) -> None:
        self.dir = tempfile.TemporaryDirectory()
        path = os.path.join(self.dir.name, "prometheus.yml")
        with open(path, "w") as f:
            f.write(config)
        check = subprocess.run([program("promtool"), "check", "config", path],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        self.port = free_port()
        self.log = open(os.path.join(self.dir.name, "log"), "w+")
        self.proc = subprocess.Popen(
            [program("prometheus"), f"--config.file={path}",
             f"--storage.tsdb.path={self.dir.name}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("prometheus to be ready", self._ready, timeout=60)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise AssertionError(f"prometheus exited: {self.log.read()[-2000:]}")
        try:
            return get(self.port, "/-/ready", timeout=5)[0] == 200
        except OSError:
            return False

    def query(self, promql: str) -> List[Dict[str, object]]:
        status, text = get(self.port, "/api/v1/query?query=" + urllib.parse.quote(promql))
        assert status == 200, text
        doc = json.loads(text)
        assert doc["status"] == "success", doc
        return doc["data"]["result"]  # type: ignore[no-any-return]

    def by(self, promql: str, label: str) -> Dict[str, float]:
        return {str(r["metric"].get(label)): float(r["value"][1])  # type: ignore[index, union-attr]
                for r in self.query(promql)}

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.dir.cleanup()


@pytest.fixture()
def silent() -> Iterator[SilentHost]:
    host = SilentHost(slot=2)
    try:
        yield host
    finally:
        host.close()


def test_prometheus_scrapes_probe_and_metrics(silent: SilentHost) -> None:
    need_root()
    with ExporterProcess() as exporter:
        exporter.wait_line("listening on")
        prom = Prometheus(SCRAPE.format(port=exporter.port, silent=silent.there))
        try:
            def both() -> Dict[str, float]:
                got = prom.by('probe_success{job="pynet_probe"}', "instance")
                return got if len(got) == 2 else {}

            success = wait_for("probe_success for both targets", both, timeout=60)
            assert success == {"127.0.0.1": 1.0, silent.there: 0.0}
            jobs = {"pynet_probe": 2.0, "pynet_path": 1.0, "pynet": 1.0}
            wait_for("up for all four targets", lambda: prom.by("count by (job) (up)", "job")
                     == jobs, timeout=60)
            assert prom.by("sum by (job) (up)", "job") == jobs
            path = wait_for("the traceroute job's hops", lambda: prom.by(
                'probe_traceroute_hops{job="pynet_path"}', "job"), timeout=60)
            assert path == {"pynet_path": 1.0}
            assert prom.by('probe_success{job="pynet_path"}', "job") == {"pynet_path": 1.0}
            assert prom.by('probe_traceroute_hop_rtt_seconds{job="pynet_path"}', "address") \
                .keys() == {"127.0.0.1"}
            received = prom.by("probe_icmp_packets_received", "instance")
            assert received["127.0.0.1"] == 3 and received[silent.there] == 0
            # The silent host's probe ends inside Prometheus's 2 s scrape timeout.
            timeout = prom.by("probe_timeout_seconds", "instance")
            assert timeout[silent.there] == 1.5
            # A /metrics scrape may come between the two targets' first probes:
            # wait for one that counts both results.
            served = wait_for("the exporter's own counter of both results", lambda: (
                lambda r: r if len(r) == 2 else {})(prom.by(
                    'pynet_exporter_probes_total{module="icmp"}', "result")), timeout=60)
            assert served["success"] >= 1 and served["failure"] >= 1
        finally:
            prom.close()
        # The failing probe was logged in one line, with its reason.
        line = exporter.wait_line(f"target='{silent.there}' success=0")
        assert "no reply from" in line


def test_prometheus_sees_the_rtt_histogram() -> None:
    need_root()
    from pynet.exporter._fleet import engine_class
    try:
        engine_class()
        have = True
    except Exception:
        have = False
    need(have, "this build has no fleet engine (pynet/_c/fleet.py, pynet/_reference/fleet.py)")
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as cfg:
        cfg.write('[groups.lo]\nperiod = 0.5\naddresses = ["127.0.0.1", "::1"]\n')
        cfg.flush()
        with ExporterProcess("--config", cfg.name) as exporter:
            exporter.wait_line("listening on")
            prom = Prometheus(SCRAPE.format(port=exporter.port, silent="127.0.0.2"))
            try:
                counts = wait_for("RTT histogram counts", lambda: (lambda c: c if len(c) == 2
                                  and min(c.values()) > 0 else {})(
                    prom.by("pynet_ping_rtt_seconds_count", "ip")), timeout=60)
                assert set(counts) == {"127.0.0.1", "::1"}
            finally:
                prom.close()


def test_sighup_reloads_and_a_bad_config_keeps_the_old(tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_root()
    path = tmp_path / "exporter.toml"
    path.write_text('[exporter]\nallow = ["127.0.0.0/8"]\n[modules.one]\nprober = "icmp"\n'
                    'count = 1\n')
    with ExporterProcess("--config", str(path)) as exporter:
        exporter.wait_line("listening on")
        assert not any("open prober" in line for line in exporter.lines)
        assert get(exporter.port, "/probe?target=127.0.0.1&module=one")[0] == 200
        path.write_text('[modules.two]\nprober = "icmp"\ncount = "x"\n')
        exporter.proc.send_signal(signal.SIGHUP)
        line = exporter.wait_line("config reload failed")
        assert f"{path}:3: modules.two.count must be an integer" in line
        assert get(exporter.port, "/probe?target=127.0.0.1&module=one")[0] == 200
        text = get(exporter.port, "/metrics")[1]
        assert "pynet_exporter_config_last_reload_successful 0.0" in text
        path.write_text('[modules.two]\nprober = "icmp"\ncount = 2\n')
        exporter.proc.send_signal(signal.SIGHUP)
        exporter.wait_line("config reloaded")
        assert get(exporter.port, "/probe?target=127.0.0.1&module=one")[0] == 400
        status, text = get(exporter.port, "/probe?target=127.0.0.1&module=two")
        assert status == 200 and "probe_icmp_packets_sent 2.0" in text
        assert "pynet_exporter_config_last_reload_successful 1.0" in \
            get(exporter.port, "/metrics")[1]
        assert exporter.close() == 0
    assert not any("Traceback" in line for line in exporter.lines)


def test_startup_warnings() -> None:
    """Checked without binding every interface: the test opens nothing to the network."""
    from pynet.exporter._command import startup_warnings
    from pynet.exporter._config import parse

    open_ = parse("")
    closed = parse('[exporter]\nallow = ["127.0.0.0/8"]\n')
    assert startup_warnings("127.0.0.1", closed) == []
    assert [w.split(":")[0] for w in startup_warnings("0.0.0.0", open_)] == \
        ["listening on every interface (0.0.0.0)", "no allow-list in the config"]
    assert len(startup_warnings("::", closed)) == 1


def test_the_readmes_scrape_config_passes_promtool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    readme = (REPO / "README.md").read_text()
    section = readme.split("### A ready scrape config", 1)[1]
    config = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "module: [traceroute]" in config and "module: [icmp]" in config
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    check = subprocess.run([program("promtool"), "check", "config", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
