"""`python -m pynet.bench echo --quick`: every server measured, replies
checked, the table, the JSON file and the chart written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support import cli, need

from echo_helpers import uring_available


def test_quick_run(tmp_path: Path) -> None:
    try:
        import matplotlib  # noqa: F401
        have_mpl = True
    except ImportError:
        have_mpl = False
    need(have_mpl, "matplotlib is not installed (the bench extra)")
    out, chart = tmp_path / "bench.json", tmp_path / "bench.png"
    # matplotlib's C++ font module aborts under a preloaded libasan (its
    # exceptions meet ASan's __cxa_throw interceptor): the sanitizer run
    # checks everything but the chart, which the other two runs draw.
    sanitized = os.environ.get("PYNET_EXPECT_SANITIZED") == "1"
    done = cli("pynet.bench", "echo", "--quick", "--json", str(out),
               "--chart", "" if sanitized else str(chart), timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    servers = {(r["proto"], r["server"]) for r in rows}
    for name in ("native", "native-epoll", "select", "thread", "fork", "iterative", "asyncio",
                 "uvloop", *(("native-uring",) if uring_available() else ())):
        assert ("tcp", name) in servers, name
    for name in ("native", "python", "asyncio", "uvloop"):
        assert ("udp", name) in servers, name
    for row in rows:
        assert row["error"] == "" and row["mismatches"] == 0, row
        assert 0 <= row["server_user_us"] <= row["server_cpu_us"], row
        assert row["msgs_per_s"] > 0 and row["p50_us"] > 0 and row["p99_us"] >= row["p50_us"]
        assert f"| {row['case']} | {row['server']} |" in done.stdout
    assert doc["idle"]["held"] == doc["idle"]["connections"] == 200
    assert "idle connections: native held 200" in done.stdout
    for name, idle in doc["idle_by_server"].items():  # each native row asked for
        assert idle["held"] == 200 and f"idle connections: {name} held 200" in done.stdout
    if not sanitized:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_goal_lines_state_the_kernel_ceiling() -> None:
    """The ceiling is what the ratio could reach if the native row spent no
    user time: the peer's CPU per message over native's kernel part."""
    from pynet.bench.echo import GOALS, Row, goal_lines
    case, server, than, factor = GOALS[0]
    native = Row(case, server, msgs_per_s=120.0, server_cpu_us=5.0, server_user_us=1.0)
    peer = Row(case, than, msgs_per_s=100.0, server_cpu_us=6.0, server_user_us=2.0)
    [line] = [g for g in goal_lines([native, peer]) if g["server"] == server]
    assert line["ratio"] == 1.2 and line["met"] is (1.2 >= factor)
    assert line["cpu_ratio"] == 1.2 and line["kernel_ceiling"] == 1.5


def test_bad_options() -> None:
    for args, word in ((["echo", "--duration", "0"], "duration"),
                       (["echo", "--servers", "nginx"], "unknown server 'nginx'"),
                       (["frob"], "unknown benchmark 'frob'")):
        done = cli("pynet.bench", *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and word in done.stderr
        assert "Traceback" not in done.stderr


def test_without_the_extension() -> None:
    """The load generator is C only: without the extension, one line, exit 2."""
    import subprocess
    import sys
    import tempfile
    code = ("import sys; sys.modules['pynet._native'] = None; "
            "sys.modules['pynet._native_nogil'] = None\n"
            "from pynet.bench import main; sys.exit(main(['echo', '--quick']))")
    env = dict(os.environ, PYNET_BACKEND="python")
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("pynet bench echo: the load generator needs pynet's C "
                                  "extension"), done.stderr
