/* SPDX-License-Identifier: Apache-2.0 */
/* link.c - one peer's link: our DEALER to its ROUTER (CURVE client, its public
 * key as server key), the link handshake, sequence numbers, acknowledgements,
 * retransmission after a lost connection, and liveness. cluster.c owns the
 * sockets' life cycle and hands us every message the ROUTER received from this
 * peer, already authenticated by its key. PROTOCOL.md "Links" is the spec:
 *
 *   - each side names its half of a link with a link id, new after every
 *     down, strictly increasing over incarnations (epoch-based);
 *   - a side is up once it hears the peer's current link id AND the peer
 *     echoing ours (peer_link), so "up" means both directions work;
 *   - DATA carries seq 1, 2, ... per link; the receiver delivers exactly the
 *     next one, drops duplicates, and answers a gap (or a heartbeat announcing
 *     more than it got) with a NACK; every message carries the cumulative ack;
 *   - the sender holds each DATA until acknowledged; on NACK it resends from
 *     there; on down it hands the rest back through on_undelivered.
 *
 * Sends never block: ZMQ_DONTWAIT, IMMEDIATE (nothing is queued towards a
 * connection that is not up), and what ZeroMQ refuses waits in the ring until
 * the DEALER's fd says it can take more. */
#include "cluster/cluster_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#define RECONNECT_IVL_MS 100
#define RECONNECT_IVL_MAX_MS 2000
/* A TCP connect not established by then is abandoned and retried (after the
 * reconnect interval) instead of waiting out the kernel's SYN backoff. */
#define CONNECT_TIMEOUT_MS 1000

void
cluster_payload_unref(struct cluster_payload *pl)
{
    if (pl != NULL && --pl->refs == 0)
        free(pl);
}

/*
 * The ring of held messages.
 */

static struct cluster_payload *
ring_at(const struct cluster_peer *p, size_t i)
{
    return p->ring[(p->ring_head + i) & (p->ring_cap - 1)];
}

static void
ring_push(struct cluster_peer *p, struct cluster_payload *pl)
{
    struct cluster_payload **n;
    size_t cap;
    size_t i;

    if (p->ring_len == p->ring_cap) {
        cap = p->ring_cap ? p->ring_cap * 2 : 64;
        n = xmalloc(cap * sizeof(*n));
        for (i = 0; i < p->ring_len; i++)
            n[i] = ring_at(p, i);
        free(p->ring);
        p->ring = n;
        p->ring_cap = cap;
        p->ring_head = 0;
    }
    p->ring[(p->ring_head + p->ring_len) & (p->ring_cap - 1)] = pl;
    p->ring_len++;
}

static struct cluster_payload *
ring_pop(struct cluster_peer *p)
{
    struct cluster_payload *pl = p->ring[p->ring_head];

    p->ring_head = (p->ring_head + 1) & (p->ring_cap - 1);
    p->ring_len--;
    return pl;
}

void
cluster_link_clear(struct cluster_peer *p)
{
    while (p->ring_len > 0)
        cluster_payload_unref(ring_pop(p));
    p->n_sent = 0;
}

/*
 * The DEALER.
 */

static void
on_dealer_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct cluster_peer *p = arg;
    int zev;
    size_t sz = sizeof(zev);

    (void)loop;
    (void)fd;
    (void)events;
    /* Reading ZMQ_EVENTS processes the socket's commands, which is what makes
     * the (level-triggered) fd quiet again. */
    if (zmq_getsockopt(p->dealer, ZMQ_EVENTS, &zev, &sz) != 0)
        return;
    if (zev & ZMQ_POLLOUT)
        cluster_link_pump(p);
}

int
cluster_link_open(struct cluster_peer *p)
{
    struct cluster *c = p->c;
    size_t sz = sizeof(p->dealer_fd);
    void *s;

    if (p->dealer != NULL || p->is_removed)
        return PAL_OK;
    s = zmq_socket(c->ctx, ZMQ_DEALER);
    if (s == NULL)
        goto fail;
    cluster_socket_common(s);
    cluster_setopt_int(s, ZMQ_IMMEDIATE, 1);
    cluster_setopt_int(s, ZMQ_SNDHWM, c->hwm);
    cluster_setopt_int(s, ZMQ_RECONNECT_IVL, RECONNECT_IVL_MS);
    cluster_setopt_int(s, ZMQ_RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS);
    cluster_setopt_int(s, ZMQ_CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS);
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, p->key_z85, CLUSTER_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, c->self_key_z85, CLUSTER_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->secret_z85, CLUSTER_KEY_Z85_LEN) != 0)
        goto fail;
    if (zmq_connect(s, p->endpoint) != 0)
        goto fail;
    if (zmq_getsockopt(s, ZMQ_FD, &p->dealer_fd, &sz) != 0)
        goto fail;
    if (ev_add_fd(c->loop, p->dealer_fd, EV_READ, on_dealer_fd, p) != PAL_OK)
        goto fail;
    p->dealer = s;
    p->dealer_at = cluster_now_ms();
    return PAL_OK;
fail:
    log_error("cluster connect-failed node=%s endpoint=%s error=%s", p->name, p->endpoint,
              zmq_strerror(zmq_errno()));
    if (s != NULL)
        zmq_close(s);
    p->dealer_fd = -1;
    return PAL_EIO;
}

void
cluster_link_close(struct cluster_peer *p)
{
    if (p->dealer == NULL)
        return;
    ev_del_fd(p->c->loop, p->dealer_fd);
    zmq_close(p->dealer);
    p->dealer = NULL;
    p->dealer_fd = -1;
}

/*
 * Sending.
 */

static void
header_init(const struct cluster_peer *p, struct cluster_header *h, uint8_t kind)
{
    memset(h, 0, sizeof(*h));
    h->version = CLUSTER_PROTO_VERSION;
    h->kind = kind;
    h->epoch = p->c->epoch;
    h->link = p->my_link;
    h->peer_link = p->their_link;
    h->ack = p->is_up ? p->expected - 1 : 0;
}

/* The socket got the first frame of a message but refused a later one: it is
 * now in the middle of a message, and whatever we send next would be glued to
 * it. Start over on a new socket; what was lost is resent after the peer's
 * NACK. Not expected to happen: ZeroMQ admits a whole message or none. */
static void
link_reset_socket(struct cluster_peer *p)
{
    log_error("cluster send-cut node=%s error=%s", p->name, zmq_strerror(zmq_errno()));
    cluster_link_close(p);
    cluster_link_open(p);
}

/* The link has not come up on this DEALER for dead_after_ms: replace it. In
 * libzmq 4.3.4 a connection that reached something other than a ZMTP peer (a
 * gateway answering "HTTP/1.1 400", a stray Unix socket at the ipc path) ends
 * with a protocol error, and the session then stops reconnecting for good:
 * without a new socket the link would never come back, even once the real
 * peer listens again. Only for a peer that is not up, whose queue is empty
 * (cluster_link_down handed everything back, cluster_link_queue refuses):
 * nothing held is lost, the link ids and the handshake state stay as they
 * are, and a heartbeat goes out on the new connection. Logged at info the
 * 1st, 2nd, 4th, 8th... time in a row, at debug otherwise. */
static void
link_renew(struct cluster_peer *p, const char *reason)
{
    unsigned n = ++p->n_renewals;

    if ((n & (n - 1)) == 0)
        log_info("cluster link-reset node=%s reason=%s renewals=%u", p->name, reason, n);
    else
        log_debug("cluster link-reset node=%s reason=%s renewals=%u", p->name, reason, n);
    cluster_link_close(p);
    cluster_link_open(p);
    p->want_hb = true;
}

static int
link_send(struct cluster_peer *p, const struct cluster_header *h, const struct cluster_frame *f,
          size_t n)
{
    unsigned char hdr[CLUSTER_HEADER_LEN];
    size_t len;
    size_t i;
    int flags;

    if (p->dealer == NULL)
        return PAL_EAGAIN;
    len = cluster_msg_header_encode(h, hdr);
    if (zmq_send(p->dealer, hdr, len, ZMQ_DONTWAIT | (n > 0 ? ZMQ_SNDMORE : 0)) < 0) {
        if (zmq_errno() == EAGAIN)
            return PAL_EAGAIN;
        log_warn("cluster send-failed node=%s error=%s", p->name, zmq_strerror(zmq_errno()));
        return PAL_EIO;
    }
    for (i = 0; i < n; i++) {
        flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(p->dealer, f[i].data, f[i].len, flags) < 0) {
            link_reset_socket(p);
            return PAL_EIO;
        }
    }
    p->ack_sent = h->ack;
    p->last_sent = cluster_now_ms();
    return PAL_OK;
}

static uint64_t
last_handed(const struct cluster_peer *p)
{
    return p->base_seq + p->n_sent - 1;
}

static int
link_send_ctl(struct cluster_peer *p, uint8_t kind, uint64_t seq)
{
    struct cluster_header h;

    header_init(p, &h, kind);
    h.seq = seq;
    return link_send(p, &h, NULL, 0);
}

void
cluster_link_pump(struct cluster_peer *p)
{
    struct cluster_payload *pl;
    struct cluster_header h;
    uint64_t seq;

    if (p->dealer == NULL || p->is_removed)
        return;
    while (p->is_up && p->n_sent < p->ring_len) {
        pl = ring_at(p, p->n_sent);
        seq = p->base_seq + p->n_sent;
        header_init(p, &h, CLUSTER_KIND_DATA);
        h.type = pl->type;
        h.seq = seq;
        if (link_send(p, &h, pl->f, pl->n) != PAL_OK)
            break;
        p->n_sent++;
        if (seq > p->max_handed) {
            p->max_handed = seq;
            p->msgs_out++;
        } else {
            p->resends++;
        }
    }
    /* After the DATA, so that its seq covers what went before it. */
    if (p->want_hb || (p->is_up && p->expected - 1 != p->ack_sent)) {
        if (link_send_ctl(p, CLUSTER_KIND_HEARTBEAT, p->is_up ? last_handed(p) : 0) == PAL_OK)
            p->want_hb = false;
    }
}

int
cluster_link_queue(struct cluster_peer *p, struct cluster_payload *pl)
{
    if (p->is_removed || !p->is_up)
        return PAL_EIO;
    if (p->ring_len >= p->c->max_queue)
        return PAL_ELIMIT;
    pl->refs++;
    ring_push(p, pl);
    cluster_link_pump(p);
    return PAL_OK;
}

void
cluster_link_bye(struct cluster_peer *p)
{
    if (p->their_link != 0)
        link_send_ctl(p, CLUSTER_KIND_BYE, 0);
}

/*
 * Down and up.
 */

void
cluster_link_down(struct cluster_peer *p, const char *reason)
{
    struct cluster *c = p->c;
    struct cluster_payload **held = NULL;
    size_t n_held = p->ring_len;
    bool was_up = p->is_up;
    size_t i;

    /* The state is reset before any callback runs, so that a callback sees a
     * peer that is down (cluster_send says PAL_EIO) and a fresh link. */
    if (n_held > 0) {
        held = xmalloc(n_held * sizeof(*held));
        for (i = 0; i < n_held; i++)
            held[i] = ring_pop(p);
    }
    p->is_up = false;
    p->n_sent = 0;
    p->base_seq = 1;
    p->max_handed = 0;
    p->rewind_seq = 0;
    p->rewind_at = 0;
    p->expected = 1;
    p->ack_sent = 0;
    p->nack_seq = 0;
    p->nack_at = 0;
    p->my_link = ++c->last_link;
    /* Forget its link: whatever link it comes back with (a new one after a
     * restart; the same one if it merely stalled) starts a new handshake,
     * and DATA of the old pairing carries our old link id and is refused. */
    p->their_link = 0;
    p->want_hb = true;
    /* A new socket drops whatever ZeroMQ still holds for the old link (the
     * peer would refuse it now) and starts a fresh connection. */
    cluster_link_close(p);
    if (!p->is_removed)
        cluster_link_open(p);
    if (was_up) {
        log_notice("cluster peer-down node=%s reason=%s unacked=%zu", p->name, reason, n_held);
        if (c->cb.on_peer_down != NULL)
            c->cb.on_peer_down(c->arg, p->name);
    } else {
        log_info("cluster link-reset node=%s reason=%s", p->name, reason);
    }
    for (i = 0; i < n_held; i++) {
        if (c->cb.on_undelivered != NULL)
            c->cb.on_undelivered(c->arg, p->name, held[i]->type, held[i]->f, held[i]->n);
        cluster_payload_unref(held[i]);
    }
    free(held);
}

static void
link_up(struct cluster_peer *p)
{
    struct cluster *c = p->c;

    p->is_up = true;
    p->ups++;
    p->n_renewals = 0;
    p->last_sent = cluster_now_ms();
    log_notice("cluster peer-up node=%s epoch=%" PRIu64 " link=%" PRIu64, p->name, p->their_epoch,
               p->their_link);
    if (c->cb.on_peer_up != NULL)
        c->cb.on_peer_up(c->arg, p->name);
}

/*
 * Receiving.
 */

/* Everything up to ack arrived: let it go. */
static void
link_ack(struct cluster_peer *p, uint64_t ack)
{
    if (ack > p->max_handed)
        ack = p->max_handed; /* cannot acknowledge what we never sent */
    while (p->ring_len > 0 && p->base_seq <= ack) {
        cluster_payload_unref(ring_pop(p));
        p->base_seq++;
        if (p->n_sent > 0)
            p->n_sent--;
    }
}

/* The peer missed DATA: ask for it again, at most once per heartbeat interval
 * for the same seq (further DATA of the same gap keeps arriving meanwhile). */
static void
link_nack(struct cluster_peer *p, uint64_t now)
{
    if (p->nack_seq == p->expected && now - p->nack_at < (uint64_t)p->c->heartbeat_ms)
        return;
    log_info("cluster gap node=%s expected=%" PRIu64, p->name, p->expected);
    if (link_send_ctl(p, CLUSTER_KIND_NACK, p->expected) == PAL_OK) {
        p->nack_seq = p->expected;
        p->nack_at = now;
    }
}

/* The peer asks for everything from seq on. */
static void
link_rewind(struct cluster_peer *p, uint64_t seq, uint64_t now)
{
    size_t idx;

    link_ack(p, seq - 1);
    if (seq < p->base_seq || seq - p->base_seq >= p->n_sent)
        return; /* nothing handed from there on: the pump will send it anyway */
    if (p->rewind_seq == seq && now - p->rewind_at < (uint64_t)p->c->heartbeat_ms)
        return; /* the same NACK again: already resending */
    idx = (size_t)(seq - p->base_seq);
    log_info("cluster resend node=%s from=%" PRIu64 " count=%zu", p->name, seq, p->n_sent - idx);
    p->n_sent = idx;
    p->rewind_seq = seq;
    p->rewind_at = now;
    cluster_link_pump(p);
}

/* Is h->link a link of the peer we should listen to? Newer links replace
 * older ones (link ids grow across restarts); an older one is a remnant of a
 * previous incarnation or connection. After a down we know no link, and take
 * any (so a node whose clock went back still gets in). */
static bool
link_is_current(const struct cluster_peer *p, uint64_t link)
{
    return p->their_link == 0 || link >= p->their_link;
}

void
cluster_link_input(struct cluster_peer *p, const struct cluster_header *h,
                   const struct cluster_frame *f, size_t n)
{
    struct cluster *c = p->c;
    uint64_t now = cluster_now_ms();

    if (!link_is_current(p, h->link)) {
        cluster_note_drop(c, "stale-link", p->name);
        return;
    }
    if (h->link != p->their_link) {
        /* A new link from the peer: it restarted (new epoch), or it declared
         * us down and starts over. Whatever we had with it is gone. */
        if (p->is_up) {
            cluster_link_down(p, h->epoch != p->their_epoch ? "restarted" : "link-reset");
            if (p->is_removed)
                return;
        }
        log_info("cluster peer-hello node=%s epoch=%" PRIu64 " link=%" PRIu64, p->name, h->epoch,
                 h->link);
        p->their_link = h->link;
        p->their_epoch = h->epoch;
        p->expected = 1;
        p->nack_seq = 0;
        p->want_hb = true;
    }
    p->last_heard = now;
    if (h->peer_link != p->my_link) {
        /* It has not heard our current link yet: tell it. Its DATA, if any,
         * belongs to an older pairing and is refused. */
        if (h->kind == CLUSTER_KIND_BYE) {
            cluster_link_down(p, "goodbye");
            return;
        }
        if (h->kind != CLUSTER_KIND_HEARTBEAT)
            cluster_note_drop(c, "unpaired", p->name);
        p->want_hb = true;
        return;
    }
    if (!p->is_up) {
        link_up(p);
        /* The callback may have changed everything (removed p, even). */
        if (p->is_removed || !p->is_up || p->their_link != h->link)
            return;
    }
    link_ack(p, h->ack);
    switch (h->kind) {
    case CLUSTER_KIND_HEARTBEAT:
        if (h->seq >= p->expected)
            link_nack(p, now); /* it sent more than we got: the tail was lost */
        break;
    case CLUSTER_KIND_DATA:
        if (h->seq == p->expected) {
            p->expected++;
            p->msgs_in++;
            if (c->cb.on_message != NULL)
                c->cb.on_message(c->arg, p->name, h->type, f, n);
        } else if (h->seq > p->expected) {
            link_nack(p, now);
        } else {
            log_debug("cluster duplicate node=%s seq=%" PRIu64, p->name, h->seq);
        }
        break;
    case CLUSTER_KIND_NACK:
        link_rewind(p, h->seq, now);
        break;
    case CLUSTER_KIND_BYE:
        cluster_link_down(p, "goodbye");
        break;
    default:
        break;
    }
}

/*
 * Time.
 */

/* How long we may fail to reach a peer before we must assume it declared us
 * dead: dead_after_ms less two heartbeats (one heartbeat lost with a broken
 * connection, and the time to process a backlog and acknowledge it), but at
 * least half of dead_after_ms. */
static uint64_t
mute_limit(const struct cluster *c)
{
    int limit = c->dead_after_ms - 2 * c->heartbeat_ms;

    return (uint64_t)(limit > c->dead_after_ms / 2 ? limit : c->dead_after_ms / 2);
}

/* Two rules. A peer we have not heard for dead_after_ms is dead. And a peer
 * we could not send anything to for nearly as long (our loop stalled, or the
 * link was blocked) has probably declared US dead and handed back what we
 * have not acknowledged: we must not deliver that late, so we reset the link
 * before reading its backlog (the hook checks before it drains). */
void
cluster_link_check(struct cluster_peer *p, uint64_t now)
{
    if (!p->is_up) {
        /* A handshake that went quiet: forget that link, so that whatever
         * link the peer comes back with is taken (see link_is_current). */
        if (p->their_link != 0 && now - p->last_heard > (uint64_t)p->c->dead_after_ms)
            p->their_link = 0;
        /* Not up for dead_after_ms on this DEALER: its connection may be
         * one libzmq gave up on (see link_renew). At most once per
         * dead_after_ms, since the new socket restarts the clock. */
        if (p->dealer != NULL && !p->is_removed && now > p->dealer_at &&
            now - p->dealer_at >= (uint64_t)p->c->dead_after_ms)
            link_renew(p, "not-up");
        return;
    }
    if (now - p->last_heard > (uint64_t)p->c->dead_after_ms)
        cluster_link_down(p, "silent");
    else if (now - p->last_sent > mute_limit(p->c))
        cluster_link_down(p, "mute");
}

void
cluster_link_tick(struct cluster_peer *p, uint64_t now)
{
    if (p->is_removed)
        return;
    if (p->dealer == NULL)
        cluster_link_open(p);
    cluster_link_check(p, now);
    p->want_hb = true;
    cluster_link_pump(p);
}
