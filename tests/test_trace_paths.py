"""Paths that are not plain: a router that stays silent, a router that says
unreachable, a closed TCP port, and two routers side by side behind an
ECMP route that hashes on layer 4 (Paris mode keeps to one, --classic
shows both). Linux traceroute is the oracle where it sees the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Iterator, List

import pytest
from support import program
from trace_chain import Chain
from trace_lines import hops, shape


def _pynet(c: Chain, args: List[str], backend: str = "c") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYNET_BACKEND=backend)
    return subprocess.run([*c.client.prefix(), sys.executable, "-m", "pynet.traceroute", *args],
                          capture_output=True, text=True, timeout=120, cwd="/", env=env)


def _linux(c: Chain, args: List[str]) -> subprocess.CompletedProcess[str]:
    return c.client.sh(program("traceroute"), *args, check=False, timeout=120)


def _name(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["backend"])


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain(3, tag="p")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def silent_r2(chain: Chain) -> Iterator[None]:
    chain.nodes["r2"].nft(
        "table inet pynet_silent {\n chain out {\n"
        "  type filter hook output priority 0; policy accept;\n"
        "  icmp type time-exceeded drop\n  icmpv6 type time-exceeded drop\n }\n}\n")
    try:
        yield
    finally:
        chain.nodes["r2"].sh(program("nft"), "delete", "table", "inet", "pynet_silent")


@pytest.mark.parametrize("family", [4, 6])
def test_silent_router_shows_stars_and_the_trace_goes_on(chain: Chain, silent_r2: None,
                                                         backend: object, family: int,
                                                         request: pytest.FixtureRequest) -> None:
    target = chain.target4 if family == 4 else chain.target6
    args = ["-n", "-w", "1", f"-{family}", target]
    ours = _pynet(chain, args, _name(request))
    theirs = _linux(chain, args)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.split("\n")[2] == " 2  * * *"
    assert hops(ours.stdout) == hops(theirs.stdout)
    assert shape(ours.stdout) == shape(theirs.stdout)
    assert hops(ours.stdout)[-1][1] == (target,)


@pytest.fixture(scope="module")
def silent_target() -> Iterator[Chain]:
    """A chain of its own (10.239.L.0/24) whose target drops everything."""
    c = Chain(3, tag="s", net=239)
    try:
        c.target.nft("table inet pynet_silent {\n chain in {\n"
                     "  type filter hook input priority 0; policy drop;\n }\n}\n")
        yield c
    finally:
        c.close()


@pytest.mark.parametrize("family", [4, 6])
def test_deadline_ends_the_trace_with_the_answers_it_has(silent_target: Chain, backend: object,
                                                         family: int,
                                                         request: pytest.FixtureRequest) -> None:
    """Probes that would wait 100 s each, a deadline of 1 s: the trace ends
    with the routers' answers and the silent hops unanswered (the run's
    60 s limit fails the test if only the waits ended it)."""
    chain = silent_target
    target, routers = ((chain.target4, chain.hops4[:3]) if family == 4
                       else (chain.target6, chain.hops6[:3]))
    code = ("import json\nfrom pynet.traceroute import traceroute\n"
            f"r = traceroute({target!r}, max_ttl=6, wait=100.0, deadline=1.0, "
            f"backend={_name(request)!r})\n"
            "print(json.dumps(r.to_dict()))\n")
    done = subprocess.run([*chain.client.prefix(), sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert not result["reached"]
    assert [[p["address"] for p in h["probes"]] for h in result["hops"]] == \
        [[a] * 3 for a in routers] + [[None] * 3] * 3


def test_a_negative_deadline_is_refused() -> None:
    from pynet.traceroute import traceroute

    with pytest.raises(ValueError, match="deadline must be >= 0"):
        traceroute("127.0.0.1", deadline=-1.0)


REJECT = {
    ("!H", 4): "ip daddr {t} meta l4proto {{ udp, icmp, tcp }} reject with icmp type host-unreachable",
    ("!N", 4): "ip daddr {t} meta l4proto {{ udp, icmp, tcp }} reject with icmp type net-unreachable",
    ("!H", 6): "ip6 daddr {t} meta l4proto {{ udp, icmpv6, tcp }} reject with icmpv6 type addr-unreachable",
    ("!N", 6): "ip6 daddr {t} meta l4proto {{ udp, icmpv6, tcp }} reject with icmpv6 type no-route",
}


@pytest.mark.parametrize("method", [[], ["-I"], ["-T"]])
@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("mark", ["!H", "!N"])
def test_unreachable_target(chain: Chain, backend: object, mark: str, family: int,
                            method: List[str], request: pytest.FixtureRequest) -> None:
    target = chain.target4 if family == 4 else chain.target6
    rule = REJECT[(mark, family)].format(t=target)
    chain.nodes["r3"].nft("table inet pynet_reject {\n chain rejects {\n"
                          "  type filter hook forward priority 0; policy accept;\n"
                          f"  {rule}\n }}\n}}\n")
    try:
        args = ["-n", "-w", "1", *method, f"-{family}", target]
        ours = _pynet(chain, args, _name(request))
        theirs = _linux(chain, args)
    finally:
        chain.nodes["r3"].sh(program("nft"), "delete", "table", "inet", "pynet_reject")
    assert ours.returncode == 0, ours.stderr
    found = hops(ours.stdout)
    assert found == hops(theirs.stdout)
    router3 = (chain.hops4 if family == 4 else chain.hops6)[2]
    # Hop 4: probes r3 would forward, answered by r3 itself.
    assert found[-1] == (4, (router3,), (mark, mark, mark))


def test_closed_port_ends_the_trace_with_its_rst(chain: Chain, backend: object,
                                                 request: pytest.FixtureRequest) -> None:
    done = _pynet(chain, ["--json", "-T", "-p", "9", chain.target4], _name(request))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reached"] and result["method"] == "tcp"
    assert result["flow"]["destination_port"] == 9
    last = result["hops"][-1]
    assert [p["address"] for p in last["probes"]] == [chain.target4] * 3
    assert all(p["tcp_flags"] & 0x04 for p in last["probes"])  # RST
    assert len(result["hops"]) == 4


@pytest.fixture(scope="module")
def listener(chain: Chain) -> None:
    server = chain.target.spawn([sys.executable, "-c",
                                 "import socket,sys; s=socket.socket(); "
                                 "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                                 "s.bind(('0.0.0.0', 8080)); s.listen(); print('ready', flush=True);"
                                 " sys.stdin.read()"])
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"


def test_open_port_answers_syn_ack(chain: Chain, listener: None, backend: object,
                                   request: pytest.FixtureRequest) -> None:
    done = _pynet(chain, ["--json", "-T", "-p", "8080", chain.target4], _name(request))
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout)["hops"][-1]
    assert all(p["tcp_flags"] & 0x12 == 0x12 for p in last["probes"])  # SYN-ACK


# ---- ECMP --------------------------------------------------------------------

@pytest.fixture(scope="module")
def ecmp() -> Iterator[Chain]:
    c = Chain(3, ecmp_at=2, tag="e")
    try:
        yield c
    finally:
        c.close()


RUNS = 12


@pytest.mark.parametrize("method", [[], ["-T"], ["-U"]])
def test_paris_keeps_one_path_per_flow(ecmp: Chain, backend: object, method: List[str],
                                       request: pytest.FixtureRequest) -> None:
    for _ in range(RUNS):
        done = _pynet(ecmp, ["-n", "-q", "6", *method, ecmp.target4], _name(request))
        assert done.returncode == 0, done.stderr
        found = hops(done.stdout)
        assert len(found[1][1]) == 1, done.stdout    # one router at hop 2 for the whole trace
        assert found[1][1][0] in ecmp.twin_hops4
        assert found[-1][1] == (ecmp.target4,)


def test_classic_shows_both_routers(ecmp: Chain, backend: object,
                                    request: pytest.FixtureRequest) -> None:
    seen = set()
    both_in_one = False
    for _ in range(RUNS):
        done = _pynet(ecmp, ["-n", "-q", "6", "--classic", ecmp.target4], _name(request))
        assert done.returncode == 0, done.stderr
        hop2 = hops(done.stdout)[1][1]
        seen.update(hop2)
        both_in_one = both_in_one or len(hop2) == 2
    assert seen == set(ecmp.twin_hops4)
    assert both_in_one
