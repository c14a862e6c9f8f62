"""A scripted stand-in for the fleet engine (the Engine protocol of
pynet._fleet_engine) that sends nothing: each call returns the records a
run would, by a fixed script, so that /metrics can be checked number for
number. Target i answers every probe in (i + 1) * 100 + 10 us, except that
every third probe of target 1 times out, target 2's replies come twice
(the second a duplicate), and target 3 gets one ICMP error per probe."""

from __future__ import annotations

import time
from typing import List

from pynet import _fleet_engine as fe


class ScriptedEngine:
    def __init__(self, config: fe.EngineConfig) -> None:
        self.config = config
        self.targets: List[bytes] = []
        self.probes = 0           # rounds done: every target got this many probes
        self.started = time.monotonic_ns()
        self.sent = 0
        self.closed = False

    def add(self, family: int, addresses: bytes, scope_id: int = 0) -> int:
        size = 4 if family == 4 else 16
        first = len(self.targets)
        self.targets += [addresses[i:i + size] for i in range(0, len(addresses), size)]
        return first

    def cancel(self, target: int) -> None:
        pass

    def _round(self, probe: int) -> List[fe.Record]:
        out: List[fe.Record] = []
        now = time.time_ns()
        for i, addr in enumerate(self.targets):
            self.sent += 1
            rtt = (i + 1) * 100_000 + 10_000
            if i == 1 and probe % 3 == 2:
                out.append((fe.TIMEOUT, i, probe, 0, -1, 0, 0, 0, 0, now, addr))
                continue
            if i == 3:
                out.append((fe.ERROR, i, probe, 0, -1, 0, 0, 3, 1, now, addr))
                continue
            out.append((fe.REPLY, i, probe, rtt, 64, 64, 0, 0, 0, now, addr))
            if i == 2:
                out.append((fe.REPLY, i, probe, rtt, 64, 64, fe.DUP, 0, 0, now, addr))
        return out

    def _due(self) -> int:
        return self.started + self.probes * self.config.period_ns

    def run(self, until_ns: int, flush_ns: int) -> List[fe.Record]:
        due = self._due()
        now = time.monotonic_ns()
        if due > now:
            time.sleep(min(due, until_ns) / 1e9 - now / 1e9 if until_ns else (due - now) / 1e9)
        return self.step()

    def step(self) -> List[fe.Record]:
        out: List[fe.Record] = []
        while self._due() <= time.monotonic_ns():
            out += self._round(self.probes)
            self.probes += 1
        return out

    def next_wakeup_ns(self) -> int:
        return self._due()

    def counters(self) -> fe.Counters:
        return fe.Counters(self.sent, 0, 0, 0, 0, 0, 0, 7, len(self.targets), False)

    def close(self) -> None:
        self.closed = True
