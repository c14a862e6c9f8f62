"""Argument checks shared by the public façades: done once, at the boundary,
so that both backends receive the same clean input."""

from __future__ import annotations

import math
import socket
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, TypeAlias, Union

__all__ = ["Buffer", "as_buffer", "family", "integer", "number", "packed_address", "port", "seconds",
           "uint"]

# What every function that takes packet bytes accepts (any other buffer
# goes through as_buffer first).
Buffer: TypeAlias = "Union[bytes, bytearray, memoryview]"


def integer(value: Any, name: str, low: int, high: Optional[int] = None) -> int:
    """An int in low..high (no upper bound when high is None), or
    TypeError/ValueError naming the argument. bool is not an int here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def number(value: Any, name: str, low: float, high: Optional[float] = None) -> float:
    """A finite int or float in low..high (no upper bound when high is None),
    as a float; TypeError/ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bound = f"in {low:g}..{high:g}" if high is not None else f">= {low:g}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def seconds(value: Any, name: str, *, zero: bool = False) -> float:
    """A finite number of seconds, positive (or zero when zero=True), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        kind = "a non-negative" if zero else "a positive"
        raise ValueError(f"{name} must be {kind} number of seconds, got {value!r}")
    return float(value)


def port(value: Any, name: str = "port", *, zero: bool = False) -> int:
    """A port number: 1..65535 to connect to, or 0..65535 to bind (zero=True)."""
    return integer(value, name, 0 if zero else 1, 65535)


_FAMILIES = {None: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}


def family(value: Any) -> int:
    """4, 6 or None (either) as socket.AF_INET, AF_INET6 or AF_UNSPEC."""
    if isinstance(value, bool) or value not in _FAMILIES:
        raise ValueError(f"family must be 4, 6 or None, got {value!r}")
    return _FAMILIES[value]


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
    """An int in 0 .. 2**bits - 1 (anything with __index__), or
    TypeError/ValueError naming the argument."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return integer(int(value.__index__()), name, 0, (1 << bits) - 1)


def packed_address(value: Any, name: str, family: int) -> bytes:
    """An IPv4/IPv6 address (text, ipaddress object, or packed bytes) as packed bytes."""
    af, size = (socket.AF_INET, 4) if family == 4 else (socket.AF_INET6, 16)
    # An ipaddress object exists only once its module is loaded: no need to
    # load it here (it costs every command's start-up) just to ask.
    ipaddress = sys.modules.get("ipaddress")
    if ipaddress is not None and isinstance(value, (ipaddress.IPv4Address,
                                                     ipaddress.IPv6Address)):
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
