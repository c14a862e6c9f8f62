"""ICMP extensions: the packet core's parser (C and Python agree on any
bytes; scapy builds the oracle's structures), and a router in the chain
that answers with RFC 4884/4950/5837 extensions, some broken: the labels
are printed as Linux traceroute -e prints them, the garbage is counted,
nothing crashes."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynet import _wire as w
from pynet.traceroute._extensions import (InterfaceInfo, MplsLabel, format_extensions,
                                          parse_extensions)
from support import program
from trace_chain import Chain
from trace_lines import hops, shape

HERE = Path(__file__).resolve().parent


def _structure(objects: bytes, checksum: bool) -> bytes:
    from pynet._reference.checksum import checksum as ones

    head = struct.pack("!BBH", 0x20, 0, 0) + objects
    if not checksum:
        return head
    return head[:2] + struct.pack("!H", ones(head, 0)) + head[4:]


objects = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255), st.integers(0, 255),
                             st.binary(max_size=40)), max_size=5)


@given(objects, st.booleans(), st.integers(0, 12), st.data())
def test_parsers_agree_on_structured_input(c_backend: ModuleType, py_backend: ModuleType,
                                           objs: list, checksum: bool, cap: int,
                                           data: st.DataObject) -> None:
    raw = b"".join(struct.pack("!HBB", length, klass, ctype) + body
                   for length, klass, ctype, body in objs)
    ext = _structure(raw, checksum)
    cut = data.draw(st.integers(0, len(ext)))
    for blob in (ext, ext[:cut]):
        assert c_backend.ext_parse(blob, cap) == py_backend.ext_parse(blob, cap)


@given(st.binary(max_size=200), st.integers(0, 12))
def test_parsers_agree_on_garbage(c_backend: ModuleType, py_backend: ModuleType, raw: bytes,
                                  cap: int) -> None:
    for blob in (raw, b"\x20\x00\x00\x00" + raw):
        assert c_backend.ext_parse(blob, cap) == py_backend.ext_parse(blob, cap)


# scapy.contrib.icmp_extensions, deprecated, is where scapy keeps its MPLS object.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@given(st.lists(st.tuples(st.integers(0, 2 ** 20 - 1), st.integers(0, 7), st.integers(0, 1),
                          st.integers(0, 255)), min_size=1, max_size=6))
def test_mpls_against_scapy(c_backend: ModuleType, py_backend: ModuleType, stack: list) -> None:
    from scapy.contrib.icmp_extensions import ICMPExtensionHeader, ICMPExtensionMPLS
    from scapy.contrib.mpls import MPLS

    built = bytes(ICMPExtensionHeader() / ICMPExtensionMPLS(
        stack=[MPLS(label=l, cos=tc, s=s, ttl=t) for l, tc, s, t in stack]))
    for backend in (c_backend, py_backend):
        parsed, bad = parse_extensions(built, backend)
        assert bad == 0
        assert parsed == tuple(MplsLabel(*entry) for entry in stack)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from(["10.1.2.3", "192.0.2.77"]),
       st.integers(0, 2 ** 32 - 1))
def test_interface_information_against_scapy(c_backend: ModuleType, py_backend: ModuleType,
                                             ifindex: int, address: str, mtu: int) -> None:
    """scapy builds RFC 5837 objects without a name (its name sub-object's
    length leaves out its own octet, against the RFC; ours follows the RFC)."""
    from scapy.contrib.icmp_extensions import (ICMPExtensionHeader,
                                               ICMPExtensionInterfaceInformation)

    built = bytes(ICMPExtensionHeader() / ICMPExtensionInterfaceInformation(
        has_ifindex=1, ifindex=ifindex, has_ipaddr=1, afi=1, ip4=address, has_mtu=1, mtu=mtu))
    for backend in (c_backend, py_backend):
        parsed, bad = parse_extensions(built, backend)
        assert bad == 0
        assert parsed == (InterfaceInfo(0, ifindex, address, None, mtu),)


def test_error_with_extension_located_by_both_parsers(c_backend: ModuleType,
                                                      py_backend: ModuleType) -> None:
    """A time exceeded with an RFC 4884 length: the extension found where it is."""
    quoted = (struct.pack("!BBHHHBBH4s4s", 0x45, 0, 60, 1, 0, 1, 17, 0,
                          socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2")) +
              struct.pack("!HHHH", 40000, 33434, 40, 0)).ljust(128, b"\0")
    ext = _structure(struct.pack("!HBBI", 8, 1, 1, (5 << 12) | 0x1FF), True)
    icmp = struct.pack("!BBHBBH", 11, 0, 0, 0, 32, 0) + quoted + ext
    for family_bytes in (c_backend, py_backend):
        f = family_bytes.parse_fields(icmp, 4, w.IP_HEADER_ABSENT, None, None)
        assert (f[w.F_EXT_OFF], f[w.F_EXT_LEN]) == (8 + 128, len(ext))
        assert f[w.F_QUOTED_PROTOCOL] == 17 and f[w.F_QUOTED_UPPER_OFF] == 8 + 20
    beyond = icmp[:5] + bytes([200]) + icmp[6:]
    for b in (c_backend, py_backend):
        f = b.parse_fields(beyond, 4, w.IP_HEADER_ABSENT, None, None)
        assert (f[w.F_EXT_OFF], f[w.F_EXT_LEN]) == (-1, w.EXT_LEN_BEYOND)


def test_format_like_linux_traceroute() -> None:
    text = format_extensions((MplsLabel(24000, 5, 0, 7), MplsLabel(16, 0, 1, 254)))
    assert text == " <MPLS:L=24000,E=5,S=0,T=7/L=16,E=0,S=1,T=254>"


# ---- a router that answers with extensions -----------------------------------
# The responder is a Python process, slower than a kernel: -w 2,0,0 gives each
# of its answers the whole wait (no HERE/NEAR shortcut).

@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain(3, tag="x")
    try:
        # Probes that expire at r2 never reach its kernel: the responder answers them.
        c.nodes["r2"].nft("table ip pynet_x {\n chain pre {\n"
                          "  type filter hook prerouting priority -300; policy accept;\n"
                          "  ip ttl 1 drop\n }\n}\n")
        yield c
    finally:
        c.close()


@pytest.fixture
def responder(chain: Chain) -> Iterator[subprocess.Popen[str]]:
    proc = chain.nodes["r2"].spawn([sys.executable, str(HERE / "trace_responder.py"), "tr2b",
                                    chain.hops4[1]])
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def _run(chain: Chain, args: List[str], backend: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYNET_BACKEND=backend)
    return subprocess.run([*chain.client.prefix(), sys.executable, "-m", "pynet.traceroute",
                           *args], capture_output=True, text=True, timeout=60, cwd="/", env=env)


@pytest.mark.parametrize("method", [["-I"], ["-T"]])
def test_raw_socket_sees_labels_and_counts_garbage(chain: Chain, backend: ModuleType,
                                                   responder: subprocess.Popen[str],
                                                   method: List[str],
                                                   request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["backend"]
    # -N 1: one probe at a time, so the n-th probe of hop 2 gets variant n.
    done = _run(chain, ["-n", "-e", "-q", "7", "-N", "1", "-w", "2,0,0", *method, chain.target4],
                name)
    assert done.returncode == 0, done.stderr
    line = done.stdout.split("\n")[2]
    assert line.startswith(f" 2  {chain.hops4[1]} <MPLS:L=16001,E=0,S=1,T=1>  ")
    assert (" <MPLS:L=24000,E=5,S=0,T=7/L=16,E=0,S=1,T=254> "
            "<IFINFO:index=7,addr=10.9.9.9,name=ge-0/0/1,mtu=1500>  ") in line
    assert line.count(" ms") == 7  # every variant answered, none lost to a crash
    assert [h[1] for h in hops(done.stdout)] == [(a,) for a in chain.hops4]
    as_json = json.loads(_run(chain, ["--json", "-q", "7", "-N", "1", "-w", "2,0,0", *method,
                                      chain.target4], name).stdout)
    # bad checksum, bad version, object too long, truncated object: the structure
    # counted; the length past the message: the packet counted.
    assert as_json["extensions_malformed"] >= 4
    assert as_json["malformed"] >= 1
    labels = [e for p in as_json["hops"][1]["probes"] for e in p["extensions"]]
    assert {"label": 16001, "tc": 0, "s": 1, "ttl": 1} in labels


def test_error_queue_sees_labels_too(chain: Chain, backend: ModuleType,
                                     responder: subprocess.Popen[str],
                                     request: pytest.FixtureRequest) -> None:
    """Default UDP, no raw socket: the kernel finds the extension for us
    (IP_RECVERR_RFC4884) and flags the broken ones, which we count."""
    name = request.node.callspec.params["backend"]
    done = _run(chain, ["-n", "-e", "-q", "7", "-N", "1", "-w", "2,0,0", chain.target4], name)
    assert done.returncode == 0, done.stderr
    line = done.stdout.split("\n")[2]
    assert line.startswith(f" 2  {chain.hops4[1]} <MPLS:L=16001,E=0,S=1,T=1>  ")
    assert line.count(" ms") == 7


def test_same_line_as_linux_traceroute_e(chain: Chain, responder: subprocess.Popen[str]) -> None:
    theirs = chain.client.sh(program("traceroute"), "-n", "-e", "-q", "1", "-N", "1",
                             chain.target4, check=False)
    assert theirs.returncode == 0, theirs.stderr
    assert f" 2  {chain.hops4[1]} <MPLS:L=16001,E=0,S=1,T=1>  " in theirs.stdout


def test_same_line_shape_as_linux_traceroute_e(chain: Chain, responder: subprocess.Popen[str]
                                               ) -> None:
    ours = _run(chain, ["-n", "-e", "-q", "1", "-N", "1", chain.target4], "c")
    assert ours.returncode == 0, ours.stderr
    assert shape(ours.stdout) == ["header"] + ["hop"] * 4
    assert f" 2  {chain.hops4[1]} <MPLS:L=16001,E=0,S=1,T=1>  " in ours.stdout
