/* SPDX-License-Identifier: Apache-2.0 */
/* zap.c - the ZAP handler (ZeroMQ RFC 27): a REP socket on
 * inproc://zeromq.zap.01 in our own context, served from the event loop. Our
 * ROUTER's CURVE handshakes ask it about every connecting client key; it allows
 * exactly the keys of the current members (never our own: no node connects to
 * itself) and answers with the member's name as User-Id and the key as the
 * metadata property X-Palisade-Key. Those two travel on every message of the
 * connection, so cluster.c takes the sender's identity from them and rechecks
 * the pair against the membership of the moment.
 *
 * It must be bound before the ROUTER: libzmq 4.3 lets every CURVE client in
 * when no handler is bound (and ZMQ_ZAP_ENFORCE_DOMAIN is draft API). */
#include "cluster/cluster_int.h"

#include <stdio.h>
#include <string.h>

#include <zmq.h>

#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES 8

static void
on_zap_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    cluster_zap_drain(arg);
}

int
cluster_zap_open(struct cluster *c, char *err, size_t errlen)
{
    size_t sz = sizeof(c->zap_fd);
    int zero = 0;

    c->zap = zmq_socket(c->ctx, ZMQ_REP);
    if (c->zap == NULL)
        goto fail;
    zmq_setsockopt(c->zap, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_bind(c->zap, ZAP_ENDPOINT) != 0)
        goto fail;
    if (zmq_getsockopt(c->zap, ZMQ_FD, &c->zap_fd, &sz) != 0)
        goto fail;
    if (ev_add_fd(c->loop, c->zap_fd, EV_READ, on_zap_fd, c) != PAL_OK) {
        c->zap_fd = -1;
        goto fail;
    }
    return PAL_OK;
fail:
    snprintf(err, errlen, "cluster: ZAP handler: %s", zmq_strerror(zmq_errno()));
    cluster_zap_close(c);
    return PAL_EIO;
}

void
cluster_zap_close(struct cluster *c)
{
    if (c->zap_fd >= 0)
        ev_del_fd(c->loop, c->zap_fd);
    c->zap_fd = -1;
    if (c->zap != NULL)
        zmq_close(c->zap);
    c->zap = NULL;
}

static bool
frame_is(const zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);

    return zmq_msg_size((zmq_msg_t *)m) == n && memcmp(zmq_msg_data((zmq_msg_t *)m), s, n) == 0;
}

/* ZMTP metadata: name length (1 byte), name, value length (4 bytes BE), value. */
static size_t
zap_metadata(unsigned char *buf, const char *name, const char *value)
{
    size_t nl = strlen(name);
    size_t vl = strlen(value);
    size_t o = 0;

    buf[o++] = (unsigned char)nl;
    memcpy(buf + o, name, nl);
    o += nl;
    buf[o++] = (unsigned char)(vl >> 24);
    buf[o++] = (unsigned char)(vl >> 16);
    buf[o++] = (unsigned char)(vl >> 8);
    buf[o++] = (unsigned char)vl;
    memcpy(buf + o, value, vl);
    return o + vl;
}

static void
zap_reply(struct cluster *c, const zmq_msg_t *request_id, const char *code, const char *text,
          const char *user, const char *key_z85)
{
    unsigned char meta[64];
    size_t meta_len = 0;
    zmq_msg_t id;

    if (key_z85 != NULL)
        meta_len = zap_metadata(meta, CLUSTER_ZAP_KEY_PROP, key_z85);
    zmq_msg_init(&id);
    zmq_msg_copy(&id, (zmq_msg_t *)request_id);
    /* inproc to our own context: these do not fail short of a broken context. */
    if (zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE) < 0 || zmq_msg_send(&id, c->zap, ZMQ_SNDMORE) < 0 ||
        zmq_send(c->zap, code, strlen(code), ZMQ_SNDMORE) < 0 ||
        zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE) < 0 ||
        zmq_send(c->zap, user, strlen(user), ZMQ_SNDMORE) < 0 ||
        zmq_send(c->zap, meta, meta_len, 0) < 0)
        log_error("cluster zap-reply-failed error=%s", zmq_strerror(zmq_errno()));
    zmq_msg_close(&id);
}

/* One request: version, request id, domain, address, identity, mechanism,
 * credentials (the 32-byte client key for CURVE). */
static void
zap_handle(struct cluster *c, zmq_msg_t *f, size_t n)
{
    char addr[128];
    char key_z85[CLUSTER_KEY_Z85_LEN + 1];
    struct cluster_peer *p;
    size_t len;

    if (n < 2) {
        /* Cannot even echo a request id; REP still needs a reply. */
        zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(c->zap, "", 0, ZMQ_SNDMORE);
        zmq_send(c->zap, "500", 3, ZMQ_SNDMORE);
        zmq_send(c->zap, "bad request", 11, ZMQ_SNDMORE);
        zmq_send(c->zap, "", 0, ZMQ_SNDMORE);
        zmq_send(c->zap, "", 0, 0);
        return;
    }
    if (n != 7 || !frame_is(&f[0], "1.0") || !frame_is(&f[2], CLUSTER_ZAP_DOMAIN) ||
        !frame_is(&f[5], "CURVE") || zmq_msg_size(&f[6]) != 32) {
        c->n_zap_denied++;
        log_warn("cluster zap-deny reason=bad-request frames=%zu", n);
        zap_reply(c, &f[1], "400", "bad request", "", NULL);
        return;
    }
    len = zmq_msg_size(&f[3]);
    if (len >= sizeof(addr))
        len = sizeof(addr) - 1;
    memcpy(addr, zmq_msg_data(&f[3]), len);
    addr[len] = '\0';
    zmq_z85_encode(key_z85, zmq_msg_data(&f[6]), 32);
    p = cluster_peer_by_key(c, zmq_msg_data(&f[6]));
    if (p == NULL) {
        c->n_zap_denied++;
        log_warn("cluster zap-deny reason=unknown-key key=%s addr=%s", key_z85, addr);
        zap_reply(c, &f[1], "400", "unknown key", "", NULL);
        return;
    }
    c->n_zap_allowed++;
    log_debug("cluster zap-allow node=%s addr=%s", p->name, addr);
    zap_reply(c, &f[1], "200", "OK", p->name, p->key_z85);
}

void
cluster_zap_drain(struct cluster *c)
{
    zmq_msg_t f[ZAP_MAX_FRAMES];
    zmq_msg_t extra;
    size_t n;
    int events;
    size_t sz;
    int more;

    if (c->zap == NULL)
        return;
    for (;;) {
        sz = sizeof(events);
        if (zmq_getsockopt(c->zap, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN))
            return;
        n = 0;
        do {
            if (n < ZAP_MAX_FRAMES) {
                zmq_msg_init(&f[n]);
                if (zmq_msg_recv(&f[n], c->zap, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&f[n]);
                    break;
                }
                more = zmq_msg_more(&f[n]);
                n++;
            } else {
                zmq_msg_init(&extra);
                if (zmq_msg_recv(&extra, c->zap, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&extra);
                    break;
                }
                more = zmq_msg_more(&extra);
                zmq_msg_close(&extra);
                n = ZAP_MAX_FRAMES + 1; /* too many: refused below */
            }
        } while (more);
        if (n == 0)
            return;
        zap_handle(c, f, n > ZAP_MAX_FRAMES ? 0 : n);
        for (size_t i = 0; i < n && i < ZAP_MAX_FRAMES; i++)
            zmq_msg_close(&f[i]);
    }
}
