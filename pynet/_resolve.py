"""Name resolution with clear errors, shared by every client.

asyncio is imported inside resolve_async only: importing it at module level
pulls in ssl and costs every command-line tool about 25 ms of start-up.
"""

from __future__ import annotations

import socket

from ._checks import family as checked_family
from ._errors import ResolveError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple, TypeAlias, Union

__all__ = ["Address", "resolve", "resolve_async", "version_of"]

SockAddr: TypeAlias = "Union[Tuple[str, int], Tuple[str, int, int, int]]"
Address: TypeAlias = "Tuple[int, SockAddr]"  # (socket.AF_INET or AF_INET6, sockaddr)


def version_of(af: int) -> int:
    """socket.AF_INET or AF_INET6 as the 4 or 6 that results report."""
    return 6 if af == socket.AF_INET6 else 4


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


def _literal(host: str, port: int, af: int) -> Optional[Address]:
    """An address literal of the family asked for, as getaddrinfo would give
    it back, without asking it: getaddrinfo first encodes the name with the
    idna codec, whose import costs every command's start-up 2 ms. Anything
    else (names, scoped or short forms like 127.1) goes to getaddrinfo."""
    if not isinstance(host, str) or "%" in host:
        return None
    for family in (socket.AF_INET, socket.AF_INET6):
        if af not in (socket.AF_UNSPEC, family):
            continue
        try:
            packed = socket.inet_pton(family, host)
        except OSError:
            continue
        text = socket.inet_ntop(family, packed)
        if family == socket.AF_INET:
            return family, (text, port)
        return family, (text, port, 0, 0)
    return None


def resolve(host: str, port: int = 0, *, family: Optional[int] = None,
            socktype: int = socket.SOCK_STREAM) -> List[Address]:
    """Every address host resolves to, in the resolver's order, without
    duplicates. family: 4, 6 or None (either); anything else is a
    ValueError. Raises ResolveError naming the host when there is none."""
    af = checked_family(family)
    literal = _literal(host, port, af)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, af, socktype)
    except socket.gaierror as exc:
        raise ResolveError(host, _reason(exc)) from None
    except UnicodeError:
        raise ResolveError(host, "not a valid host name") from None
    return _addresses(host, infos)


async def resolve_async(host: str, port: int = 0, *, family: Optional[int] = None,
                        socktype: int = socket.SOCK_STREAM) -> List[Address]:
    """resolve(), through the running loop's getaddrinfo (the loop's
    executor), without blocking the event loop."""
    import asyncio

    af = checked_family(family)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=af, type=socktype)
    except socket.gaierror as exc:
        raise ResolveError(host, _reason(exc)) from None
    except UnicodeError:
        raise ResolveError(host, "not a valid host name") from None
    return _addresses(host, infos)
