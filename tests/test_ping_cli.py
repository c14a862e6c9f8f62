"""`python -m pynet.ping` / `pynet ping`: exit codes, one-line errors,
--json, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from types import ModuleType
from typing import List

import pytest
from ping_lines import parse
from support import cli, need_root, offline, outside_env, program


@pytest.fixture(autouse=True)
def _root() -> None:
    need_root()


@pytest.mark.parametrize("args, message", [
    (["-i", "inf", "127.0.0.1"], "ping: argument -i: invalid number of seconds value: 'inf'"),
    (["-t", "0", "127.0.0.1"], "ping: cannot set unicast time-to-live: Invalid argument"),
    (["-x", "127.0.0.1"], "ping: unrecognized arguments: -x"),
    (["-4", "::1"], "ping: ::1: "),
    (["-I", "nosuchif0", "-c", "1", "127.0.0.1"], "ping: SO_BINDTODEVICE nosuchif0: No such device"),
    # An address on no interface here: the bind fails, nothing is sent.
    (["-I", "10.231.254.254", "-c", "1", "127.0.0.1"],
     "ping: bind: Cannot assign requested address"),
])
def test_errors_are_one_line_exit_2(args: List[str], message: str) -> None:
    done = cli("pynet.ping", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(message), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    ["-c", "0"], ["-c", "x"], ["-t", "256"], ["-s", "x"],
], ids=lambda a: " ".join(a))
def test_bad_numbers_in_iputils_words_exit_1(args: List[str]) -> None:
    """strtol_or_err()'s: "invalid argument: 'X'" (and its range), exit 1."""
    full = [*args, "-c", "1", "127.0.0.1"] if args[0] != "-c" else [*args, "127.0.0.1"]
    ours = cli("pynet.ping", *full)
    theirs = subprocess.run([program("ping"), *full], capture_output=True, text=True,
                            timeout=60, env=outside_env())
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout == theirs.stdout == ""
    # iputils names itself by its argv[0], here its whole path.
    assert ours.stderr == theirs.stderr.replace(program("ping") + ":", "ping:")
    assert ours.stderr.startswith("ping: invalid argument: '")


@pytest.mark.parametrize("size", ["70000", "65520"])
def test_a_size_past_the_largest_datagram_exits_1(size: str) -> None:
    done = cli("pynet.ping", "-s", size, "127.0.0.1")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"ping: invalid argument: '{size}': out of range: 0 <= value <= 65507\n"


def test_unknown_host_sends_no_query() -> None:
    done = cli("pynet.ping", "-c", "1", "nosuchhost.invalid", prefix=offline())
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ping: nosuchhost.invalid: ") and done.stderr.count("\n") == 1


def test_no_route_is_exit_2() -> None:
    # An empty namespace has no route anywhere: found before anything is sent.
    done = cli("pynet.ping", "-c", "1", "10.231.255.1", prefix=offline())
    assert done.returncode == 2
    assert done.stderr == "ping: connect: Network is unreachable\n"


def test_pynet_entry_point() -> None:
    """README's first command."""
    done = cli("pynet", "ping", "-c", "2", "-i", "0.2", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert "2 packets transmitted, 2 received, 0% packet loss" in done.stdout


def test_deadline_short_of_count_exits_1(backend: ModuleType) -> None:
    done = cli("pynet.ping", "-c", "100", "-i", "0.1", "-w", "0.5", "127.0.0.1",
               env={"PYNET_BACKEND": backend.NAME})
    assert done.returncode == 1
    counts = [f for k, f in parse(done.stdout) if k == "counts"][0]
    assert 0 < int(counts["rx"] or 0) < 100  # type: ignore[arg-type]


def test_deadline_0_is_no_deadline_as_in_iputils(backend: ModuleType) -> None:
    args = ["-c", "3", "-i", "0.05", "-w", "0", "127.0.0.1"]
    ours = cli("pynet.ping", *args, env={"PYNET_BACKEND": backend.NAME})
    theirs = subprocess.run([program("ping"), *args], capture_output=True, text=True,
                            timeout=60, env=outside_env())
    assert ours.returncode == theirs.returncode == 0, (ours.stdout, theirs.stdout)
    for out in (ours.stdout, theirs.stdout):
        counts = [f for k, f in parse(out) if k == "counts"][0]
        assert (counts["tx"], counts["rx"]) == ("3", "3"), out


@pytest.mark.parametrize("flag", ["--json", "-j"])
def test_json_document(backend: ModuleType, flag: str) -> None:
    done = cli("pynet.ping", flag, "-c", "3", "-i", "0.05", "::1",
               env={"PYNET_BACKEND": backend.NAME})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["host"], doc["address"], doc["family"], doc["size"]) == ("::1", "::1", 6, 56)
    assert [r["seq"] for r in doc["replies"]] == [1, 2, 3]
    assert all(r["bytes"] == 64 and r["time"] > 0 and r["checksum_ok"] and r["host"] == "::1"
               for r in doc["replies"])
    # iputils -j's summary keys, at the top as its statistics object has them
    assert (doc["transmitted"], doc["received"], doc["loss"]) == (3, 3, 0.0)
    assert (doc["duplicates"], doc["corrupted"], doc["errors"]) == (0, 0, 0)
    assert set(doc["rtt"]) == {"min", "avg", "max", "mdev"}
    assert doc["rtt"]["min"] <= doc["rtt"]["avg"] <= doc["rtt"]["max"]
    assert isinstance(doc["time"], int)
    assert doc["icmp_errors"] == [] and doc["exit_code"] == 0
    assert done.stdout.count("\n") == 1  # one line, as iputils writes each object


def test_ctrl_c_prints_the_statistics(backend: ModuleType) -> None:
    env = dict(os.environ, PYNET_BACKEND=backend.NAME)
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.Popen([sys.executable, "-m", "pynet.ping", "-i", "0.2", "127.0.0.1"],
                                cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("PING 127.0.0.1")
            assert "icmp_seq=1 " in proc.stdout.readline()  # running: interrupt it
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert err == ""
    kinds = [k for k, _ in parse(out)]
    assert kinds[-4:] == ["blank", "title", "counts", "rtt"]
    assert " packets transmitted, " in out and "0% packet loss" in out
