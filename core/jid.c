/* SPDX-License-Identifier: Apache-2.0 */
/* jid.c - JIDs per RFC 7622: split at the first '/' (resource: everything
 * after it, '@' and '/' included), then at the first '@' before it; each part
 * prepared with libidn's stringprep profiles (nodeprep, nameprep,
 * resourceprep) and 1..1023 bytes long before and after preparation. Domains
 * lose one trailing dot; IPv4 and [IPv6] literals are kept as written. A
 * struct jid and all its strings are one allocation. */
#include "jid.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

#include "err.h"
#include "mem.h"

#define JID_PART_MAX 1023
#define PREP_BUF_START 4096
#define PREP_BUF_MAX 65536

enum part { PART_LOCAL, PART_DOMAIN, PART_RESOURCE };

/* Runs a stringprep profile on s[0..n); returns a malloc'ed result or NULL. */
/* Printable ASCII (0x21-0x7E) is what almost every JID part is, and there the
 * three stringprep profiles are simple: nodeprep and nameprep fold A-Z and
 * nodeprep prohibits " & ' / : < > @; resourceprep changes nothing. Doing it
 * here skips libidn's NFKC and UCS-4 round trips, most of a stanza's cost.
 * NULL means "not plain ASCII": libidn decides. test_jid compares the two. */
/* Writes the prepared form of s[0..n) into out (n + 1 bytes) and returns
 * true, or returns false when s is not printable ASCII that the profile
 * leaves as it is (apart from case). */
static bool
prep_ascii_into(char *out, const char *s, size_t n, enum part which)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
        if (which == PART_LOCAL && (c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' ||
                                    c == '<' || c == '>' || c == '@'))
            return false;
        if (which != PART_RESOURCE && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        out[i] = (char)c;
    }
    out[n] = '\0';
    return true;
}

static char *
prep_ascii(const char *s, size_t n, enum part which)
{
    char *out = xmalloc(n + 1);
    if (!prep_ascii_into(out, s, n, which)) {
        free(out);
        return NULL;
    }
    return out;
}

static char *
prep(const char *s, size_t n, enum part which)
{
    size_t size;
    char *buf;
    int rc;

    if (n == 0 || n > JID_PART_MAX || memchr(s, '\0', n) != NULL)
        return NULL;
    if ((buf = prep_ascii(s, n, which)) != NULL)
        return buf;
    for (size = PREP_BUF_START; size <= PREP_BUF_MAX; size *= 2) {
        buf = xmalloc(size);
        memcpy(buf, s, n);
        buf[n] = '\0';
        switch (which) {
        case PART_LOCAL:
            rc = stringprep_xmpp_nodeprep(buf, size);
            break;
        case PART_DOMAIN:
            rc = stringprep_nameprep(buf, size);
            break;
        default:
            rc = stringprep_xmpp_resourceprep(buf, size);
            break;
        }
        if (rc == STRINGPREP_OK) {
            n = strlen(buf);
            if (n == 0 || n > JID_PART_MAX) {
                free(buf);
                return NULL;
            }
            return buf;
        }
        free(buf);
        if (rc != STRINGPREP_TOO_SMALL_BUFFER)
            return NULL;
    }
    return NULL;
}

static bool
is_ip_literal(const char *s, size_t n)
{
    char tmp[64];
    struct in6_addr a6;
    struct in_addr a4;

    if (n < 2 || n >= sizeof(tmp))
        return false;
    if (s[0] == '[' && s[n - 1] == ']') {
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        return inet_pton(AF_INET6, tmp, &a6) == 1;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET, tmp, &a4) == 1;
}

/* After nameprep: labels non-empty; ASCII limited to letters, digits, '-'
 * and '_' (nameprep lets spaces, '@', '/' and the like through). */
static bool
is_valid_domain(const char *d)
{
    const unsigned char *p;
    size_t label = 0;

    for (p = (const unsigned char *)d; *p != '\0'; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        label++;
        if (*p >= 0x80)
            continue;
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
            continue;
        return false;
    }
    return label > 0;
}

/* Prepares a domain part s[0..n); malloc'ed result or NULL. */
static char *
prep_domain(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    char *tmp;
    char *out;
    size_t i;
    size_t o = 0;

    if (n == 0 || n > JID_PART_MAX + 1)
        return NULL;
    /* IDNA label separators (U+3002, U+FF0E, U+FF61) become '.' first. */
    tmp = xmalloc(n + 1);
    for (i = 0; i < n; i++) {
        if (i + 2 < n && ((u[i] == 0xe3 && u[i + 1] == 0x80 && u[i + 2] == 0x82) ||
                          (u[i] == 0xef && u[i + 1] == 0xbc && u[i + 2] == 0x8e) ||
                          (u[i] == 0xef && u[i + 1] == 0xbd && u[i + 2] == 0xa1))) {
            tmp[o++] = '.';
            i += 2;
        } else {
            tmp[o++] = s[i];
        }
    }
    if (o > 0 && tmp[o - 1] == '.')
        o--; /* the fully qualified form names the same domain */
    tmp[o] = '\0';
    if (o == 0 || o > JID_PART_MAX) {
        free(tmp);
        return NULL;
    }
    if (is_ip_literal(tmp, o))
        return tmp;
    if (tmp[0] == '[') {
        free(tmp);
        return NULL;
    }
    for (i = 0; i < o; i++)
        if (tmp[i] >= 'A' && tmp[i] <= 'Z')
            tmp[i] = (char)(tmp[i] - 'A' + 'a');
    out = prep(tmp, o, PART_DOMAIN);
    free(tmp);
    if (out != NULL && !is_valid_domain(out)) {
        free(out);
        return NULL;
    }
    return out;
}

/* Assembles a jid from prepared parts (local and resource may be NULL). */
static struct jid *
build(const char *local, const char *domain, const char *resource)
{
    size_t ll = local != NULL ? strlen(local) : 0;
    size_t dl = strlen(domain);
    size_t rl = resource != NULL ? strlen(resource) : 0;
    size_t bl = (local != NULL ? ll + 1 : 0) + dl;
    size_t fl = bl + (resource != NULL ? rl + 1 : 0);
    struct jid *j;
    char *p;

    j = xmalloc(sizeof(*j) + (ll + 1) + (dl + 1) + (rl + 1) + (bl + 1) + (fl + 1));
    p = (char *)(j + 1);

    j->local = NULL;
    if (local != NULL) {
        memcpy(p, local, ll + 1);
        j->local = p;
        p += ll + 1;
    }
    memcpy(p, domain, dl + 1);
    j->domain = p;
    p += dl + 1;
    j->resource = NULL;
    if (resource != NULL) {
        memcpy(p, resource, rl + 1);
        j->resource = p;
        p += rl + 1;
    }
    j->bare = p;
    if (local != NULL) {
        memcpy(p, local, ll);
        p[ll] = '@';
        memcpy(p + ll + 1, domain, dl + 1);
    } else {
        memcpy(p, domain, dl + 1);
    }
    p += bl + 1;
    j->full = p;
    memcpy(p, j->bare, bl);
    if (resource != NULL) {
        p[bl] = '/';
        memcpy(p + bl + 1, resource, rl + 1);
    } else {
        p[bl] = '\0';
    }
    return j;
}

static bool is_ip_literal(const char *s, size_t n);
static bool is_valid_domain(const char *d);

/* The same as make() below for the JIDs almost every stanza carries, whose
 * parts are all printable ASCII: prepared on the stack, so the only malloc
 * is the JID's own. False means "not sure": make() then decides, the long
 * way (it gives the same answer for everything accepted here). */
static bool
make_ascii(const char *local, size_t local_n, const char *domain, size_t domain_n,
           const char *res, size_t res_n, struct jid **out)
{
    char l[JID_PART_MAX + 1];
    char d[JID_PART_MAX + 2];
    char r[JID_PART_MAX + 1];

    if (local != NULL && (local_n == 0 || local_n > JID_PART_MAX ||
                          !prep_ascii_into(l, local, local_n, PART_LOCAL)))
        return false;
    if (res != NULL && (res_n == 0 || res_n > JID_PART_MAX ||
                        !prep_ascii_into(r, res, res_n, PART_RESOURCE)))
        return false;
    /* prep_domain(): one trailing dot goes; IP literals stay as written. */
    if (domain_n == 0 || domain_n > JID_PART_MAX + 1)
        return false;
    if (domain[domain_n - 1] == '.')
        domain_n--;
    if (domain_n == 0 || domain_n > JID_PART_MAX || domain[0] == '[' ||
        is_ip_literal(domain, domain_n) || !prep_ascii_into(d, domain, domain_n, PART_DOMAIN) ||
        !is_valid_domain(d))
        return false;
    *out = build(local != NULL ? l : NULL, d, res != NULL ? r : NULL);
    return true;
}

/* Prepares raw parts (lengths given; local_n/res_n ignored when NULL). */
static int
make(const char *local, size_t local_n, const char *domain, size_t domain_n, const char *res,
     size_t res_n, struct jid **out)
{
    char *l = NULL;
    char *d = NULL;
    char *r = NULL;
    int rc = PAL_EMALFORMED;

    *out = NULL;
    if (make_ascii(local, local_n, domain, domain_n, res, res_n, out))
        return PAL_OK;
    if (local != NULL && (l = prep(local, local_n, PART_LOCAL)) == NULL)
        goto out;
    if ((d = prep_domain(domain, domain_n)) == NULL)
        goto out;
    if (res != NULL && (r = prep(res, res_n, PART_RESOURCE)) == NULL)
        goto out;
    *out = build(l, d, r);
    rc = PAL_OK;
out:
    free(l);
    free(d);
    free(r);
    return rc;
}

int
jid_parse(const char *s, struct jid **out)
{
    const char *slash;
    const char *at;
    const char *dom;
    size_t head;

    *out = NULL;
    if (s == NULL)
        return PAL_EMALFORMED;
    slash = strchr(s, '/');
    head = slash != NULL ? (size_t)(slash - s) : strlen(s);
    at = memchr(s, '@', head);
    dom = at != NULL ? at + 1 : s;
    return make(at != NULL ? s : NULL, at != NULL ? (size_t)(at - s) : 0, dom,
                (size_t)(s + head - dom), slash != NULL ? slash + 1 : NULL,
                slash != NULL ? strlen(slash + 1) : 0, out);
}

int
jid_make(const char *local, const char *domain, const char *resource, struct jid **out)
{
    *out = NULL;
    if (domain == NULL)
        return PAL_EMALFORMED;
    return make(local, local != NULL ? strlen(local) : 0, domain, strlen(domain), resource,
                resource != NULL ? strlen(resource) : 0, out);
}

struct jid *
jid_dup(const struct jid *j)
{
    return build(j->local, j->domain, j->resource);
}

void
jid_free(struct jid *j)
{
    free(j);
}

struct jid *
jid_to_bare(const struct jid *j)
{
    return build(j->local, j->domain, NULL);
}

bool
jid_equal(const struct jid *a, const struct jid *b)
{
    return strcmp(a->full, b->full) == 0;
}

bool
jid_bare_equal(const struct jid *a, const struct jid *b)
{
    return strcmp(a->bare, b->bare) == 0;
}

char *
jid_normalize(const char *s)
{
    struct jid *j;
    char *r;

    if (jid_parse(s, &j) != PAL_OK)
        return NULL;
    r = xstrdup(j->full);
    jid_free(j);
    return r;
}
