"""-R (record route), -T (IP timestamps), source routes and -F (IPv6 flow
labels), through pynet and through iputils: the same lines (RR, TS, `(same
route)`, the entries under them; times compared by shape, since they
differ by value), the same words on stderr, the same exit codes. The kernel
fills the options itself, on loopback and through a chain of namespace
routers (10.238.L.0/24); the flow label is read off the wire in a namespace
of the test's own."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from ping_lines import parse
from ping_netns import Netns, host_namespace
from support import cli, need_root, offline, program
from test_ping_options import iputils, pynet_ping
from trace_chain import Chain

import pynet
from pynet import _ping_loop as pl
from pynet.ping import IpTimestamp
from pynet.ping import _ipopt as ipo
from pynet.ping._ipopt_text import OptionsText
from pynet.ping._session import Plan, Session

LISTENER = Path(__file__).with_name("flow_listener.py")
NET = 238
TOOLS = ["pynet-c", "pynet-python", "iputils"]

# Fields that must agree line by line (the rest are timings).
SAME = {
    "header4": ("host", "addr", "size", "total"),
    "header6": ("host", "addr", "size"),
    "reply": ("bytes", "from", "seq", "ttl", "dup", "bell", "same"),
    "srr": ("strict", "entry"),
    "unrecorded": ("hops",),
    "counts": ("tx", "rx", "dups", "corrupted", "errors", "loss"),
}


def _stamp(entry: str) -> Tuple[Optional[str], bool, bool]:
    """A TS entry's shape: the address (tsandaddr), and whether the time is
    the absolute one and standard; its value differs from run to run."""
    parts = entry.split("\t")
    address = parts[0] if len(parts) == 2 else None
    return address, "absolute" in parts[-1], "not-standard" in parts[-1]


def shape(text: str) -> List[Tuple[str, Dict[str, object]]]:
    out: List[Tuple[str, Dict[str, object]]] = []
    option = ""
    for kind, fields in parse(text):
        keep: Dict[str, object] = {k: fields[k] for k in SAME.get(kind, ())}
        if kind in ("rr", "ts", "srr"):
            option = kind
        if kind in ("rr", "entry") and option in ("rr", "srr"):
            keep = {"address": fields["entry"]}
        if kind in ("ts", "entry") and option == "ts":
            keep = {"stamp": _stamp(str(fields["entry"]))}
        if kind == "reply":
            keep["timed"] = fields["time"] is not None
        out.append((kind, keep))
    return out


def run(tool: str, *args: str, prefix: Tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    if tool == "iputils":
        return iputils(*args, prefix=prefix)
    return pynet_ping(tool.split("-")[1], *args, prefix=prefix)


def same_as_iputils(backend: str, *args: str, prefix: Tuple[str, ...] = ()) -> str:
    want = iputils(*args, prefix=prefix)
    got = pynet_ping(backend, *args, prefix=prefix)
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr)
    assert shape(got.stdout) == shape(want.stdout), \
        f"pynet:\n{got.stdout}\niputils:\n{want.stdout}"
    return got.stdout


def lines_of(text: str, kind: str) -> List[Dict[str, Optional[str]]]:
    return [fields for k, fields in parse(text) if k == kind]


# ---- on loopback ------------------------------------------------------------------------

SCENARIOS: Dict[str, List[str]] = {
    "record-route": ["-c", "3", "-i", "0.2", "-R", "127.0.0.1"],
    "record-route-names": ["-c", "2", "-i", "0.2", "-R", "localhost"],
    "record-route-audible": ["-c", "2", "-i", "0.2", "-a", "-R", "127.0.0.1"],
    "record-route-quiet": ["-c", "2", "-i", "0.2", "-q", "-R", "127.0.0.1"],
    "tsonly": ["-c", "2", "-i", "0.2", "-T", "tsonly", "127.0.0.1"],
    "tsandaddr": ["-c", "2", "-i", "0.2", "-T", "tsandaddr", "127.0.0.1"],
    "tsprespec": ["-c", "1", "-T", "tsprespec", "127.0.0.1", "127.0.0.1"],
    "tsprespec-none": ["-c", "1", "-T", "tsprespec", "127.0.0.1"],
    "record-route-ipv6-ignored": ["-c", "1", "-R", "::1"],
    "timestamp-ipv6-ignored": ["-c", "1", "-T", "tsonly", "::1"],
    "flowlabel-ipv4-ignored": ["-c", "1", "-F", "0x1234", "127.0.0.1"],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_loopback_output_matches_iputils(name: str, backend: ModuleType) -> None:
    need_root()
    text = same_as_iputils(backend.NAME, *SCENARIOS[name])
    if name == "record-route":
        # Four stamps of one address on loopback (out, in, and back), then
        # iputils' "(same route)" on the replies after the first.
        assert [f["entry"] for k, f in parse(text) if k in ("rr", "entry")] == ["127.0.0.1"] * 4
        assert [f["same"] is not None for f in lines_of(text, "reply")] == [False, True, True]
        assert lines_of(text, "header4")[0]["total"] == "124"   # 56 + 28 + 40 option bytes


BAD = [
    ["-R", "127.0.0.1", "127.0.0.1"], ["-T", "tsonly", "127.0.0.1", "127.0.0.1"],
    ["-T", "tsprespec", "127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1",
     "127.0.0.1"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a[:2]) + f" x{len(a) - 1}" for a in BAD])
def test_too_many_hosts_exit_2_as_iputils(args: List[str]) -> None:
    """iputils prints its usage for these; pynet says which rule in one line."""
    want = iputils("-c", "1", *args)
    got = cli("pynet.ping", "-c", "1", *args)
    assert got.returncode == want.returncode == 2
    assert got.stdout == "" and len(got.stderr.splitlines()) == 1


def test_a_hop_that_does_not_resolve_as_iputils() -> None:
    """Offline, so the lookup asks no one: the same words, exit 2."""
    args = ["-c", "1", "-T", "tsprespec", "nosuchhost.invalid", "127.0.0.1"]
    want = iputils(*args, prefix=tuple(offline()))
    got = cli("pynet.ping", *args, prefix=offline())
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr)
    assert want.returncode == 2 and want.stderr.startswith("ping: nosuchhost.invalid: ")


# ---- through two routers ----------------------------------------------------------------

@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain(2, tag="o", net=NET)
    try:
        yield c
    finally:
        c.close()


@pytest.mark.parametrize("args", [["-R"], ["-T", "tsonly"], ["-T", "tsandaddr"]],
                         ids=["record-route", "tsonly", "tsandaddr"])
def test_chain_output_matches_iputils(chain: Chain, backend: ModuleType,
                                      args: List[str]) -> None:
    text = same_as_iputils(backend.NAME, "-c", "2", "-i", "0.2", *args, chain.target4,
                           prefix=tuple(chain.client.prefix()))
    if args == ["-R"]:
        route = [f["entry"] for k, f in parse(text) if k in ("rr", "entry")]
        # Every interface the request left by, the target, and back: the
        # client's link first and last.
        first = f"10.{NET}.{chain.link_of[0]}.1"
        assert route[0] == route[-1] == first and chain.target4 in route
        assert len(route) == 8
    if args == ["-T", "tsandaddr"]:
        # Four address-and-time slots: the rest of the hops are counted.
        assert lines_of(text, "unrecorded")[0]["hops"] == "3"


def test_chain_tsprespec_matches_iputils(chain: Chain, backend: ModuleType) -> None:
    hops = chain.hops4[:2]
    text = same_as_iputils(backend.NAME, "-c", "2", "-i", "0.2", "-T", "tsprespec", *hops,
                           chain.target4, prefix=tuple(chain.client.prefix()))
    stamps = [_stamp(str(f["entry"])) for k, f in parse(text) if k in ("ts", "entry")]
    assert [s[0] for s in stamps] == list(hops) * 2


def test_chain_json_carries_the_route(chain: Chain, backend: ModuleType) -> None:
    done = pynet_ping(backend.NAME, "-j", "-c", "2", "-i", "0.1", "-R", chain.target4,
                      prefix=tuple(chain.client.prefix()))
    assert done.returncode == 0, done.stderr
    replies = json.loads(done.stdout)["replies"]
    text = iputils("-c", "1", "-R", chain.target4, prefix=tuple(chain.client.prefix())).stdout
    want = [f["entry"] for k, f in parse(text) if k in ("rr", "entry")]
    assert [r["route"] for r in replies] == [want, want]
    stamped = pynet_ping(backend.NAME, "-j", "-c", "1", "-T", "tsandaddr", chain.target4,
                         prefix=tuple(chain.client.prefix()))
    reply = json.loads(stamped.stdout)["replies"][0]
    assert [t["address"] for t in reply["timestamps"]] == \
        [f"10.{NET}.1.1", f"10.{NET}.1.2", f"10.{NET}.2.2", chain.target4]
    assert reply["unrecorded_hops"] == 3 and all(t["standard"] for t in reply["timestamps"])


@pytest.fixture(scope="module")
def source_routed(chain: Chain) -> Iterator[Chain]:
    """The chain with source routes accepted (Linux drops them by default)."""
    toggle = "for f in /proc/sys/net/ipv4/conf/*/accept_source_route; do echo {} > $f; done"
    for node in chain.chain:
        node.sh("sh", "-c", toggle.format(1))
    try:
        yield chain
    finally:
        for node in chain.chain:
            node.sh("sh", "-c", toggle.format(0))


@pytest.mark.parametrize("hops", [1, 2])
def test_loose_source_route(source_routed: Chain, backend: ModuleType, hops: int) -> None:
    """HOP ... HOST: the request goes by the hops, and the reply's route
    comes back reversed, each router's address on the way back. (Debian's
    iputils drops CAP_NET_RAW before it sets the option, which Linux wants
    for source routes, so it says `record route: Operation not permitted`:
    no oracle here.)"""
    chain = source_routed
    via = chain.hops4[:hops]
    done = pynet_ping(backend.NAME, "-c", "2", "-i", "0.2", *via, chain.target4,
                      prefix=tuple(chain.client.prefix()))
    assert done.returncode == 0, done.stderr
    lines = parse(done.stdout)
    assert lines_of(done.stdout, "header4")[0]["total"] == "124"
    routes = [f["entry"] for k, f in lines if k in ("srr", "entry")]
    assert routes == list(reversed(via)) * 2
    assert {f["strict"] for f in lines_of(done.stdout, "srr")} == {"L"}


# ---- unprivileged: the datagram socket, IP_RETOPTS ---------------------------------------

@pytest.fixture(scope="module")
def open_ping() -> Iterator[Netns]:
    """A namespace (loopback only) whose ping_group_range lets anyone ping."""
    ns = host_namespace("ipopt-dgram", 0, link=False, net=NET)
    try:
        ns.sysctl("net.ipv4.ping_group_range", "0 2147483647")
        yield ns
    finally:
        ns.close()


def nobody(ns: Netns) -> Tuple[str, ...]:
    return (*ns.prefix(), program("setpriv"), "--reuid=65534", "--regid=65534",
            "--clear-groups", "--")


@pytest.mark.parametrize("args", [["-R"], ["-T", "tsandaddr"]], ids=["record-route", "tsandaddr"])
def test_datagram_socket_matches_iputils(open_ping: Netns, backend: ModuleType,
                                         args: List[str]) -> None:
    """As a user both take the datagram socket, whose replies' options come
    as a control message (IP_RETOPTS), not in a header."""
    same_as_iputils(backend.NAME, "-c", "2", "-i", "0.2", *args, "127.0.0.1",
                    prefix=nobody(open_ping))


def test_source_route_needs_cap_net_raw_as_iputils(open_ping: Netns) -> None:
    want = iputils("-c", "1", "127.0.0.1", "127.0.0.1", prefix=nobody(open_ping))
    got = cli("pynet.ping", "-c", "1", "127.0.0.1", "127.0.0.1", prefix=nobody(open_ping))
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr) == \
        (2, "ping: record route: Operation not permitted\n")


# ---- -F: the flow label on the wire ------------------------------------------------------

@pytest.fixture(scope="module")
def flows() -> Iterator[Netns]:
    ns = host_namespace("ipopt-flow", 1, link=False, net=NET)
    try:
        ns.sysctl("net.ipv4.ping_group_range", "0 2147483647")
        yield ns
    finally:
        ns.close()


def labels_seen(ns: Netns, tool: str, *args: str, user: bool = False
                ) -> Tuple[subprocess.CompletedProcess[str], List[int]]:
    """Run a ping in ns (as nobody, on the datagram socket, with user) with
    the listener there; the flow labels of the echo requests it saw."""
    listener = ns.spawn([sys.executable, str(LISTENER)])
    assert listener.stdout is not None and listener.stdin is not None
    assert listener.stdout.readline().strip() == "ready"
    done = run(tool, *args, prefix=nobody(ns) if user else tuple(ns.prefix()))
    listener.stdin.close()
    seen = [int(line.split()[0], 16) for line in listener.stdout.read().splitlines()]
    listener.wait(timeout=30)
    return done, seen


# Each run its own label: a label stays leased for seconds after its socket closes.
LABELS = {"pynet-c": 0x1a2b0, "pynet-python": 0x2b3c0, "iputils": 0x3c4d0}


@pytest.mark.parametrize("user", [False, True], ids=["raw", "datagram"])
@pytest.mark.parametrize("tool", TOOLS)
def test_flowlabel_on_the_wire(flows: Netns, tool: str, user: bool) -> None:
    label = LABELS[tool] + user
    done, seen = labels_seen(flows, tool, "-c", "3", "-i", "0.1", "-F", hex(label), "::1",
                             user=user)
    assert done.returncode == 0, done.stderr
    assert seen == [label] * 3
    assert lines_of(done.stdout, "header6")[0]["flow"] == f"{label:05x}"


@pytest.mark.parametrize("tool", TOOLS)
def test_flowlabel_zero_is_the_kernels_pick(flows: Netns, tool: str) -> None:
    """-F 0: a label the kernel leases, named in the header, on every request."""
    done, seen = labels_seen(flows, tool, "-c", "2", "-i", "0.1", "-F", "0", "::1")
    assert done.returncode == 0, done.stderr
    flow = lines_of(done.stdout, "header6")[0]["flow"]
    assert flow is not None and int(flow, 16) != 0 and seen == [int(flow, 16)] * 2


def test_flowlabel_in_use_refused_as_iputils() -> None:
    """A label leased to another socket: iputils' words, exit 2."""
    need_root()
    label = 0x40000 + os.getpid() % 0x3FFFF
    holder = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        request = struct.pack("=16s4sBBHHHI", socket.inet_pton(socket.AF_INET6, "::1"),
                              label.to_bytes(4, "big"), 0, 1, 1, 0, 0, 0)
        holder.setsockopt(socket.IPPROTO_IPV6, 32, request)  # IPV6_FLOWLABEL_MGR, exclusive
        want = iputils("-c", "1", "-F", hex(label), "::1")
        got = cli("pynet.ping", "-c", "1", "-F", hex(label), "::1")
    finally:
        holder.close()
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr) == \
        (2, "ping: can't set flowlabel: Operation not permitted\n")


# ---- the library --------------------------------------------------------------------------

def test_library_record_route_and_timestamps(backend: ModuleType) -> None:
    need_root()
    r = pynet.ping("127.0.0.1", count=2, interval=0.1, record_route=True, backend=backend.NAME)
    assert [reply.route for reply in r.replies] == [("127.0.0.1",) * 4] * 2
    assert r.to_dict()["replies"][0]["route"] == ["127.0.0.1"] * 4
    r = pynet.ping("127.0.0.1", count=1, timestamp="tsandaddr", backend=backend.NAME)
    stamps = r.replies[0].timestamps
    assert [(t.address, t.standard) for t in stamps] == [("127.0.0.1", True)] * 4
    assert all(0 <= t.time_ms < 86_400_000 for t in stamps) and not r.replies[0].route
    r = pynet.ping("127.0.0.1", count=1, timestamp="tsprespec", timestamp_hosts=["127.0.0.1"],
                   backend=backend.NAME)
    assert [t.address for t in r.replies[0].timestamps] == ["127.0.0.1"]
    r = pynet.ping("::1", count=2, interval=0.1, flowlabel=0, backend=backend.NAME)
    assert r.received == 2


@pytest.mark.parametrize("kwargs, error", [
    ({"record_route": True, "timestamp": "tsonly"}, ValueError),
    ({"timestamp": "always"}, ValueError),
    ({"timestamp": "tsonly", "timestamp_hosts": ["127.0.0.1"]}, ValueError),
    ({"timestamp": "tsprespec", "timestamp_hosts": ["127.0.0.1"] * 5}, ValueError),
    ({"timestamp": "tsprespec", "timestamp_hosts": "127.0.0.1"}, TypeError),
    ({"flowlabel": 1 << 20}, ValueError), ({"flowlabel": "1"}, TypeError),
    ({"flowlabel": 5}, ValueError),                      # an IPv6 option, IPv4 target
])
def test_library_rejects_bad_ip_options(kwargs: Dict[str, object], error: type) -> None:
    with pytest.raises(error):
        pynet.ping("127.0.0.1", **kwargs)  # type: ignore[arg-type]


def test_library_rejects_ipv4_options_for_ipv6() -> None:
    need_root()
    with pytest.raises(ValueError):
        pynet.ping("::1", record_route=True)


# ---- the loops: C and Python, record for record -------------------------------------------

def _records(backend: str, options: bytes) -> List[pl.Record]:
    from pynet.ping._socket import SocketOptions
    af, sockaddr = socket.AF_INET, ("127.0.0.1", 0)
    session = Session.open(af, sockaddr, Plan(count=3, interval_s=0.05, linger_s=2.0),
                           backend=backend, options=SocketOptions(ip_options=options))
    try:
        return [r for batch in session.batches() for r in batch]
    finally:
        session.close()


@pytest.mark.parametrize("options", [ipo.record_route(), ipo.timestamp("tsonly")],
                         ids=["record-route", "tsonly"])
def test_loops_agree_on_reply_options(c_backend: ModuleType, py_backend: ModuleType,
                                      options: bytes) -> None:
    need_root()
    def untimed(records: List[pl.Record]) -> List[object]:
        # Timestamps aside (their values differ), record for record.
        out: List[object] = []
        for r in records:
            opts = ipo.parse(r[12][:r[11]])
            stamps = [(t.address, t.standard) for t in opts.timestamps]
            out.append((r[0], r[1], r[3], r[4], r[5], r[10], r[11], opts.route, stamps))
        return out

    c, py = _records("c", options), _records("python", options)
    assert untimed(c) == untimed(py)
    assert [r[0] for r in c] == [pl.REPLY] * 3 and all(r[11] == 40 for r in c)


# ---- building and reading the options (no network) ----------------------------------------

def test_built_options_are_iputils_bytes() -> None:
    assert ipo.record_route() == bytes([1, 7, 39, 4]) + bytes(36)
    assert ipo.timestamp("tsonly") == bytes([68, 40, 5, 0]) + bytes(36)
    assert ipo.timestamp("tsandaddr") == bytes([68, 36, 5, 1]) + bytes(32)
    hop = socket.inet_aton("10.1.2.3")
    assert ipo.timestamp("tsprespec", [hop]) == bytes([68, 12, 5, 3]) + hop + bytes(4)
    assert ipo.source_route([hop], strict=True) == bytes([1, 137, 7, 4]) + hop


def _name(raw: bytes) -> str:
    return socket.inet_ntoa(raw)


def test_options_text_as_iputils_prints_them() -> None:
    """iputils' pr_options, case by case."""
    a, b = socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2")
    route = bytes([7, 11, 12]) + a + b + bytes([0])
    text = OptionsText(_name)
    assert text.text(route) == "\nRR: \t10.0.0.1\n\t10.0.0.2\n"
    assert text.text(route) == "\t(same route)"
    assert text.text(bytes([7, 11, 8]) + a + bytes(4) + bytes([0])) == "\nRR: \t10.0.0.1\n"
    assert text.text(bytes([7, 7, 4]) + bytes(4) + bytes([0])) == ""  # nothing recorded
    stamps = bytes([68, 20, 21, 0x20]) + struct.pack("!4I", 1000, 1003, 0x80000005, 0x80000009)
    assert text.text(stamps) == ("\nTS: \t1000 absolute\n\t3\n\t5 absolute not-standard\n"
                                 "\t4 not-standard\nUnrecorded hops: 2\n")
    with_address = bytes([68, 20, 21, 1]) + a + struct.pack("!I", 7) + bytes(4) + struct.pack("!I", 9)
    assert text.text(with_address) == "\nTS: \t10.0.0.1\t7 absolute\n\t0.0.0.0\t2\n"
    assert text.text(bytes([1, 1, 131, 7, 8]) + b) == "\nNOP\nNOP\nLSRR: \t10.0.0.2\n"
    assert text.text(bytes([0x94, 4, 0, 0])) == "\nunknown option 94"
    assert text.text(bytes([7, 60, 4])) == ""  # longer than what came: iputils stops


def test_parse_reads_route_and_timestamps() -> None:
    a = socket.inet_aton("10.0.0.1")
    opts = ipo.parse(bytes([1, 7, 11, 8]) + a + bytes(4) +
                     bytes([68, 12, 13, 0x11]) + a + struct.pack("!I", 0x80000010))
    assert opts.route == ("10.0.0.1",)
    assert opts.timestamps == (IpTimestamp("10.0.0.1", 16, False),)
    assert opts.unrecorded_hops == 1
    assert ipo.parse(b"") == ipo.IpOptions()
