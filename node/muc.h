/* SPDX-License-Identifier: Apache-2.0 */
/* muc.h - multi-user chat (XEP-0045) with security labels, at
 * <muc.subdomain>.<domain> for each served domain (conference.<domain> by
 * default). Persistent rooms are the directory's xmppRoom entries; temporary
 * rooms live in memory. Every node of a cluster holds the whole state of every
 * room (occupants, history, subject, configuration): each node owns the
 * occupants whose sessions it holds, processes their stanzas to the room, and
 * tells the other nodes what changed; each node delivers to its own occupants
 * after its own label check. So a room loses nothing but the dead node's
 * occupants when a node dies. docs/MUC.md describes the behaviour. */
#ifndef PALISADE_MUC_H
#define PALISADE_MUC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/router.h"

struct server;
struct sess;
struct stanza;
struct cluster_frame;

/* Creates the MUC state (after the directory replica is ready: persistent
 * rooms come from it) and subscribes to room changes in the directory. */
int muc_init(struct server *srv, char *err, size_t errlen);
void muc_free(struct server *srv);

/* True when domain (normalised) is one of our MUC services. */
bool muc_is_service(const struct server *srv, const char *domain);

/* Every stanza addressed to a MUC service, a room or an occupant. */
void muc_route(struct server *srv, struct stanza *st, struct sess *origin);

/* For labels.c: true when room_jid is a room of ours; *entry is its
 * directory entry (borrowed until the next return to the loop), NULL for a
 * temporary room, which has no clearance (only unlabelled messages may be
 * said in it) and no default label. */
struct dir_room;
bool muc_room_entry(struct server *srv, const char *room_jid, const struct dir_room **entry);

/* Cluster messages (types MUC_MSG_FIRST..MUC_MSG_LAST), from nodes.c. */
#define MUC_MSG_FIRST 16
#define MUC_MSG_LAST 31
void muc_on_cluster(struct server *srv, const char *from, uint16_t type,
                    const struct cluster_frame *f, size_t n);
/* A peer came up: send it the rooms' state and our occupants. */
void muc_peer_up(struct server *srv, const char *node);
/* A peer died: its occupants leave every room (each node tells its own
 * occupants). */
void muc_peer_down(struct server *srv, const char *node);

/* For disco#items of a served domain: appends the MUC service's JID for
 * domain to out (or nothing when MUC is off). Returns the service JID or NULL. */
const char *muc_service_for(const struct server *srv, const char *domain);

#endif
