"""pynet traceroute beside Linux traceroute on the same chain of
namespaces: every method, IPv4 and IPv6, both backends, as root and (UDP,
ICMP) as nobody. The hops must be the same and every line must have the
shape of traceroute's lines."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator, List

import pytest
from support import program
from trace_chain import Chain
from trace_lines import HEADER, hops, shape

METHODS = {"udp": [], "icmp": ["-I"], "tcp": ["-T"], "udp-port": ["-U"]}
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]
RANGE = "net.ipv4.ping_group_range"


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain(3)
    try:
        yield c
    finally:
        c.close()


def pynet_trace(c: Chain, args: List[str], *, backend: str, nobody: bool = False,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    user = [program("setpriv"), *NOBODY] if nobody else []
    env = dict(os.environ, PYNET_BACKEND=backend)
    # From /: nobody must be able to enter the working directory.
    return subprocess.run([*c.client.prefix(), *user, sys.executable, "-m", "pynet.traceroute",
                           *args], capture_output=True, text=True, timeout=timeout, cwd="/",
                          env=env)


def linux_trace(c: Chain, args: List[str]) -> subprocess.CompletedProcess[str]:
    return c.client.sh(program("traceroute"), *args, check=False)


def target(c: Chain, family: int) -> str:
    return c.target4 if family == 4 else c.target6


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("method", list(METHODS))
def test_same_hops_as_linux_traceroute(chain: Chain, backend: object, family: int,
                                       method: str, request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["backend"]
    args = ["-n", *METHODS[method], f"-{family}", target(chain, family)]
    theirs = linux_trace(chain, args)
    ours = pynet_trace(chain, args, backend=name)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert shape(ours.stdout) == shape(theirs.stdout)
    assert hops(ours.stdout) == hops(theirs.stdout)
    expected = chain.hops4 if family == 4 else chain.hops6
    assert [h[1] for h in hops(ours.stdout)] == [(a,) for a in expected]
    header = HEADER.match(ours.stdout.split("\n")[0])
    assert header and header.groups() == HEADER.match(theirs.stdout.split("\n")[0]).groups()


@pytest.mark.parametrize("family", [4, 6])
def test_names_column_like_traceroute(chain: Chain, backend: object, family: int,
                                      request: pytest.FixtureRequest) -> None:
    """Without -n: "NAME (ADDRESS)" (no PTR records here: the address twice)."""
    name = request.node.callspec.params["backend"]
    ours = pynet_trace(chain, [f"-{family}", "-q", "1", target(chain, family)], backend=name)
    theirs = linux_trace(chain, [f"-{family}", "-q", "1", target(chain, family)])
    assert ours.returncode == 0, ours.stderr
    assert hops(ours.stdout) == hops(theirs.stdout)
    second = ours.stdout.split("\n")[1]
    address = (chain.hops4 if family == 4 else chain.hops6)[0]
    assert f" {address} ({address})  " in second


@pytest.fixture
def group_range(chain: Chain) -> Iterator[None]:
    saved = chain.client.sysctl_get(RANGE)
    chain.client.sysctl(RANGE, "0 2147483647")
    try:
        yield
    finally:
        chain.client.sysctl(RANGE, " ".join(saved.split()))


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("method", ["udp", "icmp"])
def test_nobody_traces_without_raw_sockets(chain: Chain, backend: object, group_range: None,
                                           family: int, method: str,
                                           request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["backend"]
    args = ["-n", *METHODS[method], f"-{family}", target(chain, family)]
    ours = pynet_trace(chain, args, backend=name, nobody=True)
    theirs = linux_trace(chain, args)
    assert ours.returncode == 0, ours.stderr
    assert hops(ours.stdout) == hops(theirs.stdout)


def test_nobody_without_ping_range_gets_one_line_naming_the_fix(chain: Chain) -> None:
    saved = chain.client.sysctl_get(RANGE)
    chain.client.sysctl(RANGE, "1 0")
    try:
        done = pynet_trace(chain, ["-n", "-I", chain.target4], backend="c", nobody=True)
    finally:
        chain.client.sysctl(RANGE, " ".join(saved.split()))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("traceroute: ")
    assert "ping_group_range" in lines[0] and "CAP_NET_RAW" in lines[0]


def test_tcp_as_nobody_names_the_fix(chain: Chain) -> None:
    done = pynet_trace(chain, ["-n", "-T", chain.target4], backend="c", nobody=True)
    assert done.returncode == 2
    lines = done.stderr.strip().split("\n")
    assert len(lines) == 1 and "raw TCP socket" in lines[0] and "CAP_NET_RAW" in lines[0]
