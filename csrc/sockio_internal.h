/* Socket I/O shared by the echo loop and the load generator; internal. */
#ifndef PYNET_SOCKIO_INTERNAL_H
#define PYNET_SOCKIO_INTERNAL_H

#include <errno.h>
#include <stddef.h>
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

#endif
