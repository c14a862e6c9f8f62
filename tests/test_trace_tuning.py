"""traceroute's socket tuning, against Linux traceroute on the same chain:
-t (TOS / traffic class) and -F (DF) as the first router sees the probes it
forwards, --fwmark as the client's output hook sees them, -i, and the
failures Linux traceroute reports after its header (-s, -i) in its words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, Iterator, List

import pytest
from support import program
from trace_chain import Chain, Node

METHODS = {"udp": [], "icmp": ["-I"], "tcp": ["-T"]}


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain(2, tag="u")
    try:
        first = f"{c.p4}.{c.link_of[0]}.1"
        first6 = f"{c.p6}:{c.link_of[0]}::1"
        # r1 counts what it forwards from the client: every probe past TTL 1.
        c.chain[1].nft(
            "table inet pynet_tuning {\n"
            " counter probes4 {}\n counter tos4 {}\n counter df4 {}\n"
            " counter probes6 {}\n counter tos6 {}\n"
            " chain forwarded {\n  type filter hook forward priority 0; policy accept;\n"
            f"  ip saddr {first} counter name probes4\n"
            f"  ip saddr {first} ip dscp cs1 counter name tos4\n"
            f"  ip saddr {first} ip frag-off & 0x4000 != 0 counter name df4\n"
            f"  ip6 saddr {first6} counter name probes6\n"
            f"  ip6 saddr {first6} ip6 dscp cs1 counter name tos6\n"
            " }\n}\n")
        c.client.nft(
            "table inet pynet_mark {\n counter marked {}\n"
            " chain output {\n  type filter hook output priority 0; policy accept;\n"
            "  meta mark 0x2a counter name marked\n }\n}\n")
        yield c
    finally:
        c.close()


def _counters(node: Node, table: str) -> Dict[str, int]:
    doc = json.loads(node.sh(program("nft"), "-j", "list", "counters", "table", "inet",
                             table).stdout)
    return {item["counter"]["name"]: item["counter"]["packets"]
            for item in doc["nftables"] if "counter" in item}


def _delta(c: Chain, node: Node, table: str, cmd: List[str]) -> Dict[str, int]:
    before = _counters(node, table)
    done = subprocess.run([*c.client.prefix(), *cmd], capture_output=True, text=True,
                          timeout=120, cwd="/", env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    after = _counters(node, table)
    return {name: after[name] - before[name] for name in after}


def _ours(args: List[str]) -> List[str]:
    return [sys.executable, "-m", "pynet.traceroute", *args]


def _theirs(args: List[str]) -> List[str]:
    return [program("traceroute"), *args]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("family", [4, 6])
def test_tos_and_dont_fragment_on_the_wire(chain: Chain, method: str, family: int) -> None:
    """With -t 32 (DSCP CS1) every probe r1 forwards carries it, and with
    -F the DF bit; without them neither (traceroute lets its probes be
    fragmented) - the same as Linux traceroute's probes, both ways."""
    target = chain.target4 if family == 4 else chain.target6
    probes, tos = f"probes{family}", f"tos{family}"
    for tuned in (["-t", "32", "-F"], []):
        args = ["-n", "-q", "1", *METHODS[method], *tuned, target]
        for make in (_ours, _theirs):
            d = _delta(chain, chain.chain[1], "pynet_tuning", make(args))
            assert d[probes] > 0, (make.__name__, d)
            assert d[tos] == (d[probes] if tuned else 0), (make.__name__, tuned, d)
            if family == 4:
                assert d["df4"] == (d[probes] if tuned else 0), (make.__name__, tuned, d)


def test_fwmark_marks_every_probe(chain: Chain) -> None:
    marked = _delta(chain, chain.client, "pynet_mark",
                    _ours(["-n", "-q", "1", "--fwmark", "42", chain.target4]))
    assert marked["marked"] > 0
    plain = _delta(chain, chain.client, "pynet_mark", _ours(["-n", "-q", "1", chain.target4]))
    assert plain["marked"] == 0


def test_interface_binds_the_probes(chain: Chain) -> None:
    """-i with the client's link reaches the target; -i lo has no route
    there and every hop is a star, as with Linux traceroute."""
    link = f"tr{chain.link_of[0]}a"
    for device, reached in ((link, True), ("lo", False)):
        args = ["-n", "-q", "1", "-m", "3", "-w", "0.3", "-i", device, chain.target4]
        ours = subprocess.run([*chain.client.prefix(), *_ours(args)], capture_output=True,
                              text=True, timeout=120, cwd="/")
        theirs = chain.client.sh(*_theirs(args), check=False)
        assert ours.returncode == theirs.returncode == 0, ours.stderr
        hops = [line.split()[1] for line in ours.stdout.splitlines()[1:]]
        assert hops == [line.split()[1] for line in theirs.stdout.splitlines()[1:]]
        assert hops == (chain.hops4 if reached else ["*"] * 3)


@pytest.mark.parametrize("args, words", [
    (["-s", "10.235.254.254"], "bind: Cannot assign requested address"),
    (["-i", "nosuchdev0"], "setsockopt SO_BINDTODEVICE: No such device"),
], ids=["-s", "-i"])
def test_setup_failures_after_the_header_in_traceroutes_words(chain: Chain, args: List[str],
                                                              words: str) -> None:
    full = ["-n", *args, chain.target4]
    ours = subprocess.run([*chain.client.prefix(), *_ours(full)], capture_output=True,
                          text=True, timeout=120, cwd="/")
    theirs = chain.client.sh(*_theirs(full), check=False)
    # traceroute ends each line as the next begins: its dying header has no
    # newline yet, and the error starts with it; ours are whole lines.
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout + "\n") == (
        1, f"traceroute to {chain.target4} ({chain.target4}), 30 hops max, 60 byte packets\n")
    assert ours.stderr == theirs.stderr.lstrip("\n") == words + "\n"


def test_library_checks_the_tuning() -> None:
    from pynet.traceroute import traceroute
    for kwargs in ({"tos": 256}, {"tos": -1}, {"mark": 1 << 32}, {"interface": ""},
                   {"interface": "x" * 16}):
        with pytest.raises(ValueError):
            traceroute("127.0.0.1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        traceroute("127.0.0.1", tos="32")  # type: ignore[arg-type]
