"""/probe?module=traceroute: the exporter in the client namespace of a router
chain (10.239.L.0/24, fd00:239:L::/64) traces to the far host, to a silent
one within the scrape budget, to one past max_hops and to an address with
no route; on loopback from here, the allow-list and bad queries; text that
promtool accepts."""

from __future__ import annotations

import os
import tempfile
from typing import Dict, Iterator, List, Tuple

import pytest

from exporter_helpers import ExporterProcess, get, get_in, serve
from support import program
from test_exporter_probe import promtool_ok, samples, value
from trace_chain import Chain

from pynet.exporter._config import parse

NET = 239
CONFIG = """\
[modules.trace_icmp]
prober = "traceroute"
method = "icmp"
queries = 2
max_hops = 8
[modules.trace_tcp]              # a closed port: the target's RST ends the trace
prober = "traceroute"
method = "tcp"
port = 9
[modules.two_hops]
prober = "traceroute"
max_hops = 2
[modules.patient]                # probes wait far longer than any scrape
prober = "traceroute"
max_hops = 8
wait = 100.0
"""


class Traced:
    """The chain and an exporter inside its client namespace."""

    def __init__(self) -> None:
        self.chain = Chain(3, tag="x", net=NET)
        self.dir = tempfile.TemporaryDirectory()
        path = os.path.join(self.dir.name, "exporter.toml")
        with open(path, "w") as f:
            f.write(CONFIG)
        try:
            self.exporter = ExporterProcess("--config", path,
                                            prefix=tuple(self.chain.client.prefix()))
            self.exporter.wait_line("listening on")
        except BaseException:
            self.close()
            raise

    def probe(self, target: str, module: str, scrape_timeout: str = "10") -> Tuple[int, str]:
        return get_in(self.chain.client.prefix(), self.exporter.port,
                      f"/probe?target={target}&module={module}",
                      {"X-Prometheus-Scrape-Timeout-Seconds": scrape_timeout})

    def close(self) -> None:
        if hasattr(self, "exporter"):
            self.exporter.close()
        self.chain.close()
        self.dir.cleanup()


@pytest.fixture(scope="module")
def traced() -> Iterator[Traced]:
    t = Traced()
    try:
        yield t
    finally:
        t.close()


def hop_addresses(text: str) -> List[Tuple[int, str]]:
    """(hop, address) of every probe_traceroute_hop_rtt_seconds sample, by hop."""
    found = [(int(dict(labels)["hop"]), dict(labels)["address"])
             for (name, labels) in samples(text) if name == "probe_traceroute_hop_rtt_seconds"]
    return sorted(found)


def responded(text: str) -> Dict[int, float]:
    return {int(dict(labels)["hop"]): v for (name, labels), v in samples(text).items()
            if name == "probe_traceroute_hop_responded"}


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("module", ["traceroute", "trace_icmp", "trace_tcp"])
def test_the_far_host_is_reached_through_every_router(traced: Traced, family: int,
                                                      module: str) -> None:
    c = traced.chain
    target, hops = (c.target4, c.hops4) if family == 4 else (c.target6, c.hops6)
    status, text = traced.probe(target, module)
    assert status == 200, text
    promtool_ok(text)
    assert value(text, "probe_success") == 1
    assert value(text, "probe_traceroute_reached") == 1
    assert value(text, "probe_ip_protocol") == family
    assert value(text, "probe_dns_lookup_time_seconds") >= 0
    assert value(text, "probe_traceroute_hops") == len(hops) == 4
    assert hop_addresses(text) == list(enumerate(hops, 1))
    assert responded(text) == {1: 1, 2: 1, 3: 1, 4: 1}
    for hop in range(1, 5):
        assert value(text, "probe_traceroute_hop_loss_ratio", hop=str(hop)) == 0
    rtts = [value(text, "probe_traceroute_hop_rtt_seconds", hop=str(k), address=a)
            for k, a in enumerate(hops, 1)]
    assert all(0 < rtt < value(text, "probe_duration_seconds") for rtt in rtts)


def test_the_metric_families_and_their_types(traced: Traced) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    status, text = traced.probe(traced.chain.target4, "traceroute")
    assert status == 200
    kinds = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert kinds == {name: "gauge" for name in (
        "probe_dns_lookup_time_seconds", "probe_ip_protocol", "probe_traceroute_reached",
        "probe_traceroute_hops", "probe_traceroute_hop_responded",
        "probe_traceroute_hop_loss_ratio", "probe_traceroute_hop_rtt_seconds",
        "probe_success", "probe_duration_seconds", "probe_timeout_seconds")}


def test_past_max_hops_is_a_failure_with_the_hops_seen(traced: Traced) -> None:
    c = traced.chain
    status, text = traced.probe(c.target4, "two_hops")
    assert status == 200
    promtool_ok(text)
    assert value(text, "probe_success") == 0
    assert value(text, "probe_traceroute_reached") == 0
    assert ("probe_traceroute_hops", ()) not in samples(text)
    assert hop_addresses(text) == [(1, c.hops4[0]), (2, c.hops4[1])]
    line = traced.exporter.wait_line(f"module=two_hops target='{c.target4}' success=0")
    assert "not reached within 2 hops" in line and f"hop 2 ({c.hops4[1]})" in line


@pytest.fixture
def silent_target(traced: Traced) -> Iterator[None]:
    """The target drops everything that comes to it: no port unreachable,
    no echo reply, no TCP answer; the routers still say time exceeded."""
    traced.chain.target.nft("table inet pynet_silent {\n chain in {\n"
                            "  type filter hook input priority 0; policy drop;\n }\n}\n")
    try:
        yield
    finally:
        traced.chain.target.sh(program("nft"), "delete", "table", "inet", "pynet_silent")


@pytest.mark.parametrize("family", [4, 6])
def test_a_silent_target_fails_within_the_scrape_budget(traced: Traced, silent_target: None,
                                                        family: int) -> None:
    c = traced.chain
    target, hops = (c.target4, c.hops4) if family == 4 else (c.target6, c.hops6)
    # The probes would wait 100 s each: only the budget (2 s minus the
    # 0.5 s offset) ends this trace.
    status, text = traced.probe(target, "patient", scrape_timeout="2")
    assert status == 200, text
    promtool_ok(text)
    assert value(text, "probe_success") == 0
    assert value(text, "probe_timeout_seconds") == 1.5
    assert value(text, "probe_traceroute_reached") == 0
    # The trace's own page, not the server's "no answer within" one: the
    # traceroute stopped itself at the budget.
    assert hop_addresses(text) == list(enumerate(hops[:3], 1))
    assert responded(text) == {1: 1, 2: 1, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}
    assert value(text, "probe_traceroute_hop_loss_ratio", hop="4") == 1


def test_an_address_without_a_route_fails_with_the_reason_logged(traced: Traced) -> None:
    nowhere = f"10.{NET}.200.2"
    status, text = traced.probe(nowhere, "traceroute", scrape_timeout="2")
    assert status == 200, text
    promtool_ok(text)
    assert value(text, "probe_success") == 0
    assert responded(text) == {}
    line = traced.exporter.wait_line(f"module=traceroute target='{nowhere}' success=0")
    assert "Network is unreachable" in line


# ---- on loopback, from this namespace ------------------------------------------


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serve(parse('[modules.lo]\nprober = "traceroute"\nmax_hops = 3\n')) as p:
        yield p


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
def test_loopback_is_one_hop(port: int, target: str) -> None:
    status, text = get(port, f"/probe?target={target}&module=lo")
    assert status == 200, text
    promtool_ok(text)
    assert value(text, "probe_success") == 1
    assert value(text, "probe_traceroute_hops") == 1
    assert hop_addresses(text) == [(1, target)]


@pytest.mark.parametrize("query, answer", [
    ("target=127.0.0.1&module=traceroute&max_hops=5",
     "unknown parameter 'max_hops' (known: target, module)"),
    ("module=traceroute", "Target parameter is missing"),
    ("target=127.0.0.1&module=tracerout", "Unknown module 'tracerout'"),
    ("target=127.0.0.1&module=lo&module=traceroute", "parameter module given more than once"),
    ("target=a%20b&module=traceroute", "target 'a b' is not a host name or address"),
])
def test_bad_queries_get_400_and_one_line(port: int, query: str, answer: str) -> None:
    status, text = get(port, f"/probe?{query}")
    assert (status, text) == (400, answer + "\n")


def test_a_bad_scrape_timeout_gets_400(port: int) -> None:
    status, text = get(port, "/probe?target=127.0.0.1&module=traceroute",
                       {"X-Prometheus-Scrape-Timeout-Seconds": "soon"})
    assert (status, text) == (400, "X-Prometheus-Scrape-Timeout-Seconds is not a number\n")


def test_the_allow_list_refuses_before_tracing() -> None:
    with serve(parse('[exporter]\nallow = ["127.0.0.0/8"]\n')) as p:
        status, text = get(p, "/probe?target=::1&module=traceroute")
        assert (status, text) == (403, "target not allowed: ::1 is not in the allow-list\n")
        status, text = get(p, "/metrics")
        assert value(text, "pynet_exporter_requests_rejected_total", reason="not_allowed") == 1
        assert ("pynet_exporter_probes_total", (("module", "traceroute"),
                                                ("result", "success"))) not in samples(text)
