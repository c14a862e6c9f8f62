/* Internals shared by the checksum kernels; not part of the public API. */
#ifndef PYNET_CHECKSUM_INTERNAL_H
#define PYNET_CHECKSUM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A kernel sums the machine's native 16-bit words of p[0..*done) into a
 * 64-bit one's complement accumulator and stores in *done how far it got (a
 * multiple of its block size, never beyond len). The caller finishes the
 * tail. Summing native words and byte-swapping once at the end gives the
 * big-endian sum: RFC 1071 section 2(B), byte order independence. */
typedef uint64_t (*pn__sum_kernel)(const uint8_t *p, size_t len, size_t *done);

/* 64-bit one's complement addition (end-around carry). */
static inline uint64_t pn__add64(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;
    return s + (s < b);
}

/* Lanes of 32 bits that each receive at most two 16-bit words per step may
 * take this many steps before they could overflow:
 * 32768 * 2 * 0xFFFF = 0xFFFE0000 < 2^32. */
#define PN__LANE_STEPS 32768

uint64_t pn__sum_sse2(const uint8_t *p, size_t len, size_t *done);
uint64_t pn__sum_avx2(const uint8_t *p, size_t len, size_t *done);
int pn__cpu_has_avx2(void);
uint64_t pn__sum_neon(const uint8_t *p, size_t len, size_t *done);

#endif
