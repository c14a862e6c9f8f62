"""fping: many targets at once, with fping's options, lines and exit codes.

`python -m pynet.fping [options] [targets...]` (or `pynet fping`) runs over
pynet's fleet engine: no ceiling on targets in flight, --rate PPS to cap
the send rate, and --json for NDJSON (one object per target, then one
{"summary": ...}). The library face is pynet.fleet.
"""

from __future__ import annotations

# typing loads only for mypy (see pynet/_records.py): `pynet fping` starts sooner.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    """The command line; returns the exit code (fping's: 0 all alive, 1 some
    unreachable or a bad option, 2 an unknown host, 4 a system call failed)."""
    from ._main import main as run_command

    return run_command(argv)
