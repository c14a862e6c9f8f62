/* The load generator behind `pynet bench echo`: N sockets to one echo
 * server, each keeping exactly one message in flight, every reply compared
 * byte for byte with what was sent, latencies in a log-linear histogram.
 *
 * Messages are slices of one pseudo-random pattern at an offset that moves
 * with every message, so a reply that is corrupted, reordered, duplicated
 * or meant for another connection does not compare equal.
 *
 * UDP: the N clients are N flows, each with one datagram in flight, carried
 * over one socket in sendmmsg/recvmmsg batches (where the system has them),
 * so that the generator spends less per datagram than the servers it
 * measures. A datagram's first 8 bytes name its flow and sequence number: a
 * late reply to a request that was already resent is recognised and ignored.
 */
/* recvmmsg and sendmmsg are GNU extensions in glibc. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pynet.h"
#include "fdtable_internal.h"
#include "poller_internal.h"
#include "sockio_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PN__LG_MAX_MESSAGE (16u * 1024 * 1024)
#define PN__LG_MAX_DGRAM 65507u
#define PN__LG_MAX_CONNECTIONS 100000
#define PN__LG_SHIFTS 256        /* distinct pattern offsets */
#define PN__LG_SEQ 8             /* UDP: flow and sequence number in front */
#define PN__LG_UDP_BATCH 64
#define PN__LG_UDP_ROUNDS 8
#define PN__LG_EVENTS 256
#define PN__LG_WAIT_MS 10        /* the clock is checked at least this often */


enum { PN__LG_CONNECTING = 1, PN__LG_RUNNING = 2 };

struct pn__lg_conn {
    int fd;
    int state;
    int interest;
    uint32_t shift;    /* where the current message starts in the pattern */
    size_t sent, got;  /* bytes of the current message sent, and echoed back */
    uint64_t seq;      /* UDP: sequence of the current request */
    unsigned char hdr[PN__LG_SEQ];  /* UDP: its flow and sequence, as sent */
    int queued;        /* UDP: waiting in sendq */
    uint64_t t0;       /* ns: when the current message was started */
};

struct pn__lg {
    const struct pn_loadgen_config *cfg;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct pn_loadgen_result *res;
    struct pn__poller poller;
    struct pn__lg_conn *conns;
    int *by_fd;
    int by_fd_cap;
    char *pattern;     /* message_size + PN__LG_SHIFTS bytes */
    char *rbuf;
    size_t rbuf_cap;
    int ufd;           /* UDP: the one socket */
    int uinterest;
    int *sendq;        /* UDP: flows whose request is still to be sent */
    int sendq_len;
    char *ubuf;        /* UDP: PN__LG_UDP_BATCH receive slots of size bytes */
    size_t size;
    uint64_t now, last_progress, timeout_ns;
    int counting;
};

static uint64_t pn__lg_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pn_loadgen_bucket_floor_ns(int bucket)
{
    int shift;

    if (bucket < 0)
        return 0;
    if (bucket < 32)
        return (uint64_t)bucket;
    shift = bucket / 16 - 1;
    return (uint64_t)(16 + bucket % 16) << shift;
}

static int pn__lg_bucket(uint64_t ns)
{
    int msb, shift, b;

    if (ns < 32)
        return (int)ns;
    msb = 63 - __builtin_clzll(ns);
    shift = msb - 4;
    b = (shift + 1) * 16 + (int)((ns >> shift) & 15);
    return b < PN_LOADGEN_BUCKETS ? b : PN_LOADGEN_BUCKETS - 1;
}

static void pn__lg_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t pn__lg_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static int pn__lg_watch(struct pn__lg *g, struct pn__lg_conn *c, int events)
{
    int rc = pn__poller_set(&g->poller, c->fd, c->interest, events);

    if (rc == 0)
        c->interest = events;
    return rc;
}

/* ---- one message -------------------------------------------------------- */

static int pn__lg_tcp_send(struct pn__lg *g, struct pn__lg_conn *c)
{
    const char *msg = g->pattern + c->shift;
    ssize_t w = pn__send_now(c->fd, msg + c->sent, g->size - c->sent);

    if (w < 0)
        return (int)w;
    c->sent += (size_t)w;
    /* Keep reading while sending: the server echoes a long message as it
     * arrives, and would stop if we did not take the echo. */
    return pn__lg_watch(g, c, c->sent < g->size ? PN__IN | PN__OUT : PN__IN);
}

static int pn__lg_start(struct pn__lg *g, struct pn__lg_conn *c)
{
    c->shift = (c->shift + 97) % PN__LG_SHIFTS;
    c->sent = c->got = 0;
    c->seq++;
    c->t0 = g->now;
    if (g->cfg->udp) {
        /* Queued; pn__lg_udp_flush sends the queue in batches. */
        pn__lg_put32(c->hdr, (uint32_t)(c - g->conns));
        pn__lg_put32(c->hdr + 4, (uint32_t)c->seq);
        if (!c->queued) {
            c->queued = 1;
            g->sendq[g->sendq_len++] = (int)(c - g->conns);
        }
        return 0;
    }
    return pn__lg_tcp_send(g, c);
}

static void pn__lg_done(struct pn__lg *g, struct pn__lg_conn *c)
{
    uint64_t end = pn__lg_clock();

    g->now = end;
    g->last_progress = end;
    if (g->counting) {
        g->res->messages++;
        g->res->bytes += g->size;
        g->res->latency_ns[pn__lg_bucket(end - c->t0)]++;
    }
}

static int pn__lg_tcp_readable(struct pn__lg *g, struct pn__lg_conn *c)
{
    for (;;) {
        size_t want = g->size - c->got;
        ssize_t n;

        if (want > g->rbuf_cap)
            want = g->rbuf_cap;
        n = recv(c->fd, g->rbuf, want, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        if (n == 0)
            return -ECONNRESET;  /* the server closed a connection it was echoing on */
        if (memcmp(g->rbuf, g->pattern + c->shift + c->got, (size_t)n) != 0 && g->counting)
            g->res->mismatches++;
        c->got += (size_t)n;
        if (c->got > c->sent)
            return -EPROTO;      /* more came back than was sent */
        if (c->got == g->size) {
            /* The next message goes out now; its echo cannot be there yet,
             * so no read that would only say EAGAIN (a system call per
             * message saved: the generator must cost less than a server). */
            pn__lg_done(g, c);
            return pn__lg_start(g, c);
        }
        if ((size_t)n < want)
            return 0;            /* drained; the poller reports the rest */
    }
}

/* UDP: the reply in p[0..len), if it is the one a flow waits for. */
static int pn__lg_udp_reply(struct pn__lg *g, const unsigned char *p, size_t len)
{
    struct pn__lg_conn *c;
    uint32_t flow;

    if (len < PN__LG_SEQ)
        return 0;
    flow = pn__lg_get32(p);
    if (flow >= (uint32_t)g->cfg->connections)
        return 0;
    c = &g->conns[flow];
    if (pn__lg_get32(p + 4) != (uint32_t)c->seq || c->queued)
        return 0;  /* a late reply to a request already resent */
    if ((len != g->size ||
         memcmp(p + PN__LG_SEQ, g->pattern + c->shift + PN__LG_SEQ, g->size - PN__LG_SEQ) != 0) &&
        g->counting)
        g->res->mismatches++;
    pn__lg_done(g, c);
    return pn__lg_start(g, c);
}

static int pn__lg_udp_watch(struct pn__lg *g, int events)
{
    int rc = pn__poller_set(&g->poller, g->ufd, g->uinterest, events);

    if (rc == 0)
        g->uinterest = events;
    return rc;
}

/* Send the queued requests; a full socket leaves the rest for writability. */
static int pn__lg_udp_flush(struct pn__lg *g)
{
    size_t body = g->size - PN__LG_SEQ;

    while (g->sendq_len > 0) {
        int k = g->sendq_len < PN__LG_UDP_BATCH ? g->sendq_len : PN__LG_UDP_BATCH;
        int sent = 0, j;
#ifdef __linux__
        struct mmsghdr msgs[PN__LG_UDP_BATCH];
        struct iovec iov[2 * PN__LG_UDP_BATCH];

        memset(msgs, 0, sizeof(msgs[0]) * (size_t)k);
        for (j = 0; j < k; j++) {
            struct pn__lg_conn *c = &g->conns[g->sendq[j]];
            iov[2 * j].iov_base = c->hdr;
            iov[2 * j].iov_len = PN__LG_SEQ;
            iov[2 * j + 1].iov_base = g->pattern + c->shift + PN__LG_SEQ;
            iov[2 * j + 1].iov_len = body;
            msgs[j].msg_hdr.msg_iov = &iov[2 * j];
            msgs[j].msg_hdr.msg_iovlen = body ? 2 : 1;
        }
        sent = sendmmsg(g->ufd, msgs, (unsigned)k, 0);
#else
        for (j = 0; j < k; j++) {
            struct pn__lg_conn *c = &g->conns[g->sendq[j]];
            struct iovec iov[2];
            struct msghdr msg;
            memset(&msg, 0, sizeof(msg));
            iov[0].iov_base = c->hdr;
            iov[0].iov_len = PN__LG_SEQ;
            iov[1].iov_base = g->pattern + c->shift + PN__LG_SEQ;
            iov[1].iov_len = body;
            msg.msg_iov = iov;
            msg.msg_iovlen = body ? 2 : 1;
            if (sendmsg(g->ufd, &msg, 0) < 0)
                break;
            sent++;
        }
        if (sent == 0)
            sent = -1;
#endif
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                break;
            return -errno;  /* ECONNREFUSED: nothing listens there */
        }
        for (j = 0; j < sent; j++)
            g->conns[g->sendq[j]].queued = 0;
        memmove(g->sendq, g->sendq + sent, sizeof(int) * (size_t)(g->sendq_len - sent));
        g->sendq_len -= sent;
    }
    return pn__lg_udp_watch(g, g->sendq_len > 0 ? PN__IN | PN__OUT : PN__IN);
}

static int pn__lg_udp_readable(struct pn__lg *g)
{
    int round, j, rc;

    for (round = 0; round < PN__LG_UDP_ROUNDS; round++) {
        int n;
#ifdef __linux__
        struct mmsghdr msgs[PN__LG_UDP_BATCH];
        struct iovec iov[PN__LG_UDP_BATCH];

        memset(msgs, 0, sizeof(msgs));
        for (j = 0; j < PN__LG_UDP_BATCH; j++) {
            iov[j].iov_base = g->ubuf + (size_t)j * g->size;
            iov[j].iov_len = g->size;
            msgs[j].msg_hdr.msg_iov = &iov[j];
            msgs[j].msg_hdr.msg_iovlen = 1;
        }
        n = recvmmsg(g->ufd, msgs, PN__LG_UDP_BATCH, MSG_DONTWAIT, NULL);
#else
        ssize_t len = recv(g->ufd, g->ubuf, g->size, 0);
        n = len < 0 ? -1 : 1;
#endif
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -errno;
        }
        for (j = 0; j < n; j++) {
#ifdef __linux__
            size_t got = msgs[j].msg_len;
#else
            size_t got = (size_t)len;
#endif
            if ((rc = pn__lg_udp_reply(g, (unsigned char *)g->ubuf + (size_t)j * g->size,
                                       got)) < 0)
                return rc;
        }
        if (n < PN__LG_UDP_BATCH)
            break;
    }
    return pn__lg_udp_flush(g);
}

static int pn__lg_udp_open(struct pn__lg *g)
{
    const struct sockaddr *sa = (const struct sockaddr *)&g->addr;
    int flags, i, buf = 4 << 20;

    g->ufd = socket(sa->sa_family, SOCK_DGRAM, 0);
    if (g->ufd < 0)
        return -errno;
    (void)fcntl(g->ufd, F_SETFD, FD_CLOEXEC);
    flags = fcntl(g->ufd, F_GETFL);
    if (flags < 0 || fcntl(g->ufd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    /* Room for every flow's datagram at once, however many flows. */
    (void)setsockopt(g->ufd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    (void)setsockopt(g->ufd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    if (connect(g->ufd, sa, g->addr_len) < 0)
        return -errno;
    for (i = 0; i < g->cfg->connections; i++) {
        g->conns[i].state = PN__LG_RUNNING;
        (void)pn__lg_start(g, &g->conns[i]);
    }
    return pn__lg_udp_flush(g);
}

static int pn__lg_connected(struct pn__lg *g, struct pn__lg_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    if (err != 0)
        return -err;
    c->state = PN__LG_RUNNING;
    return pn__lg_start(g, c);
}

static int pn__lg_event(struct pn__lg *g, struct pn__lg_conn *c, int events)
{
    int rc;

    if (c->state == PN__LG_CONNECTING)
        return pn__lg_connected(g, c);
    if ((events & (PN__OUT | PN__ERR)) && c->sent < g->size && (rc = pn__lg_tcp_send(g, c)) < 0)
        return rc;
    if (events & (PN__IN | PN__ERR))
        return pn__lg_tcp_readable(g, c);
    return 0;
}

/* UDP: resend what has waited longer than the timeout. */
static int pn__lg_resend(struct pn__lg *g)
{
    int i, rc;

    for (i = 0; i < g->cfg->connections; i++) {
        struct pn__lg_conn *c = &g->conns[i];
        if (c->state == PN__LG_RUNNING && g->now - c->t0 > g->timeout_ns) {
            if (g->counting)
                g->res->lost++;
            if ((rc = pn__lg_start(g, c)) < 0)
                return rc;
        }
    }
    return g->sendq_len > 0 ? pn__lg_udp_flush(g) : 0;
}

/* ---- setup -------------------------------------------------------------- */

static int pn__lg_open(struct pn__lg *g, struct pn__lg_conn *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&g->addr;
    int one = 1, fd;

    fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    c->fd = fd;
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
            return -errno;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (pn__fd_index_fit(&g->by_fd, &g->by_fd_cap, fd) < 0)
        return -ENOMEM;
    g->by_fd[fd] = (int)(c - g->conns);
    if (connect(fd, sa, g->addr_len) < 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            return -errno;
        c->state = PN__LG_CONNECTING;
        return pn__lg_watch(g, c, PN__OUT);
    }
    c->state = PN__LG_RUNNING;
    return pn__lg_start(g, c);
}

/* The server's address, from a numeric literal: no name is ever looked up. */
static int pn__lg_address(struct pn__lg *g, const struct pn_loadgen_config *cfg)
{
    struct addrinfo hints, *ai = NULL;
    char port[16];
    int rc;

    if (cfg->host == NULL || cfg->port < 1 || cfg->port > 65535)
        return -EINVAL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = cfg->udp ? SOCK_DGRAM : SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", cfg->port);
    rc = getaddrinfo(cfg->host, port, &hints, &ai);
    if (rc != 0 || ai == NULL)
        return -EINVAL;
    if (ai->ai_addrlen > sizeof(g->addr) ||
        (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)) {
        freeaddrinfo(ai);
        return -EAFNOSUPPORT;
    }
    memcpy(&g->addr, ai->ai_addr, ai->ai_addrlen);
    g->addr_len = (socklen_t)ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int pn__lg_check(const struct pn_loadgen_config *cfg)
{
    if (cfg->connections < 1 || cfg->connections > PN__LG_MAX_CONNECTIONS)
        return -EINVAL;
    if (cfg->message_size < 1 || cfg->message_size > PN__LG_MAX_MESSAGE)
        return -EINVAL;
    if (cfg->udp && (cfg->message_size < PN__LG_SEQ || cfg->message_size > PN__LG_MAX_DGRAM))
        return -EINVAL;
    if (!(cfg->duration_s > 0) || !(cfg->warmup_s >= 0) || !(cfg->timeout_s > 0))
        return -EINVAL;
    return 0;
}

static void pn__lg_fill(char *p, size_t n)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t i;

    /* xorshift64: fast, and no two nearby slices are alike. */
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (char)(x >> 24);
    }
}

int pn_loadgen_run(const struct pn_loadgen_config *cfg, struct pn_loadgen_result *res)
{
    struct pn__lg g;
    struct pn__event ev[PN__LG_EVENTS];
    uint64_t start, count_from, end;
    int rc, i;

    memset(res, 0, sizeof(*res));
    memset(&g, 0, sizeof(g));
    if ((rc = pn__lg_check(cfg)) < 0 || (rc = pn__lg_address(&g, cfg)) < 0)
        return rc;
    g.cfg = cfg;
    g.res = res;
    g.size = cfg->message_size;
    g.timeout_ns = (uint64_t)(cfg->timeout_s * 1e9);
    g.rbuf_cap = g.size < 65536 ? 65536 : (g.size < (1u << 20) ? g.size : (1u << 20));
    g.conns = calloc((size_t)cfg->connections, sizeof(*g.conns));
    g.pattern = malloc(g.size + PN__LG_SHIFTS);
    g.rbuf = malloc(g.rbuf_cap);
    g.ufd = -1;
    if (cfg->udp) {
        g.sendq = malloc(sizeof(int) * (size_t)cfg->connections);
        g.ubuf = malloc((size_t)PN__LG_UDP_BATCH * g.size);
    }
    rc = (g.conns && g.pattern && g.rbuf && (!cfg->udp || (g.sendq && g.ubuf))) ? 0 : -ENOMEM;
    if (rc == 0)
        rc = pn__poller_open(&g.poller, cfg->poller);
    if (rc == 0 && cfg->stop_fd >= 0)
        rc = pn__poller_set(&g.poller, cfg->stop_fd, 0, PN__IN);
    if (g.conns != NULL)
        for (i = 0; i < cfg->connections; i++)
            g.conns[i].fd = -1;
    if (rc == 0)
        pn__lg_fill(g.pattern, g.size + PN__LG_SHIFTS);

    start = g.now = g.last_progress = pn__lg_clock();
    for (i = 0; rc == 0 && i < cfg->connections; i++) {
        g.conns[i].shift = (uint32_t)(i * 31) % PN__LG_SHIFTS;
        if (!cfg->udp)
            rc = pn__lg_open(&g, &g.conns[i]);
    }
    if (rc == 0 && cfg->udp)
        rc = pn__lg_udp_open(&g);
    count_from = start + (uint64_t)(cfg->warmup_s * 1e9);
    end = count_from + (uint64_t)(cfg->duration_s * 1e9);
    g.counting = cfg->warmup_s <= 0;

    while (rc == 0) {
        int n = pn__poller_wait(&g.poller, ev, PN__LG_EVENTS, PN__LG_WAIT_MS);

        if (n < 0) {
            rc = n;
            break;
        }
        g.now = pn__lg_clock();
        for (i = 0; i < n && rc == 0; i++) {
            int k;
            if (ev[i].fd == cfg->stop_fd) {
                rc = -EINTR;
                break;
            }
            if (cfg->udp) {
                if (ev[i].fd != g.ufd)
                    continue;
                rc = (ev[i].events & PN__OUT) ? pn__lg_udp_flush(&g) : 0;
                if (rc == 0 && (ev[i].events & (PN__IN | PN__ERR)))
                    rc = pn__lg_udp_readable(&g);
                continue;
            }
            if (ev[i].fd < 0 || ev[i].fd >= g.by_fd_cap || (k = g.by_fd[ev[i].fd]) < 0)
                continue;
            rc = pn__lg_event(&g, &g.conns[k], ev[i].events);
        }
        if (rc != 0)
            break;
        g.now = pn__lg_clock();
        if (!g.counting && g.now >= count_from) {
            /* The warm-up is over: forget what it measured. */
            memset(res, 0, sizeof(*res));
            g.counting = 1;
            count_from = g.now;
            end = count_from + (uint64_t)(cfg->duration_s * 1e9);
        }
        if (g.counting && g.now >= end) {
            res->elapsed_s = (double)(g.now - count_from) / 1e9;
            break;
        }
        if (cfg->udp)
            rc = pn__lg_resend(&g);
        else if (g.now - g.last_progress > g.timeout_ns)
            rc = -ETIMEDOUT;
    }

    if (g.conns != NULL)
        for (i = 0; i < cfg->connections; i++)
            if (g.conns[i].fd >= 0)
                close(g.conns[i].fd);
    if (g.ufd >= 0)
        close(g.ufd);
    pn__poller_close(&g.poller);
    free(g.conns);
    free(g.by_fd);
    free(g.pattern);
    free(g.rbuf);
    free(g.sendq);
    free(g.ubuf);
    return rc;
}
