"""The native model: the C event loop (csrc/loop.c) over epoll, kqueue or
poll, or the completion-based TCP loop over io_uring (csrc/uring_loop.c),
one loop per worker. Each loop runs in one call into C with the GIL
released; ``--workers N`` runs N loops in N threads, each on its own socket
bound to the same port with SO_REUSEPORT, so the kernel spreads connections
over them. A stop request (or SIGINT/SIGTERM through the stop pipe, which
the CLI makes the signal wake-up descriptor) makes every loop return and
free what it holds."""

from __future__ import annotations

import errno
import os
import threading
from typing import Any, Dict, List

from ._common import READ_SIZE, Server

__all__ = ["POLLER_KINDS", "poller_available", "poller_name", "serve_forever",
           "unavailable_reason"]

POLLER_KINDS = {"auto": 0, "epoll": 1, "poll": 2, "kqueue": 3, "uring": 4}
_NAMES = {v: k for k, v in POLLER_KINDS.items()}
STATS = ("accepted", "closed", "resets", "bytes", "datagrams", "dropped", "stalls",
         "accept_errors", "clients_max")


def _lib() -> Any:
    from .._native_nogil import ffi, lib
    return ffi, lib


def poller_available(name: str) -> bool:
    from .._native import lib
    return name in POLLER_KINDS and bool(lib.pn_poller_available(POLLER_KINDS[name]))


def unavailable_reason(name: str) -> str:
    """Why poller name cannot serve here, as the end of a sentence."""
    from .._native import lib
    if name != "uring":
        return "on this system"
    code = -lib.pn_uring_status()
    why = {errno.ENOTSUP: "pynet was built without <linux/io_uring.h>",
           errno.ENOSYS: "this kernel has no io_uring",
           errno.EPERM: "io_uring is not permitted (a seccomp filter, or the sysctl "
                        "kernel.io_uring_disabled)",
           errno.EINVAL: "this kernel's io_uring lacks provided buffer rings (Linux 5.19+)"}
    return "here: " + why.get(code, f"io_uring_setup failed: {os.strerror(code)}")


def poller_name(name: str, proto: str = "tcp") -> str:
    """What name stands for here when serving proto ("auto" -> "uring" for
    TCP on Linux where io_uring may be used, else "epoll"; io_uring serves
    TCP only)."""
    from .._native import lib
    kind = lib.pn_echo_poller(POLLER_KINDS[name], int(proto == "udp"))
    if kind < 0:
        raise ValueError(f"poller {name} is not available {unavailable_reason(name)}")
    return _NAMES[kind]


def serve_forever(server: Server) -> None:
    ffi, lib = _lib()
    config = server.config
    poller = POLLER_KINDS[config.poller]
    if not poller_available(config.poller):
        raise ValueError(f"poller {config.poller} is not available "
                         f"{unavailable_reason(config.poller)}")
    # One connection is at most one read behind: max-clients divides among workers.
    bound = config.client_bound
    per_worker = -(-bound // config.workers) if bound else 0
    runs: List[Dict[str, Any]] = []
    for sock in server.sockets:
        cfg = ffi.new("struct pn_echo_config *", {
            "fd": sock.fileno(), "udp": int(config.proto == "udp"), "stop_fd": server.stop_fd,
            "poller": poller, "max_clients": per_worker, "read_size": READ_SIZE})
        runs.append({"cfg": cfg, "stats": ffi.new("struct pn_echo_stats *"), "rc": 0})

    def run(entry: Dict[str, Any]) -> None:
        entry["rc"] = lib.pn_echo_run(entry["cfg"], entry["stats"])
        if entry["rc"] < 0:
            server.stop_soon()  # one loop failed: stop the others too

    threads = [threading.Thread(target=run, args=(entry,), daemon=True,
                                name=f"pynet-echo-native-{i}")
               for i, entry in enumerate(runs[1:], 1)]
    for thread in threads:
        thread.start()
    try:
        run(runs[0])
    finally:
        server.stop_soon()
        for thread in threads:
            thread.join()
        for entry in runs:
            st = entry["stats"]
            for name in STATS:
                server.count(name, int(getattr(st, name)))
    for entry in runs:
        if entry["rc"] < 0:
            raise OSError(-entry["rc"], os.strerror(-entry["rc"]))

