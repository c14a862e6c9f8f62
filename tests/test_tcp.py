"""pynet.tcp against loopback peers made here: every failure of a TCP
client reproduced, reported in one line with curl's exit code, and the
each timeout ending the wait it bounds. The API tests run each body twice:
with the blocking request() and with async_request() on an event loop."""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, List

import pytest
from support import assert_ended_by_timeout, cli, offline, outside_env, program
from tcp_peers import (
    HttpRecorder,
    closed_port,
    closing,
    echo,
    full_backlog,
    resetting,
    serving,
    silent,
    trickling,
    wait_listening,
)

import pynet
from pynet import tcp

HTTP_REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
HTTP_REPLY_TEXT = "HTTP/1.0 200 OK\nContent-Length: 6\n\nhello\n"  # as cli() reads it (text mode)


Call = Callable[..., tcp.TcpResult]


@pytest.fixture(params=["request", "async_request"])
def call(request: pytest.FixtureRequest) -> Call:
    """tcp.request, or tcp.async_request run to completion on a new loop."""
    if request.param == "request":
        return tcp.request

    def run(*args: Any, **kwargs: Any) -> tcp.TcpResult:
        return asyncio.run(tcp.async_request(*args, **kwargs))
    return run


def wait_for_hangup(sock: socket.socket, timeout_s: float = 10.0) -> bool:
    """Wait (with a deadline) until the peer's RST has reached sock."""
    poller = select.poll()
    poller.register(sock, select.POLLHUP | select.POLLERR)  # not POLLIN: data may come first
    return bool(poller.poll(int(timeout_s * 1000)))


def one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith("pynet tcp: "), stderr
    return stderr


# L1: resolve, connect, send a request, print the reply.

def test_http_get_is_proper_http_1_0(call: Call) -> None:
    recorder = HttpRecorder(HTTP_REPLY)
    with serving(recorder) as server:
        result = call("127.0.0.1", server.port,
                             data=tcp.http_get("127.0.0.1", "/", server.port))
    assert result.data == HTTP_REPLY and result.peer_closed
    assert result.bytes_received == len(HTTP_REPLY) and result.address == "127.0.0.1"
    assert result.family == 4 and result.connect_time_s > 0
    request = recorder.requests[0]
    assert request.startswith(b"GET / HTTP/1.0\r\n") and request.endswith(b"\r\n\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n".encode() in request
    assert b"\n" not in request.replace(b"\r\n", b"")  # CRLF everywhere, no bare LF
    assert result.bytes_sent == len(request)


def test_cli_http_get_prints_the_reply() -> None:
    recorder = HttpRecorder(HTTP_REPLY)
    with serving(recorder) as server:
        run = cli("pynet.tcp", "127.0.0.1", str(server.port), "--http-get", "/index.html")
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout == HTTP_REPLY_TEXT
    assert recorder.requests[0].startswith(b"GET /index.html HTTP/1.0\r\n")


def test_http_request_builder() -> None:
    assert tcp.http_get("example.org", "/") == (
        b"GET / HTTP/1.0\r\nHost: example.org\r\nUser-Agent: pynet/"
        + pynet.__version__.encode() + b"\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    assert b"\r\nHost: [::1]:8080\r\n" in tcp.http_get("::1", "/", 8080)
    assert tcp.http_get("h", "/caf\u00e9?q=1").startswith(b"GET /caf%C3%A9?q=1 HTTP/1.0\r\n")
    assert b"Host: xn--caf-dma.example\r\n" in tcp.http_get("caf\u00e9.example", "/")
    for bad in ("index.html", "/a b", "/x\r\nEvil: 1", "/tab\t"):
        with pytest.raises(ValueError):
            tcp.http_get("h", bad)
    with pytest.raises(ValueError):
        tcp.http_get("h\r\nX: y", "/")


def test_pynet_command_dispatches_to_tcp() -> None:
    with serving(HttpRecorder(HTTP_REPLY)) as server:
        run = cli("pynet", "tcp", "127.0.0.1", str(server.port), "--send", "hi\r\n\r\n")
    assert run.returncode == 0 and run.stdout == HTTP_REPLY_TEXT


def test_ipv6_and_every_address_is_tried(monkeypatch: pytest.MonkeyPatch, call: Call) -> None:
    with serving(HttpRecorder(HTTP_REPLY), host="::1") as server:
        result = call("::1", server.port, data=b"GET / HTTP/1.0\r\n\r\n")
        assert result.family == 6 and result.data == HTTP_REPLY
        # A name whose first address refuses (nothing on 127.0.0.1 at that
        # port): the client goes on to the next one.
        real = socket.getaddrinfo

        def two_addresses(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host != "twice.test":
                return real(host, port, *args, **kwargs)
            return (real("127.0.0.1", port, socket.AF_INET, socket.SOCK_STREAM)
                    + real("::1", port, socket.AF_INET6, socket.SOCK_STREAM))

        monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
        lines: List[str] = []
        result = call("twice.test", server.port, data=b"x\r\n\r\n", trace=lines.append)
    assert result.address == "::1" and result.data == HTTP_REPLY
    assert any("127.0.0.1" in line and "refused" in line for line in lines), lines


# L2: a name that does not resolve.

def test_unresolvable_name_api(monkeypatch: pytest.MonkeyPatch, call: Call) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(tcp.TcpNameError) as info:
        call("miminet.rus", 80)
    assert info.value.exit_code == 6 and info.value.host == "miminet.rus"
    assert isinstance(info.value, pynet.ResolveError)


def test_unresolvable_name_cli() -> None:
    run = cli("pynet.tcp", "miminet.rus", "80", "--http-get", "/", prefix=offline())
    assert run.returncode == 6 and run.stdout == ""
    assert one_line(run.stderr).startswith("pynet tcp: miminet.rus: ")


def test_wrong_family_is_a_name_error() -> None:
    run = cli("pynet.tcp", "-6", "127.0.0.1", "80")
    assert run.returncode == 6
    one_line(run.stderr)


# L3: connection refused, at once.

def test_refused_api(call: Call) -> None:
    port = closed_port()
    start = time.monotonic()
    with pytest.raises(tcp.ConnectFailed) as info:
        call("127.0.0.1", port, data=b"x", connect_timeout=5)
    assert time.monotonic() - start < 2.5  # the RST ends it; no waiting for the timeout
    assert info.value.exit_code == 7
    assert isinstance(info.value, tcp.ConnectionRefused)
    assert isinstance(info.value, ConnectionRefusedError)
    assert str(info.value) == f"connect to 127.0.0.1 port {port}: Connection refused"


def test_refused_cli() -> None:
    port = closed_port()
    run = cli("pynet.tcp", "127.0.0.1", str(port), "--send", "x")
    assert run.returncode == 7
    assert one_line(run.stderr) == f"pynet tcp: connect to 127.0.0.1 port {port}: Connection refused\n"


# L4: a connect that would hang (SYNs dropped) ends at the connect timeout.

def test_connect_timeout_is_honoured(call: Call) -> None:
    with full_backlog() as port:
        start = time.monotonic()
        with pytest.raises(tcp.ConnectTimeout) as info:
            call("127.0.0.1", port, data=b"x", connect_timeout=1.0)
        elapsed = time.monotonic() - start
    assert_ended_by_timeout(elapsed, 1.0, otherwise_s=5.0)   # 5 s: the default
    assert info.value.exit_code == 28
    assert str(info.value) == f"connect to 127.0.0.1 port {port}: timed out after 1 s"


def test_connect_timeout_cli() -> None:
    with full_backlog() as port:
        run = cli("pynet.tcp", "127.0.0.1", str(port), "--connect-timeout", "0.3", "--send", "x")
    assert run.returncode == 28
    assert one_line(run.stderr) == (
        f"pynet tcp: connect to 127.0.0.1 port {port}: timed out after 0.3 s\n")


def test_connect_timeout_is_shared_between_addresses(monkeypatch: pytest.MonkeyPatch,
                                                     call: Call) -> None:
    with full_backlog("127.0.0.1") as port, full_backlog("127.0.0.2", port):
        real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", lambda host, p, *a, **k: (
            real("127.0.0.1", p, socket.AF_INET, socket.SOCK_STREAM)
            + real("127.0.0.2", p, socket.AF_INET, socket.SOCK_STREAM)))
        lines: List[str] = []
        start = time.monotonic()
        with pytest.raises(tcp.ConnectTimeout) as info:
            call("slow.test", port, connect_timeout=1.0, trace=lines.append)
        elapsed = time.monotonic() - start
    assert_ended_by_timeout(elapsed, 1.0, otherwise_s=2.0)   # 2 s: 1 s for each address
    assert str(info.value) == (f"connect to slow.test port {port}: timed out after 1 s "
                               "(127.0.0.1: timed out; 127.0.0.2: timed out)")
    assert [line for line in lines if line.startswith("trying")] == [
        f"trying 127.0.0.1:{port}", f"trying 127.0.0.2:{port}"]


# L5: sendall semantics; an error on reset, never a silent loss.

def test_large_request_is_sent_whole_while_the_reply_is_read(call: Call) -> None:
    payload = os.urandom(4 << 20)  # more than both socket buffers: needs full duplex
    with serving(echo) as server:
        result = call("127.0.0.1", server.port, data=payload, shutdown=True)
    assert result.bytes_sent == len(payload)
    assert result.data == payload and result.peer_closed
    assert not server.errors


def test_peer_gone_while_sending_is_an_error(call: Call) -> None:
    # The peer reads a little and closes: the rest of the request cannot be
    # delivered, and that must be an error (EPIPE or RST), not a success.
    def read_little(conn: socket.socket) -> None:
        conn.recv(10)

    payload = bytes(16 << 20)
    with serving(read_little) as server:
        with pytest.raises((tcp.TcpSendFailed, tcp.ConnectionReset)) as info:
            call("127.0.0.1", server.port, data=payload, idle_timeout=5)
    assert info.value.exit_code in (55, 56)


def test_peer_that_never_reads_stalls_the_send(call: Call) -> None:
    release = threading.Event()
    with serving(lambda conn: release.wait(10)) as server:
        try:
            with pytest.raises(tcp.IdleTimeout) as info:
                call("127.0.0.1", server.port, data=bytes(64 << 20), idle_timeout=0.3)
        finally:
            release.set()
    assert "sending stalled" in str(info.value) and "not delivered" in str(info.value)


def test_reset_api(call: Call) -> None:
    with serving(resetting) as server:
        with pytest.raises(tcp.ConnectionReset) as info:
            call("127.0.0.1", server.port, data=b"", idle_timeout=5)
    assert info.value.exit_code == 56 and info.value.received == b""
    assert "reset by peer" in str(info.value)


def test_reset_after_data_keeps_the_data(call: Call) -> None:
    with serving(lambda conn: resetting(conn, b"partial")) as server:
        with pytest.raises(tcp.ConnectionReset) as info:
            call("127.0.0.1", server.port, idle_timeout=5)
        assert info.value.received == b"partial"
        run = cli("pynet.tcp", "127.0.0.1", str(server.port), "--timeout", "5", input="")
    assert run.returncode == 56 and run.stdout == "partial"
    assert one_line(run.stderr).startswith("pynet tcp: connection reset by peer after 7 bytes")


def test_reset_seen_at_connect_keeps_the_data() -> None:
    # When the RST lands before the client looks at its connecting socket,
    # SO_ERROR says ECONNRESET (not ECONNREFUSED: the handshake was done),
    # and the data sent before the RST is still queued: it must come out.
    from pynet.tcp._exchange import drain_after_reset
    connected = threading.Event()

    def reset_once_connected(conn: socket.socket) -> None:
        connected.wait(10)
        resetting(conn, b"partial")

    with serving(reset_once_connected) as server:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        connected.set()
        with client:
            assert wait_for_hangup(client)
            assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET
            client.setblocking(False)
            got: List[bytes] = []
            with pytest.raises(tcp.ConnectionReset, match="after 7 bytes received"):
                drain_after_reset(client, got.append)
    assert got == [b"partial"]


# L6: the idle timeout; "peer closed" distinct from a timeout.

def test_idle_timeout_is_honoured(call: Call) -> None:
    with serving(silent) as server:
        start = time.monotonic()
        with pytest.raises(tcp.IdleTimeout) as info:
            call("127.0.0.1", server.port, data=b"hello\n", idle_timeout=1.0)
        elapsed = time.monotonic() - start
    assert_ended_by_timeout(elapsed, 1.0, otherwise_s=2.0)   # 2 s: the default
    assert info.value.exit_code == 28 and "nothing received within 1 s" in str(info.value)


def test_idle_timeout_after_data_is_success(call: Call) -> None:
    with serving(echo) as server:
        start = time.monotonic()
        result = call("127.0.0.1", server.port, data=b"ping\n", idle_timeout=0.5)
        elapsed = time.monotonic() - start
    assert result.data == b"ping\n" and not result.peer_closed
    assert elapsed >= 0.5


def test_silent_peer_cli() -> None:
    with serving(silent) as server:
        run = cli("pynet.tcp", "127.0.0.1", str(server.port), "--timeout", "0.3", "--send", "x")
    assert run.returncode == 28 and run.stdout == ""
    assert "nothing received within 0.3 s" in one_line(run.stderr)


def test_empty_reply(call: Call) -> None:
    with serving(closing) as server:
        with pytest.raises(tcp.EmptyReply) as info:
            call("127.0.0.1", server.port, data=b"hello\n", idle_timeout=5)
        assert info.value.exit_code == 52
        run = cli("pynet.tcp", "127.0.0.1", str(server.port), "--send", "hello\n", "--timeout", "5")
    assert run.returncode == 52
    assert "closed the connection without sending anything" in one_line(run.stderr)


# -v, stdin, and netcat as the outside peer.

def test_verbose_reports_address_time_and_bytes() -> None:
    with serving(echo) as server:
        run = cli("pynet.tcp", "-v", "127.0.0.1", str(server.port), "--send", "abc",
                  "--shutdown")
    assert run.returncode == 0 and run.stdout == "abc"
    lines = run.stderr.splitlines()
    assert lines[0] == "* 127.0.0.1 resolved to 127.0.0.1"
    assert lines[2].startswith(f"* connected to 127.0.0.1:{server.port} in ") and " ms" in lines[2]
    assert lines[-1].startswith("* sent 3 bytes, received 3 bytes in ")
    assert lines[-1].endswith("; the peer closed the connection")


def test_stdin_is_the_request() -> None:
    with serving(echo) as server:
        run = cli("pynet.tcp", "127.0.0.1", str(server.port), "--shutdown", input="from stdin\n")
    assert run.returncode == 0 and run.stdout == "from stdin\n"


def test_netcat_as_the_server(tmp_path: Any) -> None:
    nc = program("nc")
    port = closed_port()
    reply = tmp_path / "reply"
    reply.write_bytes(b"reply from nc\n")
    with open(reply, "rb") as stdin:
        # -N: shut the connection down once stdin is sent, so the client sees EOF.
        server = subprocess.Popen([nc, "-N", "-l", "127.0.0.1", str(port)], env=outside_env(),
                                  stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_listening(port)
        run = cli("pynet.tcp", "127.0.0.1", str(port), "--send", "request to nc\n",
                  "--timeout", "5")
        out, _ = server.communicate(timeout=10)
    finally:
        server.kill()
        server.wait()
    assert run.returncode == 0 and run.stdout == "reply from nc\n"
    assert out == b"request to nc\n"


# Bad command lines and arguments.

@pytest.mark.parametrize("args", [
    ["127.0.0.1"],
    ["127.0.0.1", "99999"],
    ["127.0.0.1", "http"],
    ["127.0.0.1", "80", "--timeout", "0"],
    ["127.0.0.1", "80", "--connect-timeout", "nan"],
    ["127.0.0.1", "80", "-m", "0"],
    ["127.0.0.1", "80", "--max-time", "-1"],
    ["127.0.0.1", "80", "--send", "x", "--http-get", "/"],
    ["127.0.0.1", "80", "--http-get", "no-slash"],
])
def test_usage_errors(args: List[str]) -> None:
    run = cli("pynet.tcp", *args)
    assert run.returncode == 2 and run.stdout == ""
    one_line(run.stderr)


def test_cli_defaults_are_seconds_not_minutes() -> None:
    from pynet.tcp._command import build_parser
    args = build_parser().parse_args(["127.0.0.1", "80"])
    assert (args.connect_timeout, args.timeout) == (5.0, 2.0)


def test_api_checks_arguments(call: Call) -> None:
    with pytest.raises(ValueError):
        call("127.0.0.1", 0)
    with pytest.raises(TypeError):
        call("127.0.0.1", "80")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        call("127.0.0.1", 80, data="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        call("127.0.0.1", 80, idle_timeout=-1)
    with pytest.raises(ValueError):
        call("127.0.0.1", 80, family=5)
    with pytest.raises(ValueError):
        call("127.0.0.1", 80, max_time=0)
    with pytest.raises(TypeError):
        call("127.0.0.1", 80, max_time="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        call("127.0.0.1", 80, connect_timeout=float("inf"))
    with pytest.raises(TypeError):
        call("127.0.0.1", 80, b"data")  # data is keyword-only  # type: ignore[misc]


def test_every_address_refused_is_connection_refused(monkeypatch: pytest.MonkeyPatch,
                                                     call: Call) -> None:
    port = closed_port()
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, p, *a, **k: (
        real("127.0.0.1", p, socket.AF_INET, socket.SOCK_STREAM)
        + real("::1", p, socket.AF_INET6, socket.SOCK_STREAM)))
    with pytest.raises(tcp.ConnectionRefused) as info:
        call("both.test", port, data=b"x")
    assert str(info.value) == (f"connect to both.test port {port} failed "
                               "(127.0.0.1: Connection refused; ::1: Connection refused)")


# max_time: curl's -m, a bound on the whole run.

def test_max_time_ends_a_trickling_peer(call: Call) -> None:
    # A byte every 0.5 s: the idle timeout (5 s) never fires, max_time does.
    with serving(trickling(0.5)) as server:
        start = time.monotonic()
        with pytest.raises(tcp.MaxTimeExceeded) as info:
            call("127.0.0.1", server.port, data=b"x", idle_timeout=5, max_time=2.0)
        elapsed = time.monotonic() - start
    assert_ended_by_timeout(elapsed, 2.0, otherwise_s=5.0)   # 5 s: the idle timeout
    assert isinstance(info.value, TimeoutError) and info.value.exit_code == 28
    received = info.value.received
    assert len(received) >= 3 and set(received) == {ord(".")}  # sent at 0, 0.5, 1, 1.5 s
    assert str(info.value) == (f"timed out after the max time of 2 s "
                               f"({len(received)} bytes received, 1 sent)")


def test_max_time_cuts_the_connect(call: Call) -> None:
    with full_backlog() as port:
        start = time.monotonic()
        with pytest.raises(tcp.MaxTimeExceeded) as info:
            call("127.0.0.1", port, data=b"x", connect_timeout=5, max_time=0.5)
        elapsed = time.monotonic() - start
    assert_ended_by_timeout(elapsed, 0.5, otherwise_s=5.0)   # 5 s: the connect timeout
    assert str(info.value) == (
        f"connect to 127.0.0.1 port {port}: timed out after the max time of 0.5 s")


def test_connect_timeout_before_max_time_is_a_connect_timeout(call: Call) -> None:
    with full_backlog() as port:
        with pytest.raises(tcp.ConnectTimeout):
            call("127.0.0.1", port, data=b"x", connect_timeout=0.3, max_time=5)


def test_max_time_not_reached_changes_nothing(call: Call) -> None:
    with serving(echo) as server:
        result = call("127.0.0.1", server.port, data=b"abc", shutdown=True, max_time=10)
    assert result.data == b"abc" and result.peer_closed and result.elapsed_s < 10


def test_max_time_cli() -> None:
    with serving(trickling(0.5)) as server:
        run = cli("pynet.tcp", "127.0.0.1", str(server.port), "-m", "1.2", "--send", "x")
    assert run.returncode == 28
    assert len(run.stdout) >= 2 and set(run.stdout) == {"."}  # streamed as it came
    assert one_line(run.stderr).startswith("pynet tcp: timed out after the max time of 1.2 s (")


# The result as data: to_dict() and --json.

def test_to_dict_is_json_safe_and_lossless(call: Call) -> None:
    binary = bytes(range(256))
    with serving(echo) as server:
        result = call("127.0.0.1", server.port, data=binary, shutdown=True)
    as_dict = result.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert base64.b64decode(as_dict["data_base64"]) == binary == result.data
    assert {k: v for k, v in as_dict.items() if k != "data_base64"} == {
        "host": "127.0.0.1", "address": "127.0.0.1", "port": server.port, "family": 4,
        "bytes_sent": 256, "bytes_received": 256, "peer_closed": True,
        "connect_time_s": result.connect_time_s, "elapsed_s": result.elapsed_s}


def test_cli_json_prints_to_dict() -> None:
    with serving(HttpRecorder(HTTP_REPLY), host="::1") as server:
        run = cli("pynet.tcp", "--json", "::1", str(server.port), "--send", "hi\r\n\r\n")
        expected = tcp.request("::1", server.port, data=b"hi\r\n\r\n").to_dict()
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout.count("\n") == 1  # one document
    printed = json.loads(run.stdout)
    assert set(printed) == set(expected)
    timing = ("connect_time_s", "elapsed_s")
    assert {k: v for k, v in printed.items() if k not in timing} == \
        {k: v for k, v in expected.items() if k not in timing}
    assert base64.b64decode(printed["data_base64"]) == HTTP_REPLY and printed["family"] == 6


def test_help_lists_the_exit_codes() -> None:
    run = cli("pynet.tcp", "--help")
    assert run.returncode == 0
    codes = run.stdout[run.stdout.index("exit status"):]
    for error in (tcp.TcpNameError, tcp.ConnectFailed, tcp.ConnectTimeout, tcp.MaxTimeExceeded,
                  tcp.EmptyReply, tcp.TcpSendFailed, tcp.ConnectionReset):
        assert f"\n  {error.exit_code} " in codes, (error, codes)
    assert "-m S, --max-time S" in run.stdout and "--json" in run.stdout


def test_cli_does_not_import_asyncio() -> None:
    code = ("import sys, pynet.tcp, pynet.tcp._command; "
            "sys.exit(1 if 'asyncio' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert done.returncode == 0, done.stderr


# The asyncio twin: on the loop, with input descriptors, and cancellable.

def test_input_fd_pipe_and_regular_file(call: Call, tmp_path: Any) -> None:
    # The event loop's epoll cannot watch a regular file: the async driver
    # reads it without waiting.
    path = tmp_path / "request"
    path.write_bytes(b"from a file\n")
    read_end, write_end = os.pipe()
    os.write(write_end, b"from a pipe\n")
    os.close(write_end)
    try:
        with serving(echo) as server, open(path, "rb") as f:
            from_file = call("127.0.0.1", server.port, data=b">", input_fd=f.fileno(),
                             shutdown=True)
            from_pipe = call("127.0.0.1", server.port, input_fd=read_end, shutdown=True)
    finally:
        os.close(read_end)
    assert from_file.data == b">from a file\n" and from_file.bytes_sent == 13
    assert from_pipe.data == b"from a pipe\n"


def test_async_request_runs_on_the_loop() -> None:
    # While it waits for a silent peer, other tasks on the same loop run.
    async def both(port: int) -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        with pytest.raises(tcp.IdleTimeout):
            await tcp.async_request("127.0.0.1", port, data=b"x", idle_timeout=0.5)
        task.cancel()
        return ticks

    with serving(silent) as server:
        ticks = asyncio.run(both(server.port))
    assert ticks >= 5


def test_async_request_is_cancellable() -> None:
    accepted, hung_up = threading.Event(), threading.Event()

    def handler(conn: socket.socket) -> None:
        accepted.set()
        silent(conn)  # returns when the client closes its socket
        hung_up.set()

    async def cancel_once_connected(port: int) -> None:
        task = asyncio.ensure_future(tcp.async_request("127.0.0.1", port, data=b"x",
                                                       idle_timeout=30))
        deadline = time.monotonic() + 10
        while not accepted.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # polling the server thread's event
        assert accepted.is_set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with serving(handler) as server:
        start = time.monotonic()
        asyncio.run(cancel_once_connected(server.port))
        assert hung_up.wait(10)  # the cancelled call closed its socket
    assert time.monotonic() - start < 10
