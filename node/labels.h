/* SPDX-License-Identifier: Apache-2.0 */
/* labels.h - where the node applies security-label policy (XEP-0258) to
 * stanzas: the decisions themselves are policy/'s; this file finds the label,
 * the clearances (from the directory replica) and the defaults, asks policy/,
 * logs every decision with its reason, and answers denials with errors that
 * reveal nothing of the content. Everything fails closed: a label that does
 * not parse, a policy that is not loaded or a clearance that cannot be read
 * means "do not deliver". */
#ifndef PALISADE_LABELS_H
#define PALISADE_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include "node/router.h"

struct server;
struct sess;
struct stanza;

/* Loads policy.spif into srv->policy (NULL when none is configured). */
int labels_init(struct server *srv, char *err, size_t errlen);
void labels_free(struct server *srv);

/* Step 3 of the stanza path, for a stanza from a local session: parses its
 * label, applies the default label to an unlabelled message, validates it,
 * checks the sender's clearance and replaces the client's envelope with one
 * the server builds (display marking from the policy). Returns true when st
 * may be routed; false when it was refused (the sender got an error). */
bool labels_outbound(struct server *srv, struct stanza *st, struct sess *origin);

/* Step 4: may the user (bare JID) read st, with the clearance the replica
 * holds now? Unlabelled stanzas are readable by anyone. Logs denials. */
bool labels_may_read(struct server *srv, const char *bare_jid, struct stanza *st);

/* Rooms (muc.c). May st be said in the room? Its label must lie within the
 * room's clearance (room NULL: a temporary room, which has none, so only
 * unlabelled stanzas pass). Logs the decision (check=room). */
struct dir_room;
bool labels_room_may_carry(struct server *srv, const struct dir_room *room, const char *room_jid,
                           struct stanza *st);
/* May the user enter the room? Its clearance must dominate the room's
 * default label (always true without one). Logs the decision (check=enter). */
bool labels_may_enter(struct server *srv, const char *bare_jid, const struct dir_room *room);

/* Answers the sender of st: the receiver is not cleared (once per stanza,
 * even when several resources were refused). */
void labels_refused(struct server *srv, struct stanza *st);

/* The stanza as this receiver should get it: st itself (a new reference) or,
 * for a session without label support and with FLOT on, a copy whose body
 * starts with the display marking. Caller unrefs. */
struct stanza *labels_for_receiver(struct server *srv, struct sess *to, struct stanza *st);

/* The label of st in DER (for the offline store's xmppSecurityLabel): PAL_OK
 * with *der (caller frees) or *der NULL when unlabelled. */
int labels_der(struct server *srv, struct stanza *st, unsigned char **der, size_t *len);

/* XEP-0258 catalog requests (urn:xmpp:sec-label:catalog:2) and the answers to
 * our own caps disco#info queries. */
enum route_result labels_handle_iq(struct server *srv, struct stanza *st, struct sess *origin);
/* A session's first broadcast presence: asks the client's disco#info (the
 * XEP-0115 caps node when given) whether it supports labels, for FLOT.
 * Until the answer arrives the session counts as not supporting them. */
void labels_note_presence(struct server *srv, struct sess *origin, struct stanza *st);
/* Called by offline_flush(): true when the flush must wait until the session's
 * label support is known (its disco#info answer, or 2 s), so that a
 * label-aware client does not get its stored labelled messages with FLOT;
 * labels.c then runs offline_flush() itself. */
bool labels_defer_flush(struct server *srv, struct sess *s);
/* A local session ends: cancels what labels.c still waits for on it. */
void labels_session_end(struct server *srv, struct sess *s);
/* True when the server advertises label support (a policy is loaded). */
bool labels_enabled(const struct server *srv);

#endif
