/* SPDX-License-Identifier: Apache-2.0 */
/* conn.h - one client or peer socket: non-blocking reads and writes through
 * OpenSSL or in the clear, an output queue of refcounted chunks (a stanza is
 * serialized once and queued by reference on every recipient), writes batched
 * in the loop's before-sleep hook, an output limit past which the peer is
 * disconnected, and orderly or abrupt close. The owner learns of a dead
 * connection through on_closed, always called from the loop, never from inside
 * one of the owner's own calls. */
#ifndef PALISADE_CONN_H
#define PALISADE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct server;
struct ev_loop;
struct buf_chunk;

struct conn_callbacks {
    /* Decrypted bytes arrived; the callee consumes all of them. */
    void (*on_data)(void *arg, const char *data, size_t len);
    /* The TLS handshake finished (after conn_start_tls). */
    void (*on_tls_ready)(void *arg);
    /* The connection is dead (peer closed, error, limit, or our close done).
     * reason is for logs. The owner frees the conn (conn_free) afterwards. */
    void (*on_closed)(void *arg, const char *reason);
};

struct conn;

/* Takes ownership of fd (non-blocking is set here). peer is for logs. */
struct conn *conn_new(struct server *srv, int fd, const char *peer,
                      const struct conn_callbacks *cb, void *arg);
/* Frees a connection whose on_closed has run, or closes and frees one that is
 * still open (on_closed is then not called). */
void conn_free(struct conn *c);

/* Starts a server-side TLS handshake; bytes already read are not part of it. */
int conn_start_tls(struct conn *c);
bool conn_is_tls(const struct conn *c);
SSL *conn_ssl(const struct conn *c); /* NULL before TLS */

/* Queues bytes; takes its own reference on chunk. Past the output limit the
 * connection is closed abruptly (reason "output-limit"). */
void conn_send_chunk(struct conn *c, struct buf_chunk *chunk);
void conn_send(struct conn *c, const char *data, size_t len);

/* Stops or resumes reading (rate limits, pending authentication). */
void conn_pause(struct conn *c, bool paused);
/* Closes after the queued output is written (bounded by a short deadline). */
void conn_close(struct conn *c);
/* Closes now, dropping queued output. */
void conn_abort(struct conn *c, const char *reason);
bool conn_is_open(const struct conn *c);
size_t conn_queued_bytes(const struct conn *c);
const char *conn_peer(const struct conn *c);

/* The before-sleep hook flushing every connection with pending output; the
 * server installs it once (arg = the server). */
void conn_flush_all(struct ev_loop *loop, void *arg);

#endif
