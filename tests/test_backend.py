"""PYNET_BACKEND: the policy that picks C or Python once, at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pynet
from pynet import _backend


def run_python(code: str, tmp_path: Path, backend: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYNET_BACKEND", None)
    if backend is not None:
        env["PYNET_BACKEND"] = backend
    # cwd away from the source tree, so the installed package is imported
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("policy, expected", [("c", "c"), ("python", "python"), ("auto", "c"),
                                              (None, "c"), ("", "c"), (" Python ", "python")])
def test_policies(tmp_path: Path, c_backend: object, policy: str | None, expected: str) -> None:
    done = run_python("import pynet; print(pynet.backend)", tmp_path, policy)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    assert done.stderr == ""


def test_unknown_policy_is_an_import_error(tmp_path: Path) -> None:
    done = run_python("import pynet", tmp_path, "fortran")
    assert done.returncode == 1
    assert "ImportError: PYNET_BACKEND='fortran' is not a backend policy" in done.stderr


MISSING_EXTENSION = "import sys; sys.modules['pynet._native'] = None; "


def test_auto_falls_back_with_a_warning(tmp_path: Path) -> None:
    done = run_python(MISSING_EXTENSION + "import pynet; print(pynet.backend); "
                      "print(hex(pynet.checksum(bytes.fromhex('0001f203f4f5f6f7'))))", tmp_path, "auto")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["python", "0x220d"]
    assert "RuntimeWarning: pynet: the C extension is unavailable" in done.stderr


def test_c_policy_without_extension_fails(tmp_path: Path) -> None:
    code = MISSING_EXTENSION + "\ntry:\n    import pynet\nexcept ImportError as e:\n    print('refused:', e)"
    done = run_python(code, tmp_path, "c")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: import of pynet._native halted")


def test_both_backends_side_by_side(c_backend: object, py_backend: object) -> None:
    assert _backend.load("c").NAME == "c"
    assert _backend.load("python").NAME == "python"
    assert pynet.backend in _backend.BACKENDS
    with pytest.raises(ImportError, match="unknown pynet backend"):
        _backend.load("rust")


def test_live_backend_matches_environment() -> None:
    wanted = os.environ.get("PYNET_BACKEND", "auto").strip().lower()
    assert pynet.backend == ("c" if wanted in ("auto", "") else wanted)


def test_backends_export_the_same_names(c_backend: object, py_backend: object) -> None:
    assert sorted(c_backend.__all__) == sorted(py_backend.__all__)  # type: ignore[attr-defined]
    for name in c_backend.__all__:  # type: ignore[attr-defined]
        assert hasattr(c_backend, name) and hasattr(py_backend, name)


def test_sanitized_build_is_the_one_loaded(c_backend: object) -> None:
    """tools/check's sanitizer run must exercise the sanitized modules."""
    from pynet import _native, _native_nogil
    expect = os.environ.get("PYNET_EXPECT_SANITIZED") == "1"
    for module in (_native, _native_nogil):
        with open(module.__file__, "rb") as f:  # type: ignore[arg-type]
            instrumented = b"__asan_report" in f.read()
        assert instrumented == expect, module.__file__
