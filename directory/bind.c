/* SPDX-License-Identifier: Apache-2.0 */
/* bind.c - password checks for SASL PLAIN by LDAP simple bind, so that any
 * password scheme or policy of the directory applies. A pool of ldap.bind_pool
 * connections (each its own dir_conn), one bind in flight per connection
 * (RFC 4511 4.2.1: nothing else may run during a bind), a FIFO queue in front.
 *
 * invalidCredentials and its kin give PAL_EDENIED; anything that says the
 * directory did not answer gives PAL_ELDAP, on which node/ falls back to the
 * replica's SCRAM secrets. Results are always delivered from the loop, never
 * inside dir_check_password() or dir_cancel(). The password copy is wiped as
 * soon as libldap has encoded the request (libldap's own buffer is freed
 * unwiped, which we cannot change). */
#include "directory/dir_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#define TICK_MS 250

struct bind_req {
    struct bind_req *next;
    uint64_t id;
    char *dn;
    char *pw;
    dir_done_fn done;
    void *arg;
    uint64_t start_ms;
    int rc; /* result, once finished */
    bool cancelled;
};

struct pool_conn {
    struct dir_bindpool *p;
    struct dir_conn *c;
    struct bind_req *cur;
    int msgid;
    uint64_t sent_ms;
};

struct req_list {
    struct bind_req *head, *tail;
};

struct dir_bindpool {
    struct ev_loop *loop;
    const struct dir_settings *s;
    struct pool_conn *conns;
    size_t n;
    struct req_list queue;
    struct req_list finished; /* waiting for the delivery timer */
    uint64_t next_id;
    uint64_t deliver_timer;
    uint64_t tick_timer;
};

static void
rl_push(struct req_list *l, struct bind_req *r)
{
    r->next = NULL;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

static void
rl_push_front(struct req_list *l, struct bind_req *r)
{
    r->next = l->head;
    l->head = r;
    if (!l->tail)
        l->tail = r;
}

static struct bind_req *
rl_pop(struct req_list *l)
{
    struct bind_req *r = l->head;
    if (r) {
        l->head = r->next;
        if (!l->head)
            l->tail = NULL;
        r->next = NULL;
    }
    return r;
}

static void
req_wipe(struct bind_req *r)
{
    if (r->pw) {
        OPENSSL_cleanse(r->pw, strlen(r->pw));
        free(r->pw);
        r->pw = NULL;
    }
}

static void
req_free(struct bind_req *r)
{
    req_wipe(r);
    free(r->dn);
    free(r);
}

static void
pool_deliver(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct dir_bindpool *p = arg;
    p->deliver_timer = 0;
    struct bind_req *r;
    /* a callback may start new checks: they go to a fresh list */
    struct req_list batch = p->finished;
    p->finished.head = p->finished.tail = NULL;
    while ((r = rl_pop(&batch)) != NULL) {
        if (!r->cancelled && r->done)
            r->done(r->arg, r->rc);
        req_free(r);
    }
}

static void
pool_finish(struct dir_bindpool *p, struct bind_req *r, int rc)
{
    req_wipe(r);
    r->rc = rc;
    rl_push(&p->finished, r);
    if (!p->deliver_timer)
        p->deliver_timer = ev_timer_add(p->loop, 0, pool_deliver, p);
}

/* True when no connection is up or on its way up. */
static bool
pool_unreachable(const struct dir_bindpool *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (!dir_conn_is_down(p->conns[i].c))
            return false;
    return true;
}

static void pool_tick(struct ev_loop *loop, void *arg);

static void
pool_arm_tick(struct dir_bindpool *p)
{
    if (!p->tick_timer)
        p->tick_timer = ev_timer_add(p->loop, TICK_MS, pool_tick, p);
}

/* Hands queued requests to idle connections. */
static void
pool_dispatch(struct dir_bindpool *p)
{
    for (size_t i = 0; i < p->n && p->queue.head; i++) {
        struct pool_conn *pc = &p->conns[i];
        LDAP *ld = dir_conn_ld(pc->c);
        if (!ld || pc->cur)
            continue;
        struct bind_req *r = rl_pop(&p->queue);
        struct berval cred = {strlen(r->pw), r->pw};
        int rc = ldap_sasl_bind(ld, r->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &pc->msgid);
        if (rc != LDAP_SUCCESS) {
            rl_push_front(&p->queue, r);
            char *why = xasprintf("bind not sent: %s", ldap_err2string(rc));
            dir_conn_reset(pc->c, why);
            free(why);
            continue;
        }
        req_wipe(r); /* encoded into libldap's buffer now */
        pc->cur = r;
        pc->sent_ms = ev_now(p->loop);
        dir_conn_sent(pc->c);
        pool_arm_tick(p); /* the answer is due within timeout_ms */
        log_trace(TRACE_LDAP, "ldap bind-check-sent conn=%s id=%llu", dir_conn_name(pc->c),
                  (unsigned long long)r->id);
    }
    /* Nobody left to ask: fail fast, node/ falls back to SCRAM secrets.
     * While connections are starting, requests wait (up to timeout_ms). */
    if (pool_unreachable(p)) {
        struct bind_req *r;
        while ((r = rl_pop(&p->queue)) != NULL)
            pool_finish(p, r, PAL_ELDAP);
    }
    if (p->queue.head)
        pool_arm_tick(p);
}

static void
pool_tick(struct ev_loop *loop, void *arg)
{
    struct dir_bindpool *p = arg;
    uint64_t now = ev_now(loop);
    uint64_t limit = (uint64_t)p->s->timeout_ms;
    bool busy = false;
    p->tick_timer = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct pool_conn *pc = &p->conns[i];
        if (pc->cur && now - pc->sent_ms >= limit) {
            struct bind_req *r = pc->cur;
            pc->cur = NULL;
            log_warn("ldap bind-check-timeout conn=%s id=%llu", dir_conn_name(pc->c),
                     (unsigned long long)r->id);
            pool_finish(p, r, PAL_ELDAP);
            dir_conn_reset(pc->c, "bind timed out");
        }
        busy |= pc->cur != NULL;
    }
    /* requests that waited too long in the queue */
    while (p->queue.head && now - p->queue.head->start_ms >= limit)
        pool_finish(p, rl_pop(&p->queue), PAL_ELDAP);
    if (busy || p->queue.head)
        pool_arm_tick(p);
}

static void
pool_conn_up(struct dir_conn *c, void *arg)
{
    (void)c;
    struct pool_conn *pc = arg;
    pool_dispatch(pc->p);
}

static void
pool_conn_down(struct dir_conn *c, void *arg)
{
    (void)c;
    struct pool_conn *pc = arg;
    if (pc->cur) {
        pool_finish(pc->p, pc->cur, PAL_ELDAP);
        pc->cur = NULL;
    }
    pool_dispatch(pc->p);
}

static int
bind_result_code(int err)
{
    switch (err) {
    case LDAP_SUCCESS:
        return PAL_OK;
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INAPPROPRIATE_AUTH:
    case LDAP_INVALID_DN_SYNTAX:
    case LDAP_NO_SUCH_OBJECT:
    case LDAP_UNWILLING_TO_PERFORM:
        return PAL_EDENIED;
    default:
        return PAL_ELDAP;
    }
}

static void
pool_conn_msg(struct dir_conn *c, struct ldapmsg *m, void *arg)
{
    struct pool_conn *pc = arg;
    if (!pc->cur || ldap_msgid(m) != pc->msgid)
        return;
    int err = LDAP_OTHER;
    LDAP *ld = dir_conn_ld(c);
    if (ldap_parse_result(ld, m, &err, NULL, NULL, NULL, NULL, 0) != LDAP_SUCCESS)
        err = LDAP_PROTOCOL_ERROR;
    struct bind_req *r = pc->cur;
    pc->cur = NULL;
    int rc = bind_result_code(err);
    log_trace(TRACE_LDAP, "ldap bind-check-done conn=%s id=%llu result=\"%s\"", dir_conn_name(c),
              (unsigned long long)r->id, ldap_err2string(err));
    pool_finish(pc->p, r, rc);
    pool_dispatch(pc->p);
}

static void
pool_conn_writable(struct dir_conn *c, void *arg)
{
    (void)c;
    pool_dispatch(((struct pool_conn *)arg)->p);
}

static const struct dir_conn_ops pool_ops = {
    .up = pool_conn_up,
    .down = pool_conn_down,
    .msg = pool_conn_msg,
    .writable = pool_conn_writable,
};

uint64_t
dir_bindpool_check(struct dir_bindpool *p, const char *dn, const char *password, dir_done_fn done,
                   void *arg)
{
    struct bind_req *r = xcalloc(1, sizeof *r);
    r->id = ++p->next_id;
    r->done = done;
    r->arg = arg;
    r->start_ms = ev_now(p->loop);
    r->dn = xstrdup(dn ? dn : "");
    /* An empty password would be an unauthenticated bind, which "succeeds"
     * (RFC 4513 5.1.2): refuse it here. */
    if (!dn || !dn[0] || !password || !password[0]) {
        pool_finish(p, r, PAL_EDENIED);
        return r->id;
    }
    r->pw = xstrdup(password);
    rl_push(&p->queue, r);
    pool_dispatch(p);
    return r->id;
}

void
dir_bindpool_cancel(struct dir_bindpool *p, uint64_t id)
{
    if (id == 0)
        return;
    struct bind_req **pr = &p->queue.head;
    struct bind_req *prev = NULL;
    for (; *pr; prev = *pr, pr = &(*pr)->next) {
        if ((*pr)->id == id) {
            struct bind_req *r = *pr;
            *pr = r->next;
            if (p->queue.tail == r)
                p->queue.tail = prev;
            req_free(r);
            return;
        }
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->conns[i].cur && p->conns[i].cur->id == id)
            p->conns[i].cur->cancelled = true; /* the bind finishes; nobody hears */
    for (struct bind_req *r = p->finished.head; r; r = r->next)
        if (r->id == id)
            r->cancelled = true;
}

struct dir_bindpool *
dir_bindpool_new(struct ev_loop *loop, const struct dir_settings *s, const char *secret, size_t n)
{
    struct dir_bindpool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->s = s;
    p->n = n;
    p->conns = xcalloc(n, sizeof *p->conns);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "bind%zu", i + 1);
        p->conns[i].p = p;
        p->conns[i].msgid = -1;
        p->conns[i].c = dir_conn_new(loop, s, secret, name, &pool_ops, &p->conns[i]);
    }
    return p;
}

void
dir_bindpool_free(struct dir_bindpool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        dir_conn_free(p->conns[i].c);
        if (p->conns[i].cur)
            req_free(p->conns[i].cur);
    }
    free(p->conns);
    struct bind_req *r;
    while ((r = rl_pop(&p->queue)) != NULL)
        req_free(r);
    while ((r = rl_pop(&p->finished)) != NULL)
        req_free(r);
    ev_timer_del(p->loop, p->deliver_timer);
    ev_timer_del(p->loop, p->tick_timer);
    free(p);
}
