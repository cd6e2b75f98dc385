/* SPDX-License-Identifier: Apache-2.0 */
/* c2s.c - client streams. Step 1-2 of the stanza path: conn.c hands bytes to
 * c2s_on_data(), which feeds the stream parser; each complete stanza comes to
 * the handler of the stream's current state. A bound session stamps 'from'
 * and calls router_route(). The stream is a state enum plus one function per
 * state: header, pre-TLS, SASL, bind, session. */
#include "node/c2s.h"

#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ev.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xstream.h"
#include "node/auth.h"
#include "node/conn.h"
#include "node/features.h"
#include "node/labels.h"
#include "node/nodes.h"
#include "node/presence.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/settings.h"
#include "node/stanza.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"

/* A stream without input for this long gives back its parser (about 10 KiB,
 * xstream_hibernate) at the next sweep, which runs this often: so between one
 * and two seconds after its last bytes. Waking costs a few microseconds. */
#define C2S_IDLE_MS 1000

/* Logins and logouts leave the freed remains of TLS handshakes, SASL exchanges
 * and stanzas between the sessions that stay, and glibc keeps those pages.
 * malloc_trim() gives whole free pages back, but it walks the heap (about 1 ms
 * per 1,000 TLS sessions held), so the sweep calls it once streams stop coming
 * and going (the first sweep without any since the previous one), and at most
 * this often while they never stop. */
#define C2S_TRIM_EVERY_MS 60000

enum c2s_state {
    C2S_TLS_HANDSHAKE, /* direct TLS, or after <proceed/> */
    C2S_HEADER,        /* waiting for <stream:stream> */
    C2S_PRE_TLS,       /* features sent, TLS not yet negotiated */
    C2S_SASL,          /* TLS done (or not required), not authenticated */
    C2S_BIND,          /* authenticated, no resource bound */
    C2S_SESSION,       /* bound: stanzas flow */
    C2S_CLOSED,        /* stream ended (error or close); only output drains */
};

struct listener {
    int fd;
    bool direct_tls;
    char addr[80];
    struct listener *next;
};

struct c2s {
    struct server *srv;
    uint64_t id;
    struct conn *conn;
    struct xstream *xs;
    enum c2s_state state;
    bool header_sent;
    bool restart_pending;  /* restart the parser once the current feed returns */
    bool starttls_pending; /* start TLS once the current feed returns */
    bool in_feed;
    char *domain;          /* the domain this stream is for */
    char *user;            /* bare JID once authenticated */
    struct sess *sess;     /* once bound */
    struct auth *auth;
    unsigned auth_failures;
    bool auth_over;        /* the current exchange ended (success or failure) */
    uint64_t auth_timer;   /* unauthenticated / unbound time limit */
    uint64_t fail_timer;   /* delayed SASL <failure/> */
    const char *fail_cond;
    int64_t rate_tokens;   /* input rate limit (bytes) */
    uint64_t rate_at;
    uint64_t rate_timer;
    uint64_t last_input;   /* ev_now() of the last bytes read */
    bool is_idle;          /* released by the idle sweep since the last input */
    char stream_id[33];
    struct c2s *next, *prev;
};

static void c2s_on_stanza(void *arg, struct xml_tree *tree);
static void c2s_on_open(void *arg, const struct xstream_header *h);
static void c2s_on_close(void *arg);
static void c2s_on_error(void *arg, enum xstream_error err, const char *detail);
static void c2s_on_data(void *arg, const char *data, size_t len);
static void c2s_on_tls_ready(void *arg);
static void c2s_on_closed(void *arg, const char *reason);

/* The idle sweep's timer (one server per process), 0 when none is armed. */
static uint64_t c2s_sweep_timer;
/* Streams opened or closed: ever, at the previous sweep, at the last trim. */
static uint64_t c2s_churn, c2s_churn_swept, c2s_churn_trimmed;
static uint64_t c2s_trim_at;

static const struct xstream_callbacks c2s_xs_cb = {c2s_on_open, c2s_on_stanza, c2s_on_close,
                                                   c2s_on_error};
static const struct conn_callbacks c2s_conn_cb = {c2s_on_data, c2s_on_tls_ready, c2s_on_closed};

/* ---- output helpers ---- */

static void
c2s_send_str(struct c2s *c, const char *s)
{
    conn_send(c->conn, s, strlen(s));
}

void
c2s_send_stanza(struct c2s *c, struct stanza *st)
{
    if (c->state == C2S_CLOSED)
        return;
    conn_send_chunk(c->conn, stanza_wire(st));
}

static void
c2s_send_header(struct c2s *c)
{
    struct buf b;
    buf_init(&b);
    buf_append_str(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                       "xmlns:stream='http://etherx.jabber.org/streams' id='");
    buf_append_str(&b, c->stream_id);
    buf_append_str(&b, "' from='");
    buf_append_xml_escaped(&b, c->domain ? c->domain : c->srv->cfg->domains.v[0],
                           strlen(c->domain ? c->domain : c->srv->cfg->domains.v[0]), 1);
    buf_append_str(&b, "' version='1.0' xml:lang='en'>");
    conn_send(c->conn, buf_head(&b), buf_used(&b));
    buf_free(&b);
    c->header_sent = true;
}

void
c2s_stream_error(struct c2s *c, const char *cond, const char *text)
{
    if (c->state == C2S_CLOSED)
        return;
    if (!c->header_sent)
        c2s_send_header(c);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<stream:error><%s xmlns='" NS_STREAMS_ERR "'/>", cond);
    if (text) {
        buf_append_str(&b, "<text xmlns='" NS_STREAMS_ERR "'>");
        buf_append_xml_escaped(&b, text, strlen(text), 0);
        buf_append_str(&b, "</text>");
    }
    buf_append_str(&b, "</stream:error></stream:stream>");
    conn_send(c->conn, buf_head(&b), buf_used(&b));
    buf_free(&b);
    log_info("c2s stream-error conn=%" PRIu64 " peer=%s cond=%s%s%s", c->id, conn_peer(c->conn),
             cond, c->user ? " jid=" : "", c->user ? c->user : "");
    c->state = C2S_CLOSED;
    conn_close(c->conn);
}

/* ---- session lifetime ---- */

static void
c2s_end_session(struct c2s *c)
{
    struct sess *s = c->sess;
    if (!s)
        return;
    c->sess = NULL;
    labels_session_end(c->srv, s);
    presence_session_ended(c->srv, s); /* checks availability and directed presence itself */
    if (sess_table_find(c->srv->sessions, s->jid->full) == s) {
        nodes_session_down(c->srv, s); /* not when a new session took the JID over */
        sess_table_del(c->srv->sessions, s);
    }
    log_info("c2s session-end conn=%" PRIu64 " sess=%" PRIu64 " jid=%s", c->id, s->id,
             s->jid->full);
    presence_release(c->srv, s->presence);
    for (size_t i = 0; i < s->n_directed; i++)
        free(s->directed[i]);
    free(s->directed);
    jid_free(s->jid);
    free(s);
}

static void
c2s_free(void *p)
{
    struct c2s *c = p;
    xstream_free(c->xs);
    conn_free(c->conn);
    free(c->domain);
    free(c->user);
    free(c);
}

static void
c2s_auth_free(void *p)
{
    auth_free(p);
}

static void
c2s_on_closed(void *arg, const char *reason)
{
    struct c2s *c = arg;
    struct server *srv = c->srv;
    log_info("c2s closed conn=%" PRIu64 " peer=%s reason=%s%s%s", c->id, conn_peer(c->conn),
             reason, c->user ? " jid=" : "", c->user ? c->user : "");
    c->state = C2S_CLOSED;
    c2s_churn++;
    c2s_end_session(c);
    if (c->auth) {
        auth_free(c->auth);
        c->auth = NULL;
    }
    ev_timer_del(srv->loop, c->auth_timer);
    ev_timer_del(srv->loop, c->fail_timer);
    ev_timer_del(srv->loop, c->rate_timer);
    c->auth_timer = c->fail_timer = c->rate_timer = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->c2s_list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ev_defer_free(srv->loop, c2s_free, c);
}

static void
c2s_auth_timeout(struct ev_loop *loop, void *arg)
{
    struct c2s *c = arg;
    (void)loop;
    c->auth_timer = 0;
    if (c->state != C2S_SESSION)
        c2s_stream_error(c, "connection-timeout", "authentication took too long");
}

/* ---- features ---- */

static void
c2s_send_features(struct c2s *c)
{
    struct buf b;
    buf_init(&b);
    buf_append_str(&b, "<stream:features>");
    SSL *ssl = conn_ssl(c->conn);
    switch (c->state) {
    case C2S_PRE_TLS:
        buf_append_str(&b, "<starttls xmlns='" NS_TLS "'>");
        if (c->srv->cfg->tls_required)
            buf_append_str(&b, "<required/>");
        buf_append_str(&b, "</starttls>");
        auth_features(c->srv, NULL, &b);
        break;
    case C2S_SASL:
        auth_features(c->srv, ssl, &b);
        break;
    case C2S_BIND:
        buf_append_str(&b, "<bind xmlns='" NS_BIND "'/>"
                           "<session xmlns='" NS_SESSION "'><optional/></session>");
        break;
    default:
        break;
    }
    buf_append_str(&b, "</stream:features>");
    conn_send(c->conn, buf_head(&b), buf_used(&b));
    buf_free(&b);
}

/* ---- parser callbacks ---- */

static void
c2s_on_open(void *arg, const struct xstream_header *h)
{
    struct c2s *c = arg;
    if (c->state != C2S_HEADER) {
        c2s_stream_error(c, "not-well-formed", "unexpected stream header");
        return;
    }
    char *to = h->to ? jid_normalize(h->to) : NULL;
    if (!c->domain) {
        if (h->to && (!to || !server_is_local_domain(c->srv, to))) {
            free(to);
            c2s_stream_error(c, "host-unknown", NULL);
            return;
        }
        c->domain = to ? to : xstrdup(c->srv->cfg->domains.v[0]);
        to = NULL;
    } else if (to && strcmp(to, c->domain) != 0) {
        free(to);
        c2s_stream_error(c, "host-unknown", "the domain changed on restart");
        return;
    }
    free(to);
    if (!h->default_ns || strcmp(h->default_ns, XMPP_NS_CLIENT) != 0) {
        c2s_stream_error(c, "invalid-namespace", NULL);
        return;
    }
    if (!h->version || strcmp(h->version, "1.0") != 0) {
        c2s_stream_error(c, "unsupported-version", NULL);
        return;
    }
    c2s_send_header(c);
    if (c->user)
        c->state = C2S_BIND;
    else if (conn_is_tls(c->conn) || !c->srv->cfg->tls_required)
        c->state = conn_is_tls(c->conn) ? C2S_SASL : C2S_PRE_TLS;
    else
        c->state = C2S_PRE_TLS;
    c2s_send_features(c);
}

static void
c2s_on_close(void *arg)
{
    struct c2s *c = arg;
    if (c->state == C2S_CLOSED)
        return;
    c2s_end_session(c);
    c2s_send_str(c, "</stream:stream>");
    c->state = C2S_CLOSED;
    conn_close(c->conn);
}

static void
c2s_on_error(void *arg, enum xstream_error err, const char *detail)
{
    struct c2s *c = arg;
    log_info("c2s bad-input conn=%" PRIu64 " peer=%s cond=%s detail=\"%s\"", c->id,
             conn_peer(c->conn), xstream_error_condition(err), detail ? detail : "");
    c2s_stream_error(c, xstream_error_condition(err), NULL);
}

/* ---- SASL ---- */

static void
c2s_send_sasl(struct c2s *c, const char *elem, const char *data, size_t len)
{
    struct buf b;
    buf_init(&b);
    if (!data) {
        buf_printf(&b, "<%s xmlns='" NS_SASL "'/>", elem);
    } else {
        buf_printf(&b, "<%s xmlns='" NS_SASL "'>", elem);
        if (len == 0) {
            buf_append_str(&b, "=");
        } else {
            unsigned cap = (unsigned)(len * 4 / 3 + 8), outlen = 0;
            char *enc = xmalloc(cap);
            if (sasl_encode64(data, (unsigned)len, enc, cap, &outlen) == SASL_OK)
                buf_append(&b, enc, outlen);
            free(enc);
        }
        buf_printf(&b, "</%s>", elem);
    }
    conn_send(c->conn, buf_head(&b), buf_used(&b));
    buf_free(&b);
}

static void
c2s_send_failure_now(struct c2s *c, const char *cond)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    conn_send(c->conn, buf_head(&b), buf_used(&b));
    buf_free(&b);
    if (c->auth_failures >= (unsigned)c->srv->cfg->sasl_max_failures)
        c2s_stream_error(c, "not-authorized", "too many failed authentication attempts");
}

static void
c2s_fail_timer(struct ev_loop *loop, void *arg)
{
    struct c2s *c = arg;
    (void)loop;
    c->fail_timer = 0;
    if (c->state == C2S_CLOSED)
        return;
    conn_pause(c->conn, false);
    c2s_send_failure_now(c, c->fail_cond);
}

static void
c2s_auth_done(struct c2s *c)
{
    if (c->auth) {
        ev_defer_free(c->srv->loop, c2s_auth_free, c->auth);
        c->auth = NULL;
    }
}

/* Failures are answered after a delay, with reading paused meanwhile, so
 * guessing passwords is slow and costs the node nothing. */
static void
c2s_auth_failed(struct c2s *c, const char *cond)
{
    c2s_auth_done(c);
    c->auth_failures++;
    log_notice("c2s auth-failed conn=%" PRIu64 " peer=%s cond=%s attempt=%u", c->id,
               conn_peer(c->conn), cond, c->auth_failures);
    c->fail_cond = cond;
    if (c->srv->cfg->sasl_fail_delay_ms == 0) {
        c2s_send_failure_now(c, cond);
        return;
    }
    conn_pause(c->conn, true);
    c->fail_timer = ev_timer_add(c->srv->loop, (uint64_t)c->srv->cfg->sasl_fail_delay_ms,
                                 c2s_fail_timer, c);
}

static void
c2s_auth_event(void *arg, enum auth_event ev, const char *data, size_t len, const char *cond,
               const char *user)
{
    struct c2s *c = arg;
    if (c->state != C2S_SASL)
        return;
    if (ev != AUTH_CHALLENGE)
        c->auth_over = true;
    switch (ev) {
    case AUTH_CHALLENGE:
        c2s_send_sasl(c, "challenge", data, len);
        break;
    case AUTH_FAILURE:
        c2s_auth_failed(c, cond);
        break;
    case AUTH_SUCCESS:
        c2s_auth_done(c);
        c->user = xstrdup(user);
        conn_pause(c->conn, false);
        c2s_send_sasl(c, "success", len ? data : NULL, len);
        log_info("c2s auth-ok conn=%" PRIu64 " peer=%s jid=%s", c->id, conn_peer(c->conn),
                 c->user);
        c->state = C2S_HEADER;
        if (c->in_feed) {
            c->restart_pending = true;
            xstream_suspend(c->xs);
        } else {
            xstream_restart(c->xs);
        }
        break;
    }
}

static bool
c2s_decode64(const struct xml_node *el, char **out, size_t *outlen, bool *present)
{
    const char *txt = xml_text(NULL, el);
    size_t n = strlen(txt);
    *present = n > 0;
    *out = NULL;
    *outlen = 0;
    if (n == 0)
        return true;
    if (n == 1 && txt[0] == '=') {
        *out = xstrdup("");
        return true;
    }
    unsigned cap = (unsigned)(n * 3 / 4 + 4), len = 0;
    char *dec = xmalloc(cap);
    if (sasl_decode64(txt, (unsigned)n, dec, cap, &len) != SASL_OK) {
        free(dec);
        return false;
    }
    *out = dec;
    *outlen = len;
    return true;
}

static void
c2s_handle_sasl(struct c2s *c, struct xml_node *el)
{
    if (c->fail_timer)
        return; /* a failure is pending; the client must wait for it */
    char *data = NULL;
    size_t len = 0;
    bool present = false;
    if (strcmp(el->name, "auth") == 0) {
        if (c->auth) {
            c2s_auth_failed(c, "aborted");
            return;
        }
        const char *mech = xml_attr(el, "mechanism");
        if (!mech || !auth_mech_offered(c->srv, conn_ssl(c->conn), mech)) {
            c2s_auth_failed(c, "invalid-mechanism");
            return;
        }
        if (!c2s_decode64(el, &data, &len, &present)) {
            c2s_auth_failed(c, "incorrect-encoding");
            return;
        }
        c->auth_over = false;
        struct auth *a = auth_start(c->srv, c->domain, conn_ssl(c->conn), mech, data, len,
                                    present, c2s_auth_event, c);
        /* SCRAM may finish inside auth_start, before we hold the pointer. */
        if (c->auth_over)
            ev_defer_free(c->srv->loop, c2s_auth_free, a);
        else
            c->auth = a;
    } else if (strcmp(el->name, "response") == 0) {
        if (!c->auth) {
            c2s_auth_failed(c, "malformed-request");
            return;
        }
        if (!c2s_decode64(el, &data, &len, &present)) {
            c2s_auth_failed(c, "incorrect-encoding");
            return;
        }
        auth_step(c->auth, data ? data : "", len);
    } else if (strcmp(el->name, "abort") == 0) {
        c2s_auth_failed(c, "aborted");
    } else {
        c2s_stream_error(c, "unsupported-stanza-type", NULL);
    }
    if (data) {
        memset(data, 0, len);
        free(data);
    }
}

/* ---- per-state stanza handlers ---- */

static void
c2s_state_pre_tls(struct c2s *c, struct xml_tree *t)
{
    struct xml_node *el = t->root;
    if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "starttls") == 0) {
        c2s_send_str(c, "<proceed xmlns='" NS_TLS "'/>");
        c->starttls_pending = true;
        c->state = C2S_TLS_HANDSHAKE;
        xstream_suspend(c->xs);
        return;
    }
    if (strcmp(el->ns, NS_SASL) == 0) {
        if (c->srv->cfg->tls_required) {
            /* No mechanism is offered before TLS when TLS is required. */
            struct buf b;
            buf_init(&b);
            buf_append_str(&b, "<failure xmlns='" NS_SASL "'><encryption-required/></failure>");
            conn_send(c->conn, buf_head(&b), buf_used(&b));
            buf_free(&b);
            return;
        }
        c->state = C2S_SASL;
        c2s_handle_sasl(c, el);
        return;
    }
    c2s_stream_error(c, c->srv->cfg->tls_required ? "policy-violation" : "not-authorized",
                     "negotiate TLS and authenticate first");
}

static void
c2s_state_sasl(struct c2s *c, struct xml_tree *t)
{
    if (strcmp(t->root->ns, NS_SASL) == 0)
        c2s_handle_sasl(c, t->root);
    else
        c2s_stream_error(c, "not-authorized", NULL);
}

static void
c2s_gen_resource(char *out, size_t cap)
{
    unsigned char r[8];
    RAND_bytes(r, sizeof r);
    snprintf(out, cap, "palisade-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
             r[5], r[6], r[7]);
}

static void
c2s_reply_iq_error(struct c2s *c, struct stanza *st, const char *etype, const char *cond)
{
    struct stanza *e = stanza_error_reply(st, NULL, etype, cond, NULL);
    stanza_set_to(e, NULL);
    c2s_send_stanza(c, e);
    stanza_unref(e);
}

static void
c2s_do_bind(struct c2s *c, struct stanza *st, struct xml_node *bind)
{
    const char *want = NULL;
    struct xml_node *res = xml_child(bind, NS_BIND, "resource");
    if (res)
        want = xml_text(st->tree, res);
    char gen[40];
    if (!want || !want[0]) {
        c2s_gen_resource(gen, sizeof gen);
        want = gen;
    }
    struct jid *bare = NULL, *full = NULL;
    if (jid_parse(c->user, &bare) != PAL_OK ||
        jid_make(bare->local, bare->domain, want, &full) != PAL_OK) {
        jid_free(bare);
        c2s_reply_iq_error(c, st, "modify", "bad-request");
        return;
    }
    jid_free(bare);
    struct sess *s = xcalloc(1, sizeof *s);
    s->id = server_next_id(c->srv);
    s->jid = full;
    s->conn = c;
    struct sess *old = sess_table_add(c->srv->sessions, s);
    if (old && old->conn) {
        /* RFC 6120 §7.7.2.2: the new session replaces the old one. */
        log_info("c2s resource-conflict jid=%s old_sess=%" PRIu64 " new_sess=%" PRIu64,
                 full->full, old->id, s->id);
        struct c2s *oc = old->conn;
        c2s_end_session(oc);
        c2s_stream_error(oc, "conflict", "replaced by a new connection for the same resource");
    }
    c->sess = s;
    c->state = C2S_SESSION;
    ev_timer_del(c->srv->loop, c->auth_timer);
    c->auth_timer = 0;
    struct stanza *r = stanza_iq_result(st);
    stanza_set_to(r, NULL);
    stanza_set_from(r, NULL);
    struct xml_node *b = xml_elem_new(r->tree, r->el, NS_BIND, "bind");
    struct xml_node *j = xml_elem_new(r->tree, b, NS_BIND, "jid");
    xml_add_text(r->tree, j, full->full, strlen(full->full));
    stanza_touched(r);
    c2s_send_stanza(c, r);
    stanza_unref(r);
    nodes_session_up(c->srv, s);
    log_info("c2s bound conn=%" PRIu64 " sess=%" PRIu64 " jid=%s", c->id, s->id, full->full);
}

/* iq session (RFC 3921 legacy) is answered in both the bind and session states. */
static bool
c2s_try_session_iq(struct c2s *c, struct stanza *st)
{
    if (st->kind != STANZA_IQ || !st->type || strcmp(st->type, "set") != 0)
        return false;
    struct xml_node *p = stanza_iq_payload(st);
    if (!p || strcmp(p->ns, NS_SESSION) != 0)
        return false;
    struct stanza *r = stanza_iq_result(st);
    stanza_set_to(r, NULL);
    c2s_send_stanza(c, r);
    stanza_unref(r);
    return true;
}

static void
c2s_state_bind(struct c2s *c, struct stanza *st)
{
    if (c2s_try_session_iq(c, st))
        return;
    struct xml_node *p = st->kind == STANZA_IQ ? stanza_iq_payload(st) : NULL;
    if (p && strcmp(p->ns, NS_BIND) == 0 && strcmp(p->name, "bind") == 0 && st->type &&
        strcmp(st->type, "set") == 0) {
        c2s_do_bind(c, st, p);
        return;
    }
    c2s_stream_error(c, "not-authorized", "bind a resource first");
}

static void
c2s_state_session(struct c2s *c, struct stanza *st)
{
    struct sess *s = c->sess;
    /* RFC 6120 §8.1.2.1: 'from' is ours to stamp; a client may only name itself. */
    if (st->from && !jid_equal(st->from, s->jid) &&
        !(st->from->resource == NULL && jid_bare_equal(st->from, s->jid))) {
        c2s_stream_error(c, "invalid-from", NULL);
        return;
    }
    stanza_set_from(st, s->jid);
    if (c2s_try_session_iq(c, st))
        return;
    struct xml_node *p = st->kind == STANZA_IQ ? stanza_iq_payload(st) : NULL;
    if (p && strcmp(p->ns, NS_BIND) == 0) {
        c2s_reply_iq_error(c, st, "cancel", "not-allowed");
        return;
    }
    st->id = server_next_id(c->srv);
    log_trace(TRACE_ROUTER, "c2s stanza sess=%" PRIu64 " stanza=%" PRIu64 " kind=%s", s->id,
              st->id, st->el->name);
    router_route(c->srv, st, s);
}

/* Copies s into dst (cap > 0 bytes), truncated; snprintf("%s") at a tenth of
 * the cost, which matters on every stanza. */
static void
c2s_copy(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void
c2s_on_stanza(void *arg, struct xml_tree *tree)
{
    struct c2s *c = arg;
    switch (c->state) {
    case C2S_PRE_TLS:
        c2s_state_pre_tls(c, tree);
        xml_tree_free(tree);
        return;
    case C2S_SASL:
        c2s_state_sasl(c, tree);
        xml_tree_free(tree);
        return;
    case C2S_BIND:
    case C2S_SESSION:
        break;
    default:
        xml_tree_free(tree);
        return;
    }
    struct stanza *st = NULL;
    const char *cond = NULL;
    /* Kept for a stanza error: the tree goes with stanza_from_tree. */
    char name[16] = "", sid[256] = "";
    bool addressed_ok = c->state == C2S_SESSION && strcmp(tree->root->ns, XMPP_NS_CLIENT) == 0;
    if (addressed_ok) {
        const char *v = xml_attr(tree->root, "id");
        c2s_copy(name, sizeof name, tree->root->name);
        c2s_copy(sid, sizeof sid, v ? v : "");
        v = xml_attr(tree->root, "type");
        addressed_ok = !(v && strcmp(v, "error") == 0);
    }
    if (stanza_from_tree(tree, &st, &cond) != PAL_OK) {
        if (cond && strcmp(cond, "jid-malformed") == 0 && addressed_ok) {
            /* RFC 6120 §8.3.3.8: a stanza error, not a stream error. */
            struct buf b;
            buf_init(&b);
            buf_printf(&b, "<%s type='error'", name);
            if (sid[0]) {
                buf_append_str(&b, " id='");
                buf_append_xml_escaped(&b, sid, strlen(sid), 1);
                buf_append_str(&b, "'");
            }
            buf_printf(&b, "><error type='modify'><jid-malformed xmlns='" XMPP_NS_STANZAS
                           "'/></error></%s>",
                       name);
            conn_send(c->conn, buf_head(&b), buf_used(&b));
            buf_free(&b);
            return;
        }
        c2s_stream_error(c, cond && strcmp(cond, "jid-malformed") != 0 ? cond : "bad-format",
                         NULL);
        return;
    }
    if (c->state == C2S_BIND)
        c2s_state_bind(c, st);
    else
        c2s_state_session(c, st);
    stanza_unref(st);
}

/* ---- input ---- */

static void
c2s_rate_resume(struct ev_loop *loop, void *arg)
{
    struct c2s *c = arg;
    (void)loop;
    c->rate_timer = 0;
    if (c->state != C2S_CLOSED && !c->fail_timer)
        conn_pause(c->conn, false);
}

/* A token bucket over input bytes: past the rate, reading pauses until the
 * bucket refills (TCP then pushes back on the client). */
static void
c2s_rate_account(struct c2s *c, size_t len)
{
    int64_t rate = c->srv->cfg->rate_bytes_per_s;
    if (rate <= 0)
        return;
    uint64_t now = ev_now(c->srv->loop);
    c->rate_tokens += (int64_t)((now - c->rate_at) * (uint64_t)rate / 1000);
    if (c->rate_tokens > rate)
        c->rate_tokens = rate;
    c->rate_at = now;
    c->rate_tokens -= (int64_t)len;
    if (c->rate_tokens < 0 && !c->rate_timer) {
        uint64_t wait = (uint64_t)(-c->rate_tokens) * 1000 / (uint64_t)rate + 1;
        conn_pause(c->conn, true);
        c->rate_timer = ev_timer_add(c->srv->loop, wait, c2s_rate_resume, c);
    }
}

static void
c2s_on_data(void *arg, const char *data, size_t len)
{
    struct c2s *c = arg;
    c->last_input = ev_now(c->srv->loop);
    c->is_idle = false;
    c2s_rate_account(c, len);
    while (len > 0 && c->state != C2S_CLOSED && c->state != C2S_TLS_HANDSHAKE) {
        c->in_feed = true;
        size_t n = xstream_feed(c->xs, data, len);
        c->in_feed = false;
        data += n;
        len -= n;
        if (c->restart_pending) {
            c->restart_pending = false;
            xstream_restart(c->xs);
            continue;
        }
        if (c->starttls_pending) {
            c->starttls_pending = false;
            if (len > 0) {
                /* Bytes after <starttls/> in the clear: an injection attempt
                 * (CVE-2011-0411 class). */
                log_notice("c2s starttls-injection conn=%" PRIu64 " peer=%s bytes=%zu", c->id,
                           conn_peer(c->conn), len);
                c->state = C2S_CLOSED;
                conn_abort(c->conn, "starttls-injection");
                return;
            }
            conn_start_tls(c->conn);
            return;
        }
        if (xstream_is_done(c->xs))
            return;
        if (n == 0)
            return; /* suspended without a pending action: nothing more to do */
    }
}

static void
c2s_on_tls_ready(void *arg)
{
    struct c2s *c = arg;
    if (c->state != C2S_TLS_HANDSHAKE)
        return;
    c->state = C2S_HEADER;
    xstream_restart(c->xs);
}

/* ---- idle streams ---- */

static void
c2s_trim_heap(uint64_t now)
{
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    malloc_trim(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    log_debug("c2s heap trimmed after %" PRIu64 " streams opened or closed, in %ld us",
              c2s_churn - c2s_churn_trimmed,
              (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
    c2s_churn_trimmed = c2s_churn;
    c2s_trim_at = now;
}

/* Streams quiet for C2S_IDLE_MS hibernate their parser; one that cannot (in
 * the middle of a stanza) is tried again at the next sweep. Then the heap is
 * trimmed if streams came and went and have stopped (C2S_TRIM_EVERY_MS). */
static void
c2s_idle_sweep(struct ev_loop *loop, void *arg)
{
    struct server *srv = arg;
    uint64_t now = ev_now(loop);
    c2s_sweep_timer = 0;
    for (struct c2s *c = srv->c2s_list; c; c = c->next) {
        if (c->is_idle || c->state == C2S_CLOSED || now - c->last_input < C2S_IDLE_MS)
            continue;
        c->is_idle = xstream_hibernate(c->xs);
    }
    if (c2s_churn != c2s_churn_trimmed &&
        (c2s_churn == c2s_churn_swept || now - c2s_trim_at >= C2S_TRIM_EVERY_MS))
        c2s_trim_heap(now);
    c2s_churn_swept = c2s_churn;
    if (srv->c2s_list)
        c2s_sweep_timer = ev_timer_add(loop, C2S_IDLE_MS, c2s_idle_sweep, srv);
}

/* ---- listeners ---- */

static void
c2s_accept(struct server *srv, int fd, bool direct_tls, const char *peer)
{
    struct c2s *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->id = server_next_id(srv);
    unsigned char r[16];
    RAND_bytes(r, sizeof r);
    for (int i = 0; i < 16; i++)
        snprintf(c->stream_id + 2 * i, 3, "%02x", r[i]);
    struct xstream_limits lim = {(size_t)srv->cfg->max_stanza_bytes, (unsigned)srv->cfg->max_depth,
                                 (unsigned)srv->cfg->max_attrs};
    c->xs = xstream_new(&lim, &c2s_xs_cb, c);
    c->conn = conn_new(srv, fd, peer, &c2s_conn_cb, c);
    c->rate_tokens = srv->cfg->rate_bytes_per_s;
    c->rate_at = ev_now(srv->loop);
    c->last_input = c->rate_at;
    c2s_churn++;
    if (!c2s_sweep_timer)
        c2s_sweep_timer = ev_timer_add(srv->loop, C2S_IDLE_MS, c2s_idle_sweep, srv);
    c->next = srv->c2s_list;
    if (c->next)
        c->next->prev = c;
    srv->c2s_list = c;
    c->auth_timer = ev_timer_add(srv->loop, (uint64_t)srv->cfg->auth_timeout_s * 1000,
                                 c2s_auth_timeout, c);
    log_debug("c2s accepted conn=%" PRIu64 " peer=%s tls=%s", c->id, peer,
              direct_tls ? "direct" : "starttls");
    if (direct_tls) {
        c->state = C2S_TLS_HANDSHAKE;
        conn_start_tls(c->conn);
    } else {
        c->state = C2S_HEADER;
    }
}

static void
c2s_on_listener(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct server *srv = arg;
    (void)loop;
    (void)events;
    struct listener *l = NULL;
    for (l = srv->listeners; l && l->fd != fd; l = l->next)
        ;
    if (!l)
        return;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept(fd, (struct sockaddr *)&ss, &sl);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("c2s accept-failed listener=%s error=\"%s\"", l->addr, strerror(errno));
            return;
        }
        char host[64], serv[16], peer[96];
        if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv, sizeof serv,
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            snprintf(peer, sizeof peer, "?");
        else
            snprintf(peer, sizeof peer, "%s:%s", host, serv);
        fcntl(cfd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c2s_accept(srv, cfd, l->direct_tls, peer);
    }
}

static int
c2s_listen_one(struct server *srv, const char *spec, bool direct_tls, char *err, size_t errlen)
{
    char host[80];
    const char *colon = strrchr(spec, ':');
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof host) {
        snprintf(err, errlen, "listen address '%s' is too long", spec);
        return PAL_ECONFIG;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    char *h = host;
    if (h[0] == '[' && hl > 1 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &ai);
    if (gr != 0) {
        snprintf(err, errlen, "listen address '%s': %s", spec, gai_strerror(gr));
        return PAL_ECONFIG;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (srv->cfg->reuseport)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s (is another server using the port?)", spec,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return PAL_EIO;
    }
    freeaddrinfo(ai);
    struct listener *l = xcalloc(1, sizeof *l);
    l->fd = fd;
    l->direct_tls = direct_tls;
    snprintf(l->addr, sizeof l->addr, "%s", spec);
    l->next = srv->listeners;
    srv->listeners = l;
    ev_add_fd(srv->loop, fd, EV_READ, c2s_on_listener, srv);
    log_notice("c2s listening addr=%s tls=%s", spec, direct_tls ? "direct" : "starttls");
    return PAL_OK;
}

int
c2s_listen(struct server *srv, char *err, size_t errlen)
{
    for (size_t i = 0; i < srv->cfg->listen_c2s.n; i++) {
        int rc = c2s_listen_one(srv, srv->cfg->listen_c2s.v[i], false, err, errlen);
        if (rc != PAL_OK)
            return rc;
    }
    for (size_t i = 0; i < srv->cfg->listen_c2s_tls.n; i++) {
        int rc = c2s_listen_one(srv, srv->cfg->listen_c2s_tls.v[i], true, err, errlen);
        if (rc != PAL_OK)
            return rc;
    }
    return PAL_OK;
}

void
c2s_shutdown(struct server *srv)
{
    ev_timer_del(srv->loop, c2s_sweep_timer);
    c2s_sweep_timer = 0;
    while (srv->listeners) {
        struct listener *l = srv->listeners;
        srv->listeners = l->next;
        ev_del_fd(srv->loop, l->fd);
        close(l->fd);
        free(l);
    }
    for (struct c2s *c = srv->c2s_list; c; c = c->next) {
        c2s_end_session(c);
        c2s_stream_error(c, "system-shutdown", NULL);
    }
}

size_t
c2s_count(const struct server *srv)
{
    size_t n = 0;
    for (const struct c2s *c = srv->c2s_list; c; c = c->next)
        n++;
    return n;
}

void
c2s_kick_user(struct server *srv, const char *bare_jid, const char *cond)
{
    for (struct c2s *c = srv->c2s_list; c; c = c->next) {
        if (c->user && strcmp(c->user, bare_jid) == 0 && c->state != C2S_CLOSED) {
            c2s_end_session(c);
            c2s_stream_error(c, cond, NULL);
        }
    }
}
