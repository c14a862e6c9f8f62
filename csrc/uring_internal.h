/* io_uring plumbing for the completion-based TCP echo loop (uring_loop.c);
 * not part of the public API. Raw system calls and <linux/io_uring.h>, no
 * liburing: a ring is three shared mappings (submission ring, completion
 * ring, submission entries) plus a provided-buffer ring we allocate and
 * register. Compiled only where <linux/io_uring.h> exists (PN__HAVE_URING). */
#ifndef PYNET_URING_INTERNAL_H
#define PYNET_URING_INTERNAL_H

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#define PN__HAVE_URING 1
#endif
#endif

#ifdef PN__HAVE_URING

#include <linux/io_uring.h>
#include <stddef.h>
#include <stdint.h>

struct pn_echo_config;
struct pn_echo_stats;

struct pn__uring {
    int fd;
    unsigned flags;              /* IORING_SETUP_* the kernel accepted */
    /* submission queue: we fill sqes[sqe_tail & sq_mask] and publish the
     * tail; the kernel consumes up to it and moves the head */
    unsigned *sq_khead, *sq_ktail, *sq_array;
    unsigned sq_mask, sq_entries;
    unsigned sqe_tail;
    struct io_uring_sqe *sqes;
    /* completion queue: the kernel moves the tail, we move the head */
    unsigned *cq_khead, *cq_ktail;
    unsigned cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_map_size, cq_map_size, sqes_size;
};

/* A ring of `count` buffers of `size` bytes each that recvs pick from when
 * they complete (IOSQE_BUFFER_SELECT), so that a pending recv holds no
 * memory of ours: an idle connection costs no buffer. */
struct pn__uring_bufs {
    struct io_uring_buf_ring *br;
    size_t br_size;
    char *base;                  /* count * size bytes, untouched until used */
    size_t size;
    unsigned count;              /* a power of two */
    uint16_t tail;               /* next ring slot we fill */
    uint16_t group;
};

/* 0 when this process can run the io_uring loop (setup and a provided
 * buffer ring work), else the negative errno that stopped it: -ENOSYS (no
 * io_uring in this kernel), -EPERM (seccomp, kernel.io_uring_disabled),
 * -EINVAL (a kernel before 5.19, without provided buffer rings). Probed
 * once per process. */
int pn__uring_probe(void);

int pn__uring_open(struct pn__uring *r, unsigned sq_entries, unsigned cq_entries);
void pn__uring_close(struct pn__uring *r);

/* A zeroed submission entry to fill, or NULL when the queue stays full
 * even after submitting what is in it. */
struct io_uring_sqe *pn__uring_sqe(struct pn__uring *r);

/* Submit what is queued and, when wait is set, wait until at least one
 * completion is there or timeout_ms passes. 0, or a negative errno (EINTR
 * and a timeout count as 0: the caller re-checks its state). */
int pn__uring_enter(struct pn__uring *r, int wait, int timeout_ms);

/* Free submission entries right now. */
static inline unsigned pn__uring_space(struct pn__uring *r)
{
    return r->sq_entries - (r->sqe_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE));
}

/* The next completion, or NULL; pn__uring_cqe_seen hands its slot back. */
static inline struct io_uring_cqe *pn__uring_cqe(struct pn__uring *r)
{
    unsigned head = *r->cq_khead;  /* only we write it */

    if (head == __atomic_load_n(r->cq_ktail, __ATOMIC_ACQUIRE))
        return NULL;
    return &r->cqes[head & r->cq_mask];
}

static inline void pn__uring_cqe_seen(struct pn__uring *r)
{
    __atomic_store_n(r->cq_khead, *r->cq_khead + 1, __ATOMIC_RELEASE);
}

int pn__uring_bufs_open(struct pn__uring *r, struct pn__uring_bufs *b, uint16_t group,
                        unsigned count, size_t size);
void pn__uring_bufs_close(struct pn__uring *r, struct pn__uring_bufs *b);

static inline char *pn__uring_buf(const struct pn__uring_bufs *b, unsigned bid)
{
    return b->base + (size_t)bid * b->size;
}

/* Give buffer bid back to the kernel for the next recv that needs one. */
static inline void pn__uring_buf_put(struct pn__uring_bufs *b, unsigned bid)
{
    struct io_uring_buf *slot = &b->br->bufs[b->tail & (b->count - 1)];

    slot->addr = (uint64_t)(uintptr_t)pn__uring_buf(b, bid);
    slot->len = (uint32_t)b->size;
    slot->bid = (uint16_t)bid;
    b->tail++;
    /* The entry must be visible before the tail that covers it. */
    __atomic_store_n(&b->br->tail, b->tail, __ATOMIC_RELEASE);
}

/* The TCP echo loop over io_uring (uring_loop.c). *started is set once the
 * ring is up: before that a failure means "io_uring cannot run here", which
 * PN_POLLER_AUTO answers by falling back to a readiness poller. */
int pn__uring_echo_run(const struct pn_echo_config *cfg, struct pn_echo_stats *st,
                       int *started);

#endif /* PN__HAVE_URING */
#endif /* PYNET_URING_INTERNAL_H */
