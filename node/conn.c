/* SPDX-License-Identifier: Apache-2.0 */
/* conn.c - sockets and OpenSSL for client streams. Step 1 of the stanza path:
 * conn_on_event() reads (through OpenSSL when TLS is up) and hands the bytes to
 * the owner (c2s), which feeds the stream parser. Output is a queue of chunk
 * references written in the before-sleep hook, so everything a loop iteration
 * produced for one peer leaves in one write (one TLS record for small stanzas). */
#include "node/conn.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"
#include "node/server.h"
#include "node/settings.h"
#include "node/tls.h"

#define CONN_READ_SIZE 16384
#define CONN_READ_BUDGET (1024 * 1024) /* per wakeup, for fairness */
#define CONN_TLS_BATCH 16384           /* coalesce queued chunks into one record */
#define CONN_CLOSE_DEADLINE_MS 2000

enum conn_state { CONN_OPEN, CONN_CLOSING, CONN_DEAD };

struct conn_out {
    struct buf_chunk *chunk;
    struct conn_out *next;
};

struct conn {
    struct server *srv;
    int fd;
    SSL *ssl;
    bool handshaking;
    bool paused;
    bool want_write;      /* the socket (or SSL) asked to wait for writability */
    bool ssl_read_wants_write;
    bool in_dirty;
    bool closed_reported; /* on_closed has been called */
    bool in_callback;     /* guards re-entry from owner callbacks */
    enum conn_state state;
    const char *reason;   /* why it died (static string) */
    struct conn_out *head, *tail;
    size_t head_off;      /* bytes of head->chunk already written (plain) */
    size_t queued;        /* bytes queued and not yet written */
    struct buf tlsbuf;    /* TLS staging: bytes handed to SSL_write */
    size_t ssl_retry_len; /* length of a write SSL asked to retry, 0 if none */
    uint64_t close_timer;
    uint64_t resume_timer;
    unsigned mask;        /* registered ev mask */
    struct conn *next_dirty;
    const struct conn_callbacks *cb;
    void *arg;
    char peer[64];
};

static void conn_on_event(struct ev_loop *loop, int fd, unsigned events, void *arg);

static void
conn_mark_dirty(struct conn *c)
{
    if (c->in_dirty)
        return;
    c->in_dirty = true;
    c->next_dirty = c->srv->dirty;
    c->srv->dirty = c;
}

static void
conn_update_mask(struct conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    unsigned mask = 0;
    if (!c->paused || c->handshaking)
        mask |= EV_READ;
    if (c->want_write || c->ssl_read_wants_write || (c->handshaking && c->want_write))
        mask |= EV_WRITE;
    if (mask != c->mask) {
        ev_mod_fd(c->srv->loop, c->fd, mask);
        c->mask = mask;
    }
}

struct conn *
conn_new(struct server *srv, int fd, const char *peer, const struct conn_callbacks *cb, void *arg)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->fd = fd;
    c->cb = cb;
    c->arg = arg;
    c->state = CONN_OPEN;
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "?");
    buf_init(&c->tlsbuf);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    c->mask = EV_READ;
    if (ev_add_fd(srv->loop, fd, EV_READ, conn_on_event, c) != PAL_OK) {
        c->state = CONN_DEAD;
        c->reason = "ev-add-failed";
        conn_mark_dirty(c);
    }
    return c;
}

static void
conn_drop_output(struct conn *c)
{
    while (c->head) {
        struct conn_out *o = c->head;
        c->head = o->next;
        buf_chunk_unref(o->chunk);
        free(o);
    }
    c->tail = NULL;
    c->head_off = 0;
    c->queued = 0;
    buf_free(&c->tlsbuf);
    c->ssl_retry_len = 0;
}

/* Makes the connection dead now: fd closed, output dropped; the owner hears
 * of it from the flush hook. */
static void
conn_kill(struct conn *c, const char *reason)
{
    if (c->state == CONN_DEAD)
        return;
    c->state = CONN_DEAD;
    c->reason = reason;
    ev_del_fd(c->srv->loop, c->fd);
    ev_timer_del(c->srv->loop, c->close_timer);
    ev_timer_del(c->srv->loop, c->resume_timer);
    c->close_timer = c->resume_timer = 0;
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    conn_drop_output(c);
    conn_mark_dirty(c);
}

void
conn_free(struct conn *c)
{
    if (!c)
        return;
    if (c->state != CONN_DEAD)
        conn_kill(c, "freed");
    /* Unlink from the dirty list. */
    for (struct conn **pp = &c->srv->dirty; *pp; pp = &(*pp)->next_dirty) {
        if (*pp == c) {
            *pp = c->next_dirty;
            break;
        }
    }
    free(c);
}

bool
conn_is_open(const struct conn *c)
{
    return c->state == CONN_OPEN;
}

bool
conn_is_tls(const struct conn *c)
{
    return c->ssl != NULL && !c->handshaking;
}

SSL *
conn_ssl(const struct conn *c)
{
    return c->handshaking ? NULL : c->ssl;
}

size_t
conn_queued_bytes(const struct conn *c)
{
    return c->queued + buf_used(&c->tlsbuf);
}

const char *
conn_peer(const struct conn *c)
{
    return c->peer;
}

void
conn_send_chunk(struct conn *c, struct buf_chunk *chunk)
{
    if (c->state != CONN_OPEN || chunk->len == 0)
        return;
    if ((int64_t)(conn_queued_bytes(c) + chunk->len) > c->srv->cfg->max_output_bytes) {
        log_notice("conn output-limit peer=%s queued=%zu", c->peer, conn_queued_bytes(c));
        conn_kill(c, "output-limit");
        return;
    }
    struct conn_out *o = xmalloc(sizeof *o);
    o->chunk = buf_chunk_ref(chunk);
    o->next = NULL;
    if (c->tail)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    c->queued += chunk->len;
    conn_mark_dirty(c);
}

void
conn_send(struct conn *c, const char *data, size_t len)
{
    struct buf_chunk *ch = buf_chunk_new(data, len);
    conn_send_chunk(c, ch);
    buf_chunk_unref(ch);
}

static void
conn_resume_cb(struct ev_loop *loop, void *arg)
{
    struct conn *c = arg;
    (void)loop;
    c->resume_timer = 0;
    if (c->state != CONN_DEAD && !c->paused)
        conn_on_event(c->srv->loop, c->fd, EV_READ, c);
}

/* Reads on the next loop turn: for input the socket will not signal again
 * (OpenSSL holds it) or that a read left for later (the budget). */
static void
conn_read_later(struct conn *c)
{
    if (!c->resume_timer)
        c->resume_timer = ev_timer_add(c->srv->loop, 0, conn_resume_cb, c);
}

void
conn_pause(struct conn *c, bool paused)
{
    if (c->state == CONN_DEAD || c->paused == paused)
        return;
    c->paused = paused;
    conn_update_mask(c);
    /* OpenSSL may hold decrypted bytes the socket will not signal again. */
    if (!paused && c->ssl)
        conn_read_later(c);
}

static void
conn_close_deadline(struct ev_loop *loop, void *arg)
{
    struct conn *c = arg;
    (void)loop;
    c->close_timer = 0;
    conn_kill(c, "closed");
}

void
conn_close(struct conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    c->state = CONN_CLOSING;
    c->paused = true;
    conn_update_mask(c);
    c->close_timer = ev_timer_add(c->srv->loop, CONN_CLOSE_DEADLINE_MS, conn_close_deadline, c);
    conn_mark_dirty(c);
}

void
conn_abort(struct conn *c, const char *reason)
{
    conn_kill(c, reason);
}

/* Plain output: writev straight from the chunks. */
static int
conn_flush_plain(struct conn *c)
{
    while (c->head) {
        struct iovec iov[64];
        int n = 0;
        size_t off = c->head_off;
        for (struct conn_out *o = c->head; o && n < 64; o = o->next) {
            iov[n].iov_base = o->chunk->data + off;
            iov[n].iov_len = o->chunk->len - off;
            off = 0;
            n++;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->want_write = true;
                return PAL_OK;
            }
            if (errno == EINTR)
                continue;
            return PAL_EIO;
        }
        size_t left = (size_t)w;
        c->queued -= left;
        while (left > 0 && c->head) {
            size_t avail = c->head->chunk->len - c->head_off;
            if (left < avail) {
                c->head_off += left;
                left = 0;
            } else {
                left -= avail;
                struct conn_out *o = c->head;
                c->head = o->next;
                if (!c->head)
                    c->tail = NULL;
                c->head_off = 0;
                buf_chunk_unref(o->chunk);
                free(o);
            }
        }
    }
    c->want_write = false;
    return PAL_OK;
}

/* TLS output: stage queued chunks into one buffer (one record per batch) and
 * SSL_write it; a write SSL asked to retry is retried with the same length. */
static int
conn_flush_tls(struct conn *c)
{
    for (;;) {
        if (buf_used(&c->tlsbuf) == 0) {
            buf_reset(&c->tlsbuf);
            while (c->head && buf_used(&c->tlsbuf) < CONN_TLS_BATCH) {
                struct conn_out *o = c->head;
                buf_append(&c->tlsbuf, o->chunk->data, o->chunk->len);
                c->queued -= o->chunk->len;
                c->head = o->next;
                if (!c->head)
                    c->tail = NULL;
                buf_chunk_unref(o->chunk);
                free(o);
            }
            if (buf_used(&c->tlsbuf) == 0) {
                buf_free(&c->tlsbuf); /* idle sessions hold no staging memory */
                c->want_write = false;
                return PAL_OK;
            }
        }
        size_t len = c->ssl_retry_len ? c->ssl_retry_len : buf_used(&c->tlsbuf);
        if (len > (size_t)INT32_MAX)
            len = INT32_MAX;
        ERR_clear_error();
        int w = SSL_write(c->ssl, buf_head(&c->tlsbuf), (int)len);
        if (w > 0) {
            c->ssl_retry_len = 0;
            buf_consume(&c->tlsbuf, (size_t)w);
            continue;
        }
        int e = SSL_get_error(c->ssl, w);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            c->ssl_retry_len = len;
            c->want_write = (e == SSL_ERROR_WANT_WRITE);
            return PAL_OK;
        }
        return PAL_ETLS;
    }
}

static void conn_do_handshake(struct conn *c);

/* Before the handshake, plaintext queued earlier (<proceed/>) must leave
 * first, in the clear. */
static void
conn_flush_before_handshake(struct conn *c)
{
    if (c->queued > 0 && conn_flush_plain(c) != PAL_OK) {
        conn_kill(c, "write-error");
        return;
    }
    if (c->queued == 0)
        conn_do_handshake(c);
    else
        conn_update_mask(c);
}

static void
conn_flush(struct conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    if (c->handshaking) {
        if (c->queued > 0)
            conn_flush_before_handshake(c);
        return;
    }
    int rc = c->ssl ? conn_flush_tls(c) : conn_flush_plain(c);
    if (rc != PAL_OK) {
        conn_kill(c, "write-error");
        return;
    }
    if (c->state == CONN_CLOSING && conn_queued_bytes(c) == 0) {
        if (c->ssl) {
            ERR_clear_error();
            SSL_shutdown(c->ssl); /* close_notify; we do not wait for the peer's */
        }
        shutdown(c->fd, SHUT_WR);
        conn_kill(c, "closed");
        return;
    }
    conn_update_mask(c);
}

void
conn_flush_all(struct ev_loop *loop, void *arg)
{
    struct server *srv = arg;
    (void)loop;
    /* Owners may queue more or close others while we report deaths: loop until
     * the list stays empty. */
    while (srv->dirty) {
        struct conn *c = srv->dirty;
        srv->dirty = c->next_dirty;
        c->in_dirty = false;
        c->next_dirty = NULL;
        if (c->state != CONN_DEAD)
            conn_flush(c);
        if (c->state == CONN_DEAD && !c->closed_reported) {
            c->closed_reported = true;
            c->cb->on_closed(c->arg, c->reason ? c->reason : "closed");
        }
    }
}

static void
conn_do_handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        c->handshaking = false;
        c->want_write = false;
        log_trace(TRACE_TLS, "tls established peer=%s version=%s cipher=%s", c->peer,
                  SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
        conn_update_mask(c);
        c->cb->on_tls_ready(c->arg);
        conn_mark_dirty(c);
        /* Read-ahead may have taken the client's next bytes (its stream header
         * right behind its Finished) with the handshake: the socket will not
         * signal them again. */
        if (c->state == CONN_OPEN && c->ssl && SSL_has_pending(c->ssl))
            conn_read_later(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        c->want_write = false;
        conn_update_mask(c);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        c->want_write = true;
        conn_update_mask(c);
        return;
    }
    char detail[160];
    ERR_error_string_n(ERR_get_error(), detail, sizeof detail);
    log_info("tls handshake-failed peer=%s reason=\"%s\"", c->peer, detail);
    conn_kill(c, "tls-handshake-failed");
}

int
conn_start_tls(struct conn *c)
{
    if (c->ssl || c->state != CONN_OPEN)
        return PAL_EINVAL;
    c->ssl = SSL_new(c->srv->tls->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_kill(c, "tls-setup-failed");
        return PAL_ETLS;
    }
    SSL_set_accept_state(c->ssl);
    c->handshaking = true;
    conn_flush_before_handshake(c);
    return PAL_OK;
}

static void
conn_read_plain(struct conn *c)
{
    char data[CONN_READ_SIZE];
    size_t total = 0;
    while (c->state == CONN_OPEN && !c->paused && !c->ssl && total < CONN_READ_BUDGET) {
        ssize_t n = read(c->fd, data, sizeof data);
        if (n > 0) {
            total += (size_t)n;
            c->cb->on_data(c->arg, data, (size_t)n);
            /* A short read drained the socket: the level-triggered loop
             * reports more input, so no read is spent only to hear EAGAIN. */
            if ((size_t)n < sizeof data)
                return;
            continue;
        }
        if (n == 0) {
            conn_kill(c, "peer-closed");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            conn_kill(c, "read-error");
        return;
    }
}

static void
conn_read_tls(struct conn *c)
{
    char data[CONN_READ_SIZE];
    size_t total = 0;
    c->ssl_read_wants_write = false;
    while (c->state == CONN_OPEN && !c->paused && c->ssl && !c->handshaking) {
        if (total >= CONN_READ_BUDGET) {
            conn_read_later(c);
            return;
        }
        ERR_clear_error();
        int n = SSL_read(c->ssl, data, sizeof data);
        if (n > 0) {
            total += (size_t)n;
            c->cb->on_data(c->arg, data, (size_t)n);
            /* As for plain reads, unless OpenSSL holds bytes the socket will
             * not signal again. */
            if ((size_t)n < sizeof data && c->state == CONN_OPEN && c->ssl &&
                !SSL_has_pending(c->ssl))
                return;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            return;
        if (e == SSL_ERROR_WANT_WRITE) {
            c->ssl_read_wants_write = true;
            conn_update_mask(c);
            return;
        }
        conn_kill(c, e == SSL_ERROR_ZERO_RETURN ? "peer-closed" : "tls-read-error");
        return;
    }
}

static void
conn_on_event(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct conn *c = arg;
    (void)loop;
    (void)fd;
    if (c->state == CONN_DEAD)
        return;
    if ((events & EV_HUP) && (c->paused || c->state == CONN_CLOSING)) {
        conn_kill(c, "peer-closed");
        return;
    }
    if (c->handshaking) {
        conn_flush_before_handshake(c);
        return;
    }
    if ((events & EV_WRITE) && (c->want_write || c->ssl_read_wants_write)) {
        c->want_write = false;
        conn_mark_dirty(c);
    }
    if ((events & (EV_READ | EV_HUP)) || c->ssl_read_wants_write) {
        if (c->state == CONN_CLOSING) {
            /* Draining: discard input, notice the peer's close. */
            char sink[4096];
            ssize_t n = read(c->fd, sink, sizeof sink);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                conn_kill(c, "closed");
            return;
        }
        if (c->ssl)
            conn_read_tls(c);
        else
            conn_read_plain(c);
    }
}
