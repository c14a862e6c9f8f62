"""Helpers for tests that run pynet's command-line tools and outside programs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, Optional, Sequence

import pytest

REQUIRE_ALL = os.environ.get("PYNET_REQUIRE_ALL") == "1"


def need(condition: object, reason: str) -> None:
    """Skip the test when condition is false, or fail it in CI
    (PYNET_REQUIRE_ALL=1, which .ci/run sets after installing everything)."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"PYNET_REQUIRE_ALL=1 and a prerequisite is missing: {reason}")
    pytest.skip(reason)

# Outside programs must not inherit the sanitizer run's LD_PRELOAD.
_OUTSIDE_ENV_DROP = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")


def cli(module: str, *args: str, timeout: float = 60, env: Optional[Dict[str, str]] = None,
        input: Optional[str] = None, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args...` from a directory outside the source tree
    (so the installed package is the one imported) and capture its output.
    prefix goes before the interpreter (e.g. ip netns exec NAME)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([*prefix, sys.executable, "-m", module, *args], cwd=cwd, env=full_env,
                              capture_output=True, text=True, timeout=timeout, input=input)


def outside_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _OUTSIDE_ENV_DROP}


def program(name: str) -> str:
    """The path of an outside program (skips, or fails in CI, when missing)."""
    path = shutil.which(name)
    need(path, f"{name} is not installed")
    assert path is not None
    return path


def need_root() -> None:
    need(os.geteuid() == 0, "needs root")


# A command prefix that runs a program with no network at all (a fresh,
# empty network namespace): name lookups fail at once instead of asking a
# DNS server, so tests about unresolvable names send nothing anywhere.
def offline() -> list[str]:
    need_root()
    return [program("unshare"), "--net", "--"]


def assert_ended_by_timeout(elapsed_s: float, timeout_s: float, otherwise_s: float,
                            early_s: float = 0.0) -> None:
    """A wait that its timeout ended: not before timeout_s (less early_s,
    where the tool rounds its timers to the millisecond), and nearer to
    timeout_s than to otherwise_s, what the wait would have lasted had the
    timeout been ignored or misapplied (the next timer, the default, one
    timeout per address...). How late after its time a wakeup comes is the
    machine's load, not the code's (a shared CI machine has been 0.27 s late
    on a 0.5 s timeout), so no tighter bound is asserted: which timer ended
    the wait is what can be tested; precision is a benchmark's business."""
    assert otherwise_s > timeout_s
    assert timeout_s - early_s <= elapsed_s < (timeout_s + otherwise_s) / 2, (
        f"{elapsed_s:.3f} s: not ended by the {timeout_s:g} s timeout "
        f"(else {otherwise_s:g} s)")
