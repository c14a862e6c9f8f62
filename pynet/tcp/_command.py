"""`python -m pynet.tcp HOST PORT`: send a request over TCP, print the reply."""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from .._cli import ArgumentParser, UsageError, add_family, port, run_main, seconds
from .._errors import (ConnectFailed, ConnectionReset, ConnectTimeout, EmptyReply, TcpNameError,
                       TcpSendFailed)
from ._client import request
from ._http import http_get

__all__ = ["main", "PROG"]

PROG = "pynet tcp"

DESCRIPTION = """\
Connect to HOST:PORT (every address HOST resolves to, in turn), send a
request, and print everything that comes back until the peer closes the
connection or nothing arrives for the idle timeout. The request is --send
TEXT, --http-get PATH, or else standard input up to its end."""

EPILOG = f"""\
--json prints one JSON document when the exchange is done: exactly
TcpResult.to_dict(), the reply base64-encoded as data_base64. On an error
nothing is printed on stdout.

exit status (curl's codes):
  0   done
  {UsageError.exit_code}   usage error
  {TcpNameError.exit_code}   the name did not resolve
  {ConnectFailed.exit_code}   could not connect (refused, unreachable)
  {ConnectTimeout.exit_code}  timed out: connecting (--connect-timeout), nothing
      received (--timeout), or the whole run (-m/--max-time)
  {EmptyReply.exit_code}  the peer closed without sending anything
  {TcpSendFailed.exit_code}  the peer went away before the request was sent
  {ConnectionReset.exit_code}  connection reset by peer"""


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host", metavar="HOST", help="name or address to connect to")
    parser.add_argument("port", metavar="PORT", type=port, help="TCP port (1-65535)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--send", metavar="TEXT", help="send TEXT (UTF-8) instead of stdin")
    what.add_argument("--http-get", metavar="PATH",
                      help="send an HTTP/1.0 GET for PATH with a Host header, e.g. /")
    parser.add_argument("--connect-timeout", metavar="S", type=seconds, default=5.0,
                        help="give up connecting after S seconds in all (default 5)")
    parser.add_argument("--timeout", metavar="S", type=seconds, default=2.0,
                        help="end after S seconds with nothing sent or received (default 2)")
    parser.add_argument("-m", "--max-time", metavar="S", type=seconds, default=None,
                        help="end after S seconds in all, resolving and connecting "
                             "included, like curl -m (default: no limit)")
    parser.add_argument("--shutdown", action="store_true",
                        help="half-close our side once the request is sent (like nc -N)")
    add_family(parser)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="report the address, connect time and byte counts on stderr")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON document instead of the reply")
    return parser


def _trace(line: str) -> None:
    print(f"* {line}", file=sys.stderr, flush=True)


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _stdin_fd() -> Optional[int]:
    """The descriptor of standard input, or None when there is none (closed)."""
    if sys.stdin is None:
        return None
    try:
        return sys.stdin.fileno()
    except (OSError, ValueError):
        return None


def _main(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    input_fd: Optional[int] = None
    if args.http_get is not None:
        try:
            payload = http_get(args.host, args.http_get, args.port)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    elif args.send is not None:
        payload = args.send.encode("utf-8", "surrogateescape")
    else:
        payload = b""
        input_fd = _stdin_fd()
    result = request(args.host, args.port, data=payload, family=args.family,
                     connect_timeout=args.connect_timeout, idle_timeout=args.timeout,
                     max_time=args.max_time, shutdown=args.shutdown, input_fd=input_fd,
                     sink=None if args.json else _write,
                     trace=_trace if args.verbose else None)
    if args.json:
        print(json.dumps(result.to_dict()), flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _main, argv)
