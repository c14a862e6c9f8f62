"""A package's attributes loaded on first use (PEP 562), so that importing
the package pays only for what its caller touches: `import pynet` and
`pynet fping` never load asyncio or the tools they do not run."""

from __future__ import annotations

import importlib

# typing loads only for mypy: `pynet COMMAND` start-up counts (see pynet/_records.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Tuple

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, namespace: Dict[str, Any], table: Dict[str, str]
                    ) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """The module-level __getattr__ and __dir__ of package, whose globals
    are namespace. table maps a name to "module:attribute" (relative to
    package), or to "module" for the module itself."""

    def __getattr__(name: str) -> Any:
        try:
            target = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name, package)
        value = getattr(module, attribute) if attribute else module
        namespace[name] = value  # the next look-up is a plain attribute
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
