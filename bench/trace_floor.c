/* The kernel's share of a traceroute sweep, and nothing else: the probes
 * pynet's concurrent trace sends (per target the first `sim` probes of
 * Linux traceroute's order: TTL 1 three times, TTL 2 three times, ...;
 * 16 by default, all that a 5-hop path needs with -q 3), UDP to port 33434
 * with 32 data bytes (60-byte packets), each ICMP answer read from the
 * error queue. One thread per CPU, one socket per thread, no parsing, no
 * results, no interpreter: what is left of the wall time is the kernel's
 * forwarding through the chain, the routers' and the target's ICMP, and
 * the least a program must do to send and read.
 *
 *     trace_floor TARGETS_FILE THREADS [PROBES]
 *
 * prints one JSON line: wall, user and system seconds, probes sent and
 * answers read. bench/trace_bench.py builds and runs it in the client
 * namespace, beside pynet and Linux traceroute. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUERIES 3
#define DATA_LEN 32
#define PORT 33434
#define STRAGGLERS_NS 1000000000LL

struct job {
    const struct in_addr *targets;
    size_t first, count, step;
    int probes;
    long sent, answered, failed;
};

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Every error waiting on fd (the ICMP answers): how many. */
static long drain(int fd)
{
    long n = 0;
    for (;;) {
        char data[DATA_LEN], control[512];
        struct iovec iov = {data, sizeof(data)};
        struct msghdr msg;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return n;
        n++;
    }
}

static void *run(void *arg)
{
    struct job *job = arg;
    char data[DATA_LEN];
    int one = 1, fd = socket(AF_INET, SOCK_DGRAM, 0);
    size_t i;
    long long end;

    if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one)) < 0) {
        perror("socket");
        exit(1);
    }
    memset(data, 0x40, sizeof(data));
    for (i = job->first; i < job->count; i += job->step) {
        struct sockaddr_in to;
        int p, ttl = 0;
        memset(&to, 0, sizeof(to));
        to.sin_family = AF_INET;
        to.sin_port = htons(PORT);
        to.sin_addr = job->targets[i];
        for (p = 0; p < job->probes; p++) {
            if (p / QUERIES + 1 != ttl) {
                ttl = p / QUERIES + 1;
                setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
            }
            /* An answer that came back while the last probe was sent waits
             * as the socket's error, and fails this send once. */
            while (sendto(fd, data, sizeof(data), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
                if (errno != ECONNREFUSED && errno != EHOSTUNREACH && errno != ENETUNREACH &&
                    errno != EINTR) {
                    job->failed++;
                    break;
                }
            job->sent++;
        }
        job->answered += drain(fd);
    }
    end = now_ns() + STRAGGLERS_NS;
    while (job->answered < job->sent && now_ns() < end) {
        struct pollfd pfd = {fd, 0, 0};
        poll(&pfd, 1, 10);
        job->answered += drain(fd);
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct in_addr *targets = NULL;
    size_t count = 0, cap = 0;
    int threads, probes, k;
    char line[256];
    FILE *f;
    pthread_t tid[64];
    struct job jobs[64];
    struct rusage ru;
    long sent = 0, answered = 0, failed = 0;
    long long start;

    if (argc < 3) {
        fprintf(stderr, "usage: trace_floor TARGETS_FILE THREADS [PROBES]\n");
        return 2;
    }
    threads = atoi(argv[2]);
    probes = argc > 3 ? atoi(argv[3]) : 16;
    if (threads < 1 || threads > 64 || probes < 1) {
        fprintf(stderr, "trace_floor: THREADS in 1..64, PROBES >= 1\n");
        return 2;
    }
    f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, " \t\r\n")] = 0;
        if (line[0] == 0)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 1024;
            targets = realloc(targets, cap * sizeof(*targets));
            if (targets == NULL)
                return 1;
        }
        if (inet_pton(AF_INET, line, &targets[count]) != 1) {
            fprintf(stderr, "trace_floor: not an IPv4 address: %s\n", line);
            return 2;
        }
        count++;
    }
    fclose(f);
    start = now_ns();
    for (k = 0; k < threads; k++) {
        jobs[k] = (struct job){targets, (size_t)k, count, (size_t)threads, probes, 0, 0, 0};
        pthread_create(&tid[k], NULL, run, &jobs[k]);
    }
    for (k = 0; k < threads; k++) {
        pthread_join(tid[k], NULL);
        sent += jobs[k].sent;
        answered += jobs[k].answered;
        failed += jobs[k].failed;
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"wall_s\": %.4f, \"user_s\": %.4f, \"sys_s\": %.4f, \"sent\": %ld, "
           "\"answered\": %ld, \"failed\": %ld}\n",
           (double)(now_ns() - start) / 1e9,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, sent, answered,
           failed);
    free(targets);
    return 0;
}
