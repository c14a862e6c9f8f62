"""ping against a silent host (a namespace with icmp_echo_ignore_all=1):
exit code 1, and -W / -w ending the run when they should."""

from __future__ import annotations

import subprocess
import time
from types import ModuleType
from typing import Iterator, List

import pytest
from ping_lines import parse
from ping_netns import Netns, host_namespace
from support import assert_ended_by_timeout, cli, outside_env, program

from pynet.ping import ping


@pytest.fixture(scope="module")
def silent() -> Iterator[Netns]:
    ns = host_namespace("silent", 1)
    try:
        ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
        yield ns
    finally:
        ns.close()


def test_linger_W_after_the_last_request(silent: Netns, backend: ModuleType) -> None:
    start = time.monotonic()
    result = ping(silent.there, count=2, interval=0.2, timeout=1.0, backend=backend.NAME)
    elapsed = time.monotonic() - start
    # 1.2 s: -W after the last request; 2.2 s had each request lingered in turn.
    assert_ended_by_timeout(elapsed, 1.2, otherwise_s=2.2, early_s=0.005)
    assert (result.transmitted, result.received, result.exit_code) == (2, 0, 1)
    assert result.loss_percent == 100.0 and result.rtt_avg_ms is None and not result.replies


def test_deadline_w_ends_the_run(silent: Netns, backend: ModuleType) -> None:
    start = time.monotonic()
    result = ping(silent.there, count=0, interval=0.2, deadline=1.0, backend=backend.NAME)
    elapsed = time.monotonic() - start
    # Nothing else ends a count=0 run: twice the deadline is plainly missing it.
    assert_ended_by_timeout(elapsed, 1.0, otherwise_s=2.0, early_s=0.005)
    assert 5 <= result.transmitted <= 6 and result.received == 0 and result.exit_code == 1


def test_deadline_beats_a_long_linger(silent: Netns, backend: ModuleType) -> None:
    start = time.monotonic()
    result = ping(silent.there, count=3, interval=0.1, timeout=30, deadline=0.5,
                  backend=backend.NAME)
    # 30.2 s: the linger after the third request at 0.2 s.
    assert_ended_by_timeout(time.monotonic() - start, 0.5, otherwise_s=30.2, early_s=0.005)
    assert result.exit_code == 1


def shapes(text: str) -> List[object]:
    out: List[object] = []
    for kind, fields in parse(text):
        if kind == "counts":
            out.append((kind, fields["tx"], fields["rx"], fields["loss"]))
        elif kind in ("outstanding", "title"):
            out.append((kind, fields.get("seq"), fields.get("host")))
        else:
            out.append(kind)
    return out


@pytest.mark.parametrize("args", [
    ["-c", "2", "-i", "0.2", "-W", "0.5"],
    ["-w", "1", "-i", "0.3"],
    ["-c", "3", "-i", "0.2", "-W", "0.3", "-O"],
])
def test_cli_exit_1_and_iputils_text(silent: Netns, backend: ModuleType, args: List[str]) -> None:
    ours = cli("pynet.ping", *args, silent.there, env={"PYNET_BACKEND": backend.NAME})
    theirs = subprocess.run([program("ping"), *args, silent.there], capture_output=True,
                            text=True, timeout=60, env=outside_env())
    assert ours.returncode == theirs.returncode == 1, ours.stderr
    assert ours.stderr == ""
    assert shapes(ours.stdout) == shapes(theirs.stdout), \
        f"pynet:\n{ours.stdout}\niputils:\n{theirs.stdout}"
    # No rtt line when nothing came back: finish() ends with an empty line.
    assert ours.stdout.endswith("ms\n\n")
