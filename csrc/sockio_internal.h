/* Socket I/O shared by the echo loop and the load generator; internal. */
#ifndef PYNET_SOCKIO_INTERNAL_H
#define PYNET_SOCKIO_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef MSG_NOSIGNAL
#define PN__SEND_FLAGS MSG_NOSIGNAL   /* a closed peer is an error, not SIGPIPE */
#else
#define PN__SEND_FLAGS 0              /* BSD, macOS: SO_NOSIGPIPE on the socket */
#endif

/* Send as much of buf as the kernel takes now on a non-blocking socket: the
 * count sent (short when the send buffer fills), or a negative errno other
 * than EAGAIN. */
static inline ssize_t pn__send_now(int fd, const char *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t w = send(fd, buf + off, len - off, PN__SEND_FLAGS);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -errno;
        }
        off += (size_t)w;
    }
    return (ssize_t)off;
}

/* Make room in a table indexed by file descriptor (*table of *cap entries
 * of size bytes each) for entry fd, doubling from 256; new entries are
 * zeroed. Returns 0, or -ENOMEM with the table unchanged. */
static inline int pn__fd_table_fit(void **table, int *cap, int fd, size_t size)
{
    void *grown;
    int want;

    if (fd < *cap)
        return 0;
    want = *cap ? *cap : 256;
    while (want <= fd)
        want *= 2;
    grown = realloc(*table, size * (size_t)want);
    if (grown == NULL)
        return -ENOMEM;
    memset((char *)grown + size * (size_t)*cap, 0, size * (size_t)(want - *cap));
    *table = grown;
    *cap = want;
    return 0;
}

#endif
