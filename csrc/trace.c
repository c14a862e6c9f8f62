/* The traceroute loop: every TTL in flight at once (at most `sim` probes
 * unanswered), each probe marked so that its answer finds it again, answers
 * read from a raw ICMP socket or from the probe socket's error queue
 * (IP_RECVERR), one record per probe once answered or given up.
 *
 * The sockets are opened by the caller (pynet/traceroute/_socket.py). The
 * pure-Python twin is pynet/_reference/trace.py; the two must agree record
 * for record.
 *
 * Paris traceroute's rule holds unless config->classic: what load balancers
 * hash (addresses, ports, the ICMP checksum) stays the same for every probe.
 * UDP probes carry the probe number and its one's complement in their data
 * (the UDP checksum cannot change), ICMP ones the complement of their
 * sequence, TCP ones the number in the sequence field. */
#define _GNU_SOURCE
#include "pynet.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* UDP/ICMP data: the probe word, its complement, the run's key. */
#define PN__MARK_LEN 8
#define PN__UDP_HEADER_LEN 8
#define PN__TCP_HEADER_LEN 20
#define PN__TCP_OPTIONS_MAX 40
#define PN__TCP_SYN 0x02
#define PN__TCP_RST 0x04
#define PN__TCP_ACK 0x10
#define PN__TCP_WINDOW 5840
#define PN__TCP_MSS_KIND 2
#define PN__TCP_MSS_LEN 4
#define PN__TCP_MSS 1460
#define PN__TCP_NOP 1
#define PN__IPPROTO_TCP 6
#define PN__IPPROTO_UDP 17
#define PN__FILLER 0x40
#define PN__EPHEMERAL_LOW 1024

static void pn__put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void pn__put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static unsigned pn__get16(const uint8_t *p)
{
    return (unsigned)((p[0] << 8) | p[1]);
}

static uint32_t pn__get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int pn__ip_header_len(int family)
{
    return family == 4 ? PN_IPV4_MIN_HEADER_LEN : PN_IPV6_HEADER_LEN;
}

static unsigned pn__word(int64_t index)
{
    return (unsigned)((index + 1) & 0xffff);
}

static size_t pn__data_len(const struct pn_trace_config *c)
{
    int n = c->packet_len - pn__ip_header_len(c->family) - 8;
    return n < PN__MARK_LEN ? PN__MARK_LEN : (size_t)n;
}

static size_t pn__tcp_option_len(const struct pn_trace_config *c)
{
    int room = c->packet_len - pn__ip_header_len(c->family) - PN__TCP_HEADER_LEN;
    if (room < 0)
        room = 0;
    if (room > PN__TCP_OPTIONS_MAX)
        room = PN__TCP_OPTIONS_MAX;
    return (size_t)room & ~(size_t)3;
}

static unsigned pn__dest_port(const struct pn_trace_config *c, int64_t index)
{
    if (c->method == PN_TRACE_UDP && c->classic)
        return (unsigned)((c->port + index) & 0xffff);
    return (unsigned)c->port;
}

static unsigned pn__tcp_sport(const struct pn_trace_config *c, int64_t index)
{
    if (c->classic)
        return (unsigned)((c->sport + index - PN__EPHEMERAL_LOW) % (65536 - PN__EPHEMERAL_LOW)) +
               PN__EPHEMERAL_LOW;
    return (unsigned)c->sport;
}

static uint32_t pn__tcp_seq(const struct pn_trace_config *c, int64_t index)
{
    return (c->key & 0xffff0000u) | pn__word(index);
}

static void pn__mark(uint8_t *p, unsigned a, unsigned b, uint32_t key, size_t len)
{
    size_t i;

    pn__put16(p, a);
    pn__put16(p + 2, b);
    pn__put32(p + 4, key);
    for (i = PN__MARK_LEN; i < len; i++)
        p[i] = (uint8_t)(PN__FILLER + (i - PN__MARK_LEN));
}

long pn_trace_probe(const struct pn_trace_config *c, int64_t index, uint8_t *out, size_t cap)
{
    unsigned word = pn__word(index);

    if (c->method == PN_TRACE_ICMP) {
        size_t n = pn__data_len(c);
        unsigned comp = c->classic ? 0 : (~word & 0xffff);
        if (cap < PN_ICMP_HEADER_LEN + n)
            return -ENOBUFS;
        out[0] = (uint8_t)(c->family == 4 ? PN_ICMP_ECHO_REQUEST : PN_ICMP6_ECHO_REQUEST);
        out[1] = 0;
        pn__put16(out + 2, 0);
        pn__put16(out + 4, (unsigned)c->ident);
        pn__put16(out + 6, word);
        pn__mark(out + PN_ICMP_HEADER_LEN, comp, 0, c->key, n);
        /* Raw IPv4 sockets send the checksum we write; the kernel fills it
         * in on ICMPv6 and on datagram ICMP sockets. */
        if (c->family == 4 && c->raw)
            pn__put16(out + 2, pn_checksum(out, PN_ICMP_HEADER_LEN + n, 0));
        return (long)(PN_ICMP_HEADER_LEN + n);
    }
    if (c->method == PN_TRACE_TCP) {
        size_t opt = pn__tcp_option_len(c), len = PN__TCP_HEADER_LEN + opt, i;
        if (cap < len)
            return -ENOBUFS;
        memset(out, 0, PN__TCP_HEADER_LEN);
        pn__put16(out, pn__tcp_sport(c, index));
        pn__put16(out + 2, (unsigned)c->port);
        pn__put32(out + 4, pn__tcp_seq(c, index));
        out[12] = (uint8_t)((len / 4) << 4);
        out[13] = PN__TCP_SYN;
        pn__put16(out + 14, PN__TCP_WINDOW);
        if (opt >= PN__TCP_MSS_LEN) {
            out[20] = PN__TCP_MSS_KIND;
            out[21] = PN__TCP_MSS_LEN;
            pn__put16(out + 22, PN__TCP_MSS);
            for (i = PN__TCP_HEADER_LEN + PN__TCP_MSS_LEN; i < len; i++)
                out[i] = PN__TCP_NOP;
        }
        /* Raw IPv6 sockets compute it (IPV6_CHECKSUM). */
        if (c->family == 4) {
            uint32_t pseudo = pn_sum16(c->source, 4) + pn_sum16(c->target, 4) +
                              PN__IPPROTO_TCP + (uint32_t)len;
            pn__put16(out + 16, pn_checksum(out, len, pseudo));
        }
        return (long)len;
    }
    {
        size_t n = pn__data_len(c);
        if (cap < n)
            return -ENOBUFS;
        pn__mark(out, word, ~word & 0xffff, c->key, n);
        return (long)n;
    }
}

#if defined(__linux__)

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "poller_internal.h"

#define PN__NS 1000000000LL
#define PN__CONTROL_LEN 512
#define PN__CMSG_INT_LEN CMSG_LEN(sizeof(int))
#define PN__UNSENT 0
#define PN__IN_FLIGHT 1
#define PN__DONE 2
/* A send may return the errno an ICMP error left pending (IP_RECVERR)
 * instead of sending: retried this often before it counts. */
#define PN__SEND_TRIES 4
/* Linux traceroute adds its timer's precision, 1 ms, to a round trip
 * before it scales it by HERE or NEAR. */
#define PN__WAIT_PREC_NS 1000000LL
/* With nothing to do, give the caller a look this often. */
#define PN__IDLE_NS 50000000LL

static int64_t pn__now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * PN__NS + ts.tv_nsec;
}

static size_t pn__alen(int family)
{
    return family == 4 ? 4 : 16;
}

static int64_t pn__total(const struct pn_trace_config *c)
{
    return (int64_t)(c->max_ttl - c->first_ttl + 1) * c->queries;
}

static int64_t pn__limit(const struct pn_trace_config *c, const struct pn_trace_state *s)
{
    if (s->final_ttl)
        return (s->final_ttl - c->first_ttl + 1) * c->queries;
    return pn__total(c);
}

static int pn__ttl_of(const struct pn_trace_config *c, int64_t index)
{
    return c->first_ttl + (int)(index / c->queries);
}

static struct pn_trace_record *pn__record(const struct pn_trace_config *c,
                                          struct pn_trace_record *out, size_t *n,
                                          int64_t index, int kind, int64_t when)
{
    struct pn_trace_record *r = &out[(*n)++];
    memset(r, 0, sizeof(*r));
    r->ttl = pn__ttl_of(c, index);
    r->probe = index % c->queries;
    r->kind = kind;
    r->type = r->code = -1;
    r->reply_ttl = -1;
    r->when_ns = when;
    return r;
}

static void pn__finish(struct pn_trace_state *s, int64_t index)
{
    if (s->status[index] == PN__IN_FLIGHT)
        s->in_flight--;
    s->status[index] = PN__DONE;
}

static int pn__finished(const struct pn_trace_config *c, const struct pn_trace_state *s)
{
    int64_t limit = pn__limit(c, s), i;

    if (s->next_index < limit)
        return 0;
    for (i = 0; i < limit; i++)
        if (s->status[i] != PN__DONE)
            return 0;
    return 1;
}

static int64_t pn__send_due(const struct pn_trace_config *c, const struct pn_trace_state *s)
{
    if (s->next_index >= pn__limit(c, s) || s->in_flight >= c->sim)
        return INT64_MAX;
    if (s->sent == 0)
        return 0;
    return s->last_send_ns + c->pause_ns;
}

static socklen_t pn__sockaddr(const struct pn_trace_config *c, unsigned port,
                              struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (c->family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        memcpy(&sin->sin_addr, c->target, 4);
        return sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        memcpy(&sin6->sin6_addr, c->target, 16);
        sin6->sin6_scope_id = c->scope_id;
        return sizeof(*sin6);
    }
}

static int pn__sockaddr_addr(const struct sockaddr_storage *ss, socklen_t len, int family,
                             uint8_t *out, unsigned *port)
{
    if (family == 4 && ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memcpy(out, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        if (port)
            *port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
        return 1;
    }
    if (family == 6 && ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        if (port)
            *port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
        return 1;
    }
    return 0;
}

static int pn__pending_errno(int err)
{
    return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EPROTO ||
           err == EHOSTDOWN || err == ENONET || err == EACCES || err == EMSGSIZE;
}

static int pn__set_ttl(const struct pn_trace_config *c, struct pn_trace_state *s, int ttl)
{
    int rc;

    if (ttl == s->last_ttl)
        return 0;
    if (c->family == 4)
        rc = setsockopt(c->fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
    else
        rc = setsockopt(c->fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
    if (rc < 0)
        return -errno;
    s->last_ttl = ttl;
    return 0;
}

/* Send the next probe: 0, 1 when the kernel had no room, or -errno when
 * the socket refuses its TTL. */
static int pn__send(const struct pn_trace_config *c, struct pn_trace_state *s,
                    struct pn_trace_record *out, size_t *n)
{
    struct sockaddr_storage ss;
    int64_t index = s->next_index, now, real;
    unsigned port = (c->method != PN_TRACE_ICMP && !c->raw) ? pn__dest_port(c, index) : 0;
    socklen_t sslen = pn__sockaddr(c, port, &ss);
    long len;
    int failure = 0, tries = 0, rc;
    ssize_t sent;
    uint8_t *probe = s->tx, *big = NULL;

    rc = pn__set_ttl(c, s, pn__ttl_of(c, index));
    if (rc < 0)
        return rc;
    len = pn_trace_probe(c, index, s->tx, sizeof(s->tx));
    if (len == -ENOBUFS) {
        /* Past the state's buffer (a packet length up to 65000 asked for):
         * on the heap for this one send, rare and dwarfed by its cost. */
        big = malloc(PN_TRACE_MAX_PACKET);
        if (big == NULL)
            return -ENOMEM;
        probe = big;
        len = pn_trace_probe(c, index, big, PN_TRACE_MAX_PACKET);
    }
    if (len < 0) {
        free(big);
        return (int)len;
    }
    now = pn__now(CLOCK_MONOTONIC);
    real = pn__now(CLOCK_REALTIME);
    for (;;) {
        sent = sendto(c->fd, probe, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&ss, sslen);
        if (sent >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ENOMEM) {
            free(big);
            return 1;
        }
        failure = errno;
        tries++;
        if (pn__pending_errno(failure) && tries < PN__SEND_TRIES) {
            s->errors_queued = 1;
            failure = 0;
            continue;
        }
        break;
    }
    free(big);
    s->next_index++;
    s->sent++;
    s->last_send_ns = now;
    s->sent_real_ns[index] = real;
    s->sent_mono_ns[index] = now;
    if (failure) {
        struct pn_trace_record *r;
        s->status[index] = PN__DONE;
        r = pn__record(c, out, n, index, PN_TRACE_SEND_FAILED, real);
        r->info = failure;
        return 0;
    }
    s->status[index] = PN__IN_FLIGHT;
    s->in_flight++;
    return 0;
}

static int64_t pn__rtt(const struct pn_trace_state *s, int64_t index, int64_t received_real)
{
    int64_t rtt = received_real - s->sent_real_ns[index];
    int64_t mono = pn__now(CLOCK_MONOTONIC) - s->sent_mono_ns[index];
    if (rtt < 0 || rtt > mono)
        rtt = mono;
    return rtt;
}

/* An answer to probe `index` (its marks already checked). */
static void pn__answer(const struct pn_trace_config *c, struct pn_trace_state *s,
                       struct pn_trace_record *out, size_t *n, int64_t index, int64_t when,
                       int type, int code, int reply_ttl, const uint8_t *from, int64_t info,
                       const uint8_t *ext, size_t ext_len)
{
    int time_exceeded = c->family == 4 ? PN_ICMP_TIME_EXCEEDED : PN_ICMP6_TIME_EXCEEDED;
    struct pn_trace_record *r;
    int flags, ttl;
    int64_t i;

    if (index < 0 || index >= pn__total(c) || s->status[index] != PN__IN_FLIGHT) {
        s->unmatched++;
        return;
    }
    flags = type == time_exceeded ? 0 : PN_TRACE_FINAL;
    if (memcmp(from, c->target, pn__alen(c->family)) == 0)
        flags |= PN_TRACE_DEST;
    pn__finish(s, index);
    s->answered++;
    r = pn__record(c, out, n, index, PN_TRACE_REPLY, when);
    r->flags = flags;
    r->type = type;
    r->code = code;
    r->rtt_ns = pn__rtt(s, index, when);
    if (s->hop_rtt_ns[pn__ttl_of(c, index)] == 0)
        s->hop_rtt_ns[pn__ttl_of(c, index)] = r->rtt_ns > 0 ? r->rtt_ns : 1;
    r->reply_ttl = reply_ttl;
    r->info = info;
    memcpy(r->from, from, pn__alen(c->family));
    if (ext_len > PN_TRACE_EXT_MAX)
        ext_len = PN_TRACE_EXT_MAX;
    if (ext_len > 0)
        memcpy(r->ext, ext, ext_len);
    r->ext_len = (int64_t)ext_len;
    ttl = pn__ttl_of(c, index);
    if ((flags & PN_TRACE_FINAL) && (s->final_ttl == 0 || ttl < s->final_ttl)) {
        s->final_ttl = ttl;
        /* Probes past the end are no longer waited for, nor reported. */
        for (i = pn__limit(c, s); i < pn__total(c); i++)
            if (s->status[i] == PN__IN_FLIGHT)
                pn__finish(s, i);
    }
}

/* The probe a quoted UDP datagram was: its mark when the data is quoted,
 * else (classic ports) its destination port; -1 for none of ours. */
static int64_t pn__index_from_udp(const struct pn_trace_config *c, unsigned dport,
                                  const uint8_t *data, size_t len)
{
    if (len >= PN__MARK_LEN) {
        unsigned word = pn__get16(data), comp = pn__get16(data + 2);
        if (pn__get32(data + 4) != c->key || comp != (~word & 0xffff))
            return -1;
        return (int64_t)word - 1;
    }
    if (c->method == PN_TRACE_UDP && c->classic)
        return (int64_t)((dport - (unsigned)c->port) & 0xffff);
    return -1;
}

static int64_t pn__index_from_quote(const struct pn_trace_config *c, const uint8_t *data,
                                    size_t len, const int64_t *f)
{
    int64_t qdst = f[PN_F_QUOTED_DESTINATION_OFF], upper = f[PN_F_QUOTED_UPPER_OFF];
    int64_t proto = f[PN_F_QUOTED_PROTOCOL];

    if (qdst < 0 || upper < 0 || (size_t)qdst + pn__alen(c->family) > len ||
        memcmp(data + qdst, c->target, pn__alen(c->family)) != 0)
        return -1;
    if (c->method == PN_TRACE_ICMP) {
        if (f[PN_F_QUOTED_ID] != c->ident)
            return -1;
        return f[PN_F_QUOTED_SEQ] - 1;
    }
    /* The parser made sure 8 bytes of the quoted header are there. */
    if (c->method == PN_TRACE_TCP) {
        unsigned sport = pn__get16(data + upper), dport = pn__get16(data + upper + 2);
        uint32_t seq = pn__get32(data + upper + 4);
        int64_t index;
        if (proto != PN__IPPROTO_TCP || dport != (unsigned)c->port ||
            (seq & 0xffff0000u) != (c->key & 0xffff0000u))
            return -1;
        index = (int64_t)(seq & 0xffff) - 1;
        if (index < 0 || index >= pn__total(c) || sport != pn__tcp_sport(c, index))
            return -1;
        return index;
    }
    if (proto != PN__IPPROTO_UDP || pn__get16(data + upper) != (unsigned)c->sport)
        return -1;
    return pn__index_from_udp(c, pn__get16(data + upper + 2),
                              data + upper + PN__UDP_HEADER_LEN,
                              len - (size_t)upper - PN__UDP_HEADER_LEN);
}

struct pn__packet {
    const uint8_t *data;            /* the buffer it was read into */
    ssize_t len;
    int flags;
    int64_t when;
    int ttl;
    int have_from;
    unsigned port;
    uint8_t from[16];
    const struct sock_extended_err *ee;
    const uint8_t *offender;        /* the sockaddr after ee */
    size_t offender_room;
    char control[PN__CONTROL_LEN];
};

/* recvmsg without waiting; 1 with a packet, 0 when none, -errno. */
static int pn__recv(const struct pn_trace_config *c, int fd, int errqueue, uint8_t *buf,
                    size_t cap, struct pn__packet *p)
{
    struct sockaddr_storage ss;
    struct iovec iov = { buf, cap };
    struct msghdr msg;
    struct cmsghdr *cm;

    for (;;) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &ss;
        msg.msg_namelen = sizeof(ss);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = p->control;
        msg.msg_controllen = sizeof(p->control);
        p->len = recvmsg(fd, &msg, MSG_DONTWAIT | (errqueue ? MSG_ERRQUEUE : 0));
        if (p->len >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
    p->data = buf;
    p->flags = msg.msg_flags;
    p->when = 0;
    p->ttl = -1;
    p->ee = NULL;
    p->offender = NULL;
    p->offender_room = 0;
    p->port = 0;
    p->have_from = pn__sockaddr_addr(&ss, msg.msg_namelen, c->family, p->from, &p->port);
    for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPNS &&
            cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
            p->when = (int64_t)ts.tv_sec * PN__NS + ts.tv_nsec;
        } else if (((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) ||
                    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT)) &&
                   cm->cmsg_len >= PN__CMSG_INT_LEN) {
            memcpy(&p->ttl, CMSG_DATA(cm), sizeof(int));
        } else if (((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
                    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)) &&
                   cm->cmsg_len >= CMSG_LEN(sizeof(struct sock_extended_err))) {
            p->ee = (const struct sock_extended_err *)CMSG_DATA(cm);
            p->offender = (const uint8_t *)(p->ee + 1);
            p->offender_room = cm->cmsg_len - CMSG_LEN(sizeof(struct sock_extended_err));
        }
    }
    if (p->when == 0)
        p->when = pn__now(CLOCK_REALTIME);
    return 1;
}

/* A packet from a raw ICMP socket: an error quoting a probe, or an echo reply. */
static void pn__icmp_packet(const struct pn_trace_config *c, struct pn_trace_state *s,
                            struct pn_trace_record *out, size_t *n, const struct pn__packet *p)
{
    int64_t f[PN_F_COUNT];
    int mode = c->family == 4 ? PN_IP_HEADER_PRESENT : PN_IP_HEADER_ABSENT;
    int ttl = p->ttl, type;
    size_t len = (size_t)p->len;

    if (pn_icmp_parse(p->data, len, c->family, mode, NULL, NULL, f) < 0) {
        s->malformed++;
        return;
    }
    if (!p->have_from)
        return;
    if (f[PN_F_TTL] >= 0)
        ttl = (int)f[PN_F_TTL];
    type = (int)f[PN_F_TYPE];
    if ((c->family == 4 && (type == PN_ICMP_DEST_UNREACH || type == PN_ICMP_SOURCE_QUENCH ||
                            type == PN_ICMP_REDIRECT || type == PN_ICMP_TIME_EXCEEDED ||
                            type == PN_ICMP_PARAM_PROBLEM)) ||
        (c->family == 6 && (type == PN_ICMP6_DEST_UNREACH || type == PN_ICMP6_PACKET_TOO_BIG ||
                            type == PN_ICMP6_TIME_EXCEEDED || type == PN_ICMP6_PARAM_PROBLEM))) {
        int64_t index = pn__index_from_quote(c, p->data, len, f);
        const uint8_t *ext = NULL;
        size_t ext_len = 0;
        if (index < 0) {
            s->unmatched++;
            return;
        }
        if (f[PN_F_EXT_OFF] >= 0) {
            ext = p->data + f[PN_F_EXT_OFF];
            ext_len = (size_t)f[PN_F_EXT_LEN];
        }
        if (f[PN_F_EXT_LEN] == -2)
            s->malformed++;
        pn__answer(c, s, out, n, index, p->when, type, (int)f[PN_F_CODE], ttl, p->from,
                   f[PN_F_REST_OF_HEADER], ext, ext_len);
    } else if (c->method == PN_TRACE_ICMP &&
               type == (c->family == 4 ? PN_ICMP_ECHO_REPLY : PN_ICMP6_ECHO_REPLY)) {
        if ((c->raw && f[PN_F_ID] != c->ident) ||
            memcmp(p->from, c->target, pn__alen(c->family)) != 0) {
            s->unmatched++;
            return;
        }
        pn__answer(c, s, out, n, f[PN_F_SEQ] - 1, p->when, type, (int)f[PN_F_CODE], ttl,
                   p->from, 0, NULL, 0);
    }
}

/* A segment on the raw TCP socket: the target's SYN-ACK or RST. */
static void pn__tcp_packet(const struct pn_trace_config *c, struct pn_trace_state *s,
                           struct pn_trace_record *out, size_t *n, const struct pn__packet *p)
{
    size_t off = 0, len = (size_t)p->len;
    int ttl = p->ttl;
    unsigned sport, dport, flags;
    uint32_t seq;
    int64_t index;

    if (c->family == 4) {
        if (len < PN_IPV4_MIN_HEADER_LEN) {
            s->malformed++;
            return;
        }
        off = (size_t)(p->data[0] & 0x0f) * 4;
        ttl = p->data[8];
    }
    if (len < off || len - off < PN__TCP_HEADER_LEN) {
        s->malformed++;
        return;
    }
    if (!p->have_from || memcmp(p->from, c->target, pn__alen(c->family)) != 0)
        return;
    sport = pn__get16(p->data + off);
    dport = pn__get16(p->data + off + 2);
    flags = p->data[off + 13];
    if (sport != (unsigned)c->port || !(flags & (PN__TCP_RST | PN__TCP_ACK)))
        return;
    seq = pn__get32(p->data + off + 8) - 1;
    if ((seq & 0xffff0000u) != (c->key & 0xffff0000u)) {
        s->unmatched++;
        return;
    }
    index = (int64_t)(seq & 0xffff) - 1;
    if (index < 0 || index >= pn__total(c) || dport != pn__tcp_sport(c, index)) {
        s->unmatched++;
        return;
    }
    pn__answer(c, s, out, n, index, p->when, PN_TRACE_TCP_REPLY, (int)flags, ttl, p->from, 0,
               NULL, 0);
}

/* An echo reply on a datagram ICMP socket (the kernel checked the id). */
static void pn__echo_packet(const struct pn_trace_config *c, struct pn_trace_state *s,
                            struct pn_trace_record *out, size_t *n, const struct pn__packet *p)
{
    int64_t f[PN_F_COUNT];

    if (pn_icmp_parse(p->data, (size_t)p->len, c->family, PN_IP_HEADER_ABSENT, NULL, NULL, f) < 0) {
        s->malformed++;
        return;
    }
    if (f[PN_F_TYPE] != (c->family == 4 ? PN_ICMP_ECHO_REPLY : PN_ICMP6_ECHO_REPLY) ||
        !p->have_from || memcmp(p->from, c->target, pn__alen(c->family)) != 0)
        return;
    pn__answer(c, s, out, n, f[PN_F_SEQ] - 1, p->when, (int)f[PN_F_TYPE], (int)f[PN_F_CODE],
               p->ttl, p->from, 0, NULL, 0);
}

/* ICMP errors the kernel matched to the probe socket (IP_RECVERR): type,
 * code and sender in the extended error; the quoted data as the payload
 * (UDP: after the UDP header; ICMP: from the ICMP header). */
static int pn__error_queue(const struct pn_trace_config *c, struct pn_trace_state *s,
                           struct pn_trace_record *out, size_t *n, size_t cap)
{
    struct pn__packet p;
    int rc;

    while (*n < cap) {
        struct sock_extended_err ee;
        struct sockaddr_storage offender;
        uint8_t sender[16];
        size_t want = c->family == 4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        int64_t index;

        rc = pn__recv(c, c->fd, 1, s->rx, sizeof(s->rx), &p);
        if (rc <= 0)
            return rc;
        if (p.ee == NULL)
            continue;
        memcpy(&ee, p.ee, sizeof(ee));
        if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
            continue;
        if (p.offender_room < want)
            continue;
        memset(&offender, 0, sizeof(offender));
        memcpy(&offender, p.offender, want);
        if (!pn__sockaddr_addr(&offender, (socklen_t)want, c->family, sender, NULL))
            continue;
        if (!p.have_from || memcmp(p.from, c->target, pn__alen(c->family)) != 0) {
            s->unmatched++;
            continue;
        }
        if (c->method == PN_TRACE_ICMP) {
            if (p.len < PN_ICMP_HEADER_LEN) {
                s->unmatched++;
                continue;
            }
            index = (int64_t)pn__get16(p.data + 6) - 1;
        } else {
            index = pn__index_from_udp(c, p.port, p.data, (size_t)p.len);
        }
        if (index < 0) {
            s->unmatched++;
            continue;
        }
        {
            const uint8_t *ext = NULL;
            size_t ext_len = 0;
#ifdef SO_EE_RFC4884_FLAG_INVALID
            /* IP_RECVERR_RFC4884: the kernel found an extension structure
             * this far into the returned data. */
            size_t at = ee.ee_rfc4884.len;
            if (ee.ee_rfc4884.flags & SO_EE_RFC4884_FLAG_INVALID) {
                s->malformed++;  /* the kernel found the extension structure broken */
            } else if (at > 0 && at < (size_t)p.len) {
                ext = p.data + at;
                ext_len = (size_t)p.len - at;
            }
#endif
            pn__answer(c, s, out, n, index, p.when, ee.ee_type, ee.ee_code, p.ttl, sender,
                       ee.ee_info, ext, ext_len);
        }
    }
    return 0;
}

enum { PN__IGNORE, PN__ICMP_PACKET, PN__TCP_PACKET, PN__ECHO_PACKET };

static int pn__drain(const struct pn_trace_config *c, struct pn_trace_state *s, int fd,
                     int handler, struct pn_trace_record *out, size_t *n, size_t cap)
{
    struct pn__packet p;
    uint8_t *buf = s->rx, *big = NULL;
    size_t room = sizeof(s->rx);
    int rc = 0;

    if (handler != PN__IGNORE && (size_t)c->packet_len + 64 > room) {
        /* Echo replies as long as the probes (-I with a packet length past
         * the state's buffer): read whole into the heap for this call. */
        big = malloc(PN_TRACE_MAX_PACKET);
        if (big == NULL)
            return -ENOMEM;
        buf = big;
        room = PN_TRACE_MAX_PACKET;
    }
    while (*n < cap) {
        rc = pn__recv(c, fd, 0, buf, room, &p);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (rc == -EBADF || rc == -ENOTSOCK || rc == -EFAULT || rc == -EINVAL)
                break;
            /* A pending socket error (IP_RECVERR): the details wait in
             * the error queue. */
            s->errors_queued = 1;
            rc = 0;
            continue;
        }
        rc = 0;
        if (handler == PN__IGNORE)
            continue;
        if (p.flags & MSG_TRUNC) {
            s->malformed++;
            continue;
        }
        if (handler == PN__ICMP_PACKET)
            pn__icmp_packet(c, s, out, n, &p);
        else if (handler == PN__TCP_PACKET)
            pn__tcp_packet(c, s, out, n, &p);
        else
            pn__echo_packet(c, s, out, n, &p);
    }
    free(big);
    return rc < 0 ? rc : 0;
}

/* When probe `index` is given up: after the wait, or sooner as Linux
 * traceroute does once its hop or a later one has answered. */
static int64_t pn__deadline(const struct pn_trace_config *c, const struct pn_trace_state *s,
                            int64_t index)
{
    int64_t sent = s->sent_mono_ns[index], end = sent + c->wait_ns, t;
    int ttl = pn__ttl_of(c, index);

    if (c->here_milli > 0 && s->hop_rtt_ns[ttl] > 0) {
        int64_t here = sent + (s->hop_rtt_ns[ttl] + PN__WAIT_PREC_NS) * c->here_milli / 1000;
        return here < end ? here : end;
    }
    if (c->near_milli > 0) {
        for (t = ttl + 1; t <= c->max_ttl; t++) {
            if (s->hop_rtt_ns[t] > 0) {
                int64_t near = sent + (s->hop_rtt_ns[t] + PN__WAIT_PREC_NS) * c->near_milli / 1000;
                return near < end ? near : end;
            }
        }
    }
    return end;
}

static void pn__expire(const struct pn_trace_config *c, struct pn_trace_state *s,
                       struct pn_trace_record *out, size_t *n, size_t cap, int64_t now)
{
    int64_t limit = pn__limit(c, s), i;

    if (limit > s->next_index)
        limit = s->next_index;
    for (i = 0; i < limit && *n < cap; i++) {
        if (s->status[i] == PN__IN_FLIGHT && now >= pn__deadline(c, s, i)) {
            pn__finish(s, i);
            pn__record(c, out, n, i, PN_TRACE_TIMEOUT, pn__now(CLOCK_REALTIME));
        }
    }
}

static int64_t pn__next_expiry(const struct pn_trace_config *c, const struct pn_trace_state *s)
{
    int64_t limit = pn__limit(c, s), i, first = INT64_MAX;

    if (limit > s->next_index)
        limit = s->next_index;
    for (i = 0; i < limit; i++)
        if (s->status[i] == PN__IN_FLIGHT && pn__deadline(c, s, i) < first)
            first = pn__deadline(c, s, i);
    return first;
}

static int pn__check(const struct pn_trace_config *c)
{
    if (c->family != 4 && c->family != 6)
        return -EAFNOSUPPORT;
    if (c->first_ttl < 1 || c->max_ttl > PN_TRACE_MAX_TTL || c->first_ttl > c->max_ttl ||
        c->queries < 1 || c->queries > PN_TRACE_MAX_QUERIES || c->sim < 1)
        return -EINVAL;
    return 0;
}

static void pn__start(const struct pn_trace_config *c, struct pn_trace_state *s)
{
    if (!s->started) {
        s->started = 1;
        s->last_ttl = -1;
        s->errors_queued = c->rfd < 0;
    }
}

static int pn__uses_rfd(const struct pn_trace_config *c)
{
    return c->rfd >= 0 && c->rfd != c->fd;
}

/* One round for one trace, without waiting: the probes due, the answers
 * waiting on its sockets, the errors queued, the probes given up. Sets
 * s->done once the trace is over. 0 or -errno. */
static int pn__step(const struct pn_trace_config *c, struct pn_trace_state *s,
                    struct pn_trace_record *out, size_t *n, size_t cap)
{
    int on_fd, rc;
    int64_t now = pn__now(CLOCK_MONOTONIC);

    if (c->method == PN_TRACE_TCP)
        on_fd = PN__TCP_PACKET;
    else if (c->method == PN_TRACE_ICMP)
        on_fd = c->raw ? PN__ICMP_PACKET : PN__ECHO_PACKET;
    else
        on_fd = PN__IGNORE;
    while (pn__send_due(c, s) <= now && *n + 1 < cap) {
        rc = pn__send(c, s, out, n);
        if (rc < 0)
            return rc;
        if (rc == 1)
            break;
        now = pn__now(CLOCK_MONOTONIC);
    }
    rc = pn__drain(c, s, c->fd, on_fd, out, n, cap);
    if (rc < 0)
        return rc;
    if (pn__uses_rfd(c)) {
        rc = pn__drain(c, s, c->rfd, PN__ICMP_PACKET, out, n, cap);
        if (rc < 0)
            return rc;
    }
    if (s->errors_queued) {
        s->errors_queued = 0;
        rc = pn__error_queue(c, s, out, n, cap);
        if (rc < 0)
            return rc;
    }
    pn__expire(c, s, out, n, cap, pn__now(CLOCK_MONOTONIC));
    if (pn__finished(c, s))
        s->done = 1;
    return 0;
}

/* When the trace next has something to do: a send or an expiry
 * (INT64_MAX: nothing but answers). */
static int64_t pn__wake(const struct pn_trace_config *c, const struct pn_trace_state *s)
{
    int64_t wake = pn__send_due(c, s), expiry = pn__next_expiry(c, s);
    return expiry < wake ? expiry : wake;
}

long pn_trace_run(const struct pn_trace_config *c, struct pn_trace_state *s,
                  struct pn_trace_record *out, size_t cap, int64_t flush_ns)
{
    int64_t start = pn__now(CLOCK_MONOTONIC), now, wake;
    int use_rfd = pn__uses_rfd(c), rc;
    size_t n = 0;

    rc = pn__check(c);
    if (rc < 0)
        return rc;
    pn__start(c, s);
    for (;;) {
        struct pollfd pfd[2];
        struct timespec timeout;
        int ready;

        if (pn__finished(c, s)) {
            s->done = 1;
            return (long)n;
        }
        /* Room left for a round of answers and expiries, or hand back what we have. */
        if (n > 0 && cap - n < (size_t)c->sim + 2)
            return (long)n;
        if (cap < 2)
            return -EINVAL;
        rc = pn__step(c, s, out, &n, cap);
        if (rc < 0)
            return rc;
        if (s->done)
            return (long)n;
        now = pn__now(CLOCK_MONOTONIC);
        if (n > 0 && now - start >= flush_ns)
            return (long)n;
        wake = pn__wake(c, s);
        if (wake == INT64_MAX)
            wake = now + PN__IDLE_NS;
        if (wake <= now)
            continue;
        if (wake - now > PN__IDLE_NS)
            wake = now + PN__IDLE_NS;
        timeout.tv_sec = (time_t)((wake - now) / PN__NS);
        timeout.tv_nsec = (long)((wake - now) % PN__NS);
        pfd[0].fd = c->fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = c->rfd;
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        ready = ppoll(pfd, use_rfd ? 2 : 1, &timeout, NULL);
        if (ready < 0) {
            /* Not retried: Python must get to run its signal handlers. */
            if (errno == EINTR)
                return (long)n;
            return -errno;
        }
        if (pfd[0].revents & POLLERR)
            s->errors_queued = 1;
        if (n == 0 && pn__now(CLOCK_MONOTONIC) - start >= PN__IDLE_NS)
            return 0;  /* give the caller a look (a stop request, Ctrl-C) */
    }
}

/* ---- many traces in one thread: each slot one trace's config and state,
 * their sockets in one poller, every slot stepped when its sockets are
 * ready or its next send or expiry is due. */

#define PN__MANY_EVENTS 256

struct pn_trace_many {
    struct pn__poller poller;
    size_t slots;
    struct pn_trace_config *configs;
    struct pn_trace_state *states;
    int64_t *due;             /* per slot: when it next has work (INT64_MAX: answers only) */
    uint8_t *active;          /* per slot: a trace has started and is not released */
    uint8_t *ready;           /* per slot: a socket reported readiness since its last step */
    int *fd_slot;             /* fd -> slot for the registered sockets, -1 none */
    size_t fd_cap;
};

struct pn_trace_many *pn_trace_many_open(size_t slots)
{
    struct pn_trace_many *m;

    if (slots == 0)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->slots = slots;
    m->configs = calloc(slots, sizeof(*m->configs));
    m->states = calloc(slots, sizeof(*m->states));
    m->due = calloc(slots, sizeof(*m->due));
    m->active = calloc(slots, 1);
    m->ready = calloc(slots, 1);
    if (m->configs == NULL || m->states == NULL || m->due == NULL || m->active == NULL ||
        m->ready == NULL || pn__poller_open(&m->poller, PN_POLLER_AUTO) < 0) {
        /* Closing a poller whose open failed, or that was never opened
         * (calloc left it without ops), is safe. */
        pn_trace_many_close(m);
        return NULL;
    }
    return m;
}

void pn_trace_many_close(struct pn_trace_many *m)
{
    if (m == NULL)
        return;
    pn__poller_close(&m->poller);
    free(m->configs);
    free(m->states);
    free(m->due);
    free(m->active);
    free(m->ready);
    free(m->fd_slot);
    free(m);
}

struct pn_trace_config *pn_trace_many_config(struct pn_trace_many *m, size_t slot)
{
    return slot < m->slots ? &m->configs[slot] : NULL;
}

const struct pn_trace_state *pn_trace_many_state(const struct pn_trace_many *m, size_t slot)
{
    return slot < m->slots ? &m->states[slot] : NULL;
}

static int pn__many_watch(struct pn_trace_many *m, int fd, int slot)
{
    int rc;

    if (fd < 0)
        return -EBADF;
    if ((size_t)fd >= m->fd_cap) {
        size_t cap = m->fd_cap ? m->fd_cap : 64, i;
        int *grown;
        while (cap <= (size_t)fd)
            cap *= 2;
        grown = realloc(m->fd_slot, cap * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        for (i = m->fd_cap; i < cap; i++)
            grown[i] = -1;
        m->fd_slot = grown;
        m->fd_cap = cap;
    }
    if (m->fd_slot[fd] >= 0)
        return -EBUSY;        /* another slot's socket */
    rc = pn__poller_set(&m->poller, fd, 0, PN__IN);
    if (rc < 0)
        return rc;
    m->fd_slot[fd] = slot;
    return 0;
}

static void pn__many_unwatch(struct pn_trace_many *m, int fd, size_t slot)
{
    if (fd < 0 || (size_t)fd >= m->fd_cap || m->fd_slot[fd] != (int)slot)
        return;
    (void)pn__poller_set(&m->poller, fd, PN__IN, 0);
    m->fd_slot[fd] = -1;
}

int pn_trace_many_start(struct pn_trace_many *m, size_t slot)
{
    struct pn_trace_config *c;
    struct pn_trace_state *s;
    int rc;

    if (slot >= m->slots)
        return -EINVAL;
    if (m->active[slot])
        return -EBUSY;
    c = &m->configs[slot];
    s = &m->states[slot];
    rc = pn__check(c);
    if (rc < 0)
        return rc;
    /* What a fresh trace reads before it writes: the counters, the round
     * trip per hop, the status per probe. */
    memset(s, 0, offsetof(struct pn_trace_state, sent_real_ns));
    memset(s->status, 0, sizeof(s->status));
    rc = pn__many_watch(m, c->fd, (int)slot);
    if (rc < 0)
        return rc;
    if (pn__uses_rfd(c)) {
        rc = pn__many_watch(m, c->rfd, (int)slot);
        if (rc < 0) {
            pn__many_unwatch(m, c->fd, slot);
            return rc;
        }
    }
    pn__start(c, s);
    m->active[slot] = 1;
    m->ready[slot] = 1;
    m->due[slot] = 0;
    return 0;
}

static void pn__many_unwatch_slot(struct pn_trace_many *m, size_t slot)
{
    const struct pn_trace_config *c = &m->configs[slot];

    pn__many_unwatch(m, c->fd, slot);
    if (pn__uses_rfd(c))
        pn__many_unwatch(m, c->rfd, slot);
    m->ready[slot] = 0;
}

void pn_trace_many_release(struct pn_trace_many *m, size_t slot)
{
    if (slot < m->slots && m->active[slot]) {
        pn__many_unwatch_slot(m, slot);
        m->active[slot] = 0;
    }
}

long pn_trace_many_run(struct pn_trace_many *m, struct pn_trace_record *out, int64_t *slot_of,
                       size_t cap, int64_t flush_ns)
{
    struct pn__event ev[PN__MANY_EVENTS];
    int64_t start = pn__now(CLOCK_MONOTONIC), now, wake;
    size_t n = 0, i;

    for (;;) {
        size_t running = 0;
        int events, timeout_ms, e;

        now = pn__now(CLOCK_MONOTONIC);
        for (i = 0; i < m->slots; i++) {
            const struct pn_trace_config *c = &m->configs[i];
            struct pn_trace_state *s = &m->states[i];
            size_t before = n, k;
            int rc;

            if (!m->active[i] || s->done)
                continue;
            running++;
            if (!m->ready[i] && m->due[i] > now)
                continue;
            if (n > 0 && cap - n < (size_t)c->sim + 2)
                return (long)n;   /* the rest next call: their flags stay */
            if (cap < 2)
                return -EINVAL;
            m->ready[i] = 0;
            rc = pn__step(c, s, out, &n, cap);
            for (k = before; k < n; k++)
                slot_of[k] = (int64_t)i;
            if (rc < 0)
                return rc;
            if (s->done) {
                /* Its sockets leave the poller; the slot stays taken (its
                 * counters readable) until the caller releases it. */
                pn__many_unwatch_slot(m, i);
                running--;
                continue;
            }
            m->due[i] = pn__wake(c, s);
            now = pn__now(CLOCK_MONOTONIC);
        }
        if (running == 0)
            return (long)n;
        now = pn__now(CLOCK_MONOTONIC);
        if (n > 0 && now - start >= flush_ns)
            return (long)n;
        wake = now + PN__IDLE_NS;
        for (i = 0; i < m->slots; i++)
            if (m->active[i] && !m->states[i].done && m->due[i] < wake)
                wake = m->due[i];
        if (wake <= now)
            continue;
        timeout_ms = (int)((wake - now + 999999) / 1000000);
        events = pn__poller_wait(&m->poller, ev, PN__MANY_EVENTS, timeout_ms);
        if (events < 0)
            return events;
        for (e = 0; e < events; e++) {
            int fd = ev[e].fd, slot;
            if (fd < 0 || (size_t)fd >= m->fd_cap || (slot = m->fd_slot[fd]) < 0)
                continue;
            m->ready[slot] = 1;
            if ((ev[e].events & PN__ERR) && fd == m->configs[slot].fd)
                m->states[slot].errors_queued = 1;
        }
        if (n == 0 && pn__now(CLOCK_MONOTONIC) - start >= PN__IDLE_NS)
            return 0;  /* give the caller a look (a stop request, Ctrl-C) */
    }
}

#else /* !__linux__ */

long pn_trace_run(const struct pn_trace_config *config, struct pn_trace_state *state,
                  struct pn_trace_record *out, size_t cap, int64_t flush_ns)
{
    (void)config;
    (void)state;
    (void)out;
    (void)cap;
    (void)flush_ns;
    return -ENOSYS;
}

struct pn_trace_many *pn_trace_many_open(size_t slots)
{
    (void)slots;
    return NULL;
}

void pn_trace_many_close(struct pn_trace_many *m)
{
    (void)m;
}

struct pn_trace_config *pn_trace_many_config(struct pn_trace_many *m, size_t slot)
{
    (void)m;
    (void)slot;
    return NULL;
}

const struct pn_trace_state *pn_trace_many_state(const struct pn_trace_many *m, size_t slot)
{
    (void)m;
    (void)slot;
    return NULL;
}

int pn_trace_many_start(struct pn_trace_many *m, size_t slot)
{
    (void)m;
    (void)slot;
    return -ENOSYS;
}

void pn_trace_many_release(struct pn_trace_many *m, size_t slot)
{
    (void)m;
    (void)slot;
}

long pn_trace_many_run(struct pn_trace_many *m, struct pn_trace_record *out, int64_t *slot_of,
                       size_t cap, int64_t flush_ns)
{
    (void)m;
    (void)out;
    (void)slot_of;
    (void)cap;
    (void)flush_ns;
    return -ENOSYS;
}

#endif
