/* SPDX-License-Identifier: Apache-2.0 */
/* palisadectl.c - the operator's tool. Commands live in one table (group,
 * name, usage, handler, what they need), so new ones are one row and one
 * function.
 *
 * The "user" and "settings" commands provision straight in LDAP with
 * synchronous libldap calls (a CLI may block): inetOrgPerson + xmppUser entries
 * under ldap.users, an {SSHA} userPassword for PLAIN-by-bind, RFC 5803
 * SCRAM-SHA-1 and SCRAM-SHA-256 secrets that the nodes' replica feeds to Cyrus
 * SASL, DER clearances and default labels written from their text forms, and
 * xmppServerSettings entries under ou=settings. Passwords come from stdin or a
 * file, never from argv, and are wiped after use. The directory comes from the
 * node's config (-c), from a slapd-dev.sh env file (--env, binds as the admin),
 * or from explicit options, in that order of increasing precedence; the bind
 * secret is read only when a command talks to LDAP.
 *
 * The "node" commands manage the cluster's membership: xmppNode entries
 * (name, endpoint, CURVE public key, site) under ou=nodes, and the nodes'
 * CURVE secret key files.
 *
 * The "room" commands manage persistent multi-user chat rooms: xmppRoom
 * entries under ldap.rooms (name, description, clearance, default label,
 * XEP-0045 configuration, and owners, admins, members and outcasts as DNs of
 * users or groups).
 *
 * The "policy" and "label" commands need the security policies: the SPIF files
 * given with --spif, else the config's policy.spif. They explain decisions
 * with policy/, the same code the nodes run. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/mem.h"
#include "core/xml.h"
#include "cluster/cluster.h"
#include "directory/directory.h"
#include "node/ctl.h"
#include "node/settings.h"
#include "policy/policy.h"

#define SCRAM_ITERATIONS 4096
#define SSHA_SALT 8
#define IMPORT_WINDOW 64
#define IMPORT_BATCH 512
#define IMPORT_THREADS_MAX 16
#define PASSWORD_MAX 1024
#define CLEARANCES_MAX 16

/* Where the directory and the policies are, after option merging. Strings are
 * owned. */
struct ctl {
    char *uri;
    char *bind_dn;
    char *secret;      /* inline secret, or NULL */
    char *secret_file; /* read at connect time (wins over secret), or NULL */
    char *users;
    char *base;
    char *rooms;       /* ldap.rooms or --rooms; NULL = ou=rooms,<base> */
    char *domain;
    bool domain_given; /* --domain on the command line (not the config's first domain) */
    char *ca_file;
    bool starttls;
    int64_t timeout_ms;
    struct config_strlist spif; /* --spif files, else the config's policy.spif */
    char *spif_origin;          /* where the list came from, for messages */
    LDAP *ld;
    struct policy_set *policies; /* loaded by ctl_policies() */
    char *ctl_socket;            /* the node's control.socket (node status) */
};

/* What a command needs before it runs. */
enum {
    NEED_LDAP = 1u << 0,   /* a bound connection */
    NEED_POLICY = 1u << 1, /* the policies (--spif or policy.spif) */
};

struct ctl_command {
    const char *group; /* "user" */
    const char *name;  /* "add"; NULL when the group word alone is the command */
    const char *args;  /* usage after the command words */
    const char *summary;
    int (*run)(struct ctl *c, int argc, char **argv); /* argv[0]: first argument */
    unsigned needs;
};

static const char *prog = "palisadectl";

static void __attribute__((format(printf, 2, 3))) fail(const char *hint, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (hint)
        fprintf(stderr, "%s: %s\n", prog, hint);
}

static void
set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
}

static void
wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void
strlist_clear(struct config_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void
strlist_add(struct config_strlist *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = xstrdup(s);
}

/* The secret comes from exactly one place: the last one given. */
static void
set_secret(struct ctl *c, const char *inline_secret, const char *file)
{
    wipe_free(c->secret);
    c->secret = inline_secret ? xstrdup(inline_secret) : NULL;
    set_str(&c->secret_file, file);
}

/* ---- Connection settings --------------------------------------------------- */

/* Reads KEY='value' lines as written by scripts/slapd-dev.sh. */
static int
ctl_load_env(struct ctl *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fail("start a directory with scripts/slapd-dev.sh start DIR PORT, then pass DIR/env",
             "cannot read %s: %s", path, strerror(errno));
        return PAL_EIO;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        v[strcspn(v, "\r\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
            v[n - 1] = '\0';
            v++;
        }
        if (strcmp(line, "LDAP_URI") == 0)
            set_str(&c->uri, v);
        else if (strcmp(line, "LDAP_USERS") == 0)
            set_str(&c->users, v);
        else if (strcmp(line, "LDAP_BASE") == 0)
            set_str(&c->base, v);
        else if (strcmp(line, "LDAP_ROOMS") == 0)
            set_str(&c->rooms, v);
        else if (strcmp(line, "LDAP_ADMIN_DN") == 0)
            set_str(&c->bind_dn, v);
        else if (strcmp(line, "LDAP_ADMIN_SECRET_FILE") == 0)
            set_secret(c, NULL, v);
    }
    fclose(f);
    return PAL_OK;
}

/* The node's config: its "ldap" group and first domain. */
static int
ctl_load_config(struct ctl *c, const char *path)
{
    struct node_settings *s = NULL;
    char err[512];
    if (node_settings_load(path, &s, err, sizeof err) != PAL_OK) {
        fail("fix the file, or pass --uri/--bind-dn/--bind-secret-file/--users instead", "%s", err);
        return PAL_ECONFIG;
    }
    set_str(&c->uri, s->ldap.uri);
    set_str(&c->bind_dn, s->ldap.bind_dn);
    set_str(&c->users, s->ldap.users && s->ldap.users[0] ? s->ldap.users : s->ldap.base);
    set_str(&c->base, s->ldap.base);
    set_str(&c->rooms, s->ldap.rooms && s->ldap.rooms[0] ? s->ldap.rooms : NULL);
    set_str(&c->ca_file, s->ldap.ca_file && s->ldap.ca_file[0] ? s->ldap.ca_file : NULL);
    c->starttls = s->ldap.starttls;
    c->timeout_ms = s->ldap.timeout_ms;
    if (s->domains.n > 0)
        set_str(&c->domain, s->domains.v[0]);
    if (s->ldap.bind_secret_file && s->ldap.bind_secret_file[0])
        set_secret(c, NULL, s->ldap.bind_secret_file);
    else if (s->ldap.bind_secret && s->ldap.bind_secret[0])
        set_secret(c, s->ldap.bind_secret, NULL);
    set_str(&c->ctl_socket, s->ctl_socket);
    strlist_clear(&c->spif);
    for (size_t i = 0; i < s->policy_spif.n; i++)
        strlist_add(&c->spif, s->policy_spif.v[i]);
    free(c->spif_origin);
    c->spif_origin = xasprintf("policy.spif of %s", path);
    node_settings_free(s);
    return PAL_OK;
}

static void
ldap_diag(LDAP *ld, int rc, const char *what, const char *hint)
{
    char *diag = NULL;
    if (ld)
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
    if (!hint && rc == LDAP_INSUFFICIENT_ACCESS)
        hint = "the bind DN may not do this (a node's service account only reads outside "
               "ldap.users): bind as an administrator with --env DIR/env, or --bind-dn and "
               "--bind-secret-file";
    else if (!hint && (rc == LDAP_OBJECT_CLASS_VIOLATION || rc == LDAP_UNDEFINED_TYPE))
        hint = "load the current schema into slapd (directory/schema/palisade.ldif; see "
               "docs/DIRECTORY.md)";
    fail(hint, "%s: %s%s%s", what, ldap_err2string(rc), diag && diag[0] ? " - " : "",
         diag ? diag : "");
    ldap_memfree(diag);
}

static int
ctl_connect(struct ctl *c)
{
    if (c->ld)
        return PAL_OK;
    if (!c->uri || !c->bind_dn || (!c->secret && !c->secret_file) || !c->users) {
        fail("pass -c node.cfg, --env DIR/env, or --uri, --bind-dn, --bind-secret-file and --users",
             "no directory given");
        return PAL_ECONFIG;
    }
    if (c->secret_file) {
        char err[256];
        char *sec = config_read_secret(c->secret_file, err, sizeof err);
        if (!sec) {
            fail("check the bind secret file named by -c (ldap.bind_secret_file), --env or "
                 "--bind-secret-file, and that you may read it",
                 "%s: %s", c->secret_file, err);
            return PAL_EIO;
        }
        set_secret(c, sec, NULL);
        wipe_free(sec);
    }
    int rc = ldap_initialize(&c->ld, c->uri);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(NULL, rc, c->uri, "check the URI: ldap://host:port, ldaps://..., ldapi://...");
        return PAL_ELDAP;
    }
    int v3 = LDAP_VERSION3;
    struct timeval tv = {(time_t)(c->timeout_ms / 1000),
                         (suseconds_t)(c->timeout_ms % 1000) * 1000};
    ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv);
    if (c->starttls || strncmp(c->uri, "ldaps:", 6) == 0) {
        int demand = LDAP_OPT_X_TLS_DEMAND;
        int client = 0;
        ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
        if (c->ca_file)
            ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file);
        ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &client);
    }
    if (c->starttls && (rc = ldap_start_tls_s(c->ld, NULL, NULL)) != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, "StartTLS", "check the server certificate and --ca-file");
        return PAL_ELDAP;
    }
    struct berval cred = {strlen(c->secret), c->secret};
    rc = ldap_sasl_bind_s(c->ld, c->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, c->bind_dn,
                  rc == LDAP_INVALID_CREDENTIALS
                      ? "check the bind DN and its secret file"
                      : "is the directory running? (slapd-dev.sh status DIR)");
        return PAL_ELDAP;
    }
    return PAL_OK;
}

static void
ctl_clear(struct ctl *c)
{
    if (c->ld)
        ldap_unbind_ext(c->ld, NULL, NULL);
    free(c->uri);
    free(c->bind_dn);
    wipe_free(c->secret);
    free(c->secret_file);
    free(c->users);
    free(c->base);
    free(c->rooms);
    free(c->domain);
    free(c->ca_file);
    free(c->ctl_socket);
    strlist_clear(&c->spif);
    free(c->spif_origin);
    policy_set_free(c->policies);
    memset(c, 0, sizeof *c);
}

/* Loads the policies once. PAL_OK (c->policies set), or an error already
 * reported. When !required (the policies only turn numbers into names), no
 * policies or a file that does not load leave an empty set: a warning, not a
 * failure. */
static int
ctl_policies(struct ctl *c, bool required)
{
    if (c->policies)
        return PAL_OK;
    if (c->spif.n == 0) {
        if (!required) {
            c->policies = policy_set_new();
            return PAL_OK;
        }
        fail("pass --spif FILE (repeatable), or -c node.cfg whose policy.spif lists the SPIF "
             "files",
             "no security policy given");
        return PAL_ECONFIG;
    }
    struct policy_set *set = policy_set_new();
    for (size_t i = 0; i < c->spif.n; i++) {
        char err[512] = "";
        int rc = policy_set_load(set, c->spif.v[i], err, sizeof err);
        if (rc != PAL_OK) {
            if (!err[0])
                snprintf(err, sizeof err, "%s: %s", c->spif.v[i], pal_strerror(rc));
            fail(rc == PAL_EEXIST ? "each policy (name and OID) may be loaded once: drop the "
                                    "duplicate file"
                                  : "fix the SPIF file (check it with: palisadectl policy check "
                                    "FILE)",
                 "%s (from %s)", err, c->spif_origin ? c->spif_origin : "--spif");
            policy_set_free(set);
            if (!required) {
                fprintf(stderr, "%s: warning: values are shown as numbers\n", prog);
                c->policies = policy_set_new();
                return PAL_OK;
            }
            return rc;
        }
    }
    c->policies = set;
    return PAL_OK;
}

/* ---- Users: names and secrets ------------------------------------------------ */

/* Normalised bare JID with a local part; domain added when missing. */
static char *
user_jid(const struct ctl *c, const char *arg)
{
    char *in = strchr(arg, '@') || !c->domain ? xstrdup(arg) : xasprintf("%s@%s", arg, c->domain);
    char *j = jid_normalize(in);
    free(in);
    if (!j || strchr(j, '/') || !strchr(j, '@')) {
        fail(strchr(arg, '@') ? "a user JID is local@domain, without a resource"
                              : "give local@domain, or a default domain with --domain or -c",
             "not a user JID: %s", arg);
        free(j);
        return NULL;
    }
    return j;
}

/* RFC 4514 escaping of an attribute value in an RDN. */
static char *
rdn_escape(const char *v)
{
    size_t n = strlen(v);
    char *out = xmalloc(3 * n + 1);
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (strchr(",+\"\\<>;=", ch) || (i == 0 && (ch == '#' || ch == ' ')) ||
            (i == n - 1 && ch == ' '))
            *o++ = '\\';
        *o++ = ch;
    }
    *o = '\0';
    return out;
}

static char *
user_dn(const struct ctl *c, const char *jid)
{
    char *local = xstrndup(jid, (size_t)(strchr(jid, '@') - jid));
    char *esc = rdn_escape(local);
    char *dn = xasprintf("uid=%s,%s", esc, c->users);
    free(esc);
    free(local);
    return dn;
}

/* Searches base for entries of objectClass cls whose attr equals value
 * (escaped here), at most limit of them (LDAP_NO_LIMIT for all): PAL_OK and
 * *res (the caller frees it with ldap_msgfree() either way), PAL_ENOMEM, or
 * PAL_ELDAP (reported). More entries than limit is not an error. */
static int
attr_search(struct ctl *c, const char *base, const char *cls, const char *attr,
            const char *value, char **attrs, int limit, LDAPMessage **res)
{
    struct berval bv = {strlen(value), (char *)value};
    struct berval esc = {0, NULL};
    *res = NULL;
    if (ldap_bv2escaped_filter_value(&bv, &esc) != 0)
        return PAL_ENOMEM;
    char *filter = xasprintf("(&(objectClass=%s)(%s=%s))", cls, attr, esc.bv_val);
    ber_memfree(esc.bv_val);
    int rc = ldap_search_ext_s(c->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
                               NULL, limit, res);
    free(filter);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
        ldap_diag(c->ld, rc, base, NULL);
        return PAL_ELDAP;
    }
    return PAL_OK;
}

/* Searches users for the entry holding xmppJID=jid, with attrs: PAL_OK and *e
 * (NULL when there is none), or PAL_ENOMEM or PAL_ELDAP (a failed search is
 * reported). *e lies in *res, which the caller frees with ldap_msgfree() either
 * way. */
static int
user_search(struct ctl *c, const char *jid, char **attrs, LDAPMessage **res, LDAPMessage **e)
{
    *e = NULL;
    int rc = attr_search(c, c->users, "xmppUser", "xmppJID", jid, attrs, 2, res);
    if (rc == PAL_OK)
        *e = ldap_first_entry(c->ld, *res);
    return rc;
}

/* The DN of the entry holding xmppJID=jid under users, or NULL. */
static char *
user_find(struct ctl *c, const char *jid, bool *enabled)
{
    char *attrs[] = {"xmppAccountEnabled", NULL};
    LDAPMessage *res;
    LDAPMessage *e;
    char *dn = NULL;
    if (user_search(c, jid, attrs, &res, &e) == PAL_OK && e) {
        char *d = ldap_get_dn(c->ld, e);
        dn = xstrdup(d);
        ldap_memfree(d);
        if (enabled) {
            struct berval **v = ldap_get_values_len(c->ld, e, "xmppAccountEnabled");
            *enabled = !v || (v[0]->bv_len == 4 && memcmp(v[0]->bv_val, "TRUE", 4) == 0);
            ldap_value_free_len(v);
        }
    }
    ldap_msgfree(res);
    return dn;
}

/* user_find() for commands on an existing user: NULL is reported. */
static char *
user_require(struct ctl *c, const char *jid, bool *enabled)
{
    char *dn = user_find(c, jid, enabled);
    if (!dn)
        fail("list accounts with: user list", "no user %s", jid);
    return dn;
}

/* "{SSHA}" base64(SHA1(password || salt) || salt), as slapd checks it. */
static char *
ssha(const char *password)
{
    unsigned char buf[SHA_DIGEST_LENGTH + SSHA_SALT];
    unsigned char *salt = buf + SHA_DIGEST_LENGTH;
    if (RAND_bytes(salt, SSHA_SALT) != 1)
        return NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 1 &&
              EVP_DigestUpdate(md, password, strlen(password)) == 1 &&
              EVP_DigestUpdate(md, salt, SSHA_SALT) == 1 && EVP_DigestFinal_ex(md, buf, NULL) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return NULL;
    char b64[4 * ((sizeof buf + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)b64, buf, sizeof buf);
    OPENSSL_cleanse(buf, sizeof buf);
    return xasprintf("{SSHA}%s", b64);
}

/* The three password-derived values; false when the password is unusable. */
struct secrets {
    char *ssha;
    char *scram1;
    char *scram256;
};

static bool
secrets_make(const char *password, struct secrets *s)
{
    memset(s, 0, sizeof *s);
    s->ssha = ssha(password);
    s->scram1 = dir_scram_secret("SHA-1", password, NULL, 0, SCRAM_ITERATIONS);
    s->scram256 = dir_scram_secret("SHA-256", password, NULL, 0, SCRAM_ITERATIONS);
    return s->ssha && s->scram1 && s->scram256;
}

static void
secrets_clear(struct secrets *s)
{
    wipe_free(s->ssha);
    wipe_free(s->scram1);
    wipe_free(s->scram256);
    memset(s, 0, sizeof *s);
}

/* Reads one password: the first line of stdin, or a whole file (one trailing
 * newline stripped). Caller wipes and frees. */
static char *
read_password(const char *file, bool from_stdin)
{
    char *pw = NULL;
    if (file) {
        char err[256];
        pw = config_read_secret(file, err, sizeof err);
        if (!pw) {
            fail(NULL, "--password-file %s: %s", file, err);
            return NULL;
        }
    } else if (from_stdin) {
        char buf[PASSWORD_MAX + 2];
        if (!fgets(buf, sizeof buf, stdin)) {
            fail("pipe the password in: printf '%%s' \"$PW\" | palisadectl ...",
                 "no password on stdin");
            return NULL;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        pw = xstrdup(buf);
        OPENSSL_cleanse(buf, sizeof buf);
    }
    if (pw && (!pw[0] || strlen(pw) > PASSWORD_MAX)) {
        fail(NULL, "the password is empty or longer than %d bytes", PASSWORD_MAX);
        wipe_free(pw);
        return NULL;
    }
    return pw;
}

/* ---- LDAPMod helpers ------------------------------------------------------------ */

struct mods {
    LDAPMod m[16];
    LDAPMod *p[17];
    struct berval bv[32];
    struct berval *bvp[48];
    size_t n, nbv, nbvp;
};

/* Adds one attribute with n values (NULL-terminated strings, or binary). */
static void
mods_add(struct mods *ms, int op, const char *name, const struct berval *vals, size_t n)
{
    LDAPMod *m = &ms->m[ms->n];
    m->mod_op = op | LDAP_MOD_BVALUES;
    m->mod_type = (char *)name;
    m->mod_bvalues = &ms->bvp[ms->nbvp];
    for (size_t i = 0; i < n; i++) {
        ms->bv[ms->nbv] = vals[i];
        ms->bvp[ms->nbvp++] = &ms->bv[ms->nbv++];
    }
    ms->bvp[ms->nbvp++] = NULL;
    ms->p[ms->n++] = m;
    ms->p[ms->n] = NULL;
}

static void
mods_str(struct mods *ms, int op, const char *name, const char *v)
{
    struct berval bv = {strlen(v), (char *)v};
    mods_add(ms, op, name, &bv, 1);
}

static void
mods_secrets(struct mods *ms, int op, const struct secrets *s)
{
    mods_str(ms, op, "userPassword", s->ssha);
    struct berval sc[2] = {{strlen(s->scram1), s->scram1}, {strlen(s->scram256), s->scram256}};
    mods_add(ms, op, "xmppScramSecret", sc, 2);
}

/* Replaces attr of the user's entry with vals (n = 0 deletes it). */
static int
user_replace(struct ctl *c, const char *dn, const char *attr, const struct berval *vals, size_t n)
{
    struct mods ms = {0};
    mods_add(&ms, LDAP_MOD_REPLACE, attr, vals, n);
    int rc = ldap_modify_ext_s(c->ld, dn, ms.p, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn, NULL);
        return PAL_ELDAP;
    }
    return PAL_OK;
}

/* The attributes of a new user entry; name NULL = the local part. */
static void
user_entry_mods(struct mods *ms, const char *jid, const char *name, const struct secrets *s,
                const struct berval *clearance, char **scratch)
{
    static const struct berval classes[] = {{3, "top"}, {13, "inetOrgPerson"}, {8, "xmppUser"}};
    char *local = xstrndup(jid, (size_t)(strchr(jid, '@') - jid));
    const char *cn = name && name[0] ? name : local;
    const char *sp = strrchr(cn, ' ');
    const char *sn = sp && sp[1] ? sp + 1 : cn;
    scratch[0] = local;
    mods_add(ms, LDAP_MOD_ADD, "objectClass", classes, 3);
    mods_str(ms, LDAP_MOD_ADD, "uid", local);
    mods_str(ms, LDAP_MOD_ADD, "cn", cn);
    mods_str(ms, LDAP_MOD_ADD, "sn", sn);
    if (sp && sp != cn) {
        scratch[1] = xstrndup(cn, (size_t)(sp - cn));
        mods_str(ms, LDAP_MOD_ADD, "givenName", scratch[1]);
    }
    mods_str(ms, LDAP_MOD_ADD, "xmppJID", jid);
    mods_str(ms, LDAP_MOD_ADD, "xmppAccountEnabled", "TRUE");
    if (s)
        mods_secrets(ms, LDAP_MOD_ADD, s);
    if (clearance)
        mods_add(ms, LDAP_MOD_ADD, "xmppClearance", clearance, 1);
}

/* ---- user add / passwd / del / enable / disable / import / list -------------- */

struct user_opts {
    bool pw_stdin;
    const char *pw_file;
    const char *name;
    const char *clearance_file;
};

static int
parse_user_opts(int argc, char **argv, struct user_opts *o, int *first)
{
    static const struct option longopts[] = {
        {"password-stdin", no_argument, NULL, 's'},
        {"password-file", required_argument, NULL, 'f'},
        {"name", required_argument, NULL, 'n'},
        {"clearance-file", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0; /* GNU: reinitialise for this sub-argv */
    while ((ch = getopt_long(argc + 1, argv - 1, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->pw_stdin = true;
            break;
        case 'f':
            o->pw_file = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'C':
            o->clearance_file = optarg;
            break;
        default:
            return PAL_EINVAL;
        }
    }
    *first = optind - 1;
    if (o->pw_stdin && o->pw_file) {
        fail(NULL, "give --password-stdin or --password-file, not both");
        return PAL_EINVAL;
    }
    return PAL_OK;
}

static unsigned char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(NULL, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = xmalloc(65536);
    *len = fread(buf, 1, 65536, f);
    bool too_big = fgetc(f) != EOF;
    fclose(f);
    if (too_big || *len == 0) {
        fail(NULL, "%s: empty or over 64 KiB", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int
cmd_user_add(struct ctl *c, int argc, char **argv)
{
    struct user_opts o = {0};
    int first;
    if (parse_user_opts(argc, argv, &o, &first) != PAL_OK || argc - first != 1) {
        fail("usage: user add JID [--password-stdin | --password-file F] [--name NAME] "
             "[--clearance-file F]",
             "bad arguments");
        return 2;
    }
    char *jid = user_jid(c, argv[first]);
    if (!jid)
        return 1;
    int ret = 1;
    char *pw = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    struct secrets s = {0};
    char *scratch[2] = {NULL, NULL};
    char *dn = NULL;
    char *existing = user_find(c, jid, NULL);
    if (existing) {
        fail("change it with: user passwd / enable / disable, or remove it with: user del",
             "%s exists already (%s)", jid, existing);
        free(existing);
        goto out;
    }
    if (o.clearance_file) {
        der = read_file(o.clearance_file, &der_len);
        if (!der)
            goto out;
        if (der[0] != 0x30) {
            fail("give the DER encoding of an RFC 5755 Clearance (a SEQUENCE)",
                 "%s does not look like DER", o.clearance_file);
            goto out;
        }
    }
    if (o.pw_stdin || o.pw_file) {
        pw = read_password(o.pw_file, o.pw_stdin);
        if (!pw)
            goto out;
        if (!secrets_make(pw, &s)) {
            fail("use printable characters (SASLprep, RFC 4013)", "the password cannot be used");
            goto out;
        }
    }
    dn = user_dn(c, jid);
    struct mods ms = {0};
    struct berval cl = {der_len, (char *)der};
    user_entry_mods(&ms, jid, o.name, pw ? &s : NULL, der ? &cl : NULL, scratch);
    int rc = ldap_add_ext_s(c->ld, dn, ms.p, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn,
                  rc == LDAP_ALREADY_EXISTS
                      ? "another domain's user has this uid; JIDs of all domains share ldap.users"
                      : NULL);
        goto out;
    }
    printf("%s: user %s added (%s)%s\n", prog, jid, dn,
           pw ? "" : "; no password yet: set one with user passwd");
    ret = 0;
out:
    secrets_clear(&s);
    wipe_free(pw);
    free(der);
    free(scratch[0]);
    free(scratch[1]);
    free(dn);
    free(jid);
    return ret;
}

static int
cmd_user_passwd(struct ctl *c, int argc, char **argv)
{
    struct user_opts o = {0};
    int first;
    if (parse_user_opts(argc, argv, &o, &first) != PAL_OK || argc - first != 1 ||
        (!o.pw_stdin && !o.pw_file) || o.name || o.clearance_file) {
        fail("usage: user passwd JID (--password-stdin | --password-file F)", "bad arguments");
        return 2;
    }
    char *jid = user_jid(c, argv[first]);
    if (!jid)
        return 1;
    int ret = 1;
    struct secrets s = {0};
    char *pw = NULL;
    char *dn = user_require(c, jid, NULL);
    if (!dn)
        goto out;
    pw = read_password(o.pw_file, o.pw_stdin);
    if (!pw)
        goto out;
    if (!secrets_make(pw, &s)) {
        fail("use printable characters (SASLprep, RFC 4013)", "the password cannot be used");
        goto out;
    }
    struct mods ms = {0};
    mods_secrets(&ms, LDAP_MOD_REPLACE, &s);
    int rc = ldap_modify_ext_s(c->ld, dn, ms.p, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn, NULL);
        goto out;
    }
    printf("%s: password of %s changed\n", prog, jid);
    ret = 0;
out:
    secrets_clear(&s);
    wipe_free(pw);
    free(dn);
    free(jid);
    return ret;
}

static int
dn_depth_cmp(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a);
    size_t lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0; /* longest (deepest) first */
}

static int
cmd_user_del(struct ctl *c, int argc, char **argv)
{
    if (argc != 1) {
        fail("usage: user del JID", "bad arguments");
        return 2;
    }
    char *jid = user_jid(c, argv[0]);
    if (!jid)
        return 1;
    char *dn = user_require(c, jid, NULL);
    if (!dn) {
        free(jid);
        return 1;
    }
    /* children first (roster items, offline messages): LDAP deletes leaves only */
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_SUBTREE, "(objectClass=*)", attrs, 0, NULL,
                               NULL, NULL, LDAP_NO_LIMIT, &res);
    int ret = 1;
    size_t n = 0;
    char **dns = NULL;
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn, NULL);
        goto out;
    }
    dns = xcalloc((size_t)ldap_count_entries(c->ld, res) + 1, sizeof *dns);
    for (LDAPMessage *e = ldap_first_entry(c->ld, res); e; e = ldap_next_entry(c->ld, e)) {
        char *d = ldap_get_dn(c->ld, e);
        dns[n++] = xstrdup(d);
        ldap_memfree(d);
    }
    qsort(dns, n, sizeof *dns, dn_depth_cmp);
    for (size_t i = 0; i < n; i++) {
        rc = ldap_delete_ext_s(c->ld, dns[i], NULL, NULL);
        if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
            ldap_diag(c->ld, rc, dns[i], NULL);
            goto out;
        }
    }
    printf("%s: user %s deleted (%zu entries)\n", prog, jid, n);
    ret = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(dns[i]);
    free(dns);
    ldap_msgfree(res);
    free(dn);
    free(jid);
    return ret;
}

static int
user_set_enabled(struct ctl *c, int argc, char **argv, bool enable)
{
    if (argc != 1) {
        fail(enable ? "usage: user enable JID" : "usage: user disable JID", "bad arguments");
        return 2;
    }
    char *jid = user_jid(c, argv[0]);
    if (!jid)
        return 1;
    bool was = false;
    char *dn = user_require(c, jid, &was);
    int ret = 1;
    if (!dn)
        goto out;
    struct berval bv = {enable ? 4 : 5, enable ? "TRUE" : "FALSE"};
    if (user_replace(c, dn, "xmppAccountEnabled", &bv, 1) != PAL_OK)
        goto out;
    printf("%s: user %s %s%s\n", prog, jid, enable ? "enabled" : "disabled",
           was == enable ? " (it was already)" : "");
    ret = 0;
out:
    free(dn);
    free(jid);
    return ret;
}

static int
cmd_user_enable(struct ctl *c, int argc, char **argv)
{
    return user_set_enabled(c, argc, argv, true);
}

static int
cmd_user_disable(struct ctl *c, int argc, char **argv)
{
    return user_set_enabled(c, argc, argv, false);
}

/* One add in flight during an import. */
struct import_op {
    int msgid;
    unsigned line;
    char *jid;
};

/* Waits for one import result; returns false on a connection error. */
static bool
import_reap(struct ctl *c, struct import_op *ops, size_t *n, size_t *failed)
{
    LDAPMessage *m = NULL;
    int rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, NULL, &m);
    if (rc <= 0) {
        ldap_diag(c->ld, LDAP_SERVER_DOWN, "import", "the directory went away; rerun the import");
        return false;
    }
    int id = ldap_msgid(m);
    int err = LDAP_OTHER;
    ldap_parse_result(c->ld, m, &err, NULL, NULL, NULL, NULL, 1);
    for (size_t i = 0; i < *n; i++) {
        if (ops[i].msgid != id)
            continue;
        if (err != LDAP_SUCCESS) {
            fprintf(stderr, "%s: line %u: %s: %s\n", prog, ops[i].line, ops[i].jid,
                    err == LDAP_ALREADY_EXISTS ? "exists already (skipped)" : ldap_err2string(err));
            (*failed)++;
        }
        free(ops[i].jid);
        ops[i] = ops[--*n];
        break;
    }
    return true;
}

/* A parsed import line; secrets are computed by the worker threads. */
struct import_item {
    unsigned line;
    char *jid;
    char *pw;
    struct secrets s;
    bool ok;
};

struct import_batch {
    struct import_item *v;
    size_t n;
    size_t next;
    pthread_mutex_t mu;
};

/* PBKDF2 dominates an import (two 4096-round derivations per user): spread
 * it over the cores. libcrypto is thread-safe for this. */
static void *
import_worker(void *arg)
{
    struct import_batch *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        size_t i = b->next++;
        pthread_mutex_unlock(&b->mu);
        if (i >= b->n)
            return NULL;
        struct import_item *it = &b->v[i];
        it->ok = secrets_make(it->pw, &it->s);
        wipe_free(it->pw);
        it->pw = NULL;
    }
}

static void
import_compute(struct import_batch *b, size_t threads)
{
    pthread_t tid[IMPORT_THREADS_MAX];
    size_t started = 0;
    b->next = 0;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, import_worker, b) != 0)
            break;
    if (started == 0)
        import_worker(b);
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
}

/* Reads up to IMPORT_BATCH usable lines into b. */
static void
import_read(struct ctl *c, FILE *f, struct import_batch *b, unsigned *lineno, size_t *failed)
{
    char line[PASSWORD_MAX + 1200];
    b->n = 0;
    while (b->n < IMPORT_BATCH && fgets(line, sizeof line, f)) {
        ++*lineno;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *sp = p + strcspn(p, " \t");
        char *pw = sp;
        while (isspace((unsigned char)*pw))
            pw++;
        if (!*sp || !*pw) {
            fprintf(stderr, "%s: line %u: expected \"jid password\"\n", prog, *lineno);
            ++*failed;
            continue;
        }
        *sp = '\0';
        char *jid = user_jid(c, p);
        if (!jid || strlen(pw) > PASSWORD_MAX) {
            if (jid)
                fprintf(stderr, "%s: line %u: %s: password too long\n", prog, *lineno, jid);
            free(jid);
            ++*failed;
        } else {
            b->v[b->n++] = (struct import_item){*lineno, jid, xstrdup(pw), {0}, false};
        }
        OPENSSL_cleanse(line, sizeof line);
    }
}

static int
cmd_user_import(struct ctl *c, int argc, char **argv)
{
    if (argc != 1) {
        fail("usage: user import FILE   (one \"jid password\" per line; - for stdin)",
             "bad arguments");
        return 2;
    }
    FILE *f = strcmp(argv[0], "-") == 0 ? stdin : fopen(argv[0], "r");
    if (!f) {
        fail(NULL, "cannot read %s: %s", argv[0], strerror(errno));
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cpus < 1 ? 1 : cpus > IMPORT_THREADS_MAX ? IMPORT_THREADS_MAX : (size_t)cpus;
    struct import_batch b = {.v = xcalloc(IMPORT_BATCH, sizeof *b.v)};
    pthread_mutex_init(&b.mu, NULL);
    struct import_op ops[IMPORT_WINDOW];
    size_t inflight = 0;
    size_t sent = 0;
    size_t failed = 0;
    unsigned lineno = 0;
    bool conn_ok = true;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        import_read(c, f, &b, &lineno, &failed);
        if (b.n == 0)
            break;
        import_compute(&b, threads);
        for (size_t k = 0; k < b.n; k++) {
            struct import_item *it = &b.v[k];
            if (!it->ok || !conn_ok) {
                if (conn_ok)
                    fprintf(stderr, "%s: line %u: %s: password not usable (SASLprep)\n", prog,
                            it->line, it->jid);
                failed++;
                secrets_clear(&it->s);
                free(it->jid);
                continue;
            }
            if (inflight == IMPORT_WINDOW)
                conn_ok = import_reap(c, ops, &inflight, &failed);
            char *dn = user_dn(c, it->jid);
            struct mods ms = {0};
            char *scratch[2] = {NULL, NULL};
            user_entry_mods(&ms, it->jid, NULL, &it->s, NULL, scratch);
            int msgid;
            int rc = conn_ok ? ldap_add_ext(c->ld, dn, ms.p, NULL, NULL, &msgid) : LDAP_SERVER_DOWN;
            secrets_clear(&it->s);
            free(scratch[0]);
            free(scratch[1]);
            free(dn);
            if (rc != LDAP_SUCCESS) {
                if (conn_ok)
                    ldap_diag(c->ld, rc, it->jid, "the directory went away; rerun the import");
                conn_ok = false;
                failed++;
                free(it->jid);
                continue;
            }
            ops[inflight++] = (struct import_op){msgid, it->line, it->jid};
            sent++;
        }
        if (!conn_ok)
            break;
    }
    while (conn_ok && inflight > 0)
        conn_ok = import_reap(c, ops, &inflight, &failed);
    for (size_t i = 0; i < inflight; i++)
        free(ops[i].jid);
    pthread_mutex_destroy(&b.mu);
    free(b.v);
    if (f != stdin)
        fclose(f);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s: import: %u lines, %zu sent, %zu failed, %.2f s, %zu threads\n", prog, lineno, sent,
           failed, secs, threads);
    return conn_ok && failed == 0 ? 0 : 1;
}

/* ---- Policies, clearances and labels: helpers ------------------------------------ */

/* Options of the label and clearance commands (pointers into argv). */
struct label_opts {
    const char *clearance[CLEARANCES_MAX];
    size_t n_clearance;
    const char *user;
    const char *label;
    const char *label_b64;
    const char *label_xml;
    const char *domain; /* settings: the scope */
    bool clear;
};

/* Parses the options above; positional arguments are left at argv[*first..]. */
static int
parse_label_opts(int argc, char **argv, struct label_opts *o, int *first)
{
    static const struct option longopts[] = {
        {"clearance", required_argument, NULL, 'C'}, {"user", required_argument, NULL, 'u'},
        {"label", required_argument, NULL, 'l'},     {"label-b64", required_argument, NULL, 'b'},
        {"label-xml", required_argument, NULL, 'x'}, {"clear", no_argument, NULL, 'z'},
        {"domain", required_argument, NULL, 'd'},    {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0; /* GNU: reinitialise for this sub-argv */
    opterr = 0;
    while ((ch = getopt_long(argc + 1, argv - 1, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'C':
            if (o->n_clearance == CLEARANCES_MAX) {
                fail("give one clearance per policy", "more than %d clearances", CLEARANCES_MAX);
                return PAL_EINVAL;
            }
            o->clearance[o->n_clearance++] = optarg;
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'l':
            o->label = optarg;
            break;
        case 'b':
            o->label_b64 = optarg;
            break;
        case 'x':
            o->label_xml = optarg;
            break;
        case 'z':
            o->clear = true;
            break;
        case 'd':
            o->domain = optarg;
            break;
        case ':':
            fail(NULL, "%s needs a value", argv[optind - 2]);
            return PAL_EINVAL;
        default:
            fail(NULL, "unknown option %s", argv[optind - 2]);
            return PAL_EINVAL;
        }
    }
    *first = optind - 1;
    return PAL_OK;
}

/* Colours for a terminal: the W3C names SPIFs use, or #rrggbb. */
static bool
colour_rgb(const char *s, unsigned *rgb)
{
    static const struct {
        const char *name;
        unsigned rgb;
    } names[] = {
        {"aqua", 0x00ffff},   {"black", 0x000000}, {"blue", 0x0000ff},    {"fuchsia", 0xff00ff},
        {"fuschia", 0xff00ff}, {"gray", 0x808080},  {"green", 0x008000},   {"lime", 0x00ff00},
        {"maroon", 0x800000}, {"navy", 0x000080},  {"olive", 0x808000},   {"purple", 0x800080},
        {"red", 0xff0000},    {"silver", 0xc0c0c0}, {"teal", 0x008080},   {"white", 0xffffff},
        {"yellow", 0xffff00},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *rgb = names[i].rgb;
            return true;
        }
    }
    if (s[0] != '#' || strlen(s) != 7 || strspn(s + 1, "0123456789abcdefABCDEF") != 6)
        return false;
    *rgb = (unsigned)strtoul(s + 1, NULL, 16);
    return true;
}

/* The marking text, coloured with 24-bit ANSI escapes on a terminal (not with
 * NO_COLOR set), then the colour names for everyone. */
static void
print_marking(const struct policy_marking *m)
{
    unsigned fg;
    unsigned bg;
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (isatty(STDOUT_FILENO) && !(nc && nc[0]) && !(term && strcmp(term, "dumb") == 0) &&
        colour_rgb(m->fg, &fg) && colour_rgb(m->bg, &bg))
        printf("marking    \033[38;2;%u;%u;%um\033[48;2;%u;%u;%um %s \033[0m", fg >> 16,
               (fg >> 8) & 0xff, fg & 0xff, bg >> 16, (bg >> 8) & 0xff, bg & 0xff, m->text);
    else
        printf("marking    \"%s\"", m->text);
    printf("  (%s on %s)\n", m->fg, m->bg);
}

/* Prints l (text form, marking, validity); true when valid. */
static bool
print_label(const struct policy_set *s, const struct policy_label *l, const char *title)
{
    char *text = NULL;
    policy_label_to_text(s, l, &text);
    printf("%-10s %s\n", title, text);
    free(text);
    struct policy_decision v = policy_label_validate(s, l);
    struct policy_marking m = {0};
    if (v.verdict == POLICY_ALLOW && policy_display_marking(s, l, &m) == PAL_OK)
        print_marking(&m);
    else
        printf("marking    none (the label is not valid under the loaded policies)\n");
    policy_marking_clear(&m);
    if (v.verdict == POLICY_ALLOW)
        printf("valid      yes\n");
    else
        printf("valid      no: %s\n", policy_reason_str(v.reason));
    /* what xmppDefaultLabel and <esssecuritylabel/> hold (LDIF: "attr:: b64") */
    char *b64 = NULL;
    if (policy_label_to_base64(l, &b64) == PAL_OK)
        printf("ess        %s\n", b64);
    free(b64);
    return v.verdict == POLICY_ALLOW;
}

/* A clearance value as text ("(unreadable DER)" when it does not decode);
 * caller frees. */
static char *
clearance_der_text(const struct policy_set *s, const unsigned char *der, size_t len)
{
    struct policy_clearance *pc = NULL;
    char *text = NULL;
    if (policy_clearance_from_der(der, len, &pc) != PAL_OK ||
        policy_clearance_to_text(s, pc, &text) != PAL_OK) {
        policy_clearance_free(pc);
        return xstrdup("(unreadable DER)");
    }
    policy_clearance_free(pc);
    return text;
}

static char *
label_der_text(const struct policy_set *s, const unsigned char *der, size_t len)
{
    struct policy_label *l = NULL;
    char *text = NULL;
    if (policy_label_from_der(der, len, &l) != PAL_OK) {
        policy_label_free(l);
        return xstrdup("(unreadable DER)");
    }
    policy_label_to_text(s, l, &text);
    policy_label_free(l);
    return text;
}

/* Reads a whole file ("-" = stdin) into a NUL-terminated buffer. */
static char *
read_text(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fail("check the path", "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096;
    size_t n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= 1u << 20) {
                fail("a label is a few hundred bytes", "%s is over 1 MiB", path);
                free(buf);
                n = 0;
                buf = NULL;
                break;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* The label of --label, --label-b64 or --label-xml. PAL_OK and *out; *out NULL
 * when an XEP-0258 envelope carries an empty <label/>. Errors are reported. */
static int
read_label(const struct ctl *c, const struct label_opts *o, struct policy_label **out)
{
    *out = NULL;
    if (o->label) {
        char err[256];
        int rc = policy_label_from_text(c->policies, o->label, out, err, sizeof err);
        if (rc != PAL_OK)
            fail("write it as: policy=NAME class=CLASS [categories=A,B,\"Tag set:C\"] "
                 "(names from: palisadectl policy check)",
                 "--label: %s", err);
        return rc;
    }
    if (o->label_b64) {
        int rc = policy_label_from_base64(o->label_b64, strlen(o->label_b64), out);
        if (rc != PAL_OK)
            fail("give the base64 of a DER ESSSecurityLabel (RFC 2634), as in "
                 "<esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>",
                 "--label-b64: not a valid ESS security label (%s)", pal_strerror(rc));
        return rc;
    }
    size_t len = 0;
    char *data = read_text(o->label_xml, &len);
    if (!data)
        return PAL_EIO;
    struct xml_tree *t = NULL;
    char err[256];
    int rc = xml_parse_doc(data, len, &t, err, sizeof err);
    free(data);
    if (rc != PAL_OK) {
        fail("the file holds one XML element: <securitylabel xmlns='urn:xmpp:sec-label:0'>, "
             "<esssecuritylabel/>, <label xmlns='urn:palisade:label:0'>, or a stanza with one",
             "--label-xml %s: %s", o->label_xml, err);
        return rc;
    }
    const struct xml_node *el = t->root;
    /* a whole stanza: its XEP-0258 envelope */
    if (!(el->ns && strcmp(el->ns, POLICY_NS_SECLABEL) == 0) &&
        xml_child(el, POLICY_NS_SECLABEL, "securitylabel"))
        el = xml_child(el, POLICY_NS_SECLABEL, "securitylabel");
    char *marking = NULL;
    if (el->ns && strcmp(el->ns, POLICY_NS_SECLABEL) == 0)
        rc = policy_label_from_xep258(el, out, &marking);
    else
        rc = policy_label_from_xml(el, out);
    if (rc != PAL_OK)
        fail("see policy/README.md (Encodings) for the forms a label may take",
             "--label-xml %s: %s", o->label_xml,
             rc == PAL_ENOENT ? "not a label element we know" : "not a valid label");
    else if (marking)
        printf("client     display marking \"%s\" (ignored: the server recomputes it)\n",
               marking);
    free(marking);
    xml_tree_free(t);
    return rc;
}

/* The user entry with attrs (caller frees *res), or NULL (reported). */
static LDAPMessage *
user_fetch(struct ctl *c, const char *jid, char **attrs, LDAPMessage **res)
{
    LDAPMessage *e;
    if (user_search(c, jid, attrs, res, &e) == PAL_OK && !e)
        fail("list accounts with: user list", "no user %s", jid);
    return e;
}

/* The "clearance" line of c, then its "der" line: the base64 DER, as
 * xmppClearance holds it (LDIF "attr:: b64"). */
static void
print_clearance(const struct policy_set *s, const struct policy_clearance *c)
{
    char *text = NULL;
    policy_clearance_to_text(s, c, &text);
    printf("clearance  %s\n", text ? text : "(no classification)");
    free(text);
    unsigned char *der = NULL;
    size_t len = 0;
    if (policy_clearance_to_der(c, &der, &len) != PAL_OK)
        return;
    char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
    printf("der        %s\n", b64);
    free(b64);
    free(der);
}

/* The clearances of a user entry: parsed values into cs (caller frees each);
 * *unreadable when a value does not decode (the node then denies). */
static size_t
user_clearances(struct ctl *c, LDAPMessage *e, struct policy_clearance **cs, size_t cap,
                bool *unreadable, bool print)
{
    struct berval **v = ldap_get_values_len(c->ld, e, "xmppClearance");
    size_t n = 0;
    size_t total = v ? (size_t)ldap_count_values_len(v) : 0;
    *unreadable = false;
    for (size_t i = 0; i < total; i++) {
        struct policy_clearance *pc = NULL;
        if (policy_clearance_from_der((unsigned char *)v[i]->bv_val, v[i]->bv_len, &pc) !=
            PAL_OK) {
            *unreadable = true;
            if (print)
                printf("clearance  (value %zu of %zu: unreadable DER)\n", i + 1, total);
            continue;
        }
        if (print)
            print_clearance(c->policies, pc);
        if (n < cap)
            cs[n++] = pc;
        else
            policy_clearance_free(pc);
    }
    if (print && total == 0)
        printf("clearance  none (no xmppClearance: may send and read unlabelled content only)\n");
    ldap_value_free_len(v);
    return n;
}

static void
print_decision(const char *what, struct policy_decision d)
{
    printf("%-10s %s (%s)\n", what, policy_verdict_str(d.verdict), policy_reason_str(d.reason));
}

/* ---- user list ------------------------------------------------------------------ */

static int
row_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmd_user_list(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fail("usage: user list", "bad arguments");
        return 2;
    }
    ctl_policies(c, false); /* names for the clearances when the policies load */
    char *attrs[] = {"xmppJID", "xmppAccountEnabled", "cn", "xmppClearance", NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, c->users, LDAP_SCOPE_SUBTREE, "(objectClass=xmppUser)", attrs,
                               0, NULL, NULL, NULL, LDAP_NO_LIMIT, &res);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, c->users,
                  rc == LDAP_SIZELIMIT_EXCEEDED ? "the bind DN needs an unlimited size limit"
                                                : NULL);
        ldap_msgfree(res);
        return 1;
    }
    size_t n = (size_t)ldap_count_entries(c->ld, res);
    char **rows = xcalloc(n + 1, sizeof *rows);
    size_t k = 0;
    for (LDAPMessage *e = ldap_first_entry(c->ld, res); e; e = ldap_next_entry(c->ld, e)) {
        struct berval **j = ldap_get_values_len(c->ld, e, "xmppJID");
        struct berval **en = ldap_get_values_len(c->ld, e, "xmppAccountEnabled");
        struct berval **cn = ldap_get_values_len(c->ld, e, "cn");
        struct berval **cl = ldap_get_values_len(c->ld, e, "xmppClearance");
        char *dn = ldap_get_dn(c->ld, e);
        bool enabled = !en || (en[0]->bv_len == 4 && memcmp(en[0]->bv_val, "TRUE", 4) == 0);
        /* one clearance per policy, joined with " + " ("-" when none) */
        struct buf clr;
        buf_init(&clr);
        for (int i = 0; cl && cl[i]; i++) {
            char *t = clearance_der_text(c->policies, (unsigned char *)cl[i]->bv_val,
                                         cl[i]->bv_len);
            buf_printf(&clr, "%s%s", i ? " + " : "", t);
            free(t);
        }
        if (!cl)
            buf_append_str(&clr, "-");
        buf_append(&clr, "", 1);
        rows[k++] = xasprintf("%.*s\t%s\t%.*s\t%s\t%s", j ? (int)j[0]->bv_len : 1,
                              j ? j[0]->bv_val : "-", enabled ? "enabled" : "disabled",
                              cn ? (int)cn[0]->bv_len : 1, cn ? cn[0]->bv_val : "-", dn,
                              buf_head(&clr));
        buf_free(&clr);
        ldap_value_free_len(cl);
        ldap_memfree(dn);
        ldap_value_free_len(j);
        ldap_value_free_len(en);
        ldap_value_free_len(cn);
    }
    ldap_msgfree(res);
    qsort(rows, k, sizeof *rows, row_cmp);
    for (size_t i = 0; i < k; i++) {
        printf("%s\n", rows[i]);
        free(rows[i]);
    }
    free(rows);
    return 0;
}

/* ---- policy check --------------------------------------------------------------- */

static void
print_policy(const struct policy_set *set, const struct policy *p, const char *file)
{
    printf("policy %s %s\n  file %s\n", policy_name(p), policy_oid(p), file);
    size_t nc = policy_class_count(p);
    printf("  classifications, lowest first (%zu):\n", nc);
    for (size_t i = 0; i < nc; i++) {
        struct policy_class_info ci;
        policy_class_get(p, i, &ci);
        printf("    %-22s lacv %-4d marking \"%s\", %s on %s%s\n", ci.name, (int)ci.lacv,
               ci.marking ? ci.marking : "", ci.fg ? ci.fg : "?", ci.bg ? ci.bg : "?",
               ci.is_obsolete ? " (obsolete)" : "");
    }
    size_t nk = policy_category_count(p);
    printf("  categories (%zu):\n", nk);
    struct policy_category_info prev = {0};
    for (size_t i = 0; i < nk; i++) {
        struct policy_category_info ki;
        policy_category_get(p, i, &ki);
        if (i == 0 || strcmp(prev.tagset_oid, ki.tagset_oid) != 0 ||
            strcmp(prev.tag_name, ki.tag_name) != 0 || prev.type != ki.type)
            printf("    tag set \"%s\" %s, tag \"%s\", %s:\n", ki.tagset_name, ki.tagset_oid,
                   ki.tag_name, policy_tag_type_str(ki.type));
        printf("      %-20s lacv %-6lu marking \"%s\"%s\n", ki.name, (unsigned long)ki.lacv,
               ki.marking ? ki.marking : "", ki.is_obsolete ? " (obsolete)" : "");
        prev = ki;
    }
    for (size_t i = 0; i < policy_equivalent_count(p); i++) {
        const char *name;
        const char *oid;
        policy_equivalent_get(p, i, &name, &oid);
        printf("  equivalent policy %s %s%s\n", name ? name : "?", oid ? oid : "?",
               oid && policy_set_find(set, oid) ? "" : " (not loaded here)");
    }
}

static int
cmd_policy_check(struct ctl *c, int argc, char **argv)
{
    struct config_strlist files = {0};
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) {
            fail("usage: policy check [SPIF...]   (default: --spif, or -c's policy.spif)",
                 "unknown option %s", argv[i]);
            return 2;
        }
    }
    const struct config_strlist *list = &c->spif;
    if (argc > 0) {
        for (int i = 0; i < argc; i++)
            strlist_add(&files, argv[i]);
        list = &files;
    }
    if (list->n == 0) {
        fail("pass SPIF files, --spif FILE, or -c node.cfg whose policy.spif lists them",
             "no SPIF file to check");
        return 2;
    }
    struct policy_set *set = policy_set_new();
    const char **origin = xcalloc(list->n, sizeof *origin);
    size_t bad = 0;
    for (size_t i = 0; i < list->n; i++) {
        char err[512] = "";
        struct policy *p = NULL;
        int rc = policy_load(list->v[i], &p, err, sizeof err);
        if (rc != PAL_OK) {
            fail(rc == PAL_EMALFORMED ? "fix the file: an Open XML SPIF (schema 1.0 to 2.1); "
                                        "policy/README.md lists what is supported"
                                      : "check the path and that you may read it",
                 "%s", err[0] ? err : pal_strerror(rc));
            bad++;
            continue;
        }
        if (policy_set_add(set, p) != PAL_OK) {
            fail("a policy (name and OID) may be loaded once: drop one of the files",
                 "%s: policy %s (%s) is already loaded", list->v[i], policy_name(p),
                 policy_oid(p));
            policy_free(p);
            bad++;
            continue;
        }
        origin[policy_set_count(set) - 1] = list->v[i];
    }
    for (size_t i = 0; i < policy_set_count(set); i++)
        print_policy(set, policy_set_get(set, i), origin[i]);
    printf("%s: policy check: %zu file%s, %zu polic%s loaded, %zu error%s\n", prog, list->n,
           list->n == 1 ? "" : "s", policy_set_count(set),
           policy_set_count(set) == 1 ? "y" : "ies", bad, bad == 1 ? "" : "s");
    free(origin);
    policy_set_free(set);
    strlist_clear(&files);
    return bad ? 1 : 0;
}

/* ---- label check ------------------------------------------------------------------ */

#define LABEL_CHECK_USAGE                                                                          \
    "usage: label check (--clearance TEXT... | --user JID) "                                      \
    "(--label TEXT | --label-b64 B64 | --label-xml FILE)"

static int
cmd_label_check(struct ctl *c, int argc, char **argv)
{
    struct label_opts o = {0};
    int first = argc;
    if (parse_label_opts(argc, argv, &o, &first) != PAL_OK || first != argc || o.clear) {
        if (first < argc)
            fail("quote each text: --label 'policy=P class=C ...'", "unexpected argument %s",
                 argv[first]);
        fail(NULL, LABEL_CHECK_USAGE);
        return 2;
    }
    if ((o.n_clearance > 0) == (o.user != NULL)) {
        fail(LABEL_CHECK_USAGE, "give the clearance to check: --clearance TEXT or --user JID");
        return 2;
    }
    if ((o.label != NULL) + (o.label_b64 != NULL) + (o.label_xml != NULL) != 1) {
        fail(LABEL_CHECK_USAGE, "give exactly one label: --label, --label-b64 or --label-xml");
        return 2;
    }
    struct policy_label *l = NULL;
    struct policy_clearance *cs[CLEARANCES_MAX] = {NULL};
    size_t n = 0;
    bool unreadable = false;
    int ret = 2;
    char *jid = NULL;
    LDAPMessage *res = NULL;
    if (read_label(c, &o, &l) != PAL_OK)
        goto out;
    for (size_t i = 0; i < o.n_clearance; i++) {
        char err[256];
        if (policy_clearance_from_text(c->policies, o.clearance[i], &cs[n], err, sizeof err) !=
            PAL_OK) {
            fail("write it as: policy=NAME class=CLASS [categories=A,B] (one --clearance per "
                 "policy)",
                 "--clearance: %s", err);
            goto out;
        }
        n++;
    }
    if (l)
        print_label(c->policies, l, "label");
    else
        printf("label      none (an empty <label/>: the node applies the default label, "
               "see: palisadectl settings show)\n");
    if (o.user) {
        jid = user_jid(c, o.user);
        if (!jid)
            goto out;
        if (ctl_connect(c) != PAL_OK) {
            ret = 3;
            goto out;
        }
        char *attrs[] = {"xmppClearance", "xmppDefaultLabel", "xmppLabelSupport", NULL};
        LDAPMessage *e = user_fetch(c, jid, attrs, &res);
        if (!e)
            goto out;
        printf("user       %s\n", jid);
        n = user_clearances(c, e, cs, CLEARANCES_MAX, &unreadable, true);
        struct berval **dl = ldap_get_values_len(c->ld, e, "xmppDefaultLabel");
        if (dl) {
            char *t = label_der_text(c->policies, (unsigned char *)dl[0]->bv_val, dl[0]->bv_len);
            printf("default    %s (the user's xmppDefaultLabel)\n", t);
            free(t);
        }
        ldap_value_free_len(dl);
    } else {
        for (size_t i = 0; i < n; i++)
            print_clearance(c->policies, cs[i]);
    }
    struct policy_decision rd;
    struct policy_decision sd;
    if (unreadable && l) {
        /* as the node: a clearance value it cannot read denies every label */
        printf("read       deny-clearance (unreadable-clearance)\n"
               "send       deny-clearance (unreadable-clearance)\n");
        ret = 1;
        goto out;
    }
    rd = policy_check_any(c->policies, POLICY_CHECK_READ,
                          (const struct policy_clearance *const *)cs, n, l);
    sd = policy_check_any(c->policies, POLICY_CHECK_SEND,
                          (const struct policy_clearance *const *)cs, n, l);
    print_decision("read", rd);
    print_decision("send", sd);
    ret = rd.verdict == POLICY_ALLOW ? 0 : 1;
out:
    ldap_msgfree(res);
    free(jid);
    for (size_t i = 0; i < CLEARANCES_MAX; i++)
        policy_clearance_free(cs[i]);
    policy_label_free(l);
    return ret;
}

/* ---- user clearance / label-support / default-label / show ------------------------- */

static int
cmd_user_clearance(struct ctl *c, int argc, char **argv)
{
    struct label_opts o = {0};
    int first;
    if (parse_label_opts(argc, argv, &o, &first) != PAL_OK || o.n_clearance || o.user ||
        o.label || o.label_b64 || o.label_xml || argc - first < 1 ||
        (o.clear == (argc - first > 1))) {
        fail("usage: user clearance JID TEXT...   (one quoted TEXT per policy, e.g. "
             "'policy=PALISADE class=SECRET categories=NATO')\n"
             "       user clearance JID --clear",
             "bad arguments");
        return 2;
    }
    size_t ntext = (size_t)(argc - first - 1);
    if (ntext > CLEARANCES_MAX) {
        fail("give one clearance per policy", "more than %d clearances", CLEARANCES_MAX);
        return 2;
    }
    if (ntext && ctl_policies(c, true) != PAL_OK)
        return 2;
    char *jid = user_jid(c, argv[first]);
    if (!jid)
        return 2;
    struct policy_clearance *cs[CLEARANCES_MAX] = {NULL};
    struct berval vals[CLEARANCES_MAX];
    unsigned char *ders[CLEARANCES_MAX] = {NULL};
    int ret = 2;
    char *dn = NULL;
    for (size_t i = 0; i < ntext; i++) {
        char err[256];
        const char *text = argv[first + 1 + i];
        if (policy_clearance_from_text(c->policies, text, &cs[i], err, sizeof err) != PAL_OK) {
            fail("each TEXT is one whole clearance: quote it ('policy=NAME class=CLASS "
                 "categories=A,B'); names from: palisadectl policy check",
                 "\"%s\": %s", text, err);
            goto out;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(policy_clearance_policy(cs[k]), policy_clearance_policy(cs[i])) == 0) {
                fail("merge them: one clearance per policy holds every classification and "
                     "category",
                     "two clearances of policy %s", policy_clearance_policy(cs[i]));
                goto out;
            }
        }
        size_t len = 0;
        if (policy_clearance_to_der(cs[i], &ders[i], &len) != PAL_OK) {
            fail("give at least one classification", "\"%s\" cannot be encoded", text);
            goto out;
        }
        vals[i] = (struct berval){len, (char *)ders[i]};
    }
    ret = 1;
    dn = user_require(c, jid, NULL);
    if (!dn)
        goto out;
    if (user_replace(c, dn, "xmppClearance", vals, ntext) != PAL_OK)
        goto out;
    if (ntext == 0)
        printf("%s: clearance of %s removed (may send and read unlabelled content only)\n", prog,
               jid);
    for (size_t i = 0; i < ntext; i++) {
        char *t = NULL;
        policy_clearance_to_text(c->policies, cs[i], &t);
        printf("%s: clearance of %s: %s\n", prog, jid, t ? t : "?");
        free(t);
    }
    ret = 0;
out:
    for (size_t i = 0; i < CLEARANCES_MAX; i++) {
        policy_clearance_free(cs[i]);
        free(ders[i]);
    }
    free(dn);
    free(jid);
    return ret;
}

static int
cmd_user_label_support(struct ctl *c, int argc, char **argv)
{
    const char *v = argc == 2 ? argv[1] : "";
    bool on = strcmp(v, "on") == 0;
    bool off = strcmp(v, "off") == 0;
    bool dflt = strcmp(v, "default") == 0;
    if (argc != 2 || !(on || off || dflt)) {
        fail("usage: user label-support JID on|off|default   (off: the node puts the marking "
             "in the first line of the body, FLOT; default: decided from the client's caps)",
             "bad arguments");
        return 2;
    }
    char *jid = user_jid(c, argv[0]);
    if (!jid)
        return 2;
    int ret = 1;
    char *dn = user_require(c, jid, NULL);
    if (!dn)
        goto out;
    struct berval bv = {on ? 4 : 5, on ? "TRUE" : "FALSE"};
    if (user_replace(c, dn, "xmppLabelSupport", &bv, dflt ? 0 : 1) != PAL_OK)
        goto out;
    printf("%s: label support of %s: %s\n", prog, jid,
           dflt ? "default (from the client's caps)" : on ? "on" : "off (FLOT)");
    ret = 0;
out:
    free(dn);
    free(jid);
    return ret;
}

/* Parses and checks a label for use as a default label; *der (caller frees). */
static int
default_label_der(struct ctl *c, const char *text, struct policy_label **l, unsigned char **der,
                  size_t *len)
{
    char err[256];
    if (policy_label_from_text(c->policies, text, l, err, sizeof err) != PAL_OK) {
        fail("write it as one quoted TEXT: 'policy=NAME class=CLASS [categories=A,B]'; names "
             "from: palisadectl policy check",
             "\"%s\": %s", text, err);
        return PAL_EINVAL;
    }
    struct policy_decision v = policy_label_validate(c->policies, *l);
    if (v.verdict != POLICY_ALLOW) {
        fail("pick a valid label; see why with: palisadectl label check --label TEXT "
             "--clearance TEXT",
             "\"%s\" is not a valid label: %s", text, policy_reason_str(v.reason));
        return PAL_EPOLICY;
    }
    if (policy_label_to_der(*l, der, len) != PAL_OK) {
        fail(NULL, "\"%s\" cannot be encoded", text);
        return PAL_EINVAL;
    }
    return PAL_OK;
}

static int
cmd_user_default_label(struct ctl *c, int argc, char **argv)
{
    struct label_opts o = {0};
    int first;
    if (parse_label_opts(argc, argv, &o, &first) != PAL_OK || o.n_clearance || o.user ||
        o.label || o.label_b64 || o.label_xml || argc - first != (o.clear ? 1 : 2)) {
        fail("usage: user default-label JID TEXT | user default-label JID --clear   (TEXT: one "
             "quoted label, e.g. 'policy=PALISADE class=RESTRICTED')",
             "bad arguments");
        return 2;
    }
    if (!o.clear && ctl_policies(c, true) != PAL_OK)
        return 2;
    char *jid = user_jid(c, argv[first]);
    if (!jid)
        return 2;
    int ret = 2;
    struct policy_label *l = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    LDAPMessage *res = NULL;
    if (!o.clear && default_label_der(c, argv[first + 1], &l, &der, &len) != PAL_OK)
        goto out;
    ret = 1;
    char *attrs[] = {"xmppClearance", NULL};
    LDAPMessage *e = user_fetch(c, jid, attrs, &res);
    if (!e)
        goto out;
    char *dn = ldap_get_dn(c->ld, e);
    struct berval bv = {len, (char *)der};
    int rc = user_replace(c, dn, "xmppDefaultLabel", &bv, o.clear ? 0 : 1);
    ldap_memfree(dn);
    if (rc != PAL_OK)
        goto out;
    if (o.clear) {
        printf("%s: default label of %s removed (the domain's or server's applies)\n", prog, jid);
        ret = 0;
        goto out;
    }
    char *t = NULL;
    policy_label_to_text(c->policies, l, &t);
    printf("%s: default label of %s: %s\n", prog, jid, t);
    free(t);
    /* A default label the user may not send makes every unlabelled message of
     * theirs bounce: say so, but it is the operator's call. */
    struct policy_clearance *cs[CLEARANCES_MAX] = {NULL};
    bool unreadable = false;
    size_t n = user_clearances(c, e, cs, CLEARANCES_MAX, &unreadable, false);
    struct policy_decision d = policy_check_any(
        c->policies, POLICY_CHECK_SEND, (const struct policy_clearance *const *)cs, n, l);
    if (unreadable || d.verdict != POLICY_ALLOW)
        fprintf(stderr,
                "%s: warning: %s may not send this label (%s): their unlabelled messages will "
                "be refused; give a clearance with: user clearance %s TEXT\n",
                prog, jid, unreadable ? "unreadable-clearance" : policy_reason_str(d.reason), jid);
    for (size_t i = 0; i < n; i++)
        policy_clearance_free(cs[i]);
    ret = 0;
out:
    ldap_msgfree(res);
    policy_label_free(l);
    free(der);
    free(jid);
    return ret;
}

static int
cmd_user_show(struct ctl *c, int argc, char **argv)
{
    if (argc != 1) {
        fail("usage: user show JID", "bad arguments");
        return 2;
    }
    ctl_policies(c, false);
    char *jid = user_jid(c, argv[0]);
    if (!jid)
        return 2;
    char *attrs[] = {"xmppAccountEnabled", "cn",       "xmppClearance", "xmppDefaultLabel",
                     "xmppLabelSupport",   "xmppScramSecret", NULL};
    LDAPMessage *res = NULL;
    LDAPMessage *e = user_fetch(c, jid, attrs, &res);
    if (!e) {
        ldap_msgfree(res);
        free(jid);
        return 1;
    }
    char *dn = ldap_get_dn(c->ld, e);
    struct berval **en = ldap_get_values_len(c->ld, e, "xmppAccountEnabled");
    struct berval **cn = ldap_get_values_len(c->ld, e, "cn");
    struct berval **dl = ldap_get_values_len(c->ld, e, "xmppDefaultLabel");
    struct berval **ls = ldap_get_values_len(c->ld, e, "xmppLabelSupport");
    struct berval **sc = ldap_get_values_len(c->ld, e, "xmppScramSecret");
    printf("jid        %s\ndn         %s\n", jid, dn);
    printf("name       %.*s\n", cn ? (int)cn[0]->bv_len : 1, cn ? cn[0]->bv_val : "-");
    printf("state      %s\n",
           !en || (en[0]->bv_len == 4 && memcmp(en[0]->bv_val, "TRUE", 4) == 0) ? "enabled"
                                                                                 : "disabled");
    printf("scram      %d secret%s\n", sc ? ldap_count_values_len(sc) : 0,
           sc && ldap_count_values_len(sc) == 1 ? "" : "s");
    bool unreadable;
    user_clearances(c, e, NULL, 0, &unreadable, true);
    if (dl) {
        char *t = label_der_text(c->policies, (unsigned char *)dl[0]->bv_val, dl[0]->bv_len);
        printf("default    %s\n", t);
        free(t);
    } else {
        printf("default    none (the domain's or server's default label applies)\n");
    }
    printf("labels     %s\n", !ls ? "default (from the client's caps)"
                              : ls[0]->bv_len == 4 && memcmp(ls[0]->bv_val, "TRUE", 4) == 0
                                  ? "on"
                                  : "off (FLOT)");
    if (policy_set_count(c->policies) == 0)
        printf("(values in numbers: pass --spif FILE or -c node.cfg for names)\n");
    ldap_value_free_len(en);
    ldap_value_free_len(cn);
    ldap_value_free_len(dl);
    ldap_value_free_len(ls);
    ldap_value_free_len(sc);
    ldap_memfree(dn);
    ldap_msgfree(res);
    free(jid);
    return 0;
}

/* ---- settings ---------------------------------------------------------------------- */

/* The canonical settings entry: cn=default or cn=<domain> under ou=settings. */
static char *
settings_dn(const struct ctl *c, const char *domain)
{
    char *esc = rdn_escape(domain ? domain : "default");
    char *dn = xasprintf("cn=%s,ou=settings,%s", esc, c->base);
    free(esc);
    return dn;
}

/* Creates the settings entry dn (and ou=settings when missing). */
static int
settings_create(struct ctl *c, const char *dn, const char *domain, const struct berval *label)
{
    static const struct berval classes[] = {{3, "top"}, {18, "xmppServerSettings"}};
    const char *cn = domain ? domain : "default";
    struct mods ms = {0};
    mods_add(&ms, LDAP_MOD_ADD, "objectClass", classes, 2);
    mods_str(&ms, LDAP_MOD_ADD, "cn", cn);
    if (domain)
        mods_str(&ms, LDAP_MOD_ADD, "xmppDomain", domain);
    mods_add(&ms, LDAP_MOD_ADD, "xmppDefaultLabel", label, 1);
    int rc = ldap_add_ext_s(c->ld, dn, ms.p, NULL, NULL);
    if (rc == LDAP_NO_SUCH_OBJECT) {
        static const struct berval ou_classes[] = {{3, "top"}, {18, "organizationalUnit"}};
        char *ou = xasprintf("ou=settings,%s", c->base);
        struct mods mo = {0};
        mods_add(&mo, LDAP_MOD_ADD, "objectClass", ou_classes, 2);
        mods_str(&mo, LDAP_MOD_ADD, "ou", "settings");
        int orc = ldap_add_ext_s(c->ld, ou, mo.p, NULL, NULL);
        if (orc != LDAP_SUCCESS && orc != LDAP_ALREADY_EXISTS) {
            ldap_diag(c->ld, orc, ou,
                      orc == LDAP_NO_SUCH_OBJECT ? "check ldap.base (or --base): it must exist"
                                                 : NULL);
            free(ou);
            return PAL_ELDAP;
        }
        printf("%s: created %s\n", prog, ou);
        free(ou);
        rc = ldap_add_ext_s(c->ld, dn, ms.p, NULL, NULL);
    }
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn, NULL);
        return PAL_ELDAP;
    }
    return PAL_OK;
}

/* A DN in one spelling (LDAPv3, pretty) to compare case-insensitively; caller
 * frees. */
static char *
dn_pretty(const char *dn)
{
    char *out = NULL;
    if (ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAPV3, &out,
                          LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS || !out)
        return xstrdup(dn);
    char *copy = xstrdup(out);
    ldap_memfree(out);
    return copy;
}

/* Other settings entries that apply to the same scope: the node takes the one
 * with the lowest DN, so the operator should know about them. */
static void
settings_warn_others(struct ctl *c, const char *dn, const char *domain)
{
    char *filter;
    if (domain) {
        struct berval bv = {strlen(domain), (char *)domain};
        struct berval esc = {0, NULL};
        if (ldap_bv2escaped_filter_value(&bv, &esc) != 0)
            return;
        filter = xasprintf("(&(objectClass=xmppServerSettings)(xmppDomain=%s)"
                           "(xmppDefaultLabel=*))",
                           esc.bv_val);
        ber_memfree(esc.bv_val);
    } else {
        filter = xstrdup("(&(objectClass=xmppServerSettings)(!(xmppDomain=*))"
                         "(xmppDefaultLabel=*))");
    }
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, c->base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
                               NULL, LDAP_NO_LIMIT, &res);
    free(filter);
    char *ndn = dn_pretty(dn);
    for (char *q = ndn; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    for (LDAPMessage *e = rc == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL; e;
         e = ldap_next_entry(c->ld, e)) {
        char *d = ldap_get_dn(c->ld, e);
        char *nd = dn_pretty(d);
        /* the replica compares lowercased normalised DNs */
        for (char *q = nd; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (strcmp(nd, ndn) != 0)
            fprintf(stderr,
                    "%s: warning: %s also sets a default label for %s, and the nodes use "
                    "the entry with the lowest DN: %s (remove or clear the other one)\n",
                    prog, d, domain ? domain : "the server",
                    strcmp(nd, ndn) < 0 ? "that one, not this" : "this one");
        free(nd);
        ldap_memfree(d);
    }
    free(ndn);
    ldap_msgfree(res);
}

static int
cmd_settings_default_label(struct ctl *c, int argc, char **argv)
{
    struct label_opts o = {0};
    int first;
    if (parse_label_opts(argc, argv, &o, &first) != PAL_OK || o.n_clearance || o.user ||
        o.label || o.label_b64 || o.label_xml || argc - first != (o.clear ? 0 : 1)) {
        fail("usage: settings default-label [--domain D] TEXT | settings default-label "
             "[--domain D] --clear   (TEXT: one quoted label, e.g. 'policy=PALISADE "
             "class=UNCLASSIFIED'; without --domain: the server-wide default)",
             "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    /* The scope is only ever the --domain after the command words: the one
     * before them (or the config's first domain) completes user JIDs, and
     * reading it as a scope would put a domain's label where the server's was
     * meant, or the other way round. */
    if (!o.domain && c->domain_given) {
        fail("write it after the command: settings default-label --domain D ...; without it "
             "the server-wide default is meant",
             "--domain before the command names the domain of user JIDs, not a settings scope");
        return 2;
    }
    char *domain = NULL;
    if (o.domain) {
        domain = jid_normalize(o.domain);
        if (!domain || strchr(domain, '@') || strchr(domain, '/')) {
            fail("give a domain name such as example.com", "--domain %s is not a domain",
                 o.domain);
            free(domain);
            return 2;
        }
    }
    if (!o.clear && ctl_policies(c, true) != PAL_OK) {
        free(domain);
        return 2;
    }
    struct policy_label *l = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    int ret = 2;
    char *dn = settings_dn(c, domain);
    if (!o.clear && default_label_der(c, argv[first], &l, &der, &len) != PAL_OK)
        goto out;
    ret = 1;
    if (ctl_connect(c) != PAL_OK)
        goto out;
    struct berval bv = {len, (char *)der};
    struct mods ms = {0};
    mods_add(&ms, LDAP_MOD_REPLACE, "xmppDefaultLabel", &bv, o.clear ? 0 : 1);
    int rc = ldap_modify_ext_s(c->ld, dn, ms.p, NULL, NULL);
    if (rc == LDAP_NO_SUCH_OBJECT && o.clear) {
        printf("%s: no %s: no default label to clear\n", prog, dn);
        ret = 0;
        goto out;
    }
    if (rc == LDAP_NO_SUCH_OBJECT) {
        if (settings_create(c, dn, domain, &bv) != PAL_OK)
            goto out;
        printf("%s: created %s\n", prog, dn);
    } else if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn,
                  rc == LDAP_OBJECT_CLASS_VIOLATION
                      ? "that entry is not an xmppServerSettings entry: fix or remove it"
                      : NULL);
        goto out;
    }
    if (o.clear) {
        printf("%s: default label of %s removed (%s)\n", prog,
               domain ? domain : "the server", dn);
    } else {
        char *t = NULL;
        policy_label_to_text(c->policies, l, &t);
        printf("%s: default label of %s: %s (%s)\n", prog, domain ? domain : "the server", t,
               dn);
        free(t);
        settings_warn_others(c, dn, domain);
    }
    ret = 0;
out:
    policy_label_free(l);
    free(der);
    free(dn);
    free(domain);
    return ret;
}

static int
cmd_settings_show(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fail("usage: settings show", "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    ctl_policies(c, false);
    char *attrs[] = {"xmppDomain", "xmppDefaultLabel", NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, c->base, LDAP_SCOPE_SUBTREE,
                               "(objectClass=xmppServerSettings)", attrs, 0, NULL, NULL, NULL,
                               LDAP_NO_LIMIT, &res);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, c->base, NULL);
        ldap_msgfree(res);
        return 1;
    }
    size_t n = 0;
    for (LDAPMessage *e = ldap_first_entry(c->ld, res); e; e = ldap_next_entry(c->ld, e)) {
        char *dn = ldap_get_dn(c->ld, e);
        struct berval **dom = ldap_get_values_len(c->ld, e, "xmppDomain");
        struct berval **dl = ldap_get_values_len(c->ld, e, "xmppDefaultLabel");
        printf("%s\n  scope      ", dn);
        if (!dom)
            printf("server-wide");
        for (int i = 0; dom && dom[i]; i++)
            printf("%s%.*s", i ? ", " : "", (int)dom[i]->bv_len, dom[i]->bv_val);
        char *t = dl ? label_der_text(c->policies, (unsigned char *)dl[0]->bv_val,
                                      dl[0]->bv_len)
                     : NULL;
        printf("\n  default    %s\n", t ? t : "none");
        free(t);
        ldap_value_free_len(dom);
        ldap_value_free_len(dl);
        ldap_memfree(dn);
        n++;
    }
    if (n == 0)
        printf("%s: no settings entries under %s (no default labels)\n", prog, c->base);
    ldap_msgfree(res);
    return 0;
}

/* ---- node (cluster members) ------------------------------------------------------- */

/* Entries xmppNodeName=<name>,ou=nodes,<base>: what the nodes' replicas read as
 * the cluster's membership (directory.h, dir_nodes_get). */

struct node_opts {
    const char *secret_file;
    const char *public_key;
    const char *site;
    bool replace;
};

static int
parse_node_opts(int argc, char **argv, struct node_opts *o, int *first)
{
    static const struct option longopts[] = {
        {"secret-file", required_argument, NULL, 'k'},
        {"public-key", required_argument, NULL, 'p'},
        {"site", required_argument, NULL, 's'},
        {"replace", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc + 1, argv - 1, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            o->secret_file = optarg;
            break;
        case 'p':
            o->public_key = optarg;
            break;
        case 's':
            o->site = optarg;
            break;
        case 'r':
            o->replace = true;
            break;
        default:
            return PAL_EINVAL;
        }
    }
    *first = optind - 1;
    return PAL_OK;
}

static char *
node_dn(const struct ctl *c, const char *name)
{
    char *esc = rdn_escape(name);
    char *dn = xasprintf("xmppNodeName=%s,ou=nodes,%s", esc, c->base);
    free(esc);
    return dn;
}

static int
cmd_node_keygen(struct ctl *c, int argc, char **argv)
{
    (void)c;
    struct node_opts o = {0};
    int first;
    if (parse_node_opts(argc, argv, &o, &first) != PAL_OK || argc != first || !o.secret_file ||
        o.public_key || o.site || o.replace) {
        fail("usage: node keygen --secret-file F", "bad arguments");
        return 2;
    }
    char pub[CLUSTER_KEY_Z85_LEN + 1];
    char sec[CLUSTER_KEY_Z85_LEN + 2];
    if (cluster_keygen(pub, sec) != PAL_OK) {
        fail("is libzmq built with CURVE (libsodium)? zmq_has(\"curve\") must be true",
             "cannot generate a CURVE key pair");
        return 1;
    }
    /* O_EXCL: replacing a node's key by accident would shut it out of the
     * cluster until its entry is changed too */
    int fd = open(o.secret_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(errno == EEXIST ? "a node's key is not replaced by accident: remove the file first, "
                               "or pick another name"
                             : "check that the folder exists and that you may write there",
             "cannot create %s: %s", o.secret_file, strerror(errno));
        OPENSSL_cleanse(sec, sizeof sec);
        return 1;
    }
    strcat(sec, "\n");
    size_t len = strlen(sec);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, sec, len) == (ssize_t)len && fsync(fd) == 0;
    int err = errno;
    OPENSSL_cleanse(sec, sizeof sec);
    if (close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        fail(NULL, "cannot write %s: %s", o.secret_file, strerror(err));
        unlink(o.secret_file);
        return 1;
    }
    fprintf(stderr, "%s: wrote a new CURVE secret key to %s (mode 600: only the node reads it, "
                    "as cluster.curve_secret_file); its public key:\n",
            prog, o.secret_file);
    printf("%s\n", pub);
    return 0;
}

/* The public key of a node: from --public-key, or derived from --secret-file.
 * Fills pub; PAL_OK or an error already reported. */
static int
node_public_key(const struct node_opts *o, char pub[CLUSTER_KEY_Z85_LEN + 1])
{
    if (o->public_key) {
        snprintf(pub, CLUSTER_KEY_Z85_LEN + 1, "%s", o->public_key);
        if (strlen(o->public_key) != CLUSTER_KEY_Z85_LEN) {
            fail("a CURVE public key in Z85 is 40 characters (palisadectl node keygen prints "
                 "one)",
                 "--public-key is %zu characters long", strlen(o->public_key));
            return PAL_EINVAL;
        }
        return PAL_OK;
    }
    char err[256];
    char *sec = config_read_secret(o->secret_file, err, sizeof err);
    if (!sec) {
        fail("give the node's cluster.curve_secret_file (made by: palisadectl node keygen)",
             "--secret-file %s", err);
        return PAL_EIO;
    }
    int rc = cluster_key_public(sec, pub);
    wipe_free(sec);
    if (rc != PAL_OK) {
        fail("the file must hold one CURVE secret key in Z85 (40 characters), as written by "
             "palisadectl node keygen",
             "%s does not hold a CURVE secret key", o->secret_file);
        return PAL_EINVAL;
    }
    return PAL_OK;
}

/* First value of attribute a of e as a new string, or NULL. */
static char *
entry_str(LDAP *ld, LDAPMessage *e, const char *a)
{
    struct berval **v = ldap_get_values_len(ld, e, a);
    char *s = v && v[0] ? xstrndup(v[0]->bv_val, v[0]->bv_len) : NULL;
    ldap_value_free_len(v);
    return s;
}

/* Other xmppNode entries under the base holding name or key: the nodes list
 * only the first of them, so a second one is refused here. PAL_OK when there
 * is none, PAL_EEXIST (reported), or PAL_ELDAP. */
static int
node_conflicts(struct ctl *c, const char *dn, const char *name, const char *key)
{
    struct berval nb = {strlen(name), (char *)name};
    struct berval kb = {strlen(key), (char *)key};
    struct berval ne = {0, NULL};
    struct berval ke = {0, NULL};
    if (ldap_bv2escaped_filter_value(&nb, &ne) != 0 ||
        ldap_bv2escaped_filter_value(&kb, &ke) != 0) {
        ber_memfree(ne.bv_val);
        return PAL_ENOMEM;
    }
    char *filter = xasprintf("(&(objectClass=xmppNode)(|(xmppNodeName=%s)"
                             "(xmppCurvePublicKey=%s)))",
                             ne.bv_val, ke.bv_val);
    ber_memfree(ne.bv_val);
    ber_memfree(ke.bv_val);
    char *attrs[] = {"xmppNodeName", "xmppCurvePublicKey", NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, c->base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
                               NULL, LDAP_NO_LIMIT, &res);
    free(filter);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, c->base, NULL);
        ldap_msgfree(res);
        return PAL_ELDAP;
    }
    char *own = dn_pretty(dn);
    int ret = PAL_OK;
    for (LDAPMessage *e = ldap_first_entry(c->ld, res); e; e = ldap_next_entry(c->ld, e)) {
        char *d = ldap_get_dn(c->ld, e);
        char *pd = dn_pretty(d);
        if (strcasecmp(pd, own) != 0) {
            char *n = entry_str(c->ld, e, "xmppNodeName");
            char *k = entry_str(c->ld, e, "xmppCurvePublicKey");
            bool same_key = k && strcmp(k, key) == 0;
            fail(same_key ? "every node needs its own key pair: palisadectl node keygen "
                            "--secret-file NEW"
                          : "node names are unique (ASCII case ignored): pick another name, or "
                            "remove that entry",
                 "%s already has this node's %s", d, same_key ? "public key" : "name");
            free(n);
            free(k);
            ret = PAL_EEXIST;
        }
        free(pd);
        ldap_memfree(d);
    }
    free(own);
    ldap_msgfree(res);
    return ret;
}

/* Creates ou=nodes,<base> when missing. */
static int
nodes_ou_create(struct ctl *c)
{
    static const struct berval ou_classes[] = {{3, "top"}, {18, "organizationalUnit"}};
    char *ou = xasprintf("ou=nodes,%s", c->base);
    struct mods mo = {0};
    mods_add(&mo, LDAP_MOD_ADD, "objectClass", ou_classes, 2);
    mods_str(&mo, LDAP_MOD_ADD, "ou", "nodes");
    int rc = ldap_add_ext_s(c->ld, ou, mo.p, NULL, NULL);
    if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS) {
        ldap_diag(c->ld, rc, ou,
                  rc == LDAP_NO_SUCH_OBJECT ? "check ldap.base (or --base): it must exist" : NULL);
        free(ou);
        return PAL_ELDAP;
    }
    if (rc == LDAP_SUCCESS)
        printf("%s: created %s\n", prog, ou);
    free(ou);
    return PAL_OK;
}

static int
cmd_node_add(struct ctl *c, int argc, char **argv)
{
    struct node_opts o = {0};
    int first;
    if (parse_node_opts(argc, argv, &o, &first) != PAL_OK || argc - first != 2 ||
        !o.secret_file == !o.public_key) {
        fail("usage: node add NAME ENDPOINT (--secret-file F | --public-key Z85) [--site S] "
             "[--replace]",
             "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    char pub[CLUSTER_KEY_Z85_LEN + 1];
    if (node_public_key(&o, pub) != PAL_OK)
        return 2;
    struct dir_node n = {argv[first], argv[first + 1], pub,
                         o.site && o.site[0] ? (char *)o.site : NULL};
    const char *why = NULL;
    if (dir_node_check(&n, &why) != PAL_OK) {
        fail("name: 1 to 63 of A-Z a-z 0-9 . _ -; endpoint: tcp://host:port (the address the "
             "other nodes connect to) or ipc:///absolute/path (nodes on one host); site: up to "
             "63 bytes",
             "the nodes would not accept this entry: %s", why);
        return 2;
    }
    if (ctl_connect(c) != PAL_OK)
        return 1;
    int ret = 1;
    char *dn = node_dn(c, n.name);
    char *attrs[] = {"xmppNodeName", "xmppNodeEndpoint", "xmppCurvePublicKey", "xmppSite", NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_BASE, "(objectClass=xmppNode)", attrs, 0,
                               NULL, NULL, NULL, 1, &res);
    LDAPMessage *e = rc == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL;
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
        ldap_diag(c->ld, rc, dn, NULL);
        goto out;
    }
    if (e) {
        struct dir_node cur = {entry_str(c->ld, e, "xmppNodeName"),
                               entry_str(c->ld, e, "xmppNodeEndpoint"),
                               entry_str(c->ld, e, "xmppCurvePublicKey"),
                               entry_str(c->ld, e, "xmppSite")};
        bool same = cur.name && strcmp(cur.name, n.name) == 0 && cur.endpoint &&
                    strcmp(cur.endpoint, n.endpoint) == 0 && cur.curve_public &&
                    strcmp(cur.curve_public, n.curve_public) == 0 &&
                    ((!cur.site && !n.site) || (cur.site && n.site && strcmp(cur.site, n.site) == 0));
        free(cur.name);
        free(cur.endpoint);
        free(cur.curve_public);
        free(cur.site);
        if (same) {
            printf("%s: node %s is already in the directory as given (%s)\n", prog, n.name, dn);
            ret = 0;
            goto out;
        }
        if (!o.replace) {
            fail("change it with --replace (the nodes reconnect to it with the new endpoint or "
                 "key), or remove it with: node del NAME",
                 "node %s exists already with other values (%s)", n.name, dn);
            goto out;
        }
    }
    if (node_conflicts(c, dn, n.name, n.curve_public) != PAL_OK)
        goto out;
    struct mods ms = {0};
    if (e) {
        mods_str(&ms, LDAP_MOD_REPLACE, "xmppNodeEndpoint", n.endpoint);
        mods_str(&ms, LDAP_MOD_REPLACE, "xmppCurvePublicKey", n.curve_public);
        if (n.site)
            mods_str(&ms, LDAP_MOD_REPLACE, "xmppSite", n.site);
        else
            mods_add(&ms, LDAP_MOD_REPLACE, "xmppSite", NULL, 0);
        rc = ldap_modify_ext_s(c->ld, dn, ms.p, NULL, NULL);
    } else {
        static const struct berval classes[] = {{3, "top"}, {8, "xmppNode"}};
        mods_add(&ms, LDAP_MOD_ADD, "objectClass", classes, 2);
        mods_str(&ms, LDAP_MOD_ADD, "xmppNodeName", n.name);
        mods_str(&ms, LDAP_MOD_ADD, "xmppNodeEndpoint", n.endpoint);
        mods_str(&ms, LDAP_MOD_ADD, "xmppCurvePublicKey", n.curve_public);
        if (n.site)
            mods_str(&ms, LDAP_MOD_ADD, "xmppSite", n.site);
        rc = ldap_add_ext_s(c->ld, dn, ms.p, NULL, NULL);
        if (rc == LDAP_NO_SUCH_OBJECT) {
            if (nodes_ou_create(c) != PAL_OK)
                goto out;
            rc = ldap_add_ext_s(c->ld, dn, ms.p, NULL, NULL);
        }
    }
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn, NULL);
        goto out;
    }
    printf("%s: node %s %s: endpoint %s, site %s, key %s (%s)\n", prog, n.name,
           e ? "changed" : "added", n.endpoint, n.site ? n.site : "-", n.curve_public, dn);
    ret = 0;
out:
    ldap_msgfree(res);
    free(dn);
    return ret;
}

static int
cmd_node_del(struct ctl *c, int argc, char **argv)
{
    if (argc != 1) {
        fail("usage: node del NAME", "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    char *dn = node_dn(c, argv[0]);
    int rc = ldap_delete_ext_s(c->ld, dn, NULL, NULL);
    int ret = 1;
    if (rc == LDAP_NO_SUCH_OBJECT)
        fail("list the nodes with: node list", "no node %s (%s)", argv[0], dn);
    else if (rc != LDAP_SUCCESS)
        ldap_diag(c->ld, rc, dn, NULL);
    else {
        printf("%s: node %s removed (%s); the other nodes drop it within a second\n", prog,
               argv[0], dn);
        ret = 0;
    }
    free(dn);
    return ret;
}

static int
cmd_node_list(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fail("usage: node list", "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    char *attrs[] = {"xmppNodeName", "xmppNodeEndpoint", "xmppCurvePublicKey", "xmppSite", NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, c->base, LDAP_SCOPE_SUBTREE, "(objectClass=xmppNode)", attrs,
                               0, NULL, NULL, NULL, LDAP_NO_LIMIT, &res);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, c->base, NULL);
        ldap_msgfree(res);
        return 1;
    }
    size_t n = (size_t)ldap_count_entries(c->ld, res);
    char **rows = xcalloc(n + 1, sizeof *rows);
    size_t k = 0;
    for (LDAPMessage *e = ldap_first_entry(c->ld, res); e; e = ldap_next_entry(c->ld, e)) {
        struct dir_node nd = {entry_str(c->ld, e, "xmppNodeName"),
                              entry_str(c->ld, e, "xmppNodeEndpoint"),
                              entry_str(c->ld, e, "xmppCurvePublicKey"),
                              entry_str(c->ld, e, "xmppSite")};
        const char *why = NULL;
        if (dir_node_check(&nd, &why) != PAL_OK) {
            char *dn = ldap_get_dn(c->ld, e);
            fprintf(stderr, "%s: warning: the nodes skip %s: %s\n", prog, dn, why);
            ldap_memfree(dn);
        }
        rows[k++] = xasprintf("%s\t%s\t%s\t%s", nd.name ? nd.name : "-",
                              nd.endpoint ? nd.endpoint : "-", nd.site ? nd.site : "-",
                              nd.curve_public ? nd.curve_public : "-");
        free(nd.name);
        free(nd.endpoint);
        free(nd.curve_public);
        free(nd.site);
    }
    ldap_msgfree(res);
    qsort(rows, k, sizeof *rows, row_cmp);
    for (size_t i = 0; i < k; i++) {
        printf("%s\n", rows[i]);
        free(rows[i]);
    }
    free(rows);
    if (k == 0)
        fprintf(stderr, "%s: no cluster nodes under %s (add one with: node add)\n", prog,
                c->base);
    return 0;
}

static int
cmd_node_status(struct ctl *c, int argc, char **argv)
{
    if (argc > 1) {
        fail("usage: node status [SOCKET]", "bad arguments");
        return 2;
    }
    const char *path = argc == 1 ? argv[0] : c->ctl_socket;
    if (!path) {
        fail("pass -c node.cfg (its control.socket) or the socket path", "no control socket");
        return 2;
    }
    return ctl_request(path, "status");
}

/* ---- room (multi-user chat rooms) -------------------------------------------------- */

/* Persistent rooms are xmppRoom entries anywhere under the base (new ones go
 * under ldap.rooms, default ou=rooms,<base>): what the nodes' replicas read as
 * the rooms (directory.h, dir_room_get). The affiliation attributes (owner,
 * xmppRoomAdmin, member, xmppRoomOutcast) hold DNs of users or of groups
 * (groupOfNames, nested); the nodes resolve them to JIDs. */

#define ROOM_VALUES_MAX 256
#define ROOM_GROUP_DEPTH 8 /* as the nodes: DIR_GROUP_DEPTH_MAX */
#define ROOM_SECRET_VAR "muc#roomconfig_roomsecret"

enum { AFF_OWNER, AFF_ADMIN, AFF_MEMBER, AFF_OUTCAST, AFF_N };
static const char *const aff_attr[AFF_N] = {"owner", "xmppRoomAdmin", "member",
                                            "xmppRoomOutcast"};
static const char *const aff_word[AFF_N] = {"owner", "admin", "member", "outcast"};

struct room_opts {
    const char *name;
    const char *description;
    bool no_description;
    const char *clearance[CLEARANCES_MAX];
    size_t n_clearance;
    bool no_clearance;
    const char *default_label;
    bool no_default_label;
    const char *config[ROOM_VALUES_MAX];
    size_t n_config;
    bool no_config;
    const char *aff[AFF_N][ROOM_VALUES_MAX];
    size_t n_aff[AFF_N];
    bool no_aff[AFF_N];
};

#define ROOM_USAGE                                                                                 \
    "usage: room add JID [--name N] [--description D] [--clearance TEXT]... "                     \
    "[--default-label TEXT] [--owner JID|DN]... [--admin JID|DN]... [--member JID|DN]... "         \
    "[--outcast JID|DN]... [--room-config VAR=VALUE]...\n"                                         \
    "       room set JID [the same options] [--no-description] [--no-clearance] "                 \
    "[--no-default-label] [--no-room-config] [--no-owners] [--no-admins] [--no-members] "          \
    "[--no-outcasts]\n"                                                                            \
    "       (set: a list given replaces the room's list; --room-config VAR=VALUE changes "        \
    "that var)"

enum {
    RO_NAME = 1000,
    RO_DESC,
    RO_NO_DESC,
    RO_CLEARANCE,
    RO_NO_CLEARANCE,
    RO_LABEL,
    RO_NO_LABEL,
    RO_CONFIG,
    RO_NO_CONFIG,
    RO_AFF,        /* + AFF_* */
    RO_NO_AFF = RO_AFF + AFF_N, /* + AFF_* */
};

static int
parse_room_opts(int argc, char **argv, struct room_opts *o, int *first)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, RO_NAME},
        {"description", required_argument, NULL, RO_DESC},
        {"no-description", no_argument, NULL, RO_NO_DESC},
        {"clearance", required_argument, NULL, RO_CLEARANCE},
        {"no-clearance", no_argument, NULL, RO_NO_CLEARANCE},
        {"default-label", required_argument, NULL, RO_LABEL},
        {"no-default-label", no_argument, NULL, RO_NO_LABEL},
        {"room-config", required_argument, NULL, RO_CONFIG},
        {"no-room-config", no_argument, NULL, RO_NO_CONFIG},
        {"owner", required_argument, NULL, RO_AFF + AFF_OWNER},
        {"admin", required_argument, NULL, RO_AFF + AFF_ADMIN},
        {"member", required_argument, NULL, RO_AFF + AFF_MEMBER},
        {"outcast", required_argument, NULL, RO_AFF + AFF_OUTCAST},
        {"no-owners", no_argument, NULL, RO_NO_AFF + AFF_OWNER},
        {"no-admins", no_argument, NULL, RO_NO_AFF + AFF_ADMIN},
        {"no-members", no_argument, NULL, RO_NO_AFF + AFF_MEMBER},
        {"no-outcasts", no_argument, NULL, RO_NO_AFF + AFF_OUTCAST},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0; /* GNU: reinitialise for this sub-argv */
    opterr = 0;
    while ((ch = getopt_long(argc + 1, argv - 1, ":", longopts, NULL)) != -1) {
        if (ch >= RO_AFF && ch < RO_AFF + AFF_N) {
            int k = ch - RO_AFF;
            if (o->n_aff[k] == ROOM_VALUES_MAX) {
                fail("add the others with ldapmodify, or through a group", "more than %d --%s",
                     ROOM_VALUES_MAX, aff_word[k]);
                return PAL_EINVAL;
            }
            o->aff[k][o->n_aff[k]++] = optarg;
            continue;
        }
        if (ch >= RO_NO_AFF && ch < RO_NO_AFF + AFF_N) {
            o->no_aff[ch - RO_NO_AFF] = true;
            continue;
        }
        switch (ch) {
        case RO_NAME:
            o->name = optarg;
            break;
        case RO_DESC:
            o->description = optarg;
            break;
        case RO_NO_DESC:
            o->no_description = true;
            break;
        case RO_CLEARANCE:
            if (o->n_clearance == CLEARANCES_MAX) {
                fail("give one clearance per policy", "more than %d clearances", CLEARANCES_MAX);
                return PAL_EINVAL;
            }
            o->clearance[o->n_clearance++] = optarg;
            break;
        case RO_NO_CLEARANCE:
            o->no_clearance = true;
            break;
        case RO_LABEL:
            o->default_label = optarg;
            break;
        case RO_NO_LABEL:
            o->no_default_label = true;
            break;
        case RO_CONFIG:
            if (o->n_config == ROOM_VALUES_MAX) {
                fail(NULL, "more than %d --room-config", ROOM_VALUES_MAX);
                return PAL_EINVAL;
            }
            o->config[o->n_config++] = optarg;
            break;
        case RO_NO_CONFIG:
            o->no_config = true;
            break;
        case ':':
            fail(NULL, "%s needs a value", argv[optind - 2]);
            return PAL_EINVAL;
        default:
            fail(NULL, "unknown option %s", argv[optind - 2]);
            return PAL_EINVAL;
        }
    }
    *first = optind - 1;
    for (int k = 0; k < AFF_N; k++) {
        if (o->no_aff[k] && o->n_aff[k]) {
            fail(NULL, "give --%s or --no-%ss, not both", aff_word[k], aff_word[k]);
            return PAL_EINVAL;
        }
    }
    if ((o->description && o->no_description) || (o->n_clearance && o->no_clearance) ||
        (o->default_label && o->no_default_label)) {
        fail(NULL, "an option and its --no- form contradict each other");
        return PAL_EINVAL;
    }
    return PAL_OK;
}

/* Normalised bare room JID (room@service), or NULL (reported). */
static char *
room_jid(const char *arg)
{
    char *j = jid_normalize(arg);
    if (!j || strchr(j, '/') || !strchr(j, '@')) {
        fail("a room JID is room@service, e.g. briefing@conference.example.com (no resource)",
             "not a room JID: %s", arg);
        free(j);
        return NULL;
    }
    return j;
}

static char *
rooms_base(const struct ctl *c)
{
    return c->rooms ? xstrdup(c->rooms) : xasprintf("ou=rooms,%s", c->base);
}

/* dn in the form the nodes compare (lowercased LDAPv3); caller frees. */
static char *
dn_lower(const char *dn)
{
    char *p = dn_pretty(dn);
    for (char *q = p; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    return p;
}

/* True when dn lies strictly below base (both as given to dn_lower). */
static bool
dn_below(const char *dn, const char *base)
{
    char *d = dn_lower(dn);
    char *b = dn_lower(base);
    size_t ld = strlen(d);
    size_t lb = strlen(b);
    bool below = ld > lb + 1 && strcmp(d + ld - lb, b) == 0 && d[ld - lb - 1] == ',';
    free(d);
    free(b);
    return below;
}

/* The values of the first RDN of dn whose type is type (e.g. the "briefing"
 * of cn=briefing,ou=rooms,...): *out (caller frees each and the array). */
static size_t
rdn_values(const char *dn, const char *type, char ***out)
{
    LDAPDN parsed = NULL;
    size_t n = 0;
    *out = NULL;
    if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || !parsed)
        return 0;
    LDAPRDN rdn = parsed[0];
    for (size_t i = 0; rdn && rdn[i]; i++) {
        const LDAPAVA *ava = rdn[i];
        if (ava->la_attr.bv_len == strlen(type) &&
            strncasecmp(ava->la_attr.bv_val, type, ava->la_attr.bv_len) == 0) {
            *out = xrealloc(*out, (n + 1) * sizeof **out);
            (*out)[n++] = xstrndup(ava->la_value.bv_val, ava->la_value.bv_len);
        }
    }
    ldap_dnfree(parsed);
    return n;
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The room's name as the nodes read it: the first cn that is not the RDN's
 * own, else the first cn; caller frees (NULL when there is no cn). */
static char *
room_entry_name(LDAP *ld, LDAPMessage *e, const char *dn)
{
    struct berval **cn = ldap_get_values_len(ld, e, "cn");
    if (!cn || !cn[0]) {
        ldap_value_free_len(cn);
        return NULL;
    }
    char **rdn = NULL;
    size_t nr = rdn_values(dn, "cn", &rdn);
    int pick = 0;
    for (int i = 0; cn[i]; i++) {
        bool in_rdn = false;
        for (size_t k = 0; k < nr && !in_rdn; k++)
            in_rdn = strlen(rdn[k]) == cn[i]->bv_len &&
                     strncasecmp(rdn[k], cn[i]->bv_val, cn[i]->bv_len) == 0;
        if (!in_rdn) {
            pick = i;
            break;
        }
    }
    char *name = xstrndup(cn[pick]->bv_val, cn[pick]->bv_len);
    strv_free(rdn, nr);
    ldap_value_free_len(cn);
    return name;
}

/* Searches the base for the room entries holding xmppRoomJID=jid: PAL_OK and
 * *e, the one the nodes use (the lowest DN; the others are warned about), or
 * NULL when there is none; PAL_ELDAP (reported). *res: caller frees. */
static int
room_search(struct ctl *c, const char *jid, char **attrs, LDAPMessage **res, LDAPMessage **e)
{
    *e = NULL;
    int rc = attr_search(c, c->base, "xmppRoom", "xmppRoomJID", jid, attrs, LDAP_NO_LIMIT, res);
    if (rc != PAL_OK)
        return rc;
    char *best = NULL;
    for (LDAPMessage *m = ldap_first_entry(c->ld, *res); m; m = ldap_next_entry(c->ld, m)) {
        char *d = ldap_get_dn(c->ld, m);
        char *ld = dn_lower(d);
        ldap_memfree(d);
        if (!best || strcmp(ld, best) < 0) {
            free(best);
            best = ld;
            *e = m;
        } else {
            free(ld);
        }
    }
    for (LDAPMessage *m = *e ? ldap_first_entry(c->ld, *res) : NULL; m;
         m = ldap_next_entry(c->ld, m)) {
        if (m == *e)
            continue;
        char *d = ldap_get_dn(c->ld, m);
        fprintf(stderr,
                "%s: warning: %s also holds xmppRoomJID %s; the nodes use the entry with the "
                "lowest DN (%s) and ignore this one: remove one of them\n",
                prog, d, jid, best);
        ldap_memfree(d);
    }
    free(best);
    return PAL_OK;
}

/* Whether an entry dn exists: 1, 0, or -1 (reported). */
static int
entry_exists(struct ctl *c, const char *dn)
{
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
                               NULL, 1, &res);
    int ret = rc == LDAP_SUCCESS && ldap_first_entry(c->ld, res) ? 1 : 0;
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
        ldap_diag(c->ld, rc, dn, NULL);
        ret = -1;
    }
    ldap_msgfree(res);
    return ret;
}

/* An --owner/--admin/--member/--outcast value as the DN to store: a value
 * holding '=' is a DN, used as given once it is known to be a user or a group;
 * anything else is a user JID, looked up by xmppJID. NULL when it is neither
 * (reported). */
static char *
room_affil_dn(struct ctl *c, const char *v)
{
    if (!strchr(v, '=')) {
        char *jid = user_jid(c, v);
        char *dn = jid ? user_require(c, jid, NULL) : NULL;
        free(jid);
        return dn;
    }
    LDAPDN parsed = NULL;
    if (ldap_str2dn(v, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
        fail("give a user's JID, or the DN of a user or group (cn=NAME,ou=groups,BASE)",
             "not a DN: %s", v);
        return NULL;
    }
    ldap_dnfree(parsed);
    char *attrs[] = {"objectClass", NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, v, LDAP_SCOPE_BASE,
                               "(|(objectClass=xmppUser)(objectClass=groupOfNames))", attrs, 0,
                               NULL, NULL, NULL, 1, &res);
    LDAPMessage *e = rc == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL;
    char *dn = NULL;
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
        ldap_diag(c->ld, rc, v, NULL);
    } else if (!e) {
        fail("the nodes resolve only users (xmppUser) and groups (groupOfNames); create the "
             "group first, or give a user's JID",
             "no user or group %s", v);
    } else {
        bool is_user = false;
        struct berval **oc = ldap_get_values_len(c->ld, e, "objectClass");
        for (int i = 0; oc && oc[i]; i++)
            is_user |= oc[i]->bv_len == 8 && strncasecmp(oc[i]->bv_val, "xmppUser", 8) == 0;
        ldap_value_free_len(oc);
        if (is_user && !dn_below(v, c->users))
            fprintf(stderr,
                    "%s: warning: %s is not below ldap.users (%s): the nodes do not know it as a "
                    "user and skip it\n",
                    prog, v, c->users);
        dn = xstrdup(v);
    }
    ldap_msgfree(res);
    return dn;
}

/* What the options turn into, checked before anything is written. */
struct room_values {
    struct policy_clearance *cs[CLEARANCES_MAX];
    unsigned char *cders[CLEARANCES_MAX];
    struct berval cvals[CLEARANCES_MAX];
    size_t n_clearance;
    struct policy_label *label;
    unsigned char *lder;
    size_t llen;
    char *config; /* merged, NULL = none */
    char **aff[AFF_N];
    size_t n_aff[AFF_N];
};

static void
room_values_clear(struct room_values *v)
{
    for (size_t i = 0; i < CLEARANCES_MAX; i++) {
        policy_clearance_free(v->cs[i]);
        free(v->cders[i]);
    }
    policy_label_free(v->label);
    free(v->lder);
    wipe_free(v->config);
    for (int k = 0; k < AFF_N; k++)
        strv_free(v->aff[k], v->n_aff[k]);
    memset(v, 0, sizeof *v);
}

/* The last of sets (VAR=VALUE) whose VAR is the vlen bytes at var, or NULL;
 * marks each of them used. */
static const char *
config_setting(const char *const *sets, size_t n, bool *used, const char *var, size_t vlen)
{
    const char *found = NULL;
    for (size_t k = 0; k < n; k++) {
        if (strncmp(sets[k], var, vlen) == 0 && sets[k][vlen] == '=') {
            found = sets[k];
            used[k] = true;
        }
    }
    return found;
}

/* text (NULL = none) with the --room-config VAR=VALUE settings applied: a line
 * of the same var is replaced where it is, new vars are appended (the last
 * setting of a var wins). NULL and *bad when a setting is not VAR=VALUE on one
 * line (reported); NULL when the result is empty. */
static char *
config_merge(const char *text, const char *const *sets, size_t n, bool *bad)
{
    struct buf b;
    bool *used = xcalloc(n ? n : 1, sizeof *used);
    char *out = NULL;
    buf_init(&b);
    *bad = false;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i] || strpbrk(sets[i], "\r\n")) {
            fail("e.g. --room-config muc#roomconfig_membersonly=1 (docs/DIRECTORY.md lists "
                 "the vars)",
                 "--room-config %s: not VAR=VALUE", sets[i]);
            *bad = true;
            goto out;
        }
    }
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        const char *set = NULL;
        if (eq)
            set = config_setting(sets, n, used, p, (size_t)(eq - p));
        if (set)
            buf_printf(&b, "%s\n", set);
        else if (len > 0) {
            buf_append(&b, p, len);
            buf_append(&b, "\n", 1);
        }
        p = nl ? nl + 1 : p + len;
    }
    for (size_t i = 0; i < n; i++) {
        if (used[i])
            continue;
        size_t vlen = (size_t)(strchr(sets[i], '=') - sets[i]);
        buf_printf(&b, "%s\n", config_setting(sets, n, used, sets[i], vlen));
    }
    if (buf_used(&b))
        out = buf_strdup(&b);
out:
    if (buf_used(&b))
        OPENSSL_cleanse((void *)buf_head(&b), buf_used(&b)); /* may hold the room secret */
    buf_free(&b);
    free(used);
    return out;
}

/* Checks and converts the options (texts, config, affiliation values): 0,
 * or the exit status of the reported failure. old_config: the room's
 * xmppRoomConfig (set), NULL for a new room. */
static int
room_prepare(struct ctl *c, const struct room_opts *o, const char *old_config,
             struct room_values *v)
{
    if ((o->n_clearance || o->default_label) && ctl_policies(c, true) != PAL_OK)
        return 2;
    for (size_t i = 0; i < o->n_clearance; i++) {
        char err[256];
        if (policy_clearance_from_text(c->policies, o->clearance[i], &v->cs[i], err,
                                       sizeof err) != PAL_OK) {
            fail("each --clearance is one whole clearance: quote it ('policy=NAME class=CLASS "
                 "categories=A,B'); names from: palisadectl policy check",
                 "\"%s\": %s", o->clearance[i], err);
            return 2;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(policy_clearance_policy(v->cs[k]), policy_clearance_policy(v->cs[i])) ==
                0) {
                fail("merge them: one clearance per policy holds every classification and "
                     "category",
                     "two clearances of policy %s", policy_clearance_policy(v->cs[i]));
                return 2;
            }
        }
        size_t len = 0;
        if (policy_clearance_to_der(v->cs[i], &v->cders[i], &len) != PAL_OK) {
            fail("give at least one classification", "\"%s\" cannot be encoded",
                 o->clearance[i]);
            return 2;
        }
        v->cvals[i] = (struct berval){len, (char *)v->cders[i]};
        v->n_clearance++;
    }
    if (o->default_label &&
        default_label_der(c, o->default_label, &v->label, &v->lder, &v->llen) != PAL_OK)
        return 2;
    if (o->n_config || o->no_config) {
        bool bad = false;
        v->config = config_merge(o->no_config ? NULL : old_config, o->config, o->n_config, &bad);
        const char *why = NULL;
        if (bad)
            return 2;
        if (v->config && dir_room_config_check(v->config, strlen(v->config), &why) != PAL_OK) {
            fail("fix or clear the stored configuration (--no-room-config)", "%s", why);
            return 2;
        }
    }
    for (int k = 0; k < AFF_N; k++) {
        if (o->n_aff[k])
            v->aff[k] = xcalloc(o->n_aff[k], sizeof *v->aff[k]);
        for (size_t i = 0; i < o->n_aff[k]; i++) {
            char *dn = room_affil_dn(c, o->aff[k][i]);
            if (!dn)
                return 1;
            bool dup = false;
            char *ld = dn_lower(dn);
            for (size_t j = 0; j < v->n_aff[k] && !dup; j++) {
                char *lj = dn_lower(v->aff[k][j]);
                dup = strcmp(lj, ld) == 0;
                free(lj);
            }
            free(ld);
            if (dup)
                free(dn);
            else
                v->aff[k][v->n_aff[k]++] = dn;
        }
    }
    return 0;
}

/* Warns when the default label may not be said in the room. */
static void
room_warn_label(struct ctl *c, const char *jid, const struct room_values *v,
                struct policy_clearance *const *cs, size_t n, bool unreadable)
{
    if (!v->label)
        return;
    struct policy_decision d = policy_check_any(
        c->policies, POLICY_CHECK_SEND, (const struct policy_clearance *const *)cs, n, v->label);
    if (unreadable || d.verdict != POLICY_ALLOW)
        fprintf(stderr,
                "%s: warning: the default label of %s is outside the room's clearance (%s): "
                "every unlabelled message in it would be refused; widen the clearance with "
                "--clearance\n",
                prog, jid, unreadable ? "unreadable-clearance" : policy_reason_str(d.reason));
}

/* LDAPMod arrays of any size. */
struct dmods {
    LDAPMod **p; /* NULL-terminated */
    size_t n, cap;
};

static void
dmods_add(struct dmods *d, int op, const char *name, const struct berval *vals, size_t n)
{
    if (d->n + 2 > d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->p = xrealloc(d->p, d->cap * sizeof *d->p);
    }
    LDAPMod *m = xcalloc(1, sizeof *m);
    m->mod_op = op | LDAP_MOD_BVALUES;
    m->mod_type = (char *)name;
    m->mod_bvalues = xcalloc(n + 1, sizeof *m->mod_bvalues);
    for (size_t i = 0; i < n; i++)
        m->mod_bvalues[i] = xmemdup(&vals[i], sizeof vals[i]);
    d->p[d->n++] = m;
    d->p[d->n] = NULL;
}

static void
dmods_strv(struct dmods *d, int op, const char *name, char *const *v, size_t n)
{
    struct berval *bv = xcalloc(n ? n : 1, sizeof *bv);
    for (size_t i = 0; i < n; i++)
        bv[i] = (struct berval){strlen(v[i]), v[i]};
    dmods_add(d, op, name, bv, n);
    free(bv);
}

static void
dmods_str(struct dmods *d, int op, const char *name, const char *s)
{
    char *v[] = {(char *)s};
    dmods_strv(d, op, name, v, s ? 1 : 0);
}

static void
dmods_free(struct dmods *d)
{
    for (size_t i = 0; i < d->n; i++) {
        for (size_t k = 0; d->p[i]->mod_bvalues[k]; k++)
            free(d->p[i]->mod_bvalues[k]);
        free(d->p[i]->mod_bvalues);
        free(d->p[i]);
    }
    free(d->p);
    memset(d, 0, sizeof *d);
}

/* The cn values of a room entry dn: the RDN's own cn values, then name when
 * it differs from them. */
static size_t
room_cn_values(const char *dn, const char *name, char ***out)
{
    size_t n = rdn_values(dn, "cn", out);
    bool in_rdn = false;
    for (size_t i = 0; i < n && !in_rdn; i++)
        in_rdn = strcasecmp((*out)[i], name) == 0;
    if (!in_rdn) {
        *out = xrealloc(*out, (n + 1) * sizeof **out);
        (*out)[n++] = xstrdup(name);
    }
    return n;
}

/* Creates the organizationalUnit dn (ou=NAME,...) when missing. */
static int
ou_create(struct ctl *c, const char *dn)
{
    char **ou = NULL;
    size_t n = rdn_values(dn, "ou", &ou);
    if (n != 1) {
        fail("create it first, or point ldap.rooms (--rooms) at an existing entry",
             "%s does not exist", dn);
        strv_free(ou, n);
        return PAL_ENOENT;
    }
    static const struct berval classes[] = {{3, "top"}, {18, "organizationalUnit"}};
    struct dmods m = {0};
    dmods_add(&m, LDAP_MOD_ADD, "objectClass", classes, 2);
    dmods_str(&m, LDAP_MOD_ADD, "ou", ou[0]);
    int rc = ldap_add_ext_s(c->ld, dn, m.p, NULL, NULL);
    dmods_free(&m);
    strv_free(ou, n);
    if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS) {
        ldap_diag(c->ld, rc, dn,
                  rc == LDAP_NO_SUCH_OBJECT ? "check ldap.base (or --base): it must exist" : NULL);
        return PAL_ELDAP;
    }
    if (rc == LDAP_SUCCESS)
        printf("%s: created %s\n", prog, dn);
    return PAL_OK;
}

static int
cmd_room_add(struct ctl *c, int argc, char **argv)
{
    struct room_opts *o = xcalloc(1, sizeof *o);
    struct room_values v = {0};
    int first;
    int ret = 2;
    char *jid = NULL;
    char *dn = NULL;
    char *base = NULL;
    char **cn = NULL;
    size_t n_cn = 0;
    LDAPMessage *res = NULL;
    struct dmods m = {0};
    if (parse_room_opts(argc, argv, o, &first) != PAL_OK)
        goto usage;
    bool any_no = o->no_description || o->no_clearance || o->no_default_label || o->no_config;
    for (int k = 0; k < AFF_N; k++)
        any_no |= o->no_aff[k];
    if (argc - first != 1 || any_no)
        goto usage;
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        goto out;
    }
    jid = room_jid(argv[first]);
    if (!jid)
        goto out;
    if ((ret = room_prepare(c, o, NULL, &v)) != 0)
        goto out;
    ret = 1;
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    LDAPMessage *e = NULL;
    if (room_search(c, jid, attrs, &res, &e) != PAL_OK)
        goto out;
    if (e) {
        char *d = ldap_get_dn(c->ld, e);
        fail("change it with: room set JID ...", "room %s exists already (%s)", jid, d);
        ldap_memfree(d);
        goto out;
    }
    /* cn=<local part>, or cn=<JID> when another room of another service has it */
    base = rooms_base(c);
    char *local = xstrndup(jid, (size_t)(strchr(jid, '@') - jid));
    const char *rdns[2] = {local, jid};
    int ex = 1;
    for (int i = 0; i < 2 && ex == 1; i++) {
        char *esc = rdn_escape(rdns[i]);
        char *d = xasprintf("cn=%s,%s", esc, base);
        free(esc);
        ex = entry_exists(c, d);
        if (ex == 0)
            dn = d;
        else
            free(d);
    }
    if (!dn) {
        if (ex == 1)
            fail("remove or rename the entries in the way", "no free DN for %s under %s", jid,
                 base);
        free(local);
        goto out;
    }
    n_cn = room_cn_values(dn, o->name && o->name[0] ? o->name : local, &cn);
    free(local);
    static const struct berval classes[] = {{3, "top"}, {8, "xmppRoom"}};
    dmods_add(&m, LDAP_MOD_ADD, "objectClass", classes, 2);
    dmods_strv(&m, LDAP_MOD_ADD, "cn", cn, n_cn);
    dmods_str(&m, LDAP_MOD_ADD, "xmppRoomJID", jid);
    if (o->description && o->description[0])
        dmods_str(&m, LDAP_MOD_ADD, "description", o->description);
    if (v.config)
        dmods_str(&m, LDAP_MOD_ADD, "xmppRoomConfig", v.config);
    if (v.n_clearance)
        dmods_add(&m, LDAP_MOD_ADD, "xmppClearance", v.cvals, v.n_clearance);
    if (v.lder) {
        struct berval lb = {v.llen, (char *)v.lder};
        dmods_add(&m, LDAP_MOD_ADD, "xmppDefaultLabel", &lb, 1);
    }
    for (int k = 0; k < AFF_N; k++)
        if (v.n_aff[k])
            dmods_strv(&m, LDAP_MOD_ADD, aff_attr[k], v.aff[k], v.n_aff[k]);
    int rc = ldap_add_ext_s(c->ld, dn, m.p, NULL, NULL);
    if (rc == LDAP_NO_SUCH_OBJECT) {
        if (ou_create(c, base) != PAL_OK)
            goto out;
        rc = ldap_add_ext_s(c->ld, dn, m.p, NULL, NULL);
    }
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn, NULL);
        goto out;
    }
    room_warn_label(c, jid, &v, v.cs, v.n_clearance, false);
    printf("%s: room %s added (%s)\n", prog, jid, dn);
    ret = 0;
    goto out;
usage:
    fail(ROOM_USAGE, "bad arguments");
out:
    dmods_free(&m);
    strv_free(cn, n_cn);
    ldap_msgfree(res);
    room_values_clear(&v);
    free(base);
    free(dn);
    free(jid);
    free(o);
    return ret;
}

static int
cmd_room_set(struct ctl *c, int argc, char **argv)
{
    struct room_opts *o = xcalloc(1, sizeof *o);
    struct room_values v = {0};
    int first;
    int ret = 2;
    char *jid = NULL;
    char *dn = NULL;
    char *old_config = NULL;
    char **cn = NULL;
    size_t n_cn = 0;
    LDAPMessage *res = NULL;
    struct dmods m = {0};
    struct policy_clearance *cur[CLEARANCES_MAX] = {NULL};
    size_t n_cur = 0;
    if (parse_room_opts(argc, argv, o, &first) != PAL_OK || argc - first != 1) {
        fail(ROOM_USAGE, "bad arguments");
        goto out;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        goto out;
    }
    jid = room_jid(argv[first]);
    if (!jid)
        goto out;
    ret = 1;
    char *attrs[] = {"xmppRoomConfig", "xmppClearance", NULL};
    LDAPMessage *e = NULL;
    if (room_search(c, jid, attrs, &res, &e) != PAL_OK)
        goto out;
    if (!e) {
        fail("list the rooms with: room list; add one with: room add", "no room %s", jid);
        goto out;
    }
    char *d = ldap_get_dn(c->ld, e);
    dn = xstrdup(d);
    ldap_memfree(d);
    old_config = entry_str(c->ld, e, "xmppRoomConfig");
    if ((ret = room_prepare(c, o, old_config, &v)) != 0)
        goto out;
    ret = 1;
    if (o->name) {
        char *local = xstrndup(jid, (size_t)(strchr(jid, '@') - jid));
        n_cn = room_cn_values(dn, o->name[0] ? o->name : local, &cn);
        free(local);
        dmods_strv(&m, LDAP_MOD_REPLACE, "cn", cn, n_cn);
    }
    if (o->description || o->no_description)
        dmods_str(&m, LDAP_MOD_REPLACE, "description",
                  o->description && o->description[0] ? o->description : NULL);
    if (o->n_config || o->no_config)
        dmods_str(&m, LDAP_MOD_REPLACE, "xmppRoomConfig", v.config);
    if (o->n_clearance || o->no_clearance)
        dmods_add(&m, LDAP_MOD_REPLACE, "xmppClearance", v.cvals, v.n_clearance);
    if (o->default_label || o->no_default_label) {
        struct berval lb = {v.llen, (char *)v.lder};
        dmods_add(&m, LDAP_MOD_REPLACE, "xmppDefaultLabel", &lb, v.lder ? 1 : 0);
    }
    for (int k = 0; k < AFF_N; k++)
        if (o->n_aff[k] || o->no_aff[k])
            dmods_strv(&m, LDAP_MOD_REPLACE, aff_attr[k], v.aff[k], v.n_aff[k]);
    if (m.n == 0) {
        fail(ROOM_USAGE, "nothing to change");
        ret = 2;
        goto out;
    }
    int rc = ldap_modify_ext_s(c->ld, dn, m.p, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn,
                  rc == LDAP_NOT_ALLOWED_ON_RDN ? "the name may not drop the RDN's cn" : NULL);
        goto out;
    }
    if (v.label) {
        bool unreadable = false;
        if (o->n_clearance || o->no_clearance)
            room_warn_label(c, jid, &v, v.cs, v.n_clearance, false);
        else {
            n_cur = user_clearances(c, e, cur, CLEARANCES_MAX, &unreadable, false);
            room_warn_label(c, jid, &v, cur, n_cur, unreadable);
        }
    }
    printf("%s: room %s changed (%s)\n", prog, jid, dn);
    ret = 0;
out:
    for (size_t i = 0; i < n_cur; i++)
        policy_clearance_free(cur[i]);
    dmods_free(&m);
    strv_free(cn, n_cn);
    ldap_msgfree(res);
    room_values_clear(&v);
    wipe_free(old_config);
    free(dn);
    free(jid);
    free(o);
    return ret;
}

static int
cmd_room_del(struct ctl *c, int argc, char **argv)
{
    if (argc != 1) {
        fail("usage: room del JID", "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    char *jid = room_jid(argv[0]);
    if (!jid)
        return 2;
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    LDAPMessage *res = NULL;
    LDAPMessage *e = NULL;
    int ret = 1;
    if (room_search(c, jid, attrs, &res, &e) != PAL_OK)
        goto out;
    if (!e) {
        fail("list the rooms with: room list", "no room %s", jid);
        goto out;
    }
    char *dn = ldap_get_dn(c->ld, e);
    int rc = ldap_delete_ext_s(c->ld, dn, NULL, NULL);
    if (rc == LDAP_NOT_ALLOWED_ON_NONLEAF)
        ldap_diag(c->ld, rc, dn, "the room entry has children: remove them first");
    else if (rc != LDAP_SUCCESS)
        ldap_diag(c->ld, rc, dn, NULL);
    else {
        printf("%s: room %s removed (%s); its occupants leave it on every node\n", prog, jid,
               dn);
        if (ldap_count_entries(c->ld, res) > 1)
            fprintf(stderr, "%s: warning: another entry holds %s and is the room now\n", prog,
                    jid);
        ret = 0;
    }
    ldap_memfree(dn);
out:
    ldap_msgfree(res);
    free(jid);
    return ret;
}

static int
cmd_room_list(struct ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fail("usage: room list", "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    ctl_policies(c, false);
    char *attrs[] = {"xmppRoomJID", "cn", "xmppClearance", NULL};
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(c->ld, c->base, LDAP_SCOPE_SUBTREE, "(objectClass=xmppRoom)",
                               attrs, 0, NULL, NULL, NULL, LDAP_NO_LIMIT, &res);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, c->base, NULL);
        ldap_msgfree(res);
        return 1;
    }
    size_t n = (size_t)ldap_count_entries(c->ld, res);
    char **rows = xcalloc(n + 1, sizeof *rows);
    size_t k = 0;
    bool users_apart = c->users && strcasecmp(c->users, c->base) != 0;
    for (LDAPMessage *e = ldap_first_entry(c->ld, res); e; e = ldap_next_entry(c->ld, e)) {
        char *dn = ldap_get_dn(c->ld, e);
        char *raw = entry_str(c->ld, e, "xmppRoomJID");
        char *jid = raw ? jid_normalize(raw) : NULL;
        if (!jid || strchr(jid, '/') || !strchr(jid, '@'))
            fprintf(stderr, "%s: warning: the nodes skip %s: xmppRoomJID %s is not a room JID\n",
                    prog, dn, raw ? raw : "(none)");
        else if (users_apart && dn_below(dn, c->users))
            fprintf(stderr, "%s: warning: the nodes skip %s: rooms below ldap.users are "
                            "ignored\n",
                    prog, dn);
        char *name = room_entry_name(c->ld, e, dn);
        struct berval **cl = ldap_get_values_len(c->ld, e, "xmppClearance");
        struct buf clr;
        buf_init(&clr);
        for (int i = 0; cl && cl[i]; i++) {
            char *t = clearance_der_text(c->policies, (unsigned char *)cl[i]->bv_val,
                                         cl[i]->bv_len);
            buf_printf(&clr, "%s%s", i ? " + " : "", t);
            free(t);
        }
        if (!cl)
            buf_append_str(&clr, "-");
        buf_append(&clr, "", 1);
        rows[k++] = xasprintf("%s\t%s\t%s\t%s", jid ? jid : raw ? raw : "-", name ? name : "-",
                              dn, buf_head(&clr));
        buf_free(&clr);
        ldap_value_free_len(cl);
        free(name);
        free(jid);
        free(raw);
        ldap_memfree(dn);
    }
    ldap_msgfree(res);
    qsort(rows, k, sizeof *rows, row_cmp);
    for (size_t i = 0; i < k; i++) {
        /* rows sort by JID: a JID twice is a duplicate the nodes ignore */
        size_t jl = strcspn(rows[i], "\t");
        if (i > 0 && strncmp(rows[i - 1], rows[i], jl) == 0 && rows[i - 1][jl] == '\t')
            fprintf(stderr,
                    "%s: warning: %.*s is held by more than one entry; the nodes use the one "
                    "with the lowest DN\n",
                    prog, (int)jl, rows[i]);
        printf("%s\n", rows[i]);
    }
    for (size_t i = 0; i < k; i++)
        free(rows[i]);
    free(rows);
    if (k == 0)
        fprintf(stderr, "%s: no rooms under %s (add one with: room add)\n", prog, c->base);
    return 0;
}

/* ---- room show: affiliations resolved as the nodes do --------------------------------- */

struct resolved {
    char *jid;
    int kind;
    bool via_group;
};

struct resolve_ctx {
    struct ctl *c;
    struct resolved *v;
    size_t n, cap;
    char *stack[ROOM_GROUP_DEPTH + 1]; /* lowercased DNs of the groups being expanded */
    size_t depth;
    size_t lookups; /* bounded: nestings can have very many paths */
    struct buf note; /* what the value resolved to, for the line printed */
};

static void
resolved_add(struct resolve_ctx *rc, const char *jid, int kind, bool via_group)
{
    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? rc->cap * 2 : 16;
        rc->v = xrealloc(rc->v, rc->cap * sizeof *rc->v);
    }
    rc->v[rc->n++] = (struct resolved){xstrdup(jid), kind, via_group};
}

/* Expands one DN: a user gives its JID, a group its members (nested up to
 * ROOM_GROUP_DEPTH, cycles cut); what it found goes to rc->note. */
static void
resolve_dn(struct resolve_ctx *rc, const char *dn, int kind, size_t level)
{
    if (++rc->lookups > 10000) {
        if (rc->lookups == 10001)
            buf_printf(&rc->note, "%s(stopped after 10000 lookups)",
                       buf_used(&rc->note) ? ", " : "");
        return;
    }
    char *attrs[] = {"objectClass", "xmppJID", "member", NULL};
    LDAPMessage *res = NULL;
    int lrc = ldap_search_ext_s(rc->c->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL,
                                NULL, NULL, 1, &res);
    LDAPMessage *e = lrc == LDAP_SUCCESS ? ldap_first_entry(rc->c->ld, res) : NULL;
    bool is_user = false;
    bool is_group = false;
    struct berval **oc = e ? ldap_get_values_len(rc->c->ld, e, "objectClass") : NULL;
    for (int i = 0; oc && oc[i]; i++) {
        is_user |= oc[i]->bv_len == 8 && strncasecmp(oc[i]->bv_val, "xmppUser", 8) == 0;
        is_group |= oc[i]->bv_len == 12 && strncasecmp(oc[i]->bv_val, "groupOfNames", 12) == 0;
    }
    ldap_value_free_len(oc);
    const char *sep = buf_used(&rc->note) ? ", " : "";
    if (is_user) {
        char *raw = entry_str(rc->c->ld, e, "xmppJID");
        char *jid = raw ? jid_normalize(raw) : NULL;
        if (!jid || !strchr(jid, '@') || strchr(jid, '/'))
            buf_printf(&rc->note, "%s%s (skipped: bad xmppJID)", sep, dn);
        else if (!dn_below(dn, rc->c->users))
            buf_printf(&rc->note, "%s%s (skipped: not below ldap.users)", sep, dn);
        else {
            buf_printf(&rc->note, "%s%s", sep, jid);
            resolved_add(rc, jid, kind, level > 0);
        }
        free(jid);
        free(raw);
    } else if (is_group) {
        char *ld = dn_lower(dn);
        bool cycle = false;
        for (size_t i = 0; i < rc->depth && !cycle; i++)
            cycle = strcmp(rc->stack[i], ld) == 0;
        if (cycle) {
            buf_printf(&rc->note, "%s(%s again: a cycle, not expanded)", sep, dn);
            free(ld);
        } else if (level >= ROOM_GROUP_DEPTH) {
            buf_printf(&rc->note, "%s(%s: nested more than %d deep, ignored)", sep, dn,
                       ROOM_GROUP_DEPTH);
            free(ld);
        } else {
            rc->stack[rc->depth++] = ld;
            struct berval **mv = ldap_get_values_len(rc->c->ld, e, "member");
            for (int i = 0; mv && mv[i]; i++) {
                if (mv[i]->bv_len == 0)
                    continue;
                char *m = xstrndup(mv[i]->bv_val, mv[i]->bv_len);
                resolve_dn(rc, m, kind, level + 1);
                free(m);
            }
            ldap_value_free_len(mv);
            free(rc->stack[--rc->depth]);
        }
    } else {
        buf_printf(&rc->note, "%s%s (skipped: no user or group has this DN)", sep, dn);
    }
    ldap_msgfree(res);
}

static int
resolved_cmp(const void *a, const void *b)
{
    const struct resolved *x = a;
    const struct resolved *y = b;
    int c = strcmp(x->jid, y->jid);
    return c ? c : x->kind - y->kind;
}

/* The lists the nodes end up with: one affiliation per JID, a ban first,
 * then the strongest. */
static void
print_effective(struct resolve_ctx *rc)
{
    static const int order[AFF_N] = {AFF_OUTCAST, AFF_OWNER, AFF_ADMIN, AFF_MEMBER};
    qsort(rc->v, rc->n, sizeof *rc->v, resolved_cmp);
    int *final = xcalloc(rc->n ? rc->n : 1, sizeof *final);
    for (size_t i = 0; i < rc->n; i++) {
        final[i] = -1;
        if (i > 0 && strcmp(rc->v[i - 1].jid, rc->v[i].jid) == 0)
            continue;
        int best = AFF_N;
        for (size_t j = i; j < rc->n && strcmp(rc->v[j].jid, rc->v[i].jid) == 0; j++)
            for (int p = 0; p < AFF_N; p++)
                if (order[p] == rc->v[j].kind && p < best)
                    best = p;
        final[i] = order[best];
    }
    static const char *const plural[AFF_N] = {"owners", "admins", "members", "outcasts"};
    for (int k = 0; k < AFF_N; k++) {
        printf("%-10s", plural[k]);
        size_t shown = 0;
        for (size_t i = 0; i < rc->n; i++) {
            if (final[i] != k)
                continue;
            bool direct = false;
            for (size_t j = i; j < rc->n && strcmp(rc->v[j].jid, rc->v[i].jid) == 0; j++)
                direct |= rc->v[j].kind == k && !rc->v[j].via_group;
            printf(" %s%s", rc->v[i].jid, direct ? "" : " (group)");
            shown++;
        }
        printf("%s\n", shown ? "" : " -");
    }
    free(final);
}

static int
cmd_room_show(struct ctl *c, int argc, char **argv)
{
    if (argc != 1) {
        fail("usage: room show JID", "bad arguments");
        return 2;
    }
    if (!c->base) {
        fail("pass -c node.cfg (ldap.base), --env DIR/env, or --base DN", "no directory base");
        return 2;
    }
    ctl_policies(c, false);
    char *jid = room_jid(argv[0]);
    if (!jid)
        return 2;
    char *attrs[] = {"cn",          "description",     "xmppRoomConfig", "xmppClearance",
                     "xmppDefaultLabel", "owner",      "xmppRoomAdmin",  "member",
                     "xmppRoomOutcast",  NULL};
    LDAPMessage *res = NULL;
    LDAPMessage *e = NULL;
    int ret = 1;
    if (room_search(c, jid, attrs, &res, &e) != PAL_OK)
        goto out;
    if (!e) {
        fail("list the rooms with: room list", "no room %s", jid);
        goto out;
    }
    char *dn = ldap_get_dn(c->ld, e);
    char *name = room_entry_name(c->ld, e, dn);
    char *desc = entry_str(c->ld, e, "description");
    char *config = entry_str(c->ld, e, "xmppRoomConfig");
    printf("jid        %s\ndn         %s\n", jid, dn);
    printf("name       %s\n", name ? name : "-");
    printf("desc       %s\n", desc ? desc : "-");
    bool unreadable;
    user_clearances(c, e, NULL, 0, &unreadable, true);
    struct berval **dl = ldap_get_values_len(c->ld, e, "xmppDefaultLabel");
    if (dl) {
        char *t = label_der_text(c->policies, (unsigned char *)dl[0]->bv_val, dl[0]->bv_len);
        printf("default    %s\n", t);
        free(t);
    } else {
        printf("default    none (unlabelled messages stay unlabelled)\n");
    }
    ldap_value_free_len(dl);
    if (!config)
        printf("config     none (the defaults)\n");
    for (char *p = config, *nl; p && *p; p = nl ? nl + 1 : p + strlen(p)) {
        nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (strncmp(p, ROOM_SECRET_VAR "=", strlen(ROOM_SECRET_VAR) + 1) == 0)
            printf("config     %s=(set, not shown)\n", ROOM_SECRET_VAR);
        else if (len > 0)
            printf("config     %.*s\n", len, p);
    }
    struct resolve_ctx rc = {.c = c};
    buf_init(&rc.note);
    for (int k = 0; k < AFF_N; k++) {
        struct berval **av = ldap_get_values_len(c->ld, e, aff_attr[k]);
        for (int i = 0; av && av[i]; i++) {
            char *v = xstrndup(av[i]->bv_val, av[i]->bv_len);
            buf_reset(&rc.note);
            resolve_dn(&rc, v, k, 0);
            buf_append(&rc.note, "", 1);
            printf("%-10s %s: %s\n", aff_word[k], v,
                   buf_used(&rc.note) > 1 ? buf_head(&rc.note) : "(an empty group)");
            free(v);
        }
        ldap_value_free_len(av);
    }
    printf("-- as the nodes see it (one affiliation per JID: a ban first, then the strongest)\n");
    print_effective(&rc);
    for (size_t i = 0; i < rc.n; i++)
        free(rc.v[i].jid);
    free(rc.v);
    buf_free(&rc.note);
    if (policy_set_count(c->policies) == 0)
        printf("(values in numbers: pass --spif FILE or -c node.cfg for names)\n");
    wipe_free(config);
    free(desc);
    free(name);
    ldap_memfree(dn);
    ret = 0;
out:
    ldap_msgfree(res);
    free(jid);
    return ret;
}

/* ---- The command table ----------------------------------------------------------- */

static const struct ctl_command commands[] = {
    {"user", "add", "JID [--password-stdin | --password-file F] [--name NAME] [--clearance-file F]",
     "create an account", cmd_user_add, NEED_LDAP},
    {"user", "passwd", "JID (--password-stdin | --password-file F)", "set a password",
     cmd_user_passwd, NEED_LDAP},
    {"user", "del", "JID", "delete an account with its roster and offline messages", cmd_user_del,
     NEED_LDAP},
    {"user", "enable", "JID", "allow logins", cmd_user_enable, NEED_LDAP},
    {"user", "disable", "JID", "refuse logins (sessions end on every node)", cmd_user_disable,
     NEED_LDAP},
    {"user", "import", "FILE", "create accounts from \"jid password\" lines (- = stdin)",
     cmd_user_import, NEED_LDAP},
    {"user", "list", "", "list accounts: jid, state, name, DN, clearance (tab-separated)",
     cmd_user_list, NEED_LDAP},
    {"user", "show", "JID", "an account's state, clearance, default label and label support",
     cmd_user_show, NEED_LDAP},
    {"user", "clearance", "JID TEXT... | JID --clear",
     "set the clearance (one quoted TEXT per policy: 'policy=P class=C categories=A,B')",
     cmd_user_clearance, NEED_LDAP},
    {"user", "label-support", "JID on|off|default",
     "off: the display marking goes into the body (FLOT); default: from the client's caps",
     cmd_user_label_support, NEED_LDAP},
    {"user", "default-label", "JID TEXT | JID --clear",
     "the label of the user's unlabelled messages ('policy=P class=C ...')",
     cmd_user_default_label, NEED_LDAP},
    {"settings", "default-label", "[--domain D] TEXT | [--domain D] --clear",
     "the default label of a domain, or without --domain of the server (--domain after the "
     "command words)",
     cmd_settings_default_label, 0},
    {"settings", "show", "", "the settings entries and their default labels", cmd_settings_show,
     NEED_LDAP},
    {"node", "keygen", "--secret-file F",
     "write a new CURVE secret key to F (mode 600, never overwritten) and print its public key",
     cmd_node_keygen, 0},
    {"node", "add", "NAME ENDPOINT (--secret-file F | --public-key Z85) [--site S] [--replace]",
     "make a node a cluster member (ENDPOINT: tcp://host:port or ipc:///path)", cmd_node_add, 0},
    {"node", "del", "NAME", "remove a node from the cluster", cmd_node_del, NEED_LDAP},
    {"node", "status", "[SOCKET]",
     "a running node's view: cluster members, their state, site and session counts "
     "(through its control.socket)",
     cmd_node_status, 0},
    {"node", "list", "", "the cluster's nodes: name, endpoint, site, public key (tab-separated)",
     cmd_node_list, NEED_LDAP},
    {"room", "add",
     "JID [--name N] [--description D] [--clearance TEXT]... [--default-label TEXT] "
     "[--owner JID|DN]... [--admin JID|DN]... [--member JID|DN]... [--outcast JID|DN]... "
     "[--room-config VAR=VALUE]...",
     "define a persistent room (JID: room@conference.DOMAIN; DN: a group's or user's; config: "
     "XEP-0045 muc#roomconfig_* vars)",
     cmd_room_add, NEED_LDAP},
    {"room", "set",
     "JID [the options of room add] [--no-description] [--no-clearance] [--no-default-label] "
     "[--no-room-config] [--no-owners] [--no-admins] [--no-members] [--no-outcasts]",
     "change a room: a list given replaces the room's; --room-config VAR=VALUE changes that "
     "var only",
     cmd_room_set, NEED_LDAP},
    {"room", "show", "JID",
     "a room's entry, its affiliations resolved through users and groups as the nodes do",
     cmd_room_show, NEED_LDAP},
    {"room", "list", "", "list rooms: jid, name, DN, clearance (tab-separated)", cmd_room_list,
     NEED_LDAP},
    {"room", "del", "JID", "remove a room (its occupants leave it)", cmd_room_del, NEED_LDAP},
    {"policy", "check", "[SPIF...]",
     "validate SPIF files (default: --spif, or -c's policy.spif) and list what they define",
     cmd_policy_check, 0},
    {"label", "check",
     "(--clearance TEXT... | --user JID) (--label TEXT | --label-b64 B64 | --label-xml FILE)",
     "explain the read and send decisions; exit 0 read allowed, 1 denied, 2 bad input, 3 no "
     "directory",
     cmd_label_check, NEED_POLICY},
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: %s [options] COMMAND [arguments]\n"
            "options (anywhere on the line; later ones win; -- ends them):\n"
            "  -c FILE                 the node's config (its ldap group, first domain and "
            "policy.spif)\n"
            "  --env FILE              a scripts/slapd-dev.sh env file (binds as the admin)\n"
            "  --uri URI --bind-dn DN --bind-secret-file F --users BASE --base DN\n"
            "  --rooms DN              where room add puts rooms (default: ldap.rooms, or "
            "ou=rooms,BASE)\n"
            "  --starttls --ca-file F\n"
            "  --domain D              the domain of user JIDs given without one\n"
            "  --spif FILE             a security policy (repeatable; instead of policy.spif)\n"
            "texts: clearance 'policy=P class=C [categories=A,\"Tag set:B\"]' (class: up to C),\n"
            "       label 'policy=P class=C [categories=A,B] [privacymark=\"M\"]'\n"
            "       (see policy/README.md; names from: %s policy check)\n"
            "commands:\n",
            prog, prog);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char words[64];
        snprintf(words, sizeof words, "%s%s%s", commands[i].group, commands[i].name ? " " : "",
                 commands[i].name ? commands[i].name : "");
        fprintf(out, "  %s%s%s\n      %s\n", words, commands[i].args[0] ? " " : "",
                commands[i].args, commands[i].summary);
    }
}

/* Command options that take a value as the next argument: the global option
 * scan must not read their values as options or command words. */
static bool
takes_value(const char *a)
{
    static const char *const opts[] = {
        "--password-file", "--name",        "--clearance-file", "--clearance",  "--user",
        "--label",         "--label-b64",   "--label-xml",      "--secret-file", "--public-key",
        "--site",          "--description", "--default-label", "--owner",     "--admin",
        "--member",        "--outcast",     "--room-config",   NULL};
    for (size_t i = 0; opts[i]; i++)
        if (strcmp(a, opts[i]) == 0)
            return true;
    return false;
}

/* Global options. Returns the number of arguments consumed at argv[i], 0 if
 * argv[i] is not one of them, or -1 on error. "--opt=value" works too. */
static int
global_opt(struct ctl *c, int argc, char **argv, int i, char **config, char **env,
           char **secret_file)
{
    const char *a = argv[i];
    struct {
        const char *name;
        char **dst;
    } strs[] = {
        {"-c", config},
        {"--config", config},
        {"--env", env},
        {"--uri", &c->uri},
        {"--bind-dn", &c->bind_dn},
        {"--bind-secret-file", secret_file},
        {"--users", &c->users},
        {"--base", &c->base},
        {"--rooms", &c->rooms},
        {"--domain", &c->domain},
        {"--ca-file", &c->ca_file},
        {"--spif", NULL},
    };
    if (strcmp(a, "--starttls") == 0) {
        c->starttls = true;
        return 1;
    }
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        size_t nl = strlen(strs[k].name);
        const char *v;
        int used;
        if (strcmp(a, strs[k].name) == 0) {
            v = i + 1 < argc ? argv[i + 1] : NULL;
            used = 2;
        } else if (strncmp(a, strs[k].name, nl) == 0 && a[nl] == '=' && nl > 2) {
            v = a + nl + 1;
            used = 1;
        } else {
            continue;
        }
        if (!v || !v[0]) {
            fail("see: palisadectl --help", "%s needs a value", strs[k].name);
            return -1;
        }
        if (strs[k].dst)
            set_str(strs[k].dst, v);
        else
            strlist_add(&c->spif, v);
        if (strs[k].dst == &c->domain)
            c->domain_given = true;
        return used;
    }
    return 0;
}

/* Folds the sources together: config < env < command line. */
static int
ctl_merge(struct ctl *c, struct ctl *over, const char *config, const char *env,
          const char *secret_file)
{
    if (config && ctl_load_config(c, config) != PAL_OK)
        return PAL_ECONFIG;
    if (env && ctl_load_env(c, env) != PAL_OK)
        return PAL_EIO;
    char **pairs[][2] = {
        {&c->uri, &over->uri},         {&c->bind_dn, &over->bind_dn}, {&c->users, &over->users},
        {&c->base, &over->base},       {&c->domain, &over->domain},   {&c->ca_file, &over->ca_file},
        {&c->rooms, &over->rooms},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (*pairs[i][1])
            set_str(pairs[i][0], *pairs[i][1]);
    c->starttls |= over->starttls;
    c->domain_given = over->domain_given;
    if (secret_file)
        set_secret(c, NULL, secret_file);
    if (over->spif.n > 0) {
        strlist_clear(&c->spif);
        for (size_t i = 0; i < over->spif.n; i++)
            strlist_add(&c->spif, over->spif.v[i]);
        set_str(&c->spif_origin, "--spif");
    }
    if (c->domain) {
        char *d = jid_normalize(c->domain);
        if (!d || strchr(d, '@') || strchr(d, '/')) {
            fail("give a domain name such as example.com", "--domain %s is not a domain",
                 c->domain);
            free(d);
            return PAL_EINVAL;
        }
        set_str(&c->domain, d);
        free(d);
    }
    return PAL_OK;
}

int
main(int argc, char **argv)
{
    struct ctl c = {.timeout_ms = 5000};
    struct ctl over = {0};
    char *config = NULL;
    char *env = NULL;
    char *secret_file = NULL;
    int ret = 2;
    /* rest[0] is a placeholder so that rest + 1 can be handed to getopt as
     * argv - 1 (its "program name" slot) */
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int nrest = 1;
    rest[0] = argv[0];

    /* global options anywhere; everything else, in order, for the command */
    for (int i = 1; i < argc;) {
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc; i++)
                rest[nrest++] = argv[i];
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            ret = 0;
            goto out;
        }
        /* after "settings WORD", --domain is the command's own (its scope) */
        bool own = nrest > 2 && strcmp(rest[1], "settings") == 0 &&
                   (strcmp(argv[i], "--domain") == 0 || strncmp(argv[i], "--domain=", 9) == 0);
        if (own) {
            rest[nrest++] = argv[i];
            if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
                rest[nrest++] = argv[++i];
            i++;
            continue;
        }
        int used = global_opt(&over, argc, argv, i, &config, &env, &secret_file);
        if (used < 0)
            goto out;
        if (used > 0) {
            i += used;
            continue;
        }
        rest[nrest++] = argv[i];
        if (takes_value(argv[i]) && i + 1 < argc)
            rest[nrest++] = argv[++i];
        i++;
    }
    const struct ctl_command *cmd = NULL;
    const char *w0 = nrest > 1 ? rest[1] : NULL;
    const char *w1 = nrest > 2 ? rest[2] : NULL;
    int skip = 0;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0] && !cmd; k++) {
        if (!w0 || strcmp(commands[k].group, w0) != 0)
            continue;
        if (!commands[k].name) {
            cmd = &commands[k];
            skip = 1;
        } else if (w1 && strcmp(commands[k].name, w1) == 0) {
            cmd = &commands[k];
            skip = 2;
        }
    }
    if (!cmd) {
        bool group = false;
        for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
            group |= w0 && strcmp(commands[k].group, w0) == 0;
        if (group && !w1)
            fail("see the commands below", "%s needs a subcommand", w0);
        else if (w0)
            fail("see the commands below", "unknown command: %s%s%s", w0,
                 group && w1 ? " " : "", group && w1 ? w1 : "");
        usage(stderr);
        goto out;
    }
    ret = cmd->needs & NEED_LDAP ? 1 : 2;
    if (ctl_merge(&c, &over, config, env, secret_file) != PAL_OK)
        goto out;
    if ((cmd->needs & NEED_POLICY) && ctl_policies(&c, true) != PAL_OK) {
        ret = 2;
        goto out;
    }
    if ((cmd->needs & NEED_LDAP) && ctl_connect(&c) != PAL_OK) {
        ret = 1;
        goto out;
    }
    /* the command's arguments start after its words; rest[skip] is the slot
     * getopt sees as argv[0] */
    ret = cmd->run(&c, nrest - 1 - skip, rest + 1 + skip);
out:
    free(rest);
    ctl_clear(&c);
    ctl_clear(&over);
    free(config);
    free(env);
    free(secret_file);
    return ret;
}
