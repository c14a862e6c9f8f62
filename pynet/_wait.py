"""Waiting with a deadline: the clients never block without one.

selectors.PollSelector rather than DefaultSelector: epoll refuses regular
files (EPERM), and the TCP client may wait on a stdin redirected from a file.
"""

from __future__ import annotations

import selectors
import time

__all__ = ["Deadline", "new_selector"]


class Deadline:
    """A point on the monotonic clock; remaining() counts down to 0."""

    __slots__ = ("end",)

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


def new_selector() -> selectors.BaseSelector:
    if hasattr(selectors, "PollSelector"):
        return selectors.PollSelector()
    return selectors.SelectSelector()  # pragma: no cover (no poll(2))
