/* The fleet engine on a thread of its own, for an event loop.
 *
 * The loop-driven Pinger does the kernel's work for every probe (on
 * loopback: the whole echo exchange, inside sendmmsg) on the loop's own
 * thread, between the Python work of the calls. Here a thread of ours
 * drives the engine instead - pn_fleet_step, then a wait on the engine's
 * sockets and a wake-up eventfd until the next due event - so that work
 * runs on another CPU while the loop makes and finishes its calls.
 *
 * While a server runs, it alone touches the engine. The loop talks to it
 * through queues under one mutex, held only to copy: targets to add and
 * targets to drop go in (numbered at once, as pn_fleet_add would number
 * them), records come out; the `ready` eventfd is readable while records
 * wait. The counters the loop reads are the thread's copy after its last
 * step. A socket failure (or no memory) ends the thread; take() returns
 * the error once the records before it are taken.
 *
 * A server does not survive fork(): the child has no thread. */
#define _GNU_SOURCE
#include "fleet_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Records per step: a step's replies reach the loop while the next
 * batch is sent. */
#define PN__SERVE_STEP 256
/* Records waiting beyond this: the thread sends nothing more until the
 * loop has taken some (a loop that stalls does not grow us without end). */
#define PN__SERVE_BACKLOG 65536

struct pn__serve_add {
    int family;
    uint32_t scope_id;
    size_t n, offset;               /* addresses at bytes[offset...] */
};

struct pn__serve_queue {            /* work handed from the loop to the thread */
    struct pn__serve_add *adds;
    size_t nadds, cap_adds;
    uint8_t *bytes;
    size_t nbytes, cap_bytes;
    int64_t *drops;
    size_t ndrops, cap_drops;
};

struct pn_fleet_serve {
    struct pn_fleet *f;
    pthread_t thread;
    pthread_mutex_t lock;
    int ready_fd;                   /* eventfd: records wait (the loop watches it) */
    int wake_fd;                    /* eventfd: work for the thread, or stop */
    /* Under lock. */
    struct pn__serve_queue in;
    int64_t next_target;
    struct pn_fleet_record *out;
    size_t out_head, out_len, out_cap;
    int signalled;                  /* ready_fd holds a count */
    int stalled;                    /* the thread waits for the backlog to shrink */
    struct pn_fleet_counters counters;
    int error;                      /* errno that ended the thread, 0 */
    int stop;
    /* The thread's own. */
    struct pn__serve_queue work;
    struct pn_fleet_record step[PN__SERVE_STEP];
};

static int pn__grow(void **buf, size_t *cap, size_t want, size_t esize)
{
    size_t c = *cap ? *cap : 16;
    void *p;

    if (want <= *cap)
        return 0;
    while (c < want)
        c *= 2;
    p = realloc(*buf, c * esize);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

static void pn__signal(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof(one));
    (void)w;   /* only EAGAIN at a count near 2^64: it is readable then anyway */
}

static void pn__drain(int fd)
{
    uint64_t count;
    ssize_t r = read(fd, &count, sizeof(count));
    (void)r;   /* EAGAIN: nothing was there */
}

/* Apply what the loop queued: adds first (a drop is always queued after its
 * target's add), then drops. */
static int pn__apply(struct pn_fleet_serve *s)
{
    struct pn__serve_queue *q = &s->work;
    size_t i;

    for (i = 0; i < q->nadds; i++) {
        const struct pn__serve_add *a = &q->adds[i];
        int64_t first = pn_fleet_add(s->f, a->family, q->bytes + a->offset, a->n, a->scope_id);
        if (first < 0)
            return (int)first;
    }
    for (i = 0; i < q->ndrops; i++)
        (void)pn_fleet_drop(s->f, q->drops[i]);   /* -ERANGE: never added, nothing to do */
    q->nadds = q->nbytes = q->ndrops = 0;
    return 0;
}

/* Hand the step's records to the loop. Under lock. */
static int pn__publish(struct pn_fleet_serve *s, size_t n)
{
    if (!n)
        return 0;
    if (s->out_head + s->out_len + n > s->out_cap && s->out_head) {
        memmove(s->out, s->out + s->out_head, s->out_len * sizeof(*s->out));
        s->out_head = 0;
    }
    if (pn__grow((void **)&s->out, &s->out_cap, s->out_head + s->out_len + n, sizeof(*s->out)))
        return -ENOMEM;
    memcpy(s->out + s->out_head + s->out_len, s->step, n * sizeof(*s->out));
    s->out_len += n;
    if (!s->signalled) {
        pn__signal(s->ready_fd);
        s->signalled = 1;
    }
    return 0;
}

static void pn__swap(struct pn__serve_queue *a, struct pn__serve_queue *b)
{
    struct pn__serve_queue t = *a;
    *a = *b;
    *b = t;
}

static void *pn__serve_main(void *arg)
{
    struct pn_fleet_serve *s = arg;
    struct pn_fleet *f = s->f;
    int rc = 0;

    for (;;) {
        struct pollfd pfd[3];
        struct pn_fleet_counters snap;
        nfds_t nfds = 0, i;
        int64_t wake, now;
        struct timespec timeout, *wait = NULL;
        int busy, stalled;
        long n;

        pthread_mutex_lock(&s->lock);
        if (s->stop) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        stalled = s->out_len > PN__SERVE_BACKLOG;
        s->stalled = stalled;
        if (!stalled)
            pn__swap(&s->in, &s->work);
        pthread_mutex_unlock(&s->lock);
        busy = 0;
        if (!stalled) {
            busy = s->work.nadds || s->work.ndrops;
            rc = pn__apply(s);
            if (rc < 0)
                break;
            n = pn_fleet_step(f, s->step, PN__SERVE_STEP);
            if (n < 0) {
                rc = (int)n;
                break;
            }
            pn_fleet_counters(f, &snap);
            pthread_mutex_lock(&s->lock);
            rc = pn__publish(s, (size_t)n);
            s->counters = snap;
            busy |= s->in.nadds || s->in.ndrops;
            pthread_mutex_unlock(&s->lock);
            if (rc < 0)
                break;
            /* A full step: more may be due at once. */
            if (busy || n >= PN__SERVE_STEP - 2)
                continue;
        }
        /* Wait: for the sockets, the next due event (to the nanosecond: -i
         * and --rate gaps are finer than poll's milliseconds), or the loop. */
        if (!stalled) {
            wake = pn_fleet_next_wakeup(f);
            now = pn__fleet_mono();
            if (wake >= 0 && wake <= now)
                continue;
            if (wake < 0 || wake - now > PN__FLEET_MAX_WAIT_NS)
                wake = now + PN__FLEET_MAX_WAIT_NS;
            timeout.tv_sec = (time_t)((wake - now) / PN__FLEET_NS);
            timeout.tv_nsec = (long)((wake - now) % PN__FLEET_NS);
            wait = &timeout;
            if (f->c.fd4 >= 0)
                pfd[nfds++] = (struct pollfd){ f->c.fd4, POLLIN, 0 };
            if (f->c.fd6 >= 0)
                pfd[nfds++] = (struct pollfd){ f->c.fd6, POLLIN, 0 };
        }
        pfd[nfds++] = (struct pollfd){ s->wake_fd, POLLIN, 0 };
        if (ppoll(pfd, nfds, wait, NULL) < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        for (i = 0; i < nfds; i++) {
            if (pfd[i].fd == s->wake_fd) {
                if (pfd[i].revents & POLLIN)
                    pn__drain(s->wake_fd);
            } else if (pfd[i].revents & POLLERR) {
                if (pfd[i].fd == f->c.fd4)
                    f->errq4 = 1;
                else
                    f->errq6 = 1;
            }
        }
    }
    if (rc < 0) {
        pthread_mutex_lock(&s->lock);
        s->error = -rc;
        if (!s->signalled) {
            pn__signal(s->ready_fd);
            s->signalled = 1;
        }
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

static void pn__queue_free(struct pn__serve_queue *q)
{
    free(q->adds);
    free(q->bytes);
    free(q->drops);
}

static void pn__serve_free(struct pn_fleet_serve *s)
{
    if (s->ready_fd >= 0)
        close(s->ready_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    pn__queue_free(&s->in);
    pn__queue_free(&s->work);
    free(s->out);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int pn_fleet_serve_start(struct pn_fleet *f, struct pn_fleet_serve **out)
{
    struct pn_fleet_serve *s;
    sigset_t all, old;
    int rc;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->f = f;
    s->next_target = (int64_t)f->n;
    pn_fleet_counters(f, &s->counters);
    s->wake_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    s->ready_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->ready_fd >= 0)
        s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->ready_fd < 0 || s->wake_fd < 0) {
        rc = -errno;
        pn__serve_free(s);
        return rc;
    }
    /* Signals go to the caller's threads (Python's handlers run in the main
     * one), never to ours: blocked in the thread from its first instant. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->thread, NULL, pn__serve_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        pn__serve_free(s);
        return -rc;
    }
    *out = s;
    return 0;
}

void pn_fleet_serve_stop(struct pn_fleet_serve *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    pn__signal(s->wake_fd);
    pthread_join(s->thread, NULL);
    /* What the thread never applied: into the engine, so that its caller
     * finds every target it was given (and drops done). */
    pn__swap(&s->in, &s->work);
    (void)pn__apply(s);
    pn__serve_free(s);
}

int pn_fleet_serve_fd(const struct pn_fleet_serve *s)
{
    return s->ready_fd;
}

int64_t pn_fleet_serve_add(struct pn_fleet_serve *s, int family, const void *addresses,
                           size_t n, uint32_t scope_id)
{
    struct pn__serve_queue *q = &s->in;
    size_t size = family == 4 ? 4 : 16;
    int64_t first;
    int rc = 0;

    /* What pn_fleet_add refuses, refused here at once (the config is fixed
     * for the engine's life: no lock needed to read it). */
    if ((family != 4 && family != 6) || (family == 4 ? s->f->c.fd4 : s->f->c.fd6) < 0)
        return -EINVAL;
    if (!n)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    first = s->next_target;
    if (n > (size_t)PN_FLEET_MAX_TARGETS || first + (int64_t)n > PN_FLEET_MAX_TARGETS) {
        rc = -EINVAL;
    } else if (pn__grow((void **)&q->adds, &q->cap_adds, q->nadds + 1, sizeof(*q->adds)) ||
               pn__grow((void **)&q->bytes, &q->cap_bytes, q->nbytes + n * size, 1)) {
        rc = -ENOMEM;
    } else {
        q->adds[q->nadds++] = (struct pn__serve_add){ family, scope_id, n, q->nbytes };
        memcpy(q->bytes + q->nbytes, addresses, n * size);
        q->nbytes += n * size;
        s->next_target += (int64_t)n;
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        return rc;
    pn__signal(s->wake_fd);
    return first;
}

int pn_fleet_serve_drop(struct pn_fleet_serve *s, const int64_t *targets, size_t n)
{
    struct pn__serve_queue *q = &s->in;
    int rc = 0;
    size_t i;

    if (!n)
        return 0;
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < n; i++)
        if (targets[i] < 0 || targets[i] >= s->next_target)
            rc = -ERANGE;
    if (!rc && pn__grow((void **)&q->drops, &q->cap_drops, q->ndrops + n, sizeof(*q->drops)))
        rc = -ENOMEM;
    if (!rc) {
        memcpy(q->drops + q->ndrops, targets, n * sizeof(*targets));
        q->ndrops += n;
    }
    pthread_mutex_unlock(&s->lock);
    if (!rc)
        pn__signal(s->wake_fd);
    return rc;
}

long pn_fleet_serve_take(struct pn_fleet_serve *s, struct pn_fleet_record *out, size_t cap)
{
    size_t k;
    int wake = 0;
    long rc;

    pthread_mutex_lock(&s->lock);
    k = s->out_len < cap ? s->out_len : cap;
    if (k)
        memcpy(out, s->out + s->out_head, k * sizeof(*out));
    s->out_head += k;
    s->out_len -= k;
    if (!s->out_len) {
        s->out_head = 0;
        if (s->signalled) {
            pn__drain(s->ready_fd);
            s->signalled = 0;
        }
    }
    if (s->stalled && s->out_len <= PN__SERVE_BACKLOG)
        wake = 1;
    rc = (long)k;
    if (!k && s->error)
        rc = -(long)s->error;
    else if (s->error && !s->out_len && !s->signalled) {
        /* The error is still to be told: keep the loop coming back. */
        pn__signal(s->ready_fd);
        s->signalled = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (wake)
        pn__signal(s->wake_fd);
    return rc;
}

void pn_fleet_serve_counters(struct pn_fleet_serve *s, struct pn_fleet_counters *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->counters;
    pthread_mutex_unlock(&s->lock);
}

#else /* !__linux__ */

int pn_fleet_serve_start(struct pn_fleet *f, struct pn_fleet_serve **out)
{
    (void)f;
    *out = NULL;
    return -ENOSYS;
}

void pn_fleet_serve_stop(struct pn_fleet_serve *s)
{
    (void)s;
}

int pn_fleet_serve_fd(const struct pn_fleet_serve *s)
{
    (void)s;
    return -1;
}

int64_t pn_fleet_serve_add(struct pn_fleet_serve *s, int family, const void *addresses,
                           size_t n, uint32_t scope_id)
{
    (void)s, (void)family, (void)addresses, (void)n, (void)scope_id;
    return -ENOSYS;
}

int pn_fleet_serve_drop(struct pn_fleet_serve *s, const int64_t *targets, size_t n)
{
    (void)s, (void)targets, (void)n;
    return -ENOSYS;
}

long pn_fleet_serve_take(struct pn_fleet_serve *s, struct pn_fleet_record *out, size_t cap)
{
    (void)s, (void)out, (void)cap;
    return -ENOSYS;
}

void pn_fleet_serve_counters(struct pn_fleet_serve *s, struct pn_fleet_counters *out)
{
    (void)s;
    memset(out, 0, sizeof(*out));
}

#endif
