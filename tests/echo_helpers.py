"""Helpers for the echo server tests: a server in its own process (started
from a directory outside the source tree, waited for through its startup
line), what /proc says about it, and clients that check every byte."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import List, Sequence, Tuple

STARTUP = re.compile(r"listening on (\S+) port (\d+)")
TCP_MODELS = ("iterative", "fork", "thread", "select", "native")
POLLERS = ("epoll", "poll")
HERE = os.path.dirname(os.path.abspath(__file__))


def uring_available() -> bool:
    """io_uring can serve here (compiled in, and allowed by this kernel)."""
    from pynet.echo.native import poller_available
    return poller_available("uring")


def need_poller(poller: str) -> None:
    """Skip (fail under PYNET_REQUIRE_ALL) when poller cannot serve here."""
    from support import need
    if poller == "uring":
        need(uring_available(), "io_uring is not usable here (kernel, seccomp or sysctl)")


def no_io_uring() -> List[str]:
    """A command prefix under which io_uring_setup fails with EPERM."""
    return [sys.executable, os.path.join(HERE, "no_io_uring.py")]


class EchoProcess:
    """`python -m pynet.echo ARGS --port 0` in its own process."""

    def __init__(self, *args: str, prefix: Sequence[str] = (), timeout: float = 30) -> None:
        self._cwd = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "pynet.echo", "--port", "0", *args],
            cwd=self._cwd.name, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL)
        self.line = self._startup_line(timeout)
        match = STARTUP.search(self.line)
        assert match, self.line
        self.address: Tuple[str, int] = (match.group(1), int(match.group(2)))
        self.pid = self.proc.pid

    def _startup_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            if not ready:
                self.kill()
                raise AssertionError(f"no startup line within {timeout} s")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                _, err = self.proc.communicate(timeout=10)
                raise AssertionError(f"server exited: {err.decode(errors='replace')}")
            data += chunk
        return data.decode().splitlines()[0]

    # -- what /proc says ----------------------------------------------------

    def status(self, field: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def rss_kib(self) -> int:
        return self.status("VmRSS")

    def threads(self) -> int:
        return self.status("Threads")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def children(self) -> List[Tuple[int, str]]:
        """(pid, state) of every child process, zombies included."""
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # gone meanwhile
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == self.pid:
                out.append((int(entry), fields[0]))
        return out

    # -- stopping -----------------------------------------------------------

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> Tuple[int, str]:
        """Send sig; the exit code and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server did not stop within {timeout} s of signal {sig}")
        self._cwd.cleanup()
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
        self._cwd.cleanup()

    def __enter__(self) -> "EchoProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    """Poll predicate until true or the deadline passes (for state that only
    /proc shows, which offers nothing to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def exchange(address: Tuple[str, int], payload: bytes, timeout: float = 60) -> bytes:
    """Connect, send payload (from a second thread, so that a large one
    cannot deadlock), half-close, and read until the server closes."""
    with socket.create_connection(address, timeout=timeout) as sock:
        errors: List[BaseException] = []

        def send() -> None:
            try:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
            except BaseException as exc:  # reported below
                errors.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        chunks = []
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        sender.join()
        if errors:
            raise errors[0]
        return b"".join(chunks)


def udp_exchange(address: Tuple[str, int], payloads: Sequence[bytes],
                 timeout: float = 2.0, tries: int = 5) -> List[bytes]:
    """Send each datagram and wait for its echo (resent after `timeout`:
    UDP may lose one, even on loopback under load)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    out = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.connect(address)
        for payload in payloads:
            for _ in range(tries):
                sock.send(payload)
                ready, _, _ = select.select([sock], [], [], timeout)
                if ready:
                    out.append(sock.recv(65535))
                    break
            else:
                raise AssertionError(f"no echo of a {len(payload)}-byte datagram")
    return out


def close_with_reset(sock: socket.socket) -> None:
    """close() that sends RST: an abrupt client, and no TIME_WAIT left."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def payload(size: int, seed: int = 0) -> bytes:
    """Bytes that differ from message to message and position to position."""
    block = bytes((i * 7 + seed * 13 + (i >> 8)) & 0xFF for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


# -- stopping the command the moment it announces itself ----------------------

def stop_at_once(cases: Sequence[Sequence[str]], runs: int, batch: int) -> dict:  # type: ignore[type-arg]
    """Start `pynet echo ARGS --port 0` runs times for each ARGS in cases,
    batch at a time, and send each SIGTERM the moment its startup line
    appears; how each ended. Each start is a fork of this interpreter that
    runs the command's main exactly as `python -m pynet.echo` does: the
    imports (a quarter of a second per start, all before the line) are paid
    once, and everything from parsing the arguments to the exit code is the
    command's own. Run it in a fresh, single-threaded interpreter (see
    __main__ below): forking a process with threads could copy a held lock."""
    from pynet._cli import run_main
    from pynet.echo import __main__ as command
    from pynet.echo import forking, iterative, native, selecting, threaded, udp  # noqa: F401

    ends: dict = {" ".join(args): {} for args in cases}  # type: ignore[type-arg]
    failures: List[str] = []
    jobs = [list(args) for args in cases for _ in range(runs)]
    for start in range(0, len(jobs), batch):
        children = {}  # stdout pipe -> (pid, args, stderr pipe)
        for args in jobs[start:start + batch]:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the command, as `python -m pynet.echo` runs it
                code = 70
                try:
                    os.dup2(out_w, 1)
                    os.dup2(err_w, 2)
                    code = run_main(command.PROG, command.main, [*args, "--port", "0"])
                    sys.stdout.flush()
                finally:
                    os._exit(code)
            os.close(out_w)
            os.close(err_w)
            children[out_r] = (pid, args, err_r)
        waiting = set(children)
        deadline = time.monotonic() + 30
        seen = {fd: b"" for fd in children}
        while waiting:
            ready, _, _ = select.select(list(waiting), [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                failures.append(f"no startup line within 30 s from {len(waiting)} starts")
                for fd in waiting:
                    os.kill(children[fd][0], signal.SIGKILL)
                break
            for fd in ready:
                chunk = os.read(fd, 4096)
                seen[fd] += chunk
                if b"\n" in seen[fd] or not chunk:
                    os.kill(children[fd][0], signal.SIGTERM)  # at once: no other work first
                    waiting.discard(fd)
        for fd, (pid, args, err_r) in children.items():
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            err = b""
            while True:
                chunk = os.read(err_r, 65536)
                if not chunk:
                    break
                err += chunk
            os.close(err_r)
            os.close(fd)
            key = " ".join(args)
            ends[key][code] = ends[key].get(code, 0) + 1
            if code != 0 or b"listening" not in seen[fd] or err:
                failures.append(f"{key}: exit {code}, stdout {seen[fd]!r}, stderr {err!r}")
    return {"ends": ends, "failures": failures[:20]}


if __name__ == "__main__":
    import json

    # python echo_helpers.py RUNS BATCH JSON-LIST-OF-ARGUMENT-LISTS
    print(json.dumps(stop_at_once(json.loads(sys.argv[3]), int(sys.argv[1]), int(sys.argv[2]))))
