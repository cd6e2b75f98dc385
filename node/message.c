/* SPDX-License-Identifier: Apache-2.0 */
/* message.c - RFC 6121 §8.5: delivery of a message to a local account, behind
 * the router, and the offline store (in the directory, one child entry per
 * message, stamped with an XEP-0203 delay).
 *
 * Decisions where RFC 6121 leaves a choice:
 * - chat and normal to a bare JID go to every available resource with a
 *   non-negative priority (§8.5.2.1.1 allows "highest priority only" or "all
 *   non-negative"; all keeps each of the user's clients in the conversation);
 * - with no such resource they are stored offline; past
 *   limits.max_offline_messages the sender gets service-unavailable (cancel);
 * - headline goes to the same resources, and is dropped when there are none;
 * - groupchat to a bare JID, or to a full JID without a session, is answered
 *   with service-unavailable; error messages there are dropped;
 * - to a full JID without a session, chat and normal fall back to the
 *   bare-JID rules (§8.5.3.2.1); headline is dropped;
 * - an unknown or disabled account answers service-unavailable (§8.5.2.2.1).
 * Stored messages are flushed when a resource sends initial presence with a
 * non-negative priority; each is deleted before it is written, so it is never
 * delivered twice. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xml.h"
#include "directory/directory.h"
#include "node/features.h"
#include "node/labels.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/settings.h"
#include "node/stanza.h"

#define NS_DELAY "urn:xmpp:delay"

enum message_type { MSG_NORMAL, MSG_CHAT, MSG_GROUPCHAT, MSG_HEADLINE, MSG_ERROR };

/* An offline write in flight: the sender hears of it if it fails for good. */
struct message_pending {
    struct server *srv;
    struct stanza *st; /* a reference */
};

/* RFC 6121 §5.2.2: an absent or unknown type is "normal". */
static enum message_type
message_type_of(const char *type)
{
    if (type == NULL)
        return MSG_NORMAL;
    if (strcmp(type, "chat") == 0)
        return MSG_CHAT;
    if (strcmp(type, "groupchat") == 0)
        return MSG_GROUPCHAT;
    if (strcmp(type, "headline") == 0)
        return MSG_HEADLINE;
    if (strcmp(type, "error") == 0)
        return MSG_ERROR;
    return MSG_NORMAL;
}

/* To every available resource of user with a non-negative priority (one
 * serialization for all); returns how many. */
static size_t
message_deliver_bare(struct server *srv, const char *user, struct stanza *st)
{
    struct sess *s;
    struct sess *next;
    size_t n = 0;

    for (s = sess_table_bare(srv->sessions, user); s != NULL; s = next) {
        next = s->next_of_bare;
        if (!s->available || s->priority < 0)
            continue;
        router_deliver(srv, s, st);
        n++;
    }
    return n;
}

static void
message_stored(void *arg, int rc)
{
    struct message_pending *p = arg;

    if (rc != PAL_OK) {
        log_warn("message offline-store-failed stanza=%" PRIu64 " error=%s", p->st->id,
                 pal_strerror(rc));
        router_bounce(p->srv, p->st, "wait", "internal-server-error");
    }
    stanza_unref(p->st);
    free(p);
}

/* XEP-0203 stamp: "2026-11-26T14:05:29Z". */
static void
message_stamp(char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;

    if (gmtime_r(&now, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "1970-01-01T00:00:00Z");
}

static void
message_store(struct server *srv, struct stanza *st, const struct jid *to)
{
    struct stanza *c;
    struct xml_node *delay;
    struct message_pending *p;
    struct buf b;
    char stamp[32];
    int rc;
    /* Only the count matters here: no copy of the stored messages. */
    size_t n = dir_offline_count(srv->dir, to->bare);

    if (!labels_may_read(srv, to->bare, st)) {
        labels_refused(srv, st);
        return;
    }
    if (srv->cfg->max_offline <= 0 || n >= (uint64_t)srv->cfg->max_offline) {
        log_info("message offline-full stanza=%" PRIu64 " stored=%zu", st->id, n);
        router_bounce(srv, st, "cancel", "service-unavailable");
        return;
    }
    /* message_handle checked the receiver's clearance before this copy;
     * offline_flush checks again (through router_deliver) at delivery. */
    c = stanza_copy(st);
    delay = xml_elem_new(c->tree, c->el, NS_DELAY, "delay");
    xml_set_attr(c->tree, delay, NULL, "from", to->domain);
    message_stamp(stamp, sizeof stamp);
    xml_set_attr(c->tree, delay, NULL, "stamp", stamp);
    buf_init(&b);
    xml_serialize(c->el, NULL, &b); /* the root declares jabber:client */
    p = xcalloc(1, sizeof *p);
    p->srv = srv;
    p->st = stanza_ref(st);
    unsigned char *label = NULL;
    size_t label_len = 0;
    labels_der(srv, st, &label, &label_len); /* kept beside the stanza for administrators */
    rc = dir_offline_put(srv->dir, to->bare, buf_head(&b), buf_used(&b), label, label_len,
                         message_stored, p);
    free(label);
    if (rc != PAL_OK) {
        /* Refused at once: the callback will not run. */
        log_warn("message offline-store-failed stanza=%" PRIu64 " error=%s", st->id,
                 pal_strerror(rc));
        stanza_unref(p->st);
        free(p);
        router_bounce(srv, st, "wait", "internal-server-error");
    } else {
        log_debug("message offline-stored stanza=%" PRIu64, st->id);
    }
    buf_free(&b);
    stanza_unref(c);
}

enum route_result
message_handle(struct server *srv, struct stanza *st, struct sess *origin)
{
    struct jid *self = NULL;
    const struct jid *to = st->to;
    enum route_result rc = ROUTE_HANDLED;
    enum message_type t;
    struct dir_user *u;
    struct sess *s;
    bool is_known;

    if (st->kind != STANZA_MESSAGE)
        return ROUTE_PASS;
    if (to == NULL) {
        /* RFC 6120 §10.3.1: no 'to' means the sender's own bare JID. */
        if (origin == NULL)
            return ROUTE_PASS;
        self = jid_to_bare(origin->jid);
        to = self;
    }
    if (to->local == NULL) {
        rc = ROUTE_PASS; /* the server itself: not a mailbox */
        goto out;
    }
    t = message_type_of(st->type);
    u = dir_user_get(srv->dir, to->bare);
    is_known = u != NULL && u->enabled;
    dir_user_unref(u);
    if (!is_known) {
        router_bounce(srv, st, "cancel", "service-unavailable");
        goto out;
    }
    /* The receiver's clearance is checked where each copy is made: by
     * router_deliver for a local session, by the other node for a remote
     * one (each node decides for its own receivers), and in message_store
     * before the offline copy. */
    if (to->resource != NULL) {
        s = sess_table_find(srv->sessions, to->full);
        if (s != NULL) {
            router_deliver(srv, s, st);
            goto out;
        }
        if (t == MSG_HEADLINE || t == MSG_ERROR)
            goto out;
        /* groupchat is refused below; chat and normal take the bare-JID path. */
    }
    switch (t) {
    case MSG_ERROR:
        break;
    case MSG_GROUPCHAT:
        router_bounce(srv, st, "cancel", "service-unavailable");
        break;
    case MSG_HEADLINE:
        (void)message_deliver_bare(srv, to->bare, st);
        break;
    case MSG_NORMAL:
    case MSG_CHAT:
        if (message_deliver_bare(srv, to->bare, st) == 0)
            message_store(srv, st, to);
        break;
    }
out:
    jid_free(self);
    return rc;
}

void
offline_flush(struct server *srv, struct sess *s)
{
    struct dir_offline *msgs = NULL;
    size_t n = 0;
    struct xml_tree *tree;
    struct stanza *st;
    const char *cond;
    char err[128];
    size_t i;

    if (dir_offline_get(srv->dir, s->jid->bare, &msgs, &n) != PAL_OK || n == 0)
        goto out;
    if (labels_defer_flush(srv, s))
        goto out; /* labels.c flushes once the session's label support is known */
    for (i = 0; i < n; i++) {
        /* Delete first: whoever deletes it delivers it, so it goes out once. */
        if (dir_offline_del(srv->dir, s->jid->bare, msgs[i].id) != PAL_OK)
            continue;
        tree = NULL;
        if (xml_parse_doc(msgs[i].stanza, msgs[i].len, &tree, err, sizeof err) != PAL_OK) {
            log_error("message offline-unreadable sess=%" PRIu64 " offline_id=%s error=%s", s->id,
                      msgs[i].id, err);
            continue;
        }
        if (stanza_from_tree(tree, &st, &cond) != PAL_OK) {
            log_error("message offline-unreadable sess=%" PRIu64 " offline_id=%s error=%s", s->id,
                      msgs[i].id, cond);
            continue;
        }
        st->id = server_next_id(srv);
        log_debug("message offline-flush sess=%" PRIu64 " stanza=%" PRIu64, s->id, st->id);
        router_deliver(srv, s, st);
        stanza_unref(st);
    }
out:
    if (msgs != NULL)
        dir_offline_free(msgs, n);
}
