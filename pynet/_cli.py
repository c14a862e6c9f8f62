"""What every command-line tool shares: an argument parser whose errors are
one line, and a main() wrapper that turns errors into one line on stderr and
an exit code, never a traceback.

argparse itself loads only when a tool builds its parser (ArgumentParser is
looked up lazily): ping parses with pynet._argv and never pays for it."""

from __future__ import annotations

import math
import os
import sys
TYPE_CHECKING = False

from ._errors import PynetError, UsageError

if TYPE_CHECKING:
    from typing import Any, Callable, List, NoReturn, Optional, Sequence

    import argparse

    from ._cli_argparse import ArgumentParser

__all__ = ["ArgumentParser", "UsageError", "add_family", "port", "run_main", "seconds", "warn"]


def __getattr__(name: str) -> Any:
    if name == "ArgumentParser":
        from ._cli_argparse import ArgumentParser

        return ArgumentParser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _type_error(message: str) -> NoReturn:
    import argparse

    raise argparse.ArgumentTypeError(message)


def seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        _type_error(f"not a number of seconds: {text!r}")
    if not value > 0 or not math.isfinite(value):
        _type_error(f"must be a positive number of seconds, got {text!r}")
    return value


def port(text: str) -> int:
    """argparse type: a port to connect to, 1..65535."""
    try:
        value = int(text, 10)
    except ValueError:
        _type_error(f"not a port number: {text!r}")
    if not 1 <= value <= 65535:
        _type_error(f"port must be in 1..65535, got {value}")
    return value


def add_family(parser: Any) -> None:
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
