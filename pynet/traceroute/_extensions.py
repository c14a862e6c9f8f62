"""ICMP extensions as traceroute shows them: RFC 4950 MPLS label stack
entries and RFC 5837 interface information, parsed by the packet core
(pn_icmp_ext_parse or its Python twin), printed as Linux traceroute -e
prints them."""

from __future__ import annotations

import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, TypeAlias, Union
else:
    from .._records import NamedTuple

from .. import _wire as w

__all__ = ["Extension", "InterfaceInfo", "MplsLabel", "OtherObject", "format_extensions",
           "parse_extensions"]

ITEMS_MAX = 32


class MplsLabel(NamedTuple):
    label: int
    tc: int            # traffic class (the old EXP bits)
    s: int             # bottom of stack
    ttl: int


class InterfaceInfo(NamedTuple):
    role: int          # 0 incoming, 1 sub-IP, 2 outgoing, 3 next hop
    ifindex: Optional[int]
    address: Optional[str]
    name: Optional[str]
    mtu: Optional[int]


class OtherObject(NamedTuple):
    object_class: int
    c_type: int
    data: str          # hex


Extension: TypeAlias = "Union[MplsLabel, InterfaceInfo, OtherObject]"


def _item(data: bytes, x: Sequence[int]) -> Extension:
    if x[w.X_CLASS] == w.EXT_CLASS_MPLS and x[w.X_LABEL] >= 0:
        return MplsLabel(x[w.X_LABEL], x[w.X_TC], x[w.X_S], x[w.X_TTL])
    if x[w.X_CLASS] == w.EXT_CLASS_INTERFACE:
        address = None
        if x[w.X_ADDR_AFI] >= 0:
            af, size = ((socket.AF_INET, 4) if x[w.X_ADDR_AFI] == w.AFI_IPV4
                        else (socket.AF_INET6, 16))
            address = socket.inet_ntop(af, data[x[w.X_ADDR_OFF]:x[w.X_ADDR_OFF] + size])
        name = None
        if x[w.X_NAME_OFF] >= 0:
            raw = data[x[w.X_NAME_OFF]:x[w.X_NAME_OFF] + x[w.X_NAME_LEN]]
            name = raw.rstrip(b"\0").decode("utf-8", "replace")
        return InterfaceInfo(x[w.X_ROLE], None if x[w.X_IFINDEX] < 0 else x[w.X_IFINDEX],
                             address, name, None if x[w.X_MTU] < 0 else x[w.X_MTU])
    return OtherObject(x[w.X_CLASS], x[w.X_CTYPE],
                       data[x[w.X_OFF]:x[w.X_OFF] + x[w.X_LEN]].hex())


def parse_extensions(data: bytes, backend: Any) -> Tuple[Tuple[Extension, ...], int]:
    """The objects of one extension structure and how many were malformed
    (an unusable structure counts as one)."""
    rc, items, bad = backend.ext_parse(data, ITEMS_MAX)
    if rc < 0:
        return (), 1
    return tuple(_item(data, x) for x in items), bad


def format_extensions(extensions: Sequence[Extension]) -> str:
    """Linux traceroute -e: " <MPLS:L=..,E=..,S=..,T=../...>" after the address."""
    parts: List[str] = []
    labels = [e for e in extensions if isinstance(e, MplsLabel)]
    if labels:
        parts.append("<MPLS:" + "/".join(f"L={e.label},E={e.tc},S={e.s},T={e.ttl}"
                                        for e in labels) + ">")
    for e in extensions:
        if isinstance(e, InterfaceInfo):
            fields = []
            if e.ifindex is not None:
                fields.append(f"index={e.ifindex}")
            if e.address is not None:
                fields.append(f"addr={e.address}")
            if e.name is not None:
                fields.append(f"name={e.name}")
            if e.mtu is not None:
                fields.append(f"mtu={e.mtu}")
            parts.append("<IFINFO:" + ",".join(fields) + ">")
        elif isinstance(e, OtherObject):
            parts.append(f"<{e.object_class}/{e.c_type}:{e.data}>")
    return "".join(" " + p for p in parts)
