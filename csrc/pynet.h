/* pynet: the C packet core.
 *
 * Plain C with no knowledge of Python or cffi; pynet/_native.cdef mirrors the
 * declarations below. Exported symbols are pn_*, internal ones pn__*.
 * Functions that can fail return 0 (or a length) on success and a negative
 * errno or a negative PN_MALFORMED_* code on failure. Nothing here prints,
 * exits, or allocates.
 */
#ifndef PYNET_H
#define PYNET_H

#include <stddef.h>
#include <stdint.h>

/* ---- Internet checksum (RFC 1071, RFC 1624) ------------------------------ */

/* One's complement sum of buf read as big-endian 16-bit words, an odd last
 * byte being the high byte of a zero-padded word, folded to 0..0xFFFF.
 * Exact for any length. */
uint32_t pn_sum16(const void *buf, size_t len);

/* The Internet checksum of buf, starting from the running sum `initial`
 * (any 32-bit value; it is folded first). */
uint16_t pn_checksum(const void *buf, size_t len, uint32_t initial);

/* RFC 1624 eqn. 3: the checksum after one 16-bit word changed from old_word
 * to new_word, without touching the rest of the data. */
uint16_t pn_checksum_update(uint16_t old_checksum, uint16_t old_word,
                            uint16_t new_word);

/* The summing kernels compiled in, and a way to pick one (for tests and
 * benchmarks; the best one the CPU supports is chosen at first use). */
enum pn_sum16_impl {
    PN_SUM16_SCALAR = 0,
    PN_SUM16_SSE2 = 1,
    PN_SUM16_AVX2 = 2,
    PN_SUM16_NEON = 3,
};
int pn_sum16_impl_available(int impl);  /* 1 when compiled in and the CPU has it */
int pn_sum16_impl_get(void);
int pn_sum16_impl_set(int impl);        /* 0, or -ENOTSUP */

/* ---- ICMP echo build and parse ------------------------------------------ */

enum {
    PN_ICMP_ECHO_REPLY = 0,
    PN_ICMP_DEST_UNREACH = 3,
    PN_ICMP_SOURCE_QUENCH = 4,
    PN_ICMP_REDIRECT = 5,
    PN_ICMP_ECHO_REQUEST = 8,
    PN_ICMP_TIME_EXCEEDED = 11,
    PN_ICMP_PARAM_PROBLEM = 12,

    PN_ICMP6_DEST_UNREACH = 1,
    PN_ICMP6_PACKET_TOO_BIG = 2,
    PN_ICMP6_TIME_EXCEEDED = 3,
    PN_ICMP6_PARAM_PROBLEM = 4,
    PN_ICMP6_ECHO_REQUEST = 128,
    PN_ICMP6_ECHO_REPLY = 129,
};

#define PN_ICMP_HEADER_LEN 8
#define PN_IPV4_MIN_HEADER_LEN 20
#define PN_IPV6_HEADER_LEN 40

/* Why a packet was refused. A failure inside the datagram quoted by an ICMP
 * error is reported as PN_MALFORMED_QUOTED + the inner reason. */
enum pn_malformed {
    PN_MALFORMED_EMPTY = 1,
    PN_MALFORMED_IPV4_TRUNCATED = 2,
    PN_MALFORMED_IPV4_VERSION = 3,
    PN_MALFORMED_IPV4_IHL_SHORT = 4,
    PN_MALFORMED_IPV4_IHL_BEYOND = 5,
    PN_MALFORMED_IPV4_NOT_ICMP = 6,
    PN_MALFORMED_IPV6_TRUNCATED = 7,
    PN_MALFORMED_IPV6_VERSION = 8,
    PN_MALFORMED_IPV6_EXT_TRUNCATED = 9,
    PN_MALFORMED_IPV6_NOT_ICMP = 10,
    PN_MALFORMED_ICMP_TRUNCATED = 11,
    PN_MALFORMED_QUOTE_SHORT = 12,
    PN_MALFORMED_QUOTED = 32,
};

/* How pn_icmp_parse is to treat the first bytes. */
enum pn_ip_header {
    PN_IP_HEADER_AUTO = -1,  /* an IP header when the version nibble says so */
    PN_IP_HEADER_ABSENT = 0, /* a bare ICMP message (datagram sockets, raw ICMPv6) */
    PN_IP_HEADER_PRESENT = 1 /* an IP header must come first */
};

/* The fields of a parsed message, as one flat array so that a caller can
 * copy them out in a single step. -1 means "does not apply". Offsets index
 * the buffer that was parsed. */
enum pn_icmp_field {
    PN_F_FAMILY,            /* 4 or 6 */
    PN_F_TYPE,
    PN_F_CODE,
    PN_F_ID,                /* echo messages only */
    PN_F_SEQ,
    PN_F_CHECKSUM,          /* as received */
    PN_F_CHECKSUM_OK,       /* 1, 0, or -1 when it cannot be verified */
    PN_F_TTL,               /* IPv4 TTL or IPv6 hop limit, when a header came */
    PN_F_SOURCE_OFF,        /* offset of the IP source address */
    PN_F_DESTINATION_OFF,   /* offset of the IP destination address */
    PN_F_PAYLOAD_OFF,       /* what follows the 8-byte ICMP header */
    PN_F_PAYLOAD_LEN,
    PN_F_REST_OF_HEADER,    /* bytes 4..7 of the ICMP header, big-endian */
    PN_F_QUOTED_ID,         /* errors quoting an echo request */
    PN_F_QUOTED_SEQ,
    PN_F_QUOTED_DESTINATION_OFF,
    PN_F_COUNT
};

/* Build an echo message (type/code given) into out. For ICMPv6 the checksum
 * covers the pseudo-header when src and dst (16 bytes each) are both given;
 * without them it is left zero for the kernel to fill in, as raw ICMPv6
 * sockets always do. Returns the length written, or -ENOBUFS. */
long pn_icmp_echo_build(uint8_t *out, size_t cap, int family, int type,
                        int code, uint16_t id, uint16_t seq,
                        const void *payload, size_t payload_len,
                        const void *src, const void *dst);

/* Parse an ICMPv4 or ICMPv6 message, optionally behind its IP header.
 * src/dst give the ICMPv6 pseudo-header addresses when no IPv6 header is
 * present (may be NULL). fields has PN_F_COUNT entries. Returns 0, or
 * -(enum pn_malformed). Never reads outside buf[0..len). */
int pn_icmp_parse(const void *buf, size_t len, int family, int ip_header,
                  const void *src, const void *dst, int64_t *fields);

#endif /* PYNET_H */
