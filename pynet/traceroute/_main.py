"""`python -m pynet.traceroute` / `pynet traceroute`: Linux traceroute's
command line, every TTL at once, several targets side by side."""

from __future__ import annotations

import argparse
import gc
import sys
import time
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

from .._cli import ArgumentParser, UsageError, add_family, port, run_main, warn
from .._errors import TracerouteError, TracerouteSetupError
from ._api import make_plan, trace_each
from ._engine import METHOD_NAMES, probe_length
from ._output import Names, header_line, json_document, report, trace_lines

__all__ = ["main", "parse", "run"]

PROG = "traceroute"
# How long this thread's Python keeps the GIL from a loop thread that has
# records to hand over (Python's default: 5 ms).
SWITCH_S = 0.0005


def _wait(text: str) -> List[float]:
    """-w MAX[,HERE[,NEAR]]: Linux traceroute's form (defaults 5,3,10)."""
    parts = text.split(",")
    values = [5.0, 3.0, 10.0]
    if len(parts) > 3:
        raise argparse.ArgumentTypeError(f"not MAX,HERE,NEAR: {text!r}")
    for i, part in enumerate(parts):
        try:
            values[i] = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not values[i] >= 0:
            raise argparse.ArgumentTypeError(f"wait must be >= 0, got {text!r}")
    return values


def _pause(text: str) -> float:
    """-z: seconds, or milliseconds when above 10 (as Linux traceroute reads it)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"pause must be >= 0, got {text!r}")
    return value / 1000 if value > 10 else value


def _unsigned(high: int) -> Callable[[str], int]:
    """An argument of 0..high, decimal or 0x hex, as traceroute reads -t and --fwmark."""
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in 0..{high}, got {text!r}")
        return value
    return parse


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=(
        "Trace the path to each HOST as Linux traceroute does, every TTL in flight at once, "
        "Paris flow ids by default. --json prints one JSON document (a trace, or a list of "
        "traces for several hosts)."),
        epilog="exit status: 0 the trace ran (whether or not it reached the host), "
               "1 no route to a host (after its header), 2 bad usage, a name that does "
               "not resolve, or a socket that cannot be opened (as Linux traceroute). "
               "With several hosts, each one that fails is reported in its place and "
               "the worst code is the exit status.")
    add_family(p)
    method = p.add_mutually_exclusive_group()
    method.add_argument("-I", "--icmp", dest="method", action="store_const", const="icmp",
                        help="ICMP echo probes")
    method.add_argument("-T", "--tcp", dest="method", action="store_const", const="tcp",
                        help="TCP SYN probes (port 80 unless -p)")
    method.add_argument("-U", "--udp", dest="method", action="store_const", const="udp-port",
                        help="UDP to one port (53 unless -p)")
    p.add_argument("-p", "--port", type=port, help="destination port (UDP: the base)")
    p.add_argument("-n", dest="numeric", action="store_true", help="no reverse lookups")
    p.add_argument("-e", "--extensions", action="store_true", help="show ICMP extensions")
    p.add_argument("-f", "--first", type=int, default=1, dest="first_ttl")
    p.add_argument("-m", "--max-hops", type=int, default=30, dest="max_ttl")
    p.add_argument("-q", "--queries", type=int, default=3)
    p.add_argument("-N", "--sim-queries", type=int, default=16, dest="sim")
    p.add_argument("-w", "--wait", type=_wait, default=[5.0, 3.0, 10.0],
                   metavar="MAX,HERE,NEAR")
    p.add_argument("-z", "--sendwait", type=_pause, default=0.0)
    p.add_argument("-s", "--source")
    p.add_argument("-i", "--interface", help="send (and listen) through this interface only")
    p.add_argument("-t", "--tos", type=_unsigned(255),
                   help="the IPv4 TOS or IPv6 traffic class byte of the probes")
    p.add_argument("-F", "--dont-fragment", action="store_true", dest="dont_fragment",
                   help="set DF on the probes (else they may be fragmented)")
    p.add_argument("--fwmark", type=_unsigned(0xFFFFFFFF),
                   help="firewall mark of the probes (SO_MARK)")
    p.add_argument("--classic", action="store_true",
                   help="vary the flow per probe, as traceroute did before Paris")
    p.add_argument("--unprivileged", action="store_true", help="no raw sockets")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument("--report", action="store_true", help="mtr --report's layout")
    p.add_argument("-c", "--report-cycles", type=int, default=None, dest="cycles",
                   help="probes per hop for --report (default 10)")
    p.add_argument("--targets", help="a file of hosts, one a line")
    p.add_argument("hosts", nargs="*", metavar="HOST")
    return p


def parse(argv: List[str]) -> argparse.Namespace:
    o = _parser().parse_intermixed_args(argv)   # hosts and options in any order
    hosts = list(o.hosts)
    o.packet_len = None
    # Linux traceroute's second operand is the packet length.
    if len(hosts) == 2 and hosts[1].isdigit():
        o.packet_len = int(hosts.pop())
    if o.targets:
        try:
            with open(o.targets, encoding="utf-8") as f:
                hosts += [line.strip() for line in f
                          if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise UsageError(f"--targets {o.targets}: {exc.strerror}") from None
    if not hosts:
        raise UsageError("no host to trace")
    o.hosts = hosts
    if o.report:
        o.queries = o.cycles if o.cycles is not None else 10
    elif o.cycles is not None:
        raise UsageError("-c goes with --report")
    return o


def run(o: argparse.Namespace, out: Any = None) -> int:
    out = sys.stdout if out is None else out
    try:
        plan_args = dict(method=o.method or "udp", port=o.port, first_ttl=o.first_ttl,
                         max_ttl=o.max_ttl, queries=o.queries, sim=o.sim, wait=o.wait[0],
                         here=o.wait[1], near=o.wait[2],
                         pause=o.sendwait, packet_len=o.packet_len, classic=o.classic,
                         source=o.source, privileged=False if o.unprivileged else None,
                         interface=o.interface, tos=o.tos, dont_fragment=o.dont_fragment,
                         mark=o.fwmark)
        make_plan(**plan_args)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    start = time.time()
    names = Names(not o.numeric)

    def write(place: int, result: Any) -> None:
        host = o.hosts[place]
        if isinstance(result, TracerouteError):
            _failed(host, result, o, out)
            return
        lines = (report(result, numeric=o.numeric, names=names, start=start) if o.report
                 else trace_lines(result, numeric=o.numeric, extensions=o.extensions,
                                  names=names))
        out.write("\n".join(lines) + "\n")

    # Several hosts: each path printed whole, in order, as soon as it and
    # every one before it are done (the rest are traced meanwhile).
    streamed = not o.json and len(o.hosts) > 1
    in_order = _InOrder(write)
    # What the run makes (sockets, records, results) is kept until its end or
    # freed by reference counts: the collector would only walk it, again and again.
    collecting = gc.isenabled()
    gc.disable()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_S)
    try:
        outcomes = trace_each(o.hosts, in_order if streamed else None, family=o.family,
                              return_exceptions=True, **plan_args)
    finally:
        sys.setswitchinterval(switch)
        if collecting:
            gc.enable()
    failed = [exc for exc in outcomes if isinstance(exc, TracerouteError)]
    if len(outcomes) == 1 and failed and (
            o.json or not isinstance(failed[0], TracerouteSetupError)):
        raise failed[0]     # one line on stderr and nothing else, as Linux traceroute
    if o.json:
        out.write(json_document([{"target": host, "error": str(r)}
                                 if isinstance(r, TracerouteError) else r
                                 for host, r in zip(o.hosts, outcomes)]) + "\n")
    elif not streamed:
        for place, result in enumerate(outcomes):
            write(place, result)
    out.flush()
    return max((exc.exit_code for exc in failed), default=0)


class _InOrder:
    """Outcomes as they come, handed to write() in their order."""

    def __init__(self, write: Callable[[int, Any], None]) -> None:
        self.write = write
        self.waiting: Dict[int, Any] = {}
        self.next = 0

    def __call__(self, place: int, outcome: Any) -> None:
        self.waiting[place] = outcome
        while self.next in self.waiting:
            self.write(self.next, self.waiting.pop(self.next))
            self.next += 1


def _failed(host: str, exc: TracerouteError, o: argparse.Namespace, out: Any) -> None:
    """A target that could not be traced, in its place among the others:
    Linux traceroute's header first when it would have printed one (its
    sockets are bound, tuned and connected after it), then the error on
    stderr, in its words (perror's: no program name)."""
    if isinstance(exc, TracerouteSetupError):
        family = 6 if ":" in exc.address else 4
        length = probe_length(METHOD_NAMES[o.method or "udp"], family, o.packet_len)
        out.write(header_line(host, exc.address, o.max_ttl, length) + "\n")
        out.flush()
        print(str(exc), file=sys.stderr, flush=True)
        return
    out.flush()
    warn(PROG, str(exc))


def _main(argv: List[str]) -> int:
    return run(parse(argv))


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _main, argv)
