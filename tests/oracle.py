"""Independent ways to get the answers, for tests only: deliberately plain
code that shares nothing with either backend."""

from __future__ import annotations

import sys
from array import array


def naive_sum16(data: bytes) -> int:
    """RFC 1071 one's complement sum, one word at a time with end-around carry."""
    total = 0
    for i in range(0, len(data) - 1, 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    if len(data) % 2:
        total += data[-1] << 8
        total = (total & 0xFFFF) + (total >> 16)
    return total


def array_sum16(data: bytes) -> int:
    """The same sum through array('H') and Python's sum(): fast enough for
    64 MiB, and unrelated to the backends' methods."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    words = array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def naive_checksum(data: bytes, initial: int = 0) -> int:
    total = naive_sum16(data) + initial
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
