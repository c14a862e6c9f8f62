"""Helpers for the fleet-engine tests: an engine of either backend over
freshly opened sockets, a run to the end with a deadline, and the records
in a form the two backends must agree on."""

from __future__ import annotations

import importlib
import ipaddress
import os
import time
from collections import Counter
from types import ModuleType
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from pynet._fleet_engine import DONE, ERROR, REPLY, SEND_FAILED, TIMEOUT, EngineConfig, Record
from pynet.fleet._socket import FleetSockets, open_sockets

__all__ = ["Fleet", "packed", "kinds", "outcome"]

KIND_NAMES = {REPLY: "reply", ERROR: "error", TIMEOUT: "timeout", SEND_FAILED: "send-failed",
              DONE: "done"}


def packed(addresses: Iterable[str]) -> Tuple[bytes, bytes]:
    """(IPv4 bytes, IPv6 bytes) of the addresses, each family end to end."""
    four, six = bytearray(), bytearray()
    for text in addresses:
        ip = ipaddress.ip_address(text)
        (four if ip.version == 4 else six).extend(ip.packed)
    return bytes(four), bytes(six)


def network(cidr: str, limit: Optional[int] = None) -> bytes:
    net = ipaddress.ip_network(cidr)
    first = int(net.network_address) + 1
    n = net.num_addresses - 2 if limit is None else limit
    return b"".join((first + i).to_bytes(4, "big") for i in range(n))


class Fleet:
    """An engine of one backend and the sockets it runs on."""

    def __init__(self, backend: ModuleType, families: Sequence[int] = (4,), *,
                 privileged: Optional[bool] = None, filter_id: bool = True,
                 rcvbuf: Optional[int] = None, **options: Any) -> None:
        self.socks: FleetSockets = open_sockets(families, privileged, filter_id=filter_id,
                                                rcvbuf=rcvbuf)
        s = self.socks
        options.setdefault("key", os.urandom(8))
        options.setdefault("ident", s.ident)
        self.config = EngineConfig(fd4=s.fd4, raw4=s.raw4, fd6=s.fd6, raw6=s.raw6, **options)
        module = importlib.import_module(f"{backend.__name__}.fleet")
        self.engine: Any = module.Engine(self.config)
        self.records: List[Record] = []

    def add(self, addresses: Iterable[str]) -> List[int]:
        """Targets in the order given; returns their indexes."""
        out = []
        for text in addresses:
            ip = ipaddress.ip_address(text)
            out.append(self.engine.add(ip.version, ip.packed))
        return out

    def run(self, timeout: float = 60.0, flush_ns: int = 50_000_000) -> List[Record]:
        end = time.monotonic() + timeout
        while not self.engine.counters().done:
            if time.monotonic() > end:
                raise AssertionError(f"the run did not end in {timeout} s: "
                                     f"{self.engine.counters()}")
            self.records.extend(self.engine.run(time.monotonic_ns() + 1_000_000_000, flush_ns))
        return self.records

    def close(self) -> None:
        self.engine.close()
        self.socks.close()

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kinds(records: Iterable[Record]) -> Dict[str, int]:
    return dict(Counter(KIND_NAMES[r[0]] for r in records))


def outcome(records: Iterable[Record]) -> List[Tuple[str, int, int, int, int, int]]:
    """What must not depend on timing or backend: per record, its kind,
    target, probe, flags, ICMP type and code, in a stable order."""
    return sorted((KIND_NAMES[r[0]], r[1], r[2], r[6], r[7], r[8]) for r in records)
