/* The fleet server (csrc/fleet_serve.c) as an event loop uses it, for
 * ThreadSanitizer: this thread adds targets in small runs, drops some,
 * reads counters and takes records whenever the eventfd is readable, while
 * the server's thread steps the engine over a raw ICMP socket on loopback
 * (run as root). Every target not dropped must end with a DONE after its
 * three probes, every dropped one without. Prints "serve ok" and exits 0;
 * anything else is a failure (and TSan's report, if it finds a race). */
#include "pynet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TARGETS 300
#define RUN 7           /* targets per add */
#define RECORDS 64

static int fail(const char *what, long value)
{
    printf("FAIL %s: %ld\n", what, value);
    return 1;
}

int main(void)
{
    struct pn_fleet_config c;
    struct pn_fleet *f = NULL;
    struct pn_fleet_serve *s = NULL;
    struct pn_fleet_record out[RECORDS];
    struct pn_fleet_counters k;
    static int done_probes[TARGETS], dropped[TARGETS];
    int64_t drops[TARGETS];
    int fd, added = 0, done = 0, expected = 0, rc, i, rounds = 0;
    size_t ndrops = 0;

    fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (fd < 0)
        return fail("socket (root?)", errno);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    memset(&c, 0, sizeof(c));
    c.fd4 = fd;
    c.raw4 = 1;
    c.fd6 = -1;
    c.ident = 0x5e7e;
    memcpy(c.key, "tsan key", PN_FLEET_KEY_LEN);
    c.payload_len = 56;
    c.count = 3;
    c.period_ns = 2000000;
    c.timeout_ns = 1000000000;
    c.backoff = 1.5;
    rc = pn_fleet_new(&c, &f);
    if (rc < 0)
        return fail("pn_fleet_new", rc);
    rc = pn_fleet_serve_start(f, &s);
    if (rc < 0)
        return fail("pn_fleet_serve_start", rc);

    while (done < expected || added < TARGETS) {
        struct pollfd p = { pn_fleet_serve_fd(s), POLLIN, 0 };
        long n;

        if (added < TARGETS) {
            uint8_t addrs[RUN * 4];
            int m = TARGETS - added < RUN ? TARGETS - added : RUN;
            int64_t first;

            for (i = 0; i < m; i++) {
                uint32_t a = htonl(0x7f1e0000u | (uint32_t)(added + i + 1));
                memcpy(addrs + 4 * i, &a, 4);
            }
            first = pn_fleet_serve_add(s, 4, addrs, (size_t)m, 0);
            if (first != added)
                return fail("serve_add numbered", (long)first);
            /* Every fifth run's first target dropped at once (mostly before
             * the thread has sent to it, sometimes after). */
            if ((added / RUN) % 5 == 0) {
                drops[ndrops++] = first;
                dropped[first] = 1;
                if (pn_fleet_serve_drop(s, &drops[ndrops - 1], 1) < 0)
                    return fail("serve_drop", (long)first);
            }
            added += m;
            expected = added - (int)ndrops;
        }
        pn_fleet_serve_counters(s, &k);
        if (k.sent < 0 || k.active < 0)
            return fail("counters", (long)k.sent);
        if (poll(&p, 1, added < TARGETS ? 0 : 5000) < 0)
            return fail("poll", errno);
        if (!(p.revents & POLLIN)) {
            if (added >= TARGETS && ++rounds > 3)
                return fail("no records for 15 s, done", done);
            continue;
        }
        while ((n = pn_fleet_serve_take(s, out, RECORDS)) > 0) {
            for (i = 0; i < n; i++) {
                int64_t t = out[i].target;
                if (t < 0 || t >= TARGETS)
                    return fail("record for target", (long)t);
                if (out[i].kind == PN_FLEET_DONE) {
                    if (dropped[t])
                        return fail("DONE of a dropped target", (long)t);
                    done_probes[t] = (int)out[i].probe;
                    done++;
                }
            }
        }
        if (n < 0)
            return fail("serve_take", n);
    }
    for (i = 0; i < TARGETS; i++)
        if (!dropped[i] && done_probes[i] != 3)
            return fail("probes of a target", i);
    pn_fleet_serve_stop(s);
    pn_fleet_counters(f, &k);
    if (k.active != 0)
        return fail("active after the run", (long)k.active);
    pn_fleet_free(f);
    close(fd);
    printf("serve ok\n");
    return 0;
}
