/* SPDX-License-Identifier: Apache-2.0 */
/* client.c - one XMPP client connection of the load generator, as a state
 * machine on an edge-triggered epoll loop: connect, stream header, STARTTLS or
 * direct TLS, SASL (PLAIN or SCRAM-SHA-256), bind, initial presence; then the
 * scenario's messages. Output is queued per client and leaves once per loop
 * iteration (client_flush_all), so what one iteration produced for one
 * connection goes out in one write. Endings are reported to the scenario after
 * the event batch, never from inside a read. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/mem.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_SECLABEL "urn:xmpp:sec-label:0"
#define READ_CHUNK 16384
#define MAX_EVENTS 512

struct client_counters client_ctr;

static struct {
    int ep;
    SSL_CTX *ctx;
    struct client_hooks hooks;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct sockaddr_storage addr2;  /* --peer-port */
    socklen_t addr2len;
    struct client *dirty;
    struct client **ended;
    size_t n_ended, cap_ended;
    uint64_t resource_seq;
} g;

static const char *const state_names[] = {
    [CL_IDLE] = "idle",       [CL_CONNECTING] = "connect", [CL_TLS] = "tls-handshake",
    [CL_HEADER] = "features", [CL_PROCEED] = "starttls",   [CL_SASL] = "sasl",
    [CL_BIND] = "bind",       [CL_READY] = "ready",        [CL_CLOSING] = "closing",
    [CL_DONE] = "done",       [CL_FAILED] = "failed",
};

const char *
client_user_name(int user, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%0*d", bench_opt.prefix, bench_opt.width, user);
    return buf;
}

void
client_global_init(const struct client_hooks *hooks)
{
    memset(&client_ctr, 0, sizeof client_ctr);
    if (hooks)
        g.hooks = *hooks;
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0) {
        perror("palisade-bench: epoll_create1");
        exit(1);
    }
    struct addrinfo hints = {0};
    struct addrinfo *ai = NULL;
    char port[16];
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof port, "%d", bench_opt.port);
    int rc = getaddrinfo(bench_opt.host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "palisade-bench: %s: %s\n", bench_opt.host, gai_strerror(rc));
        exit(2);
    }
    memcpy(&g.addr, ai->ai_addr, ai->ai_addrlen);
    g.addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    memcpy(&g.addr2, &g.addr, g.addrlen);
    g.addr2len = g.addrlen;
    if (bench_opt.peer_port > 0) {
        snprintf(port, sizeof port, "%d", bench_opt.peer_port);
        rc = getaddrinfo(bench_opt.host, port, &hints, &ai);
        if (rc != 0) {
            fprintf(stderr, "palisade-bench: %s: %s\n", bench_opt.host, gai_strerror(rc));
            exit(2);
        }
        memcpy(&g.addr2, ai->ai_addr, ai->ai_addrlen);
        g.addr2len = ai->ai_addrlen;
        freeaddrinfo(ai);
    }
    if (bench_opt.tls != BENCH_TLS_NONE) {
        g.ctx = SSL_CTX_new(TLS_client_method());
        if (!g.ctx) {
            fprintf(stderr, "palisade-bench: SSL_CTX_new failed\n");
            exit(1);
        }
        /* The bench talks to scratch servers with self-signed certificates. */
        SSL_CTX_set_verify(g.ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_session_cache_mode(g.ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_mode(g.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                    SSL_MODE_RELEASE_BUFFERS);
    }
}

void
client_global_free(void)
{
    if (g.ctx)
        SSL_CTX_free(g.ctx);
    g.ctx = NULL;
    if (g.ep >= 0)
        close(g.ep);
    g.ep = -1;
    free(g.ended);
    g.ended = NULL;
    g.n_ended = g.cap_ended = 0;
}

/* ---- endings ---- */

static void
client_close_fd(struct client *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
    }
}

static void
client_end(struct client *c, enum client_state st, const char *reason)
{
    if (c->state == CL_DONE || c->state == CL_FAILED || c->state == CL_IDLE)
        return;
    if (st == CL_FAILED) {
        client_ctr.failures++;
        if (!client_ctr.first_failure[0])
            snprintf(client_ctr.first_failure, sizeof client_ctr.first_failure,
                     "client %d (user %d) in state %s: %s", c->idx, c->user,
                     state_names[c->state], reason);
        c->fail_reason = reason;
    }
    if (st == CL_DONE && c->ssl && c->tls_up)
        SSL_shutdown(c->ssl); /* close_notify; no wait for the server's */
    client_close_fd(c);
    c->state = st;
    c->out_off = c->out_len = 0;
    if (g.n_ended == g.cap_ended) {
        g.cap_ended = g.cap_ended ? g.cap_ended * 2 : 256;
        g.ended = xrealloc(g.ended, g.cap_ended * sizeof *g.ended);
    }
    g.ended[g.n_ended++] = c;
}

static void
client_fail(struct client *c, const char *reason)
{
    client_end(c, CL_FAILED, reason);
}

void
client_abort(struct client *c)
{
    client_close_fd(c);
    c->state = CL_DONE;
    c->out_off = c->out_len = 0;
}

void
client_reset(struct client *c)
{
    client_close_fd(c);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->in_cap = 0;
    c->out_off = c->out_len = c->out_cap = 0;
    scram_free(c->scram);
    c->scram = NULL;
    bench_bitmap_free(&c->seen);
    c->state = CL_IDLE;
}

/* ---- output ---- */

void
client_send(struct client *c, const char *data, size_t len)
{
    if (c->state == CL_DONE || c->state == CL_FAILED || c->state == CL_IDLE)
        return;
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + len > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 1024;
            while (cap < c->out_len + len)
                cap *= 2;
            c->out = xrealloc(c->out, cap);
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = g.dirty;
        g.dirty = c;
    }
}

static void
client_send_str(struct client *c, const char *s)
{
    client_send(c, s, strlen(s));
}

static void
client_flush(struct client *c)
{
    if (c->fd < 0 || c->state == CL_CONNECTING || c->state == CL_TLS)
        return;
    while (c->out_off < c->out_len) {
        size_t left = c->out_len - c->out_off;
        if (c->ssl) {
            ERR_clear_error();
            int w = SSL_write(c->ssl, c->out + c->out_off, (int)(left > 65536 ? 65536 : left));
            if (w > 0) {
                c->out_off += (size_t)w;
                continue;
            }
            int e = SSL_get_error(c->ssl, w);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                c->want_write = true;
                return;
            }
            client_fail(c, "TLS write error");
            return;
        }
        ssize_t w = write(c->fd, c->out + c->out_off, left);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->want_write = true;
            return;
        }
        client_fail(c, "write error");
        return;
    }
    c->out_off = c->out_len = 0;
    c->want_write = false;
}

void
client_flush_all(void)
{
    while (g.dirty) {
        struct client *c = g.dirty;
        g.dirty = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        if (c->state != CL_DONE && c->state != CL_FAILED && c->state != CL_IDLE)
            client_flush(c);
    }
}

/* ---- the stream ---- */

static void
client_send_header(struct client *c)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr,
             "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
             bench_opt.domain);
    client_send_str(c, hdr);
    c->state = CL_HEADER;
}

static void
client_tls_handshake(struct client *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->tls_up = true;
        client_send_header(c);
        client_flush(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    client_fail(c, "TLS handshake failed");
}

static void
client_begin_tls(struct client *c)
{
    c->ssl = SSL_new(g.ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        client_fail(c, "SSL_new failed");
        return;
    }
    SSL_set_tlsext_host_name(c->ssl, bench_opt.domain);
    SSL_set_connect_state(c->ssl);
    c->state = CL_TLS;
    client_tls_handshake(c);
}

static void
client_send_auth(struct client *c, const struct scan_item *features)
{
    const char *mech = bench_opt.mech == BENCH_MECH_PLAIN ? "PLAIN" : "SCRAM-SHA-256";
    char want[64];
    snprintf(want, sizeof want, ">%s<", mech);
    if (!scan_find(features->start, features->len, want, strlen(want))) {
        client_fail(c, bench_opt.mech == BENCH_MECH_PLAIN
                           ? "the server does not offer PLAIN here"
                           : "the server does not offer SCRAM-SHA-256 here");
        return;
    }
    char user[64];
    client_user_name(c->user, user, sizeof user);
    char msg[512];
    char b64[800];
    size_t n;
    if (bench_opt.mech == BENCH_MECH_PLAIN) {
        int len = snprintf(msg, sizeof msg, "%c%s%c%s", 0, user, 0, bench_opt.password);
        n = bench_b64_encode(msg, (size_t)len, b64);
    } else {
        scram_free(c->scram);
        c->scram = scram_new(user, bench_opt.password);
        const char *first = scram_client_first(c->scram);
        n = bench_b64_encode(first, strlen(first), b64);
    }
    char out[1024];
    snprintf(out, sizeof out, "<auth xmlns='" NS_SASL "' mechanism='%s'>%.*s</auth>", mech,
             (int)n, b64);
    client_send_str(c, out);
    c->state = CL_SASL;
}

static void
client_send_bind(struct client *c)
{
    char out[256];
    snprintf(out, sizeof out,
             "<iq type='set' id='bind1'><bind xmlns='" NS_BIND "'><resource>b%llu</resource>"
             "</bind></iq>",
             (unsigned long long)++g.resource_seq);
    client_send_str(c, out);
    c->state = CL_BIND;
}

static void
client_on_features(struct client *c, const struct scan_item *it)
{
    if (!c->tls_up && bench_opt.tls == BENCH_TLS_STARTTLS) {
        if (!scan_find(it->start, it->len, "<starttls", 9)) {
            client_fail(c, "no <starttls/> offered");
            return;
        }
        client_send_str(c, "<starttls xmlns='" NS_TLS "'/>");
        c->state = CL_PROCEED;
        return;
    }
    if (!c->authed)
        client_send_auth(c, it);
    else
        client_send_bind(c);
}

static void
client_on_sasl(struct client *c, const struct scan_item *it)
{
    const char *txt = it->start + it->tag_len;
    size_t tlen = 0;
    const char *end = memchr(txt, '<', it->len - it->tag_len);
    if (end)
        tlen = (size_t)(end - txt);
    if (it->start[it->tag_len - 2] == '/')
        tlen = 0;
    unsigned char dec[1024];
    long dlen = 0;
    if (tlen > 0 && !(tlen == 1 && txt[0] == '=')) {
        if (tlen > 4 * (sizeof dec / 3) || (dlen = bench_b64_decode(txt, tlen, dec)) < 0) {
            client_fail(c, "bad base64 from the server");
            return;
        }
    }
    if (scan_name_is(it, "challenge")) {
        if (!c->scram) {
            client_fail(c, "unexpected SASL challenge");
            return;
        }
        const char *fin = scram_client_final(c->scram, (const char *)dec, (size_t)dlen);
        if (!fin) {
            client_fail(c, "malformed SCRAM server-first message");
            return;
        }
        char b64[1024];
        size_t n = bench_b64_encode(fin, strlen(fin), b64);
        char out[1200];
        snprintf(out, sizeof out, "<response xmlns='" NS_SASL "'>%.*s</response>", (int)n, b64);
        client_send_str(c, out);
        return;
    }
    if (scan_name_is(it, "success")) {
        if (c->scram && !scram_server_final_ok(c->scram, (const char *)dec, (size_t)dlen)) {
            client_fail(c, "the SCRAM server signature does not verify");
            return;
        }
        scram_free(c->scram);
        c->scram = NULL;
        c->authed = true;
        client_send_header(c);
        return;
    }
    client_fail(c, scan_name_is(it, "failure") ? "SASL failure" : "unexpected SASL element");
}

/* Answers an iq get/set from the server: disco#info says we support labels
 * (so no FLOT rewriting of bodies), anything else is service-unavailable. */
static void
client_answer_iq(struct client *c, const struct scan_item *it)
{
    const char *id = "";
    const char *from = NULL;
    size_t idlen = 0;
    size_t fromlen = 0;
    scan_attr(it->start, it->tag_len, "id", &id, &idlen);
    scan_attr(it->start, it->tag_len, "from", &from, &fromlen);
    char out[1024];
    char to[300] = "";
    if (from && fromlen < 250)
        snprintf(to, sizeof to, " to=\"%.*s\"", (int)fromlen, from);
    if (idlen > 200)
        idlen = 200;
    if (scan_find(it->start, it->len, NS_DISCO_INFO, strlen(NS_DISCO_INFO))) {
        snprintf(out, sizeof out,
                 "<iq type='result' id=\"%.*s\"%s><query xmlns='" NS_DISCO_INFO "'>"
                 "<identity category='client' type='bot' name='palisade-bench'/>"
                 "<feature var='" NS_DISCO_INFO "'/><feature var='" NS_SECLABEL "'/>"
                 "</query></iq>",
                 (int)idlen, id, to);
        client_ctr.disco_answered++;
    } else {
        snprintf(out, sizeof out,
                 "<iq type='error' id=\"%.*s\"%s><error type='cancel'><service-unavailable "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
                 (int)idlen, id, to);
    }
    client_send_str(c, out);
}

bool
client_type_is(const struct scan_item *it, const char *type)
{
    const char *v;
    size_t n;
    return scan_attr(it->start, it->tag_len, "type", &v, &n) && n == strlen(type) &&
           memcmp(v, type, n) == 0;
}

static void
client_on_iq(struct client *c, const struct scan_item *it)
{
    if (client_type_is(it, "get") || client_type_is(it, "set")) {
        client_answer_iq(c, it);
        return;
    }
    const char *id;
    size_t idlen;
    bool is_bind = c->state == CL_BIND && scan_attr(it->start, it->tag_len, "id", &id, &idlen) &&
                   idlen == 5 && memcmp(id, "bind1", 5) == 0;
    if (!is_bind) {
        if (client_type_is(it, "error")) {
            client_ctr.stanza_errors++;
            if (!client_ctr.first_failure[0])
                snprintf(client_ctr.first_failure, sizeof client_ctr.first_failure,
                         "iq error: %.*s", (int)(it->len < 120 ? it->len : 120), it->start);
        }
        if (c->state == CL_READY && g.hooks.on_iq_result)
            g.hooks.on_iq_result(c, it);
        return;
    }
    if (client_type_is(it, "error")) {
        client_ctr.stanza_errors++;
        client_fail(c, "bind refused");
        return;
    }
    const char *jid;
    size_t jlen;
    if (!scan_child_text(it, "jid", &jid, &jlen) || jlen >= sizeof c->jid) {
        client_fail(c, "bind result without a JID");
        return;
    }
    memcpy(c->jid, jid, jlen);
    c->jid[jlen] = '\0';
    c->t_ready = bench_now_ns();
    client_send_str(c, "<presence/>");
    c->state = CL_READY;
    if (g.hooks.on_ready)
        g.hooks.on_ready(c);
}

/* Handles one item; returns false when the rest of the input must not be
 * read as this stream (STARTTLS, the end). */
static bool
client_on_item(struct client *c, const struct scan_item *it)
{
    switch (it->kind) {
    case SCAN_MORE:
        return true;
    case SCAN_ERROR:
        client_fail(c, "input the scanner does not understand");
        return false;
    case SCAN_OPEN:
        return true;
    case SCAN_CLOSE:
        if (c->state == CL_CLOSING) {
            client_end(c, CL_DONE, "closed");
        } else {
            client_ctr.unexpected_close++;
            client_fail(c, "the server closed the stream");
        }
        return false;
    case SCAN_ELEM:
        break;
    }
    if (c->state == CL_READY || c->state == CL_CLOSING) {
        if (scan_name_is(it, "message")) {
            if (client_type_is(it, "error")) {
                client_ctr.stanza_errors++;
                if (!client_ctr.first_failure[0])
                    snprintf(client_ctr.first_failure, sizeof client_ctr.first_failure,
                             "message error: %.*s", (int)(it->len < 120 ? it->len : 120),
                             it->start);
            } else if (g.hooks.on_message) {
                g.hooks.on_message(c, it);
            }
            return true;
        }
        if (scan_name_is(it, "presence")) {
            if (client_type_is(it, "error")) {
                client_ctr.stanza_errors++;
                if (!client_ctr.first_failure[0])
                    snprintf(client_ctr.first_failure, sizeof client_ctr.first_failure,
                             "presence error: %.*s", (int)(it->len < 120 ? it->len : 120),
                             it->start);
            }
            if (g.hooks.on_presence)
                g.hooks.on_presence(c, it);
            return true;
        }
    }
    if (scan_name_is(it, "iq")) {
        client_on_iq(c, it);
        return true;
    }
    if (scan_name_is(it, "stream:error")) {
        client_ctr.stream_errors++;
        static char reason[96];
        const char *e = it->start + it->tag_len;
        snprintf(reason, sizeof reason, "stream error %.*s",
                 (int)(it->len - it->tag_len < 60 ? it->len - it->tag_len : 60), e);
        client_fail(c, reason);
        return false;
    }
    switch (c->state) {
    case CL_HEADER:
        if (scan_name_is(it, "stream:features"))
            client_on_features(c, it);
        return true;
    case CL_PROCEED:
        if (scan_name_is(it, "proceed")) {
            client_begin_tls(c);
            return false;
        }
        client_fail(c, "STARTTLS refused");
        return false;
    case CL_SASL:
        client_on_sasl(c, it);
        return true;
    default:
        return true;
    }
}

static void
client_process_input(struct client *c)
{
    size_t off = 0;
    while (off < c->in_len && c->fd >= 0) {
        struct scan_item it;
        size_t k = scan_next(c->in + off, c->in_len - off, &it);
        off += k;
        if (it.kind == SCAN_MORE)
            break;
        if (!client_on_item(c, &it)) {
            off = c->in_len;
            break;
        }
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void
client_read(struct client *c)
{
    for (;;) {
        if (c->fd < 0 || c->state == CL_TLS || c->state == CL_DONE || c->state == CL_FAILED)
            return;
        if (c->in_cap - c->in_len < READ_CHUNK) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
            c->in = xrealloc(c->in, cap);
            c->in_cap = cap;
        }
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
            if (r > 0) {
                n = r;
            } else {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->want_write = true;
                    return;
                }
                n = e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -2;
            }
        } else {
            n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
        }
        if (n == 0) {
            if (c->state == CL_CLOSING) {
                client_end(c, CL_DONE, "closed");
            } else {
                client_ctr.unexpected_close++;
                client_fail(c, "the server closed the connection");
            }
            return;
        }
        if (n < 0) {
            client_fail(c, c->ssl ? "TLS read error" : "read error");
            return;
        }
        c->in_len += (size_t)n;
        client_process_input(c);
    }
}

static void
client_on_event(struct client *c, uint32_t ev)
{
    if (c->state == CL_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
            static char reason[96];
            snprintf(reason, sizeof reason, "connect: %s", strerror(err));
            client_fail(c, reason);
            return;
        }
        if (!(ev & EPOLLOUT))
            return;
        if (bench_opt.tls == BENCH_TLS_DIRECT) {
            client_begin_tls(c);
        } else {
            client_send_header(c);
            client_flush(c);
        }
        return;
    }
    if (c->state == CL_TLS) {
        client_tls_handshake(c);
        if (c->state == CL_TLS)
            return;
    }
    if ((ev & EPOLLOUT) && c->want_write)
        client_flush(c);
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        client_read(c);
    /* TLS may need a read to finish a write, or the reverse. */
    if (c->ssl && c->want_write && c->fd >= 0)
        client_flush(c);
}

void
client_start(struct client *c, uint64_t deadline)
{
    c->in_len = 0;
    c->out_off = c->out_len = 0;
    c->tls_up = false;
    c->authed = false;
    c->want_write = false;
    c->jid[0] = '\0';
    c->fail_reason = NULL;
    c->deadline = deadline;
    c->t_start = bench_now_ns();
    c->t_ready = 0;
    c->state = CL_CONNECTING;
    c->fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        static char reason[96];
        snprintf(reason, sizeof reason, "socket: %s", strerror(errno));
        client_fail(c, reason);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const struct sockaddr *sa = (const struct sockaddr *)(c->alt_port ? &g.addr2 : &g.addr);
    socklen_t salen = c->alt_port ? g.addr2len : g.addrlen;
    if (connect(c->fd, sa, salen) != 0 && errno != EINPROGRESS) {
        static char reason[96];
        snprintf(reason, sizeof reason, "connect: %s", strerror(errno));
        client_fail(c, reason);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        client_fail(c, "epoll_ctl failed");
        return;
    }
}

void
client_close(struct client *c, uint64_t deadline)
{
    if (c->state == CL_DONE || c->state == CL_FAILED || c->state == CL_IDLE ||
        c->state == CL_CLOSING)
        return;
    if (c->state != CL_READY) {
        client_end(c, CL_DONE, "closed early");
        return;
    }
    client_send_str(c, "</stream:stream>");
    c->state = CL_CLOSING;
    c->deadline = deadline;
}

static void
client_run_ended(void)
{
    /* Hooks may end or restart other clients: take the list first. */
    while (g.n_ended > 0) {
        size_t n = g.n_ended;
        struct client **v = xmalloc(n * sizeof *v);
        memcpy(v, g.ended, n * sizeof *v);
        g.n_ended = 0;
        for (size_t i = 0; i < n; i++)
            if (g.hooks.on_end)
                g.hooks.on_end(v[i]);
        free(v);
    }
}

void
client_poll(int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    client_flush_all();
    client_run_ended();
    int n = epoll_wait(g.ep, evs, MAX_EVENTS, timeout_ms);
    for (int i = 0; i < n; i++) {
        struct client *c = evs[i].data.ptr;
        if (c->fd < 0)
            continue;
        client_on_event(c, evs[i].events);
    }
    client_flush_all();
    client_run_ended();
}

void
client_check_deadlines(struct client *v, size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        struct client *c = &v[i];
        if (c->deadline == 0 || now < c->deadline)
            continue;
        if (c->state == CL_READY || c->state == CL_DONE || c->state == CL_FAILED ||
            c->state == CL_IDLE)
            continue;
        client_fail(c, c->state == CL_CLOSING ? "the server did not close the stream in time"
                                              : "timed out");
    }
    client_run_ended();
}

void
bench_run_window(struct bench_flow *f, uint64_t t0, void (*tick)(uint64_t t0, uint64_t now),
                 struct bench_window *w)
{
    uint64_t t_measure = t0 + (uint64_t)(bench_opt.warmup_s * 1e9);
    uint64_t t_stop = t_measure + (uint64_t)(bench_opt.duration * 1e9);
    struct bench_cpu cpu_start = {.server = -1};
    struct bench_cpu cpu_end;
    uint64_t sent0 = 0;
    uint64_t backlog0 = 0;
    uint64_t tm0 = 0;
    for (;;) {
        client_poll(f->flat ? 10 : 1);
        uint64_t now = bench_now_ns();
        if (!f->flat)
            tick(t0, now);
        if (!f->measuring && now >= t_measure) {
            f->measuring = true;
            bench_hist_reset(&f->lat);
            f->delivered_window = 0;
            bench_cpu_now(&cpu_start);
            sent0 = f->sent_total;
            backlog0 = f->backlog;
            tm0 = now;
        }
        if (f->measuring && now >= t_stop)
            break;
        if (client_ctr.failures > 0)
            break;
    }
    uint64_t tm1 = bench_now_ns();
    bench_cpu_now(&cpu_end);
    f->measuring = false;
    f->sending = false;
    w->cpu = bench_cpu_since(&cpu_start, &cpu_end);
    w->delivered = f->delivered_window;
    w->sent = f->sent_total - sent0;
    w->backlog = f->backlog - backlog0;
    w->seconds = (double)(tm1 - tm0) / 1e9;
}
