"""`pynet echo` stopped the moment it announces itself exits 0, every time,
in every model: its SIGINT/SIGTERM handlers are in place before it prints
the startup line that scripts wait for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from support import cli

from echo_helpers import HERE, EchoProcess

CASES = [["--model", model] for model in ("iterative", "fork", "thread", "select", "native")]
CASES += [["--proto", "udp", "--model", model] for model in ("iterative", "native")]
RUNS = 200
BATCH = 8  # starts in flight at once: several per core, few enough not to starve


def test_sigterm_at_the_startup_line_exits_0() -> None:
    """200 starts per model, each sent SIGTERM as soon as its line arrives.
    Before the fix about half of them died of the signal (exit -15). The
    starts are forks of one interpreter that has imported pynet.echo (see
    echo_helpers.stop_at_once): a quarter of a second of start-up per exec
    would make this test take minutes, and none of it comes after the line."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "echo_helpers.py"), str(RUNS), str(BATCH),
         json.dumps(CASES)], cwd=HERE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failures"] == [], report
    for args in CASES:
        assert report["ends"][" ".join(args)] == {"0": RUNS}, (args, report["ends"])
    print(f"{RUNS * len(CASES)} starts stopped in {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("args", CASES, ids=lambda a: "-".join(a[1::2]))
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_real_process_stopped_at_once(args: list, sig: int, code: int) -> None:  # type: ignore[type-arg]
    """The same through a real `python -m pynet.echo`, once per model and signal."""
    server = EchoProcess(*args)
    got, err = server.stop(sig)
    assert (got, err) == (code, "")


def test_help_lists_exit_codes() -> None:
    done = cli("pynet.echo", "--help")
    assert done.returncode == 0
    assert "exit status: 0 stopped by SIGTERM, 130 stopped by SIGINT" in done.stdout
    assert "BindError" in done.stdout and "EchoConfigError" in done.stdout
