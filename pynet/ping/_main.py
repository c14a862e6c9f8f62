"""`python -m pynet.ping` / `pynet ping`: iputils ping's command line."""

from __future__ import annotations

import os
import signal
import socket
import sys

from .._cli import run_main
from ._api import DEFAULT_TIMEOUT, MAX_SIZE
from .._errors import PingError, UsageError
from ._ipopt import OPTIONS_LEN
from ._options import Options, parse
from ._output import TextOutput, header
from ._result import Tally
from ._session import Plan, Session, ip_options, lookup
from ._socket import SocketOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional

__all__ = ["main", "run"]

PROG = "ping"
# iputils: users may not send more often than every 2 ms (flood is root's).
MIN_USER_INTERVAL_S = 0.002
# Flood output is gathered this long before it is written.
FLOOD_FLUSH_S = 0.02


def _is_literal(host: str) -> bool:
    bare = host.split("%")[0]
    for af in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(af, bare)
            return True
        except OSError:
            pass
    return False


def _plan(o: Options) -> Plan:
    interval = o.interval
    if interval is None:
        interval = 0.0 if o.flood else 1.0
    user = os.geteuid() != 0
    if user and (o.flood and o.interval is None or interval < MIN_USER_INTERVAL_S):
        raise PingError("cannot flood; minimal interval allowed for user is "
                        f"{int(MIN_USER_INTERVAL_S * 1000)}ms")
    if user and o.preload > 3:
        raise PingError(f"cannot set preload to value greater than 3: {o.preload}")
    linger = DEFAULT_TIMEOUT if o.timeout is None else o.timeout
    flush = FLOOD_FLUSH_S if o.flood else 0.0
    if o.quiet or o.json:
        flush = 0.2
    return Plan(count=o.count, interval_s=interval, linger_s=linger, deadline_s=o.deadline,
                size=o.size, outstanding=o.outstanding, flush_s=flush,
                pattern=o.pattern or b"", preload=o.preload, adaptive=o.adaptive,
                user_latency=o.user_latency,
                min_interval_s=MIN_USER_INTERVAL_S if user else 0.0)


def socket_options(o: Options, family: int) -> SocketOptions:
    """iputils reads -R, -T and source routes for IPv4 and -F for IPv6, and
    passes over them for the other family."""
    options = b""
    if family == 4:
        options = ip_options(o.rroute, o.timestamp, o.hops, o.dontroute)
    elif o.hops:
        raise UsageError("more than one host is for IPv4 only")
    return SocketOptions(tos=o.tos, mark=o.mark, pmtudisc=o.pmtudisc,
                         dontroute=o.dontroute, broadcast=o.broadcast, noloop=o.noloop,
                         sndbuf=o.sndbuf, ident=o.ident, sticky=o.sticky, ip_options=options,
                         flowlabel=o.flowlabel if family == 6 else None)


def version() -> str:
    from .. import __version__
    return f"ping from pynet {__version__} (iputils-compatible)"


def run(o: Options, out: Any = None, err: Any = None) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if o.version:
        out.write(version() + "\n")
        return 0
    plan = _plan(o)
    af, sockaddr = lookup(o.host, o.family)
    family = 4 if af == socket.AF_INET else 6
    if o.size > MAX_SIZE[family]:
        error = PingError(f"invalid argument: '{o.size}': out of range: 0 <= value <= "
                          f"{MAX_SIZE[family]}")
        error.exit_code = 1     # iputils fails the send, and exits 1
        raise error
    options = socket_options(o, family)
    stopped = []

    def interrupted(signum: int, frame: Any) -> None:
        stopped.append(signum)

    session = Session.open(af, sockaddr, plan, privileged=False if o.unprivileged else None,
                           ttl=o.ttl, interface=o.interface, stop=lambda: bool(stopped),
                           options=options, warnings=True)
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        text = TextOutput(out, err, family=family, size=o.size,
                          numeric=o.numeric or _is_literal(o.host), quiet=o.quiet,
                          flood=o.flood, timestamps=o.timestamps, prog=PROG,
                          precise=o.precise, audible=o.audible)
        if o.pattern is not None and not o.quiet and not o.json:
            out.write("PATTERN: 0x" + o.pattern.hex() + "\n")
        if not o.json:
            source = session.isock.source if o.interface else None
            out.write(header(o.host, session.isock.address, family, o.size, source,
                             None if o.interface is None or _is_literal(o.interface)
                             else o.interface,
                             OPTIONS_LEN if options.ip_options else 0,
                             session.isock.flowinfo) + "\n")
            out.flush()
        tally = Tally(family, keep=o.json)
        sent = 0
        for records in session.batches():
            tally.add(records)
            counters = session.counters
            assert counters is not None
            if not o.json:
                text.batch(records, counters.transmitted - sent, session.wrong_payload)
            sent = counters.transmitted
    finally:
        signal.signal(signal.SIGINT, previous)
        session.close()
    counters = session.counters
    assert counters is not None
    result = tally.result(o.host, session.isock.address, counters, o.count,
                          o.deadline is not None, o.size)
    if o.json:
        import json  # here: only -j pays for it

        out.write(json.dumps(result.to_dict()) + "\n")
        out.flush()
    else:
        text.summary(o.host, counters, tally.stats, 0.0 if o.adaptive else plan.interval_s)
    return result.exit_code


def _main(argv: List[str]) -> int:
    return run(parse(argv))


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _main, argv)
