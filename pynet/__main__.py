"""`pynet COMMAND ...`: one entry point for the command-line tools.

Each command is also `python -m pynet.COMMAND ...`.
"""

from __future__ import annotations

import importlib
import sys
from typing import List, Optional

__all__ = ["main"]

COMMANDS = {
    "ping": ("pynet.ping", "send ICMP echo requests, like iputils ping"),
    "echo": ("pynet.echo", "run a TCP or UDP echo server in any concurrency model"),
    "sntp": ("pynet.sntp", "ask NTP servers for the time (RFC 4330)"),
    "tcp": ("pynet.tcp", "send a request over TCP and print the reply"),
    "traceroute": ("pynet.traceroute", "trace the path to hosts, like Linux traceroute"),
    "bench": ("pynet.bench", "benchmark the echo servers side by side"),
}


def _usage() -> str:
    lines = ["usage: pynet COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:12s}{text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"pynet: unknown command {name!r}\n{_usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"pynet: {name} is not yet available", file=sys.stderr)
        return 2
    main_fn = getattr(module, "main", None)
    if main_fn is None:
        print(f"pynet: {name} is not yet available", file=sys.stderr)
        return 2
    return int(main_fn(rest))


if __name__ == "__main__":
    sys.exit(main())
