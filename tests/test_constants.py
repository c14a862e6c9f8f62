"""Every constant that Python mirrors from the C library equals it, and
nothing outside the backend packages reaches into the compiled modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType
from typing import Dict, Optional, Tuple

import pytest

import pynet

# PN_<prefix>NAME in C is <module>.<python prefix>NAME in Python.
MIRRORS: Tuple[Tuple[str, str, str], ...] = (
    ("PN_ICMP_", "pynet._wire", "ICMP_"),
    ("PN_ICMP6_", "pynet._wire", "ICMP6_"),
    ("PN_IPV4_", "pynet._wire", "IPV4_"),
    ("PN_IPV6_", "pynet._wire", "IPV6_"),
    ("PN_MALFORMED_", "pynet._wire", "MALFORMED_"),
    ("PN_F_", "pynet._wire", "F_"),
    ("PN_IP_HEADER_", "pynet._wire", "IP_HEADER_"),
    ("PN_PING_", "pynet._ping_loop", ""),
    ("PN_FLEET_", "pynet._fleet_engine", ""),
    ("PN_TRACE_", "pynet._trace_loop", ""),
    ("PN_EXT_", "pynet._wire", "EXT_MALFORMED_"),
    ("PN_X_", "pynet._wire", "X_"),
)
# Read from the compiled module by its one user in pynet/_c, never copied.
NOT_MIRRORED = frozenset({"PN_NOGIL_MIN", "PN_LOADGEN_BUCKETS"})
NOT_MIRRORED_PREFIXES = ("PN_SUM16_", "PN_POLLER_")


def _mirror(name: str) -> Optional[Tuple[str, str]]:
    """(module, attribute) of the Python mirror of C constant name; the
    longest matching prefix wins (PN_ICMP6_ before PN_ICMP_)."""
    best: Optional[Tuple[str, str, str]] = None
    for c_prefix, module, py_prefix in MIRRORS:
        if name.startswith(c_prefix) and (best is None or len(c_prefix) > len(best[0])):
            best = (c_prefix, module, py_prefix)
    if best is None:
        return None
    c_prefix, module, py_prefix = best
    return module, py_prefix + name[len(c_prefix):]


def _constants(lib: object) -> Dict[str, int]:
    return {n: getattr(lib, n) for n in dir(lib) if n.startswith("PN_")}


def test_every_mirrored_constant_equals_c(c_backend: ModuleType) -> None:
    from pynet._c._ffi import lib, lib_nogil

    constants = {**_constants(lib), **_constants(lib_nogil)}
    assert len(constants) > 40
    checked = 0
    for name, value in sorted(constants.items()):
        if name in NOT_MIRRORED or name.startswith(NOT_MIRRORED_PREFIXES):
            continue
        mirror = _mirror(name)
        assert mirror is not None, f"{name}: no rule says where Python mirrors it"
        module = importlib.import_module(mirror[0])
        assert getattr(module, mirror[1], None) == value, f"{name} != {mirror[0]}.{mirror[1]}"
        checked += 1
    assert checked > 40


def _imports(tree: ast.AST, package: str) -> set[str]:
    """Every module a file imports, relative imports made absolute."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_c_backend_imports_the_compiled_modules() -> None:
    root = Path(pynet.__file__).parent
    offenders = []
    files = sorted(root.rglob("*.py"))
    assert len(files) > 30
    for path in files:
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        if package == "pynet._c" or package.startswith("pynet._c."):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for name in _imports(tree, package.removesuffix(".__init__")):
            if name.startswith(("pynet._native", "_native")):
                offenders.append(f"{module} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("name", ["PN_ICMP6_ECHO_REPLY", "PN_ICMP_ECHO_REPLY", "PN_F_TTL"])
def test_prefix_rule(name: str) -> None:
    mirror = _mirror(name)
    assert mirror is not None and mirror[0] == "pynet._wire"
    assert mirror[1] == name[3:]
