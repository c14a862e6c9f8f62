/* Choosing a poller backend at run time. */
#include "pynet.h"
#include "poller_internal.h"
#include "uring_internal.h"

#include <errno.h>
#include <string.h>

static const struct pn__poller_ops *pn__poller_ops_for(int kind)
{
    switch (kind) {
    case PN_POLLER_AUTO:
#if defined(PN__HAVE_EPOLL)
        return &pn__poller_epoll_ops;
#elif defined(PN__HAVE_KQUEUE)
        return &pn__poller_kqueue_ops;
#else
        return &pn__poller_poll_ops;
#endif
    case PN_POLLER_POLL:
        return &pn__poller_poll_ops;
#ifdef PN__HAVE_EPOLL
    case PN_POLLER_EPOLL:
        return &pn__poller_epoll_ops;
#endif
#ifdef PN__HAVE_KQUEUE
    case PN_POLLER_KQUEUE:
        return &pn__poller_kqueue_ops;
#endif
    default:
        return NULL;
    }
}

int pn_poller_available(int kind)
{
    if (kind == PN_POLLER_URING)
        return pn_uring_status() == 0;
    return pn__poller_ops_for(kind) != NULL;
}

int pn_uring_status(void)
{
#ifdef PN__HAVE_URING
    return pn__uring_probe();
#else
    return -ENOTSUP;
#endif
}

int pn_poller_resolve(int kind)
{
    const struct pn__poller_ops *ops = pn__poller_ops_for(kind);

    if (kind == PN_POLLER_URING)
        return pn_uring_status() == 0 ? PN_POLLER_URING : -ENOTSUP;
    if (ops == NULL)
        return -ENOTSUP;
#ifdef PN__HAVE_EPOLL
    if (ops == &pn__poller_epoll_ops)
        return PN_POLLER_EPOLL;
#endif
#ifdef PN__HAVE_KQUEUE
    if (ops == &pn__poller_kqueue_ops)
        return PN_POLLER_KQUEUE;
#endif
    return PN_POLLER_POLL;
}

int pn__poller_open(struct pn__poller *p, int kind)
{
    const struct pn__poller_ops *ops = pn__poller_ops_for(kind);

    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (ops == NULL)
        return -ENOTSUP;
    p->ops = ops;
    p->kind = pn_poller_resolve(kind);
    return ops->init(p);
}

void pn__poller_close(struct pn__poller *p)
{
    if (p->ops != NULL)
        p->ops->destroy(p);
    p->ops = NULL;
}
