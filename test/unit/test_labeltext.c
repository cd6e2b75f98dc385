/* SPDX-License-Identifier: Apache-2.0 */
/* test_labeltext.c - policy/labeltext.c: the operator text form of labels,
 * its round trips (every classification of the sample policy with every set
 * of its categories, through text and DER), names, quoting, numbers for what
 * the loaded policies do not define, and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "policy/policy.h"

#define SPIF_DIR TEST_DATA_DIR "/spif"
#define SAMPLE_DIR TEST_DATA_DIR "/../../policy/spif"
#define ARC "2.25.115474412885542477776524736473101231463"
#define SAMPLE ARC ".1.1"
#define NTK ARC ".2.1"
#define REL ARC ".2.2"
#define HANDLING ARC ".2.3"

struct fixture {
    struct policy_set *set;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[512];
    f->set = policy_set_new();
    if (policy_set_load(f->set, SAMPLE_DIR "/palisade-sample.xml", err, sizeof(err)) != PAL_OK ||
        policy_set_load(f->set, SAMPLE_DIR "/palisade-partner.xml", err, sizeof(err)) != PAL_OK ||
        policy_set_load(f->set, SPIF_DIR "/NATO-SPIF-example.xml", err, sizeof(err)) != PAL_OK)
        return -1;
    /* category names that repeat across tag sets */
    static const char dup[] =
        "<spif:SPIF xmlns:spif='http://www.xmlspif.org/spif' schemaVersion='2.1'>"
        "<spif:securityPolicyId name='DUP' id='1.2.3.4'/>"
        "<spif:securityClassifications>"
        "<spif:securityClassification name='LOW' lacv='1' hierarchy='1'/>"
        "<spif:securityClassification name='TOP' lacv='3' hierarchy='3'/>"
        "</spif:securityClassifications><spif:securityCategoryTagSets>"
        "<spif:securityCategoryTagSet name='One' id='1.2.3.4.1'>"
        "<spif:securityCategoryTag name='T1' tagType='restrictive'>"
        "<spif:tagCategory name='ALPHA' lacv='1'/><spif:tagCategory name='A,B \"Q\"' lacv='2'/>"
        "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
        "<spif:securityCategoryTagSet name='Two' id='1.2.3.4.2'>"
        "<spif:securityCategoryTag name='T2' tagType='permissive'>"
        "<spif:tagCategory name='ALPHA' lacv='1'/>"
        "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
        "</spif:securityCategoryTagSets></spif:SPIF>";
    struct policy *p = NULL;
    if (policy_load_mem(dup, sizeof(dup) - 1, &p, err, sizeof(err)) != PAL_OK ||
        policy_set_add(f->set, p) != PAL_OK)
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
from_text(const struct fixture *f, const char *text)
{
    struct policy_label *l = NULL;
    char err[256] = "";
    int rc = policy_label_from_text(f->set, text, &l, err, sizeof(err));
    if (rc != PAL_OK)
        fail_msg("\"%s\": %s", text, err);
    return l;
}

static void
assert_text_fails(const struct fixture *f, const char *text, int want_rc, const char *want_msg)
{
    struct policy_label *l = (struct policy_label *)1;
    char err[256] = "";
    int rc = policy_label_from_text(f->set, text, &l, err, sizeof(err));
    if (rc != want_rc)
        fail_msg("\"%s\": rc %d, want %d (%s)", text, rc, want_rc, err);
    assert_null(l);
    if (strstr(err, want_msg) == NULL)
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, want_msg);
}

/* l -> text -> label must give back l, and l -> DER -> label too. */
static char *
assert_label_roundtrip(const struct fixture *f, const struct policy_label *l)
{
    char *out = NULL;
    assert_int_equal(policy_label_to_text(f->set, l, &out), PAL_OK);
    struct policy_label *again = from_text(f, out);
    if (!policy_label_equal(l, again))
        fail_msg("\"%s\" does not parse back to the same label", out);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(policy_label_to_der(again, &der, &len), PAL_OK);
    struct policy_label *fromder = NULL;
    assert_int_equal(policy_label_from_der(der, len, &fromder), PAL_OK);
    assert_true(policy_label_equal(l, fromder));
    free(der);
    policy_label_free(fromder);
    policy_label_free(again);
    return out;
}

/* text -> label -> text must give want, and want must parse to the same. */
static void
assert_text_roundtrip(const struct fixture *f, const char *text, const char *want)
{
    struct policy_label *l = from_text(f, text);
    char *out = assert_label_roundtrip(f, l);
    assert_string_equal(out, want);
    free(out);
    policy_label_free(l);
}

static void
test_labeltext_names_and_values(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l =
        from_text(f, "policy=PALISADE class=SECRET categories=NATO,\"Releasable To:GBR\"");
    assert_string_equal(policy_label_policy(l), SAMPLE);
    assert_true(policy_label_has_class(l));
    assert_int_equal(policy_label_class(l), 4);
    assert_int_equal(policy_label_category_count(l), 2);
    const char *ts;
    enum policy_tag_type ty;
    uint32_t lacv;
    assert_true(policy_label_category(l, 0, &ts, &ty, &lacv));
    assert_string_equal(ts, NTK);
    assert_int_equal(ty, POLICY_TAG_RESTRICTIVE);
    assert_int_equal(lacv, 1);
    assert_true(policy_label_category(l, 1, &ts, &ty, &lacv));
    assert_string_equal(ts, REL);
    assert_int_equal(ty, POLICY_TAG_ENUM_PERMISSIVE);
    assert_int_equal(lacv, 826);
    assert_null(policy_label_privacy_mark(l));
    /* it is valid, and its marking is the policy's */
    struct policy_decision d = policy_label_validate(f->set, l);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    struct policy_marking m;
    assert_int_equal(policy_display_marking(f->set, l, &m), PAL_OK);
    assert_string_equal(m.text, "SECRET NATO REL TO GBR");
    policy_marking_clear(&m);
    policy_label_free(l);

    assert_text_roundtrip(f, "policy=PALISADE class=SECRET categories=NATO,\"Releasable To:GBR\"",
                          "policy=" SAMPLE " class=SECRET categories=NATO,GBR");
    /* by OID and lacv; the tag's name qualifies too */
    assert_text_roundtrip(f, "  policy=" SAMPLE "   class=2 categories=\"Compartments:EU\"  ",
                          "policy=" SAMPLE " class=RESTRICTED categories=EU");
    /* the numeric category form */
    assert_text_roundtrip(f, "policy=PALISADE class=1 categories=" REL "/enumerated-permissive/250",
                          "policy=" SAMPLE " class=UNCLASSIFIED categories=FRA");
    /* names with spaces are quoted */
    assert_text_roundtrip(f, "policy=NATO class=\"NATO SECRET\" categories=\"Releasable To:ALB\"",
                          "policy=1.3.26.1.3.1 class=\"NATO SECRET\" categories=ALB");
    /* the second policy, by name */
    l = from_text(f, "policy=PARTNER class=\"PARTNER RESTRICTED\"");
    assert_string_equal(policy_label_policy(l), ARC ".1.2");
    assert_int_equal(policy_label_class(l), 11);
    policy_label_free(l);
}

static void
test_labeltext_every_sample_label_round_trips(void **state)
{
    const struct fixture *f = *state;
    const struct policy *p = policy_set_find(f->set, "PALISADE");
    assert_non_null(p);
    size_t nc = policy_category_count(p);
    assert_int_equal(nc, 8); /* NATO EU, GBR FRA DEU USA, STAFF PERSONAL */
    assert_int_equal(policy_class_count(p), 4);
    size_t checked = 0;
    for (size_t i = 0; i < policy_class_count(p); i++) {
        struct policy_class_info ci;
        assert_true(policy_class_get(p, i, &ci));
        for (unsigned mask = 0; mask < (1u << nc); mask++) {
            struct policy_label *l = policy_label_new(SAMPLE);
            assert_int_equal(policy_label_set_class(l, ci.lacv), PAL_OK);
            for (size_t k = 0; k < nc; k++) {
                if (!(mask & (1u << k)))
                    continue;
                struct policy_category_info ki;
                assert_true(policy_category_get(p, k, &ki));
                assert_int_equal(policy_label_add_category(l, ki.tagset_oid, ki.type, ki.lacv),
                                 PAL_OK);
            }
            if (mask == 5)
                assert_int_equal(
                    policy_label_set_privacy_mark(l, "HANDLE VIA SPECIAL, CHANNELS", false),
                    PAL_OK);
            if (mask == 6)
                assert_int_equal(
                    policy_label_set_privacy_mark(l, "Donn\xc3\xa9" "es \"perso\" \\", true),
                    PAL_OK);
            char *out = assert_label_roundtrip(f, l);
            /* names only: the text names the classification */
            char want[64];
            snprintf(want, sizeof want, " class=%s", ci.name);
            assert_non_null(strstr(out, want));
            assert_null(strstr(out, "/"));
            free(out);
            policy_label_free(l);
            checked++;
        }
    }
    assert_int_equal(checked, 4 * 256);
}

static void
test_labeltext_privacy_mark(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l =
        from_text(f, "policy=PALISADE class=RESTRICTED privacymark=\"HANDLE WITH CARE\"");
    assert_string_equal(policy_label_privacy_mark(l), "HANDLE WITH CARE");
    policy_label_free(l);
    assert_text_roundtrip(f, "policy=PALISADE class=RESTRICTED privacymark=\"a, \\\"b\\\" \\\\ c\"",
                          "policy=" SAMPLE " class=RESTRICTED privacymark=\"a, \\\"b\\\" \\\\ c\"");
    assert_text_roundtrip(f,
                          "privacymark-type=printable privacymark=STAFF policy=PALISADE "
                          "class=RESTRICTED",
                          "policy=" SAMPLE
                          " class=RESTRICTED privacymark=STAFF privacymark-type=printable");
    assert_text_roundtrip(f, "policy=PALISADE class=RESTRICTED privacymark=x privacymark-type=utf8",
                          "policy=" SAMPLE " class=RESTRICTED privacymark=x");
    /* UTF-8 and printable are different labels */
    struct policy_label *a = from_text(f, "policy=PALISADE class=1 privacymark=X");
    struct policy_label *b =
        from_text(f, "policy=PALISADE class=1 privacymark=X privacymark-type=printable");
    assert_false(policy_label_equal(a, b));
    policy_label_free(a);
    policy_label_free(b);
}

static void
test_labeltext_ambiguous_names_need_qualifying(void **state)
{
    const struct fixture *f = *state;
    assert_text_fails(f, "policy=DUP class=TOP categories=ALPHA", PAL_ENOENT, "ambiguous");
    assert_text_roundtrip(f, "policy=DUP class=TOP categories=One:ALPHA,T2:ALPHA",
                          "policy=1.2.3.4 class=TOP categories=One:ALPHA,Two:ALPHA");
    assert_text_roundtrip(f, "policy=DUP class=TOP categories=\"A,B \\\"Q\\\"\"",
                          "policy=1.2.3.4 class=TOP categories=\"A,B \\\"Q\\\"\"");
}

/* Parsing resolves names; validity is policy_label_validate()'s answer. */
static void
test_labeltext_parses_invalid_combinations(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l = from_text(f, "policy=PALISADE class=UNCLASSIFIED categories=NATO");
    struct policy_decision d = policy_label_validate(f->set, l);
    assert_int_equal(d.verdict, POLICY_DENY_BAD_LABEL);
    assert_int_equal(d.reason, POLICY_R_EXCLUDED_CLASS);
    policy_label_free(l);
}

static void
test_labeltext_numbers_for_unknown_values(void **state)
{
    const struct fixture *f = *state;
    struct policy_label *l = policy_label_new("1.9.9");
    policy_label_set_class(l, 5);
    policy_label_add_category(l, "1.9.9.1", POLICY_TAG_ENUM_PERMISSIVE, 42);
    char *out = NULL;
    assert_int_equal(policy_label_to_text(f->set, l, &out), PAL_OK);
    assert_string_equal(out, "policy=1.9.9 class=5 categories=1.9.9.1/enumerated-permissive/42");
    free(out);
    policy_label_free(l);
    /* a loaded policy, values it does not define */
    l = policy_label_new(SAMPLE);
    policy_label_set_class(l, 9);
    policy_label_add_category(l, NTK, POLICY_TAG_RESTRICTIVE, 7);
    assert_int_equal(policy_label_to_text(f->set, l, &out), PAL_OK);
    assert_string_equal(out, "policy=" SAMPLE " class=9 categories=" NTK "/restrictive/7");
    free(out);
    policy_label_free(l);
    /* no classification: written without class=, which does not parse back */
    l = policy_label_new(SAMPLE);
    policy_label_add_category(l, HANDLING, POLICY_TAG_INFORMATIVE, 1);
    assert_int_equal(policy_label_to_text(f->set, l, &out), PAL_OK);
    assert_string_equal(out, "policy=" SAMPLE " categories=STAFF");
    assert_text_fails(f, out, PAL_EMALFORMED, "no class=");
    free(out);
    policy_label_free(l);
}

static void
test_labeltext_errors(void **state)
{
    const struct fixture *f = *state;
    assert_text_fails(f, "", PAL_EMALFORMED, "no policy=");
    assert_text_fails(f, "class=SECRET", PAL_EMALFORMED, "no policy=");
    assert_text_fails(f, "policy=PALISADE", PAL_EMALFORMED, "no class=");
    assert_text_fails(f, "policy=PALISADE class=SECRET,RESTRICTED", PAL_EMALFORMED,
                      "takes one value");
    assert_text_fails(f, "policy=PALISADE classes=SECRET", PAL_EMALFORMED,
                      "unknown key \"classes\"");
    assert_text_fails(f, "policy=PALISADE policy=NATO class=SECRET", PAL_EMALFORMED,
                      "duplicate key");
    assert_text_fails(f, "policy=PALISADE class", PAL_EMALFORMED, "expected key=value");
    assert_text_fails(f, "policy=PALISADE class =SECRET", PAL_EMALFORMED, "expected key=value");
    assert_text_fails(f, "policy=PALISADE class=\"SECRET", PAL_EMALFORMED, "unterminated");
    assert_text_fails(f, "policy=PALISADE class=\"SE\\CRET\"", PAL_EMALFORMED, "bad escape");
    assert_text_fails(f, "policy=PALISADE class=", PAL_EMALFORMED, "empty");
    assert_text_fails(f, "policy=PALISADE class=SECRET categories=NATO,", PAL_EMALFORMED, "empty");
    assert_text_fails(f, "policy=PALISADE class=\"SECRET\"x", PAL_EMALFORMED, "unexpected");
    assert_text_fails(f, "policy=MOCK class=SECRET", PAL_EPOLICY, "not loaded");
    assert_text_fails(f, "policy=PALISADE class=TOPSECRET", PAL_ENOENT,
                      "no classification \"TOPSECRET\"");
    assert_text_fails(f, "policy=PALISADE class=9", PAL_ENOENT, "no classification \"9\"");
    assert_text_fails(f, "policy=PALISADE class=SECRET categories=ATOMAL", PAL_ENOENT,
                      "no category \"ATOMAL\"");
    assert_text_fails(f, "policy=PALISADE class=SECRET privacymark=a,b", PAL_EMALFORMED,
                      "takes one value");
    assert_text_fails(f, "policy=PALISADE class=SECRET privacymark-type=utf8", PAL_EMALFORMED,
                      "without privacymark");
    assert_text_fails(f, "policy=PALISADE class=SECRET privacymark=x privacymark-type=ascii",
                      PAL_EMALFORMED, "utf8 or printable");
    assert_text_fails(f, "policy=PALISADE class=SECRET privacymark=caf\xc3\xa9 "
                      "privacymark-type=printable",
                      PAL_EMALFORMED, "PrintableString");
    assert_text_fails(f, "policy=PALISADE class=SECRET privacymark=\"a\tb\"", PAL_EMALFORMED,
                      "control");
    struct policy_label *l = (struct policy_label *)1;
    assert_int_equal(policy_label_from_text(f->set, NULL, &l, NULL, 0), PAL_EMALFORMED);
    assert_null(l);
    /* err may be NULL */
    assert_int_equal(policy_label_from_text(f->set, "policy=X class=1", &l, NULL, 0), PAL_EPOLICY);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_labeltext_names_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labeltext_every_sample_label_round_trips, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_labeltext_privacy_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labeltext_ambiguous_names_need_qualifying, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_labeltext_parses_invalid_combinations, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_labeltext_numbers_for_unknown_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_labeltext_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
