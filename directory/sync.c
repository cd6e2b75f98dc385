/* SPDX-License-Identifier: Apache-2.0 */
/* sync.c - our RFC 4533 content-sync consumer (refreshAndPersist) on the main
 * connection, feeding replica.c. libldap's ldap_sync_* helpers block and lose
 * notifications (PLATFORM-NOTES section 2), so this is built on ldap_search_ext
 * with the sync request control and on the messages ldap.c drains:
 *   - entries carry a sync state control: add/modify (full entry), delete,
 *     present (refreshPresent phase);
 *   - sync info intermediates: new cookie, end of a refreshPresent or
 *     refreshDelete phase (refreshDone), syncIdSet (bulk present or delete);
 *   - a search result ends the search: e-syncRefreshRequired means a full
 *     reload, anything else a resume after a backoff.
 * The cookie lives in memory for the life of the process, so a reconnect
 * resumes where it stopped; a restarted node does one full refresh. At the end
 * of a present phase, and at the end of a refresh that started without a
 * cookie, whatever the server did not mention is removed from the replica. */
#include "directory/dir_int.h"

#include <stdlib.h>
#include <string.h>

#include <lber.h>
#include <ldap.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#define RESTART_MIN_MS 100
#define RESTART_MAX_MS 5000

struct dir_sync {
    struct ev_loop *loop;
    struct dir_conn *c;
    struct dir_replica *r;
    char *base;
    char *filter;
    char **attrs;         /* NULL-terminated */
    struct berval cookie; /* bv_val malloc'ed; bv_len 0 = none */
    int msgid;            /* the running sync search, or -1 */
    bool full;            /* this refresh started without a cookie */
    bool refreshing;
    bool swept;
    bool ready;
    uint64_t restart_timer;
    uint64_t restart_ms;
    char *last_end; /* last logged reason the search ended */
    uint64_t refresh_start_ms;
    size_t n_entries; /* add/modify/present/delete seen in this refresh */
    dir_sync_ready_fn ready_fn;
    void *ready_arg;
};

static void
sync_cookie_set(struct dir_sync *s, const struct berval *bv)
{
    if (!bv || bv->bv_len == 0)
        return;
    free(s->cookie.bv_val);
    s->cookie.bv_val = xmemdup(bv->bv_val, bv->bv_len);
    s->cookie.bv_len = bv->bv_len;
}

static void
sync_cookie_drop(struct dir_sync *s)
{
    free(s->cookie.bv_val);
    s->cookie.bv_val = NULL;
    s->cookie.bv_len = 0;
}

static void
sync_start(struct dir_sync *s)
{
    LDAP *ld = dir_conn_ld(s->c);
    if (!ld || s->msgid >= 0)
        return;

    BerElement *ber = ber_alloc_t(LBER_USE_DER);
    int rc;
    if (s->cookie.bv_len)
        rc = ber_printf(ber, "{eO}", (ber_int_t)LDAP_SYNC_REFRESH_AND_PERSIST, &s->cookie);
    else
        rc = ber_printf(ber, "{e}", (ber_int_t)LDAP_SYNC_REFRESH_AND_PERSIST);
    struct berval val = {0, NULL};
    if (rc == -1 || ber_flatten2(ber, &val, 0) == -1) {
        ber_free(ber, 1);
        dir_conn_reset(s->c, "cannot encode the sync request control");
        return;
    }
    LDAPControl ctrl = {(char *)LDAP_CONTROL_SYNC, val, 1};
    LDAPControl *ctrls[] = {&ctrl, NULL};
    rc = ldap_search_ext(ld, s->base, LDAP_SCOPE_SUBTREE, s->filter, s->attrs, 0, ctrls, NULL, NULL,
                         LDAP_NO_LIMIT, &s->msgid);
    ber_free(ber, 1);
    if (rc != LDAP_SUCCESS) {
        s->msgid = -1;
        char *why = xasprintf("sync search not sent: %s", ldap_err2string(rc));
        dir_conn_reset(s->c, why);
        free(why);
        return;
    }
    dir_conn_sent(s->c);
    s->full = s->cookie.bv_len == 0;
    s->refreshing = true;
    s->swept = false;
    s->n_entries = 0;
    s->refresh_start_ms = ev_now(s->loop);
    dir_replica_refresh_begin(s->r);
    log_info("ldap sync-start base=\"%s\" mode=%s", s->base, s->full ? "full" : "resume");
}

static void
sync_restart_timer(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct dir_sync *s = arg;
    s->restart_timer = 0;
    sync_start(s);
}

void
dir_sync_up(struct dir_sync *s)
{
    sync_start(s);
}

void
dir_sync_down(struct dir_sync *s)
{
    s->msgid = -1;
    s->refreshing = false;
    ev_timer_del(s->loop, s->restart_timer);
    s->restart_timer = 0;
}

bool
dir_sync_is_ready(const struct dir_sync *s)
{
    return s->ready;
}

static void
sync_sweep(struct dir_sync *s)
{
    if (s->swept)
        return;
    size_t n = dir_replica_sweep(s->r);
    s->swept = true;
    if (n)
        log_info("ldap sync-sweep removed=%zu", n);
}

static void
sync_refresh_done(struct dir_sync *s)
{
    if (!s->refreshing)
        return;
    if (s->full)
        sync_sweep(s);
    s->refreshing = false;
    dir_replica_refresh_end(s->r); /* the replica is complete: room problems are real */
    s->restart_ms = 0;
    free(s->last_end);
    s->last_end = NULL;
    log_notice("ldap sync-refreshed mode=%s changes=%zu users=%zu entries=%zu ms=%llu",
               s->full ? "full" : "resume", s->n_entries, dir_replica_user_count(s->r),
               dir_replica_entry_count(s->r),
               (unsigned long long)(ev_now(s->loop) - s->refresh_start_ms));
    if (!s->ready) {
        s->ready = true;
        if (s->ready_fn)
            s->ready_fn(s->ready_arg);
    }
}

/* ---- Entries ---------------------------------------------------------------- */

/* Converts a search entry into the plain form map.c reads and applies it. */
static void
sync_apply_entry(struct dir_sync *s, LDAP *ld, LDAPMessage *m, const unsigned char uuid[16])
{
    char *dn = ldap_get_dn(ld, m);
    if (!dn) {
        log_warn("ldap sync-skip reason=\"entry without DN\"");
        return;
    }
    size_t n = 0;
    size_t cap = 16;
    struct dir_attr *attrs = xcalloc(cap, sizeof *attrs);
    char **names = xcalloc(cap, sizeof *names);
    struct berval ***vals = xcalloc(cap, sizeof *vals);
    BerElement *b = NULL;
    for (char *a = ldap_first_attribute(ld, m, &b); a; a = ldap_next_attribute(ld, m, b)) {
        struct berval **v = ldap_get_values_len(ld, m, a);
        size_t nv = v ? (size_t)ldap_count_values_len(v) : 0;
        if (n == cap) {
            cap *= 2;
            attrs = xrealloc(attrs, cap * sizeof *attrs);
            names = xrealloc(names, cap * sizeof *names);
            vals = xrealloc(vals, cap * sizeof *vals);
        }
        struct dir_val *dv = xcalloc(nv ? nv : 1, sizeof *dv);
        for (size_t i = 0; i < nv; i++)
            dv[i] = (struct dir_val){v[i]->bv_val, v[i]->bv_len};
        names[n] = a;
        vals[n] = v;
        attrs[n] = (struct dir_attr){a, nv, dv};
        n++;
    }
    ber_free(b, 0);

    struct dir_entry e = {dn, n, attrs};
    int rc = dir_replica_put(s->r, uuid, &e);
    enum dir_kind kind = dir_entry_kind(&e);
    if (rc == PAL_EEXIST && kind == DIR_KIND_NODE)
        log_warn("ldap sync-duplicate-node dn=\"%s\" action=\"another node entry has its name "
                 "or key: only the first by name, then DN, is a member\"",
                 dn);
    else if (rc == PAL_EEXIST && kind == DIR_KIND_ROOM)
        log_warn("ldap sync-duplicate-room dn=\"%s\" action=\"ignored while an entry with a "
                 "lower DN holds its xmppRoomJID\"",
                 dn);
    else if (rc == PAL_EEXIST)
        log_warn("ldap sync-duplicate-jid dn=\"%s\" action=\"ignored while another entry holds "
                 "the JID\"",
                 dn);
    else if (rc != PAL_OK)
        log_warn("ldap sync-skip dn=\"%s\" reason=\"malformed %s entry: %s\"", dn,
                 dir_kind_str(kind), dir_replica_why(s->r));
    else
        log_trace(TRACE_LDAP, "ldap sync-entry dn=\"%s\"", dn);

    for (size_t i = 0; i < n; i++) {
        free((void *)attrs[i].v);
        ldap_value_free_len(vals[i]);
        ldap_memfree(names[i]);
    }
    free(attrs);
    free(names);
    free(vals);
    ldap_memfree(dn);
}

static void
sync_entry(struct dir_sync *s, LDAP *ld, LDAPMessage *m)
{
    LDAPControl **ctrls = NULL;
    LDAPControl *ctl = NULL;
    if (ldap_get_entry_controls(ld, m, &ctrls) == LDAP_SUCCESS)
        ctl = ldap_control_find(LDAP_CONTROL_SYNC_STATE, ctrls, NULL);
    if (!ctl) {
        log_warn("ldap sync-skip reason=\"entry without sync state control\"");
        ldap_controls_free(ctrls);
        return;
    }
    BerElement *ber = ber_init(&ctl->ldctl_value);
    ber_int_t state = -1;
    struct berval uuid = {0, NULL};
    struct berval cookie = {0, NULL};
    ber_len_t len;
    if (!ber || ber_scanf(ber, "{em", &state, &uuid) == LBER_ERROR || uuid.bv_len != 16) {
        log_warn("ldap sync-skip reason=\"bad sync state control\"");
        if (ber)
            ber_free(ber, 1);
        ldap_controls_free(ctrls);
        return;
    }
    if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE)
        ber_scanf(ber, "m", &cookie);
    const unsigned char *u = (const unsigned char *)uuid.bv_val;
    s->n_entries++;
    switch (state) {
    case LDAP_SYNC_PRESENT:
        dir_replica_present(s->r, u);
        break;
    case LDAP_SYNC_ADD:
    case LDAP_SYNC_MODIFY:
        sync_apply_entry(s, ld, m, u);
        break;
    case LDAP_SYNC_DELETE:
        dir_replica_remove(s->r, u);
        break;
    default:
        log_warn("ldap sync-skip reason=\"unknown sync state %d\"", (int)state);
        break;
    }
    sync_cookie_set(s, &cookie);
    ber_free(ber, 1);
    ldap_controls_free(ctrls);
}

/* ---- Sync info messages ------------------------------------------------------- */

static void
sync_info(struct dir_sync *s, LDAP *ld, LDAPMessage *m)
{
    char *oid = NULL;
    struct berval *data = NULL;
    if (ldap_parse_intermediate(ld, m, &oid, &data, NULL, 0) != LDAP_SUCCESS || !oid ||
        strcmp(oid, LDAP_SYNC_INFO) != 0 || !data) {
        log_trace(TRACE_LDAP, "ldap sync-intermediate-ignored oid=%s", oid ? oid : "-");
        goto out;
    }
    BerElement *ber = ber_init(data);
    if (!ber)
        goto out;
    ber_len_t len;
    ber_tag_t tag = ber_peek_tag(ber, &len);
    struct berval cookie = {0, NULL};
    ber_int_t flag;
    switch (tag) {
    case LDAP_TAG_SYNC_NEW_COOKIE:
        if (ber_scanf(ber, "tm", &tag, &cookie) != LBER_ERROR)
            sync_cookie_set(s, &cookie);
        break;
    case LDAP_TAG_SYNC_REFRESH_DELETE:
    case LDAP_TAG_SYNC_REFRESH_PRESENT: {
        bool present = tag == LDAP_TAG_SYNC_REFRESH_PRESENT;
        ber_int_t done = 1; /* DEFAULT TRUE */
        if (ber_scanf(ber, "{") == LBER_ERROR)
            break;
        if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
            ber_scanf(ber, "m", &cookie) != LBER_ERROR)
            sync_cookie_set(s, &cookie);
        if (ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDONE)
            ber_scanf(ber, "b", &done);
        log_trace(TRACE_LDAP, "ldap sync-info phase=%s done=%d", present ? "present" : "delete",
                  (int)done);
        /* RFC 4533 3.3.1: after a present phase, whatever was not mentioned
         * is gone. */
        if (present)
            sync_sweep(s);
        if (done)
            sync_refresh_done(s);
        break;
    }
    case LDAP_TAG_SYNC_ID_SET: {
        ber_int_t deletes = 0; /* DEFAULT FALSE */
        BerVarray uuids = NULL;
        if (ber_scanf(ber, "t{", &tag) == LBER_ERROR)
            break;
        if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
            ber_scanf(ber, "m", &cookie) != LBER_ERROR)
            sync_cookie_set(s, &cookie);
        if (ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDELETES &&
            ber_scanf(ber, "b", &flag) != LBER_ERROR)
            deletes = flag;
        if (ber_scanf(ber, "[W]", &uuids) == LBER_ERROR)
            break;
        size_t k = 0;
        for (; uuids && uuids[k].bv_val; k++) {
            if (uuids[k].bv_len != 16)
                continue;
            if (deletes)
                dir_replica_remove(s->r, (const unsigned char *)uuids[k].bv_val);
            else
                dir_replica_present(s->r, (const unsigned char *)uuids[k].bv_val);
        }
        s->n_entries += k;
        log_trace(TRACE_LDAP, "ldap sync-idset n=%zu deletes=%d", k, deletes ? 1 : 0);
        ber_bvarray_free(uuids);
        break;
    }
    default:
        log_warn("ldap sync-info-ignored tag=0x%lx", (unsigned long)tag);
        break;
    }
    ber_free(ber, 1);
out:
    ldap_memfree(oid);
    ber_bvfree(data);
}

/* ---- End of the search -------------------------------------------------------- */

static void
sync_ended(struct dir_sync *s, LDAP *ld, LDAPMessage *m)
{
    int err = LDAP_OTHER;
    char *text = NULL;
    LDAPControl **ctrls = NULL;
    if (ldap_parse_result(ld, m, &err, NULL, &text, NULL, &ctrls, 0) != LDAP_SUCCESS)
        err = LDAP_PROTOCOL_ERROR;
    LDAPControl *done = ldap_control_find(LDAP_CONTROL_SYNC_DONE, ctrls, NULL);
    if (done && err == LDAP_SUCCESS) {
        BerElement *ber = ber_init(&done->ldctl_value);
        struct berval cookie = {0, NULL};
        ber_len_t len;
        if (ber && ber_scanf(ber, "{") != LBER_ERROR &&
            ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
            ber_scanf(ber, "m", &cookie) != LBER_ERROR)
            sync_cookie_set(s, &cookie);
        if (ber)
            ber_free(ber, 1);
    }
    bool was_resuming = s->refreshing && !s->full;
    bool transient = err == LDAP_BUSY || err == LDAP_UNAVAILABLE || err == LDAP_SERVER_DOWN ||
                     err == LDAP_TIMEOUT;
    s->msgid = -1;
    s->refreshing = false;
    uint64_t delay;
    if (err == LDAP_SYNC_REFRESH_REQUIRED) {
        /* The server cannot resume from our cookie: start over; the sweep at
         * the end of the full refresh drops what no longer exists. */
        log_notice("ldap sync-refresh-required action=full-reload");
        sync_cookie_drop(s);
        delay = 0;
    } else if (was_resuming && !transient) {
        /* slapd refuses some cookies with other codes, e.g. unwillingToPerform
         * "consumer state is newer than provider" after a restore from backup:
         * resuming with it again would fail forever. */
        log_notice("ldap sync-resume-refused reason=\"%s%s%s\" action=full-reload",
                   ldap_err2string(err), text && text[0] ? ": " : "", text ? text : "");
        sync_cookie_drop(s);
        delay = 0;
    } else {
        char *why = xasprintf("%s%s%s", ldap_err2string(err), text && text[0] ? ": " : "",
                              text ? text : "");
        if (!s->last_end || strcmp(s->last_end, why) != 0)
            log_warn("ldap sync-ended reason=\"%s\" action=resume", why);
        free(s->last_end);
        s->last_end = why;
        s->restart_ms = s->restart_ms ? s->restart_ms * 2 : RESTART_MIN_MS;
        if (s->restart_ms > RESTART_MAX_MS)
            s->restart_ms = RESTART_MAX_MS;
        delay = s->restart_ms;
    }
    ldap_memfree(text);
    ldap_controls_free(ctrls);
    ev_timer_del(s->loop, s->restart_timer);
    s->restart_timer = ev_timer_add(s->loop, delay, sync_restart_timer, s);
}

bool
dir_sync_msg(struct dir_sync *s, struct ldapmsg *m)
{
    if (s->msgid < 0 || ldap_msgid(m) != s->msgid)
        return false;
    LDAP *ld = dir_conn_ld(s->c);
    switch (ldap_msgtype(m)) {
    case LDAP_RES_SEARCH_ENTRY:
        sync_entry(s, ld, m);
        break;
    case LDAP_RES_INTERMEDIATE:
        sync_info(s, ld, m);
        break;
    case LDAP_RES_SEARCH_RESULT:
        sync_ended(s, ld, m);
        break;
    default:
        break; /* references: we do not chase referrals */
    }
    return true;
}

/* ---- Setup ---------------------------------------------------------------------- */

static char *
sync_filter(void)
{
    struct buf b;
    buf_init(&b);
    buf_append_str(&b, "(|");
    for (size_t i = 0; i < dir_n_classes; i++)
        buf_printf(&b, "(objectClass=%s)", dir_classes[i].object_class);
    buf_append_str(&b, ")");
    char *f = buf_strdup(&b);
    buf_free(&b);
    return f;
}

static char **
sync_attrs(void)
{
    size_t n = 0;
    for (size_t i = 0; i < dir_n_classes; i++)
        for (const char *const *a = dir_classes[i].attrs; *a; a++)
            n++;
    char **v = xcalloc(n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < dir_n_classes; i++) {
        for (const char *const *a = dir_classes[i].attrs; *a; a++) {
            bool dup = false;
            for (size_t j = 0; j < k && !dup; j++)
                dup = strcmp(v[j], *a) == 0;
            if (!dup)
                v[k++] = xstrdup(*a);
        }
    }
    return v;
}

struct dir_sync *
dir_sync_new(struct ev_loop *loop, struct dir_conn *c, struct dir_replica *r, const char *base,
             dir_sync_ready_fn ready, void *arg)
{
    struct dir_sync *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->c = c;
    s->r = r;
    s->base = xstrdup(base);
    s->filter = sync_filter();
    s->attrs = sync_attrs();
    s->msgid = -1;
    s->ready_fn = ready;
    s->ready_arg = arg;
    return s;
}

void
dir_sync_free(struct dir_sync *s)
{
    if (!s)
        return;
    ev_timer_del(s->loop, s->restart_timer);
    for (char **a = s->attrs; *a; a++)
        free(*a);
    free(s->attrs);
    free(s->filter);
    free(s->base);
    free(s->last_end);
    sync_cookie_drop(s);
    free(s);
}
