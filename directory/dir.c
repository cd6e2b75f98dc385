/* SPDX-License-Identifier: Apache-2.0 */
/* dir.c - struct dir: the public face of directory/ (directory.h). It owns the
 * replica, the main connection that carries the content sync and the writes,
 * and the password-check pool, and wires them together: the main connection's
 * messages go to sync.c or write.c by message id; its up/down events restart
 * the sync search and replay queued writes. Reads answer from the replica and
 * never wait for LDAP; what the replica finds wrong with room entries is
 * logged here. */
#include "directory/dir_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/config.h"
#include "core/err.h"
#include "core/ev.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"

struct dir {
    struct ev_loop *loop;
    struct dir_settings s; /* our copies; optional strings NULL when unset */
    char *secret;
    struct dir_replica *r;
    struct dir_conn *main;
    struct dir_sync *sync;
    struct dir_writer *w;
    struct dir_bindpool *pool;
    dir_ready_fn ready_fn;
    void *ready_arg;
    char tag[9]; /* random per process: offline ids are unique across nodes */
    uint32_t seq;
};

/* ---- Main connection: sync + writes ---------------------------------------- */

static void
main_up(struct dir_conn *c, void *arg)
{
    (void)c;
    struct dir *d = arg;
    dir_sync_up(d->sync);
    dir_writer_up(d->w);
}

static void
main_down(struct dir_conn *c, void *arg)
{
    (void)c;
    struct dir *d = arg;
    dir_sync_down(d->sync);
    dir_writer_down(d->w);
}

static void
main_msg(struct dir_conn *c, struct ldapmsg *m, void *arg)
{
    struct dir *d = arg;
    if (dir_sync_msg(d->sync, m) || dir_writer_msg(d->w, m))
        return;
    log_trace(TRACE_LDAP, "ldap unexpected-message conn=%s msgid=%d", dir_conn_name(c),
              ldap_msgid(m));
}

static void
main_writable(struct dir_conn *c, void *arg)
{
    (void)c;
    dir_writer_kick(((struct dir *)arg)->w);
}

static const struct dir_conn_ops main_ops = {
    .up = main_up,
    .down = main_down,
    .msg = main_msg,
    .writable = main_writable,
};

static void
on_sync_ready(void *arg)
{
    struct dir *d = arg;
    if (d->ready_fn)
        d->ready_fn(d->ready_arg);
}

/* What the replica finds wrong with room entries; each problem once. */
static void
room_notice(void *arg, enum dir_room_notice what, const char *room_dn, const char *value,
            const char *group)
{
    (void)arg;
    switch (what) {
    case DIR_ROOM_UNRESOLVED:
        log_notice("ldap room-affiliation-skipped room=\"%s\" value=\"%s\"%s%s%s "
                   "reason=\"no user (xmppUser below ldap.users) or group (groupOfNames below "
                   "ldap.base) has this DN\"",
                   room_dn, value, group ? " group=\"" : "", group ? group : "",
                   group ? "\"" : "");
        break;
    case DIR_ROOM_CYCLE:
        log_notice("ldap room-group-cycle room=\"%s\" group=\"%s\" action=\"not expanded "
                   "again where it contains itself\"",
                   room_dn, value);
        break;
    case DIR_ROOM_TOO_DEEP:
        log_notice("ldap room-group-too-deep room=\"%s\" group=\"%s\" action=\"ignored: "
                   "nested more than %d groups deep\"",
                   room_dn, value, DIR_GROUP_DEPTH_MAX);
        break;
    case DIR_ROOM_DUPLICATE:
        log_warn("ldap sync-duplicate-room dn=\"%s\" jid=%s action=\"ignored while %s, a "
                 "lower DN, holds the JID\"",
                 room_dn, value, group);
        break;
    }
}

/* ---- Setup ------------------------------------------------------------------- */

static char *
opt_dup(const char *s)
{
    return s && s[0] ? xstrdup(s) : NULL;
}

static bool
dn_ok(const char *dn)
{
    LDAPDN parsed = NULL;
    if (!dn || ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
        return false;
    ldap_dnfree(parsed);
    return true;
}

/* Checks settings and fills d->s and d->secret; PAL_ECONFIG with err set. */
static int
dir_settings_take(struct dir *d, const struct dir_settings *in, char *err, size_t errlen)
{
    LDAPURLDesc *lud = NULL;
    if (!in->uri || ldap_url_parse(in->uri, &lud) != LDAP_URL_SUCCESS) {
        snprintf(err, errlen, "ldap.uri: not an LDAP URI");
        return PAL_ECONFIG;
    }
    bool tls_scheme = strcmp(lud->lud_scheme, "ldaps") == 0;
    bool ipc = strcmp(lud->lud_scheme, "ldapi") == 0;
    ldap_free_urldesc(lud);
    if (in->starttls && (tls_scheme || ipc)) {
        snprintf(err, errlen, "ldap.starttls: only with an ldap:// URI");
        return PAL_ECONFIG;
    }
    if (!in->bind_dn || !in->bind_dn[0] || !dn_ok(in->bind_dn)) {
        snprintf(err, errlen, "ldap.bind_dn: required, a DN");
        return PAL_ECONFIG;
    }
    if (!in->base || !in->base[0] || !dn_ok(in->base)) {
        snprintf(err, errlen, "ldap.base: required, a DN");
        return PAL_ECONFIG;
    }
    bool has_inline = in->bind_secret && in->bind_secret[0];
    bool has_file = in->bind_secret_file && in->bind_secret_file[0];
    if (has_inline == has_file) {
        snprintf(err, errlen, "ldap: set exactly one of bind_secret and bind_secret_file");
        return PAL_ECONFIG;
    }
    if (in->timeout_ms < 100 || in->timeout_ms > 600000 || in->bind_pool < 1 ||
        in->bind_pool > 64) {
        snprintf(err, errlen, "ldap: timeout_ms (100..600000) or bind_pool (1..64) out of range");
        return PAL_ECONFIG;
    }
    const char *users = in->users && in->users[0] ? in->users : in->base;
    char *nusers = dir_dn_normalize(users);
    char *nbase = dir_dn_normalize(in->base);
    bool inside = nusers && nbase && (strcmp(nusers, nbase) == 0 || dir_dn_is_below(nusers, nbase));
    free(nusers);
    free(nbase);
    if (!inside || !dn_ok(users)) {
        snprintf(err, errlen, "ldap.users: must be ldap.base or below it");
        return PAL_ECONFIG;
    }
    char *rooms =
        in->rooms && in->rooms[0] ? xstrdup(in->rooms) : xasprintf("ou=rooms,%s", in->base);
    char *nrooms = dir_dn_normalize(rooms);
    nusers = dir_dn_normalize(users);
    nbase = dir_dn_normalize(in->base);
    /* the nodes read rooms below the base, but not in a users subtree of its own */
    bool rooms_ok = nrooms && nbase && nusers && dn_ok(rooms) &&
                    (strcmp(nrooms, nbase) == 0 || dir_dn_is_below(nrooms, nbase)) &&
                    (strcmp(nusers, nbase) == 0 ||
                     (strcmp(nrooms, nusers) != 0 && !dir_dn_is_below(nrooms, nusers)));
    free(nrooms);
    free(nusers);
    free(nbase);
    if (!rooms_ok) {
        free(rooms);
        snprintf(err, errlen,
                 "ldap.rooms: must be ldap.base or below it, and not at or below ldap.users "
                 "(rooms there are ignored)");
        return PAL_ECONFIG;
    }
    if (has_file) {
        char serr[256];
        d->secret = config_read_secret(in->bind_secret_file, serr, sizeof serr);
        if (!d->secret) {
            snprintf(err, errlen, "ldap.bind_secret_file: %s", serr);
            return PAL_ECONFIG;
        }
    } else {
        d->secret = xstrdup(in->bind_secret);
    }
    if (!d->secret[0]) {
        snprintf(err, errlen, "ldap: the bind secret is empty");
        return PAL_ECONFIG;
    }
    d->s.uri = xstrdup(in->uri);
    d->s.starttls = in->starttls;
    d->s.ca_file = opt_dup(in->ca_file);
    d->s.bind_dn = xstrdup(in->bind_dn);
    d->s.bind_secret = NULL; /* lives in d->secret only */
    d->s.bind_secret_file = opt_dup(in->bind_secret_file);
    d->s.base = xstrdup(in->base);
    d->s.users = xstrdup(users);
    d->s.rooms = rooms;
    d->s.timeout_ms = in->timeout_ms;
    d->s.bind_pool = in->bind_pool;
    return PAL_OK;
}

static void
dir_settings_clear(struct dir_settings *s)
{
    free(s->uri);
    free(s->ca_file);
    free(s->bind_dn);
    free(s->bind_secret_file);
    free(s->base);
    free(s->users);
    free(s->rooms);
    memset(s, 0, sizeof *s);
}

int
dir_new(struct ev_loop *loop, const struct dir_settings *settings, struct dir **out, char *err,
        size_t errlen)
{
    struct dir *d = xcalloc(1, sizeof *d);
    *out = NULL;
    d->loop = loop;
    if (dir_settings_take(d, settings, err, errlen) != PAL_OK) {
        dir_free(d);
        return PAL_ECONFIG;
    }
    unsigned char rnd[4];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        snprintf(err, errlen, "no randomness for offline message ids");
        dir_free(d);
        return PAL_ECONFIG;
    }
    snprintf(d->tag, sizeof d->tag, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    /* libldap writes with write(2): a request or the unbind on a socket the
     * server has closed raises SIGPIPE, whose default kills the process. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
        log_info("ldap sigpipe-ignored reason=\"libldap writes to closed sockets\"");
    }
    d->r = dir_replica_new(d->s.users);
    dir_replica_set_base(d->r, d->s.base);
    dir_replica_set_rooms_base(d->r, d->s.rooms);
    dir_replica_on_room_notice(d->r, room_notice, d);
    d->main = dir_conn_new(loop, &d->s, d->secret, "main", &main_ops, d);
    d->sync = dir_sync_new(loop, d->main, d->r, d->s.base, on_sync_ready, d);
    d->w = dir_writer_new(loop, d->main, d->r, d->s.timeout_ms);
    d->pool = dir_bindpool_new(loop, &d->s, d->secret, (size_t)d->s.bind_pool);
    log_info("ldap directory uri=%s base=\"%s\" users=\"%s\" rooms=\"%s\" bind_dn=\"%s\" "
             "pool=%lld",
             d->s.uri, d->s.base, d->s.users, d->s.rooms, d->s.bind_dn, (long long)d->s.bind_pool);
    *out = d;
    return PAL_OK;
}

void
dir_free(struct dir *d)
{
    if (!d)
        return;
    dir_bindpool_free(d->pool);
    dir_writer_free(d->w);
    dir_sync_free(d->sync);
    dir_conn_free(d->main);
    dir_replica_free(d->r);
    if (d->secret) {
        OPENSSL_cleanse(d->secret, strlen(d->secret));
        free(d->secret);
    }
    dir_settings_clear(&d->s);
    free(d);
}

bool
dir_is_ready(const struct dir *d)
{
    return dir_sync_is_ready(d->sync);
}

bool
dir_is_connected(const struct dir *d)
{
    return dir_conn_is_up(d->main);
}

void
dir_on_user_changed(struct dir *d, dir_user_changed_fn fn, void *arg)
{
    dir_replica_on_user_changed(d->r, fn, arg);
}

void
dir_on_settings_changed(struct dir *d, void (*fn)(void *arg), void *arg)
{
    dir_replica_on_settings_changed(d->r, fn, arg);
}

void
dir_on_nodes_changed(struct dir *d, void (*fn)(void *arg), void *arg)
{
    dir_replica_on_nodes_changed(d->r, fn, arg);
}

void
dir_on_rooms_changed(struct dir *d, void (*fn)(void *arg, const char *room_jid), void *arg)
{
    dir_replica_on_rooms_changed(d->r, fn, arg);
}

void
dir_on_ready(struct dir *d, dir_ready_fn fn, void *arg)
{
    d->ready_fn = fn;
    d->ready_arg = arg;
}

size_t
dir_pending_writes(const struct dir *d)
{
    return dir_writer_pending(d->w);
}

/* ---- Reads --------------------------------------------------------------------- */

struct dir_user *
dir_user_get(struct dir *d, const char *bare_jid)
{
    return dir_replica_user(d->r, bare_jid);
}

struct dir_room *
dir_room_get(struct dir *d, const char *room_jid)
{
    return dir_replica_room(d->r, room_jid);
}

int
dir_rooms_list(struct dir *d, char ***jids, size_t *n)
{
    return dir_replica_rooms(d->r, jids, n);
}

int
dir_default_label(struct dir *d, const char *domain, unsigned char **der, size_t *len)
{
    return dir_replica_default_label(d->r, domain, der, len);
}

int
dir_nodes_get(struct dir *d, struct dir_node **out, size_t *n)
{
    return dir_replica_nodes(d->r, out, n);
}

size_t
dir_user_count(const struct dir *d)
{
    return dir_replica_user_count(d->r);
}

int
dir_roster_get(struct dir *d, const char *user, struct dir_roster_item **items, size_t *n)
{
    return dir_replica_roster_get(d->r, user, items, n);
}

struct dir_roster_item *
dir_roster_find(struct dir *d, const char *user, const char *contact)
{
    return dir_replica_roster_find(d->r, user, contact);
}

size_t
dir_offline_count(struct dir *d, const char *user)
{
    return dir_replica_offline_count(d->r, user);
}

int
dir_offline_get(struct dir *d, const char *user, struct dir_offline **msgs, size_t *n)
{
    return dir_replica_offline_get(d->r, user, msgs, n);
}

/* ---- Writes -------------------------------------------------------------------- */

/* A normalised bare JID, or NULL. */
static char *
bare_jid(const char *s)
{
    char *j = s ? jid_normalize(s) : NULL;
    if (j && strchr(j, '/')) {
        free(j);
        j = NULL;
    }
    return j;
}

int
dir_roster_put(struct dir *d, const char *user, const struct dir_roster_item *item)
{
    if (!item)
        return PAL_EINVAL;
    struct dir_roster_item it = *item;
    it.jid = bare_jid(item->jid);
    if (!it.jid)
        return PAL_EMALFORMED;
    char *dn = NULL;
    bool existed = false;
    int rc = dir_replica_roster_put(d->r, user, &it, &dn, &existed);
    if (rc == PAL_OK) {
        struct arena *a = arena_new(1024);
        struct dir_attr *attrs = NULL;
        size_t n = dir_map_roster_attrs(&it, a, &attrs);
        dir_writer_put(d->w, dn, a, attrs, n, existed, NULL, NULL);
        log_trace(TRACE_LDAP, "ldap roster-put user=%s contact=%s", user, it.jid);
    }
    free(dn);
    free(it.jid);
    return rc;
}

int
dir_roster_del(struct dir *d, const char *user, const char *contact)
{
    char *c = bare_jid(contact);
    char *dn = NULL;
    int rc = c ? dir_replica_roster_del(d->r, user, c, &dn) : PAL_ENOENT;
    if (rc == PAL_OK)
        dir_writer_del(d->w, dn, NULL, NULL);
    free(dn);
    free(c);
    return rc;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
dir_offline_put(struct dir *d, const char *user, const char *stanza, size_t len,
                const unsigned char *label, size_t label_len, dir_done_fn done, void *arg)
{
    if (!stanza || len == 0)
        return PAL_EINVAL;
    int64_t now = wall_ms();
    /* Sorts by time; the tag makes it unique across nodes and restarts. */
    char id[64];
    snprintf(id, sizeof id, "%013lld-%s-%u", (long long)now, d->tag, ++d->seq);
    char *dn = NULL;
    int rc = dir_replica_offline_add(d->r, user, id, stanza, len, label, label_len, now, &dn);
    if (rc != PAL_OK)
        return rc;
    struct arena *a = arena_new(len + 512);
    struct dir_attr *attrs = NULL;
    size_t n = dir_map_offline_attrs(id, stanza, len, label, label_len, now, a, &attrs);
    dir_writer_add(d->w, dn, a, attrs, n, done, arg);
    log_trace(TRACE_LDAP, "ldap offline-put user=%s id=%s bytes=%zu", user, id, len);
    free(dn);
    return PAL_OK;
}

int
dir_offline_del(struct dir *d, const char *user, const char *id)
{
    char *dn = NULL;
    int rc = dir_replica_offline_del(d->r, user, id, &dn);
    if (rc == PAL_OK)
        dir_writer_del(d->w, dn, NULL, NULL);
    free(dn);
    return rc;
}

int
dir_room_put(struct dir *d, const struct dir_room_spec *spec, dir_done_fn done, void *arg)
{
    struct dir_room_data data;
    bool existed = false;
    int rc = dir_replica_room_put(d->r, spec, &data, &existed);
    if (rc != PAL_OK)
        return rc;
    size_t len = 1024 + (data.config ? strlen(data.config) : 0) +
                 (data.description ? strlen(data.description) : 0);
    for (int k = 0; k < DIR_AFFIL_N; k++)
        for (size_t i = 0; i < data.n_aff[k]; i++)
            len += strlen(data.aff[k][i]) + 32;
    struct arena *a = arena_new(len);
    struct dir_attr *attrs = NULL;
    size_t n = dir_map_room_attrs(&data, a, &attrs);
    if (existed)
        dir_writer_modify(d->w, data.dn, a, attrs, n, done, arg);
    else
        dir_writer_add(d->w, data.dn, a, attrs, n, done, arg);
    log_info("ldap room-put room=%s dn=\"%s\" op=%s owners=%zu admins=%zu members=%zu "
             "outcasts=%zu",
             data.jid, data.dn, existed ? "modify" : "add", data.n_aff[DIR_AFFIL_OWNER],
             data.n_aff[DIR_AFFIL_ADMIN], data.n_aff[DIR_AFFIL_MEMBER],
             data.n_aff[DIR_AFFIL_OUTCAST]);
    dir_room_data_clear(&data);
    return PAL_OK;
}

int
dir_room_del(struct dir *d, const char *room_jid, dir_done_fn done, void *arg)
{
    char *dn = NULL;
    int rc = dir_replica_room_del(d->r, room_jid, &dn);
    if (rc != PAL_OK)
        return rc;
    dir_writer_del(d->w, dn, done, arg);
    log_info("ldap room-del room=%s dn=\"%s\"", room_jid, dn);
    free(dn);
    return PAL_OK;
}

/* ---- Passwords ------------------------------------------------------------------ */

uint64_t
dir_check_password(struct dir *d, const char *dn, const char *password, dir_done_fn done, void *arg)
{
    return dir_bindpool_check(d->pool, dn, password, done, arg);
}

void
dir_cancel(struct dir *d, uint64_t id)
{
    dir_bindpool_cancel(d->pool, id);
}
