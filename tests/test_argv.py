"""pynet._argv, the argparse-free command line of the tools whose start-up
matters: it must read every command line exactly as argparse would read the
same rows, and fail with argparse's words where argparse fails."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pynet._argv import Namespace, Parser
from pynet._errors import PynetError
from pynet._cli import UsageError, add_family
from pynet.ping import _options


def _toy() -> Parser:
    p = Parser(prog="toy", usage="toy [options] HOST")
    p.add_argument("host", metavar="HOST", nargs="?")
    p.add_argument("-c", dest="count", type=int, default=0, metavar="COUNT")
    p.add_argument("-s", dest="size", type=int, default=56)
    p.add_argument("-q", dest="quiet", action="store_true")
    p.add_argument("-n", dest="numeric", action="store_true")
    p.add_argument("-j", "--json", dest="json", action="store_true")
    p.add_argument("-I", dest="interface")
    p.add_argument("--unprivileged", action="store_true")
    add_family(p)
    return p


def _outcome(parse: Any, argv: List[str]) -> Tuple[str, Any]:
    try:
        return "ok", vars(parse(argv))
    except UsageError as exc:
        return "error", str(exc)
    except PynetError as exc:   # a tool's own words from a type (iputils' -c 0)
        return "fatal", f"{exc} (exit {exc.exit_code})"
    except SystemExit as exc:  # -h
        return "exit", exc.code


TOKENS = st.sampled_from([
    "-c", "-c3", "-c=4", "-cx", "-s", "-s1", "-q", "-n", "-qn", "-nqc2", "-qj", "-j", "--json",
    "--js", "--json=1", "-I", "-Ilo", "lo", "--unprivileged", "--unp", "--un", "-4", "-6", "-46",
    "-x", "-qx", "--nope", "host", "127.0.0.1", "::1", "5", "-", "x", "-q5",
])


@settings(max_examples=600, deadline=None)
@given(st.lists(TOKENS, max_size=6))
def test_reads_every_line_as_argparse_does(argv: List[str]) -> None:
    quick = _toy()
    real = quick.argparse()
    ours = _outcome(quick.parse, argv)
    theirs = _outcome(real.parse_intermixed_args, argv)
    if ours[0] == theirs[0] == "error" and "unrecognized arguments" in str(theirs[1]):
        # argparse gathers the strays in its own order; the set is the same.
        assert str(ours[1]).startswith("unrecognized arguments: ")
        assert sorted(str(ours[1]).split()[2:]) == sorted(str(theirs[1]).split()[2:])
        return
    assert ours == theirs, argv


@pytest.mark.parametrize("argv", [
    ["-c", "1", "-q", "127.0.0.1"], ["-qc1", "127.0.0.1"], ["127.0.0.1", "-c", "2", "-i0.2"],
    ["-4", "-W", "3", "-w", "5", "-s", "100", "-t", "9", "-DnO", "host"], ["-j", "h"],
    ["-p", "ff00", "-M", "do", "-Q", "0x10", "-m", "7", "-l", "3", "-A", "-e", "99", "-3", "h"],
    ["-U", "-b", "-r", "-B", "-L", "-S", "4096", "-a", "h"], ["-V"], ["--unprivileged", "h"],
    ["-c", "0", "h"], ["-i", "inf", "h"], ["-s", "70000", "h"], ["-x", "h"], ["-4", "-6", "h"],
    ["-c"], ["h", "g"],
])
def test_ping_reads_as_argparse_would(argv: List[str]) -> None:
    quick = _options.parser()
    assert _outcome(quick.parse, argv) == _outcome(quick.argparse().parse_intermixed_args, argv)


def test_double_dash_ends_the_options() -> None:
    """After --, everything is an operand, as getopt (and so iputils) has it;
    argparse's intermixed parsing does not honour that, so no comparison."""
    assert _toy().parse(["-q", "--", "-c"]) == Namespace(
        host="-c", count=0, size=56, quiet=True, numeric=False, json=False, interface=None,
        unprivileged=False, family=None)
    with pytest.raises(UsageError, match="^unrecognized arguments: -x$"):
        _toy().parse(["--", "h", "-x"])


def test_help_is_argparses(capsys: pytest.CaptureFixture[str]) -> None:
    quick = _options.parser()
    with pytest.raises(SystemExit) as info:
        quick.parse(["-h"])
    assert info.value.code == 0
    ours = capsys.readouterr().out
    quick.argparse().print_help()
    assert ours == capsys.readouterr().out and "exit status" in ours and "-R" in ours


def test_namespace_equality() -> None:
    assert Namespace(a=1) == Namespace(a=1) != Namespace(a=2)
    assert repr(Namespace(b=2, a=1)) == "Namespace(a=1, b=2)"


@pytest.mark.parametrize("flags, kwargs", [
    (("-x",), {"action": "append"}), (("host",), {}), (("-xy",), {}),
])
def test_refuses_what_it_cannot_read(flags: Tuple[str, ...], kwargs: Any) -> None:
    with pytest.raises(ValueError, match="pynet._argv"):
        Parser(prog="p").add_argument(*flags, **kwargs)


def test_ping_loads_no_heavy_module() -> None:
    """The one-packet ping imports neither argparse (nor its gettext, locale
    and shutil) nor typing nor asyncio: start-up is a third of its run."""
    code = ("import sys; from pynet.ping._main import main; rc = main(['-c', '1', '-q', "
            "'127.0.0.1']); heavy = {'argparse', 'typing', 'asyncio', 'ssl', 'threading', "
            "'locale', 'shutil'} & set(sys.modules); print(sorted(heavy)); sys.exit(rc)")
    # The C backend's path: the pure-Python twins are references, not the product.
    env = {**os.environ, "PYNET_BACKEND": "c"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
