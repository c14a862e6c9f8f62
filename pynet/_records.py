"""typing.NamedTuple's class syntax at collections.namedtuple's price.

`pynet ping -c 1` should cost little more than Python's own start-up, and
typing.NamedTuple checks every annotation of every record class at import
(half a millisecond a class; the ping path defines a dozen) besides loading
typing itself. A module writes

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from .._records import NamedTuple

so that mypy sees typing's NamedTuple and the interpreter gets this one: the
same class body (fields with annotations and defaults, methods, properties,
docstring) makes the same tuple subclass, without the checks.
tests/test_records.py holds it to typing's behaviour.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple

__all__ = ["NamedTuple"]

# Set by namedtuple itself, or by the class statement, and not to be copied.
_NOT_COPIED = frozenset({"__module__", "__qualname__", "__annotations__", "__slots__",
                         "__orig_bases__", "__dict__", "__weakref__"})


class _Maker(type):
    def __new__(mcls, name: str, bases: Tuple[type, ...], namespace: Dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, name, bases, namespace)
        if bases != (NamedTuple,):
            raise TypeError("a record class derives from NamedTuple alone")
        if "__classcell__" in namespace:
            raise TypeError(f"{name}: super() is not supported in a record class")
        annotations = namespace.get("__annotations__", {})
        fields = tuple(annotations)
        for field in fields:
            if field.startswith("_"):
                raise ValueError(f"{name}: field names cannot start with an underscore: "
                                 f"{field!r}")
        defaults = [namespace[f] for f in fields if f in namespace]
        if defaults and any(f not in namespace for f in fields[len(fields) - len(defaults):]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        cls = namedtuple(name, fields, defaults=defaults or None,  # type: ignore[misc]
                         module=namespace.get("__module__"))
        cls.__qualname__ = namespace.get("__qualname__", name)
        cls.__annotations__ = dict(annotations)
        for key, value in namespace.items():
            if key in fields or key in _NOT_COPIED:
                continue
            if key in ("_make", "_replace", "_asdict", "_fields", "_field_defaults", "__new__",
                       "__init__", "__getnewargs__"):
                raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
            setattr(cls, key, value)
        return cls


class NamedTuple(metaclass=_Maker):
    """Derive a record class from this one as from typing.NamedTuple."""

    __slots__ = ()
