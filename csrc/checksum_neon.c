/* NEON summing kernel: part of every AArch64 CPU, so no run-time check. */
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__arm__))

#include "checksum_internal.h"

#include <arm_neon.h>

/* vpadalq_u16 adds adjacent 16-bit words pairwise into 32-bit lanes: two
 * words per lane per step, so lanes drain every PN__LANE_STEPS steps. */
uint64_t pn__sum_neon(const uint8_t *p, size_t len, size_t *done)
{
    const size_t block = 64;
    size_t blocks = len / block;
    uint64_t total = 0;

    *done = blocks * block;
    while (blocks > 0) {
        size_t steps = blocks > PN__LANE_STEPS ? PN__LANE_STEPS : blocks;
        uint32x4_t a = vdupq_n_u32(0), b = a, c = a, d = a;
        uint64x2_t wide = vdupq_n_u64(0);
        blocks -= steps;
        for (; steps > 0; steps--, p += block) {
            a = vpadalq_u16(a, vreinterpretq_u16_u8(vld1q_u8(p)));
            b = vpadalq_u16(b, vreinterpretq_u16_u8(vld1q_u8(p + 16)));
            c = vpadalq_u16(c, vreinterpretq_u16_u8(vld1q_u8(p + 32)));
            d = vpadalq_u16(d, vreinterpretq_u16_u8(vld1q_u8(p + 48)));
        }
        /* Four lanes of < 2^32 each: pairwise sums into 64 bits cannot carry. */
        wide = vpadalq_u32(wide, a);
        wide = vpadalq_u32(wide, b);
        wide = vpadalq_u32(wide, c);
        wide = vpadalq_u32(wide, d);
        total = pn__add64(total, vgetq_lane_u64(wide, 0));
        total = pn__add64(total, vgetq_lane_u64(wide, 1));
    }
    return total;
}

#else
typedef int pn__checksum_neon_unused;
#endif
