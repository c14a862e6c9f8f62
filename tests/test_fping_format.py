"""pynet fping against fping 5.1 itself: the same scenarios through both, in a
namespace where 127.0.0.1 answers and 127.0.0.2 is silent. Every line of
both outputs must match one of fping's patterns (tests/fping_lines.py), the
lines must carry the same fields (the times aside), and the exit codes must
agree."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator, List, Sequence

import pytest
from fleet_netns import FleetNetns, loopback_namespace
from fping_lines import fields
from support import outside_env, program

ALIVE, SILENT = "127.0.0.1", "127.0.0.2"
FAST = ["-t", "50", "-r", "0"]
COUNT = ["-p", "50", "-t", "50"]


@pytest.fixture(scope="module")
def ns() -> Iterator[FleetNetns]:
    program("nft")
    space = loopback_namespace("format", silent=SILENT)
    try:
        yield space
    finally:
        space.close()


def run(ns: FleetNetns, ours: bool, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    # Our interpreter keeps the environment (the sanitizer run's LD_PRELOAD
    # with it); fping gets it without.
    cmd = [sys.executable, "-m", "pynet.fping"] if ours else [program("fping")]
    return subprocess.run([*ns.prefix(), *cmd, *args], capture_output=True, text=True,
                          timeout=60, cwd="/", env=dict(os.environ) if ours else outside_env(),
                          stdin=subprocess.DEVNULL)


SCENARIOS: List[List[str]] = [
    [*FAST],
    ["-c", "3", *COUNT],
    ["-C", "3", *COUNT],
    ["-q", "-c", "2", *COUNT],
    ["-q", "-C", "2", *COUNT],
    ["-s", "-t", "50", "-r", "1"],
    ["-s", "-c", "2", *COUNT],
    ["-a", *FAST],
    ["-u", *FAST],
    ["-e", *FAST],
    ["-o", "-c", "3", *COUNT],
    ["-D", "-c", "2", *COUNT],
    ["-x", "1", *FAST],
    ["-x", "2", *FAST],
    ["-i", "0", "-c", "1", *COUNT],
    # -q, -a, -u and -x each silence fping's "verbose" lines; -a and -u
    # still list their targets under -q and -x, and counting under any of
    # them prints no line per probe (nor the blank line before the summary).
    ["-a", "-q", *FAST],
    ["-u", "-q", *FAST],
    ["-x", "1", "-a", *FAST],
    ["-x", "1", "-u", *FAST],
    ["-c", "2", "-a", *COUNT],
    ["-c", "2", "-u", *COUNT],
    ["-c", "2", "-x", "1", *COUNT],
    ["-C", "2", "-a", *COUNT],
    # A reply later than -t is lost however soon it is read: with -t 0, all.
    # (Not with -s: how many of them fping reads before it exits is a race.)
    ["-t", "0", "-r", "0"],
    ["-t", "0", "-r", "2"],
    # -p 0: as fast as -i allows, and in count mode -t defaults to -p.
    ["-p", "0", "-c", "2"],
    ["-p", "0", "-c", "2", "-t", "50"],
    ["-Q", "0", "-c", "2", *COUNT],      # -Q 0: -q without interval summaries
]


@pytest.mark.parametrize("args", SCENARIOS, ids=lambda a: " ".join(a))
def test_same_lines_as_fping(ns: FleetNetns, args: List[str]) -> None:
    theirs = run(ns, False, [*args, ALIVE, SILENT])
    ours = run(ns, True, [*args, ALIVE, SILENT])
    assert ours.returncode == theirs.returncode, (ours.stderr, theirs.stderr)
    assert fields(ours.stdout) == fields(theirs.stdout), (ours.stdout, theirs.stdout)
    assert fields(ours.stderr) == fields(theirs.stderr), (ours.stderr, theirs.stderr)


@pytest.mark.parametrize("target", ["127.0.0.0/30", "127.0.0.1 127.0.0.2"])
def test_generate(ns: FleetNetns, target: str) -> None:
    args = ["-g", *target.split(), *FAST]
    theirs = run(ns, False, args)
    ours = run(ns, True, args)
    assert ours.returncode == theirs.returncode == 1
    assert fields(ours.stdout) == fields(theirs.stdout)
    assert ("alive", ALIVE, "False") in fields(ours.stdout)


@pytest.mark.parametrize("flags", [[], ["-a"], ["-u", "-s"]], ids=["default", "-a", "-u -s"])
def test_a_sweep_big_enough_for_lanes(ns: FleetNetns, flags: List[str]) -> None:
    """32,766 targets: a run of several engines side by side (one per CPU)
    and the batch path of the plain modes; one of them silent."""
    args = [*flags, "-i", "0", "-g", "127.0.0.0/17", *FAST]
    theirs = run(ns, False, args)
    ours = run(ns, True, args)
    assert ours.returncode == theirs.returncode == 1
    assert fields(ours.stdout) == fields(theirs.stdout)
    assert fields(ours.stderr) == fields(theirs.stderr)
    lines = ours.stdout.splitlines()
    alive = [line for line in lines if line != SILENT and not line.endswith("unreachable")]
    assert len(alive) == (0 if "-u" in flags else 32765)
    assert len(set(lines)) == len(lines) == len(alive) + ("-a" not in flags)


@pytest.mark.parametrize("args", [
    ["-Z", ALIVE], ["--nosuch", ALIVE], ["-c"], ["-l", "-c", "2", ALIVE], ["-a", "-u", ALIVE],
    ["-B", "0.5", ALIVE], ["-B", "200", ALIVE], ["-b", "70000", ALIVE], ["-g", "127.0.0.0/33"],
    ["-H", "256", ALIVE], ["-H", "256", "-a", "-u", ALIVE],
], ids=lambda a: " ".join(a))
def test_bad_options_as_fping(ns: FleetNetns, args: List[str]) -> None:
    theirs = run(ns, False, args)
    ours = run(ns, True, args)
    assert ours.returncode == theirs.returncode == 1
    assert "Traceback" not in ours.stderr
    first = ours.stderr.splitlines()[0]
    assert first.startswith("fping: ")
    if not theirs.stderr.startswith("Usage:"):
        assert first.split("fping: ", 1)[1] == theirs.stderr.splitlines()[0].split("fping: ", 1)[1]


@pytest.mark.parametrize("args, code", [
    (["-I", "nosuchdev0", ALIVE], 1),
    (["-S", "10.237.99.99", ALIVE], 4),     # on no interface of the namespace: bind fails
    (["-4", "::1"], 2),
    (["-6", ALIVE], 2),
], ids=lambda a: " ".join(a) if isinstance(a, list) else str(a))
def test_setup_failures_in_fpings_words(ns: FleetNetns, args: List[str], code: int) -> None:
    theirs = run(ns, False, args)
    ours = run(ns, True, args)
    assert ours.returncode == theirs.returncode == code
    assert ours.stdout == theirs.stdout == ""
    # fping names itself by its argv[0], here its whole path.
    assert ours.stderr == theirs.stderr.replace(program("fping") + ":", "fping:"), \
        (ours.stderr, theirs.stderr)


def test_unknown_host_reported_and_the_rest_run(ns: FleetNetns) -> None:
    args = [*FAST, "nosuch.invalid", ALIVE]
    theirs = run(ns, False, args)
    ours = run(ns, True, args)
    assert ours.returncode == theirs.returncode == 2
    assert ours.stdout == theirs.stdout == f"{ALIVE} is alive\n"
    assert ours.stderr.startswith("nosuch.invalid: ")


@pytest.mark.parametrize("flag", ["-c", "-C"])
def test_names_padded_to_the_longest(ns: FleetNetns, flag: str) -> None:
    args = [flag, "2", *COUNT, "127.0.0.1", "127.0.0.100"]
    theirs, ours = run(ns, False, args), run(ns, True, args)
    assert ours.returncode == theirs.returncode == 0

    def columns(text: str) -> List[int]:
        return sorted(line.index(" : ") for line in text.splitlines() if " : " in line)

    assert columns(ours.stdout) == columns(theirs.stdout) == [11] * 4
    assert columns(ours.stderr) == columns(theirs.stderr) == [11] * 2


def test_start_loads_no_heavy_module() -> None:
    """A sweep's start-up is a fifth of its run: `pynet fping` imports
    neither typing nor dataclasses (nor inspect, which it pulls in), nor
    asyncio (the Pinger's) nor json (--json's)."""
    code = ("import sys; from pynet.fping._main import main; rc = main(['-q', '-t', '500', "
            "'127.0.0.1']); heavy = {'typing', 'dataclasses', 'inspect', 'asyncio', 'json', "
            "'argparse'} & set(sys.modules); print(sorted(heavy)); sys.exit(rc)")
    env = {**os.environ, "PYNET_BACKEND": "c"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
