/* Internet checksum: RFC 1071 sum, RFC 1624 incremental update, and the
 * run-time choice of a summing kernel. */
#include "pynet.h"
#include "checksum_internal.h"

#include <errno.h>
#include <string.h>

#if defined(__x86_64__)
#define PN__X86 1
#endif
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__arm__))
#define PN__NEON 1
#endif

/* Sum native 32-bit loads into a 64-bit accumulator: 2^32 additions fit, so
 * the loop folds every 2^31 words and is exact for any length. */
static uint64_t pn__sum_scalar(const uint8_t *p, size_t len, size_t *done)
{
    const size_t chunk_words = (size_t)1 << 31;
    uint64_t total = 0;
    size_t words = len / 4;
    size_t i = 0;

    while (i < words) {
        size_t end = words - i > chunk_words ? i + chunk_words : words;
        uint64_t a = 0, b = 0;
        for (; i + 1 < end; i += 2) {
            uint32_t w0, w1;
            memcpy(&w0, p + 4 * i, 4);
            memcpy(&w1, p + 4 * i + 4, 4);
            a += w0;
            b += w1;
        }
        if (i < end) {
            uint32_t w0;
            memcpy(&w0, p + 4 * i, 4);
            a += w0;
            i++;
        }
        total = pn__add64(total, a);
        total = pn__add64(total, b);
    }
    *done = words * 4;
    return total;
}

static int pn__impl_compiled(int impl)
{
    switch (impl) {
    case PN_SUM16_SCALAR:
        return 1;
#ifdef PN__X86
    case PN_SUM16_SSE2:
        return 1;
    case PN_SUM16_AVX2:
        return pn__cpu_has_avx2();
#endif
#ifdef PN__NEON
    case PN_SUM16_NEON:
        return 1;
#endif
    default:
        return 0;
    }
}

static int pn__best_impl(void)
{
    if (pn__impl_compiled(PN_SUM16_AVX2))
        return PN_SUM16_AVX2;
    if (pn__impl_compiled(PN_SUM16_NEON))
        return PN_SUM16_NEON;
    if (pn__impl_compiled(PN_SUM16_SSE2))
        return PN_SUM16_SSE2;
    return PN_SUM16_SCALAR;
}

/* -1 until first use. Written with atomics: two threads racing on the first
 * call both store the same answer. */
static int pn__impl = -1;

int pn_sum16_impl_available(int impl)
{
    return pn__impl_compiled(impl);
}

int pn_sum16_impl_get(void)
{
    int impl = __atomic_load_n(&pn__impl, __ATOMIC_RELAXED);
    if (impl < 0) {
        impl = pn__best_impl();
        __atomic_store_n(&pn__impl, impl, __ATOMIC_RELAXED);
    }
    return impl;
}

int pn_sum16_impl_set(int impl)
{
    if (!pn__impl_compiled(impl))
        return -ENOTSUP;
    __atomic_store_n(&pn__impl, impl, __ATOMIC_RELAXED);
    return 0;
}

static pn__sum_kernel pn__kernel(void)
{
    switch (pn_sum16_impl_get()) {
#ifdef PN__X86
    case PN_SUM16_SSE2:
        return pn__sum_sse2;
    case PN_SUM16_AVX2:
        return pn__sum_avx2;
#endif
#ifdef PN__NEON
    case PN_SUM16_NEON:
        return pn__sum_neon;
#endif
    default:
        return pn__sum_scalar;
    }
}

static uint32_t pn__fold(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return (uint32_t)s;
}

static int pn__little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

uint32_t pn_sum16(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t done = 0;
    uint64_t sum = 0;
    uint32_t s;

    if (len >= 64)
        sum = pn__kernel()(p, len, &done);
    if (done < len) {
        size_t more;
        sum = pn__add64(sum, pn__sum_scalar(p + done, len - done, &more));
        done += more;
    }
    if (len - done >= 2) {
        uint16_t w;
        memcpy(&w, p + done, 2);
        sum = pn__add64(sum, w);
        done += 2;
    }
    s = pn__fold(sum);
    if (pn__little_endian())
        s = ((s & 0xffu) << 8) | (s >> 8);
    if (done < len)
        s = pn__fold((uint64_t)s + ((uint32_t)p[done] << 8)); /* odd byte: high half */
    return s;
}

uint16_t pn_checksum(const void *buf, size_t len, uint32_t initial)
{
    uint32_t s = pn__fold((uint64_t)pn_sum16(buf, len) + initial);
    return (uint16_t)~s;
}

uint16_t pn_checksum_update(uint16_t old_checksum, uint16_t old_word,
                            uint16_t new_word)
{
    /* HC' = ~(~HC + ~m + m'). RFC 1141's HC' = HC + m - m' can produce
     * 0x0000 where 0xFFFF is right and vice versa (RFC 1624 section 3). */
    uint32_t s = (uint16_t)~old_checksum;
    s += (uint16_t)~old_word;
    s += new_word;
    return (uint16_t)~pn__fold(s);
}
