"""The command and the library around the loop: --json, --report beside
mtr's, several targets (arguments and --targets), the library calls, and
errors: one line, the documented exit code, names that do not resolve
stopped before anything is sent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Iterator, List, Optional

import pytest
from support import cli, offline, outside_env, program
from trace_chain import Chain
from trace_lines import hops, shape

# From-imports: pynet's own `traceroute` name may be the function, as `ping` is.
from pynet.traceroute import TraceHop, TraceProbe


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain(3, tag="c")
    try:
        yield c
    finally:
        c.close()


def _pynet(c: Chain, args: List[str], backend: str = "c") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYNET_BACKEND=backend)
    return subprocess.run([*c.client.prefix(), sys.executable, "-m", "pynet.traceroute", *args],
                          capture_output=True, text=True, timeout=120, cwd="/", env=env)


def _python_in_client(c: Chain, code: str) -> str:
    """What `code` prints, run by this Python in the client namespace; it must exit 0."""
    done = subprocess.run([*c.client.prefix(), sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _name(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["backend"])


def test_json_is_one_document_with_probes_and_flow(chain: Chain, backend: object,
                                                   request: pytest.FixtureRequest) -> None:
    done = _pynet(chain, ["--json", "-I", chain.target4], _name(request))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["method"] == "icmp" and result["paris"] is True
    assert result["address"] == chain.target4 and result["family"] == 4 and result["reached"]
    assert [h["ttl"] for h in result["hops"]] == [1, 2, 3, 4]
    for hop, address in zip(result["hops"], chain.hops4):
        assert [p["address"] for p in hop["probes"]] == [address] * 3
        assert all(p["rtt_ms"] > 0 and p["reply_ttl"] > 0 for p in hop["probes"])
    assert {p["icmp_type"] for p in result["hops"][0]["probes"]} == {11}
    assert {p["icmp_type"] for p in result["hops"][-1]["probes"]} == {0}
    assert set(result["flow"]) == {"icmp_id", "icmp_checksum"}
    assert 0 <= result["flow"]["icmp_checksum"] <= 0xFFFF


def test_report_has_mtrs_layout(chain: Chain, backend: object,
                                request: pytest.FixtureRequest) -> None:
    ours = _pynet(chain, ["--report", "-c", "2", "-n", chain.target4], _name(request))
    theirs = chain.client.sh(program("mtr"), "--report", "-c", "2", "-n", chain.target4,
                             check=False)
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    ours_lines = ours.stdout.rstrip("\n").split("\n")
    theirs_lines = theirs.stdout.rstrip("\n").split("\n")
    assert ours_lines[1] == theirs_lines[1]                 # the header, to the column
    assert len(ours_lines) == len(theirs_lines)
    for a, b in zip(ours_lines[2:], theirs_lines[2:]):
        # The same hop, loss and count; column ends where mtr's end.
        assert a.split()[:4] == b.split()[:4]
        assert [m.end() for m in re.finditer(r"\S+", a)] == [m.end() for m in
                                                             re.finditer(r"\S+", b)]


def test_several_targets_each_path_whole_in_order(chain: Chain, backend: object,
                                                  request: pytest.FixtureRequest) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(f"# targets\n{chain.hops4[2]}\n\n{chain.target6}\n")
    try:
        os.chmod(f.name, 0o644)
        done = _pynet(chain, ["-n", chain.target4, chain.hops4[1], "--targets", f.name],
                      _name(request))
    finally:
        os.unlink(f.name)
    assert done.returncode == 0, done.stderr
    kinds = shape(done.stdout)
    assert kinds == ["header"] + ["hop"] * 4 + ["header"] + ["hop"] * 2 + ["header"] + \
        ["hop"] * 3 + ["header"] + ["hop"] * 4
    blocks = re.split(r"\n(?=traceroute to )", done.stdout.rstrip("\n"))
    assert [b.split()[2] for b in blocks] == [chain.target4, chain.hops4[1], chain.hops4[2],
                                              chain.target6]
    assert [h[1] for h in hops(blocks[0] + "\n")] == [(a,) for a in chain.hops4]


def test_library_and_async_in_the_namespace(chain: Chain, backend: object,
                                            request: pytest.FixtureRequest) -> None:
    code = (
        "import asyncio, json\n"
        "from pynet.traceroute import async_traceroute, traceroute, traceroute_many\n"
        f"r = traceroute({chain.target6!r}, method='tcp', queries=2, backend={_name(request)!r})\n"
        f"a = asyncio.run(async_traceroute({chain.target4!r}, backend={_name(request)!r}))\n"
        f"m = traceroute_many([{chain.target4!r}, {chain.hops4[0]!r}], method='icmp')\n"
        "print(json.dumps([r.to_dict(), a.to_dict(), [x.to_dict() for x in m]]))\n")
    r, a, many = json.loads(_python_in_client(chain, code))
    assert [h["probes"][0]["address"] for h in r["hops"]] == chain.hops6
    assert all(len(h["probes"]) == 2 for h in r["hops"])
    assert [h["probes"][0]["address"] for h in a["hops"]] == chain.hops4
    assert [m["address"] for m in many] == [chain.target4, chain.hops4[0]]
    assert len(many[1]["hops"]) == 1


def test_many_stops_cleanly_at_a_target_without_a_route(chain: Chain, backend: object,
                                                        request: pytest.FixtureRequest) -> None:
    """A target the client has no route to (nothing is sent to it: the
    route lookup fails first) among many: the call raises that error, and
    no loop thread or socket outlives it."""
    nowhere = NOWHERE
    code = (
        "import os, threading\n"
        "from pynet import TracerouteSocketError\n"
        "from pynet.traceroute import traceroute_many\n"
        "fds = len(os.listdir('/proc/self/fd'))\n"
        f"targets = [{chain.target4!r}] * 40 + [{nowhere!r}] + [{chain.hops4[0]!r}] * 40\n"
        "try:\n"
        f"    traceroute_many(targets, workers=4, backend={_name(request)!r})\n"
        "except TracerouteSocketError as exc:\n"
        "    print(exc)\n"
        "print(threading.active_count(), len(os.listdir('/proc/self/fd')) - fds)\n")
    error, counts = _python_in_client(chain, code).strip().split("\n")
    assert "unreachable" in error.lower()
    assert counts == "1 0"


NOWHERE = "10.99.0.1"     # the client namespace routes only the chain's 10.235/16


def test_many_with_return_exceptions_traces_the_others(chain: Chain, backend: object,
                                                       request: pytest.FixtureRequest) -> None:
    """return_exceptions: a name that does not resolve and a target without
    a route take their errors' places; every other target is traced."""
    code = (
        "import os, threading\n"
        "from pynet import TracerouteConnectError, TracerouteNameError\n"
        "from pynet.traceroute import TraceResult, traceroute_many\n"
        "fds = len(os.listdir('/proc/self/fd'))\n"
        f"targets = [{chain.target4!r}, 'no-such-host.invalid', {NOWHERE!r}, "
        f"{chain.hops4[0]!r}] * 5\n"
        f"out = traceroute_many(targets, workers=3, return_exceptions=True, "
        f"backend={_name(request)!r})\n"
        "kinds = {TraceResult: 'trace', TracerouteNameError: 'name',"
        " TracerouteConnectError: 'connect'}\n"
        "print(' '.join(kinds[type(x)] for x in out))\n"
        "print(' '.join(x.address for x in out if isinstance(x, TraceResult)))\n"
        "print(out[2].exit_code, out[2].address, out[2])\n"
        "print(threading.active_count(), len(os.listdir('/proc/self/fd')) - fds)\n")
    kinds, addresses, error, counts = _python_in_client(chain, code).strip().split("\n")
    assert kinds.split() == ["trace", "name", "connect", "trace"] * 5
    assert addresses.split() == [chain.target4, chain.hops4[0]] * 5
    assert error == f"1 {NOWHERE} connect: Network is unreachable"
    assert counts == "1 0"


def test_many_targets_whose_routes_want_different_sources(chain: Chain, backend: object,
                                                        request: pytest.FixtureRequest) -> None:
    """Loopback and the chain, interleaved, in one run: each trace's source
    is its own route's (a UDP socket connected once keeps its source, so
    one reused for the next target would refuse a route that wants another)."""
    targets = ["127.0.0.2", chain.hops4[0], "127.0.0.3", chain.hops4[1], "::1", chain.hops6[0]]
    code = (
        "from pynet.traceroute import traceroute_many\n"
        f"out = traceroute_many({targets!r}, queries=1, workers=2, return_exceptions=True, "
        f"backend={_name(request)!r})\n"
        "for r in out:\n"
        "    print(r.hops[-1].probes[0].address if hasattr(r, 'hops') else repr(r))\n")
    assert _python_in_client(chain, code).split("\n")[:-1] == targets


def test_each_outcome_is_emitted_once_by_the_calling_thread(chain: Chain, backend: object,
                                                           request: pytest.FixtureRequest) -> None:
    """trace_each (what the command prints through): emit(place, outcome)
    once for every target, names that do not resolve and targets without a
    route too, from the caller's thread, with what the list returns."""
    code = (
        "import threading\n"
        "from pynet.traceroute._api import trace_each\n"
        "seen, me = [], threading.get_ident()\n"
        "def emit(place, outcome):\n"
        "    assert threading.get_ident() == me\n"
        "    seen.append((place, outcome))\n"
        f"targets = [{chain.target4!r}, 'no-such-host.invalid', {NOWHERE!r}, "
        f"{chain.hops4[0]!r}] * 4\n"
        f"out = trace_each(targets, emit, workers=3, return_exceptions=True, "
        f"backend={_name(request)!r})\n"
        "assert sorted(p for p, _ in seen) == list(range(len(targets))), seen\n"
        "assert all(out[p] is o for p, o in seen)\n"
        "print(' '.join(type(o).__name__ for o in out))\n")
    assert _python_in_client(chain, code).split() == [
        "TraceResult", "TracerouteNameError", "TracerouteConnectError", "TraceResult"] * 4


def test_outcomes_are_written_in_their_order_whatever_order_they_come_in() -> None:
    from pynet.traceroute._main import _InOrder
    written: List[object] = []
    in_order = _InOrder(lambda place, outcome: written.append((place, outcome)))
    received = set()
    for place in [2, 0, 4, 1, 3, 6, 5]:
        in_order(place, f"outcome {place}")
        received.add(place)
        # Written: every outcome before the first one still missing, once.
        first_missing = min(set(range(8)) - received)
        assert written == [(p, f"outcome {p}") for p in range(first_missing)]


def test_cli_target_without_a_route_is_traceroutes_header_and_exit_1(chain: Chain) -> None:
    """Linux traceroute prints its header, then the failed connect, and
    exits 1; among several targets, the others are traced in their places."""
    theirs = subprocess.run([*chain.client.prefix(), program("traceroute"), "-n", NOWHERE],
                            capture_output=True, text=True, timeout=60, cwd="/")
    ours = _pynet(chain, ["-n", NOWHERE])
    # traceroute ends each line as the next begins, so its dying header has
    # no newline yet; ours is a whole line.
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout + "\n") == (
        1, f"traceroute to {NOWHERE} ({NOWHERE}), 30 hops max, 60 byte packets\n")
    assert theirs.stderr == "\nconnect: Network is unreachable\n"   # the header's end first
    assert ours.stderr == theirs.stderr.lstrip("\n")     # perror's words, no program name
    many = _pynet(chain, ["-n", "-q", "1", chain.target4, NOWHERE, chain.hops4[0]])
    assert many.returncode == 1 and many.stderr == ours.stderr
    blocks = many.stdout.split("traceroute to ")[1:]
    assert [b.split(" ")[0] for b in blocks] == [chain.target4, NOWHERE, chain.hops4[0]]
    assert blocks[1] == ours.stdout[len("traceroute to "):]
    assert [h[1] for h in hops("traceroute to " + blocks[0])] == [(a,) for a in chain.hops4]
    listed = _pynet(chain, ["--json", "-q", "1", chain.target4, NOWHERE])
    assert listed.returncode == 1 and listed.stderr == ""
    docs = json.loads(listed.stdout)
    assert docs[0]["reached"] and docs[1] == {
        "target": NOWHERE, "error": "connect: Network is unreachable"}


def test_result_is_frozen_with_to_dict() -> None:
    probe = TraceProbe(1, 0, "10.0.0.1", 0.5, 64, 11, 0, None, "", False)
    with pytest.raises(AttributeError):
        probe.rtt_ms = 1.0  # type: ignore[misc]
    hop = TraceHop(1, (probe, probe))
    assert hop.addresses == ("10.0.0.1",)


@pytest.mark.parametrize("args", [["-n", "-q", "1", "127.0.0.1"],
                                  ["-n", "-q", "1", "--report", "-c", "1", "127.0.0.1"]])
def test_start_loads_no_heavy_module(args: List[str]) -> None:
    """One trace on loopback is mostly the interpreter's start: `pynet
    traceroute` imports neither typing nor dataclasses (nor inspect, which
    it pulls in), nor asyncio (async_traceroute's) nor json (--json's)."""
    code = ("import sys; from pynet.traceroute._main import main; rc = main(sys.argv[1:]); "
            "heavy = {'typing', 'dataclasses', 'inspect', 'asyncio', 'json'} & "
            "set(sys.modules); print(sorted(heavy)); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
    assert "127.0.0.1" in done.stdout


def test_unresolvable_name_fails_before_sending() -> None:
    done = cli("pynet.traceroute", "-n", "no-such-host.invalid", prefix=offline())
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("traceroute: no-such-host.invalid: ")


def test_library_raises_the_resolve_error() -> None:
    code = ("import pynet._errors as e\n"
            "from pynet.traceroute import TracerouteNameError, traceroute\n"
            "try:\n    traceroute('no-such-host.invalid')\n"
            "except TracerouteNameError as exc:\n"
            "    assert isinstance(exc, e.ResolveError) and isinstance(exc, e.TracerouteError)\n"
            "    print('raised')\n")
    done = subprocess.run([*offline(), sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60, cwd="/")
    assert done.stdout.strip() == "raised", done.stderr


@pytest.mark.parametrize("args, words", [
    (["-q", "11", "127.0.0.1"], "queries must be in 1..10"),
    (["-m", "0", "127.0.0.1"], "max_ttl must be in 1..255"),
    (["-f", "5", "-m", "3", "127.0.0.1"], "first_ttl must be in 1..3"),
    (["-p", "70000", "127.0.0.1"], "port must be in 1..65535"),
    (["-c", "3", "127.0.0.1"], "-c goes with --report"),
    ([], "no host to trace"),
    (["--bogus", "127.0.0.1"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line_exit_2(args: List[str], words: str) -> None:
    done = cli("pynet.traceroute", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().split("\n")
    assert len(lines) == 1 and words in lines[0], done.stderr


def test_loopback_trace_and_the_pynet_entry_point() -> None:
    done = cli("pynet", "traceroute", "-n", "-q", "1", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[1].startswith(" 1  127.0.0.1  ")


def test_hosts_and_options_in_any_order() -> None:
    # traceroute's getopt takes options after the host; with several hosts,
    # between them too.
    done = cli("pynet.traceroute", "127.0.0.1", "-n", "-q", "1", "127.0.0.2", "-m", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.startswith("traceroute to ")] == [
        f"traceroute to {a} ({a}), 2 hops max, 60 byte packets" for a in ("127.0.0.1", "127.0.0.2")]
    assert [line.split()[:2] for line in lines if not line.startswith("traceroute")] == [
        ["1", "127.0.0.1"], ["1", "127.0.0.2"]]


@pytest.mark.parametrize("family, method", [
    (4, []), (4, ["-I"]), (4, ["-T"]), (6, []), (6, ["-I"]), (6, ["-T"]),
], ids=str)
@pytest.mark.parametrize("length", [None, "10", "100", "65000"])
def test_packet_length_as_traceroute_takes_it(family: int, method: List[str],
                                              length: Optional[str]) -> None:
    """The length after the host: TCP probes ignore it (a SYN and its
    options, as Linux traceroute's); UDP and ICMP take it, raised to the
    least that holds the headers and the probe's 8-byte mark (Linux
    traceroute's least is the headers alone, 28 and 48, which it can send
    and pynet, marking its probes, cannot: it says what it sends)."""
    target = "127.0.0.1" if family == 4 else "::1"
    args = ["-n", "-q", "1", "-m", "1", *method, target, *([length] if length else [])]
    ours = cli("pynet.traceroute", *args)
    theirs = subprocess.run([program("traceroute"), *args], capture_output=True, text=True,
                            timeout=60, env=outside_env())
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    size = int(ours.stdout.split(" byte packets")[0].rsplit(" ", 1)[1])
    least = (20 if family == 4 else 40) + 8 + 8
    if method == ["-T"] or length is None or int(length) >= least:
        assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0]
    else:
        assert size == least
    assert ours.stdout.splitlines()[1].split()[:2] == ["1", target]
