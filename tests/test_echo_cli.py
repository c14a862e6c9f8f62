"""`python -m pynet.echo`: the startup line, bind errors and bad options as
one line with exit code 2 (never a traceback), all interfaces only with a
warning, and `pynet echo` reaching the same main."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import pytest

import pynet._backend
from support import cli, offline

from echo_helpers import EchoProcess, exchange, need_poller, no_io_uring, uring_available


def _one_line_error(done, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("pynet echo: "), done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_startup_line_and_default_host() -> None:
    # The default model is the C loop, unless the pure-Python backend is live.
    python_only = not pynet._backend.has("echo")
    what = "select" if python_only else f"native, {'uring' if uring_available() else 'epoll'}"
    with EchoProcess() as server:
        assert server.line.startswith(f"tcp echo server ({what}) listening on 127.0.0.1 port ")
        assert exchange(server.address, b"hello") == b"hello"
        code, err = server.stop()
        assert code == 0 and err == ""


def test_address_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for model in ("native", "iterative"):
            done = cli("pynet.echo", "--model", model, "--port", str(port))
            _one_line_error(done, f"cannot listen on 127.0.0.1 port {port}",
                            "address already in use")


def test_udp_address_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = cli("pynet.echo", "--proto", "udp", "--port", str(port))
        _one_line_error(done, "address already in use")


def test_cannot_assign_requested_address() -> None:
    # 192.0.2.1 (TEST-NET-1) is never an address of this host; binding it
    # fails before anything is sent.
    done = cli("pynet.echo", "--host", "192.0.2.1", "--port", "0")
    _one_line_error(done, "cannot listen on 192.0.2.1 port 0",
                    "cannot assign requested address", "192.0.2.1 is not an address of this host")


def test_reuse_after_restart() -> None:
    """SO_REUSEADDR: a server restarted on the port of one that just served
    (leaving TIME_WAIT behind) binds again at once."""
    with EchoProcess("--model", "iterative") as first:
        port = first.address[1]
        assert exchange(first.address, b"tw") == b"tw"
        assert first.stop()[0] == 0
    with EchoProcess("--model", "iterative", "--port", str(port)) as second:
        assert second.address[1] == port
        assert exchange(second.address, b"again") == b"again"
        assert second.stop()[0] == 0


@pytest.mark.parametrize("args, words", [
    (["--workers", "0"], ["workers must be >= 1"]),
    (["--model", "fork", "--workers", "2"], ["several workers need the native model"]),
    (["--proto", "udp", "--model", "thread"], ["does not serve udp"]),
    (["--port", "70000"], ["port must be in 0..65535"]),
    (["--port", "many"], ["invalid int value"]),
    (["--max-clients", "0"], ["max_clients must be >= 1"]),
    (["--backlog", "0"], ["backlog must be >= 1"]),
    (["--model", "select", "--poller", "poll"], ["needs the native model"]),
    (["--model", "native", "--poller", "kqueue"], ["poller kqueue is not available"]),
    (["--proto", "udp", "--model", "native", "--poller", "uring"],
     ["poller uring serves TCP only"]),
    (["--model", "coroutine"], ["invalid choice"]),
    (["--frobnicate"], ["unrecognized arguments"]),
])
def test_bad_options(args: list, words: list) -> None:  # type: ignore[type-arg]
    _one_line_error(cli("pynet.echo", *args), *words)


def test_uring_refused_by_seccomp() -> None:
    """Where io_uring_setup fails (here a seccomp filter, as container
    runtimes install), --poller uring is a one-line error, and the default
    serves over epoll without a word."""
    need_poller("uring")  # the filter is what must make it fail
    done = cli("pynet.echo", "--model", "native", "--poller", "uring", "--port", "0",
               prefix=no_io_uring())
    _one_line_error(done, "poller uring is not available here",
                    "io_uring is not permitted (a seccomp filter")
    with EchoProcess("--model", "native", prefix=no_io_uring()) as server:
        assert "(native, epoll)" in server.line
        assert exchange(server.address, b"fallback") == b"fallback"
        code, err = server.stop()
        assert code == 0 and err == ""


def test_entry_point_dispatch() -> None:
    done = cli("pynet", "echo", "--workers", "0")
    _one_line_error(done, "workers must be >= 1")


def test_all_interfaces_warns() -> None:
    # Inside an empty network namespace (only a loopback that is down), so
    # that listening on every interface exposes nothing.
    with EchoProcess("--host", "0.0.0.0", prefix=offline()) as server:
        assert "listening on 0.0.0.0 port" in server.line
        code, err = server.stop()
        assert code == 0
        assert "warning: listening on every interface (0.0.0.0)" in err


WITHOUT_EXTENSION = (
    "import sys; sys.modules['pynet._native'] = None; sys.modules['pynet._native_nogil'] = None\n"
    "import pynet.echo, pynet.echo.native\n"
    "if sys.argv[1:]:\n"
    "    sys.exit(pynet.echo.main(sys.argv[1:]))\n"
    "print(pynet.echo.default_model('tcp'), pynet.echo.default_model('udp'),\n"
    "      pynet.echo.native.poller_available('epoll'))\n"
    "try:\n"
    "    pynet.echo.serve(port=0, model='native')\n"
    "except pynet.echo.EchoConfigError as exc:\n"
    "    print(exc)\n"
)


def _without_extension(*args: str):  # type: ignore[no-untyped-def]
    env = dict(os.environ, PYNET_BACKEND="python")
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, "-c", WITHOUT_EXTENSION, *args], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=60)


def test_native_model_without_the_extension() -> None:
    """Where pynet._native does not load, the defaults are the Python
    models, and the native model is an EchoConfigError saying why (on the
    command line: one line, exit 2)."""
    done = _without_extension()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    first, reason = done.stdout.splitlines()
    assert first == "select iterative False"
    assert reason.startswith("the native model needs pynet's C extension, which does not load")
    _one_line_error(_without_extension("--model", "native", "--port", "0"),
                    "the native model needs pynet's C extension")


def test_only_the_backend_touches_cffi() -> None:
    """The echo and bench packages reach the C code through pynet._backend."""
    import ast
    import pathlib

    import pynet
    root = pathlib.Path(pynet.__file__).parent
    for path in [*(root / "echo").glob("*.py"), *(root / "bench").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            assert not any("_native" in name for name in names), (path, names)
