/* SPDX-License-Identifier: Apache-2.0 */
/* muc.c - multi-user chat (see muc.h): rooms, occupants, presence, groupchat,
 * history, subject, private messages, labels, and the cluster's copy of every
 * room. Administration (disco, configuration, roles and affiliations,
 * invitations) is muc_admin.c's.
 *
 * Labels: what is said in a room must lie within the room's clearance
 * (labels_room_may_carry); entering needs a clearance that dominates the
 * room's default label (labels_may_enter); each occupant gets a labelled
 * message only when its clearance dominates the label, checked by the node
 * that holds its session (others get nothing: no placeholder); history on
 * entering is filtered with the clearance the occupant has then.
 *
 * The cluster (types MUC_MSG_*): every node holds every room. A node processes
 * the stanzas its own users send to rooms and tells the other nodes what
 * changed; each node then tells its own occupants. Payloads (frames):
 *   ROOM      [room][config lines][flags "locked snapshot"][affiliations
 *             "affil bare\n"][subject stanza or ""]  a node holding the
 *             room's directory entry takes the affiliations from there
 *   OCCUPANT  [room][nick][real full JID][role][presence stanza or ""][codes]
 *             [affiliation] an occupant entered or changed (role, presence,
 *             affiliation as the sender knows it: the receiver's replica of a
 *             directory room may lag)
 *   LEAVE     [room][nick][codes][actor][reason][new nick]  with a new nick
 *             (303) the occupant stays: the OCCUPANT that follows renames it
 *   GROUPCHAT [room][stamp ms][stanza]  a room message or subject, live
 *   HISTORY   [room][stamp ms][stanza]  one history entry of a snapshot
 *   DESTROY   [room][alternate venue][reason]
 * A node that comes up gets every room (ROOM with "snapshot", HISTORY entries)
 * and every node's own occupants (OCCUPANT). History fills from the first
 * snapshot that arrives while it is empty. Concurrent messages sent on two
 * nodes can sit in the two nodes' histories in a different order. */
#include "node/muc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xml.h"
#include "directory/directory.h"
#include "node/c2s.h"
#include "node/hash.h"
#include "node/labels.h"
#include "node/muc_int.h"
#include "node/nodes.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/settings.h"
#include "node/stanza.h"

enum muc_msg {
    MUC_MSG_ROOM = MUC_MSG_FIRST,
    MUC_MSG_OCCUPANT,
    MUC_MSG_LEAVE,
    MUC_MSG_GROUPCHAT,
    MUC_MSG_HISTORY,
    MUC_MSG_DESTROY,
};

static int64_t
muc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- names ---- */

static const char *const role_names[] = {"none", "visitor", "participant", "moderator"};
static const char *const affil_names[] = {"outcast", "none", "member", "admin", "owner"};

const char *
muc_role_str(enum muc_role r)
{
    return role_names[r];
}

const char *
muc_affil_str(enum muc_affil a)
{
    return affil_names[a];
}

static int
muc_name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int
muc_role_parse(const char *s)
{
    return muc_name_index(role_names, 4, s);
}

int
muc_affil_parse(const char *s)
{
    return muc_name_index(affil_names, 5, s);
}

/* ---- configuration ---- */

void
muc_config_default(struct muc_config *c)
{
    memset(c, 0, sizeof *c);
    c->public_ = true;
    c->whois_anyone = false;
    c->allow_invites = true;
    c->change_subject = true;
}

void
muc_config_clear(struct muc_config *c)
{
    free(c->name);
    free(c->desc);
    free(c->secret);
    memset(c, 0, sizeof *c);
}

void
muc_config_copy(struct muc_config *dst, const struct muc_config *src)
{
    *dst = *src;
    dst->name = src->name ? xstrdup(src->name) : NULL;
    dst->desc = src->desc ? xstrdup(src->desc) : NULL;
    dst->secret = src->secret ? xstrdup(src->secret) : NULL;
}

static bool
muc_bool(const char *v)
{
    return strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
}

static void
muc_config_set_str(char **field, const char *v)
{
    free(*field);
    *field = v[0] ? xstrdup(v) : NULL;
}

void
muc_config_parse(struct muc_config *c, const char *text)
{
    const char *p = text;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char *line = xstrndup(p, len);
        p = eol ? eol + 1 : NULL;
        char *eq = strchr(line, '=');
        const char *pre = "muc#roomconfig_";
        if (!eq || strncmp(line, pre, strlen(pre)) != 0) {
            if (line[0])
                log_debug("muc config-line-ignored line=\"%s\"", line);
            free(line);
            continue;
        }
        *eq = '\0';
        const char *k = line + strlen(pre), *v = eq + 1;
        if (strcmp(k, "roomname") == 0)
            muc_config_set_str(&c->name, v);
        else if (strcmp(k, "roomdesc") == 0)
            muc_config_set_str(&c->desc, v);
        else if (strcmp(k, "roomsecret") == 0)
            muc_config_set_str(&c->secret, v);
        else if (strcmp(k, "persistentroom") == 0)
            c->persistent = muc_bool(v);
        else if (strcmp(k, "publicroom") == 0)
            c->public_ = muc_bool(v);
        else if (strcmp(k, "membersonly") == 0)
            c->members_only = muc_bool(v);
        else if (strcmp(k, "passwordprotectedroom") == 0)
            c->password = muc_bool(v);
        else if (strcmp(k, "moderatedroom") == 0)
            c->moderated = muc_bool(v);
        else if (strcmp(k, "whois") == 0)
            c->whois_anyone = strcmp(v, "anyone") == 0;
        else if (strcmp(k, "changesubject") == 0)
            c->change_subject = muc_bool(v);
        else if (strcmp(k, "allowinvites") == 0)
            c->allow_invites = muc_bool(v);
        else if (strcmp(k, "maxusers") == 0)
            c->max_users = strtoll(v, NULL, 10) > 0 ? strtoll(v, NULL, 10) : 0;
        else
            log_debug("muc config-line-ignored var=%s", k);
        free(line);
    }
}

char *
muc_config_text(const struct muc_config *c)
{
    struct buf b;
    buf_init(&b);
    const char *pre = "muc#roomconfig_";
    if (c->name)
        buf_printf(&b, "%sroomname=%s\n", pre, c->name);
    if (c->desc)
        buf_printf(&b, "%sroomdesc=%s\n", pre, c->desc);
    buf_printf(&b, "%spersistentroom=%d\n", pre, c->persistent);
    buf_printf(&b, "%spublicroom=%d\n", pre, c->public_);
    buf_printf(&b, "%smembersonly=%d\n", pre, c->members_only);
    buf_printf(&b, "%spasswordprotectedroom=%d\n", pre, c->password);
    if (c->secret)
        buf_printf(&b, "%sroomsecret=%s\n", pre, c->secret);
    buf_printf(&b, "%smoderatedroom=%d\n", pre, c->moderated);
    buf_printf(&b, "%swhois=%s\n", pre, c->whois_anyone ? "anyone" : "moderators");
    buf_printf(&b, "%schangesubject=%d\n", pre, c->change_subject);
    buf_printf(&b, "%sallowinvites=%d\n", pre, c->allow_invites);
    buf_printf(&b, "%smaxusers=%" PRId64 "\n", pre, c->max_users);
    char *s = xstrndup(buf_used(&b) ? buf_head(&b) : "", buf_used(&b));
    buf_free(&b);
    return s;
}

/* ---- rooms ---- */

bool
muc_is_service(const struct server *srv, const char *domain)
{
    if (!srv->muc)
        return false;
    for (size_t i = 0; i < srv->muc->n_services; i++)
        if (strcmp(srv->muc->services[i], domain) == 0)
            return true;
    return false;
}

const char *
muc_service_for(const struct server *srv, const char *domain)
{
    if (!srv->muc)
        return NULL;
    for (size_t i = 0; i < srv->cfg->domains.n && i < srv->muc->n_services; i++)
        if (strcmp(srv->cfg->domains.v[i], domain) == 0)
            return srv->muc->services[i];
    return NULL;
}

struct muc_room *
muc_room_find(struct server *srv, const char *room_jid)
{
    return srv->muc ? hash_get(srv->muc->rooms, room_jid) : NULL;
}

bool
muc_room_entry(struct server *srv, const char *room_jid, const struct dir_room **entry)
{
    struct muc_room *r = muc_room_find(srv, room_jid);
    *entry = r ? r->dir : NULL;
    return r != NULL;
}

struct muc_room *
muc_room_create(struct server *srv, const struct jid *room)
{
    struct muc_room *r = xcalloc(1, sizeof *r);
    r->j = jid_to_bare(room);
    r->jid = xstrdup(r->j->bare);
    muc_config_default(&r->cfg);
    size_t cap = srv->cfg->muc_history_size > 0 ? (size_t)srv->cfg->muc_history_size : 1;
    r->hist = xcalloc(cap, sizeof *r->hist);
    hash_put(srv->muc->rooms, r->jid, r);
    log_info("muc room-created room=%s", r->jid);
    return r;
}

static void
muc_hist_clear(struct muc_room *r, size_t cap)
{
    for (size_t i = 0; i < r->hist_n; i++)
        stanza_unref(r->hist[(r->hist_start + i) % cap].st);
    r->hist_n = 0;
    r->hist_start = 0;
}

static size_t
muc_hist_cap(struct server *srv)
{
    return srv->cfg->muc_history_size > 0 ? (size_t)srv->cfg->muc_history_size : 1;
}

static void
muc_occ_free(struct muc_occupant *o)
{
    if (!o)
        return;
    free(o->nick);
    jid_free(o->jid);
    free(o->node);
    stanza_unref(o->presence);
    free(o);
}

static void
muc_room_free(struct server *srv, struct muc_room *r)
{
    for (size_t i = 0; i < r->n_occ; i++)
        muc_occ_free(r->occ[i]);
    free(r->occ);
    muc_hist_clear(r, muc_hist_cap(srv));
    free(r->hist);
    free(r->hist_source);
    stanza_unref(r->subject);
    for (size_t i = 0; i < r->n_affils; i++)
        free(r->affils[i].jid);
    free(r->affils);
    muc_config_clear(&r->cfg);
    dir_room_unref(r->dir);
    jid_free(r->j);
    free(r->jid);
    free(r);
}

void
muc_room_drop(struct server *srv, struct muc_room *r)
{
    hash_del(srv->muc->rooms, r->jid);
    log_info("muc room-removed room=%s", r->jid);
    muc_room_free(srv, r);
}

void
muc_room_maybe_drop(struct server *srv, struct muc_room *r)
{
    if (r->n_occ == 0 && !r->dir && !r->cfg.persistent)
        muc_room_drop(srv, r);
}

/* ---- affiliations ---- */

static bool
muc_affil_in(const struct dir_affil *v, size_t n, const char *bare, bool *via_group)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].jid, bare) == 0) {
            if (via_group)
                *via_group = v[i].via_group;
            return true;
        }
    }
    return false;
}

enum muc_affil
muc_affil_of(struct server *srv, struct muc_room *r, const char *bare)
{
    (void)srv;
    if (r->dir) {
        const struct dir_room *d = r->dir;
        if (muc_affil_in(d->outcasts, d->n_outcasts, bare, NULL))
            return MUC_AFFIL_OUTCAST;
        if (muc_affil_in(d->owners, d->n_owners, bare, NULL))
            return MUC_AFFIL_OWNER;
        if (muc_affil_in(d->admins, d->n_admins, bare, NULL))
            return MUC_AFFIL_ADMIN;
        if (muc_affil_in(d->members, d->n_members, bare, NULL))
            return MUC_AFFIL_MEMBER;
        return MUC_AFFIL_NONE;
    }
    for (size_t i = 0; i < r->n_affils; i++)
        if (strcmp(r->affils[i].jid, bare) == 0)
            return r->affils[i].a;
    return MUC_AFFIL_NONE;
}

static const struct dir_affil *
muc_dir_affils(const struct dir_room *d, enum muc_affil a, size_t *n)
{
    switch (a) {
    case MUC_AFFIL_OWNER: *n = d->n_owners; return d->owners;
    case MUC_AFFIL_ADMIN: *n = d->n_admins; return d->admins;
    case MUC_AFFIL_MEMBER: *n = d->n_members; return d->members;
    case MUC_AFFIL_OUTCAST: *n = d->n_outcasts; return d->outcasts;
    default: *n = 0; return NULL;
    }
}

/* The directory entry's direct (not group) affiliations of kind a, as a
 * borrowed array of JIDs (caller frees the array). */
static size_t
muc_dir_direct(const struct dir_room *d, enum muc_affil a, const char ***out)
{
    size_t n = 0, k = 0;
    const struct dir_affil *v = muc_dir_affils(d, a, &n);
    const char **o = xcalloc(n ? n : 1, sizeof *o);
    for (size_t i = 0; i < n; i++)
        if (!v[i].via_group)
            o[k++] = v[i].jid;
    *out = o;
    return k;
}

size_t
muc_affil_list(struct server *srv, struct muc_room *r, enum muc_affil a, const char ***out)
{
    (void)srv;
    size_t n = 0, k = 0;
    if (r->dir) {
        const struct dir_affil *v = muc_dir_affils(r->dir, a, &n);
        const char **o = xcalloc(n ? n : 1, sizeof *o);
        for (size_t i = 0; i < n; i++)
            o[k++] = v[i].jid;
        *out = o;
        return k;
    }
    const char **o = xcalloc(r->n_affils ? r->n_affils : 1, sizeof *o);
    for (size_t i = 0; i < r->n_affils; i++)
        if (r->affils[i].a == a)
            o[k++] = r->affils[i].jid;
    *out = o;
    return k;
}

static void
muc_affil_mem_set(struct muc_room *r, const char *bare, enum muc_affil a)
{
    for (size_t i = 0; i < r->n_affils; i++) {
        if (strcmp(r->affils[i].jid, bare) == 0) {
            if (a == MUC_AFFIL_NONE) {
                free(r->affils[i].jid);
                r->affils[i] = r->affils[--r->n_affils];
            } else {
                r->affils[i].a = a;
            }
            return;
        }
    }
    if (a == MUC_AFFIL_NONE)
        return;
    r->affils = xrealloc(r->affils, (r->n_affils + 1) * sizeof *r->affils);
    r->affils[r->n_affils].jid = xstrdup(bare);
    r->affils[r->n_affils].a = a;
    r->n_affils++;
}

/* Writes a persistent room: its configuration and direct affiliations
 * (lists[a] holds the JIDs of affiliation a). */
static int
muc_dir_write(struct server *srv, struct muc_room *r, const char **lists[5], size_t counts[5])
{
    char *config = muc_config_text(&r->cfg);
    struct dir_room_spec spec = {
        .jid = r->jid,
        .name = r->cfg.name,
        .description = r->cfg.desc,
        .config = config,
        .owners = lists[MUC_AFFIL_OWNER], .n_owners = counts[MUC_AFFIL_OWNER],
        .admins = lists[MUC_AFFIL_ADMIN], .n_admins = counts[MUC_AFFIL_ADMIN],
        .members = lists[MUC_AFFIL_MEMBER], .n_members = counts[MUC_AFFIL_MEMBER],
        .outcasts = lists[MUC_AFFIL_OUTCAST], .n_outcasts = counts[MUC_AFFIL_OUTCAST],
    };
    int rc = dir_room_put(srv->dir, &spec, NULL, NULL);
    free(config);
    if (rc == PAL_OK) {
        dir_room_unref(r->dir);
        r->dir = dir_room_get(srv->dir, r->jid);
        log_info("muc room-stored room=%s", r->jid);
    } else {
        log_notice("muc room-store-refused room=%s error=%s", r->jid, pal_strerror(rc));
    }
    return rc;
}

/* The direct affiliations of the room (directory entry or memory). */
static void
muc_direct_lists(struct muc_room *r, const char **lists[5], size_t counts[5])
{
    for (int a = 0; a < 5; a++) {
        if (r->dir) {
            counts[a] = muc_dir_direct(r->dir, (enum muc_affil)a, &lists[a]);
        } else {
            lists[a] = xcalloc(r->n_affils ? r->n_affils : 1, sizeof *lists[a]);
            counts[a] = 0;
            for (size_t i = 0; i < r->n_affils; i++)
                if (r->affils[i].a == (enum muc_affil)a)
                    lists[a][counts[a]++] = r->affils[i].jid;
        }
    }
}

int
muc_affil_set(struct server *srv, struct muc_room *r, const char *bare, enum muc_affil a)
{
    if (!r->dir) {
        muc_affil_mem_set(r, bare, a);
        log_info("muc affiliation room=%s jid=%s affiliation=%s", r->jid, bare, muc_affil_str(a));
        return PAL_OK;
    }
    /* A group's member keeps what the group gives: a direct value may add
     * a stronger affiliation or a ban on top, never take the group's away. */
    enum muc_affil cur = muc_affil_of(srv, r, bare);
    size_t n = 0;
    bool via = false;
    const struct dir_affil *v = muc_dir_affils(r->dir, cur, &n);
    if (cur != MUC_AFFIL_NONE && muc_affil_in(v, n, bare, &via) && via &&
        a != MUC_AFFIL_OUTCAST && a < cur)
        return PAL_EDENIED;
    const char **lists[5];
    size_t counts[5];
    muc_direct_lists(r, lists, counts);
    /* drop bare from every direct list, then add it where it belongs */
    for (int k = 0; k < 5; k++) {
        size_t w = 0;
        for (size_t i = 0; i < counts[k]; i++)
            if (strcmp(lists[k][i], bare) != 0)
                lists[k][w++] = lists[k][i];
        counts[k] = w;
    }
    if (a != MUC_AFFIL_NONE) {
        lists[a] = xrealloc(lists[a], (counts[a] + 1) * sizeof *lists[a]);
        lists[a][counts[a]++] = bare;
    }
    char *keep = xstrdup(bare); /* the lists borrow from r->dir, replaced below */
    int rc = muc_dir_write(srv, r, lists, counts);
    for (int k = 0; k < 5; k++)
        free(lists[k]);
    if (rc == PAL_OK)
        log_info("muc affiliation room=%s jid=%s affiliation=%s", r->jid, keep, muc_affil_str(a));
    free(keep);
    return rc;
}

enum muc_role
muc_default_role(const struct muc_room *r, enum muc_affil a)
{
    if (a >= MUC_AFFIL_ADMIN)
        return MUC_ROLE_MODERATOR;
    if (a == MUC_AFFIL_OUTCAST)
        return MUC_ROLE_NONE;
    if (r->cfg.moderated && a < MUC_AFFIL_MEMBER)
        return MUC_ROLE_VISITOR;
    return MUC_ROLE_PARTICIPANT;
}

void
muc_room_store(struct server *srv, struct muc_room *r)
{
    if (!r->cfg.persistent) {
        if (r->dir) {
            /* Keep the affiliations in memory while the room lives on. */
            for (int a = 0; a < 5; a++) {
                const char **v = NULL;
                size_t n = muc_dir_direct(r->dir, (enum muc_affil)a, &v);
                for (size_t i = 0; i < n; i++)
                    muc_affil_mem_set(r, v[i], (enum muc_affil)a);
                free(v);
            }
            dir_room_del(srv->dir, r->jid, NULL, NULL);
            dir_room_unref(r->dir);
            r->dir = NULL;
            log_info("muc room-unstored room=%s (no longer persistent)", r->jid);
        }
        return;
    }
    const char **lists[5];
    size_t counts[5];
    muc_direct_lists(r, lists, counts);
    if (muc_dir_write(srv, r, lists, counts) == PAL_OK) {
        for (size_t i = 0; i < r->n_affils; i++)
            free(r->affils[i].jid);
        free(r->affils);
        r->affils = NULL;
        r->n_affils = 0;
    }
    for (int k = 0; k < 5; k++)
        free(lists[k]);
}

/* ---- occupants ---- */

struct muc_occupant *
muc_occ_by_nick(struct muc_room *r, const char *nick)
{
    for (size_t i = 0; i < r->n_occ; i++)
        if (strcmp(r->occ[i]->nick, nick) == 0)
            return r->occ[i];
    return NULL;
}

struct muc_occupant *
muc_occ_by_jid(struct muc_room *r, const char *full_jid)
{
    for (size_t i = 0; i < r->n_occ; i++)
        if (strcmp(r->occ[i]->jid->full, full_jid) == 0)
            return r->occ[i];
    return NULL;
}

static void
muc_occ_add(struct muc_room *r, struct muc_occupant *o)
{
    if (r->n_occ == r->cap_occ) {
        r->cap_occ = r->cap_occ ? 2 * r->cap_occ : 8;
        r->occ = xrealloc(r->occ, r->cap_occ * sizeof *r->occ);
    }
    r->occ[r->n_occ++] = o;
}

static void
muc_occ_unlink(struct muc_room *r, struct muc_occupant *o)
{
    for (size_t i = 0; i < r->n_occ; i++) {
        if (r->occ[i] == o) {
            memmove(&r->occ[i], &r->occ[i + 1], (r->n_occ - i - 1) * sizeof *r->occ);
            r->n_occ--;
            return;
        }
    }
}

bool
muc_sees_jids(struct muc_room *r, const struct muc_occupant *receiver)
{
    return r->cfg.whois_anyone || (receiver && receiver->role == MUC_ROLE_MODERATOR);
}

/* The local session of an occupant (NULL when it is on another node or gone). */
static struct sess *
muc_occ_sess(struct server *srv, const struct muc_occupant *o)
{
    if (o->node)
        return NULL;
    struct sess *s = sess_table_find(srv->sessions, o->jid->full);
    return s && !s->node ? s : NULL;
}

static struct jid *
muc_occ_jid(struct muc_room *r, const char *nick)
{
    struct jid *j = NULL;
    if (jid_make(r->j->local, r->j->domain, nick, &j) != PAL_OK)
        return NULL;
    return j;
}

/* <x xmlns=muc#user><item .../>...</x> about o, for receiver recv. */
static void
muc_user_x(struct server *srv, struct muc_room *r, struct stanza *p, const struct muc_occupant *o,
           const struct muc_occupant *recv, const struct muc_event *ev)
{
    struct xml_node *x = xml_elem_new(p->tree, p->el, NS_MUC_USER, "x");
    struct xml_node *item = xml_elem_new(p->tree, x, NS_MUC_USER, "item");
    enum muc_affil a = ev && ev->has_affil ? ev->affil : muc_affil_of(srv, r, o->jid->bare);
    xml_set_attr(p->tree, item, NULL, "affiliation", muc_affil_str(a));
    xml_set_attr(p->tree, item, NULL, "role",
                 ev && ev->unavailable ? "none" : muc_role_str(o->role));
    if (recv == o || muc_sees_jids(r, recv))
        xml_set_attr(p->tree, item, NULL, "jid", o->jid->full);
    if (ev && ev->new_nick)
        xml_set_attr(p->tree, item, NULL, "nick", ev->new_nick);
    if (ev && ev->actor) {
        struct xml_node *act = xml_elem_new(p->tree, item, NS_MUC_USER, "actor");
        xml_set_attr(p->tree, act, NULL, "nick", ev->actor);
    }
    if (ev && ev->reason && ev->reason[0]) {
        struct xml_node *rs = xml_elem_new(p->tree, item, NS_MUC_USER, "reason");
        xml_add_text(p->tree, rs, ev->reason, strlen(ev->reason));
    }
    char codes[128] = "";
    if (ev && ev->codes)
        snprintf(codes, sizeof codes, "%s", ev->codes);
    if (recv == o) {
        size_t l = strlen(codes);
        snprintf(codes + l, sizeof codes - l, "%s110", l ? " " : "");
    }
    for (char *save = NULL, *c = strtok_r(codes, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
        struct xml_node *st = xml_elem_new(p->tree, x, NS_MUC_USER, "status");
        xml_set_attr(p->tree, st, NULL, "code", c);
    }
}

/* The presence of o as recv gets it. */
static struct stanza *
muc_presence_for(struct server *srv, struct muc_room *r, struct muc_occupant *o,
                 struct muc_occupant *recv, const struct muc_event *ev)
{
    struct jid *from = muc_occ_jid(r, o->nick);
    struct stanza *p = stanza_new(STANZA_PRESENCE, from, recv->jid,
                                  ev && ev->unavailable ? "unavailable" : NULL, NULL);
    jid_free(from);
    p->id = server_next_id(srv);
    if (o->presence && !(ev && ev->unavailable)) {
        for (struct xml_node *c = o->presence->el->children; c; c = c->next) {
            if (c->type != XML_ELEMENT)
                continue;
            if (strcmp(c->ns, NS_MUC) == 0 || strcmp(c->ns, NS_MUC_USER) == 0)
                continue;
            xml_copy(p->tree, p->el, c);
        }
    }
    muc_user_x(srv, r, p, o, recv, ev);
    stanza_touched(p);
    return p;
}

void
muc_send(struct server *srv, struct stanza *st)
{
    if (st->id == 0)
        st->id = server_next_id(srv);
    struct sess *s = st->to ? sess_table_find(srv->sessions, st->to->full) : NULL;
    if (s)
        router_deliver(srv, s, st);
    else
        router_route(srv, st, NULL);
}

void
muc_error(struct server *srv, struct stanza *st, const char *etype, const char *cond,
          const char *text)
{
    if (!st->from || (st->type && strcmp(st->type, "error") == 0))
        return;
    if (st->kind == STANZA_IQ && st->type && strcmp(st->type, "result") == 0)
        return;
    struct stanza *e = stanza_error_reply(st, NULL, etype, cond, text);
    e->id = server_next_id(srv);
    muc_send(srv, e);
    stanza_unref(e);
}

void
muc_broadcast_presence(struct server *srv, struct muc_room *r, struct muc_occupant *o,
                       const struct muc_event *ev)
{
    for (size_t i = 0; i < r->n_occ; i++) {
        struct muc_occupant *recv = r->occ[i];
        struct sess *s = muc_occ_sess(srv, recv);
        if (!s)
            continue;
        struct stanza *p = muc_presence_for(srv, r, o, recv, ev);
        router_deliver(srv, s, p);
        stanza_unref(p);
    }
}

/* ---- the cluster: sending ---- */

static void
muc_frames_send(struct server *srv, uint16_t type, const char *node,
                const struct cluster_frame *f, size_t n)
{
    if (!srv->nodes)
        return;
    int rc = node ? nodes_send(srv, node, type, f, n) : nodes_broadcast(srv, type, f, n);
    if (rc != PAL_OK && rc != PAL_ENOENT)
        log_warn("muc cluster-send-failed type=%u node=%s error=%s", type, node ? node : "*",
                 pal_strerror(rc));
}

static struct cluster_frame
fstr(const char *s)
{
    return (struct cluster_frame){s ? s : "", s ? strlen(s) : 0};
}

static void
muc_room_frames_send(struct server *srv, struct muc_room *r, const char *node, bool snapshot)
{
    char *config = muc_config_text(&r->cfg);
    char flags[64];
    snprintf(flags, sizeof flags, "%s%s", r->locked ? "locked " : "",
             snapshot ? "snapshot" : "");
    struct buf affils, subj;
    buf_init(&affils);
    buf_init(&subj);
    /* A directory room's too: a node whose replica lacks the entry yet (a
     * room just made persistent) keeps them until the entry arrives. */
    for (int a = 0; a < 5; a++) {
        const char **v = NULL;
        size_t n = muc_affil_list(srv, r, (enum muc_affil)a, &v);
        for (size_t i = 0; i < n; i++)
            buf_printf(&affils, "%s %s\n", muc_affil_str((enum muc_affil)a), v[i]);
        free(v);
    }
    if (snapshot && r->subject)
        xml_serialize(r->subject->el, NULL, &subj);
    struct cluster_frame f[5] = {
        fstr(r->jid), fstr(config), fstr(flags),
        {buf_used(&affils) ? buf_head(&affils) : "", buf_used(&affils)},
        {buf_used(&subj) ? buf_head(&subj) : "", buf_used(&subj)},
    };
    muc_frames_send(srv, MUC_MSG_ROOM, node, f, 5);
    free(config);
    buf_free(&affils);
    buf_free(&subj);
}

void
muc_announce_room(struct server *srv, struct muc_room *r)
{
    muc_room_frames_send(srv, r, NULL, false);
}

static void
muc_occ_send(struct server *srv, struct muc_room *r, struct muc_occupant *o, const char *codes,
             const char *node)
{
    char role[2] = {(char)('0' + o->role), '\0'};
    /* The affiliation as this node knows it now: another node's replica of
     * a directory room may not have the change that caused this yet. */
    char affil[2] = {(char)('0' + muc_affil_of(srv, r, o->jid->bare)), '\0'};
    struct buf pres;
    buf_init(&pres);
    if (o->presence)
        xml_serialize(o->presence->el, NULL, &pres);
    struct cluster_frame f[7] = {
        fstr(r->jid), fstr(o->nick), fstr(o->jid->full), fstr(role),
        {buf_used(&pres) ? buf_head(&pres) : "", buf_used(&pres)}, fstr(codes), fstr(affil),
    };
    muc_frames_send(srv, MUC_MSG_OCCUPANT, node, f, 7);
    buf_free(&pres);
}

static void
muc_leave_send(struct server *srv, struct muc_room *r, const char *nick,
               const struct muc_event *ev)
{
    struct cluster_frame f[6] = {
        fstr(r->jid), fstr(nick), fstr(ev ? ev->codes : NULL), fstr(ev ? ev->actor : NULL),
        fstr(ev ? ev->reason : NULL), fstr(ev ? ev->new_nick : NULL),
    };
    muc_frames_send(srv, MUC_MSG_LEAVE, NULL, f, 6);
}

static void
muc_stanza_send(struct server *srv, uint16_t type, struct muc_room *r, const struct muc_hist *h,
                const char *node)
{
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%" PRId64, h->stamp_ms);
    struct buf b;
    buf_init(&b);
    xml_serialize(h->st->el, NULL, &b);
    struct cluster_frame f[3] = {fstr(r->jid), fstr(stamp), {buf_head(&b), buf_used(&b)}};
    muc_frames_send(srv, type, node, f, 3);
    buf_free(&b);
}

/* ---- occupants leaving and changing ---- */

void
muc_occ_remove(struct server *srv, struct muc_room *r, struct muc_occupant *o,
               const struct muc_event *ev, bool announce)
{
    struct muc_event unavail = ev ? *ev : (struct muc_event){0};
    unavail.unavailable = true;
    muc_broadcast_presence(srv, r, o, &unavail);
    if (announce)
        muc_leave_send(srv, r, o->nick, &unavail);
    log_info("muc left room=%s nick=%s jid=%s codes=%s", r->jid, o->nick, o->jid->full,
             unavail.codes && unavail.codes[0] ? unavail.codes : "-");
    muc_occ_unlink(r, o);
    muc_occ_free(o);
    muc_room_maybe_drop(srv, r);
}

void
muc_occ_set_role(struct server *srv, struct muc_room *r, struct muc_occupant *o,
                 enum muc_role role, const char *codes)
{
    if (role == MUC_ROLE_NONE) {
        muc_occ_remove(srv, r, o, &(struct muc_event){.codes = codes}, true);
        return;
    }
    o->role = role;
    muc_broadcast_presence(srv, r, o, &(struct muc_event){.codes = codes});
    muc_occ_send(srv, r, o, codes, NULL);
}

/* ---- history ---- */

/* Only messages with a body are history (not chat states and the like). */
static void
muc_hist_add(struct server *srv, struct muc_room *r, struct stanza *st, int64_t stamp)
{
    size_t cap = muc_hist_cap(srv);
    struct xml_node *body = xml_child(st->el, XMPP_NS_CLIENT, "body");
    if (srv->cfg->muc_history_size <= 0 || !body)
        return;
    struct muc_hist h = {stanza_ref(st), stamp};
    if (r->hist_n == cap) {
        stanza_unref(r->hist[r->hist_start].st);
        r->hist[r->hist_start] = h;
        r->hist_start = (r->hist_start + 1) % cap;
    } else {
        r->hist[(r->hist_start + r->hist_n) % cap] = h;
        r->hist_n++;
    }
}

static void
muc_stamp_text(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* XEP-0082 date-time (the seconds' fraction and a 'Z' or offset after them
 * are read as UTC to the second); -1 when it does not parse. */
static int64_t
muc_parse_stamp(const char *s)
{
    struct tm tm = {0};
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* A copy of st addressed to recv, with <delay/> when stamp >= 0. */
static struct stanza *
muc_copy_to(struct server *srv, struct muc_room *r, struct stanza *st, const struct jid *to,
            int64_t stamp)
{
    struct stanza *c = stanza_copy(st);
    c->id = server_next_id(srv);
    stanza_set_to(c, to);
    if (stamp >= 0) {
        char ts[40];
        muc_stamp_text(stamp, ts, sizeof ts);
        struct xml_node *d = xml_elem_new(c->tree, c->el, NS_DELAY, "delay");
        xml_set_attr(c->tree, d, NULL, "from", r->jid);
        xml_set_attr(c->tree, d, NULL, "stamp", ts);
        stanza_touched(c);
    }
    return c;
}

/* Delivers a room message (from room/nick, no 'to') to one local occupant's
 * session: only when the occupant may read its label, checked here, with
 * FLOT where its client needs it. Nothing at all otherwise. */
static void
muc_deliver_local(struct server *srv, struct muc_room *r, struct sess *s, struct stanza *st,
                  int64_t stamp)
{
    if (!labels_may_read(srv, s->jid->bare, st))
        return;
    struct stanza *flot = labels_for_receiver(srv, s, st);
    struct stanza *c = muc_copy_to(srv, r, flot, s->jid, stamp);
    stanza_unref(flot);
    c2s_send_stanza(s->conn, c);
    stanza_unref(c);
}

/* XEP-0045 §7.2.15: the history an entering occupant asked for. */
static void
muc_send_history(struct server *srv, struct muc_room *r, struct sess *s, struct xml_node *hist)
{
    int64_t maxstanzas = srv->cfg->muc_history_default, maxchars = -1, since = -1;
    if (hist) {
        const char *v;
        if ((v = xml_attr(hist, "maxstanzas")))
            maxstanzas = strtoll(v, NULL, 10);
        if ((v = xml_attr(hist, "maxchars")))
            maxchars = strtoll(v, NULL, 10);
        if ((v = xml_attr(hist, "seconds")))
            since = muc_wall_ms() - strtoll(v, NULL, 10) * 1000;
        if ((v = xml_attr(hist, "since"))) {
            int64_t t = muc_parse_stamp(v);
            if (t > since)
                since = t;
        }
    }
    if (maxstanzas <= 0 || maxchars == 0 || r->hist_n == 0)
        return;
    size_t cap = muc_hist_cap(srv);
    /* Walk back from the newest entry to find where to start, counting only
     * what this occupant may read. */
    size_t first = r->hist_n;
    int64_t count = 0, chars = 0;
    for (size_t k = r->hist_n; k-- > 0;) {
        struct muc_hist *h = &r->hist[(r->hist_start + k) % cap];
        if (since >= 0 && h->stamp_ms < since)
            break;
        if (count >= maxstanzas)
            break;
        size_t len = stanza_wire(h->st)->len;
        if (maxchars > 0 && chars + (int64_t)len > maxchars)
            break;
        if (!labels_may_read(srv, s->jid->bare, h->st))
            continue;
        chars += (int64_t)len;
        count++;
        first = k;
    }
    for (size_t k = first; k < r->hist_n; k++) {
        struct muc_hist *h = &r->hist[(r->hist_start + k) % cap];
        muc_deliver_local(srv, r, s, h->st, h->stamp_ms);
    }
}

/* The subject, or an empty one (XEP-0045 §7.2.16: it ends the join). */
static void
muc_send_subject(struct server *srv, struct muc_room *r, struct sess *s)
{
    struct stanza *m;
    if (r->subject) {
        m = muc_copy_to(srv, r, r->subject, s->jid, -1);
    } else {
        m = stanza_new(STANZA_MESSAGE, r->j, s->jid, "groupchat", NULL);
        m->id = server_next_id(srv);
        xml_elem_new(m->tree, m->el, XMPP_NS_CLIENT, "subject");
        stanza_touched(m);
    }
    router_deliver(srv, s, m);
    stanza_unref(m);
}

/* ---- entering, changing, leaving (presence to room/nick) ---- */

/* XEP-0045 §7.2: the checks of an entering user, in the XEP's order with the
 * clearance check after the ban. NULL
 * when it may enter, else the error condition (etype and text filled). */
static const char *
muc_enter_refusal(struct server *srv, struct muc_room *r, struct stanza *st, const char *nick,
                  enum muc_affil a, const char **etype, const char **text)
{
    *etype = "cancel";
    *text = NULL;
    if (r->locked && a != MUC_AFFIL_OWNER) {
        *text = "This room is locked until its owner configures it";
        return "item-not-found";
    }
    if (a == MUC_AFFIL_OUTCAST) {
        *etype = "auth";
        *text = "You are banned from this room";
        return "forbidden";
    }
    /* Before membership: no membership would let an uncleared user in. */
    if (!labels_may_enter(srv, st->from->bare, r->dir)) {
        *etype = "auth";
        *text = "Your clearance does not cover this room's default security label";
        return "forbidden";
    }
    if (r->cfg.members_only && a < MUC_AFFIL_MEMBER) {
        *etype = "auth";
        *text = "This room is for members only";
        return "registration-required";
    }
    struct muc_occupant *same = muc_occ_by_nick(r, nick);
    if (same && strcmp(same->jid->bare, st->from->bare) != 0) {
        *text = "This nickname is in use in the room";
        return "conflict";
    }
    if (same) {
        *text = "You are in the room already with this nickname from another resource";
        return "conflict";
    }
    if (r->cfg.password) {
        struct xml_node *x = xml_child(st->el, NS_MUC, "x");
        struct xml_node *pw = x ? xml_child(x, NS_MUC, "password") : NULL;
        const char *given = pw ? xml_text(st->tree, pw) : NULL;
        if (!given || !r->cfg.secret || strcmp(given, r->cfg.secret) != 0) {
            *etype = "auth";
            *text = "A correct room password is required";
            return "not-authorized";
        }
    }
    if (r->cfg.max_users > 0 && (int64_t)r->n_occ >= r->cfg.max_users &&
        a < MUC_AFFIL_ADMIN) {
        *etype = "wait";
        *text = "The room is full";
        return "service-unavailable";
    }
    return NULL;
}

/* Our copy of an occupant's presence: what it sent, minus the MUC <x/>. */
static struct stanza *
muc_presence_copy(struct stanza *st)
{
    struct stanza *c = stanza_copy(st);
    for (struct xml_node *x; (x = xml_child(c->el, NS_MUC, "x"));)
        xml_unlink(x);
    /* Room presence goes to every occupant: it carries no label. */
    for (struct xml_node *l; (l = xml_child(c->el, "urn:xmpp:sec-label:0", "securitylabel"));)
        xml_unlink(l);
    stanza_touched(c);
    return c;
}

static void
muc_enter(struct server *srv, struct stanza *st, struct sess *s)
{
    const char *nick = st->to->resource;
    struct muc_room *r = muc_room_find(srv, st->to->bare);
    bool created = false;
    if (!r) {
        if (!server_is_local_domain(srv, st->from->domain)) {
            muc_error(srv, st, "cancel", "not-allowed", "Only local users create rooms");
            return;
        }
        r = muc_room_create(srv, st->to);
        r->locked = srv->cfg->muc_lock_new_rooms;
        muc_affil_mem_set(r, st->from->bare, MUC_AFFIL_OWNER);
        created = true;
    }
    enum muc_affil a = muc_affil_of(srv, r, st->from->bare);
    const char *etype, *text;
    const char *cond = muc_enter_refusal(srv, r, st, nick, a, &etype, &text);
    if (cond) {
        log_info("muc enter-refused room=%s jid=%s reason=%s", r->jid, st->from->full, cond);
        muc_error(srv, st, etype, cond, text);
        if (created)
            muc_room_drop(srv, r);
        return;
    }
    struct muc_occupant *o = xcalloc(1, sizeof *o);
    o->nick = xstrdup(nick);
    o->jid = jid_dup(st->from);
    o->role = muc_default_role(r, a);
    o->presence = muc_presence_copy(st);
    /* Everyone already there, as the newcomer sees them. */
    for (size_t i = 0; i < r->n_occ; i++) {
        struct stanza *p = muc_presence_for(srv, r, r->occ[i], o, NULL);
        router_deliver(srv, s, p);
        stanza_unref(p);
    }
    muc_occ_add(r, o);
    char codes[32] = "";
    if (r->cfg.whois_anyone)
        strcat(codes, "100 ");
    if (created)
        strcat(codes, "201 ");
    if (codes[0])
        codes[strlen(codes) - 1] = '\0';
    /* The others get the newcomer without the self-only codes. */
    for (size_t i = 0; i < r->n_occ; i++) {
        struct muc_occupant *recv = r->occ[i];
        struct sess *rs = muc_occ_sess(srv, recv);
        if (!rs)
            continue;
        struct stanza *p = muc_presence_for(srv, r, o, recv,
                                            &(struct muc_event){.codes = recv == o ? codes : NULL});
        router_deliver(srv, rs, p);
        stanza_unref(p);
    }
    if (created)
        muc_announce_room(srv, r);
    muc_occ_send(srv, r, o, NULL, NULL);
    log_info("muc entered room=%s nick=%s jid=%s role=%s affiliation=%s%s", r->jid, o->nick,
             o->jid->full, muc_role_str(o->role), muc_affil_str(a), created ? " created" : "");
    struct xml_node *x = xml_child(st->el, NS_MUC, "x");
    muc_send_history(srv, r, s, x ? xml_child(x, NS_MUC, "history") : NULL);
    muc_send_subject(srv, r, s);
}

/* XEP-0045 §7.6: a new nickname. */
static void
muc_change_nick(struct server *srv, struct muc_room *r, struct muc_occupant *o,
                struct stanza *st)
{
    const char *nick = st->to->resource;
    if (muc_occ_by_nick(r, nick)) {
        muc_error(srv, st, "cancel", "conflict", "This nickname is in use in the room");
        return;
    }
    struct muc_event ev = {.codes = "303", .new_nick = nick, .unavailable = true};
    muc_broadcast_presence(srv, r, o, &ev);
    muc_leave_send(srv, r, o->nick, &ev);
    log_info("muc nick room=%s old=%s new=%s jid=%s", r->jid, o->nick, nick, o->jid->full);
    free(o->nick);
    o->nick = xstrdup(nick);
    stanza_unref(o->presence);
    o->presence = muc_presence_copy(st);
    muc_broadcast_presence(srv, r, o, NULL);
    muc_occ_send(srv, r, o, NULL, NULL);
}

static void
muc_presence(struct server *srv, struct stanza *st)
{
    if (!st->from || !st->from->resource)
        return;
    bool unavailable = st->type && strcmp(st->type, "unavailable") == 0;
    if (st->type && !unavailable) {
        /* probes, subscriptions and errors to a room mean nothing here */
        log_debug("muc presence-ignored type=%s from=%s", st->type, st->from->full);
        return;
    }
    struct muc_room *r = muc_room_find(srv, st->to->bare);
    struct muc_occupant *o = r ? muc_occ_by_jid(r, st->from->full) : NULL;
    if (unavailable) {
        if (o)
            muc_occ_remove(srv, r, o, NULL, true);
        return;
    }
    if (!st->to->resource) {
        muc_error(srv, st, "modify", "jid-malformed", "A nickname is needed: room@service/nick");
        return;
    }
    struct sess *s = sess_table_find(srv->sessions, st->from->full);
    if (!s || s->node) {
        log_notice("muc presence-without-session from=%s", st->from->full);
        return;
    }
    if (!o) {
        muc_enter(srv, st, s);
        return;
    }
    if (strcmp(o->nick, st->to->resource) != 0) {
        muc_change_nick(srv, r, o, st);
        return;
    }
    stanza_unref(o->presence);
    o->presence = muc_presence_copy(st);
    muc_broadcast_presence(srv, r, o, NULL);
    muc_occ_send(srv, r, o, NULL, NULL);
}

/* ---- messages ---- */

/* The message as the room broadcasts it: from room/nick, no 'to', the
 * sender's content (and the label labels_outbound() put there). */
static struct stanza *
muc_room_copy(struct server *srv, struct muc_room *r, struct stanza *st, const char *nick)
{
    struct stanza *b = stanza_copy(st);
    b->id = server_next_id(srv);
    struct jid *from = muc_occ_jid(r, nick);
    stanza_set_from(b, from);
    stanza_set_to(b, NULL);
    jid_free(from);
    return b;
}

/* Every occupant on this node gets st (a room copy) if it may read it. */
static void
muc_fanout_local(struct server *srv, struct muc_room *r, struct stanza *b)
{
    for (size_t i = 0; i < r->n_occ; i++) {
        struct sess *s = muc_occ_sess(srv, r->occ[i]);
        if (s)
            muc_deliver_local(srv, r, s, b, -1);
    }
}

static void
muc_groupchat(struct server *srv, struct muc_room *r, struct stanza *st)
{
    struct muc_occupant *o = muc_occ_by_jid(r, st->from->full);
    if (!o) {
        muc_error(srv, st, "modify", "not-acceptable", "Only occupants may speak in the room");
        return;
    }
    struct xml_node *subject = xml_child(st->el, XMPP_NS_CLIENT, "subject");
    bool has_body = xml_child(st->el, XMPP_NS_CLIENT, "body") != NULL;
    if (subject && !has_body) {
        if (o->role != MUC_ROLE_MODERATOR &&
            !(r->cfg.change_subject && o->role == MUC_ROLE_PARTICIPANT)) {
            muc_error(srv, st, "auth", "forbidden", "You may not change the subject");
            return;
        }
        struct stanza *b = muc_room_copy(srv, r, st, o->nick);
        /* A subject carries no label. */
        for (struct xml_node *l; (l = xml_child(b->el, "urn:xmpp:sec-label:0", "securitylabel"));)
            xml_unlink(l);
        stanza_touched(b);
        stanza_unref(r->subject);
        r->subject = stanza_ref(b);
        muc_fanout_local(srv, r, b);
        struct muc_hist h = {b, muc_wall_ms()};
        muc_stanza_send(srv, MUC_MSG_GROUPCHAT, r, &h, NULL);
        log_info("muc subject room=%s nick=%s", r->jid, o->nick);
        stanza_unref(b);
        return;
    }
    if (o->role == MUC_ROLE_VISITOR) {
        muc_error(srv, st, "auth", "forbidden", "Visitors may not speak in a moderated room");
        return;
    }
    if (!labels_room_may_carry(srv, r->dir, r->jid, st)) {
        muc_error(srv, st, "auth", "forbidden",
                  "This security label is outside the room's clearance");
        return;
    }
    struct stanza *b = muc_room_copy(srv, r, st, o->nick);
    int64_t stamp = muc_wall_ms();
    muc_fanout_local(srv, r, b);
    muc_hist_add(srv, r, b, stamp);
    struct muc_hist h = {b, stamp};
    muc_stanza_send(srv, MUC_MSG_GROUPCHAT, r, &h, NULL);
    log_debug("muc groupchat room=%s nick=%s stanza=%" PRIu64, r->jid, o->nick, b->id);
    stanza_unref(b);
}

/* XEP-0045 §7.5: a private message to room/nick goes to that occupant's real
 * JID, checked like a one-to-one message. */
static void
muc_private(struct server *srv, struct muc_room *r, struct stanza *st)
{
    struct muc_occupant *o = muc_occ_by_jid(r, st->from->full);
    if (!o) {
        muc_error(srv, st, "modify", "not-acceptable", "Only occupants may send private messages");
        return;
    }
    if (st->type && strcmp(st->type, "groupchat") == 0) {
        muc_error(srv, st, "modify", "bad-request", "A groupchat message goes to the room");
        return;
    }
    struct muc_occupant *t = muc_occ_by_nick(r, st->to->resource);
    if (!t) {
        muc_error(srv, st, "cancel", "item-not-found", "No occupant has this nickname");
        return;
    }
    struct sess *ts = sess_table_find(srv->sessions, t->jid->full);
    if (!ts) {
        muc_error(srv, st, "cancel", "item-not-found", "No occupant has this nickname");
        return;
    }
    struct stanza *c = muc_room_copy(srv, r, st, o->nick);
    stanza_set_to(c, t->jid);
    if (!xml_child(c->el, NS_MUC_USER, "x"))
        xml_elem_new(c->tree, c->el, NS_MUC_USER, "x");
    stanza_touched(c);
    if (!ts->node && !labels_may_read(srv, t->jid->bare, c)) {
        muc_error(srv, st, "cancel", "forbidden",
                  "The recipient is not cleared for this security label");
    } else {
        router_deliver(srv, ts, c); /* a remote node checks again for its own */
    }
    stanza_unref(c);
}

/* An error about a private message (a receiver's node refused it, say) comes
 * to room/nick: it goes on to that occupant, from room/<the refuser's nick>
 * (or the room), so no real JID leaks. Errors to the room itself stop here. */
static void
muc_relay_error(struct server *srv, struct stanza *st, struct muc_room *r)
{
    struct muc_occupant *t = r && st->to->resource ? muc_occ_by_nick(r, st->to->resource) : NULL;
    if (!t)
        return;
    struct muc_occupant *o = muc_occ_by_jid(r, st->from->full);
    struct jid *from = o ? muc_occ_jid(r, o->nick) : jid_dup(r->j);
    struct stanza *c = stanza_copy(st);
    c->id = server_next_id(srv);
    stanza_set_from(c, from);
    stanza_set_to(c, t->jid);
    jid_free(from);
    muc_send(srv, c);
    stanza_unref(c);
}

static void
muc_message(struct server *srv, struct stanza *st, struct muc_room *r)
{
    if (st->type && strcmp(st->type, "error") == 0) {
        muc_relay_error(srv, st, r);
        return;
    }
    if (!r) {
        muc_error(srv, st, "cancel", "item-not-found", "No such room");
        return;
    }
    if (st->to->resource) {
        muc_private(srv, r, st);
        return;
    }
    struct xml_node *x = xml_child(st->el, NS_MUC_USER, "x");
    if (x && muc_admin_invite(srv, st, r))
        return;
    if (st->type && strcmp(st->type, "groupchat") == 0) {
        muc_groupchat(srv, r, st);
        return;
    }
    muc_error(srv, st, "modify", "bad-request", "Messages to a room are of type groupchat");
}

void
muc_route(struct server *srv, struct stanza *st, struct sess *origin)
{
    (void)origin;
    if (!st->from || !st->to) {
        log_debug("muc dropped stanza=%" PRIu64 " (no from)", st->id);
        return;
    }
    struct muc_room *r = st->to->local ? muc_room_find(srv, st->to->bare) : NULL;
    switch (st->kind) {
    case STANZA_IQ:
        if (st->to->resource) {
            /* iq to an occupant: not relayed (its real JID stays hidden). */
            if (st->type && (strcmp(st->type, "get") == 0 || strcmp(st->type, "set") == 0))
                muc_error(srv, st, "cancel", "service-unavailable", NULL);
            return;
        }
        if (st->to->local && !r) {
            if (st->type && (strcmp(st->type, "get") == 0 || strcmp(st->type, "set") == 0))
                muc_error(srv, st, "cancel", "item-not-found", "No such room");
            return;
        }
        muc_admin_iq(srv, st, origin, r);
        return;
    case STANZA_PRESENCE:
        if (!st->to->local)
            return;
        muc_presence(srv, st);
        return;
    case STANZA_MESSAGE:
        if (!st->to->local) {
            muc_error(srv, st, "cancel", "service-unavailable", NULL);
            return;
        }
        muc_message(srv, st, r);
        return;
    }
}

void
muc_destroy(struct server *srv, struct muc_room *r, const char *alt, const char *reason,
            bool announce)
{
    for (size_t i = 0; i < r->n_occ; i++) {
        struct muc_occupant *o = r->occ[i];
        struct sess *s = muc_occ_sess(srv, o);
        if (!s)
            continue;
        struct jid *from = muc_occ_jid(r, o->nick);
        struct stanza *p = stanza_new(STANZA_PRESENCE, from, o->jid, "unavailable", NULL);
        jid_free(from);
        p->id = server_next_id(srv);
        struct xml_node *x = xml_elem_new(p->tree, p->el, NS_MUC_USER, "x");
        struct xml_node *item = xml_elem_new(p->tree, x, NS_MUC_USER, "item");
        xml_set_attr(p->tree, item, NULL, "affiliation", "none");
        xml_set_attr(p->tree, item, NULL, "role", "none");
        struct xml_node *d = xml_elem_new(p->tree, x, NS_MUC_USER, "destroy");
        if (alt && alt[0])
            xml_set_attr(p->tree, d, NULL, "jid", alt);
        if (reason && reason[0]) {
            struct xml_node *rs = xml_elem_new(p->tree, d, NS_MUC_USER, "reason");
            xml_add_text(p->tree, rs, reason, strlen(reason));
        }
        struct xml_node *sc = xml_elem_new(p->tree, x, NS_MUC_USER, "status");
        xml_set_attr(p->tree, sc, NULL, "code", "110");
        stanza_touched(p);
        router_deliver(srv, s, p);
        stanza_unref(p);
    }
    if (announce) {
        struct cluster_frame f[3] = {fstr(r->jid), fstr(alt), fstr(reason)};
        muc_frames_send(srv, MUC_MSG_DESTROY, NULL, f, 3);
        if (r->dir)
            dir_room_del(srv->dir, r->jid, NULL, NULL);
    }
    log_info("muc destroyed room=%s", r->jid);
    muc_room_drop(srv, r);
}

/* ---- the cluster: receiving ---- */

/* Frame i as a string (empty frames give ""), NULL when it holds a NUL or
 * is out of range. Caller frees. */
static char *
muc_fstr(const struct cluster_frame *f, size_t n, size_t i)
{
    if (i >= n || memchr(f[i].data, '\0', f[i].len))
        return NULL;
    return xstrndup(f[i].len ? f[i].data : "", f[i].len);
}

static struct stanza *
muc_fstanza(struct server *srv, const struct cluster_frame *f)
{
    struct stanza *st = nodes_parse(f);
    if (st)
        st->id = server_next_id(srv);
    return st;
}

/* The room a message names, or a new temporary one when create is true and
 * the JID is one of our services'. */
static struct muc_room *
muc_room_of(struct server *srv, const char *jid, bool create)
{
    struct muc_room *r = muc_room_find(srv, jid);
    if (r || !create)
        return r;
    struct jid *j = NULL;
    if (jid_parse(jid, &j) != PAL_OK || !j->local || j->resource ||
        !muc_is_service(srv, j->domain)) {
        jid_free(j);
        return NULL;
    }
    r = muc_room_create(srv, j);
    jid_free(j);
    return r;
}

static void
muc_on_room(struct server *srv, const char *from, const struct cluster_frame *f, size_t n)
{
    char *jid = muc_fstr(f, n, 0), *config = muc_fstr(f, n, 1), *flags = muc_fstr(f, n, 2);
    char *affils = muc_fstr(f, n, 3);
    struct muc_room *r = jid && config && flags && affils ? muc_room_of(srv, jid, true) : NULL;
    if (!r) {
        log_warn("muc bad-message type=room node=%s", from);
        goto out;
    }
    bool snapshot = strstr(flags, "snapshot") != NULL;
    r->locked = strstr(flags, "locked") != NULL;
    struct muc_config c;
    muc_config_default(&c);
    muc_config_parse(&c, config);
    muc_config_clear(&r->cfg);
    r->cfg = c;
    if (!r->dir) {
        for (size_t i = 0; i < r->n_affils; i++)
            free(r->affils[i].jid);
        r->n_affils = 0;
        for (char *save = NULL, *line = strtok_r(affils, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *sp = strchr(line, ' ');
            if (!sp)
                continue;
            *sp = '\0';
            int a = muc_affil_parse(line);
            if (a >= 0)
                muc_affil_mem_set(r, sp + 1, (enum muc_affil)a);
        }
    }
    if (snapshot && r->hist_n == 0 && !r->subject) {
        free(r->hist_source);
        r->hist_source = xstrdup(from);
        if (n > 4 && f[4].len)
            r->subject = muc_fstanza(srv, &f[4]);
    }
    log_debug("muc room-update room=%s node=%s%s", r->jid, from, snapshot ? " snapshot" : "");
out:
    free(jid);
    free(config);
    free(flags);
    free(affils);
}

static void
muc_on_occupant(struct server *srv, const char *from, const struct cluster_frame *f, size_t n)
{
    char *jid = muc_fstr(f, n, 0), *nick = muc_fstr(f, n, 1), *real = muc_fstr(f, n, 2);
    char *role = muc_fstr(f, n, 3), *codes = muc_fstr(f, n, 5);
    struct jid *rj = NULL;
    struct muc_room *r = jid && nick && nick[0] && real && role && codes &&
                                 strlen(role) == 1 && role[0] >= '0' && role[0] <= '3' &&
                                 jid_parse(real, &rj) == PAL_OK && rj->resource
                             ? muc_room_of(srv, jid, true)
                             : NULL;
    if (!r) {
        log_warn("muc bad-message type=occupant node=%s", from);
        goto out;
    }
    struct muc_occupant *o = muc_occ_by_jid(r, rj->full);
    struct muc_occupant *clash = muc_occ_by_nick(r, nick);
    if (clash && clash != o) {
        /* Two nodes let two users take one nickname at the same instant: the
         * one whose real JID sorts first keeps it, on every node. */
        if (strcmp(clash->jid->full, rj->full) < 0) {
            log_notice("muc nick-clash room=%s nick=%s kept=%s", r->jid, nick, clash->jid->full);
            goto out;
        }
        log_notice("muc nick-clash room=%s nick=%s kept=%s", r->jid, nick, rj->full);
        muc_occ_remove(srv, r, clash, &(struct muc_event){.codes = "333"}, false);
    }
    bool is_new = o == NULL;
    if (!o) {
        o = xcalloc(1, sizeof *o);
        o->jid = rj;
        rj = NULL;
        o->node = xstrdup(from);
        muc_occ_add(r, o);
    }
    free(o->nick);
    o->nick = xstrdup(nick);
    o->role = (enum muc_role)(role[0] - '0');
    if (f[4].len) {
        stanza_unref(o->presence);
        o->presence = muc_fstanza(srv, &f[4]);
    }
    struct muc_event ev = {.codes = codes};
    if (n > 6 && f[6].len == 1 && ((const char *)f[6].data)[0] >= '0' &&
        ((const char *)f[6].data)[0] <= '4') {
        ev.has_affil = true;
        ev.affil = (enum muc_affil)(((const char *)f[6].data)[0] - '0');
    }
    muc_broadcast_presence(srv, r, o, &ev);
    log_debug("muc occupant room=%s nick=%s jid=%s node=%s%s", r->jid, o->nick, o->jid->full,
              o->node ? o->node : "-", is_new ? " new" : "");
out:
    jid_free(rj);
    free(jid);
    free(nick);
    free(real);
    free(role);
    free(codes);
}

static void
muc_on_leave(struct server *srv, const char *from, const struct cluster_frame *f, size_t n)
{
    char *jid = muc_fstr(f, n, 0), *nick = muc_fstr(f, n, 1), *codes = muc_fstr(f, n, 2);
    char *actor = muc_fstr(f, n, 3), *reason = muc_fstr(f, n, 4), *new_nick = muc_fstr(f, n, 5);
    struct muc_room *r = jid ? muc_room_find(srv, jid) : NULL;
    struct muc_occupant *o = r && nick ? muc_occ_by_nick(r, nick) : NULL;
    if (!jid || !nick || !codes || !actor || !reason || !new_nick) {
        log_warn("muc bad-message type=leave node=%s", from);
    } else if (o) {
        struct muc_event ev = {.codes = codes,
                               .actor = actor[0] ? actor : NULL,
                               .reason = reason[0] ? reason : NULL,
                               .new_nick = new_nick[0] ? new_nick : NULL,
                               .unavailable = true};
        if (ev.new_nick) {
            /* A nick change (303): the occupant stays until the OCCUPANT
             * that follows renames it. Removing it would drop a temporary
             * room it is alone in, which that OCCUPANT would then make anew
             * with the default configuration and no affiliations. */
            muc_broadcast_presence(srv, r, o, &ev);
            log_debug("muc nick-leaving room=%s nick=%s new=%s node=%s", r->jid, nick, new_nick,
                      from);
        } else {
            muc_occ_remove(srv, r, o, &ev, false);
        }
    }
    free(jid);
    free(nick);
    free(codes);
    free(actor);
    free(reason);
    free(new_nick);
}

static void
muc_on_stanza(struct server *srv, const char *from, uint16_t type, const struct cluster_frame *f,
              size_t n)
{
    char *jid = muc_fstr(f, n, 0), *stamp = muc_fstr(f, n, 1);
    struct stanza *b = n >= 3 ? muc_fstanza(srv, &f[2]) : NULL;
    struct muc_room *r = jid ? muc_room_find(srv, jid) : NULL;
    if (!jid || !stamp || !b || b->kind != STANZA_MESSAGE) {
        log_warn("muc bad-message type=%s node=%s", type == MUC_MSG_HISTORY ? "history" : "groupchat",
                 from);
    } else if (r && type == MUC_MSG_HISTORY) {
        if (r->hist_source && strcmp(r->hist_source, from) == 0)
            muc_hist_add(srv, r, b, strtoll(stamp, NULL, 10));
    } else if (r) {
        bool is_subject = xml_child(b->el, XMPP_NS_CLIENT, "subject") &&
                          !xml_child(b->el, XMPP_NS_CLIENT, "body");
        muc_fanout_local(srv, r, b);
        if (is_subject) {
            stanza_unref(r->subject);
            r->subject = stanza_ref(b);
        } else {
            muc_hist_add(srv, r, b, strtoll(stamp, NULL, 10));
        }
    }
    stanza_unref(b);
    free(jid);
    free(stamp);
}

static void
muc_on_destroy(struct server *srv, const char *from, const struct cluster_frame *f, size_t n)
{
    char *jid = muc_fstr(f, n, 0), *alt = muc_fstr(f, n, 1), *reason = muc_fstr(f, n, 2);
    struct muc_room *r = jid ? muc_room_find(srv, jid) : NULL;
    if (!jid || !alt || !reason)
        log_warn("muc bad-message type=destroy node=%s", from);
    else if (r)
        muc_destroy(srv, r, alt, reason, false);
    free(jid);
    free(alt);
    free(reason);
}

void
muc_on_cluster(struct server *srv, const char *from, uint16_t type,
               const struct cluster_frame *f, size_t n)
{
    if (!srv->muc)
        return;
    switch (type) {
    case MUC_MSG_ROOM: muc_on_room(srv, from, f, n); break;
    case MUC_MSG_OCCUPANT: muc_on_occupant(srv, from, f, n); break;
    case MUC_MSG_LEAVE: muc_on_leave(srv, from, f, n); break;
    case MUC_MSG_GROUPCHAT:
    case MUC_MSG_HISTORY: muc_on_stanza(srv, from, type, f, n); break;
    case MUC_MSG_DESTROY: muc_on_destroy(srv, from, f, n); break;
    default: log_warn("muc unknown-message type=%u node=%s", type, from);
    }
}

static struct muc_room **
muc_rooms_all(struct server *srv, size_t *n)
{
    return (struct muc_room **)hash_values(srv->muc->rooms, n);
}

void
muc_peer_up(struct server *srv, const char *node)
{
    if (!srv->muc)
        return;
    size_t n = 0, occ = 0;
    struct muc_room **all = muc_rooms_all(srv, &n);
    size_t cap = muc_hist_cap(srv);
    for (size_t i = 0; i < n; i++) {
        struct muc_room *r = all[i];
        muc_room_frames_send(srv, r, node, true);
        for (size_t k = 0; k < r->hist_n; k++)
            muc_stanza_send(srv, MUC_MSG_HISTORY, r, &r->hist[(r->hist_start + k) % cap], node);
        for (size_t k = 0; k < r->n_occ; k++) {
            if (!r->occ[k]->node) {
                muc_occ_send(srv, r, r->occ[k], NULL, node);
                occ++;
            }
        }
    }
    free(all);
    log_info("muc peer-up node=%s rooms=%zu occupants_sent=%zu", node, n, occ);
}

void
muc_peer_down(struct server *srv, const char *node)
{
    if (!srv->muc)
        return;
    size_t n = 0, gone = 0;
    struct muc_room **all = muc_rooms_all(srv, &n);
    for (size_t i = 0; i < n; i++) {
        struct muc_room *r = all[i];
        size_t k = 0;
        struct muc_occupant **dead = xcalloc(r->n_occ ? r->n_occ : 1, sizeof *dead);
        for (size_t j = 0; j < r->n_occ; j++)
            if (r->occ[j]->node && strcmp(r->occ[j]->node, node) == 0)
                dead[k++] = r->occ[j];
        /* Only the last removal can drop the room, after which r is gone. */
        for (size_t j = 0; j < k; j++)
            muc_occ_remove(srv, r, dead[j], NULL, false);
        gone += k;
        free(dead);
    }
    free(all);
    log_notice("muc peer-down node=%s occupants_removed=%zu", node, gone);
}

/* ---- the directory's rooms ---- */

static void
muc_dir_room(struct server *srv, const char *jid)
{
    struct dir_room *d = dir_room_get(srv->dir, jid);
    struct muc_room *r = muc_room_find(srv, jid);
    if (d) {
        struct jid *j = NULL;
        if (jid_parse(jid, &j) != PAL_OK || !muc_is_service(srv, j->domain)) {
            log_notice("muc directory-room-ignored room=%s (not at one of our MUC services: "
                       "%s.<domain>)",
                       jid, srv->cfg->muc_subdomain);
            jid_free(j);
            dir_room_unref(d);
            return;
        }
        if (r && r->dir == d) { /* the same snapshot: nothing changed */
            jid_free(j);
            dir_room_unref(d);
            return;
        }
        if (!r)
            r = muc_room_create(srv, j);
        jid_free(j);
        dir_room_unref(r->dir);
        r->dir = d;
        muc_config_clear(&r->cfg);
        muc_config_default(&r->cfg);
        if (d->config)
            muc_config_parse(&r->cfg, d->config);
        r->cfg.persistent = true;
        if (!r->cfg.name && d->name)
            r->cfg.name = xstrdup(d->name);
        if (!r->cfg.desc && d->description)
            r->cfg.desc = xstrdup(d->description);
        r->locked = false;
        for (size_t i = 0; i < r->n_affils; i++)
            free(r->affils[i].jid);
        r->n_affils = 0;
        log_info("muc directory-room room=%s dn=%s", r->jid, d->dn);
        return;
    }
    if (!r || !r->dir)
        return;
    /* The entry went. An owner who made the room temporary already took it
     * out of the directory (cfg.persistent false); an administrator's
     * deletion destroys the room. */
    if (!r->cfg.persistent) {
        /* Kept in memory, as muc_room_store() did on the owner's node. */
        for (int a = 0; a < 5; a++) {
            const char **v = NULL;
            size_t n = muc_dir_direct(r->dir, (enum muc_affil)a, &v);
            for (size_t i = 0; i < n; i++)
                muc_affil_mem_set(r, v[i], (enum muc_affil)a);
            free(v);
        }
    }
    dir_room_unref(r->dir);
    r->dir = NULL;
    if (r->cfg.persistent) {
        log_notice("muc directory-room-removed room=%s (destroyed)", r->jid);
        muc_destroy(srv, r, NULL, "The room was removed from the directory", false);
    } else {
        muc_room_maybe_drop(srv, r);
    }
}

static void
muc_dir_changed(void *arg, const char *room_jid)
{
    struct server *srv = arg;
    if (!srv->muc)
        return;
    if (room_jid) {
        muc_dir_room(srv, room_jid);
        return;
    }
    /* Many may have changed: every directory room, and every room we hold
     * that came from the directory. */
    char **jids = NULL;
    size_t n = 0;
    if (dir_rooms_list(srv->dir, &jids, &n) == PAL_OK) {
        for (size_t i = 0; i < n; i++)
            muc_dir_room(srv, jids[i]);
        dir_strv_free(jids, n);
    }
    size_t m = 0;
    struct muc_room **all = muc_rooms_all(srv, &m);
    char **held = xcalloc(m ? m : 1, sizeof *held);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (all[i]->dir)
            held[k++] = xstrdup(all[i]->jid);
    free(all);
    for (size_t i = 0; i < k; i++) {
        muc_dir_room(srv, held[i]);
        free(held[i]);
    }
    free(held);
}

/* ---- setup ---- */

int
muc_init(struct server *srv, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (!srv->cfg->muc_enabled)
        return PAL_OK;
    struct muc *m = xcalloc(1, sizeof *m);
    m->rooms = hash_new();
    m->n_services = srv->cfg->domains.n;
    m->services = xcalloc(m->n_services ? m->n_services : 1, sizeof *m->services);
    for (size_t i = 0; i < m->n_services; i++) {
        size_t len = strlen(srv->cfg->muc_subdomain) + strlen(srv->cfg->domains.v[i]) + 2;
        m->services[i] = xmalloc(len);
        snprintf(m->services[i], len, "%s.%s", srv->cfg->muc_subdomain, srv->cfg->domains.v[i]);
        log_notice("muc service=%s", m->services[i]);
    }
    srv->muc = m;
    dir_on_rooms_changed(srv->dir, muc_dir_changed, srv);
    muc_dir_changed(srv, NULL);
    return PAL_OK;
}

void
muc_free(struct server *srv)
{
    struct muc *m = srv->muc;
    if (!m)
        return;
    dir_on_rooms_changed(srv->dir, NULL, NULL);
    size_t n = 0;
    struct muc_room **all = muc_rooms_all(srv, &n);
    for (size_t i = 0; i < n; i++)
        muc_room_free(srv, all[i]);
    free(all);
    hash_free(m->rooms);
    for (size_t i = 0; i < m->n_services; i++)
        free(m->services[i]);
    free(m->services);
    free(m);
    srv->muc = NULL;
}
