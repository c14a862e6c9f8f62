"""fleet: many targets at once, one engine and one socket per address family."""

from __future__ import annotations

__all__: list[str] = []
