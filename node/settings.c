/* SPDX-License-Identifier: Apache-2.0 */
/* settings.c - the node's settings table (docs/CONFIG.md lists them) and its
 * loading through core/config.c together with the directory's "ldap" group. */
#include "node/settings.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"

#define S(f) offsetof(struct node_settings, f)

static bool
check_log_level(const void *v, char *err, size_t errlen)
{
    const char *s = *(char *const *)v;
    if (log_level_parse(s) < 0) {
        snprintf(err, errlen, "unknown level '%s' (error, warn, notice, info, debug)", s);
        return false;
    }
    return true;
}

static bool
check_trace(const void *v, char *err, size_t errlen)
{
    const struct config_strlist *l = v;
    for (size_t i = 0; i < l->n; i++) {
        if (log_trace_parse(l->v[i]) == 0) {
            snprintf(err, errlen,
                     "unknown trace area '%s' (stream, router, cluster, ldap, policy, sasl, tls)",
                     l->v[i]);
            return false;
        }
    }
    return true;
}

static bool
check_subdomain(const void *v, char *err, size_t errlen)
{
    const char *s = *(char *const *)v;
    bool ok = s[0] != '\0' && s[0] != '.' && s[strlen(s) - 1] != '.';
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';
    if (!ok)
        snprintf(err, errlen, "'%s' is not a DNS label (lower-case letters, digits, '-', '.')",
                 s);
    return ok;
}

static bool
check_domains(const void *v, char *err, size_t errlen)
{
    const struct config_strlist *l = v;
    if (l->n == 0) {
        snprintf(err, errlen, "at least one domain is required");
        return false;
    }
    for (size_t i = 0; i < l->n; i++) {
        struct jid *j = NULL;
        if (jid_parse(l->v[i], &j) != PAL_OK || j->local || j->resource) {
            jid_free(j);
            snprintf(err, errlen, "'%s' is not a valid domain", l->v[i]);
            return false;
        }
        jid_free(j);
    }
    return true;
}

static bool
check_listen(const void *v, char *err, size_t errlen)
{
    const struct config_strlist *l = v;
    for (size_t i = 0; i < l->n; i++) {
        const char *colon = strrchr(l->v[i], ':');
        if (!colon || colon == l->v[i] || colon[1] == '\0') {
            snprintf(err, errlen, "'%s' is not host:port", l->v[i]);
            return false;
        }
    }
    return true;
}

static bool
check_mechs(const void *v, char *err, size_t errlen)
{
    static const char *const known[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256",
                                        "SCRAM-SHA-1-PLUS",   "SCRAM-SHA-1",
                                        "PLAIN",              NULL};
    const struct config_strlist *l = v;
    for (size_t i = 0; i < l->n; i++) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, l->v[i]) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "unsupported mechanism '%s' (SCRAM-SHA-256[-PLUS], SCRAM-SHA-1[-PLUS], PLAIN)",
                     l->v[i]);
            return false;
        }
    }
    return true;
}

static const struct config_item node_items[] = {
    {"node.name", CONFIG_STRING, S(node_name), "palisade", 0, 0, NULL, false},
    {"server.domains", CONFIG_STRLIST, S(domains), NULL, 0, 0, check_domains, false},
    {"listen.c2s", CONFIG_STRLIST, S(listen_c2s), "127.0.0.1:5222", 0, 0, check_listen, false},
    {"listen.c2s_tls", CONFIG_STRLIST, S(listen_c2s_tls), "", 0, 0, check_listen, false},
    {"listen.reuseport", CONFIG_BOOL, S(reuseport), "true", 0, 0, NULL, false},
    {"tls.cert", CONFIG_STRING, S(tls_cert), "", 0, 0, NULL, false},
    {"tls.key", CONFIG_STRING, S(tls_key), "", 0, 0, NULL, false},
    {"tls.pkcs12", CONFIG_STRING, S(tls_pkcs12), "", 0, 0, NULL, false},
    {"tls.pkcs12_password_file", CONFIG_STRING, S(tls_pkcs12_password_file), "", 0, 0, NULL,
     false},
    {"tls.required", CONFIG_BOOL, S(tls_required), "true", 0, 0, NULL, false},
    {"tls.ciphers", CONFIG_STRING, S(tls_ciphers), "", 0, 0, NULL, false},
    {"tls.resumption", CONFIG_BOOL, S(tls_resumption), "false", 0, 0, NULL, false},
    {"sasl.mechanisms", CONFIG_STRLIST, S(sasl_mechanisms),
     "SCRAM-SHA-256-PLUS,SCRAM-SHA-256,SCRAM-SHA-1-PLUS,SCRAM-SHA-1,PLAIN", 0, 0, check_mechs,
     false},
    {"sasl.failure_delay_ms", CONFIG_INT, S(sasl_fail_delay_ms), "1000", 0, 60000, NULL, true},
    {"sasl.max_failures", CONFIG_INT, S(sasl_max_failures), "5", 1, 100, NULL, true},
    {"limits.max_stanza_bytes", CONFIG_INT, S(max_stanza_bytes), "262144", 1024, 67108864, NULL,
     true},
    {"limits.max_depth", CONFIG_INT, S(max_depth), "64", 4, 1024, NULL, true},
    {"limits.max_attributes", CONFIG_INT, S(max_attrs), "64", 4, 4096, NULL, true},
    {"limits.auth_timeout_s", CONFIG_INT, S(auth_timeout_s), "30", 1, 3600, NULL, true},
    {"limits.max_output_bytes", CONFIG_INT, S(max_output_bytes), "4194304", 65536, 1073741824,
     NULL, true},
    {"limits.rate_bytes_per_s", CONFIG_INT, S(rate_bytes_per_s), "0", 0, 1073741824, NULL, true},
    {"limits.max_offline_messages", CONFIG_INT, S(max_offline), "1000", 0, 1000000, NULL, true},
    {"policy.spif", CONFIG_STRLIST, S(policy_spif), "", 0, 0, NULL, false},
    {"policy.flot", CONFIG_BOOL, S(policy_flot), "true", 0, 0, NULL, true},
    {"cluster.curve_secret_file", CONFIG_STRING, S(cluster_secret_file), "", 0, 0, NULL, false},
    {"cluster.heartbeat_ms", CONFIG_INT, S(cluster_heartbeat_ms), "200", 20, 10000, NULL, false},
    {"cluster.dead_after_ms", CONFIG_INT, S(cluster_dead_after_ms), "1500", 100, 60000, NULL,
     false},
    {"muc.enabled", CONFIG_BOOL, S(muc_enabled), "true", 0, 0, NULL, false},
    {"muc.subdomain", CONFIG_STRING, S(muc_subdomain), "conference", 0, 0, check_subdomain,
     false},
    {"muc.history_size", CONFIG_INT, S(muc_history_size), "50", 0, 10000, NULL, false},
    {"muc.history_default", CONFIG_INT, S(muc_history_default), "20", 0, 10000, NULL, true},
    {"muc.lock_new_rooms", CONFIG_BOOL, S(muc_lock_new_rooms), "true", 0, 0, NULL, true},
    {"control.socket", CONFIG_STRING, S(ctl_socket), "", 0, 0, NULL, false},
    {"log.level", CONFIG_STRING, S(log_level), "info", 0, 0, check_log_level, true},
    {"log.syslog", CONFIG_BOOL, S(log_syslog), "false", 0, 0, NULL, false},
    {"log.trace", CONFIG_STRLIST, S(log_trace), "", 0, 0, check_trace, true},
};

/* Empty strings stand for "not set" in the table's defaults. */
static void
empty_to_null(char **s)
{
    if (*s && (*s)[0] == '\0') {
        free(*s);
        *s = NULL;
    }
}

static void
settings_modules(struct node_settings *s, struct config_module mods[2])
{
    mods[0] = (struct config_module){"node", node_items, sizeof node_items / sizeof node_items[0],
                                     s};
    mods[1] = dir_config_module(&s->ldap);
}

int
node_settings_load(const char *path, struct node_settings **out, char *err, size_t errlen)
{
    struct node_settings *s = xcalloc(1, sizeof *s);
    struct config_module mods[2];
    settings_modules(s, mods);
    int rc = config_load(path, mods, 2, err, errlen);
    if (rc != PAL_OK) {
        node_settings_free(s);
        return rc;
    }
    empty_to_null(&s->tls_cert);
    empty_to_null(&s->tls_key);
    empty_to_null(&s->tls_pkcs12);
    empty_to_null(&s->tls_pkcs12_password_file);
    empty_to_null(&s->tls_ciphers);
    empty_to_null(&s->cluster_secret_file);
    empty_to_null(&s->ctl_socket);
    for (size_t i = 0; i < s->domains.n; i++) {
        char *n = jid_normalize(s->domains.v[i]);
        free(s->domains.v[i]);
        s->domains.v[i] = n;
    }
    if (s->listen_c2s.n == 0 && s->listen_c2s_tls.n == 0) {
        snprintf(err, errlen, "%s: listen: no c2s or c2s_tls listener configured", path);
        node_settings_free(s);
        return PAL_ECONFIG;
    }
    *out = s;
    return PAL_OK;
}

void
node_settings_free(struct node_settings *s)
{
    if (!s)
        return;
    struct config_module mods[2];
    settings_modules(s, mods);
    config_clear(mods, 2);
    free(s);
}
