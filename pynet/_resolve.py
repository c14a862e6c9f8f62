"""Name resolution with clear errors, shared by every client."""

from __future__ import annotations

import socket
from typing import List, Optional, Tuple, Union

from ._errors import ResolveError

__all__ = ["Address", "family_of", "resolve", "resolve_async"]

SockAddr = Union[Tuple[str, int], Tuple[str, int, int, int]]
Address = Tuple[int, SockAddr]  # (socket.AF_INET or AF_INET6, sockaddr)

_FAMILIES = {None: socket.AF_UNSPEC, 0: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}


def family_of(family: Optional[int]) -> int:
    """4, 6 or None (either) as an AF_* constant."""
    try:
        return _FAMILIES[family]
    except KeyError:
        raise ValueError(f"family must be 4, 6 or None, got {family!r}") from None


def _addresses(host: str, infos: list) -> List[Address]:  # type: ignore[type-arg]
    seen = set()
    out: List[Address] = []
    for af, _type, _proto, _name, sockaddr in infos:
        key = (af, sockaddr)
        if key not in seen:
            seen.add(key)
            out.append((af, sockaddr))
    if not out:
        raise ResolveError(host, "no address")
    return out


def _reason(exc: socket.gaierror) -> str:
    return exc.strerror or str(exc)


def resolve(host: str, port: int = 0, *, family: Optional[int] = None,
            socktype: int = socket.SOCK_STREAM) -> List[Address]:
    """Every address host resolves to, in the resolver's order, without
    duplicates. Raises ResolveError naming the host when there is none."""
    try:
        infos = socket.getaddrinfo(host, port, family_of(family), socktype)
    except socket.gaierror as exc:
        raise ResolveError(host, _reason(exc)) from None
    except UnicodeError:
        raise ResolveError(host, "not a valid host name") from None
    return _addresses(host, infos)


async def resolve_async(host: str, port: int = 0, *, family: Optional[int] = None,
                        socktype: int = socket.SOCK_STREAM) -> List[Address]:
    """resolve(), without blocking the event loop."""
    import asyncio  # here: it costs every command's start-up 30 ms

    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=family_of(family), type=socktype)
    except socket.gaierror as exc:
        raise ResolveError(host, _reason(exc)) from None
    except UnicodeError:
        raise ResolveError(host, "not a valid host name") from None
    return _addresses(host, infos)
