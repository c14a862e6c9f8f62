"""The HTTP side: /probe, /metrics, / and /-/healthy on a thread per
connection, with every request bounded (connections, probes at once, time)
and every failure answered with one line of text, never a traceback."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Optional, Tuple

from prometheus_client import CONTENT_TYPE_LATEST

from ._config import MAX_PROBE_S, Config, Module
from ._fleet import FleetProber
from ._metrics import ExporterCollector, FleetCollector, exporter_registry, probe_page, render
from ._probes import Refused, run_probe

__all__ = ["BadRequest", "Exporter", "budget_for", "parse_probe_query"]

log = logging.getLogger("pynet.exporter")

MAX_QUERY = 2048
MAX_TARGET = 512
# Connections served at once beyond the probes: scrapes of /metrics, refusals.
EXTRA_CONNECTIONS = 64
# How long a client may take to send its request.
REQUEST_TIMEOUT_S = 10.0
# Past its budget a probe's answer is not awaited longer than this.
GRACE_S = 1.0


class BadRequest(Exception):
    """A query string /probe cannot use; the message is the 400's one line."""


def parse_probe_query(query: str, config: Config) -> Tuple[str, Module]:
    """(target, module) from /probe's query string, or BadRequest."""
    if len(query) > MAX_QUERY:
        raise BadRequest(f"query string longer than {MAX_QUERY} bytes")
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                                       errors="strict", max_num_fields=8)
    except (ValueError, UnicodeError) as exc:
        raise BadRequest(f"malformed query string: {exc}") from None
    params: Dict[str, str] = {}
    for key, value in pairs:
        if key not in ("target", "module"):
            raise BadRequest(f"unknown parameter {_show(key)} (known: target, module)")
        if key in params:
            raise BadRequest(f"parameter {key} given more than once")
        params[key] = value
    target = params.get("target", "")
    if not target:
        raise BadRequest("Target parameter is missing")
    if len(target) > MAX_TARGET or not target.isprintable() or not target.isascii() \
            or any(c.isspace() for c in target):
        raise BadRequest(f"target {_show(target)} is not a host name or address")
    name = params.get("module", "icmp")
    module = config.modules.get(name)
    if module is None:
        raise BadRequest(f"Unknown module {_show(name)}")
    return target, module


def _show(text: str) -> str:
    """Text from a client, safe to put in a one-line answer or a log line."""
    shown = text[:64].encode("ascii", "backslashreplace").decode("ascii")
    return repr(shown) + ("..." if len(text) > 64 else "")


def budget_for(module: Module, header: Optional[str], offset: float) -> float:
    """The probe's time budget: the module's timeout, cut to Prometheus's
    scrape timeout minus the offset when the header gives one (as blackbox)."""
    budget = module.timeout
    if header is not None:
        try:
            scrape = float(header)
        except ValueError:
            raise BadRequest("X-Prometheus-Scrape-Timeout-Seconds is not a number") from None
        if not math.isfinite(scrape) or scrape <= 0:
            raise BadRequest("X-Prometheus-Scrape-Timeout-Seconds must be positive")
        if scrape - offset > 0:
            budget = min(budget, scrape - offset)
    return min(budget, MAX_PROBE_S)


class Exporter(ThreadingHTTPServer):
    """The server and its state: the config (swapped whole on reload), the
    fleet prober, the metrics registry, the limits."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], config: Config, *,
                 fleet: Optional[FleetProber] = None) -> None:
        self.config = config
        self.fleet = fleet
        self.stats = ExporterCollector()
        self.registry = exporter_registry(self.stats)
        self.fleet_metrics = FleetCollector(lambda: self.fleet)
        self.probe_slots = threading.BoundedSemaphore(config.max_probes)
        self.max_connections = config.max_probes + EXTRA_CONNECTIONS
        self.connections = 0
        self.conn_lock = threading.Lock()
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def swap(self, config: Config, fleet: Optional[FleetProber]) -> Optional[FleetProber]:
        """Take a new config (and prober); returns the old prober to stop."""
        old = self.fleet
        if config.max_probes != self.config.max_probes:
            self.probe_slots = threading.BoundedSemaphore(config.max_probes)
            self.max_connections = config.max_probes + EXTRA_CONNECTIONS
        self.config, self.fleet = config, fleet
        return old

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            full = self.connections >= self.max_connections
            if not full:
                self.connections += 1
        if full:
            self.stats.count_rejected("connections")
            try:
                request.sendall(_raw_response(429, "too many connections at once"))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            with self.conn_lock:
                self.connections -= 1
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.conn_lock:
                self.connections -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.error("error serving %s (connection closed)", client_address[0])


def _raw_response(code: int, text: str) -> bytes:
    body = (text + "\n").encode()
    reason = {429: "Too Many Requests"}.get(code, "Error")
    return (f"HTTP/1.0 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class _ProbeRun:
    """A probe on its own thread, so that the answer waits at most the
    budget (plus a grace) even when a resolver hangs; the probe slot is
    given back when the probe itself ends."""

    def __init__(self, target: str, module: Module, budget: float,
                 allowed: Callable[[str], bool], release: Callable[[], None]) -> None:
        self.args = (target, module, budget, allowed)
        self.release = release
        self.done = threading.Event()
        self.outcome: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.outcome = run_probe(*self.args)
        except BaseException as exc:  # handed to the waiting request thread
            self.error = exc
        finally:
            self.release()
            self.done.set()


class _Handler(BaseHTTPRequestHandler):
    server: Exporter
    timeout = REQUEST_TIMEOUT_S
    protocol_version = "HTTP/1.0"
    server_version = "pynet-exporter"
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per event is ours to write, not http.server's

    def send_text(self, code: int, text: str) -> None:
        body = (text.replace("\n", " ")[:500] + "\n").encode("utf-8", "backslashreplace")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_body(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        try:
            path, _, query = self.path.partition("?")
            if path == "/probe":
                self.probe(query)
            elif path == "/metrics":
                self.send_body(render(self.server.registry, self.server.fleet_metrics),
                               CONTENT_TYPE_LATEST)
            elif path == "/-/healthy":
                self.send_text(200, "OK")
            elif path == "/":
                self.send_text(200, "pynet exporter: /probe?target=HOST&module=icmp|tcp|sntp|"
                               "traceroute, /metrics")
            else:
                self.send_text(404, f"no such page: {_show(path)}")
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the client left; nothing to answer
        except Exception as exc:  # never a traceback to the client: one line, one log line
            log.error("internal error on %s: %s: %s", _show(self.path), type(exc).__name__, exc)
            try:
                self.send_text(500, "internal error")
            except OSError:
                pass

    def probe(self, query: str) -> None:
        config = self.server.config
        try:
            target, module = parse_probe_query(query, config)
            budget = budget_for(module, self.headers.get("X-Prometheus-Scrape-Timeout-Seconds"),
                                config.timeout_offset)
        except BadRequest as exc:
            self.server.stats.count_rejected("bad_request")
            log.info("400 from %s: %s", self.client_address[0], exc)
            self.send_text(400, str(exc))
            return
        slots = self.server.probe_slots
        if not slots.acquire(blocking=False):
            self.server.stats.count_rejected("too_many_probes")
            log.info("429 from %s: more than %d probes at once", self.client_address[0],
                     config.max_probes)
            self.send_text(429, f"too many probes at once (at most {config.max_probes})")
            return
        start = time.monotonic()
        run = _ProbeRun(target, module, budget, config.allowed, slots.release)
        threading.Thread(target=run.run, name="pynet-probe", daemon=True).start()
        finished = run.done.wait(budget + GRACE_S)
        duration = time.monotonic() - start
        if isinstance(run.error, Refused):
            self.server.stats.count_rejected("not_allowed")
            log.warning("403 from %s: module %s target %s: %s", self.client_address[0],
                        module.name, _show(target), run.error)
            self.send_text(403, f"target not allowed: {run.error}")
            return
        if run.error is not None:
            raise run.error
        if not finished:
            from ._probes import Outcome
            outcome = Outcome(message=f"no answer within {budget:.3g} s")
        else:
            outcome = run.outcome
        self.server.stats.count_probe(module.name, outcome.success)
        if outcome.success:
            log.debug("probe module=%s target=%s success=1 duration=%.6f", module.name,
                      _show(target), duration)
        else:
            log.info("probe module=%s target=%s success=0 duration=%.6f: %s", module.name,
                     _show(target), duration, outcome.message)
        self.send_body(probe_page(outcome, duration, budget), CONTENT_TYPE_LATEST)
