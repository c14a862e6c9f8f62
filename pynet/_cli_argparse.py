"""argparse, but a usage error raises UsageError (one line, exit 2) instead of
printing the usage block and exiting. Reached as pynet._cli.ArgumentParser."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

from ._errors import UsageError

__all__ = ["ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)
