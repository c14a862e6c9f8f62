"""Tool packages that are also their main function.

``pynet.ping`` is both a package (``python -m pynet.ping``, ``from pynet.ping
import PingError``, ``import pynet.ping as p; p.PingError``) and the function
users call (``pynet.ping("127.0.0.1")``). A function bound to the package's
own name in ``pynet/__init__.py`` would shadow the package: ``import pynet.ping
as p`` would then bind the function, and ``p.PingError`` would fail. Renaming
the function (``pynet.ping.run``) would break the one spelling every user
tries first. So the package's module object is given a class that calls the
main function: every spelling works, and there is one object, not two.

Type checkers see the function where it matters: ``pynet/__init__.py`` binds
it under TYPE_CHECKING, so ``pynet.ping(...)`` is checked as the call it is.
"""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["make_callable"]


class _ToolModule(types.ModuleType):
    """A module that forwards calls to its main function."""

    __main_function__: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__main_function__(*args, **kwargs)


def make_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Make the module named module_name callable as function."""
    module = sys.modules[module_name]
    module.__class__ = _ToolModule
    module.__main_function__ = function  # type: ignore[attr-defined]
    # inspect.signature(pynet.ping) then shows the function's parameters.
    module.__wrapped__ = function  # type: ignore[attr-defined]
