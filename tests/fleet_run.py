"""Run one fleet engine and print what happened as JSON: for the tests that
run the engine inside a network namespace, or as another user.

    python fleet_run.py '{"backend": "c", "targets": [...], "config": {...}}'

Keys: backend ("c", "python"), families ([4], [4, 6]), privileged (true,
false, null), targets (addresses), network ("CIDR", with "limit"),
config (EngineConfig fields), rcvbuf, filter_id, records (print them). Prints counters,
whether the sockets were raw, the receive buffers granted, the most probes
in flight seen between calls, and the records when asked.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict

from fleet_support import Fleet, network

from pynet import _backend
from pynet._errors import PynetError
from pynet._fleet_engine import ERROR, SEND_FAILED, TIMEOUT


def main() -> int:
    spec: Dict[str, Any] = json.loads(sys.argv[1])
    backend = _backend.load(spec.get("backend", "c"))
    try:
        fleet = Fleet(backend, spec.get("families", [4]), privileged=spec.get("privileged"),
                      filter_id=spec.get("filter_id", True), rcvbuf=spec.get("rcvbuf"),
                      **spec.get("config", {}))
    except PynetError as exc:
        print(json.dumps({"error": str(exc), "type": type(exc).__name__,
                          "permission": isinstance(exc, PermissionError)}))
        return 2
    with fleet:
        if "network" in spec:
            fleet.engine.add(4, network(spec["network"], spec.get("limit")))
        fleet.add(spec.get("targets", []))
        finals = 0
        most = 0
        end = time.monotonic() + spec.get("timeout", 120)
        while not fleet.engine.counters().done:
            if time.monotonic() > end:
                print(json.dumps({"error": "timed out", "counters": fleet.engine.counters()._asdict()}))
                return 1
            batch = fleet.engine.run(time.monotonic_ns() + 200_000_000, 10_000_000)
            fleet.records.extend(batch)
            finals += sum(1 for r in batch if r[0] in (TIMEOUT, ERROR, SEND_FAILED))
            c = fleet.engine.counters()
            most = max(most, c.sent - c.received - finals)
        out = {
            "counters": fleet.engine.counters()._asdict(),
            "raw": {4: fleet.socks.raw4, 6: fleet.socks.raw6},
            "rcvbuf": fleet.socks.rcvbuf,
            "max_in_flight": most,
        }
        if spec.get("records"):
            out["records"] = [list(r[:10]) + [r[10].hex()] for r in fleet.records]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
