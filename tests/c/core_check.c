/* A plain C check of the packet core, for other architectures: the tests
 * cross-compile it (aarch64 for the NEON kernel, s390x for a big-endian
 * host) and run it under qemu-user. Prints one line per check group and
 * exits non-zero at the first mismatch. */
#include "pynet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint8_t rng_byte(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)(rng_state >> 24);
}

/* RFC 1071, one big-endian word at a time with end-around carry. */
static uint32_t naive_sum16(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    size_t i;
    for (i = 0; i + 1 < n; i += 2) {
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
        s = (s & 0xffff) + (s >> 16);
    }
    if (n % 2) {
        s += (uint32_t)p[n - 1] << 8;
        s = (s & 0xffff) + (s >> 16);
    }
    return s;
}

static int fail(const char *what, int impl, size_t len, size_t off, uint32_t got, uint32_t want)
{
    printf("FAIL %s impl=%d len=%zu off=%zu got=0x%04x want=0x%04x\n", what, impl, len, off,
           (unsigned)got, (unsigned)want);
    return 1;
}

static int check_impl(int impl, uint8_t *buf, size_t big)
{
    size_t len, off;
    if (pn_sum16_impl_set(impl) != 0)
        return fail("set", impl, 0, 0, 0, 0);
    for (len = 0; len <= 1100; len++) {
        for (off = 0; off < 8; off++) {
            size_t i;
            uint32_t got, want;
            for (i = 0; i < len; i++)
                buf[off + i] = rng_byte();
            got = pn_sum16(buf + off, len);
            want = naive_sum16(buf + off, len);
            if (got != want)
                return fail("random", impl, len, off, got, want);
        }
    }
    for (len = 1; len <= 2048; len++) {
        memset(buf, 0xff, len - 1);
        buf[len - 1] = 0x01;
        if (pn_sum16(buf, len) != naive_sum16(buf, len))
            return fail("carry", impl, len, 0, pn_sum16(buf, len), naive_sum16(buf, len));
    }
    memset(buf, 0xff, big);
    buf[big - 1] = 0x01;
    if (pn_sum16(buf, big) != naive_sum16(buf, big))
        return fail("large", impl, big, 0, pn_sum16(buf, big), naive_sum16(buf, big));
    printf("ok sum16 impl=%d\n", impl);
    return 0;
}

static int check_vectors(void)
{
    static const uint8_t rfc1071[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    if (pn_sum16(rfc1071, sizeof rfc1071) != 0xddf2 || pn_checksum(rfc1071, 8, 0) != 0x220d)
        return fail("rfc1071", -1, 8, 0, pn_checksum(rfc1071, 8, 0), 0x220d);
    if (pn_checksum_update(0xdd2f, 0x5555, 0x3285) != 0x0000)
        return fail("rfc1624", -1, 0, 0, pn_checksum_update(0xdd2f, 0x5555, 0x3285), 0);
    printf("ok vectors\n");
    return 0;
}

static int check_icmp(void)
{
    static const uint8_t ip[20] = {0x45, 0, 0, 33, 0, 0, 0, 0, 61, 1, 0, 0,
                                   127, 0, 0, 2, 127, 0, 0, 1};
    uint8_t packet[64];
    int64_t f[PN_F_COUNT];
    long n;
    int rc;

    memcpy(packet, ip, sizeof ip);
    n = pn_icmp_echo_build(packet + 20, sizeof packet - 20, 4, PN_ICMP_ECHO_REPLY, 0, 0x1234,
                           0xbeef, "hello", 5, NULL, NULL);
    if (n != 13)
        return fail("build", -1, (size_t)n, 0, 0, 13);
    rc = pn_icmp_parse(packet, 20 + (size_t)n, 4, PN_IP_HEADER_AUTO, NULL, NULL, f);
    if (rc != 0 || f[PN_F_ID] != 0x1234 || f[PN_F_SEQ] != 0xbeef || f[PN_F_TTL] != 61 ||
        f[PN_F_CHECKSUM_OK] != 1 || f[PN_F_PAYLOAD_LEN] != 5 ||
        memcmp(packet + f[PN_F_PAYLOAD_OFF], "hello", 5) != 0)
        return fail("parse", -1, (size_t)n, 0, (uint32_t)rc, 0);
    packet[20 + 9] ^= 1; /* one bit of the payload */
    rc = pn_icmp_parse(packet, 20 + (size_t)n, 4, PN_IP_HEADER_AUTO, NULL, NULL, f);
    if (rc != 0 || f[PN_F_CHECKSUM_OK] != 0)
        return fail("corrupt", -1, 0, 0, (uint32_t)f[PN_F_CHECKSUM_OK], 0);
    printf("ok icmp\n");
    return 0;
}

int main(void)
{
    const size_t big = (size_t)(64 << 20) + 1;
    uint8_t *buf = malloc(big + 16);
    int impl;

    if (buf == NULL)
        return 2;
    printf("default impl=%d\n", pn_sum16_impl_get());
    if (check_vectors() || check_icmp())
        return 1;
    for (impl = PN_SUM16_SCALAR; impl <= PN_SUM16_NEON; impl++) {
        if (pn_sum16_impl_available(impl) && check_impl(impl, buf, big))
            return 1;
    }
    free(buf);
    printf("all ok\n");
    return 0;
}
