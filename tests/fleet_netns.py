"""Network namespaces for the fleet tests, in their own ranges (10.234.N.0/24,
fd00:234:N::/64, N from the pid) so they never meet the ping tests' ones."""

from __future__ import annotations

import os
import subprocess
from typing import List, Optional

from ping_netns import Netns, host_namespace
from support import need, outside_env, program

__all__ = ["FleetNetns", "fleet_namespace", "loopback_namespace"]

_SLOTS = 4


class FleetNetns(Netns):
    def __init__(self, kind: str, slot: int) -> None:
        super().__init__(f"fleet-{kind}", slot)
        pid = os.getpid()
        n = (pid % 60) * _SLOTS + slot
        self.subnet = f"10.234.{n}"
        self.here, self.there = f"{self.subnet}.1", f"{self.subnet}.2"
        self.subnet6 = f"fd00:234:{n}"
        self.here6, self.there6 = f"{self.subnet6}::1", f"{self.subnet6}::2"
        self.veth = f"pf{slot}{pid % 100000}"

    def nft(self, rules: str) -> None:
        subprocess.run([*self.prefix(), program("nft"), "-f", "-"], input=rules, text=True,
                       check=True, capture_output=True, timeout=30, env=outside_env())

    def add_addresses(self, hosts: List[int]) -> List[str]:
        """More addresses on the namespace's end of the link: 10.234.N.h."""
        peer = self.veth + "p"
        out = []
        for h in hosts:
            self.ip("addr", "add", f"{self.subnet}.{h}/24", "dev", peer)
            out.append(f"{self.subnet}.{h}")
        return out


def fleet_namespace(kind: str, slot: int, *, link: bool = True) -> FleetNetns:
    need(os.path.exists("/proc/self/ns/net"), "no network namespaces")
    ns = FleetNetns(kind, slot)
    try:
        if link:
            ns.link()
    except BaseException:
        ns.close()
        raise
    return ns


def loopback_namespace(kind: str, silent: Optional[str] = None) -> FleetNetns:
    """A namespace with only loopback, where 127.0.0.0/8 answers, except
    that the replies from `silent` (an address) are dropped by nftables:
    fping and pynet fping both run inside it."""
    ns = fleet_namespace(kind, 3, link=False)
    if silent is not None:
        try:
            ns.nft("table inet pynet_silent {\n chain out {\n"
                   "  type filter hook output priority 0; policy accept;\n"
                   f"  ip saddr {silent} icmp type echo-reply drop\n }}\n}}\n")
        except BaseException:
            ns.close()
            raise
    return ns


_ = host_namespace  # the ping tests' helper, for hosts in 10.231.x
