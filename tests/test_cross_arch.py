"""The C core on architectures and systems this machine is not. Cross-compiled
and run under qemu-user: aarch64 runs the NEON kernel (chosen by default
there), s390x is a big-endian host (the byte-swapping paths go the other way).
Compiled only: every header on its own, and every source as for a BSD or
macOS host, whose branches (kqueue, no MSG_NOSIGNAL, no mmsg) Linux never
builds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import outside_env, program

HERE = Path(__file__).resolve().parent
CSRC = HERE.parent / "csrc"

TARGETS = {
    # target: (compiler, emulator or None, the summing kernel chosen by default)
    "native": ("cc", None, None),
    "aarch64": ("aarch64-linux-gnu-gcc", "qemu-aarch64", 3),
    "s390x": ("s390x-linux-gnu-gcc", "qemu-s390x", 0),
}


@pytest.mark.parametrize("target", list(TARGETS))
def test_core_on(target: str, tmp_path: Path) -> None:
    if not CSRC.is_dir():
        pytest.fail(f"the C sources are not at {CSRC}: run the tests from the source tree")
    compiler, emulator, default = TARGETS[target]
    binary = tmp_path / f"core_check_{target}"
    sources = [str(HERE / "c" / "core_check.c"), *map(str, sorted(CSRC.glob("*.c")))]
    build = subprocess.run([program(compiler), "-O2", "-Wall", "-Wextra", "-Werror", "-static",
                            f"-I{CSRC}", *sources, "-o", str(binary)],
                           capture_output=True, text=True, env=outside_env(), timeout=300)
    assert build.returncode == 0, build.stderr
    command = [program(emulator), str(binary)] if emulator else [str(binary)]
    done = subprocess.run(command, capture_output=True, text=True, env=outside_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "all ok"
    assert {"ok vectors", "ok icmp", "ok sum16 impl=0"} <= set(lines)
    if default is not None:
        assert lines[0] == f"default impl={default}"
        assert f"ok sum16 impl={default}" in lines


HEADERS = sorted(p.name for p in CSRC.glob("*.h"))


@pytest.mark.parametrize("bsd_send", [False, True], ids=["linux", "no-MSG_NOSIGNAL"])
@pytest.mark.parametrize("header", HEADERS)
def test_header_stands_alone(header: str, bsd_send: bool, tmp_path: Path) -> None:
    """Every header compiles on its own and twice over (its include guard),
    warning-free, including the branch for systems without MSG_NOSIGNAL
    (BSD, macOS), which a Linux build of the sources never sees."""
    unit = tmp_path / "unit.c"
    unit.write_text("#include <sys/socket.h>\n"
                    + ("#undef MSG_NOSIGNAL\n" if bsd_send else "")
                    + f'#include "{header}"\n#include "{header}"\n')
    build = subprocess.run([program("cc"), "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                            f"-I{CSRC}", str(unit)],
                           capture_output=True, text=True, env=outside_env(), timeout=60)
    assert build.returncode == 0, build.stderr


@pytest.mark.parametrize("source", sorted(p.name for p in CSRC.glob("*.c")))
def test_compiles_for_bsd(source: str) -> None:
    """The branches a Linux build never compiles (kqueue, no recvmmsg or
    sendmmsg, no Linux ping socket options) still compile, warning-free:
    __linux__ undefined, and a <sys/event.h> declared as kevent(2) documents
    it. A compile check only; kqueue cannot run here."""
    shim = HERE / "c" / "bsd"
    build = subprocess.run([program("cc"), "-fsyntax-only", "-U__linux__", "-U__gnu_linux__",
                            "-Wall", "-Wextra", "-Werror", f"-I{shim}", f"-I{CSRC}",
                            str(CSRC / source)],
                           capture_output=True, text=True, env=outside_env(), timeout=60)
    assert build.returncode == 0, build.stderr


def test_bsd_build_takes_the_kqueue_poller() -> None:
    """The check above reaches the kqueue backend: with the shim, the poller
    header sees <sys/event.h> and poll is not the default."""
    probe = subprocess.run(
        [program("cc"), "-E", "-dM", "-U__linux__", "-U__gnu_linux__",
         f"-I{HERE / 'c' / 'bsd'}", f"-I{CSRC}", str(CSRC / "poller_internal.h")],
        capture_output=True, text=True, env=outside_env(), timeout=60)
    assert probe.returncode == 0, probe.stderr
    macros = {line.split()[1] for line in probe.stdout.splitlines() if line.startswith("#define ")}
    assert "PN__HAVE_KQUEUE" in macros and "PN__HAVE_EPOLL" not in macros
