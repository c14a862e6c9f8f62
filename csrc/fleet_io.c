/* The fleet engine's packets: echo requests out in sendmmsg batches,
 * replies in through recvmmsg with kernel receive times (SO_TIMESTAMPNS),
 * TTL and queue drops (SO_RXQ_OVFL) from their control messages, ICMP
 * errors from the error queue (IP_RECVERR), and the matcher that decides
 * what is ours. fleet.c explains the schedule and the probe states.
 *
 * The probe: an echo request with our id (raw sockets; the kernel sets it on
 * datagram ones), seq = the low 16 bits of the run's send counter, and a
 * payload of the run's key (8 bytes), the target index and the probe number
 * (4 bytes each, network order), then bytes counting up (byte i = i & 0xff).
 *
 * Matching. A reply is ours when it is an echo reply (code 0) from the
 * target's address, with our id on raw sockets, whose payload starts with
 * our key, a target index we have (of this family, at that address) and a
 * probe number in that target's window. Its checksum is checked first (the
 * kernel checks it for datagram and raw ICMPv6 sockets): a bad one counts
 * as corrupted, and if the rest matches, a REPLY record flagged
 * BAD_CHECKSUM leaves the probe open. Nothing else in the payload is used:
 * the round trip runs from the send time kept in memory.
 *
 * An ICMP error is ours when the quoted message is an echo request (with our
 * id on raw sockets) whose destination (the kernel's quoted destination) is
 * the target's address, and either the quote reaches into the payload
 * (8 + 16 bytes or more: most routers quote it all) and holds our key, the
 * target index and the probe; or, for the 8 bytes RFC 792 promises, its seq
 * names in the seq log a probe sent to that very address. The log keeps the
 * latest 65,536 sends: an 8-byte quote of an older probe is not attributed
 * (counted foreign), or, should the same target have been sent to with the
 * same seq since, goes to that later probe. */
#define _GNU_SOURCE
#include "fleet_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#define PN__SK_MEMINFO_DROPS 8
/* Room for a timestamp, a TTL and a drop counter (or an extended error and
 * its offender's address). */
#define PN__FLEET_CONTROL 256
/* Buffers for the tx packets and for received datagrams, at most. */
#define PN__FLEET_TX_BYTES (1u << 20)
#define PN__FLEET_RX_BYTES (4u << 20)

struct pn__io {
    size_t send_batch, recv_batch, pkt_len;
    uint32_t fill_sum;              /* pn_sum16 of the fill (payload bytes 16..) */
    struct mmsghdr *smsg;
    struct iovec *siov;
    struct sockaddr_in6 *sname;     /* a sockaddr_in fits in one */
    uint32_t *item_target;
    uint8_t *item_queue;
    size_t *item_index;
    int *item_fail;
    int64_t *item_time;
    struct mmsghdr *rmsg;
    struct iovec *riov;
    struct sockaddr_in6 *rname;
    char *rctl;
};

size_t pn__fleet_rx_slot(int payload_len)
{
    size_t want = (size_t)payload_len + 192;
    return want > 2048 ? want : 2048;
}

int pn__fleet_io_new(struct pn_fleet *f)
{
    struct pn__io *io = calloc(1, sizeof(*io));
    size_t i, j;

    if (!io)
        return -ENOMEM;
    f->io = io;
    io->pkt_len = PN_ICMP_HEADER_LEN + (size_t)f->c.payload_len;
    io->send_batch = PN__FLEET_TX_BYTES / io->pkt_len;
    if (io->send_batch > PN__FLEET_SEND_BATCH)
        io->send_batch = PN__FLEET_SEND_BATCH;
    if (io->send_batch < 1)
        io->send_batch = 1;
    f->rx_slot = pn__fleet_rx_slot(f->c.payload_len);
    io->recv_batch = PN__FLEET_RX_BYTES / f->rx_slot;
    if (io->recv_batch > PN__FLEET_RECV_BATCH)
        io->recv_batch = PN__FLEET_RECV_BATCH;
    if (io->recv_batch < 1)
        io->recv_batch = 1;
    f->tx = malloc(io->send_batch * io->pkt_len);
    f->rx = malloc(io->recv_batch * f->rx_slot);
    io->smsg = calloc(io->send_batch, sizeof(*io->smsg));
    io->siov = calloc(io->send_batch, sizeof(*io->siov));
    io->sname = calloc(io->send_batch, sizeof(*io->sname));
    io->item_target = calloc(io->send_batch, sizeof(*io->item_target));
    io->item_queue = calloc(io->send_batch, sizeof(*io->item_queue));
    io->item_index = calloc(io->send_batch, sizeof(*io->item_index));
    io->item_fail = calloc(io->send_batch, sizeof(*io->item_fail));
    io->item_time = calloc(io->send_batch, sizeof(*io->item_time));
    io->rmsg = calloc(io->recv_batch, sizeof(*io->rmsg));
    io->riov = calloc(io->recv_batch, sizeof(*io->riov));
    io->rname = calloc(io->recv_batch, sizeof(*io->rname));
    io->rctl = calloc(io->recv_batch, PN__FLEET_CONTROL);
    if (!f->tx || !f->rx || !io->smsg || !io->siov || !io->sname || !io->item_target ||
        !io->item_queue || !io->item_index || !io->item_fail || !io->item_time || !io->rmsg ||
        !io->riov || !io->rname || !io->rctl)
        return -ENOMEM;
    /* The fill never changes: write it once into every tx packet. */
    for (i = 0; i < io->send_batch; i++) {
        uint8_t *payload = f->tx + i * io->pkt_len + PN_ICMP_HEADER_LEN;
        for (j = PN_FLEET_MIN_PAYLOAD; j < (size_t)f->c.payload_len; j++)
            payload[j] = (uint8_t)j;
        io->siov[i].iov_base = f->tx + i * io->pkt_len;
        io->siov[i].iov_len = io->pkt_len;
        io->smsg[i].msg_hdr.msg_iov = &io->siov[i];
        io->smsg[i].msg_hdr.msg_iovlen = 1;
        io->smsg[i].msg_hdr.msg_name = &io->sname[i];
    }
    /* The fill starts at an even offset (24) of the message, so its sum
     * adds to the header's as is. */
    io->fill_sum = pn_sum16(f->tx + PN_ICMP_HEADER_LEN + PN_FLEET_MIN_PAYLOAD,
                            (size_t)f->c.payload_len - PN_FLEET_MIN_PAYLOAD);
    for (i = 0; i < io->recv_batch; i++) {
        io->riov[i].iov_base = f->rx + i * f->rx_slot;
        io->riov[i].iov_len = f->rx_slot;
        io->rmsg[i].msg_hdr.msg_iov = &io->riov[i];
        io->rmsg[i].msg_hdr.msg_iovlen = 1;
        io->rmsg[i].msg_hdr.msg_name = &io->rname[i];
        io->rmsg[i].msg_hdr.msg_control = io->rctl + i * PN__FLEET_CONTROL;
    }
    return 0;
}

void pn__fleet_io_free(struct pn_fleet *f)
{
    struct pn__io *io = f->io;

    free(f->tx);
    free(f->rx);
    if (!io)
        return;
    free(io->smsg);
    free(io->siov);
    free(io->sname);
    free(io->item_target);
    free(io->item_queue);
    free(io->item_index);
    free(io->item_fail);
    free(io->item_time);
    free(io->rmsg);
    free(io->riov);
    free(io->rname);
    free(io->rctl);
    free(io);
    f->io = NULL;
}

static void pn__put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t pn__get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- the matcher ---------------------------------------------------------- */

/* The slot of (t, p) when it is a probe of ours to `addr`, else -1. */
static int64_t pn__probe_of(const struct pn_fleet *f, int family, const uint8_t *addr,
                            uint32_t t, uint32_t p)
{
    int fam;
    const uint8_t *mine;

    if (t >= f->n)
        return -1;
    mine = pn__fleet_addr(f, t, &fam);
    if (fam != family || memcmp(mine, addr, family == 4 ? 4 : 16) != 0)
        return -1;
    if ((f->tflags[t] & PN__T_CANCELLED) || p >= f->sent[t] || (uint64_t)p + f->window < f->sent[t])
        return -1;
    return (int64_t)t * f->window + p % f->window;
}

/* Kernel receive time (CLOCK_REALTIME) minus the send time
 * (CLOCK_MONOTONIC), through the clocks' offset; clamped to the monotonic
 * time elapsed, should the realtime clock have stepped. */
static int64_t pn__rtt(const struct pn_fleet *f, size_t slot, int64_t when, int64_t offset,
                       int64_t mono)
{
    int64_t sent = f->slot_time[slot], rtt = when - offset - sent, elapsed = mono - sent;

    if (rtt < 0)
        rtt = 0;
    return rtt > elapsed ? elapsed : rtt;
}

static void pn__feed(struct pn_fleet *f, int family, const uint8_t *buf, size_t len,
                     const uint8_t *from, int64_t ttl, int64_t when, int64_t offset,
                     struct pn_fleet_record *out, size_t *n)
{
    int raw = family == 4 ? f->c.raw4 : f->c.raw6;
    int64_t fl[PN_F_COUNT], slot = -1, rtt, mono;
    uint32_t t = 0, p = 0;
    struct pn_fleet_record *r;
    uint8_t state;
    int rc;

    rc = pn_icmp_parse(buf, len, family,
                       raw && family == 4 ? PN_IP_HEADER_PRESENT : PN_IP_HEADER_ABSENT,
                       NULL, NULL, fl);
    if (rc < 0) {
        f->malformed++;
        return;
    }
    if (fl[PN_F_TYPE] != (family == 4 ? PN_ICMP_ECHO_REPLY : PN_ICMP6_ECHO_REPLY) ||
        fl[PN_F_CODE] != 0 || (raw && fl[PN_F_ID] != f->c.ident)) {
        f->foreign++;
        return;
    }
    if (fl[PN_F_PAYLOAD_LEN] >= PN_FLEET_MIN_PAYLOAD &&
        memcmp(buf + fl[PN_F_PAYLOAD_OFF], f->c.key, PN_FLEET_KEY_LEN) == 0) {
        t = pn__get32(buf + fl[PN_F_PAYLOAD_OFF] + PN_FLEET_KEY_LEN);
        p = pn__get32(buf + fl[PN_F_PAYLOAD_OFF] + PN_FLEET_KEY_LEN + 4);
        slot = pn__probe_of(f, family, from, t, p);
    }
    state = slot >= 0 ? f->slot_state[slot] : PN__P_EMPTY;
    if (fl[PN_F_CHECKSUM_OK] == 0) {
        f->corrupted++;
        if (state != PN__P_PENDING && state != PN__P_ERRORED && state != PN__P_ANSWERED)
            return;
    } else if (state != PN__P_PENDING && state != PN__P_ERRORED && state != PN__P_ANSWERED) {
        f->foreign++;
        return;
    }
    mono = pn__fleet_mono();
    rtt = pn__rtt(f, (size_t)slot, when, offset, mono);
    if (fl[PN_F_CHECKSUM_OK] != 0 && state != PN__P_ANSWERED &&
        rtt > f->tmo[f->c.count == 1 ? p : 0]) {
        /* Later than its timeout by the kernel's stamp, however soon we
         * read it: lost, as fping counts it; its deadline writes TIMEOUT. */
        f->late++;
        return;
    }
    r = pn__fleet_record(out, n, PN_FLEET_REPLY, t, p, when);
    r->rtt_ns = rtt;
    r->ttl = fl[PN_F_TTL] >= 0 ? fl[PN_F_TTL] : ttl;
    r->bytes = fl[PN_F_PAYLOAD_LEN] + PN_ICMP_HEADER_LEN;
    memcpy(r->from, from, family == 4 ? 4 : 16);
    if (fl[PN_F_CHECKSUM_OK] == 0) {
        r->flags = PN_FLEET_BAD_CHECKSUM;
        return;
    }
    if (state == PN__P_ANSWERED) {
        r->flags = PN_FLEET_DUP;
        f->duplicates++;
        return;
    }
    f->slot_state[slot] = PN__P_ANSWERED;
    f->tflags[t] |= PN__T_ANSWERED;
    f->received++;
    if (f->c.fold) {            /* count == 1: this reply ends t, as its DONE */
        pn__fleet_finish(f, t);
        r->kind = PN_FLEET_DONE;
        r->probe = f->sent[t];
        r->flags = PN_FLEET_ANSWERED;
    } else if (f->c.count == 1 || pn__fleet_settled(f, t)) {
        pn__fleet_done(f, out, n, t);
    }
}

static void pn__feed_error(struct pn_fleet *f, int family, const uint8_t *buf, size_t len,
                           const uint8_t *dest, int type, int code, const uint8_t *offender,
                           int64_t when, struct pn_fleet_record *out, size_t *n)
{
    int raw = family == 4 ? f->c.raw4 : f->c.raw6;
    uint32_t t, p;
    int64_t slot;
    struct pn_fleet_record *r;

    if (len < PN_ICMP_HEADER_LEN ||
        buf[0] != (family == 4 ? PN_ICMP_ECHO_REQUEST : PN_ICMP6_ECHO_REQUEST) ||
        (raw && (((unsigned)buf[4] << 8) | buf[5]) != (unsigned)f->c.ident)) {
        f->foreign++;
        return;
    }
    if (len >= PN_ICMP_HEADER_LEN + PN_FLEET_MIN_PAYLOAD) {
        if (memcmp(buf + PN_ICMP_HEADER_LEN, f->c.key, PN_FLEET_KEY_LEN) != 0) {
            f->foreign++;
            return;
        }
        t = pn__get32(buf + PN_ICMP_HEADER_LEN + PN_FLEET_KEY_LEN);
        p = pn__get32(buf + PN_ICMP_HEADER_LEN + PN_FLEET_KEY_LEN + 4);
    } else {
        unsigned seq = ((unsigned)buf[6] << 8) | buf[7];
        if (f->sent_total <= (int64_t)seq && f->sent_total < PN_FLEET_SEQ_LOG) {
            f->foreign++;
            return;
        }
        t = f->seq_target[seq];
        p = f->seq_probe[seq];
    }
    slot = pn__probe_of(f, family, dest, t, p);
    if (slot < 0 || f->slot_state[slot] != PN__P_PENDING) {
        f->foreign++;
        return;
    }
    f->slot_state[slot] = PN__P_ERRORED;
    f->errors++;
    r = pn__fleet_record(out, n, PN_FLEET_ERROR, t, p, when);
    r->type = type;
    r->code = code;
    memcpy(r->from, offender, family == 4 ? 4 : 16);
}

long pn_fleet_feed(struct pn_fleet *f, int family, const void *buf, size_t len,
                   const void *from, int64_t ttl, int64_t when_ns,
                   struct pn_fleet_record *out, size_t cap)
{
    size_t n = 0;

    if ((family != 4 && family != 6) || cap < 2)
        return -EINVAL;
    pn__feed(f, family, buf, len, from, ttl, when_ns, pn__fleet_offset(),
             out, &n);
    return (long)n;
}

long pn_fleet_feed_error(struct pn_fleet *f, int family, const void *buf, size_t len,
                         const void *dest, int type, int code, const void *offender,
                         int64_t when_ns, struct pn_fleet_record *out, size_t cap)
{
    size_t n = 0;

    if ((family != 4 && family != 6) || cap < 2)
        return -EINVAL;
    pn__feed_error(f, family, buf, len, dest, type, code, offender, when_ns, out, &n);
    return (long)n;
}

/* ---- receiving -------------------------------------------------------------- */

static int pn__sockaddr_addr(const struct sockaddr_in6 *ss, socklen_t len, int family,
                             uint8_t *out)
{
    if (family == 4 && ss->sin6_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memcpy(out, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
        return 1;
    }
    if (family == 6 && ss->sin6_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(out, &ss->sin6_addr, 16);
        return 1;
    }
    return 0;
}

static int pn__socket_broken(int err)
{
    return err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL;
}

/* Timestamp, TTL and drops from a message's control data. */
static void pn__ancillary(struct pn_fleet *f, int family, struct msghdr *msg, int64_t *when,
                          int64_t *ttl, const struct sock_extended_err **ee)
{
    struct cmsghdr *cm;

    for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPNS &&
            cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
            *when = (int64_t)ts.tv_sec * PN__FLEET_NS + ts.tv_nsec;
        } else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
                   cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
            uint32_t drops;
            int64_t *mine = family == 4 ? &f->drops4 : &f->drops6;
            memcpy(&drops, CMSG_DATA(cm), sizeof(drops));
            if ((int64_t)drops > *mine)
                *mine = drops;
        } else if (((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) ||
                    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT)) &&
                   cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v;
            memcpy(&v, CMSG_DATA(cm), sizeof(v));
            *ttl = v;
        } else if (ee && ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
                          (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)) &&
                   cm->cmsg_len >= CMSG_LEN(sizeof(struct sock_extended_err))) {
            *ee = (const struct sock_extended_err *)(const void *)CMSG_DATA(cm);
        }
    }
}

/* Read the error queue until empty (or out full). Returns how many
 * messages were read. */
static long pn__receive_errors(struct pn_fleet *f, int family, struct pn_fleet_record *out,
                               size_t *n, size_t cap)
{
    int fd = family == 4 ? f->c.fd4 : f->c.fd6;
    long got = 0;

    while (cap - *n >= 2) {
        struct sockaddr_in6 name;
        char control[PN__FLEET_CONTROL];
        struct iovec iov = { f->rx, f->rx_slot };
        struct msghdr msg;
        const struct sock_extended_err *ee = NULL;
        uint8_t dest[16], offender[16] = { 0 };
        int64_t when = 0, ttl = -1;
        ssize_t len;

        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &name;
        msg.msg_namelen = sizeof(name);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        len = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (len < 0) {
            if (errno == EINTR)
                continue;
            return got;
        }
        got++;
        pn__ancillary(f, family, &msg, &when, &ttl, &ee);
        if (!when)
            when = pn__fleet_real();
        if (!ee || !pn__sockaddr_addr(&name, msg.msg_namelen, family, dest)) {
            f->foreign++;
            continue;
        }
        if (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) {
            f->foreign++;  /* a local error carries no quote to attribute it by */
            continue;
        }
        {
            /* SO_EE_OFFENDER: the sockaddr right after the extended error;
             * the control buffer holds it whole or the kernel set MSG_CTRUNC. */
            const struct sockaddr_in6 *off = (const void *)(ee + 1);
            if (family == 4)
                memcpy(offender, &((const struct sockaddr_in *)(const void *)off)->sin_addr, 4);
            else
                memcpy(offender, &off->sin6_addr, 16);
        }
        pn__feed_error(f, family, f->rx, (size_t)len, dest, ee->ee_type, ee->ee_code, offender,
                       when, out, n);
    }
    return got;
}

int pn__fleet_receive(struct pn_fleet *f, int family, struct pn_fleet_record *out, size_t *n,
                      size_t cap)
{
    struct pn__io *io = f->io;
    int fd = family == 4 ? f->c.fd4 : f->c.fd6;
    int *errq = family == 4 ? &f->errq4 : &f->errq6;

    if (*errq) {
        *errq = 0;
        pn__receive_errors(f, family, out, n, cap);
    }
    for (;;) {
        size_t room = (cap - *n) / 2, k = io->recv_batch, j;
        int64_t offset;
        int got;

        if (room == 0)
            return 0;
        if (k > room)
            k = room;
        for (j = 0; j < k; j++) {
            io->rmsg[j].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
            io->rmsg[j].msg_hdr.msg_controllen = PN__FLEET_CONTROL;
            io->rmsg[j].msg_hdr.msg_flags = 0;
        }
        got = recvmmsg(fd, io->rmsg, (unsigned)k, MSG_DONTWAIT, NULL);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (pn__socket_broken(errno))
                return -errno;
            /* A pending ICMP error's errno; its details wait in the error queue. */
            pn__receive_errors(f, family, out, n, cap);
            continue;
        }
        offset = pn__fleet_offset();
        for (j = 0; j < (size_t)got; j++) {
            struct msghdr *msg = &io->rmsg[j].msg_hdr;
            int64_t when = 0, ttl = -1;
            uint8_t from[16];

            pn__ancillary(f, family, msg, &when, &ttl, NULL);
            if (msg->msg_flags & MSG_TRUNC) {
                f->malformed++;
                continue;
            }
            if (!pn__sockaddr_addr(&io->rname[j], msg->msg_namelen, family, from)) {
                f->malformed++;
                continue;
            }
            if (!when)
                when = pn__fleet_real();
            pn__feed(f, family, f->rx + j * f->rx_slot, io->rmsg[j].msg_len, from, ttl, when,
                     offset, out, n);
        }
        if ((size_t)got < k)
            return 0;
    }
}

void pn__fleet_read_drops(struct pn_fleet *f)
{
    int family;

    for (family = 4; family <= 6; family += 2) {
        int fd = family == 4 ? f->c.fd4 : f->c.fd6;
        int64_t *mine = family == 4 ? &f->drops4 : &f->drops6;
        uint32_t mem[16];
        socklen_t len = sizeof(mem);

        if (fd < 0)
            continue;
        if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
            len > PN__SK_MEMINFO_DROPS * sizeof(uint32_t) && (int64_t)mem[PN__SK_MEMINFO_DROPS] > *mine)
            *mine = mem[PN__SK_MEMINFO_DROPS];
    }
}

/* ---- sending ---------------------------------------------------------------- */

static void pn__build(struct pn_fleet *f, size_t i, uint32_t t, uint16_t seq, int *family)
{
    struct pn__io *io = f->io;
    uint8_t *m = f->tx + i * io->pkt_len;
    struct sockaddr_in6 *name = &io->sname[i];
    const uint8_t *addr = pn__fleet_addr(f, t, family);
    int raw = *family == 4 ? f->c.raw4 : f->c.raw6;
    uint16_t ident = raw ? (uint16_t)f->c.ident : 0;

    m[0] = (uint8_t)(*family == 4 ? PN_ICMP_ECHO_REQUEST : PN_ICMP6_ECHO_REQUEST);
    m[1] = 0;
    m[2] = m[3] = 0;
    m[4] = (uint8_t)(ident >> 8);
    m[5] = (uint8_t)ident;
    m[6] = (uint8_t)(seq >> 8);
    m[7] = (uint8_t)seq;
    memcpy(m + 8, f->c.key, PN_FLEET_KEY_LEN);
    pn__put32(m + 8 + PN_FLEET_KEY_LEN, t);
    pn__put32(m + 12 + PN_FLEET_KEY_LEN, f->sent[t]);
    /* ICMPv6 checksums cover the pseudo-header: the kernel fills them in. */
    if (*family == 4) {
        uint16_t sum = pn_checksum(m, PN_ICMP_HEADER_LEN + PN_FLEET_MIN_PAYLOAD, io->fill_sum);
        m[2] = (uint8_t)(sum >> 8);
        m[3] = (uint8_t)sum;
    }
    memset(name, 0, sizeof(*name));
    if (*family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)(void *)name;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, addr, 4);
        io->smsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    } else {
        name->sin6_family = AF_INET6;
        memcpy(&name->sin6_addr, addr, 16);
        name->sin6_scope_id = f->addr6[f->where[t] & ~PN__WHERE_V6].scope_id;
        io->smsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    }
}

int pn__fleet_send(struct pn_fleet *f, struct pn_fleet_record *out, size_t *n, size_t cap)
{
    struct pn__io *io = f->io;
    size_t skip[3] = { 0, 0, 0 }, k = 0, max = io->send_batch, sent = 0, j;
    size_t popped[3] = { 0, 0, 0 };
    int64_t now = pn__fleet_mono(), due;
    int family = 0, fd, raw, attempts = 0, rc;

    if (pn__fleet_pace(f) > now)
        return 0;
    if (f->c.interval_ns)
        max = 1;  /* the gap is measured from each send */
    if (max > (cap - *n) / 2)
        max = (cap - *n) / 2;  /* each send may write two records */
    if (f->rate_gap_ns) {
        int64_t next = f->rate_next_ns;
        size_t allowed = 0;
        while (allowed < max && next <= now) {
            next = (next > now - PN__FLEET_BURST_NS ? next : now - PN__FLEET_BURST_NS) +
                   f->rate_gap_ns;
            allowed++;
        }
        max = allowed;
    }
    while (k < max) {
        uint32_t t;
        size_t index;
        int fam, q = pn__fleet_next_send(f, now, skip, &t, &due, &index);

        if (q < 0 || due > now)
            break;
        fam = f->where[t] & PN__WHERE_V6 ? 6 : 4;
        if (k > 0 && fam != family)
            break;  /* one socket per sendmmsg */
        pn__build(f, k, t, (uint16_t)((f->sent_total + (int64_t)k) & 0xffff), &family);
        io->item_target[k] = t;
        io->item_queue[k] = (uint8_t)q;
        io->item_index[k] = index;
        io->item_fail[k] = 0;
        skip[q] = index + 1;
        k++;
    }
    if (k == 0)
        return 0;

    fd = family == 4 ? f->c.fd4 : f->c.fd6;
    raw = family == 4 ? f->c.raw4 : f->c.raw6;
    while (sent < k) {
        /* The send times are taken around the call and spread over the
         * packets it sent: on loopback each reply is in our receive queue,
         * timestamped, before the next packet goes. */
        int64_t t0 = pn__fleet_mono(), t1;
        int r = sendmmsg(fd, io->smsg + sent, (unsigned)(k - sent), MSG_DONTWAIT);
        int err = errno;

        t1 = pn__fleet_mono();
        if (r > 0) {
            for (j = 0; j < (size_t)r; j++)
                io->item_time[sent + j] = t0 + (t1 - t0) * (int64_t)j / r;
            sent += (size_t)r;
            attempts = 0;
            continue;
        }
        if (r < 0 && err == EINTR)
            continue;
        if (r == 0 || err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENOMEM) {
            f->retry_send_ns = t1 + PN__FLEET_SEND_RETRY_NS;
            break;  /* not sent: the queue is full, not the network broken */
        }
        /* A datagram socket hands a pending ICMP error to the next send,
         * which the kernel then drops: read the queue, and try again. */
        if (!raw && attempts < PN__FLEET_SEND_ATTEMPTS - 1 &&
            pn__receive_errors(f, family, out, n, cap - 2 * k) > 0) {
            attempts++;
            continue;
        }
        io->item_fail[sent] = err;
        io->item_time[sent] = t0;
        sent++;
        attempts = 0;
    }
    for (j = 0; j < sent; j++) {
        int q = io->item_queue[j];
        if (io->item_index[j] + 1 > popped[q])
            popped[q] = io->item_index[j] + 1;
    }
    /* Pop what was sent (and the stale entries before it) before pn__fleet_sent
     * pushes new entries behind. */
    pn__fifo_pop(&f->retry, popped[0]);
    pn__fifo_pop(&f->nexts, popped[1]);
    f->cursor += popped[2];
    for (j = 0; j < sent; j++) {
        rc = pn__fleet_sent(f, out, n, io->item_target[j], io->item_time[j], io->item_fail[j]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

#else /* !__linux__ */

size_t pn__fleet_rx_slot(int payload_len)
{
    return (size_t)payload_len + 192;
}

long pn_fleet_feed(struct pn_fleet *fleet, int family, const void *buf, size_t len,
                   const void *from, int64_t ttl, int64_t when_ns,
                   struct pn_fleet_record *out, size_t cap)
{
    (void)fleet, (void)family, (void)buf, (void)len, (void)from, (void)ttl, (void)when_ns;
    (void)out, (void)cap;
    return -ENOSYS;
}

long pn_fleet_feed_error(struct pn_fleet *fleet, int family, const void *buf, size_t len,
                         const void *dest, int type, int code, const void *offender,
                         int64_t when_ns, struct pn_fleet_record *out, size_t cap)
{
    (void)fleet, (void)family, (void)buf, (void)len, (void)dest, (void)type, (void)code;
    (void)offender, (void)when_ns, (void)out, (void)cap;
    return -ENOSYS;
}

#endif
