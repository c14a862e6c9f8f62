/* The fleet engine's state, shared by fleet.c (schedule, timers, the run
 * loop) and fleet_io.c (batched sends, receives, the matcher). */
#ifndef PYNET_FLEET_INTERNAL_H
#define PYNET_FLEET_INTERNAL_H

#include "pynet.h"

#include <stddef.h>
#include <stdint.h>

#define PN__FLEET_NS 1000000000LL
/* Sends per sendmmsg, datagrams per recvmmsg. */
#define PN__FLEET_SEND_BATCH 256
#define PN__FLEET_RECV_BATCH 64
/* How far the rate cap lets sends catch up after a pause. */
#define PN__FLEET_BURST_NS 10000000LL
/* A send the kernel had no room for is tried again this much later. */
#define PN__FLEET_SEND_RETRY_NS 1000000LL
/* The longest single wait: the loop looks again after it. */
#define PN__FLEET_MAX_WAIT_NS 1000000000LL
/* A datagram socket hands a pending ICMP error to the next send (which the
 * kernel then drops): read the error queue and try the send again, this
 * many times at most. */
#define PN__FLEET_SEND_ATTEMPTS 4

/* Probe states, one byte per slot. */
enum {
    PN__P_EMPTY = 0,
    PN__P_PENDING = 1,
    PN__P_ERRORED = 2,
    PN__P_FAILED = 3,
    PN__P_ANSWERED = 4,
    PN__P_TIMED_OUT = 5,
};
/* Target flags. */
enum {
    PN__T_ANSWERED = 1,
    PN__T_DONE = 2,
    PN__T_CANCELLED = 4,
};
/* pn__fleet.where[t]: this bit set for IPv6, the rest indexes addr4 / addr6. */
#define PN__WHERE_V6 0x80000000u

/* A FIFO of fixed-size entries in a ring that doubles when full. Popped
 * entries stay readable until pushed over, so the sender can peek ahead and
 * pop only what the kernel took. */
struct pn__fifo {
    uint8_t *buf;
    size_t esize, head, len, cap;   /* cap a power of two (or 0) */
};

struct pn__expiry {                 /* a probe's deadline: its slot's send time + the level's timeout */
    uint32_t target, probe;
};
struct pn__retry {
    uint32_t target;
    uint32_t pad;
    int64_t due;
};
struct pn__addr6 {
    uint8_t addr[16];
    uint32_t scope_id;
};

struct pn_fleet {
    struct pn_fleet_config c;
    uint32_t window;                /* probe slots per target */
    int levels;                     /* expiry FIFOs: retries + 1 when count == 1, else 1 */
    int64_t *tmo;                   /* per level */
    /* Per target. */
    size_t n, cap;
    uint32_t *where;
    uint32_t *sent;                 /* probes sent */
    uint8_t *tflags;
    int64_t *slot_time;             /* [n * window] CLOCK_MONOTONIC of the send */
    uint8_t *slot_state;            /* [n * window] */
    uint8_t *addr4;                 /* [n4 * 4] */
    size_t n4, cap4;
    struct pn__addr6 *addr6;
    size_t n6, cap6;
    /* Queues. */
    size_t cursor;                  /* the next target to start */
    struct pn__fifo *expiry;        /* [levels] of struct pn__expiry */
    struct pn__fifo retry;          /* struct pn__retry */
    struct pn__fifo nexts;          /* uint32_t: count mode, due a period after the last send */
    struct pn__fifo done_queue;     /* uint32_t: cancelled, DONE not yet written */
    uint32_t *seq_target, *seq_probe;   /* [PN_FLEET_SEQ_LOG] */
    /* Pacing. */
    int64_t last_send_ns;           /* -1: none yet */
    int64_t rate_next_ns, rate_gap_ns, retry_send_ns;
    /* Counters. */
    int64_t sent_total, received, duplicates, corrupted, errors, malformed, foreign, late;
    int64_t drops4, drops6, active;
    int errq4, errq6;               /* the error queue may hold something */
    /* I/O buffers. */
    size_t rx_slot;                 /* bytes per receive buffer */
    uint8_t *tx, *rx;
    void *io;                       /* mmsghdr, iovec, sockaddrs, control (fleet_io.c) */
};

/* fifo (fleet.c) */
int pn__fifo_push(struct pn__fifo *q, const void *entry);
static inline void *pn__fifo_at(const struct pn__fifo *q, size_t i)
{
    return q->buf + ((q->head + i) & (q->cap - 1)) * q->esize;
}
static inline void pn__fifo_pop(struct pn__fifo *q, size_t k)
{
    q->head = (q->head + k) & (q->cap ? q->cap - 1 : 0);
    q->len -= k;
}

/* fleet.c */
int64_t pn__fleet_mono(void);
int64_t pn__fleet_real(void);
int64_t pn__fleet_offset(void);
struct pn_fleet_record *pn__fleet_record(struct pn_fleet_record *out, size_t *n, int kind,
                                         uint32_t target, uint32_t probe, int64_t when);
void pn__fleet_done(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, uint32_t t);
/* Target t is finished; its DONE record is written by the caller. */
void pn__fleet_finish(struct pn_fleet *f, uint32_t t);
int pn__fleet_settled(const struct pn_fleet *f, uint32_t t);
/* The probe (t, p) passed its deadline, or its slot is wanted back. */
void pn__fleet_expire_probe(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n,
                            uint32_t t, uint32_t p);
/* After the send of (t, p) at `when` (failure: errno, or 0). -ENOMEM. */
int pn__fleet_sent(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, uint32_t t,
                   int64_t when, int failure);
static inline const uint8_t *pn__fleet_addr(const struct pn_fleet *f, uint32_t t, int *family)
{
    uint32_t w = f->where[t];
    if (w & PN__WHERE_V6) {
        *family = 6;
        return f->addr6[w & ~PN__WHERE_V6].addr;
    }
    *family = 4;
    return f->addr4 + (size_t)w * 4;
}

/* fleet_io.c */
/* Bytes per receive buffer: max(2048, payload_len + 192); a longer datagram
 * is truncated and counted malformed (the Python twin reads as much). */
size_t pn__fleet_rx_slot(int payload_len);
int pn__fleet_io_new(struct pn_fleet *f);
void pn__fleet_io_free(struct pn_fleet *f);
/* Read the family's socket (and its error queue when flagged) until empty
 * or out is full. 0, or a negative errno when the socket broke. */
int pn__fleet_receive(struct pn_fleet *f, int family, struct pn_fleet_record *out, size_t *n,
                      size_t cap);
/* Send what is due now within the pacing. 0, or a negative errno (-ENOMEM). */
int pn__fleet_send(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, size_t cap);
void pn__fleet_read_drops(struct pn_fleet *f);
/* The next send: which queue (0 retry, 1 next, 2 first, -1 none), its
 * target and when it is due; peeking past `skip` entries of each queue. */
int pn__fleet_next_send(struct pn_fleet *f, int64_t now, const size_t skip[3], uint32_t *target,
                        int64_t *due, size_t *index);
int64_t pn__fleet_pace(const struct pn_fleet *f);

#endif /* PYNET_FLEET_INTERNAL_H */
