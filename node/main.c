/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - palisade, one node: loads the config, connects the directory,
 * opens the client listeners once the replica is loaded, and runs the event
 * loop until SIGTERM/SIGINT. SIGHUP reloads the settings that may change at
 * run time (limits, log level, SASL delays). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"
#include "directory/directory.h"
#include "node/auth.h"
#include "node/c2s.h"
#include "node/conn.h"
#include "node/ctl.h"
#include "node/labels.h"
#include "node/muc.h"
#include "node/nodes.h"
#include "node/presence.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/settings.h"
#include "node/tls.h"

struct node_main {
    struct server srv;
    const char *config_path;
    bool listening;
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: palisade -c CONFIG [-t]\n"
               "  -c CONFIG  the node's configuration file\n"
               "  -t         check the configuration and exit\n"
               "  -V         print the version\n");
}

static void
apply_logging(const struct node_settings *cfg)
{
    log_init(cfg->node_name, cfg->log_syslog, (enum log_level)log_level_parse(cfg->log_level));
    unsigned areas = 0;
    for (size_t i = 0; i < cfg->log_trace.n; i++)
        areas |= log_trace_parse(cfg->log_trace.v[i]);
    log_trace_enable(areas);
}

static void
on_dir_ready(void *arg)
{
    struct node_main *m = arg;
    if (m->listening)
        return;
    char err[512];
    if (muc_init(&m->srv, err, sizeof err) != PAL_OK)
        fatal("startup muc-failed reason=\"%s\"", err);
    if (nodes_start(&m->srv, err, sizeof err) != PAL_OK)
        fatal("startup cluster-failed reason=\"%s\"", err);
    if (c2s_listen(&m->srv, err, sizeof err) != PAL_OK)
        fatal("startup listen-failed reason=\"%s\"", err);
    if (ctl_start(&m->srv, err, sizeof err) != PAL_OK)
        fatal("startup control-failed reason=\"%s\"", err);
    m->listening = true;
    log_notice("node ready name=%s domains=%zu users=%zu", m->srv.cfg->node_name,
               m->srv.cfg->domains.n, dir_user_count(m->srv.dir));
}

/* An account disabled or removed in the directory loses its sessions. */
static void
on_user_changed(void *arg, const char *bare_jid)
{
    struct node_main *m = arg;
    struct dir_user *u = dir_user_get(m->srv.dir, bare_jid);
    if (!u || !u->enabled) {
        log_notice("node account-revoked jid=%s reason=%s", bare_jid,
                   u ? "disabled" : "removed");
        c2s_kick_user(&m->srv, bare_jid, "not-authorized");
    }
    dir_user_unref(u);
}

/* Moves the settings that cannot change at run time from old to fresh. */
#define KEEP(field)                                                                                \
    do {                                                                                           \
        __typeof__(fresh->field) tmp_ = fresh->field;                                              \
        fresh->field = old->field;                                                                 \
        old->field = tmp_;                                                                         \
    } while (0)

static void
on_sighup(struct ev_loop *loop, int signo, void *arg)
{
    struct node_main *m = arg;
    (void)loop;
    (void)signo;
    char err[512];
    struct node_settings *fresh = NULL;
    if (node_settings_load(m->config_path, &fresh, err, sizeof err) != PAL_OK) {
        log_error("config reload-failed reason=\"%s\" (keeping the running settings)", err);
        return;
    }
    struct node_settings *old = m->srv.cfg;
    KEEP(node_name);
    KEEP(domains);
    KEEP(listen_c2s);
    KEEP(listen_c2s_tls);
    KEEP(reuseport);
    KEEP(tls_cert);
    KEEP(tls_key);
    KEEP(tls_pkcs12);
    KEEP(tls_pkcs12_password_file);
    KEEP(tls_required);
    KEEP(tls_ciphers);
    KEEP(sasl_mechanisms);
    KEEP(log_syslog);
    KEEP(ldap);
    m->srv.cfg = fresh;
    node_settings_free(old);
    apply_logging(fresh);
    log_notice("config reloaded path=%s (listeners, TLS, domains, SASL mechanisms and LDAP "
               "settings need a restart)",
               m->config_path);
}

static void
on_stop(struct ev_loop *loop, int signo, void *arg)
{
    struct node_main *m = arg;
    log_notice("node stopping signal=%d sessions=%zu", signo, sess_table_count(m->srv.sessions));
    c2s_shutdown(&m->srv);
    ev_stop(loop);
}

int
main(int argc, char **argv)
{
    struct node_main m = {0};
    bool check_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:thV")) != -1) {
        switch (opt) {
        case 'c':
            m.config_path = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'V':
            printf("palisade %s\n", PALISADE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!m.config_path) {
        usage(stderr);
        return 2;
    }
    log_init("palisade", false, LOG_LEVEL_INFO);
    char err[512];
    struct node_settings *cfg = NULL;
    if (node_settings_load(m.config_path, &cfg, err, sizeof err) != PAL_OK) {
        fprintf(stderr, "palisade: %s\n", err);
        return 1;
    }
    struct tls_ctx *tls = NULL;
    if (tls_ctx_new(cfg, &tls, err, sizeof err) != PAL_OK) {
        fprintf(stderr, "palisade: %s\n", err);
        node_settings_free(cfg);
        return 1;
    }
    if (check_only) {
        printf("palisade: %s: configuration OK\n", m.config_path);
        tls_ctx_free(tls);
        node_settings_free(cfg);
        return 0;
    }
    apply_logging(cfg);
    signal(SIGPIPE, SIG_IGN);

    struct server *srv = &m.srv;
    srv->cfg = cfg;
    srv->tls = tls;
    srv->loop = ev_new();
    srv->started_ms = ev_now(srv->loop);
    srv->sessions = sess_table_new();
    /* After every before-sleep hook: what the cluster's drain delivers goes
     * out in the same iteration (it waited for the next wakeup before). */
    ev_set_flush_hook(srv->loop, conn_flush_all, srv);
    /* From here lines below warn leave in one write per loop iteration. */
    log_attach_loop(srv->loop);
    ev_signal_add(srv->loop, SIGTERM, on_stop, &m);
    ev_signal_add(srv->loop, SIGINT, on_stop, &m);
    ev_signal_add(srv->loop, SIGHUP, on_sighup, &m);

    if (labels_init(srv, err, sizeof err) != PAL_OK)
        fatal("startup policy-failed reason=\"%s\"", err);
    if (auth_global_init(srv, err, sizeof err) != PAL_OK)
        fatal("startup sasl-failed reason=\"%s\"", err);
    if (dir_new(srv->loop, &cfg->ldap, &srv->dir, err, sizeof err) != PAL_OK)
        fatal("startup directory-failed reason=\"%s\"", err);
    dir_on_user_changed(srv->dir, on_user_changed, &m);
    dir_on_ready(srv->dir, on_dir_ready, &m);
    log_notice("node starting name=%s version=%s directory=%s", cfg->node_name, PALISADE_VERSION,
               cfg->ldap.uri);
    if (dir_is_ready(srv->dir))
        on_dir_ready(&m);

    ev_run(srv->loop);

    /* Let queued stream errors and closes go out. */
    for (int i = 0; i < 50 && c2s_count(srv) > 0; i++)
        ev_run_once(srv->loop, 20);
    /* Writes still queued for the directory (offline messages, rosters) get
     * a few seconds to land; what cannot is logged as lost. */
    for (int i = 0; i < 100 && dir_pending_writes(srv->dir) > 0; i++)
        ev_run_once(srv->loop, 30);
    if (dir_pending_writes(srv->dir) > 0)
        log_error("node stopping with directory-writes-lost count=%zu (the directory is "
                  "unreachable)",
                  dir_pending_writes(srv->dir));
    ctl_stop(srv);
    nodes_stop(srv);
    muc_free(srv);
    log_notice("node stopped name=%s", srv->cfg->node_name);
    dir_free(srv->dir);
    auth_global_done();
    labels_free(srv);
    sess_table_free(srv->sessions);
    presence_pool_free(srv);
    log_detach_loop();
    ev_free(srv->loop);
    tls_ctx_free(srv->tls);
    node_settings_free(srv->cfg);
    return 0;
}
