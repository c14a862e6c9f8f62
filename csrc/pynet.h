/* pynet: the C packet core.
 *
 * Plain C with no knowledge of Python or cffi; pynet/_native.cdef mirrors the
 * declarations below. Exported symbols are pn_*, internal ones pn__*.
 * Functions that can fail return 0 (or a length) on success and a negative
 * errno or a negative PN_MALFORMED_* code on failure. Nothing here prints
 * or exits. The packet functions (checksum, ICMP build and parse) and the
 * ping loop allocate nothing: they work in the caller's buffers. The echo
 * loops and the load generator allocate their per-connection tables and
 * buffers, bounded by the descriptor limit and max_clients, and free them
 * all before they return.
 */
#ifndef PYNET_H
#define PYNET_H

#include <stddef.h>
#include <stdint.h>

/* ---- Internet checksum (RFC 1071, RFC 1624) ------------------------------ */

/* One's complement sum of buf read as big-endian 16-bit words, an odd last
 * byte being the high byte of a zero-padded word, folded to 0..0xFFFF.
 * Exact for any length. */
uint32_t pn_sum16(const void *buf, size_t len);

/* The Internet checksum of buf, starting from the running sum `initial`
 * (any 32-bit value; it is folded first). */
uint16_t pn_checksum(const void *buf, size_t len, uint32_t initial);

/* RFC 1624 eqn. 3: the checksum after one 16-bit word changed from old_word
 * to new_word, without touching the rest of the data. */
uint16_t pn_checksum_update(uint16_t old_checksum, uint16_t old_word,
                            uint16_t new_word);

/* The summing kernels compiled in, and a way to pick one (for tests and
 * benchmarks; the best one the CPU supports is chosen at first use). */
enum pn_sum16_impl {
    PN_SUM16_SCALAR = 0,
    PN_SUM16_SSE2 = 1,
    PN_SUM16_AVX2 = 2,
    PN_SUM16_NEON = 3,
};
int pn_sum16_impl_available(int impl);  /* 1 when compiled in and the CPU has it */
int pn_sum16_impl_get(void);
int pn_sum16_impl_set(int impl);        /* 0, or -ENOTSUP */

/* ---- ICMP echo build and parse ------------------------------------------ */

enum {
    PN_ICMP_ECHO_REPLY = 0,
    PN_ICMP_DEST_UNREACH = 3,
    PN_ICMP_SOURCE_QUENCH = 4,
    PN_ICMP_REDIRECT = 5,
    PN_ICMP_ECHO_REQUEST = 8,
    PN_ICMP_TIME_EXCEEDED = 11,
    PN_ICMP_PARAM_PROBLEM = 12,

    PN_ICMP6_DEST_UNREACH = 1,
    PN_ICMP6_PACKET_TOO_BIG = 2,
    PN_ICMP6_TIME_EXCEEDED = 3,
    PN_ICMP6_PARAM_PROBLEM = 4,
    PN_ICMP6_ECHO_REQUEST = 128,
    PN_ICMP6_ECHO_REPLY = 129,
};

#define PN_ICMP_HEADER_LEN 8
#define PN_IPV4_MIN_HEADER_LEN 20
#define PN_IPV6_HEADER_LEN 40

/* Why a packet was refused. A failure inside the datagram quoted by an ICMP
 * error is reported as PN_MALFORMED_QUOTED + the inner reason. */
enum pn_malformed {
    PN_MALFORMED_EMPTY = 1,
    PN_MALFORMED_IPV4_TRUNCATED = 2,
    PN_MALFORMED_IPV4_VERSION = 3,
    PN_MALFORMED_IPV4_IHL_SHORT = 4,
    PN_MALFORMED_IPV4_IHL_BEYOND = 5,
    PN_MALFORMED_IPV4_NOT_ICMP = 6,
    PN_MALFORMED_IPV6_TRUNCATED = 7,
    PN_MALFORMED_IPV6_VERSION = 8,
    PN_MALFORMED_IPV6_EXT_TRUNCATED = 9,
    PN_MALFORMED_IPV6_NOT_ICMP = 10,
    PN_MALFORMED_ICMP_TRUNCATED = 11,
    PN_MALFORMED_QUOTE_SHORT = 12,
    PN_MALFORMED_QUOTED = 32,
};

/* How pn_icmp_parse is to treat the first bytes. */
enum pn_ip_header {
    PN_IP_HEADER_AUTO = -1,  /* an IP header when the version nibble says so */
    PN_IP_HEADER_ABSENT = 0, /* a bare ICMP message (datagram sockets, raw ICMPv6) */
    PN_IP_HEADER_PRESENT = 1 /* an IP header must come first */
};

/* The fields of a parsed message, as one flat array so that a caller can
 * copy them out in a single step. -1 means "does not apply". Offsets index
 * the buffer that was parsed. */
enum pn_icmp_field {
    PN_F_FAMILY,            /* 4 or 6 */
    PN_F_TYPE,
    PN_F_CODE,
    PN_F_ID,                /* echo messages only */
    PN_F_SEQ,
    PN_F_CHECKSUM,          /* as received */
    PN_F_CHECKSUM_OK,       /* 1, 0, or -1 when it cannot be verified */
    PN_F_TTL,               /* IPv4 TTL or IPv6 hop limit, when a header came */
    PN_F_SOURCE_OFF,        /* offset of the IP source address */
    PN_F_DESTINATION_OFF,   /* offset of the IP destination address */
    PN_F_PAYLOAD_OFF,       /* what follows the 8-byte ICMP header */
    PN_F_PAYLOAD_LEN,
    PN_F_REST_OF_HEADER,    /* bytes 4..7 of the ICMP header, big-endian */
    PN_F_QUOTED_ID,         /* errors quoting an echo request */
    PN_F_QUOTED_SEQ,
    PN_F_QUOTED_DESTINATION_OFF,
    PN_F_QUOTED_PROTOCOL,   /* errors: the quoted datagram's upper-layer protocol */
    PN_F_QUOTED_UPPER_OFF,  /* ... and the offset of its header (UDP, TCP, ICMP) */
    PN_F_EXT_OFF,           /* errors with an RFC 4884 length: the extension structure */
    PN_F_EXT_LEN,           /* -2: the RFC 4884 length runs past the message */
    PN_F_COUNT
};

/* Build an echo message (type/code given) into out. For ICMPv6 the checksum
 * covers the pseudo-header when src and dst (16 bytes each) are both given;
 * without them it is left zero for the kernel to fill in, as raw ICMPv6
 * sockets always do. Returns the length written, or -ENOBUFS. */
long pn_icmp_echo_build(uint8_t *out, size_t cap, int family, int type,
                        int code, uint16_t id, uint16_t seq,
                        const void *payload, size_t payload_len,
                        const void *src, const void *dst);

/* Parse an ICMPv4 or ICMPv6 message, optionally behind its IP header.
 * src/dst give the ICMPv6 pseudo-header addresses when no IPv6 header is
 * present (may be NULL). fields has PN_F_COUNT entries. Returns 0, or
 * -(enum pn_malformed). Never reads outside buf[0..len). */
int pn_icmp_parse(const void *buf, size_t len, int family, int ip_header,
                  const void *src, const void *dst, int64_t *fields);

/* ---- ICMP extensions (RFC 4884, RFC 4950 MPLS, RFC 5837 interfaces) ----- */

/* One object of an extension structure, flattened. For MPLS (class 1,
 * c-type 1) one item per label stack entry; for interface information
 * (class 2) one item per object with its parts located. */
enum pn_ext_item_field {
    PN_X_CLASS,         /* object class: 1 MPLS, 2 interface information, ... */
    PN_X_CTYPE,
    PN_X_OFF,           /* object data offset in the structure */
    PN_X_LEN,           /* object data length */
    PN_X_LABEL,         /* MPLS: label, traffic class, bottom of stack, TTL */
    PN_X_TC,
    PN_X_S,
    PN_X_TTL,
    PN_X_ROLE,          /* interface information: the role (bits 0-1 of c-type) */
    PN_X_IFINDEX,       /* -1 when absent */
    PN_X_ADDR_AFI,      /* 1 IPv4, 2 IPv6; -1 when absent */
    PN_X_ADDR_OFF,      /* the address bytes, in the structure */
    PN_X_NAME_OFF,      /* the name (without its length octet); -1 when absent */
    PN_X_NAME_LEN,
    PN_X_MTU,           /* -1 when absent */
    PN_X_COUNT
};

/* Why an extension structure or one of its objects was refused. */
enum pn_ext_malformed {
    PN_EXT_SHORT = 1,         /* fewer than the 4 header bytes */
    PN_EXT_VERSION = 2,       /* not version 2 */
    PN_EXT_CHECKSUM = 3,      /* a nonzero checksum that does not verify */
    PN_EXT_OBJECT_LENGTH = 4, /* an object length below 4 or past the end */
    PN_EXT_OBJECT_BODY = 5,   /* an object whose body does not fit its c-type */
};

/* Parse the extension structure ext[0..len): up to cap items of
 * PN_X_COUNT fields each into items. Returns the number of items (objects
 * past cap are counted in *bad as well as malformed ones), or
 * -(enum pn_ext_malformed) when the structure itself is unusable.
 * Never reads outside ext[0..len). */
int pn_icmp_ext_parse(const void *ext, size_t len, int64_t *items, size_t cap,
                      int *bad);


/* ==== Echo servers' event loop and load generator ======================== */

/* Readiness pollers: epoll (Linux), kqueue (BSD, macOS), poll (anywhere);
 * and io_uring (Linux), which is no poller but a completion-based TCP echo
 * loop of its own (csrc/uring_loop.c). */
enum pn_poller {
    PN_POLLER_AUTO = 0,   /* the best one compiled in */
    PN_POLLER_EPOLL = 1,
    PN_POLLER_POLL = 2,
    PN_POLLER_KQUEUE = 3,
    PN_POLLER_URING = 4,  /* TCP echo only */
};
int pn_poller_available(int kind);   /* 1 when compiled in (io_uring: and usable here) */
int pn_poller_resolve(int kind);     /* the readiness poller AUTO stands for, or -ENOTSUP */
/* What pn_echo_run serves with for this poller and protocol (AUTO
 * resolved), or a negative errno: -ENOTSUP (not here, or io_uring for UDP),
 * or pn_uring_status()'s error for PN_POLLER_URING. */
int pn_echo_poller(int poller, int udp);
/* 0 when io_uring can serve here, else why not: -ENOTSUP (not compiled
 * in), -ENOSYS (not in this kernel), -EPERM (seccomp, or sysctl
 * kernel.io_uring_disabled), -EINVAL (a kernel before 5.19). */
int pn_uring_status(void);

struct pn_echo_config {
    int fd;            /* bound socket: listening TCP or datagram UDP (the caller closes it) */
    int udp;           /* 1: echo datagrams on fd */
    int stop_fd;       /* the loop returns once this becomes readable; -1: none */
    int poller;        /* enum pn_poller */
    int max_clients;   /* TCP: stop accepting at this many clients; 0: no bound */
    int read_size;     /* bytes read at once = most output buffered per client; 0: 64 KiB */
};

/* Counters the loop keeps while it runs (the caller may read them from
 * another thread for monitoring; they are exact once pn_echo_run returns). */
struct pn_echo_stats {
    uint64_t accepted;
    uint64_t closed;          /* connections ended, reset ones included */
    uint64_t resets;          /* connections that ended with an error (reset, ...) */
    uint64_t bytes;           /* bytes echoed (read and queued back) */
    uint64_t datagrams;       /* UDP datagrams echoed */
    uint64_t dropped;         /* UDP datagrams the kernel refused to send back */
    uint64_t stalls;          /* times a client's output was full and reading paused
                                 (readiness pollers; io_uring resumes sends unseen) */
    uint64_t accept_errors;
    int64_t clients;          /* connected now */
    int64_t clients_max;      /* most connected at once */
};

/* Serve echo on config->fd until config->stop_fd is readable. Non-blocking
 * sockets, TCP_NODELAY, one read's worth of output buffered per client at
 * most (a client that does not read is not read from until its output
 * drains), recvmmsg/sendmmsg batches for UDP where the system has them.
 * Returns 0 after a stop request, or a negative errno (nothing leaks either
 * way: every connection is closed and every buffer freed). Blocking: call it
 * without the GIL. */
int pn_echo_run(const struct pn_echo_config *config, struct pn_echo_stats *stats);

/* The load generator: `connections` TCP connections to one echo server (or
 * UDP flows over one socket), each with one message in flight; every reply
 * is checked byte for byte. */
#define PN_LOADGEN_BUCKETS 640

struct pn_loadgen_config {
    const char *host;         /* numeric IPv4 or IPv6 address (no name lookup) */
    int port;
    int udp;
    int connections;
    size_t message_size;      /* 1..16 MiB (UDP: 8..65507, the first 8 bytes carry a sequence) */
    double warmup_s;          /* run, uncounted, for this long first */
    double duration_s;        /* then count for this long */
    double timeout_s;         /* TCP: no reply for this long fails (-ETIMEDOUT); UDP: resend, count lost */
    int stop_fd;              /* stop (-EINTR) once readable; -1: none */
    int poller;               /* enum pn_poller */
};

struct pn_loadgen_result {
    uint64_t messages;        /* replies received and checked in the counted period */
    uint64_t bytes;           /* bytes of those replies */
    uint64_t mismatches;      /* replies that differed from what was sent */
    uint64_t lost;            /* UDP requests resent after timeout_s */
    double elapsed_s;         /* length of the counted period */
    uint64_t latency_ns[PN_LOADGEN_BUCKETS];  /* histogram, see pn_loadgen_bucket_floor_ns */
};

int pn_loadgen_run(const struct pn_loadgen_config *config, struct pn_loadgen_result *result);
/* The smallest latency (ns) counted in bucket i: exact below 32 ns, then 16
 * buckets per power of two (6 % wide). */
uint64_t pn_loadgen_bucket_floor_ns(int bucket);


/* ---- ping: the send/receive loop (csrc/ping.c) --------------------------- */

/* What one record of pn_ping_run's output says happened. */
enum pn_ping_kind {
    PN_PING_REPLY = 1,        /* an echo reply to one of our requests */
    PN_PING_ERROR = 2,        /* an ICMP error quoting one of our requests */
    PN_PING_LOCAL_ERROR = 3,  /* an error the kernel queued without an ICMP message */
    PN_PING_SEND_FAILED = 4,  /* sendto failed for good; the request counts as sent */
    PN_PING_NOTICE = 5,       /* a redirect or source quench quoting our request */
    PN_PING_OUTSTANDING = 6,  /* (-O) the previous request had no answer yet */
};

/* Bits of pn_ping_record.flags. */
enum pn_ping_flag {
    PN_PING_DUP = 1,
    PN_PING_BAD_CHECKSUM = 2,
    /* The payload differs from what was sent (after the timestamp): type is
     * the first differing byte's index, code the byte sent, info the byte
     * received. */
    PN_PING_WRONG_DATA = 4,
};
/* -p: at most this many pattern bytes fill the payload. */
#define PN_PING_PATTERN_MAX 16
/* The most IPv4 option bytes a header holds (60 minus the fixed 20). */
#define PN_PING_OPTIONS_MAX 40

/* How long flood mode (interval 0) waits for a reply before sending the
 * next request anyway: a hundred requests a second, as iputils does. */
#define PN_PING_FLOOD_WAIT_NS 10000000LL
/* The per-seq tables cover the whole 16-bit sequence space. */
#define PN_PING_SEQS 65536
/* Room for the largest IPv4 datagram, so -s 65000 is never truncated. */
#define PN_PING_RXBUF 65600

struct pn_ping_config {
    int fd;                   /* socket, non-blocking not required */
    int family;               /* 4 or 6 */
    int raw;                  /* 1: raw socket (we own the id; IPv4 comes with its header) */
    int ident;                /* echo id on raw sockets (datagram: the kernel's) */
    uint8_t target[16];       /* address pinged: 4 or 16 bytes used */
    uint32_t scope_id;        /* IPv6 scope of a link-local target */
    int payload_len;          /* data bytes after the ICMP header (-s) */
    int report_outstanding;   /* -O: a record when a request is still unanswered */
    int64_t interval_ns;      /* between requests; 0: when answered, or PN_PING_FLOOD_WAIT_NS */
    int64_t count;            /* requests to send; 0: no limit (-c) */
    int64_t deadline_ns;      /* CLOCK_MONOTONIC time to stop at; 0: none (-w) */
    int64_t linger_ns;        /* wait after the last request when no reply came (-W) */
    uint8_t pattern[PN_PING_PATTERN_MAX]; /* -p: payload fill, repeated */
    int pattern_len;          /* 0: bytes counting up from 0, as iputils without -p */
    int preload;              /* -l: requests sent at once before pacing starts (1 or more) */
    int adaptive;             /* -A: the interval follows the moving average round trip */
    int user_latency;         /* -U: replies timed on reading, not by the kernel's stamp */
    int64_t min_interval_ns;  /* -A: the shortest interval allowed (2 ms for users) */
    int any_source;           /* -b: a broadcast target, answered from other addresses */
    uint32_t flowinfo;        /* -F: the IPv6 flow label every request carries (host order) */
};

/* Counters and tables that live across calls; zero it before the first
 * call. About 1 MiB, for the per-seq send times. */
struct pn_ping_state {
    int64_t transmitted, received, duplicates, corrupted, errors, malformed;
    int64_t first_send_ns;    /* CLOCK_MONOTONIC of the first request */
    int64_t last_send_ns;     /* ... and of the latest one */
    int64_t next_send_ns;     /* when the next request is due (interval > 0) */
    int64_t tmax_ns;          /* longest round trip so far */
    int64_t answered_upto;    /* requests up to the latest one answered (in flight: the rest) */
    int64_t retry_ns;         /* when a send the kernel had no room for is tried again */
    int64_t pipesize;         /* most requests outstanding when one was answered (iputils' pipe) */
    int64_t done;             /* 1 when the run is over */
    int64_t wrong_data;       /* replies whose payload differed from what was sent */
    int64_t ewma_us8;         /* iputils' rtt: 8 times the moving average, in microseconds */
    int64_t adaptive_ns;      /* -A: the interval now in force; 0 before the first reply */
    int64_t wrong_len;        /* bytes in wrong_payload */
    int64_t sent_real_ns[PN_PING_SEQS]; /* CLOCK_REALTIME just before each send; 0 unsent */
    int64_t sent_mono_ns[PN_PING_SEQS];
    uint8_t answered[PN_PING_SEQS / 8];
    uint8_t tx[PN_PING_RXBUF];
    uint8_t rx[PN_PING_RXBUF];
    /* The payload of the latest reply whose data differed, as it came:
     * pn_ping_run returns right after such a reply, so each batch holds
     * at most one, and this is its payload until the next call. */
    uint8_t wrong_payload[PN_PING_RXBUF];
};

/* One event, as flat as the caller reads it. */
struct pn_ping_record {
    int64_t kind;             /* enum pn_ping_kind */
    int64_t seq;
    int64_t rtt_ns;           /* replies: kernel receive time minus send time */
    int64_t ttl;              /* replies: TTL / hop limit, -1 unknown */
    int64_t bytes;            /* replies: ICMP bytes received */
    int64_t flags;            /* enum pn_ping_flag */
    int64_t type, code;       /* errors: ICMP type and code */
    int64_t info;             /* errors: MTU, pointer, gateway; local errors: errno */
    int64_t when_ns;          /* CLOCK_REALTIME of the event */
    uint8_t from[16];         /* replies and errors: the sender's address */
    int64_t options_len;      /* replies: IPv4 option bytes that came with it (RR, TS) */
    uint8_t options[PN_PING_OPTIONS_MAX];
};

/* Drive the ping loop: send requests on schedule, receive replies and
 * errors, and write one record per event into out[0..cap). Returns the
 * number of records, or a negative errno when the socket fails. It returns
 * when the run is over (state->done), when out is full, when a signal
 * interrupts a wait (so the caller can handle it), or before waiting once
 * flush_ns has passed since the call began and something happened. */
long pn_ping_run(const struct pn_ping_config *config, struct pn_ping_state *state,
                 struct pn_ping_record *out, size_t cap, int64_t flush_ns);

/* ---- fleet: the many-target probe engine (csrc/fleet.c, fleet_io.c) ------ */

/* One engine probes many targets over one ICMP socket per family. The rules
 * (schedule, matching, probe states) are written out in csrc/fleet.c and its
 * pure-Python twin pynet/_reference/fleet.py; pynet/_fleet_engine.py holds
 * the shared layout. Records, counters and config mirror it field for field. */
enum pn_fleet_kind {
    PN_FLEET_REPLY = 1,        /* an echo reply matched to (target, probe) */
    PN_FLEET_ERROR = 2,        /* an ICMP error quoting our probe */
    PN_FLEET_TIMEOUT = 3,      /* no reply within the probe's timeout */
    PN_FLEET_SEND_FAILED = 4,  /* the kernel refused the send for good (code: errno) */
    PN_FLEET_DONE = 5,         /* the target is finished (probe: how many were sent) */
};
enum pn_fleet_flag {
    PN_FLEET_DUP = 1,
    PN_FLEET_BAD_CHECKSUM = 2,
    PN_FLEET_ANSWERED = 4,     /* DONE of a fold run: the clean reply that ended it */
};
#define PN_FLEET_KEY_LEN 8
#define PN_FLEET_MIN_PAYLOAD 16     /* key, target index, probe number */
#define PN_FLEET_MAX_PAYLOAD 65000
#define PN_FLEET_SEQ_LOG 65536      /* (target, probe) remembered per ICMP seq */
#define PN_FLEET_MAX_WINDOW 65536   /* probe slots per target at most */
#define PN_FLEET_MAX_TARGETS 0x7ffffffe
#define PN_FLEET_MAX_RETRIES 1000

struct pn_fleet_config {
    int fd4, raw4;             /* the IPv4 socket (-1: none), raw or datagram */
    int fd6, raw6;
    int ident;                 /* echo id on raw sockets */
    uint8_t key[PN_FLEET_KEY_LEN];
    int payload_len;           /* PN_FLEET_MIN_PAYLOAD..PN_FLEET_MAX_PAYLOAD */
    int64_t count;             /* probes per target; 0: until cancelled */
    int64_t interval_ns;       /* least gap between any two sends; 0: none */
    int64_t period_ns;         /* between probes to one target */
    int64_t timeout_ns;        /* per probe; the k-th retry's is multiplied by backoff^k */
    int64_t retries;           /* count == 1 only: extra probes to a silent target */
    double backoff;            /* 1..100 */
    int64_t rate_pps;          /* global cap on sends per second; 0: none */
    int64_t fold;              /* count == 1 only: a clean reply that ends its target is
                                * written as the target's DONE record alone, flagged
                                * ANSWERED and carrying the reply's rtt, ttl, bytes, from
                                * and time (probe: the probes sent, as in every DONE) */
};

struct pn_fleet_counters {
    int64_t sent, received, duplicates, corrupted, errors, malformed, foreign;
    int64_t kernel_drops;      /* receive-queue overflows, summed over the sockets */
    int64_t active;            /* targets not yet DONE */
    int64_t done;              /* 1: no target left and every DONE record written */
    int64_t late;              /* replies after their probe's timeout (the kernel's stamp) */
};

struct pn_fleet_record {
    int64_t kind;              /* enum pn_fleet_kind */
    int64_t target, probe;
    int64_t rtt_ns, ttl, bytes;   /* replies; ttl -1 when unknown */
    int64_t flags;             /* enum pn_fleet_flag */
    int64_t type, code;        /* errors: ICMP type and code; SEND_FAILED: code = errno */
    int64_t when_ns;           /* CLOCK_REALTIME of the event */
    uint8_t from[16];          /* replies, errors: the sender */
};

struct pn_fleet;

/* A new engine (checked config: -EINVAL), or -ENOMEM. Free with pn_fleet_free. */
int pn_fleet_new(const struct pn_fleet_config *config, struct pn_fleet **out);
void pn_fleet_free(struct pn_fleet *fleet);
/* Append n targets of family (4, 6) whose packed addresses lie end to end.
 * Returns the first one's index, or -EINVAL, -ENOMEM (nothing added). */
int64_t pn_fleet_add(struct pn_fleet *fleet, int family, const void *addresses, size_t n,
                     uint32_t scope_id);
/* Stop probing target; its DONE record comes with the next run or step.
 * 0, or -ERANGE for no such target. */
int pn_fleet_cancel(struct pn_fleet *fleet, int64_t target);
/* pn_fleet_cancel without the DONE record: for a caller that has the
 * target's result already (an asyncio call answered by its reply). */
int pn_fleet_drop(struct pn_fleet *fleet, int64_t target);
/* Drive sends, receives and timeouts, writing records into out[0..cap)
 * (cap >= 2). pn_fleet_run waits when nothing is due and returns when
 * every target is done, out is full, CLOCK_MONOTONIC reaches until_ns (0:
 * no limit), flush_ns has passed since the first record, or a signal
 * interrupted the wait. pn_fleet_step never waits. Both return the number
 * of records, or a negative errno when a socket fails. */
long pn_fleet_run(struct pn_fleet *fleet, int64_t until_ns, int64_t flush_ns,
                  struct pn_fleet_record *out, size_t cap);
long pn_fleet_step(struct pn_fleet *fleet, struct pn_fleet_record *out, size_t cap);
/* CLOCK_MONOTONIC of the next due send or deadline; -1: none. */
int64_t pn_fleet_next_wakeup(struct pn_fleet *fleet);
void pn_fleet_counters(const struct pn_fleet *fleet, struct pn_fleet_counters *out);
/* The matcher alone, for tests: one packet as read from the family's
 * socket (from: the sender, 4 or 16 bytes), or one error-queue message
 * (buf: the quoted ICMP message, dest: its quoted destination). Returns
 * the number of records written (cap >= 2). */
long pn_fleet_feed(struct pn_fleet *fleet, int family, const void *buf, size_t len,
                   const void *from, int64_t ttl, int64_t when_ns,
                   struct pn_fleet_record *out, size_t cap);
long pn_fleet_feed_error(struct pn_fleet *fleet, int family, const void *buf, size_t len,
                         const void *dest, int type, int code, const void *offender,
                         int64_t when_ns, struct pn_fleet_record *out, size_t cap);
/* The engine on a thread of its own, for an event loop (csrc/fleet_serve.c):
 * the thread steps the engine and waits on its sockets; the loop adds and
 * drops targets through queues and takes records while the eventfd
 * pn_fleet_serve_fd() is readable. While it runs, only these calls touch
 * the engine. start: 0, -ENOMEM, or an errno from eventfd/pthread_create.
 * add: the first target's number (as pn_fleet_add numbers it), -EINVAL.
 * drop: 0, -ERANGE. take: records copied (at most cap), or, once every
 * record is taken, the negative errno that ended the thread. counters:
 * the engine's after the thread's last step. stop: joins the thread and
 * frees the server; the engine stays the caller's. */
struct pn_fleet_serve;
int pn_fleet_serve_start(struct pn_fleet *fleet, struct pn_fleet_serve **out);
void pn_fleet_serve_stop(struct pn_fleet_serve *server);
int pn_fleet_serve_fd(const struct pn_fleet_serve *server);
int64_t pn_fleet_serve_add(struct pn_fleet_serve *server, int family, const void *addresses,
                           size_t n, uint32_t scope_id);
int pn_fleet_serve_drop(struct pn_fleet_serve *server, const int64_t *targets, size_t n);
long pn_fleet_serve_take(struct pn_fleet_serve *server, struct pn_fleet_record *out,
                         size_t cap);
void pn_fleet_serve_counters(struct pn_fleet_serve *server, struct pn_fleet_counters *out);
/* ---- traceroute: the probe loop (csrc/trace.c) -------------------------- */

enum pn_trace_method {
    PN_TRACE_UDP = 1,         /* ports as Linux traceroute: 33434 + probe (Paris: fixed) */
    PN_TRACE_UDP_FIXED = 2,   /* -U: one destination port */
    PN_TRACE_ICMP = 3,        /* -I: echo requests */
    PN_TRACE_TCP = 4,         /* -T: SYN */
};
enum pn_trace_kind {
    PN_TRACE_REPLY = 1,       /* an answer: ICMP error, echo reply, TCP segment */
    PN_TRACE_TIMEOUT = 2,     /* none within the wait */
    PN_TRACE_SEND_FAILED = 3, /* sendto failed for good (info: errno) */
};
enum pn_trace_flag {
    PN_TRACE_FINAL = 1,       /* the answer ends the trace (anything but time exceeded) */
    PN_TRACE_DEST = 2,        /* it came from the target */
};
/* The type of a record for a TCP answer (its code: the TCP flags). */
#define PN_TRACE_TCP_REPLY 256
#define PN_TRACE_MAX_TTL 255
#define PN_TRACE_MAX_QUERIES 10
#define PN_TRACE_MAX_PROBES (PN_TRACE_MAX_TTL * PN_TRACE_MAX_QUERIES)
/* Bytes of an extension structure a record keeps at most. */
#define PN_TRACE_EXT_MAX 128
/* Room for a probe and for any answer worth reading (ICMP quotes are short). */
#define PN_TRACE_BUF 4096
/* The largest probe: Linux traceroute's packet length limit, 65000, less
 * the IP header, with room to spare. */
#define PN_TRACE_MAX_PACKET 65536

struct pn_trace_config {
    int fd;                   /* probe socket: UDP datagram, ICMP raw or datagram, raw TCP */
    int rfd;                  /* raw ICMP socket for answers; -1: fd's error queue */
    int family;               /* 4 or 6 */
    int method;               /* enum pn_trace_method */
    int raw;                  /* fd is raw */
    uint8_t target[16];
    uint8_t source[16];       /* our address (the TCP checksum over IPv4) */
    uint32_t scope_id;
    int port;                 /* destination port (UDP: the base) */
    int sport;                /* our UDP port / the TCP source port */
    int ident;                /* ICMP echo id */
    uint32_t key;             /* random: marks this run's probes */
    int classic;              /* the flow changes per probe */
    int first_ttl, max_ttl, queries, sim;
    int packet_len;           /* whole datagram, IP header included */
    int64_t wait_ns;          /* per probe at most (MAX of -w MAX,HERE,NEAR) */
    int64_t pause_ns;         /* between probes (-z) */
    /* Linux traceroute's HERE and NEAR, in thousandths (0: off): give up on
     * a probe once HERE times the round trip of an answer from its hop, or
     * NEAR times that of the next hop that answered, has passed. */
    int64_t here_milli, near_milli;
};

/* Zero it before the first call. */
struct pn_trace_state {
    int64_t sent, answered, malformed, unmatched;
    int64_t final_ttl;        /* lowest TTL whose answer ended the trace; 0: none yet */
    int64_t done;
    int64_t next_index, in_flight, last_send_ns, last_ttl, errors_queued, started;
    int64_t hop_rtt_ns[PN_TRACE_MAX_TTL + 1]; /* the first answer's round trip per TTL */
    int64_t sent_real_ns[PN_TRACE_MAX_PROBES];
    int64_t sent_mono_ns[PN_TRACE_MAX_PROBES];
    uint8_t status[PN_TRACE_MAX_PROBES];
    uint8_t tx[PN_TRACE_BUF];
    uint8_t rx[PN_TRACE_BUF];
};

struct pn_trace_record {
    int64_t ttl, probe, kind, flags;
    int64_t type, code;       /* the answer's ICMP type and code (-1: none) */
    int64_t rtt_ns;
    int64_t reply_ttl;        /* TTL / hop limit the answer arrived with; -1 unknown */
    int64_t info;             /* ICMP bytes 4..7 (MTU, ...); send failures: errno */
    int64_t when_ns;          /* CLOCK_REALTIME */
    int64_t ext_len;
    uint8_t from[16];
    uint8_t ext[PN_TRACE_EXT_MAX];
};

/* Build probe `index` as sendto takes it into out. Returns its length or
 * -ENOBUFS. */
long pn_trace_probe(const struct pn_trace_config *config, int64_t index, uint8_t *out,
                    size_t cap);

/* Drive the trace: send probes (at most sim unanswered), read answers,
 * write one record per probe answered or given up into out[0..cap).
 * Returns the number of records or a negative errno; returns when the
 * trace is over (state->done), when out is nearly full, when a signal
 * interrupts a wait, or once flush_ns has passed and something happened. */
long pn_trace_run(const struct pn_trace_config *config, struct pn_trace_state *state,
                  struct pn_trace_record *out, size_t cap, int64_t flush_ns);

/* Many traces in one thread (traceroute A B C ...): `slots` traces at
 * most at once, each with its own config, state and sockets, all of them
 * in one poller. Fill pn_trace_many_config(m, slot), then start the slot
 * (0, -EINVAL for a bad config, -EBUSY for a slot or socket in use, or a
 * poller errno). pn_trace_many_run writes records as pn_trace_run does,
 * and the slot each came from into slot_of[0..n); it returns when every
 * started trace is done, and otherwise as pn_trace_run does. A trace that
 * is done leaves the poller and keeps its slot (its state readable) until
 * released; release a slot before closing its sockets, also to abandon a
 * trace that is not done. open returns NULL when out of memory. */
struct pn_trace_many;
struct pn_trace_many *pn_trace_many_open(size_t slots);
void pn_trace_many_close(struct pn_trace_many *many);
struct pn_trace_config *pn_trace_many_config(struct pn_trace_many *many, size_t slot);
const struct pn_trace_state *pn_trace_many_state(const struct pn_trace_many *many, size_t slot);
int pn_trace_many_start(struct pn_trace_many *many, size_t slot);
void pn_trace_many_release(struct pn_trace_many *many, size_t slot);
long pn_trace_many_run(struct pn_trace_many *many, struct pn_trace_record *out,
                       int64_t *slot_of, size_t cap, int64_t flush_ns);

#endif /* PYNET_H */
