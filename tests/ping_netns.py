"""Network namespaces for the ping and fleet tests: a host at the end of a
veth pair from the root namespace (10.231.N.2, with 10.231.N.1 on our side;
the fleet tests use 10.233.N.0/24), made and torn down by the tests
themselves. Names and subnets are unique per run (they carry the pid)."""

from __future__ import annotations

import os
import subprocess
import time
from typing import List, Optional, Sequence

from support import need, need_root, outside_env, program

__all__ = ["Netns", "host_namespace"]

# Subnets 10.231.N.0/24: N from the pid, plus one slot per kind of host.
_SLOTS = 4


def _ip() -> str:
    return program("ip")


def _run(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=timeout,
                          env=outside_env())


class Netns:
    """A network namespace with loopback up and, optionally, a veth pair to
    us (IPv4 10.NET.N.0/24 and IPv6 fd00:NET:N::/64; NET 231 by default)."""

    def __init__(self, kind: str, slot: int, net: int = 231) -> None:
        need_root()
        pid = os.getpid()
        self.name = f"pynet-{kind}-{pid}"
        self.subnet = f"10.{net}.{(pid % 50) * _SLOTS + slot}"
        self.here = f"{self.subnet}.1"       # our end, in the root namespace
        self.there = f"{self.subnet}.2"      # the host in the namespace
        # The same for IPv6, in a unique local (fd00::/8) prefix.
        self.subnet6 = f"fd00:{net}:{(pid % 50) * _SLOTS + slot}"
        self.here6 = f"{self.subnet6}::1"
        self.there6 = f"{self.subnet6}::2"
        # Another prefix per subnet range, so the ping and fleet tests' links
        # never share a name.
        self.veth = f"{'pn' if net == 231 else 'pf'}{slot}{pid % 100000}"
        self.processes: List[subprocess.Popen[str]] = []
        _run(_ip(), "netns", "add", self.name)
        try:
            self.ip("link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def prefix(self) -> List[str]:
        """A command prefix that runs a program inside the namespace."""
        return [_ip(), "netns", "exec", self.name]

    def ip(self, *args: str) -> None:
        _run(_ip(), "-n", self.name, *args)

    def sh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(*self.prefix(), *args, check=check)

    def sysctl(self, key: str, value: str) -> None:
        self.sh(program("sysctl"), "-qw", f"{key}={value}")

    def sysctl_get(self, key: str) -> str:
        return self.sh(program("sysctl"), "-n", key).stdout.strip()

    def link(self) -> None:
        """The veth pair: 10.NET.N.1 here, 10.NET.N.2 there."""
        peer = self.veth + "p"
        _run(_ip(), "link", "add", self.veth, "type", "veth", "peer", "name", peer,
             "netns", self.name)
        _run(_ip(), "addr", "add", f"{self.here}/24", "dev", self.veth)
        _run(_ip(), "link", "set", self.veth, "up")
        self.ip("addr", "add", f"{self.there}/24", "dev", peer)
        # nodad: the addresses work at once, without duplicate address detection.
        _run(_ip(), "-6", "addr", "add", f"{self.here6}/64", "dev", self.veth, "nodad")
        self.ip("-6", "addr", "add", f"{self.there6}/64", "dev", peer, "nodad")
        self.ip("link", "set", peer, "up")
        self.wait_reachable()

    def wait_reachable(self, timeout: float = 10.0) -> None:
        """Until the link is up both ways (the kernel answers ARP at once,
        but the link takes a moment to come up)."""
        end = time.monotonic() + timeout
        while True:
            state = _run(_ip(), "-o", "link", "show", self.veth).stdout
            if "LOWER_UP" in state and "state UP" in state:
                return
            if time.monotonic() > end:
                raise RuntimeError(f"veth {self.veth} did not come up: {state}")
            time.sleep(0.02)

    def spawn(self, args: Sequence[str], env: Optional[dict] = None) -> "subprocess.Popen[str]":  # type: ignore[type-arg]
        proc = subprocess.Popen([*self.prefix(), *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env if env is not None else outside_env())
        self.processes.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        _run(_ip(), "netns", "del", self.name, check=False)
        # The root end of the veth goes with its peer; make sure of it.
        _run(_ip(), "link", "del", self.veth, check=False)


def host_namespace(kind: str, slot: int, *, link: bool = True, net: int = 231) -> Netns:
    need(os.path.exists("/proc/self/ns/net"), "no network namespaces")
    ns = Netns(kind, slot, net)
    try:
        if link:
            ns.link()
    except BaseException:
        ns.close()
        raise
    return ns
