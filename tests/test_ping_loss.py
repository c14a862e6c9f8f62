"""Loss accounting: a namespace whose nftables drop about 30 % of the echo
replies it sends, and count them. pynet's reported loss must match what the
rule dropped."""

from __future__ import annotations

import json
import re
import subprocess
from types import ModuleType
from typing import Iterator

import pytest
from ping_netns import Netns, host_namespace
from support import cli, outside_env, program

from pynet.ping import ping

RULES = """
table inet pynet_loss {
    chain out {
        type filter hook output priority 0; policy accept;
        icmp type echo-reply numgen random mod 100 < 30 counter drop
    }
}
"""
COUNT = 500


@pytest.fixture(scope="module")
def lossy() -> Iterator[Netns]:
    nft = program("nft")
    ns = host_namespace("lossy", 3)
    try:
        subprocess.run([*ns.prefix(), nft, "-f", "-"], input=RULES, text=True, check=True,
                       capture_output=True, timeout=30, env=outside_env())
        yield ns
    finally:
        ns.close()


def dropped(ns: Netns) -> int:
    listing = ns.sh(program("nft"), "-j", "list", "table", "inet", "pynet_loss").stdout
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule")
        if rule:
            for expr in rule["expr"]:
                if "counter" in expr:
                    return int(expr["counter"]["packets"])
    raise AssertionError(f"no counter in {listing}")


def test_reported_loss_is_what_the_rule_dropped(lossy: Netns, backend: ModuleType) -> None:
    before = dropped(lossy)
    result = ping(lossy.there, count=COUNT, interval=0.002, timeout=1.0, backend=backend.NAME)
    drops = dropped(lossy) - before
    assert 0.2 * COUNT < drops < 0.4 * COUNT, drops
    measured = 100.0 * drops / COUNT
    assert result.transmitted == COUNT
    assert abs(result.loss_percent - measured) <= 2.0, (result.loss_percent, measured)
    assert result.received + drops == COUNT  # nothing else is lost on a veth
    assert result.duplicates == result.corrupted == result.errors == 0


def test_cli_prints_the_loss(lossy: Netns) -> None:
    before = dropped(lossy)
    done = cli("pynet.ping", "-q", "-c", str(COUNT), "-i", "0.002", "-W", "1", lossy.there)
    drops = dropped(lossy) - before
    assert done.returncode == 0, done.stderr
    m = re.search(r"(\d+) packets transmitted, (\d+) received, ([\d.]+)% packet loss", done.stdout)
    assert m, done.stdout
    assert int(m.group(1)) == COUNT and int(m.group(2)) == COUNT - drops
    assert abs(float(m.group(3)) - 100.0 * drops / COUNT) <= 2.0
