"""The echo event loop through cffi: csrc/loop.c (epoll, kqueue or poll) and
csrc/uring_loop.c (io_uring, TCP only).

Pollers go by name here ("auto", "epoll", "poll", "kqueue", "uring"); the
numbers behind them are the C library's own (enum pn_poller), so nothing
in Python restates them. run() is one loop: one call into C with the GIL
released, until the stop descriptor becomes readable.
"""

from __future__ import annotations

import errno
import os
from typing import Dict

from ._ffi import ffi_nogil, lib, lib_nogil

__all__ = ["STATS", "poller_available", "poller_name", "run", "unavailable_reason",
           "uring_status"]

_KINDS = {"auto": lib.PN_POLLER_AUTO, "epoll": lib.PN_POLLER_EPOLL, "poll": lib.PN_POLLER_POLL,
          "kqueue": lib.PN_POLLER_KQUEUE, "uring": lib.PN_POLLER_URING}
_NAMES = {kind: name for name, kind in _KINDS.items()}
# The counters of struct pn_echo_stats that a finished loop reports
# ("clients", those connected now, is 0 once it has returned).
STATS = ("accepted", "closed", "resets", "bytes", "datagrams", "dropped", "stalls",
         "accept_errors", "clients_max")

_URING_WHY = {
    errno.ENOTSUP: "pynet was built without <linux/io_uring.h>",
    errno.ENOSYS: "this kernel has no io_uring",
    errno.EPERM: "io_uring is not permitted (a seccomp filter, or the sysctl "
                 "kernel.io_uring_disabled)",
    errno.EINVAL: "this kernel's io_uring lacks provided buffer rings (Linux 5.19+)",
}


def _kind(poller: str) -> int:
    try:
        return int(_KINDS[poller])
    except KeyError:
        raise ValueError(f"poller must be one of {', '.join(_KINDS)}, not {poller!r}") from None


def poller_available(poller: str) -> bool:
    """Whether poller is compiled in (io_uring: and usable on this kernel)."""
    return bool(lib.pn_poller_available(_kind(poller)))


def uring_status() -> int:
    """0 when io_uring can serve here, else the errno that says why not."""
    return -int(lib.pn_uring_status())


def unavailable_reason(poller: str) -> str:
    """Why poller cannot serve here, as the end of a sentence ("poller uring
    is not available " + this)."""
    if poller != "uring":
        return "on this system"
    code = uring_status()
    return "here: " + _URING_WHY.get(code, f"io_uring_setup failed: {os.strerror(code)}")


def poller_name(poller: str, udp: bool) -> str:
    """The poller a loop serving UDP (or TCP) runs over when poller is asked
    for: "auto" resolved ("uring" for TCP where io_uring may be used, else
    "epoll" on Linux). OSError (ENOTSUP, or io_uring's own errno) when it
    cannot serve."""
    kind = int(lib.pn_echo_poller(_kind(poller), int(udp)))
    if kind < 0:
        raise OSError(-kind, f"poller {poller} is not available {unavailable_reason(poller)}")
    return _NAMES[kind]


def run(fd: int, *, stop_fd: int, udp: bool, poller: str, max_clients: int, read_size: int,
        counts: Dict[str, int]) -> None:
    """Serve echo on the bound socket fd until stop_fd is readable, adding
    the loop's counters (STATS) to counts when it returns, also when it
    fails. max_clients 0 means no bound. OSError when the loop fails."""
    cfg = ffi_nogil.new("struct pn_echo_config *", {
        "fd": fd, "udp": int(udp), "stop_fd": stop_fd, "poller": _kind(poller),
        "max_clients": max_clients, "read_size": read_size})
    stats = ffi_nogil.new("struct pn_echo_stats *")
    rc = int(lib_nogil.pn_echo_run(cfg, stats))
    for name in STATS:
        counts[name] = counts.get(name, 0) + int(getattr(stats, name))
    if rc < 0:
        raise OSError(-rc, os.strerror(-rc))
