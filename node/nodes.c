/* SPDX-License-Identifier: Apache-2.0 */
/* nodes.c - the cluster seen from the node (see nodes.h). Three message types
 * travel between nodes (cluster/ carries them; PROTOCOL.md there describes the
 * transport, this comment the payloads):
 *   NODES_MSG_SESSION  ([full JID][available u8, priority i8][last presence])+
 *                      sessions of the sender exist (or changed); one per
 *                      message normally, up to ten when a peer joins;
 *   NODES_MSG_GONE     [full JID]  that session ended;
 *   NODES_MSG_STANZA   [target full JID][stanza]  deliver to a local session;
 *   NODES_MSG_ROUTE    [stanza]  route it here: an inbound subscription stanza
 *                      for a user whose sessions are on the receiving node.
 * Stanzas travel serialized with their jabber:client namespace declared. The
 * receiving node parses them again and applies its own label check. */
#include "node/nodes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster/cluster.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xml.h"
#include "directory/directory.h"
#include "node/features.h"
#include "node/muc.h"
#include "node/presence.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/settings.h"
#include "node/stanza.h"

enum nodes_msg {
    NODES_MSG_SESSION = 1,
    NODES_MSG_GONE = 2,
    NODES_MSG_STANZA = 3,
    NODES_MSG_ROUTE = 4, /* [stanza]: route it here (its receiver's sessions are here) */
};

#define NODES_STATE_RESYNC 0x2 /* session flag: sent because the link (re)came up */

struct nodes {
    struct cluster *cl;
    bool members_ok;
};

/* ---- helpers ---- */

static void
nodes_serialize(struct stanza *st, struct buf *out)
{
    xml_serialize(st->el, NULL, out); /* declares jabber:client on the root */
}

struct stanza *
nodes_parse(const struct cluster_frame *f)
{
    struct xml_tree *tree = NULL;
    struct stanza *st = NULL;
    const char *cond = NULL;
    char err[128];
    if (f->len == 0 || xml_parse_doc(f->data, f->len, &tree, err, sizeof err) != PAL_OK)
        return NULL;
    if (stanza_from_tree(tree, &st, &cond) != PAL_OK)
        return NULL;
    return st;
}

static char *
nodes_frame_str(const struct cluster_frame *f)
{
    if (f->len == 0 || f->len > 3071 || memchr(f->data, '\0', f->len))
        return NULL;
    return xstrndup(f->data, f->len);
}

static void
nodes_free_remote(struct server *srv, struct sess *s)
{
    presence_release(srv, s->presence);
    for (size_t i = 0; i < s->n_directed; i++)
        free(s->directed[i]);
    free(s->directed);
    jid_free(s->jid);
    free(s->node);
    free(s);
}

/* ---- announcing our sessions ---- */

/* The three frames that describe session s (borrowing pres and state, which
 * the caller keeps alive until the send). */
static void
nodes_session_frames(struct sess *s, struct buf *pres, unsigned char state[2], bool resync,
                     struct cluster_frame f[3])
{
    buf_init(pres);
    if (s->available && s->presence)
        nodes_serialize(s->presence, pres);
    state[0] = (unsigned char)((s->available ? 1 : 0) | (resync ? NODES_STATE_RESYNC : 0));
    state[1] = (unsigned char)(int8_t)s->priority;
    f[0] = (struct cluster_frame){s->jid->full, strlen(s->jid->full)};
    f[1] = (struct cluster_frame){state, 2};
    f[2] = (struct cluster_frame){buf_used(pres) ? buf_head(pres) : "", buf_used(pres)};
}

static int
nodes_send_session(struct server *srv, struct sess *s)
{
    struct buf pres;
    unsigned char state[2];
    struct cluster_frame f[3];
    nodes_session_frames(s, &pres, state, false, f);
    int rc = cluster_broadcast(srv->nodes->cl, NODES_MSG_SESSION, f, 3);
    buf_free(&pres);
    return rc;
}

void
nodes_session_up(struct server *srv, struct sess *s)
{
    if (!srv->nodes || s->node)
        return;
    int rc = nodes_send_session(srv, s);
    if (rc != PAL_OK)
        log_warn("cluster session-announce-failed sess=%" PRIu64 " error=%s", s->id,
                 pal_strerror(rc));
}

void
nodes_session_down(struct server *srv, struct sess *s)
{
    if (!srv->nodes || s->node)
        return;
    struct cluster_frame f = {s->jid->full, strlen(s->jid->full)};
    cluster_broadcast(srv->nodes->cl, NODES_MSG_GONE, &f, 1);
}

/* ---- stanzas across nodes ---- */

/* A stanza for a session that is no longer where it was (it ended, or its node
 * died before acknowledging): a message goes where RFC 6121 would send it now
 * (another resource or the offline store), unless other resources of the
 * user already had their copies of a bare-JID message. */
static void
nodes_redeliver(struct server *srv, const char *target, struct stanza *st)
{
    struct sess *s = sess_table_find(srv->sessions, target);
    if (s && !s->node) {
        router_deliver(srv, s, st);
        return;
    }
    if (st->kind == STANZA_MESSAGE && st->to && st->to->local) {
        if (st->to->resource == NULL) {
            for (struct sess *o = sess_table_bare(srv->sessions, st->to->bare); o;
                 o = o->next_of_bare)
                if (o->available && o->priority >= 0)
                    return; /* the others got theirs */
        }
        log_info("cluster redeliver stanza=%" PRIu64 " target=%s", st->id, target);
        message_handle(srv, st, NULL);
        return;
    }
    if (st->kind == STANZA_IQ)
        router_bounce(srv, st, "cancel", "service-unavailable");
}

void
nodes_forward(struct server *srv, struct sess *s, struct stanza *st)
{
    struct buf b;
    buf_init(&b);
    nodes_serialize(st, &b);
    struct cluster_frame f[2] = {
        {s->jid->full, strlen(s->jid->full)},
        {buf_head(&b), buf_used(&b)},
    };
    int rc = cluster_send(srv->nodes->cl, s->node, NODES_MSG_STANZA, f, 2);
    buf_free(&b);
    if (rc == PAL_OK) {
        log_trace(TRACE_CLUSTER, "cluster forward stanza=%" PRIu64 " node=%s", st->id, s->node);
        return;
    }
    log_notice("cluster forward-failed stanza=%" PRIu64 " node=%s error=%s", st->id, s->node,
               pal_strerror(rc));
    if (rc == PAL_ELIMIT) {
        router_bounce(srv, st, "wait", "resource-constraint");
        return;
    }
    /* The node is down: its sessions are already gone from the table. */
    char *target = xstrdup(s->jid->full);
    nodes_redeliver(srv, target, st);
    free(target);
}

int
nodes_send(struct server *srv, const char *node, uint16_t type, const struct cluster_frame *f,
           size_t n)
{
    return srv->nodes ? cluster_send(srv->nodes->cl, node, type, f, n) : PAL_ENOENT;
}

int
nodes_broadcast(struct server *srv, uint16_t type, const struct cluster_frame *f, size_t n)
{
    return srv->nodes ? cluster_broadcast(srv->nodes->cl, type, f, n) : PAL_ENOENT;
}

/* ---- cluster callbacks ---- */

static void
nodes_on_session(struct server *srv, const char *from, const struct cluster_frame *f, size_t n)
{
    char *full = n == 3 ? nodes_frame_str(&f[0]) : NULL;
    struct jid *jid = NULL;
    if (!full || f[1].len != 2 || jid_parse(full, &jid) != PAL_OK || !jid->resource ||
        !jid->local || !server_is_local_domain(srv, jid->domain)) {
        log_warn("cluster bad-message type=session node=%s", from);
        free(full);
        jid_free(jid);
        return;
    }
    free(full);
    const unsigned char *state = f[1].data;
    struct stanza *pres = f[2].len ? nodes_parse(&f[2]) : NULL;
    struct sess *s = sess_table_find(srv->sessions, jid->full);
    if (s && !s->node) {
        /* The same full JID bound here and there: ours stays (RFC 6120 would
         * replace the older one; the other node learns of ours too). */
        log_notice("cluster session-clash jid=%s node=%s", jid->full, from);
        stanza_unref(pres);
        jid_free(jid);
        return;
    }
    bool is_new = s == NULL;
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->id = server_next_id(srv);
        s->jid = jid;
        s->node = xstrdup(from);
        sess_table_add(srv->sessions, s);
        log_debug("cluster session-add jid=%s node=%s", s->jid->full, from);
    } else {
        jid_free(jid);
        if (strcmp(s->node, from) != 0) {
            free(s->node);
            s->node = xstrdup(from);
        }
    }
    s->available = (state[0] & 1) != 0;
    s->initial_sent = s->initial_sent || s->available;
    s->priority = (int8_t)state[1];
    presence_release(srv, s->presence);
    s->presence = s->available && pres ? presence_keep(srv, pres) : NULL;
    stanza_unref(pres);
    /* Learnt again after a partition healed (or from a node we had lost):
     * our own sessions were told it went unavailable, so tell them it is
     * back. Its node broadcast it at login for every other case. */
    if (is_new && s->available && (state[0] & NODES_STATE_RESYNC)) {
        srv->deliver_local_only = true;
        presence_rebroadcast(srv, s);
        srv->deliver_local_only = false;
    }
}

static void
nodes_on_gone(struct server *srv, const char *from, const struct cluster_frame *f, size_t n)
{
    char *full = n == 1 ? nodes_frame_str(&f[0]) : NULL;
    struct sess *s = full ? sess_table_find(srv->sessions, full) : NULL;
    free(full);
    if (!s || !s->node || strcmp(s->node, from) != 0)
        return;
    sess_table_del(srv->sessions, s);
    log_debug("cluster session-del jid=%s node=%s", s->jid->full, from);
    nodes_free_remote(srv, s);
}

static void
nodes_on_stanza(struct server *srv, const char *from, const struct cluster_frame *f, size_t n,
                bool undelivered)
{
    char *target = n == 2 ? nodes_frame_str(&f[0]) : NULL;
    struct stanza *st = target ? nodes_parse(&f[1]) : NULL;
    if (!st) {
        log_warn("cluster bad-message type=stanza node=%s", from);
        free(target);
        return;
    }
    st->id = server_next_id(srv);
    if (undelivered) {
        log_notice("cluster undelivered stanza=%" PRIu64 " node=%s target=%s", st->id, from,
                   target);
        nodes_redeliver(srv, target, st);
    } else {
        struct sess *s = sess_table_find(srv->sessions, target);
        if (s && !s->node)
            router_deliver(srv, s, st); /* our own label check happens here */
        else
            nodes_redeliver(srv, target, st);
    }
    stanza_unref(st);
    free(target);
}

static void
nodes_on_route(struct server *srv, const char *from, const struct cluster_frame *f, size_t n)
{
    struct stanza *st = n == 1 ? nodes_parse(&f[0]) : NULL;
    if (!st || st->kind != STANZA_PRESENCE) {
        log_warn("cluster bad-message type=route node=%s", from);
        stanza_unref(st);
        return;
    }
    st->id = server_next_id(srv);
    log_debug("cluster routed-here stanza=%" PRIu64 " node=%s", st->id, from);
    srv->route_here = true; /* processed here, never handed on again */
    router_route(srv, st, NULL);
    srv->route_here = false;
    stanza_unref(st);
}

bool
nodes_route_to_owner(struct server *srv, struct stanza *st)
{
    if (!srv->nodes || srv->route_here || !st->to || !st->to->local || !st->type)
        return false;
    if (strcmp(st->type, "subscribe") != 0 && strcmp(st->type, "subscribed") != 0 &&
        strcmp(st->type, "unsubscribe") != 0 && strcmp(st->type, "unsubscribed") != 0)
        return false;
    const char *owner = NULL;
    for (struct sess *s = sess_table_bare(srv->sessions, st->to->bare); s; s = s->next_of_bare) {
        if (!s->node)
            return false; /* a session here: process it here */
        owner = owner ? owner : s->node;
    }
    if (!owner)
        return false;
    struct buf b;
    buf_init(&b);
    nodes_serialize(st, &b);
    struct cluster_frame f = {buf_head(&b), buf_used(&b)};
    int rc = cluster_send(srv->nodes->cl, owner, NODES_MSG_ROUTE, &f, 1);
    buf_free(&b);
    if (rc != PAL_OK) {
        log_notice("cluster route-failed stanza=%" PRIu64 " node=%s error=%s (processed here)",
                   st->id, owner, pal_strerror(rc));
        return false;
    }
    log_debug("cluster routed-to stanza=%" PRIu64 " node=%s", st->id, owner);
    return true;
}

static void
nodes_on_message(void *arg, const char *from, uint16_t type, const struct cluster_frame *f,
                 size_t n)
{
    struct server *srv = arg;
    switch (type) {
    case NODES_MSG_ROUTE:
        nodes_on_route(srv, from, f, n);
        break;
    case NODES_MSG_SESSION:
        /* one or more sessions, three frames each (a joining peer gets them packed) */
        if (n == 0 || n % 3 != 0) {
            log_warn("cluster bad-message type=session node=%s frames=%zu", from, n);
            break;
        }
        for (size_t i = 0; i < n; i += 3)
            nodes_on_session(srv, from, f + i, 3);
        break;
    case NODES_MSG_GONE:
        nodes_on_gone(srv, from, f, n);
        break;
    case NODES_MSG_STANZA:
        nodes_on_stanza(srv, from, f, n, false);
        break;
    default:
        if (type >= MUC_MSG_FIRST && type <= MUC_MSG_LAST) {
            muc_on_cluster(srv, from, type, f, n);
            break;
        }
        log_warn("cluster unknown-message type=%u node=%s", type, from);
    }
}

static void
nodes_on_undelivered(void *arg, const char *node, uint16_t type, const struct cluster_frame *f,
                     size_t n)
{
    if (type == NODES_MSG_STANZA)
        nodes_on_stanza(arg, node, f, n, true);
    else if (type == NODES_MSG_ROUTE)
        nodes_on_route(arg, node, f, n); /* its owner died: process it here */
}

#define NODES_SESSIONS_PER_MSG (CLUSTER_MAX_FRAMES / 3)

/* A peer came up (or back): it starts from nothing, so it gets every local
 * session, packed NODES_SESSIONS_PER_MSG to a message to stay well inside the
 * transport's queue. */
static void
nodes_on_peer_up(void *arg, const char *node)
{
    struct server *srv = arg;
    size_t n = 0, sent = 0, k = 0;
    struct sess **all = sess_table_all(srv->sessions, &n);
    struct cluster_frame f[NODES_SESSIONS_PER_MSG * 3];
    struct buf pres[NODES_SESSIONS_PER_MSG];
    unsigned char state[NODES_SESSIONS_PER_MSG][2];
    for (size_t i = 0; i <= n; i++) {
        if (k == NODES_SESSIONS_PER_MSG || (i == n && k > 0)) {
            int rc = cluster_send(srv->nodes->cl, node, NODES_MSG_SESSION, f, k * 3);
            if (rc == PAL_OK)
                sent += k;
            else
                log_warn("cluster resync-incomplete node=%s error=%s", node, pal_strerror(rc));
            for (size_t j = 0; j < k; j++)
                buf_free(&pres[j]);
            k = 0;
        }
        if (i == n)
            break;
        if (all[i]->node)
            continue;
        nodes_session_frames(all[i], &pres[k], state[k], true, f + k * 3);
        k++;
    }
    free(all);
    log_notice("cluster peer-up node=%s sessions_sent=%zu", node, sent);
    muc_peer_up(srv, node); /* after the sessions: rooms and our occupants */
}

/* The node died: forget its sessions and tell our own sessions' users that its
 * users went unavailable. Every surviving node does this for its local
 * sessions only, so each contact hears it once. */
static void
nodes_on_peer_down(void *arg, const char *node)
{
    struct server *srv = arg;
    size_t n = 0, gone = 0;
    struct sess **all = sess_table_all(srv->sessions, &n);
    for (size_t i = 0; i < n; i++) {
        struct sess *s = all[i];
        if (!s->node || strcmp(s->node, node) != 0)
            continue;
        sess_table_del(srv->sessions, s);
        srv->deliver_local_only = true;
        presence_session_ended(srv, s);
        srv->deliver_local_only = false;
        nodes_free_remote(srv, s);
        gone++;
    }
    free(all);
    log_notice("cluster peer-down node=%s sessions_removed=%zu", node, gone);
    muc_peer_down(srv, node); /* its occupants leave every room */
}

/* ---- membership ---- */

static int
nodes_apply_members(struct server *srv, char *err, size_t errlen)
{
    struct dir_node *dn = NULL;
    size_t n = 0;
    if (dir_nodes_get(srv->dir, &dn, &n) != PAL_OK)
        n = 0;
    struct cluster_member *m = xcalloc(n ? n : 1, sizeof *m);
    for (size_t i = 0; i < n; i++)
        m[i] = (struct cluster_member){dn[i].name, dn[i].endpoint, dn[i].curve_public,
                                       dn[i].site};
    int rc = cluster_set_members(srv->nodes->cl, m, n);
    free(m);
    dir_nodes_free(dn, n);
    const char *self = srv->cfg->node_name;
    switch (rc) {
    case PAL_OK:
        log_info("cluster members count=%zu", n);
        break;
    case PAL_ENOENT:
        snprintf(err, errlen,
                 "node '%s' is not in the directory (ou=nodes): add it with "
                 "'palisadectl node add %s ENDPOINT --secret-file FILE'",
                 self, self);
        break;
    case PAL_EDENIED:
        snprintf(err, errlen,
                 "the directory lists another CURVE key for node '%s' than %s holds: fix the "
                 "xmppNode entry or the key file",
                 self, srv->cfg->cluster_secret_file);
        break;
    case PAL_EIO:
        snprintf(err, errlen, "node '%s' cannot bind its cluster endpoint (in use?)", self);
        break;
    default:
        snprintf(err, errlen, "the directory's node list is invalid: %s", pal_strerror(rc));
    }
    return rc;
}

static void
nodes_members_changed(void *arg)
{
    struct server *srv = arg;
    if (!srv->nodes || !srv->nodes->members_ok)
        return;
    char err[256];
    if (nodes_apply_members(srv, err, sizeof err) != PAL_OK)
        log_error("cluster membership-refused reason=\"%s\" (keeping the previous membership)",
                  err);
}

int
nodes_start(struct server *srv, char *err, size_t errlen)
{
    const struct node_settings *cfg = srv->cfg;
    if (!cfg->cluster_secret_file)
        return PAL_OK;
    char *secret = config_read_secret(cfg->cluster_secret_file, err, errlen);
    if (!secret)
        return PAL_ECONFIG;
    char pub[CLUSTER_KEY_Z85_LEN + 1];
    if (strlen(secret) != CLUSTER_KEY_Z85_LEN || cluster_key_public(secret, pub) != PAL_OK) {
        snprintf(err, errlen, "%s: not a CURVE secret key (40 characters of Z85)",
                 cfg->cluster_secret_file);
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
        return PAL_ECONFIG;
    }
    struct cluster_settings cs = {
        .self_name = cfg->node_name,
        .curve_secret_z85 = secret,
        .curve_public_z85 = pub,
        .heartbeat_ms = (int)cfg->cluster_heartbeat_ms,
        .dead_after_ms = (int)cfg->cluster_dead_after_ms,
    };
    static const struct cluster_callbacks cb = {nodes_on_peer_up, nodes_on_peer_down,
                                                nodes_on_message, nodes_on_undelivered};
    struct nodes *nd = xcalloc(1, sizeof *nd);
    int rc = cluster_new(srv->loop, &cs, &cb, srv, &nd->cl, err, errlen);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    if (rc != PAL_OK) {
        free(nd);
        return rc;
    }
    srv->nodes = nd;
    rc = nodes_apply_members(srv, err, errlen);
    if (rc != PAL_OK) {
        nodes_stop(srv);
        return rc;
    }
    nd->members_ok = true;
    dir_on_nodes_changed(srv->dir, nodes_members_changed, srv);
    log_notice("cluster started node=%s public_key=%s", cfg->node_name, pub);
    return PAL_OK;
}

void
nodes_stop(struct server *srv)
{
    if (!srv->nodes)
        return;
    cluster_free(srv->nodes->cl);
    free(srv->nodes);
    srv->nodes = NULL;
    /* Remote sessions stay in the table only as long as the cluster runs. */
    size_t n = 0;
    struct sess **all = sess_table_all(srv->sessions, &n);
    for (size_t i = 0; i < n; i++) {
        if (all[i]->node) {
            sess_table_del(srv->sessions, all[i]);
            nodes_free_remote(srv, all[i]);
        }
    }
    free(all);
}

void
nodes_status(struct server *srv, struct buf *out)
{
    size_t n = 0;
    struct sess **all = sess_table_all(srv->sessions, &n);
    size_t local = 0;
    for (size_t i = 0; i < n; i++)
        local += all[i]->node == NULL;
    buf_printf(out, "node %s sessions=%zu (local %zu)\n", srv->cfg->node_name, n, local);
    if (!srv->nodes) {
        buf_append_str(out, "cluster off\n");
        free(all);
        return;
    }
    struct cluster_peer_status ps[64];
    size_t m = cluster_status(srv->nodes->cl, ps, 64);
    if (m > 64)
        m = 64;
    buf_printf(out, "%-16s %-10s %-6s %8s %10s %8s %s\n", "member", "site", "state", "sessions",
               "heard_ms", "queue", "endpoint");
    for (size_t i = 0; i < m; i++) {
        size_t count = 0;
        for (size_t j = 0; j < n; j++) {
            const char *owner = all[j]->node ? all[j]->node : srv->cfg->node_name;
            count += strcmp(owner, ps[i].name) == 0;
        }
        buf_printf(out, "%-16s %-10s %-6s %8zu %10" PRId64 " %8zu %s\n", ps[i].name,
                   ps[i].site[0] ? ps[i].site : "-", cluster_peer_state_str(ps[i].state), count,
                   ps[i].last_heard_ms, ps[i].queue_len, ps[i].endpoint);
    }
    free(all);
}
