/* SPDX-License-Identifier: Apache-2.0 */
/* server.h - the node's context: loop, settings, directory, TLS, sessions. One
 * per process; passed explicitly (no globals beyond what libraries force). */
#ifndef PALISADE_SERVER_H
#define PALISADE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "node/settings.h"

struct ev_loop;
struct dir;
struct sess_table;
struct tls_ctx;
struct policy_set;
struct conn;
struct c2s;
struct listener;
struct nodes;
struct labels_cache;
struct muc;

struct server {
    struct ev_loop *loop;
    struct node_settings *cfg;  /* current settings (swapped on reload) */
    struct dir *dir;
    struct tls_ctx *tls;
    struct nodes *nodes;        /* nodes.c: the cluster, NULL when not clustered */
    bool deliver_local_only;    /* nodes.c: cleaning up a dead node's sessions */
    bool route_here;            /* nodes.c: routing a stanza another node handed us */
    int ctl_fd;                 /* ctl.c: the control socket, when ctl_on */
    bool ctl_on;
    struct policy_set *policy;  /* labels.c: the enforced SPIFs, NULL when none */
    struct labels_cache *label_cache; /* labels.c: parsed clearances and labels */
    uint64_t caps_next;         /* labels.c: ids of our caps disco#info queries */
    struct muc *muc;            /* muc.c: rooms, NULL when muc.enabled is false */
    struct sess_table *sessions;
    struct hash *presence_pool; /* presence.c: shared kept presences by their wire form */
    uint64_t next_id;           /* ids for sessions, stanzas, connections */
    uint64_t started_ms;
    struct conn *dirty;         /* conn.c: connections with output to flush or a close to finish */
    struct c2s *c2s_list;       /* c2s.c: every client connection */
    struct listener *listeners; /* c2s.c: listening sockets */
};

/* A fresh id, unique within this process. */
uint64_t server_next_id(struct server *srv);
/* True when domain (normalised) is one this node serves. */
bool server_is_local_domain(const struct server *srv, const char *domain);

#endif
