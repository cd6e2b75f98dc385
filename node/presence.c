/* SPDX-License-Identifier: Apache-2.0 */
/* presence.c - RFC 6121 §3 (subscriptions) and §4 (presence) behind the router.
 *
 * A presence between two local users passes here twice. With origin set it is
 * outbound: the sender's bookkeeping (broadcast, directed-presence targets, the
 * sender's side of the subscription state machine), after which whatever must
 * travel is stamped and handed back to router_route() with origin NULL. With
 * origin NULL it is inbound for a local user: the recipient's side of the state
 * machine, probes, and delivery to that user's available resources. The router
 * must therefore call presence_handle() for every presence from a local session
 * (whatever its destination) and for every presence without origin addressed to
 * a local domain.
 *
 * Decisions where RFC 6121 leaves a choice:
 * - a probe from an entity without a 'from'/'both' subscription (or for an
 *   account that does not exist or is disabled) is answered with 'unsubscribed'
 *   from the probed bare JID, the same answer in both cases, so it reveals
 *   neither presence nor whether the account exists (§4.3.2);
 * - with no available resource the probe answer is an empty unavailable
 *   presence (the last unavailable presence is not kept);
 * - any other presence for an unknown or disabled account is dropped silently;
 * - stored subscription requests (ask_in) are delivered again at each initial
 *   presence until answered, to the new resource only;
 * - the user's own resources get every broadcast from each other, and a newly
 *   available resource gets the current presence of the others;
 * - offline messages are flushed at initial presence only when its priority is
 *   non-negative (a negative-priority resource never receives bare-JID
 *   messages, RFC 6121 §8.5.2.1.1). */
#include "node/presence.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/xml.h"
#include "directory/directory.h"
#include "node/features.h"
#include "node/hash.h"
#include "node/nodes.h"
#include "node/roster.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/stanza.h"

enum presence_type {
    PRES_AVAILABLE,
    PRES_UNAVAILABLE,
    PRES_SUBSCRIPTION, /* subscribe, subscribed, unsubscribe, unsubscribed */
    PRES_PROBE,
    PRES_ERROR,
    PRES_INVALID,
};

static enum presence_type
presence_type_of(const char *type, enum roster_sub_type *sub)
{
    if (type == NULL)
        return PRES_AVAILABLE;
    if (strcmp(type, "unavailable") == 0)
        return PRES_UNAVAILABLE;
    if (roster_sub_type_parse(type, sub))
        return PRES_SUBSCRIPTION;
    if (strcmp(type, "probe") == 0)
        return PRES_PROBE;
    if (strcmp(type, "error") == 0)
        return PRES_ERROR;
    return PRES_INVALID;
}

/* RFC 6121 §4.7.2.3: -128..127, 0 when absent; an unusable value counts as 0. */
static int
presence_priority(const struct stanza *st)
{
    struct xml_node *p = xml_child(st->el, XMPP_NS_CLIENT, "priority");
    const char *s;
    char *end;
    long v;

    if (p == NULL)
        return 0;
    s = xml_text(st->tree, p);
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < -128 || v > 127)
        return 0;
    return (int)v;
}

static void
presence_route(struct server *srv, struct stanza *st)
{
    if (st->id == 0)
        st->id = server_next_id(srv);
    router_route(srv, st, NULL);
}

/* Routes a copy of p (borrowed) addressed to the JID string to. */
static void
presence_route_copy(struct server *srv, const struct stanza *p, const char *to)
{
    struct jid *j = NULL;
    struct stanza *c;

    if (jid_parse(to, &j) != PAL_OK)
        return;
    c = stanza_copy(p);
    stanza_set_to(c, j);
    presence_route(srv, c);
    stanza_unref(c);
    jid_free(j);
}

/* Delivers p (borrowed, one serialization) to each available resource of user
 * but skip. */
static void
presence_deliver_available(struct server *srv, const char *user, struct stanza *p,
                           const struct sess *skip)
{
    struct sess *s;
    struct sess *next;

    for (s = sess_table_bare(srv->sessions, user); s != NULL; s = next) {
        next = s->next_of_bare;
        if (s != skip && s->available)
            router_deliver(srv, s, p);
    }
}

void
presence_send_type(struct server *srv, const struct jid *from, const struct jid *to,
                   const char *type)
{
    struct stanza *p = stanza_new(STANZA_PRESENCE, from, to, type, NULL);

    presence_route(srv, p);
    stanza_unref(p);
}

void
presence_send_current(struct server *srv, const char *user, const struct jid *contact)
{
    struct sess *s;
    struct sess *next;
    struct stanza *c;

    for (s = sess_table_bare(srv->sessions, user); s != NULL; s = next) {
        next = s->next_of_bare;
        if (!s->available || s->presence == NULL)
            continue;
        c = presence_of(s);
        stanza_set_to(c, contact);
        presence_route(srv, c);
        stanza_unref(c);
    }
}

void
presence_send_unavailable(struct server *srv, const char *user, const struct jid *contact)
{
    struct sess *s;
    struct sess *next;

    for (s = sess_table_bare(srv->sessions, user); s != NULL; s = next) {
        next = s->next_of_bare;
        if (s->available)
            presence_send_type(srv, s->jid, contact, "unavailable");
    }
}

/* Sends p (from a resource, no 'to') to every contact with a 'from' or 'both'
 * subscription, and to the user's available resources but skip. */
static void
presence_broadcast(struct server *srv, const char *user, struct stanza *p,
                   const struct dir_roster_item *items, size_t n, const struct sess *skip)
{
    struct jid *bare = NULL;
    struct stanza *own;
    size_t i;

    for (i = 0; i < n; i++)
        if (roster_sub_has_from(items[i].sub))
            presence_route_copy(srv, p, items[i].jid);
    if (jid_parse(user, &bare) != PAL_OK)
        return;
    own = stanza_copy(p);
    stanza_set_to(own, bare);
    presence_deliver_available(srv, user, own, skip);
    stanza_unref(own);
    jid_free(bare);
}

/* The first available presence of a session also fetches the contacts'
 * presence, replays pending subscription requests and flushes offline mail. */
static void
presence_initial(struct server *srv, struct sess *s, const struct dir_roster_item *items, size_t n)
{
    struct jid *ubare = jid_to_bare(s->jid);
    struct jid *contact = NULL;
    struct sess *o;
    struct sess *next;
    struct stanza *c;
    size_t i;

    s->initial_sent = true;
    for (o = sess_table_bare(srv->sessions, s->jid->bare); o != NULL; o = next) {
        next = o->next_of_bare;
        if (o == s || !o->available || o->presence == NULL)
            continue;
        c = presence_of(o);
        stanza_set_to(c, s->jid);
        router_deliver(srv, s, c);
        stanza_unref(c);
    }
    for (i = 0; i < n; i++) {
        if (jid_parse(items[i].jid, &contact) != PAL_OK)
            continue;
        if (roster_sub_has_to(items[i].sub))
            presence_send_type(srv, ubare, contact, "probe");
        if (roster_state_of(&items[i]).ask_in) {
            /* §3.1.3: a stored request goes to the user's next available resource. */
            c = stanza_new(STANZA_PRESENCE, contact, ubare, "subscribe", NULL);
            c->id = server_next_id(srv);
            router_deliver(srv, s, c);
            stanza_unref(c);
        }
        jid_free(contact);
        contact = NULL;
    }
    jid_free(ubare);
    if (s->priority >= 0)
        offline_flush(srv, s);
}

/* ---- kept presences, shared ---- */

struct stanza *
presence_keep(struct server *srv, const struct stanza *st)
{
    struct stanza *c = stanza_copy(st);
    struct stanza *have;
    const char *key;

    stanza_set_to(c, NULL);
    stanza_set_from(c, NULL);
    /* The client's id answered nothing to those who get the presence later,
     * and clients that number every stanza would share none. */
    stanza_set_id(c, NULL);
    key = stanza_wire(c)->data;
    if (!srv->presence_pool)
        srv->presence_pool = hash_new();
    have = hash_get(srv->presence_pool, key);
    if (have != NULL) {
        stanza_unref(c);
        return stanza_ref(have);
    }
    stanza_compact(c);
    hash_put(srv->presence_pool, stanza_wire(c)->data, c);
    return c;
}

void
presence_release(struct server *srv, struct stanza *kept)
{
    if (kept == NULL)
        return;
    /* The pool holds no reference: the last session's takes the entry along. */
    if (kept->refs == 1 && srv->presence_pool)
        hash_del(srv->presence_pool, stanza_wire(kept)->data);
    stanza_unref(kept);
}

struct stanza *
presence_of(const struct sess *s)
{
    struct stanza *c = stanza_copy(s->presence);

    stanza_set_from(c, s->jid);
    return c;
}

void
presence_pool_free(struct server *srv)
{
    if (srv->presence_pool && hash_count(srv->presence_pool) > 0)
        log_error("presence pool not empty at shutdown count=%zu", hash_count(srv->presence_pool));
    hash_free(srv->presence_pool);
    srv->presence_pool = NULL;
}

static void
presence_available(struct server *srv, struct sess *s, const struct stanza *st)
{
    bool is_initial = !s->available;
    struct dir_roster_item *items = NULL;
    size_t n = 0;
    struct stanza *p = stanza_copy(st);

    stanza_set_to(p, NULL);
    stanza_set_from(p, s->jid);
    presence_release(srv, s->presence);
    s->presence = presence_keep(srv, p);
    s->priority = presence_priority(p);
    s->available = true;
    /* The other nodes learn the new state before any contact hears the
     * presence, so a message sent on seeing it finds the session. */
    nodes_session_up(srv, s);
    if (dir_roster_get(srv->dir, s->jid->bare, &items, &n) != PAL_OK) {
        items = NULL;
        n = 0;
    }
    log_debug("presence available sess=%" PRIu64 " stanza=%" PRIu64 " initial=%d priority=%d",
              s->id, p->id, is_initial, s->priority);
    presence_broadcast(srv, s->jid->bare, p, items, n, NULL);
    if (is_initial)
        presence_initial(srv, s, items, n);
    if (items != NULL)
        dir_roster_free(items, n);
    stanza_unref(p);
}

/* p: unavailable from s's full JID, no 'to'. To subscribers and the user's
 * other resources if s was available, and to every directed-presence target. */
static void
presence_go_unavailable(struct server *srv, struct sess *s, struct stanza *p)
{
    struct dir_roster_item *items = NULL;
    size_t n = 0;
    size_t i;

    if (s->available) {
        s->available = false;
        presence_release(srv, s->presence);
        s->presence = NULL;
        nodes_session_up(srv, s);
        if (dir_roster_get(srv->dir, s->jid->bare, &items, &n) != PAL_OK) {
            items = NULL;
            n = 0;
        }
        presence_broadcast(srv, s->jid->bare, p, items, n, s);
        if (items != NULL)
            dir_roster_free(items, n);
    }
    for (i = 0; i < s->n_directed; i++) {
        presence_route_copy(srv, p, s->directed[i]);
        free(s->directed[i]);
    }
    free(s->directed);
    s->directed = NULL;
    s->n_directed = 0;
}

void
presence_session_ended(struct server *srv, struct sess *s)
{
    struct stanza *p;

    if (!s->available && s->n_directed == 0)
        return;
    p = stanza_new(STANZA_PRESENCE, s->jid, NULL, "unavailable", NULL);
    p->id = server_next_id(srv);
    log_debug("presence session-ended sess=%" PRIu64 " stanza=%" PRIu64, s->id, p->id);
    presence_go_unavailable(srv, s, p);
    stanza_unref(p);
}

/* §4.6: directed presence. A target the roster broadcast does not reach is
 * remembered so that it gets the session's unavailable presence. */
static void
presence_directed(struct server *srv, struct sess *s, struct stanza *st, bool is_available)
{
    struct dir_roster_item *item;
    bool is_covered = strcmp(st->to->bare, s->jid->bare) == 0;

    if (!is_covered) {
        item = dir_roster_find(srv->dir, s->jid->bare, st->to->bare);
        is_covered = item != NULL && roster_sub_has_from(item->sub);
        if (item != NULL)
            dir_roster_free(item, 1);
    }
    if (!is_covered) {
        if (is_available)
            sess_directed_add(s, st->to->full);
        else
            sess_directed_del(s, st->to->full);
    }
    router_route(srv, st, NULL);
}

/* §3.1.2, §3.1.5, §3.2.2, §3.3.2: the user's side of a subscription stanza. */
static void
presence_sub_outbound(struct server *srv, struct sess *s, const struct stanza *st,
                      enum roster_sub_type t)
{
    struct jid *user = jid_to_bare(s->jid);
    struct jid *contact = jid_to_bare(st->to);
    struct dir_roster_item *cur = NULL;
    struct roster_sub_effect e;
    struct stanza *fwd;

    if (strcmp(user->bare, contact->bare) == 0)
        goto out; /* one's own presence needs no subscription */
    cur = dir_roster_find(srv->dir, user->bare, contact->bare);
    e = roster_sub_outbound(roster_state_of(cur), t);
    log_debug("presence sub-out sess=%" PRIu64 " stanza=%" PRIu64 " type=%s changed=%d routed=%d",
              s->id, st->id, st->type, e.is_changed, e.is_forwarded);
    /* The state is written before the stanza travels: a local contact's
     * server may answer at once (auto-approval) and must find it. */
    if (e.is_changed)
        roster_update(srv, user->bare, contact->bare, cur, e.next);
    if (e.is_forwarded) {
        /* §3: subscription stanzas travel between bare JIDs. */
        fwd = stanza_copy(st);
        stanza_set_from(fwd, user);
        stanza_set_to(fwd, contact);
        presence_route(srv, fwd);
        stanza_unref(fwd);
    }
    if (e.has_gained_from)
        presence_send_current(srv, user->bare, contact);
    if (e.has_lost_from)
        presence_send_unavailable(srv, user->bare, contact);
out:
    if (cur != NULL)
        dir_roster_free(cur, 1);
    jid_free(user);
    jid_free(contact);
}

static void
presence_outbound(struct server *srv, struct stanza *st, struct sess *s)
{
    enum roster_sub_type sub = ROSTER_SUBSCRIBE;
    enum presence_type t = presence_type_of(st->type, &sub);
    struct stanza *c;
    struct jid *ubare;

    if (t == PRES_INVALID) {
        router_bounce(srv, st, "modify", "bad-request");
        return;
    }
    if (st->to == NULL) {
        switch (t) {
        case PRES_AVAILABLE:
            presence_available(srv, s, st);
            return;
        case PRES_UNAVAILABLE:
            c = stanza_copy(st);
            stanza_set_from(c, s->jid);
            presence_go_unavailable(srv, s, c);
            stanza_unref(c);
            return;
        case PRES_ERROR:
            return;
        default:
            /* A subscription stanza or a probe needs a target. */
            router_bounce(srv, st, "modify", "bad-request");
            return;
        }
    }
    switch (t) {
    case PRES_SUBSCRIPTION:
        presence_sub_outbound(srv, s, st, sub);
        return;
    case PRES_PROBE:
        /* Clients should not probe (§4.3); one that does probes as its account. */
        ubare = jid_to_bare(s->jid);
        c = stanza_copy(st);
        stanza_set_from(c, ubare);
        presence_route(srv, c);
        stanza_unref(c);
        jid_free(ubare);
        return;
    case PRES_ERROR:
        router_route(srv, st, NULL);
        return;
    default:
        presence_directed(srv, s, st, t == PRES_AVAILABLE);
        return;
    }
}

/* §3.1.3, §3.1.6, §3.2.3, §3.3.3: the user's side of a subscription stanza
 * from a contact. */
static void
presence_sub_inbound(struct server *srv, const struct stanza *st, enum roster_sub_type t)
{
    struct jid *user = jid_to_bare(st->to);
    struct jid *contact = jid_to_bare(st->from);
    struct dir_roster_item *cur = NULL;
    struct roster_sub_effect e;
    struct stanza *fwd;

    if (strcmp(user->bare, contact->bare) == 0)
        goto out;
    cur = dir_roster_find(srv->dir, user->bare, contact->bare);
    e = roster_sub_inbound(roster_state_of(cur), t);
    log_debug("presence sub-in stanza=%" PRIu64 " type=%s changed=%d delivered=%d", st->id,
              st->type, e.is_changed, e.is_forwarded);
    if (e.is_changed)
        roster_update(srv, user->bare, contact->bare, cur, e.next);
    if (e.is_forwarded) {
        fwd = stanza_copy(st);
        stanza_set_from(fwd, contact);
        stanza_set_to(fwd, user);
        presence_deliver_available(srv, user->bare, fwd, NULL);
        stanza_unref(fwd);
    }
    if (e.is_auto_approved) {
        presence_send_type(srv, user, contact, "subscribed");
        presence_send_current(srv, user->bare, contact);
    }
    if (e.has_lost_from)
        presence_send_unavailable(srv, user->bare, contact);
out:
    if (cur != NULL)
        dir_roster_free(cur, 1);
    jid_free(user);
    jid_free(contact);
}

/* §4.3.2: a probe for a local account. */
static void
presence_probe_inbound(struct server *srv, const struct stanza *st)
{
    struct jid *user = jid_to_bare(st->to);
    struct jid *prober = jid_to_bare(st->from);
    struct dir_roster_item *item;
    bool is_allowed = strcmp(user->bare, prober->bare) == 0;
    bool has_answered = false;
    struct sess *s;
    struct sess *next;
    struct stanza *c;

    if (!is_allowed) {
        item = dir_roster_find(srv->dir, user->bare, prober->bare);
        is_allowed = item != NULL && roster_sub_has_from(item->sub);
        if (item != NULL)
            dir_roster_free(item, 1);
    }
    if (!is_allowed) {
        presence_send_type(srv, user, prober, "unsubscribed");
        goto out;
    }
    for (s = sess_table_bare(srv->sessions, user->bare); s != NULL; s = next) {
        next = s->next_of_bare;
        if (!s->available || s->presence == NULL)
            continue;
        c = presence_of(s);
        stanza_set_to(c, st->from);
        presence_route(srv, c);
        stanza_unref(c);
        has_answered = true;
    }
    if (!has_answered)
        presence_send_type(srv, user, st->from, "unavailable");
out:
    jid_free(user);
    jid_free(prober);
}

static void
presence_inbound(struct server *srv, struct stanza *st)
{
    enum roster_sub_type sub = ROSTER_SUBSCRIBE;
    enum presence_type t = presence_type_of(st->type, &sub);
    struct dir_user *u;
    struct jid *ubare;
    struct sess *s;
    bool is_known;

    if (st->to == NULL || st->to->local == NULL)
        return; /* presence for the server itself: nothing to keep */
    u = dir_user_get(srv->dir, st->to->bare);
    is_known = u != NULL && u->enabled;
    dir_user_unref(u);
    if (!is_known) {
        if (t == PRES_PROBE && st->from != NULL) {
            ubare = jid_to_bare(st->to);
            presence_send_type(srv, ubare, st->from, "unsubscribed");
            jid_free(ubare);
        }
        return;
    }
    switch (t) {
    case PRES_SUBSCRIPTION:
        if (st->from != NULL)
            presence_sub_inbound(srv, st, sub);
        return;
    case PRES_PROBE:
        if (st->from != NULL)
            presence_probe_inbound(srv, st);
        return;
    case PRES_AVAILABLE:
    case PRES_UNAVAILABLE:
    case PRES_ERROR:
        if (st->to->resource != NULL) {
            /* §8.5.3: to a connected resource, else nowhere. */
            s = sess_table_find(srv->sessions, st->to->full);
            if (s != NULL)
                router_deliver(srv, s, st);
        } else if (t != PRES_ERROR) {
            /* §8.5.2.1.3: to every available resource. */
            presence_deliver_available(srv, st->to->bare, st, NULL);
        }
        return;
    case PRES_INVALID:
        return;
    }
}

enum route_result
presence_handle(struct server *srv, struct stanza *st, struct sess *origin)
{
    if (st->kind != STANZA_PRESENCE)
        return ROUTE_PASS;
    if (origin != NULL)
        presence_outbound(srv, st, origin);
    else
        presence_inbound(srv, st);
    return ROUTE_HANDLED;
}

void
presence_rebroadcast(struct server *srv, struct sess *s)
{
    struct dir_roster_item *items = NULL;
    size_t n = 0;

    if (!s->available || s->presence == NULL)
        return;
    if (dir_roster_get(srv->dir, s->jid->bare, &items, &n) != PAL_OK) {
        items = NULL;
        n = 0;
    }
    struct stanza *p = presence_of(s);
    presence_broadcast(srv, s->jid->bare, p, items, n, s);
    stanza_unref(p);
    if (items != NULL)
        dir_roster_free(items, n);
}
