"""The fleet engine against a misbehaving responder (tests/fleet_responder.py)
in a namespace of its own: replies with a wrong key, from a wrong source,
with another id, with another target's index, duplicated, corrupted, too
long to be ours; ICMP errors quoting our probes (whole, or the 8 bytes RFC
792 promises) and someone else's. Only the right ones count, the others in
their counters, the same for both backends."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Iterator, List

import pytest
from fleet_support import Fleet, outcome
from fping_lines import fields
from ping_netns import Netns, host_namespace
from support import outside_env, program

RESPONDER = Path(__file__).with_name("fleet_responder.py")
MS = 1_000_000
OCTETS = range(10, 22)


class Responder:
    def __init__(self, ns: Netns) -> None:
        self.proc = ns.spawn([sys.executable, str(RESPONDER), ns.there], env=outside_env())
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if first.strip() != "ready":
            raise RuntimeError(f"responder did not start: {first!r}")
        self.lines: List[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())


@pytest.fixture(scope="module")
def resp() -> Iterator[Netns]:
    ns = host_namespace("fleet-resp", 3, net=233)
    try:
        ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
        # Room on the link for the 3000-byte reply (IP_HDRINCL does not fragment).
        subprocess.run([program("ip"), "link", "set", "dev", ns.veth, "mtu", "9000"], check=True,
                       env=outside_env())
        ns.ip("link", "set", "dev", ns.veth + "p", "mtu", "9000")
        for octet in OCTETS:
            ns.ip("addr", "add", f"{ns.subnet}.{octet}/24", "dev", ns.veth + "p")
        Responder(ns)
        yield ns
    finally:
        ns.close()


def sweep(resp: Netns, backend: ModuleType) -> "tuple[list, object]":  # type: ignore[type-arg]
    # With the id filter on (the default), the reply with another id is dropped
    # by the kernel, and so are the replies of other pings on this host, which
    # would otherwise be counted foreign too.
    with Fleet(backend, timeout_ns=1000 * MS) as fleet:
        fleet.add([f"{resp.subnet}.{octet}" for octet in OCTETS])
        records = fleet.run()
        return records, fleet.engine.counters()


def test_only_the_right_replies_count(resp: Netns, backend: ModuleType) -> None:
    records, c = sweep(resp, backend)
    there = {t: f"{resp.subnet}.{o}" for t, o in enumerate(OCTETS)}
    assert outcome(records) == sorted([
        ("reply", 0, 0, 0, 0, 0), ("done", 0, 1, 0, 0, 0),
        ("reply", 1, 0, 0, 0, 0), ("reply", 1, 0, 1, 0, 0), ("done", 1, 1, 0, 0, 0),   # DUP
        ("reply", 2, 0, 2, 0, 0), ("timeout", 2, 0, 0, 0, 0), ("done", 2, 1, 0, 0, 0),  # BAD_CHECKSUM
        ("timeout", 3, 0, 0, 0, 0), ("done", 3, 1, 0, 0, 0),     # wrong key
        ("timeout", 4, 0, 0, 0, 0), ("done", 4, 1, 0, 0, 0),     # wrong source
        ("timeout", 5, 0, 0, 0, 0), ("done", 5, 1, 0, 0, 0),     # another id (filtered)
        ("error", 6, 0, 0, 3, 1), ("done", 6, 1, 0, 0, 0),       # whole quote
        ("error", 7, 0, 0, 3, 1), ("done", 7, 1, 0, 0, 0),       # 8-byte quote
        ("reply", 8, 0, 0, 0, 0), ("done", 8, 1, 0, 0, 0),       # after someone else's error
        ("reply", 9, 0, 0, 0, 0), ("done", 9, 1, 0, 0, 0),       # after the oversize one
        ("timeout", 10, 0, 0, 0, 0), ("done", 10, 1, 0, 0, 0),   # silent
        ("timeout", 11, 0, 0, 0, 0), ("done", 11, 1, 0, 0, 0),   # another target's index
    ])
    assert (c.sent, c.received, c.duplicates, c.corrupted, c.errors, c.malformed) \
        == (12, 4, 1, 1, 2, 1), c
    # wrong key, wrong source, another target's index, someone else's error (and
    # whatever other programs on a shared host sent our raw socket meanwhile)
    assert c.foreign >= 4, c
    for r in records:
        if r[0] in (1, 2):   # replies and errors come from the target itself
            assert r[10][:4] == socket.inet_aton(there[r[1]]), r


def test_backends_agree_on_the_responder(resp: Netns, c_backend: ModuleType,
                                         py_backend: ModuleType) -> None:
    c_records, c_counters = sweep(resp, c_backend)
    py_records, py_counters = sweep(resp, py_backend)
    assert outcome(c_records) == outcome(py_records)
    assert c_counters._replace(foreign=0) == py_counters._replace(foreign=0)


@pytest.mark.parametrize("flags", [[], ["-q"], ["-a"]], ids=["-c", "-c -q", "-c -a"])
def test_fping_cli_tells_of_duplicates_as_fping(resp: Netns, flags: List[str]) -> None:
    """fping 5.1 writes "duplicate for [N]" only where it prints no line per
    probe (-q, -a, ... in count mode); with them it says nothing of them.
    The last probe's duplicate may come after either program has ended, so
    only the first probe's is compared."""
    args = [*flags, "-c", "2", "-p", "50", "-t", "500", f"{resp.subnet}.11"]
    runs = [subprocess.run(cmd + args, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL, env=env, cwd="/")
            for cmd, env in (([program("fping")], outside_env()),
                             ([sys.executable, "-m", "pynet.fping"], None))]
    theirs, ours = runs
    assert ours.returncode == theirs.returncode == 0, (ours.stderr, theirs.stderr)

    def split(text: str) -> "tuple[object, set[str]]":
        f = fields(text)
        dups = {key[2] for key in f if key[0] == "duplicate"}
        return +type(f)({k: n for k, n in f.items() if k[0] != "duplicate"}), dups

    for mine, fping_text in ((ours.stdout, theirs.stdout), (ours.stderr, theirs.stderr)):
        (mine_rest, mine_dups), (their_rest, their_dups) = split(mine), split(fping_text)
        assert mine_rest == their_rest, (mine, fping_text)
        assert ("0" in mine_dups) == ("0" in their_dups) == bool(flags and fping_text is
                                                                theirs.stderr), (mine, fping_text)

