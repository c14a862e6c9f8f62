"""--json: one document with every reply, every ICMP error and the summary."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

from ._result import PingResult

__all__ = ["document"]


def document(result: PingResult, *, size: int, exit_code: int) -> str:
    summary: Dict[str, Any] = {
        f.name: getattr(result, f.name) for f in dataclasses.fields(result)
        if f.name not in ("replies", "icmp_errors", "host", "address", "family")
    }
    doc = {
        "host": result.host,
        "address": result.address,
        "family": result.family,
        "size": size,
        "replies": [r._asdict() for r in result.replies],
        "icmp_errors": [e._asdict() for e in result.icmp_errors],
        "summary": summary,
        "exit_code": exit_code,
    }
    return json.dumps(doc, indent=2)
