/* The readiness pollers behind the echo loop and the load generator; not
 * part of the public API. One file per backend, as libuv does it:
 * poller_epoll.c (Linux), poller_kqueue.c (BSD, macOS), poller_poll.c
 * (anywhere). The loops ask for one interest at a time per descriptor and
 * dispatch on their own state, so a backend only has to say "this fd is
 * ready, or in error". */
#ifndef PYNET_POLLER_INTERNAL_H
#define PYNET_POLLER_INTERNAL_H

#include <stddef.h>

#if defined(__has_include)
#if __has_include(<sys/event.h>)
#define PN__HAVE_KQUEUE 1
#endif
#endif
#if defined(__linux__)
#define PN__HAVE_EPOLL 1
#endif

enum {
    PN__IN = 1,   /* readable (or a listener with a pending connection) */
    PN__OUT = 2,  /* writable */
    PN__ERR = 4   /* error or hang-up: the next read/write says which */
};

struct pn__event {
    int fd;
    int events;
};

struct pn__poller;

struct pn__poller_ops {
    int (*init)(struct pn__poller *p);
    void (*destroy)(struct pn__poller *p);
    /* old = the interest registered so far (0: not registered). Setting
     * events to 0 removes the descriptor. */
    int (*set)(struct pn__poller *p, int fd, int old, int events);
    /* Up to max events; timeout in milliseconds (>= 0: every wait has a
     * deadline). Returns the count, or a negative errno. EINTR is returned
     * as 0 events so that the caller re-checks its stop conditions. */
    int (*wait)(struct pn__poller *p, struct pn__event *out, int max, int timeout_ms);
};

struct pn__poller {
    const struct pn__poller_ops *ops;
    int kind;
    int fd;            /* epoll or kqueue descriptor */
    void *events;      /* the kernel's event array (epoll, kqueue) */
    int events_cap;
    void *fds;         /* poll: struct pollfd array */
    int nfds, fds_cap;
    int *slot;         /* poll: fd -> index in fds, or -1 */
    int slot_cap;
};

extern const struct pn__poller_ops pn__poller_poll_ops;
#ifdef PN__HAVE_EPOLL
extern const struct pn__poller_ops pn__poller_epoll_ops;
#endif
#ifdef PN__HAVE_KQUEUE
extern const struct pn__poller_ops pn__poller_kqueue_ops;
#endif

/* Open a poller of the given enum pn_poller kind (PN_POLLER_AUTO: the best
 * one here). 0, -ENOTSUP for a backend not compiled in, or a negative errno. */
int pn__poller_open(struct pn__poller *p, int kind);
void pn__poller_close(struct pn__poller *p);

static inline int pn__poller_set(struct pn__poller *p, int fd, int old, int events)
{
    if (old == events)
        return 0;
    return p->ops->set(p, fd, old, events);
}

static inline int pn__poller_wait(struct pn__poller *p, struct pn__event *out, int max,
                                  int timeout_ms)
{
    return p->ops->wait(p, out, max, timeout_ms);
}

#endif /* PYNET_POLLER_INTERNAL_H */
