/* The TCP echo loop over io_uring: completions instead of readiness.
 *
 * The readiness loop (loop.c) makes three system calls per message at
 * best: its share of epoll_wait, a recv and a send. Here the sends of every
 * connection ready at once are submitted, and the data that arrived meanwhile
 * reaped, in one or two io_uring_enter calls per batch, whatever its size.
 *
 * Receiving: each connection has one multishot recv armed. It names no
 * buffer of ours: when data arrives, the kernel reads it into a buffer it
 * takes from a provided buffer ring and posts a completion, with no request
 * of ours per message and no buffer held by a connection that waits for
 * input (an idle one costs its table slot only).
 *
 * Sending: the buffer a recv filled is sent back as it is, with MSG_WAITALL,
 * so that the kernel itself resumes a partial send once the client makes
 * room, and completes it only when all is sent (or fails). One send per
 * connection is in flight; more input queues behind it. When input arrives
 * while a send is still in flight, the client does not keep up reading:
 * its recv is cancelled until its output has drained (a "stall", as the
 * readiness loop counts them), so it holds two buffers or so and TCP flow
 * control holds the rest in the client. A buffer goes back to the ring as
 * soon as its send completes.
 *
 * The ring holds a bounded number of buffers (PN__U_BUF_BYTES together),
 * whatever the number of connections. When every one is taken, a recv ends
 * with ENOBUFS; that connection waits in a queue and gets its recv back as
 * buffers come back.
 *
 * Accepting: a few accept requests in flight at once, never more than the
 * room --max-clients leaves. EMFILE and friends pause accepting for a
 * moment, as the readiness loop does. Stopping: a poll request on the stop
 * descriptor; then every request is cancelled and its completion reaped
 * before the descriptors are closed, so that nothing the kernel still
 * holds outlives pn_echo_run (a closed client sees its FIN at once).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pynet.h"
#include "fdtable_internal.h"
#include "sockio_internal.h"
#include "uring_internal.h"

#ifdef PN__HAVE_URING

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PN__U_SQ_ENTRIES 512     /* entries submitted per io_uring_enter at most */
#define PN__U_CQ_ENTRIES 8192    /* completions reaped per wake-up without overflow */
#define PN__U_BUF_BYTES (4u * 1024 * 1024)  /* all receive buffers together, at most */
#define PN__U_BUFS_MIN 8
#define PN__U_BUFS_MAX 1024
#define PN__U_ACCEPTS 8          /* accept requests in flight */
#define PN__U_WAIT_MS 1000       /* every wait has a deadline */
#define PN__U_BACKOFF_MS 100     /* pause accepting after EMFILE */
#define PN__U_DRAIN_MS 100       /* at stop: wait for cancelled requests ... */
#define PN__U_DRAIN_ROUNDS 50    /* ... this many times at most */
#define PN__READ_SIZE_DEFAULT (64 * 1024)

/* What a completion is for: the low byte of its user_data; the rest is
 * the descriptor it concerns. */
enum {
    PN__U_ACCEPT = 1,
    PN__U_STOP = 2,
    PN__U_RECV = 3,
    PN__U_SEND = 4,
    PN__U_CANCEL = 5,    /* cancel everything (stopping) */
    PN__U_PAUSE = 6,     /* cancel one connection's recv */
};

#define PN__U_DATA(fd, op) (((uint64_t)(uint32_t)(fd) << 8) | (uint64_t)(op))

enum {
    PN__UC_OPEN = 1,         /* the slot is a connection */
    PN__UC_RECV = 2,         /* its multishot recv is armed */
    PN__UC_SENDING = 4,      /* a send is in flight */
    PN__UC_EOF = 8,          /* the client sent its FIN: close once the output is out */
    PN__UC_FAILED = 16,      /* reset or worse: close once nothing is in flight */
    PN__UC_PAUSED = 32,      /* reading stopped until the output drains */
    PN__UC_CANCELLING = 64,  /* the cancel that pauses it is in flight */
    PN__UC_WAITING = 128,    /* queued for a buffer */
};

#define PN__U_NONE 0xffff    /* no buffer */

struct pn__uconn {
    uint32_t off;        /* bytes of the first output buffer already sent */
    int32_t next;        /* next descriptor in the buffer queue, or -1 */
    uint16_t head, tail; /* output: a FIFO of buffer ids linked through buf_next */
    uint8_t queued;      /* buffers in that FIFO */
    uint8_t inflight;    /* requests of this connection not completed yet */
    uint16_t flags;
};

struct pn__uecho {
    struct pn__uring ring;
    struct pn__uring_bufs bufs;
    uint16_t *buf_next;  /* per buffer: the next in its connection's output */
    uint32_t *buf_len;   /* per buffer: the bytes the recv put there */
    struct pn_echo_stats *st;
    int fd, stop_fd, max_clients;
    int stopping;
    int error;           /* a failure that ends the loop */
    int accepts;         /* accept requests in flight */
    int accept_paused;
    uint64_t resume_ms;
    uint64_t inflight;   /* requests whose completion is still due */
    int cancelling;      /* a cancel-everything request is in flight */
    struct pn__uconn *conns;  /* indexed by descriptor */
    int conns_cap;
    int wait_head, wait_tail; /* connections waiting for a buffer (FIFO) */
};

static uint64_t pn__u_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct io_uring_sqe *pn__u_sqe(struct pn__uecho *e, int fd, int op)
{
    struct io_uring_sqe *sqe = pn__uring_sqe(&e->ring);

    if (sqe == NULL)
        return NULL;
    sqe->fd = fd;
    sqe->user_data = PN__U_DATA(fd, op);
    e->inflight++;
    return sqe;
}

/* ---- requests ------------------------------------------------------------ */

/* One recv that stays armed: each time data arrives the kernel reads it
 * into a buffer from the ring and posts a completion, with no request of
 * ours per message. */
static int pn__u_arm_recv(struct pn__uecho *e, int fd)
{
    struct io_uring_sqe *sqe = pn__u_sqe(e, fd, PN__U_RECV);

    if (sqe == NULL)
        return -EBUSY;
    sqe->opcode = IORING_OP_RECV;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = e->bufs.group;
    e->conns[fd].flags |= PN__UC_RECV;
    e->conns[fd].inflight++;
    return 0;
}

/* Send what is left of the connection's first output buffer. */
static int pn__u_send(struct pn__uecho *e, int fd)
{
    struct pn__uconn *c = &e->conns[fd];
    struct io_uring_sqe *sqe = pn__u_sqe(e, fd, PN__U_SEND);

    if (sqe == NULL)
        return -EBUSY;
    sqe->opcode = IORING_OP_SEND;
    sqe->addr = (uint64_t)(uintptr_t)(pn__uring_buf(&e->bufs, c->head) + c->off);
    sqe->len = e->buf_len[c->head] - c->off;
    /* MSG_WAITALL: the kernel resumes a partial send itself once the
     * client reads, and completes it only when all is sent (or fails). */
    sqe->msg_flags = MSG_NOSIGNAL | MSG_WAITALL;
    c->flags |= PN__UC_SENDING;
    c->inflight++;
    return 0;
}

/* The client sends faster than it reads: stop reading from it (cancel its
 * recv) until its output has drained, so that it holds two buffers or so,
 * and TCP flow control holds the rest of what it sends in the client. */
static int pn__u_pause(struct pn__uecho *e, int fd)
{
    struct pn__uconn *c = &e->conns[fd];
    struct io_uring_sqe *sqe = pn__u_sqe(e, fd, PN__U_PAUSE);

    if (sqe == NULL)
        return -EBUSY;
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->addr = PN__U_DATA(fd, PN__U_RECV);
    c->flags |= PN__UC_PAUSED | PN__UC_CANCELLING;
    c->inflight++;
    e->st->stalls++;
    return 0;
}

static void pn__u_submit_accepts(struct pn__uecho *e)
{
    while (!e->stopping && !e->accept_paused && e->accepts < PN__U_ACCEPTS) {
        struct io_uring_sqe *sqe;

        /* Never more in flight than the bound leaves room for: the rest
         * wait in the backlog until a client leaves. */
        if (e->max_clients > 0 && e->st->clients + e->accepts >= e->max_clients)
            return;
        sqe = pn__u_sqe(e, e->fd, PN__U_ACCEPT);
        if (sqe == NULL)
            return;
        sqe->opcode = IORING_OP_ACCEPT;
        sqe->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
        e->accepts++;
    }
}

/* ---- connections ---------------------------------------------------------- */

static int pn__u_conn_slot(struct pn__uecho *e, int fd)
{
    void *table = e->conns;
    int rc = pn__fd_table_fit(&table, &e->conns_cap, fd, sizeof(*e->conns));

    e->conns = table;
    return rc;
}

static void pn__u_wait_push(struct pn__uecho *e, int fd)
{
    struct pn__uconn *c = &e->conns[fd];

    c->flags |= PN__UC_WAITING;
    c->next = -1;
    if (e->wait_tail >= 0)
        e->conns[e->wait_tail].next = fd;
    else
        e->wait_head = fd;
    e->wait_tail = fd;
}

static void pn__u_conn_check(struct pn__uecho *e, int fd);

/* A buffer is free again: back to the ring, and the connection that has
 * waited longest for one gets its recv back. */
static void pn__u_buf_release(struct pn__uecho *e, unsigned bid)
{
    pn__uring_buf_put(&e->bufs, bid);
    if (e->wait_head >= 0) {
        int fd = e->wait_head;
        struct pn__uconn *c = &e->conns[fd];

        e->wait_head = c->next;
        if (e->wait_head < 0)
            e->wait_tail = -1;
        c->next = -1;
        c->flags &= (uint16_t)~PN__UC_WAITING;
        pn__u_conn_check(e, fd);
    }
}

static void pn__u_conn_open(struct pn__uecho *e, int fd)
{
    struct pn__uconn *c;
    int one = 1;

    /* Echo replies are small and latency-bound: never wait to coalesce. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (pn__u_conn_slot(e, fd) < 0) {
        close(fd);
        e->st->accept_errors++;
        return;
    }
    c = &e->conns[fd];
    memset(c, 0, sizeof(*c));
    c->flags = PN__UC_OPEN;
    c->next = -1;
    c->head = c->tail = PN__U_NONE;
    e->st->accepted++;
    e->st->clients++;
    if (e->st->clients > e->st->clients_max)
        e->st->clients_max = e->st->clients;
    pn__u_conn_check(e, fd);
}

/* Only once no request of this connection is in flight: the kernel holds
 * the socket until then, and would keep it open past close(). */
static void pn__u_conn_close(struct pn__uecho *e, int fd)
{
    struct pn__uconn *c = &e->conns[fd];
    int error = (c->flags & PN__UC_FAILED) && !e->stopping;

    while (c->head != PN__U_NONE) {
        uint16_t bid = c->head;
        c->head = e->buf_next[bid];
        pn__uring_buf_put(&e->bufs, bid);
    }
    close(fd);
    memset(c, 0, sizeof(*c));
    e->st->closed++;
    if (error)
        e->st->resets++;
    e->st->clients--;
}

/* Decide what the connection needs next, after anything happened to it. */
static void pn__u_conn_check(struct pn__uecho *e, int fd)
{
    struct pn__uconn *c = &e->conns[fd];
    uint16_t f = c->flags;

    if (e->stopping || (f & PN__UC_FAILED) || ((f & PN__UC_EOF) && c->queued == 0)) {
        /* The client closed its sending side (or the whole socket) and all
         * it sent has been echoed and handed to the kernel, which delivers
         * it before our FIN: a half-closed client still reads every byte. */
        if (c->inflight == 0)
            pn__u_conn_close(e, fd);
        return;
    }
    if (c->queued > 0 && !(f & PN__UC_SENDING)) {
        if (pn__u_send(e, fd) < 0)
            goto fail;
    }
    if ((f & PN__UC_PAUSED) && c->queued == 0 && !(f & (PN__UC_RECV | PN__UC_CANCELLING))) {
        c->flags &= (uint16_t)~PN__UC_PAUSED;  /* drained: read again */
        f = c->flags;
    }
    if (!(f & (PN__UC_RECV | PN__UC_PAUSED | PN__UC_WAITING | PN__UC_EOF | PN__UC_CANCELLING))) {
        if (pn__u_arm_recv(e, fd) < 0)
            goto fail;
    }
    return;
fail:
    c->flags |= PN__UC_FAILED;  /* the submission queue stayed full */
    if (c->inflight == 0)
        pn__u_conn_close(e, fd);
}

static void pn__u_recv_done(struct pn__uecho *e, int fd, int res, unsigned flags)
{
    struct pn__uconn *c = &e->conns[fd];

    if (!(flags & IORING_CQE_F_MORE)) {
        /* The multishot recv has ended: cancelled, end of input, out of
         * buffers, an error, or the kernel's own choice. */
        c->flags &= (uint16_t)~PN__UC_RECV;
        c->inflight--;
    }
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);

        e->st->bytes += (uint64_t)res;
        e->buf_len[bid] = (uint32_t)res;
        e->buf_next[bid] = PN__U_NONE;
        if (c->tail != PN__U_NONE)
            e->buf_next[c->tail] = bid;
        else
            c->head = bid;
        c->tail = bid;
        c->queued++;
        /* More input while the previous echo is still on its way: the
         * client does not keep up reading. */
        if ((c->flags & PN__UC_SENDING) && (c->flags & PN__UC_RECV) &&
            !(c->flags & PN__UC_PAUSED) && pn__u_pause(e, fd) < 0)
            c->flags |= PN__UC_FAILED;
    } else if (res == 0) {
        c->flags |= PN__UC_EOF;
    } else if (res == -ENOBUFS) {
        if (!(c->flags & (PN__UC_WAITING | PN__UC_PAUSED)))
            pn__u_wait_push(e, fd);
    } else if (res < 0 && res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
        c->flags |= PN__UC_FAILED;  /* reset, or worse */
    }
    pn__u_conn_check(e, fd);
}

static void pn__u_send_done(struct pn__uecho *e, int fd, int res)
{
    struct pn__uconn *c = &e->conns[fd];

    c->flags &= (uint16_t)~PN__UC_SENDING;
    c->inflight--;
    if (res < 0) {
        c->flags |= PN__UC_FAILED;
    } else {
        uint16_t bid = c->head;

        c->off += (uint32_t)res;
        /* Short only when a kernel without MSG_WAITALL retries for
         * io_uring sends stopped early: the check sends the rest. */
        if (c->off >= e->buf_len[bid]) {
            c->head = e->buf_next[bid];
            if (c->head == PN__U_NONE)
                c->tail = PN__U_NONE;
            c->queued--;
            c->off = 0;
            pn__u_buf_release(e, bid);
        }
    }
    pn__u_conn_check(e, fd);
}

static void pn__u_conn_done(struct pn__uecho *e, int fd, int op, int res, unsigned flags)
{
    if (fd < 0 || fd >= e->conns_cap || !(e->conns[fd].flags & PN__UC_OPEN))
        return;  /* cannot happen: a slot is freed only once nothing is in flight */
    if (op == PN__U_RECV) {
        pn__u_recv_done(e, fd, res, flags);
    } else if (op == PN__U_SEND) {
        pn__u_send_done(e, fd, res);
    } else {  /* PN__U_PAUSE */
        e->conns[fd].flags &= (uint16_t)~PN__UC_CANCELLING;
        e->conns[fd].inflight--;
        pn__u_conn_check(e, fd);
    }
}

/* ---- the listener ---------------------------------------------------------- */

static void pn__u_accept_done(struct pn__uecho *e, int res)
{
    e->accepts--;
    if (res >= 0) {
        if (e->stopping)
            close(res);
        else
            pn__u_conn_open(e, res);
        return;
    }
    switch (res) {
    case -EINTR:
    case -EAGAIN:
    case -ECANCELED:
        return;
    case -EMFILE:
    case -ENFILE:
    case -ENOBUFS:
    case -ENOMEM:
        /* Out of descriptors or memory: the connection stays in the
         * backlog. Accepting again at once would fail again at once; pause
         * for a moment instead. */
        e->st->accept_errors++;
        e->accept_paused = 1;
        e->resume_ms = pn__u_now_ms() + PN__U_BACKOFF_MS;
        return;
    case -EINVAL:
    case -EBADF:
    case -ENOTSOCK:
    case -EOPNOTSUPP:
        e->error = res;  /* not a listening socket: nothing will ever come */
        return;
    default:
        /* ECONNABORTED, EPROTO, EPERM (a firewall), ...: that connection is
         * gone, the next one may be fine. */
        e->st->accept_errors++;
        return;
    }
}

/* ---- the loop ------------------------------------------------------------- */

static void pn__u_reap(struct pn__uecho *e)
{
    struct io_uring_cqe *cqe;

    while ((cqe = pn__uring_cqe(&e->ring)) != NULL) {
        uint64_t data = cqe->user_data;
        int res = cqe->res;
        unsigned flags = cqe->flags;
        int fd = (int)(data >> 8);

        pn__uring_cqe_seen(&e->ring);
        e->inflight--;
        switch ((int)(data & 0xff)) {
        case PN__U_RECV:
        case PN__U_SEND:
        case PN__U_PAUSE:
            pn__u_conn_done(e, fd, (int)(data & 0xff), res, flags);
            break;
        case PN__U_ACCEPT:
            pn__u_accept_done(e, res);
            break;
        case PN__U_STOP:
            if (res < 0 && res != -ECANCELED && !e->stopping)
                e->error = res;
            e->stopping = 1;
            break;
        case PN__U_CANCEL:
            e->cancelling = 0;
            break;
        }
    }
}

/* Cancel everything in flight and reap it all, so that no request still
 * holds a socket when we close it. */
static void pn__u_drain(struct pn__uecho *e)
{
    int round;

    e->stopping = 1;
    for (round = 0; e->inflight > 0 && round < PN__U_DRAIN_ROUNDS; round++) {
        if (!e->cancelling) {
            struct io_uring_sqe *sqe = pn__u_sqe(e, -1, PN__U_CANCEL);
            if (sqe != NULL) {
                sqe->opcode = IORING_OP_ASYNC_CANCEL;
                sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
                e->cancelling = 1;
            }
        }
        if (pn__uring_enter(&e->ring, 1, PN__U_DRAIN_MS) < 0)
            break;
        pn__u_reap(e);
    }
}

static void pn__u_free(struct pn__uecho *e)
{
    int fd;

    /* Connections still open: waiting for a buffer, or (if the drain gave
     * up) with requests the ring's own teardown will cancel. */
    for (fd = 0; fd < e->conns_cap; fd++) {
        if (e->conns[fd].flags & PN__UC_OPEN) {
            close(fd);
            e->st->clients--;
        }
    }
    free(e->conns);
    free(e->buf_next);
    free(e->buf_len);
    pn__uring_bufs_close(&e->ring, &e->bufs);
    pn__uring_close(&e->ring);
}

static unsigned pn__u_buf_count(size_t size)
{
    unsigned count = PN__U_BUFS_MAX;

    while (count > PN__U_BUFS_MIN && (size_t)count * size > PN__U_BUF_BYTES)
        count /= 2;
    return count;
}

int pn__uring_echo_run(const struct pn_echo_config *cfg, struct pn_echo_stats *st,
                       int *started)
{
    struct pn__uecho e;
    size_t size = cfg->read_size > 0 ? (size_t)cfg->read_size : PN__READ_SIZE_DEFAULT;
    unsigned count = pn__u_buf_count(size);
    int rc;

    *started = 0;
    memset(&e, 0, sizeof(e));
    e.st = st;
    e.fd = cfg->fd;
    e.stop_fd = cfg->stop_fd;
    e.max_clients = cfg->max_clients;
    e.wait_head = e.wait_tail = -1;
    if ((rc = pn__uring_open(&e.ring, PN__U_SQ_ENTRIES, PN__U_CQ_ENTRIES)) < 0)
        return rc;
    e.buf_next = calloc(count, sizeof(*e.buf_next));
    e.buf_len = calloc(count, sizeof(*e.buf_len));
    if (e.buf_next == NULL || e.buf_len == NULL)
        rc = -ENOMEM;
    else
        rc = pn__uring_bufs_open(&e.ring, &e.bufs, 0, count, size);
    if (rc < 0) {
        free(e.buf_next);
        free(e.buf_len);
        pn__uring_close(&e.ring);
        return rc;
    }
    *started = 1;
    if (e.stop_fd >= 0) {
        struct io_uring_sqe *sqe = pn__u_sqe(&e, e.stop_fd, PN__U_STOP);
        if (sqe != NULL) {  /* a fresh ring has room */
            sqe->opcode = IORING_OP_POLL_ADD;
            sqe->poll32_events = POLLIN;
        }
    }
    while (!e.stopping && e.error == 0) {
        int timeout = PN__U_WAIT_MS;

        if (e.accept_paused) {
            uint64_t now = pn__u_now_ms();
            if (now >= e.resume_ms)
                e.accept_paused = 0;
            else
                timeout = (int)(e.resume_ms - now);
        }
        pn__u_submit_accepts(&e);
        if ((rc = pn__uring_enter(&e.ring, 1, timeout)) < 0) {
            e.error = rc;
            break;
        }
        pn__u_reap(&e);
    }
    pn__u_drain(&e);
    pn__u_free(&e);
    return e.error;
}

#endif /* PN__HAVE_URING */
