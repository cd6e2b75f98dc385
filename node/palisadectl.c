/* SPDX-License-Identifier: Apache-2.0 */
/* palisadectl.c - the operator's tool. Commands live in one table (group,
 * name, usage, handler), so new ones are one row and one function.
 *
 * The "user" commands provision accounts straight in LDAP with synchronous
 * libldap calls (a CLI may block): inetOrgPerson + xmppUser entries under
 * ldap.users, an {SSHA} userPassword for PLAIN-by-bind, and RFC 5803 SCRAM-SHA-1
 * and SCRAM-SHA-256 secrets that the nodes' replica feeds to Cyrus SASL.
 * Passwords come from stdin or a file, never from argv, and are wiped after
 * use. The directory comes from the node's config (-c), from a slapd-dev.sh env
 * file (--env, binds as the admin), or from explicit options, in that order of
 * increasing precedence. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/config.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/mem.h"
#include "directory/directory.h"
#include "node/settings.h"

#define SCRAM_ITERATIONS 4096
#define SSHA_SALT 8
#define IMPORT_WINDOW 64
#define IMPORT_BATCH 512
#define IMPORT_THREADS_MAX 16
#define PASSWORD_MAX 1024

/* Where the directory is, after option merging. Strings are owned. */
struct ctl {
    char *uri;
    char *bind_dn;
    char *secret;
    char *users;
    char *domain;
    char *ca_file;
    bool starttls;
    int64_t timeout_ms;
    LDAP *ld;
};

struct ctl_command {
    const char *group; /* "user" */
    const char *name;  /* "add"; NULL when the group word alone is the command */
    const char *args;  /* usage after the command words */
    const char *summary;
    int (*run)(struct ctl *c, int argc, char **argv); /* argv[0]: first argument */
    bool needs_ldap;
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
    char *admin_secret_file = NULL;
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
        else if (strcmp(line, "LDAP_ADMIN_DN") == 0)
            set_str(&c->bind_dn, v);
        else if (strcmp(line, "LDAP_ADMIN_SECRET_FILE") == 0)
            set_str(&admin_secret_file, v);
    }
    fclose(f);
    int rc = PAL_OK;
    if (admin_secret_file) {
        char err[256];
        char *s = config_read_secret(admin_secret_file, err, sizeof err);
        if (!s) {
            fail(NULL, "%s: %s", admin_secret_file, err);
            rc = PAL_EIO;
        } else {
            wipe_free(c->secret);
            c->secret = s;
        }
    }
    free(admin_secret_file);
    return rc;
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
    set_str(&c->ca_file, s->ldap.ca_file && s->ldap.ca_file[0] ? s->ldap.ca_file : NULL);
    c->starttls = s->ldap.starttls;
    c->timeout_ms = s->ldap.timeout_ms;
    if (s->domains.n > 0)
        set_str(&c->domain, s->domains.v[0]);
    int rc = PAL_OK;
    if (s->ldap.bind_secret_file && s->ldap.bind_secret_file[0]) {
        char *sec = config_read_secret(s->ldap.bind_secret_file, err, sizeof err);
        if (!sec) {
            fail(NULL, "ldap.bind_secret_file: %s", err);
            rc = PAL_EIO;
        } else {
            wipe_free(c->secret);
            c->secret = sec;
        }
    } else if (s->ldap.bind_secret && s->ldap.bind_secret[0]) {
        wipe_free(c->secret);
        c->secret = xstrdup(s->ldap.bind_secret);
    }
    node_settings_free(s);
    return rc;
}

static void
ldap_diag(LDAP *ld, int rc, const char *what, const char *hint)
{
    char *diag = NULL;
    if (ld)
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
    fail(hint, "%s: %s%s%s", what, ldap_err2string(rc), diag && diag[0] ? " - " : "",
         diag ? diag : "");
    ldap_memfree(diag);
}

static int
ctl_connect(struct ctl *c)
{
    if (!c->uri || !c->bind_dn || !c->secret || !c->users) {
        fail("pass -c node.cfg, --env DIR/env, or --uri, --bind-dn, --bind-secret-file and --users",
             "no directory given");
        return PAL_ECONFIG;
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
    free(c->users);
    free(c->domain);
    free(c->ca_file);
    memset(c, 0, sizeof *c);
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

/* The entry holding xmppJID=jid under users, or NULL. */
static char *
user_find(struct ctl *c, const char *jid, bool *enabled)
{
    struct berval bv = {strlen(jid), (char *)jid};
    struct berval esc = {0, NULL};
    if (ldap_bv2escaped_filter_value(&bv, &esc) != 0)
        return NULL;
    char *filter = xasprintf("(&(objectClass=xmppUser)(xmppJID=%s))", esc.bv_val);
    ber_memfree(esc.bv_val);
    char *attrs[] = {"xmppAccountEnabled", NULL};
    LDAPMessage *res = NULL;
    char *dn = NULL;
    int rc = ldap_search_ext_s(c->ld, c->users, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
                               NULL, 2, &res);
    free(filter);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
        ldap_diag(c->ld, rc, "search", NULL);
        ldap_msgfree(res);
        return NULL;
    }
    LDAPMessage *e = ldap_first_entry(c->ld, res);
    if (e) {
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
    char *dn = user_find(c, jid, NULL);
    if (!dn) {
        fail("list accounts with: user list", "no user %s", jid);
        goto out;
    }
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
    char *dn = user_find(c, jid, NULL);
    if (!dn) {
        fail("list accounts with: user list", "no user %s", jid);
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
    char *dn = user_find(c, jid, &was);
    int ret = 1;
    if (!dn) {
        fail("list accounts with: user list", "no user %s", jid);
        goto out;
    }
    struct mods ms = {0};
    mods_str(&ms, LDAP_MOD_REPLACE, "xmppAccountEnabled", enable ? "TRUE" : "FALSE");
    int rc = ldap_modify_ext_s(c->ld, dn, ms.p, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        ldap_diag(c->ld, rc, dn, NULL);
        goto out;
    }
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
    char *attrs[] = {"xmppJID", "xmppAccountEnabled", "cn", NULL};
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
        char *dn = ldap_get_dn(c->ld, e);
        bool enabled = !en || (en[0]->bv_len == 4 && memcmp(en[0]->bv_val, "TRUE", 4) == 0);
        rows[k++] = xasprintf("%.*s\t%s\t%.*s\t%s", j ? (int)j[0]->bv_len : 1,
                              j ? j[0]->bv_val : "-", enabled ? "enabled" : "disabled",
                              cn ? (int)cn[0]->bv_len : 1, cn ? cn[0]->bv_val : "-", dn);
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

/* ---- The command table ----------------------------------------------------------- */

static const struct ctl_command commands[] = {
    {"user", "add", "JID [--password-stdin | --password-file F] [--name NAME] [--clearance-file F]",
     "create an account", cmd_user_add, true},
    {"user", "passwd", "JID (--password-stdin | --password-file F)", "set a password",
     cmd_user_passwd, true},
    {"user", "del", "JID", "delete an account with its roster and offline messages", cmd_user_del,
     true},
    {"user", "enable", "JID", "allow logins", cmd_user_enable, true},
    {"user", "disable", "JID", "refuse logins (sessions end on every node)", cmd_user_disable,
     true},
    {"user", "import", "FILE", "create accounts from \"jid password\" lines (- = stdin)",
     cmd_user_import, true},
    {"user", "list", "", "list accounts: jid, state, name, DN", cmd_user_list, true},
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: %s [options] COMMAND [arguments]\n"
            "directory options (later ones win):\n"
            "  -c FILE                 the node's config (its ldap group and first domain)\n"
            "  --env FILE              a scripts/slapd-dev.sh env file (binds as the admin)\n"
            "  --uri URI --bind-dn DN --bind-secret-file F --users BASE --domain D\n"
            "  --starttls --ca-file F\n"
            "commands:\n",
            prog);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char words[64];
        snprintf(words, sizeof words, "%s%s%s", commands[i].group, commands[i].name ? " " : "",
                 commands[i].name ? commands[i].name : "");
        fprintf(out, "  %s %s\n      %s\n", words, commands[i].args, commands[i].summary);
    }
}

/* Global options: may come before and between the command words. Returns the
 * number of arguments consumed at argv[i], 0 if argv[i] is not one of them, or
 * -1 on error. */
static int
global_opt(struct ctl *c, int argc, char **argv, int i, char **config, char **env,
           char **secret_file)
{
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    struct {
        const char *name;
        char **dst;
    } strs[] = {
        {"-c", config},
        {"--env", env},
        {"--uri", &c->uri},
        {"--bind-dn", &c->bind_dn},
        {"--bind-secret-file", secret_file},
        {"--users", &c->users},
        {"--domain", &c->domain},
        {"--ca-file", &c->ca_file},
    };
    if (strcmp(a, "--starttls") == 0) {
        c->starttls = true;
        return 1;
    }
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        if (strcmp(a, strs[k].name) == 0) {
            if (!v) {
                fail(NULL, "%s needs a value", a);
                return -1;
            }
            set_str(strs[k].dst, v);
            return 2;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct ctl c = {.timeout_ms = 5000};
    struct ctl over = {0};
    char *config = NULL;
    char *env = NULL;
    char *secret_file = NULL;
    const char *words[2] = {NULL, NULL};
    size_t nwords = 0;
    int i = 1;
    int ret = 2;

    /* options and up to two command words, in any order up to the command */
    while (i < argc && nwords < 2) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        int used = global_opt(&over, argc, argv, i, &config, &env, &secret_file);
        if (used < 0)
            goto out;
        if (used > 0) {
            i += used;
            continue;
        }
        if (argv[i][0] == '-')
            break;
        words[nwords++] = argv[i++];
        /* a group word without subcommands stands alone */
        bool has_sub = false;
        for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
            has_sub |= strcmp(commands[k].group, words[0]) == 0 && commands[k].name;
        if (nwords == 1 && !has_sub)
            break;
    }
    const struct ctl_command *cmd = NULL;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0] && !cmd; k++)
        if (words[0] && strcmp(commands[k].group, words[0]) == 0 &&
            (commands[k].name ? words[1] && strcmp(commands[k].name, words[1]) == 0 : true))
            cmd = &commands[k];
    if (!cmd) {
        if (words[0])
            fail(NULL, "unknown command: %s%s%s", words[0], words[1] ? " " : "",
                 words[1] ? words[1] : "");
        usage(stderr);
        goto out;
    }
    if (cmd->needs_ldap) {
        ret = 1;
        if (config && ctl_load_config(&c, config) != PAL_OK)
            goto out;
        if (env && ctl_load_env(&c, env) != PAL_OK)
            goto out;
        if (over.uri)
            set_str(&c.uri, over.uri);
        if (over.bind_dn)
            set_str(&c.bind_dn, over.bind_dn);
        if (over.users)
            set_str(&c.users, over.users);
        if (over.domain)
            set_str(&c.domain, over.domain);
        if (over.ca_file)
            set_str(&c.ca_file, over.ca_file);
        c.starttls |= over.starttls;
        if (secret_file) {
            char err[256];
            char *s = config_read_secret(secret_file, err, sizeof err);
            if (!s) {
                fail(NULL, "--bind-secret-file %s: %s", secret_file, err);
                goto out;
            }
            wipe_free(c.secret);
            c.secret = s;
        }
        if (c.domain) {
            char *d = jid_normalize(c.domain);
            if (!d || strchr(d, '@') || strchr(d, '/')) {
                fail(NULL, "--domain %s is not a domain", c.domain);
                free(d);
                goto out;
            }
            set_str(&c.domain, d);
            free(d);
        }
        if (ctl_connect(&c) != PAL_OK)
            goto out;
    }
    ret = cmd->run(&c, argc - i, argv + i);
out:
    ctl_clear(&c);
    ctl_clear(&over);
    free(config);
    free(env);
    free(secret_file);
    return ret;
}
