/* SPDX-License-Identifier: Apache-2.0 */
/* map.c - directory entries as plain attribute lists <-> the structs node/
 * reads (dir_user, dir_roster_item, dir_offline, dir_server_settings,
 * dir_node, room and group data), and DN handling (RFC 4514).
 * Pure: no LDAP handles, no I/O, no logging; sync.c turns libldap messages into
 * struct dir_entry, replica.c keeps what comes out, write.c sends what the
 * *_attrs builders produce. Unit-tested in test/unit/test_map.c. */
#include "directory/dir_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/mem.h"

/* ---- Which entries we replicate ----------------------------------------- */

static const char *const user_attrs[] = {
    "objectClass",      "xmppJID",          "xmppAccountEnabled", "xmppScramSecret",
    "xmppClearance",    "xmppDefaultLabel", "xmppLabelSupport",   "cn",
    "givenName",        "sn",               "mail",               "telephoneNumber",
    "title",            "ou",               "jpegPhoto",          NULL,
};
static const char *const roster_attrs[] = {
    "objectClass", "xmppContactJID", "xmppRosterName",  "xmppSubscription",
    "xmppAsk",     "xmppAskIn",      "xmppRosterGroup", NULL,
};
static const char *const offline_attrs[] = {
    "objectClass", "xmppOfflineId", "xmppStanza", "xmppSecurityLabel", "xmppTimestamp", NULL,
};

static const char *const settings_attrs[] = {
    "objectClass", "cn", "xmppDomain", "xmppDefaultLabel", NULL,
};

static const char *const node_attrs[] = {
    "objectClass", "xmppNodeName", "xmppNodeEndpoint", "xmppCurvePublicKey", "xmppSite", NULL,
};

static const char *const room_attrs[] = {
    "objectClass", "cn",     "xmppRoomJID",   "description", "xmppRoomConfig",  "xmppClearance",
    "xmppDefaultLabel", "owner", "xmppRoomAdmin", "member",  "xmppRoomOutcast", NULL,
};

static const char *const group_attrs[] = {"objectClass", "member", NULL};

const struct dir_class dir_classes[] = {
    {"xmppUser", DIR_KIND_USER, user_attrs},
    {"xmppRosterItem", DIR_KIND_ROSTER, roster_attrs},
    {"xmppOfflineMessage", DIR_KIND_OFFLINE, offline_attrs},
    {"xmppServerSettings", DIR_KIND_SETTINGS, settings_attrs},
    {"xmppNode", DIR_KIND_NODE, node_attrs},
    {"xmppRoom", DIR_KIND_ROOM, room_attrs},
    {"groupOfNames", DIR_KIND_GROUP, group_attrs},
};
const size_t dir_n_classes = sizeof dir_classes / sizeof dir_classes[0];

/* ---- Reading attribute lists -------------------------------------------- */

static bool
val_eq_ci(const struct dir_val *v, const char *s)
{
    size_t n = strlen(s);
    return v->len == n && strncasecmp(v->p, s, n) == 0;
}

const struct dir_attr *
dir_entry_attr(const struct dir_entry *e, const char *name)
{
    for (size_t i = 0; i < e->n_attrs; i++)
        if (strcasecmp(e->attrs[i].name, name) == 0)
            return &e->attrs[i];
    return NULL;
}

bool
dir_entry_has_class(const struct dir_entry *e, const char *oc)
{
    const struct dir_attr *a = dir_entry_attr(e, "objectClass");
    for (size_t i = 0; a && i < a->n; i++)
        if (val_eq_ci(&a->v[i], oc))
            return true;
    return false;
}

enum dir_kind
dir_entry_kind(const struct dir_entry *e)
{
    for (size_t i = 0; i < dir_n_classes; i++)
        if (dir_entry_has_class(e, dir_classes[i].object_class))
            return dir_classes[i].kind;
    return DIR_KIND_NONE;
}

const char *
dir_kind_str(enum dir_kind k)
{
    switch (k) {
    case DIR_KIND_USER:
        return "user";
    case DIR_KIND_ROSTER:
        return "roster item";
    case DIR_KIND_OFFLINE:
        return "offline message";
    case DIR_KIND_SETTINGS:
        return "settings";
    case DIR_KIND_NODE:
        return "node";
    case DIR_KIND_ROOM:
        return "room";
    case DIR_KIND_GROUP:
        return "group";
    case DIR_KIND_NONE:
        break;
    }
    return "other";
}

/* First value of name as a new string, or NULL. */
static char *
attr_str(const struct dir_entry *e, const char *name)
{
    const struct dir_attr *a = dir_entry_attr(e, name);
    if (!a || a->n == 0)
        return NULL;
    return xmemdup(a->v[0].p, a->v[0].len);
}

static unsigned char *
attr_bin(const struct dir_entry *e, const char *name, size_t *len)
{
    const struct dir_attr *a = dir_entry_attr(e, name);
    *len = 0;
    if (!a || a->n == 0)
        return NULL;
    *len = a->v[0].len;
    return xmemdup(a->v[0].p, a->v[0].len);
}

/* Boolean attribute: absent gives def; a value that is not TRUE/FALSE gives
 * bad (callers fail closed). */
static bool
attr_bool(const struct dir_entry *e, const char *name, bool def, bool bad)
{
    const struct dir_attr *a = dir_entry_attr(e, name);
    if (!a || a->n == 0)
        return def;
    bool ok;
    bool v = dir_bool_parse(a->v[0].p, a->v[0].len, &ok);
    return ok ? v : bad;
}

/* A normalised bare JID from attribute name, or NULL. need_local: user JIDs
 * must have a local part; contacts may be bare domains (gateways). */
static char *
attr_jid(const struct dir_entry *e, const char *name, bool need_local)
{
    char *raw = attr_str(e, name);
    if (!raw)
        return NULL;
    char *j = strlen(raw) == dir_entry_attr(e, name)->v[0].len ? jid_normalize(raw) : NULL;
    free(raw);
    if (j && (strchr(j, '/') || (need_local && !strchr(j, '@')))) {
        free(j);
        j = NULL;
    }
    return j;
}

bool
dir_bool_parse(const char *s, size_t len, bool *ok)
{
    *ok = true;
    if (len == 4 && strncmp(s, "TRUE", 4) == 0)
        return true;
    if (len == 5 && strncmp(s, "FALSE", 5) == 0)
        return false;
    *ok = false;
    return false;
}

static const char *const sub_names[] = {
    [DIR_SUB_NONE] = "none", [DIR_SUB_TO] = "to", [DIR_SUB_FROM] = "from", [DIR_SUB_BOTH] = "both"};

const char *
dir_sub_str(enum dir_sub s)
{
    return (unsigned)s < sizeof sub_names / sizeof sub_names[0] ? sub_names[s] : "none";
}

enum dir_sub
dir_sub_parse(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof sub_names / sizeof sub_names[0]; i++)
        if (strlen(sub_names[i]) == len && strncasecmp(sub_names[i], s, len) == 0)
            return (enum dir_sub)i;
    return DIR_SUB_NONE;
}

/* ---- GeneralizedTime ----------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

int
dir_gentime_parse(const char *s, size_t len, int64_t *ms)
{
    unsigned y, mo, d, h, mi = 0, sec = 0, frac_ms = 0;
    size_t i = 10;

    if (len < 11 || !digits(s, 4, &y) || !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) ||
        !digits(s + 8, 2, &h))
        return PAL_EMALFORMED;
    if (i + 2 <= len && isdigit((unsigned char)s[i])) {
        if (!digits(s + i, 2, &mi))
            return PAL_EMALFORMED;
        i += 2;
        if (i + 2 <= len && isdigit((unsigned char)s[i])) {
            if (!digits(s + i, 2, &sec))
                return PAL_EMALFORMED;
            i += 2;
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                unsigned scale = 100;
                size_t start = ++i;
                for (; i < len && isdigit((unsigned char)s[i]); i++) {
                    frac_ms += (unsigned)(s[i] - '0') * scale;
                    scale /= 10;
                }
                if (i == start)
                    return PAL_EMALFORMED;
            }
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return PAL_EMALFORMED;
    int64_t off_min = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        unsigned oh, om = 0;
        if (i + 3 > len || !digits(s + i + 1, 2, &oh))
            return PAL_EMALFORMED;
        if (i + 5 <= len && !digits(s + i + 3, 2, &om))
            return PAL_EMALFORMED;
        off_min = (int64_t)(oh * 60 + om) * (s[i] == '+' ? 1 : -1);
        i += i + 5 <= len ? 5 : 3;
    } else {
        return PAL_EMALFORMED;
    }
    if (i != len)
        return PAL_EMALFORMED;
    int64_t t = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec -
                off_min * 60;
    *ms = t * 1000 + frac_ms;
    return PAL_OK;
}

void
dir_gentime_format(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d%02d%02d%02d%02d%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ---- Entry -> struct ----------------------------------------------------- */

int
dir_map_user(const struct dir_entry *e, struct dir_user **out, const char **why)
{
    char *jid = attr_jid(e, "xmppJID", true);
    if (!jid) {
        *why = "no valid bare JID in xmppJID";
        return PAL_EMALFORMED;
    }
    struct dir_user *u = xcalloc(1, sizeof *u);
    u->refs = 1;
    u->dn = xstrdup(e->dn);
    u->jid = jid;
    /* A value that is neither TRUE nor FALSE disables: fail closed. */
    u->enabled = attr_bool(e, "xmppAccountEnabled", true, false);
    u->has_password =
        dir_entry_has_class(e, "inetOrgPerson") || dir_entry_has_class(e, "simpleSecurityObject");

    const struct dir_attr *a = dir_entry_attr(e, "xmppScramSecret");
    if (a && a->n > 0) {
        u->scram = xcalloc(a->n, sizeof *u->scram);
        for (size_t i = 0; i < a->n; i++)
            if (memchr(a->v[i].p, '\0', a->v[i].len) == NULL)
                u->scram[u->n_scram++] = xmemdup(a->v[i].p, a->v[i].len);
    }
    a = dir_entry_attr(e, "xmppClearance");
    if (a && a->n > 0) {
        u->clearance = xcalloc(a->n, sizeof *u->clearance);
        for (size_t i = 0; i < a->n; i++) {
            u->clearance[i].der = xmemdup(a->v[i].p, a->v[i].len);
            u->clearance[i].len = a->v[i].len;
        }
        u->n_clearance = a->n;
    }
    u->cn = attr_str(e, "cn");
    u->given_name = attr_str(e, "givenName");
    u->sn = attr_str(e, "sn");
    u->mail = attr_str(e, "mail");
    u->telephone = attr_str(e, "telephoneNumber");
    u->title = attr_str(e, "title");
    u->ou = attr_str(e, "ou");
    u->jpeg = attr_bin(e, "jpegPhoto", &u->jpeg_len);
    u->default_label = attr_bin(e, "xmppDefaultLabel", &u->default_label_len);
    /* Not TRUE/FALSE: FALSE, so the marking goes into the body (FLOT) rather
     * than being lost on a client that does not show labels. */
    a = dir_entry_attr(e, "xmppLabelSupport");
    u->label_support = -1;
    if (a && a->n > 0)
        u->label_support = attr_bool(e, "xmppLabelSupport", false, false) ? 1 : 0;
    *out = u;
    return PAL_OK;
}

void
dir_user_unref(struct dir_user *u)
{
    if (!u || --u->refs > 0)
        return;
    free(u->dn);
    free(u->jid);
    for (size_t i = 0; i < u->n_scram; i++) {
        /* not a password, but a secret: do not leave it in freed memory */
        OPENSSL_cleanse(u->scram[i], strlen(u->scram[i]));
        free(u->scram[i]);
    }
    free(u->scram);
    for (size_t i = 0; i < u->n_clearance; i++)
        free(u->clearance[i].der);
    free(u->clearance);
    free(u->cn);
    free(u->given_name);
    free(u->sn);
    free(u->mail);
    free(u->telephone);
    free(u->title);
    free(u->ou);
    free(u->jpeg);
    free(u->default_label);
    free(u);
}

static bool
str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool
bin_eq(const unsigned char *a, size_t al, const unsigned char *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

bool
dir_user_equal(const struct dir_user *a, const struct dir_user *b)
{
    if (!str_eq(a->dn, b->dn) || !str_eq(a->jid, b->jid) || a->enabled != b->enabled ||
        a->has_password != b->has_password || a->n_scram != b->n_scram ||
        a->n_clearance != b->n_clearance || !str_eq(a->cn, b->cn) ||
        !str_eq(a->given_name, b->given_name) || !str_eq(a->sn, b->sn) ||
        !str_eq(a->mail, b->mail) || !str_eq(a->telephone, b->telephone) ||
        !str_eq(a->title, b->title) || !str_eq(a->ou, b->ou) ||
        !bin_eq(a->jpeg, a->jpeg_len, b->jpeg, b->jpeg_len) ||
        !bin_eq(a->default_label, a->default_label_len, b->default_label, b->default_label_len) ||
        a->label_support != b->label_support)
        return false;
    for (size_t i = 0; i < a->n_scram; i++)
        if (!str_eq(a->scram[i], b->scram[i]))
            return false;
    for (size_t i = 0; i < a->n_clearance; i++)
        if (!bin_eq(a->clearance[i].der, a->clearance[i].len, b->clearance[i].der,
                    b->clearance[i].len))
            return false;
    return true;
}

int
dir_map_roster(const struct dir_entry *e, struct dir_roster_item *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->jid = attr_jid(e, "xmppContactJID", false);
    if (!out->jid) {
        *why = "no valid bare JID in xmppContactJID";
        return PAL_EMALFORMED;
    }
    out->name = attr_str(e, "xmppRosterName");
    const struct dir_attr *a = dir_entry_attr(e, "xmppSubscription");
    out->sub = a && a->n > 0 ? dir_sub_parse(a->v[0].p, a->v[0].len) : DIR_SUB_NONE;
    out->ask_out = attr_bool(e, "xmppAsk", false, false);
    out->ask_in = attr_bool(e, "xmppAskIn", false, false);
    a = dir_entry_attr(e, "xmppRosterGroup");
    if (a && a->n > 0) {
        out->groups = xcalloc(a->n, sizeof *out->groups);
        for (size_t i = 0; i < a->n; i++)
            out->groups[i] = xmemdup(a->v[i].p, a->v[i].len);
        out->n_groups = a->n;
    }
    return PAL_OK;
}

int
dir_map_offline(const struct dir_entry *e, struct dir_offline *out, int64_t *ts_ms,
                const char **why)
{
    memset(out, 0, sizeof *out);
    *ts_ms = 0;
    const struct dir_attr *id = dir_entry_attr(e, "xmppOfflineId");
    const struct dir_attr *st = dir_entry_attr(e, "xmppStanza");
    if (!id || id->n == 0 || id->v[0].len == 0 || memchr(id->v[0].p, '\0', id->v[0].len)) {
        *why = "no xmppOfflineId";
        return PAL_EMALFORMED;
    }
    if (!st || st->n == 0) {
        *why = "no xmppStanza";
        return PAL_EMALFORMED;
    }
    out->id = xmemdup(id->v[0].p, id->v[0].len);
    out->stanza = xmemdup(st->v[0].p, st->v[0].len);
    out->len = st->v[0].len;
    out->label = attr_bin(e, "xmppSecurityLabel", &out->label_len);
    const struct dir_attr *ts = dir_entry_attr(e, "xmppTimestamp");
    if (ts && ts->n > 0 && dir_gentime_parse(ts->v[0].p, ts->v[0].len, ts_ms) != PAL_OK)
        *ts_ms = 0;
    return PAL_OK;
}

int
dir_map_settings(const struct dir_entry *e, struct dir_server_settings *out, const char **why)
{
    memset(out, 0, sizeof *out);
    const struct dir_attr *a = dir_entry_attr(e, "xmppDomain");
    if (a && a->n > 0) {
        out->domains = xcalloc(a->n, sizeof *out->domains);
        for (size_t i = 0; i < a->n; i++) {
            char *raw = xmemdup(a->v[i].p, a->v[i].len);
            char *d = strlen(raw) == a->v[i].len ? jid_normalize(raw) : NULL;
            free(raw);
            if (!d || strchr(d, '@') || strchr(d, '/')) {
                free(d);
                dir_server_settings_clear(out);
                *why = "an xmppDomain value is not a domain";
                return PAL_EMALFORMED;
            }
            out->domains[out->n_domains++] = d;
        }
    }
    out->default_label = attr_bin(e, "xmppDefaultLabel", &out->default_label_len);
    return PAL_OK;
}

void
dir_server_settings_clear(struct dir_server_settings *s)
{
    for (size_t i = 0; i < s->n_domains; i++)
        free(s->domains[i]);
    free(s->domains);
    free(s->default_label);
    memset(s, 0, sizeof *s);
}

bool
dir_server_settings_equal(const struct dir_server_settings *a, const struct dir_server_settings *b)
{
    if (a->n_domains != b->n_domains ||
        !bin_eq(a->default_label, a->default_label_len, b->default_label, b->default_label_len))
        return false;
    for (size_t i = 0; i < a->n_domains; i++)
        if (!str_eq(a->domains[i], b->domains[i]))
            return false;
    return true;
}

/* ---- Cluster nodes --------------------------------------------------------- */

/* The same rules as cluster/ applies to its members (cluster_set_members
 * refuses the whole list for one bad member), a little stricter where a
 * directory entry needs it: an ipc path must be absolute, a tcp port digits
 * only, a host something a peer can connect to. */

static bool
node_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DIR_NODE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static bool
node_endpoint_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > DIR_NODE_ENDPOINT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    if (strncmp(s, "ipc:///", 7) == 0)
        return n - 6 < 108 && s[7] != '\0'; /* sun_path holds 108 bytes with the NUL */
    if (strncmp(s, "tcp://", 6) != 0)
        return false;
    const char *host = s + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host || colon[1] == '\0' || strlen(colon + 1) > 5)
        return false;
    if (colon - host == 1 && host[0] == '*')
        return false; /* a bind address, not one to connect to */
    for (const char *q = host; q < colon; q++)
        if (*q == '/')
            return false;
    if (host[0] == '[' && colon[-1] != ']')
        return false;
    unsigned long port = 0;
    for (const char *q = colon + 1; *q; q++) {
        if (!isdigit((unsigned char)*q))
            return false;
        port = port * 10 + (unsigned long)(*q - '0');
    }
    return port >= 1 && port <= 65535;
}

/* 40 characters of Z85 (ZeroMQ RFC 32) that decode to 32 bytes: every group of
 * five must stay below 2^32, as zmq_z85_decode checks. */
static bool
node_key_ok(const char *s)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(s) != DIR_NODE_KEY_LEN)
        return false;
    for (size_t g = 0; g < DIR_NODE_KEY_LEN; g += 5) {
        uint64_t v = 0;
        for (size_t i = g; i < g + 5; i++) {
            const char *d = strchr(z85, s[i]);
            if (!d || s[i] == '\0')
                return false;
            v = v * 85 + (uint64_t)(d - z85);
        }
        if (v > 0xffffffffu)
            return false;
    }
    return true;
}

int
dir_node_check(const struct dir_node *n, const char **why)
{
    if (!n->name || !node_name_ok(n->name)) {
        *why = "xmppNodeName is not 1 to 63 of A-Z a-z 0-9 . _ -";
        return PAL_EMALFORMED;
    }
    if (!n->endpoint || !node_endpoint_ok(n->endpoint)) {
        *why = "xmppNodeEndpoint is not tcp://host:port or ipc:///absolute/path";
        return PAL_EMALFORMED;
    }
    if (!n->curve_public || !node_key_ok(n->curve_public)) {
        *why = "xmppCurvePublicKey is not a CURVE key in Z85 (40 characters)";
        return PAL_EMALFORMED;
    }
    if (n->site && strlen(n->site) > DIR_NODE_SITE_MAX) {
        *why = "xmppSite is longer than 63 bytes";
        return PAL_EMALFORMED;
    }
    return PAL_OK;
}

/* First value of name as a string; NULL when absent or holding a NUL byte. */
static char *
attr_text(const struct dir_entry *e, const char *name)
{
    const struct dir_attr *a = dir_entry_attr(e, name);
    if (!a || a->n == 0 || memchr(a->v[0].p, '\0', a->v[0].len))
        return NULL;
    return xmemdup(a->v[0].p, a->v[0].len);
}

int
dir_map_node(const struct dir_entry *e, struct dir_node *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->name = attr_text(e, "xmppNodeName");
    out->endpoint = attr_text(e, "xmppNodeEndpoint");
    out->curve_public = attr_text(e, "xmppCurvePublicKey");
    const struct dir_attr *site = dir_entry_attr(e, "xmppSite");
    if (site && site->n > 0 && site->v[0].len > 0) {
        out->site = attr_text(e, "xmppSite");
        if (!out->site) {
            dir_node_clear(out);
            *why = "xmppSite holds a NUL byte";
            return PAL_EMALFORMED;
        }
    }
    int rc = dir_node_check(out, why);
    if (rc != PAL_OK)
        dir_node_clear(out);
    return rc;
}

void
dir_node_clear(struct dir_node *n)
{
    free(n->name);
    free(n->endpoint);
    free(n->curve_public);
    free(n->site);
    memset(n, 0, sizeof *n);
}

void
dir_node_copy(struct dir_node *dst, const struct dir_node *src)
{
    dst->name = src->name ? xstrdup(src->name) : NULL;
    dst->endpoint = src->endpoint ? xstrdup(src->endpoint) : NULL;
    dst->curve_public = src->curve_public ? xstrdup(src->curve_public) : NULL;
    dst->site = src->site ? xstrdup(src->site) : NULL;
}

bool
dir_node_equal(const struct dir_node *a, const struct dir_node *b)
{
    return str_eq(a->name, b->name) && str_eq(a->endpoint, b->endpoint) &&
           str_eq(a->curve_public, b->curve_public) && str_eq(a->site, b->site);
}

void
dir_nodes_free(struct dir_node *nodes, size_t n)
{
    if (!nodes)
        return;
    for (size_t i = 0; i < n; i++)
        dir_node_clear(&nodes[i]);
    free(nodes);
}

void
dir_roster_item_clear(struct dir_roster_item *it)
{
    free(it->jid);
    free(it->name);
    for (size_t i = 0; i < it->n_groups; i++)
        free(it->groups[i]);
    free(it->groups);
    memset(it, 0, sizeof *it);
}

void
dir_roster_item_copy(struct dir_roster_item *dst, const struct dir_roster_item *src)
{
    dst->jid = src->jid ? xstrdup(src->jid) : NULL;
    dst->name = src->name ? xstrdup(src->name) : NULL;
    dst->sub = src->sub;
    dst->ask_out = src->ask_out;
    dst->ask_in = src->ask_in;
    dst->n_groups = src->n_groups;
    dst->groups = NULL;
    if (src->n_groups > 0) {
        dst->groups = xcalloc(src->n_groups, sizeof *dst->groups);
        for (size_t i = 0; i < src->n_groups; i++)
            dst->groups[i] = xstrdup(src->groups[i]);
    }
}

void
dir_roster_free(struct dir_roster_item *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        dir_roster_item_clear(&items[i]);
    free(items);
}

void
dir_offline_clear(struct dir_offline *m)
{
    free(m->id);
    free(m->stanza);
    free(m->label);
    memset(m, 0, sizeof *m);
}

void
dir_offline_copy(struct dir_offline *dst, const struct dir_offline *src)
{
    dst->id = xstrdup(src->id);
    dst->stanza = xmemdup(src->stanza, src->len);
    dst->len = src->len;
    dst->label = src->label ? xmemdup(src->label, src->label_len) : NULL;
    dst->label_len = src->label ? src->label_len : 0;
}

void
dir_offline_free(struct dir_offline *msgs, size_t n)
{
    if (!msgs)
        return;
    for (size_t i = 0; i < n; i++)
        dir_offline_clear(&msgs[i]);
    free(msgs);
}

/* ---- Struct -> attribute list -------------------------------------------- */

struct attrs_builder {
    struct arena *a;
    struct dir_attr *attrs;
    size_t n;
};

static void
add_vals(struct attrs_builder *b, const char *name, const struct dir_val *v, size_t n)
{
    struct dir_attr *at = &b->attrs[b->n++];
    struct dir_val *vv = n ? arena_alloc(b->a, n * sizeof *vv) : NULL;
    for (size_t i = 0; i < n; i++) {
        char *p = arena_alloc(b->a, v[i].len + 1);
        memcpy(p, v[i].p, v[i].len);
        p[v[i].len] = '\0';
        vv[i] = (struct dir_val){p, v[i].len};
    }
    *at = (struct dir_attr){name, n, vv};
}

static void
add_str(struct attrs_builder *b, const char *name, const char *s)
{
    struct dir_val v = {s, s ? strlen(s) : 0};
    add_vals(b, name, &v, s ? 1 : 0);
}

size_t
dir_map_roster_attrs(const struct dir_roster_item *it, struct arena *a, struct dir_attr **out)
{
    struct attrs_builder b = {a, arena_alloc(a, 7 * sizeof(struct dir_attr)), 0};
    add_str(&b, "objectClass", "xmppRosterItem");
    add_str(&b, "xmppContactJID", it->jid);
    add_str(&b, "xmppRosterName", it->name && it->name[0] ? it->name : NULL);
    add_str(&b, "xmppSubscription", dir_sub_str(it->sub));
    add_str(&b, "xmppAsk", it->ask_out ? "TRUE" : NULL);
    add_str(&b, "xmppAskIn", it->ask_in ? "TRUE" : NULL);
    struct dir_val *g = it->n_groups ? arena_alloc(a, it->n_groups * sizeof *g) : NULL;
    size_t ng = 0;
    for (size_t i = 0; i < it->n_groups; i++) {
        bool dup = false;
        /* LDAP refuses duplicate values (caseIgnoreMatch): keep the first. */
        for (size_t k = 0; k < ng && !dup; k++)
            dup = strlen(it->groups[i]) == g[k].len && strcasecmp(g[k].p, it->groups[i]) == 0;
        if (!dup && it->groups[i][0])
            g[ng++] = (struct dir_val){it->groups[i], strlen(it->groups[i])};
    }
    add_vals(&b, "xmppRosterGroup", g, ng);
    *out = b.attrs;
    return b.n;
}

size_t
dir_map_offline_attrs(const char *id, const char *stanza, size_t len, const unsigned char *label,
                      size_t label_len, int64_t ts_ms, struct arena *a, struct dir_attr **out)
{
    struct attrs_builder b = {a, arena_alloc(a, 5 * sizeof(struct dir_attr)), 0};
    char ts[32];
    dir_gentime_format(ts_ms, ts, sizeof ts);
    add_str(&b, "objectClass", "xmppOfflineMessage");
    add_str(&b, "xmppOfflineId", id);
    struct dir_val v = {stanza, len};
    add_vals(&b, "xmppStanza", &v, 1);
    add_str(&b, "xmppTimestamp", ts);
    v = (struct dir_val){(const char *)label, label_len};
    add_vals(&b, "xmppSecurityLabel", &v, label && label_len ? 1 : 0);
    *out = b.attrs;
    return b.n;
}

/* ---- Rooms and groups ------------------------------------------------------ */

const char *const dir_affil_attrs[DIR_AFFIL_N] = {
    [DIR_AFFIL_OWNER] = "owner",
    [DIR_AFFIL_ADMIN] = "xmppRoomAdmin",
    [DIR_AFFIL_MEMBER] = "member",
    [DIR_AFFIL_OUTCAST] = "xmppRoomOutcast",
};

int
dir_room_config_check(const char *config, size_t len, const char **why)
{
    if (memchr(config, '\0', len)) {
        *why = "xmppRoomConfig holds a NUL byte";
        return PAL_EMALFORMED;
    }
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(config + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - config) : len;
        size_t n = end - i;
        if (n > 0 && config[end - 1] == '\r')
            n--;
        const char *eq = n ? memchr(config + i, '=', n) : NULL;
        if (n > 0 && (!eq || eq == config + i)) {
            *why = "xmppRoomConfig has a line that is not var=value";
            return PAL_EMALFORMED;
        }
        i = end + 1;
    }
    return PAL_OK;
}

/* The values of attribute name as strings (empty ones dropped unless
 * keep_empty): PAL_OK, or PAL_EMALFORMED when one holds a NUL byte. */
static int
attr_strv(const struct dir_entry *e, const char *name, bool keep_empty, char ***out, size_t *n)
{
    const struct dir_attr *a = dir_entry_attr(e, name);
    *out = NULL;
    *n = 0;
    if (!a || a->n == 0)
        return PAL_OK;
    for (size_t i = 0; i < a->n; i++)
        if (memchr(a->v[i].p, '\0', a->v[i].len))
            return PAL_EMALFORMED;
    *out = xcalloc(a->n, sizeof **out);
    for (size_t i = 0; i < a->n; i++)
        if (keep_empty || a->v[i].len > 0)
            (*out)[(*n)++] = xmemdup(a->v[i].p, a->v[i].len);
    return PAL_OK;
}

static char **
strv_dup(char *const *v, size_t n)
{
    if (n == 0)
        return NULL;
    char **out = xcalloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

void
dir_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int
dir_map_room(const struct dir_entry *e, struct dir_room_data *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->jid = attr_jid(e, "xmppRoomJID", true);
    if (!out->jid) {
        *why = "no valid bare JID with a local part in xmppRoomJID";
        goto bad;
    }
    if (attr_strv(e, "cn", false, &out->cn, &out->n_cn) != PAL_OK) {
        *why = "cn holds a NUL byte";
        goto bad;
    }
    char **v = NULL;
    size_t n = 0;
    if (attr_strv(e, "description", true, &v, &n) != PAL_OK) {
        *why = "description holds a NUL byte";
        goto bad;
    }
    if (n > 0)
        out->description = xstrdup(v[0]);
    dir_strv_free(v, n);
    const struct dir_attr *a = dir_entry_attr(e, "xmppRoomConfig");
    if (a && a->n > 0) {
        if (dir_room_config_check(a->v[0].p, a->v[0].len, why) != PAL_OK)
            goto bad;
        out->config = xmemdup(a->v[0].p, a->v[0].len);
    }
    a = dir_entry_attr(e, "xmppClearance");
    if (a && a->n > 0) {
        out->clearance = xcalloc(a->n, sizeof *out->clearance);
        for (size_t i = 0; i < a->n; i++) {
            out->clearance[i].der = xmemdup(a->v[i].p, a->v[i].len);
            out->clearance[i].len = a->v[i].len;
        }
        out->n_clearance = a->n;
    }
    out->default_label = attr_bin(e, "xmppDefaultLabel", &out->default_label_len);
    for (int k = 0; k < DIR_AFFIL_N; k++) {
        if (attr_strv(e, dir_affil_attrs[k], false, &out->aff[k], &out->n_aff[k]) != PAL_OK) {
            *why = "an affiliation value (owner, xmppRoomAdmin, member, xmppRoomOutcast) holds "
                   "a NUL byte";
            goto bad;
        }
    }
    out->dn = xstrdup(e->dn);
    return PAL_OK;
bad:
    dir_room_data_clear(out);
    return PAL_EMALFORMED;
}

void
dir_room_data_clear(struct dir_room_data *d)
{
    free(d->dn);
    free(d->jid);
    dir_strv_free(d->cn, d->n_cn);
    free(d->description);
    if (d->config) {
        OPENSSL_cleanse(d->config, strlen(d->config)); /* may hold the room secret */
        free(d->config);
    }
    for (size_t i = 0; i < d->n_clearance; i++)
        free(d->clearance[i].der);
    free(d->clearance);
    free(d->default_label);
    for (int k = 0; k < DIR_AFFIL_N; k++)
        dir_strv_free(d->aff[k], d->n_aff[k]);
    memset(d, 0, sizeof *d);
}

void
dir_room_data_copy(struct dir_room_data *dst, const struct dir_room_data *src)
{
    memset(dst, 0, sizeof *dst);
    dst->dn = src->dn ? xstrdup(src->dn) : NULL;
    dst->jid = src->jid ? xstrdup(src->jid) : NULL;
    dst->cn = strv_dup(src->cn, src->n_cn);
    dst->n_cn = src->n_cn;
    dst->description = src->description ? xstrdup(src->description) : NULL;
    dst->config = src->config ? xstrdup(src->config) : NULL;
    if (src->n_clearance) {
        dst->clearance = xcalloc(src->n_clearance, sizeof *dst->clearance);
        for (size_t i = 0; i < src->n_clearance; i++) {
            dst->clearance[i].der = xmemdup(src->clearance[i].der, src->clearance[i].len);
            dst->clearance[i].len = src->clearance[i].len;
        }
        dst->n_clearance = src->n_clearance;
    }
    if (src->default_label) {
        dst->default_label = xmemdup(src->default_label, src->default_label_len);
        dst->default_label_len = src->default_label_len;
    }
    for (int k = 0; k < DIR_AFFIL_N; k++) {
        dst->aff[k] = strv_dup(src->aff[k], src->n_aff[k]);
        dst->n_aff[k] = src->n_aff[k];
    }
}

char *
dir_room_data_name(const struct dir_room_data *d)
{
    if (d->n_cn == 0)
        return NULL;
    char **rdn = NULL;
    size_t n_rdn = d->dn ? dir_dn_rdn_values(d->dn, "cn", &rdn) : 0;
    const char *name = d->cn[0];
    for (size_t i = 0; i < d->n_cn; i++) {
        bool in_rdn = false;
        for (size_t k = 0; k < n_rdn && !in_rdn; k++)
            in_rdn = strcasecmp(d->cn[i], rdn[k]) == 0;
        if (!in_rdn) {
            name = d->cn[i];
            break;
        }
    }
    dir_strv_free(rdn, n_rdn);
    return xstrdup(name);
}

static void
add_strv(struct attrs_builder *b, const char *name, char *const *v, size_t n)
{
    struct dir_val *vals = n ? arena_alloc(b->a, n * sizeof *vals) : NULL;
    for (size_t i = 0; i < n; i++)
        vals[i] = (struct dir_val){v[i], strlen(v[i])};
    add_vals(b, name, vals, n);
}

size_t
dir_map_room_attrs(const struct dir_room_data *d, struct arena *a, struct dir_attr **out)
{
    struct attrs_builder b = {a, arena_alloc(a, (5 + DIR_AFFIL_N) * sizeof(struct dir_attr)), 0};
    add_str(&b, "objectClass", "xmppRoom");
    add_str(&b, "xmppRoomJID", d->jid);
    add_strv(&b, "cn", d->cn, d->n_cn);
    add_str(&b, "description", d->description && d->description[0] ? d->description : NULL);
    add_str(&b, "xmppRoomConfig", d->config && d->config[0] ? d->config : NULL);
    for (int k = 0; k < DIR_AFFIL_N; k++)
        add_strv(&b, dir_affil_attrs[k], d->aff[k], d->n_aff[k]);
    *out = b.attrs;
    return b.n;
}

static void
affils_free(struct dir_affil *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].jid);
    free(v);
}

void
dir_room_unref(struct dir_room *r)
{
    if (!r || --r->refs > 0)
        return;
    free(r->dn);
    free(r->jid);
    free(r->name);
    free(r->description);
    /* may hold muc#roomconfig_roomsecret */
    if (r->config) {
        OPENSSL_cleanse(r->config, strlen(r->config));
        free(r->config);
    }
    for (size_t i = 0; i < r->n_clearance; i++)
        free(r->clearance[i].der);
    free(r->clearance);
    free(r->default_label);
    affils_free(r->owners, r->n_owners);
    affils_free(r->admins, r->n_admins);
    affils_free(r->members, r->n_members);
    affils_free(r->outcasts, r->n_outcasts);
    free(r);
}

static bool
affils_equal(const struct dir_affil *a, size_t na, const struct dir_affil *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].jid, b[i].jid) != 0 || a[i].via_group != b[i].via_group)
            return false;
    return true;
}

bool
dir_room_equal(const struct dir_room *a, const struct dir_room *b)
{
    if (!str_eq(a->dn, b->dn) || !str_eq(a->jid, b->jid) || !str_eq(a->name, b->name) ||
        !str_eq(a->description, b->description) || !str_eq(a->config, b->config) ||
        a->n_clearance != b->n_clearance ||
        !bin_eq(a->default_label, a->default_label_len, b->default_label, b->default_label_len) ||
        !affils_equal(a->owners, a->n_owners, b->owners, b->n_owners) ||
        !affils_equal(a->admins, a->n_admins, b->admins, b->n_admins) ||
        !affils_equal(a->members, a->n_members, b->members, b->n_members) ||
        !affils_equal(a->outcasts, a->n_outcasts, b->outcasts, b->n_outcasts))
        return false;
    for (size_t i = 0; i < a->n_clearance; i++)
        if (!bin_eq(a->clearance[i].der, a->clearance[i].len, b->clearance[i].der,
                    b->clearance[i].len))
            return false;
    return true;
}

int
dir_map_group(const struct dir_entry *e, char ***members, size_t *n, const char **why)
{
    if (attr_strv(e, "member", false, members, n) != PAL_OK) {
        *why = "a member value holds a NUL byte";
        return PAL_EMALFORMED;
    }
    return PAL_OK;
}

/* ---- Distinguished names -------------------------------------------------- */

static bool
rdn_special(char c)
{
    return c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
           c == '=';
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Appends value v (raw bytes) escaped per RFC 4514 to out. */
static void
escape_value(struct buf *out, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\0')
            buf_append_str(out, "\\00");
        else if (rdn_special((char)c) || (i == 0 && (c == '#' || c == ' ')) ||
                 (i == n - 1 && c == ' '))
            buf_printf(out, "\\%c", c);
        else
            buf_append(out, &v[i], 1);
    }
}

char *
dir_rdn_escape(const char *value)
{
    struct buf b;
    buf_init(&b);
    escape_value(&b, value, strlen(value));
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

/* Reads an attribute type and its '=' at p, skipping the spaces around
 * both: the type is *t, *tlen bytes; returns where the value starts, NULL
 * when there is no type or no '='. */
static const char *
dn_type(const char *p, const char **t, size_t *tlen)
{
    while (*p == ' ')
        p++;
    *t = p;
    while (*p && *p != '=' && *p != ' ' && *p != ',' && *p != '+' && *p != ';')
        p++;
    *tlen = (size_t)(p - *t);
    while (*p == ' ')
        p++;
    if (*tlen == 0 || *p != '=')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

/* Reads one attribute value of a DN at p (past its '=' and leading spaces)
 * into val, unescaped; *keep is its length without unescaped trailing
 * spaces. fold: lower-cases it and counts runs of spaces as one (caseIgnore
 * matching). Returns where the value ends (',', '+', ';' or the end); NULL for
 * a value we do not accept (a dangling '\' or a quoted RFC 1779 value). */
static const char *
dn_value(const char *p, struct buf *val, bool fold, size_t *keep)
{
    bool last_space = false;
    *keep = 0;
    buf_reset(val);
    while (*p && *p != ',' && *p != '+' && *p != ';') {
        char c;
        bool escaped = false;
        if (*p == '\\') {
            int h1 = hexval(p[1]);
            int h2 = h1 >= 0 ? hexval(p[2]) : -1;
            if (h1 >= 0 && h2 >= 0) {
                c = (char)(h1 * 16 + h2);
                p += 3;
            } else if (p[1] != '\0') {
                c = p[1];
                p += 2;
            } else {
                return NULL;
            }
            escaped = true;
        } else if (*p == '"') {
            return NULL;
        } else {
            c = *p++;
        }
        if (fold) {
            if (c == ' ' && last_space && !escaped)
                continue;
            last_space = c == ' ';
            c = (char)tolower((unsigned char)c);
        }
        buf_append(val, &c, 1);
        if (c != ' ' || escaped)
            *keep = buf_used(val);
    }
    return p;
}

char *
dir_dn_normalize(const char *dn)
{
    struct buf out;
    struct buf val;
    const char *p = dn;
    bool ok = false;

    buf_init(&out);
    buf_init(&val);
    while (*p == ' ')
        p++;
    if (*p == '\0')
        goto done; /* the root DSE is not an entry we ever name */
    for (;;) {
        const char *t;
        size_t tlen;
        p = dn_type(p, &t, &tlen);
        if (!p)
            goto done;
        for (size_t i = 0; i < tlen; i++) {
            char c = (char)tolower((unsigned char)t[i]);
            buf_append(&out, &c, 1);
        }
        buf_append(&out, "=", 1);
        /* attribute value */
        while (*p == ' ')
            p++;
        buf_reset(&val);
        if (*p == '#') {
            /* BER hex form: kept as is, lowercased */
            for (; *p && *p != ',' && *p != '+' && *p != ';' && *p != ' '; p++) {
                char c = (char)tolower((unsigned char)*p);
                buf_append(&out, &c, 1);
            }
            while (*p == ' ')
                p++;
        } else {
            size_t keep = 0; /* length of val without unescaped trailing spaces */
            p = dn_value(p, &val, true, &keep);
            if (!p)
                goto done;
            escape_value(&out, buf_head(&val), keep);
        }
        if (*p == '\0')
            break;
        buf_append(&out, *p == '+' ? "+" : ",", 1);
        p++;
    }
    ok = true;
done:
    buf_free(&val);
    char *s = ok ? buf_strdup(&out) : NULL;
    buf_free(&out);
    return s;
}

/* Position of the first unescaped ',' at or after i in a normalised DN. */
static const char *
next_sep(const char *p)
{
    for (; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == ',')
            return p;
    }
    return NULL;
}

const char *
dir_dn_parent(const char *ndn)
{
    const char *c = next_sep(ndn);
    return c ? c + 1 : NULL;
}

bool
dir_dn_is_below(const char *ndn, const char *nbase)
{
    for (const char *c = next_sep(ndn); c; c = next_sep(c + 1))
        if (strcmp(c + 1, nbase) == 0)
            return true;
    return false;
}

size_t
dir_dn_rdn_values(const char *dn, const char *type, char ***out)
{
    size_t n = 0;
    size_t cap = 0;
    struct buf val;
    const char *p = dn;
    *out = NULL;
    buf_init(&val);
    for (;;) {
        const char *t;
        size_t tlen;
        p = dn_type(p, &t, &tlen);
        if (!p)
            goto bad;
        size_t keep = 0; /* without unescaped trailing spaces */
        p = dn_value(p, &val, false, &keep);
        if (!p)
            goto bad;
        if (tlen == strlen(type) && strncasecmp(t, type, tlen) == 0 &&
            !memchr(buf_head(&val), '\0', keep)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 2;
                *out = xrealloc(*out, cap * sizeof **out);
            }
            (*out)[n++] = xmemdup(buf_head(&val), keep);
        }
        if (*p != '+')
            break;
        p++;
    }
    buf_free(&val);
    return n;
bad:
    buf_free(&val);
    dir_strv_free(*out, n);
    *out = NULL;
    return 0;
}
