"""What iputils prints for an ICMP error or notice (pr_icmph), IPv4 and IPv6."""

from __future__ import annotations

import socket
import struct

from .. import _wire as w

__all__ = ["describe"]

_DEST_UNREACH_V4 = {
    0: "Destination Net Unreachable",
    1: "Destination Host Unreachable",
    2: "Destination Protocol Unreachable",
    3: "Destination Port Unreachable",
    # 4: Frag needed, with the MTU (below)
    5: "Source Route Failed",
    6: "Destination Net Unknown",
    7: "Destination Host Unknown",
    8: "Source Host Isolated",
    9: "Destination Net Prohibited",
    10: "Destination Host Prohibited",
    11: "Destination Net Unreachable for Type of Service",
    12: "Destination Host Unreachable for Type of Service",
    13: "Packet filtered",
    14: "Precedence Violation",
    15: "Precedence Cutoff",
}
_REDIRECT_V4 = {
    0: "Redirect Network",
    1: "Redirect Host",
    2: "Redirect Type of Service and Network",
    3: "Redirect Type of Service and Host",
}
_DEST_UNREACH_V6 = {
    0: "No route",
    1: "Administratively prohibited",
    2: "Beyond scope of source address",
    3: "Address unreachable",
    4: "Port unreachable",
}
_PARAM_PROB_V6 = {0: "Wrong header field ", 1: "Unknown header ", 2: "Unknown option "}


def _v4(icmp_type: int, code: int, info: int) -> str:
    if icmp_type == w.ICMP_DEST_UNREACH:
        if code == w.ICMP_FRAG_NEEDED:
            return f"Frag needed and DF set (mtu = {info})"
        return _DEST_UNREACH_V4.get(code, f"Dest Unreachable, Bad Code: {code}")
    if icmp_type == w.ICMP_SOURCE_QUENCH:
        return "Source Quench"
    if icmp_type == w.ICMP_REDIRECT:
        text = _REDIRECT_V4.get(code, f"Redirect, Bad Code: {code}")
        gateway = socket.inet_ntop(socket.AF_INET, struct.pack("!I", info & 0xFFFFFFFF))
        return f"{text}(New nexthop: {gateway})"
    if icmp_type == w.ICMP_TIME_EXCEEDED:
        if code == 0:
            return "Time to live exceeded"
        if code == 1:
            return "Frag reassembly time exceeded"
        return f"Time exceeded, Bad Code: {code}"
    if icmp_type == w.ICMP_PARAM_PROBLEM:
        # From the error queue the kernel hands over the pointer itself.
        return f"Parameter problem: pointer = {info}"
    return f"Bad ICMP type: {icmp_type}"


def _v6(icmp_type: int, code: int, info: int) -> str:
    if icmp_type == w.ICMP6_DEST_UNREACH:
        return "Destination unreachable: " + _DEST_UNREACH_V6.get(code, f"Unknown code {code}")
    if icmp_type == w.ICMP6_PACKET_TOO_BIG:
        return f"Packet too big: mtu={info}" + (f", code={code}" if code else "")
    if icmp_type == w.ICMP6_TIME_EXCEEDED:
        if code == 0:
            return "Time exceeded: Hop limit"
        if code == 1:
            return "Time exceeded: Defragmentation failure"
        return f"Time exceeded: code {code}"
    if icmp_type == w.ICMP6_PARAM_PROBLEM:
        return "Parameter problem: " + _PARAM_PROB_V6.get(code, f"code {code} ") + f"at {info}"
    return f"unknown icmp type: {icmp_type}"


def describe(family: int, icmp_type: int, code: int, info: int) -> str:
    """The words iputils prints after `From ADDR icmp_seq=N `."""
    return _v4(icmp_type, code, info) if family == 4 else _v6(icmp_type, code, info)
