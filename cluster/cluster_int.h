/* SPDX-License-Identifier: Apache-2.0 */
/* cluster_int.h - private to cluster/: the wire header, the cluster and peer
 * structures shared by cluster.c (object, membership, sockets, the loop
 * hooks), link.c (one peer's link: handshake, sequencing, acknowledgements,
 * retransmission, liveness) and zap.c (the ZAP handler). Not included outside
 * cluster/ except by its unit tests. */
#ifndef PALISADE_CLUSTER_INT_H
#define PALISADE_CLUSTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"

/* Bump on any change of the wire format, with cluster/PROTOCOL.md. */
#define CLUSTER_PROTO_VERSION 1
#define CLUSTER_HEADER_LEN 44
#define CLUSTER_ZAP_DOMAIN "palisade"
/* ZAP metadata property carrying the Z85 key the connection authenticated with. */
#define CLUSTER_ZAP_KEY_PROP "X-Palisade-Key"

enum cluster_kind {
    CLUSTER_KIND_HEARTBEAT = 1, /* liveness, handshake, acknowledgement, tail check */
    CLUSTER_KIND_DATA = 2,      /* an application message: header + frames */
    CLUSTER_KIND_NACK = 3,      /* "resend from seq" */
    CLUSTER_KIND_BYE = 4,       /* the sender is stopping */
};

/* The header frame (PROTOCOL.md "Header"). */
struct cluster_header {
    uint8_t version;
    uint8_t kind;       /* enum cluster_kind */
    uint16_t type;      /* DATA: the application type; else 0 */
    uint64_t epoch;     /* sender's incarnation */
    uint64_t link;      /* sender's link id towards the receiver (never 0) */
    uint64_t peer_link; /* receiver's link id as the sender last heard it; 0 none */
    uint64_t seq;       /* DATA: its sequence number (from 1); HEARTBEAT: last
                         * DATA seq handed to the socket before it; NACK: the
                         * next seq the sender of the NACK expects; BYE: 0 */
    uint64_t ack;       /* highest DATA seq delivered from the receiver */
};

/* Encodes h into buf (at least CLUSTER_HEADER_LEN bytes); returns the length. */
size_t cluster_msg_header_encode(const struct cluster_header *h, unsigned char *buf);
/* Decodes and checks a header frame: PAL_OK; PAL_ERANGE (another protocol
 * version: h->version set, the rest zero); PAL_EMALFORMED (wrong length,
 * unknown kind, a field that breaks the invariants of its kind). */
int cluster_msg_header_decode(const void *data, size_t len, struct cluster_header *h);
const char *cluster_kind_str(uint8_t kind);

/* An application message held for one or more peers: one allocation holding
 * the frame table and the bytes. Refcounted: cluster_broadcast shares it. */
struct cluster_payload {
    unsigned refs;
    uint16_t type;
    size_t n;
    struct cluster_frame f[]; /* data pointers into the same allocation */
};

struct cluster_peer {
    struct cluster *c;
    char *name;
    char *endpoint;
    char *site;
    char key_z85[CLUSTER_KEY_Z85_LEN + 1];
    uint8_t key[32];
    bool is_removed; /* out of the membership; freed after the loop iteration */

    void *dealer; /* our DEALER to its ROUTER (CURVE client); NULL only transiently */
    int dealer_fd;
    uint64_t dealer_at;   /* monotonic ms when the DEALER was created */
    unsigned n_renewals;  /* DEALERs replaced since the link was last up */

    /* Handshake and liveness (PROTOCOL.md "Links"). */
    bool is_up;
    bool want_hb;            /* send a heartbeat at the next chance */
    uint64_t my_link;        /* our link id towards it; new after every down */
    uint64_t their_link;     /* its link id towards us, as heard; 0 none (or
                              * forgotten after a down: any link is taken) */
    uint64_t their_epoch;
    uint64_t last_heard;     /* monotonic ms; 0 never */
    uint64_t last_sent;      /* when the socket last took a message for it */

    /* Sending: ring[] holds seqs base_seq .. base_seq+ring_len-1, the first
     * n_sent of which went to the socket. Acknowledged ones leave the front. */
    struct cluster_payload **ring;
    size_t ring_cap; /* power of two */
    size_t ring_head;
    size_t ring_len;
    size_t n_sent;
    uint64_t base_seq;
    uint64_t max_handed; /* highest seq ever handed to the socket on this link */
    uint64_t rewind_seq; /* last NACK obeyed, and when */
    uint64_t rewind_at;

    /* Receiving. */
    uint64_t expected;  /* next DATA seq to deliver */
    uint64_t ack_sent;  /* the ack value our last message carried */
    uint64_t nack_seq;  /* last NACK sent, and when */
    uint64_t nack_at;

    /* Counters for cluster_status. */
    uint64_t msgs_in;
    uint64_t msgs_out;
    uint64_t resends;
    uint64_t ups;
};

struct cluster {
    struct ev_loop *loop;
    struct cluster_callbacks cb;
    void *arg;
    char *self_name;
    char self_key_z85[CLUSTER_KEY_Z85_LEN + 1];
    char *self_endpoint; /* as listed */
    char *self_site;
    char *bind_endpoint; /* settings override, or NULL */
    char *bound;         /* what the ROUTER is bound to now, or NULL */
    char secret_z85[CLUSTER_KEY_Z85_LEN + 1];
    int heartbeat_ms;
    int dead_after_ms;
    int hwm;
    size_t max_queue;
    size_t max_frame_bytes;

    uint64_t epoch;
    uint64_t last_link; /* link ids: epoch-based, strictly increasing */

    void *ctx;
    void *router;
    int router_fd;
    void *zap;
    int zap_fd;
    uint64_t tick_timer;
    uint64_t kick_timer; /* 0 ms timer armed when a drain stopped at its budget */

    struct cluster_peer **peers;
    size_t n_peers;
    bool has_members; /* set_members succeeded once */

    /* Counters (tests, logs). */
    uint64_t n_zap_allowed;
    uint64_t n_zap_denied;
    uint64_t n_dropped; /* messages dropped: malformed, unknown sender, stale */
    uint64_t last_drop_log;
};

/* cluster.c */
uint64_t cluster_now_ms(void);
/* Socket options every cluster socket gets (see cluster.c): linger 0, the
 * handshake limit, TCP keepalive, and deliberately no ZMTP heartbeats. */
void cluster_socket_common(void *s);
void cluster_setopt_int(void *s, int opt, int v);
struct cluster_peer *cluster_peer_by_name(const struct cluster *c, const char *name);
struct cluster_peer *cluster_peer_by_key(const struct cluster *c, const uint8_t key[32]);
/* Logs a dropped message, rate-limited. */
void cluster_note_drop(struct cluster *c, const char *what, const char *from);

/* link.c */
int cluster_link_open(struct cluster_peer *p);   /* creates and connects the DEALER */
void cluster_link_close(struct cluster_peer *p); /* closes it, dropping what ZeroMQ holds */
/* Declares p down (if up: on_peer_down), hands back what it did not
 * acknowledge (on_undelivered), starts a new link. */
void cluster_link_down(struct cluster_peer *p, const char *reason);
/* Sends what can go now: a wanted heartbeat, queued DATA. */
void cluster_link_pump(struct cluster_peer *p);
/* One message received from p (already authenticated); frames borrowed. */
void cluster_link_input(struct cluster_peer *p, const struct cluster_header *h,
                        const struct cluster_frame *frames, size_t n);
/* Periodic: liveness check (may declare p down) and heartbeat. */
void cluster_link_tick(struct cluster_peer *p, uint64_t now);
/* Liveness check only. */
void cluster_link_check(struct cluster_peer *p, uint64_t now);
int cluster_link_queue(struct cluster_peer *p, struct cluster_payload *pl);
void cluster_link_bye(struct cluster_peer *p);
void cluster_payload_unref(struct cluster_payload *pl);
/* Drops everything held, without callbacks. */
void cluster_link_clear(struct cluster_peer *p);

/* zap.c */
int cluster_zap_open(struct cluster *c, char *err, size_t errlen);
void cluster_zap_close(struct cluster *c);
/* Answers every pending ZAP request. */
void cluster_zap_drain(struct cluster *c);

#endif
