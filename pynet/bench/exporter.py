"""`pynet bench exporter`: the exporter beside blackbox_exporter, same run.

1. /probe?module=icmp against 127.0.0.1, scraped back to back by one
   client: latency per scrape (median, p99) and the server's CPU per probe
   (utime + stime from /proc), for pynet's exporter with one echo request
   (blackbox's own count) and with three (its default), and for
   blackbox_exporter's icmp prober. The rows take turns, round by round.
2. /metrics while the fleet engine probes N loopback targets (127.64.0.0
   upwards) once a second: the exporter's CPU share, RSS and scrape time.

Output: a Markdown table on stdout and a JSON file.
"""

from __future__ import annotations

import http.client
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from .._cli import ArgumentParser, UsageError, warn

__all__ = ["main"]

PROG = "pynet bench exporter"
HOST = "127.0.0.1"
TARGET = "127.0.0.1"
PYNET_CONFIG = """
[modules.icmp1]
prober = "icmp"
count = 1
[modules.icmp]
prober = "icmp"
count = 3
"""
BLACKBOX_CONFIG = """
modules:
  icmp:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
"""
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class ProbeRow:
    server: str
    module: str
    probes: int = 0
    failures: int = 0
    latencies_ms: List[float] = field(default_factory=list, repr=False)
    cpu_s: float = 0.0
    error: str = ""

    def as_dict(self) -> Dict[str, object]:
        d = asdict(self)
        d.pop("latencies_ms")
        d.update(median_ms=self.median_ms, p99_ms=self.p99_ms, cpu_us_per_probe=self.cpu_us)
        return d

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def p99_ms(self) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.probes * 1e6 if self.probes else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Server:
    def __init__(self, name: str, argv: Sequence[str], port: int, tmp: str) -> None:
        self.name, self.port = name, port
        self.log = open(os.path.join(tmp, f"{name}.log"), "w+")
        self.proc = subprocess.Popen(list(argv), stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=tmp)
        end = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{name} exited: {self.log.read()[-500:]}")
            try:
                if _get(port, "/metrics", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _scrape_probes(server: Server, module: str, row: ProbeRow, n: int) -> None:
    path = f"/probe?target={TARGET}&module={module}"
    before = _cpu_s(server.proc.pid)
    for _ in range(n):
        start = time.perf_counter()
        status, body = _get(server.port, path)
        row.latencies_ms.append((time.perf_counter() - start) * 1e3)
        row.probes += 1
        if status != 200 or b"probe_success 1" not in body:
            row.failures += 1
    row.cpu_s += _cpu_s(server.proc.pid) - before


def bench_probe(n: int, rounds: int, tmp: str) -> List[ProbeRow]:
    servers: List[Server] = []
    rows: List[ProbeRow] = []
    cases: List[tuple[Server, str, ProbeRow]] = []
    try:
        cfg = os.path.join(tmp, "pynet.toml")
        with open(cfg, "w") as f:
            f.write(PYNET_CONFIG)
        port = _free_port()
        pynet = Server("pynet", [sys.executable, "-m", "pynet.exporter", "--listen",
                                 f"{HOST}:{port}", "--config", cfg, "--log-level", "warning"],
                       port, tmp)
        servers.append(pynet)
        for module in ("icmp1", "icmp"):
            row = ProbeRow("pynet exporter", f"{module} ({1 if module == 'icmp1' else 3} req)")
            rows.append(row)
            cases.append((pynet, module, row))
        blackbox = shutil.which("prometheus-blackbox-exporter") or shutil.which(
            "blackbox_exporter")
        bb_row = ProbeRow("blackbox_exporter", "icmp (1 req)")
        rows.append(bb_row)
        if blackbox is None:
            bb_row.error = "not installed (Debian: prometheus-blackbox-exporter)"
        else:
            bcfg = os.path.join(tmp, "blackbox.yml")
            with open(bcfg, "w") as f:
                f.write(BLACKBOX_CONFIG)
            port = _free_port()
            try:
                bb = Server("blackbox", [blackbox, f"--config.file={bcfg}",
                                         f"--web.listen-address={HOST}:{port}",
                                         "--log.level=warn"], port, tmp)
                servers.append(bb)
                cases.append((bb, "icmp", bb_row))
            except RuntimeError as exc:
                bb_row.error = str(exc)
        per_round = max(n // rounds, 1)
        for server, module, row in cases:    # warm-up: imports, threads, sockets
            _scrape_probes(server, module, ProbeRow("", ""), 5)
        for _ in range(rounds):
            for server, module, row in cases:
                _scrape_probes(server, module, row, per_round)
    finally:
        for server in servers:
            server.stop()
    return rows


@dataclass
class FleetRow:
    targets: int
    period_s: float
    seconds: float = 0.0
    cpu_percent: float = 0.0
    cpu_us_per_probe: float = 0.0
    rss_mib: float = 0.0
    scrape_ms: float = 0.0
    scrape_bytes: int = 0
    error: str = ""


def bench_fleet(targets: int, seconds: float, tmp: str) -> FleetRow:
    row = FleetRow(targets, 1.0)
    addresses = [f"127.64.{i // 250}.{1 + i % 250}" for i in range(targets)]
    cfg = os.path.join(tmp, "fleet.toml")
    with open(cfg, "w") as f:
        f.write("[groups.loopback]\nperiod = 1.0\naddresses = [\n")
        f.write(",\n".join(f'  "{a}"' for a in addresses))
        f.write("\n]\n")
    port = _free_port()
    try:
        server = Server("pynet-fleet", [sys.executable, "-m", "pynet.exporter", "--listen",
                                        f"{HOST}:{port}", "--config", cfg,
                                        "--log-level", "warning"], port, tmp)
    except RuntimeError as exc:
        row.error = str(exc).splitlines()[-1][-300:]
        return row
    try:
        time.sleep(2.0)   # the first round of probes goes out
        before, start = _cpu_s(server.proc.pid), time.monotonic()
        scrapes: List[float] = []
        while time.monotonic() - start < seconds:
            t = time.perf_counter()
            status, body = _get(server.port, "/metrics", timeout=60)
            scrapes.append((time.perf_counter() - t) * 1e3)
            row.scrape_bytes = len(body)
            time.sleep(max(0.0, 5.0 - (time.perf_counter() - t)))
        row.seconds = time.monotonic() - start
        cpu = _cpu_s(server.proc.pid) - before
        row.cpu_percent = 100 * cpu / row.seconds
        row.cpu_us_per_probe = cpu / (targets * row.seconds) * 1e6
        row.rss_mib = _rss_bytes(server.proc.pid) / 2**20
        row.scrape_ms = statistics.median(scrapes)
    finally:
        server.stop()
    return row


def markdown(rows: Sequence[ProbeRow], fleet: Optional[FleetRow]) -> str:
    out = ["| server | module | probes | failed | median ms | p99 ms | CPU us/probe |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.error:
            out.append(f"| {r.server} | {r.module} | — | — | — | — | {r.error} |")
        else:
            out.append(f"| {r.server} | {r.module} | {r.probes} | {r.failures} | "
                       f"{r.median_ms:.2f} | {r.p99_ms:.2f} | {r.cpu_us:.0f} |")
    base = next((r for r in rows if r.server == "blackbox_exporter" and not r.error), None)
    if base is not None:
        for r in rows:
            if r is not base and not r.error and base.cpu_us and base.median_ms:
                out.append(f"\n{r.module}: latency {r.median_ms / base.median_ms:.2f}x "
                           f"blackbox's, CPU per probe {r.cpu_us / base.cpu_us:.2f}x")
    if fleet is not None:
        out += ["", "| /metrics targets | period | exporter CPU | CPU us/probe | RSS MiB | "
                "scrape ms | scrape bytes |", "|---:|---:|---:|---:|---:|---:|---:|"]
        if fleet.error:
            out.append(f"| {fleet.targets} | 1 s | {fleet.error} | | | | |")
        else:
            out.append(f"| {fleet.targets} | 1 s | {fleet.cpu_percent:.1f} % | "
                       f"{fleet.cpu_us_per_probe:.1f} | {fleet.rss_mib:.0f} | "
                       f"{fleet.scrape_ms:.0f} | {fleet.scrape_bytes} |")
    return "\n".join(out)


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="The exporter beside blackbox_exporter.")
    p.add_argument("--quick", action="store_true", help="a short run (for tests)")
    p.add_argument("--probes", type=int, default=None, help="/probe scrapes per row")
    p.add_argument("--rounds", type=int, default=None, help="turns the rows take")
    p.add_argument("--targets", type=int, default=None,
                   help="targets probed continuously for the /metrics row (0: skip)")
    p.add_argument("--duration", type=float, default=None, help="seconds of the /metrics row")
    p.add_argument("--json", default="exporter-bench.json", help="where to write the results")
    return p


def main(argv: List[str]) -> int:
    args = _parser().parse_args(argv)
    probes = args.probes if args.probes is not None else (30 if args.quick else 600)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 6)
    targets = args.targets if args.targets is not None else (100 if args.quick else 10_000)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 30.0)
    if probes < 1 or rounds < 1 or targets < 0 or not duration > 0:
        raise UsageError("--probes and --rounds must be >= 1, --targets >= 0, --duration > 0")
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_probe(probes, rounds, tmp)
        fleet = bench_fleet(targets, duration, tmp) if targets else None
    print(markdown(rows, fleet), flush=True)
    from . import _report
    doc: Dict[str, object] = {
        "tool": PROG,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform()},
        "settings": {"probes": probes, "rounds": rounds, "targets": targets,
                     "duration_s": duration, "target": TARGET},
        "probe_rows": [r.as_dict() for r in rows],
        "fleet": asdict(fleet) if fleet else None,
    }
    _report.write_json(args.json, doc)
    for r in rows:
        if r.error:
            warn(PROG, f"{r.server}: {r.error}")
    if fleet is not None and fleet.error:
        warn(PROG, f"/metrics with {targets} targets: {fleet.error}")
    return 1 if any(r.error or r.failures for r in rows) else 0
