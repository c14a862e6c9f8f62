/* SSE2 and AVX2 summing kernels. SSE2 is part of x86-64 itself; AVX2 is
 * compiled with a target attribute and only called after the CPU was asked,
 * so the library runs on any x86-64 without -march flags. 32-bit x86 lacks
 * SSE2 as a baseline and uses the scalar kernel. */
#if defined(__x86_64__)

#include "checksum_internal.h"

#include <immintrin.h>

/* Each 32-bit lane of a vector holds two 16-bit words: adding the low and
 * the high halves separately into 32-bit lanes cannot overflow for
 * PN__LANE_STEPS steps, after which the lanes drain into 64 bits. */

static uint64_t pn__drain_sse2(__m128i acc)
{
    uint64_t lanes[2];
    __m128i zero = _mm_setzero_si128();
    __m128i wide = _mm_add_epi64(_mm_unpacklo_epi32(acc, zero),
                                 _mm_unpackhi_epi32(acc, zero));
    _mm_storeu_si128((__m128i *)lanes, wide);
    return pn__add64(lanes[0], lanes[1]);
}

uint64_t pn__sum_sse2(const uint8_t *p, size_t len, size_t *done)
{
    const __m128i low = _mm_set1_epi32(0xffff);
    const size_t block = 64;
    size_t blocks = len / block;
    uint64_t total = 0;

    *done = blocks * block;
    while (blocks > 0) {
        size_t steps = blocks > PN__LANE_STEPS ? PN__LANE_STEPS : blocks;
        __m128i a = _mm_setzero_si128(), b = a, c = a, d = a;
        blocks -= steps;
        for (; steps > 0; steps--, p += block) {
            __m128i v0 = _mm_loadu_si128((const __m128i *)p);
            __m128i v1 = _mm_loadu_si128((const __m128i *)(p + 16));
            __m128i v2 = _mm_loadu_si128((const __m128i *)(p + 32));
            __m128i v3 = _mm_loadu_si128((const __m128i *)(p + 48));
            a = _mm_add_epi32(a, _mm_add_epi32(_mm_and_si128(v0, low), _mm_srli_epi32(v0, 16)));
            b = _mm_add_epi32(b, _mm_add_epi32(_mm_and_si128(v1, low), _mm_srli_epi32(v1, 16)));
            c = _mm_add_epi32(c, _mm_add_epi32(_mm_and_si128(v2, low), _mm_srli_epi32(v2, 16)));
            d = _mm_add_epi32(d, _mm_add_epi32(_mm_and_si128(v3, low), _mm_srli_epi32(v3, 16)));
        }
        total = pn__add64(total, pn__drain_sse2(a));
        total = pn__add64(total, pn__drain_sse2(b));
        total = pn__add64(total, pn__drain_sse2(c));
        total = pn__add64(total, pn__drain_sse2(d));
    }
    return total;
}

__attribute__((target("avx2"))) static uint64_t pn__drain_avx2(__m256i acc)
{
    return pn__add64(pn__drain_sse2(_mm256_castsi256_si128(acc)),
                     pn__drain_sse2(_mm256_extracti128_si256(acc, 1)));
}

__attribute__((target("avx2"))) uint64_t pn__sum_avx2(const uint8_t *p, size_t len,
                                                      size_t *done)
{
    const __m256i low = _mm256_set1_epi32(0xffff);
    const size_t block = 128;
    size_t blocks = len / block;
    uint64_t total = 0;

    *done = blocks * block;
    while (blocks > 0) {
        size_t steps = blocks > PN__LANE_STEPS ? PN__LANE_STEPS : blocks;
        __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
        blocks -= steps;
        for (; steps > 0; steps--, p += block) {
            __m256i v0 = _mm256_loadu_si256((const __m256i *)p);
            __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
            __m256i v2 = _mm256_loadu_si256((const __m256i *)(p + 64));
            __m256i v3 = _mm256_loadu_si256((const __m256i *)(p + 96));
            a = _mm256_add_epi32(a, _mm256_add_epi32(_mm256_and_si256(v0, low), _mm256_srli_epi32(v0, 16)));
            b = _mm256_add_epi32(b, _mm256_add_epi32(_mm256_and_si256(v1, low), _mm256_srli_epi32(v1, 16)));
            c = _mm256_add_epi32(c, _mm256_add_epi32(_mm256_and_si256(v2, low), _mm256_srli_epi32(v2, 16)));
            d = _mm256_add_epi32(d, _mm256_add_epi32(_mm256_and_si256(v3, low), _mm256_srli_epi32(v3, 16)));
        }
        total = pn__add64(total, pn__drain_avx2(a));
        total = pn__add64(total, pn__drain_avx2(b));
        total = pn__add64(total, pn__drain_avx2(c));
        total = pn__add64(total, pn__drain_avx2(d));
    }
    return total;
}

int pn__cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

#else
/* Not x86: nothing to compile here. ISO C wants a translation unit to hold
 * at least one declaration. */
typedef int pn__checksum_x86_unused;
#endif
