"""sntp's count= and interval= (-c, -i) against scripted servers: lost
samples, a refusal in mid-burst, silence, the bounds of the arguments."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, List, Tuple

import pytest
from ntp_peers import answer, fake_ntp, reply, silence
from support import cli

from pynet import sntp


def dropping() -> Any:
    """A script that answers the 1st, 3rd, 5th ... request it is given."""
    seen: List[bytes] = []

    def every_other(request: bytes) -> List[Tuple[bytes, bool]]:
        seen.append(request)
        return [(reply(request), False)] if len(seen) % 2 == 1 else []

    return every_other


def test_lost_samples_are_left_out() -> None:
    with fake_ntp(dropping()) as srv:
        result = sntp.query("127.0.0.1", port=srv.port, count=4, interval=0.01, timeout=0.3)[0]
    assert len(srv.requests) == 4
    assert result.ok and result.sent == 4 and len(result.samples) == 2
    assert result.jitter_s is not None
    assert result.delay_s == min(s.delay_s for s in result.samples)
    assert len({data for data, _client in srv.requests}) == 4  # a fresh cookie each


def test_every_request_has_its_own_cookie_on_a_shared_socket() -> None:
    with fake_ntp(answer()) as srv:
        results = sntp.query(["127.0.0.1", "localhost"], port=srv.port, count=3, interval=0.01,
                             family=4)
    assert all(r.ok and len(r.samples) == 3 for r in results)
    assert len({data[40:] for data, _client in srv.requests}) == 6
    assert len({client for _data, client in srv.requests}) == 1  # one socket for both


def test_a_refusal_ends_the_burst() -> None:
    """A Kiss-o'-Death on the second request: the server's result is the
    kiss, and it is asked no more (the third would go a second later)."""
    seen: List[int] = []

    def kiss_second(request: bytes) -> List[Tuple[bytes, bool]]:
        seen.append(1)
        if len(seen) == 2:
            return [(reply(request, stratum=0, leap=3, ref_id=b"RATE"), False)]
        return [(reply(request), False)]

    with fake_ntp(kiss_second) as srv:
        result = sntp.query("127.0.0.1", port=srv.port, count=5, interval=1.0, timeout=5)[0]
    assert isinstance(result.error, sntp.KissOfDeath) and result.error.code == "RATE"
    assert len(srv.requests) == 2
    assert result.sent == 2 and result.samples == () and result.offset_s is None


def test_silence_waits_the_timeout_after_the_last_request() -> None:
    with fake_ntp(silence) as srv:
        start = time.monotonic()
        result = sntp.query("127.0.0.1", port=srv.port, count=3, interval=0.1, timeout=0.2)[0]
        elapsed = time.monotonic() - start
    assert isinstance(result.error, sntp.NoReply)
    assert str(result.error) == "no reply to 3 requests within 0.2 s of the last"
    assert result.sent == 3 and len(srv.requests) == 3
    assert elapsed >= 2 * 0.1 + 0.2


def test_async_burst_paces_and_keeps_the_order() -> None:
    with fake_ntp(dropping()) as srv:
        start = time.monotonic()
        result = asyncio.run(sntp.async_query("127.0.0.1", port=srv.port, count=3,
                                              interval=0.05, timeout=0.3))[0]
        elapsed = time.monotonic() - start
    assert result.ok and result.sent == 3 and len(result.samples) == 2
    assert elapsed >= 2 * 0.05 + 0.3  # the last request was lost: the full wait
    assert len(srv.requests) == 3


def test_interval_zero_sends_back_to_back() -> None:
    with fake_ntp(answer()) as srv:
        result = sntp.query("127.0.0.1", port=srv.port, count=6, interval=0, timeout=5)[0]
    assert result.ok and len(result.samples) == 6 and result.sent == 6


def test_cli_burst_with_a_loss() -> None:
    with fake_ntp(dropping()) as srv:
        run = cli("pynet.sntp", "-c", "2", "-i", "0.01", "-t", "0.3", "-p", str(srv.port),
                  "127.0.0.1")
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout.endswith(" 127.0.0.1 s2 no-leap jitter - samples 1/2\n"), run.stdout
    with fake_ntp(dropping()) as srv:
        json_run = cli("pynet.sntp", "--json", "-c", "3", "-i", "0.01", "-t", "0.3",
                       "-p", str(srv.port), "127.0.0.1")
    doc = json.loads(json_run.stdout)
    assert doc["sent"] == 3 and len(doc["samples"]) == 2  # the 1st and the 3rd
    assert doc["jitter_s"] == pytest.approx(
        abs(doc["samples"][0]["offset_s"] - doc["samples"][1]["offset_s"]), rel=1e-12)


def test_cli_count_one_keeps_the_ntpdig_line() -> None:
    with fake_ntp(answer()) as srv:
        run = cli("pynet.sntp", "-c", "1", "-p", str(srv.port), "127.0.0.1")
    assert run.returncode == 0 and run.stdout.endswith(" 127.0.0.1 s2 no-leap\n")


@pytest.mark.parametrize("args, words", [
    (["-c", "0"], "count must be in 1..1000, got 0"),
    (["-c", "1001"], "count must be in 1..1000, got 1001"),
    (["-c", "x"], "not a count: 'x'"),
    (["-c", "2.5"], "not a count: '2.5'"),
    (["--interval=-1"], "interval must be a non-negative number of seconds"),
    (["-i", "nan"], "interval must be a non-negative number of seconds"),
    (["-i", "soon"], "not a number of seconds: 'soon'"),
])
def test_cli_bad_count_or_interval(args: List[str], words: str) -> None:
    run = cli("pynet.sntp", *args, "127.0.0.1")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("pynet sntp: ") and run.stderr.count("\n") == 1, run.stderr
    assert words in run.stderr and "Traceback" not in run.stderr


def test_api_checks_count_and_interval() -> None:
    for bad in (0, 1001, -1):
        with pytest.raises(ValueError, match="count"):
            sntp.query("127.0.0.1", count=bad)
    for wrong in (2.0, True, "3"):
        with pytest.raises(TypeError, match="count"):
            sntp.query("127.0.0.1", count=wrong)  # type: ignore[arg-type]
    for bad_interval in (-0.5, float("inf")):
        with pytest.raises(ValueError, match="interval"):
            sntp.query("127.0.0.1", interval=bad_interval)
    with pytest.raises(ValueError, match="count"):
        asyncio.run(sntp.async_query("127.0.0.1", count=0))
