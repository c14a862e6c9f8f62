"""`python -m pynet.bench`: benchmark runners, each putting pynet beside its
peers in one run. ``echo``: every echo server with the C load generator
(pynet.bench.echo); ``fleet``: the fleet engine beside fping and icmplib
(pynet.bench.fleet); ``exporter``: the exporter beside blackbox_exporter
(pynet.bench.exporter); ``sntp``: the SNTP client beside ntplib against a
real chronyd on loopback (pynet.bench.sntp)."""

from __future__ import annotations

import importlib
from typing import List, Optional

__all__ = ["main"]

BENCHMARKS = ("echo", "fleet", "exporter", "sntp")
USAGE = """\
usage: pynet bench echo [--quick] [--duration S] [--warmup S] [--servers A,B] [--rounds N]
                        [--idle N] [--json FILE] [--chart FILE]
       pynet bench fleet [--quick] [--loop-seconds S] [--json FILE] [--chart FILE]
       pynet bench exporter [--quick] [--probes N] [--rounds N] [--targets N]
                            [--duration S] [--json FILE]
       pynet bench sntp [--quick] [--rounds N] [--count N] [--chronyd PATH] [--json FILE]
(pynet bench NAME --help says more)
exit status: 0 every row measured, 1 a row failed, 2 bad usage or no C extension."""


def _main(argv: List[str]) -> int:
    from .._cli import UsageError
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {argv[0]!r}; the ones there are: "
                         f"{', '.join(BENCHMARKS)}")
    runner = importlib.import_module(f".{argv[0]}", __name__)
    return int(runner.main(argv[1:]))


def main(argv: Optional[List[str]] = None) -> int:
    """`pynet bench BENCHMARK ARGS...` (the same as `python -m pynet.bench`)."""
    from .._cli import run_main
    return run_main("pynet bench", _main, argv)
