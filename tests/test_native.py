"""The C library as C: constants that Python mirrors, and entry points the
Python API does not route through (pn_icmp_echo_build, used by C loops)."""

from __future__ import annotations

import os
import socket
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynet import _wire as w
from pynet import icmp


@pytest.fixture(scope="module")
def native(c_backend: ModuleType) -> tuple[object, object]:
    from pynet._c._ffi import ffi, lib
    return ffi, lib


def test_malformed_codes_match(native: tuple) -> None:
    _, lib = native
    for name in dir(w):
        if name.startswith("MALFORMED_"):
            assert getattr(lib, "PN_" + name) == getattr(w, name), name


def test_field_indexes_match(native: tuple) -> None:
    _, lib = native
    for name in dir(w):
        if name.startswith("F_"):
            assert getattr(lib, "PN_" + name) == getattr(w, name), name
    for name in ("AUTO", "ABSENT", "PRESENT"):
        assert getattr(lib, "PN_IP_HEADER_" + name) == getattr(w, "IP_HEADER_" + name)


@given(st.sampled_from([(4, 8), (4, 0), (6, 128), (6, 129)]), st.integers(0, 0xFFFF),
       st.integers(0, 0xFFFF), st.binary(max_size=200), st.booleans())
def test_echo_build_in_c(native: tuple, kind: tuple[int, int], ident: int, seq: int,
                         payload: bytes, with_addresses: bool) -> None:
    ffi, lib = native
    family, icmp_type = kind
    kwargs = {}
    src = dst = ffi.NULL
    if family == 6 and with_addresses:
        kwargs = dict(src="2001:db8::1", dst="fe80::2")
        src = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
        dst = socket.inet_pton(socket.AF_INET6, "fe80::2")
    out = ffi.new("uint8_t[]", 8 + len(payload))
    n = lib.pn_icmp_echo_build(out, len(out), family, icmp_type, 0, ident, seq, payload,
                               len(payload), src, dst)
    build = icmp.echo_request if icmp_type in (8, 128) else icmp.echo_reply
    assert ffi.buffer(out, n)[:] == build(ident, seq, payload, family=family, **kwargs)


def test_echo_build_refuses_a_small_buffer(native: tuple) -> None:
    ffi, lib = native
    out = ffi.new("uint8_t[]", 10)
    assert lib.pn_icmp_echo_build(out, 10, 4, 8, 0, 1, 1, b"abc", 3, ffi.NULL, ffi.NULL) == -105
    assert lib.pn_icmp_echo_build(out, 7, 4, 8, 0, 1, 1, b"", 0, ffi.NULL, ffi.NULL) < 0
    huge = (1 << 64) - 4
    assert lib.pn_icmp_echo_build(out, 10, 4, 8, 0, 1, 1, b"", huge, ffi.NULL, ffi.NULL) < 0


def test_parse_never_reads_past_the_buffer(native: tuple) -> None:
    """Each truncation sits at the very end of its own allocation (what
    AddressSanitizer checks in the sanitizer run)."""
    ffi, lib = native
    packet = os.urandom(3) + icmp.echo_reply(1, 2, b"x" * 30)
    fields = ffi.new("int64_t[]", w.F_COUNT)
    for n in range(len(packet)):
        buf = ffi.new("char[]", max(n, 1))
        ffi.memmove(buf, packet, n)
        rc = lib.pn_icmp_parse(buf, n, 4, 0, ffi.NULL, ffi.NULL, fields)
        assert rc <= 0
