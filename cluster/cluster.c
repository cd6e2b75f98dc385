/* SPDX-License-Identifier: Apache-2.0 */
/* cluster.c - the cluster transport object: settings, the ZeroMQ context, our
 * ROUTER (CURVE server, bound at our endpoint, receiving from every peer), the
 * membership from the directory, and the event-loop glue. Per-peer link logic
 * is in link.c, the ZAP handler in zap.c, the codec in msg.c.
 *
 * ZeroMQ sockets meet the loop through their ZMQ_FD, which is an edge-style
 * "something changed" signal: the fd callbacks and a before-sleep hook read
 * ZMQ_EVENTS and drain while it reports input, with a budget per pass (a 0 ms
 * timer keeps the loop from sleeping while input is left). The hook, in order:
 * liveness check (a loop that was stalled longer than dead_after_ms declares
 * its silent peers down before it reads their stale messages), ZAP requests,
 * the ROUTER, then every peer's pending sends and acknowledgements. */
#include "cluster/cluster_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#define DEFAULT_HEARTBEAT_MS 200
#define DEFAULT_DEAD_AFTER_MS 1500
#define DEFAULT_HWM 1000
#define DEFAULT_MAX_QUEUE 10000
#define DEFAULT_MAX_FRAME (16u << 20)
#define MAX_FRAME_LIMIT (1u << 30)
#define DRAIN_BUDGET 1024
#define HANDSHAKE_IVL_MS 5000 /* a connection must finish CURVE + ZAP by then */
#define DROP_LOG_EVERY_MS 1000

uint64_t
cluster_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
realtime_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct cluster_peer *
cluster_peer_by_name(const struct cluster *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->n_peers; i++)
        if (strcmp(c->peers[i]->name, name) == 0)
            return c->peers[i];
    return NULL;
}

struct cluster_peer *
cluster_peer_by_key(const struct cluster *c, const uint8_t key[32])
{
    size_t i;

    for (i = 0; i < c->n_peers; i++)
        if (memcmp(c->peers[i]->key, key, 32) == 0)
            return c->peers[i];
    return NULL;
}

void
cluster_note_drop(struct cluster *c, const char *what, const char *from)
{
    uint64_t now = cluster_now_ms();

    c->n_dropped++;
    if (c->last_drop_log != 0 && now - c->last_drop_log < DROP_LOG_EVERY_MS) {
        log_debug("cluster drop reason=%s from=%s", what, from);
        return;
    }
    c->last_drop_log = now;
    log_warn("cluster drop reason=%s from=%s dropped_total=%" PRIu64, what, from, c->n_dropped);
}

/*
 * Validation.
 */

static bool
name_is_valid(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || strlen(s) > CLUSTER_NAME_MAX)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    }
    return true;
}

/* tcp://host:port (host a name, an IPv4 address, [IPv6] or *) or ipc:///path. */
static bool
endpoint_is_valid(const char *s)
{
    const char *colon;
    const char *q;
    long port;
    char *end;

    if (s == NULL || strlen(s) > CLUSTER_ENDPOINT_MAX)
        return false;
    if (strncmp(s, "ipc://", 6) == 0)
        return s[6] != '\0' && strlen(s + 6) < 108; /* sun_path */
    if (strncmp(s, "tcp://", 6) != 0)
        return false;
    colon = strrchr(s + 6, ':');
    if (colon == NULL || colon == s + 6)
        return false;
    for (q = s + 6; q < colon; q++)
        if (*q == '/' || *q == ' ')
            return false;
    port = strtol(colon + 1, &end, 10);
    return colon[1] != '\0' && *end == '\0' && port > 0 && port <= 65535;
}

static bool
key_decode(const char *z85, uint8_t out[32])
{
    return z85 != NULL && strlen(z85) == CLUSTER_KEY_Z85_LEN && zmq_z85_decode(out, z85) != NULL;
}

/*
 * The ROUTER.
 */

void
cluster_setopt_int(void *s, int opt, int v)
{
    if (zmq_setsockopt(s, opt, &v, sizeof(v)) != 0)
        log_warn("cluster setsockopt-failed option=%d error=%s", opt, zmq_strerror(zmq_errno()));
}

/* No ZMTP heartbeats (ZMQ_HEARTBEAT_*): in libzmq 4.3.4 a connection whose
 * input is stopped by the high-water mark and then closed by the peer sets
 * the engine's _io_error, and the next heartbeat timer or buffered PING calls
 * out_event(), which asserts !_io_error and aborts the whole process
 * (stream_engine_base.cpp; seen in test_cluster's lost-connection test). Our
 * own heartbeats decide liveness; a down link gets a new socket. TCP
 * keepalive only reaps connections of vanished hosts. */
void
cluster_socket_common(void *s)
{
    cluster_setopt_int(s, ZMQ_LINGER, 0);
    cluster_setopt_int(s, ZMQ_HANDSHAKE_IVL, HANDSHAKE_IVL_MS);
    cluster_setopt_int(s, ZMQ_TCP_KEEPALIVE, 1);
    cluster_setopt_int(s, ZMQ_TCP_KEEPALIVE_IDLE, 10);
    cluster_setopt_int(s, ZMQ_TCP_KEEPALIVE_INTVL, 5);
    cluster_setopt_int(s, ZMQ_TCP_KEEPALIVE_CNT, 3);
}

static void router_drain(struct cluster *c);

static void
on_router_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    router_drain(arg);
}

static int
router_open(struct cluster *c)
{
    size_t sz = sizeof(c->router_fd);
    int64_t maxmsg = (int64_t)c->max_frame_bytes;
    void *s;

    s = zmq_socket(c->ctx, ZMQ_ROUTER);
    if (s == NULL)
        goto fail;
    cluster_socket_common(s);
    cluster_setopt_int(s, ZMQ_RCVHWM, c->hwm);
    cluster_setopt_int(s, ZMQ_CURVE_SERVER, 1);
    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->secret_z85, CLUSTER_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, CLUSTER_ZAP_DOMAIN, strlen(CLUSTER_ZAP_DOMAIN)) != 0)
        goto fail;
    if (zmq_getsockopt(s, ZMQ_FD, &c->router_fd, &sz) != 0)
        goto fail;
    if (ev_add_fd(c->loop, c->router_fd, EV_READ, on_router_fd, c) != PAL_OK)
        goto fail;
    c->router = s;
    return PAL_OK;
fail:
    log_error("cluster router-failed error=%s", zmq_strerror(zmq_errno()));
    if (s != NULL)
        zmq_close(s);
    c->router_fd = -1;
    return PAL_EIO;
}

static void
router_close(struct cluster *c)
{
    if (c->router == NULL)
        return;
    ev_del_fd(c->loop, c->router_fd);
    zmq_close(c->router);
    c->router = NULL;
    c->router_fd = -1;
}

/* Binds the ROUTER at want (unbinding what it had). */
static int
router_bind(struct cluster *c, const char *want)
{
    if (c->bound != NULL && strcmp(c->bound, want) == 0)
        return PAL_OK;
    if (c->router == NULL && router_open(c) != PAL_OK)
        return PAL_EIO;
    if (c->bound != NULL) {
        if (zmq_unbind(c->router, c->bound) != 0)
            log_warn("cluster unbind-failed endpoint=%s error=%s", c->bound,
                     zmq_strerror(zmq_errno()));
        free(c->bound);
        c->bound = NULL;
    }
    if (zmq_bind(c->router, want) != 0) {
        log_error("cluster bind-failed endpoint=%s error=%s", want, zmq_strerror(zmq_errno()));
        return PAL_EIO;
    }
    c->bound = xstrdup(want);
    log_notice("cluster listening node=%s endpoint=%s epoch=%" PRIu64, c->self_name, want,
               c->epoch);
    return PAL_OK;
}

static bool
recv_frame(void *s, zmq_msg_t *m)
{
    zmq_msg_init(m);
    if (zmq_msg_recv(m, s, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(m);
        return false;
    }
    return true;
}

/* One message from the ROUTER: routing id, header, application frames. The
 * sender is who ZAP said the connection's key belongs to (User-Id plus the
 * key), checked against the membership of now. */
static void
router_handle(struct cluster *c, zmq_msg_t *f, size_t nf, bool is_too_long)
{
    struct cluster_frame frames[CLUSTER_MAX_FRAMES];
    struct cluster_header h;
    struct cluster_peer *p;
    const char *user;
    const char *key;
    size_t i;
    int rc;

    if (nf < 2) {
        cluster_note_drop(c, "no-header", "?");
        return;
    }
    user = zmq_msg_gets(&f[1], "User-Id");
    key = zmq_msg_gets(&f[1], CLUSTER_ZAP_KEY_PROP);
    if (user == NULL || key == NULL) {
        cluster_note_drop(c, "unauthenticated", "?");
        return;
    }
    p = cluster_peer_by_name(c, user);
    if (p == NULL || strcmp(p->key_z85, key) != 0) {
        cluster_note_drop(c, "not-a-member", user);
        return;
    }
    if (is_too_long) {
        cluster_note_drop(c, "too-many-frames", user);
        return;
    }
    rc = cluster_msg_header_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &h);
    if (rc == PAL_ERANGE) {
        log_warn("cluster drop reason=version from=%s version=%u ours=%u", user, h.version,
                 CLUSTER_PROTO_VERSION);
        c->n_dropped++;
        return;
    }
    if (rc != PAL_OK || (h.kind != CLUSTER_KIND_DATA && nf > 2)) {
        cluster_note_drop(c, "malformed", user);
        return;
    }
    for (i = 2; i < nf; i++) {
        frames[i - 2].data = zmq_msg_data(&f[i]);
        frames[i - 2].len = zmq_msg_size(&f[i]);
    }
    cluster_link_input(p, &h, frames, nf - 2);
}

static void
on_kick(struct ev_loop *loop, void *arg)
{
    struct cluster *c = arg;

    (void)loop;
    c->kick_timer = 0;
}

static void
router_drain(struct cluster *c)
{
    zmq_msg_t f[2 + CLUSTER_MAX_FRAMES];
    zmq_msg_t extra;
    size_t budget;
    size_t nf;
    size_t i;
    bool is_too_long;
    bool more;
    int events;
    size_t sz;

    if (c->router == NULL)
        return;
    for (budget = DRAIN_BUDGET; budget > 0; budget--) {
        sz = sizeof(events);
        if (zmq_getsockopt(c->router, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN))
            return;
        nf = 0;
        is_too_long = false;
        do {
            if (nf < 2 + CLUSTER_MAX_FRAMES) {
                if (!recv_frame(c->router, &f[nf]))
                    break;
                more = zmq_msg_more(&f[nf]);
                nf++;
            } else {
                if (!recv_frame(c->router, &extra))
                    break;
                more = zmq_msg_more(&extra);
                zmq_msg_close(&extra);
                is_too_long = true;
            }
        } while (more);
        if (nf == 0)
            return;
        router_handle(c, f, nf, is_too_long);
        for (i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
    }
    /* Budget spent with input left: poll without sleeping next time. */
    sz = sizeof(events);
    if (c->kick_timer == 0 && zmq_getsockopt(c->router, ZMQ_EVENTS, &events, &sz) == 0 &&
        (events & ZMQ_POLLIN))
        c->kick_timer = ev_timer_add(c->loop, 0, on_kick, c);
}

/*
 * Loop glue.
 */

static void
on_before_sleep(struct ev_loop *loop, void *arg)
{
    struct cluster *c = arg;
    uint64_t now = cluster_now_ms();
    size_t i;

    (void)loop;
    for (i = 0; i < c->n_peers; i++)
        cluster_link_check(c->peers[i], now);
    cluster_zap_drain(c);
    router_drain(c);
    for (i = 0; i < c->n_peers; i++)
        cluster_link_pump(c->peers[i]);
}

static void
on_tick(struct ev_loop *loop, void *arg)
{
    struct cluster *c = arg;
    uint64_t now = cluster_now_ms();
    size_t i;

    c->tick_timer = ev_timer_add(loop, (uint64_t)c->heartbeat_ms, on_tick, c);
    for (i = 0; i < c->n_peers; i++)
        cluster_link_tick(c->peers[i], now);
}

/*
 * Life cycle.
 */

int
cluster_new(struct ev_loop *loop, const struct cluster_settings *s,
            const struct cluster_callbacks *cb, void *arg, struct cluster **out, char *err,
            size_t errlen)
{
    struct cluster *c;
    uint8_t key[32];
    char derived[CLUSTER_KEY_Z85_LEN + 1];
    int rc;

    *out = NULL;
    if (loop == NULL || s == NULL) {
        snprintf(err, errlen, "cluster: no loop or settings");
        return PAL_EINVAL;
    }
    if (!name_is_valid(s->self_name)) {
        snprintf(err, errlen, "cluster: bad node name (1-%d of A-Z a-z 0-9 . _ -)",
                 CLUSTER_NAME_MAX);
        return PAL_ECONFIG;
    }
    if (!key_decode(s->curve_secret_z85, key) ||
        (s->curve_public_z85 != NULL && !key_decode(s->curve_public_z85, key)) ||
        zmq_curve_public(derived, s->curve_secret_z85) != 0) {
        snprintf(err, errlen, "cluster: CURVE keys must be 40-character Z85 strings");
        return PAL_ECONFIG;
    }
    if (s->curve_public_z85 != NULL && strcmp(derived, s->curve_public_z85) != 0) {
        snprintf(err, errlen, "cluster: the CURVE public key does not belong to the secret key");
        return PAL_ECONFIG;
    }
    if (s->bind_endpoint != NULL && !endpoint_is_valid(s->bind_endpoint)) {
        snprintf(err, errlen, "cluster: bad bind endpoint '%s' (tcp://host:port or ipc:///path)",
                 s->bind_endpoint);
        return PAL_ECONFIG;
    }
    c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    if (cb != NULL)
        c->cb = *cb;
    c->arg = arg;
    c->self_name = xstrdup(s->self_name);
    snprintf(c->self_key_z85, sizeof(c->self_key_z85), "%s", derived);
    snprintf(c->secret_z85, sizeof(c->secret_z85), "%s", s->curve_secret_z85);
    c->bind_endpoint = s->bind_endpoint != NULL ? xstrdup(s->bind_endpoint) : NULL;
    c->heartbeat_ms = s->heartbeat_ms > 0 ? s->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    c->dead_after_ms = s->dead_after_ms > 0 ? s->dead_after_ms : DEFAULT_DEAD_AFTER_MS;
    c->hwm = s->hwm > 0 ? s->hwm : DEFAULT_HWM;
    c->max_queue = s->max_queue > 0 ? s->max_queue : DEFAULT_MAX_QUEUE;
    c->max_frame_bytes = s->max_frame_bytes > 0 ? s->max_frame_bytes : DEFAULT_MAX_FRAME;
    c->router_fd = -1;
    c->zap_fd = -1;
    rc = PAL_ECONFIG;
    if (c->heartbeat_ms < 10 || c->heartbeat_ms > 10000) {
        snprintf(err, errlen, "cluster: heartbeat_ms must be 10..10000");
        goto fail;
    }
    if (c->dead_after_ms < 2 * c->heartbeat_ms || c->dead_after_ms > 60000) {
        snprintf(err, errlen, "cluster: dead_after_ms must be 2 heartbeats..60000");
        goto fail;
    }
    if (c->max_frame_bytes > MAX_FRAME_LIMIT || c->max_frame_bytes < CLUSTER_HEADER_LEN) {
        snprintf(err, errlen, "cluster: max_frame_bytes must be %d..%u", CLUSTER_HEADER_LEN,
                 MAX_FRAME_LIMIT);
        goto fail;
    }
    c->epoch = realtime_us();
    c->last_link = c->epoch;
    rc = PAL_EIO;
    c->ctx = zmq_ctx_new();
    if (c->ctx == NULL) {
        snprintf(err, errlen, "cluster: zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* Before anything can bind: see zap.c. */
    rc = cluster_zap_open(c, err, errlen);
    if (rc != PAL_OK)
        goto fail;
    ev_before_sleep_add(loop, on_before_sleep, c);
    c->tick_timer = ev_timer_add(loop, (uint64_t)c->heartbeat_ms, on_tick, c);
    *out = c;
    return PAL_OK;
fail:
    cluster_free(c);
    return rc;
}

static void
peer_free(void *arg)
{
    struct cluster_peer *p = arg;

    cluster_link_clear(p);
    free(p->ring);
    free(p->name);
    free(p->endpoint);
    free(p->site);
    free(p);
}

void
cluster_free(struct cluster *c)
{
    struct cluster_peer *p;
    int linger = 100;
    size_t i;

    if (c == NULL)
        return;
    /* Goodbyes get a short linger; everything else is dropped. */
    for (i = 0; i < c->n_peers; i++) {
        p = c->peers[i];
        if (p->dealer == NULL)
            continue;
        cluster_link_bye(p);
        zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof(linger));
    }
    if (c->tick_timer != 0) {
        ev_before_sleep_del(c->loop, on_before_sleep, c);
        ev_timer_del(c->loop, c->tick_timer);
    }
    ev_timer_del(c->loop, c->kick_timer);
    router_close(c);
    for (i = 0; i < c->n_peers; i++) {
        cluster_link_close(c->peers[i]);
        peer_free(c->peers[i]);
    }
    free(c->peers);
    cluster_zap_close(c);
    if (c->ctx != NULL)
        zmq_ctx_term(c->ctx);
    free(c->self_name);
    free(c->self_endpoint);
    free(c->self_site);
    free(c->bind_endpoint);
    free(c->bound);
    explicit_bzero(c->secret_z85, sizeof(c->secret_z85));
    free(c);
}

/*
 * Membership.
 */

static struct cluster_peer *
peer_new(struct cluster *c, const struct cluster_member *m)
{
    struct cluster_peer *p = xcalloc(1, sizeof(*p));

    p->c = c;
    p->name = xstrdup(m->name);
    p->endpoint = xstrdup(m->endpoint);
    p->site = xstrdup(m->site != NULL ? m->site : "");
    snprintf(p->key_z85, sizeof(p->key_z85), "%s", m->curve_public_z85);
    key_decode(p->key_z85, p->key);
    p->dealer_fd = -1;
    p->my_link = ++c->last_link;
    p->base_seq = 1;
    p->expected = 1;
    p->want_hb = true;
    cluster_link_open(p);
    log_info("cluster member-added node=%s endpoint=%s site=%s", p->name, p->endpoint, p->site);
    return p;
}

static int
members_check(const struct cluster *c, const struct cluster_member *m, size_t n, size_t *self)
{
    uint8_t ki[32];
    uint8_t kj[32];
    size_t i;
    size_t j;

    *self = n;
    for (i = 0; i < n; i++) {
        if (!name_is_valid(m[i].name) || !endpoint_is_valid(m[i].endpoint) ||
            !key_decode(m[i].curve_public_z85, ki) ||
            (m[i].site != NULL && strlen(m[i].site) > CLUSTER_SITE_MAX)) {
            log_error("cluster bad-member index=%zu name=%s", i,
                      m[i].name != NULL ? m[i].name : "(null)");
            return PAL_EINVAL;
        }
        for (j = 0; j < i; j++) {
            key_decode(m[j].curve_public_z85, kj);
            if (strcmp(m[i].name, m[j].name) == 0 || memcmp(ki, kj, 32) == 0) {
                log_error("cluster duplicate-member name=%s other=%s", m[i].name, m[j].name);
                return PAL_EINVAL;
            }
        }
        if (strcmp(m[i].name, c->self_name) == 0)
            *self = i;
    }
    if (*self == n) {
        log_error("cluster self-not-member node=%s", c->self_name);
        return PAL_ENOENT;
    }
    if (strcmp(m[*self].curve_public_z85, c->self_key_z85) != 0) {
        log_error("cluster self-key-mismatch node=%s listed=%s ours=%s", c->self_name,
                  m[*self].curve_public_z85, c->self_key_z85);
        return PAL_EDENIED;
    }
    return PAL_OK;
}

int
cluster_set_members(struct cluster *c, const struct cluster_member *m, size_t n)
{
    struct cluster_peer **next;
    struct cluster_peer **old;
    struct cluster_peer **changed;
    struct cluster_peer *p;
    size_t n_old;
    size_t n_next = 0;
    size_t n_changed = 0;
    size_t self;
    size_t i;
    size_t j;
    int rc;

    if (m == NULL && n > 0)
        return PAL_EINVAL;
    rc = members_check(c, m, n, &self);
    if (rc != PAL_OK)
        return rc;
    rc = router_bind(c, c->bind_endpoint != NULL ? c->bind_endpoint : m[self].endpoint);
    if (rc != PAL_OK)
        return rc;
    free(c->self_endpoint);
    free(c->self_site);
    c->self_endpoint = xstrdup(m[self].endpoint);
    c->self_site = xstrdup(m[self].site != NULL ? m[self].site : "");
    c->has_members = true;

    /* Build and install the new list first, then run the downs: their
     * callbacks may call back into us and must see the new membership. */
    next = xcalloc(n, sizeof(*next));
    changed = xcalloc(n, sizeof(*changed));
    for (i = 0; i < n; i++) {
        if (i == self)
            continue;
        p = cluster_peer_by_name(c, m[i].name);
        if (p == NULL) {
            next[n_next++] = peer_new(c, &m[i]);
            continue;
        }
        free(p->site);
        p->site = xstrdup(m[i].site != NULL ? m[i].site : "");
        if (strcmp(p->endpoint, m[i].endpoint) != 0 ||
            strcmp(p->key_z85, m[i].curve_public_z85) != 0) {
            log_notice("cluster member-changed node=%s endpoint=%s", p->name, m[i].endpoint);
            free(p->endpoint);
            p->endpoint = xstrdup(m[i].endpoint);
            snprintf(p->key_z85, sizeof(p->key_z85), "%s", m[i].curve_public_z85);
            key_decode(p->key_z85, p->key);
            changed[n_changed++] = p;
        }
        next[n_next++] = p;
    }
    old = c->peers;
    n_old = c->n_peers;
    c->peers = next;
    c->n_peers = n_next;

    for (i = 0; i < n_old; i++) {
        p = old[i];
        for (j = 0; j < n_next && next[j] != p; j++)
            ;
        if (j < n_next)
            continue;
        log_notice("cluster member-removed node=%s", p->name);
        p->is_removed = true;
        cluster_link_down(p, "removed");
        cluster_link_close(p);
        ev_defer_free(c->loop, peer_free, p);
    }
    for (i = 0; i < n_changed; i++) {
        p = changed[i];
        if (p->is_removed)
            continue; /* a callback above removed it again */
        cluster_link_down(p, "member-changed"); /* reconnects with the new endpoint and key */
    }
    free(old);
    free(changed);
    return PAL_OK;
}

/*
 * Sending.
 */

static int
payload_new(const struct cluster *c, uint16_t type, const struct cluster_frame *frames, size_t n,
            struct cluster_payload **out)
{
    struct cluster_payload *pl;
    unsigned char *data;
    size_t total = 0;
    size_t i;

    *out = NULL;
    if (n > CLUSTER_MAX_FRAMES || (n > 0 && frames == NULL))
        return PAL_EINVAL;
    for (i = 0; i < n; i++) {
        if (frames[i].data == NULL && frames[i].len > 0)
            return PAL_EINVAL;
        if (frames[i].len > c->max_frame_bytes)
            return PAL_ERANGE;
        total += frames[i].len; /* at most 32 GiB: max_frame_bytes <= 1 GiB */
    }
    pl = xmalloc(sizeof(*pl) + n * sizeof(pl->f[0]) + total);
    pl->refs = 1;
    pl->type = type;
    pl->n = n;
    data = (unsigned char *)&pl->f[n];
    for (i = 0; i < n; i++) {
        pl->f[i].data = data;
        pl->f[i].len = frames[i].len;
        if (frames[i].len > 0)
            memcpy(data, frames[i].data, frames[i].len);
        data += frames[i].len;
    }
    *out = pl;
    return PAL_OK;
}

int
cluster_send(struct cluster *c, const char *node, uint16_t type,
             const struct cluster_frame *frames, size_t n)
{
    struct cluster_payload *pl;
    struct cluster_peer *p;
    int rc;

    if (node == NULL)
        return PAL_EINVAL;
    p = cluster_peer_by_name(c, node);
    if (p == NULL)
        return PAL_ENOENT;
    if (!p->is_up)
        return PAL_EIO;
    rc = payload_new(c, type, frames, n, &pl);
    if (rc != PAL_OK)
        return rc;
    rc = cluster_link_queue(p, pl);
    cluster_payload_unref(pl);
    return rc;
}

int
cluster_broadcast(struct cluster *c, uint16_t type, const struct cluster_frame *frames, size_t n)
{
    struct cluster_payload *pl;
    size_t i;
    int result = PAL_OK;
    int rc;

    rc = payload_new(c, type, frames, n, &pl);
    if (rc != PAL_OK)
        return rc;
    /* Indexes, not a saved pointer: a send cannot run callbacks today, but the
     * list is re-read each time all the same. */
    for (i = 0; i < c->n_peers; i++) {
        if (!c->peers[i]->is_up)
            continue;
        rc = cluster_link_queue(c->peers[i], pl);
        if (rc != PAL_OK) {
            log_warn("cluster broadcast-refused node=%s error=%s", c->peers[i]->name,
                     pal_strerror(rc));
            result = rc;
        }
    }
    cluster_payload_unref(pl);
    return result;
}

bool
cluster_peer_is_up(const struct cluster *c, const char *node)
{
    const struct cluster_peer *p = node != NULL ? cluster_peer_by_name(c, node) : NULL;

    return p != NULL && p->is_up;
}

uint64_t
cluster_epoch(const struct cluster *c)
{
    return c->epoch;
}

/*
 * Status and keys.
 */

const char *
cluster_peer_state_str(enum cluster_peer_state s)
{
    switch (s) {
    case CLUSTER_PEER_SELF:
        return "self";
    case CLUSTER_PEER_UP:
        return "up";
    case CLUSTER_PEER_DOWN:
        return "down";
    }
    return "unknown";
}

size_t
cluster_status(const struct cluster *c, struct cluster_peer_status *out, size_t max)
{
    const struct cluster_peer *p;
    struct cluster_peer_status *o;
    uint64_t now = cluster_now_ms();
    size_t total = c->n_peers + 1;
    size_t i;

    if (max > 0) {
        o = &out[0];
        memset(o, 0, sizeof(*o));
        snprintf(o->name, sizeof(o->name), "%s", c->self_name);
        snprintf(o->site, sizeof(o->site), "%s", c->self_site != NULL ? c->self_site : "");
        snprintf(o->endpoint, sizeof(o->endpoint), "%s",
                 c->self_endpoint != NULL ? c->self_endpoint : "");
        o->state = CLUSTER_PEER_SELF;
        o->last_heard_ms = -1;
        o->epoch = c->epoch;
    }
    for (i = 0; i < c->n_peers && i + 1 < max; i++) {
        p = c->peers[i];
        o = &out[i + 1];
        memset(o, 0, sizeof(*o));
        snprintf(o->name, sizeof(o->name), "%s", p->name);
        snprintf(o->site, sizeof(o->site), "%s", p->site);
        snprintf(o->endpoint, sizeof(o->endpoint), "%s", p->endpoint);
        o->state = p->is_up ? CLUSTER_PEER_UP : CLUSTER_PEER_DOWN;
        o->last_heard_ms = p->last_heard != 0 ? (int64_t)(now - p->last_heard) : -1;
        o->epoch = p->their_epoch;
        o->msgs_in = p->msgs_in;
        o->msgs_out = p->msgs_out;
        o->resends = p->resends;
        o->ups = p->ups;
        o->queue_len = p->ring_len;
    }
    return total;
}

int
cluster_keygen(char pub[CLUSTER_KEY_Z85_LEN + 1], char sec[CLUSTER_KEY_Z85_LEN + 1])
{
    if (zmq_curve_keypair(pub, sec) != 0) {
        pub[0] = '\0';
        sec[0] = '\0';
        return PAL_EIO;
    }
    return PAL_OK;
}

int
cluster_key_public(const char *sec_z85, char pub[CLUSTER_KEY_Z85_LEN + 1])
{
    uint8_t key[32];

    pub[0] = '\0';
    if (!key_decode(sec_z85, key) || zmq_curve_public(pub, sec_z85) != 0) {
        pub[0] = '\0';
        return PAL_EINVAL;
    }
    return PAL_OK;
}
