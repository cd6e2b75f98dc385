/* SPDX-License-Identifier: Apache-2.0 */
/* services.c - the iq services behind the router: what the server answers
 * itself (its domain) or on behalf of an account (a user's bare JID, or no 'to'
 * from the user's own session, RFC 6120 §10.3.3), and the last word on every
 * other iq for a local entity.
 *
 * - the domain: disco#info (server/im), disco#items (the MUC service), ping,
 *   version;
 * - a bare JID: disco#info (account/registered) and disco#items to the user or
 *   a contact with a 'from'/'both' subscription, ping likewise; vCard from the
 *   directory entry to any account of this server's domains (the directory
 *   already publishes these attributes inside the organisation); vCard set is
 *   not-allowed, since the directory is the system of record and
 *   administrators change it there;
 * - anything else for a local entity: get/set to an unknown namespace or a
 *   full JID without a session is service-unavailable (RFC 6121 §8.5.3.1,
 *   §8.5.2.2.3), a result or error nobody awaits is dropped. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xml.h"
#include "directory/directory.h"
#include "node/features.h"
#include "node/labels.h"
#include "node/muc.h"
#include "policy/policy.h"
#include "node/roster.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/stanza.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_VCARD "vcard-temp"
#define NS_VERSION "jabber:iq:version"
#define NS_ROSTER "jabber:iq:roster"

/* Features of the server domain. The security-label features
 * (urn:xmpp:sec-label:0, urn:xmpp:sec-label:catalog:2) join this list only
 * once a policy is loaded. */
static const char *const services_server_features[] = {
    NS_DISCO_INFO, NS_DISCO_ITEMS, NS_ROSTER, NS_PING, NS_VCARD, NS_VERSION,
};

static bool
services_is(const struct xml_node *q, const char *ns, const char *name)
{
    return strcmp(q->ns, ns) == 0 && strcmp(q->name, name) == 0;
}

/* Replies to the requester: straight to its session when it is the origin. */
static void
services_send(struct server *srv, struct sess *origin, struct stanza *r)
{
    if (r->id == 0)
        r->id = server_next_id(srv);
    if (origin != NULL && r->to != NULL && jid_equal(r->to, origin->jid))
        router_deliver(srv, origin, r);
    else
        router_route(srv, r, NULL);
}

static void
services_error(struct server *srv, struct sess *origin, const struct stanza *st,
               const struct jid *target, const char *etype, const char *cond, const char *text)
{
    struct stanza *e;

    if (st->from == NULL)
        return;
    e = stanza_error_reply(st, target, etype, cond, text);
    services_send(srv, origin, e);
    stanza_unref(e);
}

/* A result with an empty <name xmlns=ns/> payload; *q receives it. */
static struct stanza *
services_result(const struct stanza *st, const struct jid *target, const char *ns,
                const char *name, struct xml_node **q)
{
    struct stanza *r = stanza_iq_result(st);

    stanza_set_from(r, target);
    *q = ns != NULL ? xml_elem_new(r->tree, r->el, ns, name) : NULL;
    return r;
}

static void
services_add_identity(struct stanza *r, struct xml_node *q, const char *category,
                      const char *type, const char *name)
{
    struct xml_node *id = xml_elem_new(r->tree, q, NULL, "identity");

    xml_set_attr(r->tree, id, NULL, "category", category);
    xml_set_attr(r->tree, id, NULL, "type", type);
    if (name != NULL)
        xml_set_attr(r->tree, id, NULL, "name", name);
}

static void
services_add_feature(struct stanza *r, struct xml_node *q, const char *var)
{
    struct xml_node *f = xml_elem_new(r->tree, q, NULL, "feature");

    xml_set_attr(r->tree, f, NULL, "var", var);
}

static bool
services_has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void
services_add_text(struct stanza *r, struct xml_node *parent, const char *name, const char *text)
{
    struct xml_node *el;

    if (!services_has_text(text))
        return;
    el = xml_elem_new(r->tree, parent, NULL, name);
    xml_add_text(r->tree, el, text, strlen(text));
}

/*
 * The server's domain.
 */

static void
services_server(struct server *srv, struct stanza *st, struct sess *origin,
                const struct jid *target, const struct xml_node *p)
{
    bool is_get = strcmp(st->type, "get") == 0;
    struct stanza *r = NULL;
    struct xml_node *q;
    struct xml_node *el;
    size_t i;

    if (is_get && services_is(p, NS_DISCO_INFO, "query")) {
        if (xml_attr(p, "node") != NULL) {
            services_error(srv, origin, st, target, "cancel", "item-not-found", NULL);
            return;
        }
        r = services_result(st, target, NS_DISCO_INFO, "query", &q);
        services_add_identity(r, q, "server", "im", "Palisade");
        for (i = 0; i < sizeof services_server_features / sizeof services_server_features[0]; i++)
            services_add_feature(r, q, services_server_features[i]);
        if (labels_enabled(srv)) {
            services_add_feature(r, q, POLICY_NS_SECLABEL);
            services_add_feature(r, q, POLICY_NS_CATALOG);
        }
    } else if (is_get && services_is(p, NS_DISCO_ITEMS, "query")) {
        if (xml_attr(p, "node") != NULL) {
            services_error(srv, origin, st, target, "cancel", "item-not-found", NULL);
            return;
        }
        r = services_result(st, target, NS_DISCO_ITEMS, "query", &q);
        const char *muc = muc_service_for(srv, target->domain);
        if (muc) { /* XEP-0045 §6.1: the chat service is found from the domain */
            el = xml_elem_new(r->tree, q, NULL, "item");
            xml_set_attr(r->tree, el, NULL, "jid", muc);
            xml_set_attr(r->tree, el, NULL, "name", "Chatrooms");
            stanza_touched(r);
        }
    } else if (is_get && services_is(p, NS_PING, "ping")) {
        r = services_result(st, target, NULL, NULL, &q);
    } else if (is_get && services_is(p, NS_VERSION, "query")) {
        /* XEP-0092: name and version; the optional <os/> would only help an attacker. */
        r = services_result(st, target, NS_VERSION, "query", &q);
        el = xml_elem_new(r->tree, q, NULL, "name");
        xml_add_text(r->tree, el, "Palisade", strlen("Palisade"));
        el = xml_elem_new(r->tree, q, NULL, "version");
        xml_add_text(r->tree, el, PALISADE_VERSION, strlen(PALISADE_VERSION));
    } else {
        services_error(srv, origin, st, target, "cancel", "service-unavailable", NULL);
        return;
    }
    services_send(srv, origin, r);
    stanza_unref(r);
}

/*
 * An account's bare JID.
 */

/* Standard base64 of n bytes; caller frees. */
static char *
services_base64(const unsigned char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((n + 2) / 3 * 4 + 1);
    char *o = out;
    size_t i;
    unsigned v;

    for (i = 0; i + 2 < n; i += 3) {
        v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = tab[v >> 6 & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* XEP-0054 from the inetOrgPerson attributes of the entry. */
static void
services_vcard_fill(struct stanza *r, struct xml_node *vc, const struct dir_user *u)
{
    struct xml_node *el;
    char *b64;

    services_add_text(r, vc, "FN", u->cn);
    if (services_has_text(u->sn) || services_has_text(u->given_name)) {
        el = xml_elem_new(r->tree, vc, NULL, "N");
        services_add_text(r, el, "FAMILY", u->sn);
        services_add_text(r, el, "GIVEN", u->given_name);
    }
    if (services_has_text(u->mail)) {
        el = xml_elem_new(r->tree, vc, NULL, "EMAIL");
        xml_elem_new(r->tree, el, NULL, "INTERNET");
        services_add_text(r, el, "USERID", u->mail);
    }
    if (services_has_text(u->telephone)) {
        el = xml_elem_new(r->tree, vc, NULL, "TEL");
        services_add_text(r, el, "NUMBER", u->telephone);
    }
    services_add_text(r, vc, "TITLE", u->title);
    if (services_has_text(u->ou)) {
        el = xml_elem_new(r->tree, vc, NULL, "ORG");
        services_add_text(r, el, "ORGUNIT", u->ou);
    }
    if (u->jpeg != NULL && u->jpeg_len > 0) {
        el = xml_elem_new(r->tree, vc, NULL, "PHOTO");
        services_add_text(r, el, "TYPE", "image/jpeg");
        b64 = services_base64(u->jpeg, u->jpeg_len);
        services_add_text(r, el, "BINVAL", b64);
        free(b64);
    }
}

/* The requester is the account itself or receives its presence. */
static bool
services_may_see_account(struct server *srv, const struct stanza *st, const char *user)
{
    struct dir_roster_item *item;
    bool is_allowed;

    if (st->from == NULL)
        return false;
    if (strcmp(st->from->bare, user) == 0)
        return true;
    item = dir_roster_find(srv->dir, user, st->from->bare);
    is_allowed = item != NULL && roster_sub_has_from(item->sub);
    if (item != NULL)
        dir_roster_free(item, 1);
    return is_allowed;
}

static void
services_account(struct server *srv, struct stanza *st, struct sess *origin,
                 const struct jid *target, const struct xml_node *p)
{
    bool is_get = strcmp(st->type, "get") == 0;
    struct dir_user *u = dir_user_get(srv->dir, target->bare);
    struct stanza *r = NULL;
    struct xml_node *q;

    if (u == NULL || !u->enabled) {
        services_error(srv, origin, st, target, "cancel", "service-unavailable", NULL);
        goto out;
    }
    if (services_is(p, NS_VCARD, "vCard")) {
        if (!is_get) {
            services_error(srv, origin, st, target, "cancel", "not-allowed",
                           "vCards come from the directory; ask an administrator to change it");
        } else if (st->from == NULL || !server_is_local_domain(srv, st->from->domain)) {
            services_error(srv, origin, st, target, "cancel", "service-unavailable", NULL);
        } else {
            r = services_result(st, st->to, NS_VCARD, "vCard", &q);
            services_vcard_fill(r, q, u);
        }
    } else if (is_get && (services_is(p, NS_DISCO_INFO, "query") ||
                          services_is(p, NS_DISCO_ITEMS, "query") ||
                          services_is(p, NS_PING, "ping"))) {
        /* Answering reveals that the account exists: only to those who may know. */
        if (!services_may_see_account(srv, st, target->bare)) {
            services_error(srv, origin, st, target, "cancel", "service-unavailable", NULL);
        } else if (services_is(p, NS_PING, "ping")) {
            r = services_result(st, st->to, NULL, NULL, &q);
        } else if (xml_attr(p, "node") != NULL) {
            services_error(srv, origin, st, target, "cancel", "item-not-found", NULL);
        } else if (services_is(p, NS_DISCO_INFO, "query")) {
            r = services_result(st, st->to, NS_DISCO_INFO, "query", &q);
            services_add_identity(r, q, "account", "registered", NULL);
            services_add_feature(r, q, NS_DISCO_INFO);
            services_add_feature(r, q, NS_DISCO_ITEMS);
        } else {
            r = services_result(st, st->to, NS_DISCO_ITEMS, "query", &q);
        }
    } else {
        services_error(srv, origin, st, target, "cancel", "service-unavailable", NULL);
    }
    if (r != NULL)
        services_send(srv, origin, r);
out:
    stanza_unref(r);
    dir_user_unref(u);
}

enum route_result
services_handle_iq(struct server *srv, struct stanza *st, struct sess *origin)
{
    struct jid *self = NULL;
    const struct jid *target = st->to;
    const struct xml_node *p;
    struct sess *s;

    if (st->kind != STANZA_IQ || st->type == NULL)
        return ROUTE_PASS;
    if (target == NULL) {
        /* RFC 6120 §10.3.3: handled on behalf of the sender's account. */
        if (origin == NULL)
            return ROUTE_PASS;
        self = jid_to_bare(origin->jid);
        target = self;
    }
    if (!server_is_local_domain(srv, target->domain)) {
        jid_free(self);
        return ROUTE_PASS;
    }
    if (target->resource != NULL) {
        /* A full JID: its session answers, or nobody does. */
        s = sess_table_find(srv->sessions, target->full);
        if (s != NULL)
            router_deliver(srv, s, st);
        else if (strcmp(st->type, "get") == 0 || strcmp(st->type, "set") == 0)
            services_error(srv, origin, st, NULL, "cancel", "service-unavailable", NULL);
        goto out;
    }
    if (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0)
        goto out; /* results and errors for the server or an account: nobody waits */
    if (!stanza_iq_payload_ok(st)) {
        services_error(srv, origin, st, self != NULL ? NULL : target, "modify", "bad-request",
                       NULL);
        goto out;
    }
    p = stanza_iq_payload(st);
    if (target->local == NULL)
        services_server(srv, st, origin, target, p);
    else
        services_account(srv, st, origin, target, p);
out:
    jid_free(self);
    return ROUTE_HANDLED;
}
