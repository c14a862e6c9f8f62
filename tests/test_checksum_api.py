"""The public checksum API: what it accepts, what it refuses, and the
running Checksum over fragments."""

from __future__ import annotations

import array
import ctypes
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import naive_checksum, naive_sum16

import pynet


def test_rfc1071_vector() -> None:
    assert pynet.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


@pytest.mark.parametrize("make", [
    bytes, bytearray, memoryview,
    lambda b: array.array("B", b),
    lambda b: memoryview(b).cast("B", (len(b),)),
    lambda b: (ctypes.c_ubyte * len(b)).from_buffer_copy(b),
], ids=["bytes", "bytearray", "memoryview", "array", "cast", "ctypes"])
def test_any_buffer(make: object) -> None:
    data = os.urandom(1001)
    assert pynet.checksum(make(data)) == naive_checksum(data)  # type: ignore[operator]


def test_wide_and_multidimensional_buffers() -> None:
    np = pytest.importorskip("numpy")
    data = os.urandom(4096)
    words = array.array("H", data)
    assert pynet.checksum(words) == naive_checksum(data)
    grid = np.frombuffer(data, dtype=np.uint32).reshape(32, 32)
    assert pynet.checksum(grid) == naive_checksum(data)
    assert pynet.Checksum(grid).checksum() == naive_checksum(data)


def test_large_bytes_take_the_gil_free_path() -> None:
    from pynet import _backend
    data = os.urandom(_backend.active.NOGIL_MIN + 3)
    assert pynet.checksum(data) == naive_checksum(data)
    assert pynet.checksum(bytearray(data)) == naive_checksum(data)


def test_no_copy_of_a_writable_buffer() -> None:
    """The sum reads the caller's memory: change it and the answer changes."""
    buf = bytearray(os.urandom(100))
    view = memoryview(buf)
    first = pynet.checksum(view)
    buf[0] ^= 0xFF
    assert pynet.checksum(view) != first


def test_non_contiguous_is_refused() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        pynet.checksum(memoryview(bytes(100))[::2])


@pytest.mark.parametrize("bad", ["text", 12, None, 1.5, [1, 2]])
def test_non_buffers_are_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        pynet.checksum(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("initial", [-1, 1 << 32])
def test_initial_out_of_range(initial: int) -> None:
    with pytest.raises(ValueError, match="initial"):
        pynet.checksum(b"ab", initial)


def test_initial_must_be_int() -> None:
    with pytest.raises(TypeError, match="initial"):
        pynet.checksum(b"ab", "1")  # type: ignore[arg-type]


def test_initial_continues_a_sum() -> None:
    head, tail = b"\x12\x34\x56\x78", b"\x9a\xbc\xde"
    assert pynet.checksum(tail, pynet.Checksum(head).sum) == naive_checksum(head + tail)


def test_checksum_update_api() -> None:
    assert pynet.checksum_update(0xDD2F, 0x5555, 0x3285) == 0x0000
    with pytest.raises(ValueError, match="old_word"):
        pynet.checksum_update(0, 0x10000, 0)
    with pytest.raises(TypeError, match="new_word"):
        pynet.checksum_update(0, 0, b"\0\0")  # type: ignore[arg-type]


@given(st.lists(st.binary(max_size=40), max_size=8), st.integers(0, 0xFFFF))
def test_fragments_in_any_split(pieces: list[bytes], initial: int) -> None:
    """Odd-length pieces included, a running sum equals the sum of the whole."""
    whole = b"".join(pieces)
    running = pynet.Checksum(initial=initial)
    for piece in pieces:
        running.update(piece)
    assert running.length == len(whole)
    assert running.checksum() == naive_checksum(whole, initial)
    assert running.checksum() == pynet.checksum(whole, initial)


def test_checksum_object_basics() -> None:
    c = pynet.Checksum(b"\x00\x01\xf2")
    d = c.copy()
    c.update(b"\x03\xf4\xf5\xf6\xf7")
    assert c.sum == 0xDDF2 and c.checksum() == 0x220D
    assert d.sum == naive_sum16(b"\x00\x01\xf2") and d.length == 3
    assert "sum=0xddf2" in repr(c)
    assert pynet.Checksum().checksum() == 0xFFFF


@given(st.binary(min_size=2, max_size=200), st.data())
def test_update_equals_recomputation(data: bytes, draw: st.DataObject) -> None:
    """RFC 1624 incremental update == checksumming the changed data, for any
    word changed to any value (except a result of all zeros, where the two
    one's complement zeros legitimately differ)."""
    words = len(data) // 2
    i = draw.draw(st.integers(0, words - 1))
    new = draw.draw(st.integers(0, 0xFFFF))
    changed = data[:2 * i] + new.to_bytes(2, "big") + data[2 * i + 2:]
    if not any(changed):
        return
    old = int.from_bytes(data[2 * i:2 * i + 2], "big")
    assert pynet.checksum_update(pynet.checksum(data), old, new) == pynet.checksum(changed)
