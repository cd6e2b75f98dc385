/* SPDX-License-Identifier: Apache-2.0 */
/* sess.h - bound resources and the session table. A session is one bound
 * full JID on a client connection; the table finds sessions by full JID and
 * lists the resources of a bare JID. Sessions are owned by their connection
 * (c2s); the table only indexes them. Only 64-bit ids enter logs. */
#ifndef PALISADE_SESS_H
#define PALISADE_SESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jid.h"

struct c2s;
struct stanza;
struct server;
struct labels_wait;

struct sess {
    uint64_t id;
    struct jid *jid;      /* full JID, owned */
    struct c2s *conn;     /* the owning client connection; NULL for a remote session */
    char *node;           /* remote session: the cluster node holding it (owned); NULL local */
    int priority;         /* from the last available presence, -128..127 */
    bool available;       /* sent available presence and not yet unavailable */
    bool initial_sent;    /* has ever sent initial presence */
    bool interested;      /* requested the roster (RFC 6121 §2.1.6 interested resource) */
    bool supports_labels; /* advertised urn:xmpp:sec-label:0 (caps/disco), for FLOT */
    bool caps_asked;      /* labels.c asked its disco#info once */
    bool caps_known;      /* ... and has the answer (or gave up waiting) */
    struct labels_wait *caps_wait; /* labels.c: offline flush waiting for that answer */
    struct stanza *presence; /* last available presence broadcast (reference) or NULL */
    /* full JIDs this session sent directed available presence to, that are not
     * covered by its roster broadcast; they get its unavailable presence. */
    size_t n_directed;
    char **directed;
    struct sess *next_of_bare; /* table-internal: resources of one bare JID */
};

struct sess_table;

struct sess_table *sess_table_new(void);
void sess_table_free(struct sess_table *t); /* does not free sessions */

/* Indexes s. If another session holds the same full JID it is returned (the
 * caller replaces it: RFC 6120 §7.7.2.2 conflict) and no longer indexed. */
struct sess *sess_table_add(struct sess_table *t, struct sess *s);
void sess_table_del(struct sess_table *t, struct sess *s);
struct sess *sess_table_find(struct sess_table *t, const char *full_jid);
/* The first session of a bare JID (walk with s->next_of_bare), or NULL. */
struct sess *sess_table_bare(struct sess_table *t, const char *bare_jid);
size_t sess_table_count(const struct sess_table *t);
/* A snapshot of every indexed session, local and remote (caller frees the
 * array, not the sessions), *n of them. */
struct sess **sess_table_all(const struct sess_table *t, size_t *n);

/* Records / forgets a directed presence target. */
void sess_directed_add(struct sess *s, const char *full_jid);
void sess_directed_del(struct sess *s, const char *full_jid);

#endif
