"""Without root: the unprivileged ICMP datagram socket when
net.ipv4.ping_group_range lets our group in, and a one-line error naming
the fix when it does not. The sysctl is per network namespace: the tests
set it (and put it back) inside one of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType
from typing import Iterator, List

import pytest
from ping_lines import parse
from ping_netns import Netns, host_namespace
from support import program

RANGE = "net.ipv4.ping_group_range"
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(scope="module")
def ns() -> Iterator[Netns]:
    ns = host_namespace("unpriv", 0, link=False)
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def group_range(ns: Netns) -> Iterator[None]:
    saved = ns.sysctl_get(RANGE)
    try:
        yield
    finally:
        ns.sysctl(RANGE, " ".join(saved.split()))


def run(ns: Netns, args: List[str], *, nobody: bool = True,
        backend: str = "c") -> subprocess.CompletedProcess[str]:
    user = [program("setpriv"), *NOBODY] if nobody else []
    env = dict(os.environ, PYNET_BACKEND=backend)
    # From /: the user must be able to enter the working directory.
    return subprocess.run([*ns.prefix(), *user, sys.executable, "-m", "pynet.ping", *args],
                          capture_output=True, text=True, timeout=60, cwd="/", env=env)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_nobody_pings_through_the_datagram_socket(ns: Netns, group_range: None,
                                                  backend: ModuleType, host: str) -> None:
    ns.sysctl(RANGE, "0 2147483647")
    done = run(ns, ["-c", "2", "-i", "0.2", host], backend=backend.NAME)
    assert done.returncode == 0, done.stderr
    kinds = [kind for kind, _ in parse(done.stdout)]
    assert kinds == ["header4" if "." in host else "header6", "reply", "reply", "blank", "title",
                     "counts", "rtt"]
    assert "2 packets transmitted, 2 received, 0% packet loss" in done.stdout


def test_root_can_ask_for_the_datagram_socket(ns: Netns, group_range: None) -> None:
    ns.sysctl(RANGE, "0 0")
    done = run(ns, ["--unprivileged", "-c", "1", "127.0.0.1"], nobody=False)
    assert done.returncode == 0, done.stderr
    assert "1 received" in done.stdout


@pytest.mark.parametrize("args, nobody", [
    (["-c", "1", "127.0.0.1"], True),
    (["-c", "1", "::1"], True),
    (["--unprivileged", "-c", "1", "127.0.0.1"], False),
])
def test_closed_range_is_one_clear_line(ns: Netns, group_range: None, args: List[str],
                                        nobody: bool) -> None:
    ns.sysctl(RANGE, "1 0")
    done = run(ns, args, nobody=nobody)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("ping: no permission to open an ICMP socket")
    assert 'sysctl -w net.ipv4.ping_group_range="0 2147483647"' in done.stderr
    assert "CAP_NET_RAW" in done.stderr


def test_flood_is_for_root(ns: Netns, group_range: None) -> None:
    ns.sysctl(RANGE, "0 2147483647")
    for args in (["-f", "-c", "3", "127.0.0.1"], ["-i", "0.001", "-c", "3", "127.0.0.1"]):
        done = run(ns, args)
        assert done.returncode == 2
        assert done.stderr == "ping: cannot flood; minimal interval allowed for user is 2ms\n"
