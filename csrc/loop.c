/* The echo event loop: TCP and UDP, independent of the poller behind it.
 *
 * TCP. Each client is in one of two states. Reading: we wait for input,
 * read at most read_size bytes into the loop's one scratch buffer and send
 * them straight back. When the kernel takes only part of them (the client
 * reads slower than it writes), the rest is kept in a per-client buffer and
 * the client switches to Writing: we wait for writability only, and read
 * nothing from that client until its output has drained. So a client's
 * memory in the server is bounded by read_size, however much it sends
 * without reading; what it sends meanwhile waits in the kernel's buffers
 * and, once those fill, TCP flow control holds the sender. Output buffers
 * are allocated only while a client is stalled and recycled through a small
 * pool, so an idle connection costs a few bytes of user memory.
 *
 * UDP. recvmmsg a batch, sendmmsg it back to each sender. When the socket's
 * send buffer is full, the unsent rest of the batch waits for writability
 * and nothing is read meanwhile (one batch bounds the memory).
 */
/* accept4, recvmmsg and sendmmsg are GNU extensions in glibc. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pynet.h"
#include "fdtable_internal.h"
#include "poller_internal.h"
#include "sockio_internal.h"
#include "uring_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PN__READ_SIZE_DEFAULT (64 * 1024)
#define PN__READ_SIZE_MAX (16 * 1024 * 1024)
#define PN__POOL_MAX 64          /* output buffers kept for reuse */
#define PN__EVENTS 256           /* events handled per wake-up */
#define PN__WAIT_MS 1000         /* every wait has a deadline */
#define PN__BACKOFF_MS 100       /* pause accepting after EMFILE */
#define PN__ACCEPT_BURST 64      /* accepts per listener wake-up, for fairness */
#define PN__READ_ROUNDS 4        /* reads per client wake-up while its input keeps coming */
#define PN__DGRAM_MAX 65536      /* largest UDP payload (65507 for IPv4), rounded up */
#define PN__UDP_BATCH 32
#define PN__UDP_ROUNDS 8         /* batches per wake-up */


#if defined(__linux__)
#define PN__HAVE_MMSG 1
#endif

struct pn__conn {
    char *out;           /* pending output (Writing), or NULL (Reading) */
    uint32_t off, len;   /* out[off..len) is still to be sent */
    uint8_t interest;    /* what the poller watches; 0 when the slot is free */
};

struct pn__udp_pending {
    int start, count;    /* msgs[start..count) are still to be sent */
};

struct pn__echo {
    struct pn__poller poller;
    struct pn_echo_stats *st;
    int fd, stop_fd, udp, max_clients;
    int listen_interest;
    int accept_paused;   /* 1 while backing off after EMFILE/ENFILE/ENOMEM */
    uint64_t resume_ms;
    size_t read_size;
    char *scratch;
    struct pn__conn *conns;  /* indexed by descriptor */
    int conns_cap;
    char *pool[PN__POOL_MAX];
    int pool_len;
#ifdef PN__HAVE_MMSG
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *addrs;
#endif
    struct pn__udp_pending udp_pending;
    int udp_interest;
#ifndef PN__HAVE_MMSG
    struct sockaddr_storage from;  /* the sender of the datagram in scratch */
    socklen_t fromlen;
#endif
};

static uint64_t pn__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int pn__set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -errno;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

/* ---- listener ----------------------------------------------------------- */

static void pn__listen_watch(struct pn__echo *e, int on)
{
    int want = on ? PN__IN : 0;

    if (e->listen_interest == want)
        return;
    if (pn__poller_set(&e->poller, e->fd, e->listen_interest, want) == 0)
        e->listen_interest = want;
}

static int pn__conn_slot(struct pn__echo *e, int fd)
{
    void *table = e->conns;
    int rc = pn__fd_table_fit(&table, &e->conns_cap, fd, sizeof(*e->conns));

    e->conns = table;
    return rc;
}

static int pn__accept_one(struct pn__echo *e)
{
    int fd, one = 1;

#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    fd = accept4(e->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    fd = accept(e->fd, NULL, NULL);
    if (fd >= 0) {
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (pn__set_nonblocking(fd) < 0) {
            close(fd);
            return -EAGAIN;
        }
    }
#endif
    if (fd < 0)
        return -errno;
    /* Echo replies are small and latency-bound: never wait to coalesce. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef SO_NOSIGPIPE
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    if (pn__conn_slot(e, fd) < 0 || pn__poller_set(&e->poller, fd, 0, PN__IN) < 0) {
        close(fd);
        e->st->accept_errors++;
        return 0;
    }
    e->conns[fd].out = NULL;
    e->conns[fd].off = e->conns[fd].len = 0;
    e->conns[fd].interest = PN__IN;
    e->st->accepted++;
    e->st->clients++;
    if (e->st->clients > e->st->clients_max)
        e->st->clients_max = e->st->clients;
    return 0;
}

static void pn__accept(struct pn__echo *e)
{
    int i, rc;

    for (i = 0; i < PN__ACCEPT_BURST; i++) {
        if (e->max_clients > 0 && e->st->clients >= e->max_clients) {
            /* Leave further connections in the backlog until one ends. */
            pn__listen_watch(e, 0);
            return;
        }
        rc = pn__accept_one(e);
        if (rc == 0)
            continue;
        if (rc == -EINTR)
            continue;
        if (rc == -EAGAIN || rc == -EWOULDBLOCK)
            return;
        e->st->accept_errors++;
        if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
            /* Out of descriptors or memory: the pending connection stays
             * readable on the listener, so a level-triggered poller would
             * spin. Stop watching it for a moment instead. */
            pn__listen_watch(e, 0);
            e->accept_paused = 1;
            e->resume_ms = pn__now_ms() + PN__BACKOFF_MS;
            return;
        }
        /* ECONNABORTED, EPROTO, EPERM (a firewall), ...: that connection is
         * gone, the next one may be fine. */
    }
}

/* ---- TCP clients -------------------------------------------------------- */

static void pn__release_buffer(struct pn__echo *e, char *buf)
{
    if (e->pool_len < PN__POOL_MAX)
        e->pool[e->pool_len++] = buf;
    else
        free(buf);
}

static void pn__conn_close(struct pn__echo *e, int fd, int error)
{
    struct pn__conn *c = &e->conns[fd];

    (void)pn__poller_set(&e->poller, fd, c->interest, 0);
    close(fd);
    if (c->out != NULL)
        pn__release_buffer(e, c->out);
    c->out = NULL;
    c->off = c->len = 0;
    c->interest = 0;
    e->st->closed++;
    if (error)
        e->st->resets++;
    e->st->clients--;
    if (!e->accept_paused && e->listen_interest == 0 &&
        (e->max_clients <= 0 || e->st->clients < e->max_clients))
        pn__listen_watch(e, 1);
}

static void pn__conn_watch(struct pn__echo *e, int fd, int events)
{
    struct pn__conn *c = &e->conns[fd];

    if (pn__poller_set(&e->poller, fd, c->interest, events) < 0) {
        pn__conn_close(e, fd, 1);
        return;
    }
    c->interest = (uint8_t)events;
}

/* Keep buf[0..len) for later and wait for writability. */
static void pn__conn_stall(struct pn__echo *e, int fd, const char *buf, size_t len)
{
    struct pn__conn *c = &e->conns[fd];
    char *out = e->pool_len > 0 ? e->pool[--e->pool_len] : malloc(e->read_size);

    if (out == NULL) {
        pn__conn_close(e, fd, 1);
        return;
    }
    memcpy(out, buf, len);
    c->out = out;
    c->off = 0;
    c->len = (uint32_t)len;
    e->st->stalls++;
    pn__conn_watch(e, fd, PN__OUT);
}

static void pn__conn_readable(struct pn__echo *e, int fd)
{
    int round;

    for (round = 0; round < PN__READ_ROUNDS; round++) {
        ssize_t n = recv(fd, e->scratch, e->read_size, 0);
        ssize_t w;

        if (n < 0) {
            if (errno == EINTR) {
                round--;
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                pn__conn_close(e, fd, 1);
            return;
        }
        if (n == 0) {
            /* The client closed its sending side (or the whole socket).
             * Everything it sent has been echoed and handed to the kernel,
             * which delivers it before our FIN: a half-closed client still
             * reads every byte. */
            pn__conn_close(e, fd, 0);
            return;
        }
        e->st->bytes += (uint64_t)n;
        w = pn__send_now(fd, e->scratch, (size_t)n);
        if (w < 0) {
            pn__conn_close(e, fd, 1);
            return;
        }
        if (w < n) {
            pn__conn_stall(e, fd, e->scratch + w, (size_t)(n - w));
            return;
        }
        if ((size_t)n < e->read_size)
            return;  /* most likely drained: the poller says if not */
    }
}

static void pn__conn_writable(struct pn__echo *e, int fd)
{
    struct pn__conn *c = &e->conns[fd];
    ssize_t w = pn__send_now(fd, c->out + c->off, c->len - c->off);

    if (w < 0) {
        pn__conn_close(e, fd, 1);
        return;
    }
    c->off += (uint32_t)w;
    if (c->off < c->len)
        return;
    pn__release_buffer(e, c->out);
    c->out = NULL;
    c->off = c->len = 0;
    pn__conn_watch(e, fd, PN__IN);
}

/* ---- UDP ---------------------------------------------------------------- */

static void pn__udp_watch(struct pn__echo *e, int events)
{
    if (pn__poller_set(&e->poller, e->fd, e->udp_interest, events) == 0)
        e->udp_interest = events;
}

#ifdef PN__HAVE_MMSG

/* Send msgs[start..count) back; 1 when the socket is full and some wait. */
static int pn__udp_send(struct pn__echo *e, int start, int count)
{
    while (start < count) {
        int k = sendmmsg(e->fd, e->msgs + start, (unsigned)(count - start), MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                e->udp_pending.start = start;
                e->udp_pending.count = count;
                return 1;
            }
            /* This datagram cannot go back (EMSGSIZE, EACCES, an ICMP error
             * left on the socket, ...): drop it, keep the rest. */
            e->st->dropped++;
            start++;
            continue;
        }
        start += k;
    }
    e->udp_pending.start = e->udp_pending.count = 0;
    return 0;
}

static void pn__udp_readable(struct pn__echo *e)
{
    int round, i;

    for (round = 0; round < PN__UDP_ROUNDS; round++) {
        int n;

        for (i = 0; i < PN__UDP_BATCH; i++) {
            e->iov[i].iov_base = e->scratch + (size_t)i * PN__DGRAM_MAX;
            e->iov[i].iov_len = PN__DGRAM_MAX;
            memset(&e->msgs[i].msg_hdr, 0, sizeof(e->msgs[i].msg_hdr));
            e->msgs[i].msg_hdr.msg_name = &e->addrs[i];
            e->msgs[i].msg_hdr.msg_namelen = sizeof(e->addrs[i]);
            e->msgs[i].msg_hdr.msg_iov = &e->iov[i];
            e->msgs[i].msg_hdr.msg_iovlen = 1;
        }
        n = recvmmsg(e->fd, e->msgs, PN__UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR) {
                round--;
                continue;
            }
            return;  /* EAGAIN, or an ICMP error reported on the socket */
        }
        for (i = 0; i < n; i++) {
            e->iov[i].iov_len = e->msgs[i].msg_len;
            e->st->datagrams++;
            e->st->bytes += e->msgs[i].msg_len;
        }
        if (pn__udp_send(e, 0, n)) {
            pn__udp_watch(e, PN__OUT);
            return;
        }
        if (n < PN__UDP_BATCH)
            return;
    }
}

static void pn__udp_writable(struct pn__echo *e)
{
    if (!pn__udp_send(e, e->udp_pending.start, e->udp_pending.count))
        pn__udp_watch(e, PN__IN);
}

#else /* one datagram at a time */

static int pn__udp_send_one(struct pn__echo *e)
{
    for (;;) {
        ssize_t w = sendto(e->fd, e->scratch, (size_t)e->udp_pending.count, 0,
                           (struct sockaddr *)&e->from, e->fromlen);
        if (w >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            return 1;
        e->st->dropped++;
        break;
    }
    e->udp_pending.count = 0;
    return 0;
}

static void pn__udp_readable(struct pn__echo *e)
{
    int round;

    for (round = 0; round < PN__UDP_ROUNDS * PN__UDP_BATCH; round++) {
        ssize_t n;

        e->fromlen = sizeof(e->from);
        n = recvfrom(e->fd, e->scratch, PN__DGRAM_MAX, 0, (struct sockaddr *)&e->from,
                     &e->fromlen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        e->st->datagrams++;
        e->st->bytes += (uint64_t)n;
        e->udp_pending.count = (int)n;
        if (pn__udp_send_one(e)) {
            pn__udp_watch(e, PN__OUT);
            return;
        }
    }
}

static void pn__udp_writable(struct pn__echo *e)
{
    if (!pn__udp_send_one(e))
        pn__udp_watch(e, PN__IN);
}

#endif

/* ---- the loop ----------------------------------------------------------- */

static void pn__echo_free(struct pn__echo *e)
{
    int fd;

    for (fd = 0; fd < e->conns_cap; fd++) {
        if (e->conns[fd].interest != 0) {
            close(fd);
            free(e->conns[fd].out);
            e->st->clients--;
        }
    }
    while (e->pool_len > 0)
        free(e->pool[--e->pool_len]);
    free(e->conns);
    free(e->scratch);
#ifdef PN__HAVE_MMSG
    free(e->msgs);
    free(e->iov);
    free(e->addrs);
#endif
    pn__poller_close(&e->poller);
}

static int pn__echo_check(const struct pn_echo_config *cfg)
{
    if (cfg->fd < 0)
        return -EBADF;
    if (cfg->read_size < 0 || cfg->read_size > PN__READ_SIZE_MAX || cfg->max_clients < 0)
        return -EINVAL;
    return 0;
}

static int pn__echo_setup(struct pn__echo *e, const struct pn_echo_config *cfg)
{
    size_t scratch;
    int rc;

    if ((rc = pn__echo_check(cfg)) < 0)
        return rc;
    e->fd = cfg->fd;
    e->stop_fd = cfg->stop_fd;
    e->udp = cfg->udp != 0;
    e->max_clients = cfg->max_clients;
    e->read_size = cfg->read_size > 0 ? (size_t)cfg->read_size : PN__READ_SIZE_DEFAULT;
    if ((rc = pn__set_nonblocking(cfg->fd)) < 0)
        return rc;
    if ((rc = pn__poller_open(&e->poller, cfg->poller)) < 0)
        return rc;
#ifdef PN__HAVE_MMSG
    scratch = e->udp ? (size_t)PN__UDP_BATCH * PN__DGRAM_MAX : e->read_size;
    if (e->udp) {
        e->msgs = calloc(PN__UDP_BATCH, sizeof(*e->msgs));
        e->iov = calloc(PN__UDP_BATCH, sizeof(*e->iov));
        e->addrs = calloc(PN__UDP_BATCH, sizeof(*e->addrs));
        if (e->msgs == NULL || e->iov == NULL || e->addrs == NULL)
            return -ENOMEM;
    }
#else
    scratch = e->udp ? PN__DGRAM_MAX : e->read_size;
#endif
    /* Untouched pages cost nothing: a large scratch buffer only becomes
     * resident as far as the largest read reaches into it. */
    e->scratch = malloc(scratch);
    if (e->scratch == NULL)
        return -ENOMEM;
    if (e->stop_fd >= 0 && (rc = pn__poller_set(&e->poller, e->stop_fd, 0, PN__IN)) < 0)
        return rc;
    if (e->udp) {
        if ((rc = pn__poller_set(&e->poller, e->fd, 0, PN__IN)) < 0)
            return rc;
        e->udp_interest = PN__IN;
    } else {
        if ((rc = pn__poller_set(&e->poller, e->fd, 0, PN__IN)) < 0)
            return rc;
        e->listen_interest = PN__IN;
    }
    return 0;
}

/* AUTO serves TCP over io_uring where it can: side by side it costs the
 * server 3 to 6 % less CPU per message than epoll, with 0.4 to 0.7 system
 * calls per message instead of 2.1 (README's benchmark section). */
#define PN__URING_BY_DEFAULT 1

int pn_echo_poller(int poller, int udp)
{
    if (poller == PN_POLLER_URING) {
        if (udp)
            return -ENOTSUP;  /* recvmmsg/sendmmsg batches already amortise the calls */
        return pn_uring_status() == 0 ? PN_POLLER_URING : pn_uring_status();
    }
    if (poller == PN_POLLER_AUTO && !udp && PN__URING_BY_DEFAULT && pn_uring_status() == 0)
        return PN_POLLER_URING;
    return pn_poller_resolve(poller);
}

int pn_echo_run(const struct pn_echo_config *cfg, struct pn_echo_stats *stats)
{
    struct pn__echo e;
    struct pn__event ev[PN__EVENTS];
    int rc, stop = 0;

    memset(&e, 0, sizeof(e));
    memset(stats, 0, sizeof(*stats));
    if ((rc = pn__echo_check(cfg)) < 0)
        return rc;
    if ((rc = pn_echo_poller(cfg->poller, cfg->udp)) < 0)
        return rc;
#ifdef PN__HAVE_URING
    if (rc == PN_POLLER_URING) {
        int started;

        rc = pn__uring_echo_run(cfg, stats, &started);
        if (started || cfg->poller == PN_POLLER_URING)
            return rc;
        /* AUTO, and the ring could not be set up after all (memory
         * limits, ...): serve with the readiness poller instead. */
        memset(stats, 0, sizeof(*stats));
    }
#endif
    e.st = stats;
    e.poller.fd = -1;
    rc = pn__echo_setup(&e, cfg);
    while (rc == 0 && !stop) {
        int timeout = PN__WAIT_MS, n, i;

        if (e.accept_paused) {
            uint64_t now = pn__now_ms();
            if (now >= e.resume_ms) {
                e.accept_paused = 0;
                if (e.max_clients <= 0 || e.st->clients < e.max_clients)
                    pn__listen_watch(&e, 1);
            } else {
                timeout = (int)(e.resume_ms - now);
            }
        }
        n = pn__poller_wait(&e.poller, ev, PN__EVENTS, timeout);
        if (n < 0) {
            rc = n;
            break;
        }
        for (i = 0; i < n; i++) {
            int fd = ev[i].fd;

            if (fd == e.stop_fd) {
                stop = 1;
            } else if (fd == e.fd) {
                if (!e.udp)
                    pn__accept(&e);
                else if (e.udp_interest == PN__OUT)
                    pn__udp_writable(&e);
                else
                    pn__udp_readable(&e);
            } else if (fd >= 0 && fd < e.conns_cap && e.conns[fd].interest != 0) {
                /* Dispatch on the client's state, not on the event bits: an
                 * error or hang-up is then seen by the read or write it
                 * interrupts, with its errno. */
                if (e.conns[fd].out != NULL)
                    pn__conn_writable(&e, fd);
                else
                    pn__conn_readable(&e, fd);
            }
        }
    }
    pn__echo_free(&e);
    return rc;
}
