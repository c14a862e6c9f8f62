"""A command line parsed without importing argparse, for the tools whose
start-up time matters (ping: a one-packet ping should cost little more than
Python itself, and argparse with gettext, locale and shutil is a third of it).

`Parser` takes the subset of argparse's `add_argument` that such a tool uses
(short options that may be bundled, `-c1` or `-c 1`; long options, also as
unambiguous prefixes and `--opt=value`; one positional, nargs "?" or "*",
anywhere on the line; `--`; mutually exclusive groups) and fails with argparse's words.
`-h`/`--help` builds the real argparse parser from the same rows, so the help
text is argparse's and no option is declared twice. tests/test_argv.py checks
that both parsers agree on every command line Hypothesis can think of.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, NoReturn, Optional, Tuple

    from ._cli_argparse import ArgumentParser

__all__ = ["Parser"]

_SUPPRESS = object()


class _Row:
    __slots__ = ("flags", "kwargs", "dest", "action", "type", "const", "default", "group",
                 "takes_value", "positional", "nargs")

    def __init__(self, flags: Tuple[str, ...], kwargs: Dict[str, Any],
                 group: Optional[_Group]) -> None:
        self.flags = flags
        self.kwargs = kwargs
        self.positional = not flags[0].startswith("-")
        self.action = kwargs.get("action", "store")
        if self.action not in ("store", "store_true", "store_const"):
            raise ValueError(f"pynet._argv: unsupported action {self.action!r}")
        self.nargs = kwargs.get("nargs")
        if self.positional:
            if self.nargs not in ("?", "*"):
                raise ValueError("pynet._argv: a positional takes nargs '?' or '*'")
            self.dest = flags[0]
        else:
            long = [f for f in flags if f.startswith("--")]
            self.dest = kwargs.get("dest") or (long[0] if long else flags[0]).lstrip("-") \
                .replace("-", "_")
        self.type: Optional[Callable[[str], Any]] = kwargs.get("type")
        self.const = kwargs.get("const")
        self.takes_value = self.action == "store"
        self.default = kwargs.get("default", False if self.action == "store_true" else
                                  [] if self.nargs == "*" else None)
        self.group = group

    def name(self) -> str:
        """How argparse names the argument in its messages."""
        return self.kwargs.get("metavar") or self.dest if self.positional else "/".join(self.flags)


class _Group:
    def __init__(self, parser: Parser) -> None:
        self.parser = parser
        self.rows: List[_Row] = []

    def add_argument(self, *flags: str, **kwargs: Any) -> None:
        self.rows.append(self.parser._add(flags, kwargs, self))


class Namespace:
    """The parsed options as attributes, like argparse.Namespace."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespace) and vars(self) == vars(other)

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in sorted(vars(self).items()))})"


class Parser:
    """argparse's add_argument surface; parse() raises UsageError with
    argparse's message for a bad command line."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._rows: List[_Row] = []
        self._groups: List[_Group] = []
        self._short: Dict[str, _Row] = {}
        self._long: Dict[str, _Row] = {}
        self._positional: Optional[_Row] = None

    def add_argument(self, *flags: str, **kwargs: Any) -> None:
        self._add(flags, kwargs, None)

    def add_mutually_exclusive_group(self) -> _Group:
        group = _Group(self)
        self._groups.append(group)
        return group

    def _add(self, flags: Tuple[str, ...], kwargs: Dict[str, Any],
             group: Optional[_Group]) -> _Row:
        row = _Row(flags, kwargs, group)
        self._rows.append(row)
        if row.positional:
            if self._positional is not None:
                raise ValueError("pynet._argv: only one positional is supported")
            self._positional = row
        for flag in flags if not row.positional else ():
            if flag.startswith("--"):
                self._long[flag] = row
            elif len(flag) == 2:
                self._short[flag[1]] = row
            else:
                raise ValueError(f"pynet._argv: unsupported option {flag!r}")
        return row

    # ---- help: argparse's own, from the same rows ----

    def argparse(self) -> ArgumentParser:
        """The same command line as an argparse parser (for --help, and for
        the test that the two agree)."""
        from ._cli_argparse import ArgumentParser

        real = ArgumentParser(**self._kwargs)
        groups = {id(g): real.add_mutually_exclusive_group() for g in self._groups}
        for row in self._rows:
            (groups[id(row.group)] if row.group else real).add_argument(*row.flags, **row.kwargs)
        return real

    def _help(self) -> NoReturn:
        self.argparse().print_help()
        raise SystemExit(0)

    # ---- parsing ----

    def _error(self, message: str) -> NoReturn:
        from ._errors import UsageError

        raise UsageError(message)

    def _convert(self, row: _Row, text: str) -> Any:
        if row.type is None:
            return text
        try:
            return row.type(text)
        except (TypeError, ValueError):
            kind = getattr(row.type, "__name__", repr(row.type))
            self._error(f"argument {row.name()}: invalid {kind} value: {text!r}")
        except Exception as exc:
            argparse = sys.modules.get("argparse")
            if argparse is not None and isinstance(exc, argparse.ArgumentTypeError):
                self._error(f"argument {row.name()}: {exc}")
            raise

    def _long_row(self, flag: str) -> Optional[_Row]:
        if flag in self._long:
            return self._long[flag]
        matches = [f for f in self._long if f.startswith(flag)]
        if len(matches) > 1:
            self._error(f"ambiguous option: {flag} could match {', '.join(matches)}")
        return self._long[matches[0]] if matches else None

    def parse(self, argv: List[str]) -> Namespace:
        values: Dict[str, Any] = {}
        for each in self._rows:
            values.setdefault(each.dest, each.default)
        seen: Dict[int, _Row] = {}  # group id -> the row that used it
        extras: List[str] = []
        positional: List[str] = []
        required: Optional[_Row] = None

        def store(row: _Row, value: Any) -> None:
            if row.group is not None:
                other = seen.get(id(row.group))
                if other is not None and other is not row:
                    self._error(f"argument {row.name()}: not allowed with argument {other.name()}")
                seen[id(row.group)] = row
            values[row.dest] = value

        def flagged(row: _Row) -> Any:
            return True if row.action == "store_true" else row.const

        args = list(argv)
        row: Optional[_Row]
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if required is not None:
                if arg.startswith("-") and arg != "-" and not _is_negative_number(arg, self):
                    self._error(f"argument {required.name()}: expected one argument")
                store(required, self._convert(required, arg))
                required = None
                continue
            if arg == "--":
                positional.extend(args[i:])
                break
            if arg.startswith("--"):
                flag, eq, value = arg.partition("=")
                if flag == "--help" or (len(flag) > 2 and "--help".startswith(flag)
                                        and not any(f.startswith(flag) for f in self._long)):
                    self._help()
                row = self._long_row(flag)
                if row is None:
                    extras.append(arg)
                elif row.takes_value:
                    if eq:
                        store(row, self._convert(row, value))
                    else:
                        required = row
                elif eq:
                    self._error(f"argument {row.name()}: ignored explicit argument {value!r}")
                else:
                    store(row, flagged(row))
                continue
            if arg.startswith("-") and len(arg) > 1 and not _is_negative_number(arg, self):
                if arg[1] == "h":
                    self._help()
                flag, eq, value = arg.partition("=")
                if len(flag) == 2 and flag[1] in self._short:
                    # -c=4: the value after '=', as argparse reads it
                    row = self._short[flag[1]]
                    explicit: Optional[str] = value if eq else None
                else:
                    row = self._short.get(arg[1])
                    explicit = arg[2:] or None
                if row is None:
                    extras.append(arg)
                    continue
                # A bundle, -qnc1: flags until one takes the rest as its value.
                while True:
                    if row.takes_value:
                        if explicit is None:
                            required = row
                        else:
                            store(row, self._convert(row, explicit))
                        break
                    store(row, flagged(row))
                    if explicit is None:
                        break
                    if explicit[0] == "h":
                        self._help()
                    following = self._short.get(explicit[0])
                    if following is None:
                        self._error(f"argument {row.name()}: ignored explicit argument "
                                    f"{explicit!r}")
                    row, explicit = following, explicit[1:] or None
                continue
            positional.append(arg)
        if required is not None:
            self._error(f"argument {required.name()}: expected one argument")
        row = self._positional
        if row is not None and row.nargs == "*":
            values[row.dest] = [self._convert(row, text) for text in positional]
            positional = []
        elif row is not None and positional:
            values[row.dest] = self._convert(row, positional.pop(0))
        extras.extend(positional)
        if extras:
            self._error(f"unrecognized arguments: {' '.join(extras)}")
        return Namespace(**values)


def _is_negative_number(arg: str, parser: Parser) -> bool:
    """argparse reads '-5' as a value unless some option looks like a
    negative number (ping has -3), in which case it is an option."""
    if any(flag.isdigit() for flag in parser._short):
        return False
    whole, dot, fraction = arg[1:].partition(".")
    digits = "0123456789"
    if dot:  # argparse's ^-\d*\.\d+$
        return bool(fraction) and all(c in digits for c in whole + fraction)
    return bool(whole) and all(c in digits for c in whole)  # ^-\d+$
