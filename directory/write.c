/* SPDX-License-Identifier: Apache-2.0 */
/* write.c - roster, offline and room writes, sent asynchronously on the main
 * connection (ldap_add_ext / ldap_modify_ext / ldap_delete_ext with a message
 * id; the result comes back through ldap.c's drain). The replica already shows
 * each change; this queue makes LDAP agree.
 *
 * Every operation is made idempotent so it can be sent again after a
 * reconnect without knowing whether the first attempt landed: a put is an add
 * that turns into a modify-replace on alreadyExists (and back on noSuchObject),
 * a delete of a missing entry is done, and an add that finds its entry after
 * an uncertain attempt is done; a modify (rooms) is a replace of the same
 * values, and never creates a missing entry. Operations on one DN go out one at a time
 * and in order (slapd runs the operations of one connection concurrently); up
 * to WINDOW run at once. An operation unanswered after ldap.timeout_ms drops
 * the connection, which then retries everything. Transient server errors are
 * retried a few times; anything else fails the operation for good
 * (done(PAL_ELDAP), replica told). */
#include "directory/dir_int.h"

#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#define WINDOW 64     /* operations in flight */
#define SCAN_MAX 256  /* queued operations looked at per flush */
#define MAX_ERRORS 5  /* transient server errors before giving up */
#define RETRY_MS 1000 /* after a transient server error */
#define TICK_MS 1000

enum wop_kind { WOP_PUT, WOP_ADD, WOP_MOD, WOP_DEL };
enum wop_phase { PH_ADD, PH_MODIFY, PH_DELETE };

static const char *const phase_names[] = {
    [PH_ADD] = "add", [PH_MODIFY] = "modify", [PH_DELETE] = "delete"};

struct wop {
    struct wop *prev, *next;
    enum wop_kind kind;
    enum wop_phase phase;
    char *dn;
    char *ndn;
    struct arena *a; /* attrs, and the LDAPMod arrays built from them */
    const struct dir_attr *attrs;
    size_t n_attrs;
    unsigned errors;    /* transient server errors so far */
    unsigned switches;  /* add <-> modify flips of a put */
    bool maybe_applied; /* an earlier attempt went out and its result was lost */
    int msgid;
    uint64_t sent_ms;
    uint64_t not_before_ms;
    dir_done_fn done;
    void *arg;
};

struct wlist {
    struct wop *head, *tail;
    size_t n;
};

struct dir_writer {
    struct ev_loop *loop;
    struct dir_conn *c;
    struct dir_replica *r;
    int64_t timeout_ms;
    struct wlist queue;
    struct wlist inflight; /* in send order */
    uint64_t tick_timer;
    uint64_t retry_timer;
    bool blocked; /* libldap said LDAP_BUSY: wait for the socket */
};

/* ---- Lists ------------------------------------------------------------------ */

static void
wl_remove(struct wlist *l, struct wop *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
    l->n--;
}

static void
wl_push_back(struct wlist *l, struct wop *op)
{
    op->prev = l->tail;
    op->next = NULL;
    if (l->tail)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
    l->n++;
}

static void
wl_push_front(struct wlist *l, struct wop *op)
{
    op->prev = NULL;
    op->next = l->head;
    if (l->head)
        l->head->prev = op;
    else
        l->tail = op;
    l->head = op;
    l->n++;
}

static void
wop_free(struct wop *op)
{
    arena_free(op->a);
    free(op->dn);
    free(op->ndn);
    free(op);
}

/* ---- Sending ------------------------------------------------------------------- */

static void writer_flush(struct dir_writer *w);

static void
writer_tick(struct ev_loop *loop, void *arg)
{
    struct dir_writer *w = arg;
    w->tick_timer = 0;
    if (!w->inflight.head)
        return;
    uint64_t now = ev_now(loop);
    struct wop *oldest = w->inflight.head;
    if (now - oldest->sent_ms >= (uint64_t)w->timeout_ms) {
        log_warn("ldap write-timeout op=%s dn=\"%s\" ms=%llu", phase_names[oldest->phase],
                 oldest->dn, (unsigned long long)(now - oldest->sent_ms));
        dir_conn_reset(w->c, "write timed out"); /* requeues everything via down */
        return;
    }
    w->tick_timer = ev_timer_add(loop, TICK_MS, writer_tick, w);
}

static void
writer_retry(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct dir_writer *w = arg;
    w->retry_timer = 0;
    writer_flush(w);
}

static struct berval **
wop_bvals(struct arena *a, const struct dir_attr *at)
{
    struct berval **bv = arena_alloc(a, (at->n + 1) * sizeof *bv);
    for (size_t i = 0; i < at->n; i++) {
        bv[i] = arena_alloc(a, sizeof **bv);
        bv[i]->bv_val = (char *)at->v[i].p;
        bv[i]->bv_len = at->v[i].len;
    }
    bv[at->n] = NULL;
    return bv;
}

/* The LDAPMod array of the current phase. A modify replaces every attribute
 * but objectClass and the RDN attribute (the first two); an empty replace
 * deletes the attribute. */
static LDAPMod **
wop_mods(struct wop *op)
{
    LDAPMod **mods = arena_alloc(op->a, (op->n_attrs + 1) * sizeof *mods);
    size_t k = 0;
    for (size_t i = 0; i < op->n_attrs; i++) {
        const struct dir_attr *at = &op->attrs[i];
        if (op->phase == PH_ADD && at->n == 0)
            continue;
        if (op->phase == PH_MODIFY && i < 2)
            continue;
        LDAPMod *m = arena_alloc(op->a, sizeof *m);
        m->mod_op = (op->phase == PH_ADD ? LDAP_MOD_ADD : LDAP_MOD_REPLACE) | LDAP_MOD_BVALUES;
        m->mod_type = (char *)at->name;
        m->mod_bvalues = wop_bvals(op->a, at);
        mods[k++] = m;
    }
    mods[k] = NULL;
    return mods;
}

/* Returns false when nothing more can be sent now. */
static bool
wop_send(struct dir_writer *w, struct wop *op)
{
    LDAP *ld = dir_conn_ld(w->c);
    int rc;
    if (!ld)
        return false;
    switch (op->phase) {
    case PH_DELETE:
        rc = ldap_delete_ext(ld, op->dn, NULL, NULL, &op->msgid);
        break;
    case PH_ADD:
        rc = ldap_add_ext(ld, op->dn, wop_mods(op), NULL, NULL, &op->msgid);
        break;
    default:
        rc = ldap_modify_ext(ld, op->dn, wop_mods(op), NULL, NULL, &op->msgid);
        break;
    }
    if (rc == LDAP_BUSY) {
        /* an earlier request is still being written: wait for the socket */
        w->blocked = true;
        dir_conn_sent(w->c);
        return false;
    }
    if (rc != LDAP_SUCCESS) {
        char *why = xasprintf("write not sent: %s", ldap_err2string(rc));
        dir_conn_reset(w->c, why); /* our down handler requeues */
        free(why);
        return false;
    }
    wl_remove(&w->queue, op);
    op->sent_ms = ev_now(w->loop);
    wl_push_back(&w->inflight, op);
    log_trace(TRACE_LDAP, "ldap write-sent op=%s dn=\"%s\" msgid=%d", phase_names[op->phase],
              op->dn, op->msgid);
    dir_conn_sent(w->c);
    if (!w->tick_timer)
        w->tick_timer = ev_timer_add(w->loop, TICK_MS, writer_tick, w);
    return true;
}

static bool
ndn_in(const char *const *v, size_t n, const char *ndn)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], ndn) == 0)
            return true;
    return false;
}

static void
writer_flush(struct dir_writer *w)
{
    if (!dir_conn_is_up(w->c) || w->blocked)
        return;
    /* DNs that must wait: in flight, or held back earlier in this scan */
    const char *held[WINDOW + SCAN_MAX];
    size_t n_held = 0;
    for (struct wop *op = w->inflight.head; op; op = op->next)
        held[n_held++] = op->ndn;
    uint64_t now = ev_now(w->loop);
    uint64_t wake = 0;
    size_t scanned = 0;
    for (struct wop *op = w->queue.head, *next; op && w->inflight.n < WINDOW; op = next) {
        next = op->next;
        if (++scanned > SCAN_MAX)
            break;
        if (ndn_in(held, n_held, op->ndn))
            continue;
        if (op->not_before_ms > now) {
            held[n_held++] = op->ndn;
            if (!wake || op->not_before_ms < wake)
                wake = op->not_before_ms;
            continue;
        }
        held[n_held++] = op->ndn;
        if (!wop_send(w, op))
            return;
    }
    if (wake && !w->retry_timer)
        w->retry_timer = ev_timer_add(w->loop, wake - now, writer_retry, w);
}

void
dir_writer_kick(struct dir_writer *w)
{
    w->blocked = false;
    writer_flush(w);
}

/* ---- Results ---------------------------------------------------------------------- */

static void
wop_finish(struct dir_writer *w, struct wop *op, int rc, int ldap_rc, const char *text)
{
    if (rc != PAL_OK)
        log_error("ldap write-failed op=%s dn=\"%s\" reason=\"%s%s%s\"", phase_names[op->phase],
                  op->dn, ldap_err2string(ldap_rc), text && text[0] ? ": " : "", text ? text : "");
    else
        log_trace(TRACE_LDAP, "ldap write-done op=%s dn=\"%s\"", phase_names[op->phase], op->dn);
    dir_replica_unpend(w->r, op->dn, rc == PAL_OK);
    if (op->done)
        op->done(op->arg, rc);
    wop_free(op);
}

static bool
is_transient(int err)
{
    switch (err) {
    case LDAP_BUSY:
    case LDAP_UNAVAILABLE:
    case LDAP_OTHER:
    case LDAP_TIMELIMIT_EXCEEDED:
    case LDAP_ADMINLIMIT_EXCEEDED:
    case LDAP_SERVER_DOWN:
    case LDAP_TIMEOUT:
        return true;
    default:
        return false;
    }
}

/* Decides what a result means; returns true when op goes back to the queue. */
static bool
wop_result(struct dir_writer *w, struct wop *op, int err, const char *text)
{
    if (err == LDAP_SUCCESS) {
        wop_finish(w, op, PAL_OK, err, NULL);
        return false;
    }
    if (op->phase == PH_DELETE && err == LDAP_NO_SUCH_OBJECT) {
        wop_finish(w, op, PAL_OK, err, NULL);
        return false;
    }
    if (op->kind == WOP_ADD && err == LDAP_ALREADY_EXISTS && op->maybe_applied) {
        wop_finish(w, op, PAL_OK, err, NULL); /* our earlier attempt landed */
        return false;
    }
    if (op->kind == WOP_PUT && op->switches < 4 &&
        ((op->phase == PH_ADD && err == LDAP_ALREADY_EXISTS) ||
         (op->phase == PH_MODIFY && err == LDAP_NO_SUCH_OBJECT))) {
        op->phase = op->phase == PH_ADD ? PH_MODIFY : PH_ADD;
        op->switches++;
        return true;
    }
    if (is_transient(err) && ++op->errors < MAX_ERRORS) {
        log_warn("ldap write-retry op=%s dn=\"%s\" reason=\"%s\" attempt=%u",
                 phase_names[op->phase], op->dn, ldap_err2string(err), op->errors);
        op->not_before_ms = ev_now(w->loop) + RETRY_MS;
        return true;
    }
    wop_finish(w, op, PAL_ELDAP, err, text);
    return false;
}

bool
dir_writer_msg(struct dir_writer *w, struct ldapmsg *m)
{
    int id = ldap_msgid(m);
    struct wop *op = w->inflight.head;
    while (op && op->msgid != id)
        op = op->next;
    if (!op)
        return false;
    int err = LDAP_OTHER;
    char *text = NULL;
    LDAP *ld = dir_conn_ld(w->c);
    if (!ld || ldap_parse_result(ld, m, &err, NULL, &text, NULL, NULL, 0) != LDAP_SUCCESS)
        err = LDAP_PROTOCOL_ERROR;
    wl_remove(&w->inflight, op);
    if (wop_result(w, op, err, text))
        wl_push_front(&w->queue, op);
    ldap_memfree(text);
    writer_flush(w);
    return true;
}

/* ---- Connection state --------------------------------------------------------------- */

void
dir_writer_up(struct dir_writer *w)
{
    w->blocked = false;
    if (w->queue.n)
        log_info("ldap write-resume queued=%zu", w->queue.n);
    writer_flush(w);
}

void
dir_writer_down(struct dir_writer *w)
{
    /* Back to the front of the queue, in their original order; whether they
     * landed is unknown. */
    while (w->inflight.tail) {
        struct wop *op = w->inflight.tail;
        wl_remove(&w->inflight, op);
        op->maybe_applied = true;
        wl_push_front(&w->queue, op);
    }
    w->blocked = false;
    ev_timer_del(w->loop, w->tick_timer);
    w->tick_timer = 0;
}

size_t
dir_writer_pending(const struct dir_writer *w)
{
    return w->queue.n + w->inflight.n;
}

/* ---- Queueing -------------------------------------------------------------------------- */

static void
writer_queue(struct dir_writer *w, enum wop_kind kind, enum wop_phase phase, const char *dn,
             struct arena *a, const struct dir_attr *attrs, size_t n, dir_done_fn done, void *arg)
{
    struct wop *op = xcalloc(1, sizeof *op);
    op->kind = kind;
    op->phase = phase;
    op->dn = xstrdup(dn);
    op->ndn = dir_dn_normalize(dn);
    if (!op->ndn)
        op->ndn = xstrdup(dn);
    op->a = a;
    op->attrs = attrs;
    op->n_attrs = n;
    op->msgid = -1;
    op->done = done;
    op->arg = arg;
    wl_push_back(&w->queue, op);
    writer_flush(w);
}

void
dir_writer_put(struct dir_writer *w, const char *dn, struct arena *a, const struct dir_attr *attrs,
               size_t n, bool exists, dir_done_fn done, void *arg)
{
    writer_queue(w, WOP_PUT, exists ? PH_MODIFY : PH_ADD, dn, a, attrs, n, done, arg);
}

void
dir_writer_modify(struct dir_writer *w, const char *dn, struct arena *a,
                  const struct dir_attr *attrs, size_t n, dir_done_fn done, void *arg)
{
    writer_queue(w, WOP_MOD, PH_MODIFY, dn, a, attrs, n, done, arg);
}

void
dir_writer_add(struct dir_writer *w, const char *dn, struct arena *a, const struct dir_attr *attrs,
               size_t n, dir_done_fn done, void *arg)
{
    writer_queue(w, WOP_ADD, PH_ADD, dn, a, attrs, n, done, arg);
}

void
dir_writer_del(struct dir_writer *w, const char *dn, dir_done_fn done, void *arg)
{
    writer_queue(w, WOP_DEL, PH_DELETE, dn, NULL, NULL, 0, done, arg);
}

struct dir_writer *
dir_writer_new(struct ev_loop *loop, struct dir_conn *c, struct dir_replica *r, int64_t timeout_ms)
{
    struct dir_writer *w = xcalloc(1, sizeof *w);
    w->loop = loop;
    w->c = c;
    w->r = r;
    w->timeout_ms = timeout_ms;
    return w;
}

void
dir_writer_free(struct dir_writer *w)
{
    if (!w)
        return;
    struct wlist *lists[] = {&w->queue, &w->inflight};
    for (size_t i = 0; i < 2; i++) {
        for (struct wop *op = lists[i]->head, *next; op; op = next) {
            next = op->next;
            /* The write will never happen: its owner hears so and frees
             * what it kept for the answer (the node logs each one). */
            if (op->done)
                op->done(op->arg, PAL_ELDAP);
            wop_free(op);
        }
        *lists[i] = (struct wlist){NULL, NULL, 0};
    }
    ev_timer_del(w->loop, w->tick_timer);
    ev_timer_del(w->loop, w->retry_timer);
    free(w);
}
