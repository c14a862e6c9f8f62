"""ping's options beyond the basics (-p -M -Q -m -l -A -e -3 -U -b -r -B -L
-S -a -V -j), each through pynet and through iputils: the same line shapes,
the same words on stderr, the same exit codes; and what the options do on
the wire, counted by nftables in a namespace built for it (10.237.N.0/24)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, List, Tuple

import pytest
from ping_lines import parse
from ping_netns import Netns, host_namespace
from support import cli, need_root, outside_env, program

import pynet
from pynet.ping import PingResult

RESPONDER = Path(__file__).with_name("ping_responder.py")


def iputils(*args: str, prefix: Tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    # As "ping" (found on PATH), so that its messages start "ping: " as ours do.
    program("ping")
    return subprocess.run([*prefix, "ping", *args], capture_output=True, text=True,
                          timeout=60, env=outside_env())


def pynet_ping(backend: str, *args: str, prefix: Tuple[str, ...] = ()
               ) -> subprocess.CompletedProcess[str]:
    return cli("pynet.ping", *args, env={"PYNET_BACKEND": backend}, prefix=prefix)


# Fields that must agree line by line (the rest are timings).
SAME = {
    "header4": ("host", "addr", "size", "total"),
    "header6": ("host", "addr", "size"),
    "reply": ("bytes", "from", "seq", "ttl", "dup", "bad", "trunc", "bell"),
    "pattern": ("pattern",),
    "wrong": ("index", "sent", "got", "bell"),
    "dump": ("offset", "hex", "bell"),
    "counts": ("tx", "rx", "dups", "corrupted", "errors", "loss"),
}


def shape(text: str) -> List[Tuple[str, Dict[str, object]]]:
    out: List[Tuple[str, Dict[str, object]]] = []
    for kind, fields in parse(text):
        keep: Dict[str, object] = {k: fields[k] for k in SAME.get(kind, ())}
        if kind == "reply":
            keep["timed"] = fields["time"] is not None
        if kind == "rtt":
            keep = {"pipe": fields["pipe"], "ipg": fields["ipg"] is not None}
        out.append((kind, keep))
    return out


# ---- on loopback, against iputils ---------------------------------------------------

SCENARIOS: Dict[str, List[str]] = {
    "pattern": ["-c", "2", "-i", "0.2", "-p", "ab12", "127.0.0.1"],
    "pattern16": ["-c", "1", "-p", "000102030405060708090a0b0c0d0e0f10", "127.0.0.1"],
    "pattern-quiet": ["-c", "1", "-q", "-p", "ff", "127.0.0.1"],
    "preload": ["-c", "5", "-i", "0.3", "-l", "3", "127.0.0.1"],
    "adaptive": ["-c", "5", "-A", "127.0.0.1"],
    "user-latency": ["-c", "2", "-i", "0.2", "-U", "127.0.0.1"],
    "ident": ["-c", "2", "-i", "0.2", "-e", "4321", "127.0.0.1"],
    "tos": ["-c", "2", "-i", "0.2", "-Q", "0x10", "127.0.0.1"],
    "tclass": ["-c", "2", "-i", "0.2", "-Q", "32", "::1"],
    "mark": ["-c", "2", "-i", "0.2", "-m", "5", "127.0.0.1"],
    "pmtu-do": ["-c", "2", "-i", "0.2", "-M", "do", "127.0.0.1"],
    "pmtu-dont": ["-c", "1", "-M", "dont", "-s", "3000", "127.0.0.1"],
    "pmtu-want6": ["-c", "1", "-M", "want", "::1"],
    "dontroute": ["-c", "2", "-i", "0.2", "-r", "127.0.0.1"],
    "sticky": ["-c", "2", "-i", "0.2", "-B", "127.0.0.1"],
    "noloop": ["-c", "1", "-L", "127.0.0.1"],
    "sndbuf": ["-c", "2", "-i", "0.2", "-S", "4096", "127.0.0.1"],
    "audible": ["-c", "2", "-i", "0.2", "-a", "127.0.0.1"],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_option_output_matches_iputils(name: str, backend: ModuleType) -> None:
    need_root()
    want = iputils(*SCENARIOS[name])
    got = pynet_ping(backend.NAME, *SCENARIOS[name])
    assert got.returncode == want.returncode == 0, got.stderr + want.stderr
    assert got.stderr == want.stderr == ""
    assert shape(got.stdout) == shape(want.stdout), \
        f"pynet:\n{got.stdout}\niputils:\n{want.stdout}"


def test_precise_rtt_has_microseconds(backend: ModuleType) -> None:
    """-3 (newer iputils than Debian's): every time= with three decimals."""
    need_root()
    done = pynet_ping(backend.NAME, "-c", "2", "-i", "0.2", "-3", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    times = [f["time"] for k, f in parse(done.stdout) if k == "reply"]
    assert len(times) == 2 and all(t is not None and len(t.split(".")[1]) == 3 for t in times)


# ---- bad arguments: iputils' words and exit code ------------------------------------

BAD = [
    ["-p", "zz"], ["-p", "12x4"], ["-M", "sometimes"], ["-Q", "300"], ["-Q", "abc"],
    ["-Q", "0xzz"], ["-m", "x"], ["-l", "0"], ["-l", "70000"], ["-e", "70000"], ["-e", "id"],
    ["-T", "never"], ["-R", "-T", "tsonly"], ["-S", "0"], ["-F", "0x1fffff"], ["-F", "flow"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_option_arguments_as_iputils(args: List[str]) -> None:
    want = iputils("-c", "1", *args, "127.0.0.1")
    got = cli("pynet.ping", "-c", "1", *args, "127.0.0.1")
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr)
    assert got.stdout == ""


def test_no_destination_as_iputils() -> None:
    want, got = iputils(), cli("pynet.ping")
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr) == \
        (1, "ping: usage error: Destination address required\n")


def test_version_exits_0() -> None:
    done = cli("pynet.ping", "-V")
    assert done.returncode == 0 and done.stdout.startswith("ping from pynet ")


def test_preload_above_3_needs_root() -> None:
    """As a user, iputils refuses -l 4 in these words (exit 2)."""
    need_root()
    nobody = [program("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    got = cli("pynet.ping", "-c", "1", "-l", "4", "127.0.0.1", prefix=nobody)
    want = iputils("-c", "1", "-l", "4", "127.0.0.1", prefix=tuple(nobody))
    assert got.returncode == want.returncode == 2
    assert got.stderr == want.stderr == "ping: cannot set preload to value greater than 3: 4\n"


def test_json_flag_j_has_iputils_keys(backend: ModuleType) -> None:
    need_root()
    done = pynet_ping(backend.NAME, "-j", "-c", "2", "-i", "0.1", "-p", "aa", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    for key in ("host", "transmitted", "received", "duplicates", "corrupted", "errors",
                "loss", "time", "rtt"):
        assert key in doc, key
    assert [(r["seq"], r["bytes"], r["host"], r["data_ok"]) for r in doc["replies"]] == \
        [(1, 64, "127.0.0.1", True), (2, 64, "127.0.0.1", True)]


# ---- the library keywords --------------------------------------------------------------

def test_library_options_on_loopback(backend: ModuleType) -> None:
    need_root()
    r = pynet.ping("127.0.0.1", count=4, interval=0.2, pattern=b"\xde\xad", preload=2,
                   tos=0x10, mark=3, pmtudisc="do", ident=777, sndbuf=8192,
                   dontroute=True, backend=backend.NAME)
    assert (r.transmitted, r.received, r.wrong_data) == (4, 4, 0)
    assert all(reply.data_ok for reply in r.replies)


def test_library_adaptive_and_user_latency(backend: ModuleType) -> None:
    need_root()
    r = pynet.ping("127.0.0.1", count=5, adaptive=True, user_latency=True,
                   backend=backend.NAME)
    # -A on loopback: the interval falls from 1 s to the round trip at once
    # (4,000 ms without it; half that is the bound, the machine's load aside).
    assert r.received == 5 and r.time_ms < 2000


@pytest.mark.parametrize("kwargs, error", [
    ({"pattern": b""}, ValueError), ({"pattern": bytes(17)}, ValueError),
    ({"pattern": "ab"}, TypeError), ({"pmtudisc": "sometimes"}, ValueError),
    ({"tos": 256}, ValueError), ({"mark": -1}, ValueError), ({"preload": 0}, ValueError),
    ({"ident": 65536}, ValueError), ({"sndbuf": 0}, ValueError), ({"tos": 1.5}, TypeError),
])
def test_library_rejects_bad_options(kwargs: Dict[str, object], error: type) -> None:
    with pytest.raises(error):
        pynet.ping("127.0.0.1", **kwargs)  # type: ignore[arg-type]


def test_pattern_and_preload_agree_across_backends(c_backend: ModuleType,
                                                   py_backend: ModuleType) -> None:
    need_root()
    results: List[PingResult] = [
        pynet.ping("127.0.0.1", count=3, interval=0.1, pattern=b"\x01\x02\x03", preload=3,
                   backend=b.NAME) for b in (c_backend, py_backend)]
    assert [(r.transmitted, r.received, r.wrong_data, r.duplicates) for r in results] == \
        [(3, 3, 0, 0)] * 2


# ---- namespaces: wire effects ----------------------------------------------------------

def ns237(kind: str, slot: int) -> Netns:
    """A namespace with a veth pair in 10.237.N.0/24 and fd00:237:N::/64."""
    ns = host_namespace(kind, slot, link=False)
    try:
        n = (os.getpid() % 60) * 4 + slot
        ns.subnet, ns.subnet6 = f"10.237.{n}", f"fd00:237:{n}"
        ns.here, ns.there = f"{ns.subnet}.1", f"{ns.subnet}.2"
        ns.here6, ns.there6 = f"{ns.subnet6}::1", f"{ns.subnet6}::2"
        ns.veth = f"po{slot}{os.getpid() % 100000}"
        ns.link()
    except BaseException:
        ns.close()
        raise
    return ns


@pytest.fixture(scope="module")
def wire_ns() -> Iterator[Netns]:
    ns = ns237("opts", 0)
    try:
        yield ns
    finally:
        ns.close()


NFT_RULES = """
table inet pynet_opts {
    counter tos20 {}
    counter mark9 {}
    counter tclass20 {}
    chain out {
        type filter hook output priority 0;
        ip protocol icmp icmp type echo-request ip dscp cs1 counter name tos20
        meta l4proto icmpv6 icmpv6 type echo-request ip6 dscp cs1 counter name tclass20
        meta l4proto { icmp, icmpv6 } meta mark 9 counter name mark9
    }
}
"""


def nft_counter(ns: Netns, name: str) -> int:
    listing = ns.sh(program("nft"), "-j", "list", "counter", "inet", "pynet_opts", name).stdout
    for item in json.loads(listing)["nftables"]:
        if "counter" in item:
            return int(item["counter"]["packets"])
    raise AssertionError(listing)


@pytest.mark.parametrize("tool", ["pynet-c", "pynet-python", "iputils"])
def test_tos_tclass_and_mark_on_the_wire(wire_ns: Netns, tool: str) -> None:
    """nftables in the pinger's namespace counts the requests carrying the
    TOS / traffic class and the mark that -Q and -m set."""
    ns = wire_ns
    subprocess.run([*ns.prefix(), program("nft"), "-f", "-"], input=NFT_RULES, text=True,
                   check=True, capture_output=True, env=outside_env())
    try:
        def run(*args: str) -> subprocess.CompletedProcess[str]:
            if tool == "iputils":
                return iputils(*args, prefix=tuple(ns.prefix()))
            return pynet_ping(tool.split("-")[1], *args, prefix=tuple(ns.prefix()))

        v4 = run("-c", "3", "-i", "0.1", "-Q", "0x20", "-m", "9", "127.0.0.1")
        v6 = run("-c", "2", "-i", "0.1", "-Q", "0x20", "::1")
        assert v4.returncode == v6.returncode == 0, v4.stderr + v6.stderr
        assert (nft_counter(ns, "tos20"), nft_counter(ns, "mark9"),
                nft_counter(ns, "tclass20")) == (3, 3, 2)
    finally:
        ns.sh(program("nft"), "delete", "table", "inet", "pynet_opts", check=False)


@pytest.mark.parametrize("tool", ["pynet-c", "pynet-python", "iputils"])
def test_pmtu_do_on_an_mtu_limited_veth(wire_ns: Netns, tool: str) -> None:
    """-M do -s 1400 over a 1300-byte link: the kernel refuses to fragment
    and says which MTU, as iputils prints it; -M dont fragments and gets
    its replies."""
    ns = wire_ns
    subprocess.run([program("ip"), "link", "set", ns.veth, "mtu", "1300"], check=True,
                   env=outside_env())
    ns.ip("link", "set", ns.veth + "p", "mtu", "1300")
    try:
        def run(*args: str) -> subprocess.CompletedProcess[str]:
            if tool == "iputils":
                return iputils(*args)
            return pynet_ping(tool.split("-")[1], *args)

        refused = run("-c", "2", "-i", "0.1", "-M", "do", "-s", "1400", ns.there)
        assert refused.returncode == 1
        assert refused.stderr.splitlines()[0] == "ping: local error: message too long, mtu=1300"
        counts = [f for k, f in parse(refused.stdout) if k == "counts"][0]
        assert (counts["rx"], counts["errors"]) == ("0", "2")
        fragmented = run("-c", "2", "-i", "0.1", "-M", "dont", "-s", "1400", ns.there)
        assert fragmented.returncode == 0, fragmented.stderr
        assert "2 received" in fragmented.stdout
    finally:
        subprocess.run([program("ip"), "link", "set", ns.veth, "mtu", "1500"], check=True,
                       env=outside_env())
        ns.ip("link", "set", ns.veth + "p", "mtu", "1500")


@pytest.mark.parametrize("tool", ["pynet-c", "pynet-python", "iputils"])
def test_broadcast_refused_without_b(wire_ns: Netns, tool: str) -> None:
    ns = wire_ns
    ns.sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0")
    broadcast = f"{ns.subnet}.255"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        if tool == "iputils":
            return iputils(*args)
        return pynet_ping(tool.split("-")[1], *args)

    refused = run("-c", "1", broadcast)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == ("ping: Do you want to ping broadcast? Then -b. If not, check "
                              "your local firewall rules\n")
    allowed = run("-b", "-c", "2", "-i", "0.2", broadcast)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr == "WARNING: pinging broadcast address\n"
    replies = [f for k, f in parse(allowed.stdout) if k == "reply"]
    assert {f["from"] for f in replies} == {ns.there}


@pytest.fixture(scope="module")
def mangler() -> Iterator[Netns]:
    ns = ns237("mangle", 1)
    try:
        ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
        proc = ns.spawn([sys.executable, str(RESPONDER), "--mangle"], env=outside_env())
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield ns
    finally:
        ns.close()


@pytest.mark.parametrize("extra", [[], ["-a"]], ids=["plain", "audible"])
def test_wrong_data_reported_as_iputils(mangler: Netns, backend: ModuleType,
                                        extra: List[str]) -> None:
    """The responder flips payload byte 20 of every reply: both say which
    byte, what was sent and what came back, and dump the payload as it came
    (then the bell, under -a)."""
    args = ["-c", "2", "-i", "0.2", *extra, mangler.there]
    want = iputils(*args)
    got = pynet_ping(backend.NAME, *args)
    assert got.returncode == want.returncode == 0
    assert shape(got.stdout) == shape(want.stdout), \
        f"pynet:\n{got.stdout}\niputils:\n{want.stdout}"
    wrong = [f for k, f in parse(got.stdout) if k == "wrong"]
    assert [(f["index"], f["sent"], f["got"]) for f in wrong] == [("20", "14", "eb")] * 2
    dumps = [(f["offset"], f["hex"].split()) for k, f in parse(got.stdout) if k == "dump"]
    payload = [f"{i:x}" for i in range(16, 56)]
    payload[20 - 16] = "eb"
    assert dumps == [("16", payload[:32]), ("48", payload[32:])] * 2
    patterned = pynet_ping(backend.NAME, "-p", "a5", *args)
    wrong = [f for k, f in parse(patterned.stdout) if k == "wrong"]
    assert [(f["index"], f["sent"], f["got"]) for f in wrong] == [("20", "a5", "5a")] * 2


def test_wrong_data_counted_by_the_library(mangler: Netns, backend: ModuleType) -> None:
    r = pynet.ping(mangler.there, count=3, interval=0.1, backend=backend.NAME)
    assert (r.received, r.wrong_data) == (3, 3)
    assert [reply.data_ok for reply in r.replies] == [False] * 3
    assert r.to_dict()["wrong_data"] == 3


def test_pmtu_probe_newer_than_debians_iputils(backend: ModuleType) -> None:
    """-M probe (IP_PMTUDISC_PROBE) is upstream's; Debian's iputils refuses it."""
    need_root()
    for target in ("127.0.0.1", "::1"):
        done = pynet_ping(backend.NAME, "-c", "1", "-M", "probe", target)
        assert done.returncode == 0 and "1 received" in done.stdout, done.stderr
