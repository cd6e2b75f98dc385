/* SPDX-License-Identifier: Apache-2.0 */
/* dir_int.h - directory/ internals, shared by its .c files and its unit tests;
 * never included outside directory/ and test/unit/.
 *
 * The pieces:
 *   map.c      entry (plain attribute lists) <-> dir_user / roster item / offline
 *              message / settings / node / room / group; DN normalisation. Pure,
 *              no LDAP types.
 *   replica.c  the in-memory replica: users by JID, DN and entryUUID; roster items
 *              and offline messages attached to their user by parent DN;
 *              settings and cluster nodes in plain lists; rooms by DN and JID
 *              with their affiliations resolved through users and groups.
 *   ldap.c     one libldap connection on the loop: async connect, StartTLS, bind,
 *              message drain, reconnect with backoff.
 *   sync.c     RFC 4533 refreshAndPersist consumer feeding the replica.
 *   write.c    queue of asynchronous add/modify/delete on the main connection.
 *   bind.c     pool of connections for password checks by simple bind.
 *   scram.c    RFC 5802/5803 secrets.
 *   dir.c      struct dir and the public functions of directory.h.
 */
#ifndef PALISADE_DIR_INT_H
#define PALISADE_DIR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory/directory.h"

struct arena;
struct ev_loop;

/* ---- Plain attribute lists (map.c input; no LDAP types) ---------------- */

struct dir_val {
    const char *p; /* not NUL-terminated in general */
    size_t len;
};

struct dir_attr {
    const char *name; /* attribute description as received (case-insensitive) */
    size_t n;
    const struct dir_val *v;
};

struct dir_entry {
    const char *dn;
    size_t n_attrs;
    const struct dir_attr *attrs;
};

/* What an entry is, decided by its objectClass. */
enum dir_kind {
    DIR_KIND_NONE,
    DIR_KIND_USER,
    DIR_KIND_ROSTER,
    DIR_KIND_OFFLINE,
    DIR_KIND_SETTINGS,
    DIR_KIND_NODE,
    DIR_KIND_ROOM,
    DIR_KIND_GROUP,
};

/* A settings entry (objectClass xmppServerSettings, anywhere under ldap.base). */
struct dir_server_settings {
    size_t n_domains;
    char **domains; /* xmppDomain values, normalised; none = server-wide */
    unsigned char *default_label; /* xmppDefaultLabel DER, or NULL */
    size_t default_label_len;
};

/* One replicated kind of entry: the object class that selects it and the
 * attributes the sync search requests for it. Peers are added here (and in
 * map.c and replica.c) later; the sync filter and attribute list are built
 * from this table. */
struct dir_class {
    const char *object_class;
    enum dir_kind kind;
    const char *const *attrs; /* NULL-terminated */
};
extern const struct dir_class dir_classes[];
extern const size_t dir_n_classes;

/* The attribute named name (case-insensitive), or NULL. */
const struct dir_attr *dir_entry_attr(const struct dir_entry *e, const char *name);
/* True when e has objectClass oc (case-insensitive). */
bool dir_entry_has_class(const struct dir_entry *e, const char *oc);
enum dir_kind dir_entry_kind(const struct dir_entry *e);

/* Entry -> struct. Each returns PAL_OK, or PAL_EMALFORMED with a static reason
 * in *why (missing or invalid JID, ...). */
/* A user snapshot with refs = 1 (free with dir_user_unref). */
int dir_map_user(const struct dir_entry *e, struct dir_user **out, const char **why);
/* True when two snapshots hold the same data (refs aside). */
bool dir_user_equal(const struct dir_user *a, const struct dir_user *b);
/* Fills *out (clear with dir_roster_item_clear). */
int dir_map_roster(const struct dir_entry *e, struct dir_roster_item *out, const char **why);
/* Fills *out (clear with dir_offline_clear); *ts_ms = xmppTimestamp in ms since
 * the epoch, 0 when absent. */
int dir_map_offline(const struct dir_entry *e, struct dir_offline *out, int64_t *ts_ms,
                    const char **why);

/* Fills *out (clear with dir_server_settings_clear). An xmppDomain value that
 * is not a domain makes the whole entry PAL_EMALFORMED: read as server-wide,
 * it would apply to every domain. */
int dir_map_settings(const struct dir_entry *e, struct dir_server_settings *out, const char **why);
void dir_server_settings_clear(struct dir_server_settings *s);
bool dir_server_settings_equal(const struct dir_server_settings *a,
                               const struct dir_server_settings *b);
/* Fills *out (clear with dir_node_clear) from an xmppNode entry; checks it
 * with dir_node_check (directory.h). */
int dir_map_node(const struct dir_entry *e, struct dir_node *out, const char **why);
void dir_node_clear(struct dir_node *n);
/* Deep copy; dst is overwritten (not cleared first). */
void dir_node_copy(struct dir_node *dst, const struct dir_node *src);
bool dir_node_equal(const struct dir_node *a, const struct dir_node *b);
/* "user", "roster item", "offline message", "settings", "node", "room",
 * "group", "other" (logs). */
const char *dir_kind_str(enum dir_kind k);

void dir_roster_item_clear(struct dir_roster_item *it);
/* Deep copy; dst is overwritten (not cleared first). */
void dir_roster_item_copy(struct dir_roster_item *dst, const struct dir_roster_item *src);
void dir_offline_clear(struct dir_offline *m);
void dir_offline_copy(struct dir_offline *dst, const struct dir_offline *src);

/* Struct -> attribute list for writes, allocated in a (lives until arena_free).
 * Optional attributes that are unset come with n = 0: an add skips them, a
 * modify-replace deletes them. objectClass and the RDN attribute come first. */
size_t dir_map_roster_attrs(const struct dir_roster_item *it, struct arena *a,
                            struct dir_attr **out);
size_t dir_map_offline_attrs(const char *id, const char *stanza, size_t len,
                             const unsigned char *label, size_t label_len, int64_t ts_ms,
                             struct arena *a, struct dir_attr **out);

const char *dir_sub_str(enum dir_sub s);
/* "none", "to", "from", "both" (case-insensitive); anything else is NONE. */
enum dir_sub dir_sub_parse(const char *s, size_t len);
/* LDAP Boolean ("TRUE"/"FALSE"); *ok false when neither. */
bool dir_bool_parse(const char *s, size_t len, bool *ok);
/* GeneralizedTime "YYYYMMDDHHMMSS[.fff]Z" (UTC only) to ms since the epoch;
 * PAL_OK or PAL_EMALFORMED. */
int dir_gentime_parse(const char *s, size_t len, int64_t *ms);
/* Writes "YYYYMMDDHHMMSS.fffZ" into buf (at least 20 bytes). */
void dir_gentime_format(int64_t ms, char *buf, size_t len);

/* ---- Rooms and groups (map.c) --------------------------------------------- */

/* The four affiliation attributes of a room, in this order. */
enum dir_affil_kind { DIR_AFFIL_OWNER, DIR_AFFIL_ADMIN, DIR_AFFIL_MEMBER, DIR_AFFIL_OUTCAST };
#define DIR_AFFIL_N 4
/* "owner", "xmppRoomAdmin", "member", "xmppRoomOutcast" */
extern const char *const dir_affil_attrs[DIR_AFFIL_N];
/* Groups nested deeper than this below a room's value are not expanded. */
#define DIR_GROUP_DEPTH_MAX 8

/* A room entry as read (dir_map_room) or as this node writes it
 * (dir_room_put): everything but the resolved affiliations. */
struct dir_room_data {
    char *dn;          /* as received, or as this node names it */
    char *jid;         /* xmppRoomJID, normalised */
    size_t n_cn;
    char **cn;         /* cn values as stored */
    char *description; /* NULL when absent */
    char *config;      /* xmppRoomConfig, NULL when absent */
    size_t n_clearance;
    struct dir_der *clearance;
    unsigned char *default_label; /* NULL when absent */
    size_t default_label_len;
    size_t n_aff[DIR_AFFIL_N];
    char **aff[DIR_AFFIL_N]; /* DN values as stored (empty values dropped) */
};

/* Fills *out (clear with dir_room_data_clear) from an xmppRoom entry:
 * PAL_EMALFORMED when xmppRoomJID is not a bare JID with a local part, a
 * string value holds a NUL byte, or xmppRoomConfig fails
 * dir_room_config_check. */
int dir_map_room(const struct dir_entry *e, struct dir_room_data *out, const char **why);
void dir_room_data_clear(struct dir_room_data *d);
/* Deep copy; dst is overwritten (not cleared first). */
void dir_room_data_copy(struct dir_room_data *dst, const struct dir_room_data *src);
/* The room's name as dir_room.name describes it; NULL when there is no cn
 * (caller frees). */
char *dir_room_data_name(const struct dir_room_data *d);
/* The attribute list of a room write: objectClass, xmppRoomJID, cn,
 * description, xmppRoomConfig, owner, xmppRoomAdmin, member, xmppRoomOutcast
 * (a modify replaces all but the first two: an unset one is deleted). Never
 * xmppClearance or xmppDefaultLabel. Allocated in a. */
size_t dir_map_room_attrs(const struct dir_room_data *d, struct arena *a, struct dir_attr **out);
/* True when two snapshots hold the same data (refs aside). */
bool dir_room_equal(const struct dir_room *a, const struct dir_room *b);
/* The member values of a groupOfNames entry (empty ones dropped): *members
 * (free with dir_strv_free) and *n. PAL_EMALFORMED when a value holds a NUL
 * byte. */
int dir_map_group(const struct dir_entry *e, char ***members, size_t *n, const char **why);

/* ---- Distinguished names (map.c) ---------------------------------------- */

/* A comparable form of dn: attribute types and values lowercased (ASCII),
 * spaces around separators dropped, runs of spaces in values collapsed, values
 * unescaped and re-escaped canonically (RFC 4514). All attributes we name in
 * DNs use case-ignore matching, so lowercasing is exact for them. Attribute
 * type aliases and OIDs are not unified. Caller frees; NULL if malformed. */
char *dir_dn_normalize(const char *dn);
/* The parent part of a normalised DN (after the first RDN), or NULL for a
 * single RDN. Points into ndn. */
const char *dir_dn_parent(const char *ndn);
/* True when normalised ndn lies strictly below normalised nbase. */
bool dir_dn_is_below(const char *ndn, const char *nbase);
/* RFC 4514 escaping of an attribute value for use in an RDN; caller frees. */
char *dir_rdn_escape(const char *value);
/* The values of the attributes of type type (case-insensitive) in the first
 * RDN of dn, unescaped, case kept: *out (free with dir_strv_free) and the
 * count returned; 0 when there is none or dn is malformed. */
size_t dir_dn_rdn_values(const char *dn, const char *type, char ***out);

/* ---- Replica (replica.c) ------------------------------------------------ */

struct dir_replica;

/* users_base: only xmppUser entries below it are users (copied). */
struct dir_replica *dir_replica_new(const char *users_base);
void dir_replica_free(struct dir_replica *r);
void dir_replica_on_user_changed(struct dir_replica *r, dir_user_changed_fn fn, void *arg);
/* Called after a settings entry was added, changed or removed. */
void dir_replica_on_settings_changed(struct dir_replica *r, void (*fn)(void *arg), void *arg);
/* Called after a node entry was added, changed or removed. */
void dir_replica_on_nodes_changed(struct dir_replica *r, void (*fn)(void *arg), void *arg);
/* As dir_on_rooms_changed (directory.h). */
void dir_replica_on_rooms_changed(struct dir_replica *r,
                                  void (*fn)(void *arg, const char *room_jid), void *arg);
/* What the replica has to say about rooms (dir.c logs it; tests count it). */
enum dir_room_notice {
    DIR_ROOM_UNRESOLVED, /* value: an affiliation DN that is no user or group;
                            group: the group holding it, NULL for the room's own */
    DIR_ROOM_CYCLE,      /* value: a group that contains itself; group: NULL */
    DIR_ROOM_TOO_DEEP,   /* value: a group nested deeper than DIR_GROUP_DEPTH_MAX */
    DIR_ROOM_DUPLICATE,  /* room_dn: an entry that lost its JID (value) to the entry
                            group (a lower DN) */
};
/* fn runs once per problem of a room (again only after it went away and came
 * back), and never during a refresh: problems found then are reported by
 * dir_replica_refresh_end, when the replica is complete. Strings borrowed. */
void dir_replica_on_room_notice(struct dir_replica *r,
                                void (*fn)(void *arg, enum dir_room_notice what,
                                           const char *room_dn, const char *value,
                                           const char *group),
                                void *arg);
/* Where dir_replica_room_put names new room entries (copied). */
void dir_replica_set_rooms_base(struct dir_replica *r, const char *rooms);
/* The sync base (copied). Node entries at or below users_base are refused
 * unless users_base is the base: the nodes' service account may write under
 * ldap.users, and cluster membership is an administrator's decision. Unset:
 * users_base counts as a separate subtree. */
void dir_replica_set_base(struct dir_replica *r, const char *base);

/* Sync input. A refresh starts a new generation; entries added, modified or
 * reported present after that belong to it; dir_replica_sweep() then removes
 * every replicated entry of an older generation (refreshPresent end, or the end
 * of a refresh that started without a cookie). Entries with a local write in
 * flight survive the sweep. */
void dir_replica_refresh_begin(struct dir_replica *r);
/* The refresh completed (refreshDone): reports the room problems held back
 * while it ran. */
void dir_replica_refresh_end(struct dir_replica *r);
/* Add or modify: e is the entry's full current state. PAL_OK; PAL_EEXIST when
 * another user entry holds the same JID (kept, reachable by DN only, until the
 * other goes), or another node entry the same name or key (kept, listed only
 * if it comes first; see dir_nodes_get), or a room entry with a lower DN the
 * same room JID (kept, takes over when that one goes); or PAL_EMALFORMED
 * (entry ignored; no stale copy is kept; dir_replica_why() says why). */
int dir_replica_put(struct dir_replica *r, const unsigned char uuid[16], const struct dir_entry *e);
/* The static reason of the last PAL_EMALFORMED from dir_replica_put, or "". */
const char *dir_replica_why(const struct dir_replica *r);
void dir_replica_remove(struct dir_replica *r, const unsigned char uuid[16]);
void dir_replica_present(struct dir_replica *r, const unsigned char uuid[16]);
/* Returns the number of entries removed. */
size_t dir_replica_sweep(struct dir_replica *r);

/* Reads (the public functions of directory.h forward here). */
struct dir_user *dir_replica_user(struct dir_replica *r, const char *bare_jid);
size_t dir_replica_user_count(const struct dir_replica *r);
/* Entries of any kind known by entryUUID (tests, diagnostics). */
size_t dir_replica_entry_count(const struct dir_replica *r);
/* As dir_nodes_get() (directory.h). */
int dir_replica_nodes(struct dir_replica *r, struct dir_node **out, size_t *n);
/* As dir_default_label() (directory.h). */
int dir_replica_default_label(struct dir_replica *r, const char *domain, unsigned char **der,
                              size_t *len);
int dir_replica_roster_get(struct dir_replica *r, const char *user, struct dir_roster_item **items,
                           size_t *n);
struct dir_roster_item *dir_replica_roster_find(struct dir_replica *r, const char *user,
                                                const char *contact);
size_t dir_replica_offline_count(struct dir_replica *r, const char *user);
int dir_replica_offline_get(struct dir_replica *r, const char *user, struct dir_offline **msgs,
                            size_t *n);
/* As dir_room_get() and dir_rooms_list() (directory.h). */
struct dir_room *dir_replica_room(struct dir_replica *r, const char *room_jid);
int dir_replica_rooms(struct dir_replica *r, char ***jids, size_t *n);

/* Local changes: applied to the replica at once and marked pending until
 * dir_replica_unpend() (the write finished, either way). *dn gets the entry's
 * DN for the LDAP write (caller frees); *existed tells whether the replica had
 * the entry already. item->jid must be normalised. */
int dir_replica_roster_put(struct dir_replica *r, const char *user,
                           const struct dir_roster_item *item, char **dn, bool *existed);
int dir_replica_roster_del(struct dir_replica *r, const char *user, const char *contact, char **dn);
int dir_replica_offline_add(struct dir_replica *r, const char *user, const char *id,
                            const char *stanza, size_t len, const unsigned char *label,
                            size_t label_len, int64_t ts_ms, char **dn);
int dir_replica_offline_del(struct dir_replica *r, const char *user, const char *id, char **dn);
/* A room written back (dir_room_put's checks and results; the listener does
 * not run). *out gets what to write, with its DN (clear with
 * dir_room_data_clear); *existed tells whether the replica had the room (then
 * modify its entry, else add one). Until dir_replica_unpend, the written
 * attributes show as written whatever the directory echoes, while
 * xmppClearance and xmppDefaultLabel follow the directory. */
int dir_replica_room_put(struct dir_replica *r, const struct dir_room_spec *spec,
                         struct dir_room_data *out, bool *existed);
/* The room is gone from reads at once (a duplicate takes over); *dn gets its
 * entry's DN (caller frees). PAL_ENOENT or PAL_EMALFORMED as dir_room_del. */
int dir_replica_room_del(struct dir_replica *r, const char *room_jid, char **dn);
/* The write for entry dn finished; ok false when it failed for good, and then
 * an entry that exists only locally (never seen from the server) is dropped,
 * and a room goes back to the directory's state. */
void dir_replica_unpend(struct dir_replica *r, const char *dn, bool ok);

/* ---- One LDAP connection on the loop (ldap.c) --------------------------- */

struct ldap;
struct ldapmsg;
struct dir_conn;

struct dir_conn_ops {
    /* Connected, TLS up when configured, bound as the service account. */
    void (*up)(struct dir_conn *c, void *arg);
    /* Lost after up; a reconnect is scheduled. Outstanding requests are gone. */
    void (*down)(struct dir_conn *c, void *arg);
    /* One message of an operation this side sent; borrowed (freed after the
     * call). The callee may call dir_conn_reset() from here. */
    void (*msg)(struct dir_conn *c, struct ldapmsg *m, void *arg);
    /* Optional: a request libldap could not write whole has been flushed, or
     * the socket became writable again; senders that got LDAP_BUSY retry. */
    void (*writable)(struct dir_conn *c, void *arg);
};

/* name appears in logs ("main", "bind1"). Settings and secret are borrowed and
 * must outlive the connection. Starts connecting at once. */
struct dir_conn *dir_conn_new(struct ev_loop *loop, const struct dir_settings *s,
                              const char *secret, const char *name, const struct dir_conn_ops *ops,
                              void *arg);
void dir_conn_free(struct dir_conn *c);
bool dir_conn_is_up(const struct dir_conn *c);
/* True while it waits to retry after a failure (not while it is starting). */
bool dir_conn_is_down(const struct dir_conn *c);
/* The handle while up, else NULL. */
struct ldap *dir_conn_ld(struct dir_conn *c);
/* Drops the connection (down runs) and reconnects after the backoff. */
void dir_conn_reset(struct dir_conn *c, const char *why);
/* Call after sending requests: watches for writability when libldap could
 * not write a request whole (LDAP_BUSY) and finishes it from the loop. */
void dir_conn_sent(struct dir_conn *c);
const char *dir_conn_name(const struct dir_conn *c);

/* ---- Content sync (sync.c) ---------------------------------------------- */

struct dir_sync;
typedef void (*dir_sync_ready_fn)(void *arg);
struct dir_sync *dir_sync_new(struct ev_loop *loop, struct dir_conn *c, struct dir_replica *r,
                              const char *base, dir_sync_ready_fn ready, void *arg);
void dir_sync_free(struct dir_sync *s);
void dir_sync_up(struct dir_sync *s);
void dir_sync_down(struct dir_sync *s);
/* Handles m when it belongs to the sync search; returns false otherwise. */
bool dir_sync_msg(struct dir_sync *s, struct ldapmsg *m);
bool dir_sync_is_ready(const struct dir_sync *s);

/* ---- Writes (write.c) ---------------------------------------------------- */

struct dir_writer;
struct dir_writer *dir_writer_new(struct ev_loop *loop, struct dir_conn *c, struct dir_replica *r,
                                  int64_t timeout_ms);
/* Drops queued writes without calling their callbacks. */
void dir_writer_free(struct dir_writer *w);
/* Queues a create-or-replace of the entry dn (takes a and attrs: attrs lives in
 * a). exists: try a modify first, else an add. */
void dir_writer_put(struct dir_writer *w, const char *dn, struct arena *a,
                    const struct dir_attr *attrs, size_t n, bool exists, dir_done_fn done,
                    void *arg);
/* Queues a modify-replace of the attributes of an existing entry (all but
 * the first two: objectClass and the RDN attribute); a missing entry fails
 * the write (it is not created). */
void dir_writer_modify(struct dir_writer *w, const char *dn, struct arena *a,
                       const struct dir_attr *attrs, size_t n, dir_done_fn done, void *arg);
/* Queues an add that must create a new entry (an existing one counts as done
 * only when an earlier attempt may have created it). */
void dir_writer_add(struct dir_writer *w, const char *dn, struct arena *a,
                    const struct dir_attr *attrs, size_t n, dir_done_fn done, void *arg);
/* Queues a delete; a missing entry counts as deleted. */
void dir_writer_del(struct dir_writer *w, const char *dn, dir_done_fn done, void *arg);
void dir_writer_up(struct dir_writer *w);
/* Sends what the window and the connection allow (after LDAP_BUSY). */
void dir_writer_kick(struct dir_writer *w);
void dir_writer_down(struct dir_writer *w);
bool dir_writer_msg(struct dir_writer *w, struct ldapmsg *m);
size_t dir_writer_pending(const struct dir_writer *w);

/* ---- Password checks (bind.c) -------------------------------------------- */

struct dir_bindpool;
struct dir_bindpool *dir_bindpool_new(struct ev_loop *loop, const struct dir_settings *s,
                                      const char *secret, size_t n);
/* Pending callbacks do not run. */
void dir_bindpool_free(struct dir_bindpool *p);
uint64_t dir_bindpool_check(struct dir_bindpool *p, const char *dn, const char *password,
                            dir_done_fn done, void *arg);
void dir_bindpool_cancel(struct dir_bindpool *p, uint64_t id);

#endif
