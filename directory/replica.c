/* SPDX-License-Identifier: Apache-2.0 */
/* replica.c - the node's in-memory copy of the directory, fed by sync.c and
 * read on hot paths (SASL auxprop, routing, roster, offline delivery, default
 * labels, rooms). Users are found by bare JID, normalised DN and entryUUID;
 * roster items and offline messages live in a bucket per parent DN, so they
 * attach to their user whatever order the server sends them in. Server
 * settings and cluster node entries are few: plain lists, searched whole.
 * Rooms are found by DN and by JID; their affiliation DNs are resolved through
 * users and groups (groupOfNames) whenever either changes. User and room data
 * is handed out as refcounted snapshots that an update replaces, never edits;
 * nodes as copies.
 *
 * Local writes (roster, offline, rooms) change the replica at once and stay
 * marked pending until write.c reports the LDAP result, so a refresh sweep
 * cannot drop them while their write waits for a reconnect. No I/O (what is
 * worth logging goes to a callback); unit-tested in test/unit/test_replica.c
 * and test/unit/test_rooms.c. */
#include "directory/dir_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/jid.h"
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
    char *rooms_base;      /* new room entries go below it (as configured) */
    bool refreshing;       /* between refresh_begin and refresh_end */
    struct hmap rooms;     /* ndn -> struct rep_room */
    struct hmap room_jids; /* room JID -> struct room_slot */
    struct hmap groups;    /* ndn -> struct rep_group */
    struct hmap touched;   /* ndn -> struct touch: DNs some room's affiliations looked at */
    void (*rooms_changed)(void *arg, const char *room_jid);
    void *rooms_changed_arg;
    void (*room_notice)(void *arg, enum dir_room_notice what, const char *room_dn,
                        const char *value, const char *group);
    void *room_notice_arg;
};

static void rooms_affected(struct dir_replica *r, const char *ndn);

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
    char *ndn = ru->ndn;
    user_unmap(r, ru);
    uuid_unlink(r, &ru->o);
    dir_user_unref(ru->u);
    free(ru);
    jid_relink(r, jid);
    notify(r, jid);
    rooms_affected(r, ndn);
    free(ndn);
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

/* ---- Rooms and groups ------------------------------------------------------- */

/* A rooms entry's data comes from two places: srv, the directory's state as
 * sync last sent it, and loc, what this node wrote (dir_replica_room_put) while
 * that write is in flight. Readers see the written attributes from loc when
 * there is one (an echo of an older state must not undo the write), and
 * xmppClearance and xmppDefaultLabel always from srv: they are never written
 * here, and an administrator lowering a room's clearance takes effect even
 * while an owner's write is pending. Affiliation DNs are resolved through the
 * users and groups of the replica each time a snapshot is built; every room
 * remembers which DNs it looked at (touched), so a change of a user or group
 * rebuilds only the rooms that looked at it. */

/* A groupOfNames entry: whose member values room affiliations expand. */
struct rep_group {
    struct rep_obj o;
    char *ndn; /* key in groups */
    size_t n;
    char **members;  /* as stored */
    char **nmembers; /* normalised; NULL where a value is not a DN */
};

/* A sorted set of owned strings. */
struct strset {
    char **v;
    size_t n;
};

struct rep_room {
    struct rep_obj o;
    char *ndn;                 /* key in rooms */
    struct dir_room_data *srv; /* the directory's state, NULL when none */
    struct dir_room_data *loc; /* this node's write while it is in flight, or NULL */
    bool deleted;              /* this node's delete is in flight */
    struct dir_room *snap;     /* what readers get; NULL while hidden */
    struct strset touched;     /* normalised DNs the last resolution looked at */
    struct strset problems;    /* "<kind>\t<value>\t<group>" found by the last resolution */
    struct strset reported;    /* problems already reported */
};

/* The visible room entries holding one JID, lowest normalised DN first: the
 * first is the room (the same choice on every node). */
struct room_slot {
    char *jid; /* key in room_jids */
    struct rep_room **v;
    size_t n, cap;
};

/* How many rooms' resolutions looked at a DN. */
struct touch {
    char *ndn; /* key in touched */
    size_t n;
};

struct strvec {
    char **v;
    size_t n, cap;
};

static void
strvec_push(struct strvec *sv, char *s)
{
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = xrealloc(sv->v, sv->cap * sizeof *sv->v);
    }
    sv->v[sv->n++] = s;
}

static int
strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Takes the strings of sv: sorted, duplicates freed. */
static struct strset
strset_take(struct strvec *sv)
{
    struct strset s = {sv->v, 0};
    if (sv->n)
        qsort(sv->v, sv->n, sizeof *sv->v, strp_cmp);
    for (size_t i = 0; i < sv->n; i++) {
        if (s.n > 0 && strcmp(s.v[s.n - 1], sv->v[i]) == 0)
            free(sv->v[i]);
        else
            s.v[s.n++] = sv->v[i];
    }
    *sv = (struct strvec){NULL, 0, 0};
    return s;
}

static bool
strset_has(const struct strset *s, const char *k)
{
    return s->n && bsearch(&k, s->v, s->n, sizeof *s->v, strp_cmp) != NULL;
}

static void
strset_clear(struct strset *s)
{
    dir_strv_free(s->v, s->n);
    *s = (struct strset){NULL, 0};
}

static struct strset
strset_copy(const struct strset *s)
{
    struct strset c = {NULL, s->n};
    if (s->n) {
        c.v = xcalloc(s->n, sizeof *c.v);
        for (size_t i = 0; i < s->n; i++)
            c.v[i] = xstrdup(s->v[i]);
    }
    return c;
}

static void
touch_add(struct dir_replica *r, const struct strset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct touch *t = hmap_get(&r->touched, HKEY(s->v[i]));
        if (!t) {
            t = xcalloc(1, sizeof *t);
            t->ndn = xstrdup(s->v[i]);
            hmap_put(&r->touched, HKEY(t->ndn), t);
        }
        t->n++;
    }
}

static void
touch_del(struct dir_replica *r, const struct strset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct touch *t = hmap_get(&r->touched, HKEY(s->v[i]));
        if (t && --t->n == 0) {
            hmap_del(&r->touched, HKEY(t->ndn));
            free(t->ndn);
            free(t);
        }
    }
}

/* A normalised bare JID with a local part, or NULL. */
static char *
room_bare_jid(const char *s)
{
    char *j = s ? jid_normalize(s) : NULL;
    if (j && (strchr(j, '/') || !strchr(j, '@'))) {
        free(j);
        j = NULL;
    }
    return j;
}

void
dir_replica_on_rooms_changed(struct dir_replica *r, void (*fn)(void *arg, const char *room_jid),
                             void *arg)
{
    r->rooms_changed = fn;
    r->rooms_changed_arg = arg;
}

void
dir_replica_on_room_notice(struct dir_replica *r,
                           void (*fn)(void *arg, enum dir_room_notice what, const char *room_dn,
                                      const char *value, const char *group),
                           void *arg)
{
    r->room_notice = fn;
    r->room_notice_arg = arg;
}

void
dir_replica_set_rooms_base(struct dir_replica *r, const char *rooms)
{
    free(r->rooms_base);
    r->rooms_base = rooms ? xstrdup(rooms) : NULL;
}

static void
notify_rooms(struct dir_replica *r, const char *room_jid)
{
    if (r->rooms_changed)
        r->rooms_changed(r->rooms_changed_arg, room_jid);
}

static void
room_notice(struct dir_replica *r, enum dir_room_notice what, const char *room_dn,
            const char *value, const char *group)
{
    if (r->room_notice)
        r->room_notice(r->room_notice_arg, what, room_dn, value, group);
}

/* ---- Resolving affiliations ---- */

struct affil_vec {
    struct dir_affil *v;
    size_t n, cap;
};

struct resolver {
    struct dir_replica *r;
    struct affil_vec out;
    struct strvec touched;
    struct strvec problems;
    struct hmap seen; /* group ndn -> 1 + the lowest level it was expanded at */
    const struct rep_group *stack[DIR_GROUP_DEPTH_MAX + 1];
    size_t depth;
};

static void
affil_push(struct affil_vec *v, const char *jid, bool via_group)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = (struct dir_affil){xstrdup(jid), via_group};
}

static int
affil_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dir_affil *)a)->jid, ((const struct dir_affil *)b)->jid);
}

/* Sorts by JID; a JID named directly and through a group is direct. */
static void
affil_finish(struct affil_vec *v)
{
    if (v->n == 0)
        return;
    qsort(v->v, v->n, sizeof *v->v, affil_cmp);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (k > 0 && strcmp(v->v[k - 1].jid, v->v[i].jid) == 0) {
            v->v[k - 1].via_group = v->v[k - 1].via_group && v->v[i].via_group;
            free(v->v[i].jid);
        } else {
            v->v[k++] = v->v[i];
        }
    }
    v->n = k;
}

/* Removes from v the JIDs that higher (sorted) holds. */
static void
affil_drop(struct affil_vec *v, const struct affil_vec *higher)
{
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (higher->n &&
            bsearch(&v->v[i], higher->v, higher->n, sizeof *higher->v, affil_cmp) != NULL)
            free(v->v[i].jid);
        else
            v->v[k++] = v->v[i];
    }
    v->n = k;
}

static void
problem(struct resolver *rs, char kind, const char *value, const char *group)
{
    strvec_push(&rs->problems, xasprintf("%c\t%s\t%s", kind, value, group ? group : ""));
}

/* One DN value at level (0: the room's own value; n: a member of a group n
 * groups down). group: the group holding it, NULL for the room's own. */
static void
resolve_value(struct resolver *rs, const char *value, const char *nvalue, const char *group,
              size_t level)
{
    if (!nvalue) {
        problem(rs, 'u', value, group);
        return;
    }
    strvec_push(&rs->touched, xstrdup(nvalue));
    struct rep_user *ru = hmap_get(&rs->r->by_dn, HKEY(nvalue));
    if (ru) {
        affil_push(&rs->out, ru->u->jid, level > 0);
        return;
    }
    struct rep_group *g = hmap_get(&rs->r->groups, HKEY(nvalue));
    if (!g) {
        problem(rs, 'u', value, group);
        return;
    }
    for (size_t i = 0; i < rs->depth; i++) {
        if (rs->stack[i] == g) {
            problem(rs, 'c', value, NULL);
            return;
        }
    }
    if (level >= DIR_GROUP_DEPTH_MAX) {
        problem(rs, 'd', value, NULL);
        return;
    }
    /* A group met again no deeper than before adds nothing new: this keeps
     * diamond-shaped nestings from costing exponential time. */
    uintptr_t seen = (uintptr_t)hmap_get(&rs->seen, HKEY(g->ndn));
    if (seen && seen - 1 <= level)
        return;
    hmap_put(&rs->seen, HKEY(g->ndn), (void *)(uintptr_t)(level + 1));
    rs->stack[rs->depth++] = g;
    for (size_t i = 0; i < g->n; i++)
        resolve_value(rs, g->members[i], g->nmembers[i], value, level + 1);
    rs->depth--;
}

static void
affil_set(struct affil_vec *v, struct dir_affil **out, size_t *n)
{
    *out = v->n ? v->v : NULL;
    *n = v->n;
    if (!v->n)
        free(v->v);
}

/* A new snapshot of rr as readers see it; fills *touched and *problems. */
static struct dir_room *
room_build(struct dir_replica *r, const struct rep_room *rr, struct strset *touched,
           struct strset *problems)
{
    const struct dir_room_data *w = rr->loc ? rr->loc : rr->srv;
    const struct dir_room_data *s = rr->srv;
    struct dir_room *room = xcalloc(1, sizeof *room);
    room->refs = 1;
    room->dn = xstrdup(w->dn);
    room->jid = xstrdup(w->jid);
    room->name = dir_room_data_name(w);
    if (!room->name)
        room->name = xstrndup(w->jid, (size_t)(strchr(w->jid, '@') - w->jid));
    room->description = w->description ? xstrdup(w->description) : NULL;
    room->config = w->config ? xstrdup(w->config) : NULL;
    if (s && s->n_clearance) {
        room->clearance = xcalloc(s->n_clearance, sizeof *room->clearance);
        for (size_t i = 0; i < s->n_clearance; i++) {
            room->clearance[i].der = xmemdup(s->clearance[i].der, s->clearance[i].len);
            room->clearance[i].len = s->clearance[i].len;
        }
        room->n_clearance = s->n_clearance;
    }
    if (s && s->default_label) {
        room->default_label = xmemdup(s->default_label, s->default_label_len);
        room->default_label_len = s->default_label_len;
    }
    struct resolver rs = {.r = r};
    struct affil_vec lists[DIR_AFFIL_N];
    for (int k = 0; k < DIR_AFFIL_N; k++) {
        rs.out = (struct affil_vec){NULL, 0, 0};
        for (size_t i = 0; i < w->n_aff[k]; i++) {
            char *nv = dir_dn_normalize(w->aff[k][i]);
            resolve_value(&rs, w->aff[k][i], nv, NULL, 0);
            free(nv);
        }
        hmap_clear(&rs.seen);
        affil_finish(&rs.out);
        lists[k] = rs.out;
    }
    /* one affiliation per JID: a ban wins, then the strongest */
    affil_drop(&lists[DIR_AFFIL_OWNER], &lists[DIR_AFFIL_OUTCAST]);
    affil_drop(&lists[DIR_AFFIL_ADMIN], &lists[DIR_AFFIL_OUTCAST]);
    affil_drop(&lists[DIR_AFFIL_ADMIN], &lists[DIR_AFFIL_OWNER]);
    affil_drop(&lists[DIR_AFFIL_MEMBER], &lists[DIR_AFFIL_OUTCAST]);
    affil_drop(&lists[DIR_AFFIL_MEMBER], &lists[DIR_AFFIL_OWNER]);
    affil_drop(&lists[DIR_AFFIL_MEMBER], &lists[DIR_AFFIL_ADMIN]);
    affil_set(&lists[DIR_AFFIL_OWNER], &room->owners, &room->n_owners);
    affil_set(&lists[DIR_AFFIL_ADMIN], &room->admins, &room->n_admins);
    affil_set(&lists[DIR_AFFIL_MEMBER], &room->members, &room->n_members);
    affil_set(&lists[DIR_AFFIL_OUTCAST], &room->outcasts, &room->n_outcasts);
    *touched = strset_take(&rs.touched);
    *problems = strset_take(&rs.problems);
    return room;
}

/* Reports the problems of rr's last resolution that were not reported yet;
 * held back during a refresh, when users and groups may still be missing. */
static void
room_report(struct dir_replica *r, struct rep_room *rr)
{
    if (r->refreshing || !rr->snap)
        return;
    for (size_t i = 0; i < rr->problems.n; i++) {
        if (strset_has(&rr->reported, rr->problems.v[i]))
            continue;
        char *p = xstrdup(rr->problems.v[i]);
        char *value = p + 2;
        char *tab = strchr(value, '\t');
        *tab = '\0';
        const char *group = tab[1] ? tab + 1 : NULL;
        enum dir_room_notice what = p[0] == 'u'   ? DIR_ROOM_UNRESOLVED
                                    : p[0] == 'c' ? DIR_ROOM_CYCLE
                                                  : DIR_ROOM_TOO_DEEP;
        room_notice(r, what, rr->snap->dn, value, group);
        free(p);
    }
    strset_clear(&rr->reported);
    rr->reported = strset_copy(&rr->problems);
}

/* ---- Rooms by JID ---- */

static struct rep_room *
slot_first(struct dir_replica *r, const char *jid)
{
    struct room_slot *s = hmap_get(&r->room_jids, HKEY(jid));
    return s && s->n ? s->v[0] : NULL;
}

static void
slot_add(struct dir_replica *r, const char *jid, struct rep_room *rr)
{
    struct room_slot *s = hmap_get(&r->room_jids, HKEY(jid));
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->jid = xstrdup(jid);
        hmap_put(&r->room_jids, HKEY(s->jid), s);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 2;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    size_t i = s->n;
    while (i > 0 && strcmp(s->v[i - 1]->ndn, rr->ndn) > 0) {
        s->v[i] = s->v[i - 1];
        i--;
    }
    s->v[i] = rr;
    s->n++;
}

static void
slot_remove(struct dir_replica *r, const char *jid, struct rep_room *rr)
{
    struct room_slot *s = hmap_get(&r->room_jids, HKEY(jid));
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i] == rr) {
            memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
            s->n--;
            break;
        }
    }
    if (s->n == 0) {
        hmap_del(&r->room_jids, HKEY(s->jid));
        free(s->jid);
        free(s->v);
        free(s);
    }
}

/* Who hears of a change: TELL_ALL (a change from the directory), TELL_OTHERS
 * (this node's own write: only when another entry of the same JID is
 * involved), TELL_NONE (the caller sums up). */
enum room_tell { TELL_ALL, TELL_OTHERS, TELL_NONE };

/* Rebuilds what readers see of rr after its data, or a user or group its
 * affiliations name, changed: snapshot, place among the entries of its JID,
 * notices. *changed (may be NULL) is set when what dir_replica_room returns
 * for some JID changed. PAL_EEXIST when rr is visible but an entry with a
 * lower DN holds its JID. */
static int
room_update(struct dir_replica *r, struct rep_room *rr, enum room_tell tell, bool *changed)
{
    struct strset touched = {NULL, 0};
    struct strset problems = {NULL, 0};
    struct dir_room *snap = NULL;
    if (!rr->deleted && (rr->loc || rr->srv))
        snap = room_build(r, rr, &touched, &problems);
    char *jids[2] = {rr->snap ? xstrdup(rr->snap->jid) : NULL, snap ? xstrdup(snap->jid) : NULL};
    if (jids[0] && jids[1] && strcmp(jids[0], jids[1]) == 0) {
        free(jids[1]);
        jids[1] = NULL;
    }
    struct rep_room *before_rep[2] = {NULL, NULL};
    struct dir_room *before[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        before_rep[i] = jids[i] ? slot_first(r, jids[i]) : NULL;
        if (before_rep[i]) {
            before[i] = before_rep[i]->snap;
            before[i]->refs++;
        }
    }
    if (rr->snap)
        slot_remove(r, rr->snap->jid, rr);
    if (snap)
        slot_add(r, snap->jid, rr);
    touch_del(r, &rr->touched);
    strset_clear(&rr->touched);
    rr->touched = touched;
    touch_add(r, &rr->touched);
    strset_clear(&rr->problems);
    rr->problems = problems;
    dir_room_unref(rr->snap);
    rr->snap = snap;

    for (int i = 0; i < 2; i++) {
        if (!jids[i])
            continue;
        struct rep_room *after_rep = slot_first(r, jids[i]);
        const struct dir_room *after = after_rep ? after_rep->snap : NULL;
        bool differs = !before[i] != !after || (after && !dir_room_equal(before[i], after));
        if (differs) {
            if (changed)
                *changed = true;
            bool others = (before_rep[i] && before_rep[i] != rr) || (after_rep && after_rep != rr);
            if (tell == TELL_ALL || (tell == TELL_OTHERS && others))
                notify_rooms(r, jids[i]);
        }
        /* rr took the JID from a visible entry with a higher DN */
        if (after_rep == rr && before_rep[i] && before_rep[i] != rr && before_rep[i]->snap)
            room_notice(r, DIR_ROOM_DUPLICATE, before_rep[i]->snap->dn, jids[i], rr->snap->dn);
        dir_room_unref(before[i]);
        free(jids[i]);
    }
    room_report(r, rr);
    return snap && slot_first(r, snap->jid) != rr ? PAL_EEXIST : PAL_OK;
}

/* Rebuilds the rooms whose affiliations looked at the entry ndn (a user or
 * group that came, changed or went); one fn(NULL) when any changed. */
static void
rooms_affected(struct dir_replica *r, const char *ndn)
{
    if (!hmap_get(&r->touched, HKEY(ndn)))
        return;
    bool changed = false;
    void **v = hmap_values(&r->rooms);
    for (size_t i = 0, n = r->rooms.n; i < n; i++) {
        struct rep_room *rr = v[i];
        if (rr->snap && strset_has(&rr->touched, ndn))
            room_update(r, rr, TELL_NONE, &changed);
    }
    free(v);
    if (changed)
        notify_rooms(r, NULL);
}

static void
room_data_free(struct dir_room_data *d)
{
    if (d) {
        dir_room_data_clear(d);
        free(d);
    }
}

static void
room_free(struct rep_room *rr)
{
    room_data_free(rr->srv);
    room_data_free(rr->loc);
    dir_room_unref(rr->snap);
    strset_clear(&rr->touched);
    strset_clear(&rr->problems);
    strset_clear(&rr->reported);
    free(rr->ndn);
    free(rr);
}

/* rr goes away whole. */
static void
room_forget(struct dir_replica *r, struct rep_room *rr, enum room_tell tell)
{
    room_data_free(rr->srv);
    room_data_free(rr->loc);
    rr->srv = rr->loc = NULL;
    room_update(r, rr, tell, NULL); /* hidden: out of its slot, touches dropped */
    hmap_del(&r->rooms, HKEY(rr->ndn));
    uuid_unlink(r, &rr->o);
    room_free(rr);
}

/* The directory no longer has rr's entry (deleted, swept, malformed, moved,
 * another kind now); a write of this node in flight keeps it. */
static void
room_drop_srv(struct dir_replica *r, struct rep_room *rr)
{
    uuid_unlink(r, &rr->o);
    room_data_free(rr->srv);
    rr->srv = NULL;
    if (!rr->loc && !is_pending(r, rr->ndn))
        room_forget(r, rr, TELL_ALL);
    else
        room_update(r, rr, TELL_ALL, NULL);
}

static void
group_free(struct rep_group *g)
{
    dir_strv_free(g->members, g->n);
    for (size_t i = 0; i < g->n; i++)
        free(g->nmembers[i]);
    free(g->nmembers);
    free(g->ndn);
    free(g);
}

static void
group_remove(struct dir_replica *r, struct rep_group *g)
{
    char *ndn = xstrdup(g->ndn);
    hmap_del(&r->groups, HKEY(g->ndn));
    uuid_unlink(r, &g->o);
    group_free(g);
    rooms_affected(r, ndn);
    free(ndn);
}

static void
group_set_members(struct rep_group *g, char **members, size_t n)
{
    dir_strv_free(g->members, g->n);
    for (size_t i = 0; i < g->n; i++)
        free(g->nmembers[i]);
    free(g->nmembers);
    g->members = members;
    g->n = n;
    g->nmembers = n ? xcalloc(n, sizeof *g->nmembers) : NULL;
    for (size_t i = 0; i < n; i++)
        g->nmembers[i] = dir_dn_normalize(members[i]);
}

static bool
group_same(const struct rep_group *g, char *const *members, size_t n)
{
    if (g->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(g->members[i], members[i]) != 0)
            return false;
    return true;
}

/* ---- Sync input ---------------------------------------------------------- */

void
dir_replica_refresh_begin(struct dir_replica *r)
{
    r->gen++;
    r->refreshing = true;
}

void
dir_replica_refresh_end(struct dir_replica *r)
{
    r->refreshing = false;
    void **v = hmap_values(&r->rooms);
    for (size_t i = 0, n = r->rooms.n; i < n; i++)
        room_report(r, v[i]);
    free(v);
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
    if (o->kind == DIR_KIND_ROOM) {
        room_drop_srv(r, (struct rep_room *)o); /* a write of ours in flight keeps it */
        return;
    }
    if (o->kind == DIR_KIND_GROUP) {
        group_remove(r, (struct rep_group *)o);
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
    char *old_ndn = NULL;
    bool same = false;
    if (!ru) {
        ru = xcalloc(1, sizeof *ru);
        ru->o.kind = DIR_KIND_USER;
        uuid_link(r, &ru->o, uuid);
    } else {
        old_jid = xstrdup(ru->u->jid);
        same = dir_user_equal(ru->u, u); /* e.g. a full reload: nothing to tell */
        dir_user_unref(ru->u);           /* readers holding a reference keep the old one */
        old_ndn = ru->ndn;
    }
    ru->u = u;
    ru->ndn = ndn;
    ru->o.gen = r->gen;
    user_map(r, ru);
    int rc = hmap_get(&r->by_jid, HKEY(u->jid)) == ru ? PAL_OK : PAL_EEXIST;
    bool jid_changed = old_jid && strcmp(old_jid, u->jid) != 0;
    if (jid_changed) {
        jid_relink(r, old_jid);
        notify(r, old_jid);
    }
    free(old_jid);
    if (!same && rc == PAL_OK)
        notify(r, u->jid);
    /* rooms name users by DN: a new user, a new DN or a new JID changes them */
    if (old_ndn && strcmp(old_ndn, ru->ndn) != 0)
        rooms_affected(r, old_ndn);
    if (!old_ndn || jid_changed || strcmp(old_ndn, ru->ndn) != 0)
        rooms_affected(r, ru->ndn);
    free(old_ndn);
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

static int
put_room(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e, char *ndn,
         struct rep_obj *old)
{
    const char *why = NULL;
    struct dir_room_data *data = xcalloc(1, sizeof *data);
    int rc;
    if (!node_place_ok(r, ndn)) {
        why = "a room entry below ldap.users (where the nodes' service account may write)";
        rc = PAL_EMALFORMED;
    } else {
        rc = dir_map_room(e, data, &why);
    }
    struct rep_room *rr = hmap_get(&r->rooms, HKEY(ndn));
    if (old && (!rr || old != &rr->o))
        obj_remove(r, old, false); /* moved (modrdn) or of another kind before */
    if (rc != PAL_OK) {
        free(data);
        free(ndn);
        if (rr)
            room_drop_srv(r, rr); /* no stale copy: it may have said something else */
        r->why = why;
        return PAL_EMALFORMED;
    }
    if (!rr) {
        rr = xcalloc(1, sizeof *rr);
        rr->o.kind = DIR_KIND_ROOM;
        rr->ndn = ndn;
        hmap_put(&r->rooms, HKEY(rr->ndn), rr);
    } else {
        free(ndn);
    }
    if (!rr->o.has_uuid || memcmp(rr->o.uuid, uuid, 16) != 0) {
        uuid_unlink(r, &rr->o);
        uuid_link(r, &rr->o, uuid);
    }
    rr->o.gen = r->gen;
    room_data_free(rr->srv);
    rr->srv = data;
    return room_update(r, rr, TELL_ALL, NULL);
}

static int
put_group(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e,
          char *ndn, struct rep_obj *old)
{
    const char *why = NULL;
    char **members = NULL;
    size_t n = 0;
    struct rep_group *g = hmap_get(&r->groups, HKEY(ndn));
    if (dir_map_group(e, &members, &n, &why) != PAL_OK) {
        if (old && (!g || old != &g->o))
            obj_remove(r, old, false);
        if (g)
            group_remove(r, g);
        free(ndn);
        r->why = why;
        return PAL_EMALFORMED;
    }
    if (old && (!g || old != &g->o))
        obj_remove(r, old, false);
    bool same = false;
    if (g) {
        free(ndn);
        same = group_same(g, members, n);
        if (same)
            dir_strv_free(members, n);
        else
            group_set_members(g, members, n);
    } else {
        g = xcalloc(1, sizeof *g);
        g->o.kind = DIR_KIND_GROUP;
        g->ndn = ndn;
        group_set_members(g, members, n);
        hmap_put(&r->groups, HKEY(g->ndn), g);
    }
    if (!g->o.has_uuid || memcmp(g->o.uuid, uuid, 16) != 0) {
        uuid_unlink(r, &g->o);
        uuid_link(r, &g->o, uuid);
    }
    g->o.gen = r->gen;
    if (!same)
        rooms_affected(r, g->ndn);
    return PAL_OK;
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
    case DIR_KIND_ROOM:
        return put_room(r, uuid, e, ndn, old);
    case DIR_KIND_GROUP:
        return put_group(r, uuid, e, ndn, old);
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
    v = hmap_values(&r->groups);
    for (size_t i = 0, n = r->groups.n; i < n; i++) {
        struct rep_group *g = v[i];
        if (g->o.gen < r->gen) {
            group_remove(r, g);
            removed++;
        }
    }
    free(v);
    v = hmap_values(&r->rooms);
    for (size_t i = 0, n = r->rooms.n; i < n; i++) {
        struct rep_room *rr = v[i];
        if (rr->o.gen < r->gen && rr->srv) {
            room_drop_srv(r, rr); /* may free rr; a write of ours in flight keeps it */
            removed++;
        }
    }
    free(v);
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

/* ---- Rooms: reads and local writes ----------------------------------------- */

struct dir_room *
dir_replica_room(struct dir_replica *r, const char *room_jid)
{
    struct rep_room *rr = room_jid ? slot_first(r, room_jid) : NULL;
    if (!rr)
        return NULL;
    rr->snap->refs++;
    return rr->snap;
}

int
dir_replica_rooms(struct dir_replica *r, char ***jids, size_t *n)
{
    *jids = NULL;
    *n = 0;
    if (r->room_jids.n == 0)
        return PAL_OK;
    void **v = hmap_values(&r->room_jids);
    *jids = xcalloc(r->room_jids.n, sizeof **jids);
    for (size_t i = 0; i < r->room_jids.n; i++)
        (*jids)[(*n)++] = xstrdup(((struct room_slot *)v[i])->jid);
    free(v);
    qsort(*jids, *n, sizeof **jids, strp_cmp);
    return PAL_OK;
}

/* Whether ndn is free for a new entry of room jid: no entry the replica
 * knows, or one of the same room (our own delete in flight). */
static bool
room_dn_free(struct dir_replica *r, const char *ndn, const char *jid)
{
    if (hmap_get(&r->by_dn, HKEY(ndn)) || hmap_get(&r->groups, HKEY(ndn)))
        return false;
    const struct rep_room *rr = hmap_get(&r->rooms, HKEY(ndn));
    if (!rr)
        return true;
    const struct dir_room_data *d = rr->loc ? rr->loc : rr->srv;
    return !d || strcmp(d->jid, jid) == 0;
}

/* cn=<local part>,<rooms base>, or cn=<bare JID>,<rooms base> when another
 * entry has that DN; NULL when neither is free. */
static char *
room_new_dn(struct dir_replica *r, const char *jid)
{
    char *local = xstrndup(jid, (size_t)(strchr(jid, '@') - jid));
    const char *rdn[2] = {local, jid};
    char *dn = NULL;
    for (int i = 0; i < 2 && !dn && r->rooms_base; i++) {
        char *esc = dir_rdn_escape(rdn[i]);
        char *d = xasprintf("cn=%s,%s", esc, r->rooms_base);
        char *nd = dir_dn_normalize(d);
        free(esc);
        if (nd && room_dn_free(r, nd, jid))
            dn = d;
        else
            free(d);
        free(nd);
    }
    free(local);
    return dn;
}

/* The values of one affiliation attribute after a write: what the entry has
 * that is not a user's DN (groups, and values nothing resolves: an
 * administrator's, kept), then the users' DNs; one value per DN. */
static void
room_aff_merge(struct dir_replica *r, const struct dir_room_data *base, int k, char **dns,
               size_t n_dns, char ***out, size_t *n_out)
{
    size_t nb = base ? base->n_aff[k] : 0;
    struct strvec v = {NULL, 0, 0};
    struct strvec seen = {NULL, 0, 0};
    for (size_t pass = 0; pass < 2; pass++) {
        size_t n = pass ? n_dns : nb;
        for (size_t i = 0; i < n; i++) {
            const char *val = pass ? dns[i] : base->aff[k][i];
            char *nv = dir_dn_normalize(val);
            if (!pass && nv && hmap_get(&r->by_dn, HKEY(nv))) {
                free(nv);
                continue;
            }
            char *key = nv ? nv : xstrdup(val);
            bool dup = false;
            for (size_t j = 0; j < seen.n && !dup; j++)
                dup = strcmp(seen.v[j], key) == 0;
            if (dup) {
                free(key);
                continue;
            }
            strvec_push(&seen, key);
            strvec_push(&v, xstrdup(val));
        }
    }
    dir_strv_free(seen.v, seen.n);
    *out = v.v;
    *n_out = v.n;
}

int
dir_replica_room_put(struct dir_replica *r, const struct dir_room_spec *spec,
                     struct dir_room_data *out, bool *existed)
{
    memset(out, 0, sizeof *out);
    *existed = false;
    if (!spec)
        return PAL_EINVAL;
    char *jid = room_bare_jid(spec->jid);
    if (!jid)
        return PAL_EMALFORMED;
    const char *why = NULL;
    if (spec->config && dir_room_config_check(spec->config, strlen(spec->config), &why) != PAL_OK) {
        free(jid);
        return PAL_EMALFORMED;
    }
    const char *const *lists[DIR_AFFIL_N] = {spec->owners, spec->admins, spec->members,
                                              spec->outcasts};
    size_t counts[DIR_AFFIL_N] = {spec->n_owners, spec->n_admins, spec->n_members,
                                  spec->n_outcasts};
    struct strvec dns[DIR_AFFIL_N];
    memset(dns, 0, sizeof dns);
    int rc = PAL_OK;
    for (int k = 0; k < DIR_AFFIL_N && rc == PAL_OK; k++) {
        for (size_t i = 0; i < counts[k] && rc == PAL_OK; i++) {
            char *j = room_bare_jid(lists[k][i]);
            struct rep_user *ru = j ? hmap_get(&r->by_jid, HKEY(j)) : NULL;
            if (!j)
                rc = PAL_EMALFORMED;
            else if (!ru)
                rc = PAL_ENOENT;
            else
                strvec_push(&dns[k], xstrdup(ru->u->dn));
            free(j);
        }
    }
    struct rep_room *cur = rc == PAL_OK ? slot_first(r, jid) : NULL;
    char *dn = NULL;
    if (rc == PAL_OK) {
        dn = cur ? xstrdup(cur->snap->dn) : room_new_dn(r, jid);
        if (!dn)
            rc = r->rooms_base ? PAL_EEXIST : PAL_EINVAL;
    }
    char *ndn = dn ? dir_dn_normalize(dn) : NULL;
    if (dn && !ndn)
        rc = PAL_EINVAL;
    if (rc != PAL_OK)
        goto out;

    const struct dir_room_data *base = cur ? (cur->loc ? cur->loc : cur->srv) : NULL;
    out->dn = dn;
    dn = NULL;
    out->jid = xstrdup(jid);
    char *name = spec->name && spec->name[0]
                     ? xstrdup(spec->name)
                     : xstrndup(jid, (size_t)(strchr(jid, '@') - jid));
    out->n_cn = dir_dn_rdn_values(out->dn, "cn", &out->cn);
    bool in_rdn = false;
    for (size_t i = 0; i < out->n_cn && !in_rdn; i++)
        in_rdn = strcasecmp(out->cn[i], name) == 0;
    if (in_rdn) {
        free(name);
    } else {
        out->cn = xrealloc(out->cn, (out->n_cn + 1) * sizeof *out->cn);
        out->cn[out->n_cn++] = name;
    }
    /* as the directory will echo them: an empty value is no value */
    out->description = spec->description && spec->description[0] ? xstrdup(spec->description)
                                                                   : NULL;
    out->config = spec->config && spec->config[0] ? xstrdup(spec->config) : NULL;
    for (int k = 0; k < DIR_AFFIL_N; k++)
        room_aff_merge(r, base, k, dns[k].v, dns[k].n, &out->aff[k], &out->n_aff[k]);

    struct rep_room *rr = cur ? cur : hmap_get(&r->rooms, HKEY(ndn));
    if (!rr) {
        rr = xcalloc(1, sizeof *rr);
        rr->o.kind = DIR_KIND_ROOM;
        rr->ndn = xstrdup(ndn);
        hmap_put(&r->rooms, HKEY(rr->ndn), rr);
    }
    room_data_free(rr->loc);
    rr->loc = xcalloc(1, sizeof *rr->loc);
    dir_room_data_copy(rr->loc, out);
    rr->deleted = false;
    rr->o.gen = r->gen;
    pend_add(r, rr->ndn);
    room_update(r, rr, TELL_OTHERS, NULL);
    *existed = cur != NULL;
out:
    for (int k = 0; k < DIR_AFFIL_N; k++)
        dir_strv_free(dns[k].v, dns[k].n);
    free(dn);
    free(ndn);
    free(jid);
    return rc;
}

int
dir_replica_room_del(struct dir_replica *r, const char *room_jid, char **dn)
{
    *dn = NULL;
    char *jid = room_bare_jid(room_jid);
    if (!jid)
        return PAL_EMALFORMED;
    struct rep_room *rr = slot_first(r, jid);
    free(jid);
    if (!rr)
        return PAL_ENOENT;
    *dn = xstrdup(rr->snap->dn);
    room_data_free(rr->loc);
    rr->loc = NULL;
    rr->deleted = true;
    pend_add(r, rr->ndn);
    room_update(r, rr, TELL_OTHERS, NULL);
    return PAL_OK;
}

/* The last write of this node to rr's entry finished. */
static void
room_unpend(struct dir_replica *r, struct rep_room *rr, bool ok)
{
    if (!ok) {
        /* back to what the directory has */
        rr->deleted = false;
        room_data_free(rr->loc);
        rr->loc = NULL;
        if (!rr->srv)
            room_forget(r, rr, TELL_ALL);
        else
            room_update(r, rr, TELL_ALL, NULL);
        return;
    }
    if (rr->deleted) {
        room_forget(r, rr, TELL_ALL);
        return;
    }
    if (!rr->loc)
        return;
    /* The write landed: it is the directory's state now, but for what it
     * never writes (the echo brings the rest). */
    struct dir_room_data *d = rr->loc;
    rr->loc = NULL;
    if (rr->srv) {
        d->clearance = rr->srv->clearance;
        d->n_clearance = rr->srv->n_clearance;
        d->default_label = rr->srv->default_label;
        d->default_label_len = rr->srv->default_label_len;
        rr->srv->clearance = NULL;
        rr->srv->n_clearance = 0;
        rr->srv->default_label = NULL;
        rr->srv->default_label_len = 0;
        room_data_free(rr->srv);
    }
    rr->srv = d;
    room_update(r, rr, TELL_ALL, NULL);
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
    struct rep_room *rr = p ? NULL : hmap_get(&r->rooms, HKEY(ndn));
    if (rr)
        room_unpend(r, rr, ok);
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
    v = hmap_values(&r->rooms);
    for (size_t i = 0, n = r->rooms.n; i < n; i++)
        room_free(v[i]);
    free(v);
    v = hmap_values(&r->room_jids);
    for (size_t i = 0, n = r->room_jids.n; i < n; i++) {
        struct room_slot *sl = v[i];
        free(sl->jid);
        free(sl->v);
        free(sl);
    }
    free(v);
    v = hmap_values(&r->groups);
    for (size_t i = 0, n = r->groups.n; i < n; i++)
        group_free(v[i]);
    free(v);
    v = hmap_values(&r->touched);
    for (size_t i = 0, n = r->touched.n; i < n; i++) {
        struct touch *t = v[i];
        free(t->ndn);
        free(t);
    }
    free(v);
    hmap_clear(&r->rooms);
    hmap_clear(&r->room_jids);
    hmap_clear(&r->groups);
    hmap_clear(&r->touched);
    free(r->rooms_base);
    hmap_clear(&r->by_uuid);
    hmap_clear(&r->by_dn);
    hmap_clear(&r->by_jid);
    hmap_clear(&r->kids);
    hmap_clear(&r->pending);
    free(r->users_base);
    free(r->base);
    free(r);
}
