"""The pure-Python backend: readable twins of every C fast path."""

from __future__ import annotations

from .checksum import NOGIL_MIN, checksum, checksum_bytes, checksum_update, sum16
from .icmp import echo_build, ext_parse, parse, parse_fields

NAME = "python"

__all__ = ["NAME", "NOGIL_MIN", "checksum", "checksum_bytes", "checksum_update", "echo_build", "ext_parse", "parse", "parse_fields", "sum16"]
