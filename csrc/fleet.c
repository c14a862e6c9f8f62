/* The fleet engine: many targets probed over one ICMP socket per family,
 * one call driving a whole run. This file keeps the targets, the schedule,
 * the timers and the run loop; fleet_io.c moves the packets. The pure-Python
 * twin is pynet/_reference/fleet.py; the two must agree record for record.
 *
 * Schedule. Targets start in the order they were added. Sends come from
 * three queues, each in due order: retries (due when the previous try's
 * deadline passed), next probes of count mode (due a period after the
 * target's last send), and first probes (always due). A retry or next
 * probe that is due goes before any first probe; between the two, the
 * earlier due goes first. Globally, sends are at least interval_ns apart,
 * and with rate_pps a token bucket PN__FLEET_BURST_NS deep caps the rate.
 *
 * count == 1 (fping's default mode): one probe, and a target that has not
 * answered by the deadline gets a retry, up to `retries`, the k-th with
 * the timeout times backoff^k; the first reply finishes the target.
 * count != 1 (fping -c / -l): probes a period apart, each final at its
 * reply or deadline; retries do not apply, as fping ignores -r there.
 *
 * Timers: why FIFOs and not a heap or a wheel. Every probe of one retry
 * level has the same timeout, and probes are sent in time order, so their
 * deadlines come in the order they were sent: a FIFO per level holds them
 * sorted for free, and each timer event (push, expire) is O(1), with no
 * per-entry deadline stored (it is the slot's send time plus the level's
 * timeout). The send queues are FIFOs for the same reason (one period; due
 * times of retries follow deadlines). Entries made stale by a reply or a
 * cancel are dropped when they reach the head. A binary heap would cost
 * O(log n) and 16 bytes per entry; a wheel would need a tick and buckets.
 *
 * Probe states: PENDING once sent; ANSWERED at a matching reply (REPLY), a
 * second reply being a duplicate (REPLY + DUP); ERRORED at an ICMP error
 * quoting it (ERROR); FAILED when the kernel refused the send (SEND_FAILED).
 * ERRORED and FAILED are settled at the deadline without a TIMEOUT record,
 * so retries and backoff keep their schedule; a PENDING probe at its
 * deadline becomes TIMED_OUT (TIMEOUT). Replies to a probe that timed out,
 * or to a cancelled target, count as foreign. A reply whose round trip by
 * the kernel's receive stamp exceeds the probe's timeout counts as late,
 * not as a reply, even when it is read before the deadline is seen (fping
 * discards it too).
 *
 * Memory per target: where (4 bytes), probes sent (4), flags (1), the
 * address (4 or 20), and `window` slots of send time (8) and state (1):
 * 30 bytes for a one-probe IPv4 sweep, plus 8 in the expiry FIFO while the
 * probe is in flight. */
#define _GNU_SOURCE
#include "fleet_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__linux__)

#include <poll.h>

int64_t pn__fleet_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * PN__FLEET_NS + ts.tv_nsec;
}

int64_t pn__fleet_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * PN__FLEET_NS + ts.tv_nsec;
}

/* CLOCK_REALTIME minus CLOCK_MONOTONIC: the realtime reading against the
 * midpoint of two monotonic ones around it, the tightest of three tries, so
 * that a preemption between two readings does not shift every RTT made
 * through it (it could take a loopback RTT below zero). */
int64_t pn__fleet_offset(void)
{
    int64_t best = 0, gap = INT64_MAX;
    int i;

    for (i = 0; i < 3; i++) {
        int64_t before = pn__fleet_mono(), real = pn__fleet_real(), after = pn__fleet_mono();

        if (after - before < gap) {
            gap = after - before;
            best = real - (before + (after - before) / 2);
        }
    }
    return best;
}

/* ---- fifo ---------------------------------------------------------------- */

int pn__fifo_push(struct pn__fifo *q, const void *entry)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64, i;
        uint8_t *buf;

        if (cap > SIZE_MAX / q->esize)
            return -ENOMEM;
        buf = malloc(cap * q->esize);
        if (!buf)
            return -ENOMEM;
        /* Unwrap into the new ring, head at 0. */
        for (i = 0; i < q->len; i++)
            memcpy(buf + i * q->esize, pn__fifo_at(q, i), q->esize);
        free(q->buf);
        q->buf = buf;
        q->cap = cap;
        q->head = 0;
    }
    memcpy(q->buf + ((q->head + q->len) & (q->cap - 1)) * q->esize, entry, q->esize);
    q->len++;
    return 0;
}

static void pn__fifo_init(struct pn__fifo *q, size_t esize)
{
    memset(q, 0, sizeof(*q));
    q->esize = esize;
}

static void pn__fifo_free(struct pn__fifo *q)
{
    free(q->buf);
    q->buf = NULL;
    q->len = q->cap = q->head = 0;
}

/* ---- the engine ------------------------------------------------------------ */

static uint32_t pn__window(const struct pn_fleet_config *c)
{
    int64_t w;

    if (c->count == 1)
        return 1;
    w = c->timeout_ns / (c->period_ns > 0 ? c->period_ns : 1) + 2;
    if (c->count > 0 && c->count < w)
        w = c->count;
    return w > PN_FLEET_MAX_WINDOW ? PN_FLEET_MAX_WINDOW + 1 : (uint32_t)w;
}

static int pn__check(const struct pn_fleet_config *c)
{
    if (c->payload_len < PN_FLEET_MIN_PAYLOAD || c->payload_len > PN_FLEET_MAX_PAYLOAD)
        return -EINVAL;
    if (c->count < 0 || c->retries < 0 || c->interval_ns < 0 || c->rate_pps < 0)
        return -EINVAL;
    if (c->timeout_ns <= 0 || c->period_ns <= 0)
        return -EINVAL;
    if (!(c->backoff >= 1.0 && c->backoff <= 100.0) || c->retries > PN_FLEET_MAX_RETRIES)
        return -EINVAL;
    if (pn__window(c) > PN_FLEET_MAX_WINDOW || c->ident < 0 || c->ident > 0xffff)
        return -EINVAL;
    if (c->fold != 0 && (c->fold != 1 || c->count != 1))
        return -EINVAL;
    return 0;
}

int pn_fleet_new(const struct pn_fleet_config *config, struct pn_fleet **out)
{
    struct pn_fleet *f;
    double t;
    int i, rc = pn__check(config);

    *out = NULL;
    if (rc < 0)
        return rc;
    f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->c = *config;
    f->window = pn__window(config);
    f->levels = config->count == 1 ? (int)config->retries + 1 : 1;
    f->tmo = calloc((size_t)f->levels, sizeof(*f->tmo));
    f->expiry = calloc((size_t)f->levels, sizeof(*f->expiry));
    f->seq_target = calloc(PN_FLEET_SEQ_LOG, sizeof(uint32_t));
    f->seq_probe = calloc(PN_FLEET_SEQ_LOG, sizeof(uint32_t));
    if (!f->tmo || !f->expiry || !f->seq_target || !f->seq_probe) {
        pn_fleet_free(f);
        return -ENOMEM;
    }
    /* timeout * backoff^level, multiplied step by step in doubles, as the
     * Python twin does, so both round alike. */
    t = (double)config->timeout_ns;
    for (i = 0; i < f->levels; i++) {
        f->tmo[i] = (int64_t)t;
        t *= config->backoff;
        pn__fifo_init(&f->expiry[i], sizeof(struct pn__expiry));
    }
    pn__fifo_init(&f->retry, sizeof(struct pn__retry));
    pn__fifo_init(&f->nexts, sizeof(uint32_t));
    pn__fifo_init(&f->done_queue, sizeof(uint32_t));
    f->last_send_ns = -1;
    f->rate_gap_ns = config->rate_pps ? (PN__FLEET_NS + config->rate_pps - 1) / config->rate_pps : 0;
    f->errq4 = f->errq6 = 1;
    rc = pn__fleet_io_new(f);
    if (rc < 0) {
        pn_fleet_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void pn_fleet_free(struct pn_fleet *f)
{
    int i;

    if (!f)
        return;
    pn__fleet_io_free(f);
    if (f->expiry) {
        for (i = 0; i < f->levels; i++)
            pn__fifo_free(&f->expiry[i]);
    }
    pn__fifo_free(&f->retry);
    pn__fifo_free(&f->nexts);
    pn__fifo_free(&f->done_queue);
    free(f->expiry);
    free(f->tmo);
    free(f->seq_target);
    free(f->seq_probe);
    free(f->where);
    free(f->sent);
    free(f->tflags);
    free(f->slot_time);
    free(f->slot_state);
    free(f->addr4);
    free(f->addr6);
    free(f);
}

/* realloc *p to cap elements of size, zeroing from old to cap. */
static int pn__grow(void **p, size_t old, size_t cap, size_t size)
{
    void *q;

    if (cap > SIZE_MAX / size)
        return -ENOMEM;
    q = realloc(*p, cap * size);
    if (!q)
        return -ENOMEM;
    memset((uint8_t *)q + old * size, 0, (cap - old) * size);
    *p = q;
    return 0;
}

static int pn__reserve(struct pn_fleet *f, int family, size_t n)
{
    size_t need = f->n + n, cap, w = f->window;

    if (need > f->cap) {
        cap = f->cap * 2 > need ? f->cap * 2 : need;
        if (pn__grow((void **)&f->where, f->cap, cap, sizeof(uint32_t)) < 0 ||
            pn__grow((void **)&f->sent, f->cap, cap, sizeof(uint32_t)) < 0 ||
            pn__grow((void **)&f->tflags, f->cap, cap, 1) < 0 ||
            pn__grow((void **)&f->slot_time, f->cap * w, cap * w, sizeof(int64_t)) < 0 ||
            pn__grow((void **)&f->slot_state, f->cap * w, cap * w, 1) < 0)
            return -ENOMEM;  /* the arrays that did grow stay valid, only larger */
        f->cap = cap;
    }
    if (family == 4 && f->n4 + n > f->cap4) {
        cap = f->cap4 * 2 > f->n4 + n ? f->cap4 * 2 : f->n4 + n;
        if (pn__grow((void **)&f->addr4, f->cap4, cap, 4) < 0)
            return -ENOMEM;
        f->cap4 = cap;
    }
    if (family == 6 && f->n6 + n > f->cap6) {
        cap = f->cap6 * 2 > f->n6 + n ? f->cap6 * 2 : f->n6 + n;
        if (pn__grow((void **)&f->addr6, f->cap6, cap, sizeof(struct pn__addr6)) < 0)
            return -ENOMEM;
        f->cap6 = cap;
    }
    return 0;
}

int64_t pn_fleet_add(struct pn_fleet *f, int family, const void *addresses, size_t n,
                     uint32_t scope_id)
{
    const uint8_t *a = addresses;
    size_t i, first = f->n;

    if (family != 4 && family != 6)
        return -EINVAL;
    if ((family == 4 ? f->c.fd4 : f->c.fd6) < 0)
        return -EINVAL;
    if (n > PN_FLEET_MAX_TARGETS || f->n + n > PN_FLEET_MAX_TARGETS)
        return -EINVAL;
    if (pn__reserve(f, family, n) < 0)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        if (family == 4) {
            memcpy(f->addr4 + f->n4 * 4, a + i * 4, 4);
            f->where[f->n + i] = (uint32_t)f->n4++;
        } else {
            memcpy(f->addr6[f->n6].addr, a + i * 16, 16);
            f->addr6[f->n6].scope_id = scope_id;
            f->where[f->n + i] = (uint32_t)f->n6++ | PN__WHERE_V6;
        }
    }
    f->n += n;
    f->active += (int64_t)n;
    return (int64_t)first;
}

static int pn__cancel(struct pn_fleet *f, int64_t target, int record)
{
    uint32_t t = (uint32_t)target;

    if (target < 0 || (size_t)target >= f->n)
        return -ERANGE;
    if (f->tflags[t] & PN__T_DONE)
        return 0;
    if (record && pn__fifo_push(&f->done_queue, &t) < 0)
        return -ENOMEM;
    f->tflags[t] |= PN__T_DONE | PN__T_CANCELLED;
    f->active--;
    return 0;
}

int pn_fleet_cancel(struct pn_fleet *f, int64_t target)
{
    return pn__cancel(f, target, 1);
}

int pn_fleet_drop(struct pn_fleet *f, int64_t target)
{
    return pn__cancel(f, target, 0);
}

void pn_fleet_counters(const struct pn_fleet *f, struct pn_fleet_counters *out)
{
    out->sent = f->sent_total;
    out->received = f->received;
    out->duplicates = f->duplicates;
    out->corrupted = f->corrupted;
    out->errors = f->errors;
    out->malformed = f->malformed;
    out->foreign = f->foreign;
    out->late = f->late;
    out->kernel_drops = f->drops4 + f->drops6;
    out->active = f->active;
    out->done = f->active == 0 && f->done_queue.len == 0;
}

/* ---- records and target progress -------------------------------------------- */

struct pn_fleet_record *pn__fleet_record(struct pn_fleet_record *out, size_t *n, int kind,
                                         uint32_t target, uint32_t probe, int64_t when)
{
    struct pn_fleet_record *r = &out[(*n)++];

    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->target = target;
    r->probe = probe;
    r->ttl = -1;
    r->when_ns = when;
    return r;
}

void pn__fleet_finish(struct pn_fleet *f, uint32_t t)
{
    f->tflags[t] |= PN__T_DONE;
    f->active--;
}

void pn__fleet_done(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, uint32_t t)
{
    pn__fleet_finish(f, t);
    pn__fleet_record(out, n, PN_FLEET_DONE, t, f->sent[t], pn__fleet_real());
}

static int pn__open(uint8_t state)
{
    return state == PN__P_PENDING || state == PN__P_ERRORED || state == PN__P_FAILED;
}

/* count mode: every probe sent and none still open. */
int pn__fleet_settled(const struct pn_fleet *f, uint32_t t)
{
    const uint8_t *s = f->slot_state + (size_t)t * f->window;
    uint32_t i;

    if (f->c.count == 0 || f->sent[t] < f->c.count)
        return 0;
    for (i = 0; i < f->window; i++) {
        if (pn__open(s[i]))
            return 0;
    }
    return 1;
}

void pn__fleet_expire_probe(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n,
                            uint32_t t, uint32_t p)
{
    size_t slot = (size_t)t * f->window + p % f->window;
    uint8_t state = f->slot_state[slot];

    f->slot_state[slot] = PN__P_TIMED_OUT;
    if (state == PN__P_PENDING)
        pn__fleet_record(out, n, PN_FLEET_TIMEOUT, t, p, pn__fleet_real());
    if (f->c.count == 1) {
        if (f->tflags[t] & PN__T_ANSWERED)
            return;
        if (p < f->c.retries) {
            struct pn__retry r = { t, 0, f->slot_time[slot] + f->tmo[p] };
            /* Out of memory: the target ends here rather than hang. */
            if (pn__fifo_push(&f->retry, &r) == 0)
                return;
        }
        pn__fleet_done(f, out, n, t);
    } else if (pn__fleet_settled(f, t)) {
        pn__fleet_done(f, out, n, t);
    }
}

int pn__fleet_sent(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, uint32_t t,
                   int64_t when, int failure)
{
    uint32_t p = f->sent[t], seq = (uint32_t)(f->sent_total & 0xffff);
    size_t slot = (size_t)t * f->window + p % f->window;
    struct pn__expiry e = { t, p };
    int level = f->c.count == 1 ? (int)p : 0;

    if (pn__open(f->slot_state[slot])) {
        /* The window wrapped over a probe whose deadline has not been seen. */
        pn__fleet_expire_probe(f, out, n, t, p - f->window);
    }
    f->slot_time[slot] = when;
    f->slot_state[slot] = failure ? PN__P_FAILED : PN__P_PENDING;
    f->sent[t] = p + 1;
    f->seq_target[seq] = t;
    f->seq_probe[seq] = p;
    f->sent_total++;
    f->last_send_ns = when;
    if (f->rate_gap_ns) {
        int64_t base = when - PN__FLEET_BURST_NS;
        f->rate_next_ns = (f->rate_next_ns > base ? f->rate_next_ns : base) + f->rate_gap_ns;
    }
    if (pn__fifo_push(&f->expiry[level], &e) < 0)
        return -ENOMEM;
    if (f->c.count != 1 && (f->c.count == 0 || p + 1 < f->c.count)) {
        if (pn__fifo_push(&f->nexts, &t) < 0)
            return -ENOMEM;
    }
    if (failure) {
        struct pn_fleet_record *r = pn__fleet_record(out, n, PN_FLEET_SEND_FAILED, t, p,
                                                     pn__fleet_real());
        r->code = failure;
    }
    return 0;
}

/* ---- the schedule ----------------------------------------------------------- */

/* Entries of finished targets (answered, cancelled) leave the fronts of the
 * queues here, where nothing of the send being built points into them yet:
 * else a long-lived engine (the Pinger's) steps over every target it ever
 * finished on each send, and its steps grow with its age. */
static void pn__fleet_prune(struct pn_fleet *f, const size_t skip[3])
{
    if (skip[0] == 0)
        while (f->retry.len &&
               (f->tflags[((const struct pn__retry *)pn__fifo_at(&f->retry, 0))->target] &
                PN__T_DONE))
            pn__fifo_pop(&f->retry, 1);
    if (skip[1] == 0)
        while (f->nexts.len &&
               (f->tflags[*(const uint32_t *)pn__fifo_at(&f->nexts, 0)] & PN__T_DONE))
            pn__fifo_pop(&f->nexts, 1);
    if (skip[2] == 0)
        while (f->cursor < f->n && (f->tflags[f->cursor] & PN__T_DONE))
            f->cursor++;
}

int pn__fleet_next_send(struct pn_fleet *f, int64_t now, const size_t skip[3], uint32_t *target,
                        int64_t *due, size_t *index)
{
    int which = -1;
    int64_t best = 0;
    size_t i, bi = 0;

    pn__fleet_prune(f, skip);
    for (i = skip[0]; i < f->retry.len; i++) {
        const struct pn__retry *r = pn__fifo_at(&f->retry, i);
        if (!(f->tflags[r->target] & PN__T_DONE)) {
            which = 0, best = r->due, bi = i, *target = r->target;
            break;
        }
    }
    for (i = skip[1]; i < f->nexts.len; i++) {
        uint32_t t = *(const uint32_t *)pn__fifo_at(&f->nexts, i);
        if (!(f->tflags[t] & PN__T_DONE)) {
            int64_t d = f->slot_time[(size_t)t * f->window + (f->sent[t] - 1) % f->window] +
                        f->c.period_ns;
            if (which < 0 || d < best)
                which = 1, best = d, bi = i, *target = t;
            break;
        }
    }
    if (which >= 0 && best <= now) {
        *due = best;
        *index = bi;
        return which;
    }
    for (i = f->cursor + skip[2]; i < f->n; i++) {
        if (!(f->tflags[i] & PN__T_DONE)) {
            *target = (uint32_t)i;
            *due = now;
            *index = i - f->cursor;
            return 2;
        }
    }
    *due = best;
    *index = bi;
    return which;
}

int64_t pn__fleet_pace(const struct pn_fleet *f)
{
    int64_t t = f->retry_send_ns;

    if (f->c.interval_ns && f->last_send_ns >= 0 && f->last_send_ns + f->c.interval_ns > t)
        t = f->last_send_ns + f->c.interval_ns;
    if (f->rate_gap_ns && f->rate_next_ns > t)
        t = f->rate_next_ns;
    return t;
}

static void pn__expire(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, size_t cap)
{
    int64_t now = pn__fleet_mono();
    int level;

    for (level = 0; level < f->levels; level++) {
        struct pn__fifo *q = &f->expiry[level];
        while (q->len && cap - *n >= 2) {
            const struct pn__expiry *e = pn__fifo_at(q, 0);
            uint32_t t = e->target, p = e->probe;
            size_t slot = (size_t)t * f->window + p % f->window;

            if ((f->tflags[t] & PN__T_DONE) || (uint64_t)p + f->window < f->sent[t] ||
                !pn__open(f->slot_state[slot])) {
                pn__fifo_pop(q, 1);  /* stale: answered, cancelled or already expired */
                continue;
            }
            if (f->slot_time[slot] + f->tmo[level] > now)
                break;
            pn__fifo_pop(q, 1);
            pn__fleet_expire_probe(f, out, n, t, p);
        }
    }
}

int64_t pn_fleet_next_wakeup(struct pn_fleet *f)
{
    static const size_t none[3] = { 0, 0, 0 };
    int64_t wake = INT64_MAX, due, pace;
    uint32_t t;
    size_t index;
    int level;

    if (f->done_queue.len)
        return pn__fleet_mono();
    if (pn__fleet_next_send(f, pn__fleet_mono(), none, &t, &due, &index) >= 0) {
        pace = pn__fleet_pace(f);
        wake = due > pace ? due : pace;
    }
    for (level = 0; level < f->levels; level++) {
        const struct pn__fifo *q = &f->expiry[level];
        if (q->len) {
            const struct pn__expiry *e = pn__fifo_at(q, 0);
            int64_t d = f->slot_time[(size_t)e->target * f->window + e->probe % f->window] +
                        f->tmo[level];
            if (d < wake)
                wake = d;
        }
    }
    return wake == INT64_MAX ? -1 : wake;
}

/* ---- the loop -------------------------------------------------------------- */

static int pn__finished(const struct pn_fleet *f)
{
    return f->active == 0 && f->done_queue.len == 0;
}

/* Everything due, without waiting: DONE of cancelled targets, what the
 * sockets hold, expired deadlines, due sends. */
static int pn__pass(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, size_t cap)
{
    int rc;

    while (f->done_queue.len && cap - *n >= 2) {
        uint32_t t = *(const uint32_t *)pn__fifo_at(&f->done_queue, 0);
        pn__fifo_pop(&f->done_queue, 1);
        pn__fleet_record(out, n, PN_FLEET_DONE, t, f->sent[t], pn__fleet_real());
    }
    if (f->c.fd4 >= 0 && (rc = pn__fleet_receive(f, 4, out, n, cap)) < 0)
        return rc;
    if (f->c.fd6 >= 0 && (rc = pn__fleet_receive(f, 6, out, n, cap)) < 0)
        return rc;
    pn__expire(f, out, n, cap);
    return pn__fleet_send(f, out, n, cap);
}

long pn_fleet_step(struct pn_fleet *f, struct pn_fleet_record *out, size_t cap)
{
    size_t n = 0;
    int64_t sends = 0;
    int rc;

    if (cap < 2)
        return -EINVAL;
    /* Pass after pass while they send: a thousand probes due at once go in
     * one step, each batch's replies read before the next goes (on
     * loopback they are queued by the time sendmmsg returns). At most
     * about cap sends, so one step never holds an event loop for long. */
    do {
        int64_t before = f->sent_total;

        rc = pn__pass(f, out, &n, cap);
        if (rc < 0 || f->sent_total == before)
            break;
        sends += f->sent_total - before;
    } while (sends < (int64_t)cap && cap - n >= 2);
    pn__fleet_read_drops(f);
    return rc < 0 ? rc : (long)n;
}

long pn_fleet_run(struct pn_fleet *f, int64_t until_ns, int64_t flush_ns,
                  struct pn_fleet_record *out, size_t cap)
{
    size_t n = 0;
    int64_t first = -1;
    int rc = 0;

    if (cap < 2)
        return -EINVAL;
    for (;;) {
        struct pollfd pfd[2];
        struct timespec timeout;
        int64_t now, wake, limit;
        nfds_t nfds = 0, i;
        int ready;

        rc = pn__pass(f, out, &n, cap);
        if (rc < 0)
            break;
        now = pn__fleet_mono();
        if (n && first < 0)
            first = now;
        if (pn__finished(f) || cap - n < 2)
            break;
        if (until_ns && now >= until_ns)
            break;
        if (first >= 0 && now - first >= flush_ns)
            break;
        wake = pn_fleet_next_wakeup(f);
        /* A first probe is due "now" as next_wakeup reads the clock: look
         * at the clock again rather than poll for a microsecond. */
        now = pn__fleet_mono();
        if (wake >= 0 && wake <= now)
            continue;
        limit = now + PN__FLEET_MAX_WAIT_NS;
        if (wake > 0 && wake < limit)
            limit = wake;
        if (until_ns > 0 && until_ns < limit)
            limit = until_ns;
        if (first >= 0 && first + flush_ns < limit)
            limit = first + flush_ns;
        if (limit < now)
            limit = now;
        timeout.tv_sec = (time_t)((limit - now) / PN__FLEET_NS);
        timeout.tv_nsec = (long)((limit - now) % PN__FLEET_NS);
        if (f->c.fd4 >= 0)
            pfd[nfds++] = (struct pollfd){ f->c.fd4, POLLIN, 0 };
        if (f->c.fd6 >= 0)
            pfd[nfds++] = (struct pollfd){ f->c.fd6, POLLIN, 0 };
        ready = ppoll(pfd, nfds, &timeout, NULL);
        if (ready < 0) {
            /* Not retried: the caller (Python) must get the chance to run
             * its signal handlers, Ctrl-C above all. */
            if (errno != EINTR)
                rc = -errno;
            break;
        }
        for (i = 0; i < nfds; i++) {
            if (pfd[i].revents & POLLERR) {
                if (pfd[i].fd == f->c.fd4)
                    f->errq4 = 1;
                else
                    f->errq6 = 1;
            }
        }
    }
    pn__fleet_read_drops(f);
    return rc < 0 ? rc : (long)n;
}

#else /* !__linux__ */

int pn_fleet_new(const struct pn_fleet_config *config, struct pn_fleet **out)
{
    (void)config;
    *out = NULL;
    return -ENOSYS;
}

void pn_fleet_free(struct pn_fleet *fleet)
{
    (void)fleet;
}

int64_t pn_fleet_add(struct pn_fleet *fleet, int family, const void *addresses, size_t n,
                     uint32_t scope_id)
{
    (void)fleet, (void)family, (void)addresses, (void)n, (void)scope_id;
    return -ENOSYS;
}

int pn_fleet_cancel(struct pn_fleet *fleet, int64_t target)
{
    (void)fleet, (void)target;
    return -ENOSYS;
}

int pn_fleet_drop(struct pn_fleet *fleet, int64_t target)
{
    (void)fleet, (void)target;
    return -ENOSYS;
}

long pn_fleet_run(struct pn_fleet *fleet, int64_t until_ns, int64_t flush_ns,
                  struct pn_fleet_record *out, size_t cap)
{
    (void)fleet, (void)until_ns, (void)flush_ns, (void)out, (void)cap;
    return -ENOSYS;
}

long pn_fleet_step(struct pn_fleet *fleet, struct pn_fleet_record *out, size_t cap)
{
    (void)fleet, (void)out, (void)cap;
    return -ENOSYS;
}

int64_t pn_fleet_next_wakeup(struct pn_fleet *fleet)
{
    (void)fleet;
    return -1;
}

void pn_fleet_counters(const struct pn_fleet *fleet, struct pn_fleet_counters *out)
{
    (void)fleet;
    memset(out, 0, sizeof(*out));
    out->done = 1;
}

#endif
