"""--json: one document with every reply, every ICMP error and the summary."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

from ._result import PingResult

__all__ = ["document"]


def document(result: PingResult, *, size: int, exit_code: int) -> str:
    summary: Dict[str, Any] = {
        k: v for k, v in dataclasses.asdict(result).items()
        if k not in ("replies", "icmp_errors", "host", "address", "family")
    }
    doc = {
        "host": result.host,
        "address": result.address,
        "family": result.family,
        "size": size,
        "replies": [dataclasses.asdict(r) for r in result.replies],
        "icmp_errors": [dataclasses.asdict(e) for e in result.icmp_errors],
        "summary": summary,
        "exit_code": exit_code,
    }
    return json.dumps(doc, indent=2)
