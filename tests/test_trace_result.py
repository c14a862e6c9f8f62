"""TraceResult and its parts are named tuples (as PingResult is): build_hops
makes each probe with tuple.__new__, to_dict turns the nested records into
dicts, and LoopConfig checks its fields."""

from __future__ import annotations

import json
import socket

import pytest

from pynet import _backend
from pynet import _trace_loop as tl
from pynet.traceroute._extensions import InterfaceInfo, MplsLabel
from pynet.traceroute._result import TraceHop, TraceProbe, TraceResult, build_hops


def _config(**changes: object) -> tl.LoopConfig:
    return tl.LoopConfig(fd=-1, rfd=-1, family=4, method=tl.UDP, raw=False,
                         target=socket.inet_aton("10.9.0.3").ljust(16, b"\0"),
                         source=bytes(16), port=33434, sport=40000, ident=0, key=1,
                         queries=2)._replace(**changes)


def test_records_are_immutable_named_tuples_with_defaults() -> None:
    probe = TraceProbe(1, 0, None, None, None, None, None, None, "", False)
    assert probe.extensions == () and probe.error is None and not probe.answered
    assert TraceProbe._fields == (
        "ttl", "probe", "address", "rtt_ms", "reply_ttl", "icmp_type", "icmp_code",
        "tcp_flags", "annotation", "final", "extensions", "error")
    assert TraceHop._fields == ("ttl", "probes")
    with pytest.raises(AttributeError):
        probe.ttl = 9  # type: ignore[misc]
    assert hash(probe) == hash(TraceProbe(*probe))


def test_build_hops_makes_the_records_the_constructors_make() -> None:
    hop1 = socket.inet_aton("10.9.0.1").ljust(16, b"\0")
    dest = socket.inet_aton("10.9.0.3").ljust(16, b"\0")
    records = [(1, 0, tl.REPLY, 0, 11, 0, 250_000, 63, 0, 0, 0, hop1, bytes(tl.EXT_MAX)),
               (2, 1, tl.REPLY, tl.FINAL | tl.DEST, 3, 3, 500_000, 62, 0, 0, 0, dest,
                bytes(tl.EXT_MAX)),
               (3, 0, tl.SEND_FAILED, 0, 0, 0, 0, -1, 101, 0, 0, bytes(16), bytes(tl.EXT_MAX))]
    hops, bad = build_hops(_config(), records, 2, _backend.active)
    assert bad == 0
    expected = (
        TraceHop(1, (TraceProbe(1, 0, "10.9.0.1", 0.25, 63, 11, 0, None, "", False),
                     TraceProbe(1, 1, None, None, None, None, None, None, "", False))),
        TraceHop(2, (TraceProbe(2, 0, None, None, None, None, None, None, "", False),
                     TraceProbe(2, 1, "10.9.0.3", 0.5, 62, 3, 3, None, "", True))))
    assert hops == expected
    assert [type(h) for h in hops] == [TraceHop, TraceHop]
    assert {type(p) for h in hops for p in h.probes} == {TraceProbe}
    assert [repr(h) for h in hops] == [repr(h) for h in expected]
    assert hops[0].addresses == ("10.9.0.1",)
    # Past the final TTL nothing is kept; below it a failed send has its words.
    hops, _ = build_hops(_config(), records, 0, _backend.active)
    assert hops[2].probes[0].error == "Network is unreachable" and len(hops) == 30


def test_to_dict_nests_dicts_and_is_json() -> None:
    ext = (MplsLabel(label=16, tc=0, s=1, ttl=1),
           InterfaceInfo(role=0, ifindex=3, address="10.9.0.1", name="eth0", mtu=1500))
    probe = TraceProbe(1, 0, "10.9.0.1", 0.25, 63, 11, 0, None, "", False, ext)
    flow = {"source_port": 40000, "destination_port": 33434}
    result = TraceResult("t", "10.9.0.3", 4, "udp", True, flow, 1, 30, 1, 60,
                         (TraceHop(1, (probe,)),), False, 0, 0, 0)
    doc = result.to_dict()
    assert doc["flow"] == flow and doc["flow"] is not flow
    assert doc["hops"][0]["ttl"] == 1
    got = doc["hops"][0]["probes"][0]
    assert got["address"] == "10.9.0.1" and got["rtt_ms"] == 0.25 and got["error"] is None
    assert got["extensions"] == ({"label": 16, "tc": 0, "s": 1, "ttl": 1},
                                 {"role": 0, "ifindex": 3, "address": "10.9.0.1",
                                  "name": "eth0", "mtu": 1500})
    assert list(doc) == list(TraceResult._fields)
    again = json.loads(json.dumps(doc))
    assert again["hops"][0]["probes"][0]["extensions"][0]["label"] == 16


def test_loop_config_names_what_is_wrong() -> None:
    given = dict(fd=3, rfd=-1, family=6, method=tl.ICMP, raw=True, target=b"\x01" * 16,
                 source=b"\x02" * 16, port=0, sport=0, ident=77, key=0xDEADBEEF,
                 scope_id=2, queries=2, sim=5, wait_ns=7)
    config = tl.loop_config(**given)
    assert config == tl.LoopConfig(**given)  # type: ignore[arg-type]
    assert config.batch == 1024 and config.here_milli == 3000     # the defaults
    with pytest.raises(AttributeError):
        config.fd = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match="unknown \\['colour'\\], missing \\[\\]"):
        tl.loop_config(**given, colour=1)
    del given["key"]
    with pytest.raises(TypeError, match="missing \\['key'\\]"):
        tl.loop_config(**given)
