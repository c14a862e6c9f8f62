"""The load generator (csrc/loadgen.c) through cffi: one call runs a whole
measurement with the GIL released."""

from __future__ import annotations

import errno
import os
from typing import NamedTuple, Tuple

from ._ffi import ffi_nogil, lib, lib_nogil

__all__ = ["BUCKETS", "Measurement", "bucket_floor_ns", "run"]

# Latency histogram buckets: 16 per power of two of nanoseconds.
BUCKETS: int = lib.PN_LOADGEN_BUCKETS


class Measurement(NamedTuple):
    """What one run counted; latency holds (floor_ns, count) for each
    non-empty histogram bucket, in order."""

    messages: int
    bytes: int
    mismatches: int
    lost: int
    elapsed_s: float
    latency: Tuple[Tuple[int, int], ...]


def bucket_floor_ns(bucket: int) -> int:
    """The smallest latency (ns) that histogram bucket counts."""
    return int(lib.pn_loadgen_bucket_floor_ns(bucket))


def run(host: str, port: int, *, udp: bool, connections: int, size: int, warmup: float,
        duration: float, timeout: float, stop_fd: int) -> Measurement:
    """Load the echo server at host (a numeric address) and port. ValueError
    for settings the C library refuses (a host that is not an address, a
    size UDP cannot carry), OSError when the server cannot be reached, stops
    answering or closes a connection."""
    c_host = ffi_nogil.new("char[]", host.encode())
    cfg = ffi_nogil.new("struct pn_loadgen_config *", {
        "host": c_host, "port": port, "udp": int(udp), "connections": connections,
        "message_size": size, "warmup_s": warmup, "duration_s": duration,
        "timeout_s": timeout, "stop_fd": stop_fd, "poller": lib.PN_POLLER_AUTO})
    res = ffi_nogil.new("struct pn_loadgen_result *")
    rc = int(lib_nogil.pn_loadgen_run(cfg, res))
    if rc == -errno.EINVAL:
        raise ValueError(f"load settings refused: {host!r} port {port}, {connections} "
                         f"connections of {size}-byte {'datagrams' if udp else 'messages'}")
    if rc < 0:
        raise OSError(-rc, os.strerror(-rc))
    latency = tuple((bucket_floor_ns(i), int(res.latency_ns[i]))
                    for i in range(BUCKETS) if res.latency_ns[i])
    return Measurement(messages=int(res.messages), bytes=int(res.bytes),
                       mismatches=int(res.mismatches), lost=int(res.lost),
                       elapsed_s=float(res.elapsed_s), latency=latency)
