"""The pure-Python backend: readable twins of every C fast path."""

from __future__ import annotations

from .checksum import NOGIL_MIN, checksum, checksum_bytes, checksum_update, sum16
from .icmp import echo_build, ext_parse, parse, parse_fields

NAME = "python"
# What pynet._c has and this backend lacks: the echo event loop and the load
# generator (C only: their point is speed), and "nogil".
FEATURES = frozenset({"checksum", "icmp", "ping", "trace"})

__all__ = ["FEATURES", "NAME", "NOGIL_MIN", "checksum", "checksum_bytes", "checksum_update",
           "echo_build", "ext_parse", "parse", "parse_fields", "sum16"]
