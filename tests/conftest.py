"""Shared fixtures: the per-backend fixture, Hypothesis profiles, and the rule
that a missing prerequisite skips locally but fails under PYNET_REQUIRE_ALL=1
(which .ci/run sets after installing everything)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

import pynet
from pynet import _backend

from support import REQUIRE_ALL, need

REPO = Path(__file__).resolve().parent.parent

settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if REQUIRE_ALL else "dev"))


def pytest_report_header(config: pytest.Config) -> str:
    return f"pynet {pynet.__version__} from {Path(pynet.__file__).parent}, backend={pynet.backend}"


def pytest_sessionstart(session: pytest.Session) -> None:
    # The suite tests the installed package: a stray import of the source
    # tree (which has no compiled modules) would quietly test Python only.
    if REQUIRE_ALL and Path(pynet.__file__).resolve().parent == REPO / "pynet":
        raise pytest.UsageError("pynet was imported from the source tree, not the installed package")


def load_backend(name: str) -> ModuleType:
    try:
        return _backend.load(name)
    except ImportError as exc:
        need(False, f"backend {name!r} unavailable: {exc}")
        raise


@pytest.fixture(params=_backend.BACKENDS)
def backend(request: pytest.FixtureRequest) -> ModuleType:
    """Each backend in turn: one test body, run for C and for Python."""
    return load_backend(request.param)


@pytest.fixture(scope="session")
def c_backend() -> ModuleType:
    return load_backend("c")


@pytest.fixture(scope="session")
def py_backend() -> ModuleType:
    return load_backend("python")
