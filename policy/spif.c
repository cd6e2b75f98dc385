/* SPDX-License-Identifier: Apache-2.0 */
/* spif.c - loads Open XML SPIF files (schema 1.0, 2.0, 2.1) into the policy
 * model of policy_int.h, and keeps policy sets. The one place policy/ touches
 * a file: policy_load() reads it with xml_parse_file(); everything after is
 * pure. The loader checks what the schema's keys and keyrefs say (unique
 * classification names and lacvs, unique tag set ids, references that
 * resolve) and what our decisions rely on (lacvs in range, one type per tag,
 * unique category keys). What it does not understand it refuses, rather than
 * load a policy that would decide differently from what its author wrote. */
#include "policy/policy_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/xml.h"

/* Largest SPIF we read (the real ones are 10-50 KB). */
#define SPIF_MAX_BYTES (16u * 1024 * 1024)
#define SPIF_MAX_CATS 10000

struct ctx {
    struct policy *p;
    const char *file; /* prefix for messages, may be "" */
    char *err;
    size_t errlen;
};

static int
fail(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct ctx *x, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    policy_errf(x->err, x->errlen, "%s%s%s", x->file, *x->file ? ": " : "", msg);
    return PAL_EMALFORMED;
}

/* ---- XML helpers ---- */

static bool
in_spif_ns(const struct xml_node *el)
{
    /* The ACME example writes equivalentSecCategoryTag with no namespace; accept
     * both, as its authors' own tools do. */
    return el->ns == NULL || el->ns[0] == '\0' || strcmp(el->ns, POLICY_NS_SPIF) == 0;
}

static bool
is_el(const struct xml_node *el, const char *name)
{
    return el->type == XML_ELEMENT && in_spif_ns(el) && strcmp(el->name, name) == 0;
}

/* Child elements other than the allowed names: SPIF-namespace ones are an
 * error (a schema we do not know), foreign ones (extensions) are skipped. */
static int
check_children(struct ctx *x, const struct xml_node *el, const char *what,
               const char *const *allowed)
{
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT || !in_spif_ns(c))
            continue;
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL; a++)
            if (strcmp(c->name, *a) == 0)
                ok = true;
        if (!ok)
            return fail(x, "%s: unexpected element <%s>", what, c->name);
    }
    return PAL_OK;
}

static char *
trimmed_text(const struct xml_node *el)
{
    size_t n = 0;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next)
        if (c->type == XML_TEXT)
            n += c->text_len;
    char *s = xmalloc(n + 1);
    size_t o = 0;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (c->type == XML_TEXT) {
            memcpy(s + o, c->text, c->text_len);
            o += c->text_len;
        }
    }
    s[o] = '\0';
    char *b = s;
    while (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r')
        b++;
    char *e = b + strlen(b);
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    *e = '\0';
    memmove(s, b, (size_t)(e - b) + 1);
    return s;
}

static int
parse_int(const char *s, long long min, long long max, long long *out)
{
    if (s == NULL)
        return PAL_ENOENT;
    while (*s == ' ')
        s++;
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (*p < '0' || *p > '9')
        return PAL_EMALFORMED;
    long long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > 1000000000000LL)
            return PAL_ERANGE;
        v = v * 10 + (*p - '0');
    }
    while (*p == ' ')
        p++;
    if (*p != '\0')
        return PAL_EMALFORMED;
    if (neg)
        v = -v;
    if (v < min || v > max)
        return PAL_ERANGE;
    *out = v;
    return PAL_OK;
}

static int
parse_bool(const char *s, bool dflt, bool *out)
{
    if (s == NULL) {
        *out = dflt;
        return PAL_OK;
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
        return PAL_OK;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
        return PAL_OK;
    }
    return PAL_EMALFORMED;
}

/* Markings and qualifiers in the default language: no xml:lang, or English. */
static bool
default_lang(const struct xml_node *el)
{
    const char *lang = xml_attr_ns(el, XML_NS_XML, "lang");
    return lang == NULL || strncmp(lang, "en", 2) == 0;
}

/* ---- colours ---- */

static const struct {
    const char *name;
    unsigned rgb;
} w3c_colours[] = {
    {"aqua", 0x00ffff},   {"black", 0x000000}, {"blue", 0x0000ff},   {"fuchsia", 0xff00ff},
    {"fuschia", 0xff00ff}, {"gray", 0x808080},  {"green", 0x008000},  {"lime", 0x00ff00},
    {"maroon", 0x800000}, {"navy", 0x000080},  {"olive", 0x808000},  {"purple", 0x800080},
    {"red", 0xff0000},    {"silver", 0xc0c0c0}, {"teal", 0x008080},  {"white", 0xffffff},
    {"yellow", 0xffff00},
};

/* The RGB of a W3C name or #rrggbb; false when s is neither. */
static bool
colour_rgb(const char *s, unsigned *rgb)
{
    for (size_t i = 0; i < sizeof(w3c_colours) / sizeof(w3c_colours[0]); i++) {
        if (strcmp(s, w3c_colours[i].name) == 0) {
            *rgb = w3c_colours[i].rgb;
            return true;
        }
    }
    if (s[0] != '#' || strlen(s) != 7 || strspn(s + 1, "0123456789abcdefABCDEF") != 6)
        return false;
    *rgb = (unsigned)strtoul(s + 1, NULL, 16);
    return true;
}

/* ---- the pieces ---- */

static int
parse_tag_type(const char *tag_type, const char *enum_type, const char *tag7,
               enum policy_tag_type *out, bool *any_informative)
{
    if (any_informative != NULL)
        *any_informative = false;
    if (tag_type == NULL)
        return PAL_ENOENT;
    if (strcmp(tag_type, "restrictive") == 0) {
        *out = POLICY_TAG_RESTRICTIVE;
    } else if (strcmp(tag_type, "permissive") == 0) {
        *out = POLICY_TAG_PERMISSIVE;
    } else if (strcmp(tag_type, "enumerated") == 0) {
        if (enum_type == NULL)
            return PAL_EMALFORMED;
        if (strcmp(enum_type, "restrictive") == 0)
            *out = POLICY_TAG_ENUM_RESTRICTIVE;
        else if (strcmp(enum_type, "permissive") == 0)
            *out = POLICY_TAG_ENUM_PERMISSIVE;
        else
            return PAL_EMALFORMED;
    } else if (strcmp(tag_type, "tagType7") == 0) {
        if (tag7 == NULL || strcmp(tag7, "bitSetAttributes") == 0)
            *out = POLICY_TAG_INFORMATIVE;
        else if (strcmp(tag7, "securityAttributes") == 0)
            *out = POLICY_TAG_INFORMATIVE_ENUM;
        else
            return PAL_EMALFORMED;
        if (any_informative != NULL && tag7 == NULL)
            *any_informative = true;
    } else {
        return PAL_EMALFORMED;
    }
    return PAL_OK;
}

static int
parse_applied(const char *s, unsigned *out)
{
    if (s == NULL)
        return PAL_ENOENT;
    if (strcmp(s, "encrypt") == 0)
        *out = APPLIED_ENCRYPT;
    else if (strcmp(s, "decrypt") == 0)
        *out = APPLIED_DECRYPT;
    else if (strcmp(s, "both") == 0)
        *out = APPLIED_BOTH;
    else
        return PAL_EMALFORMED;
    return PAL_OK;
}

static long
find_eqpol_name(const struct policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_eqpol; i++)
        if (strcmp(p->eqpols[i].name, name) == 0)
            return (long)i;
    return -1;
}

static long
find_tagset_name(const struct policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_tagset; i++)
        if (strcmp(p->tagsets[i].name, name) == 0)
            return (long)i;
    return -1;
}

static const struct spif_class *
find_class_name(const struct policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_class; i++)
        if (strcmp(p->classes[i].name, name) == 0)
            return &p->classes[i];
    return NULL;
}

static int
parse_eqpols(struct ctx *x, const struct xml_node *el)
{
    static const char *const allowed[] = {"equivalentPolicy", NULL};
    struct policy *p = x->p;
    if (check_children(x, el, "equivalentPolicies", allowed) != PAL_OK)
        return PAL_EMALFORMED;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (!is_el(c, "equivalentPolicy"))
            continue;
        const char *name = xml_attr(c, "name");
        const char *id = xml_attr(c, "id");
        if (name == NULL || id == NULL || !policy_oid_valid(id))
            return fail(x, "equivalentPolicy needs a name and a valid id (OID)");
        if (find_eqpol_name(p, name) >= 0)
            return fail(x, "equivalentPolicy \"%s\": duplicate name", name);
        if (strcmp(id, p->oid) == 0)
            return fail(x, "equivalentPolicy \"%s\": is this policy", name);
        p->eqpols = xrealloc(p->eqpols, (p->n_eqpol + 1) * sizeof(*p->eqpols));
        struct spif_eqpol *e = &p->eqpols[p->n_eqpol++];
        e->name = xstrdup(name);
        e->oid = xstrdup(id);
        e->unsupported = xml_child(c, NULL, "requiredCategory") != NULL;
    }
    return PAL_OK;
}

/* A categoryGroup / excludedCategory element. */
static int
parse_group(struct ctx *x, const struct xml_node *el, const char *what, struct spif_group *g)
{
    struct policy *p = x->p;
    const char *ref = xml_attr(el, "tagSetRef");
    long ts = ref != NULL ? find_tagset_name(p, ref) : -1;
    if (ts < 0)
        return fail(x, "%s: %s names unknown tag set \"%s\"", what, el->name,
                    ref != NULL ? ref : "");
    bool any_info;
    if (parse_tag_type(xml_attr(el, "tagType"), xml_attr(el, "enumType"), NULL, &g->type,
                       &any_info) != PAL_OK)
        return fail(x, "%s: %s has a bad tagType/enumType", what, el->name);
    g->tagset = (size_t)ts;
    g->any_informative = any_info;
    bool all;
    if (parse_bool(xml_attr(el, "all"), false, &all) != PAL_OK)
        return fail(x, "%s: %s has a bad all=", what, el->name);
    const char *lacv = xml_attr(el, "lacv");
    g->any_lacv = all || lacv == NULL;
    if (!g->any_lacv) {
        long long v;
        if (parse_int(lacv, 0, UINT32_MAX, &v) != PAL_OK)
            return fail(x, "%s: %s has a bad lacv \"%s\"", what, el->name, lacv);
        g->lacv = (uint32_t)v;
    }
    return PAL_OK;
}

static int
parse_required(struct ctx *x, const struct xml_node *el, const char *what, struct spif_req **reqs,
               size_t *n)
{
    static const char *const allowed[] = {"categoryGroup", NULL};
    if (check_children(x, el, what, allowed) != PAL_OK)
        return PAL_EMALFORMED;
    *reqs = xrealloc(*reqs, (*n + 1) * sizeof(**reqs));
    struct spif_req *r = &(*reqs)[(*n)++];
    memset(r, 0, sizeof(*r));
    const char *op = xml_attr(el, "operation");
    if (op == NULL || strcmp(op, "all") == 0)
        r->op = OP_ALL;
    else if (strcmp(op, "onlyOne") == 0)
        r->op = OP_ONLY_ONE;
    else if (strcmp(op, "oneOrMore") == 0)
        r->op = OP_ONE_OR_MORE;
    else
        return fail(x, "%s: requiredCategory has a bad operation \"%s\"", what, op);
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (!is_el(c, "categoryGroup"))
            continue;
        r->g = xrealloc(r->g, (r->n + 1) * sizeof(*r->g));
        if (parse_group(x, c, what, &r->g[r->n]) != PAL_OK)
            return PAL_EMALFORMED;
        r->n++;
    }
    if (r->n == 0)
        return fail(x, "%s: empty requiredCategory", what);
    return PAL_OK;
}

/* The phrase of the first default-language markingData, and its codes. */
static int
parse_marking(struct ctx *x, const struct xml_node *el, const char *what, char **phrase,
              bool *no_display)
{
    *phrase = NULL;
    *no_display = false;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (!is_el(c, "markingData") || !default_lang(c))
            continue;
        const char *ph = xml_attr(c, "phrase");
        if (ph != NULL && strlen(ph) > 256)
            return fail(x, "%s: marking phrase longer than 256", what);
        if (ph != NULL && *phrase == NULL)
            *phrase = xstrdup(ph);
        for (const struct xml_node *code = c->children; code != NULL; code = code->next) {
            if (!is_el(code, "code"))
                continue;
            char *t = trimmed_text(code);
            if (strcmp(t, "noMarkingDisplay") == 0 || strcmp(t, "suppressClassName") == 0)
                *no_display = true;
            free(t);
        }
    }
    return PAL_OK;
}

/* Sets k's background (and foreground, or a contrasting one when fg is NULL). */
static int
set_colours(struct spif_class *k, const char *bg, const char *fg)
{
    unsigned rgb;
    unsigned dummy;
    if (!colour_rgb(bg, &rgb) || (fg != NULL && !colour_rgb(fg, &dummy)))
        return PAL_EMALFORMED;
    snprintf(k->bg, sizeof(k->bg), "%s", bg);
    if (fg != NULL) {
        snprintf(k->fg, sizeof(k->fg), "%s", fg);
    } else {
        unsigned r = rgb >> 16;
        unsigned g = (rgb >> 8) & 0xff;
        unsigned b = rgb & 0xff;
        /* ITU-R BT.601 luma. */
        snprintf(k->fg, sizeof(k->fg), "%s",
                 (299 * r + 587 * g + 114 * b) / 1000 < 128 ? "white" : "black");
    }
    return PAL_OK;
}

/* <extensions><pal:markingColours xmlns:pal=POLICY_NS_SPIF_EXT>
 *   <pal:classification name='SECRET' fgcolor='black' bgcolor='red'/>
 * </pal:markingColours></extensions>: explicit display marking colours (the
 * schema has one color= per classification and no foreground). Extensions are
 * processed laxly by the schema, so such a file still validates. */
static int
apply_colour_extension(struct ctx *x, const struct xml_node *ext)
{
    for (const struct xml_node *m = ext->children; m != NULL; m = m->next) {
        if (m->type != XML_ELEMENT || m->ns == NULL || strcmp(m->ns, POLICY_NS_SPIF_EXT) != 0 ||
            strcmp(m->name, "markingColours") != 0)
            continue;
        for (const struct xml_node *c = m->children; c != NULL; c = c->next) {
            if (c->type != XML_ELEMENT)
                continue;
            const char *name = xml_attr(c, "name");
            if (strcmp(c->ns, POLICY_NS_SPIF_EXT) != 0 || strcmp(c->name, "classification") != 0)
                return fail(x, "markingColours: unexpected element <%s>", c->name);
            struct spif_class *k =
                name != NULL ? (struct spif_class *)find_class_name(x->p, name) : NULL;
            if (k == NULL)
                return fail(x, "markingColours: unknown classification \"%s\"",
                            name != NULL ? name : "");
            const char *bg = xml_attr(c, "bgcolor");
            const char *fg = xml_attr(c, "fgcolor");
            if (set_colours(k, bg != NULL ? bg : k->bg, fg) != PAL_OK)
                return fail(x, "markingColours: bad colour for \"%s\"", name);
        }
    }
    return PAL_OK;
}

static int
parse_class(struct ctx *x, const struct xml_node *el)
{
    static const char *const allowed[] = {"equivalentClassification", "markingData",
                                          "markingQualifier", "requiredCategory", NULL};
    struct policy *p = x->p;
    const char *name = xml_attr(el, "name");
    long long lacv;
    long long hier;
    char what[300];

    if (name == NULL || *name == '\0' || strlen(name) > 256)
        return fail(x, "securityClassification without a valid name");
    snprintf(what, sizeof(what), "securityClassification \"%s\"", name);
    if (parse_int(xml_attr(el, "lacv"), 0, POLICY_MAX_CLASS, &lacv) != PAL_OK)
        return fail(x, "%s: lacv must be an integer 0..%d", what, POLICY_MAX_CLASS);
    if (parse_int(xml_attr(el, "hierarchy"), INT32_MIN, INT32_MAX, &hier) != PAL_OK)
        return fail(x, "%s: hierarchy must be an integer", what);
    if (find_class_name(p, name) != NULL)
        return fail(x, "%s: duplicate name", what);
    if (spif_find_class(p, (int32_t)lacv) != NULL)
        return fail(x, "%s: duplicate lacv %lld", what, lacv);
    if (check_children(x, el, what, allowed) != PAL_OK)
        return PAL_EMALFORMED;

    p->classes = xrealloc(p->classes, (p->n_class + 1) * sizeof(*p->classes));
    struct spif_class *k = &p->classes[p->n_class++];
    memset(k, 0, sizeof(*k));
    k->name = xstrdup(name);
    k->lacv = (int32_t)lacv;
    k->hierarchy = (int32_t)hier;
    if (parse_bool(xml_attr(el, "obsolete"), false, &k->obsolete) != PAL_OK)
        return fail(x, "%s: bad obsolete=", what);

    /* Colours: the schema's color= is the marking's background; the foreground
     * is black or white for contrast unless our extension says otherwise
     * (apply_colour_extension()). */
    const char *bg = xml_attr(el, "color");
    if (bg != NULL && set_colours(k, bg, NULL) != PAL_OK)
        return fail(x, "%s: bad color \"%s\"", what, bg);
    if (bg == NULL)
        set_colours(k, "white", NULL);

    char *phrase;
    if (parse_marking(x, el, what, &phrase, &k->suppress_name) != PAL_OK)
        return PAL_EMALFORMED;
    const char *prefix = "";
    const char *suffix = "";
    for (const struct xml_node *q = xml_child(el, NULL, "markingQualifier"); q != NULL;
         q = xml_next(q, NULL, "markingQualifier")) {
        for (const struct xml_node *c = q->children; c != NULL; c = c->next) {
            if (!is_el(c, "qualifier") || !default_lang(c))
                continue;
            const char *code = xml_attr(c, "qualifierCode");
            const char *mq = xml_attr(c, "markingQualifier");
            if (code == NULL || mq == NULL)
                return fail(x, "%s: qualifier needs markingQualifier and qualifierCode", what);
            if (strcmp(code, "prefix") == 0)
                prefix = mq;
            else if (strcmp(code, "suffix") == 0)
                suffix = mq;
        }
    }
    k->marking = xasprintf("%s%s%s", prefix, phrase != NULL ? phrase : name, suffix);
    free(phrase);

    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (is_el(c, "equivalentClassification")) {
            const char *ref = xml_attr(c, "policyRef");
            long ep = ref != NULL ? find_eqpol_name(p, ref) : -1;
            long long elacv;
            unsigned applied;
            if (ep < 0)
                return fail(x, "%s: equivalentClassification names unknown policy \"%s\"", what,
                            ref != NULL ? ref : "");
            if (parse_int(xml_attr(c, "lacv"), 0, POLICY_MAX_CLASS, &elacv) != PAL_OK)
                return fail(x, "%s: equivalentClassification needs a lacv 0..%d", what,
                            POLICY_MAX_CLASS);
            if (parse_applied(xml_attr(c, "applied"), &applied) != PAL_OK)
                return fail(x, "%s: equivalentClassification needs applied=encrypt|decrypt|both",
                            what);
            k->eq = xrealloc(k->eq, (k->n_eq + 1) * sizeof(*k->eq));
            struct spif_eqclass *e = &k->eq[k->n_eq++];
            e->eqpol = (size_t)ep;
            e->lacv = (int32_t)elacv;
            e->applied = applied;
            e->unsupported = xml_child(c, NULL, "requiredCategory") != NULL;
        } else if (is_el(c, "requiredCategory")) {
            /* Resolved after the tag sets are known: see resolve_class_reqs(). */
        }
    }
    return PAL_OK;
}

static int
resolve_class_reqs(struct ctx *x, const struct xml_node *classes)
{
    struct policy *p = x->p;
    for (const struct xml_node *el = classes->children; el != NULL; el = el->next) {
        if (!is_el(el, "securityClassification"))
            continue;
        struct spif_class *k = (struct spif_class *)find_class_name(p, xml_attr(el, "name"));
        char what[300];
        snprintf(what, sizeof(what), "securityClassification \"%s\"", k->name);
        for (const struct xml_node *c = el->children; c != NULL; c = c->next)
            if (is_el(c, "requiredCategory") &&
                parse_required(x, c, what, &k->req, &k->n_req) != PAL_OK)
                return PAL_EMALFORMED;
    }
    return PAL_OK;
}

static int
parse_eqcat(struct ctx *x, const struct xml_node *el, const char *what, struct spif_cat *k)
{
    struct policy *p = x->p;
    const char *ref = xml_attr(el, "policyRef");
    long ep = ref != NULL ? find_eqpol_name(p, ref) : -1;
    const char *ts = xml_attr(el, "tagSetId");
    enum policy_tag_type type;
    unsigned applied;
    long long lacv;
    const char *action = xml_attr(el, "action");

    if (ep < 0)
        return fail(x, "%s: equivalentSecCategoryTag names unknown policy \"%s\"", what,
                    ref != NULL ? ref : "");
    if (ts == NULL || !policy_oid_valid(ts))
        return fail(x, "%s: equivalentSecCategoryTag needs a tagSetId OID", what);
    if (parse_tag_type(xml_attr(el, "tagType"), xml_attr(el, "enumType"), NULL, &type, NULL) !=
        PAL_OK)
        return fail(x, "%s: equivalentSecCategoryTag has a bad tagType/enumType", what);
    if (parse_int(xml_attr(el, "lacv"), 0, UINT32_MAX, &lacv) != PAL_OK ||
        (policy_tag_is_bitmap(type) && lacv > POLICY_MAX_BIT_LACV))
        return fail(x, "%s: equivalentSecCategoryTag needs an integer lacv", what);
    if (parse_applied(xml_attr(el, "applied"), &applied) != PAL_OK)
        return fail(x, "%s: equivalentSecCategoryTag needs applied=encrypt|decrypt|both", what);
    if (action != NULL && strcmp(action, "discard") != 0)
        return fail(x, "%s: equivalentSecCategoryTag has a bad action \"%s\"", what, action);
    k->eq = xrealloc(k->eq, (k->n_eq + 1) * sizeof(*k->eq));
    struct spif_eqcat *e = &k->eq[k->n_eq++];
    e->eqpol = (size_t)ep;
    e->tagset = xstrdup(ts);
    e->type = type;
    e->lacv = (uint32_t)lacv;
    e->applied = applied;
    e->discard = action != NULL;
    return PAL_OK;
}

static int
parse_category(struct ctx *x, const struct xml_node *el, size_t tag_index)
{
    static const char *const allowed[] = {"equivalentSecCategoryTag", "markingData",
                                          "markingQualifier", "excludedClass", "requiredCategory",
                                          "excludedCategory", NULL};
    struct policy *p = x->p;
    const struct spif_tag *tag = &p->tags[tag_index];
    const char *tsname = p->tagsets[tag->tagset].name;
    const char *name = xml_attr(el, "name");
    const char *lacv_s = xml_attr(el, "lacv");
    long long lacv;
    char what[600];

    if (name == NULL || *name == '\0' || strlen(name) > 256)
        return fail(x, "tag set \"%s\": tagCategory without a valid name", tsname);
    snprintf(what, sizeof(what), "tag set \"%s\": tagCategory \"%s\"", tsname, name);
    int rc = parse_int(lacv_s, 0, UINT32_MAX, &lacv);
    if (rc == PAL_EMALFORMED || rc == PAL_ENOENT)
        return fail(x, "%s: lacv \"%s\" is not an integer (string lacvs are not supported)",
                    what, lacv_s != NULL ? lacv_s : "");
    if (rc != PAL_OK || (policy_tag_is_bitmap(tag->type) && lacv > POLICY_MAX_BIT_LACV))
        return fail(x, "%s: lacv %s out of range", what, lacv_s);
    if (spif_find_cat(p, p->tagsets[tag->tagset].oid, tag->type, (uint32_t)lacv) != NULL)
        return fail(x, "%s: duplicate lacv %lld", what, lacv);
    for (size_t i = 0; i < p->n_cat; i++)
        if (p->cats[i].tagset == tag->tagset && strcmp(p->cats[i].name, name) == 0)
            return fail(x, "%s: duplicate name in the tag set", what);
    if (check_children(x, el, what, allowed) != PAL_OK)
        return PAL_EMALFORMED;
    if (p->n_cat >= SPIF_MAX_CATS)
        return fail(x, "more than %d categories", SPIF_MAX_CATS);

    p->cats = xrealloc(p->cats, (p->n_cat + 1) * sizeof(*p->cats));
    struct spif_cat *k = &p->cats[p->n_cat++];
    memset(k, 0, sizeof(*k));
    k->tag = tag_index;
    k->tagset = tag->tagset;
    k->type = tag->type;
    k->lacv = (uint32_t)lacv;
    k->name = xstrdup(name);
    k->required_class = -1;
    if (parse_bool(xml_attr(el, "obsolete"), false, &k->obsolete) != PAL_OK)
        return fail(x, "%s: bad obsolete=", what);
    const char *rc_name = xml_attr(el, "requiredClass");
    if (rc_name != NULL) {
        const struct spif_class *rcl = find_class_name(p, rc_name);
        if (rcl == NULL)
            return fail(x, "%s: requiredClass names unknown classification \"%s\"", what,
                        rc_name);
        k->required_class = rcl->lacv;
    }
    char *phrase;
    if (parse_marking(x, el, what, &phrase, &k->no_display) != PAL_OK)
        return PAL_EMALFORMED;
    k->marking = phrase != NULL ? phrase : xstrdup(name);

    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (is_el(c, "excludedClass")) {
            char *cn = trimmed_text(c);
            const struct spif_class *cl = find_class_name(p, cn);
            if (cl == NULL) {
                fail(x, "%s: excludedClass names unknown classification \"%s\"", what, cn);
                free(cn);
                return PAL_EMALFORMED;
            }
            free(cn);
            class_bit_set(k->excluded, cl->lacv);
        } else if (is_el(c, "equivalentSecCategoryTag")) {
            if (parse_eqcat(x, c, what, k) != PAL_OK)
                return PAL_EMALFORMED;
        }
    }
    return PAL_OK;
}

/* requiredCategory / excludedCategory of categories: after every tag set is read. */
static int
resolve_cat_refs(struct ctx *x, const struct xml_node *el, struct spif_cat *k)
{
    char what[600];
    snprintf(what, sizeof(what), "tag set \"%s\": tagCategory \"%s\"",
             x->p->tagsets[k->tagset].name, k->name);
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (is_el(c, "requiredCategory")) {
            if (parse_required(x, c, what, &k->req, &k->n_req) != PAL_OK)
                return PAL_EMALFORMED;
        } else if (is_el(c, "excludedCategory")) {
            k->excl = xrealloc(k->excl, (k->n_excl + 1) * sizeof(*k->excl));
            if (parse_group(x, c, what, &k->excl[k->n_excl]) != PAL_OK)
                return PAL_EMALFORMED;
            k->n_excl++;
        }
    }
    return PAL_OK;
}

static int
parse_tag(struct ctx *x, const struct xml_node *el, size_t tagset)
{
    static const char *const allowed[] = {"tagCategory", "markingQualifier", NULL};
    struct policy *p = x->p;
    const char *tsname = p->tagsets[tagset].name;
    const char *name = xml_attr(el, "name");
    char what[600];
    snprintf(what, sizeof(what), "tag set \"%s\": securityCategoryTag \"%s\"", tsname,
             name != NULL ? name : "");
    enum policy_tag_type type;
    if (parse_tag_type(xml_attr(el, "tagType"), xml_attr(el, "enumType"),
                       xml_attr(el, "tag7Encoding"), &type, NULL) != PAL_OK)
        return fail(x, "%s: unsupported tagType \"%s\"", what,
                    xml_attr(el, "tagType") != NULL ? xml_attr(el, "tagType") : "");
    if (check_children(x, el, what, allowed) != PAL_OK)
        return PAL_EMALFORMED;
    p->tags = xrealloc(p->tags, (p->n_tag + 1) * sizeof(*p->tags));
    size_t ti = p->n_tag++;
    struct spif_tag *t = &p->tags[ti];
    memset(t, 0, sizeof(*t));
    t->name = xstrdup(name != NULL ? name : "");
    t->tagset = tagset;
    t->type = type;
    bool single;
    if (parse_bool(xml_attr(el, "singleSelection"), false, &single) != PAL_OK)
        return fail(x, "%s: bad singleSelection=", what);
    const char *maxs = xml_attr(el, "maxSelection");
    long long max = 0;
    if (maxs != NULL && strcmp(maxs, "unbounded") != 0 &&
        parse_int(maxs, 1, 1000000, &max) != PAL_OK)
        return fail(x, "%s: bad maxSelection \"%s\"", what, maxs);
    t->max_sel = single ? 1 : (long)max;
    for (const struct xml_node *q = el->children; q != NULL; q = q->next) {
        if (!is_el(q, "markingQualifier"))
            continue;
        for (const struct xml_node *c = q->children; c != NULL; c = c->next) {
            if (!is_el(c, "qualifier") || !default_lang(c))
                continue;
            const char *code = xml_attr(c, "qualifierCode");
            const char *mq = xml_attr(c, "markingQualifier");
            if (code == NULL || mq == NULL || strlen(mq) > 256)
                return fail(x, "%s: qualifier needs markingQualifier and qualifierCode", what);
            char **slot = strcmp(code, "prefix") == 0      ? &t->prefix
                          : strcmp(code, "suffix") == 0    ? &t->suffix
                          : strcmp(code, "separator") == 0 ? &t->sep
                                                           : NULL;
            if (slot == NULL)
                return fail(x, "%s: bad qualifierCode \"%s\"", what, code);
            free(*slot);
            *slot = xstrdup(mq);
        }
    }
    for (const struct xml_node *c = el->children; c != NULL; c = c->next)
        if (is_el(c, "tagCategory") && parse_category(x, c, ti) != PAL_OK)
            return PAL_EMALFORMED;
    return PAL_OK;
}

static int
prescan_tagsets(struct ctx *x, const struct xml_node *el)
{
    static const char *const allowed[] = {"securityCategoryTagSet", NULL};
    struct policy *p = x->p;
    if (check_children(x, el, "securityCategoryTagSets", allowed) != PAL_OK)
        return PAL_EMALFORMED;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (!is_el(c, "securityCategoryTagSet"))
            continue;
        const char *name = xml_attr(c, "name");
        const char *id = xml_attr(c, "id");
        if (name == NULL || *name == '\0' || strlen(name) > 256)
            return fail(x, "securityCategoryTagSet without a valid name");
        if (id == NULL || !policy_oid_valid(id))
            return fail(x, "tag set \"%s\": id must be an OID", name);
        for (size_t i = 0; i < p->n_tagset; i++) {
            if (strcmp(p->tagsets[i].name, name) == 0)
                return fail(x, "tag set \"%s\": duplicate name", name);
            if (strcmp(p->tagsets[i].oid, id) == 0)
                return fail(x, "tag set \"%s\": duplicate id %s", name, id);
        }
        p->tagsets = xrealloc(p->tagsets, (p->n_tagset + 1) * sizeof(*p->tagsets));
        p->tagsets[p->n_tagset].name = xstrdup(name);
        p->tagsets[p->n_tagset].oid = xstrdup(id);
        p->n_tagset++;
    }
    return PAL_OK;
}

static int
parse_tagsets(struct ctx *x, const struct xml_node *el)
{
    static const char *const allowed[] = {"securityCategoryTag", "equivalentSecurityCategoryTagSet",
                                          NULL};
    size_t ts = 0;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (!is_el(c, "securityCategoryTagSet"))
            continue;
        char what[300];
        snprintf(what, sizeof(what), "tag set \"%s\"", x->p->tagsets[ts].name);
        if (check_children(x, c, what, allowed) != PAL_OK)
            return PAL_EMALFORMED;
        bool any = false;
        for (const struct xml_node *t = c->children; t != NULL; t = t->next) {
            if (!is_el(t, "securityCategoryTag"))
                continue;
            any = true;
            if (parse_tag(x, t, ts) != PAL_OK)
                return PAL_EMALFORMED;
        }
        if (!any)
            return fail(x, "%s: no securityCategoryTag", what);
        ts++;
    }
    /* Second pass: category references to other tag sets. */
    size_t ci = 0;
    for (const struct xml_node *c = el->children; c != NULL; c = c->next) {
        if (!is_el(c, "securityCategoryTagSet"))
            continue;
        for (const struct xml_node *t = c->children; t != NULL; t = t->next) {
            if (!is_el(t, "securityCategoryTag"))
                continue;
            for (const struct xml_node *k = t->children; k != NULL; k = k->next) {
                if (!is_el(k, "tagCategory"))
                    continue;
                if (resolve_cat_refs(x, k, &x->p->cats[ci++]) != PAL_OK)
                    return PAL_EMALFORMED;
            }
        }
    }
    return PAL_OK;
}

/* Every categoryGroup with a lacv must name a category that exists. */
static int
check_groups(struct ctx *x, const struct spif_req *r, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < r[i].n; j++) {
            const struct spif_group *g = &r[i].g[j];
            if (g->any_lacv)
                continue;
            const char *ts = x->p->tagsets[g->tagset].oid;
            bool found = spif_find_cat(x->p, ts, g->type, g->lacv) != NULL;
            if (!found && g->any_informative)
                found = spif_find_cat(x->p, ts, POLICY_TAG_INFORMATIVE_ENUM, g->lacv) != NULL;
            if (!found)
                return fail(x, "%s: requiredCategory names lacv %lu, not in tag set \"%s\"",
                            what, (unsigned long)g->lacv, x->p->tagsets[g->tagset].name);
        }
    }
    return PAL_OK;
}

static int
class_cmp(const void *a, const void *b)
{
    const struct spif_class *x = a;
    const struct spif_class *y = b;
    if (x->hierarchy != y->hierarchy)
        return x->hierarchy < y->hierarchy ? -1 : 1;
    return x->lacv < y->lacv ? -1 : x->lacv > y->lacv;
}

static int
load_tree(struct ctx *x, const struct xml_node *root)
{
    static const char *const allowed[] = {
        "defaultSecurityPolicyId", "securityPolicyId", "updateInfo", "securityClassifications",
        "securityCategoryTagSets", "privacyMarks", "equivalentPolicies", "markingData",
        "markingQualifier", "extensions", NULL};
    struct policy *p = x->p;

    if (root == NULL || root->type != XML_ELEMENT || root->ns == NULL ||
        strcmp(root->ns, POLICY_NS_SPIF) != 0 || strcmp(root->name, "SPIF") != 0)
        return fail(x, "not a SPIF: the root must be <SPIF xmlns='%s'>", POLICY_NS_SPIF);
    const char *ver = xml_attr(root, "schemaVersion");
    if (ver == NULL || (strcmp(ver, "1.0") != 0 && strcmp(ver, "2.0") != 0 &&
                        strcmp(ver, "2.1") != 0))
        return fail(x, "unsupported schemaVersion \"%s\" (1.0, 2.0, 2.1 are)",
                    ver != NULL ? ver : "");
    if (check_children(x, root, "SPIF", allowed) != PAL_OK)
        return PAL_EMALFORMED;

    const struct xml_node *pid = NULL;
    const struct xml_node *classes = NULL;
    const struct xml_node *tagsets = NULL;
    const struct xml_node *eqpols = NULL;
    const struct xml_node *dflt = NULL;
    const struct xml_node *ext = NULL;
    for (const struct xml_node *c = root->children; c != NULL; c = c->next) {
        const struct xml_node **slot = is_el(c, "securityPolicyId")          ? &pid
                                       : is_el(c, "securityClassifications") ? &classes
                                       : is_el(c, "securityCategoryTagSets") ? &tagsets
                                       : is_el(c, "equivalentPolicies")      ? &eqpols
                                       : is_el(c, "defaultSecurityPolicyId") ? &dflt
                                       : is_el(c, "extensions")              ? &ext
                                                                             : NULL;
        if (slot == NULL)
            continue;
        if (*slot != NULL)
            return fail(x, "more than one <%s>", c->name);
        *slot = c;
    }
    if (pid == NULL)
        return fail(x, "no <securityPolicyId>");
    const char *name = xml_attr(pid, "name");
    const char *id = xml_attr(pid, "id");
    if (name == NULL || *name == '\0' || strlen(name) > 256)
        return fail(x, "securityPolicyId needs a name");
    if (id == NULL || !policy_oid_valid(id))
        return fail(x, "securityPolicyId \"%s\": id \"%s\" is not an OID", name,
                    id != NULL ? id : "");
    p->name = xstrdup(name);
    p->oid = xstrdup(id);

    if (eqpols != NULL && parse_eqpols(x, eqpols) != PAL_OK)
        return PAL_EMALFORMED;
    if (dflt != NULL) {
        /* defaultSecurityPolicyId is a name equivalences may refer to. */
        const char *dn = xml_attr(dflt, "name");
        const char *did = xml_attr(dflt, "id");
        if (dn == NULL || did == NULL || !policy_oid_valid(did))
            return fail(x, "defaultSecurityPolicyId needs a name and an OID id");
        if (find_eqpol_name(p, dn) < 0 && strcmp(did, p->oid) != 0) {
            p->eqpols = xrealloc(p->eqpols, (p->n_eqpol + 1) * sizeof(*p->eqpols));
            p->eqpols[p->n_eqpol].name = xstrdup(dn);
            p->eqpols[p->n_eqpol].oid = xstrdup(did);
            p->eqpols[p->n_eqpol].unsupported = false;
            p->n_eqpol++;
        }
    }
    if (tagsets != NULL && prescan_tagsets(x, tagsets) != PAL_OK)
        return PAL_EMALFORMED;
    if (classes == NULL)
        return fail(x, "no <securityClassifications>");
    static const char *const class_allowed[] = {"securityClassification", "markingData",
                                                "markingQualifier", NULL};
    if (check_children(x, classes, "securityClassifications", class_allowed) != PAL_OK)
        return PAL_EMALFORMED;
    for (const struct xml_node *c = classes->children; c != NULL; c = c->next)
        if (is_el(c, "securityClassification") && parse_class(x, c) != PAL_OK)
            return PAL_EMALFORMED;
    if (p->n_class == 0)
        return fail(x, "no securityClassification");
    if (resolve_class_reqs(x, classes) != PAL_OK)
        return PAL_EMALFORMED;
    if (ext != NULL && apply_colour_extension(x, ext) != PAL_OK)
        return PAL_EMALFORMED;
    if (tagsets != NULL && parse_tagsets(x, tagsets) != PAL_OK)
        return PAL_EMALFORMED;
    for (size_t i = 0; i < p->n_class; i++) {
        char what[300];
        snprintf(what, sizeof(what), "securityClassification \"%s\"", p->classes[i].name);
        if (check_groups(x, p->classes[i].req, p->classes[i].n_req, what) != PAL_OK)
            return PAL_EMALFORMED;
    }
    for (size_t i = 0; i < p->n_cat; i++) {
        char what[300];
        snprintf(what, sizeof(what), "tagCategory \"%s\"", p->cats[i].name);
        if (check_groups(x, p->cats[i].req, p->cats[i].n_req, what) != PAL_OK)
            return PAL_EMALFORMED;
    }
    qsort(p->classes, p->n_class, sizeof(*p->classes), class_cmp);
    return PAL_OK;
}

static int
load_from_tree(struct xml_tree *t, const char *file, struct policy **out, char *err,
               size_t errlen)
{
    struct ctx x = {.p = xcalloc(1, sizeof(struct policy)), .file = file, .err = err,
                    .errlen = errlen};
    int rc = load_tree(&x, t->root);
    if (rc != PAL_OK) {
        policy_free(x.p);
        return rc;
    }
    *out = x.p;
    return PAL_OK;
}

int
policy_load_mem(const char *data, size_t len, struct policy **out, char *err, size_t errlen)
{
    struct xml_tree *t = NULL;
    char xerr[256] = "";
    *out = NULL;
    if (len > SPIF_MAX_BYTES) {
        policy_errf(err, errlen, "SPIF larger than %u bytes", SPIF_MAX_BYTES);
        return PAL_EMALFORMED;
    }
    int rc = xml_parse_doc(data, len, &t, xerr, sizeof(xerr));
    if (rc != PAL_OK) {
        policy_errf(err, errlen, "%s", xerr);
        return rc == PAL_ENOMEM ? rc : PAL_EMALFORMED;
    }
    rc = load_from_tree(t, "", out, err, errlen);
    xml_tree_free(t);
    return rc;
}

int
policy_load(const char *path, struct policy **out, char *err, size_t errlen)
{
    struct xml_tree *t = NULL;
    char xerr[512] = "";
    *out = NULL;
    int rc = xml_parse_file(path, &t, xerr, sizeof(xerr));
    if (rc != PAL_OK) {
        /* xml_parse_file names the file in its messages. */
        policy_errf(err, errlen, "%s", xerr[0] ? xerr : path);
        return rc;
    }
    rc = load_from_tree(t, path, out, err, errlen);
    xml_tree_free(t);
    return rc;
}

static void
reqs_free(struct spif_req *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].g);
    free(r);
}

void
policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->oid);
    for (size_t i = 0; i < p->n_class; i++) {
        free(p->classes[i].name);
        free(p->classes[i].marking);
        free(p->classes[i].eq);
        reqs_free(p->classes[i].req, p->classes[i].n_req);
    }
    free(p->classes);
    for (size_t i = 0; i < p->n_tagset; i++) {
        free(p->tagsets[i].name);
        free(p->tagsets[i].oid);
    }
    free(p->tagsets);
    for (size_t i = 0; i < p->n_tag; i++) {
        free(p->tags[i].name);
        free(p->tags[i].prefix);
        free(p->tags[i].suffix);
        free(p->tags[i].sep);
    }
    free(p->tags);
    for (size_t i = 0; i < p->n_cat; i++) {
        struct spif_cat *k = &p->cats[i];
        free(k->name);
        free(k->marking);
        reqs_free(k->req, k->n_req);
        free(k->excl);
        for (size_t j = 0; j < k->n_eq; j++)
            free(k->eq[j].tagset);
        free(k->eq);
    }
    free(p->cats);
    for (size_t i = 0; i < p->n_eqpol; i++) {
        free(p->eqpols[i].name);
        free(p->eqpols[i].oid);
    }
    free(p->eqpols);
    free(p);
}

/* ---- lookups and views ---- */

const struct spif_cat *
spif_find_cat(const struct policy *p, const char *tagset, enum policy_tag_type type,
              uint32_t lacv)
{
    for (size_t i = 0; i < p->n_cat; i++) {
        const struct spif_cat *k = &p->cats[i];
        if (k->lacv == lacv && k->type == type && strcmp(p->tagsets[k->tagset].oid, tagset) == 0)
            return k;
    }
    return NULL;
}

const struct spif_class *
spif_find_class(const struct policy *p, int32_t lacv)
{
    for (size_t i = 0; i < p->n_class; i++)
        if (p->classes[i].lacv == lacv)
            return &p->classes[i];
    return NULL;
}

long
spif_find_eqpol(const struct policy *p, const char *oid)
{
    for (size_t i = 0; i < p->n_eqpol; i++)
        if (strcmp(p->eqpols[i].oid, oid) == 0)
            return (long)i;
    return -1;
}

const char *
policy_name(const struct policy *p)
{
    return p->name;
}

const char *
policy_oid(const struct policy *p)
{
    return p->oid;
}

size_t
policy_class_count(const struct policy *p)
{
    return p->n_class;
}

bool
policy_class_get(const struct policy *p, size_t i, struct policy_class_info *out)
{
    if (i >= p->n_class)
        return false;
    const struct spif_class *k = &p->classes[i];
    out->name = k->name;
    out->lacv = k->lacv;
    out->hierarchy = k->hierarchy;
    out->marking = k->marking;
    out->fg = k->fg;
    out->bg = k->bg;
    out->is_obsolete = k->obsolete;
    return true;
}

size_t
policy_category_count(const struct policy *p)
{
    return p->n_cat;
}

bool
policy_category_get(const struct policy *p, size_t i, struct policy_category_info *out)
{
    if (i >= p->n_cat)
        return false;
    const struct spif_cat *k = &p->cats[i];
    out->tagset_oid = p->tagsets[k->tagset].oid;
    out->tagset_name = p->tagsets[k->tagset].name;
    out->tag_name = p->tags[k->tag].name;
    out->type = k->type;
    out->lacv = k->lacv;
    out->name = k->name;
    out->marking = k->marking;
    out->is_obsolete = k->obsolete;
    return true;
}

size_t
policy_equivalent_count(const struct policy *p)
{
    return p != NULL ? p->n_eqpol : 0;
}

bool
policy_equivalent_get(const struct policy *p, size_t i, const char **name, const char **oid)
{
    if (p == NULL || i >= p->n_eqpol)
        return false;
    if (name != NULL)
        *name = p->eqpols[i].name;
    if (oid != NULL)
        *oid = p->eqpols[i].oid;
    return true;
}

/* ---- policy sets ---- */

struct policy_set *
policy_set_new(void)
{
    return xcalloc(1, sizeof(struct policy_set));
}

void
policy_set_free(struct policy_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        policy_free(s->v[i]);
    free(s->v);
    free(s);
}

int
policy_set_add(struct policy_set *s, struct policy *p)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->oid, p->oid) == 0 || strcmp(s->v[i]->name, p->name) == 0)
            return PAL_EEXIST;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = p;
    return PAL_OK;
}

int
policy_set_load(struct policy_set *s, const char *path, char *err, size_t errlen)
{
    struct policy *p;
    int rc = policy_load(path, &p, err, errlen);
    if (rc != PAL_OK)
        return rc;
    rc = policy_set_add(s, p);
    if (rc != PAL_OK) {
        policy_errf(err, errlen, "%s: policy %s (%s) is already loaded", path, p->name, p->oid);
        policy_free(p);
    }
    return rc;
}

const struct policy *
policy_set_find(const struct policy_set *s, const char *oid_or_name)
{
    if (s == NULL || oid_or_name == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->oid, oid_or_name) == 0)
            return s->v[i];
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->name, oid_or_name) == 0)
            return s->v[i];
    return NULL;
}

const struct policy *
policy_set_find_oid(const struct policy_set *s, const char *oid)
{
    if (s == NULL || oid == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->oid, oid) == 0)
            return s->v[i];
    return NULL;
}

size_t
policy_set_count(const struct policy_set *s)
{
    return s != NULL ? s->n : 0;
}

const struct policy *
policy_set_get(const struct policy_set *s, size_t i)
{
    if (s == NULL || i >= s->n)
        return NULL;
    return s->v[i];
}
