"""`python -m pynet.sntp SERVER [SERVER ...]`: ask NTP servers for the time."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Optional, TypeVar

from .._cli import ArgumentParser, add_family, port, run_main, seconds, warn
from ._format import json_line, text_line, who
from .._errors import SNTPError, SNTPNameError
from ._query import (COUNT_MAX, DEFAULT_COUNT, DEFAULT_INTERVAL, DEFAULT_PORT, DEFAULT_TIMEOUT,
                     check_count, check_interval, query)

__all__ = ["PROG", "main"]

PROG = "pynet sntp"

DESCRIPTION = """\
Ask one or more NTP servers for the time (RFC 4330 SNTP), all at once, and
print one line per server that answered, like sntp/ntpdig:

  DATE TIME (UTC-OFFSET) OFFSET +/- ERROR SERVER [ADDRESS] sSTRATUM LEAP

OFFSET is how far the server's clock is ahead of this one, in seconds. A
server that gave no usable answer (no reply, port unreachable, kiss-o'-death,
unsynchronised) gets one line on stderr instead.

With -c N each server is asked N times, -i seconds apart; its line is the
answer of least delay (RFC 5905's clock filter), followed by the jitter of
the samples (RMS of their offsets about that one's) and how many answered:

  ... SERVER [ADDRESS] sSTRATUM LEAP jitter JITTER samples ANSWERED/N"""

EPILOG = f"""\
--json prints one JSON object per server and line (NDJSON), failures
included: exactly SNTPResult.to_dict(), whose "samples" list has every
sample (offset, delay, and whether the kernel or the clock timed it).

exit status:
  0  at least one server gave a usable time
  {SNTPError.exit_code}  none did (no reply, port unreachable, kiss-o'-death, ...)
  {SNTPNameError.exit_code}  a usage error, or a name that does not resolve (nothing is sent)"""


T = TypeVar("T")


def _checked(convert: Callable[[str], T], check: Callable[[T], object],
             what: str) -> Callable[[str], T]:
    """argparse type: text converted, then held to the library's own bounds."""
    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        try:
            check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    return parse


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", metavar="SERVER", nargs="+", help="NTP server name or address")
    parser.add_argument("-p", "--port", type=port, default=DEFAULT_PORT,
                        help=f"UDP port of the servers (default {DEFAULT_PORT})")
    parser.add_argument("-t", "--timeout", metavar="S", type=seconds, default=DEFAULT_TIMEOUT,
                        help=f"wait at most S seconds for the answers, after the last request "
                             f"(default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("-c", "--count", metavar="N", default=DEFAULT_COUNT,
                        type=_checked(int, check_count, "a count"),
                        help=f"ask each server N times (1..{COUNT_MAX}) and keep the answer of "
                             f"least delay (default {DEFAULT_COUNT})")
    parser.add_argument("-i", "--interval", metavar="S", default=DEFAULT_INTERVAL,
                        type=_checked(float, check_interval, "a number of seconds"),
                        help=f"S seconds between the requests to a server (default "
                             f"{DEFAULT_INTERVAL:g}, what ntpd servers allow one client; "
                             f"-t counts from the last)")
    add_family(parser)
    parser.add_argument("-j", "--json", action="store_true",
                        help="one JSON object per server and line on stdout (NDJSON), "
                             "failures included")
    return parser


def _main(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    results = query(args.servers, port=args.port, timeout=args.timeout, family=args.family,
                    count=args.count, interval=args.interval)
    failed: List[SNTPError] = []
    for result in results:
        if args.json:
            print(json_line(result), flush=True)
        elif result.error is None:
            print(text_line(result, args.count), flush=True)
        else:
            warn(PROG, f"{who(result)}: {result.error}")
        if result.error is not None:
            failed.append(result.error)
    if len(failed) < len(results):
        return 0
    return failed[0].exit_code  # no server answered: SNTPError's code


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _main, argv)
