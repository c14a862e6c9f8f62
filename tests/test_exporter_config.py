"""The exporter's TOML config: what a good one holds, and errors that name
the line for every kind of mistake; `--config-check`; the --listen parser."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap

import pytest

from support import cli

from pynet._errors import ConfigError, ExporterError, PynetError
from pynet.exporter._config import MAX_TARGETS, parse

GOOD = textwrap.dedent("""\
    # a comment
    [exporter]
    max_probes = 4
    timeout_offset = 0.25
    allow = ["127.0.0.0/8", "::1/128"]

    [modules.icmp5]
    prober = "icmp"
    count = 5
    interval = 0.1
    ttl = 32

    [modules.web]
    prober = "tcp"
    port = 8080
    send = "GET / HTTP/1.0\\r\\n\\r\\n"
    expect = "^HTTP/1\\\\.[01] 200"

    [modules."ntp"]
    prober = "sntp"

    [modules.path]
    prober = "traceroute"
    method = "tcp"
    port = 443
    first_ttl = 2
    max_hops = 12
    queries = 1
    wait = 0.5

    [groups.loopback]
    period = 0.5
    addresses = ["127.0.0.1", "::1"]
    names = ["localhost"]
    networks = ["127.1.0.0/30"]
    """)


def test_good_config_holds_what_it_says() -> None:
    c = parse(GOOD, "good.toml")
    assert c.max_probes == 4 and c.timeout_offset == 0.25
    assert c.allowed("127.9.9.9") and c.allowed("::1") and not c.allowed("10.236.0.2")
    assert set(c.modules) == {"icmp", "tcp", "sntp", "traceroute", "icmp5", "web", "ntp",
                              "path"}
    assert c.modules["icmp5"].count == 5 and c.modules["icmp5"].ttl == 32
    web = c.modules["web"]
    assert web.prober == "tcp" and web.port == 8080 and web.send == b"GET / HTTP/1.0\r\n\r\n"
    assert web.expect is not None and web.expect.search(b"HTTP/1.1 200 OK")
    assert c.modules["ntp"].prober == "sntp"
    path = c.modules["path"]
    assert (path.prober, path.method, path.port, path.first_ttl, path.max_hops, path.queries,
            path.wait) == ("traceroute", "tcp", 443, 2, 12, 1, 0.5)
    trace = c.modules["traceroute"]
    assert (trace.method, trace.first_ttl, trace.max_hops, trace.queries, trace.wait) == \
        ("udp", 1, 30, 3, 5.0)
    (g,) = c.groups
    assert g.name == "loopback" and g.period == 0.5 and g.timeout == 0.5
    assert g.networks == (ipaddress.ip_network("127.1.0.0/30"),)
    assert g.count() == 2 + 1 + 2      # /30: two hosts, as fping -g counts them


def test_no_allow_list_is_an_open_prober() -> None:
    c = parse("[modules.x]\nprober = 'icmp'\n")
    assert c.allow is None and c.allowed("10.236.1.2")


@pytest.mark.parametrize("text, line, words", [
    ("[exporter]\nmax_probes = 4\nmax_probes = 5\n", 3, "Cannot overwrite"),
    ("[exporter\n", 1, "Expected ']'"),
    ("[exporter]\nmax_probe = 4\n", 2, "unknown key 'max_probe'"),
    ("[exporter]\n\nmax_probes = 0\n", 3, "exporter.max_probes must be 1..4096"),
    ("[exporter]\nmax_probes = true\n", 2, "must be an integer"),
    ("[exporter]\nallow = ['10.0.0.1/8']\n", 2, "has host bits set"),
    ("[exporter]\nallow = '127.0.0.0/8'\n", 2, "must be a list of strings"),
    ("[modules.a]\nprober = 'http'\n", 2, "must be one of icmp, tcp, sntp, traceroute"),
    ("[modules.t]\nprober = 'traceroute'\nmethod = 'sctp'\n", 3,
     "modules.t.method must be one of udp, udp-port, icmp, tcp, got 'sctp'"),
    ("[modules.t]\nprober = 'traceroute'\nmax_hops = 0\n", 3,
     "modules.t.max_hops must be 1..255, got 0"),
    ("[modules.t]\nprober = 'traceroute'\nmax_hops = 8\n# why\nfirst_ttl = 9\n", 5,
     "modules.t.first_ttl must be at most max_hops (8), got 9"),
    ("[modules.t]\nprober = 'traceroute'\nqueries = 11\n", 3,
     "modules.t.queries must be 1..10, got 11"),
    ("[modules.t]\nprober = 'traceroute'\nwait = 0\n", 3, "modules.t.wait must be 0.001..120"),
    ("[modules.t]\nprober = 'traceroute'\n\ncount = 3\n", 4,
     "modules.t.count is not an option of the traceroute prober"),
    ("[modules.t]\nprober = 'tcp'\nmax_hops = 3\n", 3, "not an option of the tcp prober"),
    ("[modules.t]\nprober = 'traceroute'\nport = 0\n", 3, "modules.t.port must be 1..65535"),
    ("[modules.a]\nprober = 'icmp'\nport = 80\n", 3, "not an option of the icmp prober"),
    ("[modules.a]\nprober = 'tcp'\nexpect = '('\n", 3, "not a valid regex"),
    ("[modules.a]\nprober = 'icmp'\ncount = 1.5\n", 3, "must be an integer"),
    ("[modules.a]\nprober = 'icmp'\ntimeout = nan\n", 3, "must be 0.001..120"),
    ("\n[groups.g]\nperiod = 1\n", 2, "has no addresses, names or networks"),
    ("[groups.g]\naddresses = ['localhost']\n", 2, "is not an IP address"),
    ("[groups.g]\n# x\nnetworks = ['127.1.0.0/33']\n", 3, "127.1.0.0/33"),
    ("[groups.g]\nnames = ['a b']\n", 2, "is not a host name"),
    ("[groups.g]\nnetworks = ['127.0.0.0/12']\n[groups.h]\nnetworks = ['127.16.0.0/24']\n", 3,
     f"over {MAX_TARGETS} targets"),
    ("x = 1\n", 1, "unknown table 'x'"),
])
def test_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, "bad.toml")
    err = info.value
    assert isinstance(err, ExporterError) and isinstance(err, PynetError)
    assert err.line == line, str(err)
    assert words in str(err)
    assert str(err).startswith(f"bad.toml:{line}: ")
    assert "\n" not in str(err)


def test_config_check_good_and_bad(tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    r = cli("pynet.exporter", "--config-check", "--config", str(good))
    assert r.returncode == 0, r.stderr
    assert "good" in r.stdout and "1 groups with 5 targets" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[modules.a]\nprober = 'icmp'\n\ncount = -1\n")
    r = cli("pynet.exporter", "--config-check", "--config", str(bad))
    assert r.returncode == 1
    assert r.stderr == f"pynet exporter: {bad}:4: modules.a.count must be 1..1000, got -1\n"
    r = cli("pynet.exporter", "--config-check", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 1 and "No such file" in r.stderr and "Traceback" not in r.stderr
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"[exporter]\n\xff = 1\n")
    r = cli("pynet.exporter", "--config-check", "--config", str(binary))
    assert r.returncode == 1 and r.stderr.endswith(":2: not UTF-8\n")


@pytest.mark.parametrize("args, words", [
    (["--listen", "127.0.0.1"], "expected HOST:PORT"),
    (["--listen", "localhost:9427"], "must be an IP address"),
    (["--listen", "127.0.0.1:99999"], "expected HOST:PORT"),
    (["--bogus"], "unrecognized arguments"),
    (["--config-check"], "needs --config"),
])
def test_bad_command_lines(args, words) -> None:  # type: ignore[no-untyped-def]
    r = cli("pynet.exporter", *args)
    assert r.returncode == 2
    assert words in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_pynet_command_lists_exporter() -> None:
    r = subprocess.run([sys.executable, "-m", "pynet", "--help"], capture_output=True,
                       text=True, cwd="/")
    assert "exporter" in r.stdout


def test_import_pynet_loads_no_prometheus_client() -> None:
    code = ("import sys, pynet, pynet.exporter; "
            "print(any(m.startswith(('prometheus_client', 'tomllib')) for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.stdout.strip() == "False", r.stderr
