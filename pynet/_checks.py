"""Argument checks shared by the public façades: done once, at the boundary,
so that both backends receive the same clean input."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Union

__all__ = ["Buffer", "as_buffer", "packed_address", "uint"]

Buffer = Union[bytes, bytearray, memoryview]


def as_buffer(data: Any, name: str = "data") -> Buffer:
    """bytes as they are; any other buffer as a flat byte view (no copy)."""
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError(f"{name} must be a bytes-like object, not str (encode it first)")
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(data).__name__}") from None
    if not view.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous buffer")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def uint(value: Any, name: str, bits: int) -> int:
    """An int in 0 .. 2**bits - 1, or TypeError/ValueError naming the argument."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    number = int(value.__index__())
    if not 0 <= number < (1 << bits):
        raise ValueError(f"{name} must be in 0..{(1 << bits) - 1}, got {number}")
    return number


def packed_address(value: Any, name: str, family: int) -> bytes:
    """An IPv4/IPv6 address (text, ipaddress object, or packed bytes) as packed bytes."""
    af, size = (socket.AF_INET, 4) if family == 4 else (socket.AF_INET6, 16)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        value = value.packed
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) != size:
            raise ValueError(f"{name} must be {size} bytes for IPv{family}, got {len(raw)}")
        return raw
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an address string, not {type(value).__name__}")
    try:
        return socket.inet_pton(af, value)
    except OSError:
        raise ValueError(f"{name}: {value!r} is not an IPv{family} address") from None
