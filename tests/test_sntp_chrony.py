"""pynet.sntp against a real chronyd on loopback, with ntplib as a second
client asking the same server: both offsets within half their round trip of
the truth (0: one clock), stratum and reference id the same."""

from __future__ import annotations

import asyncio
import re
from typing import Iterator, Optional

import ntplib
import pytest
from ntp_peers import FakeNtp, chronyd, silence
from support import cli

from pynet import sntp


@pytest.fixture(scope="module")
def chrony_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with chronyd(tmp_path_factory.mktemp("chronyd")) as port:
        yield port


def assert_true_offset(offset_s: Optional[float], delay_s: Optional[float],
                       precision_s: Optional[float]) -> None:
    """|offset| within half the round trip, plus the server's precision
    (chronyd fills the bits below it at random) and a microsecond for the
    timestamps' 2**-32 s fraction."""
    assert offset_s is not None and delay_s is not None and precision_s is not None
    assert 0 <= delay_s < 1.0
    assert abs(offset_s) <= delay_s / 2 + precision_s + 1e-6, (offset_s, delay_s)


def test_agrees_with_ntplib(chrony_port: int) -> None:
    theirs = ntplib.NTPClient().request("127.0.0.1", version=4, port=chrony_port, timeout=5)
    ours = sntp.query("127.0.0.1", port=chrony_port, timeout=5)[0]
    assert ours.ok, ours.error
    # Server and client read one clock, so the true offset is 0: each
    # client's error is bounded by half its own round trip (a loaded machine
    # can make either round trip milliseconds long, so they are not compared).
    assert_true_offset(ours.offset_s, ours.delay_s, ours.precision_s)
    assert_true_offset(theirs.offset, theirs.delay, ours.precision_s)
    assert ours.stratum == theirs.stratum == 10
    assert ours.ref_id_raw == theirs.ref_id
    assert ours.ref_id == ntplib.ref_id_to_text(theirs.ref_id, theirs.stratum)
    assert ours.leap == theirs.leap == 0
    assert ours.server_time_s == pytest.approx(theirs.tx_time, abs=0.5)


def test_async_agrees_with_ntplib(chrony_port: int) -> None:
    theirs = ntplib.NTPClient().request("127.0.0.1", version=4, port=chrony_port, timeout=5)
    ours = asyncio.run(sntp.async_query("127.0.0.1", port=chrony_port, timeout=5))[0]
    assert ours.ok
    assert_true_offset(ours.offset_s, ours.delay_s, ours.precision_s)
    assert ours.stratum == theirs.stratum and ours.ref_id_raw == theirs.ref_id


def test_ipv6(chrony_port: int) -> None:
    result = sntp.query("::1", port=chrony_port, family=6, timeout=5)[0]
    assert result.ok and result.stratum == 10
    assert_true_offset(result.offset_s, result.delay_s, result.precision_s)


def test_cli_line(chrony_port: int) -> None:
    run = cli("pynet.sntp", "-p", str(chrony_port), "127.0.0.1", env={"TZ": "UTC"})
    assert run.returncode == 0 and run.stderr == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \(\+0000\) [+-]0\.\d{6} "
                        r"\+/- \d+\.\d{6} 127\.0\.0\.1 s10 no-leap\n", run.stdout), run.stdout


def test_chrony_and_a_silent_server_in_one_round(chrony_port: int) -> None:
    # The silent one is a fake on 127.0.0.2 at chrony's port (chrony binds 127.0.0.1 only).
    silent = FakeNtp(silence, "127.0.0.2", chrony_port)
    try:
        run = cli("pynet.sntp", "-t", "0.5", "-p", str(chrony_port), "127.0.0.2", "127.0.0.1")
    finally:
        silent.stop()
    assert run.returncode == 0
    assert run.stdout.endswith(" 127.0.0.1 s10 no-leap\n") and run.stdout.count("\n") == 1
    assert run.stderr == "pynet sntp: 127.0.0.2: no reply within 0.5 s\n"
    assert len(silent.requests) == 1
