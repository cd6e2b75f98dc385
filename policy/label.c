/* SPDX-License-Identifier: Apache-2.0 */
/* label.c - the label model and its XML forms: our <label xmlns=
 * 'urn:palisade:label:0'>, <esssecuritylabel/> (base64 DER, ess.c), and the
 * XEP-0258 <securitylabel/> envelope the router reads from a client stanza and
 * writes, rebuilt, into every copy it delivers. A label is a plain value: its
 * policy is an OID string, so it never points into a policy set and outlives
 * reloads. */
#include "policy/policy_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/xml.h"

/* ---- shared helpers ---- */

bool
policy_oid_valid(const char *s)
{
    size_t len = strlen(s);
    if (len < 3 || len > POLICY_OID_MAX || s[0] < '0' || s[0] > '2' || s[1] != '.')
        return false;
    size_t arcs = 0;
    const char *p = s;
    while (*p != '\0') {
        const char *start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == start || (p - start > 1 && *start == '0'))
            return false;
        arcs++;
        if (*p == '.') {
            p++;
            if (*p == '\0')
                return false;
        } else if (*p != '\0') {
            return false;
        }
    }
    /* X.660: under 0 and 1 the second arc is at most 39. */
    if (s[0] != '2') {
        const char *second = s + 2;
        size_t n = strspn(second, "0123456789");
        if (n > 2 || (n == 2 && (second[0] > '3')))
            return false;
    }
    return arcs >= 2;
}

bool
policy_tag_is_bitmap(enum policy_tag_type t)
{
    return t == POLICY_TAG_RESTRICTIVE || t == POLICY_TAG_PERMISSIVE ||
           t == POLICY_TAG_INFORMATIVE;
}

bool
policy_tag_is_restrictive(enum policy_tag_type t)
{
    return t == POLICY_TAG_RESTRICTIVE || t == POLICY_TAG_ENUM_RESTRICTIVE;
}

bool
policy_tag_is_permissive(enum policy_tag_type t)
{
    return t == POLICY_TAG_PERMISSIVE || t == POLICY_TAG_ENUM_PERMISSIVE;
}

static const char *const tag_type_names[POLICY_TAG_TYPE_COUNT] = {
    [POLICY_TAG_RESTRICTIVE] = "restrictive",
    [POLICY_TAG_ENUM_RESTRICTIVE] = "enumerated-restrictive",
    [POLICY_TAG_PERMISSIVE] = "permissive",
    [POLICY_TAG_ENUM_PERMISSIVE] = "enumerated-permissive",
    [POLICY_TAG_INFORMATIVE] = "informative",
    [POLICY_TAG_INFORMATIVE_ENUM] = "informative-enumerated",
};

const char *
policy_tag_type_str(enum policy_tag_type t)
{
    if ((unsigned)t >= POLICY_TAG_TYPE_COUNT)
        return "unknown";
    return tag_type_names[t];
}

int
policy_tag_type_parse(const char *s, enum policy_tag_type *out)
{
    for (int t = 0; t < POLICY_TAG_TYPE_COUNT; t++) {
        if (strcmp(s, tag_type_names[t]) == 0) {
            *out = (enum policy_tag_type)t;
            return PAL_OK;
        }
    }
    return PAL_EINVAL;
}

void
policy_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void
class_bit_set(uint64_t *bits, int32_t lacv)
{
    bits[lacv / 64] |= (uint64_t)1 << (lacv % 64);
}

bool
class_bit_get(const uint64_t *bits, int32_t lacv)
{
    if (lacv < 0 || lacv > POLICY_MAX_CLASS)
        return false;
    return (bits[lacv / 64] >> (lacv % 64)) & 1;
}

/* ---- category sets ---- */

static int
pcat_cmp(const char *tagset, enum policy_tag_type type, uint32_t lacv, const struct pcat *b)
{
    int c = strcmp(tagset, b->tagset);
    if (c != 0)
        return c;
    if (type != b->type)
        return type < b->type ? -1 : 1;
    if (lacv != b->lacv)
        return lacv < b->lacv ? -1 : 1;
    return 0;
}

/* Index of the first element not less than the key; *found when equal. */
static size_t
catset_find(const struct catset *s, const char *tagset, enum policy_tag_type type,
            uint32_t lacv, bool *found)
{
    size_t lo = 0;
    size_t hi = s->n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = pcat_cmp(tagset, type, lacv, &s->v[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void
catset_init(struct catset *s)
{
    s->n = 0;
    s->cap = 0;
    s->v = NULL;
}

void
catset_free(struct catset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].tagset);
    free(s->v);
    catset_init(s);
}

void
catset_copy(struct catset *dst, const struct catset *src)
{
    catset_init(dst);
    if (src->n == 0)
        return;
    dst->v = xcalloc(src->n, sizeof(*dst->v));
    dst->cap = dst->n = src->n;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i] = src->v[i];
        dst->v[i].tagset = xstrdup(src->v[i].tagset);
    }
}

int
catset_add(struct catset *s, const char *tagset, enum policy_tag_type type, uint32_t lacv)
{
    if (tagset == NULL || !policy_oid_valid(tagset) || (unsigned)type >= POLICY_TAG_TYPE_COUNT)
        return PAL_EINVAL;
    if (policy_tag_is_bitmap(type) && lacv > POLICY_MAX_BIT_LACV)
        return PAL_ERANGE;
    bool found;
    size_t at = catset_find(s, tagset, type, lacv, &found);
    if (found)
        return PAL_OK;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
    s->v[at].tagset = xstrdup(tagset);
    s->v[at].type = type;
    s->v[at].lacv = lacv;
    s->n++;
    return PAL_OK;
}

bool
catset_has(const struct catset *s, const char *tagset, enum policy_tag_type type, uint32_t lacv)
{
    bool found;
    catset_find(s, tagset, type, lacv, &found);
    return found;
}

bool
catset_equal(const struct catset *a, const struct catset *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (pcat_cmp(a->v[i].tagset, a->v[i].type, a->v[i].lacv, &b->v[i]) != 0)
            return false;
    return true;
}

/* ---- the label model ---- */

struct policy_label *
policy_label_new(const char *policy_oid)
{
    if (policy_oid == NULL || !policy_oid_valid(policy_oid))
        return NULL;
    struct policy_label *l = xcalloc(1, sizeof(*l));
    l->policy = xstrdup(policy_oid);
    l->cls = -1;
    catset_init(&l->cats);
    return l;
}

void
policy_label_free(struct policy_label *l)
{
    if (l == NULL)
        return;
    free(l->policy);
    free(l->pmark);
    catset_free(&l->cats);
    free(l);
}

struct policy_label *
policy_label_dup(const struct policy_label *l)
{
    struct policy_label *d = xcalloc(1, sizeof(*d));
    d->policy = xstrdup(l->policy);
    d->has_class = l->has_class;
    d->cls = l->cls;
    d->pmark = l->pmark != NULL ? xstrdup(l->pmark) : NULL;
    d->pmark_utf8 = l->pmark_utf8;
    catset_copy(&d->cats, &l->cats);
    return d;
}

int
policy_label_set_class(struct policy_label *l, int32_t lacv)
{
    if (lacv < 0 || lacv > POLICY_MAX_CLASS)
        return PAL_ERANGE;
    l->has_class = true;
    l->cls = lacv;
    return PAL_OK;
}

int
policy_label_add_category(struct policy_label *l, const char *tagset_oid,
                          enum policy_tag_type type, uint32_t lacv)
{
    return catset_add(&l->cats, tagset_oid, type, lacv);
}

int
policy_label_set_privacy_mark(struct policy_label *l, const char *text, bool utf8)
{
    if (text != NULL &&
        (!policy_label_mark_ok(text) || (!utf8 && !policy_label_printable(text))))
        return PAL_EINVAL;
    free(l->pmark);
    l->pmark = text != NULL ? xstrdup(text) : NULL;
    l->pmark_utf8 = utf8;
    return PAL_OK;
}

const char *
policy_label_policy(const struct policy_label *l)
{
    return l->policy;
}

bool
policy_label_has_class(const struct policy_label *l)
{
    return l->has_class;
}

int32_t
policy_label_class(const struct policy_label *l)
{
    return l->has_class ? l->cls : -1;
}

size_t
policy_label_category_count(const struct policy_label *l)
{
    return l->cats.n;
}

bool
policy_label_category(const struct policy_label *l, size_t i, const char **tagset_oid,
                      enum policy_tag_type *type, uint32_t *lacv)
{
    if (i >= l->cats.n)
        return false;
    if (tagset_oid != NULL)
        *tagset_oid = l->cats.v[i].tagset;
    if (type != NULL)
        *type = l->cats.v[i].type;
    if (lacv != NULL)
        *lacv = l->cats.v[i].lacv;
    return true;
}

const char *
policy_label_privacy_mark(const struct policy_label *l)
{
    return l->pmark;
}

bool
policy_label_equal(const struct policy_label *a, const struct policy_label *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (strcmp(a->policy, b->policy) != 0 || a->has_class != b->has_class ||
        (a->has_class && a->cls != b->cls))
        return false;
    if ((a->pmark == NULL) != (b->pmark == NULL))
        return false;
    if (a->pmark != NULL && (strcmp(a->pmark, b->pmark) != 0 || a->pmark_utf8 != b->pmark_utf8))
        return false;
    return catset_equal(&a->cats, &b->cats);
}

/* ---- XML forms ---- */

static bool
ns_is(const struct xml_node *el, const char *ns)
{
    return el->ns != NULL && strcmp(el->ns, ns) == 0;
}

static bool
name_is(const struct xml_node *el, const char *name)
{
    return el->name != NULL && strcmp(el->name, name) == 0;
}

static bool
is_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* The text of el (all text children joined), NUL-terminated; caller frees.
 * NULL when el has element children. */
static char *
text_only(const struct xml_node *el, size_t *len)
{
    size_t n = 0;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (c->type != XML_TEXT)
            return NULL;
        n += c->text_len;
    }
    char *s = xmalloc(n + 1);
    size_t o = 0;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        memcpy(s + o, c->text, c->text_len);
        o += c->text_len;
    }
    s[o] = '\0';
    if (len != NULL)
        *len = o;
    return s;
}

/* Strict unsigned decimal: digits only, no sign, at most max. */
static int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s == '\0' || strlen(s) > 10)
        return PAL_EMALFORMED;
    uint64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return PAL_EMALFORMED;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return PAL_EMALFORMED;
    *out = v;
    return PAL_OK;
}

static int
xmllabel_parse(const struct xml_node *el, struct policy_label **out)
{
    const char *pol = xml_attr(el, "policy");
    const char *cls = xml_attr(el, "classification");
    struct policy_label *l = NULL;
    char *text = NULL;
    int rc = PAL_EMALFORMED;

    if (pol == NULL || (l = policy_label_new(pol)) == NULL)
        goto out;
    if (cls != NULL) {
        uint64_t v;
        if (parse_uint(cls, POLICY_MAX_CLASS, &v) != PAL_OK)
            goto out;
        policy_label_set_class(l, (int32_t)v);
    }
    bool have_mark = false;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (c->type == XML_TEXT) {
            if (!is_space(c->text, c->text_len))
                goto out;
            continue;
        }
        if (!ns_is(c, POLICY_NS_XMLLABEL))
            goto out;
        if (name_is(c, "category")) {
            const char *ts = xml_attr(c, "tagset");
            const char *ty = xml_attr(c, "type");
            enum policy_tag_type type;
            uint64_t lacv;
            if (ts == NULL || ty == NULL || policy_tag_type_parse(ty, &type) != PAL_OK ||
                parse_uint(xml_attr(c, "lacv"), UINT32_MAX, &lacv) != PAL_OK ||
                c->children != NULL)
                goto out;
            if (policy_label_add_category(l, ts, type, (uint32_t)lacv) != PAL_OK)
                goto out;
        } else if (name_is(c, "privacymark") && !have_mark) {
            const char *ty = xml_attr(c, "type");
            bool utf8;
            if (ty == NULL || strcmp(ty, "utf8") == 0)
                utf8 = true;
            else if (strcmp(ty, "printable") == 0)
                utf8 = false;
            else
                goto out;
            size_t n;
            text = text_only(c, &n);
            if (text == NULL || strlen(text) != n ||
                policy_label_set_privacy_mark(l, text, utf8) != PAL_OK)
                goto out;
            free(text);
            text = NULL;
            have_mark = true;
        } else {
            goto out;
        }
    }
    *out = l;
    l = NULL;
    rc = PAL_OK;
out:
    free(text);
    policy_label_free(l);
    return rc;
}

int
policy_label_from_xml(const struct xml_node *el, struct policy_label **out)
{
    *out = NULL;
    if (el == NULL || el->type != XML_ELEMENT)
        return PAL_EMALFORMED;
    if (ns_is(el, POLICY_NS_ESS) && name_is(el, "esssecuritylabel")) {
        size_t n;
        char *text = text_only(el, &n);
        if (text == NULL)
            return PAL_EMALFORMED;
        int rc = policy_label_from_base64(text, n, out);
        free(text);
        return rc;
    }
    if (ns_is(el, POLICY_NS_XMLLABEL) && name_is(el, "label"))
        return xmllabel_parse(el, out);
    return PAL_ENOENT;
}

static void
set_uint_attr(struct xml_tree *t, struct xml_node *el, const char *name, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    xml_set_attr(t, el, NULL, name, buf);
}

struct xml_node *
policy_label_to_xml(const struct policy_label *l, enum policy_xml_form form,
                    struct xml_tree *t, struct xml_node *parent)
{
    struct xml_node *el;
    if (form == POLICY_XML_ESS) {
        char *b64 = NULL;
        if (policy_label_to_base64(l, &b64) != PAL_OK)
            return NULL;
        el = xml_elem_new(t, parent, POLICY_NS_ESS, "esssecuritylabel");
        xml_add_text(t, el, b64, strlen(b64));
        free(b64);
        return el;
    }
    el = xml_elem_new(t, parent, POLICY_NS_XMLLABEL, "label");
    xml_set_attr(t, el, NULL, "policy", l->policy);
    if (l->has_class)
        set_uint_attr(t, el, "classification", (uint64_t)l->cls);
    for (size_t i = 0; i < l->cats.n; i++) {
        struct xml_node *c = xml_elem_new(t, el, POLICY_NS_XMLLABEL, "category");
        xml_set_attr(t, c, NULL, "tagset", l->cats.v[i].tagset);
        xml_set_attr(t, c, NULL, "type", policy_tag_type_str(l->cats.v[i].type));
        set_uint_attr(t, c, "lacv", l->cats.v[i].lacv);
    }
    if (l->pmark != NULL) {
        struct xml_node *m = xml_elem_new(t, el, POLICY_NS_XMLLABEL, "privacymark");
        xml_set_attr(t, m, NULL, "type", l->pmark_utf8 ? "utf8" : "printable");
        xml_add_text(t, m, l->pmark, strlen(l->pmark));
    }
    return el;
}

/* ---- the XEP-0258 envelope ---- */

int
policy_label_from_xep258(const struct xml_node *el, struct policy_label **out, char **marking)
{
    const struct xml_node *label = NULL;
    const struct xml_node *dm = NULL;

    *out = NULL;
    if (marking != NULL)
        *marking = NULL;
    if (el == NULL || el->type != XML_ELEMENT || !ns_is(el, POLICY_NS_SECLABEL) ||
        !name_is(el, "securitylabel"))
        return PAL_EMALFORMED;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (c->type == XML_TEXT) {
            if (!is_space(c->text, c->text_len))
                return PAL_EMALFORMED;
            continue;
        }
        if (!ns_is(c, POLICY_NS_SECLABEL))
            return PAL_EMALFORMED;
        if (name_is(c, "label")) {
            if (label != NULL)
                return PAL_EMALFORMED;
            label = c;
        } else if (name_is(c, "displaymarking")) {
            if (dm != NULL)
                return PAL_EMALFORMED;
            dm = c;
        } else if (!name_is(c, "equivalentlabel")) {
            return PAL_EMALFORMED;
        }
    }
    if (label == NULL)
        return PAL_EMALFORMED;
    const struct xml_node *inner = NULL;
    for (const struct xml_node *c = label->children; c != NULL; c = c->next) {
        if (c->type == XML_TEXT) {
            if (!is_space(c->text, c->text_len))
                return PAL_EMALFORMED;
            continue;
        }
        if (inner != NULL)
            return PAL_EMALFORMED;
        inner = c;
    }
    char *text = NULL;
    if (dm != NULL && (text = text_only(dm, NULL)) == NULL)
        return PAL_EMALFORMED;
    int rc = inner == NULL ? PAL_OK : policy_label_from_xml(inner, out);
    if (rc == PAL_OK && marking != NULL) {
        *marking = text;
        text = NULL;
    }
    free(text);
    return rc;
}

/* Appends one <equivalentlabel/> for target unless it is already done. */
static void
add_equivalent(const struct policy_set *s, const struct policy_label *l, const char *target,
               const char **done, size_t *ndone, struct xml_tree *t, struct xml_node *env)
{
    if (strcmp(target, l->policy) == 0)
        return;
    for (size_t i = 0; i < *ndone; i++)
        if (strcmp(done[i], target) == 0)
            return;
    done[(*ndone)++] = target;
    struct policy_label *m = NULL;
    if (policy_label_map(s, l, target, &m) != PAL_OK)
        return;
    /* A mapped label that its own (loaded) policy rejects is not offered. */
    if (policy_set_find_oid(s, target) != NULL &&
        policy_label_validate(s, m).verdict != POLICY_ALLOW) {
        policy_label_free(m);
        return;
    }
    struct xml_node *eq = xml_elem_new(t, env, POLICY_NS_SECLABEL, "equivalentlabel");
    if (policy_label_to_xml(m, POLICY_XML_ESS, t, eq) == NULL)
        xml_unlink(eq);
    policy_label_free(m);
}

int
policy_label_to_xep258(const struct policy_set *s, const struct policy_label *l,
                       struct xml_tree *t, struct xml_node *parent, struct xml_node **out)
{
    struct policy_marking mk = {0};
    if (out != NULL)
        *out = NULL;
    if (policy_display_marking(s, l, &mk) != PAL_OK)
        return PAL_EPOLICY;
    char *b64 = NULL;
    if (policy_label_to_base64(l, &b64) != PAL_OK) {
        policy_marking_clear(&mk);
        return PAL_EPOLICY;
    }
    struct xml_node *env = xml_elem_new(t, parent, POLICY_NS_SECLABEL, "securitylabel");
    struct xml_node *dm = xml_elem_new(t, env, POLICY_NS_SECLABEL, "displaymarking");
    xml_set_attr(t, dm, NULL, "fgcolor", mk.fg);
    xml_set_attr(t, dm, NULL, "bgcolor", mk.bg);
    xml_add_text(t, dm, mk.text, strlen(mk.text));
    struct xml_node *lab = xml_elem_new(t, env, POLICY_NS_SECLABEL, "label");
    struct xml_node *ess = xml_elem_new(t, lab, POLICY_NS_ESS, "esssecuritylabel");
    xml_add_text(t, ess, b64, strlen(b64));
    free(b64);
    policy_marking_clear(&mk);

    const struct policy *p = policy_set_find_oid(s, l->policy);
    size_t cap = policy_set_count(s) + policy_equivalent_count(p);
    const char **done = xcalloc(cap + 1, sizeof(*done));
    size_t ndone = 0;
    for (size_t i = 0; i < policy_equivalent_count(p); i++) {
        const char *oid;
        policy_equivalent_get(p, i, NULL, &oid);
        add_equivalent(s, l, oid, done, &ndone, t, env);
    }
    for (size_t i = 0; i < policy_set_count(s); i++)
        add_equivalent(s, l, policy_oid(policy_set_get(s, i)), done, &ndone, t, env);
    free(done);
    if (out != NULL)
        *out = env;
    return PAL_OK;
}
