/* SPDX-License-Identifier: Apache-2.0 */
/* ldap.c - one libldap connection driven by the node's event loop. The TCP
 * connect is asynchronous (LDAP_OPT_CONNECT_ASYNC: the first request returns
 * LDAP_X_CONNECTING and is sent again once the socket is writable); StartTLS
 * (ldap_start_tls + ldap_install_tls) or ldaps follows, then a simple bind as
 * the service account, and only then does the owner hear "up". Responses are
 * drained with ldap_result(LDAP_MSG_ONE, zero timeout) until it returns 0
 * twice, because libldap buffers messages the fd no longer shows.
 *
 * A lost connection is retried with exponential backoff (100 ms doubling to
 * 5 s). Each state change is logged once; repeated identical failures are only
 * traced. Nothing here blocks the loop except, when TLS is on, the TLS
 * handshake inside libldap, which is bounded by ldap.timeout_ms.
 *
 * Used by dir.c (the sync + write connection) and bind.c (the password pool). */
#include "directory/dir_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <ldap.h>

#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define DRAIN_MAX 512 /* messages per loop callback; the rest runs from a timer */

enum conn_state {
    CONN_WAIT,       /* not connected; a retry timer runs */
    CONN_CONNECTING, /* TCP connect in progress */
    CONN_STARTTLS,   /* StartTLS request sent */
    CONN_BINDING,    /* service bind sent */
    CONN_UP,
};

static const char *const state_names[] = {[CONN_WAIT] = "wait",
                                          [CONN_CONNECTING] = "connecting",
                                          [CONN_STARTTLS] = "starttls",
                                          [CONN_BINDING] = "binding",
                                          [CONN_UP] = "up"};

struct dir_conn {
    struct ev_loop *loop;
    const struct dir_settings *s;
    const char *secret;
    char *name;
    const struct dir_conn_ops *ops;
    void *arg;

    enum conn_state state;
    LDAP *ld;
    int fd;         /* registered with the loop, or -1 */
    int msgid;      /* StartTLS or bind request of the handshake */
    uint64_t timer; /* handshake deadline or retry */
    uint64_t drain_timer;
    uint64_t backoff_ms;
    unsigned gen; /* bumped at every teardown: callers notice a reset */
    bool want_write;
    char *last_failure; /* last logged failure reason, so repeats are quiet */
};

static void conn_connect(struct ev_loop *loop, void *arg);
static void conn_on_fd(struct ev_loop *loop, int fd, unsigned events, void *arg);

const char *
dir_conn_name(const struct dir_conn *c)
{
    return c->name;
}

bool
dir_conn_is_up(const struct dir_conn *c)
{
    return c->state == CONN_UP;
}

bool
dir_conn_is_down(const struct dir_conn *c)
{
    return c->state == CONN_WAIT && c->last_failure != NULL;
}

struct ldap *
dir_conn_ld(struct dir_conn *c)
{
    return c->state == CONN_UP ? c->ld : NULL;
}

static const char *
ld_error(LDAP *ld, int rc)
{
    int err = rc;
    if (ld && rc == -1)
        ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
    return ldap_err2string(err);
}

static void
conn_set_state(struct dir_conn *c, enum conn_state st)
{
    log_trace(TRACE_LDAP, "ldap state conn=%s from=%s to=%s", c->name, state_names[c->state],
              state_names[st]);
    c->state = st;
}

/* Closes everything; the owner hears "down" when it had heard "up". */
static void
conn_teardown(struct dir_conn *c)
{
    bool was_up = c->state == CONN_UP;
    if (c->fd >= 0)
        ev_del_fd(c->loop, c->fd);
    c->fd = -1;
    c->want_write = false;
    if (c->ld)
        ldap_unbind_ext(c->ld, NULL, NULL); /* closes the socket */
    c->ld = NULL;
    ev_timer_del(c->loop, c->timer);
    ev_timer_del(c->loop, c->drain_timer);
    c->timer = 0;
    c->drain_timer = 0;
    c->msgid = -1;
    c->gen++;
    conn_set_state(c, CONN_WAIT);
    if (was_up)
        c->ops->down(c, c->arg);
}

static void
conn_schedule(struct dir_conn *c)
{
    c->timer = ev_timer_add(c->loop, c->backoff_ms, conn_connect, c);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Connection attempt failed or an up connection broke. */
static void
conn_fail(struct dir_conn *c, const char *reason)
{
    bool was_up = c->state == CONN_UP;
    uint64_t retry = c->backoff_ms;
    if (was_up) {
        log_warn("ldap down conn=%s uri=%s reason=\"%s\" retry_ms=%llu", c->name, c->s->uri, reason,
                 (unsigned long long)retry);
    } else if (!c->last_failure || strcmp(c->last_failure, reason) != 0) {
        log_warn("ldap connect-failed conn=%s uri=%s reason=\"%s\" retry_ms=%llu", c->name,
                 c->s->uri, reason, (unsigned long long)retry);
    } else {
        log_trace(TRACE_LDAP, "ldap connect-failed conn=%s reason=\"%s\" retry_ms=%llu", c->name,
                  reason, (unsigned long long)retry);
    }
    free(c->last_failure);
    c->last_failure = xstrdup(reason);
    conn_teardown(c);
    if (c->state == CONN_WAIT && c->timer == 0)
        conn_schedule(c);
}

void
dir_conn_reset(struct dir_conn *c, const char *why)
{
    if (c->state == CONN_WAIT)
        return;
    conn_fail(c, why);
}

static void
conn_handshake_timeout(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct dir_conn *c = arg;
    c->timer = 0;
    conn_fail(c, "timed out");
}

static int
conn_send_bind(struct dir_conn *c)
{
    struct berval cred = {strlen(c->secret), (char *)c->secret};
    return ldap_sasl_bind(c->ld, c->s->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &c->msgid);
}

/* The first request of the handshake; sending it is what connects. */
static int
conn_send_first(struct dir_conn *c)
{
    if (c->s->starttls)
        return ldap_start_tls(c->ld, NULL, NULL, &c->msgid);
    return conn_send_bind(c);
}

static bool
conn_watch(struct dir_conn *c, unsigned mask)
{
    int fd = -1;
    if (ldap_get_option(c->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0)
        return false;
    if (c->fd == fd)
        return ev_mod_fd(c->loop, fd, mask) == PAL_OK;
    if (c->fd >= 0)
        ev_del_fd(c->loop, c->fd);
    c->fd = fd;
    return ev_add_fd(c->loop, fd, mask, conn_on_fd, c) == PAL_OK;
}

/* Sends (or re-sends, after LDAP_X_CONNECTING) the first request. */
static void
conn_try_first(struct dir_conn *c)
{
    int rc = conn_send_first(c);
    if (rc == LDAP_X_CONNECTING) {
        if (!conn_watch(c, EV_WRITE))
            conn_fail(c, "no socket from libldap");
        return;
    }
    if (rc != LDAP_SUCCESS) {
        conn_fail(c, ld_error(c->ld, rc));
        return;
    }
    /* Connected and the request is out. Reads must never block the loop:
     * libldap copes with EAGAIN and keeps partial messages. */
    if (!conn_watch(c, EV_READ)) {
        conn_fail(c, "no socket from libldap");
        return;
    }
    int fl = fcntl(c->fd, F_GETFL);
    if (fl >= 0)
        fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
    conn_set_state(c, c->s->starttls ? CONN_STARTTLS : CONN_BINDING);
}

static void
conn_connect(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct dir_conn *c = arg;
    int rc;

    c->timer = 0;
    rc = ldap_initialize(&c->ld, c->s->uri);
    if (rc != LDAP_SUCCESS) {
        conn_fail(c, ldap_err2string(rc));
        return;
    }
    int v3 = LDAP_VERSION3;
    struct timeval tv = {(time_t)(c->s->timeout_ms / 1000),
                         (suseconds_t)(c->s->timeout_ms % 1000) * 1000};
    int idle = 30;
    int probes = 3;
    int interval = 10;
    ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(c->ld, LDAP_OPT_RESTART, LDAP_OPT_ON);
    /* CONNECT_ASYNC works only with a network timeout set (libldap source). */
    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(c->ld, LDAP_OPT_CONNECT_ASYNC, LDAP_OPT_ON);
    /* Notice a silently dead server under the long-lived sync search. */
    ldap_set_option(c->ld, LDAP_OPT_X_KEEPALIVE_IDLE, &idle);
    ldap_set_option(c->ld, LDAP_OPT_X_KEEPALIVE_PROBES, &probes);
    ldap_set_option(c->ld, LDAP_OPT_X_KEEPALIVE_INTERVAL, &interval);
    if (c->s->starttls || strncmp(c->s->uri, "ldaps:", 6) == 0) {
        int demand = LDAP_OPT_X_TLS_DEMAND;
        int is_server = 0;
        rc = ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
        if (rc == LDAP_OPT_SUCCESS && c->s->ca_file)
            rc = ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, c->s->ca_file);
        if (rc == LDAP_OPT_SUCCESS)
            rc = ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
        if (rc != LDAP_OPT_SUCCESS) {
            conn_fail(c, "TLS setup failed (ldap.ca_file?)");
            return;
        }
    }
    conn_set_state(c, CONN_CONNECTING);
    c->timer = ev_timer_add(c->loop, (uint64_t)c->s->timeout_ms, conn_handshake_timeout, c);
    conn_try_first(c);
}

static void
conn_up(struct dir_conn *c)
{
    ev_timer_del(c->loop, c->timer);
    c->timer = 0;
    c->backoff_ms = BACKOFF_MIN_MS;
    free(c->last_failure);
    c->last_failure = NULL;
    conn_set_state(c, CONN_UP);
    log_notice("ldap up conn=%s uri=%s%s", c->name, c->s->uri,
               c->s->starttls ? " tls=starttls" : "");
    c->ops->up(c, c->arg);
}

/* One message during the handshake. */
static void
conn_handshake_msg(struct dir_conn *c, LDAPMessage *m)
{
    int err = LDAP_OTHER;
    char *text = NULL;
    if (ldap_msgid(m) != c->msgid) {
        log_trace(TRACE_LDAP, "ldap unexpected-message conn=%s msgid=%d type=%d", c->name,
                  ldap_msgid(m), ldap_msgtype(m));
        return;
    }
    if (ldap_parse_result(c->ld, m, &err, NULL, &text, NULL, NULL, 0) != LDAP_SUCCESS)
        err = LDAP_PROTOCOL_ERROR;
    if (err != LDAP_SUCCESS) {
        char *why = xasprintf("%s refused: %s%s%s", c->state == CONN_STARTTLS ? "StartTLS" : "bind",
                              ldap_err2string(err), text && text[0] ? ": " : "", text ? text : "");
        ldap_memfree(text);
        conn_fail(c, why);
        free(why);
        return;
    }
    ldap_memfree(text);
    if (c->state == CONN_STARTTLS) {
        int rc = ldap_install_tls(c->ld);
        if (rc != LDAP_SUCCESS) {
            conn_fail(c, "TLS handshake failed (certificate, ldap.ca_file?)");
            return;
        }
        rc = conn_send_bind(c);
        if (rc != LDAP_SUCCESS) {
            conn_fail(c, ld_error(c->ld, rc));
            return;
        }
        conn_set_state(c, CONN_BINDING);
        return;
    }
    conn_up(c);
}

static void conn_drain(struct dir_conn *c);

static void
conn_drain_later(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct dir_conn *c = arg;
    c->drain_timer = 0;
    conn_drain(c);
}

static void
conn_drain(struct dir_conn *c)
{
    unsigned gen = c->gen;
    int zeros = 0;
    for (unsigned n = 0; zeros < 2; n++) {
        if (n == DRAIN_MAX) {
            if (!c->drain_timer)
                c->drain_timer = ev_timer_add(c->loop, 0, conn_drain_later, c);
            return;
        }
        LDAPMessage *m = NULL;
        struct timeval zero = {0, 0};
        int rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &m);
        if (rc == 0) {
            zeros++;
            continue;
        }
        if (rc < 0) {
            conn_fail(c, ld_error(c->ld, -1));
            return;
        }
        zeros = 0;
        if (ldap_msgid(m) == 0 && rc == LDAP_RES_EXTENDED) {
            /* unsolicited notification: the server is closing on us */
            ldap_msgfree(m);
            conn_fail(c, "notice of disconnection from the server");
            return;
        }
        if (c->state == CONN_UP)
            c->ops->msg(c, m, c->arg);
        else
            conn_handshake_msg(c, m);
        ldap_msgfree(m);
        if (c->gen != gen)
            return; /* reset by a callback: the handle is gone */
    }
}

static void
conn_on_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)fd;
    struct dir_conn *c = arg;
    if (c->state == CONN_CONNECTING) {
        conn_try_first(c);
        return;
    }
    unsigned gen = c->gen;
    if ((events & EV_WRITE) && c->want_write) {
        c->want_write = false;
        ev_mod_fd(c->loop, c->fd, EV_READ);
    }
    conn_drain(c); /* also finishes a partly written request */
    if (c->gen == gen && (events & EV_WRITE) && c->state == CONN_UP && c->ops->writable)
        c->ops->writable(c, c->arg);
}

void
dir_conn_sent(struct dir_conn *c)
{
    int err = LDAP_SUCCESS;
    if (c->state != CONN_UP || c->want_write)
        return;
    ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &err);
    if (err == LDAP_BUSY) {
        c->want_write = true;
        ev_mod_fd(c->loop, c->fd, EV_READ | EV_WRITE);
    }
}

struct dir_conn *
dir_conn_new(struct ev_loop *loop, const struct dir_settings *s, const char *secret,
             const char *name, const struct dir_conn_ops *ops, void *arg)
{
    struct dir_conn *c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->s = s;
    c->secret = secret;
    c->name = xstrdup(name);
    c->ops = ops;
    c->arg = arg;
    c->fd = -1;
    c->msgid = -1;
    c->state = CONN_WAIT;
    c->backoff_ms = BACKOFF_MIN_MS;
    /* from the loop, so that dir_new() itself does no I/O */
    c->timer = ev_timer_add(loop, 0, conn_connect, c);
    return c;
}

void
dir_conn_free(struct dir_conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        ev_del_fd(c->loop, c->fd);
    if (c->ld)
        ldap_unbind_ext(c->ld, NULL, NULL);
    ev_timer_del(c->loop, c->timer);
    ev_timer_del(c->loop, c->drain_timer);
    free(c->last_failure);
    free(c->name);
    free(c);
}
