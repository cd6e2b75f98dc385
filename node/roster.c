/* SPDX-License-Identifier: Apache-2.0 */
/* roster.c - jabber:iq:roster (RFC 6121 §2) behind the router, and the
 * subscription state machine of RFC 6121 Appendix A that presence.c drives.
 *
 * The directory is the roster's store: reads come from the replica, writes
 * (dir_roster_put/del) change the replica at once and reach LDAP
 * asynchronously. Every change is pushed to the user's interested resources
 * (those that requested the roster) with an iq set from the user's bare JID.
 * Roster versioning (§2.6) is not offered: 'ver' is ignored and the full roster
 * is returned. */
#include "node/roster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/xml.h"
#include "node/features.h"
#include "node/presence.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/stanza.h"

#define NS_ROSTER "jabber:iq:roster"
#define ROSTER_MAX_NAME 1023    /* bytes of a name or a group name */
#define ROSTER_MAX_GROUPS 64    /* groups per item */

/*
 * The state machine: RFC 6121 Appendix A, tables A.2 (outbound) and A.3
 * (inbound), one row per defined state.
 */

enum roster_st {
    ST_NONE,
    ST_NONE_OUT,    /* None + Pending Out */
    ST_NONE_IN,     /* None + Pending In */
    ST_NONE_OUT_IN, /* None + Pending Out+In */
    ST_TO,
    ST_TO_IN,       /* To + Pending In */
    ST_FROM,
    ST_FROM_OUT,    /* From + Pending Out */
    ST_BOTH,
    ST_COUNT
};

static const struct roster_state roster_states[ST_COUNT] = {
    [ST_NONE] = {DIR_SUB_NONE, false, false},
    [ST_NONE_OUT] = {DIR_SUB_NONE, true, false},
    [ST_NONE_IN] = {DIR_SUB_NONE, false, true},
    [ST_NONE_OUT_IN] = {DIR_SUB_NONE, true, true},
    [ST_TO] = {DIR_SUB_TO, false, false},
    [ST_TO_IN] = {DIR_SUB_TO, false, true},
    [ST_FROM] = {DIR_SUB_FROM, false, false},
    [ST_FROM_OUT] = {DIR_SUB_FROM, true, false},
    [ST_BOTH] = {DIR_SUB_BOTH, false, false},
};

struct roster_rule {
    unsigned char next;
    bool is_forwarded;
};

/* A.2.1-A.2.4: "ROUTE?" and "NEW STATE"; "no state change" is the row's own
 * state. Outbound subscribed in None, None + Pending Out and To would be a
 * pre-approval, which Palisade does not offer: not routed, no change. */
static const struct roster_rule roster_outbound[4][ST_COUNT] = {
    [ROSTER_SUBSCRIBE] = {
        [ST_NONE] = {ST_NONE_OUT, true},
        [ST_NONE_OUT] = {ST_NONE_OUT, true},
        [ST_NONE_IN] = {ST_NONE_OUT_IN, true},
        [ST_NONE_OUT_IN] = {ST_NONE_OUT_IN, true},
        [ST_TO] = {ST_TO, true},
        [ST_TO_IN] = {ST_TO_IN, true},
        [ST_FROM] = {ST_FROM_OUT, true},
        [ST_FROM_OUT] = {ST_FROM_OUT, true},
        [ST_BOTH] = {ST_BOTH, true},
    },
    [ROSTER_UNSUBSCRIBE] = {
        [ST_NONE] = {ST_NONE, true},
        [ST_NONE_OUT] = {ST_NONE, true},
        [ST_NONE_IN] = {ST_NONE_IN, true},
        [ST_NONE_OUT_IN] = {ST_NONE_IN, true},
        [ST_TO] = {ST_NONE, true},
        [ST_TO_IN] = {ST_NONE_IN, true},
        [ST_FROM] = {ST_FROM, true},
        [ST_FROM_OUT] = {ST_FROM, true},
        [ST_BOTH] = {ST_FROM, true},
    },
    [ROSTER_SUBSCRIBED] = {
        [ST_NONE] = {ST_NONE, false},
        [ST_NONE_OUT] = {ST_NONE_OUT, false},
        [ST_NONE_IN] = {ST_FROM, true},
        [ST_NONE_OUT_IN] = {ST_FROM_OUT, true},
        [ST_TO] = {ST_TO, false},
        [ST_TO_IN] = {ST_BOTH, true},
        [ST_FROM] = {ST_FROM, false},
        [ST_FROM_OUT] = {ST_FROM_OUT, false},
        [ST_BOTH] = {ST_BOTH, false},
    },
    [ROSTER_UNSUBSCRIBED] = {
        [ST_NONE] = {ST_NONE, false},
        [ST_NONE_OUT] = {ST_NONE_OUT, false},
        [ST_NONE_IN] = {ST_NONE, true},
        [ST_NONE_OUT_IN] = {ST_NONE_OUT, true},
        [ST_TO] = {ST_TO, false},
        [ST_TO_IN] = {ST_TO, true},
        [ST_FROM] = {ST_NONE, true},
        [ST_FROM_OUT] = {ST_NONE_OUT, true},
        [ST_BOTH] = {ST_TO, true},
    },
};

/* A.3.1-A.3.4: "DELIVER?" and "NEW STATE". */
static const struct roster_rule roster_inbound[4][ST_COUNT] = {
    [ROSTER_SUBSCRIBE] = {
        [ST_NONE] = {ST_NONE_IN, true},
        [ST_NONE_OUT] = {ST_NONE_OUT_IN, true},
        [ST_NONE_IN] = {ST_NONE_IN, false},
        [ST_NONE_OUT_IN] = {ST_NONE_OUT_IN, false},
        [ST_TO] = {ST_TO_IN, true},
        [ST_TO_IN] = {ST_TO_IN, false},
        [ST_FROM] = {ST_FROM, false},         /* auto-approved */
        [ST_FROM_OUT] = {ST_FROM_OUT, false}, /* auto-approved */
        [ST_BOTH] = {ST_BOTH, false},         /* auto-approved */
    },
    [ROSTER_UNSUBSCRIBE] = {
        [ST_NONE] = {ST_NONE, false},
        [ST_NONE_OUT] = {ST_NONE_OUT, false},
        [ST_NONE_IN] = {ST_NONE, true},
        [ST_NONE_OUT_IN] = {ST_NONE_OUT, true},
        [ST_TO] = {ST_TO, false},
        [ST_TO_IN] = {ST_TO, true},
        [ST_FROM] = {ST_NONE, true},
        [ST_FROM_OUT] = {ST_NONE_OUT, true},
        [ST_BOTH] = {ST_TO, true},
    },
    [ROSTER_SUBSCRIBED] = {
        [ST_NONE] = {ST_NONE, false},
        [ST_NONE_OUT] = {ST_TO, true},
        [ST_NONE_IN] = {ST_NONE_IN, false},
        [ST_NONE_OUT_IN] = {ST_TO_IN, true},
        [ST_TO] = {ST_TO, false},
        [ST_TO_IN] = {ST_TO_IN, false},
        [ST_FROM] = {ST_FROM, false},
        [ST_FROM_OUT] = {ST_BOTH, true},
        [ST_BOTH] = {ST_BOTH, false},
    },
    [ROSTER_UNSUBSCRIBED] = {
        [ST_NONE] = {ST_NONE, false},
        [ST_NONE_OUT] = {ST_NONE, true},
        [ST_NONE_IN] = {ST_NONE_IN, false},
        [ST_NONE_OUT_IN] = {ST_NONE_IN, true},
        [ST_TO] = {ST_NONE, true},
        [ST_TO_IN] = {ST_NONE_IN, true},
        [ST_FROM] = {ST_FROM, false},
        [ST_FROM_OUT] = {ST_FROM, true},
        [ST_BOTH] = {ST_FROM, true},
    },
};

bool
roster_sub_type_parse(const char *s, enum roster_sub_type *out)
{
    static const char *const names[] = {
        [ROSTER_SUBSCRIBE] = "subscribe",
        [ROSTER_SUBSCRIBED] = "subscribed",
        [ROSTER_UNSUBSCRIBE] = "unsubscribe",
        [ROSTER_UNSUBSCRIBED] = "unsubscribed",
    };
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum roster_sub_type)i;
            return true;
        }
    }
    return false;
}

bool
roster_sub_has_to(enum dir_sub sub)
{
    return sub == DIR_SUB_TO || sub == DIR_SUB_BOTH;
}

bool
roster_sub_has_from(enum dir_sub sub)
{
    return sub == DIR_SUB_FROM || sub == DIR_SUB_BOTH;
}

const char *
roster_sub_str(enum dir_sub sub)
{
    switch (sub) {
    case DIR_SUB_TO:
        return "to";
    case DIR_SUB_FROM:
        return "from";
    case DIR_SUB_BOTH:
        return "both";
    case DIR_SUB_NONE:
        break;
    }
    return "none";
}

static struct roster_state
roster_state_normalize(struct roster_state s)
{
    if (s.sub != DIR_SUB_TO && s.sub != DIR_SUB_FROM && s.sub != DIR_SUB_BOTH)
        s.sub = DIR_SUB_NONE;
    /* Pending Out means "asked, not yet 'to'"; Pending In "asked, not yet 'from'". */
    if (roster_sub_has_to(s.sub))
        s.ask_out = false;
    if (roster_sub_has_from(s.sub))
        s.ask_in = false;
    return s;
}

struct roster_state
roster_state_of(const struct dir_roster_item *item)
{
    struct roster_state s = {DIR_SUB_NONE, false, false};

    if (item != NULL) {
        s.sub = item->sub;
        s.ask_out = item->ask_out;
        s.ask_in = item->ask_in;
    }
    return roster_state_normalize(s);
}

bool
roster_state_equal(struct roster_state a, struct roster_state b)
{
    return a.sub == b.sub && a.ask_out == b.ask_out && a.ask_in == b.ask_in;
}

static enum roster_st
roster_st_index(struct roster_state s)
{
    enum roster_st i;

    s = roster_state_normalize(s);
    for (i = ST_NONE; i < ST_COUNT; i++)
        if (roster_state_equal(roster_states[i], s))
            return i;
    return ST_NONE; /* unreachable: normalisation yields one of the nine */
}

static struct roster_sub_effect
roster_sub_apply(const struct roster_rule table[4][ST_COUNT], struct roster_state cur,
                 enum roster_sub_type t)
{
    struct roster_sub_effect e = {0};
    enum roster_st from_st = roster_st_index(cur);
    const struct roster_rule *r = &table[t][from_st];

    cur = roster_states[from_st];
    e.next = roster_states[r->next];
    e.is_forwarded = r->is_forwarded;
    e.is_changed = !roster_state_equal(cur, e.next);
    e.has_gained_from = !roster_sub_has_from(cur.sub) && roster_sub_has_from(e.next.sub);
    e.has_lost_from = roster_sub_has_from(cur.sub) && !roster_sub_has_from(e.next.sub);
    return e;
}

struct roster_sub_effect
roster_sub_outbound(struct roster_state cur, enum roster_sub_type t)
{
    return roster_sub_apply(roster_outbound, cur, t);
}

struct roster_sub_effect
roster_sub_inbound(struct roster_state cur, enum roster_sub_type t)
{
    struct roster_sub_effect e = roster_sub_apply(roster_inbound, cur, t);

    /* §3.1.3: the contact already has the user's presence; answer for the user
     * (and, since the requester evidently lost track, send presence too). */
    e.is_auto_approved = t == ROSTER_SUBSCRIBE && roster_sub_has_from(e.next.sub);
    return e;
}

bool
roster_item_is_visible(const struct dir_roster_item *item)
{
    struct roster_state s = roster_state_of(item);

    return !(s.sub == DIR_SUB_NONE && !s.ask_out && s.ask_in &&
             (item->name == NULL || item->name[0] == '\0') && item->n_groups == 0);
}

/*
 * Pushes and writes.
 */

static void
roster_item_xml(struct xml_tree *t, struct xml_node *query, const char *contact,
                const struct dir_roster_item *item)
{
    struct xml_node *el = xml_elem_new(t, query, NULL, "item");
    struct xml_node *g;
    struct roster_state s;
    size_t i;

    xml_set_attr(t, el, NULL, "jid", contact);
    if (item == NULL) {
        xml_set_attr(t, el, NULL, "subscription", "remove");
        return;
    }
    s = roster_state_of(item);
    if (item->name != NULL && item->name[0] != '\0')
        xml_set_attr(t, el, NULL, "name", item->name);
    xml_set_attr(t, el, NULL, "subscription", roster_sub_str(s.sub));
    if (s.ask_out)
        xml_set_attr(t, el, NULL, "ask", "subscribe");
    for (i = 0; i < item->n_groups; i++) {
        g = xml_elem_new(t, el, NULL, "group");
        xml_add_text(t, g, item->groups[i], strlen(item->groups[i]));
    }
}

void
roster_push(struct server *srv, const char *user, const char *contact,
            const struct dir_roster_item *item)
{
    struct jid *from = NULL;
    struct sess *s;
    struct sess *next;
    struct stanza *push;
    struct xml_node *q;
    char id[32];
    uint64_t n;

    if (jid_parse(user, &from) != PAL_OK)
        return;
    for (s = sess_table_bare(srv->sessions, user); s != NULL; s = next) {
        next = s->next_of_bare;
        if (!s->interested)
            continue;
        n = server_next_id(srv);
        snprintf(id, sizeof id, "push%" PRIu64, n);
        push = stanza_new(STANZA_IQ, from, s->jid, "set", id);
        push->id = n;
        q = xml_elem_new(push->tree, push->el, NS_ROSTER, "query");
        roster_item_xml(push->tree, q, contact, item);
        log_debug("roster push sess=%" PRIu64 " stanza=%" PRIu64, s->id, push->id);
        router_deliver(srv, s, push);
        stanza_unref(push);
    }
    jid_free(from);
}

/* Writes item (or deletes contact's item when item is NULL) and pushes what the
 * user's clients should now see. was_visible: whether they saw it before. */
static int
roster_store(struct server *srv, const char *user, const char *contact,
             const struct dir_roster_item *item, bool was_visible)
{
    int rc;

    if (item != NULL)
        rc = dir_roster_put(srv->dir, user, item);
    else
        rc = dir_roster_del(srv->dir, user, contact);
    if (rc != PAL_OK) {
        log_warn("roster write-failed user=%s error=%s", user, pal_strerror(rc));
        return rc;
    }
    if (item != NULL && roster_item_is_visible(item))
        roster_push(srv, user, contact, item);
    else if (was_visible)
        roster_push(srv, user, contact, NULL);
    return PAL_OK;
}

void
roster_update(struct server *srv, const char *user, const char *contact,
              const struct dir_roster_item *cur, struct roster_state next)
{
    struct dir_roster_item it = {0};
    bool was_visible = cur != NULL && roster_item_is_visible(cur);
    bool is_empty = next.sub == DIR_SUB_NONE && !next.ask_out && !next.ask_in;

    if (is_empty && (cur == NULL || !was_visible)) {
        /* A request-only item whose request is gone: nothing left to keep. */
        if (cur != NULL)
            (void)roster_store(srv, user, contact, NULL, false);
        return;
    }
    if (cur != NULL)
        it = *cur; /* shallow: name and groups stay borrowed from cur */
    it.jid = (char *)contact;
    it.sub = next.sub;
    it.ask_out = next.ask_out;
    it.ask_in = next.ask_in;
    (void)roster_store(srv, user, contact, &it, was_visible);
}

/*
 * jabber:iq:roster get and set from the user's own session.
 */

static void
roster_reply_error(struct server *srv, struct sess *origin, const struct stanza *st,
                   const char *etype, const char *cond, const char *text)
{
    struct stanza *e = stanza_error_reply(st, NULL, etype, cond, text);

    router_deliver(srv, origin, e);
    stanza_unref(e);
}

static void
roster_get(struct server *srv, struct stanza *st, struct sess *origin)
{
    struct dir_roster_item *items = NULL;
    size_t n = 0;
    struct stanza *r;
    struct xml_node *q;
    size_t i;
    int rc;

    rc = dir_roster_get(srv->dir, origin->jid->bare, &items, &n);
    if (rc != PAL_OK && rc != PAL_ENOENT) {
        roster_reply_error(srv, origin, st, "wait", "internal-server-error", NULL);
        return;
    }
    r = stanza_iq_result(st);
    q = xml_elem_new(r->tree, r->el, NS_ROSTER, "query");
    for (i = 0; i < n; i++)
        if (roster_item_is_visible(&items[i]))
            roster_item_xml(r->tree, q, items[i].jid, &items[i]);
    /* RFC 6121 §2.1.6: requesting the roster makes a resource interested. */
    origin->interested = true;
    router_deliver(srv, origin, r);
    stanza_unref(r);
    if (items != NULL)
        dir_roster_free(items, n);
}

/* §2.5.2: removing an item cancels both directions of the subscription. */
static void
roster_remove(struct server *srv, struct stanza *st, struct sess *origin,
              const struct jid *contact)
{
    const char *user = origin->jid->bare;
    struct dir_roster_item *cur = dir_roster_find(srv->dir, user, contact->bare);
    struct jid *ujid = NULL;
    struct stanza *r;
    struct roster_state s;
    bool was_visible;

    if (cur == NULL) {
        roster_reply_error(srv, origin, st, "cancel", "item-not-found", NULL);
        return;
    }
    s = roster_state_of(cur);
    was_visible = roster_item_is_visible(cur);
    ujid = jid_to_bare(origin->jid);
    if (roster_sub_has_to(s.sub) || s.ask_out)
        presence_send_type(srv, ujid, contact, "unsubscribe");
    if (roster_sub_has_from(s.sub) || s.ask_in)
        presence_send_type(srv, ujid, contact, "unsubscribed");
    if (roster_sub_has_from(s.sub))
        presence_send_unavailable(srv, user, contact);
    if (roster_store(srv, user, contact->bare, NULL, was_visible) != PAL_OK) {
        roster_reply_error(srv, origin, st, "wait", "internal-server-error", NULL);
        goto out;
    }
    r = stanza_iq_result(st);
    router_deliver(srv, origin, r);
    stanza_unref(r);
out:
    jid_free(ujid);
    dir_roster_free(cur, 1);
}

/* Reads the <group/> children of item into groups[]; returns NULL or the error
 * condition (§2.3.3). */
static const char *
roster_read_groups(struct stanza *st, struct xml_node *item, char **groups, size_t *n)
{
    struct xml_node *g;
    const char *text;
    size_t i;

    *n = 0;
    for (g = xml_child(item, NS_ROSTER, "group"); g != NULL; g = xml_next(g, NS_ROSTER, "group")) {
        text = xml_text(st->tree, g);
        if (text[0] == '\0' || strlen(text) > ROSTER_MAX_NAME)
            return "not-acceptable";
        for (i = 0; i < *n; i++)
            if (strcmp(groups[i], text) == 0)
                return "bad-request";
        if (*n == ROSTER_MAX_GROUPS)
            return "not-acceptable";
        groups[(*n)++] = (char *)text;
    }
    return NULL;
}

static void
roster_set(struct server *srv, struct stanza *st, struct sess *origin, struct xml_node *query)
{
    const char *user = origin->jid->bare;
    struct xml_node *item = xml_child(query, NS_ROSTER, "item");
    struct jid *contact = NULL;
    struct dir_roster_item *cur = NULL;
    struct dir_roster_item it = {0};
    char *groups[ROSTER_MAX_GROUPS];
    const char *jid_attr;
    const char *sub;
    const char *name;
    const char *cond;
    struct roster_state s;
    struct stanza *r;

    if (item == NULL || xml_next(item, NS_ROSTER, "item") != NULL) {
        roster_reply_error(srv, origin, st, "modify", "bad-request", NULL);
        return;
    }
    jid_attr = xml_attr(item, "jid");
    if (jid_attr == NULL) {
        roster_reply_error(srv, origin, st, "modify", "bad-request", NULL);
        return;
    }
    if (jid_parse(jid_attr, &contact) != PAL_OK) {
        roster_reply_error(srv, origin, st, "modify", "jid-malformed", NULL);
        return;
    }
    if (contact->resource != NULL) {
        roster_reply_error(srv, origin, st, "modify", "bad-request",
                           "roster items are bare JIDs");
        goto out;
    }
    /* §2.1.2.5: in a roster set the server ignores every 'subscription' value
     * but "remove" (and 'ask' altogether). */
    sub = xml_attr(item, "subscription");
    if (sub != NULL && strcmp(sub, "remove") == 0) {
        roster_remove(srv, st, origin, contact);
        goto out;
    }
    name = xml_attr(item, "name");
    if (name != NULL && strlen(name) > ROSTER_MAX_NAME) {
        roster_reply_error(srv, origin, st, "modify", "not-acceptable", NULL);
        goto out;
    }
    cond = roster_read_groups(st, item, groups, &it.n_groups);
    if (cond != NULL) {
        roster_reply_error(srv, origin, st, "modify", cond, NULL);
        goto out;
    }
    cur = dir_roster_find(srv->dir, user, contact->bare);
    s = roster_state_of(cur);
    it.jid = (char *)contact->bare;
    it.name = name != NULL && name[0] != '\0' ? (char *)name : NULL;
    it.groups = it.n_groups > 0 ? groups : NULL;
    it.sub = s.sub;
    it.ask_out = s.ask_out;
    it.ask_in = s.ask_in;
    if (roster_store(srv, user, contact->bare, &it,
                     cur != NULL && roster_item_is_visible(cur)) != PAL_OK) {
        roster_reply_error(srv, origin, st, "wait", "internal-server-error", NULL);
        goto out;
    }
    r = stanza_iq_result(st);
    router_deliver(srv, origin, r);
    stanza_unref(r);
out:
    if (cur != NULL)
        dir_roster_free(cur, 1);
    jid_free(contact);
}

enum route_result
roster_handle_iq(struct server *srv, struct stanza *st, struct sess *origin)
{
    struct xml_node *q;

    if (st->kind != STANZA_IQ || origin == NULL || st->type == NULL)
        return ROUTE_PASS;
    if (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0)
        return ROUTE_PASS;
    q = stanza_iq_payload(st);
    if (q == NULL || strcmp(q->ns, NS_ROSTER) != 0 || strcmp(q->name, "query") != 0)
        return ROUTE_PASS;
    /* Only the user's own roster: to absent or the user's bare JID. Anything
     * else (another account, a full JID) is not ours to answer. */
    if (st->to != NULL &&
        (st->to->resource != NULL || strcmp(st->to->bare, origin->jid->bare) != 0))
        return ROUTE_PASS;
    if (!stanza_iq_payload_ok(st))
        roster_reply_error(srv, origin, st, "modify", "bad-request", NULL);
    else if (strcmp(st->type, "get") == 0)
        roster_get(srv, st, origin);
    else
        roster_set(srv, st, origin, q);
    return ROUTE_HANDLED;
}
