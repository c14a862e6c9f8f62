/* A declaration-only <sys/event.h> as kevent(2) documents it on FreeBSD and
 * macOS, so that the kqueue backend can be compiled (not run) on Linux,
 * which has no kqueue. Used only by tests/test_cross_arch.py. */
#ifndef PYNET_TEST_SYS_EVENT_H
#define PYNET_TEST_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

struct kevent {
    uintptr_t ident;   /* the descriptor */
    int16_t filter;    /* EVFILT_* */
    uint16_t flags;    /* EV_* */
    uint32_t fflags;
    intptr_t data;
    void *udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

#define EV_SET(kevp, a, b, c, d, e, f) do {      \
        struct kevent *pn_kev_ = (kevp);         \
        pn_kev_->ident = (a);                    \
        pn_kev_->filter = (b);                   \
        pn_kev_->flags = (c);                    \
        pn_kev_->fflags = (d);                   \
        pn_kev_->data = (e);                     \
        pn_kev_->udata = (f);                    \
    } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents, const struct timespec *timeout);

#endif
