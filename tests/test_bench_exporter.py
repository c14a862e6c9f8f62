"""`pynet bench exporter --quick`: runs both exporters and writes its table
and JSON (figures are the benchmark's business, not the test's)."""

from __future__ import annotations

import json

from support import cli, need_root, program


def test_bench_exporter_quick(tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_root()
    program("prometheus-blackbox-exporter")
    out = tmp_path / "b.json"
    r = cli("pynet.bench", "exporter", "--quick", "--probes", "6", "--rounds", "1",
            "--targets", "0", "--json", str(out), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "| blackbox_exporter | icmp (1 req) | 6 | 0 |" in r.stdout
    assert "| pynet exporter | icmp1 (1 req) | 6 | 0 |" in r.stdout
    doc = json.loads(out.read_text())
    assert [row["failures"] for row in doc["probe_rows"]] == [0, 0, 0]
    assert all(row["median_ms"] > 0 for row in doc["probe_rows"])
