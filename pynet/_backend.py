"""The one seam: which implementation of the fast paths is live, C or pure
Python, and what each one has.

PYNET_BACKEND picks it once, at import:
  auto    (default) the C extension when it imports, else Python with a warning
  c       the C extension, or ImportError
  python  the pure-Python reference
Any other value is an ImportError. Both backends stay importable side by side
through load(), which the equivalence tests use.

A backend is a package (pynet._c, pynet._reference) with one submodule per
fast path ("checksum", "icmp", "ping", ...), each the same interface in both,
and FEATURES: the fast paths it has, plus "nogil" when its long calls run
without the GIL (zstandard's backend_features is the model). Code outside the
backend packages reaches a fast path through module() or the typed accessors
below, never by importing pynet._native* itself.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

# typing loads only for mypy: `pynet ping` pays for no more than it runs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, FrozenSet, List, Optional, Protocol, Type

    from ._ping_loop import Counters, LoopConfig, Record

__all__ = ["BACKENDS", "active", "features", "has", "load", "module", "name",
           "ping_loop"]

BACKENDS = ("c", "python")
_MODULES = {"c": "pynet._c", "python": "pynet._reference"}
_POLICIES = ("auto",) + BACKENDS


def load(backend: str) -> ModuleType:
    """The backend package for "c" or "python" (ImportError if unavailable)."""
    if backend not in _MODULES:
        raise ImportError(f"unknown pynet backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return importlib.import_module(_MODULES[backend])


def _choose(policy: str) -> ModuleType:
    if policy not in _POLICIES:
        raise ImportError(
            f"PYNET_BACKEND={policy!r} is not a backend policy; use one of {', '.join(_POLICIES)}")
    if policy != "auto":
        return load(policy)
    try:
        return load("c")
    except ImportError as exc:
        warnings.warn(
            f"pynet: the C extension is unavailable ({exc}); using the pure-Python backend",
            RuntimeWarning, stacklevel=3)
        return load("python")


active: ModuleType = _choose(os.environ.get("PYNET_BACKEND", "auto").strip().lower() or "auto")
name: str = active.NAME
features: FrozenSet[str] = active.FEATURES


def _package(backend: Optional[str]) -> ModuleType:
    return active if backend is None else load(backend)


def has(feature: str, backend: Optional[str] = None) -> bool:
    """Whether the live backend (or the one named) has feature."""
    return feature in _package(backend).FEATURES


def module(component: str, backend: Optional[str] = None) -> ModuleType:
    """The submodule of the live backend (or of the one named) that implements
    component. ImportError naming the backend when it lacks it."""
    package = _package(backend)
    if component not in package.FEATURES:
        raise ImportError(f"the {package.NAME} backend of pynet has no {component}")
    return importlib.import_module(f"{package.__name__}.{component}")


if TYPE_CHECKING:
    class PingLoop(Protocol):
        """The one-target ping loop (csrc/ping.c, pynet/_reference/ping.py)."""

        def __init__(self, config: LoopConfig) -> None: ...

        def run(self, flush_ns: int) -> List[Record]: ...

        def run_raw(self, flush_ns: int) -> Any:
            """run(), with the records left packed: a worker thread hands them
            over as they are, and the thread that reads them unpacks them."""

        @staticmethod
        def records(raw: Any) -> List[Record]: ...

        def wrong_payload(self) -> bytes:
            """The payload of the batch's reply whose data differed (a batch
            ends with one), as it came; b"" when none did."""

        def counters(self) -> Counters: ...

        def close(self) -> None: ...


def ping_loop(backend: Optional[str] = None) -> Type[PingLoop]:
    """The ping loop class of the live backend, or of the one named."""
    loop: Type[PingLoop] = module("ping", backend).Loop
    return loop
