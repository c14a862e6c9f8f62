"""`pynet exporter`: parse the command line, load the config, serve until
SIGTERM or Ctrl-C, reload the config on SIGHUP."""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, List, Optional, Tuple

from .._cli import ArgumentParser, UsageError, run_main
from .._errors import ExporterError, PynetError
from ._config import Config, default_config, load

if TYPE_CHECKING:
    from ._fleet import FleetProber

__all__ = ["main", "parse_listen", "startup_warnings"]

PROG = "pynet exporter"
DEFAULT_LISTEN = "127.0.0.1:9427"
log = logging.getLogger("pynet.exporter")


def parse_listen(text: str) -> Tuple[str, int]:
    """'HOST:PORT', '[V6]:PORT' or ':PORT' (all interfaces) as (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"--listen {text!r}: the host must be an IP address") from None
    return host or "0.0.0.0", int(port_text)


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Serve probes as Prometheus metrics: "
                       "/probe?target=T&module=M (blackbox_exporter's multi-target pattern) "
                       "and /metrics (the config's groups, probed continuously).",
                       epilog="exit status: 0 stopped by SIGTERM or SIGINT, or --config-check "
                              "found the config good; 1 a bad config, an address in use or "
                              "prometheus_client missing; 2 bad usage.")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"address to serve on (default {DEFAULT_LISTEN}; 0.0.0.0 or [::] "
                   "for every interface)")
    p.add_argument("--config", metavar="FILE", help="TOML config (modules, groups, allow)")
    p.add_argument("--config-check", action="store_true",
                   help="check the config, print what it holds, and exit (0 good, 1 bad)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def _load(path: Optional[str]) -> Config:
    return default_config() if path is None else load(path)


def _start_fleet(config: Config, previous: Optional["FleetProber"] = None) -> "FleetProber":
    from ._fleet import FleetProber

    prober = FleetProber(config.groups, previous=previous)
    prober.start()
    return prober


def _describe(config: Config) -> str:
    targets = sum(g.count() for g in config.groups)
    allow = "any target (open prober)" if config.allow is None else \
        ", ".join(str(n) for n in config.allow)
    return (f"{len(config.modules)} modules ({', '.join(sorted(config.modules))}), "
            f"{len(config.groups)} groups with {targets} targets, /probe allows {allow}")


def startup_warnings(host: str, config: Config) -> List[str]:
    out = []
    if ipaddress.ip_address(host).is_unspecified:
        out.append(f"listening on every interface ({host}): anyone who reaches this host "
                   "can make it probe")
    if config.allow is None:
        out.append("no allow-list in the config: /probe probes any target it is given "
                   "(an open prober)")
    return out


def _run(argv: List[str]) -> int:
    args = _parser().parse_args(argv)
    if args.config_check:
        if args.config is None:
            raise UsageError("--config-check needs --config FILE")
        config = load(args.config)
        print(f"{args.config}: good: {_describe(config)}")
        return 0
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(message)s")
    host, port = parse_listen(args.listen)
    try:
        import prometheus_client  # noqa: F401
    except ModuleNotFoundError:
        raise ExporterError("the exporter needs prometheus_client: "
                            "pip install 'pynet[exporter]'") from None
    from ._server import Exporter

    config = _load(args.config)
    for warning in startup_warnings(host, config):
        log.warning("%s", warning)
    fleet = _start_fleet(config)
    try:
        server = Exporter((host, port), config, fleet=fleet)
    except OSError as exc:
        fleet.stop()
        raise ExporterError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    server.stats.reload_time = time.time()
    bound = server.server_address
    log.info("listening on %s port %d: %s", bound[0], bound[1], _describe(config))

    reload_lock = threading.Lock()

    def reload() -> None:
        with reload_lock:
            try:
                new = _load(args.config)
            except PynetError as exc:
                server.stats.reload_ok = 0.0
                log.error("config reload failed, keeping the old config: %s", exc)
                return
            # The old engines stop first (their sockets and memory go), and
            # the new prober carries on the counters of the targets that stay.
            old = server.fleet
            if old is not None:
                old.stop()
            try:
                prober = _start_fleet(new, previous=old)
            except (PynetError, OSError) as exc:
                server.stats.reload_ok = 0.0
                log.error("config reload failed, keeping the old config: %s", exc)
                server.fleet = _start_fleet(server.config, previous=old)
                return
            server.swap(new, prober)
            server.stats.reload_ok, server.stats.reload_time = 1.0, time.time()
            log.info("config reloaded: %s", _describe(new))

    def on_hup(signum: int, frame: object) -> None:
        threading.Thread(target=reload, name="pynet-reload", daemon=True).start()

    def on_term(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if server.fleet is not None:
            server.fleet.stop()
        log.info("stopped")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _run, argv)
