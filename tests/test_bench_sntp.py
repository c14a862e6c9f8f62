"""`pynet bench sntp --quick`: chronyd started, every row measured in one
run, the table and the JSON written with sane fields (the figures
themselves are the benchmark's business, not the test's)."""

from __future__ import annotations

import json
from pathlib import Path

from support import cli, program


def test_bench_sntp_quick(tmp_path: Path) -> None:
    chronyd = program("chronyd")
    out = tmp_path / "sntp.json"
    done = cli("pynet.bench", "sntp", "--quick", "--rounds", "2", "--chronyd", chronyd,
               "--json", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| peer | requests/round |" in done.stdout and "Goals (same run):" in done.stdout
    doc = json.loads(out.read_text())
    rows = {row["peer"]: row for row in doc["rows"]}
    assert list(rows) == ["pynet query(count=8)", "pynet query(count=1)",
                          "pynet query(count=8), clock in Python", "ntplib request()",
                          "ntplib, least delay of 8"]
    for row in doc["rows"]:
        assert row["error"] == "" and row["rounds"] == 2, row
        assert len(row["offsets_s"]) == len(row["delays_s"]) == 2
        assert all(delay >= 0 for delay in row["delays_s"]), row
        for key in ("median_abs_offset_us", "max_abs_offset_us", "median_delay_us"):
            assert row[key] >= 0, (key, row)
        assert row["max_abs_offset_us"] >= row["median_abs_offset_us"]
        # Each leg of a round trip (T2 - T1, T4 - T3) is a causal interval:
        # nonnegative up to chronyd's random fill below its precision.
        assert row["median_forward_us"] >= -1 and row["median_back_us"] >= -1, row
    assert rows["pynet query(count=8)"]["stamps"] == "kernel/kernel"
    assert rows["pynet query(count=8), clock in Python"]["stamps"] == "user/user"
    gap = doc["stamp_gap"]
    assert gap["error"] == "" and gap["requests"] == 20
    assert gap["tx_median_us"] >= 0 and gap["rx_median_us"] >= 0
    assert len(doc["goals"]) == 4 and doc["settings"]["count"] == 8
