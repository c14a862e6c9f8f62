"""The Internet checksum, per backend and per C summing kernel, against
RFC vectors and independent oracles."""

from __future__ import annotations

import os
import platform
import random
from types import ModuleType
from typing import Iterator

import pytest
from oracle import array_sum16, naive_checksum, naive_sum16

from pynet import _backend

try:
    from pynet._c._ffi import lib as _lib
except ImportError:  # the C backend's absence is reported by the backend fixture
    _lib = None

KERNELS = {"scalar": 0, "sse2": 1, "avx2": 2, "neon": 3}
AVAILABLE = [name for name, k in KERNELS.items() if _lib is not None and _lib.pn_sum16_impl_available(k)]


@pytest.fixture(params=AVAILABLE or ["none"])
def kernel(request: pytest.FixtureRequest, c_backend: ModuleType) -> Iterator[str]:
    """The C backend with each summing kernel this CPU runs forced in turn."""
    saved = _lib.pn_sum16_impl_get()
    assert _lib.pn_sum16_impl_set(KERNELS[request.param]) == 0
    yield request.param
    _lib.pn_sum16_impl_set(saved)


def test_kernels_match_the_cpu(c_backend: ModuleType) -> None:
    assert "scalar" in AVAILABLE
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        with open("/proc/cpuinfo") as f:
            has_avx2 = " avx2" in f.read()
        assert "sse2" in AVAILABLE
        assert ("avx2" in AVAILABLE) == has_avx2
        best = "avx2" if has_avx2 else "sse2"
    elif machine in ("aarch64", "arm64"):
        best = "neon"
    else:
        best = "scalar"
    assert _lib.pn_sum16_impl_get() == KERNELS[best]
    assert _lib.pn_sum16_impl_set(99) < 0  # -ENOTSUP, and nothing changes
    assert _lib.pn_sum16_impl_get() == KERNELS[best]


RFC1071 = bytes.fromhex("0001f203f4f5f6f7")
# An IPv4 header with its checksum (0xb861) in place.
IPV4_HEADER = bytes.fromhex("4500007300004000" "4011b861" "c0a80001" "c0a800c7")


def test_rfc1071_example(backend: ModuleType) -> None:
    assert backend.sum16(RFC1071) == 0xDDF2
    assert backend.checksum(RFC1071, 0) == 0x220D


def test_ipv4_header_example(backend: ModuleType) -> None:
    assert backend.checksum(IPV4_HEADER, 0) == 0
    zeroed = IPV4_HEADER[:10] + b"\0\0" + IPV4_HEADER[12:]
    assert backend.checksum(zeroed, 0) == 0xB861


@pytest.mark.parametrize("n", [0, 1, 2, 3, 63, 64, 65, 127, 128, 4096, 65536, 65537])
def test_all_zero(backend: ModuleType, n: int) -> None:
    assert backend.sum16(bytes(n)) == 0
    assert backend.checksum(bytes(n), 0) == 0xFFFF


def test_carry_chains_every_length(backend: ModuleType) -> None:
    """All 0xFF then a final 0x01: every addition carries, for every length
    1..1024, through every tail and block boundary."""
    for n in range(1, 1025):
        data = b"\xff" * (n - 1) + b"\x01"
        assert backend.sum16(data) == naive_sum16(data), n


def test_carry_chains_every_kernel(kernel: str) -> None:
    c = _backend.load("c")
    for n in range(1, 1025):
        data = b"\xff" * (n - 1) + b"\x01"
        assert c.sum16(data) == naive_sum16(data), (kernel, n)


def test_every_start_offset(backend: ModuleType) -> None:
    rng = random.Random(1071)
    base = bytes(rng.getrandbits(8) for _ in range(4096))
    view = memoryview(base)
    for offset in range(64):
        for n in (1, 2, 7, 64, 65, 200, 1500, 4000 - offset):
            piece = view[offset:offset + n]
            assert backend.sum16(piece) == naive_sum16(bytes(piece)), (offset, n)


def test_every_start_offset_every_kernel(kernel: str) -> None:
    c = _backend.load("c")
    base = os.urandom(2048)
    view = memoryview(base)
    for offset in range(64):
        for n in (63, 64, 129, 1000, 2048 - offset):
            piece = view[offset:offset + n]
            assert c.sum16(piece) == array_sum16(bytes(piece)), (kernel, offset, n)


@pytest.mark.parametrize("size", [1 << 20, 64 << 20])
@pytest.mark.parametrize("fill", ["random", "ones"])
def test_large_buffers(backend: ModuleType, size: int, fill: str) -> None:
    """Exact far beyond the point where a 32-bit lane or a double fold would
    overflow (all-0xFF maximises every partial sum)."""
    data = os.urandom(size) if fill == "random" else b"\xff" * (size - 1) + b"\x01"
    assert backend.sum16(data) == array_sum16(data)


@pytest.mark.parametrize("size", [1 << 20, (64 << 20) + 1])
def test_large_buffers_every_kernel(kernel: str, size: int) -> None:
    c = _backend.load("c")
    data = b"\xff" * (size - 1) + b"\x01"
    assert c.sum16(data) == array_sum16(data)
    noise = os.urandom(size)
    assert c.sum16(noise) == array_sum16(noise)


def test_initial_is_folded_in(backend: ModuleType) -> None:
    for initial in (0, 1, 0xFFFF, 0x10000, 0x1FFFE, 0xFFFFFFFF):
        for data in (b"", RFC1071, b"\xff\xff", b"\x80"):
            assert backend.checksum(data, initial) == naive_checksum(data, initial)


# RFC 1624 section 4: a word changes from 0x5555 to 0x3285 in a header whose
# other words sum to 0xCD7A. The right new checksum is 0x0000; RFC 1141's
# HC' = HC + m - m' gives 0xFFFF.
RFC1624_HC = 0xDD2F


def test_rfc1624_example(backend: ModuleType) -> None:
    assert backend.checksum_update(RFC1624_HC, 0x5555, 0x3285) == 0x0000
    rfc1141 = RFC1624_HC + 0x5555 + (~0x3285 & 0xFFFF)
    while rfc1141 > 0xFFFF:
        rfc1141 = (rfc1141 & 0xFFFF) + (rfc1141 >> 16)
    assert rfc1141 == 0xFFFF  # the old formula really is wrong here


def test_rfc1624_example_against_recomputation(backend: ModuleType) -> None:
    rest = (0xCD7A).to_bytes(2, "big")
    before = rest + (0x5555).to_bytes(2, "big")
    after = rest + (0x3285).to_bytes(2, "big")
    assert backend.checksum(before, 0) == RFC1624_HC
    assert backend.checksum(after, 0) == 0x0000
    assert backend.checksum_update(RFC1624_HC, 0x5555, 0x3285) == backend.checksum(after, 0)


def test_update_matches_recomputation_near_zero(backend: ModuleType) -> None:
    """The boundary cases: new sums of exactly 0xFFFF (checksum 0x0000) and
    words of 0x0000 and 0xFFFF on either side."""
    words = [0x0000, 0x0001, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]
    for other in [0x0001, 0x00FF, 0xCD7A, 0xFFFE, 0xFFFF]:
        for old in words:
            for new in words + [(0xFFFF - other) & 0xFFFF]:
                before = other.to_bytes(2, "big") + old.to_bytes(2, "big")
                after = other.to_bytes(2, "big") + new.to_bytes(2, "big")
                got = backend.checksum_update(backend.checksum(before, 0), old, new)
                assert got == backend.checksum(after, 0), (other, old, new)


def test_bytes_fast_path_on_both_sides_of_the_gil_threshold(backend: ModuleType) -> None:
    """checksum_bytes holds the GIL below NOGIL_MIN and releases it from there
    on: the answer must not change at the boundary."""
    edge = backend.NOGIL_MIN
    for n in (0, 1, 64, 1501, edge - 1, edge, edge + 1, 4 * edge + 3):
        data = os.urandom(n)
        want = ~array_sum16(data) & 0xFFFF
        assert backend.checksum_bytes(data, n) == want == backend.checksum(data, 0), n
