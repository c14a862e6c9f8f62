"""Internet checksum through csrc/checksum.c."""

from __future__ import annotations


from ._ffi import lib, lib_nogil, pointer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

    from .._checks import Buffer

__all__ = ["NOGIL_MIN", "checksum", "checksum_bytes", "checksum_update", "sum16"]


# From this size on the sum takes long enough (several microseconds) that
# other Python threads should run meanwhile: release the GIL.
NOGIL_MIN = lib.PN_NOGIL_MIN

# checksum_bytes(data: bytes, len(data)): the façade's fast path, straight
# into C with no Python frame between (the size check is in C too).
checksum_bytes = lib.pn_checksum_bytes
checksum_update = lib.pn_checksum_update
_sum16 = lib.pn_sum16


def sum16(data: Buffer) -> int:
    return _sum16(pointer(data), len(data))  # type: ignore[no-any-return]


def checksum(data: Buffer, initial: int) -> int:
    n = len(data)
    fn = lib.pn_checksum if n < NOGIL_MIN else lib_nogil.pn_checksum
    return fn(pointer(data), n, initial)  # type: ignore[no-any-return]
