"""`python -m pynet.sntp SERVER [SERVER ...]`: ask NTP servers for the time."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .._cli import ArgumentParser, add_family, port, run_main, seconds, warn
from ._format import json_line, text_line, who
from .._errors import SNTPError, SNTPNameError
from ._query import DEFAULT_PORT, DEFAULT_TIMEOUT, query

__all__ = ["PROG", "main"]

PROG = "pynet sntp"

DESCRIPTION = """\
Ask one or more NTP servers for the time (RFC 4330 SNTP), all at once, and
print one line per server that answered, like sntp/ntpdig:

  DATE TIME (UTC-OFFSET) OFFSET +/- ERROR SERVER [ADDRESS] sSTRATUM LEAP

OFFSET is how far the server's clock is ahead of this one, in seconds. A
server that gave no usable answer (no reply, port unreachable, kiss-o'-death,
unsynchronised) gets one line on stderr instead."""

EPILOG = f"""\
--json prints one JSON object per server and line (NDJSON), failures
included: exactly SNTPResult.to_dict().

exit status:
  0  at least one server gave a usable time
  {SNTPError.exit_code}  none did (no reply, port unreachable, kiss-o'-death, ...)
  {SNTPNameError.exit_code}  a usage error, or a name that does not resolve (nothing is sent)"""


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", metavar="SERVER", nargs="+", help="NTP server name or address")
    parser.add_argument("-p", "--port", type=port, default=DEFAULT_PORT,
                        help=f"UDP port of the servers (default {DEFAULT_PORT})")
    parser.add_argument("-t", "--timeout", metavar="S", type=seconds, default=DEFAULT_TIMEOUT,
                        help=f"wait at most S seconds for the answers (default {DEFAULT_TIMEOUT:g})")
    add_family(parser)
    parser.add_argument("-j", "--json", action="store_true",
                        help="one JSON object per server and line on stdout (NDJSON), "
                             "failures included")
    return parser


def _main(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    results = query(args.servers, port=args.port, timeout=args.timeout, family=args.family)
    failed: List[SNTPError] = []
    for result in results:
        if args.json:
            print(json_line(result), flush=True)
        elif result.error is None:
            print(text_line(result), flush=True)
        else:
            warn(PROG, f"{who(result)}: {result.error}")
        if result.error is not None:
            failed.append(result.error)
    if len(failed) < len(results):
        return 0
    return failed[0].exit_code  # no server answered: SNTPError's code


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _main, argv)
