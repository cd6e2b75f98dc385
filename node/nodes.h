/* SPDX-License-Identifier: Apache-2.0 */
/* nodes.h - the node's side of the cluster (cluster/ is the transport). Each
 * node owns the sessions connected to it and announces them to the others, so
 * the session table (sess.h) holds every session of the cluster: remote ones
 * have sess->node set and router_deliver() forwards stanzas to their node,
 * which checks its own receivers' clearances before delivery. Membership and
 * keys come from the directory's xmppNode entries. When a node dies the
 * others drop its sessions, tell their own local contacts it went
 * unavailable, and store offline the messages it never acknowledged. */
#ifndef PALISADE_NODES_H
#define PALISADE_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct sess;
struct stanza;

/* Starts the cluster when cluster.curve_secret_file is set (else does
 * nothing). Call once the directory replica is ready. PAL_OK, or an error
 * with err filled (this node missing from the directory, a key that does not
 * match its entry, an endpoint that cannot be bound). */
int nodes_start(struct server *srv, char *err, size_t errlen);
/* Says goodbye to the peers and frees everything. */
void nodes_stop(struct server *srv);

/* A local session was bound or changed its availability, priority or
 * presence: tell the other nodes. */
void nodes_session_up(struct server *srv, struct sess *s);
/* A local session ended: tell the other nodes. */
void nodes_session_down(struct server *srv, struct sess *s);
/* Forwards st to the remote session s (from router_deliver). */
void nodes_forward(struct server *srv, struct sess *s, struct stanza *st);

/* Inbound subscription stanzas (subscribe, subscribed, unsubscribe,
 * unsubscribed) for a local user are processed by the node that holds the
 * user's sessions, whose replica has that user's latest roster writes. True
 * when st was handed to such a node (the caller stops); false when this node
 * should process it. */
bool nodes_route_to_owner(struct server *srv, struct stanza *st);

/* Sends a message of another module (muc.c) to one peer / to every peer
 * (cluster_send / cluster_broadcast). PAL_ENOENT when the cluster is off. */
struct cluster_frame;
int nodes_send(struct server *srv, const char *node, uint16_t type,
               const struct cluster_frame *f, size_t n);
int nodes_broadcast(struct server *srv, uint16_t type, const struct cluster_frame *f, size_t n);

/* A stanza as another node sent it (serialized, jabber:client declared):
 * parsed, with st->id 0 (the caller assigns one); NULL when it does not
 * parse. */
struct stanza *nodes_parse(const struct cluster_frame *f);

/* For palisadectl status: appends a text report of the members and their
 * sessions to out. */
struct buf;
void nodes_status(struct server *srv, struct buf *out);

#endif
