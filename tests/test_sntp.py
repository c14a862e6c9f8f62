"""pynet.sntp: the wire format and era arithmetic, every reply check against
a scripted fake server, the course's several-servers-one-socket and
connected-UDP lessons (L8-L11), the asyncio twin, and the CLI."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import socket
import subprocess
import sys
import time
from typing import Any, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ntp_peers import answer, fake_ntp, fake_ntp_group, free_udp_port, reply, silence, unpack
from support import assert_ended_by_timeout, cli, offline

import pynet
from pynet import sntp
from pynet.sntp import _packet, _timestamp

ERA_1_UNIX_S = (1 << 32) - _timestamp.NTP_UNIX_OFFSET_S  # 2036-02-07 06:28:16 UTC
LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) \(([+-]\d{4})\) ([+-]\d+\.\d{6}) "
    r"\+/- (\d+\.\d{6}) (.+) s(\d+) (no-leap|add-leap|del-leap|unsync)$")



def assert_offset(result: sntp.SNTPResult, expected_s: float) -> None:
    """The measured offset is within half the round trip of the truth: the
    bound NTP arithmetic guarantees when the server stamps its receive and
    transmit times between our send and our receive (the fake does; on a
    loaded machine a leg may take milliseconds, the bound still holds). One
    microsecond of slack covers the 2**-32 s timestamp fraction."""
    assert result.ok, result.error
    assert result.delay_s is not None and result.offset_s is not None
    assert 0 <= result.delay_s < 1.0
    assert abs(result.offset_s - expected_s) <= result.delay_s / 2 + 1e-6, (
        result.offset_s, result.delay_s)

def one(server: str = "127.0.0.1", **kwargs: Any) -> sntp.SNTPResult:
    results = sntp.query(server, **kwargs)
    assert len(results) == 1
    return results[0]


def error_line(stderr: str) -> str:
    assert "Traceback" not in stderr and stderr.startswith("pynet sntp: "), stderr
    return stderr


# The wire format and the timestamps (L8 without the course's bugs).

def test_request_is_mode_3_version_4_with_only_a_cookie() -> None:
    data = _packet.request(0x0123456789ABCDEF)
    assert len(data) == 48 and data[0] == 0x23  # LI 0, VN 4, mode 3
    assert data[1:40] == bytes(39)
    assert int.from_bytes(data[40:], "big") == 0x0123456789ABCDEF


def test_parse_refuses_short_packets() -> None:
    with pytest.raises(ValueError, match="truncated"):
        _packet.parse(bytes(47))


@given(st.integers(min_value=-(2 << 30) * 10**9, max_value=(4 << 30) * 10**9),
       st.integers(min_value=-(60 * 365 * 86400) * 10**9, max_value=(60 * 365 * 86400) * 10**9))
def test_timestamps_round_trip_in_every_era(unix_ns: int, skew_ns: int) -> None:
    stamp = _timestamp.from_unix_ns(unix_ns)
    assert 0 <= stamp < 1 << 64
    assert abs(_timestamp.to_unix_ns(stamp, unix_ns + skew_ns) - unix_ns) <= 1


def test_era_boundary() -> None:
    before = _timestamp.from_unix_ns((ERA_1_UNIX_S - 1) * 10**9)
    after = _timestamp.from_unix_ns((ERA_1_UNIX_S + 1) * 10**9)
    assert before >> 32 == 0xFFFFFFFF and after >> 32 == 1  # the seconds wrapped
    assert _timestamp.diff_s(after, before) == 2.0
    assert _timestamp.diff_s(before, after) == -2.0
    # The course's `seconds - 2208988800` puts era 1 in 1900; ours does not.
    assert (after >> 32) - _timestamp.NTP_UNIX_OFFSET_S < 0
    assert _timestamp.to_unix_ns(after, int(time.time() * 1e9)) == (ERA_1_UNIX_S + 1) * 10**9


def test_ref_id_text() -> None:
    from pynet.sntp._reply import ref_id_text
    assert ref_id_text(b"GPS\0", 1) == "GPS"
    assert ref_id_text(b"RATE", 0) == "RATE"
    assert ref_id_text(b"\x7f\x7f\x01\x01", 10) == "127.127.1.1"
    assert ref_id_text(b"\x01\x02\x03\x04", 1) == "0x01020304"


# Replies from a scripted server: what must be accepted, ignored, reported.

def test_good_reply_is_measured() -> None:
    with fake_ntp(answer(shift_ns=1_500_000_000, stratum=2, ref_id=bytes([192, 0, 2, 1]))) as srv:
        before = time.time()
        result = one(port=srv.port, timeout=5)
    assert result.ok and result.error is None
    assert_offset(result, 1.5)
    assert result.server_time_s == pytest.approx(before + 1.5, abs=0.1)
    assert (result.stratum, result.leap, result.leap_text, result.version) == (2, 0, "no-leap", 4)
    assert (result.ref_id, result.ref_id_raw) == ("192.0.2.1", 0xC0000201)
    assert result.precision_s == 2.0 ** -20 and result.poll_log2 == 6
    assert result.root_delay_s == 0x200 / 65536 and result.root_dispersion_s == 0x400 / 65536
    assert result.root_distance_s == pytest.approx(
        (0x200 / 65536 + result.delay_s) / 2 + 0x400 / 65536 + 2.0 ** -20, abs=1e-6)
    assert (result.address, result.port, result.ignored) == ("127.0.0.1", srv.port, 0)
    assert result.family == 4


def test_requests_carry_fresh_random_cookies() -> None:
    with fake_ntp(answer()) as srv:
        for _ in range(3):
            assert one(port=srv.port).ok
    cookies = set()
    for data, _client in srv.requests:
        first, stratum, poll, precision, rdelay, rdisp, ref_id, ref, orig, recv, xmit = unpack(data)
        assert (first & 7, first >> 3 & 7, first >> 6) == (3, 4, 0)
        assert (stratum, poll, precision, rdelay, rdisp, ref_id, ref, orig, recv) == (
            0, 0, 0, 0, 0, bytes(4), 0, 0, 0)
        cookies.add(xmit)
    assert len(cookies) == 3 and 0 not in cookies


@pytest.mark.parametrize("code, words", [
    ("RATE", "the server asks us to query less often"),
    ("DENY", "access denied by the server"),
])
def test_kiss_of_death(code: str, words: str) -> None:
    with fake_ntp(answer(stratum=0, leap=3, ref_id=code.encode())) as srv:
        result = one(port=srv.port)
        run = cli("pynet.sntp", "-p", str(srv.port), "127.0.0.1")
    assert isinstance(result.error, sntp.KissOfDeath) and result.error.code == code
    assert str(result.error) == f"kiss-o'-death {code}: {words}"
    assert result.error.kind == "kiss-of-death"
    assert result.offset_s is None and not result.ok
    assert run.returncode == 1 and run.stdout == ""
    assert error_line(run.stderr) == f"pynet sntp: 127.0.0.1: {result.error}\n"


def test_spoofed_reply_is_ignored_and_the_real_one_taken() -> None:
    def spoof_first(request: bytes) -> List[Tuple[bytes, bool]]:
        cookie = unpack(request)[-1]
        return [(reply(request, originate=cookie ^ 1, shift_ns=-10**12), False),
                (reply(request), False)]

    with fake_ntp(spoof_first) as srv:
        result = one(port=srv.port)
    assert_offset(result, 0.0)
    assert result.ignored == 1


@pytest.mark.parametrize("script, why", [
    (answer(mode=3), "mode 3, not a server reply"),
    (lambda request: [(reply(request)[:47], False)], "truncated (47 bytes"),
    (lambda request: [(request, False)], "mode 3, not a server reply"),  # reflected
    (lambda request: [(reply(request, originate=0), False)], "originate timestamp"),
])
def test_not_a_reply_is_ignored_until_the_timeout(script: Any, why: str) -> None:
    with fake_ntp(script) as srv:
        start = time.monotonic()
        result = one(port=srv.port, timeout=0.3)
        elapsed = time.monotonic() - start
    assert isinstance(result.error, sntp.NoReply) and result.error.kind == "timeout"
    assert f"ignored 1 datagram: {why}" in str(result.error)
    assert result.ignored == 1
    assert elapsed >= 0.3  # what was ignored did not end the wait


def test_truncated_then_real_reply() -> None:
    with fake_ntp(lambda r: [(reply(r)[:30], False), (reply(r), False)]) as srv:
        result = one(port=srv.port)
    assert result.ok and result.ignored == 1


@pytest.mark.parametrize("kwargs, kind, words", [
    ({"leap": 3}, sntp.Unsynchronised, "leap indicator 3"),
    ({"stratum": 16}, sntp.Unsynchronised, "stratum 16"),
    ({"transmit": 0}, sntp.BadReply, "zero transmit timestamp"),
    ({"version": 5}, sntp.BadReply, "NTP version 5"),
    ({"version": 0}, sntp.BadReply, "NTP version 0"),
])
def test_matched_but_unusable_replies(kwargs: Any, kind: type, words: str) -> None:
    with fake_ntp(answer(**kwargs)) as srv:
        start = time.monotonic()
        result = one(port=srv.port, timeout=5)
    assert time.monotonic() - start < 2.5  # reported on arrival, not at the timeout
    assert isinstance(result.error, kind) and words in str(result.error)


def test_version_3_server_is_accepted() -> None:
    with fake_ntp(answer(version=3)) as srv:
        result = one(port=srv.port)
    assert result.ok and result.version == 3


def test_wrong_port_connected_socket() -> None:
    # Connected UDP (one server): the kernel drops datagrams from other ports.
    with fake_ntp(lambda r: [(reply(r, shift_ns=-10**12), True), (reply(r), False)]) as srv:
        result = one(port=srv.port)
    assert_offset(result, 0.0)


def test_wrong_port_shared_socket() -> None:
    # Several servers share an unconnected socket: pynet checks the port itself.
    with fake_ntp_group(lambda r: [(reply(r), True)], answer()) as (wrong, good):
        results = sntp.query(["127.0.0.1", "127.0.0.2"], port=wrong.port, timeout=0.5)
        other_port = wrong.other.getsockname()[1]
    assert isinstance(results[0].error, sntp.NoReply)
    assert f"reply from port {other_port}, not {wrong.port}" in str(results[0].error)
    assert results[1].ok and results[1].address == "127.0.0.2"


# Silence, a closed port, and several servers at once (L9-L11).

def test_silence_times_out_honoured() -> None:
    with fake_ntp(silence) as srv:
        start = time.monotonic()
        result = one(port=srv.port, timeout=1.0)
        elapsed = time.monotonic() - start
    assert isinstance(result.error, sntp.NoReply)
    assert str(result.error) == "no reply within 1 s" and len(srv.requests) == 1
    assert_ended_by_timeout(elapsed, 1.0, otherwise_s=5.0)   # 5 s: the default


def test_closed_port_is_reported_at_once() -> None:
    port = free_udp_port()
    start = time.monotonic()
    result = one(port=port, timeout=5)
    assert time.monotonic() - start < 2.5  # the ICMP error, not the timeout
    assert isinstance(result.error, sntp.PortUnreachable)
    assert isinstance(result.error, ConnectionRefusedError)
    assert str(result.error) == "port unreachable" and result.error.kind == "port-unreachable"
    run = cli("pynet.sntp", "-p", str(port), "-t", "5", "127.0.0.1")
    assert run.returncode == 1
    assert error_line(run.stderr) == "pynet sntp: 127.0.0.1: port unreachable\n"


def test_closed_port_ipv6() -> None:
    port = free_udp_port("::1")
    result = one("::1", port=port, timeout=5)
    assert isinstance(result.error, sntp.PortUnreachable)


def test_three_servers_one_socket_lost_ones_time_out() -> None:
    """The course's three-server lesson: one socket, three requests, one
    server silent. The answers are matched and printed, the silent one is a
    timeout, and the round lasts one timeout, not three."""
    with fake_ntp_group(answer(shift_ns=250_000_000), silence, answer(stratum=3)) as servers:
        start = time.monotonic()
        results = sntp.query(["127.0.0.1", "127.0.0.2", "127.0.0.3"], port=servers[0].port,
                             timeout=1.0)
        elapsed = time.monotonic() - start
    assert [r.address for r in results] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert_offset(results[0], 0.25)
    assert isinstance(results[1].error, sntp.NoReply)
    assert results[2].ok and results[2].stratum == 3
    assert_ended_by_timeout(elapsed, 1.0, otherwise_s=3.0)   # 3 s: one timeout a server
    sources = {client for server in servers for _, client in server.requests}
    assert len(sources) == 1  # every request left from the same socket


def test_closed_port_among_several_is_reported_at_once() -> None:
    with fake_ntp_group(answer()) as (good,):
        start = time.monotonic()
        results = sntp.query(["127.0.0.1", "127.0.0.2"], port=good.port, timeout=5)
        elapsed = time.monotonic() - start
    assert results[0].ok
    assert isinstance(results[1].error, sntp.PortUnreachable)
    assert elapsed < 2.5  # every server done: no waiting for the timeout


def test_cli_several_servers() -> None:
    with fake_ntp_group(answer(), silence, answer(leap=1, stratum=1, ref_id=b"GPS\0")) as servers:
        run = cli("pynet.sntp", "-p", str(servers[0].port), "-t", "0.5",
                  "127.0.0.1", "127.0.0.2", "127.0.0.3", env={"TZ": "UTC"})
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    assert len(lines) == 2
    first, second = (LINE.match(line) for line in lines)
    assert first and second, lines
    assert first.group(2) == "+0000" and first.group(5) == "127.0.0.1"
    assert (first.group(6), first.group(7)) == ("2", "no-leap")
    # The "+/-" is the root distance, which bounds the offset's error.
    assert float(first.group(4)) > 0 and abs(float(first.group(3))) <= float(first.group(4))
    assert (second.group(5), second.group(6), second.group(7)) == ("127.0.0.3", "1", "add-leap")
    assert error_line(run.stderr) == "pynet sntp: 127.0.0.2: no reply within 0.5 s\n"


def test_cli_json() -> None:
    with fake_ntp_group(answer(stratum=0, ref_id=b"DENY"), answer()) as servers:
        run = cli("pynet.sntp", "--json", "-p", str(servers[0].port), "127.0.0.1", "127.0.0.2")
    assert run.returncode == 0 and run.stderr == ""
    kod, good = (json.loads(line) for line in run.stdout.splitlines())
    assert kod["error"] == "kiss-of-death" and kod["kiss_code"] == "DENY"
    assert kod["server"] == "127.0.0.1" and "offset_s" not in kod
    assert good["address"] == "127.0.0.2" and good["stratum"] == 2 and good["leap"] == "no-leap"
    assert good["delay_s"] >= 0 and good["ref_id"] == "192.0.2.1"
    assert abs(good["offset_s"]) <= good["delay_s"] / 2 + 1e-6


def test_to_dict_is_what_json_prints() -> None:
    with fake_ntp_group(answer(stratum=0, ref_id=b"RATE"), answer(stratum=3)) as servers:
        kod, good = sntp.query(["127.0.0.1", "127.0.0.2"], port=servers[0].port)
        run = cli("pynet.sntp", "--json", "-p", str(servers[0].port), "127.0.0.1", "127.0.0.2")
    printed = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(printed) == 2 and run.returncode == 0
    for mine, theirs in zip((kod.to_dict(), good.to_dict()), printed):
        assert json.loads(json.dumps(mine)) == mine  # JSON-safe as it is
        measured = {"offset_s", "delay_s", "root_distance_s", "server_time_s", "time",
                    "samples"}
        assert set(mine) == set(theirs)
        assert {k: v for k, v in mine.items() if k not in measured} == \
            {k: v for k, v in theirs.items() if k not in measured}
        assert [set(sample) for sample in mine.get("samples", [])] == \
            [set(sample) for sample in theirs.get("samples", [])]
    assert kod.to_dict()["ok"] is False and kod.to_dict()["kiss_code"] == "RATE"
    assert good.to_dict()["ok"] is True and good.to_dict()["stratum"] == 3
    assert good.to_dict()["family"] == 4 and good.to_dict()["leap"] == "no-leap"


def test_cli_names_the_host_and_the_address() -> None:
    with fake_ntp(answer()) as srv:
        run = cli("pynet.sntp", "-4", "-p", str(srv.port), "localhost", env={"TZ": "UTC"})
    assert run.returncode == 0, run.stderr
    match = LINE.match(run.stdout.rstrip("\n"))
    assert match and match.group(5) == "localhost 127.0.0.1"


def test_pynet_command_dispatches_to_sntp() -> None:
    with fake_ntp(answer()) as srv:
        run = cli("pynet", "sntp", "-p", str(srv.port), "127.0.0.1")
    assert run.returncode == 0 and LINE.match(run.stdout.rstrip("\n"))


def test_ipv6() -> None:
    with fake_ntp(answer(shift_ns=-2_000_000_000), host="::1") as srv:
        result = one("::1", port=srv.port, family=6)
        run = cli("pynet.sntp", "-6", "-p", str(srv.port), "::1")
    assert_offset(result, -2.0)
    assert result.family == 6 and result.to_dict()["family"] == 6
    assert run.returncode == 0 and " ::1 s2 no-leap" in run.stdout


# The NTP era: right on both sides of 2036-02-07 06:28:16 UTC.

@pytest.mark.parametrize("local_unix_s, server_ahead_s", [
    (ERA_1_UNIX_S - 0.2, 0.5),      # we are in era 0, the server already in era 1
    (ERA_1_UNIX_S + 0.3, -0.5),     # we are in era 1, the server still in era 0
    (ERA_1_UNIX_S + 4 * 365 * 86400, 0.125),  # 2040: both in era 1
])
def test_offset_across_the_era_boundary(local_unix_s: float, server_ahead_s: float) -> None:
    shift_ns = int(local_unix_s * 1e9) - time.time_ns()

    def clock() -> int:
        return time.time_ns() + shift_ns

    with fake_ntp(answer(clock=clock, shift_ns=int(server_ahead_s * 1e9))) as srv:
        result = one(port=srv.port, clock=clock)
    assert result.ok
    assert_offset(result, server_ahead_s)
    assert result.server_time_s == pytest.approx(local_unix_s + server_ahead_s, abs=0.1)


# The asyncio twin gives the same answers.

def test_async_query() -> None:
    with fake_ntp_group(answer(shift_ns=10**9), silence) as servers:
        # Nothing listens on 127.0.0.3 at that port: port unreachable.
        start = time.monotonic()
        results = asyncio.run(sntp.async_query(
            ["127.0.0.1", "127.0.0.2", "127.0.0.3"], port=servers[0].port, timeout=0.5))
        elapsed = time.monotonic() - start
        single = asyncio.run(sntp.async_query("127.0.0.1", port=servers[0].port))
    assert_offset(results[0], 1.0)
    assert isinstance(results[1].error, sntp.NoReply)
    assert isinstance(results[2].error, sntp.PortUnreachable)
    assert_ended_by_timeout(elapsed, 0.5, otherwise_s=5.0)   # 5 s: the default
    assert_offset(single[0], 1.0)


def test_async_query_port_unreachable_at_once() -> None:
    port = free_udp_port()
    start = time.monotonic()
    results = asyncio.run(sntp.async_query("127.0.0.1", port=port, timeout=5))
    assert time.monotonic() - start < 2.5
    assert isinstance(results[0].error, sntp.PortUnreachable)


def test_async_query_is_cancellable() -> None:
    async def cancel_once_sent(port: int, server: Any) -> None:
        task = asyncio.ensure_future(sntp.async_query("127.0.0.1", port=port, timeout=30))
        deadline = time.monotonic() + 10
        while not server.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # polling the server thread's record
        assert server.requests, "the request never arrived"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with fake_ntp(silence) as srv:
        start = time.monotonic()
        asyncio.run(cancel_once_sent(srv.port, srv))
    assert time.monotonic() - start < 10  # ended by the cancel, not the 30 s timeout


def test_cli_does_not_import_asyncio() -> None:
    # asyncio (and the ssl it pulls in) costs every command ~25 ms of start-up.
    code = ("import sys, pynet.sntp._command, pynet._resolve; "
            "sys.exit(1 if 'asyncio' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert done.returncode == 0, done.stderr


# Names, usage, exit codes.

def _fail_for(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    real = socket.getaddrinfo

    def fail(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == bad:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fail)


def test_unresolvable_name_api(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_for(monkeypatch, "miminet.rus")
    with fake_ntp(answer()) as srv:
        with pytest.raises(sntp.SNTPNameError, match="^miminet.rus: Name or service not known$") \
                as info:
            sntp.query(["127.0.0.1", "miminet.rus"], port=srv.port)
        # Loopback queues a datagram at send time: had the failed call sent
        # its request to 127.0.0.1, the server would read it before this one.
        assert one(port=srv.port).ok
    assert len(srv.requests) == 1
    assert isinstance(info.value, pynet.ResolveError) and isinstance(info.value, sntp.SNTPError)
    assert info.value.exit_code == 2 and info.value.host == "miminet.rus"


def test_unresolvable_name_async(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_for(monkeypatch, "miminet.rus")
    with fake_ntp(answer()) as srv:
        with pytest.raises(sntp.SNTPNameError) as info:
            asyncio.run(sntp.async_query(["127.0.0.1", "miminet.rus"], port=srv.port))
        assert one(port=srv.port).ok
    assert len(srv.requests) == 1
    assert info.value.host == "miminet.rus" and info.value.exit_code == 2


def test_unresolvable_name_cli() -> None:
    run = cli("pynet.sntp", "127.0.0.1", "miminet.rus", prefix=offline())
    assert run.returncode == 2 and run.stdout == ""
    assert error_line(run.stderr).startswith("pynet sntp: miminet.rus: ")
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [
    [],
    ["-t", "0", "127.0.0.1"],
    ["-t", "inf", "127.0.0.1"],
    ["-p", "0", "127.0.0.1"],
    ["-p", "ntp", "127.0.0.1"],
    ["-4", "-6", "127.0.0.1"],
    ["--bogus", "127.0.0.1"],
])
def test_usage_errors(args: List[str]) -> None:
    run = cli("pynet.sntp", *args)
    assert run.returncode == 2 and run.stdout == ""
    assert error_line(run.stderr).count("\n") == 1


def test_help_lists_the_exit_codes() -> None:
    run = cli("pynet.sntp", "--help")
    assert run.returncode == 0
    codes = run.stdout[run.stdout.index("exit status:"):]
    for code, words in ((0, "usable time"), (sntp.SNTPError.exit_code, "none did"),
                        (sntp.SNTPNameError.exit_code, "does not resolve")):
        assert re.search(rf"^  {code}  .*{words}", codes, re.M), codes
    assert "NDJSON" in run.stdout


def test_exit_1_when_no_server_answered() -> None:
    with fake_ntp(silence) as srv:
        run = cli("pynet.sntp", "-p", str(srv.port), "-t", "0.2", "127.0.0.1")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == "pynet sntp: 127.0.0.1: no reply within 0.2 s\n"


def test_api_checks_arguments() -> None:
    with pytest.raises(ValueError):
        sntp.query([])
    with pytest.raises(TypeError):
        sntp.query([b"127.0.0.1"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        sntp.query("127.0.0.1", port=70000)
    with pytest.raises(ValueError):
        sntp.query("127.0.0.1", timeout=0)
    with pytest.raises(TypeError):
        sntp.query("127.0.0.1", timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sntp.query("127.0.0.1", family=5)
    with pytest.raises(ValueError):
        asyncio.run(sntp.async_query("127.0.0.1", timeout=float("nan")))
    with pytest.raises(TypeError):
        sntp.query("127.0.0.1", 123)  # type: ignore[misc]


def test_session_matches_by_address_port_and_cookie() -> None:
    """The I/O-free session both drivers share: a valid cookie arriving from
    the other server's address is not taken; the ICMP error quoting a request
    finds its probe by the cookie inside."""
    from pynet.sntp._session import Session

    now = time.time_ns()
    session = Session([("a", socket.AF_INET, ("127.0.0.1", 123)),
                       ("b", socket.AF_INET, ("127.0.0.2", 123))], clock=lambda: now)
    first, second = session.probes
    (sent_a, request_a), (sent_b, request_b) = session.request(first), session.request(second)
    session.sent(sent_a, now)
    session.sent(sent_b, now)
    assert session.request(first) is None  # count=1: one request per server
    session.on_datagram(reply(request_a, clock=lambda: now), ("127.0.0.2", 123), now)
    assert not first.measured and second.ignored == 1
    assert second.last_ignored == "the reply to 127.0.0.1 came from 127.0.0.2"
    session.on_datagram(reply(request_a, clock=lambda: now), ("127.0.0.1", 123), now)
    assert session.done(first) and not session.finished
    session.on_icmp_error(errno.ECONNREFUSED, quoted=request_b, destination=("127.0.0.9", 1))
    assert isinstance(second.result.error, sntp.PortUnreachable)  # type: ignore[union-attr]
    session.on_datagram(b"\x24" + bytes(47), ("192.0.2.7", 123), now)
    assert session.stray == 1 and session.finished
    good, refused = session.results(1.0)
    assert good.ok and good.offset_s == 0 and good.sent == 1 and len(good.samples) == 1
    assert (good.tx_stamp, good.rx_stamp) == ("user", "user")  # the session was told so
    assert refused.sent == 1 and refused.samples == ()


def test_error_queue_reader() -> None:
    """pynet._errqueue against control messages laid out here by hand:
    struct sock_extended_err, then the offender's sockaddr."""
    import struct

    from pynet import _errqueue as eq

    err = struct.pack("=IBBBBII", errno.EHOSTUNREACH, 2, 3, 1, 0, 1400, 0)
    v4 = struct.pack("=H", socket.AF_INET) + bytes(2) + bytes([192, 0, 2, 9]) + bytes(8)
    v6 = (struct.pack("=H", socket.AF_INET6) + bytes(6) + socket.inet_pton(socket.AF_INET6, "::7")
          + bytes(4))
    got = eq.extended_error([(socket.SOL_SOCKET, 35, bytes(16)),
                             (socket.IPPROTO_IP, eq.IP_RECVERR, err + v4)])
    assert got == (errno.EHOSTUNREACH, eq.SO_EE_ORIGIN_ICMP, 3, 1, 1400, bytes([192, 0, 2, 9]))
    got6 = eq.extended_error([(socket.IPPROTO_IPV6, eq.IPV6_RECVERR, err + v6)])
    assert got6 is not None and got6.offender == socket.inet_pton(socket.AF_INET6, "::7")
    local = eq.extended_error([(socket.IPPROTO_IP, eq.IP_RECVERR, err + bytes(16))])
    assert local is not None and local.offender is None  # AF_UNSPEC: nobody named
    assert eq.extended_error([(socket.IPPROTO_IP, eq.IP_RECVERR, err[:15])]) is None
    assert eq.extended_error([(socket.IPPROTO_IP, eq.IP_RECVERR + 1, err + v4)]) is None
    assert eq.extended_error([]) is None


def test_ipv4_and_ipv6_servers_in_one_round() -> None:
    # One socket per family; nothing listens on ::1 at that port, and the
    # ICMPv6 port unreachable comes back through IPV6_RECVERR at once.
    with fake_ntp(answer()) as srv:
        start = time.monotonic()
        results = sntp.query(["::1", "127.0.0.1"], port=srv.port, timeout=5)
        elapsed = time.monotonic() - start
    assert isinstance(results[0].error, sntp.PortUnreachable) and results[0].address == "::1"
    assert results[1].ok
    assert [r.family for r in results] == [6, 4]
    assert elapsed < 2.5
