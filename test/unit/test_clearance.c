/* SPDX-License-Identifier: Apache-2.0 */
/* test_clearance.c - policy/clearance.c: the clearance model, the "up to"
 * form, and the operator text form to and from DER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
        policy_set_load(f->set, SPIF_DIR "/NATO-SPIF-example.xml", err, sizeof(err)) != PAL_OK ||
        policy_set_load(f->set, SPIF_DIR "/ACME-SPIF-example.xml", err, sizeof(err)) != PAL_OK)
        return -1;
    /* A policy whose category names repeat across tag sets. */
    static const char dup[] =
        "<spif:SPIF xmlns:spif='http://www.xmlspif.org/spif' schemaVersion='2.1'>"
        "<spif:securityPolicyId name='DUP' id='1.2.3.4'/>"
        "<spif:securityClassifications>"
        "<spif:securityClassification name='LOW' lacv='1' hierarchy='1'/>"
        "<spif:securityClassification name='MID' lacv='2' hierarchy='2'/>"
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

static struct policy_clearance *
from_text(const struct fixture *f, const char *text)
{
    struct policy_clearance *c = NULL;
    char err[256] = "";
    int rc = policy_clearance_from_text(f->set, text, &c, err, sizeof(err));
    if (rc != PAL_OK)
        fail_msg("\"%s\": %s", text, err);
    return c;
}

static void
assert_text_fails(const struct fixture *f, const char *text, int want_rc, const char *want_msg)
{
    struct policy_clearance *c = (struct policy_clearance *)1;
    char err[256] = "";
    int rc = policy_clearance_from_text(f->set, text, &c, err, sizeof(err));
    if (rc != want_rc)
        fail_msg("\"%s\": rc %d, want %d (%s)", text, rc, want_rc, err);
    assert_null(c);
    if (strstr(err, want_msg) == NULL)
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, want_msg);
}

/* text -> clearance -> text must give want, and want must parse to the same. */
static void
assert_text_roundtrip(const struct fixture *f, const char *text, const char *want)
{
    struct policy_clearance *c = from_text(f, text);
    char *out = NULL;
    assert_int_equal(policy_clearance_to_text(f->set, c, &out), PAL_OK);
    assert_string_equal(out, want);
    struct policy_clearance *again = from_text(f, out);
    assert_true(policy_clearance_equal(c, again));
    /* and through DER */
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(policy_clearance_to_der(c, &der, &len), PAL_OK);
    struct policy_clearance *fromder = NULL;
    assert_int_equal(policy_clearance_from_der(der, len, &fromder), PAL_OK);
    assert_true(policy_clearance_equal(c, fromder));
    free(der);
    free(out);
    policy_clearance_free(fromder);
    policy_clearance_free(again);
    policy_clearance_free(c);
}

static void
test_clearance_up_to_form(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = from_text(f, "policy=PALISADE class=CONFIDENTIAL");
    assert_string_equal(policy_clearance_policy(c), SAMPLE);
    assert_false(policy_clearance_has_class(c, 0));
    assert_true(policy_clearance_has_class(c, 1));
    assert_true(policy_clearance_has_class(c, 2));
    assert_true(policy_clearance_has_class(c, 3));
    assert_false(policy_clearance_has_class(c, 4));
    assert_int_equal(policy_clearance_category_count(c), 0);
    policy_clearance_free(c);
    assert_text_roundtrip(f, "policy=PALISADE class=CONFIDENTIAL",
                          "policy=" SAMPLE " class=CONFIDENTIAL");
    assert_text_roundtrip(f, "policy=" SAMPLE " class=4", "policy=" SAMPLE " class=SECRET");
}

static void
test_clearance_explicit_class_list(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = from_text(f, "policy=PALISADE classes=UNCLASSIFIED,SECRET");
    assert_true(policy_clearance_has_class(c, 1));
    assert_false(policy_clearance_has_class(c, 2));
    assert_false(policy_clearance_has_class(c, 3));
    assert_true(policy_clearance_has_class(c, 4));
    policy_clearance_free(c);
    assert_text_roundtrip(f, "  policy=PALISADE   classes=SECRET,1  ",
                          "policy=" SAMPLE " classes=UNCLASSIFIED,SECRET");
    /* an explicit list that is an "up to" set is written as class= */
    assert_text_roundtrip(f, "policy=PALISADE classes=UNCLASSIFIED,RESTRICTED",
                          "policy=" SAMPLE " class=RESTRICTED");
}

static void
test_clearance_categories_by_name(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c =
        from_text(f, "policy=PALISADE class=SECRET categories=NATO,GBR,\"Releasable To:FRA\"");
    assert_int_equal(policy_clearance_category_count(c), 3);
    const char *ts;
    enum policy_tag_type ty;
    uint32_t lacv;
    assert_true(policy_clearance_category(c, 0, &ts, &ty, &lacv));
    assert_string_equal(ts, NTK);
    assert_int_equal(ty, POLICY_TAG_RESTRICTIVE);
    assert_int_equal(lacv, 1);
    assert_true(policy_clearance_category(c, 1, &ts, &ty, &lacv));
    assert_string_equal(ts, REL);
    assert_int_equal(lacv, 250);
    assert_true(policy_clearance_category(c, 2, NULL, NULL, &lacv));
    assert_int_equal(lacv, 826);
    assert_false(policy_clearance_category(c, 3, NULL, NULL, NULL));
    policy_clearance_free(c);
    assert_text_roundtrip(f, "policy=PALISADE class=SECRET categories=NATO,GBR,FRA",
                          "policy=" SAMPLE " class=SECRET categories=NATO,FRA,GBR");
}

static void
test_clearance_nato_names_with_spaces(void **state)
{
    const struct fixture *f = *state;
    assert_text_roundtrip(
        f,
        "policy=NATO class=\"NATO SECRET\" categories=ATOMAL,\"Releasable To:ALB\",\"THE PUBLIC\"",
        "policy=1.3.26.1.3.1 class=\"NATO SECRET\" categories=ATOMAL,ALB,\"THE PUBLIC\"");
    assert_text_roundtrip(f, "policy=1.3.26.1.3.1 classes=\"NATO RESTRICTED\"",
                          "policy=1.3.26.1.3.1 classes=\"NATO RESTRICTED\"");
}

static void
test_clearance_ambiguous_names_need_qualifying(void **state)
{
    const struct fixture *f = *state;
    assert_text_fails(f, "policy=DUP class=TOP categories=ALPHA", PAL_ENOENT, "ambiguous");
    assert_text_roundtrip(f, "policy=DUP class=TOP categories=One:ALPHA,T2:ALPHA",
                          "policy=1.2.3.4 class=TOP categories=One:ALPHA,Two:ALPHA");
    /* quoting and escapes */
    assert_text_roundtrip(f, "policy=DUP class=TOP categories=\"A,B \\\"Q\\\"\"",
                          "policy=1.2.3.4 class=TOP categories=\"A,B \\\"Q\\\"\"");
    /* the numeric form */
    assert_text_roundtrip(f, "policy=DUP classes=1 categories=1.2.3.4.2/permissive/1",
                          "policy=1.2.3.4 class=LOW categories=Two:ALPHA");
}

static void
test_clearance_text_errors(void **state)
{
    const struct fixture *f = *state;
    assert_text_fails(f, "", PAL_EMALFORMED, "no policy=");
    assert_text_fails(f, "class=SECRET", PAL_EMALFORMED, "no policy=");
    assert_text_fails(f, "policy=PALISADE", PAL_EMALFORMED, "exactly one of");
    assert_text_fails(f, "policy=PALISADE class=SECRET classes=SECRET", PAL_EMALFORMED,
                      "exactly one of");
    assert_text_fails(f, "policy=PALISADE class=SECRET,RESTRICTED", PAL_EMALFORMED,
                      "takes one value");
    assert_text_fails(f, "policy=PALISADE policy=NATO class=SECRET", PAL_EMALFORMED,
                      "duplicate key");
    assert_text_fails(f, "policy=PALISADE class=SECRET colour=red", PAL_EMALFORMED,
                      "unknown key \"colour\"");
    assert_text_fails(f, "policy=PALISADE class", PAL_EMALFORMED, "expected key=value");
    assert_text_fails(f, "policy=PALISADE class=\"SECRET", PAL_EMALFORMED, "unterminated");
    assert_text_fails(f, "policy=PALISADE class=\"SE\\CRET\"", PAL_EMALFORMED, "bad escape");
    assert_text_fails(f, "policy=PALISADE class=", PAL_EMALFORMED, "empty");
    assert_text_fails(f, "policy=PALISADE class=SECRET categories=NATO,", PAL_EMALFORMED,
                      "empty");
    assert_text_fails(f, "policy=PALISADE class=\"SECRET\"x", PAL_EMALFORMED, "unexpected");
    assert_text_fails(f, "policy=MOCK class=SECRET", PAL_EPOLICY, "not loaded");
    assert_text_fails(f, "policy=PALISADE class=TOPSECRET", PAL_ENOENT,
                      "no classification \"TOPSECRET\"");
    assert_text_fails(f, "policy=PALISADE classes=SECRET,9", PAL_ENOENT, "no classification \"9\"");
    assert_text_fails(f, "policy=PALISADE class=SECRET categories=ATOMAL", PAL_ENOENT,
                      "no category \"ATOMAL\"");
    assert_text_fails(f, "policy=DUP class=TOP categories=1.2.3.4.2/restrictive/1", PAL_ENOENT,
                      "no category");
}

static void
test_clearance_text_of_unknown_policy_is_numeric(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = policy_clearance_new("1.9.9");
    policy_clearance_add_class(c, 2);
    policy_clearance_add_class(c, 5);
    policy_clearance_add_category(c, "1.9.9.1", POLICY_TAG_ENUM_PERMISSIVE, 42);
    char *out = NULL;
    assert_int_equal(policy_clearance_to_text(f->set, c, &out), PAL_OK);
    assert_string_equal(out,
                        "policy=1.9.9 classes=2,5 categories=1.9.9.1/enumerated-permissive/42");
    free(out);
    policy_clearance_free(c);
    /* no classification at all cannot be written */
    c = policy_clearance_new("1.9.9");
    out = (char *)1;
    assert_int_equal(policy_clearance_to_text(f->set, c, &out), PAL_EINVAL);
    assert_null(out);
    policy_clearance_free(c);
}

static void
test_clearance_add_up_to_api(void **state)
{
    const struct fixture *f = *state;
    struct policy_clearance *c = policy_clearance_new("1.3.26.1.3.1");
    assert_int_equal(policy_clearance_add_up_to(f->set, c, 3), PAL_OK);
    for (int32_t v = 0; v <= 5; v++)
        assert_int_equal(policy_clearance_has_class(c, v), v >= 1 && v <= 3);
    assert_int_equal(policy_clearance_add_up_to(f->set, c, 9), PAL_ENOENT);
    policy_clearance_free(c);
    c = policy_clearance_new("1.9.9");
    assert_int_equal(policy_clearance_add_up_to(f->set, c, 1), PAL_EPOLICY);
    assert_int_equal(policy_clearance_add_class(c, -1), PAL_ERANGE);
    assert_int_equal(policy_clearance_add_class(c, POLICY_MAX_CLASS + 1), PAL_ERANGE);
    assert_int_equal(policy_clearance_add_category(c, "bad", POLICY_TAG_RESTRICTIVE, 1),
                     PAL_EINVAL);
    struct policy_clearance *d = policy_clearance_dup(c);
    assert_true(policy_clearance_equal(c, d));
    policy_clearance_add_class(d, 1);
    assert_false(policy_clearance_equal(c, d));
    assert_false(policy_clearance_equal(c, NULL));
    policy_clearance_free(d);
    policy_clearance_free(c);
    assert_null(policy_clearance_new("nope"));
    policy_clearance_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clearance_up_to_form),
        cmocka_unit_test(test_clearance_explicit_class_list),
        cmocka_unit_test(test_clearance_categories_by_name),
        cmocka_unit_test(test_clearance_nato_names_with_spaces),
        cmocka_unit_test(test_clearance_ambiguous_names_need_qualifying),
        cmocka_unit_test(test_clearance_text_errors),
        cmocka_unit_test(test_clearance_text_of_unknown_policy_is_numeric),
        cmocka_unit_test(test_clearance_add_up_to_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
