"""`python -m pynet.bench fleet --quick`: every peer measured in one run, the
table, the JSON file and the chart written."""

from __future__ import annotations

import json
from pathlib import Path

from support import cli, program


def test_quick_run(tmp_path: Path) -> None:
    program("fping")
    out = tmp_path / "fleet.json"
    done = cli("pynet.bench", "fleet", "--quick", "--json", str(out), "--chart", "",
               "--loop-seconds", "1.5", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "| case | peer |" in done.stdout
    doc = json.loads(out.read_text())
    peers = {(r["case"], r["peer"]) for r in doc["rows"]}
    cases = {case for case, _ in peers}
    assert len(cases) == 4
    for row in doc["rows"]:
        if row["peer"].startswith("pynet") and "-l" not in row["case"]:
            assert row["answered"] == row["hosts"], row
            assert row["note"] == "", row
        if row["peer"].startswith("pynet fping -l"):
            assert row["answered"] > 0 and row["cpu_us_per_probe"] > 0, row
    assert any(p == "icmplib async_multiping" for _, p in peers)
    assert doc["goals"]
