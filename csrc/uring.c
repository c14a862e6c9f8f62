/* io_uring set-up, submission and provided buffer rings, through the raw
 * system calls (see uring_internal.h). */
#include "uring_internal.h"

#ifdef PN__HAVE_URING

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Older C libraries name the system calls without having wrappers;
 * the numbers are the same on every architecture since 5.1. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

/* Ring flags, best first. DEFER_TASKRUN (6.1) runs completion work only
 * when we enter the kernel to wait, so that the recvs of all connections
 * ready at that moment complete in one go instead of interrupting us one by
 * one; it needs SINGLE_ISSUER, which holds: one thread owns each ring.
 * COOP_TASKRUN (5.19) is the next best thing. SUBMIT_ALL: one bad entry
 * does not stop the rest of a batch. */
static const unsigned pn__uring_setups[] = {
#if defined(IORING_SETUP_DEFER_TASKRUN) && defined(IORING_SETUP_SINGLE_ISSUER)
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
#endif
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
    0,
};

static void pn__uring_unmap(struct pn__uring *r)
{
    if (r->sqes != NULL && r->sqes != MAP_FAILED)
        munmap(r->sqes, r->sqes_size);
    if (r->cq_map != NULL && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map)
        munmap(r->cq_map, r->cq_map_size);
    if (r->sq_map != NULL && r->sq_map != MAP_FAILED)
        munmap(r->sq_map, r->sq_map_size);
    r->sqes = NULL;
    r->sq_map = r->cq_map = NULL;
}

int pn__uring_open(struct pn__uring *r, unsigned sq_entries, unsigned cq_entries)
{
    struct io_uring_params p;
    size_t i;
    int fd = -1;

    memset(r, 0, sizeof(*r));
    r->fd = -1;
    for (i = 0; i < sizeof(pn__uring_setups) / sizeof(pn__uring_setups[0]); i++) {
        memset(&p, 0, sizeof(p));
        p.flags = pn__uring_setups[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = cq_entries;
        fd = (int)syscall(__NR_io_uring_setup, sq_entries, &p);
        if (fd >= 0 || errno != EINVAL)
            break;  /* EINVAL: a flag this kernel does not know; try fewer */
    }
    if (fd < 0)
        return -errno;
    /* We wait with a timeout through IORING_ENTER_EXT_ARG (5.11). */
    if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
        close(fd);
        return -EINVAL;
    }
    r->fd = fd;
    r->flags = p.flags;
    r->sq_map_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_map_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_map_size > r->sq_map_size)
            r->sq_map_size = r->cq_map_size;
        r->cq_map_size = r->sq_map_size;
    }
    r->sq_map = mmap(NULL, r->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                     fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED)
        goto fail;
    if (p.features & IORING_FEAT_SINGLE_MMAP)
        r->cq_map = r->sq_map;
    else
        r->cq_map = mmap(NULL, r->cq_map_size, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    if (r->cq_map == MAP_FAILED)
        goto fail;
    r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED)
        goto fail;

    r->sq_khead = (unsigned *)((char *)r->sq_map + p.sq_off.head);
    r->sq_ktail = (unsigned *)((char *)r->sq_map + p.sq_off.tail);
    r->sq_array = (unsigned *)((char *)r->sq_map + p.sq_off.array);
    r->sq_mask = *(unsigned *)((char *)r->sq_map + p.sq_off.ring_mask);
    r->sq_entries = p.sq_entries;
    r->sqe_tail = *r->sq_ktail;
    r->cq_khead = (unsigned *)((char *)r->cq_map + p.cq_off.head);
    r->cq_ktail = (unsigned *)((char *)r->cq_map + p.cq_off.tail);
    r->cq_mask = *(unsigned *)((char *)r->cq_map + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)((char *)r->cq_map + p.cq_off.cqes);
    /* Slot i of the submission ring always names entry i: entries are
     * used in ring order, so the indirection is set once. */
    for (i = 0; i < p.sq_entries; i++)
        r->sq_array[i] = (unsigned)i;
    return 0;

fail:
    {
        int rc = -errno;
        pn__uring_close(r);
        return rc;
    }
}

void pn__uring_close(struct pn__uring *r)
{
    pn__uring_unmap(r);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

int pn__uring_enter(struct pn__uring *r, int wait, int timeout_ms)
{
    struct io_uring_getevents_arg arg;
    struct __kernel_timespec ts;
    unsigned submit, flags = 0;
    long rc;

    __atomic_store_n(r->sq_ktail, r->sqe_tail, __ATOMIC_RELEASE);
    /* What the kernel has not consumed yet, this call's entries and any an
     * interrupted call left behind. */
    submit = r->sqe_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE);
    if (!wait && submit == 0)
        return 0;
    memset(&arg, 0, sizeof(arg));
    if (wait) {
        if (timeout_ms < 0)
            timeout_ms = 0;
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
        arg.ts = (uint64_t)(uintptr_t)&ts;
        flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    }
    do {
        rc = syscall(__NR_io_uring_enter, r->fd, submit, wait ? 1u : 0u, flags,
                     wait ? &arg : NULL, wait ? sizeof(arg) : (size_t)0);
    } while (rc < 0 && errno == EINTR && !wait);
    if (rc >= 0)
        return 0;
    /* ETIME: the wait timed out. EINTR: a signal (its handler may have
     * asked us to stop). EAGAIN, EBUSY: the kernel is short of memory for
     * requests or holds completions that did not fit; reaping what is in
     * the completion queue and entering again is the cure. */
    if (errno == ETIME || errno == EINTR || errno == EAGAIN || errno == EBUSY)
        return 0;
    return -errno;
}

struct io_uring_sqe *pn__uring_sqe(struct pn__uring *r)
{
    struct io_uring_sqe *sqe;

    if (r->sqe_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE) >= r->sq_entries) {
        (void)pn__uring_enter(r, 0, 0);
        if (r->sqe_tail - __atomic_load_n(r->sq_khead, __ATOMIC_ACQUIRE) >= r->sq_entries)
            return NULL;
    }
    sqe = &r->sqes[r->sqe_tail & r->sq_mask];
    r->sqe_tail++;
    memset(sqe, 0, sizeof(*sqe));
    return sqe;
}

/* ---- provided buffer rings (5.19) ---------------------------------------- */

int pn__uring_bufs_open(struct pn__uring *r, struct pn__uring_bufs *b, uint16_t group,
                        unsigned count, size_t size)
{
    struct io_uring_buf_reg reg;
    unsigned i;
    int rc;

    memset(b, 0, sizeof(*b));
    if (count == 0 || (count & (count - 1)) != 0 || count > 32768)
        return -EINVAL;
    /* The ring must be page-aligned memory: an anonymous mapping. */
    b->br_size = count * sizeof(struct io_uring_buf);
    b->br = mmap(NULL, b->br_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->br == MAP_FAILED) {
        b->br = NULL;
        return -errno;
    }
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)b->br;
    reg.ring_entries = count;
    reg.bgid = group;
    if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        rc = -errno;
        munmap(b->br, b->br_size);
        b->br = NULL;
        return rc;
    }
    /* Only the pages a recv writes to become resident: a 64-byte message
     * costs one page of its buffer, however large the buffer. */
    b->base = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->base == MAP_FAILED) {
        rc = -errno;
        b->base = NULL;
        pn__uring_bufs_close(r, b);
        return rc;
    }
    b->size = size;
    b->count = count;
    b->group = group;
    for (i = 0; i < count; i++)
        pn__uring_buf_put(b, i);
    return 0;
}

void pn__uring_bufs_close(struct pn__uring *r, struct pn__uring_bufs *b)
{
    struct io_uring_buf_reg reg;

    if (b->br != NULL) {
        memset(&reg, 0, sizeof(reg));
        reg.bgid = b->group;
        /* Unregistered before it is unmapped: the kernel keeps the pages
         * pinned until then. */
        (void)syscall(__NR_io_uring_register, r->fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
        munmap(b->br, b->br_size);
    }
    if (b->base != NULL)
        munmap(b->base, (size_t)b->count * b->size);
    memset(b, 0, sizeof(*b));
}

/* ---- can io_uring run here? ----------------------------------------------- */

static int pn__uring_probed = 1;  /* 1: not probed yet */

int pn__uring_probe(void)
{
    struct pn__uring r;
    struct pn__uring_bufs b;
    int rc = __atomic_load_n(&pn__uring_probed, __ATOMIC_ACQUIRE);

    if (rc != 1)
        return rc;
    /* What the loop itself needs: a ring, and a provided buffer ring. Two
     * threads probing at once both find the same answer. */
    rc = pn__uring_open(&r, 2, 4);
    if (rc == 0) {
        rc = pn__uring_bufs_open(&r, &b, 0, 2, 64);
        if (rc == 0)
            pn__uring_bufs_close(&r, &b);
        pn__uring_close(&r);
    }
    __atomic_store_n(&pn__uring_probed, rc, __ATOMIC_RELEASE);
    return rc;
}

#endif /* PN__HAVE_URING */
