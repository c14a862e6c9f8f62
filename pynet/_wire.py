"""Wire formats: header layouts, offsets and protocol numbers, named once.

Mirrors the constants in csrc/icmp.c and csrc/pynet.h.
"""

from __future__ import annotations

import struct

# ICMP header (RFC 792, RFC 4443): type, code, checksum, identifier, sequence.
ICMP_HEADER = struct.Struct("!BBHHH")
ICMP_HEADER_LEN = 8
ICMP_TYPE = 0
ICMP_CHECKSUM = 2
ICMP_REST = struct.Struct("!I")  # bytes 4..7 of any ICMP header
ICMP_REST_OFFSET = 4
ICMP_ID_SEQ = struct.Struct("!HH")
ICMP_ID_OFFSET = 4
# RFC 792: an error quotes the original IP header and 64 bits of its data.
QUOTE_DATA_MIN = 8

ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_SOURCE_QUENCH = 4
ICMP_REDIRECT = 5
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
ICMP_PARAM_PROBLEM = 12
# Codes of destination unreachable (RFC 792, RFC 1812)
ICMP_PORT_UNREACH = 3
ICMP_FRAG_NEEDED = 4

ICMP6_DEST_UNREACH = 1
ICMP6_PACKET_TOO_BIG = 2
ICMP6_TIME_EXCEEDED = 3
ICMP6_PARAM_PROBLEM = 4
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129

ECHO_TYPES = {
    4: frozenset({ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY}),
    6: frozenset({ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY}),
}
ECHO_REQUEST_TYPE = {4: ICMP_ECHO_REQUEST, 6: ICMP6_ECHO_REQUEST}
ECHO_REPLY_TYPE = {4: ICMP_ECHO_REPLY, 6: ICMP6_ECHO_REPLY}
ERROR_TYPES = {
    4: frozenset({ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT,
                  ICMP_TIME_EXCEEDED, ICMP_PARAM_PROBLEM}),
    6: frozenset({ICMP6_DEST_UNREACH, ICMP6_PACKET_TOO_BIG,
                  ICMP6_TIME_EXCEEDED, ICMP6_PARAM_PROBLEM}),
}

# IPv4 header (RFC 791)
IPV4_MIN_HEADER_LEN = 20
IPV4_TTL = 8
IPV4_PROTOCOL = 9
IPV4_SOURCE = 12
IPV4_DESTINATION = 16
IPPROTO_ICMP = 1

# IPv6 header (RFC 8200) and the extension headers a router may quote
IPV6_HEADER_LEN = 40
IPV6_NEXT_HEADER = 6
IPV6_HOP_LIMIT = 7
IPV6_SOURCE = 8
IPV6_DESTINATION = 24
IPPROTO_HOPOPTS = 0
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_ICMPV6 = 58
IPPROTO_DSTOPTS = 60
IPV6_EXT_MIN_LEN = 8
IPV6_EXTENSIONS = frozenset({IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS})
IPV6_FRAGMENT_OFFSET = struct.Struct("!H")  # at byte 2 of the fragment header
IPV6_FRAGMENT_OFFSET_MASK = 0xFFF8

# The ICMPv6 pseudo-header's tail (RFC 8200 section 8.1): length, 3 zeros, next header.
IPV6_PSEUDO_TAIL = struct.Struct("!I3xB")

# Codes of pynet.MalformedPacket.reason (enum pn_malformed in csrc/pynet.h).
MALFORMED_EMPTY = 1
MALFORMED_IPV4_TRUNCATED = 2
MALFORMED_IPV4_VERSION = 3
MALFORMED_IPV4_IHL_SHORT = 4
MALFORMED_IPV4_IHL_BEYOND = 5
MALFORMED_IPV4_NOT_ICMP = 6
MALFORMED_IPV6_TRUNCATED = 7
MALFORMED_IPV6_VERSION = 8
MALFORMED_IPV6_EXT_TRUNCATED = 9
MALFORMED_IPV6_NOT_ICMP = 10
MALFORMED_ICMP_TRUNCATED = 11
MALFORMED_QUOTE_SHORT = 12
MALFORMED_QUOTED = 32

# Indexes of the flat field list a parser fills (enum pn_icmp_field).
(F_FAMILY, F_TYPE, F_CODE, F_ID, F_SEQ, F_CHECKSUM, F_CHECKSUM_OK, F_TTL,
 F_SOURCE_OFF, F_DESTINATION_OFF, F_PAYLOAD_OFF, F_PAYLOAD_LEN,
 F_REST_OF_HEADER, F_QUOTED_ID, F_QUOTED_SEQ, F_QUOTED_DESTINATION_OFF,
 F_QUOTED_PROTOCOL, F_QUOTED_UPPER_OFF, F_EXT_OFF, F_EXT_LEN,
 F_COUNT) = range(21)
# F_EXT_LEN when the RFC 4884 length runs past the message.
EXT_LEN_BEYOND = -2

# RFC 4884: the quoted datagram's length, in 32-bit words at byte 5 of
# ICMPv4 errors, in 64-bit words at byte 4 of ICMPv6 ones.
ICMP4_EXT_LENGTH = 5
ICMP6_EXT_LENGTH = 4
EXT_LENGTH_TYPES = {
    4: frozenset({ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAM_PROBLEM}),
    6: frozenset({ICMP6_DEST_UNREACH, ICMP6_TIME_EXCEEDED}),
}
EXT_LENGTH_UNIT = {4: 4, 6: 8}
# RFC 4884 extension header: version (high nibble), reserved, checksum.
EXT_HEADER = struct.Struct("!BBH")
EXT_HEADER_LEN = 4
EXT_VERSION = 2
# An extension object: length (header included), class, c-type.
EXT_OBJECT = struct.Struct("!HBB")
EXT_OBJECT_LEN = 4
EXT_CLASS_MPLS = 1          # RFC 4950: the MPLS label stack
EXT_CTYPE_MPLS = 1
EXT_CLASS_INTERFACE = 2     # RFC 5837: interface information
MPLS_ENTRY = struct.Struct("!I")
# RFC 5837 c-type bits: role (bits 7-6), then ifIndex, IP address, name, MTU.
IF_ROLE_SHIFT = 6
IF_HAS_IFINDEX = 0x08
IF_HAS_ADDRESS = 0x04
IF_HAS_NAME = 0x02
IF_HAS_MTU = 0x01
IF_ADDRESS_HEADER = struct.Struct("!HH")  # AFI, reserved
AFI_IPV4 = 1
AFI_IPV6 = 2
IF_NAME_MAX = 63
(X_CLASS, X_CTYPE, X_OFF, X_LEN, X_LABEL, X_TC, X_S, X_TTL, X_ROLE, X_IFINDEX, X_ADDR_AFI,
 X_ADDR_OFF, X_NAME_OFF, X_NAME_LEN, X_MTU, X_COUNT) = range(16)
# enum pn_ext_malformed
EXT_MALFORMED_SHORT = 1
EXT_MALFORMED_VERSION = 2
EXT_MALFORMED_CHECKSUM = 3
EXT_MALFORMED_OBJECT_LENGTH = 4
EXT_MALFORMED_OBJECT_BODY = 5

# How a parser treats the first bytes (enum pn_ip_header).
IP_HEADER_AUTO = -1
IP_HEADER_ABSENT = 0
IP_HEADER_PRESENT = 1

__all__ = [name for name in dir() if name.isupper()]
