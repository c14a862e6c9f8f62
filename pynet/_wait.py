"""Waiting with a deadline: the clients never block without one.

selectors.PollSelector rather than DefaultSelector: epoll refuses regular
files (EPERM), and the TCP client may wait on a stdin redirected from a file.
"""

from __future__ import annotations

import selectors
import time
from typing import Optional

__all__ = ["Deadline", "earliest", "new_selector"]


class Deadline:
    """A point on the monotonic clock, ``seconds`` after it was made;
    remaining() counts down to 0."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


def earliest(deadline: Deadline, limit: Optional[Deadline]) -> Deadline:
    """deadline, or limit when there is one and it comes first."""
    if limit is not None and limit.end < deadline.end:
        return limit
    return deadline


def new_selector() -> selectors.BaseSelector:
    if hasattr(selectors, "PollSelector"):
        return selectors.PollSelector()
    return selectors.SelectSelector()  # pragma: no cover (no poll(2))
