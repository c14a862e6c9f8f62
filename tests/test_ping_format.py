"""ping's text against iputils: the arithmetic of each number, and real
iputils output as the oracle (the same line patterns match both, line by
line, with the same fields)."""

from __future__ import annotations

import subprocess
from types import ModuleType
from typing import Dict, List, Tuple

import pytest
from ping_lines import classify, parse, render, time_decimals_ok
from support import cli, need_root, outside_env, program

from pynet import _ping_loop as pl
from pynet.ping._icmp_text import describe
from pynet.ping._output import header
from pynet.ping._stats import RttStats, format_ms, loss_text


@pytest.mark.parametrize("us, text", [
    (0, "0.000"), (23, "0.023"), (999, "0.999"), (1000, "1.00"), (1234, "1.23"),
    (1235, "1.24"), (9994, "9.99"), (9995, "10.0"), (12345, "12.3"), (99949, "99.9"),
    (99950, "100"), (123456, "123"), (1234567, "1235"),
])
def test_reply_time_decimals(us: int, text: str) -> None:
    assert format_ms(us) == text
    assert time_decimals_ok(text)


@pytest.mark.parametrize("tx, rx, text", [
    (4, 4, "0"), (4, 0, "100"), (3, 2, "33.3333"), (500, 349, "30.2"), (7, 6, "14.2857"),
    (1000, 999, "0.1"), (3, 0, "100"),
])
def test_loss_as_iputils_prints_it(tx: int, rx: int, text: str) -> None:
    assert loss_text(tx, rx) == text


def test_rtt_line_arithmetic() -> None:
    """Figures from real iputils runs: integer microseconds, mdev by its
    formula, duplicates counted in the average."""
    stats = RttStats()
    stats.extend([us * 1000 + 999 for us in (22, 36)])  # iputils truncates to microseconds
    assert stats.line() == "rtt min/avg/max/mdev = 0.022/0.029/0.036/0.007 ms"
    stats = RttStats()
    stats.extend([us * 1000 for us in (9, 32, 38)])
    assert stats.line() == "rtt min/avg/max/mdev = 0.009/0.026/0.038/0.012 ms"
    stats = RttStats()
    stats.extend([ms * 1_000_000 for ms in (1, 2, 3, 4)])
    # mean 2.5 ms; population deviation sqrt(1.25) ms = 1.118 ms
    assert stats.line() == "rtt min/avg/max/mdev = 1.000/2.500/4.000/1.118 ms"
    assert stats.mdev_ms() == pytest.approx(1.1180339887)
    assert stats.jitter_ms() == pytest.approx(1.0)
    assert RttStats().line() is None


def test_headers() -> None:
    assert header("127.0.0.1", "127.0.0.1", 4, 56, None, None) == \
        "PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data."
    assert header("::1", "::1", 6, 56, None, None) == "PING ::1(::1) 56 data bytes"
    assert header("h", "127.0.0.1", 4, 8, "127.0.0.1", "lo") == \
        "PING h (127.0.0.1) from 127.0.0.1 lo: 8(36) bytes of data."
    assert header("h", "127.0.0.1", 4, 56, "127.0.0.1", None) == \
        "PING h (127.0.0.1) from 127.0.0.1 : 56(84) bytes of data."
    # -R / -T: iputils counts 40 option bytes; -F: the label before the source
    assert header("h", "127.0.0.1", 4, 56, None, None, options_len=40) == \
        "PING h (127.0.0.1) 56(124) bytes of data."
    assert header("::1", "::1", 6, 56, "::1", "lo", flowlabel=0x12345) == \
        "PING ::1(::1) , flow 0x12345, from ::1 lo: 56 data bytes"
    assert header("::1", "::1", 6, 56, None, None, flowlabel=0xab) == \
        "PING ::1(::1) , flow 0x000ab, 56 data bytes"


@pytest.mark.parametrize("family, icmp_type, code, info, text", [
    (4, 3, 0, 0, "Destination Net Unreachable"),
    (4, 3, 1, 0, "Destination Host Unreachable"),
    (4, 3, 3, 0, "Destination Port Unreachable"),
    (4, 3, 4, 1400, "Frag needed and DF set (mtu = 1400)"),
    (4, 3, 13, 0, "Packet filtered"),
    (4, 3, 99, 0, "Dest Unreachable, Bad Code: 99"),
    (4, 11, 0, 0, "Time to live exceeded"),
    (4, 11, 1, 0, "Frag reassembly time exceeded"),
    (4, 12, 0, 20, "Parameter problem: pointer = 20"),
    (4, 4, 0, 0, "Source Quench"),
    (4, 5, 1, 0x0A000001, "Redirect Host(New nexthop: 10.0.0.1)"),
    (6, 1, 0, 0, "Destination unreachable: No route"),
    (6, 1, 1, 0, "Destination unreachable: Administratively prohibited"),
    (6, 1, 3, 0, "Destination unreachable: Address unreachable"),
    (6, 1, 4, 0, "Destination unreachable: Port unreachable"),
    (6, 1, 9, 0, "Destination unreachable: Unknown code 9"),
    (6, 2, 0, 1280, "Packet too big: mtu=1280"),
    (6, 3, 0, 0, "Time exceeded: Hop limit"),
    (6, 3, 1, 0, "Time exceeded: Defragmentation failure"),
    (6, 4, 1, 40, "Parameter problem: Unknown header at 40"),
])
def test_icmp_error_texts(family: int, icmp_type: int, code: int, info: int, text: str) -> None:
    assert describe(family, icmp_type, code, info) == text


def test_line_patterns_cover_every_line_kind() -> None:
    samples = {
        "reply": "64 bytes from localhost (127.0.0.1): icmp_seq=1 ttl=64 time=0.015 ms",
        "error": "From 10.0.0.1 icmp_seq=3 Destination Host Unreachable",
        "outstanding": "[1700000000.123456] no answer yet for icmp_seq=2",
        "counts": "5 packets transmitted, 3 received, +1 duplicates, +1 corrupted, +1 errors, "
                  "40% packet loss, time 4005ms",
        "rtt": "rtt min/avg/max/mdev = 0.003/0.003/0.037/0.000 ms, pipe 2, "
               "ipg/ewma 0.008/0.003 ms",
    }
    for kind, line in samples.items():
        assert classify(line)[0] == kind
    assert render("PING x\n..\b \b\b \b\n") == ["PING x", ""]
    assert render("PING x\n..\b \b.\b \b\n") == ["PING x", "."]


# ---- iputils as the oracle, on the kernel's own echo replies -------------------

SCENARIOS: Dict[str, List[str]] = {
    "v4": ["-c", "3", "-i", "0.2", "127.0.0.1"],
    "v6": ["-c", "2", "-i", "0.2", "::1"],
    "name": ["-4", "-c", "2", "-i", "0.2", "localhost"],
    "numeric-name": ["-4", "-n", "-c", "2", "-i", "0.2", "localhost"],
    "tiny": ["-c", "2", "-i", "0.2", "-s", "8", "127.0.0.1"],
    "stamps": ["-c", "2", "-i", "0.2", "-D", "127.0.0.1"],
    "quiet": ["-c", "2", "-i", "0.2", "-q", "127.0.0.1"],
    "interface": ["-c", "2", "-i", "0.2", "-I", "lo", "127.0.0.1"],
    "source": ["-c", "1", "-I", "127.0.0.1", "127.0.0.1"],
    "jumbo": ["-c", "2", "-i", "0.2", "-s", "65000", "127.0.0.1"],
    "ttl": ["-c", "2", "-i", "0.2", "-t", "7", "127.0.0.2"],
    "flood": ["-f", "-c", "300", "127.0.0.1"],
    "outstanding": ["-c", "3", "-i", "0.05", "-O", "127.0.0.1"],
}
_IPUTILS: Dict[str, str] = {}

# Fields that must agree between iputils and pynet (the rest are timings).
SAME = {
    "header4": ("host", "addr", "src", "dev", "size", "total"),
    "header6": ("host", "addr", "src", "dev", "size"),
    "reply": ("bytes", "from", "seq", "ttl", "dup", "bad", "trunc"),
    "title": ("host",),
    "counts": ("tx", "rx", "dups", "corrupted", "errors", "loss"),
}


def iputils(name: str) -> str:
    if name not in _IPUTILS:
        done = subprocess.run([program("ping"), *SCENARIOS[name]], capture_output=True,
                              text=True, timeout=60, env=outside_env())
        assert done.returncode == 0, done.stderr
        _IPUTILS[name] = done.stdout
    return _IPUTILS[name]


def shape(text: str) -> List[Tuple[str, Dict[str, object]]]:
    out = []
    for kind, fields in parse(text):
        keep = {k: fields[k] for k in SAME.get(kind, ())}
        if kind == "reply" and fields["time"] is not None:
            assert time_decimals_ok(fields["time"]), fields["time"]
            keep["timed"] = True
        if kind == "rtt":
            keep = {"ipg": fields["ipg"] is not None}
        out.append((kind, keep))
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_output_matches_iputils_line_by_line(name: str, backend: ModuleType) -> None:
    need_root()
    want = iputils(name)
    done = cli("pynet.ping", *SCENARIOS[name], env={"PYNET_BACKEND": backend.NAME})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert shape(done.stdout) == shape(want), f"pynet:\n{done.stdout}\niputils:\n{want}"


def test_flood_erases_every_dot(backend: ModuleType) -> None:
    need_root()
    done = cli("pynet.ping", "-f", "-c", "2000", "127.0.0.1", env={"PYNET_BACKEND": backend.NAME})
    assert done.returncode == 0, done.stderr
    flood = done.stdout.split("\n", 1)[1].split("\n--- ")[0]
    assert flood.count(".") == 2000 and flood.count("\b \b") == 2000
    lines = render(done.stdout)
    assert lines[1] == "" and lines[2] == "--- 127.0.0.1 ping statistics ---"
    assert lines[3].startswith("2000 packets transmitted, 2000 received, 0% packet loss")
    assert "ipg/ewma" in lines[4]


def test_record_layout_matches_c(c_backend: ModuleType) -> None:
    from pynet._c._ffi import ffi_nogil
    assert ffi_nogil.sizeof("struct pn_ping_record") == pl.RECORD.size
    assert ffi_nogil.offsetof("struct pn_ping_record", "from") == 80
    assert ffi_nogil.offsetof("struct pn_ping_record", "options_len") == 96
    assert ffi_nogil.offsetof("struct pn_ping_record", "options") == 104
    assert pl.RECORD.size == 104 + pl.OPTIONS_MAX
