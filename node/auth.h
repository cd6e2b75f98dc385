/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h - SASL for client streams. SCRAM-SHA-256/SHA-1 and their -PLUS
 * variants run in Cyrus SASL with secrets (RFC 5803) answered from the
 * directory replica by our auxprop plugin, so no exchange waits on LDAP. PLAIN
 * (only inside TLS) is checked by an asynchronous LDAP bind as the user, so it
 * works against any existing directory; when the directory is unreachable it
 * falls back to the user's SCRAM secrets in the replica. The file is auth.c,
 * not sasl.c: Cyrus owns the sasl_ prefix. */
#ifndef PALISADE_AUTH_H
#define PALISADE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct server;
struct buf;
struct auth;

enum auth_event {
    AUTH_CHALLENGE, /* send <challenge> with data */
    AUTH_SUCCESS,   /* send <success> with data (may be empty); user is the bare JID */
    AUTH_FAILURE,   /* send <failure><cond/></failure> (after the configured delay) */
};

/* Outcome callback: runs from inside auth_start/auth_step (SCRAM) or later from
 * the loop (PLAIN's LDAP bind). data/user are borrowed for the call. */
typedef void (*auth_fn)(void *arg, enum auth_event ev, const char *data, size_t len,
                        const char *cond, const char *user);

/* Process-wide Cyrus SASL set-up (once, before any connection). */
int auth_global_init(struct server *srv, char *err, size_t errlen);
void auth_global_done(void);

/* Appends the <mechanisms/> feature (and the XEP-0440 channel-binding list)
 * offered on a stream: nothing before TLS when TLS is required; PLAIN only in
 * TLS; -PLUS only when the TLS connection has a channel binding. ssl NULL when
 * no TLS. */
void auth_features(struct server *srv, SSL *ssl, struct buf *out);
/* True when mech is offered on this stream (same rules). */
bool auth_mech_offered(struct server *srv, SSL *ssl, const char *mech);

/* Starts an exchange. initial: the decoded initial response (has_initial
 * false when the client sent none). Returns NULL only when mech is unknown. */
struct auth *auth_start(struct server *srv, const char *domain, SSL *ssl, const char *mech,
                        const char *initial, size_t len, bool has_initial, auth_fn fn, void *arg);
/* Feeds a decoded <response>. */
void auth_step(struct auth *a, const char *data, size_t len);
/* Ends the exchange; a pending LDAP bind is cancelled (its callback never runs). */
void auth_free(struct auth *a);

#endif
