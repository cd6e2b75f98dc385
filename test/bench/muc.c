/* SPDX-License-Identifier: Apache-2.0 */
/* muc.c - `--scenario muc`: multi-user chat fan-out (XEP-0045). R rooms of M
 * occupants: the first occupant of each room creates it (presence to
 * room/nick; on status 201 it accepts the instant room with an empty
 * muc#owner form), then the others join, each with <history maxstanzas='0'/>
 * so no old messages arrive. Once every occupant has seen all M occupants'
 * presence, S occupants per room post groupchat messages, flat out (W in
 * flight per sender: a message counts as in flight until the room reflects it
 * back to its sender) or at R messages/s in total. A message's body holds the
 * sender's slot, a sequence number and the send time; every occupant,
 * sender included, must receive every message of its room once:
 * deliveries = messages x M. Reported: deliveries/s, latency of each delivery
 * from the timestamp, lost and duplicated deliveries (per receiver and
 * sender, by sequence number, after a drain), server CPU per delivery. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

#define NS 1e9
#define PHASE_TIMEOUT_NS (60ull * 1000000000u)
#define DRAIN_TIMEOUT_NS (15ull * 1000000000u)
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"

/* One occupant (the client of the same index). */
struct muc_occ {
    int room;
    int slot;
    char ojid[192];              /* room@service/nick */
    size_t ojid_len;
    bool join_sent;
    bool joined;                 /* our own presence came back from the room */
    bool created;                /* with status 201 */
    bool configured;             /* the instant room was accepted (or not needed) */
    int presences;               /* available presences from our room */
    struct bench_bitmap *seen;   /* [senders]: seqs received from each sender */
};

static struct {
    struct client *v;
    struct muc_occ *o;
    int n;
    int rooms;
    int occ;                     /* M */
    int senders;                 /* S */
    char room_prefix[64];
    const char *service;
    struct bench_flow f;         /* sent_total counts messages, for the rate */
    uint64_t received;
    uint64_t unique;
    uint64_t foreign;            /* groupchat bodies we cannot place */
    int rr;
} U;

static double
secs(uint64_t a, uint64_t b)
{
    return (double)(b - a) / NS;
}

static void
room_jid(int room, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%d@%s", U.room_prefix, room, U.service);
}

static struct client *
sender_client(int room, int slot)
{
    return &U.v[room * U.occ + slot];
}

static bool
has_status(const struct scan_item *it, const char *code)
{
    char a[32];
    char b[32];
    snprintf(a, sizeof a, "code='%s'", code);
    snprintf(b, sizeof b, "code=\"%s\"", code);
    return scan_find(it->start, it->len, a, strlen(a)) ||
           scan_find(it->start, it->len, b, strlen(b));
}

/* ---- joining ---- */

static void
muc_send_join(struct client *c)
{
    struct muc_occ *o = &U.o[c->idx];
    char out[400];
    int n = snprintf(out, sizeof out,
                     "<presence to='%s'><x xmlns='" NS_MUC "'><history maxstanzas='0'/></x>"
                     "</presence>",
                     o->ojid);
    client_send(c, out, (size_t)n);
    o->join_sent = true;
}

static void
muc_send_instant(struct client *c)
{
    char room[160];
    char out[400];
    room_jid(U.o[c->idx].room, room, sizeof room);
    int n = snprintf(out, sizeof out,
                     "<iq type='set' to='%s' id='inst%d'><query xmlns='" NS_MUC_OWNER "'>"
                     "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
                     room, c->idx);
    client_send(c, out, (size_t)n);
}

static void
muc_on_presence(struct client *c, const struct scan_item *it)
{
    struct muc_occ *o = &U.o[c->idx];
    const char *from;
    size_t flen;
    if (!scan_attr(it->start, it->tag_len, "from", &from, &flen))
        return;
    if (client_type_is(it, "unavailable") || client_type_is(it, "error"))
        return;
    /* Our room's: "room@service/" + nick; room = ojid up to its '/'. */
    const char *slash = strchr(o->ojid, '/');
    size_t rlen = (size_t)(slash - o->ojid) + 1;
    if (flen < rlen || memcmp(from, o->ojid, rlen) != 0)
        return;
    o->presences++;
    if (flen != o->ojid_len || memcmp(from, o->ojid, flen) != 0 || o->joined)
        return;
    o->joined = true;
    if (has_status(it, "201")) {
        o->created = true;
        muc_send_instant(c);
    } else {
        o->configured = true;
    }
}

static void
muc_on_iq_result(struct client *c, const struct scan_item *it)
{
    const char *id;
    size_t idlen;
    if (!scan_attr(it->start, it->tag_len, "id", &id, &idlen) || idlen < 4 ||
        memcmp(id, "inst", 4) != 0)
        return;
    if (client_type_is(it, "result"))
        U.o[c->idx].configured = true;
    /* An error was counted by client.c; the phase gives up on it. */
}

/* Polls until done() holds for every occupant (or a failure, an error or the
 * timeout): true when it did. */
static bool
muc_wait(const char *what, bool (*done)(const struct muc_occ *o), bool only_owners)
{
    uint64_t t0 = bench_now_ns();
    uint64_t last_report = t0;
    for (;;) {
        int missing = 0;
        for (int i = 0; i < U.n; i++) {
            if (only_owners && U.o[i].slot != 0)
                continue;
            if (!done(&U.o[i]))
                missing++;
        }
        if (missing == 0)
            return true;
        uint64_t now = bench_now_ns();
        if (client_ctr.failures > 0 || client_ctr.stanza_errors > 0 ||
            client_ctr.stream_errors > 0) {
            printf("muc: %s: gave up, %d occupants not done after an error\n", what, missing);
            return false;
        }
        if (now - t0 > PHASE_TIMEOUT_NS) {
            printf("muc: %s: %d occupants not done after %.0f s\n", what, missing,
                   secs(t0, now));
            return false;
        }
        if (!bench_opt.quiet && now - last_report > 2000000000u) {
            bench_log("%s: %d occupants to go", what, missing);
            last_report = now;
        }
        client_poll(10);
    }
}

static bool
is_configured(const struct muc_occ *o)
{
    return o->joined && o->configured;
}

static bool
is_joined(const struct muc_occ *o)
{
    return o->joined;
}

static bool
sees_everyone(const struct muc_occ *o)
{
    return o->presences >= U.occ;
}

/* ---- messages ---- */

static void
muc_send_one(struct client *c)
{
    struct muc_occ *o = &U.o[c->idx];
    char room[160];
    char out[400];
    room_jid(o->room, room, sizeof room);
    uint64_t seq = c->next_seq++;
    int n = snprintf(out, sizeof out,
                     "<message to='%s' type='groupchat' id='g%llu'><body>pm:%d:%llu:%llu</body>"
                     "</message>",
                     room, (unsigned long long)seq, o->slot, (unsigned long long)seq,
                     (unsigned long long)bench_now_ns());
    client_send(c, out, (size_t)n);
    c->in_flight++;
    U.f.sent_total++;
}

static void
muc_top_up(struct client *c)
{
    while (c->state == CL_READY && c->in_flight < (uint64_t)bench_opt.window)
        muc_send_one(c);
}

static void
muc_on_message(struct client *r, const struct scan_item *it)
{
    const char *p = scan_find(it->start + it->tag_len, it->len - it->tag_len, "pm:", 3);
    if (!p)
        return; /* the subject, a status message: not ours */
    struct muc_occ *o = &U.o[r->idx];
    char *end;
    unsigned long slot = strtoul(p + 3, &end, 10);
    uint64_t seq = *end == ':' ? strtoull(end + 1, &end, 10) : 0;
    uint64_t ts = *end == ':' ? strtoull(end + 1, NULL, 10) : 0;
    if (slot >= (unsigned long)U.senders || seq == 0) {
        U.foreign++;
        return;
    }
    U.received++;
    if (bench_bitmap_test_set(&o->seen[slot], seq))
        return; /* a duplicate */
    U.unique++;
    struct client *s = sender_client(o->room, (int)slot);
    if (s == r && s->in_flight > 0) {
        s->in_flight--; /* the reflection: the room has taken it */
        if (U.f.flat && U.f.sending)
            muc_top_up(s);
    }
    if (U.f.measuring) {
        uint64_t now = bench_now_ns();
        if (ts && now > ts)
            bench_hist_add(&U.f.lat, now - ts);
        U.f.delivered_window++;
    }
}

static void
muc_rate_tick(uint64_t t0, uint64_t now)
{
    uint64_t due = (uint64_t)(bench_opt.rate * secs(t0, now));
    int n = U.rooms * U.senders;
    while (U.f.sent_total < due) {
        int tried = 0;
        while (tried < n) {
            int k = U.rr;
            U.rr = (U.rr + 1) % n;
            tried++;
            struct client *c = sender_client(k % U.rooms, k / U.rooms);
            if (c->state == CL_READY && c->in_flight < (uint64_t)bench_opt.window) {
                muc_send_one(c);
                break;
            }
        }
        if (tried == n && U.f.sent_total < due) {
            U.f.backlog += due - U.f.sent_total;
            U.f.sent_total = due;
        }
    }
}

static uint64_t
muc_expected(void)
{
    uint64_t sent = 0;
    for (int k = 0; k < U.rooms; k++)
        for (int s = 0; s < U.senders; s++)
            sent += sender_client(k, s)->next_seq - 1;
    return sent;
}

int
scenario_muc(void)
{
    static const struct client_hooks hooks = {bench_setup_on_ready, muc_on_message,
                                               bench_setup_on_end, muc_on_presence,
                                               muc_on_iq_result};
    memset(&U, 0, sizeof U);
    U.rooms = bench_opt.rooms;
    U.occ = bench_opt.occupants;
    U.senders = bench_opt.room_senders < U.occ ? bench_opt.room_senders : U.occ;
    U.n = U.rooms * U.occ;
    U.f.flat = bench_opt.rate <= 0;
    if (bench_opt.room_prefix)
        snprintf(U.room_prefix, sizeof U.room_prefix, "%s", bench_opt.room_prefix);
    else
        snprintf(U.room_prefix, sizeof U.room_prefix, "bench%ldr", (long)getpid());
    char service[128];
    if (bench_opt.muc_domain)
        snprintf(service, sizeof service, "%s", bench_opt.muc_domain);
    else
        snprintf(service, sizeof service, "conference.%s", bench_opt.domain);
    U.service = service;

    client_global_init(&hooks);
    U.v = bench_clients_alloc(U.n);
    U.o = xcalloc((size_t)U.n, sizeof *U.o);
    for (int i = 0; i < U.n; i++) {
        struct muc_occ *o = &U.o[i];
        o->room = i / U.occ;
        o->slot = i % U.occ;
        char room[160];
        room_jid(o->room, room, sizeof room);
        snprintf(o->ojid, sizeof o->ojid, "%s/o%d", room, o->slot);
        o->ojid_len = strlen(o->ojid);
        o->seen = xcalloc((size_t)U.senders, sizeof *o->seen);
    }
    bench_hist_init(&U.f.lat);
    bench_log("muc: %d rooms of %d occupants (%d sessions), %d senders per room, %s, %s, %s",
              U.rooms, U.occ, U.n, U.senders, bench_tls_name(), bench_mech_name(),
              U.f.flat ? "flat out" : "fixed rate");
    int rc = 0;
    double setup_s;
    int failed = 0;
    if (!bench_sessions_setup(U.v, U.n, &setup_s, &failed)) {
        printf("muc: %d of %d sessions failed to log in\n", failed, U.n);
        bench_print_failures();
        rc = 1;
        goto out;
    }
    bench_poll_for(0.3); /* presence echoes, disco#info from the server */

    uint64_t tj = bench_now_ns();
    bench_log("muc: creating %d rooms %s0..%d@%s (instant rooms)", U.rooms, U.room_prefix,
              U.rooms - 1, U.service);
    for (int k = 0; k < U.rooms; k++)
        muc_send_join(sender_client(k, 0));
    if (!muc_wait("creating rooms", is_configured, true)) {
        bench_print_failures();
        rc = 1;
        goto close;
    }
    bench_log("muc: %d occupants joining", U.n - U.rooms);
    for (int i = 0; i < U.n; i++)
        if (!U.o[i].join_sent)
            muc_send_join(&U.v[i]);
    if (!muc_wait("joining", is_joined, false) ||
        !muc_wait("presence of every occupant", sees_everyone, false)) {
        bench_print_failures();
        rc = 1;
        goto close;
    }
    double join_s = secs(tj, bench_now_ns());
    bench_log("muc: every occupant in its room and seeing the others (%.2f s)", join_s);
    bench_poll_for(0.2);

    for (int i = 0; i < U.n; i++)
        U.v[i].next_seq = 1;
    U.f.sending = true;
    uint64_t t0 = bench_now_ns();
    if (U.f.flat)
        for (int k = 0; k < U.rooms; k++)
            for (int s = 0; s < U.senders; s++)
                muc_top_up(sender_client(k, s));
    struct bench_window w;
    bench_run_window(&U.f, t0, muc_rate_tick, &w);
    const struct bench_cpu_delta used = w.cpu;
    const uint64_t delivered = w.delivered;
    const uint64_t sent_window = w.sent;
    const uint64_t backlog = w.backlog;
    const double window_s = w.seconds;

    /* Drain: every message must reach every occupant of its room, once. */
    uint64_t drain_end = bench_now_ns() + DRAIN_TIMEOUT_NS;
    while (U.unique < muc_expected() * (uint64_t)U.occ && bench_now_ns() < drain_end &&
           client_ctr.failures == 0)
        client_poll(10);
    uint64_t sent = muc_expected();
    uint64_t expected = sent * (uint64_t)U.occ;
    uint64_t lost = expected > U.unique ? expected - U.unique : 0;
    uint64_t dup = U.received - U.unique;
    double cpu = used.server;
    double sys_share = used.sys_share;
    double rate = window_s > 0 ? (double)delivered / window_s : 0;
    uint64_t errors = client_ctr.stanza_errors + client_ctr.stream_errors + client_ctr.failures;
    char line[1400];
    bench_result_begin(line, sizeof line);
    printf("%s rooms=%d occupants=%d senders=%d rate=%.0f window=%d join_s=%.2f "
           "duration_s=%.2f sent=%llu deliveries=%llu deliveries_per_s=%.1f msgs_per_s=%.1f "
           "offered_per_s=%.1f backlog=%llu p50_us=%.0f p99_us=%.0f max_us=%.0f lost=%llu "
           "dup=%llu foreign=%llu errors=%llu server_cpu_s=%.3f cpu_us_per_delivery=%.2f "
           "server_sys_share=%.2f server_util=%.2f gen_util=%.2f load1=%.2f\n",
           line, U.rooms, U.occ, U.senders, bench_opt.rate, bench_opt.window, join_s, window_s,
           (unsigned long long)sent, (unsigned long long)delivered, rate, rate / U.occ,
           window_s > 0 ? (double)sent_window / window_s : 0, (unsigned long long)backlog,
           bench_hist_quantile_us(&U.f.lat, 0.5), bench_hist_quantile_us(&U.f.lat, 0.99),
           (double)U.f.lat.max_ns / 1000, (unsigned long long)lost, (unsigned long long)dup,
           (unsigned long long)U.foreign, (unsigned long long)errors, cpu,
           cpu >= 0 && delivered ? cpu * 1e6 / (double)delivered : -1, sys_share,
           cpu >= 0 && window_s > 0 ? cpu / window_s : -1,
           window_s > 0 ? used.self / window_s : -1, bench_loadavg1());
    printf("muc (%s): %.0f deliveries/s (%.0f msgs/s x %d occupants) over %.1f s (%s), latency "
           "p50 %.0f us p99 %.0f us, lost %llu, duplicated %llu\n",
           bench_opt.server, rate, rate / U.occ, U.occ, window_s,
           U.f.flat ? "flat out" : "fixed rate", bench_hist_quantile_us(&U.f.lat, 0.5),
           bench_hist_quantile_us(&U.f.lat, 0.99), (unsigned long long)lost,
           (unsigned long long)dup);
    if (cpu >= 0 && delivered)
        printf("  server CPU %.2f s = %.2f us per delivery (%.0f%% of a core, %.0f%% in the "
               "kernel); generator %.0f%% of a core\n",
               cpu, cpu * 1e6 / (double)delivered, 100 * cpu / window_s, 100 * sys_share,
               100 * used.self / window_s);
    if (backlog)
        printf("  %llu sends skipped: every window was full (the offered rate was not met)\n",
               (unsigned long long)backlog);
    if (U.foreign)
        printf("  %llu groupchat messages with a body this run did not send\n",
               (unsigned long long)U.foreign);
    bench_print_failures();
    if (lost || dup || U.foreign || errors)
        rc = 1;
close:
    bench_sessions_close(U.v, U.n);
out:
    bench_hist_free(&U.f.lat);
    for (int i = 0; i < U.n; i++) {
        for (int s = 0; s < U.senders; s++)
            bench_bitmap_free(&U.o[i].seen[s]);
        free(U.o[i].seen);
    }
    free(U.o);
    bench_clients_free(U.v, U.n);
    client_global_free();
    return rc;
}
