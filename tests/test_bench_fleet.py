"""`python -m pynet.bench fleet --quick`: every peer measured in one run, the
table, the JSON file and the chart written."""

from __future__ import annotations

import json
import re
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
            if "asyncio" in row["case"] or "/22" in row["case"]:  # 3 rounds, no error
                assert row["note"].startswith("median of 3 interleaved rounds (ms: "), row
                assert ";" not in row["note"] and row["note"].count(",") == 2, row
            else:
                assert row["note"] == "", row
        if row["peer"] in ("fping", "pynet fping (process)") and "/" in row["case"]:
            assert row["cpu_us_per_probe"] > 0, row
        if row["peer"].startswith("pynet fping -l"):
            assert row["answered"] > 0 and row["cpu_us_per_probe"] > 0, row
    for peer in ("icmplib async_multiping", "pynet Pinger (async, uvloop)",
                 "asyncio alone (the floor)"):
        assert any(p == peer for _, p in peers), peer
    limit = next(r for r in doc["rows"] if r["peer"].startswith("the limit"))
    assert "/22" in limit["case"] and limit["wall_s"] > 0 and limit["cpu_us_per_probe"] > 0
    assert re.fullmatch(r"[\d.]+ s in the engine over \d+ CPUs \+ a one-host run [\d.]+ s",
                        limit["note"]), limit
    assert any(g.startswith(f"- {limit['case']}, the limit: at best ") for g in doc["goals"])
    floor = next(r for r in doc["rows"] if r["peer"] == "asyncio alone (the floor)")
    assert floor["wall_s"] > 0 and floor["hosts"] == 100
    assert doc["goals"]
