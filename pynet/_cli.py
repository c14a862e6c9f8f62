"""What every command-line tool shares: an argument parser whose errors are
one line, and a main() wrapper that turns errors into one line on stderr and
an exit code, never a traceback."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, List, NoReturn, Optional, Sequence

from ._errors import PynetError, UsageError

__all__ = ["ArgumentParser", "UsageError", "add_family", "port", "run_main", "seconds", "warn"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error raises UsageError (one line, exit 2)
    instead of printing the usage block and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def port(text: str) -> int:
    """argparse type: a port to connect to, 1..65535."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {value}")
    return value


def add_family(parser: argparse.ArgumentParser) -> None:
    """-4 / -6, one or the other: args.family is 4, 6 or None (either)."""
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")


def warn(prog: str, message: str) -> None:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


def run_main(prog: str, main: Callable[[List[str]], int],
             argv: Optional[Sequence[str]] = None) -> int:
    """Run main(argv) and return its exit code. Errors become one line on
    stderr: UsageError and other PynetErrors exit with their exit_code,
    OSError with 2, Ctrl-C with 130; a closed stdout (| head) ends quietly."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return main(args)
    except UsageError as exc:
        warn(prog, f"{exc} (see --help)")
        return exc.exit_code
    except PynetError as exc:
        warn(prog, str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Python would complain again when flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        warn(prog, exc.strerror or str(exc))
        return 2
