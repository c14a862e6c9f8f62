"""A real chronyd serving NTP on loopback, for the SNTP benchmark and the
tests: 127.0.0.1 and ::1 at a free port, its own local clock as reference
(stratum 10), hands off the system clock (-x), no command port, no rate
limit (chrony limits only where `ratelimit` says so)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

__all__ = ["chronyd", "free_udp_port"]

WAIT_S = 10.0
# A preloaded library meant for this Python (a sanitizer's runtime, under
# tools/check) is not for chronyd, and would change what is measured.
_NOT_FOR_CHRONYD = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on at the moment."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    """One bare SNTP request: does the server answer with a synchronised reply?"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.connect((host, port))
        s.send(b"\x23" + bytes(47))  # LI 0, version 4, mode 3 (client)
        try:
            data = s.recv(2048)
        except ConnectionRefusedError:  # not bound yet: ask again shortly
            time.sleep(0.01)
            return False
        except OSError:  # no answer within the socket timeout
            return False
    return len(data) >= 48 and data[0] >> 6 != 3


@contextlib.contextmanager
def chronyd(workdir: Path, binary: str = "chronyd") -> Iterator[int]:
    """chronyd (binary, a path or a name on PATH) with its files in workdir;
    yields the port once it answers, stops it on exit. RuntimeError if it
    does not start answering within 10 s."""
    port = free_udp_port()
    conf = workdir / "chrony.conf"
    conf.write_text("\n".join([
        f"port {port}",
        "bindaddress 127.0.0.1",
        "bindaddress ::1",
        "allow 127.0.0.1",
        "allow ::1",
        "local stratum 10",
        f"pidfile {workdir / 'chronyd.pid'}",
        f"driftfile {workdir / 'chronyd.drift'}",
        "cmdport 0",
        "",
    ]))
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    args = [binary, "-x", "-d", "-u", user, "-f", str(conf)]
    if os.geteuid() != 0:
        args.insert(1, "-U")
    env = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_CHRONYD}
    with open(workdir / "chronyd.log", "w+b") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + WAIT_S
            while not _answers("127.0.0.1", port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(
                        f"chronyd did not start answering: {log.read().decode()[-500:]}")
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
