/* SPDX-License-Identifier: Apache-2.0 */
/* scenarios.c - what the clients do and what is measured:
 *   login     N logins with C at a time (connect .. bind result, then presence
 *             and </stream:stream>): logins/s, latency p50/p99, server CPU/login;
 *   messages  P pairs of bound sessions sending each other chat messages, flat
 *             out (W in flight per direction) or at R messages/s in total:
 *             delivered/s, end-to-end latency from the timestamp in the body,
 *             lost and duplicated (per pair, by sequence number), server CPU per
 *             delivered message from /proc. With --peer-port the second
 *             session of each pair connects there (another node of a cluster);
 *             with --one-way only the first one sends;
 *   labelled  messages, each carrying the <securitylabel/> of --label-file;
 *   idle      N bound sessions: the server's resident memory per session.
 * Each prints one RESULT line and a short summary. The muc scenario is
 * muc.c's; it shares the session setup below. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define LOGIN_TIMEOUT_NS (30ull * 1000000000u)
#define CLOSE_TIMEOUT_NS (10ull * 1000000000u)
#define DRAIN_TIMEOUT_NS (15ull * 1000000000u)
#define SYNC_TIMEOUT_NS (20ull * 1000000000u)
#define SYNC_RESEND_NS (250ull * 1000000u)
#define NS 1e9

static double
secs(uint64_t a, uint64_t b)
{
    return (double)(b - a) / NS;
}

/* ---- connecting many sessions (messages, idle) ---- */

static struct {
    struct client *v;
    int n;
    int next;        /* next slot to start */
    int ready;
    int failed;
    bool setup_done;
} S;

static void
setup_start_next(void)
{
    if (S.next >= S.n)
        return;
    struct client *c = &S.v[S.next++];
    client_start(c, bench_now_ns() + LOGIN_TIMEOUT_NS);
}

void
bench_setup_on_ready(struct client *c)
{
    (void)c;
    S.ready++;
    if (!S.setup_done)
        setup_start_next();
}

void
bench_setup_on_end(struct client *c)
{
    if (c->state == CL_FAILED) {
        S.failed++;
        if (!S.setup_done)
            setup_start_next();
    }
}

bool
bench_sessions_setup(struct client *v, int n, double *elapsed, int *failed)
{
    S.v = v;
    S.n = n;
    uint64_t t0 = bench_now_ns();
    S.next = S.ready = S.failed = 0;
    S.setup_done = false;
    int first = bench_opt.concurrency < S.n ? bench_opt.concurrency : S.n;
    for (int i = 0; i < first; i++)
        setup_start_next();
    uint64_t last_report = t0;
    while (S.ready + S.failed < S.n) {
        client_poll(20);
        uint64_t now = bench_now_ns();
        client_check_deadlines(S.v, (size_t)S.n, now);
        if (!bench_opt.quiet && now - last_report > 2000000000u) {
            bench_log("setup: %d of %d sessions ready, %d failed", S.ready, S.n, S.failed);
            last_report = now;
        }
    }
    S.setup_done = true;
    *elapsed = secs(t0, bench_now_ns());
    *failed = S.failed;
    return S.failed == 0;
}

void
bench_poll_for(double seconds)
{
    uint64_t end = bench_now_ns() + (uint64_t)(seconds * NS);
    while (bench_now_ns() < end)
        client_poll(10);
}

void
bench_sessions_close(struct client *v, int n)
{
    uint64_t deadline = bench_now_ns() + CLOSE_TIMEOUT_NS;
    for (int i = 0; i < n; i++)
        client_close(&v[i], deadline);
    for (;;) {
        int open = 0;
        for (int i = 0; i < n; i++)
            if (v[i].state == CL_CLOSING || v[i].state == CL_READY)
                open++;
        if (open == 0)
            break;
        client_poll(20);
        client_check_deadlines(v, (size_t)n, bench_now_ns());
    }
}

struct client *
bench_clients_alloc(int n)
{
    struct client *v = xcalloc((size_t)n, sizeof *v);
    for (int i = 0; i < n; i++) {
        v[i].idx = i;
        v[i].fd = -1;
        v[i].user = bench_opt.user_offset + i;
    }
    return v;
}

void
bench_clients_free(struct client *v, int n)
{
    for (int i = 0; i < n; i++)
        client_reset(&v[i]);
    free(v);
}

const char *
bench_tls_name(void)
{
    return bench_opt.tls == BENCH_TLS_NONE ? "none"
           : bench_opt.tls == BENCH_TLS_STARTTLS ? "starttls" : "direct";
}

const char *
bench_mech_name(void)
{
    return bench_opt.mech == BENCH_MECH_PLAIN ? "PLAIN" : "SCRAM-SHA-256";
}

void
bench_result_begin(char *buf, size_t cap)
{
    snprintf(buf, cap, "RESULT scenario=%s server=%s tls=%s mech=%s", bench_opt.scenario,
             bench_opt.server, bench_tls_name(), bench_mech_name());
}

void
bench_print_failures(void)
{
    if (client_ctr.first_failure[0])
        printf("  first problem: %s\n", client_ctr.first_failure);
}

/* ---- login ---- */

static struct {
    struct client *v;
    long target;
    long started;
    long ok;
    long failed;
    long next_user;
    bool timed;
    uint64_t t_last;
    struct bench_hist lat;
} L;

static void
login_next(struct client *c)
{
    c->user = bench_opt.user_offset + (int)(L.next_user++ % bench_opt.users);
    L.started++;
    client_start(c, bench_now_ns() + LOGIN_TIMEOUT_NS);
}

static void
login_on_ready(struct client *c)
{
    if (L.timed)
        bench_hist_add(&L.lat, c->t_ready - c->t_start);
    client_close(c, bench_now_ns() + CLOSE_TIMEOUT_NS);
}

static void
login_on_end(struct client *c)
{
    if (c->t_ready)
        L.ok++;
    else
        L.failed++;
    L.t_last = bench_now_ns();
    if (L.started < L.target)
        login_next(c);
}

static double
login_phase(long n, bool timed)
{
    int slots = bench_opt.concurrency < n ? bench_opt.concurrency : (int)n;
    L.target = n;
    L.started = L.ok = L.failed = 0;
    L.timed = timed;
    uint64_t t0 = bench_now_ns();
    L.t_last = t0;
    for (int i = 0; i < slots; i++)
        login_next(&L.v[i]);
    uint64_t last_report = t0;
    while (L.ok + L.failed < n) {
        client_poll(20);
        uint64_t now = bench_now_ns();
        client_check_deadlines(L.v, (size_t)slots, now);
        if (!bench_opt.quiet && now - last_report > 2000000000u) {
            bench_log("login%s: %ld of %ld done", timed ? "" : " warm-up", L.ok + L.failed, n);
            last_report = now;
        }
    }
    return secs(t0, L.t_last);
}

int
scenario_login(void)
{
    static const struct client_hooks hooks = {login_on_ready, NULL, login_on_end, NULL, NULL};
    client_global_init(&hooks);
    int slots = bench_opt.concurrency;
    L.v = bench_clients_alloc(slots);
    bench_hist_init(&L.lat);
    long warm = bench_opt.warmup;
    if (warm < 0)
        warm = bench_opt.mech == BENCH_MECH_SCRAM_SHA_256 && !bench_opt.scram_cache
                   ? bench_opt.users
                   : 0;
    if (warm > 0) {
        bench_log("warm-up: %ld untimed logins (%d users)", warm, bench_opt.users);
        login_phase(warm, false);
        if (L.failed > 0) {
            printf("login warm-up: %ld of %ld failed\n", L.failed, warm);
            bench_print_failures();
        }
    }
    memset(&client_ctr, 0, sizeof client_ctr);
    L.next_user = 0;
    bench_log("login: %ld logins, %d at a time, %s, %s", bench_opt.n, slots, bench_tls_name(),
              bench_mech_name());
    struct bench_cpu cpu_start;
    struct bench_cpu cpu_end;
    bench_cpu_now(&cpu_start);
    double elapsed = login_phase(bench_opt.n, true);
    bench_cpu_now(&cpu_end);
    struct bench_cpu_delta used = bench_cpu_since(&cpu_start, &cpu_end);
    double rate = elapsed > 0 ? (double)L.ok / elapsed : 0;
    double cpu = used.server;
    char line[1024];
    bench_result_begin(line, sizeof line);
    printf("%s n=%ld concurrency=%d users=%d ok=%ld failed=%ld elapsed_s=%.3f logins_per_s=%.1f "
           "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f server_cpu_s=%.2f cpu_us_per_login=%.1f "
           "server_util=%.2f gen_util=%.2f scram_cache=%zu load1=%.2f\n",
           line, bench_opt.n, slots, bench_opt.users, L.ok, L.failed, elapsed, rate,
           bench_hist_quantile_us(&L.lat, 0.5) / 1000, bench_hist_quantile_us(&L.lat, 0.99) / 1000,
           (double)L.lat.max_ns / 1e6, cpu, cpu >= 0 && L.ok ? cpu * 1e6 / (double)L.ok : -1,
           cpu >= 0 && elapsed > 0 ? cpu / elapsed : -1,
           elapsed > 0 ? used.self / elapsed : -1, scram_cache_size(), bench_loadavg1());
    printf("login (%s): %ld logins in %.2f s = %.0f/s, latency p50 %.2f ms p99 %.2f ms, "
           "%ld failed%s\n",
           bench_opt.server, L.ok, elapsed, rate, bench_hist_quantile_us(&L.lat, 0.5) / 1000,
           bench_hist_quantile_us(&L.lat, 0.99) / 1000, L.failed,
           cpu >= 0 ? "" : " (no server CPU: pass --server-pid)");
    if (cpu >= 0 && L.ok)
        printf("  server CPU %.2f s = %.0f us per login (%.0f%% of a core)\n", cpu,
               cpu * 1e6 / (double)L.ok, 100 * cpu / elapsed);
    bench_print_failures();
    bench_hist_free(&L.lat);
    bench_clients_free(L.v, slots);
    client_global_free();
    return L.failed == 0 ? 0 : 1;
}

/* ---- messages and labelled ---- */

static struct {
    struct bench_flow f;
    int rr;                   /* rate mode: next sender */
    char *extra;              /* padding and label, after the body */
    size_t extra_len;
    char *pad;                /* --body-bytes of body text, or NULL */
    size_t pad_len;
} M;

static void
msg_send_one(struct client *c)
{
    char head[256];
    uint64_t seq = c->next_seq++;
    int n = snprintf(head, sizeof head, "<message to='%s' type='chat' id='m%llu'><body>pb:%llu:%llu",
                     c->peer->jid, (unsigned long long)seq, (unsigned long long)seq,
                     (unsigned long long)bench_now_ns());
    client_send(c, head, (size_t)n);
    if (M.pad) /* not in head: it may be far longer */
        client_send(c, M.pad, M.pad_len);
    client_send(c, "</body>", 7);
    if (M.extra_len)
        client_send(c, M.extra, M.extra_len);
    client_send(c, "</message>", 10);
    c->in_flight++;
    M.f.sent_total++;
}

static void
msg_top_up(struct client *c)
{
    while (c->state == CL_READY && c->in_flight < (uint64_t)bench_opt.window)
        msg_send_one(c);
}

/* Does c send? Both of a pair do, or with --one-way the even one. */
static bool
msg_is_sender(const struct client *c)
{
    return !bench_opt.one_way || (c->idx & 1) == 0;
}

static void
msg_on_message(struct client *r, const struct scan_item *it)
{
    const char *body = it->start + it->tag_len;
    size_t blen = it->len - it->tag_len;
    const char *p = scan_find(body, blen, "pb:", 3);
    if (!p) {
        if (scan_find(body, blen, "pq:", 3))
            r->peer->synced = true; /* the peer's probe: its messages reach us */
        return; /* not ours */
    }
    char *end;
    uint64_t seq = strtoull(p + 3, &end, 10);
    uint64_t ts = *end == ':' ? strtoull(end + 1, NULL, 10) : 0;
    struct client *s = r->peer;
    r->received++;
    if (bench_bitmap_test_set(&r->seen, seq))
        return; /* a duplicate */
    r->unique++;
    if (s->in_flight > 0)
        s->in_flight--;
    if (M.f.measuring) {
        uint64_t now = bench_now_ns();
        if (ts && now > ts)
            bench_hist_add(&M.f.lat, now - ts);
        M.f.delivered_window++;
    }
    if (M.f.flat && M.f.sending)
        msg_top_up(s);
}

static void
msg_rate_tick(uint64_t t0, uint64_t now)
{
    uint64_t due = (uint64_t)(bench_opt.rate * secs(t0, now));
    int step = bench_opt.one_way ? 2 : 1;
    int n = S.n / step;
    while (M.f.sent_total < due) {
        int tried = 0;
        while (tried < n) {
            struct client *c = &S.v[M.rr];
            M.rr = (M.rr + step) % S.n;
            tried++;
            if (c->state == CL_READY && c->in_flight < (uint64_t)bench_opt.window) {
                msg_send_one(c);
                break;
            }
        }
        if (tried == n && M.f.sent_total < due) {
            /* Every window is full: the server (or the generator) is behind. */
            M.f.backlog += due - M.f.sent_total;
            M.f.sent_total = due;
        }
    }
}

static bool
msg_build_extra(bool labelled)
{
    if (bench_opt.body_bytes > 0) {
        M.pad = xmalloc((size_t)bench_opt.body_bytes + 2);
        M.pad[0] = ' ';
        memset(M.pad + 1, 'x', (size_t)bench_opt.body_bytes);
        M.pad[bench_opt.body_bytes + 1] = '\0';
        M.pad_len = (size_t)bench_opt.body_bytes + 1;
    }
    if (labelled) {
        if (!bench_opt.label) {
            fprintf(stderr, "palisade-bench: --scenario labelled needs --label-file FILE\n");
            return false;
        }
        M.extra = xstrdup(bench_opt.label);
        M.extra_len = strlen(M.extra);
    }
    return true;
}

/* Before measuring, every sender's messages must reach its peer: in a cluster
 * the node a sender is on learns of a session on another node a moment after
 * the bind, and a chat message to a full JID it does not know yet would go to
 * the offline store. A probe is a headline (dropped, never stored, when the
 * JID has no session), resent until it arrives. */
static bool
msg_sync(double *elapsed)
{
    uint64_t t0 = bench_now_ns();
    uint64_t deadline = t0 + SYNC_TIMEOUT_NS;
    uint64_t last_send = 0;
    uint64_t last_report = t0;
    for (;;) {
        int waiting = 0;
        uint64_t now = bench_now_ns();
        bool resend = now - last_send >= SYNC_RESEND_NS;
        for (int i = 0; i < S.n; i++) {
            struct client *c = &S.v[i];
            if (!msg_is_sender(c) || c->synced)
                continue;
            waiting++;
            if (resend && c->state == CL_READY) {
                char probe[200];
                int n = snprintf(probe, sizeof probe,
                                 "<message to='%s' type='headline' id='q'><body>pq:</body>"
                                 "</message>",
                                 c->peer->jid);
                client_send(c, probe, (size_t)n);
            }
        }
        if (resend)
            last_send = now;
        if (waiting == 0) {
            *elapsed = secs(t0, bench_now_ns());
            return true;
        }
        if (now > deadline || client_ctr.failures > 0) {
            printf("%s: %d senders' probes did not reach their peers in %.0f s\n",
                   bench_opt.scenario, waiting, secs(t0, now));
            return false;
        }
        if (!bench_opt.quiet && now - last_report > 2000000000u) {
            bench_log("sync: %d senders still wait for their probe to arrive", waiting);
            last_report = now;
        }
        client_poll(10);
    }
}

int
scenario_messages(bool labelled)
{
    static const struct client_hooks hooks = {bench_setup_on_ready, msg_on_message,
                                               bench_setup_on_end, NULL, NULL};
    memset(&M, 0, sizeof M);
    if (!msg_build_extra(labelled))
        return 2;
    client_global_init(&hooks);
    int n_clients = 2 * bench_opt.pairs;
    struct client *clients = bench_clients_alloc(n_clients);
    for (int i = 0; i < n_clients; i++) {
        clients[i].peer = &clients[i ^ 1];
        clients[i].alt_port = bench_opt.peer_port > 0 && (i & 1);
    }
    bench_hist_init(&M.f.lat);
    M.f.flat = bench_opt.rate <= 0;
    bench_log("%s: %d pairs%s%s, %s, %s, %s", bench_opt.scenario, bench_opt.pairs,
              bench_opt.one_way ? " (one way)" : "",
              bench_opt.peer_port > 0 ? " (receivers on --peer-port)" : "", bench_tls_name(),
              bench_mech_name(), M.f.flat ? "flat out" : "fixed rate");
    double setup_s;
    double sync_s = 0;
    int failed = 0;
    int rc = 0;
    if (!bench_sessions_setup(clients, n_clients, &setup_s, &failed)) {
        printf("%s: %d of %d sessions failed to log in\n", bench_opt.scenario, failed,
               n_clients);
        bench_print_failures();
        rc = 1;
        goto out;
    }
    bench_poll_for(0.3); /* presence echoes, disco#info from the server */
    if (!msg_sync(&sync_s)) {
        bench_print_failures();
        rc = 1;
        bench_sessions_close(S.v, S.n);
        goto out;
    }
    bench_log("sync: every sender reaches its peer (%.2f s)", sync_s);
    bench_poll_for(0.1); /* late probe copies */
    for (int i = 0; i < S.n; i++)
        S.v[i].next_seq = 1;
    M.f.sending = true;
    uint64_t t0 = bench_now_ns();
    if (M.f.flat)
        for (int i = 0; i < S.n; i++)
            if (msg_is_sender(&S.v[i]))
                msg_top_up(&S.v[i]);
    struct bench_window w;
    bench_run_window(&M.f, t0, msg_rate_tick, &w);
    const struct bench_cpu_delta used = w.cpu;
    const uint64_t delivered = w.delivered;
    const uint64_t sent_window = w.sent;
    const uint64_t backlog = w.backlog;
    const double window_s = w.seconds;

    /* Drain: everything sent must arrive, once. */
    uint64_t drain_end = bench_now_ns() + DRAIN_TIMEOUT_NS;
    for (;;) {
        uint64_t left = 0;
        for (int i = 0; i < S.n; i++)
            left += S.v[i].in_flight;
        if (left == 0 || bench_now_ns() > drain_end || client_ctr.failures > 0)
            break;
        client_poll(10);
    }
    uint64_t sent = 0;
    uint64_t unique = 0;
    uint64_t received = 0;
    for (int i = 0; i < S.n; i++) {
        sent += S.v[i].next_seq - 1;
        unique += S.v[i].unique;
        received += S.v[i].received;
    }
    uint64_t lost = sent - unique;
    uint64_t dup = received - unique;
    double cpu = used.server;
    double sys_share = used.sys_share;
    double rate = window_s > 0 ? (double)delivered / window_s : 0;
    char line[1400];
    bench_result_begin(line, sizeof line);
    printf("%s pairs=%d one_way=%d peer_port=%d rate=%.0f window=%d body_bytes=%d label=%s "
           "sync_s=%.2f duration_s=%.2f sent=%llu "
           "delivered=%llu msgs_per_s=%.1f offered_per_s=%.1f backlog=%llu p50_us=%.0f "
           "p99_us=%.0f max_us=%.0f lost=%llu dup=%llu errors=%llu server_cpu_s=%.3f "
           "cpu_us_per_msg=%.2f server_sys_share=%.2f server_util=%.2f gen_util=%.2f load1=%.2f\n",
           line, bench_opt.pairs, bench_opt.one_way, bench_opt.peer_port, bench_opt.rate,
           bench_opt.window, bench_opt.body_bytes, labelled ? "yes" : "no", sync_s, window_s,
           (unsigned long long)sent,
           (unsigned long long)delivered, rate,
           window_s > 0 ? (double)sent_window / window_s : 0, (unsigned long long)backlog,
           bench_hist_quantile_us(&M.f.lat, 0.5), bench_hist_quantile_us(&M.f.lat, 0.99),
           (double)M.f.lat.max_ns / 1000, (unsigned long long)lost, (unsigned long long)dup,
           (unsigned long long)(client_ctr.stanza_errors + client_ctr.stream_errors +
                                client_ctr.failures),
           cpu, cpu >= 0 && delivered ? cpu * 1e6 / (double)delivered : -1, sys_share,
           cpu >= 0 && window_s > 0 ? cpu / window_s : -1,
           window_s > 0 ? used.self / window_s : -1, bench_loadavg1());
    printf("%s (%s): %.0f delivered msgs/s over %.1f s (%s), latency p50 %.0f us p99 %.0f us, "
           "lost %llu, duplicated %llu\n",
           bench_opt.scenario, bench_opt.server, rate, window_s,
           M.f.flat ? "flat out" : "fixed rate", bench_hist_quantile_us(&M.f.lat, 0.5),
           bench_hist_quantile_us(&M.f.lat, 0.99), (unsigned long long)lost,
           (unsigned long long)dup);
    if (cpu >= 0 && delivered)
        printf("  server CPU %.2f s = %.2f us per delivered message (%.0f%% of a core, %.0f%% "
               "in the kernel); generator %.0f%% of a core\n",
               cpu, cpu * 1e6 / (double)delivered, 100 * cpu / window_s, 100 * sys_share,
               100 * used.self / window_s);
    if (backlog)
        printf("  %llu sends skipped: every window was full (the offered rate was not met)\n",
               (unsigned long long)backlog);
    bench_print_failures();
    if (lost || dup || client_ctr.failures || client_ctr.stanza_errors ||
        client_ctr.stream_errors)
        rc = 1;
    bench_sessions_close(S.v, S.n);
out:
    bench_hist_free(&M.f.lat);
    free(M.extra);
    free(M.pad);
    bench_clients_free(clients, n_clients);
    client_global_free();
    return rc;
}

/* ---- idle ---- */

static long
server_rss(void)
{
    return bench_opt.n_pids > 0 ? bench_proc_rss_kib(bench_opt.pids[0]) : -1;
}

int
scenario_idle(void)
{
    static const struct client_hooks hooks = {bench_setup_on_ready, NULL, bench_setup_on_end,
                                               NULL, NULL};
    client_global_init(&hooks);
    S.n = (int)bench_opt.n;
    S.v = bench_clients_alloc(S.n);
    S.ready = 0;
    int rc = 0;
    bench_log("idle: %d sessions, %s, %s", S.n, bench_tls_name(), bench_mech_name());
    bench_poll_for(bench_opt.settle);
    long rss0 = server_rss();
    double setup_s;
    int failed = 0;
    bool ok = bench_sessions_setup(S.v, S.n, &setup_s, &failed);
    bench_poll_for(bench_opt.settle);
    long rss1 = server_rss();
    double cpu0 = bench_servers_cpu_s();
    uint64_t failures0 = client_ctr.failures;
    if (bench_opt.hold > 0)
        bench_poll_for(bench_opt.hold);
    double cpu1 = bench_servers_cpu_s();
    uint64_t dropped = client_ctr.failures - failures0;
    int still = 0;
    for (int i = 0; i < S.n; i++)
        still += S.v[i].state == CL_READY;
    double kib = rss0 >= 0 && rss1 >= 0 && S.ready > 0 ? (double)(rss1 - rss0) / S.ready : -1;
    char line[1024];
    bench_result_begin(line, sizeof line);
    printf("%s n=%d ready=%d failed=%d setup_s=%.2f setup_per_s=%.1f rss_before_kib=%ld "
           "rss_after_kib=%ld kib_per_session=%.2f hold_s=%.1f dropped=%llu still_up=%d "
           "idle_cpu_s=%.3f load1=%.2f\n",
           line, S.n, S.ready, S.failed, setup_s, setup_s > 0 ? S.ready / setup_s : 0, rss0,
           rss1, kib, bench_opt.hold, (unsigned long long)dropped, still,
           cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1, bench_loadavg1());
    printf("idle (%s): %d of %d sessions up in %.1f s; server RSS %ld -> %ld KiB = %.1f KiB per "
           "session; %d still up after %.0f s\n",
           bench_opt.server, S.ready, S.n, setup_s, rss0, rss1, kib, still, bench_opt.hold);
    bench_print_failures();
    if (!ok || dropped || still != S.n)
        rc = 1;
    bench_sessions_close(S.v, S.n);
    bench_clients_free(S.v, S.n);
    client_global_free();
    return rc;
}
