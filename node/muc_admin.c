/* SPDX-License-Identifier: Apache-2.0 */
/* muc_admin.c - the administrative half of multi-user chat (XEP-0045), behind
 * muc_route(): iqs to a MUC service or a room and mediated invitations.
 *
 * - disco#info and disco#items (XEP-0030) of the service and of each room,
 *   with the muc#roominfo form (XEP-0128);
 * - muc#owner: the configuration form (XEP-0004, muc#roomconfig), instant
 *   rooms, cancelling a new room's configuration, destruction;
 * - muc#admin: role changes (kick, voice, moderator) by nick, affiliation
 *   changes (ban, member, admin, owner) by JID, and the lists of both;
 * - invitations and declines relayed by the room (§7.8.2).
 *
 * The state it changes lives in muc.c, which tells the cluster and writes
 * persistent rooms to the directory. An iq with several items is checked whole
 * before any of it is applied. Invitations are new, unlabelled messages: they
 * copy no label, and no reason from a labelled message, so nothing said under
 * a label travels under another. */
#include "node/muc_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xml.h"
#include "directory/directory.h"
#include "node/hash.h"
#include "node/labels.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/stanza.h"
#include "policy/policy.h"

#define NS_X_CONFERENCE "jabber:x:conference"
/* Room name, description and password in the form: bytes. */
#define MUC_ADMIN_TEXT_MAX 1024
/* Invitations one message may ask the room to relay. */
#define MUC_ADMIN_INVITES_MAX 32

/* An error for the requester: XEP-0045's condition and type. */
struct muc_admin_err {
    const char *etype;
    const char *cond;
    const char *text;
};

static bool
muc_admin_fail(struct muc_admin_err *e, const char *etype, const char *cond, const char *text)
{
    e->etype = etype;
    e->cond = cond;
    e->text = text;
    return false;
}

static bool
muc_admin_is(const struct xml_node *el, const char *ns, const char *name)
{
    return el->ns != NULL && strcmp(el->ns, ns) == 0 && strcmp(el->name, name) == 0;
}

/* Sends a stanza we built and drops our reference. */
static void
muc_admin_send(struct server *srv, struct stanza *st)
{
    muc_send(srv, st);
    stanza_unref(st);
}

/* A result to iq with an empty <name xmlns=ns/> payload (*q), or none. */
static struct stanza *
muc_admin_result(const struct stanza *iq, const char *ns, const char *name, struct xml_node **q)
{
    struct stanza *res = stanza_iq_result(iq);

    *q = ns != NULL ? xml_elem_new(res->tree, res->el, ns, name) : NULL;
    return res;
}

static void
muc_admin_text_el(struct stanza *st, struct xml_node *parent, const char *name, const char *text)
{
    struct xml_node *el = xml_elem_new(st->tree, parent, NULL, name);

    if (text != NULL)
        xml_add_text(st->tree, el, text, strlen(text));
}

static void
muc_admin_identity(struct stanza *res, struct xml_node *q, const char *name)
{
    struct xml_node *id = xml_elem_new(res->tree, q, NULL, "identity");

    xml_set_attr(res->tree, id, NULL, "category", "conference");
    xml_set_attr(res->tree, id, NULL, "type", "text");
    xml_set_attr(res->tree, id, NULL, "name", name);
}

static void
muc_admin_feature(struct stanza *res, struct xml_node *q, const char *var)
{
    struct xml_node *f = xml_elem_new(res->tree, q, NULL, "feature");

    xml_set_attr(res->tree, f, NULL, "var", var);
}

/* A data form field (XEP-0004); type, label and value may be NULL. */
static struct xml_node *
muc_admin_field(struct stanza *res, struct xml_node *x, const char *var, const char *type,
                const char *label, const char *value)
{
    struct xml_node *f = xml_elem_new(res->tree, x, NULL, "field");

    xml_set_attr(res->tree, f, NULL, "var", var);
    if (type != NULL)
        xml_set_attr(res->tree, f, NULL, "type", type);
    if (label != NULL)
        xml_set_attr(res->tree, f, NULL, "label", label);
    if (value != NULL)
        muc_admin_text_el(res, f, "value", value);
    return f;
}

static void
muc_admin_option(struct stanza *res, struct xml_node *f, const char *label, const char *value)
{
    struct xml_node *o = xml_elem_new(res->tree, f, NULL, "option");

    xml_set_attr(res->tree, o, NULL, "label", label);
    muc_admin_text_el(res, o, "value", value);
}

static const char *
muc_admin_room_name(const struct muc_room *r)
{
    return r->cfg.name != NULL && r->cfg.name[0] != '\0' ? r->cfg.name : r->j->local;
}

/* Is some resource of bare in the room? */
static bool
muc_admin_bare_inside(const struct muc_room *r, const char *bare)
{
    size_t i;

    for (i = 0; i < r->n_occ; i++)
        if (strcmp(r->occ[i]->jid->bare, bare) == 0)
            return true;
    return false;
}

/* Is the room still there? Removing its last occupant drops a temporary
 * room, so r must not be used once this is false. room_jid: a copy. */
static bool
muc_admin_alive(struct server *srv, const char *room_jid)
{
    return muc_room_find(srv, room_jid) != NULL;
}

/* Copies of the nicks of the occupants whose real bare JID is bare (bare
 * NULL: every occupant with an affiliation below min); caller frees them and
 * the array. Occupants are removed by nick afterwards, since each removal
 * changes r->occ. */
static char **
muc_admin_nicks(struct server *srv, struct muc_room *r, const char *bare, enum muc_affil min,
                size_t *n)
{
    char **v = xcalloc(r->n_occ > 0 ? r->n_occ : 1, sizeof *v);
    const struct muc_occupant *o;
    size_t i;

    *n = 0;
    for (i = 0; i < r->n_occ; i++) {
        o = r->occ[i];
        if (bare != NULL ? strcmp(o->jid->bare, bare) == 0
                         : muc_affil_of(srv, r, o->jid->bare) < min)
            v[(*n)++] = xstrdup(o->nick);
    }
    return v;
}

static void
muc_admin_nicks_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A message from the room to to with <x xmlns=muc#user>, type normal and a
 * fresh id; *x receives the <x/>. */
static struct stanza *
muc_admin_message(struct server *srv, const struct muc_room *r, const struct jid *to,
                  const char *type, struct xml_node **x)
{
    char id[40];
    struct stanza *m;

    snprintf(id, sizeof id, "muc-%" PRIu64, server_next_id(srv));
    m = stanza_new(STANZA_MESSAGE, r->j, to, type, id);
    m->id = server_next_id(srv);
    *x = xml_elem_new(m->tree, m->el, NS_MUC_USER, "x");
    return m;
}

/* The text of the first <name/> child of el in el's namespace, or NULL. */
static const char *
muc_admin_child_text(struct stanza *st, const struct xml_node *el, const char *name)
{
    const struct xml_node *c = xml_child(el, el->ns, name);

    return c != NULL ? xml_text(st->tree, c) : NULL;
}

/* Does st carry a security label (or did labels.c give it one)? */
static bool
muc_admin_is_labelled(const struct stanza *st)
{
    return st->label_state >= 2 || xml_child(st->el, POLICY_NS_SECLABEL, NULL) != NULL;
}

/*
 * disco of the service.
 */

static int
muc_admin_room_cmp(const void *a, const void *b)
{
    const struct muc_room *ra = *(void *const *)a;
    const struct muc_room *rb = *(void *const *)b;

    return strcmp(ra->jid, rb->jid);
}

static void
muc_admin_service(struct server *srv, struct stanza *st, const struct xml_node *p, bool is_get)
{
    struct stanza *res;
    struct xml_node *q;
    struct xml_node *item;
    void **rooms;
    const struct muc_room *room;
    size_t n = 0;
    size_t i;

    if (is_get && muc_admin_is(p, NS_DISCO_INFO, "query")) {
        if (xml_attr(p, "node") != NULL) {
            muc_error(srv, st, "cancel", "item-not-found", NULL);
            return;
        }
        res = muc_admin_result(st, NS_DISCO_INFO, "query", &q);
        muc_admin_identity(res, q, "Chatrooms");
        muc_admin_feature(res, q, NS_MUC);
        muc_admin_feature(res, q, NS_DISCO_INFO);
        muc_admin_feature(res, q, NS_DISCO_ITEMS);
        if (labels_enabled(srv)) {
            muc_admin_feature(res, q, POLICY_NS_SECLABEL);
            muc_admin_feature(res, q, POLICY_NS_CATALOG);
        }
        muc_admin_send(srv, res);
    } else if (is_get && muc_admin_is(p, NS_DISCO_ITEMS, "query")) {
        if (xml_attr(p, "node") != NULL) {
            muc_error(srv, st, "cancel", "item-not-found", NULL);
            return;
        }
        res = muc_admin_result(st, NS_DISCO_ITEMS, "query", &q);
        rooms = srv->muc != NULL ? hash_values(srv->muc->rooms, &n) : NULL;
        if (n > 1)
            qsort(rooms, n, sizeof *rooms, muc_admin_room_cmp);
        for (i = 0; i < n; i++) {
            room = rooms[i];
            /* Hidden and locked rooms are not listed; a members-only room
             * is listed when it is public, like any other. */
            if (!room->cfg.public_ || room->locked ||
                strcmp(room->j->domain, st->to->domain) != 0)
                continue;
            item = xml_elem_new(res->tree, q, NULL, "item");
            xml_set_attr(res->tree, item, NULL, "jid", room->jid);
            xml_set_attr(res->tree, item, NULL, "name", muc_admin_room_name(room));
        }
        free(rooms);
        muc_admin_send(srv, res);
    } else {
        muc_error(srv, st, "cancel", "service-unavailable", NULL);
    }
}

/*
 * disco of a room.
 */

/* The subject is an occupant's words, carried without a label. Outside a
 * room with a default label it goes only to the occupants: whoever is not in
 * the room may not be cleared for what it talks about. */
static bool
muc_admin_may_see_subject(struct server *srv, struct muc_room *r, const struct stanza *st)
{
    if (muc_admin_bare_inside(r, st->from->bare) || !labels_enabled(srv))
        return true;
    return r->dir == NULL || r->dir->default_label == NULL;
}

static void
muc_admin_room_info(struct server *srv, struct stanza *st, const struct xml_node *p,
                    struct muc_room *r)
{
    const char *node = xml_attr(p, "node");
    struct stanza *res;
    struct xml_node *q;
    struct xml_node *x;
    struct xml_node *subj;
    char count[24];

    if (node != NULL) {
        /* §7.12: no nicks are registered, so an empty answer. */
        if (strcmp(node, "x-roomuser-item") != 0) {
            muc_error(srv, st, "cancel", "item-not-found", NULL);
            return;
        }
        res = muc_admin_result(st, NS_DISCO_INFO, "query", &q);
        xml_set_attr(res->tree, q, NULL, "node", node);
        muc_admin_send(srv, res);
        return;
    }
    res = muc_admin_result(st, NS_DISCO_INFO, "query", &q);
    muc_admin_identity(res, q, muc_admin_room_name(r));
    muc_admin_feature(res, q, NS_MUC);
    muc_admin_feature(res, q, r->cfg.persistent ? "muc_persistent" : "muc_temporary");
    muc_admin_feature(res, q, r->cfg.members_only ? "muc_membersonly" : "muc_open");
    muc_admin_feature(res, q, r->cfg.password ? "muc_passwordprotected" : "muc_unsecured");
    muc_admin_feature(res, q, r->cfg.moderated ? "muc_moderated" : "muc_unmoderated");
    muc_admin_feature(res, q, r->cfg.whois_anyone ? "muc_nonanonymous" : "muc_semianonymous");
    muc_admin_feature(res, q, r->cfg.public_ ? "muc_public" : "muc_hidden");
    if (labels_enabled(srv)) {
        muc_admin_feature(res, q, POLICY_NS_SECLABEL);
        muc_admin_feature(res, q, POLICY_NS_CATALOG);
    }
    x = xml_elem_new(res->tree, q, NS_XDATA, "x");
    xml_set_attr(res->tree, x, NULL, "type", "result");
    muc_admin_field(res, x, "FORM_TYPE", "hidden", NULL, NS_MUC_ROOMINFO);
    muc_admin_field(res, x, "muc#roominfo_description", NULL, "Description",
                    r->cfg.desc != NULL ? r->cfg.desc : "");
    snprintf(count, sizeof count, "%zu", r->n_occ);
    muc_admin_field(res, x, "muc#roominfo_occupants", NULL, "Number of occupants", count);
    subj = r->subject != NULL ? xml_child(r->subject->el, r->subject->el->ns, "subject") : NULL;
    if (subj != NULL && muc_admin_may_see_subject(srv, r, st))
        muc_admin_field(res, x, "muc#roominfo_subject", NULL, "Subject",
                        xml_text(res->tree, subj));
    muc_admin_send(srv, res);
}

static void
muc_admin_room_items(struct server *srv, struct stanza *st, const struct xml_node *p,
                     struct muc_room *r)
{
    struct stanza *res;
    struct xml_node *q;
    struct xml_node *item;
    char *jid;
    size_t i;

    if (xml_attr(p, "node") != NULL) {
        muc_error(srv, st, "cancel", "item-not-found", NULL);
        return;
    }
    res = muc_admin_result(st, NS_DISCO_ITEMS, "query", &q);
    /* §6.5: the occupants, to occupants only. */
    if (muc_occ_by_jid(r, st->from->full) != NULL) {
        for (i = 0; i < r->n_occ; i++) {
            jid = xasprintf("%s/%s", r->jid, r->occ[i]->nick);
            item = xml_elem_new(res->tree, q, NULL, "item");
            xml_set_attr(res->tree, item, NULL, "jid", jid);
            free(jid);
        }
    }
    muc_admin_send(srv, res);
}

/*
 * muc#owner: the configuration form and destruction.
 */

static void
muc_admin_config_form(struct server *srv, struct stanza *st, struct muc_room *r)
{
    static const char *const max_users[] = {"10", "20", "30", "50", "100"};
    const struct muc_config *c = &r->cfg;
    struct stanza *res;
    struct xml_node *q;
    struct xml_node *x;
    struct xml_node *f;
    char *title;
    char cur[24];
    bool is_listed = c->max_users == 0;
    size_t i;

    res = muc_admin_result(st, NS_MUC_OWNER, "query", &q);
    x = xml_elem_new(res->tree, q, NS_XDATA, "x");
    xml_set_attr(res->tree, x, NULL, "type", "form");
    title = xasprintf("Configuration of %s", r->jid);
    muc_admin_text_el(res, x, "title", title);
    free(title);
    muc_admin_text_el(res, x, "instructions",
                      "A persistent room is stored in the directory. Affiliations that come "
                      "from a directory group are changed in the directory.");
    muc_admin_field(res, x, "FORM_TYPE", "hidden", NULL, NS_MUC_ROOMCONFIG);
    muc_admin_field(res, x, "muc#roomconfig_roomname", "text-single", "Room name",
                    c->name != NULL ? c->name : "");
    muc_admin_field(res, x, "muc#roomconfig_roomdesc", "text-single", "Description",
                    c->desc != NULL ? c->desc : "");
    muc_admin_field(res, x, "muc#roomconfig_persistentroom", "boolean",
                    "Persistent (kept when empty, stored in the directory)",
                    c->persistent ? "1" : "0");
    muc_admin_field(res, x, "muc#roomconfig_publicroom", "boolean",
                    "Listed in the directory of rooms", c->public_ ? "1" : "0");
    muc_admin_field(res, x, "muc#roomconfig_membersonly", "boolean", "Members only",
                    c->members_only ? "1" : "0");
    muc_admin_field(res, x, "muc#roomconfig_passwordprotectedroom", "boolean",
                    "Password protected", c->password ? "1" : "0");
    muc_admin_field(res, x, "muc#roomconfig_roomsecret", "text-private", "Password",
                    c->secret != NULL ? c->secret : "");
    muc_admin_field(res, x, "muc#roomconfig_moderatedroom", "boolean",
                    "Moderated (only participants may speak)", c->moderated ? "1" : "0");
    muc_admin_field(res, x, "muc#roomconfig_changesubject", "boolean",
                    "Participants may change the subject", c->change_subject ? "1" : "0");
    muc_admin_field(res, x, "muc#roomconfig_allowinvites", "boolean",
                    "Occupants may invite others", c->allow_invites ? "1" : "0");
    snprintf(cur, sizeof cur, "%" PRId64, c->max_users);
    f = muc_admin_field(res, x, "muc#roomconfig_maxusers", "list-single",
                        "Maximum number of occupants", c->max_users == 0 ? "none" : cur);
    for (i = 0; i < sizeof max_users / sizeof max_users[0]; i++) {
        muc_admin_option(res, f, max_users[i], max_users[i]);
        if (strcmp(cur, max_users[i]) == 0)
            is_listed = true;
    }
    if (!is_listed)
        muc_admin_option(res, f, cur, cur);
    muc_admin_option(res, f, "No limit", "none");
    f = muc_admin_field(res, x, "muc#roomconfig_whois", "list-single",
                        "Who may see the occupants' real JIDs",
                        c->whois_anyone ? "anyone" : "moderators");
    muc_admin_option(res, f, "Moderators only", "moderators");
    muc_admin_option(res, f, "Anyone", "anyone");
    muc_admin_send(srv, res);
}

static bool
muc_admin_parse_bool(const char *v, bool *out, struct muc_admin_err *e)
{
    if (v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)) {
        *out = true;
        return true;
    }
    if (v != NULL && (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)) {
        *out = false;
        return true;
    }
    return muc_admin_fail(e, "modify", "bad-request", "a boolean field is 1, 0, true or false");
}

/* Name, description and password: one line each in the directory's
 * xmppRoomConfig, so no control characters. Empty means none. */
static bool
muc_admin_parse_text(const char *v, char **out, struct muc_admin_err *e)
{
    const unsigned char *p;

    if (v == NULL)
        v = "";
    if (strlen(v) > MUC_ADMIN_TEXT_MAX)
        return muc_admin_fail(e, "modify", "not-acceptable", "the text is too long");
    for (p = (const unsigned char *)v; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return muc_admin_fail(e, "modify", "not-acceptable",
                                  "control characters are not allowed");
    free(*out);
    *out = v[0] != '\0' ? xstrdup(v) : NULL;
    return true;
}

static bool
muc_admin_parse_max(const char *v, int64_t *out, struct muc_admin_err *e)
{
    int64_t n = 0;
    const char *p;

    if (v == NULL || v[0] == '\0' || strcmp(v, "none") == 0) {
        *out = 0;
        return true;
    }
    for (p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || n > 1000000)
            return muc_admin_fail(e, "modify", "bad-request",
                                  "maxusers is a number of occupants or none");
        n = n * 10 + (*p - '0');
    }
    *out = n;
    return true;
}

/* Applies one submitted field onto c. Unknown fields are ignored (clients
 * send fields of other servers' forms). */
static bool
muc_admin_apply_field(struct muc_config *c, const char *var, const char *v,
                      struct muc_admin_err *e)
{
    static const char pre[] = "muc#roomconfig_";
    const char *k;

    if (strcmp(var, "FORM_TYPE") == 0) {
        if (v == NULL || strcmp(v, NS_MUC_ROOMCONFIG) != 0)
            return muc_admin_fail(e, "modify", "bad-request", "not a muc#roomconfig form");
        return true;
    }
    if (strncmp(var, pre, sizeof pre - 1) != 0)
        return true;
    k = var + sizeof pre - 1;
    if (strcmp(k, "roomname") == 0)
        return muc_admin_parse_text(v, &c->name, e);
    if (strcmp(k, "roomdesc") == 0)
        return muc_admin_parse_text(v, &c->desc, e);
    if (strcmp(k, "roomsecret") == 0)
        return muc_admin_parse_text(v, &c->secret, e);
    if (strcmp(k, "persistentroom") == 0)
        return muc_admin_parse_bool(v, &c->persistent, e);
    if (strcmp(k, "publicroom") == 0)
        return muc_admin_parse_bool(v, &c->public_, e);
    if (strcmp(k, "membersonly") == 0)
        return muc_admin_parse_bool(v, &c->members_only, e);
    if (strcmp(k, "passwordprotectedroom") == 0)
        return muc_admin_parse_bool(v, &c->password, e);
    if (strcmp(k, "moderatedroom") == 0)
        return muc_admin_parse_bool(v, &c->moderated, e);
    if (strcmp(k, "changesubject") == 0)
        return muc_admin_parse_bool(v, &c->change_subject, e);
    if (strcmp(k, "allowinvites") == 0)
        return muc_admin_parse_bool(v, &c->allow_invites, e);
    if (strcmp(k, "maxusers") == 0)
        return muc_admin_parse_max(v, &c->max_users, e);
    if (strcmp(k, "whois") == 0) {
        if (v != NULL && strcmp(v, "anyone") == 0)
            c->whois_anyone = true;
        else if (v != NULL && strcmp(v, "moderators") == 0)
            c->whois_anyone = false;
        else
            return muc_admin_fail(e, "modify", "bad-request", "whois is moderators or anyone");
        return true;
    }
    return true;
}

/* §10.2.1: status 104 (configuration changed), with 172/173 when the
 * room became non-anonymous / semi-anonymous, to every occupant. */
static void
muc_admin_notify_config(struct server *srv, struct muc_room *r, bool whois_changed)
{
    struct stanza *m;
    struct xml_node *x;
    struct xml_node *s;
    size_t i;

    for (i = 0; i < r->n_occ; i++) {
        m = muc_admin_message(srv, r, r->occ[i]->jid, "groupchat", &x);
        s = xml_elem_new(m->tree, x, NULL, "status");
        xml_set_attr(m->tree, s, NULL, "code", "104");
        if (whois_changed) {
            s = xml_elem_new(m->tree, x, NULL, "status");
            xml_set_attr(m->tree, s, NULL, "code", r->cfg.whois_anyone ? "172" : "173");
        }
        muc_admin_send(srv, m);
    }
}

/* A room the directory stores names only its users in affiliations
 * (dir_room_put refuses other JIDs): true when a room that becomes persistent
 * could be written. */
static bool
muc_admin_storable(struct server *srv, struct muc_room *r)
{
    static const enum muc_affil kinds[] = {MUC_AFFIL_OUTCAST, MUC_AFFIL_MEMBER, MUC_AFFIL_ADMIN,
                                           MUC_AFFIL_OWNER};
    struct dir_user *u;
    const char **jids;
    bool is_ok = true;
    size_t n;
    size_t i;
    size_t k;

    for (k = 0; k < sizeof kinds / sizeof kinds[0] && is_ok; k++) {
        n = muc_affil_list(srv, r, kinds[k], &jids);
        for (i = 0; i < n && is_ok; i++) {
            u = dir_user_get(srv->dir, jids[i]);
            is_ok = u != NULL;
            dir_user_unref(u);
        }
        free(jids);
    }
    return is_ok;
}

/* The owner submitted the form (an empty one: an instant room, §10.1.2). */
static void
muc_admin_configure(struct server *srv, struct stanza *st, const struct xml_node *x,
                    struct muc_room *r)
{
    struct muc_admin_err e = {0};
    struct muc_config nc;
    const struct xml_node *f;
    const char *var;
    bool was_locked = r->locked;
    bool was_persistent = r->cfg.persistent;
    bool was_members_only = r->cfg.members_only;
    bool was_whois = r->cfg.whois_anyone;
    bool is_ok = true;
    char *room_jid;
    char **nicks;
    size_t n;
    size_t i;

    memset(&nc, 0, sizeof nc);
    muc_config_copy(&nc, &r->cfg);
    for (f = xml_child(x, NS_XDATA, "field"); f != NULL && is_ok;
         f = xml_next(f, NS_XDATA, "field")) {
        var = xml_attr(f, "var");
        if (var != NULL)
            is_ok = muc_admin_apply_field(&nc, var, muc_admin_child_text(st, f, "value"), &e);
    }
    if (is_ok && nc.password && nc.secret == NULL)
        is_ok = muc_admin_fail(&e, "modify", "not-acceptable",
                               "a password-protected room needs a password");
    if (is_ok && nc.persistent && r->dir == NULL && !muc_admin_storable(srv, r))
        is_ok = muc_admin_fail(&e, "modify", "not-acceptable",
                               "a persistent room's affiliations must be users of this directory");
    if (!is_ok) {
        muc_config_clear(&nc);
        muc_error(srv, st, e.etype, e.cond, e.text);
        return;
    }
    muc_config_clear(&r->cfg);
    r->cfg = nc;
    r->locked = false;
    /* The other nodes hear of the new configuration before the directory
     * write: a node whose replica loses a persistent room's entry before it
     * knows the room became temporary takes that for an administrator's
     * deletion and destroys the room there. */
    muc_announce_room(srv, r);
    if (was_persistent || r->cfg.persistent)
        muc_room_store(srv, r);
    log_info("muc room-configured room=%s by=%s persistent=%d members_only=%d was_locked=%d",
             r->jid, st->from->bare, r->cfg.persistent, r->cfg.members_only, was_locked);
    muc_admin_send(srv, stanza_iq_result(st));

    /* §10.2: a room that becomes members-only removes its non-members (322). */
    room_jid = xstrdup(r->jid);
    if (r->cfg.members_only && !was_members_only) {
        nicks = muc_admin_nicks(srv, r, NULL, MUC_AFFIL_MEMBER, &n);
        for (i = 0; i < n; i++) {
            struct muc_occupant *o = muc_occ_by_nick(r, nicks[i]);

            if (o == NULL)
                continue;
            muc_occ_remove(srv, r, o, &(struct muc_event){.codes = "322", .unavailable = true},
                           true);
            if (!muc_admin_alive(srv, room_jid))
                break;
        }
        muc_admin_nicks_free(nicks, n);
    }
    if (!was_locked && muc_admin_alive(srv, room_jid))
        muc_admin_notify_config(srv, r, was_whois != r->cfg.whois_anyone);
    if (muc_admin_alive(srv, room_jid))
        muc_room_maybe_drop(srv, r); /* configured by an owner outside it, now temporary */
    free(room_jid);
}

static void
muc_admin_owner_set(struct server *srv, struct stanza *st, const struct xml_node *q,
                    struct muc_room *r)
{
    const struct xml_node *destroy = xml_child(q, NS_MUC_OWNER, "destroy");
    const struct xml_node *x = xml_child(q, NS_XDATA, "x");
    const char *type;
    const char *alt;
    const char *reason;
    char *norm;

    if (destroy != NULL) {
        /* §10.9: the alternate venue is a JID the occupants may go to. */
        alt = xml_attr(destroy, "jid");
        norm = alt != NULL ? jid_normalize(alt) : NULL;
        if (alt != NULL && norm == NULL) {
            muc_error(srv, st, "modify", "jid-malformed", NULL);
            return;
        }
        reason = muc_admin_child_text(st, destroy, "reason");
        log_info("muc room-destroyed-by-owner room=%s by=%s", r->jid, st->from->bare);
        muc_admin_send(srv, stanza_iq_result(st));
        muc_destroy(srv, r, norm, reason, true);
        free(norm);
        return;
    }
    type = x != NULL ? xml_attr(x, "type") : NULL;
    if (type != NULL && strcmp(type, "submit") == 0) {
        muc_admin_configure(srv, st, x, r);
    } else if (type != NULL && strcmp(type, "cancel") == 0) {
        /* §10.1.3: cancelling the first configuration destroys the new room. */
        muc_admin_send(srv, stanza_iq_result(st));
        if (r->locked) {
            log_info("muc room-creation-cancelled room=%s by=%s", r->jid, st->from->bare);
            muc_destroy(srv, r, NULL, NULL, true);
        }
    } else {
        muc_error(srv, st, "modify", "bad-request", NULL);
    }
}

/*
 * muc#admin: roles and affiliations.
 */

/* One item of a muc#admin set, checked. */
struct muc_admin_item {
    bool is_role;
    char *nick;           /* role items: the target's nick (a copy) */
    enum muc_role role;
    char *bare;           /* affiliation items: the normalised bare JID */
    enum muc_affil affil;
    enum muc_affil old;
    bool is_changed;      /* the affiliation was set */
    const char *reason;   /* borrowed from the iq, or NULL */
};

/* The JID of an affiliation item, or of the occupant its nick names. */
static bool
muc_admin_item_bare(struct muc_room *r, const struct xml_node *el, char **out,
                    struct muc_admin_err *e)
{
    const char *s = xml_attr(el, "jid");
    const char *nick = xml_attr(el, "nick");
    const struct muc_occupant *o;
    struct jid *j;

    if (s != NULL) {
        if (jid_parse(s, &j) != PAL_OK)
            return muc_admin_fail(e, "modify", "jid-malformed", NULL);
        *out = xstrdup(j->bare);
        jid_free(j);
        return true;
    }
    if (nick == NULL)
        return muc_admin_fail(e, "modify", "bad-request", "the item names no jid or nick");
    o = muc_occ_by_nick(r, nick);
    if (o == NULL)
        return muc_admin_fail(e, "cancel", "item-not-found", NULL);
    *out = xstrdup(o->jid->bare);
    return true;
}

static bool
muc_admin_check_affil(struct server *srv, struct muc_room *r, const struct xml_node *el,
                      enum muc_affil actor_affil, struct muc_admin_item *it,
                      struct muc_admin_err *e)
{
    int a = muc_affil_parse(xml_attr(el, "affiliation"));

    if (a < 0)
        return muc_admin_fail(e, "modify", "bad-request", "unknown affiliation");
    if (!muc_admin_item_bare(r, el, &it->bare, e))
        return false;
    it->affil = (enum muc_affil)a;
    it->old = muc_affil_of(srv, r, it->bare);
    if (actor_affil < MUC_AFFIL_ADMIN)
        return muc_admin_fail(e, "auth", "forbidden", NULL);
    if (it->affil >= MUC_AFFIL_ADMIN && actor_affil != MUC_AFFIL_OWNER)
        return muc_admin_fail(e, "auth", "forbidden", "only an owner grants admin or owner");
    if (it->old >= MUC_AFFIL_ADMIN && it->affil != it->old && actor_affil != MUC_AFFIL_OWNER)
        return muc_admin_fail(e, "cancel", "not-allowed",
                              "only an owner changes an admin's or owner's affiliation");
    return true;
}

static bool
muc_admin_check_role(struct server *srv, struct muc_room *r, const struct xml_node *el,
                     const struct muc_occupant *actor, enum muc_affil actor_affil,
                     struct muc_admin_item *it, struct muc_admin_err *e)
{
    int role = muc_role_parse(xml_attr(el, "role"));
    const char *nick = xml_attr(el, "nick");
    const char *s = xml_attr(el, "jid");
    const struct muc_occupant *o;
    enum muc_affil target_affil;
    char *full;

    if (role < 0)
        return muc_admin_fail(e, "modify", "bad-request", "unknown role");
    if (nick != NULL) {
        o = muc_occ_by_nick(r, nick);
    } else if (s != NULL) {
        full = jid_normalize(s);
        if (full == NULL)
            return muc_admin_fail(e, "modify", "jid-malformed", NULL);
        o = muc_occ_by_jid(r, full);
        free(full);
    } else {
        return muc_admin_fail(e, "modify", "bad-request", "the item names no nick or jid");
    }
    if (o == NULL)
        return muc_admin_fail(e, "cancel", "item-not-found", NULL);
    it->is_role = true;
    it->role = (enum muc_role)role;
    it->nick = xstrdup(o->nick);
    /* Roles are changed by those in the room. */
    if (actor == NULL)
        return muc_admin_fail(e, "auth", "forbidden", "roles are changed from inside the room");
    target_affil = muc_affil_of(srv, r, o->jid->bare);
    if (it->role == MUC_ROLE_MODERATOR) {
        if (actor_affil < MUC_AFFIL_ADMIN)
            return muc_admin_fail(e, "auth", "forbidden",
                                  "only an admin or owner grants moderator");
        return true;
    }
    if (actor->role != MUC_ROLE_MODERATOR)
        return muc_admin_fail(e, "auth", "forbidden", NULL);
    if (target_affil >= MUC_AFFIL_ADMIN)
        return muc_admin_fail(e, "cancel", "not-allowed",
                              "an admin or owner keeps the moderator role");
    if (o->role == MUC_ROLE_MODERATOR && actor_affil < MUC_AFFIL_ADMIN && o != actor)
        return muc_admin_fail(e, "auth", "forbidden",
                              "only an admin or owner revokes the moderator role");
    return true;
}

/* Would the room keep an owner after the items? (A room without owners, as
 * the directory may define one, is not blocked.) */
static bool
muc_admin_keeps_owner(struct server *srv, struct muc_room *r, const struct muc_admin_item *items,
                      size_t n)
{
    const char **owners;
    size_t n_owners = muc_affil_list(srv, r, MUC_AFFIL_OWNER, &owners);
    size_t left = 0;
    size_t i;
    size_t k;
    bool is_demoted;

    for (i = 0; i < n_owners; i++) {
        is_demoted = false;
        for (k = 0; k < n; k++)
            if (!items[k].is_role && strcmp(items[k].bare, owners[i]) == 0 &&
                items[k].affil != MUC_AFFIL_OWNER)
                is_demoted = true;
        if (!is_demoted)
            left++;
    }
    for (k = 0; k < n; k++)
        if (!items[k].is_role && items[k].affil == MUC_AFFIL_OWNER)
            left++;
    free(owners);
    return n_owners == 0 || left > 0;
}

/* Two items about the same nick or JID are refused: their order would
 * decide, and the check of the first would not hold for the second. */
static bool
muc_admin_has_duplicates(const struct muc_admin_item *items, size_t n)
{
    size_t i;
    size_t k;

    for (i = 0; i < n; i++)
        for (k = i + 1; k < n; k++)
            if (items[i].is_role == items[k].is_role &&
                strcmp(items[i].is_role ? items[i].nick : items[i].bare,
                       items[k].is_role ? items[k].nick : items[k].bare) == 0)
                return true;
    return false;
}

static void
muc_admin_affil_err(int rc, struct muc_admin_err *e)
{
    if (rc == PAL_ENOENT)
        muc_admin_fail(e, "modify", "not-acceptable", "not a user of this directory");
    else if (rc == PAL_EDENIED)
        muc_admin_fail(e, "cancel", "not-allowed", "the affiliation comes from a directory group");
    else
        muc_admin_fail(e, "wait", "internal-server-error", NULL);
}

/* What a new affiliation does to the occupants with that real bare JID
 * (§9.1 ban: 301; §9.4 a members-only room's new non-member: 321; else the
 * role follows the affiliation). False when the room is gone. */
static bool
muc_admin_affil_effects(struct server *srv, struct muc_room *r, const char *room_jid,
                        const struct muc_admin_item *it, const char *actor_nick)
{
    struct muc_occupant *o;
    char **nicks;
    size_t n;
    size_t i;
    bool is_alive = true;
    bool is_banned;

    nicks = muc_admin_nicks(srv, r, it->bare, MUC_AFFIL_OUTCAST, &n);
    for (i = 0; i < n && is_alive; i++) {
        o = muc_occ_by_nick(r, nicks[i]);
        if (o == NULL || strcmp(o->jid->bare, it->bare) != 0)
            continue;
        is_banned = it->affil == MUC_AFFIL_OUTCAST;
        if (is_banned || (r->cfg.members_only && it->affil < MUC_AFFIL_MEMBER)) {
            muc_occ_remove(srv, r, o,
                           &(struct muc_event){.codes = is_banned ? "301" : "321",
                                               .actor = actor_nick,
                                               .reason = it->reason,
                                               .unavailable = true},
                           true);
            is_alive = muc_admin_alive(srv, room_jid);
        } else {
            muc_occ_set_role(srv, r, o,
                             it->affil >= MUC_AFFIL_ADMIN ? MUC_ROLE_MODERATOR
                                                          : muc_default_role(r, it->affil),
                             NULL);
        }
    }
    muc_admin_nicks_free(nicks, n);
    return is_alive;
}

static void
muc_admin_set(struct server *srv, struct stanza *st, const struct xml_node *q, struct muc_room *r)
{
    struct muc_admin_err e = {0};
    struct muc_admin_item *items = NULL;
    const struct xml_node *el;
    struct muc_occupant *actor = muc_occ_by_jid(r, st->from->full);
    enum muc_affil actor_affil = muc_affil_of(srv, r, st->from->bare);
    struct muc_occupant *o;
    char *room_jid = NULL;
    char *actor_nick = NULL;
    bool is_ok = true;
    bool is_alive = true;
    bool has_affil_change = false;
    size_t n = 0;
    size_t i;
    size_t k;
    int rc;

    for (el = xml_child(q, NS_MUC_ADMIN, "item"); el != NULL;
         el = xml_next(el, NS_MUC_ADMIN, "item"))
        n++;
    if (n == 0) {
        muc_error(srv, st, "modify", "bad-request", NULL);
        return;
    }
    items = xcalloc(n, sizeof *items);

    /* Check every item: all are applied or none. */
    i = 0;
    for (el = xml_child(q, NS_MUC_ADMIN, "item"); el != NULL && is_ok;
         el = xml_next(el, NS_MUC_ADMIN, "item"), i++) {
        items[i].reason = muc_admin_child_text(st, el, "reason");
        if (xml_attr(el, "affiliation") != NULL)
            is_ok = muc_admin_check_affil(srv, r, el, actor_affil, &items[i], &e);
        else if (xml_attr(el, "role") != NULL)
            is_ok = muc_admin_check_role(srv, r, el, actor, actor_affil, &items[i], &e);
        else
            is_ok = muc_admin_fail(&e, "modify", "bad-request",
                                   "the item has no role or affiliation");
    }
    if (is_ok && muc_admin_has_duplicates(items, n))
        is_ok = muc_admin_fail(&e, "modify", "bad-request", "two items name the same occupant");
    if (is_ok && !muc_admin_keeps_owner(srv, r, items, n))
        is_ok = muc_admin_fail(&e, "cancel", "conflict", "the room would have no owner");
    if (!is_ok)
        goto refuse;

    /* Affiliations first: the directory may still refuse one (a user it does
     * not know, a group's member); then the earlier ones are put back. */
    for (i = 0; i < n; i++) {
        if (items[i].is_role || items[i].affil == items[i].old)
            continue;
        rc = muc_affil_set(srv, r, items[i].bare, items[i].affil);
        if (rc != PAL_OK) {
            muc_admin_affil_err(rc, &e);
            for (k = i; k-- > 0;) {
                if (items[k].is_changed &&
                    muc_affil_set(srv, r, items[k].bare, items[k].old) != PAL_OK)
                    log_warn("muc affiliation-rollback-failed room=%s jid=%s", r->jid,
                             items[k].bare);
            }
            goto refuse;
        }
        items[i].is_changed = true;
        has_affil_change = true;
    }
    /* The other nodes get the new affiliations before the presence updates
     * below (links keep the order): they render an occupant's presence with
     * the affiliation they hold. */
    if (has_affil_change && r->dir == NULL)
        muc_announce_room(srv, r);

    /* Then what they mean for the occupants, in the iq's order. */
    room_jid = xstrdup(r->jid);
    actor_nick = actor != NULL ? xstrdup(actor->nick) : NULL;
    for (i = 0; i < n && is_alive; i++) {
        if (items[i].is_role) {
            o = muc_occ_by_nick(r, items[i].nick);
            if (o == NULL)
                continue; /* banned by an earlier item */
            log_info("muc role room=%s nick=%s role=%s by=%s", r->jid, o->nick,
                     muc_role_str(items[i].role), st->from->bare);
            if (items[i].role == MUC_ROLE_NONE) {
                muc_occ_remove(srv, r, o,
                               &(struct muc_event){.codes = "307", .actor = actor_nick,
                                                   .reason = items[i].reason,
                                                   .unavailable = true},
                               true);
                is_alive = muc_admin_alive(srv, room_jid);
            } else {
                muc_occ_set_role(srv, r, o, items[i].role, NULL);
            }
        } else if (items[i].is_changed) {
            is_alive = muc_admin_affil_effects(srv, r, room_jid, &items[i], actor_nick);
        }
    }
    muc_admin_send(srv, stanza_iq_result(st));
    goto out;

refuse:
    muc_error(srv, st, e.etype, e.cond, e.text);
out:
    for (i = 0; i < n; i++) {
        free(items[i].nick);
        free(items[i].bare);
    }
    free(items);
    free(room_jid);
    free(actor_nick);
}

static int
muc_admin_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* §8.5, §9.5, §10.5, §10.8: the occupants with a role, the JIDs with an
 * affiliation. */
static void
muc_admin_get(struct server *srv, struct stanza *st, const struct xml_node *q, struct muc_room *r)
{
    const struct xml_node *el = xml_child(q, NS_MUC_ADMIN, "item");
    const char *affil_s = el != NULL ? xml_attr(el, "affiliation") : NULL;
    const char *role_s = el != NULL ? xml_attr(el, "role") : NULL;
    enum muc_affil actor_affil = muc_affil_of(srv, r, st->from->bare);
    const struct muc_occupant *actor = muc_occ_by_jid(r, st->from->full);
    const struct muc_occupant *o;
    struct stanza *res;
    struct xml_node *rq;
    struct xml_node *item;
    const char **jids;
    size_t n;
    size_t i;
    int a;
    int role;

    if (el == NULL || xml_next(el, NS_MUC_ADMIN, "item") != NULL) {
        muc_error(srv, st, "modify", "bad-request", NULL);
        return;
    }
    if (affil_s != NULL) {
        a = muc_affil_parse(affil_s);
        if (a < 0 || a == MUC_AFFIL_NONE) {
            muc_error(srv, st, "modify", "bad-request", NULL);
            return;
        }
        if (actor_affil < (a >= MUC_AFFIL_ADMIN ? MUC_AFFIL_OWNER : MUC_AFFIL_ADMIN)) {
            muc_error(srv, st, "auth", "forbidden", NULL);
            return;
        }
        res = muc_admin_result(st, NS_MUC_ADMIN, "query", &rq);
        n = muc_affil_list(srv, r, (enum muc_affil)a, &jids);
        if (n > 1)
            qsort(jids, n, sizeof *jids, muc_admin_str_cmp);
        for (i = 0; i < n; i++) {
            item = xml_elem_new(res->tree, rq, NULL, "item");
            xml_set_attr(res->tree, item, NULL, "affiliation", affil_s);
            xml_set_attr(res->tree, item, NULL, "jid", jids[i]);
        }
        free(jids);
        muc_admin_send(srv, res);
        return;
    }
    role = muc_role_parse(role_s);
    if (role < 0 || role == MUC_ROLE_NONE) {
        muc_error(srv, st, "modify", "bad-request", NULL);
        return;
    }
    if (actor == NULL || actor->role != MUC_ROLE_MODERATOR) {
        muc_error(srv, st, "auth", "forbidden", NULL);
        return;
    }
    res = muc_admin_result(st, NS_MUC_ADMIN, "query", &rq);
    for (i = 0; i < r->n_occ; i++) {
        o = r->occ[i];
        if (o->role != (enum muc_role)role)
            continue;
        item = xml_elem_new(res->tree, rq, NULL, "item");
        xml_set_attr(res->tree, item, NULL, "nick", o->nick);
        xml_set_attr(res->tree, item, NULL, "role", role_s);
        xml_set_attr(res->tree, item, NULL, "jid", o->jid->full);
        xml_set_attr(res->tree, item, NULL, "affiliation",
                     muc_affil_str(muc_affil_of(srv, r, o->jid->bare)));
    }
    muc_admin_send(srv, res);
}

/*
 * Entry points.
 */

void
muc_admin_iq(struct server *srv, struct stanza *st, struct sess *origin, struct muc_room *r)
{
    const struct xml_node *p;
    bool is_get;
    bool is_owner;

    (void)origin; /* st->from is the sender's real JID; muc_send finds its session */
    if (st->type == NULL || (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0))
        return; /* results and errors: nobody here waits for one */
    if (st->from == NULL || st->to == NULL)
        return;
    if (!stanza_iq_payload_ok(st)) {
        muc_error(srv, st, "modify", "bad-request", NULL);
        return;
    }
    p = stanza_iq_payload(st);
    is_get = strcmp(st->type, "get") == 0;
    if (st->to->local == NULL) {
        muc_admin_service(srv, st, p, is_get);
        return;
    }
    if (r == NULL) {
        muc_error(srv, st, "cancel", "item-not-found", NULL);
        return;
    }
    is_owner = muc_affil_of(srv, r, st->from->bare) == MUC_AFFIL_OWNER;
    /* §10.1.1: a locked room does not exist for anyone but its owners. */
    if (r->locked && !is_owner) {
        muc_error(srv, st, "cancel", "item-not-found", NULL);
        return;
    }
    if (is_get && muc_admin_is(p, NS_DISCO_INFO, "query")) {
        muc_admin_room_info(srv, st, p, r);
    } else if (is_get && muc_admin_is(p, NS_DISCO_ITEMS, "query")) {
        muc_admin_room_items(srv, st, p, r);
    } else if (muc_admin_is(p, NS_MUC_OWNER, "query")) {
        if (!is_owner)
            muc_error(srv, st, "auth", "forbidden", NULL);
        else if (is_get)
            muc_admin_config_form(srv, st, r);
        else
            muc_admin_owner_set(srv, st, p, r);
    } else if (muc_admin_is(p, NS_MUC_ADMIN, "query")) {
        if (is_get)
            muc_admin_get(srv, st, p, r);
        else
            muc_admin_set(srv, st, p, r);
    } else {
        muc_error(srv, st, "cancel", "service-unavailable", NULL);
    }
}

/* Sends one invitation (§7.8.2) from the room to invitee. reason is NULL
 * when the invitation came in a labelled message. */
static void
muc_admin_send_invite(struct server *srv, struct muc_room *r, const char *inviter,
                      const struct jid *invitee, const char *reason)
{
    struct stanza *m;
    struct xml_node *x;
    struct xml_node *inv;
    struct xml_node *conf;
    char *body;

    m = muc_admin_message(srv, r, invitee, "normal", &x);
    inv = xml_elem_new(m->tree, x, NULL, "invite");
    xml_set_attr(m->tree, inv, NULL, "from", inviter);
    if (reason != NULL && reason[0] != '\0')
        muc_admin_text_el(m, inv, "reason", reason);
    if (r->cfg.password && r->cfg.secret != NULL)
        muc_admin_text_el(m, x, "password", r->cfg.secret);
    /* XEP-0249's element, for clients that only know direct invitations. */
    conf = xml_elem_new(m->tree, m->el, NS_X_CONFERENCE, "x");
    xml_set_attr(m->tree, conf, NULL, "jid", r->jid);
    if (reason != NULL && reason[0] != '\0')
        xml_set_attr(m->tree, conf, NULL, "reason", reason);
    if (r->cfg.password && r->cfg.secret != NULL)
        xml_set_attr(m->tree, conf, NULL, "password", r->cfg.secret);
    if (reason != NULL && reason[0] != '\0')
        body = xasprintf("%s invites you to the room %s: %s", inviter, r->jid, reason);
    else
        body = xasprintf("%s invites you to the room %s", inviter, r->jid);
    muc_admin_text_el(m, m->el, "body", body);
    free(body);
    log_info("muc invite room=%s from=%s to=%s", r->jid, inviter, invitee->full);
    muc_admin_send(srv, m);
}

static void
muc_admin_invites(struct server *srv, struct stanza *st, const struct xml_node *x,
                  struct muc_room *r, bool is_labelled)
{
    struct jid *to[MUC_ADMIN_INVITES_MAX];
    const char *reason[MUC_ADMIN_INVITES_MAX];
    const struct xml_node *el;
    enum muc_affil affil = muc_affil_of(srv, r, st->from->bare);
    bool has_affil_change = false;
    size_t n = 0;
    size_t i;
    int rc;

    if (muc_occ_by_jid(r, st->from->full) == NULL) {
        muc_error(srv, st, "modify", "not-acceptable", "only occupants invite");
        return;
    }
    if (r->cfg.members_only && affil < MUC_AFFIL_ADMIN && !r->cfg.allow_invites) {
        muc_error(srv, st, "auth", "forbidden", "only admins and owners invite to this room");
        return;
    }
    for (el = xml_child(x, NS_MUC_USER, "invite"); el != NULL;
         el = xml_next(el, NS_MUC_USER, "invite")) {
        if (n == MUC_ADMIN_INVITES_MAX) {
            muc_error(srv, st, "modify", "not-acceptable", "too many invitations");
            goto out;
        }
        if (xml_attr(el, "to") == NULL || jid_parse(xml_attr(el, "to"), &to[n]) != PAL_OK) {
            muc_error(srv, st, "modify", "jid-malformed", NULL);
            goto out;
        }
        reason[n] = is_labelled ? NULL : muc_admin_child_text(st, el, "reason");
        n++;
    }
    for (i = 0; i < n; i++) {
        /* §7.8.2: an admin's invitation to a members-only room makes a member
         * (an outcast stays one). */
        if (r->cfg.members_only && affil >= MUC_AFFIL_ADMIN &&
            muc_affil_of(srv, r, to[i]->bare) == MUC_AFFIL_NONE) {
            rc = muc_affil_set(srv, r, to[i]->bare, MUC_AFFIL_MEMBER);
            if (rc == PAL_OK)
                has_affil_change = true;
            else
                log_notice("muc invite-member-refused room=%s jid=%s error=%s", r->jid,
                           to[i]->bare, pal_strerror(rc));
        }
        muc_admin_send_invite(srv, r, st->from->bare, to[i], reason[i]);
    }
    if (has_affil_change && r->dir == NULL)
        muc_announce_room(srv, r);
out:
    for (i = 0; i < n; i++)
        jid_free(to[i]);
}

/* Sends m (takes our reference) to a user: to the resources it has in the
 * room when m is addressed to its bare JID (a decline's inviter is usually
 * there, and a resource that only sent the room its presence would not get a
 * message to its bare JID), else to m's address. */
static void
muc_admin_send_to_user(struct server *srv, struct muc_room *r, struct stanza *m)
{
    struct stanza *c;
    bool is_sent = false;
    size_t i;

    if (m->to->resource == NULL) {
        for (i = 0; i < r->n_occ; i++) {
            if (strcmp(r->occ[i]->jid->bare, m->to->bare) != 0)
                continue;
            c = stanza_copy(m);
            c->id = server_next_id(srv);
            stanza_set_to(c, r->occ[i]->jid);
            muc_admin_send(srv, c);
            is_sent = true;
        }
    }
    if (is_sent)
        stanza_unref(m);
    else
        muc_admin_send(srv, m);
}

static void
muc_admin_declines(struct server *srv, struct stanza *st, const struct xml_node *x,
                   struct muc_room *r, bool is_labelled)
{
    const struct xml_node *el;
    const char *reason;
    struct jid *to;
    struct stanza *m;
    struct xml_node *mx;
    struct xml_node *dec;

    for (el = xml_child(x, NS_MUC_USER, "decline"); el != NULL;
         el = xml_next(el, NS_MUC_USER, "decline")) {
        if (xml_attr(el, "to") == NULL || jid_parse(xml_attr(el, "to"), &to) != PAL_OK) {
            muc_error(srv, st, "modify", "jid-malformed", NULL);
            return;
        }
        reason = is_labelled ? NULL : muc_admin_child_text(st, el, "reason");
        m = muc_admin_message(srv, r, to, "normal", &mx);
        dec = xml_elem_new(m->tree, mx, NULL, "decline");
        xml_set_attr(m->tree, dec, NULL, "from", st->from->bare);
        if (reason != NULL && reason[0] != '\0')
            muc_admin_text_el(m, dec, "reason", reason);
        log_info("muc decline room=%s from=%s to=%s", r->jid, st->from->bare, to->full);
        muc_admin_send_to_user(srv, r, m);
        jid_free(to);
    }
}

bool
muc_admin_invite(struct server *srv, struct stanza *st, struct muc_room *r)
{
    const struct xml_node *x = xml_child(st->el, NS_MUC_USER, "x");
    bool has_invite;
    bool has_decline;
    bool is_labelled;

    if (x == NULL || r == NULL || st->from == NULL)
        return false;
    has_invite = xml_child(x, NS_MUC_USER, "invite") != NULL;
    has_decline = xml_child(x, NS_MUC_USER, "decline") != NULL;
    if (!has_invite && !has_decline)
        return false;
    if (st->type != NULL && strcmp(st->type, "error") == 0)
        return true;
    /* A reason said under a label does not go out without it. */
    is_labelled = muc_admin_is_labelled(st);
    if (has_invite)
        muc_admin_invites(srv, st, x, r, is_labelled);
    if (has_decline)
        muc_admin_declines(srv, st, x, r, is_labelled);
    return true;
}
