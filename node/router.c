/* SPDX-License-Identifier: Apache-2.0 */
/* router.c - step 3 of the stanza path: the one routing decision. Remote
 * domains are refused until server-to-server lands; local destinations go to
 * the feature handlers (features.h), which deliver through router_deliver(). */
#include "node/router.h"

#include <inttypes.h>
#include <string.h>

#include "core/jid.h"
#include "core/log.h"
#include "node/c2s.h"
#include "node/features.h"
#include "node/labels.h"
#include "node/muc.h"
#include "node/nodes.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/settings.h"
#include "node/stanza.h"

void
router_bounce(struct server *srv, struct stanza *st, const char *etype, const char *cond)
{
    if (st->type && (strcmp(st->type, "error") == 0 ||
                     (st->kind == STANZA_IQ && strcmp(st->type, "result") == 0)))
        return;
    if (!st->from)
        return;
    struct stanza *e = stanza_error_reply(st, NULL, etype, cond, NULL);
    if (!e->from) {
        struct jid *dom = NULL;
        if (jid_parse(srv->cfg->domains.v[0], &dom) == 0)
            stanza_set_from(e, dom);
        jid_free(dom);
    }
    e->id = server_next_id(srv);
    log_debug("router bounce stanza=%" PRIu64 " cond=%s", st->id, cond);
    router_route(srv, e, NULL);
    stanza_unref(e);
}

void
router_deliver(struct server *srv, struct sess *to, struct stanza *st)
{
    (void)srv;
    if (to->node) {
        /* A session on another node: that node checks its receiver's
         * clearance itself. While a dead node's sessions are cleaned up, each
         * survivor tells only its own sessions. */
        if (!srv->deliver_local_only)
            nodes_forward(srv, to, st);
        return;
    }
    /* Step 4: the receiver's clearance, as the replica has it now, before any
     * copy reaches its socket. */
    if (!labels_may_read(srv, to->jid->bare, st)) {
        labels_refused(srv, st);
        return;
    }
    log_trace(TRACE_ROUTER, "router deliver stanza=%" PRIu64 " sess=%" PRIu64, st->id, to->id);
    struct stanza *out = labels_for_receiver(srv, to, st);
    c2s_send_stanza(to->conn, out);
    stanza_unref(out);
}

static void
router_route_iq(struct server *srv, struct stanza *st, struct sess *origin)
{
    if (labels_handle_iq(srv, st, origin) == ROUTE_HANDLED)
        return;
    if (roster_handle_iq(srv, st, origin) == ROUTE_HANDLED)
        return;
    if (services_handle_iq(srv, st, origin) == ROUTE_HANDLED)
        return;
    if (st->to && st->to->resource) {
        struct sess *s = sess_table_find(srv->sessions, st->to->full);
        if (s) {
            router_deliver(srv, s, st);
            return;
        }
    }
    /* RFC 6120 §8.5 / RFC 6121 §8.5: nobody to answer. */
    if (st->type && (strcmp(st->type, "get") == 0 || strcmp(st->type, "set") == 0))
        router_bounce(srv, st, "cancel", "service-unavailable");
}

void
router_route(struct server *srv, struct stanza *st, struct sess *origin)
{
    /* Step 3: the sender's label and clearance (default label applied). */
    if (origin) {
        if (!labels_outbound(srv, st, origin))
            return;
        if (st->kind == STANZA_PRESENCE)
            labels_note_presence(srv, origin, st);
    }
    /* Presence always reaches its handler first: the sender's side of a
     * subscription or directed presence is bookkept even for remote contacts;
     * the handler re-routes the outbound copy with origin NULL. */
    if (st->kind == STANZA_PRESENCE && origin) {
        presence_handle(srv, st, origin); /* announces availability changes to the cluster */
        return;
    }
    if (st->to && muc_is_service(srv, st->to->domain)) {
        muc_route(srv, st, origin); /* rooms, occupants and the service itself */
        return;
    }
    if (st->to && !server_is_local_domain(srv, st->to->domain)) {
        /* No server-to-server yet: every remote domain is unreachable. */
        if (st->kind != STANZA_PRESENCE)
            router_bounce(srv, st, "cancel", "remote-server-not-found");
        return;
    }
    switch (st->kind) {
    case STANZA_PRESENCE:
        if (nodes_route_to_owner(srv, st))
            return;
        presence_handle(srv, st, origin);
        return;
    case STANZA_MESSAGE:
        if (message_handle(srv, st, origin) == ROUTE_PASS)
            router_bounce(srv, st, "cancel", "service-unavailable");
        return;
    case STANZA_IQ:
        router_route_iq(srv, st, origin);
        return;
    }
}
