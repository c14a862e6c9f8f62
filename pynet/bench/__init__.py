"""`python -m pynet.bench`: benchmark runners. ``echo`` measures every echo
server side by side with the C load generator (see pynet.bench.echo)."""

from __future__ import annotations

from typing import List, Optional

__all__ = ["main"]

USAGE = """\
usage: pynet bench echo [--quick] [--duration S] [--warmup S] [--servers A,B] [--rounds N]
                        [--idle N] [--json FILE] [--chart FILE]
(pynet bench echo --help says more)
exit status: 0 every row measured, 1 a row failed, 2 bad usage or no C extension."""


def _main(argv: List[str]) -> int:
    from .._cli import UsageError
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] != "echo":
        raise UsageError(f"unknown benchmark {argv[0]!r}; the one there is: echo")
    from .echo import main as echo_main
    return echo_main(argv[1:])


def main(argv: Optional[List[str]] = None) -> int:
    """`pynet bench BENCHMARK ARGS...` (the same as `python -m pynet.bench`)."""
    from .._cli import run_main
    return run_main("pynet bench", _main, argv)
