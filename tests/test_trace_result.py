"""build_hops' fast TraceProbe/TraceHop construction against the dataclasses'
own: the same fields, values, equality, hash and immutability."""

from __future__ import annotations

import dataclasses

import pytest

from pynet.traceroute._extensions import MplsLabel
from pynet.traceroute._result import TraceHop, TraceProbe, _probe


def test_fast_probe_equals_the_dataclass() -> None:
    ext = (MplsLabel(label=16, tc=0, s=True, ttl=1),)
    cases = [
        (3, 1, "10.0.0.1", 0.25, 62, 11, 0, None, "", False, ext, None),
        (4, 0, None, None, None, None, None, None, "", False, (), "Network is unreachable"),
        (5, 2, "10.0.0.9", 1.5, 60, None, None, 0x12, "", True, (), None),
    ]
    for values in cases:
        fast, slow = _probe(*values), TraceProbe(*values)
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
        assert tuple(getattr(fast, f.name) for f in dataclasses.fields(fast)) == values
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.ttl = 9  # type: ignore[misc]
    # The defaults: extensions () and error None, as the dataclass has them.
    assert _probe(1, 0, None, None, None, None, None, None, "", False) == TraceProbe(
        1, 0, None, None, None, None, None, None, "", False)
    assert [f.name for f in dataclasses.fields(TraceProbe)] == [
        "ttl", "probe", "address", "rtt_ms", "reply_ttl", "icmp_type", "icmp_code",
        "tcp_flags", "annotation", "final", "extensions", "error"]
    assert [f.name for f in dataclasses.fields(TraceHop)] == ["ttl", "probes"]


def test_build_hops_makes_the_dataclasses_values() -> None:
    import socket

    from pynet import _backend
    from pynet import _trace_loop as tl
    from pynet.traceroute._result import build_hops

    config = tl.LoopConfig(fd=-1, rfd=-1, family=4, method=tl.UDP, raw=False,
                           target=socket.inet_aton("10.9.0.3").ljust(16, b"\0"),
                           source=bytes(16), port=33434, sport=40000, ident=0, key=1,
                           queries=2)
    hop1 = socket.inet_aton("10.9.0.1").ljust(16, b"\0")
    dest = socket.inet_aton("10.9.0.3").ljust(16, b"\0")
    records = [(1, 0, tl.REPLY, 0, 11, 0, 250_000, 63, 0, 0, 0, hop1, bytes(tl.EXT_MAX)),
               (2, 1, tl.REPLY, tl.FINAL | tl.DEST, 3, 3, 500_000, 62, 0, 0, 0, dest,
                bytes(tl.EXT_MAX))]
    hops, bad = build_hops(config, records, 2, _backend.active)
    assert bad == 0
    assert hops == (
        TraceHop(1, (TraceProbe(1, 0, "10.9.0.1", 0.25, 63, 11, 0, None, "", False),
                     TraceProbe(1, 1, None, None, None, None, None, None, "", False))),
        TraceHop(2, (TraceProbe(2, 0, None, None, None, None, None, None, "", False),
                     TraceProbe(2, 1, "10.9.0.3", 0.5, 62, 3, 3, None, "", True))))
    assert [hash(h) for h in hops] == [hash(TraceHop(h.ttl, h.probes)) for h in hops]
    assert hops[0].addresses == ("10.9.0.1",)


def test_loop_config_is_the_dataclass_without_its_init() -> None:
    from pynet import _trace_loop as tl

    given = dict(fd=3, rfd=-1, family=6, method=tl.ICMP, raw=True, target=b"\x01" * 16,
                 source=b"\x02" * 16, port=0, sport=0, ident=77, key=0xDEADBEEF,
                 scope_id=2, queries=2, sim=5, wait_ns=7)
    fast, slow = tl.loop_config(**given), tl.LoopConfig(**given)  # type: ignore[arg-type]
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert fast.batch == 1024 and fast.here_milli == 3000     # the defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.fd = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match="unknown \\['colour'\\], missing \\[\\]"):
        tl.loop_config(**given, colour=1)
    del given["key"]
    with pytest.raises(TypeError, match="missing \\['key'\\]"):
        tl.loop_config(**given)
