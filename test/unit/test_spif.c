/* SPDX-License-Identifier: Apache-2.0 */
/* test_spif.c - policy/spif.c: the two real SPIFs (schema 1.0 NATO, 2.1 ACME),
 * the project's sample and partner policies, malformed files, policy sets. */
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

static struct policy *
load(const char *path)
{
    struct policy *p = NULL;
    char err[512] = "";
    int rc = policy_load(path, &p, err, sizeof(err));
    if (rc != PAL_OK)
        fail_msg("%s: %s", path, err);
    return p;
}

/* Loads xml from memory and expects a failure whose message contains want. */
static void
assert_load_fails(const char *xml, size_t len, const char *want)
{
    struct policy *p = (struct policy *)1;
    char err[512] = "";
    int rc = policy_load_mem(xml, len, &p, err, sizeof(err));
    assert_int_not_equal(rc, PAL_OK);
    assert_null(p);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, want);
}

static void
assert_str_fails(const char *xml, const char *want)
{
    assert_load_fails(xml, strlen(xml), want);
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static void
assert_class(const struct policy *p, size_t i, const char *name, int32_t lacv, int32_t hier)
{
    struct policy_class_info ci;
    assert_true(policy_class_get(p, i, &ci));
    assert_string_equal(ci.name, name);
    assert_int_equal(ci.lacv, lacv);
    assert_int_equal(ci.hierarchy, hier);
}

static void
assert_category(const struct policy *p, size_t i, const char *tagset, enum policy_tag_type type,
                uint32_t lacv, const char *name)
{
    struct policy_category_info ci;
    assert_true(policy_category_get(p, i, &ci));
    assert_string_equal(ci.tagset_oid, tagset);
    assert_int_equal(ci.type, type);
    assert_int_equal(ci.lacv, lacv);
    assert_string_equal(ci.name, name);
}

static void
test_spif_nato_loads(void **state)
{
    (void)state;
    struct policy *p = load(SPIF_DIR "/NATO-SPIF-example.xml");
    assert_string_equal(policy_name(p), "NATO");
    assert_string_equal(policy_oid(p), "1.3.26.1.3.1");
    assert_int_equal(policy_class_count(p), 4);
    assert_class(p, 0, "NATO UNCLASSIFIED", 1, 1);
    assert_class(p, 1, "NATO RESTRICTED", 2, 2);
    assert_class(p, 2, "NATO CONFIDENTIAL", 3, 3);
    assert_class(p, 3, "NATO SECRET", 4, 4);
    struct policy_class_info ci;
    assert_false(policy_class_get(p, 4, &ci));
    assert_true(policy_class_get(p, 3, &ci));
    assert_string_equal(ci.marking, "NATO SECRET");
    assert_string_equal(ci.bg, "white");
    assert_string_equal(ci.fg, "black");

    assert_int_equal(policy_category_count(p), 55);
    assert_category(p, 0, "1.3.26.1.4.1", POLICY_TAG_RESTRICTIVE, 1, "ATOMAL");
    assert_category(p, 3, "1.3.26.1.4.1", POLICY_TAG_RESTRICTIVE, 4, "SIOP ESI");
    assert_category(p, 4, "1.3.26.1.4.1", POLICY_TAG_RESTRICTIVE, 5, "EXCLUSIVE");
    assert_category(p, 7, "1.3.26.1.4.1", POLICY_TAG_RESTRICTIVE, 8, "OPERATIONS");
    assert_category(p, 8, "1.3.26.1.4.2", POLICY_TAG_ENUM_PERMISSIVE, 8, "ALB");
    assert_category(p, 48, "1.3.26.1.4.2", POLICY_TAG_ENUM_PERMISSIVE, 9983, "EUFOR");
    assert_category(p, 49, "1.3.26.1.4.2", POLICY_TAG_ENUM_PERMISSIVE, 9986,
                    "INTERNET TRANSMISSION");
    assert_category(p, 50, "1.3.26.1.4.3", POLICY_TAG_INFORMATIVE, 1, "MANAGEMENT");
    assert_category(p, 54, "1.3.26.1.4.3", POLICY_TAG_INFORMATIVE, 5, "COMMERCIAL");

    struct policy_category_info k;
    assert_true(policy_category_get(p, 0, &k));
    assert_string_equal(k.tagset_name, "Additional Sensitivity Categories");
    assert_string_equal(k.tag_name, "Special Category Designators");
    assert_string_equal(k.marking, "ATOMAL");
    assert_true(policy_category_get(p, 8, &k));
    assert_string_equal(k.marking, "Albania (ALB)");
    assert_string_equal(k.tag_name, "Releasable To");
    assert_false(k.is_obsolete);
    assert_true(policy_category_get(p, 13, &k)); /* BGR */
    assert_string_equal(k.name, "BGR");
    assert_true(k.is_obsolete);
    assert_false(policy_category_get(p, 55, &k));
    assert_int_equal(policy_equivalent_count(p), 0);
    policy_free(p);
}

static void
test_spif_acme_loads(void **state)
{
    (void)state;
    struct policy *p = load(SPIF_DIR "/ACME-SPIF-example.xml");
    assert_string_equal(policy_name(p), "ACME");
    assert_string_equal(policy_oid(p), "1.3.6.1.4.1.31778.110.1");
    assert_int_equal(policy_class_count(p), 3);
    assert_class(p, 0, "PUBLIC", 1, 1);
    assert_class(p, 1, "CONFIDENTIAL", 2, 2);
    assert_class(p, 2, "INTERNAL", 3, 3);
    struct policy_class_info ci;
    assert_true(policy_class_get(p, 1, &ci));
    /* Only a French marking phrase: the name is the default marking. */
    assert_string_equal(ci.marking, "CONFIDENTIAL");

    assert_int_equal(policy_category_count(p), 8);
    assert_category(p, 0, "1.3.6.1.4.1.31778.111.1", POLICY_TAG_ENUM_PERMISSIVE, 100, "MOCK");
    assert_category(p, 1, "1.3.6.1.4.1.31778.111.1", POLICY_TAG_ENUM_PERMISSIVE, 200, "PHONY");
    assert_category(p, 2, "1.3.6.1.4.1.31778.111.2", POLICY_TAG_INFORMATIVE, 1, "STAFF");
    assert_category(p, 5, "1.3.6.1.4.1.31778.111.2", POLICY_TAG_INFORMATIVE, 4, "ENGINEERING");
    assert_category(p, 6, "1.3.6.1.4.1.31778.111.3", POLICY_TAG_RESTRICTIVE, 1, "RED");
    assert_category(p, 7, "1.3.6.1.4.1.31778.111.3", POLICY_TAG_RESTRICTIVE, 2, "BLUE");
    struct policy_category_info k;
    assert_true(policy_category_get(p, 0, &k));
    assert_string_equal(k.marking, "MOCK"); /* the default-language phrase, not MOQUER */

    assert_int_equal(policy_equivalent_count(p), 1);
    const char *name;
    const char *oid;
    assert_true(policy_equivalent_get(p, 0, &name, &oid));
    assert_string_equal(name, "MOCK");
    assert_string_equal(oid, "1.3.6.1.4.1.31778.120.1");
    assert_false(policy_equivalent_get(p, 1, &name, &oid));
    policy_free(p);
}

static void
test_spif_sample_and_partner_load(void **state)
{
    (void)state;
    struct policy *p = load(SAMPLE_DIR "/palisade-sample.xml");
    assert_string_equal(policy_name(p), "PALISADE");
    assert_string_equal(policy_oid(p), ARC ".1.1");
    assert_int_equal(policy_class_count(p), 4);
    assert_class(p, 0, "UNCLASSIFIED", 1, 1);
    assert_class(p, 3, "SECRET", 4, 4);
    struct policy_class_info ci;
    assert_true(policy_class_get(p, 0, &ci));
    assert_string_equal(ci.bg, "green");
    assert_string_equal(ci.fg, "white");
    assert_true(policy_class_get(p, 1, &ci));
    assert_string_equal(ci.bg, "aqua");
    assert_string_equal(ci.fg, "black");
    assert_true(policy_class_get(p, 2, &ci));
    assert_string_equal(ci.bg, "navy");
    assert_string_equal(ci.fg, "white");
    assert_true(policy_class_get(p, 3, &ci)); /* set by the markingColours extension */
    assert_string_equal(ci.bg, "red");
    assert_string_equal(ci.fg, "black");
    assert_int_equal(policy_category_count(p), 8);
    assert_category(p, 0, ARC ".2.1", POLICY_TAG_RESTRICTIVE, 1, "NATO");
    assert_category(p, 1, ARC ".2.1", POLICY_TAG_RESTRICTIVE, 2, "EU");
    assert_category(p, 2, ARC ".2.2", POLICY_TAG_ENUM_PERMISSIVE, 826, "GBR");
    assert_category(p, 7, ARC ".2.3", POLICY_TAG_INFORMATIVE, 2, "PERSONAL");
    policy_free(p);

    p = load(SAMPLE_DIR "/palisade-partner.xml");
    assert_string_equal(policy_name(p), "PARTNER");
    assert_string_equal(policy_oid(p), ARC ".1.2");
    assert_int_equal(policy_class_count(p), 4);
    assert_class(p, 2, "PARTNER CONFIDENTIAL", 12, 3);
    assert_true(policy_class_get(p, 2, &ci));
    assert_string_equal(ci.marking, "PARTNER CONF");
    assert_string_equal(ci.bg, "#0000cc");
    assert_string_equal(ci.fg, "white");
    assert_category(p, 5, ARC ".2.6", POLICY_TAG_INFORMATIVE_ENUM, 1, "DRAFT");
    const char *oid;
    assert_true(policy_equivalent_get(p, 0, NULL, &oid));
    assert_string_equal(oid, ARC ".1.1");
    policy_free(p);
}

static void
test_spif_missing_file_is_an_error(void **state)
{
    (void)state;
    struct policy *p = (struct policy *)1;
    char err[512] = "";
    assert_int_equal(policy_load(SPIF_DIR "/no-such.xml", &p, err, sizeof(err)), PAL_ENOENT);
    assert_null(p);
    assert_non_null(strstr(err, "no-such.xml"));
}

static void
test_spif_truncated_file_rejected_with_line(void **state)
{
    (void)state;
    size_t len;
    char *s = slurp(SPIF_DIR "/NATO-SPIF-example.xml", &len);
    assert_load_fails(s, len / 2, "line ");
    assert_load_fails(s, len - 3, "line ");
    free(s);
}

static void
test_spif_not_xml_rejected(void **state)
{
    (void)state;
    assert_str_fails("this is not XML", "line 1");
    assert_str_fails("", "line");
    assert_str_fails("<a><b></a>", "line 1");
    assert_str_fails("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]><x/>", "DTD");
}

#define HEAD                                                                           \
    "<spif:SPIF xmlns:spif='http://www.xmlspif.org/spif' schemaVersion='2.1' "         \
    "creationDate='20250101000000Z' originatorDN='CN=x' keyIdentifier='00' "           \
    "privilegeId='1.2' rbacId='1.2'>\n<spif:securityPolicyId name='T' id='1.2.3'/>\n"
#define CLASSES                                                                        \
    "<spif:securityClassifications>\n"                                                 \
    "<spif:securityClassification name='LOW' lacv='1' hierarchy='1'/>\n"               \
    "<spif:securityClassification name='HIGH' lacv='2' hierarchy='2'/>\n"              \
    "</spif:securityClassifications>\n"
#define TAIL "</spif:SPIF>\n"

static void
test_spif_minimal_loads(void **state)
{
    (void)state;
    struct policy *p = NULL;
    char err[256];
    const char *xml = HEAD CLASSES TAIL;
    assert_int_equal(policy_load_mem(xml, strlen(xml), &p, err, sizeof(err)), PAL_OK);
    assert_int_equal(policy_class_count(p), 2);
    assert_int_equal(policy_category_count(p), 0);
    policy_free(p);
}

static void
test_spif_missing_classifications_rejected(void **state)
{
    (void)state;
    assert_str_fails(HEAD TAIL, "no <securityClassifications>");
    assert_str_fails(HEAD "<spif:securityClassifications/>" TAIL, "no securityClassification");
}

static void
test_spif_duplicate_lacv_rejected(void **state)
{
    (void)state;
    assert_str_fails(HEAD "<spif:securityClassifications>\n"
                          "<spif:securityClassification name='LOW' lacv='1' hierarchy='1'/>\n"
                          "<spif:securityClassification name='HIGH' lacv='1' hierarchy='2'/>\n"
                          "</spif:securityClassifications>\n" TAIL,
                     "securityClassification \"HIGH\": duplicate lacv 1");
    assert_str_fails(HEAD "<spif:securityClassifications>\n"
                          "<spif:securityClassification name='LOW' lacv='1' hierarchy='1'/>\n"
                          "<spif:securityClassification name='LOW' lacv='2' hierarchy='2'/>\n"
                          "</spif:securityClassifications>\n" TAIL,
                     "duplicate name");
    assert_str_fails(HEAD CLASSES
                     "<spif:securityCategoryTagSets><spif:securityCategoryTagSet name='S' "
                     "id='1.2.4'><spif:securityCategoryTag tagType='restrictive'>"
                     "<spif:tagCategory name='A' lacv='1'/><spif:tagCategory name='B' lacv='1'/>"
                     "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
                     "</spif:securityCategoryTagSets>" TAIL,
                     "tagCategory \"B\": duplicate lacv 1");
}

static void
test_spif_bad_values_rejected(void **state)
{
    (void)state;
    assert_str_fails("<x/>", "not a SPIF");
    assert_str_fails("<SPIF schemaVersion='2.1'/>", "not a SPIF");
    assert_str_fails(
        "<spif:SPIF xmlns:spif='http://www.xmlspif.org/spif' schemaVersion='9.9'/>",
        "schemaVersion");
    assert_str_fails(
        "<spif:SPIF xmlns:spif='http://www.xmlspif.org/spif' schemaVersion='2.1'>"
        "<spif:securityPolicyId name='T' id='not-an-oid'/>" CLASSES TAIL,
        "is not an OID");
    assert_str_fails(HEAD "<spif:securityClassifications>"
                          "<spif:securityClassification name='X' lacv='one' hierarchy='1'/>"
                          "</spif:securityClassifications>" TAIL,
                     "lacv must be an integer");
    assert_str_fails(HEAD "<spif:securityClassifications>"
                          "<spif:securityClassification name='X' lacv='1' hierarchy='1' "
                          "color='octarine'/></spif:securityClassifications>" TAIL,
                     "bad color");
    assert_str_fails(HEAD CLASSES
                     "<spif:securityCategoryTagSets><spif:securityCategoryTagSet name='S' "
                     "id='1.2.4'><spif:securityCategoryTag tagType='restrictive'>"
                     "<spif:tagCategory name='A' lacv='1'><spif:excludedClass>MEDIUM"
                     "</spif:excludedClass></spif:tagCategory>"
                     "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
                     "</spif:securityCategoryTagSets>" TAIL,
                     "unknown classification \"MEDIUM\"");
    assert_str_fails(HEAD CLASSES
                     "<spif:securityCategoryTagSets><spif:securityCategoryTagSet name='S' "
                     "id='1.2.4'><spif:securityCategoryTag tagType='mystery'>"
                     "<spif:tagCategory name='A' lacv='1'/>"
                     "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
                     "</spif:securityCategoryTagSets>" TAIL,
                     "unsupported tagType");
    assert_str_fails(HEAD CLASSES
                     "<spif:securityCategoryTagSets><spif:securityCategoryTagSet name='S' "
                     "id='1.2.4'><spif:securityCategoryTag tagType='enumerated'>"
                     "<spif:tagCategory name='A' lacv='1'/>"
                     "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
                     "</spif:securityCategoryTagSets>" TAIL,
                     "unsupported tagType");
    assert_str_fails(HEAD CLASSES
                     "<spif:securityCategoryTagSets><spif:securityCategoryTagSet name='S' "
                     "id='1.2.4'><spif:securityCategoryTag tagType='restrictive'>"
                     "<spif:tagCategory name='A' lacv='abc'/>"
                     "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
                     "</spif:securityCategoryTagSets>" TAIL,
                     "string lacvs are not supported");
    assert_str_fails(HEAD CLASSES
                     "<spif:securityCategoryTagSets><spif:securityCategoryTagSet name='S' "
                     "id='1.2.4'><spif:securityCategoryTag tagType='restrictive'>"
                     "<spif:tagCategory name='A' lacv='99999'/>"
                     "</spif:securityCategoryTag></spif:securityCategoryTagSet>"
                     "</spif:securityCategoryTagSets>" TAIL,
                     "out of range");
    assert_str_fails(HEAD CLASSES
                     "<spif:securityCategoryTagSets>"
                     "<spif:securityCategoryTagSet name='S' id='1.2.4'>"
                     "<spif:securityCategoryTag tagType='restrictive'/>"
                     "</spif:securityCategoryTagSet>"
                     "<spif:securityCategoryTagSet name='T' id='1.2.4'>"
                     "<spif:securityCategoryTag tagType='restrictive'/>"
                     "</spif:securityCategoryTagSet>"
                     "</spif:securityCategoryTagSets>" TAIL,
                     "duplicate id 1.2.4");
    assert_str_fails(HEAD "<spif:securityClassifications>"
                          "<spif:securityClassification name='X' lacv='1' hierarchy='1'>"
                          "<spif:equivalentClassification policyRef='NOPE' lacv='1' "
                          "applied='both'/></spif:securityClassification>"
                          "</spif:securityClassifications>" TAIL,
                     "unknown policy \"NOPE\"");
    assert_str_fails(HEAD CLASSES "<spif:surprise/>" TAIL, "unexpected element <surprise>");
    assert_str_fails(HEAD "<spif:securityClassifications>"
                          "<spif:securityClassification name='X' lacv='1' hierarchy='1'>"
                          "<spif:requiredCategory operation='oneOrMore'>"
                          "<spif:categoryGroup tagSetRef='Nowhere' tagType='restrictive' "
                          "lacv='1'/></spif:requiredCategory></spif:securityClassification>"
                          "</spif:securityClassifications>" TAIL,
                     "unknown tag set \"Nowhere\"");
}

static void
test_spif_foreign_extensions_ignored(void **state)
{
    (void)state;
    struct policy *p = NULL;
    char err[256] = "";
    const char *xml = HEAD CLASSES
        "<spif:extensions><x:thing xmlns:x='urn:example'/></spif:extensions>" TAIL;
    assert_int_equal(policy_load_mem(xml, strlen(xml), &p, err, sizeof(err)), PAL_OK);
    policy_free(p);
}

static void
test_spif_set_holds_policies(void **state)
{
    (void)state;
    struct policy_set *s = policy_set_new();
    char err[512] = "";
    assert_int_equal(policy_set_count(s), 0);
    assert_int_equal(policy_set_load(s, SPIF_DIR "/NATO-SPIF-example.xml", err, sizeof(err)),
                     PAL_OK);
    assert_int_equal(policy_set_load(s, SPIF_DIR "/ACME-SPIF-example.xml", err, sizeof(err)),
                     PAL_OK);
    assert_int_equal(policy_set_load(s, SPIF_DIR "/NATO-SPIF-example.xml", err, sizeof(err)),
                     PAL_EEXIST);
    assert_non_null(strstr(err, "already loaded"));
    assert_int_equal(policy_set_load(s, SPIF_DIR "/missing.xml", err, sizeof(err)), PAL_ENOENT);
    assert_int_equal(policy_set_count(s), 2);
    assert_string_equal(policy_name(policy_set_find(s, "1.3.26.1.3.1")), "NATO");
    assert_string_equal(policy_oid(policy_set_find(s, "ACME")), "1.3.6.1.4.1.31778.110.1");
    assert_null(policy_set_find(s, "MOCK"));
    assert_null(policy_set_find(s, NULL));
    assert_non_null(policy_set_get(s, 1));
    assert_null(policy_set_get(s, 2));
    policy_set_free(s);
    policy_set_free(NULL);
    policy_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spif_nato_loads),
        cmocka_unit_test(test_spif_acme_loads),
        cmocka_unit_test(test_spif_sample_and_partner_load),
        cmocka_unit_test(test_spif_missing_file_is_an_error),
        cmocka_unit_test(test_spif_truncated_file_rejected_with_line),
        cmocka_unit_test(test_spif_not_xml_rejected),
        cmocka_unit_test(test_spif_minimal_loads),
        cmocka_unit_test(test_spif_missing_classifications_rejected),
        cmocka_unit_test(test_spif_duplicate_lacv_rejected),
        cmocka_unit_test(test_spif_bad_values_rejected),
        cmocka_unit_test(test_spif_foreign_extensions_ignored),
        cmocka_unit_test(test_spif_set_holds_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
