/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c - SASL mechanisms for c2s (see auth.h). Cyrus SASL's plugin API has
 * no per-registration context, so the auxprop plugin reaches the replica
 * through one file-level pointer set by auth_global_init(). Passwords and
 * SASL exchanges are never logged. */
#include "node/auth.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "directory/directory.h"
#include "node/server.h"
#include "node/settings.h"
#include "node/tls.h"

#define AUTH_APPNAME "palisade"
#define AUTH_AUXPROP "palisade"

/* Forced by Cyrus: the auxprop plugin is registered without user data. */
static struct server *auth_srv;

enum auth_kind { AUTH_KIND_CYRUS, AUTH_KIND_PLAIN };

struct auth {
    struct server *srv;
    enum auth_kind kind;
    sasl_conn_t *conn;
    sasl_channel_binding_t cb;
    unsigned char cb_data[64];
    char *domain;
    char *mech;
    auth_fn fn;
    void *arg;
    uint64_t bind_req;        /* PLAIN: pending LDAP bind */
    char *plain_user;         /* PLAIN: bare JID being checked */
    char *plain_password;     /* PLAIN: kept for the offline fallback, wiped */
};

static void auth_start_plain(struct auth *a, const char *msg, size_t len, bool has_initial);

/* ---- Cyrus callbacks ---- */

static int
auth_getopt(void *context, const char *plugin_name, const char *option, const char **result,
            unsigned *len)
{
    (void)context;
    (void)plugin_name;
    const char *v = NULL;
    if (strcmp(option, "mech_list") == 0)
        v = "SCRAM-SHA-256 SCRAM-SHA-1";
    else if (strcmp(option, "auxprop_plugin") == 0)
        v = AUTH_AUXPROP;
    else if (strcmp(option, "pwcheck_method") == 0)
        v = "auxprop";
    else if (strcmp(option, "log_level") == 0)
        v = "2";
    else if (strcmp(option, "canon_user_plugin") == 0)
        v = "INTERNAL";
    /* Everything else: answer "unset" ourselves so no stray file is read. */
    *result = v;
    if (len)
        *len = v ? (unsigned)strlen(v) : 0;
    return v ? SASL_OK : SASL_FAIL;
}

static int
auth_log(void *context, int level, const char *message)
{
    (void)context;
    /* Cyrus reports failed passwords at error level: they are auth failures,
     * not server errors. */
    if (level <= SASL_LOG_ERR)
        log_info("sasl library-note msg=\"%s\"", message);
    else
        log_trace(TRACE_SASL, "sasl library msg=\"%s\"", message);
    return SASL_OK;
}

static char *
auth_user_to_bare(const char *user, unsigned ulen, const char *domain)
{
    char *u = xstrndup(user, ulen);
    char *bare;
    if (strchr(u, '@'))
        bare = jid_normalize(u);
    else {
        struct jid *j = NULL;
        bare = NULL;
        if (jid_make(u, domain, NULL, &j) == PAL_OK)
            bare = xstrdup(j->bare);
        jid_free(j);
    }
    free(u);
    return bare;
}

static int
auth_auxprop_lookup(void *glob_context, sasl_server_params_t *sparams, unsigned flags,
                    const char *user, unsigned ulen)
{
    (void)glob_context;
    if (!auth_srv || !sparams || !user)
        return SASL_BADPARAM;
    /* Only authid properties ("*name") carry secrets. */
    if (flags & SASL_AUXPROP_AUTHZID)
        return SASL_OK;
    char *bare = auth_user_to_bare(user, ulen, sparams->user_realm ? sparams->user_realm
                                                                    : sparams->serverFQDN);
    if (!bare)
        return SASL_NOUSER;
    struct dir_user *u = dir_user_get(auth_srv->dir, bare);
    free(bare);
    if (!u)
        return SASL_NOUSER;
    const struct propval *pv = sparams->utils->prop_get(sparams->propctx);
    for (const struct propval *p = pv; p && p->name; p++) {
        if (strcmp(p->name, "*authPassword") != 0)
            continue;
        if (p->values && !(flags & SASL_AUXPROP_OVERRIDE))
            continue;
        if (p->values)
            sparams->utils->prop_erase(sparams->propctx, p->name);
        for (size_t i = 0; i < u->n_scram; i++)
            sparams->utils->prop_set(sparams->propctx, p->name, u->scram[i],
                                     (int)strlen(u->scram[i]));
    }
    dir_user_unref(u);
    return SASL_OK;
}

static void
auth_auxprop_free(void *glob_context, const sasl_utils_t *utils)
{
    (void)glob_context;
    (void)utils;
}

static sasl_auxprop_plug_t auth_auxprop_plug = {
    0, 0, NULL, auth_auxprop_free, auth_auxprop_lookup, AUTH_AUXPROP, NULL,
};

static int
auth_auxprop_init(const sasl_utils_t *utils, int max_version, int *out_version,
                  sasl_auxprop_plug_t **plug, const char *plugname)
{
    (void)utils;
    (void)plugname;
    if (max_version < SASL_AUXPROP_PLUG_VERSION)
        return SASL_BADVERS;
    *out_version = SASL_AUXPROP_PLUG_VERSION;
    *plug = &auth_auxprop_plug;
    return SASL_OK;
}

typedef int (*auth_cb_fn)(void);
static sasl_callback_t auth_callbacks[] = {
    {SASL_CB_GETOPT, (auth_cb_fn)(void (*)(void))auth_getopt, NULL},
    {SASL_CB_LOG, (auth_cb_fn)(void (*)(void))auth_log, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

int
auth_global_init(struct server *srv, char *err, size_t errlen)
{
    auth_srv = srv;
    int r = sasl_auxprop_add_plugin(AUTH_AUXPROP, auth_auxprop_init);
    if (r != SASL_OK) {
        snprintf(err, errlen, "sasl: cannot register auxprop plugin: %s",
                 sasl_errstring(r, NULL, NULL));
        return PAL_EIO;
    }
    r = sasl_server_init(auth_callbacks, AUTH_APPNAME);
    if (r != SASL_OK) {
        snprintf(err, errlen, "sasl: sasl_server_init failed: %s (is libsasl2-modules installed?)",
                 sasl_errstring(r, NULL, NULL));
        return PAL_EIO;
    }
    return PAL_OK;
}

void
auth_global_done(void)
{
    sasl_server_done();
    auth_srv = NULL;
}

/* ---- offering ---- */

static bool
auth_is_plus(const char *mech)
{
    size_t n = strlen(mech);
    return n > 5 && strcmp(mech + n - 5, "-PLUS") == 0;
}

bool
auth_mech_offered(struct server *srv, SSL *ssl, const char *mech)
{
    const struct node_settings *cfg = srv->cfg;
    if (!ssl && cfg->tls_required)
        return false;
    bool listed = false;
    for (size_t i = 0; i < cfg->sasl_mechanisms.n; i++)
        listed |= strcmp(cfg->sasl_mechanisms.v[i], mech) == 0;
    if (!listed)
        return false;
    if (strcmp(mech, "PLAIN") == 0)
        return ssl != NULL;
    if (auth_is_plus(mech))
        return ssl != NULL && tls_binding_types(ssl)[0] != NULL;
    return true;
}

void
auth_features(struct server *srv, SSL *ssl, struct buf *out)
{
    const struct node_settings *cfg = srv->cfg;
    bool any = false;
    for (size_t i = 0; i < cfg->sasl_mechanisms.n; i++) {
        const char *m = cfg->sasl_mechanisms.v[i];
        if (!auth_mech_offered(srv, ssl, m))
            continue;
        if (!any)
            buf_append_str(out, "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
        any = true;
        buf_printf(out, "<mechanism>%s</mechanism>", m);
    }
    if (any)
        buf_append_str(out, "</mechanisms>");
    if (any && ssl) {
        /* XEP-0440: the channel-binding types this connection supports. */
        buf_append_str(out, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
        for (const char *const *t = tls_binding_types(ssl); *t; t++)
            buf_printf(out, "<channel-binding type='%s'/>", *t);
        buf_append_str(out, "</sasl-channel-binding>");
    }
}

/* ---- exchanges ---- */

static void
auth_emit(struct auth *a, enum auth_event ev, const char *data, size_t len, const char *cond,
          const char *user)
{
    a->fn(a->arg, ev, data, len, cond, user);
}

static void
auth_cyrus_result(struct auth *a, int r, const char *out, unsigned outlen)
{
    if (r == SASL_CONTINUE) {
        auth_emit(a, AUTH_CHALLENGE, out, outlen, NULL, NULL);
        return;
    }
    if (r != SASL_OK) {
        /* Cyrus reports a channel-binding mismatch (a man in the middle) as a
         * protocol error; to the client every failed exchange is simply
         * not-authorized (RFC 6120 §6.5.10), which reveals nothing. */
        const char *cond = r == SASL_BADPARAM ? "malformed-request" : "not-authorized";
        log_trace(TRACE_SASL, "sasl step-failed mech=%s code=%d detail=\"%s\"", a->mech, r,
                  sasl_errdetail(a->conn));
        auth_emit(a, AUTH_FAILURE, NULL, 0, cond, NULL);
        return;
    }
    const void *uname = NULL;
    if (sasl_getprop(a->conn, SASL_USERNAME, &uname) != SASL_OK || !uname) {
        auth_emit(a, AUTH_FAILURE, NULL, 0, "temporary-auth-failure", NULL);
        return;
    }
    char *bare = auth_user_to_bare(uname, (unsigned)strlen(uname), a->domain);
    struct dir_user *u = bare ? dir_user_get(a->srv->dir, bare) : NULL;
    if (!u)
        auth_emit(a, AUTH_FAILURE, NULL, 0, "not-authorized", NULL);
    else if (!u->enabled)
        auth_emit(a, AUTH_FAILURE, NULL, 0, "account-disabled", NULL);
    else
        auth_emit(a, AUTH_SUCCESS, out, outlen, NULL, bare);
    dir_user_unref(u);
    free(bare);
}

/* For a -PLUS mechanism, the client's gs2 header names the binding type
 * ("p=tls-exporter,"); we supply the matching bytes and make the binding
 * critical, because libsasl alone lets "n," through on a -PLUS mechanism. For
 * plain SCRAM on TLS we supply a non-critical binding so that a client saying
 * "y" (it thinks we lack -PLUS) is refused: a downgrade. */
static bool
auth_setup_binding(struct auth *a, SSL *ssl, const char *initial, size_t len, bool plus)
{
    if (!ssl)
        return !plus;
    const char *type = NULL;
    char tbuf[32];
    if (plus) {
        if (len < 3 || initial[0] != 'p' || initial[1] != '=')
            return false;
        const char *comma = memchr(initial, ',', len);
        size_t tl = comma ? (size_t)(comma - initial - 2) : 0;
        if (!comma || tl == 0 || tl >= sizeof tbuf)
            return false;
        memcpy(tbuf, initial + 2, tl);
        tbuf[tl] = '\0';
        type = tbuf;
    } else {
        /* The downgrade check only makes sense when -PLUS was offered. */
        if (!auth_mech_offered(a->srv, ssl, "SCRAM-SHA-256-PLUS") &&
            !auth_mech_offered(a->srv, ssl, "SCRAM-SHA-1-PLUS"))
            return true;
        type = tls_binding_types(ssl)[0];
        if (!type)
            return true;
    }
    size_t n = tls_channel_binding(ssl, type, a->cb_data, sizeof a->cb_data);
    if (n == 0) {
        log_trace(TRACE_SASL, "sasl binding-unavailable mech=%s type=%s tls=%s", a->mech, type,
                  SSL_get_version(ssl));
        return !plus;
    }
    a->cb.name = type == tbuf ? (strcmp(tbuf, "tls-unique") == 0 ? "tls-unique" : "tls-exporter")
                              : type;
    a->cb.critical = plus ? 1 : 0;
    a->cb.len = n;
    a->cb.data = a->cb_data;
    return sasl_setprop(a->conn, SASL_CHANNEL_BINDING, &a->cb) == SASL_OK;
}

static void
auth_start_cyrus(struct auth *a, SSL *ssl, const char *initial, size_t len, bool has_initial)
{
    bool plus = auth_is_plus(a->mech);
    int r = sasl_server_new("xmpp", a->domain, a->domain, NULL, NULL, NULL, SASL_SUCCESS_DATA,
                            &a->conn);
    if (r != SASL_OK) {
        log_warn("sasl server-new-failed code=%d", r);
        auth_emit(a, AUTH_FAILURE, NULL, 0, "temporary-auth-failure", NULL);
        return;
    }
    sasl_security_properties_t sp = {0};
    sp.min_ssf = 0;
    sp.max_ssf = 0; /* no SASL security layer: TLS protects the stream */
    sp.maxbufsize = 0;
    sp.security_flags = SASL_SEC_NOANONYMOUS;
    sasl_setprop(a->conn, SASL_SEC_PROPS, &sp);
    if (plus && !has_initial) {
        auth_emit(a, AUTH_FAILURE, NULL, 0, "malformed-request", NULL);
        return;
    }
    if (!auth_setup_binding(a, ssl, initial, len, plus)) {
        auth_emit(a, AUTH_FAILURE, NULL, 0, plus ? "not-authorized" : "temporary-auth-failure",
                  NULL);
        return;
    }
    /* Cyrus knows the base mechanism; -PLUS is the binding made critical. */
    char base[64];
    snprintf(base, sizeof base, "%s", a->mech);
    if (plus)
        base[strlen(base) - 5] = '\0';
    const char *out = NULL;
    unsigned outlen = 0;
    r = sasl_server_start(a->conn, base, has_initial ? initial : NULL, has_initial ? len : 0,
                          &out, &outlen);
    auth_cyrus_result(a, r, out, outlen);
}

void
auth_step(struct auth *a, const char *data, size_t len)
{
    if (a->kind == AUTH_KIND_PLAIN && !a->plain_user && !a->bind_req) {
        /* The client sent no initial response; this is the PLAIN message. */
        auth_start_plain(a, data, len, true);
        return;
    }
    if (a->kind != AUTH_KIND_CYRUS || !a->conn) {
        auth_emit(a, AUTH_FAILURE, NULL, 0, "malformed-request", NULL);
        return;
    }
    const char *out = NULL;
    unsigned outlen = 0;
    int r = sasl_server_step(a->conn, data, (unsigned)len, &out, &outlen);
    auth_cyrus_result(a, r, out, outlen);
}

static void
auth_plain_wipe(struct auth *a)
{
    if (a->plain_password) {
        OPENSSL_cleanse(a->plain_password, strlen(a->plain_password));
        free(a->plain_password);
        a->plain_password = NULL;
    }
}

/* PLAIN against the replica's SCRAM secrets: used when no LDAP password
 * exists or the directory cannot be reached. */
static void
auth_plain_local(struct auth *a)
{
    struct dir_user *u = dir_user_get(a->srv->dir, a->plain_user);
    bool ok = u && u->n_scram > 0 &&
              dir_scram_verify((const char *const *)u->scram, u->n_scram, a->plain_password);
    auth_plain_wipe(a);
    if (!ok)
        auth_emit(a, AUTH_FAILURE, NULL, 0, "not-authorized", NULL);
    else if (!u->enabled)
        auth_emit(a, AUTH_FAILURE, NULL, 0, "account-disabled", NULL);
    else
        auth_emit(a, AUTH_SUCCESS, NULL, 0, NULL, a->plain_user);
    dir_user_unref(u);
}

static void
auth_plain_bound(void *arg, int rc)
{
    struct auth *a = arg;
    a->bind_req = 0;
    if (rc == PAL_ELDAP) {
        log_notice("sasl plain-fallback reason=directory-unreachable jid=%s", a->plain_user);
        auth_plain_local(a);
        return;
    }
    auth_plain_wipe(a);
    if (rc != PAL_OK) {
        auth_emit(a, AUTH_FAILURE, NULL, 0, "not-authorized", NULL);
        return;
    }
    struct dir_user *u = dir_user_get(a->srv->dir, a->plain_user);
    if (!u)
        auth_emit(a, AUTH_FAILURE, NULL, 0, "not-authorized", NULL);
    else if (!u->enabled)
        auth_emit(a, AUTH_FAILURE, NULL, 0, "account-disabled", NULL);
    else
        auth_emit(a, AUTH_SUCCESS, NULL, 0, NULL, a->plain_user);
    dir_user_unref(u);
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static void
auth_start_plain(struct auth *a, const char *msg, size_t len, bool has_initial)
{
    if (!has_initial) {
        auth_emit(a, AUTH_CHALLENGE, "", 0, NULL, NULL);
        return;
    }
    const char *nul1 = memchr(msg, '\0', len);
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg)) : NULL;
    if (!nul1 || !nul2 || nul2 == nul1 + 1 || nul2 + 1 == msg + len) {
        auth_emit(a, AUTH_FAILURE, NULL, 0, "malformed-request", NULL);
        return;
    }
    char *authzid = xstrndup(msg, (size_t)(nul1 - msg));
    char *authcid = xstrndup(nul1 + 1, (size_t)(nul2 - nul1 - 1));
    a->plain_password = xstrndup(nul2 + 1, (size_t)(msg + len - nul2 - 1));
    a->plain_user = auth_user_to_bare(authcid, (unsigned)strlen(authcid), a->domain);
    char *zid = authzid[0] ? jid_normalize(authzid) : NULL;
    bool zid_ok = !authzid[0] || (zid && a->plain_user && strcmp(zid, a->plain_user) == 0);
    free(zid);
    free(authzid);
    free(authcid);
    if (!a->plain_user || strlen(a->plain_password) != (size_t)(msg + len - nul2 - 1)) {
        auth_plain_wipe(a);
        auth_emit(a, AUTH_FAILURE, NULL, 0, "not-authorized", NULL);
        return;
    }
    if (!zid_ok) {
        auth_plain_wipe(a);
        auth_emit(a, AUTH_FAILURE, NULL, 0, "invalid-authzid", NULL);
        return;
    }
    struct dir_user *u = dir_user_get(a->srv->dir, a->plain_user);
    if (!u) {
        auth_plain_wipe(a);
        auth_emit(a, AUTH_FAILURE, NULL, 0, "not-authorized", NULL);
        return;
    }
    if (!u->has_password) {
        dir_user_unref(u);
        auth_plain_local(a);
        return;
    }
    a->bind_req = dir_check_password(a->srv->dir, u->dn, a->plain_password, auth_plain_bound, a);
    dir_user_unref(u);
}

struct auth *
auth_start(struct server *srv, const char *domain, SSL *ssl, const char *mech,
           const char *initial, size_t len, bool has_initial, auth_fn fn, void *arg)
{
    if (!auth_mech_offered(srv, ssl, mech))
        return NULL;
    struct auth *a = xcalloc(1, sizeof *a);
    a->srv = srv;
    a->fn = fn;
    a->arg = arg;
    a->domain = xstrdup(domain);
    a->mech = xstrdup(mech);
    if (strcmp(mech, "PLAIN") == 0) {
        a->kind = AUTH_KIND_PLAIN;
        auth_start_plain(a, initial, len, has_initial);
    } else {
        a->kind = AUTH_KIND_CYRUS;
        auth_start_cyrus(a, ssl, initial, len, has_initial);
    }
    return a;
}

void
auth_free(struct auth *a)
{
    if (!a)
        return;
    if (a->bind_req)
        dir_cancel(a->srv->dir, a->bind_req);
    if (a->conn)
        sasl_dispose(&a->conn);
    auth_plain_wipe(a);
    free(a->plain_user);
    free(a->domain);
    free(a->mech);
    OPENSSL_cleanse(a->cb_data, sizeof a->cb_data);
    free(a);
}
