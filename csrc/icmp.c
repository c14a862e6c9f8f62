/* ICMPv4 and ICMPv6 echo build and parse, the IP header walk in front of
 * them, and the datagram quoted by ICMP error messages. */
#include "pynet.h"

#include <errno.h>
#include <string.h>

/* IPv4 header (RFC 791) */
#define PN__IP4_TTL 8
#define PN__IP4_PROTOCOL 9
#define PN__IP4_SOURCE 12
#define PN__IP4_DESTINATION 16
#define PN__IPPROTO_ICMP 1

/* IPv6 header (RFC 8200) and the extension headers a router may quote */
#define PN__IP6_NEXT_HEADER 6
#define PN__IP6_HOP_LIMIT 7
#define PN__IP6_SOURCE 8
#define PN__IP6_DESTINATION 24
#define PN__IPPROTO_HOPOPTS 0
#define PN__IPPROTO_ROUTING 43
#define PN__IPPROTO_FRAGMENT 44
#define PN__IPPROTO_ICMPV6 58
#define PN__IPPROTO_DSTOPTS 60
#define PN__IP6_EXT_MIN_LEN 8

/* ICMP header (RFC 792, RFC 4443) */
#define PN__ICMP_TYPE 0
#define PN__ICMP_CODE 1
#define PN__ICMP_CHECKSUM 2
#define PN__ICMP_ID 4
#define PN__ICMP_SEQ 6
#define PN__ICMP_REST 4

/* RFC 792: an error quotes the original header and 64 bits of its data. */
#define PN__QUOTE_DATA_MIN 8

/* RFC 4884: the length of the quoted datagram, in 32-bit words at byte 5
 * of ICMPv4 errors, in 64-bit words at byte 4 of ICMPv6 ones; an extension
 * structure (a 4-byte header at least) follows it. */
#define PN__ICMP4_EXT_LENGTH 5
#define PN__ICMP6_EXT_LENGTH 4
#define PN__EXT_HEADER_LEN 4

static uint16_t pn__rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t pn__rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static void pn__wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static int pn__is_echo(int family, int type)
{
    if (family == 4)
        return type == PN_ICMP_ECHO_REQUEST || type == PN_ICMP_ECHO_REPLY;
    return type == PN_ICMP6_ECHO_REQUEST || type == PN_ICMP6_ECHO_REPLY;
}

static int pn__is_error(int family, int type)
{
    if (family == 4)
        return type == PN_ICMP_DEST_UNREACH || type == PN_ICMP_SOURCE_QUENCH ||
               type == PN_ICMP_REDIRECT || type == PN_ICMP_TIME_EXCEEDED ||
               type == PN_ICMP_PARAM_PROBLEM;
    return type == PN_ICMP6_DEST_UNREACH || type == PN_ICMP6_PACKET_TOO_BIG ||
           type == PN_ICMP6_TIME_EXCEEDED || type == PN_ICMP6_PARAM_PROBLEM;
}

/* The IPv4 header at buf[off..len): its length from IHL and the protocol. */
static int pn__ip4_walk(const uint8_t *buf, size_t len, size_t off,
                        size_t *upper_off, int *protocol)
{
    size_t ihl;

    if (len - off < PN_IPV4_MIN_HEADER_LEN)
        return -PN_MALFORMED_IPV4_TRUNCATED;
    if ((buf[off] >> 4) != 4)
        return -PN_MALFORMED_IPV4_VERSION;
    ihl = (size_t)(buf[off] & 0x0f) * 4;
    if (ihl < PN_IPV4_MIN_HEADER_LEN)
        return -PN_MALFORMED_IPV4_IHL_SHORT;
    if (ihl > len - off)
        return -PN_MALFORMED_IPV4_IHL_BEYOND;
    *upper_off = off + ihl;
    *protocol = buf[off + PN__IP4_PROTOCOL];
    return 0;
}

/* The IPv6 header at buf[off..len) and its extension headers, up to the
 * first header that is not one we know how to step over. */
static int pn__ip6_walk(const uint8_t *buf, size_t len, size_t off,
                        size_t *upper_off, int *protocol)
{
    size_t pos = off + PN_IPV6_HEADER_LEN;
    int next;

    if (len - off < PN_IPV6_HEADER_LEN)
        return -PN_MALFORMED_IPV6_TRUNCATED;
    if ((buf[off] >> 4) != 6)
        return -PN_MALFORMED_IPV6_VERSION;
    next = buf[off + PN__IP6_NEXT_HEADER];
    for (;;) {
        size_t ext_len;
        if (next != PN__IPPROTO_HOPOPTS && next != PN__IPPROTO_ROUTING &&
            next != PN__IPPROTO_FRAGMENT && next != PN__IPPROTO_DSTOPTS)
            break;
        if (len - pos < PN__IP6_EXT_MIN_LEN)
            return -PN_MALFORMED_IPV6_EXT_TRUNCATED;
        if (next == PN__IPPROTO_FRAGMENT) {
            /* Only a first fragment carries the upper-layer header. */
            if ((pn__rd16(buf + pos + 2) & 0xfff8) != 0) {
                next = -1;
                break;
            }
            ext_len = PN__IP6_EXT_MIN_LEN;
        } else {
            ext_len = ((size_t)buf[pos + 1] + 1) * 8;
        }
        if (ext_len > len - pos)
            return -PN_MALFORMED_IPV6_EXT_TRUNCATED;
        next = buf[pos];
        pos += ext_len;
    }
    *upper_off = pos;
    *protocol = next;
    return 0;
}

static uint32_t pn__pseudo_sum6(const uint8_t *src, const uint8_t *dst,
                                size_t icmp_len)
{
    uint32_t len32 = (uint32_t)icmp_len;
    return pn_sum16(src, 16) + pn_sum16(dst, 16) + (len32 >> 16) +
           (len32 & 0xffff) + PN__IPPROTO_ICMPV6;
}

/* The datagram an ICMP error quotes, starting at buf[off]. */
static int pn__parse_quote(const uint8_t *buf, size_t len, size_t off,
                           int family, int64_t *f)
{
    size_t upper;
    int protocol, rc, echo_type, icmp_protocol;

    if (family == 4) {
        rc = pn__ip4_walk(buf, len, off, &upper, &protocol);
        f[PN_F_QUOTED_DESTINATION_OFF] = (int64_t)(off + PN__IP4_DESTINATION);
        echo_type = PN_ICMP_ECHO_REQUEST;
        icmp_protocol = PN__IPPROTO_ICMP;
    } else {
        rc = pn__ip6_walk(buf, len, off, &upper, &protocol);
        f[PN_F_QUOTED_DESTINATION_OFF] = (int64_t)(off + PN__IP6_DESTINATION);
        echo_type = PN_ICMP6_ECHO_REQUEST;
        icmp_protocol = PN__IPPROTO_ICMPV6;
    }
    if (rc < 0) {
        f[PN_F_QUOTED_DESTINATION_OFF] = -1;
        return -PN_MALFORMED_QUOTED + rc;
    }
    if (len - upper < PN__QUOTE_DATA_MIN)
        return -PN_MALFORMED_QUOTE_SHORT;
    f[PN_F_QUOTED_PROTOCOL] = protocol;
    f[PN_F_QUOTED_UPPER_OFF] = (int64_t)upper;
    if (protocol == icmp_protocol && buf[upper + PN__ICMP_TYPE] == echo_type) {
        f[PN_F_QUOTED_ID] = pn__rd16(buf + upper + PN__ICMP_ID);
        f[PN_F_QUOTED_SEQ] = pn__rd16(buf + upper + PN__ICMP_SEQ);
    }
    return 0;
}

/* Where the RFC 4884 extension structure of an error lies, if it has one. */
static void pn__locate_ext(const uint8_t *icmp, size_t icmp_len, int family, int type,
                           size_t payload_off, int64_t *f)
{
    size_t quoted, payload_len = icmp_len - PN_ICMP_HEADER_LEN;

    if (family == 4 && (type == PN_ICMP_DEST_UNREACH || type == PN_ICMP_TIME_EXCEEDED ||
                        type == PN_ICMP_PARAM_PROBLEM))
        quoted = (size_t)icmp[PN__ICMP4_EXT_LENGTH] * 4;
    else if (family == 6 && (type == PN_ICMP6_DEST_UNREACH || type == PN_ICMP6_TIME_EXCEEDED))
        quoted = (size_t)icmp[PN__ICMP6_EXT_LENGTH] * 8;
    else
        return;
    if (quoted == 0)
        return;
    if (quoted > payload_len || payload_len - quoted < PN__EXT_HEADER_LEN) {
        f[PN_F_EXT_LEN] = -2;
        return;
    }
    f[PN_F_EXT_OFF] = (int64_t)(payload_off + quoted);
    f[PN_F_EXT_LEN] = (int64_t)(payload_len - quoted);
}

int pn_icmp_parse(const void *data, size_t len, int family, int ip_header,
                  const void *src_addr, const void *dst_addr, int64_t *f)
{
    const uint8_t *buf = data, *src = src_addr, *dst = dst_addr;
    size_t off = 0, icmp_len;
    const uint8_t *icmp;
    int i, rc, type;

    for (i = 0; i < PN_F_COUNT; i++)
        f[i] = -1;
    f[PN_F_FAMILY] = family;
    if (len == 0)
        return -PN_MALFORMED_EMPTY;
    if (ip_header == PN_IP_HEADER_AUTO)
        ip_header = (buf[0] >> 4) == (family == 4 ? 4 : 6);

    if (ip_header) {
        int protocol;
        if (family == 4) {
            rc = pn__ip4_walk(buf, len, 0, &off, &protocol);
            if (rc == 0 && protocol != PN__IPPROTO_ICMP)
                rc = -PN_MALFORMED_IPV4_NOT_ICMP;
            if (rc < 0)
                return rc;
            f[PN_F_TTL] = buf[PN__IP4_TTL];
            f[PN_F_SOURCE_OFF] = PN__IP4_SOURCE;
            f[PN_F_DESTINATION_OFF] = PN__IP4_DESTINATION;
        } else {
            rc = pn__ip6_walk(buf, len, 0, &off, &protocol);
            if (rc == 0 && protocol != PN__IPPROTO_ICMPV6)
                rc = -PN_MALFORMED_IPV6_NOT_ICMP;
            if (rc < 0)
                return rc;
            f[PN_F_TTL] = buf[PN__IP6_HOP_LIMIT];
            f[PN_F_SOURCE_OFF] = PN__IP6_SOURCE;
            f[PN_F_DESTINATION_OFF] = PN__IP6_DESTINATION;
            src = buf + PN__IP6_SOURCE;
            dst = buf + PN__IP6_DESTINATION;
        }
    }
    if (len - off < PN_ICMP_HEADER_LEN)
        return -PN_MALFORMED_ICMP_TRUNCATED;

    icmp = buf + off;
    icmp_len = len - off;
    type = icmp[PN__ICMP_TYPE];
    f[PN_F_TYPE] = type;
    f[PN_F_CODE] = icmp[PN__ICMP_CODE];
    f[PN_F_CHECKSUM] = pn__rd16(icmp + PN__ICMP_CHECKSUM);
    f[PN_F_REST_OF_HEADER] = pn__rd32(icmp + PN__ICMP_REST);
    f[PN_F_PAYLOAD_OFF] = (int64_t)(off + PN_ICMP_HEADER_LEN);
    f[PN_F_PAYLOAD_LEN] = (int64_t)(icmp_len - PN_ICMP_HEADER_LEN);

    /* The checksum over a message that carries a right checksum is 0,
     * whichever of the two zeros (0x0000, 0xFFFF) the sender wrote. */
    if (family == 4)
        f[PN_F_CHECKSUM_OK] = pn_checksum(icmp, icmp_len, 0) == 0;
    else if (src != NULL && dst != NULL)
        f[PN_F_CHECKSUM_OK] =
            pn_checksum(icmp, icmp_len, pn__pseudo_sum6(src, dst, icmp_len)) == 0;

    if (pn__is_echo(family, type)) {
        f[PN_F_ID] = pn__rd16(icmp + PN__ICMP_ID);
        f[PN_F_SEQ] = pn__rd16(icmp + PN__ICMP_SEQ);
    } else if (pn__is_error(family, type)) {
        rc = pn__parse_quote(buf, len, off + PN_ICMP_HEADER_LEN, family, f);
        if (rc < 0)
            return rc;
        pn__locate_ext(icmp, icmp_len, family, type, off + PN_ICMP_HEADER_LEN, f);
    }
    return 0;
}

long pn_icmp_echo_build(uint8_t *out, size_t cap, int family, int type,
                        int code, uint16_t id, uint16_t seq,
                        const void *payload, size_t payload_len,
                        const void *src, const void *dst)
{
    size_t n;
    uint16_t sum = 0;

    if (payload_len > cap || cap - payload_len < PN_ICMP_HEADER_LEN)
        return -ENOBUFS;
    n = PN_ICMP_HEADER_LEN + payload_len;
    out[PN__ICMP_TYPE] = (uint8_t)type;
    out[PN__ICMP_CODE] = (uint8_t)code;
    pn__wr16(out + PN__ICMP_CHECKSUM, 0);
    pn__wr16(out + PN__ICMP_ID, id);
    pn__wr16(out + PN__ICMP_SEQ, seq);
    if (payload_len > 0)
        memcpy(out + PN_ICMP_HEADER_LEN, payload, payload_len);

    if (family == 4)
        sum = pn_checksum(out, n, 0);
    else if (src != NULL && dst != NULL)
        sum = pn_checksum(out, n, pn__pseudo_sum6(src, dst, n));
    pn__wr16(out + PN__ICMP_CHECKSUM, sum);
    return (long)n;
}

/* ---- ICMP extensions ---------------------------------------------------- */

#define PN__EXT_CLASS_MPLS 1
#define PN__EXT_CTYPE_MPLS 1
#define PN__EXT_CLASS_INTERFACE 2
#define PN__EXT_VERSION 2
#define PN__OBJECT_HEADER_LEN 4
#define PN__MPLS_ENTRY_LEN 4
/* RFC 5837: which parts an interface information object carries (c-type bits) */
#define PN__IF_ROLE_SHIFT 6
#define PN__IF_HAS_IFINDEX 0x08
#define PN__IF_HAS_ADDRESS 0x04
#define PN__IF_HAS_NAME 0x02
#define PN__IF_HAS_MTU 0x01
#define PN__AFI_IPV4 1
#define PN__AFI_IPV6 2
#define PN__IF_NAME_MAX 64

static int64_t *pn__ext_item(int64_t *items, size_t cap, size_t *n, int *bad,
                             int klass, int ctype, size_t off, size_t len)
{
    int64_t *x;
    int i;

    if (*n >= cap) {
        (*bad)++;
        return NULL;
    }
    x = items + *n * PN_X_COUNT;
    (*n)++;
    for (i = 0; i < PN_X_COUNT; i++)
        x[i] = -1;
    x[PN_X_CLASS] = klass;
    x[PN_X_CTYPE] = ctype;
    x[PN_X_OFF] = (int64_t)off;
    x[PN_X_LEN] = (int64_t)len;
    return x;
}

/* RFC 5837's parts, in order; 0, or -1 when they do not fill the body. */
static int pn__ext_interface(const uint8_t *p, size_t off, size_t len, int ctype,
                             int64_t *x)
{
    size_t pos = off, end = off + len;

    x[PN_X_ROLE] = ctype >> PN__IF_ROLE_SHIFT;
    if (ctype & PN__IF_HAS_IFINDEX) {
        if (end - pos < 4)
            return -1;
        x[PN_X_IFINDEX] = pn__rd32(p + pos);
        pos += 4;
    }
    if (ctype & PN__IF_HAS_ADDRESS) {
        size_t alen;
        int afi;
        if (end - pos < 4)
            return -1;
        afi = pn__rd16(p + pos);
        alen = afi == PN__AFI_IPV4 ? 4 : afi == PN__AFI_IPV6 ? 16 : 0;
        if (alen == 0 || end - pos - 4 < alen)
            return -1;
        x[PN_X_ADDR_AFI] = afi;
        x[PN_X_ADDR_OFF] = (int64_t)(pos + 4);
        pos += 4 + alen;
    }
    if (ctype & PN__IF_HAS_NAME) {
        size_t nlen;
        if (end - pos < 1)
            return -1;
        nlen = p[pos];
        /* The length counts its own octet, in whole 32-bit words. */
        if (nlen < 4 || nlen > PN__IF_NAME_MAX || nlen % 4 != 0 || nlen > end - pos)
            return -1;
        x[PN_X_NAME_OFF] = (int64_t)(pos + 1);
        x[PN_X_NAME_LEN] = (int64_t)(nlen - 1);
        pos += nlen;
    }
    if (ctype & PN__IF_HAS_MTU) {
        if (end - pos < 4)
            return -1;
        x[PN_X_MTU] = pn__rd32(p + pos);
        pos += 4;
    }
    return pos == end ? 0 : -1;
}

int pn_icmp_ext_parse(const void *ext, size_t len, int64_t *items, size_t cap, int *bad)
{
    const uint8_t *p = ext;
    size_t pos = PN__EXT_HEADER_LEN, n = 0;

    *bad = 0;
    if (len < PN__EXT_HEADER_LEN)
        return -PN_EXT_SHORT;
    if ((p[0] >> 4) != PN__EXT_VERSION)
        return -PN_EXT_VERSION;
    /* A zero checksum means the sender computed none (RFC 4884 sec. 7). */
    if (pn__rd16(p + 2) != 0 && pn_checksum(p, len, 0) != 0)
        return -PN_EXT_CHECKSUM;
    while (pos < len) {
        size_t olen, body;
        int klass, ctype;
        if (len - pos < PN__OBJECT_HEADER_LEN) {
            (*bad)++;
            break;
        }
        olen = pn__rd16(p + pos);
        if (olen < PN__OBJECT_HEADER_LEN || olen > len - pos) {
            (*bad)++;
            break;
        }
        klass = p[pos + 2];
        ctype = p[pos + 3];
        body = pos + PN__OBJECT_HEADER_LEN;
        if (klass == PN__EXT_CLASS_MPLS && ctype == PN__EXT_CTYPE_MPLS) {
            size_t e;
            if ((olen - PN__OBJECT_HEADER_LEN) % PN__MPLS_ENTRY_LEN != 0) {
                (*bad)++;
            } else {
                for (e = body; e < pos + olen; e += PN__MPLS_ENTRY_LEN) {
                    uint32_t v = pn__rd32(p + e);
                    int64_t *x = pn__ext_item(items, cap, &n, bad, klass, ctype, e,
                                              PN__MPLS_ENTRY_LEN);
                    if (x == NULL)
                        break;
                    x[PN_X_LABEL] = v >> 12;
                    x[PN_X_TC] = (v >> 9) & 7;
                    x[PN_X_S] = (v >> 8) & 1;
                    x[PN_X_TTL] = v & 0xff;
                }
            }
        } else if (klass == PN__EXT_CLASS_INTERFACE) {
            int64_t *x = pn__ext_item(items, cap, &n, bad, klass, ctype, body,
                                      olen - PN__OBJECT_HEADER_LEN);
            if (x != NULL && pn__ext_interface(p, body, olen - PN__OBJECT_HEADER_LEN,
                                               ctype, x) < 0) {
                n--;
                (*bad)++;
            }
        } else {
            pn__ext_item(items, cap, &n, bad, klass, ctype, body, olen - PN__OBJECT_HEADER_LEN);
        }
        pos += olen;
    }
    return (int)n;
}
