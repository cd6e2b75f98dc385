/* SPDX-License-Identifier: Apache-2.0 */
/* test_label.c - policy/label.c: the label model, our XML label form, the
 * <esssecuritylabel/> element and the XEP-0258 <securitylabel/> envelope, in
 * both directions (the server rebuilds the envelope with its own marking). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xml.h"
#include "policy/policy.h"

#define SAMPLE_DIR TEST_DATA_DIR "/../../policy/spif"
#define ARC "2.25.115474412885542477776524736473101231463"
#define SAMPLE ARC ".1.1"
#define PARTNER ARC ".1.2"
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
        policy_set_load(f->set, SAMPLE_DIR "/palisade-partner.xml", err, sizeof(err)) != PAL_OK)
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

static struct xml_tree *
parse(const char *xml)
{
    struct xml_tree *t = NULL;
    char err[256] = "";
    if (xml_parse_doc(xml, strlen(xml), &t, err, sizeof(err)) != PAL_OK)
        fail_msg("test XML does not parse: %s", err);
    return t;
}

static char *
serialize(const struct xml_node *el)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(el, "jabber:client", &b);
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

static struct policy_label *
sample_label(int32_t cls)
{
    struct policy_label *l = policy_label_new(SAMPLE);
    assert_int_equal(policy_label_set_class(l, cls), PAL_OK);
    return l;
}

static void
test_label_model_accessors(void **state)
{
    (void)state;
    struct policy_label *l = sample_label(4);
    assert_string_equal(policy_label_policy(l), SAMPLE);
    assert_int_equal(policy_label_class(l), 4);
    assert_int_equal(policy_label_add_category(l, REL, POLICY_TAG_ENUM_PERMISSIVE, 826), PAL_OK);
    assert_int_equal(policy_label_add_category(l, NTK, POLICY_TAG_RESTRICTIVE, 2), PAL_OK);
    assert_int_equal(policy_label_add_category(l, NTK, POLICY_TAG_RESTRICTIVE, 1), PAL_OK);
    assert_int_equal(policy_label_category_count(l), 3);
    const char *ts;
    enum policy_tag_type ty;
    uint32_t lacv;
    /* sorted by tag set OID, then type, then lacv */
    assert_true(policy_label_category(l, 0, &ts, &ty, &lacv));
    assert_string_equal(ts, NTK);
    assert_int_equal(lacv, 1);
    assert_true(policy_label_category(l, 1, NULL, NULL, &lacv));
    assert_int_equal(lacv, 2);
    assert_true(policy_label_category(l, 2, &ts, &ty, &lacv));
    assert_string_equal(ts, REL);
    assert_int_equal(ty, POLICY_TAG_ENUM_PERMISSIVE);

    struct policy_label *d = policy_label_dup(l);
    assert_true(policy_label_equal(l, d));
    policy_label_set_class(d, 3);
    assert_false(policy_label_equal(l, d));
    policy_label_free(d);
    d = policy_label_dup(l);
    policy_label_add_category(d, REL, POLICY_TAG_ENUM_PERMISSIVE, 250);
    assert_false(policy_label_equal(l, d));
    policy_label_free(d);
    d = policy_label_dup(l);
    policy_label_set_privacy_mark(d, "X", true);
    assert_false(policy_label_equal(l, d));
    policy_label_free(d);
    assert_true(policy_label_equal(NULL, NULL));
    assert_false(policy_label_equal(l, NULL));
    policy_label_free(l);
    policy_label_free(NULL);
}

static void
test_label_tag_type_strings_roundtrip(void **state)
{
    (void)state;
    for (int t = 0; t < POLICY_TAG_TYPE_COUNT; t++) {
        enum policy_tag_type back;
        assert_int_equal(policy_tag_type_parse(policy_tag_type_str((enum policy_tag_type)t), &back),
                         PAL_OK);
        assert_int_equal(back, t);
    }
    enum policy_tag_type x;
    assert_int_equal(policy_tag_type_parse("restricted", &x), PAL_EINVAL);
    assert_string_equal(policy_tag_type_str((enum policy_tag_type)99), "unknown");
}

static void
test_label_xml_form_parses(void **state)
{
    (void)state;
    struct xml_tree *t = parse(
        "<label xmlns='urn:palisade:label:0' policy='" SAMPLE "' classification='3'>\n"
        "  <category tagset='" NTK "' type='restrictive' lacv='1'/>\n"
        "  <category tagset='" REL "' type='enumerated-permissive' lacv='250'/>\n"
        "  <privacymark type='printable'>EYES ONLY</privacymark>\n"
        "</label>");
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_xml(t->root, &l), PAL_OK);
    struct policy_label *want = sample_label(3);
    policy_label_add_category(want, NTK, POLICY_TAG_RESTRICTIVE, 1);
    policy_label_add_category(want, REL, POLICY_TAG_ENUM_PERMISSIVE, 250);
    policy_label_set_privacy_mark(want, "EYES ONLY", false);
    assert_true(policy_label_equal(l, want));
    policy_label_free(want);
    xml_tree_free(t);

    /* and back: to_xml, serialize, parse, compare */
    struct xml_tree *out = xml_tree_new();
    struct xml_node *el = policy_label_to_xml(l, POLICY_XML_PALISADE, out, NULL);
    assert_non_null(el);
    char *s = serialize(el);
    struct xml_tree *t2 = parse(s);
    struct policy_label *back = NULL;
    assert_int_equal(policy_label_from_xml(t2->root, &back), PAL_OK);
    assert_true(policy_label_equal(l, back));
    free(s);
    xml_tree_free(t2);
    xml_tree_free(out);
    policy_label_free(back);
    policy_label_free(l);
}

static void
test_label_xml_form_without_classification(void **state)
{
    (void)state;
    struct xml_tree *t = parse("<label xmlns='urn:palisade:label:0' policy='1.1'/>");
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_xml(t->root, &l), PAL_OK);
    assert_false(policy_label_has_class(l));
    policy_label_free(l);
    xml_tree_free(t);
}

static void
test_label_xml_form_rejects_bad_input(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "<label xmlns='urn:palisade:label:0'/>",
        "<label xmlns='urn:palisade:label:0' policy='x.y'/>",
        "<label xmlns='urn:palisade:label:0' policy='1.1' classification='4x'/>",
        "<label xmlns='urn:palisade:label:0' policy='1.1' classification='-1'/>",
        "<label xmlns='urn:palisade:label:0' policy='1.1' classification='257'/>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'><category tagset='1.2' "
        "type='restrictive'/></label>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'><category tagset='1.2' "
        "type='bogus' lacv='1'/></label>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'><category tagset='1.2' "
        "type='restrictive' lacv='99999'/></label>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'><surprise/></label>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'><category xmlns='urn:x' "
        "tagset='1.2' type='restrictive' lacv='1'/></label>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'>text</label>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'><privacymark type='utf7'>x"
        "</privacymark></label>",
        "<label xmlns='urn:palisade:label:0' policy='1.1'><privacymark type='printable'>"
        "x!</privacymark></label>",
        "<esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>MQYGASkCAQQ=</esssecuritylabel>",
        "<esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'><b/></esssecuritylabel>",
        "<esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>not base64!</esssecuritylabel>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct xml_tree *t = parse(bad[i]);
        struct policy_label *l = NULL;
        int rc = policy_label_from_xml(t->root, &l);
        if (rc != PAL_EMALFORMED)
            fail_msg("accepted (%d): %s", rc, bad[i]);
        assert_null(l);
        xml_tree_free(t);
    }
}

static void
test_label_unknown_format_is_enoent(void **state)
{
    (void)state;
    struct xml_tree *t = parse("<icismlabel xmlns='http://example.gov/IC-ISM/0' "
                               "classification='S' ownerProducer='USA'/>");
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_xml(t->root, &l), PAL_ENOENT);
    assert_null(l);
    xml_tree_free(t);
}

static void
test_label_ess_element_parses(void **state)
{
    (void)state;
    struct xml_tree *t = parse("<esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>\n"
                               "    MQYCAQQGASk=\n  </esssecuritylabel>");
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_xml(t->root, &l), PAL_OK);
    assert_string_equal(policy_label_policy(l), "1.1");
    assert_int_equal(policy_label_class(l), 4);
    xml_tree_free(t);
    struct xml_tree *out = xml_tree_new();
    struct xml_node *el = policy_label_to_xml(l, POLICY_XML_ESS, out, NULL);
    char *s = serialize(el);
    assert_string_equal(s, "<esssecuritylabel xmlns=\"urn:xmpp:sec-label:ess:0\">MQYCAQQGASk="
                           "</esssecuritylabel>");
    free(s);
    xml_tree_free(out);
    policy_label_free(l);
}

/* XEP-0258 §1, the first example. */
static const char xep_message[] =
    "<message xmlns='jabber:client' to='romeo@example.net' from='juliet@example.com/balcony'>\n"
    "    <body>This content is classified.</body>\n"
    "    <securitylabel xmlns='urn:xmpp:sec-label:0'>\n"
    "        <displaymarking fgcolor='black' bgcolor='red'>SECRET</displaymarking>\n"
    "        <label><esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>\n"
    "            MQYCAQQGASk=\n"
    "        </esssecuritylabel></label>\n"
    "    </securitylabel>\n"
    "</message>";

static void
test_label_xep258_envelope_parses(void **state)
{
    (void)state;
    struct xml_tree *t = parse(xep_message);
    struct xml_node *env = xml_child(t->root, "urn:xmpp:sec-label:0", "securitylabel");
    assert_non_null(env);
    struct policy_label *l = NULL;
    char *marking = NULL;
    assert_int_equal(policy_label_from_xep258(env, &l, &marking), PAL_OK);
    assert_string_equal(policy_label_policy(l), "1.1");
    assert_int_equal(policy_label_class(l), 4);
    assert_string_equal(marking, "SECRET");
    free(marking);
    policy_label_free(l);
    /* marking is optional to ask for */
    assert_int_equal(policy_label_from_xep258(env, &l, NULL), PAL_OK);
    policy_label_free(l);
    xml_tree_free(t);
}

static void
test_label_xep258_equivalentlabel_ignored(void **state)
{
    (void)state;
    /* XEP-0258 §3: its equivalentlabel has no policy, which we could not parse;
     * equivalents are ignored (recomputed), so the envelope still parses. */
    struct xml_tree *t = parse(
        "<securitylabel xmlns='urn:xmpp:sec-label:0'>"
        "<displaymarking fgcolor='black' bgcolor='red'>SECRET</displaymarking>"
        "<label><esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>MQYCAQIGASk="
        "</esssecuritylabel></label>"
        "<equivalentlabel><esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>"
        "MRUCAgD9DA9BcXVhIChvYnNvbGV0ZSk=</esssecuritylabel></equivalentlabel>"
        "</securitylabel>");
    struct policy_label *l = NULL;
    assert_int_equal(policy_label_from_xep258(t->root, &l, NULL), PAL_OK);
    assert_int_equal(policy_label_class(l), 2);
    policy_label_free(l);
    xml_tree_free(t);
}

static void
test_label_xep258_empty_label_means_default(void **state)
{
    (void)state;
    struct xml_tree *t = parse("<securitylabel xmlns='urn:xmpp:sec-label:0'><label/>"
                               "</securitylabel>");
    struct policy_label *l = (struct policy_label *)1;
    char *marking = (char *)1;
    assert_int_equal(policy_label_from_xep258(t->root, &l, &marking), PAL_OK);
    assert_null(l);
    assert_null(marking);
    xml_tree_free(t);
}

static void
test_label_xep258_bad_envelopes_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *xml;
        int rc;
    } cases[] = {
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'/>", PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:1'><label/></securitylabel>", PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><label/><label/></securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><label/><displaymarking>a"
         "</displaymarking><displaymarking>b</displaymarking></securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><label/><extra/></securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'>text<label/></securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><label>MQYCAQQGASk=</label>"
         "</securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><label><a xmlns='urn:a'/>"
         "<b xmlns='urn:b'/></label></securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><displaymarking><b/></displaymarking>"
         "<label/></securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><label><esssecuritylabel "
         "xmlns='urn:xmpp:sec-label:ess:0'>MQYGASkCAQQ=</esssecuritylabel></label>"
         "</securitylabel>",
         PAL_EMALFORMED},
        {"<securitylabel xmlns='urn:xmpp:sec-label:0'><label><icismlabel "
         "xmlns='http://example.gov/IC-ISM/0' classification='S'/></label></securitylabel>",
         PAL_ENOENT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct xml_tree *t = parse(cases[i].xml);
        struct policy_label *l = NULL;
        char *m = NULL;
        int rc = policy_label_from_xep258(t->root, &l, &m);
        if (rc != cases[i].rc)
            fail_msg("got %d, want %d: %s", rc, cases[i].rc, cases[i].xml);
        assert_null(l);
        assert_null(m);
        xml_tree_free(t);
    }
}

static void
test_label_xep258_envelope_built_from_policy(void **state)
{
    struct fixture *f = *state;
    struct policy_label *l = sample_label(4);
    policy_label_add_category(l, NTK, POLICY_TAG_RESTRICTIVE, 1);
    policy_label_add_category(l, REL, POLICY_TAG_ENUM_PERMISSIVE, 826);
    struct xml_tree *t = xml_tree_new();
    struct xml_node *msg = xml_elem_new(t, NULL, "jabber:client", "message");
    struct xml_node *env = NULL;
    assert_int_equal(policy_label_to_xep258(f->set, l, t, msg, &env), PAL_OK);
    assert_non_null(env);
    char *s = serialize(env);
    assert_non_null(strstr(s, "<securitylabel xmlns=\"urn:xmpp:sec-label:0\">"
                              "<displaymarking fgcolor=\"black\" bgcolor=\"red\">"
                              "SECRET NATO REL TO GBR</displaymarking><label>"
                              "<esssecuritylabel xmlns=\"urn:xmpp:sec-label:ess:0\">"));
    /* SECRET has no equivalent in PARTNER: no equivalentlabel. */
    assert_null(strstr(s, "equivalentlabel"));
    /* It parses back to the same label and the server's marking. */
    struct xml_tree *t2 = parse(s);
    struct policy_label *back = NULL;
    char *marking = NULL;
    assert_int_equal(policy_label_from_xep258(t2->root, &back, &marking), PAL_OK);
    assert_true(policy_label_equal(l, back));
    assert_string_equal(marking, "SECRET NATO REL TO GBR");
    free(marking);
    free(s);
    policy_label_free(back);
    xml_tree_free(t2);
    xml_tree_free(t);
    policy_label_free(l);
}

static void
test_label_xep258_envelope_carries_equivalent(void **state)
{
    struct fixture *f = *state;
    struct policy_label *l = sample_label(3);
    policy_label_add_category(l, NTK, POLICY_TAG_RESTRICTIVE, 1);
    struct xml_tree *t = xml_tree_new();
    struct xml_node *env = NULL;
    assert_int_equal(policy_label_to_xep258(f->set, l, t, NULL, &env), PAL_OK);
    struct xml_node *eq = xml_child(env, "urn:xmpp:sec-label:0", "equivalentlabel");
    assert_non_null(eq);
    assert_null(xml_next(eq, "urn:xmpp:sec-label:0", "equivalentlabel"));
    struct policy_label *m = NULL;
    assert_int_equal(policy_label_from_xml(xml_child(eq, NULL, NULL), &m), PAL_OK);
    struct policy_label *want = policy_label_new(PARTNER);
    policy_label_set_class(want, 12);
    policy_label_add_category(want, ARC ".2.4", POLICY_TAG_RESTRICTIVE, 3);
    assert_true(policy_label_equal(m, want));
    struct xml_node *dm = xml_child(env, "urn:xmpp:sec-label:0", "displaymarking");
    assert_string_equal(xml_attr(dm, "fgcolor"), "white");
    assert_string_equal(xml_attr(dm, "bgcolor"), "navy");
    assert_string_equal(xml_text(t, dm), "CONFIDENTIAL NATO");
    policy_label_free(want);
    policy_label_free(m);
    xml_tree_free(t);
    policy_label_free(l);
}

static void
test_label_xep258_invalid_label_not_built(void **state)
{
    struct fixture *f = *state;
    struct xml_tree *t = xml_tree_new();
    struct xml_node *env = (struct xml_node *)1;
    struct policy_label *l = sample_label(9); /* no such classification */
    assert_int_equal(policy_label_to_xep258(f->set, l, t, NULL, &env), PAL_EPOLICY);
    assert_null(env);
    assert_null(t->root);
    policy_label_free(l);
    l = policy_label_new("1.1"); /* policy not loaded */
    policy_label_set_class(l, 4);
    assert_int_equal(policy_label_to_xep258(f->set, l, t, NULL, NULL), PAL_EPOLICY);
    policy_label_free(l);
    xml_tree_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_model_accessors),
        cmocka_unit_test(test_label_tag_type_strings_roundtrip),
        cmocka_unit_test(test_label_xml_form_parses),
        cmocka_unit_test(test_label_xml_form_without_classification),
        cmocka_unit_test(test_label_xml_form_rejects_bad_input),
        cmocka_unit_test(test_label_unknown_format_is_enoent),
        cmocka_unit_test(test_label_ess_element_parses),
        cmocka_unit_test(test_label_xep258_envelope_parses),
        cmocka_unit_test(test_label_xep258_equivalentlabel_ignored),
        cmocka_unit_test(test_label_xep258_empty_label_means_default),
        cmocka_unit_test(test_label_xep258_bad_envelopes_rejected),
        cmocka_unit_test(test_label_xep258_envelope_built_from_policy),
        cmocka_unit_test(test_label_xep258_envelope_carries_equivalent),
        cmocka_unit_test(test_label_xep258_invalid_label_not_built),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
