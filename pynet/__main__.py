"""`pynet COMMAND ...`: one entry point for the command-line tools.

Each command is also `python -m pynet.COMMAND ...`. Commands load only when
run, so `pynet ping` pays for nothing but ping.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

__all__ = ["main"]

COMMANDS = {
    "ping": ("pynet.ping", "send ICMP echo requests, like iputils ping"),
    "fping": ("pynet.fping", "ping many targets at once, like fping"),
    "echo": ("pynet.echo", "run a TCP or UDP echo server in any concurrency model"),
    "sntp": ("pynet.sntp", "ask NTP servers for the time (RFC 4330)"),
    "tcp": ("pynet.tcp", "send a request over TCP and print the reply"),
    "traceroute": ("pynet.traceroute", "trace the path to hosts, like Linux traceroute"),
    "exporter": ("pynet.exporter", "serve probes as Prometheus metrics (/probe, /metrics)"),
    "bench": ("pynet.bench", "benchmark pynet beside its peers"),
}
USAGE_EXIT = 2


def _usage() -> str:
    lines = ["usage: pynet COMMAND [ARGS...]   (pynet COMMAND --help for its options)",
             "       pynet --help | --version", "", "commands:"]
    lines += [f"  {name:12s}{text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", f"exit status: the command's own; {USAGE_EXIT} for an unknown command."]
    return "\n".join(lines)


def _version() -> str:
    from . import __version__
    return __version__


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(_usage(), file=sys.stderr)
        return USAGE_EXIT
    name, rest = args[0], args[1:]
    if name in ("-h", "--help"):
        print(_usage())
        return 0
    if name in ("-V", "--version"):
        print(f"pynet {_version()}")
        return 0
    if name not in COMMANDS:
        print(f"pynet: unknown command {name!r} (see pynet --help)", file=sys.stderr)
        return USAGE_EXIT
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest))


if __name__ == "__main__":
    sys.exit(main())
