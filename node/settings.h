/* SPDX-License-Identifier: Apache-2.0 */
/* settings.h - the node's configuration file (libconfig syntax) as one
 * immutable struct. See docs/CONFIG.md for every setting. Loading validates
 * everything (file:line on errors); reload swaps in a fresh struct. */
#ifndef PALISADE_SETTINGS_H
#define PALISADE_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "directory/directory.h"

struct node_settings {
    /* node */
    char *node_name;                   /* node.name */
    struct config_strlist domains;     /* server.domains (normalised) */
    /* listeners: "host:port" or "[v6]:port" */
    struct config_strlist listen_c2s;     /* listen.c2s (STARTTLS) */
    struct config_strlist listen_c2s_tls; /* listen.c2s_tls (direct TLS, XEP-0368) */
    bool reuseport;                    /* listen.reuseport */
    /* tls */
    char *tls_cert;                    /* tls.cert (PEM chain) */
    char *tls_key;                     /* tls.key (PEM) */
    char *tls_pkcs12;                  /* tls.pkcs12 (instead of cert+key) */
    char *tls_pkcs12_password_file;    /* tls.pkcs12_password_file */
    bool tls_required;                 /* tls.required: no stanza/SASL before TLS */
    char *tls_ciphers;                 /* tls.ciphers (TLS 1.2 list) */
    bool tls_resumption;               /* tls.resumption: session tickets and the cache */
    /* sasl */
    struct config_strlist sasl_mechanisms; /* sasl.mechanisms */
    int64_t sasl_fail_delay_ms;        /* sasl.failure_delay_ms */
    int64_t sasl_max_failures;         /* sasl.max_failures before the stream closes */
    /* limits */
    int64_t max_stanza_bytes;          /* limits.max_stanza_bytes */
    int64_t max_depth;                 /* limits.max_depth */
    int64_t max_attrs;                 /* limits.max_attributes */
    int64_t auth_timeout_s;            /* limits.auth_timeout_s */
    int64_t max_output_bytes;          /* limits.max_output_bytes per connection */
    int64_t rate_bytes_per_s;          /* limits.rate_bytes_per_s (0 = unlimited) */
    int64_t max_offline;               /* limits.max_offline_messages per user */
    /* cluster: on when curve_secret_file is set; the node's own endpoint, its
     * peers and their keys come from the directory (xmppNode entries) */
    char *cluster_secret_file;         /* cluster.curve_secret_file */
    int64_t cluster_heartbeat_ms;      /* cluster.heartbeat_ms */
    int64_t cluster_dead_after_ms;     /* cluster.dead_after_ms */
    char *ctl_socket;                  /* control.socket: palisadectl status */
    /* log */
    char *log_level;                   /* log.level */
    bool log_syslog;                   /* log.syslog */
    struct config_strlist log_trace;   /* log.trace areas */
    /* policy (security labels) */
    struct config_strlist policy_spif; /* policy.spif: SPIF files enforced; empty = no labels */
    bool policy_flot;                  /* policy.flot: marking as first body line for
                                          receivers without label support */
    /* multi-user chat (muc.c) */
    bool muc_enabled;                  /* muc.enabled */
    char *muc_subdomain;               /* muc.subdomain: service at <subdomain>.<domain> */
    int64_t muc_history_size;          /* muc.history_size: messages a room keeps */
    int64_t muc_history_default;       /* muc.history_default: sent on join without <history/> */
    bool muc_lock_new_rooms;           /* muc.lock_new_rooms: locked until configured */
    /* directory */
    struct dir_settings ldap;          /* ldap.* (directory/dir_config.c) */
};

/* Loads and validates path. PAL_OK and *out (free with node_settings_free), or
 * PAL_ECONFIG with "file:line: message" in err. */
int node_settings_load(const char *path, struct node_settings **out, char *err, size_t errlen);
void node_settings_free(struct node_settings *s);

#endif
