/* SPDX-License-Identifier: Apache-2.0 */
/* clearance.c - the clearance model (X.501 Clearance: a policy, a classList,
 * the categories held) and its operator text form. DER lives in ess.c. The
 * directory hands node/ the DER values of xmppClearance; palisadectl and the
 * provisioning scripts use the text form, resolved against the loaded SPIFs so
 * that a typo is an error, never a clearance that silently holds nothing. */
#include "policy/policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

struct policy_clearance *
policy_clearance_new(const char *policy_oid)
{
    if (policy_oid == NULL || !policy_oid_valid(policy_oid))
        return NULL;
    struct policy_clearance *c = xcalloc(1, sizeof(*c));
    c->policy = xstrdup(policy_oid);
    catset_init(&c->cats);
    return c;
}

void
policy_clearance_free(struct policy_clearance *c)
{
    if (c == NULL)
        return;
    free(c->policy);
    catset_free(&c->cats);
    free(c);
}

struct policy_clearance *
policy_clearance_dup(const struct policy_clearance *c)
{
    struct policy_clearance *d = xcalloc(1, sizeof(*d));
    d->policy = xstrdup(c->policy);
    memcpy(d->classes, c->classes, sizeof(d->classes));
    catset_copy(&d->cats, &c->cats);
    return d;
}

int
policy_clearance_add_class(struct policy_clearance *c, int32_t lacv)
{
    if (lacv < 0 || lacv > POLICY_MAX_CLASS)
        return PAL_ERANGE;
    class_bit_set(c->classes, lacv);
    return PAL_OK;
}

int
policy_clearance_add_up_to(const struct policy_set *s, struct policy_clearance *c, int32_t lacv)
{
    const struct policy *p = policy_set_find_oid(s, c->policy);
    if (p == NULL)
        return PAL_EPOLICY;
    const struct spif_class *top = spif_find_class(p, lacv);
    if (top == NULL)
        return PAL_ENOENT;
    for (size_t i = 0; i < p->n_class; i++)
        if (p->classes[i].hierarchy <= top->hierarchy)
            class_bit_set(c->classes, p->classes[i].lacv);
    return PAL_OK;
}

int
policy_clearance_add_category(struct policy_clearance *c, const char *tagset_oid,
                              enum policy_tag_type type, uint32_t lacv)
{
    return catset_add(&c->cats, tagset_oid, type, lacv);
}

const char *
policy_clearance_policy(const struct policy_clearance *c)
{
    return c->policy;
}

bool
policy_clearance_has_class(const struct policy_clearance *c, int32_t lacv)
{
    return class_bit_get(c->classes, lacv);
}

size_t
policy_clearance_category_count(const struct policy_clearance *c)
{
    return c->cats.n;
}

bool
policy_clearance_category(const struct policy_clearance *c, size_t i, const char **tagset_oid,
                          enum policy_tag_type *type, uint32_t *lacv)
{
    if (i >= c->cats.n)
        return false;
    if (tagset_oid != NULL)
        *tagset_oid = c->cats.v[i].tagset;
    if (type != NULL)
        *type = c->cats.v[i].type;
    if (lacv != NULL)
        *lacv = c->cats.v[i].lacv;
    return true;
}

bool
policy_clearance_equal(const struct policy_clearance *a, const struct policy_clearance *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a->policy, b->policy) == 0 &&
           memcmp(a->classes, b->classes, sizeof(a->classes)) == 0 &&
           catset_equal(&a->cats, &b->cats);
}

/* ---- text form ----
 * The grammar, shared with labeltext.c: space-separated key=value fields whose
 * values are comma-separated lists of bare or double-quoted items; names resolve
 * against the loaded SPIFs. */

void
policy_text_fields_free(struct policy_text_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < f[i].n; j++)
            free(f[i].items[j]);
        free(f[i].items);
    }
}

/* One list item at *pp, bare or quoted (\" and \\ escapes); *pp moves past it. */
static int
text_item(const char **pp, char **out, char *err, size_t errlen)
{
    const char *p = *pp;
    struct buf b;
    buf_init(&b);
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (*p == '\0') {
                policy_errf(err, errlen, "unterminated quoted value");
                goto bad;
            }
            if (*p == '\\' && p[1] != '"' && p[1] != '\\') {
                policy_errf(err, errlen, "bad escape in quoted value (only \\\" and \\\\)");
                goto bad;
            }
            if (*p == '\\')
                p++;
            buf_append(&b, p, 1);
        }
        p++;
    } else {
        const char *start = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',' && *p != '"')
            p++;
        if (*p == '"' || p == start) {
            policy_errf(err, errlen, "empty or badly quoted value");
            goto bad;
        }
        buf_append(&b, start, (size_t)(p - start));
    }
    *out = buf_strdup(&b);
    buf_free(&b);
    *pp = p;
    return PAL_OK;
bad:
    buf_free(&b);
    return PAL_EMALFORMED;
}

/* "unknown key", naming the keys there are. */
static void
text_unknown_key(const struct policy_text_key *keys, size_t n_keys, const char *key, size_t kl,
                 char *err, size_t errlen)
{
    struct buf names;
    buf_init(&names);
    for (size_t k = 0; k < n_keys; k++)
        buf_printf(&names, "%s%s", k == 0 ? "" : ", ", keys[k].name);
    buf_append(&names, "", 1);
    policy_errf(err, errlen, "unknown key \"%.*s\" (%s)", (int)(kl > 32 ? 32 : kl), key,
                buf_head(&names));
    buf_free(&names);
}

int
policy_text_parse(const char *text, const struct policy_text_key *keys, size_t n_keys,
                  struct policy_text_field *f, char *err, size_t errlen)
{
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return PAL_OK;
        const char *eq = strchr(p, '=');
        size_t kl = eq != NULL ? (size_t)(eq - p) : 0;
        if (eq == NULL || memchr(p, ' ', kl) != NULL || memchr(p, '\t', kl) != NULL) {
            policy_errf(err, errlen, "expected key=value at \"%.20s\"", p);
            return PAL_EMALFORMED;
        }
        size_t k;
        for (k = 0; k < n_keys; k++)
            if (strlen(keys[k].name) == kl && strncmp(p, keys[k].name, kl) == 0)
                break;
        if (k == n_keys) {
            text_unknown_key(keys, n_keys, p, kl, err, errlen);
            return PAL_EMALFORMED;
        }
        if (f[k].seen) {
            policy_errf(err, errlen, "duplicate key \"%s\"", keys[k].name);
            return PAL_EMALFORMED;
        }
        f[k].seen = true;
        p = eq + 1;
        for (;;) {
            char *item;
            int rc = text_item(&p, &item, err, errlen);
            if (rc != PAL_OK)
                return rc;
            f[k].items = xrealloc(f[k].items, (f[k].n + 1) * sizeof(char *));
            f[k].items[f[k].n++] = item;
            if (*p != ',')
                break;
            p++;
        }
        if (*p != '\0' && *p != ' ' && *p != '\t') {
            policy_errf(err, errlen, "unexpected character after %s", keys[k].name);
            return PAL_EMALFORMED;
        }
        if (!keys[k].is_list && f[k].n != 1) {
            policy_errf(err, errlen, "%s takes one value (quote a value that holds a comma)",
                        keys[k].name);
            return PAL_EMALFORMED;
        }
    }
}

const struct spif_class *
policy_text_class(const struct policy *p, const char *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n_class; i++)
        if (strcmp(p->classes[i].name, s) == 0)
            return &p->classes[i];
    if (s[0] >= '0' && s[0] <= '9' && strlen(s) <= 4) {
        char *end;
        long v = strtol(s, &end, 10);
        const struct spif_class *k = *end == '\0' ? spif_find_class(p, (int32_t)v) : NULL;
        if (k != NULL)
            return k;
    }
    policy_errf(err, errlen, "policy %s has no classification \"%s\"", p->name, s);
    return NULL;
}

/* A category by name, "tag set name:name" or "tag name:name", or
 * "tagsetOID/type/lacv"; NULL with err set. */
static const struct spif_cat *
text_category(const struct policy *p, const char *s, char *err, size_t errlen)
{
    const struct spif_cat *hit = NULL;
    size_t hits = 0;
    for (size_t i = 0; i < p->n_cat; i++) {
        if (strcmp(p->cats[i].name, s) == 0) {
            hit = &p->cats[i];
            hits++;
        }
    }
    if (hits == 1)
        return hit;
    if (hits > 1) {
        policy_errf(err, errlen, "category \"%s\" is ambiguous: write \"tag set:%s\"", s, s);
        return NULL;
    }
    for (const char *colon = strchr(s, ':'); colon != NULL; colon = strchr(colon + 1, ':')) {
        size_t tl = (size_t)(colon - s);
        for (size_t i = 0; i < p->n_cat; i++) {
            const char *ts = p->tagsets[p->cats[i].tagset].name;
            const char *tag = p->tags[p->cats[i].tag].name;
            if (((strlen(ts) == tl && strncmp(ts, s, tl) == 0) ||
                 (strlen(tag) == tl && strncmp(tag, s, tl) == 0)) &&
                strcmp(p->cats[i].name, colon + 1) == 0)
                return &p->cats[i];
        }
    }
    const char *s1 = strchr(s, '/');
    const char *s2 = s1 != NULL ? strchr(s1 + 1, '/') : NULL;
    if (s1 != NULL && s2 != NULL && (size_t)(s1 - s) <= POLICY_OID_MAX && s2 - s1 - 1 < 32) {
        char oid[POLICY_OID_MAX + 1];
        char ty[32];
        memcpy(oid, s, (size_t)(s1 - s));
        oid[s1 - s] = '\0';
        memcpy(ty, s1 + 1, (size_t)(s2 - s1 - 1));
        ty[s2 - s1 - 1] = '\0';
        enum policy_tag_type type;
        char *end;
        unsigned long lacv = strtoul(s2 + 1, &end, 10);
        if (policy_tag_type_parse(ty, &type) == PAL_OK && *end == '\0' && s2[1] >= '0' &&
            s2[1] <= '9' && lacv <= UINT32_MAX) {
            const struct spif_cat *c = spif_find_cat(p, oid, type, (uint32_t)lacv);
            if (c != NULL)
                return c;
        }
    }
    policy_errf(err, errlen, "policy %s has no category \"%s\"", p->name, s);
    return NULL;
}

int
policy_text_categories(const struct policy *p, const struct policy_text_field *f,
                       struct catset *cats, char *err, size_t errlen)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct spif_cat *k = text_category(p, f->items[i], err, errlen);
        if (k == NULL)
            return PAL_ENOENT;
        catset_add(cats, p->tagsets[k->tagset].oid, k->type, k->lacv);
    }
    return PAL_OK;
}

void
policy_text_put_item(struct buf *b, const char *s)
{
    if (*s != '\0' && strpbrk(s, " \t,\"\\") == NULL) {
        buf_append_str(b, s);
        return;
    }
    buf_append(b, "\"", 1);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            buf_append(b, "\\", 1);
        buf_append(b, p, 1);
    }
    buf_append(b, "\"", 1);
}

static bool
cat_name_unique(const struct policy *p, const struct spif_cat *k)
{
    for (size_t i = 0; i < p->n_cat; i++)
        if (&p->cats[i] != k && strcmp(p->cats[i].name, k->name) == 0)
            return false;
    return true;
}

void
policy_text_put_categories(struct buf *b, const struct policy *p, const struct catset *cats)
{
    for (size_t i = 0; i < cats->n; i++) {
        const struct pcat *pc = &cats->v[i];
        buf_append_str(b, i == 0 ? " categories=" : ",");
        const struct spif_cat *k = p != NULL ? spif_find_cat(p, pc->tagset, pc->type, pc->lacv)
                                             : NULL;
        if (k == NULL) {
            buf_printf(b, "%s/%s/%lu", pc->tagset, policy_tag_type_str(pc->type),
                       (unsigned long)pc->lacv);
        } else if (cat_name_unique(p, k)) {
            policy_text_put_item(b, k->name);
        } else {
            char *q = xasprintf("%s:%s", p->tagsets[k->tagset].name, k->name);
            policy_text_put_item(b, q);
            free(q);
        }
    }
}

enum { F_POLICY, F_CLASS, F_CLASSES, F_CATEGORIES, F_COUNT };
static const struct policy_text_key clearance_keys[F_COUNT] = {
    [F_POLICY] = {"policy", false},
    [F_CLASS] = {"class", false},
    [F_CLASSES] = {"classes", true},
    [F_CATEGORIES] = {"categories", true},
};

int
policy_clearance_from_text(const struct policy_set *s, const char *text,
                           struct policy_clearance **out, char *err, size_t errlen)
{
    struct policy_text_field f[F_COUNT] = {{0}};
    struct policy_clearance *c = NULL;
    int rc;

    *out = NULL;
    policy_errf(err, errlen, "ok");
    rc = policy_text_parse(text, clearance_keys, F_COUNT, f, err, errlen);
    if (rc != PAL_OK)
        goto out;
    rc = PAL_EMALFORMED;
    if (!f[F_POLICY].seen) {
        policy_errf(err, errlen, "no policy=");
        goto out;
    }
    if (f[F_CLASS].seen == f[F_CLASSES].seen) {
        policy_errf(err, errlen, "give exactly one of class= (up to) or classes= (a list)");
        goto out;
    }
    const struct policy *p = policy_set_find(s, f[F_POLICY].items[0]);
    if (p == NULL) {
        policy_errf(err, errlen, "policy \"%s\" is not loaded", f[F_POLICY].items[0]);
        rc = PAL_EPOLICY;
        goto out;
    }
    c = policy_clearance_new(p->oid);
    rc = PAL_ENOENT;
    if (f[F_CLASS].seen) {
        const struct spif_class *k = policy_text_class(p, f[F_CLASS].items[0], err, errlen);
        if (k == NULL)
            goto out;
        for (size_t i = 0; i < p->n_class; i++)
            if (p->classes[i].hierarchy <= k->hierarchy)
                class_bit_set(c->classes, p->classes[i].lacv);
    }
    for (size_t i = 0; i < f[F_CLASSES].n; i++) {
        const struct spif_class *k = policy_text_class(p, f[F_CLASSES].items[i], err, errlen);
        if (k == NULL)
            goto out;
        class_bit_set(c->classes, k->lacv);
    }
    rc = policy_text_categories(p, &f[F_CATEGORIES], &c->cats, err, errlen);
    if (rc != PAL_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    policy_clearance_free(c);
    policy_text_fields_free(f, F_COUNT);
    return rc;
}

/* The class whose "up to" set is exactly c's classList, or NULL. */
static const struct spif_class *
up_to_class(const struct policy *p, const struct policy_clearance *c)
{
    const struct spif_class *top = NULL;
    size_t held = 0;
    for (size_t i = 0; i < p->n_class; i++) {
        if (class_bit_get(c->classes, p->classes[i].lacv)) {
            held++;
            if (top == NULL || p->classes[i].hierarchy > top->hierarchy)
                top = &p->classes[i];
        }
    }
    if (top == NULL)
        return NULL;
    size_t total = 0;
    for (int32_t v = 0; v <= POLICY_MAX_CLASS; v++)
        total += class_bit_get(c->classes, v);
    if (total != held)
        return NULL; /* holds lacvs the policy does not define */
    for (size_t i = 0; i < p->n_class; i++)
        if (p->classes[i].hierarchy <= top->hierarchy &&
            !class_bit_get(c->classes, p->classes[i].lacv))
            return NULL;
    return top;
}

int
policy_clearance_to_text(const struct policy_set *s, const struct policy_clearance *c,
                         char **out)
{
    const struct policy *p = policy_set_find_oid(s, c->policy);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "policy=%s", c->policy);
    const struct spif_class *top = p != NULL ? up_to_class(p, c) : NULL;
    if (top != NULL) {
        buf_append_str(&b, " class=");
        policy_text_put_item(&b, top->name);
    } else {
        buf_append_str(&b, " classes=");
        bool first = true;
        bool any = false;
        for (int32_t v = 0; v <= POLICY_MAX_CLASS; v++) {
            if (!class_bit_get(c->classes, v))
                continue;
            const struct spif_class *k = p != NULL ? spif_find_class(p, v) : NULL;
            if (!first)
                buf_append(&b, ",", 1);
            first = false;
            any = true;
            if (k != NULL) {
                policy_text_put_item(&b, k->name);
            } else {
                buf_printf(&b, "%d", (int)v);
            }
        }
        if (!any) {
            /* The text form has no empty list; a clearance with no classification
             * cannot be written. */
            buf_free(&b);
            *out = NULL;
            return PAL_EINVAL;
        }
    }
    policy_text_put_categories(&b, p, &c->cats);
    *out = buf_strdup(&b);
    buf_free(&b);
    return PAL_OK;
}
