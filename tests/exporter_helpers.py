"""Helpers for the exporter tests: an exporter in this process or as a
command (in a namespace of ours, too), HTTP requests with a deadline (from
inside a namespace, too), a silent host in a namespace of our own
(10.236.N.0/24, fd00:236:N::/64), free loopback ports."""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ping_netns import Netns
from support import need, need_root

__all__ = ["ExporterProcess", "SilentHost", "free_port", "get", "get_in", "serve", "wait_for"]

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str, headers: Optional[Dict[str, str]] = None,
        timeout: float = 30.0, host: str = "127.0.0.1") -> Tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def get_in(prefix: Sequence[str], port: int, path: str,
           headers: Optional[Dict[str, str]] = None, timeout: float = 30.0) -> Tuple[int, str]:
    """get() run by a Python inside a namespace (prefix: `ip netns exec NAME`),
    for an exporter listening on that namespace's loopback."""
    code = ("import json, sys\nfrom exporter_helpers import get\n"
            "print(json.dumps(get(*json.loads(sys.argv[1]))))\n")
    done = subprocess.run([*prefix, sys.executable, "-c", code,
                           json.dumps([port, path, headers, timeout])],
                          capture_output=True, text=True, timeout=timeout + 30, cwd=HERE)
    assert done.returncode == 0, done.stderr
    status, text = json.loads(done.stdout)
    return int(status), str(text)


def wait_for(what: str, check, timeout: float = 60.0, every: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll check() until it returns something true, or fail naming what."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@contextlib.contextmanager
def serve(config, fleet=None) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """An Exporter on a free loopback port, served from a thread of ours."""
    from pynet.exporter._server import Exporter

    server = Exporter(("127.0.0.1", 0), config, fleet=fleet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        if server.fleet is not None:
            server.fleet.stop()


class ExporterProcess:
    """`python -m pynet.exporter` on a free port; stderr read line by line."""

    def __init__(self, *args: str, prefix: Tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.cwd = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "pynet.exporter", "--listen",
             f"127.0.0.1:{self.port}", *args],
            cwd=self.cwd.name, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: List[str] = []
        self.partial = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def wait_line(self, needle: str, timeout: float = 30.0) -> str:
        """Read stderr until a line holding needle; fail if the process ends.
        Read from the descriptor, not through the text stream: lines that
        stream had buffered would be invisible to select."""
        end = time.monotonic() + timeout
        seen = 0
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while True:
            for line in self.lines[seen:]:
                if needle in line:
                    return line
            seen = len(self.lines)
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {needle!r} in {timeout} s: {self.lines}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"exporter ended ({self.proc.wait()}): {self.lines}")
            *complete, self.partial = (self.partial + self.decoder.decode(chunk)).split("\n")
            self.lines.extend(complete)

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self.cwd.cleanup()
        return int(self.proc.returncode)

    def __enter__(self) -> "ExporterProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SilentHost(Netns):
    """A namespace host that ignores echo requests, at the end of a veth
    pair: 10.236.N.2 (fd00:236:N::2), with 10.236.N.1 on our side."""

    def __init__(self, slot: int = 0) -> None:
        need_root()
        need(os.path.exists("/proc/self/ns/net"), "no network namespaces")
        super().__init__("exporter", slot)
        pid = os.getpid()
        n = (pid % 60) * 4 + slot
        self.subnet, self.subnet6 = f"10.236.{n}", f"fd00:236:{n:x}"
        self.here, self.there = f"{self.subnet}.1", f"{self.subnet}.2"
        self.here6, self.there6 = f"{self.subnet6}::1", f"{self.subnet6}::2"
        self.veth = f"px{slot}{pid % 100000}"
        try:
            self.link()
            self.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
            self.sysctl("net.ipv6.icmp.echo_ignore_all", "1")
        except BaseException:
            self.close()
            raise
