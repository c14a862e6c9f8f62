"""pynet._records.NamedTuple makes the class typing.NamedTuple makes from the
same body, without typing's cost."""

from __future__ import annotations

import pickle
import typing
from typing import Any, Optional

import pytest

from pynet._records import NamedTuple as Quick


def _pair(base: Any) -> Any:
    class Reply(base):  # type: ignore[misc, valid-type]
        """A reply."""

        seq: int
        rtt_ms: float
        source: Optional[str] = None
        ttl: int = 64

        @property
        def rtt_s(self) -> float:
            return self.rtt_ms / 1000

        def to_dict(self) -> Any:
            return self._asdict()

    return Reply


def test_same_class_as_typing() -> None:
    ours, theirs = _pair(Quick), _pair(typing.NamedTuple)
    for cls in (ours, theirs):
        r = cls(3, 1.5)
        assert r == (3, 1.5, None, 64) and r.rtt_s == 0.0015 and r.ttl == 64
        assert r._replace(ttl=5).ttl == 5 and cls._make([1, 2.0, "a", 7]).source == "a"
        assert r.to_dict() == {"seq": 3, "rtt_ms": 1.5, "source": None, "ttl": 64}
        assert isinstance(r, tuple) and not hasattr(r, "__dict__")
        with pytest.raises(AttributeError):
            r.seq = 4  # type: ignore[misc]
    assert ours._fields == theirs._fields
    assert ours._field_defaults == theirs._field_defaults
    assert ours.__doc__ == theirs.__doc__ == "A reply."
    assert typing.get_type_hints(ours) == typing.get_type_hints(theirs)
    assert ours.__qualname__ == theirs.__qualname__ and ours.__module__ == theirs.__module__


def test_pickles_like_a_module_level_class() -> None:
    from pynet._ping_loop import Counters

    value = Counters(*range(len(Counters._fields)))
    assert pickle.loads(pickle.dumps(value)) == value


@pytest.mark.parametrize("body, error", [
    ("a: int = 1\n    b: int", TypeError),
    ("_a: int", ValueError),
    ("a: int\n    def _replace(self): pass", AttributeError),
    ("a: int\n    def f(self): return super().f()", TypeError),
])
def test_refuses_what_typing_refuses(body: str, error: type) -> None:
    with pytest.raises(error):
        exec(f"class Bad(Quick):\n    {body}\n", {"Quick": Quick})
