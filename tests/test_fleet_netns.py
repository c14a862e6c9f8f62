"""The fleet engine in network namespaces of its own (10.233.N.0/24): a
silent host (icmp_echo_ignore_all) for timeouts, retries and backoff; a
host whose replies are held back until 100,000 probes are out; a tiny
receive buffer for kernel drops; `nobody` on the unprivileged datagram
sockets once ping_group_range lets it in."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from fleet_support import Fleet
from ping_netns import Netns, host_namespace
from support import outside_env, program

from pynet._fleet_engine import DONE, REPLY, TIMEOUT

RUNNER = Path(__file__).with_name("fleet_run.py")
MS = 1_000_000
NET = 233
RANGE = "net.ipv4.ping_group_range"
SO_SNDBUFFORCE = 32
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


def run_in(ns: Netns, spec: Dict[str, Any], *, nobody: bool = False,
           timeout: float = 180) -> Dict[str, Any]:
    user = [program("setpriv"), *NOBODY] if nobody else []
    # The whole environment: the runner is pynet itself (under the sanitizer
    # build it needs LD_PRELOAD and PYTHONPATH, as the ping tests' runs do).
    done = subprocess.run([*ns.prefix(), *user, sys.executable, str(RUNNER), json.dumps(spec)],
                          capture_output=True, text=True, timeout=timeout, cwd="/",
                          env=dict(os.environ))
    assert done.stdout, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def silent() -> Iterator[Netns]:
    ns = host_namespace("fleet-silent", 0, net=NET)
    try:
        ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
        ns.sysctl("net.ipv6.icmp.echo_ignore_all", "1")
        yield ns
    finally:
        ns.close()


@pytest.fixture(scope="module")
def bare() -> Iterator[Netns]:
    ns = host_namespace("fleet-bare", 1, link=False, net=NET)
    try:
        yield ns
    finally:
        ns.close()


def of(records: List[tuple], target: int) -> List[tuple]:  # type: ignore[type-arg]
    return [r for r in records if r[1] == target]


def test_retries_back_off_against_a_silent_host(silent: Netns, backend: ModuleType) -> None:
    timeout, backoff = 100 * MS, 1.5
    with Fleet(backend, (4, 6), retries=3, backoff=backoff, timeout_ns=timeout) as fleet:
        fleet.add([silent.there, "127.0.0.1", silent.there6])
        records = fleet.run()
        c = fleet.engine.counters()
    # (foreign is not asserted here: in the root namespace, other programs'
    # ICMP traffic on a shared host may reach our sockets.)
    assert (c.sent, c.received, c.errors) == (9, 1, 0)
    assert [(r[0], r[2]) for r in of(records, 1)] == [(REPLY, 0), (DONE, 1)]
    for t in (0, 2):
        mine = of(records, t)
        assert [(r[0], r[2]) for r in mine] == [(TIMEOUT, 0), (TIMEOUT, 1), (TIMEOUT, 2),
                                                 (TIMEOUT, 3), (DONE, 4)]
        # Each retry goes out when the try before it timed out, and waits
        # backoff times longer: the gaps between timeouts are 150, 225, 337 ms.
        times = [r[9] for r in mine[:4]]
        for k, (a, b) in enumerate(zip(times, times[1:]), start=1):
            want = int(timeout * backoff ** k)
            assert want - 2 * MS <= b - a <= want + 250 * MS, (k, b - a, want)


def test_count_mode_times_out_each_probe(silent: Netns, backend: ModuleType) -> None:
    """Probes a period apart, several in flight at once (timeout > period),
    each timing out on its own; retries do not apply in count mode."""
    with Fleet(backend, count=4, period_ns=40 * MS, timeout_ns=130 * MS, retries=5) as fleet:
        fleet.add([silent.there, "127.0.0.1"])
        records = fleet.run()
        c = fleet.engine.counters()
    assert (c.sent, c.received) == (8, 4)
    assert [(r[0], r[2]) for r in of(records, 0)] == [
        (TIMEOUT, 0), (TIMEOUT, 1), (TIMEOUT, 2), (TIMEOUT, 3), (DONE, 4)]
    assert [(r[0], r[2]) for r in of(records, 1)] == [
        (REPLY, 0), (REPLY, 1), (REPLY, 2), (REPLY, 3), (DONE, 4)]
    # The first timeout comes after the second probe went out (and was answered
    # by the loopback target): more than one probe was in flight.
    first_timeout = next(i for i, r in enumerate(records) if r[0] == TIMEOUT)
    assert sum(1 for r in records[:first_timeout] if r[0] == REPLY) >= 2


@pytest.fixture(scope="module")
def held() -> Iterator[Netns]:
    """A host that answers, behind a link that can hold our requests back: a
    token bucket (tbf) on our end of the veth, nearly closed, then opened.
    (Held replies would not do: the kernel's ICMP socket that sends them has
    a small send buffer, and replies it cannot queue are never sent.) The
    neighbours are made permanent first, so no ARP gets stuck in the bucket."""
    ns = host_namespace("fleet-hold", 2, net=NET)
    try:
        peer = ns.veth + "p"
        ours = json.loads(subprocess.run([program("ip"), "-j", "link", "show", ns.veth],
                                         capture_output=True, text=True, check=True,
                                         env=outside_env()).stdout)[0]["address"]
        theirs = json.loads(ns.sh(program("ip"), "-j", "link", "show", peer).stdout)[0]["address"]
        subprocess.run([program("ip"), "neigh", "replace", ns.there, "lladdr", theirs, "dev",
                        ns.veth, "nud", "permanent"], check=True, env=outside_env())
        ns.ip("neigh", "replace", ns.here, "lladdr", ours, "dev", peer, "nud", "permanent")
        yield ns
    finally:
        ns.close()


def _tc(*args: str) -> str:
    return subprocess.run([program("tc"), *args], check=True, capture_output=True, text=True,
                          env=outside_env()).stdout


def _echo_counts(ns: Netns) -> Tuple[int, int]:
    """The host's own count of echo requests in and echo replies out."""
    lines = [line.split() for line in ns.sh("cat", "/proc/net/snmp").stdout.splitlines()
             if line.startswith("Icmp:")]
    counts = dict(zip(lines[0][1:], lines[1][1:]))
    return int(counts["InEchos"]), int(counts["OutEchoReps"])


def _link_queue(ns: Netns) -> int:
    """Packets the token bucket on our end of the veth still holds back."""
    return sum(int(q["qlen"]) for q in json.loads(_tc("-s", "-j", "qdisc", "show", "dev", ns.veth)))


def test_more_than_65535_probes_in_flight(held: Netns, backend: ModuleType) -> None:
    """100,000 targets (all one address: the index in each probe tells them
    apart) whose requests are held until every one is out: the whole sweep
    in flight at once, no 16-bit ceiling, every reply matched to its target."""
    n = 100_000
    _tc("qdisc", "add", "dev", held.veth, "root", "tbf", "rate", "8bit", "burst", "2kb",
        "limit", "256mb")
    try:
        with Fleet(backend, timeout_ns=180_000 * MS, rcvbuf=256 << 20) as fleet:
            # Held requests stay charged to our socket's send buffer.
            fleet.socks.socks[4].setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 256 << 20)
            base_in, base_out = _echo_counts(held)

            def seen(ns: Netns) -> Tuple[int, int]:
                now_in, now_out = _echo_counts(ns)
                return now_in - base_in, now_out - base_out

            fleet.engine.add(4, socket.inet_aton(held.there) * n)
            end = time.monotonic() + 120
            while fleet.engine.counters().sent < n:
                assert time.monotonic() < end, fleet.engine.counters()
                fleet.records.extend(fleet.engine.run(time.monotonic_ns() + 100 * MS, 10 * MS))
            c = fleet.engine.counters()
            assert c.sent - c.received > 65_535, c
            # Released at ~50,000 packets/s in bursts of ~30. The host's kernel
            # answers from one ICMP socket per CPU whose send buffer (~130 KB)
            # holds each reply until our namespace has taken it off the veth:
            # about 128 replies. Bursts of ~80 (8 KB) overflowed it when a busy
            # machine let two bursts' replies wait at once (IcmpOutErrors and
            # IpOutDiscards counted the replies it never sent); 3 KB leaves room
            # for four.
            _tc("qdisc", "change", "dev", held.veth, "root", "tbf", "rate", "40mbit",
                "burst", "3kb", "limit", "256mb")
            # The bucket looks at its queue again when a packet comes: one
            # more packet out of the link sets the held requests going.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as kick:
                kick.sendto(b"kick", (held.there, 9))
            # Until the link holds nothing back, the host's counters have
            # stopped, and we hold every reply it sent: twice in a row. What
            # the host did not answer (its counters show fewer replies out than
            # requests in) or never had (dropped on the way in, by a backlog
            # that overflowed on a busy machine) is not ours to wait for.
            settled, last = 0, None
            while settled < 2:
                assert time.monotonic() < end + 120, (fleet.engine.counters(), seen(held),
                                                      _link_queue(held))
                fleet.records.extend(fleet.engine.run(time.monotonic_ns() + 100 * MS, 10 * MS))
                got_in, sent_back = seen(held)
                received, queued = fleet.engine.counters().received, _link_queue(held)
                now = (got_in, sent_back, received, queued)
                done = now == last and received == sent_back and queued == 0
                settled, last = (settled + 1 if done else 0), now
            records = fleet.records
            c = fleet.engine.counters()
    finally:
        subprocess.run([program("tc"), "qdisc", "del", "dev", held.veth, "root"],
                       capture_output=True, env=outside_env())
    got_in, sent_back = seen(held)
    assert (c.sent, c.received, c.duplicates, c.malformed) == (n, sent_back, 0, 0), c
    # Every reply the host sent was matched, above; what it lost is its own
    # (none on a quiet machine). This floor keeps the test from passing on a
    # sweep that mostly went unanswered: more replies than a 16-bit sequence
    # could tell apart, each matched to its own target below.
    assert sent_back > 65_535, f"the host had {got_in} of {n} and answered {sent_back}"
    replies = sorted(r[1] for r in records if r[0] == REPLY)
    assert len(replies) == len(set(replies)) == sent_back and set(replies) <= set(range(n))
    assert all(r[2] == 0 and r[10][:4] == socket.inet_aton(held.there)
               for r in records if r[0] == REPLY)


@pytest.fixture
def group_range(bare: Netns) -> Iterator[None]:
    saved = bare.sysctl_get(RANGE)
    try:
        yield
    finally:
        bare.sysctl(RANGE, " ".join(saved.split()))


@pytest.mark.parametrize("privileged", [False, True], ids=["datagram", "raw"])
def test_kernel_drops_are_counted_apart(bare: Netns, group_range: None, backend: ModuleType,
                                        privileged: bool) -> None:
    """A receive buffer too small for a burst of loopback replies: what the
    kernel dropped is counted (SO_RXQ_OVFL, SO_MEMINFO). On a datagram socket
    every probe is answered or dropped by our own socket, exactly. A raw
    socket's queue also drops our own requests looping back on lo while it
    is full (the kernel applies ICMP_FILTER past that point), so there the
    drops are at least the replies lost."""
    bare.sysctl(RANGE, "0 2147483647")
    out = run_in(bare, {"backend": backend.NAME, "network": "127.51.0.0/16", "limit": 3000,
                        "config": {"timeout_ns": 300 * MS}, "rcvbuf": 1,
                        "privileged": privileged})
    c = out["counters"]
    assert out["raw"]["4"] is privileged
    lost = 3000 - c["received"]
    assert c["sent"] == 3000 and lost > 0, out
    if privileged:
        assert c["kernel_drops"] >= lost, out
    else:
        assert c["kernel_drops"] == lost, out


def test_nobody_sweeps_on_datagram_sockets(bare: Netns, group_range: None,
                                           backend: ModuleType) -> None:
    bare.sysctl(RANGE, "0 2147483647")
    out = run_in(bare, {"backend": backend.NAME, "families": [4, 6], "network": "127.52.0.0/24",
                        "targets": ["::1", "::1"], "config": {"timeout_ns": 2000 * MS},
                        "records": True}, nobody=True)
    assert out["raw"] == {"4": False, "6": False}, out
    c = out["counters"]
    assert (c["sent"], c["received"], c["foreign"], c["malformed"]) == (256, 256, 0, 0), out
    replies = [r for r in out["records"] if r[0] == REPLY]
    assert all(r[4] == 64 for r in replies)    # TTL / hop limit from the cmsg
    assert {r[1] for r in replies} == set(range(256))


@pytest.mark.parametrize("privileged", [None, True, False])
def test_nobody_without_a_way_gets_the_fix(bare: Netns, group_range: None,
                                           privileged: object) -> None:
    bare.sysctl(RANGE, "1 0")
    out = run_in(bare, {"privileged": privileged, "targets": ["127.0.0.1"]}, nobody=True)
    assert out["type"] == "FleetPermissionError" and out["permission"], out
    assert out["error"].startswith("no permission to open an ICMP socket")
    assert 'sysctl -w net.ipv4.ping_group_range="0 2147483647"' in out["error"]
    assert "CAP_NET_RAW" in out["error"]
