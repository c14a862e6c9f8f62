"""/metrics: the continuous probing's histograms and counters per target,
checked number for number against a scripted engine (which sends nothing),
then against the real fleet engine on loopback; promtool accepts it all."""

from __future__ import annotations

from exporter_fake_engine import ScriptedEngine
from exporter_helpers import get, serve, wait_for
from test_exporter_probe import promtool_ok, samples

from pynet import _fleet_engine as fe
from pynet.exporter._config import parse
from pynet.exporter._fleet import FleetProber, engine_class
from support import need, need_root

GROUPS = """
[groups.lo]
period = 0.02
addresses = ["127.0.0.1", "127.0.0.2", "::1"]
networks = ["127.3.0.0/31"]
"""


def test_metrics_from_a_scripted_engine() -> None:
    need_root()   # the prober opens raw ICMP sockets for the engine (which leaves them be)
    config = parse(GROUPS)
    fleet = FleetProber(config.groups, engine=(ScriptedEngine, fe.EngineConfig))
    engine = fleet.engines[0].engine
    fleet.start()
    with serve(config, fleet=fleet) as port:
        wait_for("six rounds", lambda: engine.probes >= 6, timeout=30)
        status, text = get(port, "/metrics")
    assert status == 200
    promtool_ok(text)
    s = samples(text)
    # The engine numbers IPv4 targets first, then IPv6: 127.0.0.1, .2, 127.3.0.0, .1, ::1.
    hosts = ["127.0.0.1", "127.0.0.2", "127.3.0.0", "127.3.0.1", "::1"]

    def get_(name: str, host: str, **extra: str) -> float:
        labels = {"group": "lo", "host": host, "ip": host, **extra}
        return s[(name, tuple(sorted(labels.items())))]

    for i, host in enumerate(hosts):
        n = get_("pynet_ping_requests_total", host)
        assert n >= 6
        replies = get_("pynet_ping_replies_total", host)
        assert get_("pynet_ping_rtt_seconds_count", host) == replies
        timeouts = get_("pynet_ping_timeouts_total", host)
        if i == 1:
            assert timeouts == n // 3 and replies == n - timeouts
        elif i == 3:
            assert replies == 0 and get_("pynet_ping_icmp_errors_total", host) == n
        else:
            assert timeouts == 0 and replies == n
        if i == 2:
            assert get_("pynet_ping_duplicates_total", host) == replies
        rtt = (i + 1) * 100e-6 + 10e-6
        assert abs(get_("pynet_ping_rtt_seconds_sum", host) - replies * rtt) < 1e-9
        # Buckets from 50 us, doubling: every reply in the first bucket above its RTT.
        bound = 50e-6
        while bound < rtt:
            assert get_("pynet_ping_rtt_seconds_bucket", host, le=repr(bound)) == 0
            bound *= 2
        assert get_("pynet_ping_rtt_seconds_bucket", host, le=repr(bound)) == replies
        assert get_("pynet_ping_rtt_seconds_bucket", host, le="+Inf") == replies
    assert s[("pynet_fleet_kernel_drops_total", (("group", "lo"),))] == 7
    assert s[("pynet_fleet_targets", (("group", "lo"),))] == 5
    assert s[("pynet_fleet_up", ())] == 1
    assert ("process_resident_memory_bytes", ()) in s
    fleet.stop()
    assert engine.closed


def test_reload_keeps_the_counts_of_targets_that_stay() -> None:
    need_root()
    config = parse(GROUPS)
    first = FleetProber(config.groups, engine=(ScriptedEngine, fe.EngineConfig))
    first.start()
    wait_for("three rounds", lambda: first.engines[0].engine.probes >= 3, timeout=30)
    first.stop()
    before = {s.ip: s.requests for s in first.all_stats()}
    assert before["127.0.0.1"] >= 3
    smaller = parse(GROUPS.replace('"127.0.0.2", ', ""))
    second = FleetProber(smaller.groups, engine=(ScriptedEngine, fe.EngineConfig),
                         previous=first)
    second.start()
    try:
        assert sorted(s.ip for s in second.all_stats()) == \
            ["127.0.0.1", "127.3.0.0", "127.3.0.1", "::1"]
        engine = second.engines[0].engine
        wait_for("two rounds", lambda: engine.probes >= 2, timeout=30)
        after = {s.ip: s.requests for s in second.snapshot()[0]}
        # The count goes on from where it was: a counter never goes back.
        assert after["127.0.0.1"] >= before["127.0.0.1"] + 1
    finally:
        second.stop()


def test_metrics_from_the_fleet_engine_on_loopback() -> None:
    """Two groups at two periods: one thread drives both engines."""
    need_root()
    try:
        engine_class()
        have = True
    except Exception:
        have = False
    need(have, "this build has no fleet engine (pynet/_c/fleet.py, pynet/_reference/fleet.py)")
    config = parse(GROUPS.replace("period = 0.02", "period = 0.1") +
                   '[groups.six]\nperiod = 0.2\naddresses = ["::1"]\n')
    fleet = FleetProber(config.groups)
    fleet.start()
    wanted = [("lo", "127.0.0.1"), ("lo", "127.0.0.2"), ("lo", "::1"), ("six", "::1")]
    try:
        with serve(config, fleet=fleet) as port:
            def counted() -> bool:
                s = samples(get(port, "/metrics")[1])
                return all(s.get(("pynet_ping_rtt_seconds_count", (("group", g), ("host", h),
                                                                   ("ip", h))), 0) >= 3
                           for g, h in wanted)
            wait_for("three replies from each loopback target", counted, timeout=30)
            text = get(port, "/metrics")[1]
            promtool_ok(text)
            s = samples(text)
            for g, h in wanted:
                labels = (("group", g), ("host", h), ("ip", h))
                assert s[("pynet_ping_rtt_seconds_bucket", labels + (("le", "+Inf"),))] == \
                    s[("pynet_ping_replies_total", labels)]
                assert s[("pynet_ping_requests_total", labels)] >= \
                    s[("pynet_ping_replies_total", labels)]
            assert s[("pynet_fleet_sent_total", (("group", "six"),))] >= 3
    finally:
        fleet.stop()
