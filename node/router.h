/* SPDX-License-Identifier: Apache-2.0 */
/* router.h - the one routing decision. Every stanza, from a client or made by
 * the server, goes through router_route(): it applies policy, then delivers to
 * a local session, the offline store, a local service (roster, presence
 * bookkeeping, disco, vCard, ping), or answers with an error. Feature code
 * never routes by itself: it calls router_route() or router_deliver(). */
#ifndef PALISADE_ROUTER_H
#define PALISADE_ROUTER_H

struct server;
struct sess;
struct stanza;

/* Features return this: HANDLED means the stanza was consumed (answered,
 * delivered or stored); PASS means try the next rule. Never "I freed it": the
 * caller owns its reference either way. */
enum route_result { ROUTE_HANDLED, ROUTE_PASS };

/* Routes st (borrowed). origin: the session it came from (its from is already
 * stamped), or NULL for stanzas the server generates. */
void router_route(struct server *srv, struct stanza *st, struct sess *origin);

/* Writes st to one session's connection (the delivering node's last check:
 * label policy against the receiver's clearance happens here). Borrowed. */
void router_deliver(struct server *srv, struct sess *to, struct stanza *st);

/* Bounces st with an error (never bounces an error or a result). */
void router_bounce(struct server *srv, struct stanza *st, const char *etype, const char *cond);

#endif
