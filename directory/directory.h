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
    int64_t timeout_ms;     /* per-operation timeout */
    int64_t bind_pool;      /* connections used for PLAIN password checks */
};

/* The config module for the "ldap" group; fills *s. */
struct config_module dir_config_module(struct dir_settings *s);

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
    struct { unsigned char *der; size_t len; } *clearance; /* xmppClearance values */
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
/* Writes (roster, offline) queued or in flight; a node that stops cleanly runs
 * the loop until this is 0 or a deadline passes. */
size_t dir_pending_writes(const struct dir *d);

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
