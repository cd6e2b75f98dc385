/* SPDX-License-Identifier: Apache-2.0 */
/* labeltext.c - the operator text form of a security label, for palisadectl
 * (label check, default labels) and provisioning scripts:
 *     policy=PALISADE class=SECRET categories=NATO,"Releasable To:GBR"
 * The grammar is the clearance text form's (clearance.c): space-separated
 * key=value fields whose values are comma-separated lists of bare or
 * double-quoted items. Names resolve against the loaded SPIFs, so a typo is an
 * error, never a label that quietly means something else. The parsed label is
 * not validated (excluded classes, required categories): that is a decision
 * with a reason, policy_label_validate()'s job, and "label check" wants to
 * explain it rather than refuse to parse. Pure: no I/O. */
#include "policy/policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

enum { K_POLICY, K_CLASS, K_CATEGORIES, K_MARK, K_MARK_TYPE, K_COUNT };
static const char *const key_names[K_COUNT] = {"policy", "class", "categories", "privacymark",
                                               "privacymark-type"};

struct field {
    bool seen;
    size_t n;
    char **items;
};

static void
fields_free(struct field *f)
{
    for (int i = 0; i < K_COUNT; i++) {
        for (size_t j = 0; j < f[i].n; j++)
            free(f[i].items[j]);
        free(f[i].items);
    }
}

/* One list item at *pp, bare or quoted (\" and \\ escapes); *pp moves past it. */
static int
parse_item(const char **pp, char **out, char *err, size_t errlen)
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
    buf_append(&b, "", 1);
    *out = xstrdup(buf_head(&b));
    buf_free(&b);
    *pp = p;
    return PAL_OK;
bad:
    buf_free(&b);
    return PAL_EMALFORMED;
}

static int
parse_fields(const char *text, struct field *f, char *err, size_t errlen)
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
        int k;
        for (k = 0; k < K_COUNT; k++)
            if (strlen(key_names[k]) == kl && strncmp(p, key_names[k], kl) == 0)
                break;
        if (k == K_COUNT) {
            policy_errf(err, errlen,
                        "unknown key \"%.*s\" (policy, class, categories, privacymark, "
                        "privacymark-type)",
                        (int)(kl > 32 ? 32 : kl), p);
            return PAL_EMALFORMED;
        }
        if (f[k].seen) {
            policy_errf(err, errlen, "duplicate key \"%s\"", key_names[k]);
            return PAL_EMALFORMED;
        }
        f[k].seen = true;
        p = eq + 1;
        for (;;) {
            char *item;
            int rc = parse_item(&p, &item, err, errlen);
            if (rc != PAL_OK)
                return rc;
            f[k].items = xrealloc(f[k].items, (f[k].n + 1) * sizeof(char *));
            f[k].items[f[k].n++] = item;
            if (*p != ',')
                break;
            p++;
        }
        if (*p != '\0' && *p != ' ' && *p != '\t') {
            policy_errf(err, errlen, "unexpected character after %s", key_names[k]);
            return PAL_EMALFORMED;
        }
        if (k != K_CATEGORIES && f[k].n != 1) {
            policy_errf(err, errlen, "%s takes one value (quote a value that holds a comma)",
                        key_names[k]);
            return PAL_EMALFORMED;
        }
    }
}

/* A classification by name, else by decimal lacv. */
static const struct spif_class *
find_class(const struct policy *p, const char *s)
{
    for (size_t i = 0; i < p->n_class; i++)
        if (strcmp(p->classes[i].name, s) == 0)
            return &p->classes[i];
    if (s[0] < '0' || s[0] > '9' || strlen(s) > 4)
        return NULL;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == '\0' ? spif_find_class(p, (int32_t)v) : NULL;
}

/* A category by name, "tag set name:name" or "tag name:name", or
 * "tagsetOID/type/lacv" (as the clearance text form). */
static const struct spif_cat *
find_cat(const struct policy *p, const char *s, char *err, size_t errlen)
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
policy_label_from_text(const struct policy_set *s, const char *text, struct policy_label **out,
                       char *err, size_t errlen)
{
    struct field f[K_COUNT] = {{0}};
    struct policy_label *l = NULL;
    int rc;

    *out = NULL;
    policy_errf(err, errlen, "ok");
    if (text == NULL) {
        policy_errf(err, errlen, "no text");
        return PAL_EMALFORMED;
    }
    rc = parse_fields(text, f, err, errlen);
    if (rc != PAL_OK)
        goto out;
    rc = PAL_EMALFORMED;
    if (!f[K_POLICY].seen) {
        policy_errf(err, errlen, "no policy=");
        goto out;
    }
    if (!f[K_CLASS].seen) {
        policy_errf(err, errlen, "no class= (a label names one classification)");
        goto out;
    }
    bool utf8 = true;
    if (f[K_MARK_TYPE].seen) {
        if (!f[K_MARK].seen) {
            policy_errf(err, errlen, "privacymark-type without privacymark");
            goto out;
        }
        if (strcmp(f[K_MARK_TYPE].items[0], "printable") == 0) {
            utf8 = false;
        } else if (strcmp(f[K_MARK_TYPE].items[0], "utf8") != 0) {
            policy_errf(err, errlen, "privacymark-type is utf8 or printable");
            goto out;
        }
    }
    const struct policy *p = policy_set_find(s, f[K_POLICY].items[0]);
    if (p == NULL) {
        policy_errf(err, errlen, "policy \"%s\" is not loaded", f[K_POLICY].items[0]);
        rc = PAL_EPOLICY;
        goto out;
    }
    l = policy_label_new(p->oid);
    rc = PAL_ENOENT;
    const struct spif_class *k = find_class(p, f[K_CLASS].items[0]);
    if (k == NULL) {
        policy_errf(err, errlen, "policy %s has no classification \"%s\"", p->name,
                    f[K_CLASS].items[0]);
        goto out;
    }
    l->has_class = true;
    l->cls = k->lacv;
    for (size_t i = 0; i < f[K_CATEGORIES].n; i++) {
        const struct spif_cat *c = find_cat(p, f[K_CATEGORIES].items[i], err, errlen);
        if (c == NULL)
            goto out;
        catset_add(&l->cats, p->tagsets[c->tagset].oid, c->type, c->lacv);
    }
    if (f[K_MARK].seen &&
        policy_label_set_privacy_mark(l, f[K_MARK].items[0], utf8) != PAL_OK) {
        policy_errf(err, errlen,
                    utf8 ? "privacymark: 1 to 1024 bytes of UTF-8 without control characters"
                         : "privacymark: not a PrintableString (A-Z a-z 0-9 space '()+,-./:=?)");
        rc = PAL_EMALFORMED;
        goto out;
    }
    *out = l;
    l = NULL;
    rc = PAL_OK;
out:
    policy_label_free(l);
    fields_free(f);
    return rc;
}

static void
put_item(struct buf *b, const char *s)
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

int
policy_label_to_text(const struct policy_set *s, const struct policy_label *l, char **out)
{
    const struct policy *p = policy_set_find_oid(s, l->policy);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "policy=%s", l->policy);
    if (l->has_class) {
        const struct spif_class *k = p != NULL ? spif_find_class(p, l->cls) : NULL;
        buf_append_str(&b, " class=");
        if (k != NULL)
            put_item(&b, k->name);
        else
            buf_printf(&b, "%d", (int)l->cls);
    }
    for (size_t i = 0; i < l->cats.n; i++) {
        const struct pcat *pc = &l->cats.v[i];
        buf_append_str(&b, i == 0 ? " categories=" : ",");
        const struct spif_cat *k = p != NULL ? spif_find_cat(p, pc->tagset, pc->type, pc->lacv)
                                             : NULL;
        if (k == NULL) {
            buf_printf(&b, "%s/%s/%lu", pc->tagset, policy_tag_type_str(pc->type),
                       (unsigned long)pc->lacv);
        } else if (cat_name_unique(p, k)) {
            put_item(&b, k->name);
        } else {
            char *q = xasprintf("%s:%s", p->tagsets[k->tagset].name, k->name);
            put_item(&b, q);
            free(q);
        }
    }
    if (l->pmark != NULL) {
        buf_append_str(&b, " privacymark=");
        put_item(&b, l->pmark);
        if (!l->pmark_utf8)
            buf_append_str(&b, " privacymark-type=printable");
    }
    *out = buf_strdup(&b);
    buf_free(&b);
    return PAL_OK;
}
