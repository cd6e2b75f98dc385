/* SPDX-License-Identifier: Apache-2.0 */
/* replica.c - the node's in-memory copy of the directory, fed by sync.c and
 * read on hot paths (SASL auxprop, routing, roster, offline delivery, default
 * labels). Users are found by bare JID, normalised DN and entryUUID; roster
 * items and offline messages live in a bucket per parent DN, so they attach to
 * their user whatever order the server sends them in. Server settings and
 * cluster node entries are few: plain lists, searched whole. User data is
 * handed out as refcounted snapshots that an update replaces, never edits;
 * nodes as copies.
 *
 * Local writes (roster, offline) change the replica at once and stay marked
 * pending until write.c reports the LDAP result, so a refresh sweep cannot
 * drop them while their write waits for a reconnect. No I/O; unit-tested in
 * test/unit/test_replica.c. */
#include "directory/dir_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/mem.h"

/* ---- A small chained hash map; keys are borrowed from the values --------- */

struct hmap_ent {
    struct hmap_ent *next;
    uint64_t h;
    const void *k;
    size_t kl;
    void *v;
};

struct hmap {
    struct hmap_ent **b;
    size_t nb; /* power of two, or 0 before the first insert */
    size_t n;
};

static uint64_t
hmap_hash(const void *k, size_t kl)
{
    const unsigned char *p = k;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < kl; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct hmap_ent **
hmap_slot(const struct hmap *m, const void *k, size_t kl, uint64_t h)
{
    struct hmap_ent **pe = &m->b[h & (m->nb - 1)];
    for (; *pe; pe = &(*pe)->next)
        if ((*pe)->h == h && (*pe)->kl == kl && memcmp((*pe)->k, k, kl) == 0)
            return pe;
    return pe;
}

static void *
hmap_get(const struct hmap *m, const void *k, size_t kl)
{
    if (m->nb == 0)
        return NULL;
    struct hmap_ent **pe = hmap_slot(m, k, kl, hmap_hash(k, kl));
    return *pe ? (*pe)->v : NULL;
}

static void
hmap_grow(struct hmap *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    struct hmap_ent **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < m->nb; i++) {
        for (struct hmap_ent *e = m->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Inserts or replaces; the key memory must live as long as the entry. */
static void
hmap_put(struct hmap *m, const void *k, size_t kl, void *v)
{
    if (m->n >= m->nb)
        hmap_grow(m);
    uint64_t h = hmap_hash(k, kl);
    struct hmap_ent **pe = hmap_slot(m, k, kl, h);
    if (*pe) {
        (*pe)->k = k;
        (*pe)->v = v;
        return;
    }
    struct hmap_ent *e = xmalloc(sizeof *e);
    *e = (struct hmap_ent){NULL, h, k, kl, v};
    *pe = e;
    m->n++;
}

static void *
hmap_del(struct hmap *m, const void *k, size_t kl)
{
    if (m->nb == 0)
        return NULL;
    struct hmap_ent **pe = hmap_slot(m, k, kl, hmap_hash(k, kl));
    struct hmap_ent *e = *pe;
    if (!e)
        return NULL;
    void *v = e->v;
    *pe = e->next;
    free(e);
    m->n--;
    return v;
}

/* The values, in a new array of m->n pointers (caller frees): iteration that
 * may delete. */
static void **
hmap_values(const struct hmap *m)
{
    void **v = xcalloc(m->n ? m->n : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < m->nb; i++)
        for (struct hmap_ent *e = m->b[i]; e; e = e->next)
            v[k++] = e->v;
    return v;
}

static void
hmap_clear(struct hmap *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        for (struct hmap_ent *e = m->b[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}

#define HKEY(s) (s), strlen(s)

/* ---- Replica objects ----------------------------------------------------- */

struct rep_obj {
    enum dir_kind kind;
    bool has_uuid;
    unsigned char uuid[16];
    uint64_t gen; /* refresh generation that last saw it */
};

struct rep_user {
    struct rep_obj o;
    char *ndn;          /* key in by_dn */
    struct dir_user *u; /* current snapshot; u->jid is the key in by_jid */
};

struct rep_kids;

struct rep_item {
    struct rep_obj o;
    struct rep_kids *kids;
    char *key; /* contact JID, or the offline id lowercased */
    char *ndn; /* its own normalised DN */
    struct dir_roster_item roster;
    struct dir_offline msg;
    int64_t ts_ms;
    uint64_t seq; /* arrival order, the last tie-break of offline ordering */
};

struct item_vec {
    struct rep_item **v;
    size_t n, cap;
};

struct rep_kids {
    char *parent; /* key in kids */
    struct item_vec roster;
    struct item_vec offline;
};

struct pend {
    char *ndn; /* key in pending */
    unsigned n;
};

struct rep_settings {
    struct rep_obj o;
    char *ndn;
    struct dir_server_settings s;
};

/* A cluster node entry (xmppNode). */
struct rep_node {
    struct rep_obj o;
    char *ndn;
    struct dir_node n;
};

struct dir_replica {
    char *users_base; /* normalised */
    char *base;       /* normalised sync base, or NULL when not set */
    const char *why;  /* reason of the last PAL_EMALFORMED put */
    uint64_t gen;
    uint64_t seq;
    struct hmap by_uuid; /* 16-byte uuid -> struct rep_obj */
    struct hmap by_dn;   /* ndn -> struct rep_user */
    struct hmap by_jid;  /* bare JID -> struct rep_user */
    struct hmap kids;    /* parent ndn -> struct rep_kids */
    struct hmap pending; /* item ndn -> struct pend */
    struct rep_settings **settings;
    size_t n_settings, cap_settings;
    struct rep_node **nodes;
    size_t n_nodes, cap_nodes;
    dir_user_changed_fn changed;
    void *changed_arg;
    void (*settings_changed)(void *arg);
    void *settings_changed_arg;
    void (*nodes_changed)(void *arg);
    void *nodes_changed_arg;
};

struct dir_replica *
dir_replica_new(const char *users_base)
{
    struct dir_replica *r = xcalloc(1, sizeof *r);
    r->users_base = dir_dn_normalize(users_base);
    if (!r->users_base)
        r->users_base = xstrdup(users_base);
    r->gen = 1;
    r->why = "";
    return r;
}

void
dir_replica_set_base(struct dir_replica *r, const char *base)
{
    free(r->base);
    r->base = base ? dir_dn_normalize(base) : NULL;
}

const char *
dir_replica_why(const struct dir_replica *r)
{
    return r->why;
}

void
dir_replica_on_user_changed(struct dir_replica *r, dir_user_changed_fn fn, void *arg)
{
    r->changed = fn;
    r->changed_arg = arg;
}

void
dir_replica_on_settings_changed(struct dir_replica *r, void (*fn)(void *arg), void *arg)
{
    r->settings_changed = fn;
    r->settings_changed_arg = arg;
}

static void
notify(struct dir_replica *r, const char *jid)
{
    if (r->changed)
        r->changed(r->changed_arg, jid);
}

void
dir_replica_on_nodes_changed(struct dir_replica *r, void (*fn)(void *arg), void *arg)
{
    r->nodes_changed = fn;
    r->nodes_changed_arg = arg;
}

static void
notify_settings(struct dir_replica *r)
{
    if (r->settings_changed)
        r->settings_changed(r->settings_changed_arg);
}

static void
notify_nodes(struct dir_replica *r)
{
    if (r->nodes_changed)
        r->nodes_changed(r->nodes_changed_arg);
}

static bool
is_pending(const struct dir_replica *r, const char *ndn)
{
    return ndn && hmap_get(&r->pending, HKEY(ndn)) != NULL;
}

static void
uuid_link(struct dir_replica *r, struct rep_obj *o, const unsigned char uuid[16])
{
    memcpy(o->uuid, uuid, 16);
    o->has_uuid = true;
    hmap_put(&r->by_uuid, o->uuid, 16, o);
}

static void
uuid_unlink(struct dir_replica *r, struct rep_obj *o)
{
    if (o->has_uuid && hmap_get(&r->by_uuid, o->uuid, 16) == o)
        hmap_del(&r->by_uuid, o->uuid, 16);
    o->has_uuid = false;
}

/* ---- Users --------------------------------------------------------------- */

/* Points by_jid at another user holding jid, if any (after a duplicate JID's
 * owner went away). */
static void
jid_relink(struct dir_replica *r, const char *jid)
{
    if (hmap_get(&r->by_jid, HKEY(jid)))
        return;
    void **v = hmap_values(&r->by_dn);
    for (size_t i = 0, n = r->by_dn.n; i < n; i++) {
        struct rep_user *ru = v[i];
        if (strcmp(ru->u->jid, jid) == 0) {
            hmap_put(&r->by_jid, HKEY(ru->u->jid), ru);
            break;
        }
    }
    free(v);
}

static void
user_unmap(struct dir_replica *r, struct rep_user *ru)
{
    if (hmap_get(&r->by_dn, HKEY(ru->ndn)) == ru)
        hmap_del(&r->by_dn, HKEY(ru->ndn));
    if (hmap_get(&r->by_jid, HKEY(ru->u->jid)) == ru)
        hmap_del(&r->by_jid, HKEY(ru->u->jid));
}

static void
user_map(struct dir_replica *r, struct rep_user *ru)
{
    hmap_put(&r->by_dn, HKEY(ru->ndn), ru);
    struct rep_user *other = hmap_get(&r->by_jid, HKEY(ru->u->jid));
    /* Two entries with one JID: the first keeps it; the other is reachable by
     * DN only until the first goes. */
    if (!other || other == ru)
        hmap_put(&r->by_jid, HKEY(ru->u->jid), ru);
}

static void
user_remove(struct dir_replica *r, struct rep_user *ru)
{
    char *jid = xstrdup(ru->u->jid);
    user_unmap(r, ru);
    uuid_unlink(r, &ru->o);
    dir_user_unref(ru->u);
    free(ru->ndn);
    free(ru);
    jid_relink(r, jid);
    notify(r, jid);
    free(jid);
}

/* ---- Child buckets ------------------------------------------------------- */

static struct rep_kids *
kids_get(struct dir_replica *r, const char *parent, bool create)
{
    struct rep_kids *k = hmap_get(&r->kids, HKEY(parent));
    if (!k && create) {
        k = xcalloc(1, sizeof *k);
        k->parent = xstrdup(parent);
        hmap_put(&r->kids, HKEY(k->parent), k);
    }
    return k;
}

static void
kids_maybe_free(struct dir_replica *r, struct rep_kids *k)
{
    if (k->roster.n || k->offline.n)
        return;
    hmap_del(&r->kids, HKEY(k->parent));
    free(k->roster.v);
    free(k->offline.v);
    free(k->parent);
    free(k);
}

static struct item_vec *
kids_vec(struct rep_kids *k, enum dir_kind kind)
{
    return kind == DIR_KIND_ROSTER ? &k->roster : &k->offline;
}

static struct rep_item *
vec_find(const struct item_vec *v, const char *key)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i]->key, key) == 0)
            return v->v[i];
    return NULL;
}

static void
vec_add(struct item_vec *v, struct rep_item *it)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = it;
}

static void
vec_remove(struct item_vec *v, struct rep_item *it)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->v[i] == it) {
            memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof *v->v);
            v->n--;
            return;
        }
    }
}

static void
item_free(struct rep_item *it)
{
    dir_roster_item_clear(&it->roster);
    dir_offline_clear(&it->msg);
    free(it->key);
    free(it->ndn);
    free(it);
}

static void
item_remove(struct dir_replica *r, struct rep_item *it)
{
    struct rep_kids *k = it->kids;
    uuid_unlink(r, &it->o);
    vec_remove(kids_vec(k, it->o.kind), it);
    item_free(it);
    kids_maybe_free(r, k);
}

static char *
offline_key(const char *id)
{
    char *k = xstrdup(id);
    for (char *p = k; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return k;
}

/* ---- Settings ------------------------------------------------------------ */

static void
settings_free(struct rep_settings *rs)
{
    dir_server_settings_clear(&rs->s);
    free(rs->ndn);
    free(rs);
}

static void
settings_remove(struct dir_replica *r, struct rep_settings *rs)
{
    uuid_unlink(r, &rs->o);
    for (size_t i = 0; i < r->n_settings; i++) {
        if (r->settings[i] == rs) {
            r->settings[i] = r->settings[--r->n_settings];
            break;
        }
    }
    settings_free(rs);
    notify_settings(r);
}

/* ---- Cluster nodes ------------------------------------------------------- */

static void
node_free(struct rep_node *rn)
{
    dir_node_clear(&rn->n);
    free(rn->ndn);
    free(rn);
}

static void
node_remove(struct dir_replica *r, struct rep_node *rn)
{
    uuid_unlink(r, &rn->o);
    for (size_t i = 0; i < r->n_nodes; i++) {
        if (r->nodes[i] == rn) {
            r->nodes[i] = r->nodes[--r->n_nodes];
            break;
        }
    }
    node_free(rn);
    notify_nodes(r);
}

/* Whether a node or settings entry may sit at ndn: not in a users subtree of
 * its own, where the nodes' service account may write (it would let a node's
 * account make any key a cluster member, or set everyone's default label). */
static bool
node_place_ok(const struct dir_replica *r, const char *ndn)
{
    if (r->base && strcmp(r->base, r->users_base) == 0)
        return true;
    return strcmp(ndn, r->users_base) != 0 && !dir_dn_is_below(ndn, r->users_base);
}

/* Another node entry holds rn's name (ASCII case ignored) or key. */
static bool
node_conflicts(const struct dir_replica *r, const struct rep_node *rn)
{
    for (size_t i = 0; i < r->n_nodes; i++) {
        const struct rep_node *o = r->nodes[i];
        if (o != rn && (strcasecmp(o->n.name, rn->n.name) == 0 ||
                        strcmp(o->n.curve_public, rn->n.curve_public) == 0))
            return true;
    }
    return false;
}

/* ---- Sync input ---------------------------------------------------------- */

void
dir_replica_refresh_begin(struct dir_replica *r)
{
    r->gen++;
}

static void
obj_remove(struct dir_replica *r, struct rep_obj *o, bool keep_pending)
{
    if (o->kind == DIR_KIND_USER) {
        user_remove(r, (struct rep_user *)o);
        return;
    }
    if (o->kind == DIR_KIND_SETTINGS) {
        settings_remove(r, (struct rep_settings *)o);
        return;
    }
    if (o->kind == DIR_KIND_NODE) {
        node_remove(r, (struct rep_node *)o);
        return;
    }
    struct rep_item *it = (struct rep_item *)o;
    if (keep_pending && is_pending(r, it->ndn))
        uuid_unlink(r, o); /* our own write will bring it back */
    else
        item_remove(r, it);
}

static int
put_user(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e, char *ndn,
         struct rep_obj *old)
{
    const char *why = NULL;
    struct dir_user *u = NULL;
    if (!dir_dn_is_below(ndn, r->users_base) || dir_map_user(e, &u, &why) != PAL_OK) {
        if (old)
            obj_remove(r, old, false);
        free(ndn);
        if (why)
            r->why = why;
        return why ? PAL_EMALFORMED : PAL_OK;
    }
    struct rep_user *ru = NULL;
    if (old && old->kind == DIR_KIND_USER) {
        ru = (struct rep_user *)old;
        user_unmap(r, ru);
    } else if (old) {
        obj_remove(r, old, false);
    }
    char *old_jid = NULL;
    bool same = false;
    if (!ru) {
        ru = xcalloc(1, sizeof *ru);
        ru->o.kind = DIR_KIND_USER;
        uuid_link(r, &ru->o, uuid);
    } else {
        old_jid = xstrdup(ru->u->jid);
        same = dir_user_equal(ru->u, u); /* e.g. a full reload: nothing to tell */
        dir_user_unref(ru->u);           /* readers holding a reference keep the old one */
        free(ru->ndn);
    }
    ru->u = u;
    ru->ndn = ndn;
    ru->o.gen = r->gen;
    user_map(r, ru);
    int rc = hmap_get(&r->by_jid, HKEY(u->jid)) == ru ? PAL_OK : PAL_EEXIST;
    if (old_jid && strcmp(old_jid, u->jid) != 0) {
        jid_relink(r, old_jid);
        notify(r, old_jid);
    }
    free(old_jid);
    if (!same && rc == PAL_OK)
        notify(r, u->jid);
    return rc;
}

static struct rep_item *item_by_ndn(struct dir_replica *r, const char *ndn);

/* A local write to ndn is still in flight: the replica already holds a state
 * at least as new as anything the directory can echo now (syncprov sends an
 * entry's state at the time it was written), so an echo must not bring back
 * the past: a roster item going back a subscription state, or an offline
 * message deleted locally coming back to be delivered twice. Only the uuid
 * is linked, so a later delete from the directory finds the item. */
static int
put_item_pending(struct dir_replica *r, const unsigned char uuid[16], char *ndn,
                 struct rep_obj *old)
{
    struct rep_item *cur = item_by_ndn(r, ndn);
    free(ndn);
    if (old && (!cur || old != &cur->o))
        obj_remove(r, old, true);
    if (cur) {
        if (!cur->o.has_uuid || memcmp(cur->o.uuid, uuid, 16) != 0) {
            uuid_unlink(r, &cur->o);
            uuid_link(r, &cur->o, uuid);
        }
        cur->o.gen = r->gen;
    }
    return PAL_OK;
}

static int
put_item(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e,
         enum dir_kind kind, char *ndn, struct rep_obj *old)
{
    if (is_pending(r, ndn))
        return put_item_pending(r, uuid, ndn, old);
    const char *why = NULL;
    struct rep_item *it = xcalloc(1, sizeof *it);
    int rc = kind == DIR_KIND_ROSTER ? dir_map_roster(e, &it->roster, &why)
                                     : dir_map_offline(e, &it->msg, &it->ts_ms, &why);
    const char *parent = dir_dn_parent(ndn);
    if (old)
        obj_remove(r, old, false);
    if (rc != PAL_OK || !parent) {
        free(ndn);
        item_free(it);
        r->why = why ? why : "no parent entry";
        return PAL_EMALFORMED;
    }
    it->o.kind = kind;
    it->o.gen = r->gen;
    it->ndn = ndn;
    it->key = kind == DIR_KIND_ROSTER ? xstrdup(it->roster.jid) : offline_key(it->msg.id);
    it->seq = ++r->seq;
    it->kids = kids_get(r, parent, true);
    struct item_vec *v = kids_vec(it->kids, kind);
    struct rep_item *same = vec_find(v, it->key);
    if (same) {
        /* our local copy (or a twin differing only in DN spelling) */
        it->seq = same->seq;
        uuid_unlink(r, &same->o);
        vec_remove(v, same);
        item_free(same);
    }
    vec_add(v, it);
    uuid_link(r, &it->o, uuid);
    return PAL_OK;
}

static int
put_settings(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e,
             char *ndn, struct rep_obj *old)
{
    const char *why = NULL;
    struct dir_server_settings st;
    int mrc;
    if (!node_place_ok(r, ndn)) {
        why = "a settings entry below ldap.users (where the nodes' service account may write)";
        mrc = PAL_EMALFORMED;
    } else {
        mrc = dir_map_settings(e, &st, &why);
    }
    if (mrc != PAL_OK) {
        if (old)
            obj_remove(r, old, false); /* no stale copy: it may have said something else */
        free(ndn);
        r->why = why;
        return PAL_EMALFORMED;
    }
    if (old && old->kind == DIR_KIND_SETTINGS) {
        struct rep_settings *rs = (struct rep_settings *)old;
        bool same = dir_server_settings_equal(&rs->s, &st) && strcmp(rs->ndn, ndn) == 0;
        dir_server_settings_clear(&rs->s);
        rs->s = st;
        free(rs->ndn);
        rs->ndn = ndn;
        rs->o.gen = r->gen;
        if (!same)
            notify_settings(r);
        return PAL_OK;
    }
    if (old)
        obj_remove(r, old, false);
    struct rep_settings *rs = xcalloc(1, sizeof *rs);
    rs->o.kind = DIR_KIND_SETTINGS;
    rs->o.gen = r->gen;
    rs->ndn = ndn;
    rs->s = st;
    uuid_link(r, &rs->o, uuid);
    if (r->n_settings == r->cap_settings) {
        r->cap_settings = r->cap_settings ? r->cap_settings * 2 : 4;
        r->settings = xrealloc(r->settings, r->cap_settings * sizeof *r->settings);
    }
    r->settings[r->n_settings++] = rs;
    notify_settings(r);
    return PAL_OK;
}

static int
put_node(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e, char *ndn,
         struct rep_obj *old)
{
    const char *why = NULL;
    struct dir_node nd;
    int rc;
    if (!node_place_ok(r, ndn)) {
        memset(&nd, 0, sizeof nd);
        why = "a node entry below ldap.users (where the nodes' service account may write)";
        rc = PAL_EMALFORMED;
    } else {
        rc = dir_map_node(e, &nd, &why);
    }
    if (rc != PAL_OK) {
        if (old)
            obj_remove(r, old, false); /* a member that turns bad stops being one */
        free(ndn);
        r->why = why;
        return PAL_EMALFORMED;
    }
    struct rep_node *rn;
    if (old && old->kind == DIR_KIND_NODE) {
        rn = (struct rep_node *)old;
        bool same = dir_node_equal(&rn->n, &nd) && strcmp(rn->ndn, ndn) == 0;
        dir_node_clear(&rn->n);
        rn->n = nd;
        free(rn->ndn);
        rn->ndn = ndn;
        rn->o.gen = r->gen;
        if (!same)
            notify_nodes(r);
    } else {
        if (old)
            obj_remove(r, old, false);
        rn = xcalloc(1, sizeof *rn);
        rn->o.kind = DIR_KIND_NODE;
        rn->o.gen = r->gen;
        rn->ndn = ndn;
        rn->n = nd;
        uuid_link(r, &rn->o, uuid);
        if (r->n_nodes == r->cap_nodes) {
            r->cap_nodes = r->cap_nodes ? r->cap_nodes * 2 : 4;
            r->nodes = xrealloc(r->nodes, r->cap_nodes * sizeof *r->nodes);
        }
        r->nodes[r->n_nodes++] = rn;
        notify_nodes(r);
    }
    return node_conflicts(r, rn) ? PAL_EEXIST : PAL_OK;
}

int
dir_replica_put(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e)
{
    struct rep_obj *old = hmap_get(&r->by_uuid, uuid, 16);
    char *ndn = dir_dn_normalize(e->dn);
    r->why = "";
    if (!ndn) {
        if (old)
            obj_remove(r, old, false);
        r->why = "malformed DN";
        return PAL_EMALFORMED;
    }
    enum dir_kind kind = dir_entry_kind(e);
    switch (kind) {
    case DIR_KIND_USER:
        return put_user(r, uuid, e, ndn, old);
    case DIR_KIND_ROSTER:
    case DIR_KIND_OFFLINE:
        return put_item(r, uuid, e, kind, ndn, old);
    case DIR_KIND_SETTINGS:
        return put_settings(r, uuid, e, ndn, old);
    case DIR_KIND_NODE:
        return put_node(r, uuid, e, ndn, old);
    case DIR_KIND_NONE:
        break;
    }
    if (old)
        obj_remove(r, old, false);
    free(ndn);
    return PAL_OK;
}

void
dir_replica_remove(struct dir_replica *r, const unsigned char uuid[16])
{
    struct rep_obj *o = hmap_get(&r->by_uuid, uuid, 16);
    if (o)
        obj_remove(r, o, true);
}

void
dir_replica_present(struct dir_replica *r, const unsigned char uuid[16])
{
    struct rep_obj *o = hmap_get(&r->by_uuid, uuid, 16);
    if (o)
        o->gen = r->gen;
}

size_t
dir_replica_sweep(struct dir_replica *r)
{
    size_t removed = 0;
    void **v = hmap_values(&r->by_dn);
    for (size_t i = 0, n = r->by_dn.n; i < n; i++) {
        struct rep_user *ru = v[i];
        if (ru->o.gen < r->gen) {
            user_remove(r, ru);
            removed++;
        }
    }
    free(v);
    v = hmap_values(&r->kids);
    for (size_t i = 0, n = r->kids.n; i < n; i++) {
        struct rep_kids *k = v[i];
        struct rep_item **stale = NULL;
        size_t ns = 0;
        for (int pass = 0; pass < 2; pass++) {
            struct item_vec *vec = pass ? &k->offline : &k->roster;
            for (size_t j = 0; j < vec->n; j++) {
                struct rep_item *it = vec->v[j];
                if (it->o.gen < r->gen && !is_pending(r, it->ndn)) {
                    stale = xrealloc(stale, (ns + 1) * sizeof *stale);
                    stale[ns++] = it;
                }
            }
        }
        /* item_remove may free k with its last item */
        for (size_t j = 0; j < ns; j++)
            item_remove(r, stale[j]);
        removed += ns;
        free(stale);
    }
    free(v);
    /* settings_remove and node_remove reorder their lists: walk them backwards */
    for (size_t i = r->n_settings; i-- > 0;) {
        if (r->settings[i]->o.gen < r->gen) {
            settings_remove(r, r->settings[i]);
            removed++;
        }
    }
    for (size_t i = r->n_nodes; i-- > 0;) {
        if (r->nodes[i]->o.gen < r->gen) {
            node_remove(r, r->nodes[i]);
            removed++;
        }
    }
    return removed;
}

/* ---- Reads ---------------------------------------------------------------- */

struct dir_user *
dir_replica_user(struct dir_replica *r, const char *bare_jid)
{
    struct rep_user *ru = bare_jid ? hmap_get(&r->by_jid, HKEY(bare_jid)) : NULL;
    if (!ru)
        return NULL;
    ru->u->refs++;
    return ru->u;
}

size_t
dir_replica_user_count(const struct dir_replica *r)
{
    return r->by_jid.n;
}

size_t
dir_replica_entry_count(const struct dir_replica *r)
{
    return r->by_uuid.n;
}

static int
node_cmp(const void *a, const void *b)
{
    const struct rep_node *x = *(struct rep_node *const *)a;
    const struct rep_node *y = *(struct rep_node *const *)b;
    int c = strcmp(x->n.name, y->n.name);
    return c ? c : strcmp(x->ndn, y->ndn);
}

int
dir_replica_nodes(struct dir_replica *r, struct dir_node **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->n_nodes == 0)
        return PAL_OK;
    struct rep_node **sorted = xmemdup(r->nodes, r->n_nodes * sizeof *sorted);
    qsort(sorted, r->n_nodes, sizeof *sorted, node_cmp);
    *out = xcalloc(r->n_nodes, sizeof **out);
    for (size_t i = 0; i < r->n_nodes; i++) {
        const struct dir_node *c = &sorted[i]->n;
        bool dup = false;
        /* the first of a name or a key wins: the same choice on every node */
        for (size_t k = 0; k < *n && !dup; k++)
            dup = strcasecmp((*out)[k].name, c->name) == 0 ||
                  strcmp((*out)[k].curve_public, c->curve_public) == 0;
        if (!dup)
            dir_node_copy(&(*out)[(*n)++], c);
    }
    free(sorted);
    return PAL_OK;
}

static bool
settings_has_domain(const struct dir_server_settings *s, const char *domain)
{
    for (size_t i = 0; i < s->n_domains; i++)
        if (strcasecmp(s->domains[i], domain) == 0)
            return true;
    return false;
}

int
dir_replica_default_label(struct dir_replica *r, const char *domain, unsigned char **der,
                          size_t *len)
{
    const struct rep_settings *best = NULL;
    *der = NULL;
    *len = 0;
    /* pass 0: entries naming the domain; pass 1: server-wide entries */
    for (int pass = domain ? 0 : 1; pass < 2 && !best; pass++) {
        for (size_t i = 0; i < r->n_settings; i++) {
            const struct rep_settings *rs = r->settings[i];
            if (!rs->s.default_label || rs->s.default_label_len == 0)
                continue;
            if (pass == 0 ? !settings_has_domain(&rs->s, domain) : rs->s.n_domains > 0)
                continue;
            if (!best || strcmp(rs->ndn, best->ndn) < 0)
                best = rs;
        }
    }
    if (!best)
        return PAL_ENOENT;
    *der = xmemdup(best->s.default_label, best->s.default_label_len);
    *len = best->s.default_label_len;
    return PAL_OK;
}

/* The user's child bucket; PAL_ENOENT when the user is unknown. */
static int
user_kids(struct dir_replica *r, const char *user, bool create, struct rep_user **ru,
          struct rep_kids **k)
{
    *ru = user ? hmap_get(&r->by_jid, HKEY(user)) : NULL;
    if (!*ru)
        return PAL_ENOENT;
    *k = kids_get(r, (*ru)->ndn, create);
    return PAL_OK;
}

int
dir_replica_roster_get(struct dir_replica *r, const char *user, struct dir_roster_item **items,
                       size_t *n)
{
    struct rep_user *ru;
    struct rep_kids *k;
    *items = NULL;
    *n = 0;
    if (user_kids(r, user, false, &ru, &k) != PAL_OK)
        return PAL_ENOENT;
    if (!k || k->roster.n == 0)
        return PAL_OK;
    *items = xcalloc(k->roster.n, sizeof **items);
    for (size_t i = 0; i < k->roster.n; i++)
        dir_roster_item_copy(&(*items)[i], &k->roster.v[i]->roster);
    *n = k->roster.n;
    return PAL_OK;
}

struct dir_roster_item *
dir_replica_roster_find(struct dir_replica *r, const char *user, const char *contact)
{
    struct rep_user *ru;
    struct rep_kids *k;
    if (!contact || user_kids(r, user, false, &ru, &k) != PAL_OK || !k)
        return NULL;
    struct rep_item *it = vec_find(&k->roster, contact);
    if (!it)
        return NULL;
    struct dir_roster_item *out = xcalloc(1, sizeof *out);
    dir_roster_item_copy(out, &it->roster);
    return out;
}

static int
offline_cmp(const void *a, const void *b)
{
    const struct rep_item *x = *(struct rep_item *const *)a;
    const struct rep_item *y = *(struct rep_item *const *)b;
    if (x->ts_ms != y->ts_ms)
        return x->ts_ms < y->ts_ms ? -1 : 1;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t
dir_replica_offline_count(struct dir_replica *r, const char *user)
{
    struct rep_user *ru;
    struct rep_kids *k;
    if (user_kids(r, user, false, &ru, &k) != PAL_OK || !k)
        return 0;
    return k->offline.n;
}

int
dir_replica_offline_get(struct dir_replica *r, const char *user, struct dir_offline **msgs,
                        size_t *n)
{
    struct rep_user *ru;
    struct rep_kids *k;
    *msgs = NULL;
    *n = 0;
    if (user_kids(r, user, false, &ru, &k) != PAL_OK)
        return PAL_ENOENT;
    if (!k || k->offline.n == 0)
        return PAL_OK;
    struct rep_item **sorted = xmemdup(k->offline.v, k->offline.n * sizeof *sorted);
    qsort(sorted, k->offline.n, sizeof *sorted, offline_cmp);
    *msgs = xcalloc(k->offline.n, sizeof **msgs);
    for (size_t i = 0; i < k->offline.n; i++)
        dir_offline_copy(&(*msgs)[i], &sorted[i]->msg);
    *n = k->offline.n;
    free(sorted);
    return PAL_OK;
}

/* ---- Local changes -------------------------------------------------------- */

static void
pend_add(struct dir_replica *r, const char *ndn)
{
    struct pend *p = hmap_get(&r->pending, HKEY(ndn));
    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->ndn = xstrdup(ndn);
        hmap_put(&r->pending, HKEY(p->ndn), p);
    }
    p->n++;
}

/* Marks dn pending in the spelling write.c will hand back to unpend. */
static void
pend_dn(struct dir_replica *r, const char *dn)
{
    char *ndn = dir_dn_normalize(dn);
    if (ndn)
        pend_add(r, ndn);
    free(ndn);
}

/* DN of a child entry: "<attr>=<escaped value>,<user dn>". */
static char *
child_dn(const struct rep_user *ru, const char *attr, const char *value)
{
    char *esc = dir_rdn_escape(value);
    char *dn = xasprintf("%s=%s,%s", attr, esc, ru->u->dn);
    free(esc);
    return dn;
}

int
dir_replica_roster_put(struct dir_replica *r, const char *user, const struct dir_roster_item *item,
                       char **dn, bool *existed)
{
    struct rep_user *ru;
    struct rep_kids *k;
    *dn = NULL;
    *existed = false;
    if (!item || !item->jid || !item->jid[0])
        return PAL_EINVAL;
    if (user_kids(r, user, true, &ru, &k) != PAL_OK)
        return PAL_ENOENT;
    char *d = child_dn(ru, "xmppContactJID", item->jid);
    char *ndn = dir_dn_normalize(d);
    if (!ndn) {
        free(d);
        kids_maybe_free(r, k);
        return PAL_EINVAL;
    }
    struct rep_item *it = vec_find(&k->roster, item->jid);
    if (it) {
        *existed = it->o.has_uuid;
        dir_roster_item_clear(&it->roster);
        free(it->ndn);
    } else {
        it = xcalloc(1, sizeof *it);
        it->o.kind = DIR_KIND_ROSTER;
        it->kids = k;
        it->key = xstrdup(item->jid);
        it->seq = ++r->seq;
        vec_add(&k->roster, it);
    }
    dir_roster_item_copy(&it->roster, item);
    it->ndn = ndn;
    it->o.gen = r->gen;
    pend_add(r, ndn);
    *dn = d;
    return PAL_OK;
}

int
dir_replica_roster_del(struct dir_replica *r, const char *user, const char *contact, char **dn)
{
    struct rep_user *ru;
    struct rep_kids *k;
    *dn = NULL;
    if (!contact || user_kids(r, user, false, &ru, &k) != PAL_OK || !k)
        return PAL_ENOENT;
    struct rep_item *it = vec_find(&k->roster, contact);
    if (!it)
        return PAL_ENOENT;
    *dn = child_dn(ru, "xmppContactJID", contact);
    pend_dn(r, *dn);
    item_remove(r, it);
    return PAL_OK;
}

int
dir_replica_offline_add(struct dir_replica *r, const char *user, const char *id, const char *stanza,
                        size_t len, const unsigned char *label, size_t label_len, int64_t ts_ms,
                        char **dn)
{
    struct rep_user *ru;
    struct rep_kids *k;
    *dn = NULL;
    if (!id || !id[0] || !stanza)
        return PAL_EINVAL;
    if (user_kids(r, user, true, &ru, &k) != PAL_OK)
        return PAL_ENOENT;
    char *key = offline_key(id);
    if (vec_find(&k->offline, key)) {
        free(key);
        return PAL_EEXIST;
    }
    char *d = child_dn(ru, "xmppOfflineId", id);
    struct rep_item *it = xcalloc(1, sizeof *it);
    it->o.kind = DIR_KIND_OFFLINE;
    it->o.gen = r->gen;
    it->kids = k;
    it->key = key;
    it->ndn = dir_dn_normalize(d);
    if (!it->ndn)
        it->ndn = xstrdup(d);
    it->seq = ++r->seq;
    it->ts_ms = ts_ms;
    it->msg.id = xstrdup(id);
    it->msg.stanza = xmemdup(stanza, len);
    it->msg.len = len;
    if (label && label_len) {
        it->msg.label = xmemdup(label, label_len);
        it->msg.label_len = label_len;
    }
    vec_add(&k->offline, it);
    pend_add(r, it->ndn);
    *dn = d;
    return PAL_OK;
}

int
dir_replica_offline_del(struct dir_replica *r, const char *user, const char *id, char **dn)
{
    struct rep_user *ru;
    struct rep_kids *k;
    *dn = NULL;
    if (!id || user_kids(r, user, false, &ru, &k) != PAL_OK || !k)
        return PAL_ENOENT;
    char *key = offline_key(id);
    struct rep_item *it = vec_find(&k->offline, key);
    free(key);
    if (!it)
        return PAL_ENOENT;
    *dn = child_dn(ru, "xmppOfflineId", it->msg.id);
    pend_dn(r, *dn);
    item_remove(r, it);
    return PAL_OK;
}

/* Finds the item with normalised DN ndn (its parent's bucket, then by DN). */
static struct rep_item *
item_by_ndn(struct dir_replica *r, const char *ndn)
{
    const char *parent = dir_dn_parent(ndn);
    struct rep_kids *k = parent ? kids_get(r, parent, false) : NULL;
    for (int pass = 0; k && pass < 2; pass++) {
        struct item_vec *v = pass ? &k->offline : &k->roster;
        for (size_t i = 0; i < v->n; i++)
            if (strcmp(v->v[i]->ndn, ndn) == 0)
                return v->v[i];
    }
    return NULL;
}

void
dir_replica_unpend(struct dir_replica *r, const char *dn, bool ok)
{
    char *ndn = dir_dn_normalize(dn);
    if (!ndn)
        return;
    struct pend *p = hmap_get(&r->pending, HKEY(ndn));
    if (p && --p->n == 0) {
        hmap_del(&r->pending, HKEY(ndn));
        free(p->ndn);
        free(p);
        p = NULL;
    }
    if (!ok && !p) {
        /* The write failed for good: a purely local entry is a lie. */
        struct rep_item *it = item_by_ndn(r, ndn);
        if (it && !it->o.has_uuid)
            item_remove(r, it);
    }
    free(ndn);
}

void
dir_replica_free(struct dir_replica *r)
{
    if (!r)
        return;
    void **v = hmap_values(&r->by_dn);
    for (size_t i = 0, n = r->by_dn.n; i < n; i++) {
        struct rep_user *ru = v[i];
        dir_user_unref(ru->u);
        free(ru->ndn);
        free(ru);
    }
    free(v);
    v = hmap_values(&r->kids);
    for (size_t i = 0, n = r->kids.n; i < n; i++) {
        struct rep_kids *k = v[i];
        for (size_t j = 0; j < k->roster.n; j++)
            item_free(k->roster.v[j]);
        for (size_t j = 0; j < k->offline.n; j++)
            item_free(k->offline.v[j]);
        free(k->roster.v);
        free(k->offline.v);
        free(k->parent);
        free(k);
    }
    free(v);
    v = hmap_values(&r->pending);
    for (size_t i = 0, n = r->pending.n; i < n; i++) {
        struct pend *p = v[i];
        free(p->ndn);
        free(p);
    }
    free(v);
    for (size_t i = 0; i < r->n_settings; i++)
        settings_free(r->settings[i]);
    free(r->settings);
    for (size_t i = 0; i < r->n_nodes; i++)
        node_free(r->nodes[i]);
    free(r->nodes);
    hmap_clear(&r->by_uuid);
    hmap_clear(&r->by_dn);
    hmap_clear(&r->by_jid);
    hmap_clear(&r->kids);
    hmap_clear(&r->pending);
    free(r->users_base);
    free(r->base);
    free(r);
}
