/* SPDX-License-Identifier: Apache-2.0 */
/* presence.h - presence helpers shared inside node/ (roster.c sends the
 * unavailable presence a roster removal owes the contact). The entry points
 * the router calls are in features.h. */
#ifndef PALISADE_NODE_PRESENCE_H
#define PALISADE_NODE_PRESENCE_H

struct jid;
struct server;

/* Sends the last presence of each available resource of user (bare JID,
 * borrowed) to contact, through router_route(). */
void presence_send_current(struct server *srv, const char *user, const struct jid *contact);
/* Sends unavailable from each available resource of user to contact. */
void presence_send_unavailable(struct server *srv, const char *user, const struct jid *contact);
/* Routes a server-generated <presence type=type from=from to=to/> (a
 * subscription stanza, a probe, or unavailable). Arguments borrowed. */
void presence_send_type(struct server *srv, const struct jid *from, const struct jid *to,
                        const char *type);

struct sess;
/* Tells the subscribers of s's user about s's current available presence
 * (nodes.c: sessions learnt again after a partition healed; with
 * srv->deliver_local_only set, only this node's sessions hear it). */
void presence_rebroadcast(struct server *srv, struct sess *s);

/* A session's last available presence is kept without 'from', 'to' and 'id', and
 * sessions whose presences say the same share one stanza (most clients of one
 * kind send the same presence: in a cluster every node keeps every session's).
 * presence_keep() returns the shared stanza for st's content (a reference the
 * session holds); presence_release() gives it back (NULL is fine);
 * presence_of() is a copy of s's presence from s's full JID (refs = 1), for
 * sending. presence_pool_free() at shutdown, once every session is gone. */
struct stanza;
struct stanza *presence_keep(struct server *srv, const struct stanza *st);
void presence_release(struct server *srv, struct stanza *kept);
struct stanza *presence_of(const struct sess *s);
void presence_pool_free(struct server *srv);

#endif
