/* poll(2) backend: portable, and selectable on Linux so that the tests run
 * the echo loop over two pollers. A dense pollfd array plus an fd -> slot
 * map keeps interest changes O(1) (removal moves the last entry into the
 * hole). Each wait scans every registered descriptor, which is why epoll or
 * kqueue is preferred where they exist. */
#include "fdtable_internal.h"
#include "poller_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static int pn__poll_init(struct pn__poller *p)
{
    p->fds = NULL;
    p->nfds = p->fds_cap = 0;
    p->slot = NULL;
    p->slot_cap = 0;
    p->events_cap = 0;  /* scan start, rotated so no descriptor starves */
    return 0;
}

static void pn__poll_destroy(struct pn__poller *p)
{
    free(p->fds);
    free(p->slot);
    p->fds = NULL;
    p->slot = NULL;
    p->nfds = p->fds_cap = p->slot_cap = 0;
}

static int pn__poll_set(struct pn__poller *p, int fd, int old, int events)
{
    struct pollfd *fds;
    short want = 0;
    int i, rc;

    (void)old;
    if (fd < 0)
        return -EBADF;
    if ((rc = pn__fd_index_fit(&p->slot, &p->slot_cap, fd)) < 0)
        return rc;
    if (events & PN__IN)
        want |= POLLIN;
    if (events & PN__OUT)
        want |= POLLOUT;
    i = p->slot[fd];
    fds = p->fds;
    if (events == 0) {
        if (i < 0)
            return 0;
        p->nfds--;
        if (i != p->nfds) {
            fds[i] = fds[p->nfds];
            p->slot[fds[i].fd] = i;
        }
        p->slot[fd] = -1;
        return 0;
    }
    if (i < 0) {
        if (p->nfds == p->fds_cap) {
            int cap = p->fds_cap ? p->fds_cap * 2 : 64;
            fds = realloc(p->fds, sizeof(struct pollfd) * (size_t)cap);
            if (fds == NULL)
                return -ENOMEM;
            p->fds = fds;
            p->fds_cap = cap;
        }
        i = p->nfds++;
        p->slot[fd] = i;
        fds[i].fd = fd;
    }
    fds[i].events = want;
    fds[i].revents = 0;
    return 0;
}

static int pn__poll_wait(struct pn__poller *p, struct pn__event *out, int max, int timeout_ms)
{
    struct pollfd *fds = p->fds;
    int n, i, k, got = 0, start;

    n = poll(fds, (nfds_t)p->nfds, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0 || p->nfds == 0)
        return 0;
    start = p->events_cap % p->nfds;
    for (k = 0; k < p->nfds && got < max && got < n; k++) {
        int e = 0;
        i = (start + k) % p->nfds;
        if (fds[i].revents == 0)
            continue;
        if (fds[i].revents & POLLIN)
            e |= PN__IN;
        if (fds[i].revents & POLLOUT)
            e |= PN__OUT;
        if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
            e |= PN__ERR;
        out[got].fd = fds[i].fd;
        out[got].events = e;
        got++;
    }
    p->events_cap = start + k;
    return got;
}

const struct pn__poller_ops pn__poller_poll_ops = {
    pn__poll_init, pn__poll_destroy, pn__poll_set, pn__poll_wait,
};
