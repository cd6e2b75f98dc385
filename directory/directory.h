/* SPDX-License-Identifier: Apache-2.0 */
/* directory.h - what node/ sees of the LDAP directory: a live in-memory replica
 * (RFC 4533 refreshAndPersist against syncprov) of users and their child
 * entries (roster items, offline messages), asynchronous writes, and password
 * checks by LDAP bind. Everything runs on the node's event loop; no call here
 * blocks. Reads answer from the replica, so they keep working while the
 * directory is down; writes queue and are retried after reconnect.
 *
 * Layout (see directory/schema/ and docs/DIRECTORY.md):
 *   user:    any entry under ldap.users with objectClass xmppUser; xmppJID holds
 *            the bare JID (local@domain), so one directory serves several domains.
 *   roster:  xmppContactJID=<jid>,<user dn>      (objectClass xmppRosterItem)
 *   offline: xmppOfflineId=<id>,<user dn>        (objectClass xmppOfflineMessage)
 *   settings: any entry under ldap.base with objectClass xmppServerSettings
 *            (usually cn=default,ou=settings,<base> for the server, and
 *            cn=<domain>,ou=settings,<base> with xmppDomain=<domain>).
 *   nodes:   any entry under ldap.base, but not under a separate ldap.users,
 *            with objectClass xmppNode (usually
 *            xmppNodeName=<name>,ou=nodes,<base>): the cluster's members.
 *   rooms:   any entry under ldap.base, but not under a separate ldap.users,
 *            with objectClass xmppRoom (usually cn=<name>,ou=rooms,<base>;
 *            ldap.rooms is where this node writes new ones): the persistent
 *            multi-user chat rooms. owner, xmppRoomAdmin, member and
 *            xmppRoomOutcast hold DNs of users or of groups (objectClass
 *            groupOfNames under ldap.base, nested up to 8 deep).
 */
#ifndef PALISADE_DIRECTORY_H
#define PALISADE_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct ev_loop;
struct dir;

/* The "ldap" config group. */
struct dir_settings {
    char *uri;              /* ldap://host:port or ldaps://host:port */
    bool starttls;          /* StartTLS on an ldap:// URI (required when true) */
    char *ca_file;          /* CA bundle for ldaps/StartTLS; NULL = system default */
    char *bind_dn;          /* service account */
    char *bind_secret;      /* inline secret (discouraged) or NULL */
    char *bind_secret_file; /* file holding the secret */
    char *base;             /* search base of everything Palisade reads */
    char *users;            /* base of user entries (default: base) */
    char *rooms;            /* where new room entries go (default: ou=rooms,<base>) */
    int64_t timeout_ms;     /* per-operation timeout */
    int64_t bind_pool;      /* connections used for PLAIN password checks */
};

/* The config module for the "ldap" group; fills *s. */
struct config_module dir_config_module(struct dir_settings *s);

/* One binary attribute value (a DER clearance, for instance). */
struct dir_der {
    unsigned char *der;
    size_t len;
};

/* A user as the replica holds it. Read-only snapshot, refcounted: a sync update
 * replaces the snapshot, it never changes one in place. */
struct dir_user {
    unsigned refs;
    char *dn;
    char *jid;          /* bare JID, normalised */
    bool enabled;       /* xmppAccountEnabled, default TRUE */
    size_t n_scram;
    char **scram;       /* RFC 5803 values "SCRAM-SHA-256$iter:salt$stored:server" */
    bool has_password;  /* userPassword present (PLAIN by bind possible) */
    size_t n_clearance;
    struct dir_der *clearance; /* xmppClearance values */
    /* vCard (XEP-0054) from inetOrgPerson; NULL when absent */
    char *cn, *given_name, *sn, *mail, *telephone, *title, *ou;
    unsigned char *jpeg;
    size_t jpeg_len;
    /* xmppDefaultLabel: DER ESSSecurityLabel applied to this user's unlabelled
     * messages (not parsed here), NULL when absent. */
    unsigned char *default_label;
    size_t default_label_len;
    /* xmppLabelSupport: -1 absent (decide from caps/disco), 0 FALSE (FLOT),
     * 1 TRUE. A value that is neither TRUE nor FALSE reads as 0: the marking
     * is shown in the body rather than lost. */
    int label_support;
};

enum dir_sub { DIR_SUB_NONE, DIR_SUB_TO, DIR_SUB_FROM, DIR_SUB_BOTH };

struct dir_roster_item {
    char *jid;       /* contact's bare JID */
    char *name;      /* NULL if none */
    enum dir_sub sub;
    bool ask_out;    /* we asked to subscribe to the contact (ask='subscribe') */
    bool ask_in;     /* the contact asked us; stored until we answer */
    size_t n_groups;
    char **groups;
};

struct dir_offline {
    char *id;         /* unique id (RDN value) */
    char *stanza;     /* serialized stanza as stored */
    size_t len;
    unsigned char *label; /* xmppSecurityLabel DER or NULL */
    size_t label_len;
};

/* Connects (asynchronously) and starts the content sync. The node keeps
 * serving from the replica while disconnected and reconnects with backoff.
 * settings are copied. PAL_OK and *out, or PAL_ECONFIG with err filled.
 * SIGPIPE must be ignored (libldap writes with write(2)); if its disposition
 * is still the default, dir_new sets it to SIG_IGN. */
int dir_new(struct ev_loop *loop, const struct dir_settings *settings, struct dir **out,
            char *err, size_t errlen);
/* Pending callbacks do not run. Not from inside a directory callback. */
void dir_free(struct dir *d);
/* True once the first refresh completed (the replica is complete). */
bool dir_is_ready(const struct dir *d);
/* True while the sync connection is up. */
bool dir_is_connected(const struct dir *d);

/* Called after every replica change of a user entry (added, modified, removed:
 * then dir_user_get returns NULL). bare_jid is borrowed. One listener. */
typedef void (*dir_user_changed_fn)(void *arg, const char *bare_jid);
void dir_on_user_changed(struct dir *d, dir_user_changed_fn fn, void *arg);
/* Called once when the first refresh completes. */
typedef void (*dir_ready_fn)(void *arg);
void dir_on_ready(struct dir *d, dir_ready_fn fn, void *arg);

/* The default label for unlabelled messages of domain (normalised, as in a
 * JID; ASCII case is ignored; NULL = the server-wide one only): the
 * xmppDefaultLabel of a settings entry whose xmppDomain holds domain, else of a
 * settings entry without xmppDomain. Where several entries qualify, the one
 * with the lowest normalised DN wins; a domain entry without xmppDefaultLabel
 * does not hide the server-wide label. PAL_OK and *der (a malloc'd copy of the
 * DER ESSSecurityLabel, not parsed here: caller parses and frees) and *len, or
 * PAL_ENOENT (no default label: *der NULL, *len 0). */
int dir_default_label(struct dir *d, const char *domain, unsigned char **der, size_t *len);
/* Called after a settings entry was added, changed or removed (not for a
 * reload that changed nothing), from the loop; re-read with
 * dir_default_label(). One listener; fn NULL removes it. */
void dir_on_settings_changed(struct dir *d, void (*fn)(void *arg), void *arg);

/* A cluster node as the directory lists it (objectClass xmppNode). The limits
 * are cluster.h's (CLUSTER_NAME_MAX, ...): every node the replica lists passes
 * cluster_set_members' checks. */
#define DIR_NODE_NAME_MAX 63      /* xmppNodeName: 1..63 of [A-Za-z0-9._-] */
#define DIR_NODE_SITE_MAX 63      /* xmppSite: bytes */
#define DIR_NODE_ENDPOINT_MAX 255 /* tcp://host:port or ipc:///absolute/path */
#define DIR_NODE_KEY_LEN 40       /* xmppCurvePublicKey: a CURVE public key in Z85 */
struct dir_node {
    char *name;         /* xmppNodeName, as stored (not case-folded) */
    char *endpoint;     /* xmppNodeEndpoint */
    char *curve_public; /* xmppCurvePublicKey, 40 chars Z85 */
    char *site;         /* xmppSite, NULL when absent */
};
/* Every xmppNode entry in the replica, sorted by name (byte order): *out
 * (caller frees with dir_nodes_free; NULL when there is none) and *n. PAL_OK.
 * Entries that fail the checks of dir_node_check are not in the replica
 * (logged when read). Of entries that share a name (ASCII case ignored, as
 * LDAP compares xmppNodeName) or a key, only the first in (name, DN) order is
 * listed, so the list always passes cluster_set_members; the others are
 * logged as duplicates and take over when that one goes. */
int dir_nodes_get(struct dir *d, struct dir_node **out, size_t *n);
void dir_nodes_free(struct dir_node *nodes, size_t n); /* NULL is fine */
/* Called after any change of an xmppNode entry (added, changed, removed; also
 * during the first refresh, before dir_on_ready, and not for a reload that
 * changed nothing), from the loop; re-read with dir_nodes_get(). One
 * listener; fn NULL removes it. */
void dir_on_nodes_changed(struct dir *d, void (*fn)(void *arg), void *arg);
/* The checks the replica applies to a node entry: name 1..63 of
 * [A-Za-z0-9._-], endpoint tcp://host:port (host not "*", port 1..65535) or
 * ipc:///absolute/path (under 108 bytes), curve_public 40 chars of Z85, site
 * NULL or at most 63 bytes. PAL_OK, or PAL_EMALFORMED with a static reason in
 * *why. For tools that write node entries (palisadectl node add). */
int dir_node_check(const struct dir_node *n, const char **why);

/* The user with this normalised bare JID: takes a reference, NULL if unknown. */
struct dir_user *dir_user_get(struct dir *d, const char *bare_jid);
void dir_user_unref(struct dir_user *u); /* NULL is fine */
size_t dir_user_count(const struct dir *d);

/* The user's roster from the replica: *items (caller frees with
 * dir_roster_free) and *n. Unknown user: PAL_ENOENT. */
int dir_roster_get(struct dir *d, const char *user, struct dir_roster_item **items, size_t *n);
/* One item or NULL (caller frees with dir_roster_free(item, 1)). */
struct dir_roster_item *dir_roster_find(struct dir *d, const char *user, const char *contact);
void dir_roster_free(struct dir_roster_item *items, size_t n);
/* Creates or replaces the item: the replica changes now, the LDAP write is
 * queued. PAL_ENOENT for an unknown user. */
int dir_roster_put(struct dir *d, const char *user, const struct dir_roster_item *item);
int dir_roster_del(struct dir *d, const char *user, const char *contact);

/* Stores a message for later delivery. done(arg, rc) runs once the directory
 * has it (PAL_OK) or the write failed for good; it may be NULL. The message is
 * in the replica (and so in dir_offline_get) from this call on. */
typedef void (*dir_done_fn)(void *arg, int rc);
int dir_offline_put(struct dir *d, const char *user, const char *stanza, size_t len,
                    const unsigned char *label, size_t label_len, dir_done_fn done, void *arg);
/* The user's stored messages, oldest first (caller frees with dir_offline_free). */
int dir_offline_get(struct dir *d, const char *user, struct dir_offline **msgs, size_t *n);
void dir_offline_free(struct dir_offline *msgs, size_t n);
/* How many messages the user has stored (0 for an unknown user); no copy. */
size_t dir_offline_count(struct dir *d, const char *user);
/* Deletes one stored message (replica now, LDAP queued). */
int dir_offline_del(struct dir *d, const char *user, const char *id);
/* Writes (roster, offline, rooms) queued or in flight; a node that stops cleanly runs
 * the loop until this is 0 or a deadline passes. */
size_t dir_pending_writes(const struct dir *d);

/* ---- Multi-user chat rooms ------------------------------------------------ */

/* One affiliation of a room: a user's bare JID (normalised). via_group: it
 * comes only from a group (groupOfNames) named by the room, not from a direct
 * user DN; change the group to change it. */
struct dir_affil {
    char *jid;
    bool via_group;
};

/* A persistent room as the replica holds it (an xmppRoom entry). Read-only
 * snapshot, refcounted like dir_user: a change installs a new snapshot, it
 * never edits one.
 *
 * Affiliations are resolved from the DNs the entry holds: a user entry
 * (xmppUser under ldap.users) gives its xmppJID, a group (groupOfNames under
 * ldap.base) its member values, resolved the same way (nested groups up to 8
 * deep; a group that contains itself is not expanded again). Values that
 * resolve to nothing are skipped and logged once (notice, with both DNs).
 * Each list is sorted by JID (byte order) and holds a JID once. A JID is in
 * one list only, the first of outcasts, owners, admins, members that names
 * it: a ban wins over everything (fail closed), otherwise the strongest
 * affiliation. A JID that comes both directly and from a group has
 * via_group false. */
struct dir_room {
    unsigned refs;
    char *dn;
    char *jid;         /* xmppRoomJID: a bare JID with a local part, normalised */
    char *name;        /* cn: the first value that is not the RDN's own cn value, else
                          the first value (entries this node writes are cn=<local part>,
                          with the room's name as a second cn value) */
    char *description; /* description (first value), NULL when absent */
    char *config;      /* xmppRoomConfig as stored: "var=value" lines (XEP-0045
                          muc#roomconfig_* vars), NULL when absent */
    size_t n_clearance;
    struct dir_der *clearance; /* xmppClearance values (DER, not parsed here) */
    unsigned char *default_label; /* xmppDefaultLabel DER, NULL when absent */
    size_t default_label_len;
    size_t n_owners, n_admins, n_members, n_outcasts;
    struct dir_affil *owners, *admins, *members, *outcasts;
};

/* The room with this bare JID (normalised): takes a reference, NULL when the
 * directory has no such room. Of several entries holding one xmppRoomJID, the
 * one with the lowest normalised DN is the room (the same choice on every
 * node); the others are logged as duplicates and take over when it goes.
 * Entries whose xmppRoomJID is not a bare JID with a local part, or that lie
 * below a separate ldap.users, are not rooms (logged when read). */
struct dir_room *dir_room_get(struct dir *d, const char *room_jid);
void dir_room_unref(struct dir_room *r); /* NULL is fine */
/* Every room's JID, sorted (byte order): PAL_OK, *jids (free with
 * dir_strv_free(*jids, *n); NULL when there is none) and *n. */
int dir_rooms_list(struct dir *d, char ***jids, size_t *n);
/* Frees n strings and the array; NULL is fine. */
void dir_strv_free(char **v, size_t n);

/* fn(arg, room_jid) runs after the room room_jid was added, changed or
 * removed in the directory (re-read it with dir_room_get; NULL when it is
 * gone); fn(arg, NULL) after a user or group change changed the
 * affiliations of one or more rooms (re-read every room). From the loop:
 * during the first refresh too, not for a reload that changed nothing, and
 * not from inside dir_room_put or dir_room_del (the caller knows what it
 * wrote); but when such a write fails for good the room goes back to the
 * directory's state and fn runs for it. room_jid is borrowed. One listener;
 * fn NULL removes it. */
void dir_on_rooms_changed(struct dir *d, void (*fn)(void *arg, const char *room_jid), void *arg);

/* What a room's owner created or configured through XMPP, for dir_room_put.
 * Strings are borrowed. */
struct dir_room_spec {
    const char *jid;         /* the room's bare JID */
    const char *name;        /* NULL = the local part of jid */
    const char *description; /* NULL = none */
    const char *config;      /* "var=value" lines, NULL = none */
    /* Direct affiliations: bare JIDs of users in the replica. Group values
     * already on the entry (and any other value that is not a user's DN) are
     * kept untouched. NULL lists with n 0 mean "none direct". */
    const char *const *owners;
    size_t n_owners;
    const char *const *admins;
    size_t n_admins;
    const char *const *members;
    size_t n_members;
    const char *const *outcasts;
    size_t n_outcasts;
};
/* Writes a room back to the directory: adds its entry (cn=<local part>,
 * <ldap.rooms>; cn=<bare JID>,<ldap.rooms> when another room's entry has
 * that DN) or modifies the existing one (its own DN; xmppRoomJID, objectClass
 * and the RDN stay). The replica shows the new state from this call on
 * (dir_room_get; the listener is not called), and keeps it while the write is
 * in flight, except that xmppClearance and xmppDefaultLabel always come from
 * the directory: they are never written from here (administrators only).
 * The LDAP write is queued; done(arg, rc) runs once it finished (PAL_OK) or
 * failed for good (PAL_ELDAP: the replica goes back to the directory's state
 * and the listener runs); done may be NULL. A new entry is only ever added,
 * an existing one only modified: a write never replaces an entry someone else
 * made meanwhile, nor brings back one an administrator deleted.
 * Returns PAL_OK; PAL_EMALFORMED when a JID is not a bare JID with a local
 * part or config has a line that is not var=value (or a NUL byte);
 * PAL_ENOENT when an affiliation JID is not a user in the replica;
 * PAL_EEXIST when neither DN is free. Nothing is written on error and done
 * does not run. */
int dir_room_put(struct dir *d, const struct dir_room_spec *spec, dir_done_fn done, void *arg);
/* Deletes the room's entry (the one dir_room_get returns): gone from the
 * replica now (a duplicate entry of the same JID, if any, takes over), LDAP
 * write queued, done as for dir_room_put (on failure the room comes back).
 * PAL_OK, PAL_EMALFORMED (bad JID) or PAL_ENOENT (no such room). */
int dir_room_del(struct dir *d, const char *room_jid, dir_done_fn done, void *arg);
/* The check the replica applies to xmppRoomConfig: lines of var=value (var
 * not empty; empty lines and a "\r" before the newline are fine), no NUL
 * byte. PAL_OK, or PAL_EMALFORMED with a static reason in *why. For tools
 * that write room entries (palisadectl room). */
int dir_room_config_check(const char *config, size_t len, const char **why);

/* Checks a password by an LDAP simple bind as dn, on a pooled connection.
 * done(arg, rc): PAL_OK, PAL_EDENIED (wrong password), or PAL_ELDAP (directory
 * unreachable). Returns a request id > 0 for dir_cancel(). The password is
 * copied and wiped after use. */
uint64_t dir_check_password(struct dir *d, const char *dn, const char *password, dir_done_fn done,
                            void *arg);
/* Cancels a pending request: its callback will not run. */
void dir_cancel(struct dir *d, uint64_t id);

/* RFC 5803 / RFC 5802 helpers (directory/scram.c), used by the user tool and
 * by the PLAIN fallback when the directory is unreachable. */
/* Computes "SCRAM-<hash>$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>" for
 * hash "SHA-1" or "SHA-256"; caller frees. salt NULL = 16 random bytes. */
char *dir_scram_secret(const char *hash, const char *password, const unsigned char *salt,
                       size_t salt_len, unsigned iterations);
/* True when password matches one of the secrets (any supported hash). */
bool dir_scram_verify(const char *const *secrets, size_t n, const char *password);

#endif
