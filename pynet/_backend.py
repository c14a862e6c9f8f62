"""Which implementation of the fast paths is live: C or pure Python.

PYNET_BACKEND picks it once, at import:
  auto    (default) the C extension when it imports, else Python with a warning
  c       the C extension, or ImportError
  python  the pure-Python reference
Any other value is an ImportError. Both backends stay importable side by side
through load(), which the equivalence tests use.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

__all__ = ["BACKENDS", "active", "load", "name"]

BACKENDS = ("c", "python")
_MODULES = {"c": "pynet._c", "python": "pynet._reference"}
_POLICIES = ("auto",) + BACKENDS


def load(backend: str) -> ModuleType:
    """The backend module for "c" or "python" (ImportError if unavailable)."""
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
