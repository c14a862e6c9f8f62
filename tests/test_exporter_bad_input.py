"""Bad input to /probe: hostile query strings (Hypothesis, inside a network
namespace of their own so that made-up names reach no DNS server), unknown
modules, a bad scrape-timeout header, and 200 requests at once (each
answered or refused with 429; no descriptor leaked; memory bounded)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

from exporter_helpers import get, serve, wait_for
from support import need_root, offline

from pynet.exporter._config import parse

HERE = Path(__file__).resolve().parent


def test_hostile_query_strings_offline() -> None:
    need_root()
    script = ("exec " + sys.executable + " " +
              str(HERE / "exporter_hostile.py") + " " + str(HERE))
    env = dict(os.environ)
    r = subprocess.run([*offline(), "sh", "-c", script], capture_output=True, text=True,
                       timeout=600, cwd=str(HERE), env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert r.stdout.startswith("ok "), r.stdout
    assert int(r.stdout.split()[1]) >= 300


def test_unknown_module_and_missing_target() -> None:
    with serve(parse("")) as port:
        assert get(port, "/probe?target=127.0.0.1&module=http_2xx") == \
            (400, "Unknown module 'http_2xx'\n")
        assert get(port, "/probe?module=icmp") == (400, "Target parameter is missing\n")
        assert get(port, "/probe") == (400, "Target parameter is missing\n")
        status, text = get(port, "/probe?target=127.0.0.1&debug=true")
        assert status == 400 and text.startswith("unknown parameter 'debug'")
        status, text = get(port, "/probe?target=127.0.0.1",
                           headers={"X-Prometheus-Scrape-Timeout-Seconds": "soon"})
        assert (status, text) == (400, "X-Prometheus-Scrape-Timeout-Seconds is not a number\n")
        assert get(port, "/nothing")[0] == 404
        status, text = get(port, "/metrics")
        assert 'pynet_exporter_requests_rejected_total{reason="bad_request"} 5.0' in text


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_200_concurrent_probes() -> None:
    need_root()
    config = parse("[exporter]\nmax_probes = 8\n[modules.icmp]\nprober = 'icmp'\ncount = 2\n"
                   "interval = 0.05\n")
    with serve(config) as port:
        get(port, "/probe?target=127.0.0.1")            # warm: threads, imports
        fds, rss = _fds(), _rss_kib()
        statuses: List[int] = []
        bodies: List[str] = []
        lock = threading.Lock()
        go = threading.Barrier(200)

        def one(i: int) -> None:
            go.wait()
            status, text = get(port, f"/probe?target=127.0.{i % 200}.{1 + i // 200}")
            with lock:
                statuses.append(status)
                bodies.append(text)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(statuses) == 200
        assert set(statuses) <= {200, 429}, sorted(set(statuses))
        assert statuses.count(200) >= 8
        for status, text in zip(statuses, bodies):
            if status == 200:
                assert "probe_success 1.0" in text
            else:
                assert text.startswith("too many ") and text.count("\n") == 1
        # Every connection and probe thread gone, every socket closed.
        wait_for("the server to go idle", lambda: _fds() <= fds, timeout=30)
        assert _rss_kib() - rss < 64 * 1024
        status, text = get(port, "/metrics")
        assert "too_many_probes" in text or "connections" in text
