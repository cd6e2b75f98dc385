/* SPDX-License-Identifier: Apache-2.0 */
/* test_ess.c - policy/ess.c: ESS security label and RFC 5755 clearance DER
 * (strict, byte-identical round trips, SDN.801c categories) and base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "policy/policy.h"

#define RESTRICTIVE_OID "2.16.840.1.101.2.1.8.3.0"

static struct policy_label *
der_label(const unsigned char *der, size_t len)
{
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_der(der, len, &l), PAL_OK);
    assert_non_null(l);
    return l;
}

static void
assert_der_rejected(const unsigned char *der, size_t len)
{
    struct policy_label *l = (struct policy_label *)1;
    assert_int_equal(policy_label_from_der(der, len, &l), PAL_EMALFORMED);
    assert_null(l);
}

static void
assert_roundtrip(const struct policy_label *l)
{
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(policy_label_to_der(l, &der, &len), PAL_OK);
    struct policy_label *back = der_label(der, len);
    assert_true(policy_label_equal(l, back));
    unsigned char *again = NULL;
    size_t again_len = 0;
    assert_int_equal(policy_label_to_der(back, &again, &again_len), PAL_OK);
    assert_int_equal(len, again_len);
    assert_memory_equal(der, again, len);
    free(der);
    free(again);
    policy_label_free(back);
}

static void
test_ess_xep0258_example_decodes(void **state)
{
    (void)state;
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_base64("MQYCAQQGASk=", 12, &l), PAL_OK);
    assert_string_equal(policy_label_policy(l), "1.1");
    assert_true(policy_label_has_class(l));
    assert_int_equal(policy_label_class(l), 4);
    assert_int_equal(policy_label_category_count(l), 0);
    assert_null(policy_label_privacy_mark(l));
    char *b64 = NULL;
    assert_int_equal(policy_label_to_base64(l, &b64), PAL_OK);
    assert_string_equal(b64, "MQYCAQQGASk=");
    free(b64);
    policy_label_free(l);
}

static void
test_ess_xep0258_example_bytes_roundtrip(void **state)
{
    (void)state;
    static const unsigned char der[] = {0x31, 0x06, 0x02, 0x01, 0x04, 0x06, 0x01, 0x29};
    struct policy_label *l = der_label(der, sizeof(der));
    unsigned char *out = NULL;
    size_t len = 0;
    assert_int_equal(policy_label_to_der(l, &out, &len), PAL_OK);
    assert_int_equal(len, sizeof(der));
    assert_memory_equal(out, der, sizeof(der));
    free(out);
    policy_label_free(l);
}

static void
test_ess_label_without_classification(void **state)
{
    (void)state;
    /* XEP-0258's pubsub example "MQMGASk=": policy 1.1, no classification. */
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_base64("MQMGASk=", 8, &l), PAL_OK);
    assert_string_equal(policy_label_policy(l), "1.1");
    assert_false(policy_label_has_class(l));
    assert_int_equal(policy_label_class(l), -1);
    assert_roundtrip(l);
    policy_label_free(l);
}

static void
test_ess_base64_whitespace_and_missing_padding(void **state)
{
    (void)state;
    struct policy_label *l = NULL;
    const char *spaced = "\n            MQYCAQQGASk=\n        ";
    assert_int_equal(policy_label_from_base64(spaced, strlen(spaced), &l), PAL_OK);
    assert_int_equal(policy_label_class(l), 4);
    policy_label_free(l);
    /* The XEP's catalog example lacks the padding. */
    assert_int_equal(policy_label_from_base64("MQYCAQMGASk", 11, &l), PAL_OK);
    assert_int_equal(policy_label_class(l), 3);
    policy_label_free(l);
}

static void
test_ess_base64_garbage_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "====", "MQYCAQQGASk=x", "MQYC*QQGASk=", "MQYCAQQGASl=", /* non-zero trailing bits */
        "M", "MQYCAQQGASk===", "MQ=YCAQQGASk",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct policy_label *l = NULL;
        assert_int_not_equal(policy_label_from_base64(bad[i], strlen(bad[i]), &l), PAL_OK);
        assert_null(l);
    }
}

static void
test_ess_non_der_rejected(void **state)
{
    (void)state;
    /* OID before INTEGER: BER order of the SET, not DER. */
    static const unsigned char unsorted[] = {0x31, 0x06, 0x06, 0x01, 0x29, 0x02, 0x01, 0x04};
    /* A SEQUENCE where a SET belongs. */
    static const unsigned char sequence[] = {0x30, 0x06, 0x02, 0x01, 0x04, 0x06, 0x01, 0x29};
    /* Long-form length where the short form fits. */
    static const unsigned char longlen[] = {0x31, 0x81, 0x06, 0x02, 0x01,
                                            0x04, 0x06, 0x01, 0x29};
    /* INTEGER with a redundant leading zero. */
    static const unsigned char padded[] = {0x31, 0x07, 0x02, 0x02, 0x00,
                                           0x04, 0x06, 0x01, 0x29};
    /* Indefinite length. */
    static const unsigned char indefinite[] = {0x31, 0x80, 0x02, 0x01, 0x04,
                                               0x06, 0x01, 0x29, 0x00, 0x00};
    /* Trailing bytes after the label. */
    static const unsigned char trailing[] = {0x31, 0x06, 0x02, 0x01, 0x04,
                                             0x06, 0x01, 0x29, 0x00};
    /* Truncated. */
    static const unsigned char truncated[] = {0x31, 0x06, 0x02, 0x01, 0x04, 0x06};
    /* No policy identifier (XEP-0258's equivalentlabel example): RFC 2634 needs one. */
    static const unsigned char nopolicy[] = {0x31, 0x04, 0x02, 0x02, 0x00, 0xfd};
    /* Negative classification. */
    static const unsigned char negative[] = {0x31, 0x06, 0x02, 0x01, 0xff, 0x06, 0x01, 0x29};
    /* Classification above ub-integer-options (256). */
    static const unsigned char huge[] = {0x31, 0x07, 0x02, 0x02, 0x01, 0x01, 0x06, 0x01, 0x29};
    /* The context-class tag 0xB1 that ASN1_TFLG_IMPLICIT would produce. */
    static const unsigned char context[] = {0xb1, 0x06, 0x02, 0x01, 0x04, 0x06, 0x01, 0x29};
    assert_der_rejected(unsorted, sizeof(unsorted));
    assert_der_rejected(sequence, sizeof(sequence));
    assert_der_rejected(longlen, sizeof(longlen));
    assert_der_rejected(padded, sizeof(padded));
    assert_der_rejected(indefinite, sizeof(indefinite));
    assert_der_rejected(trailing, sizeof(trailing));
    assert_der_rejected(truncated, sizeof(truncated));
    assert_der_rejected(nopolicy, sizeof(nopolicy));
    assert_der_rejected(negative, sizeof(negative));
    assert_der_rejected(huge, sizeof(huge));
    assert_der_rejected(context, sizeof(context));
    assert_der_rejected((const unsigned char *)"", 0);
}

/* policy 1.1, classification 4, restrictive category of tag set 1.2.3, lacv 1 */
static const unsigned char restrictive_label[] = {
    0x31, 0x22,                                     /* ESSSecurityLabel */
    0x02, 0x01, 0x04,                               /* classification 4 */
    0x06, 0x01, 0x29,                               /* policy 1.1 */
    0x31, 0x1a,                                     /* security-categories */
    0x30, 0x18,                                     /* SecurityCategory */
    0x80, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x65, 0x02, /* [0] restrictiveBitMap */
    0x01, 0x08, 0x03, 0x00,                         /*     2.16.840.1.101.2.1.8.3.0 */
    0xa1, 0x0a,                                     /* [1] EXPLICIT */
    0x30, 0x08,                                     /* RestrictiveTag */
    0x06, 0x02, 0x2a, 0x03,                         /* tagName 1.2.3 */
    0x03, 0x02, 0x06, 0x40,                         /* attributeFlags: bit 1 */
};

static void
test_ess_restrictive_category_encoding(void **state)
{
    (void)state;
    struct policy_label *l = policy_label_new("1.1");
    assert_int_equal(policy_label_set_class(l, 4), PAL_OK);
    assert_int_equal(policy_label_add_category(l, "1.2.3", POLICY_TAG_RESTRICTIVE, 1), PAL_OK);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(policy_label_to_der(l, &der, &len), PAL_OK);
    assert_int_equal(len, sizeof(restrictive_label));
    assert_memory_equal(der, restrictive_label, len);
    free(der);

    struct policy_label *back = der_label(restrictive_label, sizeof(restrictive_label));
    assert_true(policy_label_equal(l, back));
    const char *ts;
    enum policy_tag_type type;
    uint32_t lacv;
    assert_true(policy_label_category(back, 0, &ts, &type, &lacv));
    assert_string_equal(ts, "1.2.3");
    assert_int_equal(type, POLICY_TAG_RESTRICTIVE);
    assert_int_equal(lacv, 1);
    assert_false(policy_label_category(back, 1, &ts, &type, &lacv));
    policy_label_free(back);
    policy_label_free(l);
}

static void
test_ess_bit_string_with_trailing_zero_rejected(void **state)
{
    (void)state;
    /* Same label, attributeFlags 03 03 06 40 00: a trailing zero octet is not DER. */
    unsigned char der[sizeof(restrictive_label) + 1];
    memcpy(der, restrictive_label, sizeof(restrictive_label));
    der[1] += 1;  /* outer SET */
    der[9] += 1;  /* categories SET */
    der[11] += 1; /* SecurityCategory */
    der[25] += 1; /* [1] */
    der[27] += 1; /* RestrictiveTag */
    der[33] = 0x03;
    der[34] = 0x06;
    der[35] = 0x40;
    der[36] = 0x00;
    assert_der_rejected(der, sizeof(der));
    /* and with 7 unused bits claimed where 6 are: bit 1 would be padding */
    memcpy(der, restrictive_label, sizeof(restrictive_label));
    der[34] = 0x07;
    assert_der_rejected(der, sizeof(restrictive_label));
}

static void
test_ess_unknown_category_type_rejected(void **state)
{
    (void)state;
    unsigned char der[sizeof(restrictive_label)];
    memcpy(der, restrictive_label, sizeof(der));
    der[23] = 0x09; /* 2.16.840.1.101.2.1.8.3.9: not an SDN.801c tag type */
    assert_der_rejected(der, sizeof(der));
}

static void
test_ess_all_category_types_roundtrip(void **state)
{
    (void)state;
    struct policy_label *l = policy_label_new("2.25.115474412885542477776524736473101231463.1.1");
    assert_non_null(l);
    assert_int_equal(policy_label_set_class(l, 3), PAL_OK);
    const char *ts = "2.25.115474412885542477776524736473101231463.2.1";
    assert_int_equal(policy_label_add_category(l, ts, POLICY_TAG_RESTRICTIVE, 0), PAL_OK);
    assert_int_equal(policy_label_add_category(l, ts, POLICY_TAG_RESTRICTIVE, 7), PAL_OK);
    assert_int_equal(policy_label_add_category(l, ts, POLICY_TAG_RESTRICTIVE, 8), PAL_OK);
    assert_int_equal(policy_label_add_category(l, "1.3.26.1.4.2", POLICY_TAG_ENUM_PERMISSIVE,
                                               9999), PAL_OK);
    assert_int_equal(policy_label_add_category(l, "1.3.26.1.4.2", POLICY_TAG_ENUM_PERMISSIVE, 8),
                     PAL_OK);
    assert_int_equal(policy_label_add_category(l, "1.3.26.1.4.9", POLICY_TAG_ENUM_RESTRICTIVE,
                                               4000000000u), PAL_OK);
    assert_int_equal(policy_label_add_category(l, "1.3.26.1.4.3", POLICY_TAG_PERMISSIVE, 12),
                     PAL_OK);
    assert_int_equal(policy_label_add_category(l, "1.3.26.1.4.3", POLICY_TAG_INFORMATIVE, 2),
                     PAL_OK);
    assert_int_equal(policy_label_add_category(l, "1.3.26.1.4.3", POLICY_TAG_INFORMATIVE_ENUM,
                                               5), PAL_OK);
    /* adding twice is a no-op */
    assert_int_equal(policy_label_add_category(l, ts, POLICY_TAG_RESTRICTIVE, 7), PAL_OK);
    assert_int_equal(policy_label_category_count(l), 9);
    assert_roundtrip(l);
    assert_int_equal(policy_label_set_privacy_mark(l, "HANDLE VIA COURIER", false), PAL_OK);
    assert_roundtrip(l);
    assert_int_equal(policy_label_set_privacy_mark(l, "Vertraulich \xc3\xa4", true), PAL_OK);
    assert_roundtrip(l);
    policy_label_free(l);
}

static void
test_ess_model_rejects_bad_values(void **state)
{
    (void)state;
    assert_null(policy_label_new("not.an.oid"));
    assert_null(policy_label_new("3.1"));
    assert_null(policy_label_new("1"));
    assert_null(policy_label_new("1.02"));
    assert_null(policy_label_new("1.40"));
    assert_null(policy_label_new("1.2."));
    struct policy_label *l = policy_label_new("1.1");
    assert_int_equal(policy_label_set_class(l, -1), PAL_ERANGE);
    assert_int_equal(policy_label_set_class(l, POLICY_MAX_CLASS + 1), PAL_ERANGE);
    assert_int_equal(policy_label_add_category(l, "x", POLICY_TAG_RESTRICTIVE, 1), PAL_EINVAL);
    assert_int_equal(policy_label_add_category(l, "1.2", (enum policy_tag_type)42, 1), PAL_EINVAL);
    assert_int_equal(policy_label_add_category(l, "1.2", POLICY_TAG_PERMISSIVE,
                                               POLICY_MAX_BIT_LACV + 1), PAL_ERANGE);
    assert_int_equal(policy_label_set_privacy_mark(l, "not printable!", false), PAL_EINVAL);
    assert_int_equal(policy_label_set_privacy_mark(l, "tab\there", true), PAL_EINVAL);
    /* privacy marks end up in XML: well-formed UTF-8 only */
    assert_int_equal(policy_label_set_privacy_mark(l, "\xc3", true), PAL_EINVAL);
    assert_int_equal(policy_label_set_privacy_mark(l, "\xc0\xaf", true), PAL_EINVAL);
    assert_int_equal(policy_label_set_privacy_mark(l, "\xed\xa0\x80", true), PAL_EINVAL);
    assert_int_equal(policy_label_set_privacy_mark(l, "\xef\xbf\xbf", true), PAL_EINVAL);
    assert_int_equal(policy_label_set_privacy_mark(l, "\xf4\x90\x80\x80", true), PAL_EINVAL);
    assert_int_equal(policy_label_set_privacy_mark(l, "\xf0\x9f\x94\x92 ok", true), PAL_OK);
    assert_int_equal(policy_label_set_privacy_mark(l, "", true), PAL_EINVAL);
    policy_label_free(l);
}

static void
test_ess_duplicate_category_in_der_rejected(void **state)
{
    (void)state;
    /* Two SecurityCategory for one tag set merge in the model: not canonical. */
    struct policy_label *l = policy_label_new("1.1");
    policy_label_set_class(l, 4);
    policy_label_add_category(l, "1.2.3", POLICY_TAG_RESTRICTIVE, 1);
    unsigned char *one = NULL;
    size_t one_len = 0;
    assert_int_equal(policy_label_to_der(l, &one, &one_len), PAL_OK);
    /* Build SET { cls, policy, SET { cat, cat } } by hand from the single one. */
    const unsigned char *cat = restrictive_label + 10;
    size_t cat_len = 26;
    unsigned char der[64];
    size_t o = 0;
    der[o++] = 0x31;
    der[o++] = (unsigned char)(6 + 2 + 2 * cat_len);
    memcpy(der + o, restrictive_label + 2, 6);
    o += 6;
    der[o++] = 0x31;
    der[o++] = (unsigned char)(2 * cat_len);
    memcpy(der + o, cat, cat_len);
    o += cat_len;
    memcpy(der + o, cat, cat_len);
    o += cat_len;
    assert_der_rejected(der, o);
    free(one);
    policy_label_free(l);
}

/* ---- clearances ---- */

static void
assert_clearance_roundtrip(const unsigned char *der, size_t len)
{
    struct policy_clearance *c = NULL;
    assert_int_equal(policy_clearance_from_der(der, len, &c), PAL_OK);
    unsigned char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(policy_clearance_to_der(c, &out, &out_len), PAL_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, der, len);
    free(out);
    policy_clearance_free(c);
}

static void
test_ess_clearance_default_class_list(void **state)
{
    (void)state;
    /* classList absent means {unclassified(1)}. */
    static const unsigned char der[] = {0x30, 0x03, 0x06, 0x01, 0x29};
    struct policy_clearance *c = NULL;
    assert_int_equal(policy_clearance_from_der(der, sizeof(der), &c), PAL_OK);
    assert_string_equal(policy_clearance_policy(c), "1.1");
    for (int32_t v = 0; v <= POLICY_MAX_CLASS; v++)
        assert_int_equal(policy_clearance_has_class(c, v), v == 1);
    policy_clearance_free(c);
    assert_clearance_roundtrip(der, sizeof(der));
    /* Writing the DEFAULT value out is not DER. */
    static const unsigned char explicit_default[] = {0x30, 0x07, 0x06, 0x01, 0x29,
                                                     0x03, 0x02, 0x06, 0x40};
    assert_int_equal(policy_clearance_from_der(explicit_default, sizeof(explicit_default), &c),
                     PAL_EMALFORMED);
    assert_null(c);
}

static void
test_ess_clearance_class_list_bits(void **state)
{
    (void)state;
    struct policy_clearance *c = policy_clearance_new("1.1");
    for (int32_t v = 1; v <= 4; v++)
        assert_int_equal(policy_clearance_add_class(c, v), PAL_OK);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(policy_clearance_to_der(c, &der, &len), PAL_OK);
    static const unsigned char want[] = {0x30, 0x07, 0x06, 0x01, 0x29, 0x03, 0x02, 0x03, 0x78};
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(der, want, len);
    free(der);
    policy_clearance_free(c);
    assert_clearance_roundtrip(want, sizeof(want));
    /* An empty classList: nothing at all. */
    static const unsigned char empty[] = {0x30, 0x06, 0x06, 0x01, 0x29, 0x03, 0x01, 0x00};
    assert_int_equal(policy_clearance_from_der(empty, sizeof(empty), &c), PAL_OK);
    for (int32_t v = 0; v <= POLICY_MAX_CLASS; v++)
        assert_false(policy_clearance_has_class(c, v));
    policy_clearance_free(c);
    assert_clearance_roundtrip(empty, sizeof(empty));
    /* Unused bits that are set are not DER. */
    static const unsigned char dirty[] = {0x30, 0x07, 0x06, 0x01, 0x29, 0x03, 0x02, 0x03, 0x7c};
    assert_int_equal(policy_clearance_from_der(dirty, sizeof(dirty), &c), PAL_EMALFORMED);
}

static void
test_ess_clearance_with_categories_roundtrip(void **state)
{
    (void)state;
    struct policy_clearance *c = policy_clearance_new("1.3.26.1.3.1");
    policy_clearance_add_class(c, 1);
    policy_clearance_add_class(c, 4);
    policy_clearance_add_category(c, "1.3.26.1.4.1", POLICY_TAG_RESTRICTIVE, 1);
    policy_clearance_add_category(c, "1.3.26.1.4.1", POLICY_TAG_RESTRICTIVE, 5);
    policy_clearance_add_category(c, "1.3.26.1.4.2", POLICY_TAG_ENUM_PERMISSIVE, 9995);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(policy_clearance_to_der(c, &der, &len), PAL_OK);
    struct policy_clearance *back = NULL;
    assert_int_equal(policy_clearance_from_der(der, len, &back), PAL_OK);
    assert_true(policy_clearance_equal(c, back));
    assert_int_equal(policy_clearance_category_count(back), 3);
    assert_clearance_roundtrip(der, len);
    free(der);
    policy_clearance_free(back);
    policy_clearance_free(c);
}

static void
test_ess_clearance_garbage_rejected(void **state)
{
    (void)state;
    static const unsigned char set_tag[] = {0x31, 0x03, 0x06, 0x01, 0x29};
    static const unsigned char no_policy[] = {0x30, 0x04, 0x03, 0x02, 0x03, 0x78};
    static const unsigned char trailing[] = {0x30, 0x03, 0x06, 0x01, 0x29, 0x00};
    struct policy_clearance *c = NULL;
    assert_int_equal(policy_clearance_from_der(set_tag, sizeof(set_tag), &c), PAL_EMALFORMED);
    assert_int_equal(policy_clearance_from_der(no_policy, sizeof(no_policy), &c), PAL_EMALFORMED);
    assert_int_equal(policy_clearance_from_der(trailing, sizeof(trailing), &c), PAL_EMALFORMED);
    assert_int_equal(policy_clearance_from_der(restrictive_label, sizeof(restrictive_label), &c),
                     PAL_EMALFORMED);
    assert_null(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ess_xep0258_example_decodes),
        cmocka_unit_test(test_ess_xep0258_example_bytes_roundtrip),
        cmocka_unit_test(test_ess_label_without_classification),
        cmocka_unit_test(test_ess_base64_whitespace_and_missing_padding),
        cmocka_unit_test(test_ess_base64_garbage_rejected),
        cmocka_unit_test(test_ess_non_der_rejected),
        cmocka_unit_test(test_ess_restrictive_category_encoding),
        cmocka_unit_test(test_ess_bit_string_with_trailing_zero_rejected),
        cmocka_unit_test(test_ess_unknown_category_type_rejected),
        cmocka_unit_test(test_ess_all_category_types_roundtrip),
        cmocka_unit_test(test_ess_model_rejects_bad_values),
        cmocka_unit_test(test_ess_duplicate_category_in_der_rejected),
        cmocka_unit_test(test_ess_clearance_default_class_list),
        cmocka_unit_test(test_ess_clearance_class_list_bits),
        cmocka_unit_test(test_ess_clearance_with_categories_roundtrip),
        cmocka_unit_test(test_ess_clearance_garbage_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
