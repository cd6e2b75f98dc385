/* SPDX-License-Identifier: Apache-2.0 */
/* bench.h - palisade-bench, the XMPP load generator: one epoll loop, thousands
 * of non-blocking client connections, each doing TCP connect, stream header,
 * STARTTLS or direct TLS (or neither), SASL PLAIN or SCRAM-SHA-256, resource
 * binding and initial presence. Scenarios (login, messages, labelled, muc,
 * idle, parse) drive the clients through the hooks below and print one
 * "RESULT key=value ..." line each. Nothing here is part of the server or of
 * the test suite: timings live only in test/bench/. */
#ifndef PALISADE_BENCH_H
#define PALISADE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define BENCH_MAX_PIDS 4

enum bench_tls { BENCH_TLS_NONE, BENCH_TLS_STARTTLS, BENCH_TLS_DIRECT };
enum bench_mech { BENCH_MECH_PLAIN, BENCH_MECH_SCRAM_SHA_256 };

struct bench_opts {
    const char *scenario;
    const char *server;     /* a name for the RESULT line */
    const char *host;
    int port;
    int peer_port;          /* messages: the odd clients (receivers) connect here; 0 = port */
    const char *domain;
    const char *prefix;     /* user names: prefix + zero-padded index */
    int width;              /* digits of the index */
    const char *password;
    enum bench_tls tls;
    enum bench_mech mech;
    long n;                 /* logins, or idle sessions */
    int concurrency;        /* connections being set up at once */
    int users;              /* distinct users (login cycles through them) */
    int user_offset;        /* first user index */
    long warmup;            /* untimed logins first (login; SCRAM caches the salted password) */
    int pairs;
    bool one_way;           /* messages: only the even client of a pair sends */
    int rooms;              /* muc: rooms */
    int occupants;          /* muc: occupants per room */
    int room_senders;       /* muc: occupants per room that send */
    const char *room_prefix;  /* muc: room names: prefix + index */
    const char *muc_domain;   /* muc: the service (default conference.<domain>) */
    double rate;            /* messages/s offered in total; 0 = flat out */
    int window;             /* messages in flight per direction */
    double duration;        /* seconds measured */
    double warmup_s;        /* seconds of traffic before the measurement */
    double hold;            /* idle: seconds the sessions stay up after the memory reading */
    double settle;          /* idle: seconds before each memory reading */
    int body_bytes;         /* extra body padding per message */
    const char *label_file; /* <securitylabel/> XML put in every message */
    const char *scram_cache;  /* file keeping salted passwords between runs */
    char *label;            /* its contents */
    pid_t pids[BENCH_MAX_PIDS];
    int n_pids;
    bool quiet;
};

extern struct bench_opts bench_opt;

/* ---- time and statistics (stats.c) ---- */

uint64_t bench_now_ns(void); /* CLOCK_MONOTONIC */

/* A latency histogram: 1 µs buckets up to 100 ms, then 1 ms up to 60 s. */
struct bench_hist {
    uint64_t *fine;
    uint64_t *coarse;
    uint64_t count;
    uint64_t max_ns;
    double sum_ns;
};
void bench_hist_init(struct bench_hist *h);
void bench_hist_free(struct bench_hist *h);
void bench_hist_reset(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t ns);
/* The q-quantile (0..1) in microseconds; 0 when empty. */
double bench_hist_quantile_us(const struct bench_hist *h, double q);

/* CPU seconds of a process: the nanoseconds of /proc/PID/task/TID/schedstat
 * summed over its threads, else utime + stime from /proc/PID/stat; < 0 on
 * error. */
double bench_proc_cpu_s(pid_t pid);
/* User CPU seconds, and system seconds into *sys_s, from /proc/PID/stat
 * (10 ms ticks); < 0 on error. */
double bench_proc_cpu_split(pid_t pid, double *sys_s);
/* The sum over the --server-pid processes; < 0 when none is readable. */
double bench_servers_cpu_s(void);
double bench_servers_cpu_split(double *sys_s);
/* VmRSS of a process in KiB from /proc/PID/status; < 0 on error. */
long bench_proc_rss_kib(pid_t pid);
double bench_self_cpu_s(void);
double bench_loadavg1(void);

/* The CPU counters at one instant: the servers' (total, user, system) and
 * the generator's own. */
struct bench_cpu {
    double server, user, sys, self;
};
void bench_cpu_now(struct bench_cpu *c);
/* Between a and b: the servers' CPU seconds (< 0 when unreadable), the
 * kernel's share of it (< 0 when unknown) and the generator's seconds. */
struct bench_cpu_delta {
    double server, sys_share, self;
};
struct bench_cpu_delta bench_cpu_since(const struct bench_cpu *a, const struct bench_cpu *b);

/* ---- the stream scanner (scan.c) ---- */

enum scan_kind {
    SCAN_MORE,   /* no complete item yet (whitespace may have been consumed) */
    SCAN_OPEN,   /* <stream:stream ...> */
    SCAN_CLOSE,  /* </stream:stream> */
    SCAN_ELEM,   /* a complete top-level element */
    SCAN_ERROR,  /* not XML we understand */
};

struct scan_item {
    enum scan_kind kind;
    const char *start;   /* first byte of the item */
    size_t len;          /* whole item */
    const char *name;    /* element name (qualified as written) */
    size_t name_len;
    size_t tag_len;      /* bytes of the start tag, '<' to '>' */
};

/* Finds the next top-level item in p[0..n): returns the bytes it consumed
 * (the item, or leading whitespace and XML declarations for SCAN_MORE). No
 * allocation; the item points into p. */
size_t scan_next(const char *p, size_t n, struct scan_item *it);
bool scan_name_is(const struct scan_item *it, const char *name);
/* memmem(3), which glibc declares only with _GNU_SOURCE. */
const char *scan_find(const char *hay, size_t n, const char *needle, size_t nlen);
/* The value of attribute name in a start tag (raw, not unescaped). */
bool scan_attr(const char *tag, size_t tag_len, const char *name, const char **v, size_t *vlen);
/* The text between <name ...> and </name> inside an item, not unescaped. */
bool scan_child_text(const struct scan_item *it, const char *name, const char **v, size_t *vlen);

/* ---- SCRAM-SHA-256 client and base64 (scram.c) ---- */

struct scram;
struct scram *scram_new(const char *user, const char *password);
void scram_free(struct scram *s);
/* "n,,n=user,r=nonce", NUL-terminated, owned by s. */
const char *scram_client_first(struct scram *s);
/* From the server-first message: the client-final message (owned by s), or
 * NULL when the message is malformed. The salted password is cached by salt
 * and iteration count, so a second login of the same account skips PBKDF2. */
const char *scram_client_final(struct scram *s, const char *server_first, size_t len);
/* Checks the server signature of the final "v=..." message. */
bool scram_server_final_ok(struct scram *s, const char *msg, size_t len);
size_t scram_cache_size(void);
/* The cache in a file (the salted password is as secret as the password:
 * bench accounts only). Load returns the entries read (0 without a file). */
int scram_cache_load(const char *path);
int scram_cache_save(const char *path);

/* Base64 into out (cap >= 4 * ceil(n / 3) + 1); returns the length. */
size_t bench_b64_encode(const void *in, size_t n, char *out);
/* Decodes; returns the length or -1. out holds at least 3 * (n / 4) bytes. */
long bench_b64_decode(const char *in, size_t n, unsigned char *out);

/* ---- clients (client.c) ---- */

enum client_state {
    CL_IDLE,
    CL_CONNECTING,
    CL_TLS,          /* TLS handshake */
    CL_HEADER,       /* header sent, waiting for the server's header and features */
    CL_PROCEED,      /* <starttls/> sent */
    CL_SASL,         /* <auth/> sent */
    CL_BIND,         /* bind iq sent */
    CL_READY,        /* bound, initial presence sent */
    CL_CLOSING,      /* </stream:stream> sent, waiting for the server to close */
    CL_DONE,         /* closed normally */
    CL_FAILED,
};

struct bench_bitmap {
    uint64_t *w;
    size_t n_words;
};

struct client {
    int idx;                 /* slot number in its scenario */
    int user;                /* user index */
    int fd;
    bool alt_port;           /* connects to --peer-port */
    SSL *ssl;
    enum client_state state;
    bool tls_up;
    bool authed;
    bool want_write;         /* output waits for EPOLLOUT */
    bool dirty;              /* on the flush list */
    bool in_loop;            /* registered with epoll */
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    struct scram *scram;
    uint64_t t_start;        /* connect() */
    uint64_t t_ready;        /* bind result */
    uint64_t deadline;       /* login/close must finish by then (0 = none) */
    char jid[96];            /* bound full JID */
    const char *fail_reason;
    struct client *next_dirty;
    /* messages */
    struct client *peer;
    uint64_t next_seq;       /* sent to peer: 1..next_seq-1 */
    uint64_t acked;          /* highest seq the peer received in order (window) */
    uint64_t in_flight;
    uint64_t received, unique;
    struct bench_bitmap seen; /* seqs received from peer */
    bool synced;             /* a probe of ours reached the peer */
    void *user_data;
};

/* What a scenario hears. All optional. */
struct client_hooks {
    void (*on_ready)(struct client *c);               /* bound, presence sent */
    void (*on_message)(struct client *c, const struct scan_item *it);
    void (*on_end)(struct client *c);                 /* CL_DONE or CL_FAILED, fd closed */
    /* Once bound: every presence (errors too, after they are counted), and
     * every iq result or error other than the bind's. */
    void (*on_presence)(struct client *c, const struct scan_item *it);
    void (*on_iq_result)(struct client *c, const struct scan_item *it);
};

void client_global_init(const struct client_hooks *hooks);
void client_global_free(void);
/* Starts connecting c (state CL_IDLE, user and idx set) to the configured
 * server. Errors end in on_end with CL_FAILED. */
void client_start(struct client *c, uint64_t deadline);
/* Sends </stream:stream> and waits for the server to close (then on_end). */
void client_close(struct client *c, uint64_t deadline);
/* Drops the connection now (no on_end). */
void client_abort(struct client *c);
void client_reset(struct client *c); /* frees buffers; back to CL_IDLE */
/* Queues bytes; they leave at the next client_flush_all(). */
void client_send(struct client *c, const char *data, size_t len);
void client_flush_all(void);
/* Waits for events for at most timeout_ms, handles them, flushes output. */
void client_poll(int timeout_ms);
/* Fails clients whose deadline passed. */
void client_check_deadlines(struct client *v, size_t n, uint64_t now);
/* Is the item's type attribute exactly type? */
bool client_type_is(const struct scan_item *it, const char *type);
/* Counters over all clients since start. */
struct client_counters {
    uint64_t stream_errors;
    uint64_t stanza_errors;
    uint64_t failures;
    uint64_t unexpected_close;
    uint64_t disco_answered;
    char first_failure[160];
};
extern struct client_counters client_ctr;
const char *client_user_name(int user, char *buf, size_t cap);

/* What a sending scenario (messages, muc) counts while it runs. */
struct bench_flow {
    bool sending;              /* senders send (flat out: top up their windows) */
    bool measuring;            /* inside the measured window */
    bool flat;                 /* flat out, else at bench_opt.rate */
    uint64_t delivered_window; /* deliveries counted in the window */
    uint64_t sent_total;       /* messages sent, for the rate */
    uint64_t backlog;          /* rate mode: sends skipped, every window full */
    struct bench_hist lat;     /* latencies in the window */
};
/* The measured window's figures. */
struct bench_window {
    uint64_t delivered, sent, backlog;
    double seconds;
    struct bench_cpu_delta cpu;
};
/* Sending started at t0 (f->sending set): polls the clients through the
 * warm-up and the measured window (bench_opt.warmup_s, .duration), calling
 * tick(t0, now) after each poll at a fixed rate, until the window ends or a
 * client fails; then stops sending and fills *w. */
void bench_run_window(struct bench_flow *f, uint64_t t0, void (*tick)(uint64_t t0, uint64_t now),
                      struct bench_window *w);

/* ---- the bitmap of received sequence numbers ---- */

/* Sets bit i; returns true when it was already set. */
bool bench_bitmap_test_set(struct bench_bitmap *b, uint64_t i);
void bench_bitmap_free(struct bench_bitmap *b);

/* ---- scenarios (scenarios.c, muc.c, parse.c) ---- */

int scenario_login(void);
int scenario_messages(bool labelled);
int scenario_muc(void);
int scenario_idle(void);
int scenario_parse(void);

/* Shared by the scenarios with long-lived sessions (scenarios.c). */
struct client *bench_clients_alloc(int n);   /* users offset + slot; caller frees */
void bench_clients_free(struct client *v, int n);
/* Hooks for on_ready and on_end while bench_sessions_setup() runs. */
void bench_setup_on_ready(struct client *c);
void bench_setup_on_end(struct client *c);
/* Connects the n clients of v, --concurrency at a time, reporting progress;
 * true when all are ready. *failed gets the failures. */
bool bench_sessions_setup(struct client *v, int n, double *elapsed, int *failed);
void bench_sessions_close(struct client *v, int n);
void bench_poll_for(double seconds);
const char *bench_tls_name(void);
const char *bench_mech_name(void);
void bench_print_failures(void);

/* "RESULT scenario=... server=... " prefix, common keys. */
void bench_result_begin(char *buf, size_t cap);
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
