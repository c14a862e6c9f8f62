"""Loss, per target and in total, against what nftables dropped: hosts behind
a veth whose replies a rule drops ~30 % of (a counter per host), and silent
hosts (icmp_echo_ignore_all=1) in a second namespace. Also Ctrl-C in the
middle of `pynet fping -l`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from types import ModuleType
from typing import Dict, Iterator, List, Tuple

import pytest
from fleet_netns import FleetNetns, fleet_namespace, loopback_namespace
from support import program

from pynet import fleet

COUNT = 300
HOSTS = [2, 3, 4, 5]


@pytest.fixture(scope="module")
def lossy() -> Iterator[Tuple[FleetNetns, List[str]]]:
    program("nft")
    ns = fleet_namespace("lossy", 0)
    try:
        addresses = [ns.there] + ns.add_addresses(HOSTS[1:])
        rules = "".join(f"  ip saddr {a} icmp type echo-reply numgen random mod 100 < 30 "
                        "counter drop\n" for a in addresses)
        ns.nft("table inet pynet_fleet_loss {\n chain out {\n"
               "  type filter hook output priority 0; policy accept;\n" + rules + " }\n}\n")
        yield ns, addresses
    finally:
        ns.close()


@pytest.fixture(scope="module")
def silent() -> Iterator[FleetNetns]:
    ns = fleet_namespace("silent", 1)
    try:
        ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
        yield ns
    finally:
        ns.close()


def drops(ns: FleetNetns) -> Dict[str, int]:
    listing = ns.sh(program("nft"), "-j", "list", "table", "inet", "pynet_fleet_loss").stdout
    out = {}
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        address = packets = None
        for expr in rule["expr"]:
            if "match" in expr and expr["match"]["left"].get("payload", {}).get("field") == "saddr":
                address = expr["match"]["right"]
            if "counter" in expr:
                packets = int(expr["counter"]["packets"])
        if address is not None and packets is not None:
            out[address] = packets
    return out


def test_loss_per_target_and_in_total(lossy: Tuple[FleetNetns, List[str]], silent: FleetNetns,
                                      backend: ModuleType) -> None:
    ns, addresses = lossy
    before = drops(ns)
    results = fleet.ping([*addresses, silent.there], count=COUNT, period=0.004, timeout=1.0,
                         keep_replies=False, backend=backend.NAME)
    after = drops(ns)
    total_sent = total_received = total_dropped = 0
    for r in results[:-1]:
        dropped = after[r.address] - before[r.address]
        assert 0.15 * COUNT < dropped < 0.45 * COUNT, (r.address, dropped)
        assert r.transmitted == COUNT
        assert abs(r.loss_percent - 100.0 * dropped / COUNT) <= 1.0, (r, dropped)
        assert r.received + dropped == COUNT
        total_sent += r.transmitted
        total_received += r.received
        total_dropped += dropped
    assert abs(100.0 * (total_sent - total_received) / total_sent
               - 100.0 * total_dropped / total_sent) <= 1.0
    quiet = results[-1]
    assert (quiet.address, quiet.transmitted, quiet.received, quiet.loss_percent) == \
        (silent.there, COUNT, 0, 100.0)


def test_fping_summary_shows_the_loss(lossy: Tuple[FleetNetns, List[str]]) -> None:
    ns, addresses = lossy
    before = drops(ns)
    done = subprocess.run([sys.executable, "-m", "pynet.fping", "-q", "-c", str(COUNT), "-p", "4",
                           "-t", "1000", *addresses], capture_output=True, text=True, timeout=120,
                          cwd="/", env=dict(os.environ))
    after = drops(ns)
    assert done.returncode == 0, done.stderr
    for line in done.stderr.splitlines():
        m = re.match(r"^(\S+) : xmt/rcv/%loss = (\d+)/(\d+)/(\d+)%", line)
        assert m, line
        dropped = after[m.group(1)] - before[m.group(1)]
        assert (int(m.group(2)), int(m.group(3))) == (COUNT, COUNT - dropped)
        assert abs(int(m.group(4)) - 100.0 * dropped / COUNT) <= 1.0


def test_sigint_mid_run_prints_the_summaries() -> None:
    program("nft")
    ns = loopback_namespace("sigint", silent="127.0.0.2")
    try:
        proc = subprocess.Popen([*ns.prefix(), sys.executable, "-m", "pynet.fping", "-l", "-p", "50",
                                 "127.0.0.1", "127.0.0.2"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd="/", env=dict(os.environ))
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 30
        while len([s for s in seen if s.startswith("127.0.0.1 : [")]) < 3:
            assert time.monotonic() < deadline, seen
            line = proc.stdout.readline()
            assert line, "pynet fping ended early"
            seen.append(line)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == 1, err
        assert "Traceback" not in err
        summary = [line for line in err.splitlines() if "xmt/rcv" in line]
        assert [line.split(" :")[0] for line in summary] == ["127.0.0.1", "127.0.0.2"]
        m = re.match(r"^127\.0\.0\.1 : xmt/rcv/%loss = (\d+)/(\d+)/0%", summary[0])
        assert m and int(m.group(1)) == int(m.group(2)) >= 3, summary
        assert re.match(r"^127\.0\.0\.2 : xmt/rcv/%loss = \d+/0/100%$", summary[1]), summary
    finally:
        ns.close()
