/* SPDX-License-Identifier: Apache-2.0 */
/* cluster.h - what node/ sees of the cluster transport: authenticated,
 * encrypted, ordered message links to the other nodes over ZeroMQ, with
 * liveness and membership from the directory. cluster/ never parses XML: a
 * message is an application type (uint16) plus opaque frames; the routing data
 * and the stanza bytes node/ puts in them are its own business. The frame
 * codec below (cluster_msg_put_* / cluster_msg_get_*) is there so node/ can
 * encode its routing frames the same bounds-checked way.
 *
 * Everything runs on the node's event loop; no call here blocks (except
 * cluster_free, which waits at most 100 ms for goodbyes to leave). Wire format,
 * liveness rules and security model: cluster/PROTOCOL.md.
 *
 * Delivery contract, per pair of nodes and per direction:
 *   - messages arrive in the order sent, each at most once;
 *   - a message is retained by the sender until the receiver acknowledges it
 *     (the receiver acknowledges once its on_message callback has returned);
 *     messages lost by a broken connection are retransmitted;
 *   - when the peer is declared down (or removed, or restarted), every message
 *     it has not acknowledged is handed back through on_undelivered, in order,
 *     after on_peer_down. A peer that died after running on_message but before
 *     its acknowledgement left may have processed such a message: rare
 *     duplicates are possible, silent loss is not. */
#ifndef PALISADE_CLUSTER_H
#define PALISADE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct cluster;

#define CLUSTER_NAME_MAX 63      /* node name: 1..63 of [A-Za-z0-9._-] */
#define CLUSTER_SITE_MAX 63
#define CLUSTER_ENDPOINT_MAX 255 /* tcp://host:port or ipc:///path */
#define CLUSTER_MAX_FRAMES 32    /* application frames per message */
#define CLUSTER_KEY_Z85_LEN 40   /* a CURVE key in Z85 text */

/* One node as the directory lists it. All strings borrowed for the call. */
struct cluster_member {
    const char *name;             /* unique node name */
    const char *endpoint;         /* where it listens: tcp://host:port or ipc:///path */
    const char *curve_public_z85; /* its CURVE public key, 40 chars Z85 */
    const char *site;             /* free text (palisadectl status); NULL = "" */
};

/* Strings borrowed for cluster_new (copied). Zero numeric fields take the defaults. */
struct cluster_settings {
    const char *self_name;        /* must be one of the members */
    const char *curve_secret_z85; /* this node's CURVE secret key (40 chars) */
    const char *curve_public_z85; /* its public key (must match the secret); NULL:
                                   * derived from the secret */
    const char *bind_endpoint;    /* NULL: bind our member endpoint; else this one
                                   * (e.g. tcp://0.0.0.0:7400 behind NAT) */
    int heartbeat_ms;             /* default 200 */
    int dead_after_ms;            /* default 1500; a peer silent this long is down
                                   * (2 heartbeats..60000; issue 4 wants a death
                                   * noticed within 3 s: keep it <= 3000 - heartbeat) */
    int hwm;                      /* ZeroMQ high-water mark per link (messages); default 1000 */
    size_t max_queue;             /* messages held per peer (waiting + unacknowledged);
                                   * beyond it cluster_send says PAL_ELIMIT; default 10000 */
    size_t max_frame_bytes;       /* largest frame sent or accepted; default 16 MiB */
};

/* One frame of a message: borrowed bytes. */
struct cluster_frame {
    const void *data;
    size_t len;
};

/* All callbacks run on the loop, from inside cluster/ processing. They may call
 * cluster_send, cluster_broadcast, cluster_peer_is_up, cluster_status and
 * cluster_set_members; never cluster_free. Strings and frames are borrowed for
 * the call. Any callback may be NULL. */
struct cluster_callbacks {
    /* The link to node is authenticated both ways and alive: both sides have
     * heard each other's current incarnation. Also after a restart of node,
     * after a partition heals, after it is added back. Send it your state now
     * (the session table): it starts from nothing. */
    void (*on_peer_up)(void *arg, const char *node);
    /* node is gone: silent for dead_after_ms, said goodbye, restarted (then
     * on_peer_up follows once the new incarnation is linked), or removed from
     * the membership. Once per on_peer_up. Forget its sessions. */
    void (*on_peer_down)(void *arg, const char *node);
    /* An application message from from_node (authenticated by its CURVE key,
     * never by anything the peer wrote), in order. */
    void (*on_message)(void *arg, const char *from_node, uint16_t type,
                       const struct cluster_frame *frames, size_t n);
    /* A message sent to node that node never acknowledged, handed back after
     * on_peer_down (or when node is removed): store it offline, bounce it, or
     * send it elsewhere. In the order sent. */
    void (*on_undelivered)(void *arg, const char *node, uint16_t type,
                           const struct cluster_frame *frames, size_t n);
};

/* Creates the cluster transport on loop: a ZeroMQ context, the ZAP handler and
 * the heartbeat timer. Nothing is bound or connected before the first
 * cluster_set_members. settings and cb are copied; arg is passed to every
 * callback. PAL_OK and *out (free with cluster_free), or PAL_ECONFIG (bad
 * settings, bad key) / PAL_EIO (ZeroMQ) with err filled. */
int cluster_new(struct ev_loop *loop, const struct cluster_settings *s,
                const struct cluster_callbacks *cb, void *arg, struct cluster **out, char *err,
                size_t errlen);
/* Says goodbye to every linked peer (they declare us down at once instead of
 * after dead_after_ms), closes the sockets and frees everything. Messages still
 * held are dropped without callbacks: a node that stops cleanly first hands
 * its sessions elsewhere. Not from inside a cluster callback. NULL is fine. */
void cluster_free(struct cluster *c);

/* Sets the membership (the directory's node entries; call again on every
 * change, with the full list). The first call binds our endpoint; later calls
 * connect to new members, reconnect to members whose endpoint or key changed
 * (down first if they were up) and drop removed ones (on_peer_down if up, then
 * on_undelivered). From then on only the keys of listed members pass the ZAP
 * handler, and messages arriving on a connection whose key is no longer a
 * member's are dropped. m is borrowed. Returns PAL_OK; PAL_EINVAL (bad name,
 * endpoint or key, duplicate name or key; nothing changed); PAL_ENOENT (we are
 * not in the list; nothing changed); PAL_EDENIED (the list gives another key
 * for us; nothing changed); PAL_EIO (our endpoint cannot be bound). */
int cluster_set_members(struct cluster *c, const struct cluster_member *m, size_t n);

/* Sends one message to node. type is the application's; frames (0 to
 * CLUSTER_MAX_FRAMES) are copied, so the caller keeps its buffers. Returns
 * PAL_OK once the message is held for node (it goes out now or as soon as the
 * link takes it); PAL_ENOENT (not a member, or ourselves); PAL_EIO (node is
 * not up: nothing was queued, handle the message as undeliverable now);
 * PAL_ELIMIT (node already holds max_queue messages: it is alive but not
 * keeping up); PAL_ERANGE (a frame over max_frame_bytes); PAL_EINVAL. */
int cluster_send(struct cluster *c, const char *node, uint16_t type,
                 const struct cluster_frame *frames, size_t n);
/* Sends one message to every peer that is up (one shared copy). PAL_OK if every
 * one took it (also when none is up); else the error of the last peer that
 * refused it (PAL_ELIMIT), the others still got it; PAL_ERANGE / PAL_EINVAL as
 * for cluster_send, then nobody got it. */
int cluster_broadcast(struct cluster *c, uint16_t type, const struct cluster_frame *frames,
                      size_t n);
/* True when node is a member other than us and its link is up. */
bool cluster_peer_is_up(const struct cluster *c, const char *node);
/* This node's incarnation (microseconds since the epoch at cluster_new); peers
 * see it change when we restart. */
uint64_t cluster_epoch(const struct cluster *c);

enum cluster_peer_state {
    CLUSTER_PEER_SELF,
    CLUSTER_PEER_UP,
    CLUSTER_PEER_DOWN,
};

/* One member as palisadectl status shows it (a copy). */
struct cluster_peer_status {
    char name[CLUSTER_NAME_MAX + 1];
    char site[CLUSTER_SITE_MAX + 1];
    char endpoint[CLUSTER_ENDPOINT_MAX + 1];
    enum cluster_peer_state state;
    int64_t last_heard_ms; /* ms since its last message; -1 never (or self) */
    uint64_t epoch;        /* its incarnation as last heard; 0 unknown (self: ours) */
    uint64_t msgs_in;      /* application messages delivered from it */
    uint64_t msgs_out;     /* application messages sent to it (not counting resends) */
    uint64_t resends;      /* messages sent again after a lost connection */
    uint64_t ups;          /* times the link came up */
    size_t queue_len;      /* messages held for it: waiting + unacknowledged */
};

/* Fills out[0..max) with the members (self first, then in membership order);
 * returns the number of members, which may exceed max. */
size_t cluster_status(const struct cluster *c, struct cluster_peer_status *out, size_t max);
const char *cluster_peer_state_str(enum cluster_peer_state s);

/* Generates a CURVE keypair as two 40-char Z85 strings (NUL-terminated) for
 * provisioning (palisadectl node keygen). PAL_OK or PAL_EIO. */
int cluster_keygen(char pub[CLUSTER_KEY_Z85_LEN + 1], char sec[CLUSTER_KEY_Z85_LEN + 1]);
/* Derives the public key of a Z85 secret key: PAL_OK or PAL_EINVAL. */
int cluster_key_public(const char *sec_z85, char pub[CLUSTER_KEY_Z85_LEN + 1]);

/*
 * Frame codec (cluster/msg.c), for the cluster header and for node/'s own
 * routing frames. Integers are big-endian. A writer fills a caller's buffer; a
 * reader walks borrowed bytes. Errors are sticky: after the first failure every
 * later call fails too, so a sequence of calls needs one check at the end
 * (cluster_msg_finish / cluster_msg_end). Network input never asserts.
 */
struct cluster_msg_writer {
    unsigned char *buf; /* borrowed */
    size_t cap;
    size_t len;
    bool is_overflow;
};

struct cluster_msg_reader {
    const unsigned char *p; /* borrowed */
    size_t len;
    size_t off;
    bool is_bad;
};

void cluster_msg_writer_init(struct cluster_msg_writer *w, void *buf, size_t cap);
void cluster_msg_put_u8(struct cluster_msg_writer *w, uint8_t v);
void cluster_msg_put_u16(struct cluster_msg_writer *w, uint16_t v);
void cluster_msg_put_u32(struct cluster_msg_writer *w, uint32_t v);
void cluster_msg_put_u64(struct cluster_msg_writer *w, uint64_t v);
/* n raw bytes, no length. */
void cluster_msg_put_bytes(struct cluster_msg_writer *w, const void *p, size_t n);
/* A u32 length then the bytes. */
void cluster_msg_put_blob(struct cluster_msg_writer *w, const void *p, size_t n);
/* A u16 length then the bytes of a string (no NUL); over 65535 bytes is an overflow. */
void cluster_msg_put_str(struct cluster_msg_writer *w, const char *s);
/* PAL_OK and *len (bytes written), or PAL_ERANGE if anything did not fit. */
int cluster_msg_finish(const struct cluster_msg_writer *w, size_t *len);

void cluster_msg_reader_init(struct cluster_msg_reader *r, const void *data, size_t len);
/* Each returns PAL_OK, or PAL_EMALFORMED (too short, or an earlier failure);
 * outputs are zeroed on failure. Pointers returned point into the reader's
 * bytes (borrowed). */
int cluster_msg_get_u8(struct cluster_msg_reader *r, uint8_t *v);
int cluster_msg_get_u16(struct cluster_msg_reader *r, uint16_t *v);
int cluster_msg_get_u32(struct cluster_msg_reader *r, uint32_t *v);
int cluster_msg_get_u64(struct cluster_msg_reader *r, uint64_t *v);
int cluster_msg_get_bytes(struct cluster_msg_reader *r, size_t n, const void **p);
int cluster_msg_get_blob(struct cluster_msg_reader *r, const void **p, size_t *n);
/* A string written by cluster_msg_put_str: *s is NOT NUL-terminated (use *n);
 * a string holding a NUL byte is malformed. */
int cluster_msg_get_str(struct cluster_msg_reader *r, const char **s, size_t *n);
/* PAL_OK if every byte was read and nothing failed; PAL_EMALFORMED otherwise
 * (leftover bytes are an error: the peer and we disagree on the format). */
int cluster_msg_end(const struct cluster_msg_reader *r);

#endif
