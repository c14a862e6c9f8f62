"""The Internet checksum (RFC 1071) and its incremental update (RFC 1624):
the public façade behind pynet.checksum, pynet.checksum_update and
pynet.Checksum.

    >>> import pynet
    >>> hex(pynet.checksum(bytes.fromhex("0001f203f4f5f6f7")))
    '0x220d'
"""

from __future__ import annotations

from typing import Any

from . import _backend
from ._checks import Buffer, as_buffer, uint

__all__ = ["Checksum", "checksum", "checksum_update"]

_impl = _backend.active
_checksum_bytes = _impl.checksum_bytes


def checksum(data: Buffer, initial: int = 0) -> int:
    """The Internet checksum of data: the one's complement of the one's
    complement sum of its big-endian 16-bit words (an odd last byte is the
    high byte of a zero-padded word).

    data is any buffer (bytes, bytearray, memoryview, array, numpy array);
    it is read in place. initial is a running sum to start from, such as a
    pseudo-header's Checksum(...).sum (0..0xFFFFFFFF, folded first).
    A buffer that holds a correct checksum sums to 0.
    """
    if type(data) is bytes and initial == 0:
        return _checksum_bytes(data, len(data))  # type: ignore[no-any-return]
    if type(data) is not bytes:
        data = as_buffer(data)
    return _impl.checksum(data, uint(initial, "initial", 32))  # type: ignore[no-any-return]


def checksum_update(old_checksum: int, old_word: int, new_word: int) -> int:
    """The checksum after one 16-bit word of the data changed from old_word to
    new_word (RFC 1624 eqn. 3; RFC 1141's shortcut is off by one's
    complement zero in corner cases)."""
    return _impl.checksum_update(  # type: ignore[no-any-return]
        uint(old_checksum, "old_checksum", 16), uint(old_word, "old_word", 16),
        uint(new_word, "new_word", 16))


def _fold(value: int) -> int:
    while value > 0xFFFF:
        value = (value & 0xFFFF) + (value >> 16)
    return value


class Checksum:
    """A running Internet checksum over data that arrives in pieces, like a
    hashlib object: pieces of any length, odd ones included, give the same
    result as checksumming their concatenation.

        >>> c = Checksum(b"\\x00\\x01\\xf2")
        >>> c.update(b"\\x03\\xf4\\xf5\\xf6\\xf7")
        >>> hex(c.checksum())
        '0x220d'
    """

    __slots__ = ("_sum", "_length")

    def __init__(self, data: Any = b"", initial: int = 0) -> None:
        self._sum = _fold(uint(initial, "initial", 32))
        self._length = 0
        self.update(data)

    def update(self, data: Any) -> None:
        data = as_buffer(data)
        part = _impl.sum16(data)
        if self._length & 1:
            # This piece starts in the low byte of a word: every byte of it
            # sits one place over, and swapping the bytes of its sum puts
            # them back (RFC 1071 section 2(B), byte order independence).
            part = ((part & 0xFF) << 8) | (part >> 8)
        self._sum = _fold(self._sum + part)
        self._length += len(data)

    @property
    def sum(self) -> int:
        """The folded one's complement sum so far (0..0xFFFF), usable as
        another checksum's initial value."""
        return self._sum

    @property
    def length(self) -> int:
        """Bytes summed so far (not counting initial)."""
        return self._length

    def checksum(self) -> int:
        """The checksum of everything so far."""
        return ~self._sum & 0xFFFF

    def copy(self) -> Checksum:
        other = Checksum.__new__(Checksum)
        other._sum = self._sum
        other._length = self._length
        return other

    def __repr__(self) -> str:
        return f"<Checksum sum=0x{self._sum:04x} length={self._length}>"
