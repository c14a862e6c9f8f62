"""/probe against loopback, a silent namespace host and local servers: the
metrics blackbox_exporter users expect, pynet's beside them, the time budget,
the allow-list, and text that promtool accepts."""

from __future__ import annotations

import socket
import subprocess
import threading
from typing import Dict, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter_helpers import SilentHost, get, serve
from ntp_peers import answer, fake_ntp
from support import need_root, program

from pynet.exporter._config import parse

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]

CONFIG = """
[modules.icmp1]
prober = "icmp"
count = 1
[modules.icmp4]
prober = "icmp"
count = 4
interval = 0.05
[modules.hello]
prober = "tcp"
send = "hello\\n"
expect = "^HELLO"
[modules.ntp]
prober = "sntp"
"""


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def promtool_ok(text: str) -> None:
    r = subprocess.run([program("promtool"), "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def port():  # type: ignore[no-untyped-def]
    with serve(parse(CONFIG)) as p:
        yield p


@pytest.mark.parametrize("target, family", [("127.0.0.1", 4), ("::1", 6)])
def test_icmp_loopback(port: int, target: str, family: int) -> None:
    need_root()
    status, text = get(port, f"/probe?target={target}&module=icmp4")
    assert status == 200, text
    promtool_ok(text)
    assert value(text, "probe_success") == 1
    assert value(text, "probe_ip_protocol") == family
    assert value(text, "probe_icmp_packets_sent") == 4
    assert value(text, "probe_icmp_packets_received") == 4
    assert value(text, "probe_icmp_loss_ratio") == 0
    assert value(text, "probe_icmp_reply_hop_limit") == 64
    lo, avg, hi = (value(text, f"probe_icmp_rtt_{s}_seconds") for s in ("min", "avg", "max"))
    assert 0 < lo <= avg <= hi < value(text, "probe_duration_seconds")
    assert value(text, "probe_icmp_duration_seconds", phase="rtt") == avg
    assert value(text, "probe_icmp_duration_seconds", phase="resolve") == \
        value(text, "probe_dns_lookup_time_seconds")
    assert value(text, "probe_icmp_duration_seconds", phase="setup") >= 0


def test_default_module_is_icmp_with_three_requests(port: int) -> None:
    need_root()
    status, text = get(port, "/probe?target=127.0.0.1")
    assert status == 200 and value(text, "probe_icmp_packets_sent") == 3


def test_silent_host_fails_within_the_scrape_timeout(port: int) -> None:
    host = SilentHost(slot=1)
    try:
        status, text = get(port, f"/probe?target={host.there}&module=icmp4",
                           headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
        assert status == 200, text
        promtool_ok(text)
        assert value(text, "probe_success") == 0
        assert value(text, "probe_timeout_seconds") == 1.0    # 1.5 minus the 0.5 offset
        assert value(text, "probe_duration_seconds") <= 1.0 + 0.5
        assert value(text, "probe_icmp_packets_received") == 0
        assert value(text, "probe_icmp_loss_ratio") == 1
        assert value(text, "probe_icmp_duration_seconds", phase="rtt") == 0
        assert ("probe_icmp_reply_hop_limit", ()) not in samples(text)
    finally:
        host.close()


def test_tcp_connect_and_expect(port: int) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    where = f"127.0.0.1:{server.getsockname()[1]}"
    replies = [b"HELLO there\n", b"nope\n"]

    def serve_two() -> None:
        for reply in replies:
            conn, _ = server.accept()
            with conn:
                conn.recv(100)
                conn.sendall(reply)

    thread = threading.Thread(target=serve_two, daemon=True)
    thread.start()
    try:
        status, text = get(port, f"/probe?target={where}&module=hello")
        assert status == 200
        promtool_ok(text)
        assert value(text, "probe_success") == 1
        assert value(text, "probe_failed_due_to_regex") == 0
        assert value(text, "probe_tcp_connect_duration_seconds") > 0
        status, text = get(port, f"/probe?target={where}&module=hello")
        assert value(text, "probe_success") == 0
        assert value(text, "probe_failed_due_to_regex") == 1
        assert value(text, "probe_tcp_bytes_received") == 5
        thread.join(10)
        # Plain connect: the server is gone now, so refused.
        server.close()
        status, text = get(port, f"/probe?target={where}&module=tcp")
        assert status == 200 and value(text, "probe_success") == 0
    finally:
        server.close()


def test_tcp_needs_a_port(port: int) -> None:
    status, text = get(port, "/probe?target=127.0.0.1&module=tcp")
    assert status == 200 and value(text, "probe_success") == 0


def test_sntp_against_a_fake_server(port: int) -> None:
    with fake_ntp(answer(shift_ns=250_000_000)) as ntp:
        status, text = get(port, f"/probe?target=127.0.0.1:{ntp.port}&module=ntp")
    assert status == 200
    promtool_ok(text)
    assert value(text, "probe_success") == 1
    assert abs(value(text, "probe_sntp_offset_seconds") - 0.25) < 0.05
    assert value(text, "probe_sntp_root_distance_seconds") > 0
    assert value(text, "probe_sntp_stratum") == 2


def test_sntp_nobody_listening(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    status, text = get(port, f"/probe?target=127.0.0.1:{free}&module=ntp")
    assert status == 200 and value(text, "probe_success") == 0


def test_allow_list_refuses_before_sending() -> None:
    need_root()
    config = parse('[exporter]\nallow = ["127.0.0.0/8"]\n')
    with serve(config) as p:
        status, text = get(p, "/probe?target=::1&module=icmp")
        assert status == 403 and text == "target not allowed: ::1 is not in the allow-list\n"
        status, text = get(p, "/probe?target=127.0.0.2&module=icmp")
        assert status == 200 and value(text, "probe_success") == 1
        status, text = get(p, "/metrics")
        assert value(text, "pynet_exporter_requests_rejected_total", reason="not_allowed") == 1
        assert value(text, "pynet_exporter_probes_total", module="icmp", result="success") == 1
