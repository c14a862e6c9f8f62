"""Internet checksum in pure Python (RFC 1071, RFC 1624).

The sum uses one identity instead of a loop over words: read the buffer as
one big-endian integer V = sum(w_i * 2**(16*k)). Since 2**16 == 1 modulo
0xFFFF, V is congruent to the plain sum of its 16-bit words modulo 0xFFFF,
and the folded one's complement sum is exactly the representative of that
class in 1..0xFFFF (0 only for an all-zero buffer, the one case where end-
around carry never happens). CPython turns bytes into an int and reduces it
modulo a small number in linear time, which makes this several times faster
than summing words in Python.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._checks import Buffer

__all__ = ["NOGIL_MIN", "checksum", "checksum_bytes", "checksum_update", "fold", "sum16"]

# Pure Python never releases the GIL; the size only mirrors the C backend.
NOGIL_MIN = 256 * 1024


def sum16(data: Buffer) -> int:
    """One's complement sum of data as big-endian 16-bit words, an odd last
    byte padded with a zero low byte, folded to 0..0xFFFF."""
    value = int.from_bytes(data, "big")
    if len(data) % 2:
        value <<= 8
    if value == 0:
        return 0
    return value % 0xFFFF or 0xFFFF


def fold(value: int) -> int:
    """Fold a running sum to 16 bits with end-around carry."""
    while value > 0xFFFF:
        value = (value & 0xFFFF) + (value >> 16)
    return value


def checksum(data: Buffer, initial: int) -> int:
    return ~fold(sum16(data) + initial) & 0xFFFF


def checksum_bytes(data: bytes, length: int) -> int:
    """checksum(data, 0) with the C backend's fast-path signature."""
    return checksum(data, 0)


def checksum_update(old_checksum: int, old_word: int, new_word: int) -> int:
    # RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
    total = (~old_checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    return ~fold(total) & 0xFFFF
