"""pynet.sntp against a real chronyd on loopback, with ntplib as a second
client asking the same server: both offsets within half their round trip of
the truth (0: one clock), stratum and reference id the same. And bursts of
samples (count=): every sample within its bound, the least delay chosen,
the jitter as computed by hand, the kernel's stamps in use."""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
from typing import Any, Iterator, Optional

import ntplib
import pytest
from ntp_peers import FakeNtp, chronyd, silence
from support import cli, need

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


# Samples (count=): chronyd has no rate limit in this configuration, so
# they go 5 ms apart.
INTERVAL = 0.005


def assert_burst(result: sntp.SNTPResult, count: int) -> None:
    """The physics a burst must obey, each of which could fail: every
    sample's offset within half its round trip of the truth (0), the least
    delay selected, the jitter the RMS of the others' offsets about it, and
    on Linux the kernel's stamps for both ends."""
    assert result.ok, result.error
    assert result.sent == count and len(result.samples) == count
    for sample in result.samples:
        assert_true_offset(sample.offset_s, sample.delay_s, result.precision_s)
    assert result.selected is not None
    best = result.samples[result.selected]
    assert best.delay_s == min(sample.delay_s for sample in result.samples)
    assert (result.offset_s, result.delay_s, result.root_distance_s, result.server_time_s) == (
        best.offset_s, best.delay_s, best.root_distance_s, best.server_time_s)
    others = [s.offset_s for i, s in enumerate(result.samples) if i != result.selected]
    by_hand = math.sqrt(sum((o - best.offset_s) ** 2 for o in others) / (count - 1))
    assert result.jitter_s == pytest.approx(by_hand, rel=1e-9, abs=1e-15)
    need(sys.platform.startswith("linux"), "kernel timestamps are Linux's")
    assert {(s.tx_stamp, s.rx_stamp) for s in result.samples} == {("kernel", "kernel")}
    assert (result.tx_stamp, result.rx_stamp) == ("kernel", "kernel")


def test_burst(chrony_port: int) -> None:
    result = sntp.query("127.0.0.1", port=chrony_port, timeout=5, count=8, interval=INTERVAL)[0]
    assert_burst(result, 8)
    assert result.stratum == 10


def test_burst_async(chrony_port: int) -> None:
    result = asyncio.run(sntp.async_query("::1", port=chrony_port, timeout=5, count=5,
                                          interval=INTERVAL))[0]
    assert_burst(result, 5)


def test_bursts_share_a_socket(chrony_port: int) -> None:
    """Three servers, one unconnected socket per family: the transmit stamps
    come back numbered by the socket (OPT_ID), interleaved between servers,
    and each must reach its own request (one that went astray would fall
    outside its sample's bound or be refused as earlier than its send)."""
    results = sntp.query(["127.0.0.1", "localhost", "::1"], port=chrony_port, timeout=5,
                         count=4, interval=INTERVAL, family=None)
    for result in results:
        assert_burst(result, 4)


def test_user_clock_fallback(chrony_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """No transmit stamps (a kernel that refuses SO_TIMESTAMPING): the clock
    read before send times T1, the kernel still times T4; the bound holds."""
    from pynet import _stamps
    monkeypatch.setattr(_stamps, "enable_tx", lambda sock: False)
    result = sntp.query("127.0.0.1", port=chrony_port, timeout=5, count=3, interval=INTERVAL)[0]
    assert result.ok
    for sample in result.samples:
        assert (sample.tx_stamp, sample.rx_stamp) == ("user", "kernel")
        assert_true_offset(sample.offset_s, sample.delay_s, result.precision_s)
    monkeypatch.setattr(_stamps, "enable_rx", lambda sock: False)
    result = sntp.query("127.0.0.1", port=chrony_port, timeout=5, count=2, interval=INTERVAL)[0]
    assert {(s.tx_stamp, s.rx_stamp) for s in result.samples} == {("user", "user")}
    assert_true_offset(result.offset_s, result.delay_s, result.precision_s)


def test_own_clock_is_used_for_everything(chrony_port: int) -> None:
    import time
    result = sntp.query("127.0.0.1", port=chrony_port, timeout=5, count=2, interval=INTERVAL,
                        clock=lambda: time.time_ns())[0]
    assert result.ok and (result.tx_stamp, result.rx_stamp) == ("user", "user")
    assert_true_offset(result.offset_s, result.delay_s, result.precision_s)


def test_cli_burst_line(chrony_port: int) -> None:
    run = cli("pynet.sntp", "-c", "4", "-i", str(INTERVAL), "-p", str(chrony_port),
              "127.0.0.1", env={"TZ": "UTC"})
    assert run.returncode == 0 and run.stderr == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \(\+0000\) [+-]0\.\d{6} "
                        r"\+/- \d+\.\d{6} 127\.0\.0\.1 s10 no-leap jitter \d\.\d{6} "
                        r"samples 4/4\n", run.stdout), run.stdout


def test_cli_json_has_every_sample(chrony_port: int) -> None:
    run = cli("pynet.sntp", "--json", "-c", "6", "-i", str(INTERVAL), "-p", str(chrony_port),
              "127.0.0.1", "::1")
    assert run.returncode == 0 and run.stderr == ""
    docs = [json.loads(line) for line in run.stdout.splitlines()]
    assert [doc["address"] for doc in docs] == ["127.0.0.1", "::1"]
    for doc in docs:
        assert doc["ok"] and doc["sent"] == 6 and len(doc["samples"]) == 6
        delays = [sample["delay_s"] for sample in doc["samples"]]
        assert doc["delay_s"] == min(delays) == delays[doc["selected"]]
        assert doc["offset_s"] == doc["samples"][doc["selected"]]["offset_s"]
        assert doc["jitter_s"] >= 0
        for sample in doc["samples"]:
            assert set(sample) == {"offset_s", "delay_s", "root_distance_s", "server_time_s",
                                   "tx_stamp", "rx_stamp"}
            assert_true_offset(sample["offset_s"], sample["delay_s"], doc["precision_s"])
            assert (sample["tx_stamp"], sample["rx_stamp"]) == ("kernel", "kernel")


def test_a_failed_send_stops_trusting_the_stamps(chrony_port: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """After a send fails on a shared socket, the transmit stamps' keys may
    be off by one: the other server's samples fall back to the clock for
    T1, and are still right."""
    import errno
    import socket

    from pynet.sntp import _io

    class Refusing(socket.socket):
        def sendto(self, data: Any, *args: Any) -> int:  # type: ignore[override]
            if args[-1][0] == "127.0.0.2":
                raise OSError(errno.ENETUNREACH, "Network is unreachable")
            return super().sendto(data, *args)

    monkeypatch.setattr(_io, "_new_socket", lambda family: _nonblocking(Refusing(family,
                                                                         socket.SOCK_DGRAM)))
    good, refused = sntp.query(["127.0.0.1", "127.0.0.2"], port=chrony_port, timeout=5,
                               count=3, interval=INTERVAL)
    assert isinstance(refused.error, sntp.SNTPSendFailed) and refused.sent == 0
    assert str(refused.error) == "could not send: Network is unreachable"
    assert good.ok and len(good.samples) == 3
    for sample in good.samples:
        assert (sample.tx_stamp, sample.rx_stamp) == ("user", "kernel")
        assert_true_offset(sample.offset_s, sample.delay_s, good.precision_s)


def _nonblocking(sock: Any) -> Any:
    sock.setblocking(False)
    return sock
