/* SPDX-License-Identifier: Apache-2.0 */
/* test_decide.c - policy/decide.c: label validation, dominance (exhaustive over
 * the sample policy's classifications and categories), equivalence mapping
 * between the sample and partner policies, the SPIF rules of the real files,
 * display markings and the XEP-0258 catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xml.h"
#include "policy/policy.h"

#define SPIF_DIR TEST_DATA_DIR "/spif"
#define SAMPLE_DIR TEST_DATA_DIR "/../../policy/spif"
#define ARC "2.25.115474412885542477776524736473101231463"
#define SAMPLE ARC ".1.1"
#define PARTNER ARC ".1.2"
#define NTK ARC ".2.1"
#define REL ARC ".2.2"
#define HANDLING ARC ".2.3"
#define P_COMP ARC ".2.4"
#define P_REL ARC ".2.5"
#define P_NOTES ARC ".2.6"
#define NATO "1.3.26.1.3.1"
#define NATO_SCD "1.3.26.1.4.1"
#define NATO_REL "1.3.26.1.4.2"
#define NATO_ADM "1.3.26.1.4.3"
#define ACME "1.3.6.1.4.1.31778.110.1"
#define ACME_REL "1.3.6.1.4.1.31778.111.1"
#define ACME_ADM "1.3.6.1.4.1.31778.111.2"
#define ACME_SENS "1.3.6.1.4.1.31778.111.3"
#define MOCK "1.3.6.1.4.1.31778.120.1"

struct fixture {
    struct policy_set *set;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[512];
    f->set = policy_set_new();
    static const char *const files[] = {
        SAMPLE_DIR "/palisade-sample.xml", SAMPLE_DIR "/palisade-partner.xml",
        SPIF_DIR "/NATO-SPIF-example.xml", SPIF_DIR "/ACME-SPIF-example.xml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (policy_set_load(f->set, files[i], err, sizeof(err)) != PAL_OK)
            return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    policy_set_free(f->set);
    free(f);
    return 0;
}

static struct policy_label *
label(const char *policy, int32_t cls)
{
    struct policy_label *l = policy_label_new(policy);
    assert_non_null(l);
    if (cls >= 0)
        assert_int_equal(policy_label_set_class(l, cls), PAL_OK);
    return l;
}

static void
cat(struct policy_label *l, const char *ts, enum policy_tag_type t, uint32_t lacv)
{
    assert_int_equal(policy_label_add_category(l, ts, t, lacv), PAL_OK);
}

static struct policy_clearance *
clearance(const struct fixture *f, const char *text)
{
    struct policy_clearance *c = NULL;
    char err[256] = "";
    if (policy_clearance_from_text(f->set, text, &c, err, sizeof(err)) != PAL_OK)
        fail_msg("%s: %s", text, err);
    return c;
}

static void
expect(struct policy_decision d, enum policy_verdict v, enum policy_reason r)
{
    if (d.verdict != v || d.reason != r)
        fail_msg("got %s/%s, want %s/%s", policy_verdict_str(d.verdict),
                 policy_reason_str(d.reason), policy_verdict_str(v), policy_reason_str(r));
}

/* ---- strings ---- */

static void
test_decide_strings_are_stable_and_distinct(void **state)
{
    (void)state;
    assert_string_equal(policy_verdict_str(POLICY_ALLOW), "allow");
    assert_string_equal(policy_verdict_str(POLICY_DENY_BAD_LABEL), "deny-bad-label");
    assert_string_equal(policy_verdict_str(POLICY_DENY_CLEARANCE), "deny-clearance");
    assert_string_equal(policy_verdict_str(POLICY_DENY_PEER), "deny-peer");
    assert_string_equal(policy_verdict_str((enum policy_verdict)77), "unknown");
    assert_string_equal(policy_reason_str(POLICY_R_CLASS_TOO_HIGH), "classification-too-high");
    assert_string_equal(policy_reason_str(POLICY_R_MISSING_RESTRICTIVE),
                        "missing-restrictive-category");
    assert_string_equal(policy_reason_str(POLICY_R_NO_PERMISSIVE), "no-permissive-category");
    assert_string_equal(policy_reason_str(POLICY_R_POLICY_MISMATCH), "policy-mismatch");
    assert_string_equal(policy_reason_str(POLICY_R_NO_CLEARANCE), "no-clearance");
    assert_string_equal(policy_reason_str(POLICY_R_INVALID_LABEL), "invalid-label");
    assert_string_equal(policy_reason_str((enum policy_reason)POLICY_REASON_COUNT), "unknown");
    for (int i = 0; i < POLICY_REASON_COUNT; i++) {
        const char *a = policy_reason_str((enum policy_reason)i);
        assert_string_not_equal(a, "unknown");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(a, policy_reason_str((enum policy_reason)j));
    }
}

/* ---- NULLs ---- */

static void
test_decide_null_clearance_and_label(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l = label(SAMPLE, 1);
    struct policy_clearance *c = clearance(f, "policy=PALISADE class=SECRET");
    expect(policy_check_read(f->set, NULL, l), POLICY_DENY_CLEARANCE, POLICY_R_NO_CLEARANCE);
    expect(policy_check_send(f->set, NULL, l), POLICY_DENY_CLEARANCE, POLICY_R_NO_CLEARANCE);
    expect(policy_check_peer(f->set, NULL, l), POLICY_DENY_PEER, POLICY_R_NO_CLEARANCE);
    expect(policy_check_read(f->set, NULL, NULL), POLICY_ALLOW, POLICY_R_UNLABELLED);
    expect(policy_check_read(f->set, c, NULL), POLICY_ALLOW, POLICY_R_UNLABELLED);
    expect(policy_check_send(f->set, NULL, NULL), POLICY_ALLOW, POLICY_R_UNLABELLED);
    expect(policy_check_any(f->set, POLICY_CHECK_READ, NULL, 0, l), POLICY_DENY_CLEARANCE,
           POLICY_R_NO_CLEARANCE);
    expect(policy_label_validate(f->set, NULL), POLICY_DENY_BAD_LABEL, POLICY_R_INVALID_LABEL);
    policy_clearance_free(c);
    policy_label_free(l);
}

/* ---- exhaustive dominance over the sample policy ---- */

static const uint32_t countries[] = {826, 250, 276}; /* GBR FRA DEU */
#define NCOUNTRIES 3

static struct policy_label *
sample_label(int32_t cls, unsigned ntk, unsigned rel, bool personal)
{
    struct policy_label *l = label(SAMPLE, cls);
    for (unsigned i = 0; i < 2; i++)
        if (ntk & (1u << i))
            cat(l, NTK, POLICY_TAG_RESTRICTIVE, i + 1);
    for (unsigned i = 0; i < NCOUNTRIES; i++)
        if (rel & (1u << i))
            cat(l, REL, POLICY_TAG_ENUM_PERMISSIVE, countries[i]);
    if (personal)
        cat(l, HANDLING, POLICY_TAG_INFORMATIVE, 2);
    return l;
}

static struct policy_clearance *
sample_clearance(unsigned classes, unsigned ntk, unsigned rel)
{
    struct policy_clearance *c = policy_clearance_new(SAMPLE);
    for (int32_t v = 1; v <= 4; v++)
        if (classes & (1u << (v - 1)))
            assert_int_equal(policy_clearance_add_class(c, v), PAL_OK);
    for (unsigned i = 0; i < 2; i++)
        if (ntk & (1u << i))
            assert_int_equal(policy_clearance_add_category(c, NTK, POLICY_TAG_RESTRICTIVE, i + 1),
                             PAL_OK);
    for (unsigned i = 0; i < NCOUNTRIES; i++)
        if (rel & (1u << i))
            assert_int_equal(
                policy_clearance_add_category(c, REL, POLICY_TAG_ENUM_PERMISSIVE, countries[i]),
                PAL_OK);
    return c;
}

static void
test_decide_sample_exhaustive(void **state)
{
    const struct fixture *f = *state;
    size_t allowed = 0;
    size_t total = 0;
    for (int32_t cls = 1; cls <= 4; cls++)
    for (unsigned lntk = 0; lntk < 4; lntk++)
    for (unsigned lrel = 0; lrel < (1u << NCOUNTRIES); lrel++)
    for (int personal = 0; personal < 2; personal++) {
        struct policy_label *l = sample_label(cls, lntk, lrel, personal);
        bool valid = !(cls == 1 && lntk != 0); /* compartments exclude UNCLASSIFIED */
        expect(policy_label_validate(f->set, l), valid ? POLICY_ALLOW : POLICY_DENY_BAD_LABEL,
               valid ? POLICY_R_OK : POLICY_R_EXCLUDED_CLASS);
        for (unsigned cc = 0; cc < 16; cc++)
        for (unsigned cntk = 0; cntk < 4; cntk++)
        for (unsigned crel = 0; crel < (1u << NCOUNTRIES); crel++) {
            struct policy_clearance *c = sample_clearance(cc, cntk, crel);
            enum policy_verdict v;
            enum policy_reason r;
            if (!valid) {
                v = POLICY_DENY_BAD_LABEL;
                r = POLICY_R_EXCLUDED_CLASS;
            } else if (!(cc & (1u << (cls - 1)))) {
                v = POLICY_DENY_CLEARANCE;
                r = POLICY_R_CLASS_TOO_HIGH;
            } else if ((lntk & cntk) != lntk) {
                v = POLICY_DENY_CLEARANCE;
                r = POLICY_R_MISSING_RESTRICTIVE;
            } else if (lrel != 0 && (lrel & crel) == 0) {
                v = POLICY_DENY_CLEARANCE;
                r = POLICY_R_NO_PERMISSIVE;
            } else {
                v = POLICY_ALLOW;
                r = POLICY_R_OK;
            }
            expect(policy_check_read(f->set, c, l), v, r);
            expect(policy_check_send(f->set, c, l), v, r);
            struct policy_decision pd = policy_check_peer(f->set, c, l);
            assert_int_equal(pd.verdict, v == POLICY_DENY_CLEARANCE ? POLICY_DENY_PEER : v);
            assert_int_equal(pd.reason, r);
            allowed += v == POLICY_ALLOW;
            total++;
            policy_clearance_free(c);
        }
        policy_label_free(l);
    }
    assert_int_equal(total, 4 * 4 * 8 * 2 * 16 * 4 * 8);
    assert_true(allowed > 0 && allowed < total);
}

static void
test_decide_every_classification_by_every_up_to_clearance(void **state)
{
    const struct fixture *f = *state;
    static const struct {
        const char *policy;
        const char *name[4];
        int32_t lacv[4];
    } pols[] = {
        {"PALISADE", {"UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"}, {1, 2, 3, 4}},
        {"NATO", {"\"NATO UNCLASSIFIED\"", "\"NATO RESTRICTED\"", "\"NATO CONFIDENTIAL\"",
                  "\"NATO SECRET\""}, {1, 2, 3, 4}},
        {"PARTNER", {"\"PARTNER PUBLIC\"", "\"PARTNER RESTRICTED\"", "\"PARTNER CONFIDENTIAL\"",
                     "\"PARTNER SENSITIVE\""}, {10, 11, 12, 13}},
    };
    for (size_t p = 0; p < sizeof(pols) / sizeof(pols[0]); p++) {
        const struct policy *pol = policy_set_find(f->set, pols[p].policy);
        for (int li = 0; li < 4; li++) {
            struct policy_label *l = label(policy_oid(pol), pols[p].lacv[li]);
            for (int ci = 0; ci < 4; ci++) {
                char text[128];
                snprintf(text, sizeof(text), "policy=%s class=%s", pols[p].policy,
                         pols[p].name[ci]);
                struct policy_clearance *c = clearance(f, text);
                if (li <= ci)
                    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
                else
                    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE,
                           POLICY_R_CLASS_TOO_HIGH);
                policy_clearance_free(c);
            }
            policy_label_free(l);
        }
    }
}

static void
test_decide_informative_categories_are_ignored(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l = label(NATO, 2);
    cat(l, NATO_ADM, POLICY_TAG_INFORMATIVE, 3); /* PERSONAL */
    struct policy_clearance *c = clearance(f, "policy=NATO class=\"NATO RESTRICTED\"");
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    policy_clearance_free(c);
    policy_label_free(l);
}

/* ---- invalid labels ---- */

static void
test_decide_invalid_labels_denied(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = clearance(f, "policy=PALISADE class=SECRET categories=NATO,EU");
    struct policy_label *l;

    l = label("1.2.3.4.5", 1);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_UNKNOWN_POLICY);
    policy_label_free(l);
    l = label(SAMPLE, -1);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_INVALID_LABEL);
    policy_label_free(l);
    l = label(SAMPLE, 0);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL,
           POLICY_R_UNKNOWN_CLASSIFICATION);
    policy_label_free(l);
    l = label(SAMPLE, 5);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL,
           POLICY_R_UNKNOWN_CLASSIFICATION);
    policy_label_free(l);
    l = label(SAMPLE, 4);
    cat(l, NTK, POLICY_TAG_RESTRICTIVE, 3); /* no such compartment */
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_UNKNOWN_CATEGORY);
    policy_label_free(l);
    l = label(SAMPLE, 4);
    cat(l, NTK, POLICY_TAG_PERMISSIVE, 1); /* right lacv, wrong type */
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_UNKNOWN_CATEGORY);
    policy_label_free(l);
    l = label(SAMPLE, 4);
    cat(l, "1.2.3", POLICY_TAG_RESTRICTIVE, 1); /* unknown tag set */
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_UNKNOWN_CATEGORY);
    policy_label_free(l);
    l = label(SAMPLE, 1);
    cat(l, NTK, POLICY_TAG_RESTRICTIVE, 2);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_EXCLUDED_CLASS);
    policy_label_free(l);
    /* A clearance may hold a value its policy lacks; that grants nothing. */
    policy_clearance_free(c);
}

static void
test_decide_nato_spif_rules(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = clearance(
        f, "policy=NATO class=\"NATO SECRET\" categories=ATOMAL,CRYPTO,EXCLUSIVE,BGR,ALB");
    struct policy_label *l;
    /* excludedClass: ATOMAL not with NATO UNCLASSIFIED / RESTRICTED */
    for (int32_t cls = 1; cls <= 4; cls++) {
        l = label(NATO, cls);
        cat(l, NATO_SCD, POLICY_TAG_RESTRICTIVE, 1);
        if (cls <= 2)
            expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL,
                   POLICY_R_EXCLUDED_CLASS);
        else
            expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
        policy_label_free(l);
        /* EXCLUSIVE: only excludes NATO UNCLASSIFIED */
        l = label(NATO, cls);
        cat(l, NATO_SCD, POLICY_TAG_RESTRICTIVE, 5);
        expect(policy_check_read(f->set, c, l), cls == 1 ? POLICY_DENY_BAD_LABEL : POLICY_ALLOW,
               cls == 1 ? POLICY_R_EXCLUDED_CLASS : POLICY_R_OK);
        policy_label_free(l);
    }
    /* Obsolete BGR: may be read, may not be sent. */
    l = label(NATO, 4);
    cat(l, NATO_REL, POLICY_TAG_ENUM_PERMISSIVE, 100);
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    expect(policy_check_send(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_OBSOLETE);
    expect(policy_label_validate(f->set, l), POLICY_ALLOW, POLICY_R_OK);
    policy_label_free(l);
    /* Releasable To ALB or ARM: the clearance holds ALB. */
    l = label(NATO, 3);
    cat(l, NATO_REL, POLICY_TAG_ENUM_PERMISSIVE, 8);
    cat(l, NATO_REL, POLICY_TAG_ENUM_PERMISSIVE, 51);
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    policy_label_free(l);
    l = label(NATO, 3);
    cat(l, NATO_REL, POLICY_TAG_ENUM_PERMISSIVE, 51);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_NO_PERMISSIVE);
    policy_label_free(l);
    /* SIOP is not held */
    l = label(NATO, 4);
    cat(l, NATO_SCD, POLICY_TAG_RESTRICTIVE, 1);
    cat(l, NATO_SCD, POLICY_TAG_RESTRICTIVE, 3);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE,
           POLICY_R_MISSING_RESTRICTIVE);
    policy_label_free(l);
    policy_clearance_free(c);
}

static void
test_decide_acme_required_and_excluded(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = clearance(
        f, "policy=ACME class=INTERNAL categories=MOCK,RED,BLUE");
    struct policy_label *l;
    /* CONFIDENTIAL requires one or more of Releasable To MOCK / PHONY */
    l = label(ACME, 2);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_MISSING_REQUIRED);
    cat(l, ACME_REL, POLICY_TAG_ENUM_PERMISSIVE, 100);
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    cat(l, ACME_REL, POLICY_TAG_ENUM_PERMISSIVE, 200);
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    policy_label_free(l);
    l = label(ACME, 2);
    cat(l, ACME_REL, POLICY_TAG_ENUM_PERMISSIVE, 200);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_NO_PERMISSIVE);
    policy_label_free(l);
    /* MOCK excludes PUBLIC and INTERNAL */
    l = label(ACME, 1);
    cat(l, ACME_REL, POLICY_TAG_ENUM_PERMISSIVE, 100);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_BAD_LABEL, POLICY_R_EXCLUDED_CLASS);
    policy_label_free(l);
    /* RED excludes PUBLIC and CONFIDENTIAL; INTERNAL RED BLUE is fine */
    l = label(ACME, 3);
    cat(l, ACME_SENS, POLICY_TAG_RESTRICTIVE, 1);
    cat(l, ACME_SENS, POLICY_TAG_RESTRICTIVE, 2);
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    policy_label_free(l);
    /* informative STAFF: allowed with INTERNAL only, and ignored for access */
    l = label(ACME, 3);
    cat(l, ACME_ADM, POLICY_TAG_INFORMATIVE, 1);
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    policy_label_free(l);
    policy_clearance_free(c);
}

static void
test_decide_policy_mismatch_without_equivalence(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = clearance(f, "policy=PALISADE class=SECRET");
    struct policy_label *l = label(NATO, 1);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_POLICY_MISMATCH);
    policy_label_free(l);
    policy_clearance_free(c);
    /* a clearance whose policy is not loaded */
    c = policy_clearance_new("1.9.9");
    policy_clearance_add_class(c, 1);
    l = label(SAMPLE, 1);
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_INVALID_CLEARANCE);
    policy_label_free(l);
    policy_clearance_free(c);
}

/* ---- equivalent policies ---- */

static void
test_decide_partner_label_read_with_sample_clearance(void **state)
{
    const struct fixture *f = *state;
    /* PARTNER -> PALISADE uses the partner's own mapping (forward). */
    static const int32_t partner_cls[] = {10, 11, 12, 13};
    static const char *const sample_up_to[] = {"UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL",
                                               "SECRET"};
    for (int li = 0; li < 4; li++) {
        struct policy_label *l = label(PARTNER, partner_cls[li]);
        for (int ci = 0; ci < 4; ci++) {
            char text[96];
            snprintf(text, sizeof(text), "policy=PALISADE class=%s", sample_up_to[ci]);
            struct policy_clearance *c = clearance(f, text);
            struct policy_decision d = policy_check_read(f->set, c, l);
            if (li == 3)
                expect(d, POLICY_DENY_CLEARANCE, POLICY_R_POLICY_MISMATCH); /* SENSITIVE */
            else if (li <= ci)
                expect(d, POLICY_ALLOW, POLICY_R_OK);
            else
                expect(d, POLICY_DENY_CLEARANCE, POLICY_R_CLASS_TOO_HIGH);
            policy_clearance_free(c);
        }
        policy_label_free(l);
    }
    /* Categories: BLUE -> NATO, UK -> GBR */
    struct policy_label *l = label(PARTNER, 12);
    cat(l, P_COMP, POLICY_TAG_RESTRICTIVE, 3);
    cat(l, P_REL, POLICY_TAG_ENUM_PERMISSIVE, 1);
    struct policy_clearance *c =
        clearance(f, "policy=PALISADE class=CONFIDENTIAL categories=NATO,GBR");
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    policy_clearance_free(c);
    c = clearance(f, "policy=PALISADE class=CONFIDENTIAL categories=EU,GBR");
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_MISSING_RESTRICTIVE);
    policy_clearance_free(c);
    c = clearance(f, "policy=PALISADE class=CONFIDENTIAL categories=NATO,FRA");
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_NO_PERMISSIVE);
    policy_clearance_free(c);
    /* RED has no equivalent: the label does not cross */
    cat(l, P_COMP, POLICY_TAG_RESTRICTIVE, 5);
    c = clearance(f, "policy=PALISADE class=SECRET categories=NATO,EU,GBR");
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_POLICY_MISMATCH);
    policy_clearance_free(c);
    policy_label_free(l);
}

static void
test_decide_sample_label_read_with_partner_clearance(void **state)
{
    const struct fixture *f = *state;
    /* PALISADE -> PARTNER: the partner's mapping read backwards. */
    static const char *const partner_up_to[] = {"\"PARTNER PUBLIC\"", "\"PARTNER RESTRICTED\"",
                                                "\"PARTNER CONFIDENTIAL\"",
                                                "\"PARTNER SENSITIVE\""};
    for (int32_t cls = 1; cls <= 4; cls++) {
        struct policy_label *l = label(SAMPLE, cls);
        for (int ci = 0; ci < 4; ci++) {
            char text[96];
            snprintf(text, sizeof(text), "policy=PARTNER class=%s", partner_up_to[ci]);
            struct policy_clearance *c = clearance(f, text);
            struct policy_decision d = policy_check_read(f->set, c, l);
            if (cls == 4)
                expect(d, POLICY_DENY_CLEARANCE, POLICY_R_POLICY_MISMATCH); /* SECRET */
            else if (cls - 1 <= ci)
                expect(d, POLICY_ALLOW, POLICY_R_OK);
            else
                expect(d, POLICY_DENY_CLEARANCE, POLICY_R_CLASS_TOO_HIGH);
            policy_clearance_free(c);
        }
        policy_label_free(l);
    }
    struct policy_label *l = label(SAMPLE, 2);
    cat(l, NTK, POLICY_TAG_RESTRICTIVE, 2); /* EU -> GOLD */
    cat(l, REL, POLICY_TAG_ENUM_PERMISSIVE, 250); /* FRA -> FR */
    struct policy_clearance *c =
        clearance(f, "policy=PARTNER class=\"PARTNER RESTRICTED\" categories=GOLD,FR");
    expect(policy_check_read(f->set, c, l), POLICY_ALLOW, POLICY_R_OK);
    policy_clearance_free(c);
    c = clearance(f, "policy=PARTNER class=\"PARTNER RESTRICTED\" categories=BLUE,FR");
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_MISSING_RESTRICTIVE);
    policy_clearance_free(c);
    /* DEU has no partner equivalent */
    cat(l, REL, POLICY_TAG_ENUM_PERMISSIVE, 276);
    c = clearance(f, "policy=PARTNER class=\"PARTNER SENSITIVE\" categories=GOLD,BLUE,FR,UK");
    expect(policy_check_read(f->set, c, l), POLICY_DENY_CLEARANCE, POLICY_R_POLICY_MISMATCH);
    policy_clearance_free(c);
    policy_label_free(l);
}

static void
test_decide_map_translates_values(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l = label(PARTNER, 11);
    cat(l, P_COMP, POLICY_TAG_RESTRICTIVE, 4);         /* GOLD -> EU */
    cat(l, P_REL, POLICY_TAG_ENUM_PERMISSIVE, 2);      /* FR -> FRA */
    cat(l, P_NOTES, POLICY_TAG_INFORMATIVE_ENUM, 1);   /* DRAFT: discarded */
    struct policy_label *m = NULL;
    assert_int_equal(policy_label_map(f->set, l, SAMPLE, &m), PAL_OK);
    struct policy_label *want = label(SAMPLE, 2);
    cat(want, NTK, POLICY_TAG_RESTRICTIVE, 2);
    cat(want, REL, POLICY_TAG_ENUM_PERMISSIVE, 250);
    assert_true(policy_label_equal(m, want));
    policy_label_free(want);
    /* and back again */
    struct policy_label *back = NULL;
    assert_int_equal(policy_label_map(f->set, m, PARTNER, &back), PAL_OK);
    want = label(PARTNER, 11);
    cat(want, P_COMP, POLICY_TAG_RESTRICTIVE, 4);
    cat(want, P_REL, POLICY_TAG_ENUM_PERMISSIVE, 2);
    assert_true(policy_label_equal(back, want));
    policy_label_free(want);
    policy_label_free(back);
    policy_label_free(m);
    /* to its own policy: a copy */
    assert_int_equal(policy_label_map(f->set, l, PARTNER, &m), PAL_OK);
    assert_true(policy_label_equal(l, m));
    policy_label_free(m);
    /* to an unrelated policy, or from an invalid label */
    assert_int_equal(policy_label_map(f->set, l, NATO, &m), PAL_ENOENT);
    assert_null(m);
    policy_label_free(l);
    l = label(PARTNER, 99);
    assert_int_equal(policy_label_map(f->set, l, SAMPLE, &m), PAL_EPOLICY);
    policy_label_free(l);
}

static void
test_decide_map_to_unloaded_equivalent_policy(void **state)
{
    const struct fixture *f = *state;
    /* ACME names MOCK as equivalent; MOCK is not loaded, the forward mapping
     * still yields the equivalent label. */
    struct policy_label *l = label(ACME, 2);
    cat(l, ACME_REL, POLICY_TAG_ENUM_PERMISSIVE, 200);
    struct policy_label *m = NULL;
    assert_int_equal(policy_label_map(f->set, l, MOCK, &m), PAL_OK);
    struct policy_label *want = label(MOCK, 3);
    cat(want, "1.3.6.1.4.1.31778.121.1", POLICY_TAG_ENUM_PERMISSIVE, 2000);
    assert_true(policy_label_equal(m, want));
    policy_label_free(want);
    policy_label_free(m);
    policy_label_free(l);
    /* ACME PUBLIC has no MOCK equivalent */
    l = label(ACME, 1);
    assert_int_equal(policy_label_map(f->set, l, MOCK, &m), PAL_ENOENT);
    policy_label_free(l);
}

static void
test_decide_any_of_several_clearances(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *nato = clearance(f, "policy=NATO class=\"NATO SECRET\"");
    struct policy_clearance *low = clearance(f, "policy=PALISADE class=RESTRICTED");
    const struct policy_clearance *cs[] = {nato, low};
    struct policy_label *l = label(SAMPLE, 2);
    expect(policy_check_any(f->set, POLICY_CHECK_READ, cs, 2, l), POLICY_ALLOW, POLICY_R_OK);
    policy_label_free(l);
    /* denied: the reason is the one of the clearance in the label's policy */
    l = label(SAMPLE, 3);
    expect(policy_check_any(f->set, POLICY_CHECK_READ, cs, 2, l), POLICY_DENY_CLEARANCE,
           POLICY_R_CLASS_TOO_HIGH);
    expect(policy_check_any(f->set, POLICY_CHECK_PEER, cs, 2, l), POLICY_DENY_PEER,
           POLICY_R_CLASS_TOO_HIGH);
    policy_label_free(l);
    l = label(NATO, 4);
    expect(policy_check_any(f->set, POLICY_CHECK_SEND, cs, 2, l), POLICY_ALLOW, POLICY_R_OK);
    policy_label_free(l);
    policy_clearance_free(nato);
    policy_clearance_free(low);
}

/* requiredClass, excludedCategory, singleSelection, maxSelection,
 * suppressClassName and noMarkingDisplay, which the example files do not use. */
static const char rules_spif[] =
    "<spif:SPIF xmlns:spif='http://www.xmlspif.org/spif' schemaVersion='2.1'>"
    "<spif:securityPolicyId name='RULES' id='1.2.9'/>"
    "<spif:securityClassifications>"
    "<spif:securityClassification name='LOW' lacv='1' hierarchy='1'>"
    "<spif:markingData><spif:code>suppressClassName</spif:code></spif:markingData>"
    "</spif:securityClassification>"
    "<spif:securityClassification name='HIGH' lacv='2' hierarchy='2'>"
    "<spif:requiredCategory operation='onlyOne'>"
    "<spif:categoryGroup tagSetRef='Pick' tagType='permissive'/>"
    "</spif:requiredCategory></spif:securityClassification>"
    "</spif:securityClassifications><spif:securityCategoryTagSets>"
    "<spif:securityCategoryTagSet name='Comp' id='1.2.9.1'>"
    "<spif:securityCategoryTag name='Comp' tagType='restrictive' maxSelection='2'>"
    "<spif:tagCategory name='A' lacv='1' requiredClass='HIGH'/>"
    "<spif:tagCategory name='B' lacv='2'>"
    "<spif:excludedCategory tagSetRef='Comp' tagType='restrictive' lacv='3'/></spif:tagCategory>"
    "<spif:tagCategory name='C' lacv='3'/>"
    "<spif:tagCategory name='D' lacv='4'>"
    "<spif:markingData phrase='DEE'><spif:code>noMarkingDisplay</spif:code></spif:markingData>"
    "</spif:tagCategory>"
    "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
    "<spif:securityCategoryTagSet name='Pick' id='1.2.9.2'>"
    "<spif:securityCategoryTag name='Pick' tagType='permissive' singleSelection='true'>"
    "<spif:tagCategory name='X' lacv='1'/><spif:tagCategory name='Y' lacv='2'/>"
    "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
    "</spif:securityCategoryTagSets></spif:SPIF>";

static void
test_decide_other_spif_rules(void **state)
{
    (void)state;
    struct policy *p = NULL;
    char err[256] = "";
    if (policy_load_mem(rules_spif, sizeof(rules_spif) - 1, &p, err, sizeof(err)) != PAL_OK)
        fail_msg("%s", err);
    struct policy_set *s = policy_set_new();
    assert_int_equal(policy_set_add(s, p), PAL_OK);
    struct policy_label *l;

    /* requiredClass: A only with HIGH */
    l = label("1.2.9", 1);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 1);
    expect(policy_label_validate(s, l), POLICY_DENY_BAD_LABEL, POLICY_R_EXCLUDED_CLASS);
    policy_label_free(l);
    /* HIGH needs exactly one of Pick */
    l = label("1.2.9", 2);
    expect(policy_label_validate(s, l), POLICY_DENY_BAD_LABEL, POLICY_R_MISSING_REQUIRED);
    cat(l, "1.2.9.2", POLICY_TAG_PERMISSIVE, 1);
    expect(policy_label_validate(s, l), POLICY_ALLOW, POLICY_R_OK);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 1);
    expect(policy_label_validate(s, l), POLICY_ALLOW, POLICY_R_OK);
    /* singleSelection on Pick */
    cat(l, "1.2.9.2", POLICY_TAG_PERMISSIVE, 2);
    expect(policy_label_validate(s, l), POLICY_DENY_BAD_LABEL, POLICY_R_TOO_MANY_CATEGORIES);
    policy_label_free(l);
    /* excludedCategory: B excludes C */
    l = label("1.2.9", 1);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 2);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 3);
    expect(policy_label_validate(s, l), POLICY_DENY_BAD_LABEL, POLICY_R_EXCLUDED_CATEGORY);
    policy_label_free(l);
    /* maxSelection 2 on Comp */
    l = label("1.2.9", 1);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 3);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 4);
    expect(policy_label_validate(s, l), POLICY_ALLOW, POLICY_R_OK);
    /* suppressClassName and noMarkingDisplay */
    struct policy_marking m;
    assert_int_equal(policy_display_marking(s, l, &m), PAL_OK);
    assert_string_equal(m.text, "C");
    policy_marking_clear(&m);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 2);
    expect(policy_label_validate(s, l), POLICY_DENY_BAD_LABEL, POLICY_R_EXCLUDED_CATEGORY);
    policy_label_free(l);
    l = label("1.2.9", 2);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 1);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 2);
    cat(l, "1.2.9.1", POLICY_TAG_RESTRICTIVE, 4);
    cat(l, "1.2.9.2", POLICY_TAG_PERMISSIVE, 2);
    expect(policy_label_validate(s, l), POLICY_DENY_BAD_LABEL, POLICY_R_TOO_MANY_CATEGORIES);
    policy_label_free(l);
    policy_set_free(s);
}

/* ---- display markings ---- */

static void
assert_marking(const struct fixture *f, const struct policy_label *l, const char *text,
               const char *fg, const char *bg)
{
    struct policy_marking m;
    assert_int_equal(policy_display_marking(f->set, l, &m), PAL_OK);
    assert_string_equal(m.text, text);
    assert_string_equal(m.fg, fg);
    assert_string_equal(m.bg, bg);
    policy_marking_clear(&m);
}

static void
test_decide_display_markings(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l = sample_label(4, 3, 3, true);
    assert_marking(f, l, "SECRET NATO EU REL TO GBR, FRA PERSONAL DATA", "black", "red");
    policy_label_free(l);
    l = sample_label(1, 0, 0, false);
    assert_marking(f, l, "UNCLASSIFIED", "white", "green");
    policy_label_free(l);

    l = label(NATO, 4);
    cat(l, NATO_SCD, POLICY_TAG_RESTRICTIVE, 5); /* EXCLUSIVE (second tag) */
    cat(l, NATO_SCD, POLICY_TAG_RESTRICTIVE, 2); /* CRYPTO */
    cat(l, NATO_SCD, POLICY_TAG_RESTRICTIVE, 1); /* ATOMAL */
    cat(l, NATO_REL, POLICY_TAG_ENUM_PERMISSIVE, 40); /* AUT */
    cat(l, NATO_REL, POLICY_TAG_ENUM_PERMISSIVE, 8);  /* ALB */
    assert_marking(f, l,
                   "NATO SECRET ATOMAL CRYPTO EXCLUSIVE RELEASABLE TO Albania (ALB)/Austria (AUT)",
                   "black", "white");
    policy_label_free(l);

    l = label(PARTNER, 12);
    cat(l, P_COMP, POLICY_TAG_RESTRICTIVE, 4);
    cat(l, P_COMP, POLICY_TAG_RESTRICTIVE, 3);
    cat(l, P_REL, POLICY_TAG_ENUM_PERMISSIVE, 2);
    cat(l, P_REL, POLICY_TAG_ENUM_PERMISSIVE, 1);
    assert_marking(f, l, "PARTNER CONF BLUE/GOLD RELEASABLE UK/FR ONLY", "white", "#0000cc");
    policy_label_free(l);

    l = label(ACME, 2);
    cat(l, ACME_REL, POLICY_TAG_ENUM_PERMISSIVE, 100);
    cat(l, ACME_REL, POLICY_TAG_ENUM_PERMISSIVE, 200);
    assert_marking(f, l, "CONFIDENTIAL REL TO MOCK,PHONY", "black", "white");
    policy_label_free(l);

    /* no marking for what is not valid */
    struct policy_marking m;
    l = label(SAMPLE, 7);
    assert_int_equal(policy_display_marking(f->set, l, &m), PAL_EPOLICY);
    assert_null(m.text);
    policy_label_free(l);
    policy_marking_clear(NULL);
}

/* ---- catalog ---- */

static void
test_decide_catalog_classification_labels(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *sender = clearance(f, "policy=PALISADE class=SECRET categories=NATO");
    struct policy_clearance *receiver = clearance(f, "policy=PALISADE class=CONFIDENTIAL");
    struct policy_catalog *cat = policy_catalog(f->set, sender, receiver, 0);
    assert_int_equal(policy_catalog_count(cat), 3);
    static const char *const sel[] = {"PALISADE|CONFIDENTIAL", "PALISADE|RESTRICTED",
                                      "PALISADE|UNCLASSIFIED"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(policy_catalog_selector(cat, i), sel[i]);
        assert_int_equal(policy_label_class(policy_catalog_label(cat, i)), (int32_t)(3 - i));
        assert_int_equal(policy_label_category_count(policy_catalog_label(cat, i)), 0);
    }
    assert_string_equal(policy_catalog_marking(cat, 0)->text, "CONFIDENTIAL");
    assert_string_equal(policy_catalog_marking(cat, 0)->bg, "navy");
    assert_null(policy_catalog_label(cat, 3));
    assert_null(policy_catalog_marking(cat, 3));
    assert_null(policy_catalog_selector(cat, 3));
    policy_catalog_free(cat);

    /* with categories: the ones both hold */
    policy_clearance_free(receiver);
    receiver = clearance(f, "policy=PALISADE class=CONFIDENTIAL categories=NATO,EU");
    cat = policy_catalog(f->set, sender, receiver, POLICY_CATALOG_CATEGORIES);
    assert_int_equal(policy_catalog_count(cat), 5);
    assert_string_equal(policy_catalog_selector(cat, 0), "PALISADE|CONFIDENTIAL");
    assert_string_equal(policy_catalog_selector(cat, 1), "PALISADE|CONFIDENTIAL|CONFIDENTIAL NATO");
    assert_string_equal(policy_catalog_selector(cat, 2), "PALISADE|RESTRICTED");
    assert_string_equal(policy_catalog_selector(cat, 3), "PALISADE|RESTRICTED|RESTRICTED NATO");
    assert_string_equal(policy_catalog_selector(cat, 4), "PALISADE|UNCLASSIFIED");
    policy_catalog_free(cat);

    /* no clearance on either side: nothing to offer */
    cat = policy_catalog(f->set, NULL, receiver, 0);
    assert_int_equal(policy_catalog_count(cat), 0);
    policy_catalog_free(cat);
    cat = policy_catalog(f->set, sender, NULL, 0);
    assert_int_equal(policy_catalog_count(cat), 0);
    policy_catalog_free(cat);
    policy_catalog_free(NULL);
    policy_clearance_free(receiver);
    policy_clearance_free(sender);
}

static void
test_decide_catalog_across_policies_and_required(void **state)
{
    const struct fixture *f = *state;
    /* The receiver holds a partner clearance: labels map into it. */
    struct policy_clearance *sender = clearance(f, "policy=PALISADE class=SECRET");
    struct policy_clearance *receiver = clearance(f, "policy=PARTNER class=\"PARTNER SENSITIVE\"");
    struct policy_catalog *cat = policy_catalog(f->set, sender, receiver, 0);
    assert_int_equal(policy_catalog_count(cat), 3); /* SECRET does not cross */
    assert_int_equal(policy_label_class(policy_catalog_label(cat, 0)), 3);
    policy_catalog_free(cat);
    policy_clearance_free(receiver);
    policy_clearance_free(sender);

    /* ACME CONFIDENTIAL needs a Releasable To: offered with each one held. */
    sender = clearance(f, "policy=ACME class=INTERNAL categories=MOCK,PHONY");
    receiver = clearance(f, "policy=ACME class=CONFIDENTIAL categories=PHONY");
    cat = policy_catalog(f->set, sender, receiver, 0);
    assert_int_equal(policy_catalog_count(cat), 2);
    assert_string_equal(policy_catalog_selector(cat, 0),
                        "ACME|CONFIDENTIAL|CONFIDENTIAL REL TO PHONY");
    assert_string_equal(policy_catalog_selector(cat, 1), "ACME|PUBLIC");
    policy_catalog_free(cat);
    policy_clearance_free(receiver);
    policy_clearance_free(sender);
}

static void
test_decide_catalog_xml(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = clearance(f, "policy=PALISADE class=RESTRICTED");
    struct policy_catalog *cat = policy_catalog(f->set, c, c, 0);
    struct policy_label *dflt = label(SAMPLE, 1);
    struct xml_tree *t = xml_tree_new();
    struct xml_node *el = policy_catalog_to_xml(f->set, cat, dflt, "example.com", "Default",
                                                NULL, true, t, NULL);
    assert_string_equal(el->ns, POLICY_NS_CATALOG);
    assert_string_equal(xml_attr(el, "to"), "example.com");
    assert_string_equal(xml_attr(el, "restrict"), "true");
    assert_null(xml_attr(el, "desc"));
    struct xml_node *item = xml_child(el, POLICY_NS_CATALOG, "item");
    assert_string_equal(xml_attr(item, "selector"), "PALISADE|RESTRICTED");
    assert_null(xml_attr(item, "default"));
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_xep258(xml_child(item, POLICY_NS_SECLABEL, "securitylabel"),
                                              &l, NULL),
                     PAL_OK);
    assert_int_equal(policy_label_class(l), 2);
    policy_label_free(l);
    item = xml_next(item, POLICY_NS_CATALOG, "item");
    assert_string_equal(xml_attr(item, "default"), "true");
    assert_null(xml_next(item, POLICY_NS_CATALOG, "item"));
    xml_tree_free(t);
    policy_label_free(dflt);
    policy_catalog_free(cat);
    policy_clearance_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_strings_are_stable_and_distinct),
        cmocka_unit_test(test_decide_null_clearance_and_label),
        cmocka_unit_test(test_decide_sample_exhaustive),
        cmocka_unit_test(test_decide_every_classification_by_every_up_to_clearance),
        cmocka_unit_test(test_decide_informative_categories_are_ignored),
        cmocka_unit_test(test_decide_invalid_labels_denied),
        cmocka_unit_test(test_decide_nato_spif_rules),
        cmocka_unit_test(test_decide_acme_required_and_excluded),
        cmocka_unit_test(test_decide_policy_mismatch_without_equivalence),
        cmocka_unit_test(test_decide_partner_label_read_with_sample_clearance),
        cmocka_unit_test(test_decide_sample_label_read_with_partner_clearance),
        cmocka_unit_test(test_decide_map_translates_values),
        cmocka_unit_test(test_decide_map_to_unloaded_equivalent_policy),
        cmocka_unit_test(test_decide_any_of_several_clearances),
        cmocka_unit_test(test_decide_other_spif_rules),
        cmocka_unit_test(test_decide_display_markings),
        cmocka_unit_test(test_decide_catalog_classification_labels),
        cmocka_unit_test(test_decide_catalog_across_policies_and_required),
        cmocka_unit_test(test_decide_catalog_xml),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
