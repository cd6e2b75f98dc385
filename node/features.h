/* SPDX-License-Identifier: Apache-2.0 */
/* features.h - the services behind the router (RFC 6121 and XEPs). Each entry
 * point borrows the stanza and returns ROUTE_HANDLED or ROUTE_PASS. */
#ifndef PALISADE_FEATURES_H
#define PALISADE_FEATURES_H

#include "node/router.h"

struct server;
struct sess;
struct stanza;

/* roster.c: jabber:iq:roster get/set from the user's own session (to absent or
 * the user's bare JID); pushes to every interested resource; writes through
 * dir_roster_put/del. */
enum route_result roster_handle_iq(struct server *srv, struct stanza *st, struct sess *origin);

/* presence.c: RFC 6121 §3-4.
 * - outbound subscription requests/approvals/cancellations from a user
 *   (subscribe, subscribed, unsubscribe, unsubscribed): roster state machine
 *   on the sender's side, then routed to the contact;
 * - inbound ones for a local user: roster state machine on the contact side,
 *   delivered to available resources or stored (ask_in) until answered;
 * - presence broadcast (no 'to', available or unavailable) and initial
 *   presence: broadcast to subscribers (from/both), probes to subscriptions
 *   (to/both), offline messages flushed on initial presence;
 * - probes to a local user: answered with each available resource's last
 *   presence if the prober is subscribed, else unavailable/nothing;
 * - directed presence (to a JID): delivered and remembered. */
enum route_result presence_handle(struct server *srv, struct stanza *st, struct sess *origin);
/* The session ended (orderly or abruptly) while available: broadcast
 * unavailable to subscribers and directed-presence targets. Call before the
 * session leaves the table. */
void presence_session_ended(struct server *srv, struct sess *s);

/* message.c: RFC 6121 §8.5 delivery of a message to a local user: bare JID →
 * the highest-priority available resources (non-negative), full JID → that
 * resource or the bare-JID rules, no available resource → offline store
 * (chat/normal), groupchat/headline/error per the RFC. */
enum route_result message_handle(struct server *srv, struct stanza *st, struct sess *origin);
/* Delivers stored messages to a session that just sent initial presence. */
void offline_flush(struct server *srv, struct sess *s);

/* iq services addressed to the server or to a user's bare JID on the user's
 * behalf: disco#info/#items (XEP-0030), ping (XEP-0199), vCard (XEP-0054, from
 * the directory entry), version (XEP-0092). */
enum route_result services_handle_iq(struct server *srv, struct stanza *st, struct sess *origin);

#endif
