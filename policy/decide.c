/* SPDX-License-Identifier: Apache-2.0 */
/* decide.c - the access control decision function and what hangs off it:
 * label validation against its SPIF, dominance of a clearance over a label,
 * mapping a label into an equivalent policy, display markings and the
 * XEP-0258 catalog. Every function is pure over its borrowed arguments. The
 * router calls policy_check_send() for the sender (and a room's clearance),
 * the delivering node policy_check_read() for each receiver, s2s
 * policy_check_peer(). Each answer names its reason so the caller can log it. */
#include "policy/policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/xml.h"

static const char *const verdict_names[] = {
    [POLICY_ALLOW] = "allow",
    [POLICY_DENY_BAD_LABEL] = "deny-bad-label",
    [POLICY_DENY_CLEARANCE] = "deny-clearance",
    [POLICY_DENY_PEER] = "deny-peer",
};

static const char *const reason_names[POLICY_REASON_COUNT] = {
    [POLICY_R_OK] = "ok",
    [POLICY_R_UNLABELLED] = "unlabelled",
    [POLICY_R_NO_CLEARANCE] = "no-clearance",
    [POLICY_R_INVALID_LABEL] = "invalid-label",
    [POLICY_R_UNKNOWN_POLICY] = "unknown-policy",
    [POLICY_R_UNKNOWN_CLASSIFICATION] = "unknown-classification",
    [POLICY_R_UNKNOWN_CATEGORY] = "unknown-category",
    [POLICY_R_EXCLUDED_CLASS] = "excluded-classification",
    [POLICY_R_EXCLUDED_CATEGORY] = "excluded-category",
    [POLICY_R_MISSING_REQUIRED] = "missing-required-category",
    [POLICY_R_TOO_MANY_CATEGORIES] = "too-many-categories",
    [POLICY_R_OBSOLETE] = "obsolete-value",
    [POLICY_R_CLASS_TOO_HIGH] = "classification-too-high",
    [POLICY_R_MISSING_RESTRICTIVE] = "missing-restrictive-category",
    [POLICY_R_NO_PERMISSIVE] = "no-permissive-category",
    [POLICY_R_POLICY_MISMATCH] = "policy-mismatch",
    [POLICY_R_INVALID_CLEARANCE] = "invalid-clearance",
};

const char *
policy_verdict_str(enum policy_verdict v)
{
    if ((unsigned)v >= sizeof(verdict_names) / sizeof(verdict_names[0]))
        return "unknown";
    return verdict_names[v];
}

const char *
policy_reason_str(enum policy_reason r)
{
    if ((unsigned)r >= POLICY_REASON_COUNT)
        return "unknown";
    return reason_names[r];
}

static struct policy_decision
decision(enum policy_verdict v, enum policy_reason r)
{
    struct policy_decision d = {v, r};
    return d;
}

static struct policy_decision
bad(enum policy_reason r)
{
    return decision(POLICY_DENY_BAD_LABEL, r);
}

/* ---- validation ---- */

static bool
group_matches(const struct policy *p, const struct spif_group *g, const struct pcat *c)
{
    if (strcmp(c->tagset, p->tagsets[g->tagset].oid) != 0)
        return false;
    bool type_ok = c->type == g->type ||
                   (g->any_informative && (c->type == POLICY_TAG_INFORMATIVE ||
                                           c->type == POLICY_TAG_INFORMATIVE_ENUM));
    return type_ok && (g->any_lacv || c->lacv == g->lacv);
}

static bool
req_satisfied(const struct policy *p, const struct spif_req *r, const struct catset *cats)
{
    size_t matched = 0;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t j = 0; j < cats->n; j++) {
            if (group_matches(p, &r->g[i], &cats->v[j])) {
                matched++;
                break;
            }
        }
    }
    switch (r->op) {
    case OP_ONLY_ONE:
        return matched == 1;
    case OP_ONE_OR_MORE:
        return matched >= 1;
    default:
        return matched == r->n;
    }
}

/* Validates l under p (p is l's policy). for_send refuses obsolete values. */
static struct policy_decision
validate_in(const struct policy *p, const struct policy_label *l, bool for_send)
{
    if (!l->has_class)
        return bad(POLICY_R_INVALID_LABEL);
    const struct spif_class *k = spif_find_class(p, l->cls);
    if (k == NULL)
        return bad(POLICY_R_UNKNOWN_CLASSIFICATION);
    bool obsolete = k->obsolete;
    for (size_t i = 0; i < l->cats.n; i++) {
        const struct pcat *c = &l->cats.v[i];
        const struct spif_cat *sc = spif_find_cat(p, c->tagset, c->type, c->lacv);
        if (sc == NULL)
            return bad(POLICY_R_UNKNOWN_CATEGORY);
        obsolete = obsolete || sc->obsolete;
        if (class_bit_get(sc->excluded, l->cls) ||
            (sc->required_class >= 0 && sc->required_class != l->cls))
            return bad(POLICY_R_EXCLUDED_CLASS);
        for (size_t e = 0; e < sc->n_excl; e++)
            for (size_t j = 0; j < l->cats.n; j++)
                if (j != i && group_matches(p, &sc->excl[e], &l->cats.v[j]))
                    return bad(POLICY_R_EXCLUDED_CATEGORY);
    }
    /* singleSelection / maxSelection: count per securityCategoryTag. */
    for (size_t t = 0; t < p->n_tag; t++) {
        if (p->tags[t].max_sel <= 0)
            continue;
        long n = 0;
        for (size_t i = 0; i < l->cats.n; i++) {
            const struct pcat *c = &l->cats.v[i];
            const struct spif_cat *sc = spif_find_cat(p, c->tagset, c->type, c->lacv);
            if (sc->tag == t)
                n++;
        }
        if (n > p->tags[t].max_sel)
            return bad(POLICY_R_TOO_MANY_CATEGORIES);
    }
    for (size_t r = 0; r < k->n_req; r++)
        if (!req_satisfied(p, &k->req[r], &l->cats))
            return bad(POLICY_R_MISSING_REQUIRED);
    for (size_t i = 0; i < l->cats.n; i++) {
        const struct pcat *c = &l->cats.v[i];
        const struct spif_cat *sc = spif_find_cat(p, c->tagset, c->type, c->lacv);
        for (size_t r = 0; r < sc->n_req; r++)
            if (!req_satisfied(p, &sc->req[r], &l->cats))
                return bad(POLICY_R_MISSING_REQUIRED);
    }
    if (for_send && obsolete)
        return bad(POLICY_R_OBSOLETE);
    return decision(POLICY_ALLOW, POLICY_R_OK);
}

static struct policy_decision
validate(const struct policy_set *s, const struct policy_label *l, bool for_send)
{
    const struct policy *p = policy_set_find_oid(s, l->policy);
    if (p == NULL)
        return bad(POLICY_R_UNKNOWN_POLICY);
    return validate_in(p, l, for_send);
}

struct policy_decision
policy_label_validate(const struct policy_set *s, const struct policy_label *l)
{
    if (l == NULL)
        return bad(POLICY_R_INVALID_LABEL);
    return validate(s, l, false);
}

/* ---- mapping between equivalent policies ---- */

static bool
same_type(enum policy_tag_type a, enum policy_tag_type b)
{
    bool ia = a == POLICY_TAG_INFORMATIVE || a == POLICY_TAG_INFORMATIVE_ENUM;
    bool ib = b == POLICY_TAG_INFORMATIVE || b == POLICY_TAG_INFORMATIVE_ENUM;
    return a == b || (ia && ib);
}

/* Several candidate classifications for one source value: the highest in the
 * target's hierarchy is the safe choice; without the target's SPIF only an
 * unambiguous answer will do. */
static int
pick_class(const struct policy *q, const int32_t *cand, size_t n, int32_t *out)
{
    if (n == 0)
        return PAL_ENOENT;
    int32_t best = cand[0];
    for (size_t i = 1; i < n; i++) {
        if (cand[i] == best)
            continue;
        if (q == NULL)
            return PAL_ENOENT;
        const struct spif_class *a = spif_find_class(q, cand[i]);
        const struct spif_class *b = spif_find_class(q, best);
        if (a == NULL || b == NULL)
            return PAL_ENOENT;
        if (a->hierarchy > b->hierarchy)
            best = cand[i];
    }
    *out = best;
    return PAL_OK;
}

/* Adds the n mapped values of one source category; a permissive value that
 * maps to several is ambiguous (it would widen who may read). */
static int
add_mapped(struct policy_label *m, enum policy_tag_type src_type, const struct pcat *vals,
           size_t n)
{
    if (n > 1 && policy_tag_is_permissive(src_type))
        return PAL_ENOENT;
    for (size_t i = 0; i < n; i++)
        if (catset_add(&m->cats, vals[i].tagset, vals[i].type, vals[i].lacv) != PAL_OK)
            return PAL_ENOENT;
    return PAL_OK;
}

/* With p's own equivalences (p lists the target; applied encrypt or both). */
static int
map_forward(const struct policy *p, const struct policy *q, const struct policy_label *l,
            long ep, struct policy_label *m)
{
    const struct spif_class *k = spif_find_class(p, l->cls);
    int32_t *cand = xcalloc(k->n_eq + 1, sizeof(*cand));
    size_t nc = 0;
    for (size_t i = 0; i < k->n_eq; i++)
        if (k->eq[i].eqpol == (size_t)ep && (k->eq[i].applied & APPLIED_ENCRYPT) &&
            !k->eq[i].unsupported)
            cand[nc++] = k->eq[i].lacv;
    int32_t cls;
    int rc = pick_class(q, cand, nc, &cls);
    free(cand);
    if (rc != PAL_OK)
        return rc;
    policy_label_set_class(m, cls);
    for (size_t i = 0; i < l->cats.n; i++) {
        const struct pcat *c = &l->cats.v[i];
        const struct spif_cat *sc = spif_find_cat(p, c->tagset, c->type, c->lacv);
        struct pcat *vals = xcalloc(sc->n_eq + 1, sizeof(*vals));
        size_t nv = 0;
        bool discard = false;
        for (size_t j = 0; j < sc->n_eq; j++) {
            const struct spif_eqcat *e = &sc->eq[j];
            if (e->eqpol != (size_t)ep || !(e->applied & APPLIED_ENCRYPT))
                continue;
            if (e->discard) {
                discard = true;
                continue;
            }
            vals[nv].tagset = e->tagset;
            vals[nv].type = e->type;
            vals[nv].lacv = e->lacv;
            nv++;
        }
        rc = nv == 0 && !discard ? PAL_ENOENT : add_mapped(m, c->type, vals, nv);
        free(vals);
        if (rc != PAL_OK)
            return rc;
    }
    return PAL_OK;
}

/* With the target q's equivalences back to p (applied decrypt or both). */
static int
map_backward(const struct policy *p, const struct policy *q, const struct policy_label *l,
             long eq, struct policy_label *m)
{
    (void)p;
    int32_t *cand = xcalloc(q->n_class + 1, sizeof(*cand));
    size_t nc = 0;
    for (size_t i = 0; i < q->n_class; i++) {
        const struct spif_class *k = &q->classes[i];
        for (size_t j = 0; j < k->n_eq; j++) {
            if (k->eq[j].eqpol == (size_t)eq && (k->eq[j].applied & APPLIED_DECRYPT) &&
                !k->eq[j].unsupported && k->eq[j].lacv == l->cls) {
                cand[nc++] = k->lacv;
                break;
            }
        }
    }
    int32_t cls;
    int rc = pick_class(q, cand, nc, &cls);
    free(cand);
    if (rc != PAL_OK)
        return rc;
    policy_label_set_class(m, cls);
    for (size_t i = 0; i < l->cats.n; i++) {
        const struct pcat *c = &l->cats.v[i];
        struct pcat *vals = xcalloc(q->n_cat + 1, sizeof(*vals));
        size_t nv = 0;
        bool discard = false;
        for (size_t k = 0; k < q->n_cat; k++) {
            const struct spif_cat *qc = &q->cats[k];
            for (size_t j = 0; j < qc->n_eq; j++) {
                const struct spif_eqcat *e = &qc->eq[j];
                if (e->eqpol != (size_t)eq || !(e->applied & APPLIED_DECRYPT) ||
                    e->lacv != c->lacv || !same_type(e->type, c->type) ||
                    strcmp(e->tagset, c->tagset) != 0)
                    continue;
                if (e->discard) {
                    discard = true;
                    continue;
                }
                vals[nv].tagset = q->tagsets[qc->tagset].oid;
                vals[nv].type = qc->type;
                vals[nv].lacv = qc->lacv;
                nv++;
                break;
            }
        }
        rc = nv == 0 && !discard ? PAL_ENOENT : add_mapped(m, c->type, vals, nv);
        free(vals);
        if (rc != PAL_OK)
            return rc;
    }
    return PAL_OK;
}

int
policy_label_map(const struct policy_set *s, const struct policy_label *l, const char *target_oid,
                 struct policy_label **out)
{
    *out = NULL;
    const struct policy *p = policy_set_find_oid(s, l->policy);
    if (p == NULL || validate_in(p, l, false).verdict != POLICY_ALLOW)
        return PAL_EPOLICY;
    if (strcmp(target_oid, l->policy) == 0) {
        *out = policy_label_dup(l);
        return PAL_OK;
    }
    const struct policy *q = policy_set_find_oid(s, target_oid);
    long ep = spif_find_eqpol(p, target_oid);
    if (ep >= 0 && !p->eqpols[ep].unsupported) {
        struct policy_label *m = policy_label_new(target_oid);
        if (m != NULL && map_forward(p, q, l, ep, m) == PAL_OK) {
            policy_label_set_privacy_mark(m, l->pmark, l->pmark_utf8);
            *out = m;
            return PAL_OK;
        }
        policy_label_free(m);
    }
    long eq = q != NULL ? spif_find_eqpol(q, l->policy) : -1;
    if (eq >= 0 && !q->eqpols[eq].unsupported) {
        struct policy_label *m = policy_label_new(target_oid);
        if (m != NULL && map_backward(p, q, l, eq, m) == PAL_OK) {
            policy_label_set_privacy_mark(m, l->pmark, l->pmark_utf8);
            *out = m;
            return PAL_OK;
        }
        policy_label_free(m);
    }
    return PAL_ENOENT;
}

/* ---- dominance and decisions ---- */

/* Does c dominate l? Both of one policy; l valid. */
static struct policy_decision
dominates(const struct policy_clearance *c, const struct policy_label *l)
{
    if (!class_bit_get(c->classes, l->cls))
        return decision(POLICY_DENY_CLEARANCE, POLICY_R_CLASS_TOO_HIGH);
    for (size_t i = 0; i < l->cats.n; i++) {
        const struct pcat *k = &l->cats.v[i];
        if (policy_tag_is_restrictive(k->type) &&
            !catset_has(&c->cats, k->tagset, k->type, k->lacv))
            return decision(POLICY_DENY_CLEARANCE, POLICY_R_MISSING_RESTRICTIVE);
    }
    /* Permissive: each (tag set, type) group of the label needs one value held.
     * The label's set is sorted, so a group is a run. */
    for (size_t i = 0; i < l->cats.n;) {
        const struct pcat *k = &l->cats.v[i];
        size_t j = i;
        bool held = false;
        while (j < l->cats.n && l->cats.v[j].type == k->type &&
               strcmp(l->cats.v[j].tagset, k->tagset) == 0) {
            if (catset_has(&c->cats, l->cats.v[j].tagset, l->cats.v[j].type, l->cats.v[j].lacv))
                held = true;
            j++;
        }
        if (policy_tag_is_permissive(k->type) && !held)
            return decision(POLICY_DENY_CLEARANCE, POLICY_R_NO_PERMISSIVE);
        i = j;
    }
    return decision(POLICY_ALLOW, POLICY_R_OK);
}

static struct policy_decision
check(const struct policy_set *s, const struct policy_clearance *c, const struct policy_label *l,
      enum policy_check kind)
{
    if (l == NULL)
        return decision(POLICY_ALLOW, POLICY_R_UNLABELLED);
    if (c == NULL)
        return decision(POLICY_DENY_CLEARANCE, POLICY_R_NO_CLEARANCE);
    struct policy_decision d = validate(s, l, kind == POLICY_CHECK_SEND);
    if (d.verdict != POLICY_ALLOW)
        return d;
    if (strcmp(c->policy, l->policy) == 0)
        return dominates(c, l);
    const struct policy *cp = policy_set_find_oid(s, c->policy);
    if (cp == NULL)
        return decision(POLICY_DENY_CLEARANCE, POLICY_R_INVALID_CLEARANCE);
    struct policy_label *m = NULL;
    if (policy_label_map(s, l, c->policy, &m) != PAL_OK)
        return decision(POLICY_DENY_CLEARANCE, POLICY_R_POLICY_MISMATCH);
    if (validate_in(cp, m, false).verdict != POLICY_ALLOW)
        d = decision(POLICY_DENY_CLEARANCE, POLICY_R_POLICY_MISMATCH);
    else
        d = dominates(c, m);
    policy_label_free(m);
    return d;
}

static struct policy_decision
check_kind(const struct policy_set *s, const struct policy_clearance *c,
           const struct policy_label *l, enum policy_check kind)
{
    struct policy_decision d = check(s, c, l, kind);
    if (kind == POLICY_CHECK_PEER && d.verdict == POLICY_DENY_CLEARANCE)
        d.verdict = POLICY_DENY_PEER;
    return d;
}

struct policy_decision
policy_check_read(const struct policy_set *s, const struct policy_clearance *c,
                  const struct policy_label *l)
{
    return check_kind(s, c, l, POLICY_CHECK_READ);
}

struct policy_decision
policy_check_send(const struct policy_set *s, const struct policy_clearance *c,
                  const struct policy_label *l)
{
    return check_kind(s, c, l, POLICY_CHECK_SEND);
}

struct policy_decision
policy_check_peer(const struct policy_set *s, const struct policy_clearance *c,
                  const struct policy_label *l)
{
    return check_kind(s, c, l, POLICY_CHECK_PEER);
}

struct policy_decision
policy_check_any(const struct policy_set *s, enum policy_check kind,
                 const struct policy_clearance *const *cs, size_t n, const struct policy_label *l)
{
    if (n == 0 || cs == NULL)
        return check_kind(s, NULL, l, kind);
    struct policy_decision first = {POLICY_DENY_CLEARANCE, POLICY_R_NO_CLEARANCE};
    bool have_own = false;
    for (size_t i = 0; i < n; i++) {
        struct policy_decision d = check_kind(s, cs[i], l, kind);
        if (d.verdict == POLICY_ALLOW)
            return d;
        bool own = l != NULL && cs[i] != NULL && strcmp(cs[i]->policy, l->policy) == 0;
        if (i == 0 || (own && !have_own))
            first = d;
        have_own = have_own || own;
    }
    return first;
}

/* ---- display markings ---- */

int
policy_display_marking(const struct policy_set *s, const struct policy_label *l,
                       struct policy_marking *out)
{
    memset(out, 0, sizeof(*out));
    const struct policy *p = policy_set_find_oid(s, l->policy);
    if (p == NULL || validate_in(p, l, false).verdict != POLICY_ALLOW)
        return PAL_EPOLICY;
    const struct spif_class *k = spif_find_class(p, l->cls);
    struct buf b;
    buf_init(&b);
    if (!k->suppress_name)
        buf_append_str(&b, k->marking);
    for (size_t t = 0; t < p->n_tag; t++) {
        const struct spif_tag *tag = &p->tags[t];
        bool first = true;
        for (size_t i = 0; i < p->n_cat; i++) {
            const struct spif_cat *c = &p->cats[i];
            if (c->tag != t || c->no_display ||
                !catset_has(&l->cats, p->tagsets[c->tagset].oid, c->type, c->lacv))
                continue;
            if (first) {
                if (buf_used(&b) > 0)
                    buf_append(&b, " ", 1);
                if (tag->prefix != NULL)
                    buf_append_str(&b, tag->prefix);
            } else {
                buf_append_str(&b, tag->sep != NULL ? tag->sep : " ");
            }
            buf_append_str(&b, c->marking);
            first = false;
        }
        if (!first && tag->suffix != NULL)
            buf_append_str(&b, tag->suffix);
    }
    out->text = buf_strdup(&b);
    buf_free(&b);
    snprintf(out->fg, sizeof(out->fg), "%s", k->fg);
    snprintf(out->bg, sizeof(out->bg), "%s", k->bg);
    return PAL_OK;
}

void
policy_marking_clear(struct policy_marking *m)
{
    if (m == NULL)
        return;
    free(m->text);
    m->text = NULL;
}

/* ---- the XEP-0258 catalog ---- */

#define CATALOG_MAX 256

struct catalog_item {
    struct policy_label *label;
    struct policy_marking marking;
    char *selector;
};

struct policy_catalog {
    size_t n;
    struct catalog_item v[CATALOG_MAX];
};

/* '|' separates selector levels; names may not introduce new ones. */
static void
put_selector_part(struct buf *b, const char *s)
{
    for (; *s != '\0'; s++)
        buf_append(b, *s == '|' ? "/" : s, 1);
}

static void
catalog_offer(const struct policy_set *s, const struct policy *p,
              const struct policy_clearance *sender, const struct policy_clearance *receiver,
              struct policy_catalog *cat, struct policy_label *l)
{
    if (cat->n >= CATALOG_MAX || validate_in(p, l, true).verdict != POLICY_ALLOW ||
        check(s, sender, l, POLICY_CHECK_SEND).verdict != POLICY_ALLOW ||
        check(s, receiver, l, POLICY_CHECK_READ).verdict != POLICY_ALLOW) {
        policy_label_free(l);
        return;
    }
    for (size_t i = 0; i < cat->n; i++) {
        if (policy_label_equal(cat->v[i].label, l)) {
            policy_label_free(l);
            return;
        }
    }
    struct catalog_item *it = &cat->v[cat->n];
    if (policy_display_marking(s, l, &it->marking) != PAL_OK) {
        policy_label_free(l);
        return;
    }
    const struct spif_class *k = spif_find_class(p, l->cls);
    struct buf b;
    buf_init(&b);
    put_selector_part(&b, p->name);
    buf_append(&b, "|", 1);
    put_selector_part(&b, k->name);
    if (l->cats.n > 0) {
        buf_append(&b, "|", 1);
        put_selector_part(&b, it->marking.text);
    }
    it->selector = buf_strdup(&b);
    buf_free(&b);
    it->label = l;
    cat->n++;
}

static struct policy_label *
class_label(const struct policy *p, int32_t cls)
{
    struct policy_label *l = policy_label_new(p->oid);
    policy_label_set_class(l, cls);
    return l;
}

static void
offer_with(const struct policy_set *s, const struct policy *p,
           const struct policy_clearance *sender, const struct policy_clearance *receiver,
           struct policy_catalog *cat, int32_t cls, const struct spif_cat *c)
{
    struct policy_label *l = class_label(p, cls);
    policy_label_add_category(l, p->tagsets[c->tagset].oid, c->type, c->lacv);
    catalog_offer(s, p, sender, receiver, cat, l);
}

struct policy_catalog *
policy_catalog(const struct policy_set *s, const struct policy_clearance *sender,
               const struct policy_clearance *receiver, unsigned flags)
{
    struct policy_catalog *cat = xcalloc(1, sizeof(*cat));
    if (sender == NULL || receiver == NULL)
        return cat;
    const struct policy *p = policy_set_find_oid(s, sender->policy);
    if (p == NULL)
        return cat;
    for (size_t i = p->n_class; i-- > 0;) {
        const struct spif_class *k = &p->classes[i];
        if (k->obsolete)
            continue;
        struct policy_label *l = class_label(p, k->lacv);
        bool needs_more = validate_in(p, l, true).reason == POLICY_R_MISSING_REQUIRED;
        catalog_offer(s, p, sender, receiver, cat, l);
        if (needs_more) {
            /* The smallest labels its requiredCategory rules accept: one
             * category of the groups they name. */
            for (size_t r = 0; r < k->n_req; r++) {
                for (size_t g = 0; g < k->req[r].n; g++) {
                    const struct spif_group *gr = &k->req[r].g[g];
                    for (size_t c = 0; c < p->n_cat; c++) {
                        const struct spif_cat *sc = &p->cats[c];
                        struct pcat pc = {p->tagsets[sc->tagset].oid, sc->type, sc->lacv};
                        if (!sc->obsolete && group_matches(p, gr, &pc))
                            offer_with(s, p, sender, receiver, cat, k->lacv, sc);
                    }
                }
            }
        }
        if (flags & POLICY_CATALOG_CATEGORIES) {
            for (size_t c = 0; c < p->n_cat; c++) {
                const struct spif_cat *sc = &p->cats[c];
                if (!sc->obsolete &&
                    (policy_tag_is_restrictive(sc->type) || policy_tag_is_permissive(sc->type)))
                    offer_with(s, p, sender, receiver, cat, k->lacv, sc);
            }
        }
    }
    return cat;
}

void
policy_catalog_free(struct policy_catalog *cat)
{
    if (cat == NULL)
        return;
    for (size_t i = 0; i < cat->n; i++) {
        policy_label_free(cat->v[i].label);
        policy_marking_clear(&cat->v[i].marking);
        free(cat->v[i].selector);
    }
    free(cat);
}

size_t
policy_catalog_count(const struct policy_catalog *cat)
{
    return cat->n;
}

const struct policy_label *
policy_catalog_label(const struct policy_catalog *cat, size_t i)
{
    return i < cat->n ? cat->v[i].label : NULL;
}

const struct policy_marking *
policy_catalog_marking(const struct policy_catalog *cat, size_t i)
{
    return i < cat->n ? &cat->v[i].marking : NULL;
}

const char *
policy_catalog_selector(const struct policy_catalog *cat, size_t i)
{
    return i < cat->n ? cat->v[i].selector : NULL;
}

struct xml_node *
policy_catalog_to_xml(const struct policy_set *s, const struct policy_catalog *cat,
                      const struct policy_label *dflt, const char *to, const char *name,
                      const char *desc, bool is_restrict, struct xml_tree *t,
                      struct xml_node *parent)
{
    struct xml_node *el = xml_elem_new(t, parent, POLICY_NS_CATALOG, "catalog");
    if (to != NULL)
        xml_set_attr(t, el, NULL, "to", to);
    if (name != NULL)
        xml_set_attr(t, el, NULL, "name", name);
    if (desc != NULL)
        xml_set_attr(t, el, NULL, "desc", desc);
    xml_set_attr(t, el, NULL, "restrict", is_restrict ? "true" : "false");
    for (size_t i = 0; i < cat->n; i++) {
        struct xml_node *item = xml_elem_new(t, el, POLICY_NS_CATALOG, "item");
        xml_set_attr(t, item, NULL, "selector", cat->v[i].selector);
        if (dflt != NULL && policy_label_equal(dflt, cat->v[i].label))
            xml_set_attr(t, item, NULL, "default", "true");
        if (policy_label_to_xep258(s, cat->v[i].label, t, item, NULL) != PAL_OK)
            xml_unlink(item);
    }
    return el;
}
