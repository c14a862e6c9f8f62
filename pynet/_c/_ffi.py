"""The compiled modules, and how buffers cross into them.

pynet._native holds the GIL through each call (short, bounded work);
pynet._native_nogil releases it (work that may run long or block).
"""

from __future__ import annotations

import os

from .._native import ffi, lib
from .._native_nogil import ffi as ffi_nogil
from .._native_nogil import lib as lib_nogil

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Union

    from .._checks import Buffer

__all__ = ["ffi", "ffi_nogil", "lib", "lib_nogil", "pointer", "records_or_raise"]

_from_buffer = ffi.from_buffer


def pointer(data: Buffer) -> Any:
    """A char pointer into data, without a copy. cffi passes bytes straight
    through as char *; other buffers go through ffi.from_buffer."""
    if type(data) is bytes:
        return data
    return _from_buffer(data)


def records_or_raise(n: int, view: Any, size: int) -> bytes:
    """What a packet loop wrote: n records of size bytes at the start of
    view, or OSError for the negative errno a loop returns on failure."""
    if n < 0:
        raise OSError(-n, os.strerror(-n))
    return view[:n * size]  # type: ignore[no-any-return]
