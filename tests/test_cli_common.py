"""What every command-line tool shares: one-line errors and exit codes,
name resolution with clear errors, and the `pynet COMMAND` entry point."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import List

import pytest
from support import cli, offline

from pynet import PynetError, ResolveError
from pynet._cli import ArgumentParser, UsageError, run_main
from pynet._resolve import resolve


class Refused(PynetError):
    exit_code = 7


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: List[str]) -> int:
        parser = ArgumentParser(prog="tool")
        parser.add_argument("-c", type=int)
        parser.parse_args(argv)
        return 0

    assert run_main("tool", main, ["-c", "many"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("tool: argument -c: invalid int value: 'many'")


def test_pynet_errors_carry_their_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: List[str]) -> int:
        raise Refused("connection refused")

    assert run_main("tool", main, []) == 7
    assert capsys.readouterr().err == "tool: connection refused\n"


def test_os_errors_and_interrupts(capsys: pytest.CaptureFixture[str]) -> None:
    def denied(argv: List[str]) -> int:
        raise PermissionError(1, "Operation not permitted")

    def interrupted(argv: List[str]) -> int:
        raise KeyboardInterrupt

    assert run_main("tool", denied, []) == 2
    assert capsys.readouterr().err == "tool: Operation not permitted\n"
    assert run_main("tool", interrupted, []) == 130


def test_usage_error_is_a_pynet_error() -> None:
    assert issubclass(UsageError, PynetError) and UsageError.exit_code == 2


def test_resolve_literals() -> None:
    assert resolve("127.0.0.1", 7) == [(socket.AF_INET, ("127.0.0.1", 7))]
    assert resolve("::1", 7, family=6)[0][0] == socket.AF_INET6
    with pytest.raises(ResolveError) as info:
        resolve("::1", family=4)
    assert info.value.host == "::1" and str(info.value).startswith("::1: ")


def test_resolve_failure_names_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(ResolveError, match=r"^miminet\.rus: Name or service not known$"):
        resolve("miminet.rus", 80)


def test_resolve_bad_family() -> None:
    with pytest.raises(ValueError, match="family"):
        resolve("127.0.0.1", family=5)


def test_entry_point_lists_commands() -> None:
    done = cli("pynet", "--help")
    assert done.returncode == 0
    for name in ("ping", "echo", "sntp", "tcp", "bench"):
        assert f"  {name}" in done.stdout


def test_entry_point_unknown_command() -> None:
    done = cli("pynet", "frobnicate")
    assert done.returncode == 2
    assert done.stderr.startswith("pynet: unknown command 'frobnicate'")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


@pytest.mark.parametrize("args, code, stream", [
    (["-h"], 0, "stdout"), (["--help"], 0, "stdout"), ([], 2, "stderr")])
def test_entry_point_help(args: List[str], code: int, stream: str) -> None:
    done = cli("pynet", *args)
    assert done.returncode == code
    assert getattr(done, stream).startswith("usage: pynet COMMAND")


def test_entry_point_version() -> None:
    import pynet

    for flag in ("--version", "-V"):
        done = cli("pynet", flag)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"pynet {pynet.__version__}\n", "")


def test_every_command_lists_its_exit_codes() -> None:
    from pynet.__main__ import COMMANDS

    assert len(COMMANDS) >= 5
    for name in COMMANDS:
        done = cli("pynet", name, "--help")
        assert done.returncode == 0, (name, done.stderr)
        assert "exit status" in done.stdout, name


def test_offline_prefix_cannot_resolve() -> None:
    """The prefix tests use for unresolvable names really has no network."""
    code = "import socket; socket.getaddrinfo('pypi.org', 443)"
    done = subprocess.run([*offline(), sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "gaierror" in done.stderr
