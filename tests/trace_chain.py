"""A chain of network namespaces for the traceroute tests: a client, a few
routers with forwarding on and no ICMP rate limits, and a target, every
link a veth pair between two of our namespaces. Nothing is in the root
namespace, so the addresses (10.NET.L.0/24 and fd00:NET:L::/64 for link L;
NET is 235 unless a test's own range is asked for) cannot collide with
anyone's; the namespace names carry the pid.

Link L joins node L-1 (.1, ::1) to node L (.2, ::2): hop k of a trace from
the client is 10.NET.k.2, the target the last link's .2. An ECMP chain
puts two routers side by side at one hop, behind a multipath route."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from typing import Dict, List, Optional, Sequence

from support import need, need_root, outside_env, program

__all__ = ["Chain", "Node", "chain"]

_COUNTER = itertools.count()


def _run(*args: str, check: bool = True, timeout: float = 30,
         input: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=timeout,
                          env=outside_env(), input=input)


class Node:
    """One namespace of the chain."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.addresses: List[str] = []
        self.processes: List[subprocess.Popen[str]] = []
        _run(program("ip"), "netns", "add", name)
        self.ip("link", "set", "lo", "up")

    def prefix(self) -> List[str]:
        return [program("ip"), "netns", "exec", self.name]

    def ip(self, *args: str) -> None:
        _run(program("ip"), "-n", self.name, *args)

    def sh(self, *args: str, check: bool = True, timeout: float = 60,
           input: Optional[str] = None) -> subprocess.CompletedProcess[str]:
        return _run(*self.prefix(), *args, check=check, timeout=timeout, input=input)

    def sysctl(self, key: str, value: str) -> None:
        self.sh(program("sysctl"), "-qw", f"{key}={value}")

    def sysctl_get(self, key: str) -> str:
        return self.sh(program("sysctl"), "-n", key).stdout.strip()

    def nft(self, rules: str) -> None:
        self.sh(program("nft"), "-f", "-", input=rules)

    def spawn(self, args: Sequence[str]) -> "subprocess.Popen[str]":
        proc = subprocess.Popen([*self.prefix(), *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=outside_env())
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
        _run(program("ip"), "netns", "del", self.name, check=False)


class Chain:
    """client - r1 - ... - rN - target. hops4/hops6: the address each hop
    answers from, the target's last."""

    def __init__(self, routers: int, *, ecmp_at: int = 0, tag: str = "", net: int = 235) -> None:
        need_root()
        need(os.path.exists("/proc/self/ns/net"), "no network namespaces")
        self.id = f"{os.getpid()}-{next(_COUNTER)}{tag}"
        self.p4, self.p6 = f"10.{net}", f"fd00:{net}"
        self.nodes: Dict[str, Node] = {}
        self.links = 0
        try:
            self._build(routers, ecmp_at)
        except BaseException:
            self.close()
            raise

    def _node(self, role: str) -> Node:
        node = Node(f"pynet-tr-{role}-{self.id}")
        self.nodes[role] = node
        return node

    def _link(self, left: Node, right: Node) -> int:
        """A veth pair from left (.1) to right (.2); returns the link number."""
        self.links += 1
        n = self.links
        a, b = f"tr{n}a", f"tr{n}b"
        _run(program("ip"), "link", "add", a, "netns", left.name, "type", "veth", "peer",
             "name", b, "netns", right.name)
        for node, dev, host in ((left, a, 1), (right, b, 2)):
            node.ip("addr", "add", f"{self.p4}.{n}.{host}/24", "dev", dev)
            node.ip("-6", "addr", "add", f"{self.p6}:{n}::{host}/64", "dev", dev, "nodad")
            node.ip("link", "set", dev, "up")
        return n

    def _tune(self, node: Node, forward: bool) -> None:
        node.sysctl("net.ipv4.icmp_ratelimit", "0")
        node.sysctl("net.ipv4.icmp_msgs_per_sec", "100000")
        node.sysctl("net.ipv4.icmp_msgs_burst", "100000")
        node.sysctl("net.ipv6.icmp.ratelimit", "0")
        if forward:
            node.sysctl("net.ipv4.ip_forward", "1")
            node.sysctl("net.ipv6.conf.all.forwarding", "1")

    def _build(self, routers: int, ecmp_at: int) -> None:
        client = self._node("c")
        self._tune(client, False)
        chain_nodes = [client]
        for k in range(1, routers + 1):
            node = self._node(f"r{k}")
            self._tune(node, True)
            chain_nodes.append(node)
        target = self._node("t")
        self._tune(target, False)
        chain_nodes.append(target)
        link_of: List[int] = []   # link_of[i]: the link from chain_nodes[i] to [i+1]
        for left, right in zip(chain_nodes, chain_nodes[1:]):
            link_of.append(self._link(left, right))
        self.client, self.target = client, target
        self.chain = chain_nodes
        self.link_of = link_of
        self.alt: Optional[Node] = None
        if ecmp_at:
            self._ecmp(ecmp_at)
        # Routes: everything left of a node goes back left, everything
        # right of it goes on right.
        for i, node in enumerate(chain_nodes):
            for j, link in enumerate(link_of):
                if j == i or j == i - 1:
                    continue  # directly connected
                if j < i - 1:
                    via4, via6 = f"{self.p4}.{link_of[i - 1]}.1", f"{self.p6}:{link_of[i - 1]}::1"
                else:
                    if self.alt is not None and i == ecmp_at - 1 and j >= i:
                        continue  # the multipath route, set in _ecmp
                    via4, via6 = f"{self.p4}.{link_of[i]}.2", f"{self.p6}:{link_of[i]}::2"
                node.ip("route", "add", f"{self.p4}.{link}.0/24", "via", via4)
                node.ip("-6", "route", "add", f"{self.p6}:{link}::/64", "via", via6)
        self.hops4 = [f"{self.p4}.{link}.2" for link in link_of]
        self.hops6 = [f"{self.p6}:{link}::2" for link in link_of]
        self.target4, self.target6 = self.hops4[-1], self.hops6[-1]
        self.wait_reachable()

    def _ecmp(self, at: int) -> None:
        """A second router beside router `at`: the node before it reaches
        the rest over both, hashing on layer 4."""
        before, twin_of, after = self.chain[at - 1], self.chain[at], self.chain[at + 1]
        alt = self._node(f"r{at}b")
        self._tune(alt, True)
        self.alt = alt
        up = self._link(before, alt)
        down = self._link(alt, after)
        before.sysctl("net.ipv4.fib_multipath_hash_policy", "1")
        before.sysctl("net.ipv6.fib_multipath_hash_policy", "1")
        # The alternative router's routes: left over `up`, right over `down`.
        main_up = self.link_of[at - 1]
        for j, link in enumerate(self.link_of):
            if j >= at:
                alt.ip("route", "add", f"{self.p4}.{link}.0/24", "via", f"{self.p4}.{down}.2")
                alt.ip("-6", "route", "add", f"{self.p6}:{link}::/64", "via",
                       f"{self.p6}:{down}::2")
            elif link != main_up:
                alt.ip("route", "add", f"{self.p4}.{link}.0/24", "via", f"{self.p4}.{up}.1")
                alt.ip("-6", "route", "add", f"{self.p6}:{link}::/64", "via", f"{self.p6}:{up}::1")
        # The node before both reaches everything past them over either.
        for link in self.link_of[at:]:
            before.ip("route", "add", f"{self.p4}.{link}.0/24",
                      "nexthop", "via", f"{self.p4}.{main_up}.2",
                      "nexthop", "via", f"{self.p4}.{up}.2")
            before.ip("-6", "route", "add", f"{self.p6}:{link}::/64",
                      "nexthop", "via", f"{self.p6}:{main_up}::2",
                      "nexthop", "via", f"{self.p6}:{up}::2")
        self.twin_hops4 = (f"{self.p4}.{main_up}.2", f"{self.p4}.{up}.2")
        self.twin_hops6 = (f"{self.p6}:{main_up}::2", f"{self.p6}:{up}::2")
        self.twin_links = (up, down)

    def wait_reachable(self, timeout: float = 15.0) -> None:
        """Until the target answers a ping from the client both ways (the
        links take a moment to come up; IPv6 neighbours too)."""
        end = time.monotonic() + timeout
        ping = program("ping")
        for address in (self.target4, self.target6):
            while True:
                done = self.client.sh(ping, "-c", "1", "-W", "1", address, check=False)
                if done.returncode == 0:
                    break
                if time.monotonic() > end:
                    raise RuntimeError(f"{address} unreachable through the chain: {done.stdout}")
                time.sleep(0.05)

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()


def chain(routers: int = 3, **kwargs: object) -> Chain:
    return Chain(routers, **kwargs)  # type: ignore[arg-type]
