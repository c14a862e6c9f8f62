/* epoll(7) backend (Linux). Level-triggered: the loops read or write once
 * per wake-up and let the next epoll_wait report what is left, which costs
 * no extra system call when a socket has nothing more. */
#include "poller_internal.h"

#ifdef PN__HAVE_EPOLL

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define PN__EPOLL_BATCH 1024

static int pn__epoll_init(struct pn__poller *p)
{
    p->fd = epoll_create1(EPOLL_CLOEXEC);
    if (p->fd < 0)
        return -errno;
    p->events = malloc(sizeof(struct epoll_event) * PN__EPOLL_BATCH);
    if (p->events == NULL) {
        close(p->fd);
        p->fd = -1;
        return -ENOMEM;
    }
    p->events_cap = PN__EPOLL_BATCH;
    return 0;
}

static void pn__epoll_destroy(struct pn__poller *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    free(p->events);
    p->events = NULL;
}

static int pn__epoll_set(struct pn__poller *p, int fd, int old, int events)
{
    struct epoll_event ev;
    int op;

    ev.events = 0;
    if (events & PN__IN)
        ev.events |= EPOLLIN;
    if (events & PN__OUT)
        ev.events |= EPOLLOUT;
    ev.data.u64 = 0;
    ev.data.fd = fd;
    if (events == 0)
        op = EPOLL_CTL_DEL;
    else if (old == 0)
        op = EPOLL_CTL_ADD;
    else
        op = EPOLL_CTL_MOD;
    if (epoll_ctl(p->fd, op, fd, &ev) < 0)
        return -errno;
    return 0;
}

static int pn__epoll_wait(struct pn__poller *p, struct pn__event *out, int max, int timeout_ms)
{
    struct epoll_event *ev = p->events;
    int i, n;

    if (max > p->events_cap)
        max = p->events_cap;
    n = epoll_wait(p->fd, ev, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        int e = 0;
        if (ev[i].events & EPOLLIN)
            e |= PN__IN;
        if (ev[i].events & EPOLLOUT)
            e |= PN__OUT;
        if (ev[i].events & (EPOLLERR | EPOLLHUP))
            e |= PN__ERR;
        out[i].fd = ev[i].data.fd;
        out[i].events = e;
    }
    return n;
}

const struct pn__poller_ops pn__poller_epoll_ops = {
    pn__epoll_init, pn__epoll_destroy, pn__epoll_set, pn__epoll_wait,
};

#endif /* PN__HAVE_EPOLL */
