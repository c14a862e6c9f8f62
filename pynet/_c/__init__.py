"""The C backend: thin wrappers over the cffi module pynet._native.

Arguments arrive checked by the public façades; these functions only move
buffers across the boundary (without copying) and turn C return codes into
exceptions.
"""

from __future__ import annotations

from .checksum import NOGIL_MIN, checksum, checksum_bytes, checksum_update, sum16
from .icmp import echo_build, ext_parse, parse, parse_fields

NAME = "c"
# The fast paths this backend has (submodules of this package), and "nogil":
# its long calls release the GIL, so a worker thread overlaps with Python.
FEATURES = frozenset({"checksum", "icmp", "ping", "echo", "loadgen", "nogil", "trace"})

__all__ = ["FEATURES", "NAME", "NOGIL_MIN", "checksum", "checksum_bytes", "checksum_update",
           "echo_build", "ext_parse", "parse", "parse_fields", "sum16"]
