"""`python -m pynet.bench echo`: every echo server side by side, loaded by
one C load generator, each server in its own process.

For each case (protocol, message size, connections) every server that can
serve it is started, pinned to one core (the load generator to another when
there are two or more), warmed up, measured for a fixed time with every
reply checked byte for byte, and stopped. Then the native loop is asked to
hold many idle connections and its memory per connection is measured.
Output: a Markdown table on stdout, a JSON file and a chart.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

from .. import _backend
from .. import _checks as checks
from .._cli import ArgumentParser, UsageError, warn
from ._loadgen import run_load

__all__ = ["CASES", "Case", "Row", "SERVERS", "main"]

PROG = "pynet bench echo"
HOST = "127.0.0.1"
KIB = 1024


@dataclass(frozen=True)
class Case:
    proto: str
    size: int
    connections: int

    @property
    def label(self) -> str:
        size = f"{self.size // KIB} KiB" if self.size >= KIB else f"{self.size} B"
        return f"{self.proto.upper()} {size} x {self.connections}"


# (name, proto, command after `python -m`): the servers under test.
SERVERS: Dict[str, Tuple[str, ...]] = {
    "native": ("pynet.echo", "--model", "native"),
    # The native loop over a chosen poller ("native" takes the default one).
    "native-epoll": ("pynet.echo", "--model", "native", "--poller", "epoll"),
    "native-uring": ("pynet.echo", "--model", "native", "--poller", "uring"),
    "select": ("pynet.echo", "--model", "select"),
    "thread": ("pynet.echo", "--model", "thread"),
    "fork": ("pynet.echo", "--model", "fork"),
    "iterative": ("pynet.echo", "--model", "iterative"),
    "asyncio": ("pynet.bench._peers", "--loop", "asyncio"),
    "uvloop": ("pynet.bench._peers", "--loop", "uvloop"),
}
UDP_SERVERS = ("native", "python", "asyncio", "uvloop")
SERVER_COMMANDS_UDP: Dict[str, Tuple[str, ...]] = {
    "native": ("pynet.echo", "--model", "native"),
    "python": ("pynet.echo", "--model", "iterative"),
    "asyncio": ("pynet.bench._peers", "--loop", "asyncio"),
    "uvloop": ("pynet.bench._peers", "--loop", "uvloop"),
}

CASES = (
    Case("tcp", KIB, 1),           # every model, the iterative one included
    Case("tcp", 64, 100),          # goal: native >= 1.3x uvloop
    Case("tcp", KIB, 10),          # goal: native >= 1.3x uvloop
    Case("tcp", 64 * KIB, 10),
    Case("udp", 64, 10),           # goal: native >= 2x the Python UDP model
    Case("udp", KIB, 10),
)
QUICK_CASES = (Case("tcp", KIB, 1), Case("tcp", 64, 4), Case("udp", 64, 2))

GOALS = (
    # (case, server, than, factor)
    (Case("tcp", KIB, 10), "native", "uvloop", 1.3),
    (Case("tcp", 64, 100), "native", "uvloop", 1.3),
    (Case("udp", 64, 10), "native", "python", 2.0),
)

STARTUP = re.compile(r"listening on (\S+) port (\d+)")


@dataclass
class Row:
    case: Case
    server: str
    msgs_per_s: float = 0.0
    mb_per_s: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    messages: int = 0
    mismatches: int = 0
    lost: int = 0
    server_cpu_us: float = 0.0   # the server's CPU time (user + system) per message
    server_user_us: float = 0.0  # the part of it spent in user space (the rest is the kernel's)
    error: str = ""
    rounds: List[float] = field(default_factory=list)  # msgs/s of every round

    def as_dict(self) -> Dict[str, object]:
        return {"proto": self.case.proto, "size": self.case.size,
                "connections": self.case.connections, "case": self.case.label,
                "server": self.server, "msgs_per_s": round(self.msgs_per_s, 1),
                "mb_per_s": round(self.mb_per_s, 3), "p50_us": round(self.p50_us, 2),
                "p99_us": round(self.p99_us, 2), "server_cpu_us": round(self.server_cpu_us, 3),
                "server_user_us": round(self.server_user_us, 3),
                "messages": self.messages, "mismatches": self.mismatches, "lost": self.lost,
                "rounds_msgs_per_s": [round(r, 1) for r in self.rounds], "error": self.error}


@dataclass
class IdleResult:
    connections: int = 0
    server: str = "native"
    held: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    fds_after: int = 0
    error: str = ""

    @property
    def bytes_per_connection(self) -> float:
        if not self.held:
            return 0.0
        return (self.rss_after_kib - self.rss_before_kib) * 1024.0 / self.held

    def as_dict(self) -> Dict[str, object]:
        return {"server": self.server, "connections": self.connections, "held": self.held,
                "rss_before_kib": self.rss_before_kib, "rss_after_kib": self.rss_after_kib,
                "server_fds": self.fds_after,
                "rss_bytes_per_connection": round(self.bytes_per_connection, 1),
                "error": self.error}


@dataclass
class Settings:
    warmup: float      # seconds per row, uncounted
    duration: float    # seconds per row, counted
    cases: Sequence[Case]
    servers: Set[str]
    idle: int
    rounds: int = 1
    pin: Optional[Tuple[int, int]] = None
    extra: Dict[str, object] = field(default_factory=dict)


# ---- running a server in its own process ----------------------------------

class ServerProcess:
    """`python -m ...` serving on a free port, pinned to a core; stopped
    with SIGTERM (SIGKILL if it lingers)."""

    def __init__(self, command: Sequence[str], core: Optional[int]) -> None:
        self.stderr = tempfile.TemporaryFile()
        pre = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *command, "--port", "0"], stdout=subprocess.PIPE,
            stderr=self.stderr, stdin=subprocess.DEVNULL, preexec_fn=pre,
            cwd="/")    # not a source tree's pynet, first on `-m`'s sys.path
        self.port = self._wait_for_startup(20.0)

    def _wait_for_startup(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
            match = STARTUP.search(line.decode(errors="replace"))
            if match:
                return int(match.group(2))
        self.stop()
        raise OSError(f"server did not start: {self.error_text() or 'no startup line'}")

    def error_text(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip()
        return text.splitlines()[-1] if text else ""

    def rss_kib(self) -> int:
        return _rss_kib(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _command(case: Case, server: str) -> Tuple[str, ...]:
    if case.proto == "udp":
        return (*SERVER_COMMANDS_UDP[server], "--proto", "udp")
    command = SERVERS[server]
    if command[0] == "pynet.echo":
        # Enough threads and processes for the largest case.
        command = (*command, "--max-clients", "1024")
    return command


def _servers_for(case: Case, wanted: Set[str]) -> List[str]:
    names = UDP_SERVERS if case.proto == "udp" else tuple(SERVERS)
    out = []
    for name in names:
        if name not in wanted:
            continue
        if name == "iterative" and case.connections > 1:
            continue  # serves one client at a time: the others would wait forever
        if name == "uvloop" and importlib.util.find_spec("uvloop") is None:
            continue
        if name == "native-uring" and not _uring_available():
            continue
        out.append(name)
    return out


def _uring_available() -> bool:
    from ..echo.native import poller_available
    return poller_available("uring")


def _pin_cores() -> Optional[Tuple[int, int]]:
    """(server core, load generator core) when there are two or more."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return cores[0], cores[1]


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> Tuple[float, float]:
    """CPU time (user, system; seconds) of a process and its children (the
    fork model's), as /proc counts it."""
    user = system = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(entry) == pid:
            # Its own time, and that of the children it has reaped.
            user += (int(fields[11]) + int(fields[13])) * _TICK_S
            system += (int(fields[12]) + int(fields[14])) * _TICK_S
        elif int(fields[1]) == pid:
            user += int(fields[11]) * _TICK_S
            system += int(fields[12]) * _TICK_S
    return user, system


def measure(case: Case, server: str, *, settings: Settings) -> Row:
    """One row: server serving case, loaded for settings.duration seconds."""
    row = Row(case, server)
    pin = settings.pin
    proc: Optional[ServerProcess] = None
    mask = os.sched_getaffinity(0) if pin else None
    try:
        proc = ServerProcess(_command(case, server), pin[0] if pin else None)
        if pin:
            os.sched_setaffinity(0, {pin[1]})
        # The server's CPU time over the counted period: sampled by a thread
        # when the warm-up ends (the load generator holds no GIL meanwhile).
        cpu_start: List[Tuple[float, float]] = []
        pid = proc.proc.pid
        sampler = threading.Timer(settings.warmup, lambda: cpu_start.append(_cpu_s(pid)))
        sampler.start()
        try:
            result = run_load(HOST, proc.port, udp=case.proto == "udp",
                              connections=case.connections, size=case.size,
                              warmup=settings.warmup, duration=settings.duration)
        finally:
            sampler.join()
        if cpu_start and result.messages:
            (user0, sys0), (user1, sys1) = cpu_start[0], _cpu_s(pid)
            row.server_cpu_us = (user1 + sys1 - user0 - sys0) / result.messages * 1e6
            row.server_user_us = (user1 - user0) / result.messages * 1e6
        row.msgs_per_s = result.msgs_per_s
        row.mb_per_s = result.mb_per_s
        row.p50_us = result.percentile_us(50)
        row.p99_us = result.percentile_us(99)
        row.messages = result.messages
        row.mismatches = result.mismatches
        row.lost = result.lost
        if result.mismatches:
            row.error = f"{result.mismatches} replies differed from what was sent"
    except OSError as exc:
        row.error = exc.strerror or str(exc)
    finally:
        if mask is not None:
            os.sched_setaffinity(0, mask)
        if proc is not None:
            if proc.proc.poll() is not None and not row.error:
                row.error = f"server exited: {proc.error_text()}"
            proc.stop()
    return row


# ---- idle connections -------------------------------------------------------

def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _close_hard(sock: socket.socket) -> None:
    """Close with a reset: no TIME_WAIT left behind to hold ports."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


def hold_idle(count: int, *, pin: Optional[Tuple[int, int]] = None,
              server: str = "native") -> IdleResult:
    """Open `count` connections to the native loop (server: "native" or a
    "native-POLLER" row), prove each is served (a byte echoed), leave them
    idle, and read the server's memory."""
    result = IdleResult(connections=count, server=server)
    socks: List[socket.socket] = []
    proc: Optional[ServerProcess] = None
    try:
        _raise_fd_limit(count + 256)
        proc = ServerProcess((*SERVERS[server], "--backlog", "4096"), pin[0] if pin else None)
        # Reach steady state first (the loop's first connection allocates
        # its scratch buffer), then measure the difference N connections make.
        with socket.create_connection((HOST, proc.port)) as probe:
            probe.sendall(b"x")
            probe.recv(1)
        result.rss_before_kib = proc.rss_kib()
        batch = 500
        for start in range(0, count, batch):
            group = [socket.create_connection((HOST, proc.port), timeout=10)
                     for _ in range(min(batch, count - start))]
            socks.extend(group)
            for s in group:
                s.sendall(b"i")
            for s in group:
                if s.recv(1) != b"i":
                    raise OSError("an idle connection did not echo")
        result.held = len(socks)
        result.rss_after_kib = proc.rss_kib()
        result.fds_after = len(os.listdir(f"/proc/{proc.proc.pid}/fd"))
    except OSError as exc:
        result.error = exc.strerror or str(exc)
        result.held = len(socks) if not result.held else result.held
    finally:
        for s in socks:
            _close_hard(s)
        if proc is not None:
            proc.stop()
    return result


# ---- the run ----------------------------------------------------------------

NATIVE_ROWS = ("native", "native-epoll", "native-uring")


def goal_lines(rows: Sequence[Row]) -> List[Dict[str, object]]:
    by = {(r.case, r.server): r for r in rows}
    out: List[Dict[str, object]] = []
    goals = [(case, name, than, factor) for case, server, than, factor in GOALS
             for name in (NATIVE_ROWS if server == "native" else (server,))]
    for case, server, than, factor in goals:
        a, b = by.get((case, server)), by.get((case, than))
        if a is None or b is None or a.error or b.error or not b.msgs_per_s:
            continue
        ratio = a.msgs_per_s / b.msgs_per_s
        cpu_ratio = b.server_cpu_us / a.server_cpu_us if a.server_cpu_us else 0.0
        # What the ratio could reach if `server` spent no time in user space
        # at all: the part no event loop can remove is the kernel's.
        kernel_us = a.server_cpu_us - a.server_user_us
        ceiling = b.server_cpu_us / kernel_us if kernel_us > 0 else 0.0
        out.append({"case": case.label, "server": server, "than": than, "goal": factor,
                    "ratio": round(ratio, 3), "met": ratio >= factor,
                    "cpu_ratio": round(cpu_ratio, 3), "kernel_ceiling": round(ceiling, 3)})
    return out


EPILOG = """\
exit status: 0 every row measured, 1 a row or an idle test failed (the
reason is on stderr and in the JSON file), 2 bad usage, or no C extension
(the load generator is C only)."""


def _seconds(value: float, option: str, *, zero: bool) -> float:
    try:
        return checks.seconds(value, option, zero=zero)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Benchmark the echo servers side by side.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a short run over small cases (for tests)")
    p.add_argument("--warmup", metavar="S", type=float, default=None,
                   help="seconds of warm-up per row (default 1; --quick 0.05)")
    p.add_argument("--duration", metavar="S", type=float, default=None,
                   help="seconds measured per row (default 3; --quick 0.25)")
    p.add_argument("--servers", default=None,
                   help="comma-separated subset of: " + ", ".join(
                       dict.fromkeys([*SERVERS, *UDP_SERVERS])))
    p.add_argument("--rounds", type=int, default=1,
                   help="measure every row this many times, interleaved, and keep the "
                        "best (noise from elsewhere only slows a row down)")
    p.add_argument("--idle", type=int, default=None,
                   help="idle connections for the native loop to hold (0: skip)")
    p.add_argument("--json", default="echo-bench.json", help="where to write the results")
    p.add_argument("--chart", default="echo-bench.png",
                   help="where to draw the chart (.png or .svg; '' for none)")
    return p


def main(argv: List[str]) -> int:
    from . import _report

    args = _parser().parse_args(argv)
    known = {*SERVERS, *UDP_SERVERS}
    servers = set(known) if args.servers is None else {
        s.strip() for s in args.servers.split(",") if s.strip()}
    unknown = servers - known
    if unknown:
        raise UsageError(f"unknown server {sorted(unknown)[0]!r}")
    warmup = _seconds(args.warmup if args.warmup is not None else (0.05 if args.quick else 1.0),
                      "--warmup", zero=True)
    duration = _seconds(args.duration if args.duration is not None else
                        (0.25 if args.quick else 3.0), "--duration", zero=False)
    idle = args.idle if args.idle is not None else (200 if args.quick else 10_000)
    if idle < 0:
        raise UsageError("--idle must be >= 0")
    if args.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    try:
        _backend.module("loadgen", "c")
    except ImportError as exc:
        warn(PROG, f"the load generator needs pynet's C extension, which does not load here "
                   f"({exc})")
        return 2
    settings = Settings(warmup=warmup, duration=duration,
                        cases=QUICK_CASES if args.quick else CASES, servers=servers,
                        idle=idle, rounds=args.rounds, pin=_pin_cores())

    # Rounds run the whole matrix in turn, so that a burst of noise from
    # elsewhere on the machine hits every server alike. Noise only ever
    # slows a row down, so each row keeps its best round (as timeit keeps
    # the fastest repeat); every round's figure goes to the JSON file.
    measured: Dict[Tuple[Case, str], List[Row]] = {}
    for _ in range(settings.rounds):
        for case in settings.cases:
            for server in _servers_for(case, servers):
                row = measure(case, server, settings=settings)
                measured.setdefault((case, server), []).append(row)
                if row.error:
                    warn(PROG, f"{case.label}, {server}: {row.error}")
    rows: List[Row] = []
    for tries in measured.values():
        failed = [r for r in tries if r.error]
        row = failed[0] if failed else max(tries, key=lambda r: r.msgs_per_s)
        row.rounds = [r.msgs_per_s for r in tries]
        rows.append(row)
    # The idle test for each native row asked for ("native" first).
    idle_results = [hold_idle(idle, pin=settings.pin, server=name) for name in NATIVE_ROWS
                    if idle and name in servers and
                    (name != "native-uring" or _uring_available())]
    idle_result = idle_results[0] if idle_results else None

    goals = goal_lines(rows)
    print(_report.markdown(rows, goals, idle_results, settings), flush=True)
    doc: Dict[str, object] = {
        "tool": "pynet bench echo",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform(), "pinned": list(settings.pin or ())},
        "settings": {"warmup_s": warmup, "duration_s": duration, "quick": args.quick,
                     "rounds": settings.rounds},
        "rows": [r.as_dict() for r in rows],
        "goals": goals,
        "idle": idle_result.as_dict() if idle_result else None,
        "idle_by_server": {r.server: r.as_dict() for r in idle_results},
    }
    _report.write_json(args.json, doc)
    if args.chart:
        note = _report.chart(args.chart, rows)
        if note:
            warn(PROG, note)
    broken = any(r.error for r in rows) or any(r.error for r in idle_results)
    return 1 if broken else 0
