/* The ping loop: send echo requests on schedule, read replies and ICMP
 * errors, and hand back one record per event. One call drives many packets,
 * so flood mode costs two system calls per ping and no Python at all.
 *
 * The socket is opened and configured by the caller (pynet/ping/_socket.py):
 * SO_TIMESTAMPNS, IP_RECVERR / IPV6_RECVERR, IP_RECVTTL / IPV6_RECVHOPLIMIT,
 * and the ICMP filters on raw sockets. The pure-Python twin of this file is
 * pynet/_reference/ping.py; the two must agree record for record. */
/* ppoll(), for waits with nanosecond deadlines */
#define _GNU_SOURCE
#include "pynet.h"

#include <errno.h>
#include <string.h>

#if defined(__linux__)

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#define PN__NS 1000000000LL
#define PN__CONTROL_LEN 512
/* IPv4 TTL and IPv6 hop limit arrive as an int in their control messages. */
#define PN__CMSG_INT_LEN CMSG_LEN(sizeof(int))

static int64_t pn__now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * PN__NS + ts.tv_nsec;
}

static size_t pn__addr_len(int family)
{
    return family == 4 ? 4 : 16;
}

static socklen_t pn__sockaddr(const struct pn_ping_config *c, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (c->family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, c->target, 4);
        return sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, c->target, 16);
        sin6->sin6_scope_id = c->scope_id;
        /* -F: with IPV6_FLOWINFO_SEND on, the kernel takes the label from here. */
        sin6->sin6_flowinfo = htonl(c->flowinfo);
        return sizeof(*sin6);
    }
}

/* The address bytes of a sockaddr the kernel filled in; 0 if none. */
static int pn__sockaddr_addr(const struct sockaddr_storage *ss, socklen_t len,
                             int family, uint8_t *out)
{
    if (family == 4 && ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memcpy(out, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        return 1;
    }
    if (family == 6 && ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

static int pn__is_answered(const struct pn_ping_state *s, unsigned seq)
{
    return (s->answered[seq >> 3] >> (seq & 7)) & 1;
}

static void pn__set_answered(struct pn_ping_state *s, unsigned seq, int on)
{
    if (on)
        s->answered[seq >> 3] |= (uint8_t)(1u << (seq & 7));
    else
        s->answered[seq >> 3] &= (uint8_t)~(1u << (seq & 7));
}

/* Requests are numbered 0, 1, 2, ... and carry seq = (index + 1) mod 2^16,
 * as iputils numbers them from 1. A seq maps back to the latest request
 * that carried it. */
static uint16_t pn__seq_of(int64_t index)
{
    return (uint16_t)((index + 1) & 0xffff);
}

static int64_t pn__index_of(const struct pn_ping_state *s, unsigned seq)
{
    int64_t last = s->transmitted - 1;
    return last - (int64_t)((pn__seq_of(last) - seq) & 0xffff);
}

/* iputils' acknowledge(): the latest request answered, for in-flight. */
static void pn__acknowledge(struct pn_ping_state *s, unsigned seq)
{
    int64_t upto = pn__index_of(s, seq) + 1;
    if (s->transmitted - upto + 1 > s->pipesize)
        s->pipesize = s->transmitted - upto + 1;
    if (upto > s->answered_upto)
        s->answered_upto = upto;
}

static int64_t pn__in_flight(const struct pn_ping_state *s)
{
    return s->transmitted - s->answered_upto;
}

static struct pn_ping_record *pn__record(struct pn_ping_record *out, size_t *n, int kind,
                                         unsigned seq, int64_t when_ns)
{
    struct pn_ping_record *r = &out[(*n)++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->seq = seq;
    r->ttl = -1;
    r->when_ns = when_ns;
    return r;
}

/* The interval in force: -i, or under -A the moving average round trip
 * once a reply came (iputils' update_interval, in whole milliseconds). */
static int64_t pn__interval(const struct pn_ping_config *c, const struct pn_ping_state *s)
{
    if (c->adaptive && s->ewma_us8 > 0)
        return s->adaptive_ns;
    return c->interval_ns;
}

static int64_t pn__preload(const struct pn_ping_config *c)
{
    return c->preload > 1 ? c->preload : 1;
}

/* After the last of -c requests (without -w), iputils waits twice the
 * longest round trip (at least the interval) once a reply came, or the -W
 * linger when none did. INT64_MAX while requests are still to go. */
static int64_t pn__linger_end(const struct pn_ping_config *c, const struct pn_ping_state *s)
{
    int64_t wait;

    if (c->count == 0 || s->transmitted < c->count || c->deadline_ns > 0)
        return INT64_MAX;
    if (s->received > 0) {
        wait = 2 * s->tmax_ns;
        if (wait < pn__interval(c, s))
            wait = pn__interval(c, s);
    } else {
        wait = c->linger_ns;
    }
    return s->last_send_ns + wait;
}

/* When the run ends, per iputils: -w passed; -c answered (replies plus
 * errors); any error under -w; or the linger after the last request. */
static int pn__finished(const struct pn_ping_config *c, const struct pn_ping_state *s,
                        int64_t now)
{
    if (c->deadline_ns > 0 && now >= c->deadline_ns)
        return 1;
    if (c->count > 0 && s->received + s->errors >= c->count)
        return 1;
    if (c->deadline_ns > 0 && s->errors > 0)
        return 1;
    return now >= pn__linger_end(c, s);
}

/* When the run ends at the latest, if nothing else happens. */
static int64_t pn__end_by(const struct pn_ping_config *c, const struct pn_ping_state *s)
{
    int64_t end = pn__linger_end(c, s);

    if (c->deadline_ns > 0 && c->deadline_ns < end)
        end = c->deadline_ns;
    return end;
}

static int pn__may_send(const struct pn_ping_config *c, const struct pn_ping_state *s)
{
    /* Under -w, iputils keeps sending past -c until -c replies came. */
    return c->count == 0 || s->transmitted < c->count || c->deadline_ns > 0;
}

static int64_t pn__send_due(const struct pn_ping_config *c, const struct pn_ping_state *s)
{
    int64_t due, interval = pn__interval(c, s);

    /* -l: the first requests go out at once, back to back. */
    if (s->transmitted < pn__preload(c))
        due = 0;
    else if (interval > 0 && c->adaptive)
        due = s->last_send_ns + interval;  /* the interval may have changed since the send */
    else if (interval > 0)
        due = s->next_send_ns;
    else if (pn__in_flight(s) < pn__preload(c))
        due = 0;
    else
        due = s->last_send_ns + PN_PING_FLOOD_WAIT_NS;
    return due > s->retry_ns ? due : s->retry_ns;
}

/* Send the next request. Returns 0, 1 when the kernel had no room (try
 * again shortly), or a negative errno for a failure to report. */
static int pn__send(const struct pn_ping_config *c, struct pn_ping_state *s,
                    struct pn_ping_record *out, size_t *n, int64_t now)
{
    struct sockaddr_storage ss;
    socklen_t sslen = pn__sockaddr(c, &ss);
    int64_t index = s->transmitted;
    uint16_t seq = pn__seq_of(index);
    size_t len = PN_ICMP_HEADER_LEN + (size_t)c->payload_len;
    uint8_t *icmp = s->tx, *payload = s->tx + PN_ICMP_HEADER_LEN;
    int64_t real;
    ssize_t rc;
    int i;

    if (c->report_outstanding && index > 0) {
        unsigned prev = pn__seq_of(index - 1);
        if (!pn__is_answered(s, prev))
            pn__record(out, n, PN_PING_OUTSTANDING, prev, pn__now(CLOCK_REALTIME));
    }

    /* The payload as iputils sends it: the send time as a struct timeval
     * (when there is room for one), then bytes counting up from there (or
     * the -p pattern, repeated), which stay put from one request to the
     * next. */
    if (index == 0) {
        for (i = 0; i < c->payload_len; i++)
            payload[i] = c->pattern_len > 0 ? c->pattern[i % c->pattern_len] : (uint8_t)i;
    }
    icmp[0] = (uint8_t)(c->family == 4 ? PN_ICMP_ECHO_REQUEST : PN_ICMP6_ECHO_REQUEST);
    icmp[1] = 0;
    icmp[4] = (uint8_t)(c->ident >> 8);
    icmp[5] = (uint8_t)c->ident;
    icmp[6] = (uint8_t)(seq >> 8);
    icmp[7] = (uint8_t)seq;
    now = pn__now(CLOCK_MONOTONIC);
    real = pn__now(CLOCK_REALTIME);
    if ((size_t)c->payload_len >= sizeof(struct timeval)) {
        struct timeval tv;
        tv.tv_sec = (time_t)(real / PN__NS);
        tv.tv_usec = (suseconds_t)((real % PN__NS) / 1000);
        memcpy(payload, &tv, sizeof(tv));
    }
    icmp[2] = icmp[3] = 0;
    /* ICMPv6 checksums cover the pseudo-header: the kernel fills them in. */
    if (c->family == 4) {
        uint16_t sum = pn_checksum(icmp, len, 0);
        icmp[2] = (uint8_t)(sum >> 8);
        icmp[3] = (uint8_t)sum;
    }

    do {
        /* Never block: a full send buffer must not hold up a deadline. */
        rc = sendto(c->fd, icmp, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sslen);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
                   errno == ENOMEM))
        return 1;  /* not sent: the queue is full, not the network broken */

    /* Sent, or failed for good, which iputils counts as sent all the same. */
    s->sent_real_ns[seq] = real;
    s->sent_mono_ns[seq] = now;
    pn__set_answered(s, seq, 0);
    if (s->transmitted == 0) {
        s->first_send_ns = now;
        s->next_send_ns = now;
    }
    s->transmitted++;
    s->last_send_ns = now;
    if (c->interval_ns > 0) {
        if (s->transmitted <= pn__preload(c)) {
            /* iputils' token bucket: the preloaded burst costs one interval. */
            s->next_send_ns = s->first_send_ns + c->interval_ns;
        } else {
            s->next_send_ns += c->interval_ns;
        }
        /* After a stall, keep the pace from now rather than catching up in a burst. */
        if (s->next_send_ns < now)
            s->next_send_ns = now + c->interval_ns;
    }
    if (rc < 0) {
        struct pn_ping_record *r = pn__record(out, n, PN_PING_SEND_FAILED, seq, real);
        r->info = errno;
        return -errno;
    }
    return 0;
}

/* The round trip: kernel receive time minus the send time, both
 * CLOCK_REALTIME. Should the clock be stepped in between, fall back to
 * the monotonic clock read now. */
static int64_t pn__rtt(const struct pn_ping_state *s, unsigned seq, int64_t received_real)
{
    int64_t rtt = received_real - s->sent_real_ns[seq], mono;

    /* Only a round trip that looks odd costs a look at the other clock. */
    if (rtt >= 0 && rtt < PN__NS)
        return rtt;
    mono = pn__now(CLOCK_MONOTONIC) - s->sent_mono_ns[seq];
    if (rtt < 0 || rtt > mono)
        rtt = mono;
    return rtt;
}

/* iputils compares the payload past the timestamp with what it sent: the
 * first byte that differs, or -1 (also for a reply too short to hold it). */
static int pn__wrong_byte(const struct pn_ping_config *c, const struct pn_ping_state *s,
                          const uint8_t *payload, int64_t len)
{
    const uint8_t *sent = s->tx + PN_ICMP_HEADER_LEN;
    int i;

    if (len < c->payload_len)
        return -1;
    for (i = (int)sizeof(struct timeval); i < c->payload_len; i++) {
        if (payload[i] != sent[i])
            return i;
    }
    return -1;
}

/* iputils' moving average (rtt += t - rtt / 8, in microseconds), and -A's
 * interval taken from it. */
static void pn__update_interval(const struct pn_ping_config *c, struct pn_ping_state *s,
                                int64_t rtt_ns)
{
    int64_t t = rtt_ns / 1000;

    if (s->ewma_us8 == 0)
        s->ewma_us8 = t * 8 > 0 ? t * 8 : 1;  /* nonzero: a reply came */
    else
        s->ewma_us8 += t - s->ewma_us8 / 8;
    s->adaptive_ns = (s->ewma_us8 / 8 + 500) / 1000 * 1000000;
    if (s->adaptive_ns < c->min_interval_ns)
        s->adaptive_ns = c->min_interval_ns;
}

/* The IPv4 options a reply came with: from its header on a raw socket, or
 * the IP_RETOPTS control message on a datagram one. */
struct pn__options {
    const uint8_t *bytes;
    size_t len;
};

static void pn__reply(const struct pn_ping_config *c, struct pn_ping_state *s,
                      struct pn_ping_record *out, size_t *n, const int64_t *f,
                      const uint8_t *buf, int64_t when, int ttl, const uint8_t *from,
                      struct pn__options opts)
{
    unsigned seq = (unsigned)f[PN_F_SEQ];
    struct pn_ping_record *r;
    int64_t rtt;
    int wrong;

    /* Ours only: our id (the kernel checks it on datagram sockets), a seq
     * we sent, from the address we pinged. */
    if (c->raw && f[PN_F_ID] != c->ident)
        return;
    if (s->transmitted == 0 || s->sent_real_ns[seq] == 0 ||
        pn__index_of(s, seq) < 0)
        return;
    if (!c->any_source && memcmp(from, c->target, pn__addr_len(c->family)) != 0)
        return;

    rtt = pn__rtt(s, seq, when);
    r = pn__record(out, n, PN_PING_REPLY, seq, when);
    r->rtt_ns = rtt;
    r->ttl = f[PN_F_TTL] >= 0 ? f[PN_F_TTL] : ttl;
    r->bytes = f[PN_F_PAYLOAD_LEN] + PN_ICMP_HEADER_LEN;
    memcpy(r->from, from, pn__addr_len(c->family));
    r->options_len = (int64_t)opts.len;
    if (opts.len > 0)
        memcpy(r->options, opts.bytes, opts.len);
    if (f[PN_F_CHECKSUM_OK] == 0) {
        r->flags = PN_PING_BAD_CHECKSUM;
        s->corrupted++;
        return;
    }
    pn__acknowledge(s, seq);
    if (rtt > s->tmax_ns)
        s->tmax_ns = rtt;
    if ((size_t)c->payload_len >= sizeof(struct timeval))
        pn__update_interval(c, s, rtt);
    if (pn__is_answered(s, seq)) {
        r->flags = PN_PING_DUP;
        s->duplicates++;
    } else {
        pn__set_answered(s, seq, 1);
        s->received++;
    }
    wrong = pn__wrong_byte(c, s, buf + f[PN_F_PAYLOAD_OFF], f[PN_F_PAYLOAD_LEN]);
    if (wrong >= 0) {
        r->flags |= PN_PING_WRONG_DATA;
        r->type = wrong;
        r->code = s->tx[PN_ICMP_HEADER_LEN + wrong];
        r->info = buf[f[PN_F_PAYLOAD_OFF] + wrong];
        s->wrong_data++;
        /* Kept for iputils' dump of the payload after the wrong byte. */
        s->wrong_len = c->payload_len;
        memcpy(s->wrong_payload, buf + f[PN_F_PAYLOAD_OFF], (size_t)c->payload_len);
    }
}

/* A redirect or source quench on a raw IPv4 socket quoting our request:
 * iputils prints it, and counts it nowhere. */
static void pn__notice(const struct pn_ping_config *c, struct pn_ping_state *s,
                       struct pn_ping_record *out, size_t *n, const int64_t *f,
                       const uint8_t *buf, int64_t when, const uint8_t *from)
{
    struct pn_ping_record *r;
    unsigned seq;

    if (f[PN_F_QUOTED_ID] != c->ident || f[PN_F_QUOTED_DESTINATION_OFF] < 0)
        return;
    if (memcmp(buf + f[PN_F_QUOTED_DESTINATION_OFF], c->target, 4) != 0)
        return;
    seq = (unsigned)f[PN_F_QUOTED_SEQ];
    if (s->transmitted == 0 || s->sent_real_ns[seq] == 0)
        return;
    r = pn__record(out, n, PN_PING_NOTICE, seq, when);
    r->type = f[PN_F_TYPE];
    r->code = f[PN_F_CODE];
    r->info = f[PN_F_REST_OF_HEADER];
    memcpy(r->from, from, 4);
}

/* An errno recvmsg returns for the socket itself, not for one packet. */
static int pn__socket_broken(int err)
{
    return err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL;
}

/* Read what the socket holds without waiting, until it is empty or the next
 * request is due (in flood mode the reply just read makes it due: sending
 * first saves a recvmsg that would only say EAGAIN). Sets *errors_queued
 * when the kernel signals an ICMP error waiting in the error queue.
 * Returns how many packets were read, or a negative errno. */
static long pn__receive(const struct pn_ping_config *c, struct pn_ping_state *s,
                        struct pn_ping_record *out, size_t *n, size_t cap,
                        int *errors_queued)
{
    long got = 0;

    while (*n < cap) {
        struct sockaddr_storage from_ss;
        uint8_t from[16];
        char control[PN__CONTROL_LEN];
        struct iovec iov = { s->rx, sizeof(s->rx) };
        struct msghdr msg;
        struct cmsghdr *cm;
        int64_t f[PN_F_COUNT];
        int64_t when = 0;
        int ttl = -1, rc, type;
        struct pn__options opts = { NULL, 0 };
        ssize_t len;

        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &from_ss;
        msg.msg_namelen = sizeof(from_ss);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        len = recvmsg(c->fd, &msg, MSG_DONTWAIT);
        if (len < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return got;
            if (pn__socket_broken(errno))
                return -errno;
            /* An ICMP error (with IP_RECVERR) leaves its errno pending on
             * the socket, and the next recvmsg returns it once, packets
             * queued or not; the details wait in the error queue. This is
             * how errors are noticed without reading that queue after
             * every packet. */
            *errors_queued = 1;
            continue;
        }
        got++;
        if (msg.msg_flags & MSG_TRUNC) {
            s->malformed++;
            continue;
        }
        for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPNS &&
                cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
                when = (int64_t)ts.tv_sec * PN__NS + ts.tv_nsec;
            } else if (((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) ||
                        (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT)) &&
                       cm->cmsg_len >= PN__CMSG_INT_LEN) {
                memcpy(&ttl, CMSG_DATA(cm), sizeof(ttl));
            } else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RETOPTS &&
                       cm->cmsg_len > CMSG_LEN(0)) {
                opts.bytes = CMSG_DATA(cm);
                opts.len = cm->cmsg_len - CMSG_LEN(0);
                if (opts.len > PN_PING_OPTIONS_MAX)
                    opts.len = PN_PING_OPTIONS_MAX;
            }
        }
        /* -U: user to user, timed on reading as iputils does with it. */
        if (when == 0 || c->user_latency)
            when = pn__now(CLOCK_REALTIME);
        if (!pn__sockaddr_addr(&from_ss, msg.msg_namelen, c->family, from))
            continue;

        rc = pn_icmp_parse(s->rx, (size_t)len, c->family,
                           c->raw && c->family == 4 ? PN_IP_HEADER_PRESENT : PN_IP_HEADER_ABSENT,
                           NULL, NULL, f);
        if (rc < 0) {
            s->malformed++;
            continue;
        }
        if (c->raw && c->family == 4) {
            /* The parse checked that the header (20 to 60 bytes) is all there. */
            size_t header_len = (size_t)(s->rx[0] & 0x0f) * 4;
            opts.bytes = s->rx + PN_IPV4_MIN_HEADER_LEN;
            opts.len = header_len - PN_IPV4_MIN_HEADER_LEN;
        }
        type = (int)f[PN_F_TYPE];
        if (type == (c->family == 4 ? PN_ICMP_ECHO_REPLY : PN_ICMP6_ECHO_REPLY)) {
            pn__reply(c, s, out, n, f, s->rx, when, ttl, from, opts);
            if (s->wrong_len > 0)
                return got;  /* the caller reads its payload before the next one comes */
        } else if (c->raw && c->family == 4 &&
                   (type == PN_ICMP_REDIRECT || type == PN_ICMP_SOURCE_QUENCH)) {
            pn__notice(c, s, out, n, f, s->rx, when, from);
        }
        if (pn__may_send(c, s)) {
            int64_t due = pn__send_due(c, s);
            if (due == 0 || due <= pn__now(CLOCK_MONOTONIC))
                return got;
        }
    }
    return got;
}

/* Read the error queue (IP_RECVERR): ICMP errors quoting our requests, and
 * local errors. Returns how many were read, or a negative errno. */
static long pn__receive_errors(const struct pn_ping_config *c, struct pn_ping_state *s,
                               struct pn_ping_record *out, size_t *n, size_t cap)
{
    long got = 0;

    while (*n < cap) {
        struct sockaddr_storage target_ss;
        uint8_t target[16];
        char control[PN__CONTROL_LEN];
        struct iovec iov = { s->rx, sizeof(s->rx) };
        struct msghdr msg;
        struct cmsghdr *cm;
        struct sock_extended_err ee;
        const struct sock_extended_err *eep = NULL;
        struct pn_ping_record *r;
        unsigned seq;
        ssize_t len;
        int echo_request = c->family == 4 ? PN_ICMP_ECHO_REQUEST : PN_ICMP6_ECHO_REQUEST;

        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &target_ss;
        msg.msg_namelen = sizeof(target_ss);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        len = recvmsg(c->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (len < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return got;
            return -errno;
        }
        got++;
        for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
            if (((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
                 (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)) &&
                cm->cmsg_len >= CMSG_LEN(sizeof(ee)))
                eep = (const struct sock_extended_err *)CMSG_DATA(cm);
        }
        if (eep == NULL)
            continue;
        memcpy(&ee, eep, sizeof(ee));

        if (ee.ee_origin == SO_EE_ORIGIN_LOCAL) {
            r = pn__record(out, n, PN_PING_LOCAL_ERROR, 0, pn__now(CLOCK_REALTIME));
            r->info = ee.ee_errno;
            r->code = ee.ee_info;  /* the MTU, for EMSGSIZE */
            if (len >= PN_ICMP_HEADER_LEN && s->rx[0] == echo_request)
                r->seq = (s->rx[6] << 8) | s->rx[7];
            s->errors++;
            continue;
        }
        if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
            continue;
        /* Ours only: an echo request of ours (the kernel checks the id on
         * datagram sockets), to our target, with a seq we sent. */
        if (len < PN_ICMP_HEADER_LEN || s->rx[0] != echo_request)
            continue;
        if (c->raw && ((s->rx[4] << 8) | s->rx[5]) != c->ident)
            continue;
        if (!pn__sockaddr_addr(&target_ss, msg.msg_namelen, c->family, target) ||
            memcmp(target, c->target, pn__addr_len(c->family)) != 0)
            continue;
        seq = (unsigned)((s->rx[6] << 8) | s->rx[7]);
        if (s->transmitted == 0 || s->sent_real_ns[seq] == 0)
            continue;

        pn__acknowledge(s, seq);
        s->errors++;
        r = pn__record(out, n, PN_PING_ERROR, seq, pn__now(CLOCK_REALTIME));
        r->type = ee.ee_type;
        r->code = ee.ee_code;
        r->info = ee.ee_info;
        /* SO_EE_OFFENDER: the sender of the ICMP error follows ee. */
        {
            struct sockaddr_storage offender;
            size_t room = (size_t)((const char *)msg.msg_control + msg.msg_controllen -
                                   (const char *)(eep + 1));
            size_t want = c->family == 4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
            if (room >= want) {
                memset(&offender, 0, sizeof(offender));
                memcpy(&offender, eep + 1, want);
                pn__sockaddr_addr(&offender, (socklen_t)want, c->family, r->from);
            }
        }
    }
    return got;
}

long pn_ping_run(const struct pn_ping_config *c, struct pn_ping_state *s,
                 struct pn_ping_record *out, size_t cap, int64_t flush_ns)
{
    int64_t start = pn__now(CLOCK_MONOTONIC), now, due, end, wake;
    size_t n = 0;
    long events = 0, rc;
    /* Read the error queue when the kernel says it holds something: on the
     * first call (to be sure), on POLLERR, on a pending socket error, or
     * after a failed send. */
    int errors_queued = 1;
    int fresh = 0;  /* now was just read: no need to read it again */

    if (c->family != 4 && c->family != 6)
        return -EAFNOSUPPORT;
    if (c->payload_len < 0 || (size_t)c->payload_len > sizeof(s->tx) - PN_ICMP_HEADER_LEN)
        return -EMSGSIZE;
    if (c->pattern_len < 0 || c->pattern_len > PN_PING_PATTERN_MAX)
        return -EINVAL;
    s->wrong_len = 0;
    for (;;) {
        struct pollfd pfd;
        struct timespec timeout;
        int ready;

        if (!fresh)
            now = pn__now(CLOCK_MONOTONIC);
        fresh = 0;
        if (pn__finished(c, s, now)) {
            s->done = 1;
            return (long)n;
        }
        /* Room for the two records a send may write. */
        if (cap - n < 2)
            return (long)n;
        due = pn__may_send(c, s) ? pn__send_due(c, s) : INT64_MAX;
        if (due <= now) {
            rc = pn__send(c, s, out, &n, now);
            if (rc < 0)
                errors_queued = 1;
            if (rc == 1) {
                /* The send queue is full: let replies drain it first. */
                s->retry_ns = now + PN_PING_FLOOD_WAIT_NS;
            } else {
                events++;
            }
            /* -l: the whole preload goes out before any reply is read, as
             * iputils sends it (its pipe counts them all in flight). */
            if (rc == 0 && s->transmitted < pn__preload(c) && pn__may_send(c, s))
                continue;
            /* A reply over loopback is usually queued before sendto returns:
             * read it now, without a poll. */
        }

        rc = pn__receive(c, s, out, &n, cap, &errors_queued);
        if (rc < 0)
            return rc;
        events += rc;
        if (s->wrong_len > 0)
            return (long)n;  /* a reply whose payload is in s->wrong_payload ends the batch */
        if (errors_queued) {
            errors_queued = 0;
            rc = pn__receive_errors(c, s, out, &n, cap);
            if (rc < 0)
                return rc;
            events += rc;
        }
        if (n == cap)
            return (long)n;

        now = pn__now(CLOCK_MONOTONIC);
        if (pn__finished(c, s, now)) {
            s->done = 1;
            return (long)n;
        }
        due = pn__may_send(c, s) ? pn__send_due(c, s) : INT64_MAX;
        if (due <= now) {
            fresh = 1;
            continue;
        }
        if (events > 0 && now - start >= flush_ns)
            return (long)n;

        end = pn__end_by(c, s);
        wake = due < end ? due : end;
        if (flush_ns >= 0 && start + flush_ns > now && start + flush_ns < wake && events > 0)
            wake = start + flush_ns;
        if (wake == INT64_MAX) {
            wake = now + PN__NS;  /* nothing scheduled: look again in a second */
        }
        if (wake < now)
            wake = now;
        timeout.tv_sec = (time_t)((wake - now) / PN__NS);
        timeout.tv_nsec = (long)((wake - now) % PN__NS);
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        ready = ppoll(&pfd, 1, &timeout, NULL);
        if (ready < 0) {
            /* Not retried: the caller (Python) must get the chance to run
             * its signal handlers, Ctrl-C above all. */
            if (errno == EINTR)
                return (long)n;
            return -errno;
        }
        if (pfd.revents & POLLERR)
            errors_queued = 1;
    }
}

#else /* !__linux__ */

long pn_ping_run(const struct pn_ping_config *config, struct pn_ping_state *state,
                 struct pn_ping_record *out, size_t cap, int64_t flush_ns)
{
    (void)config;
    (void)state;
    (void)out;
    (void)cap;
    (void)flush_ns;
    return -ENOSYS;
}

#endif
