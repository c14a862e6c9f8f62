/* kqueue(2) backend (FreeBSD, macOS, NetBSD, OpenBSD). Reading and writing
 * are separate filters, so a change of interest adds one and deletes the
 * other. Compiled only where <sys/event.h> exists. */
#include "poller_internal.h"

#ifdef PN__HAVE_KQUEUE

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#define PN__KQUEUE_BATCH 1024

static int pn__kqueue_init(struct pn__poller *p)
{
    p->fd = kqueue();
    if (p->fd < 0)
        return -errno;
    /* kqueue descriptors are not inherited across fork, but they are across
     * exec on some systems: close-on-exec like every other descriptor. */
    (void)fcntl(p->fd, F_SETFD, FD_CLOEXEC);
    p->events = malloc(sizeof(struct kevent) * PN__KQUEUE_BATCH);
    if (p->events == NULL) {
        close(p->fd);
        p->fd = -1;
        return -ENOMEM;
    }
    p->events_cap = PN__KQUEUE_BATCH;
    return 0;
}

static void pn__kqueue_destroy(struct pn__poller *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    free(p->events);
    p->events = NULL;
}

static int pn__kqueue_set(struct pn__poller *p, int fd, int old, int events)
{
    struct kevent ch[2];
    int n = 0;

    if ((events & PN__IN) && !(old & PN__IN))
        EV_SET(&ch[n++], fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
    if (!(events & PN__IN) && (old & PN__IN))
        EV_SET(&ch[n++], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    if ((events & PN__OUT) && !(old & PN__OUT))
        EV_SET(&ch[n++], fd, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    if (!(events & PN__OUT) && (old & PN__OUT))
        EV_SET(&ch[n++], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    if (n == 0)
        return 0;
    if (kevent(p->fd, ch, n, NULL, 0, NULL) < 0)
        return -errno;
    return 0;
}

static int pn__kqueue_wait(struct pn__poller *p, struct pn__event *out, int max, int timeout_ms)
{
    struct kevent *ev = p->events;
    struct timespec ts;
    int i, n;

    if (max > p->events_cap)
        max = p->events_cap;
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    n = kevent(p->fd, NULL, 0, ev, max, &ts);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        int e = ev[i].filter == EVFILT_WRITE ? PN__OUT : PN__IN;
        if (ev[i].flags & EV_ERROR)
            e |= PN__ERR;
        out[i].fd = (int)ev[i].ident;
        out[i].events = e;
    }
    return n;
}

const struct pn__poller_ops pn__poller_kqueue_ops = {
    pn__kqueue_init, pn__kqueue_destroy, pn__kqueue_set, pn__kqueue_wait,
};

#endif /* PN__HAVE_KQUEUE */
