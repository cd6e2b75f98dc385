/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_label.c - libFuzzer target for the label and clearance parsers: ESS DER,
 * base64, XML (XEP-0258 envelope, <esssecuritylabel/>, our <label/>), clearance
 * DER and text. The first input byte picks the parser. Whatever parses must
 * round-trip (DER byte-identical, XML and text semantically) and go through
 * validation, decisions, markings and the envelope builder without a fault. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xml.h"
#include "policy/policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct policy_set *set;
static struct policy_clearance *clearances[3];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    static const char *const files[] = {
        FUZZ_SPIF_DIR "/palisade-sample.xml", FUZZ_SPIF_DIR "/palisade-partner.xml",
        FUZZ_DATA_DIR "/spif/NATO-SPIF-example.xml", FUZZ_DATA_DIR "/spif/ACME-SPIF-example.xml"};
    set = policy_set_new();
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (policy_set_load(set, files[i], err, sizeof(err)) != PAL_OK) {
            fprintf(stderr, "fuzz_label: %s\n", err);
            abort();
        }
    }
    static const char *const texts[] = {
        "policy=PALISADE class=SECRET categories=NATO,EU,GBR,FRA",
        "policy=PARTNER class=\"PARTNER CONFIDENTIAL\" categories=BLUE,UK",
        "policy=NATO class=\"NATO SECRET\" categories=ATOMAL,CRYPTO,ALB,EU"};
    for (size_t i = 0; i < 3; i++)
        if (policy_clearance_from_text(set, texts[i], &clearances[i], err, sizeof(err)) != PAL_OK)
            abort();
    return 0;
}

static void
exercise_label(const struct policy_label *l)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (policy_label_to_der(l, &der, &len) != PAL_OK)
        abort(); /* everything the model holds must encode */
    struct policy_label *back = NULL;
    if (policy_label_from_der(der, len, &back) != PAL_OK || !policy_label_equal(l, back))
        abort();
    unsigned char *again = NULL;
    size_t again_len = 0;
    if (policy_label_to_der(back, &again, &again_len) != PAL_OK || again_len != len ||
        memcmp(der, again, len) != 0)
        abort();
    free(again);
    free(der);
    policy_label_free(back);

    /* our XML form round-trips too */
    struct xml_tree *t = xml_tree_new();
    struct xml_node *el = policy_label_to_xml(l, POLICY_XML_PALISADE, t, NULL);
    struct buf b;
    buf_init(&b);
    xml_serialize(el, "", &b);
    struct xml_tree *t2 = NULL;
    if (xml_parse_doc(buf_head(&b), buf_used(&b), &t2, NULL, 0) != PAL_OK ||
        policy_label_from_xml(t2->root, &back) != PAL_OK || !policy_label_equal(l, back))
        abort();
    policy_label_free(back);
    xml_tree_free(t2);
    buf_free(&b);
    xml_tree_free(t);

    struct policy_decision v = policy_label_validate(set, l);
    for (size_t i = 0; i < 3; i++) {
        struct policy_decision r = policy_check_read(set, clearances[i], l);
        struct policy_decision s = policy_check_send(set, clearances[i], l);
        /* an invalid label is never allowed; sending is never looser than reading */
        if ((v.verdict != POLICY_ALLOW && r.verdict == POLICY_ALLOW) ||
            (s.verdict == POLICY_ALLOW && r.verdict != POLICY_ALLOW))
            abort();
    }
    struct policy_marking m;
    if (policy_display_marking(set, l, &m) == PAL_OK) {
        if (v.verdict != POLICY_ALLOW)
            abort();
        policy_marking_clear(&m);
        t = xml_tree_new();
        if (policy_label_to_xep258(set, l, t, NULL, NULL) != PAL_OK)
            abort();
        xml_tree_free(t);
    }
    for (size_t i = 0; i < policy_set_count(set); i++) {
        struct policy_label *mapped = NULL;
        if (policy_label_map(set, l, policy_oid(policy_set_get(set, i)), &mapped) == PAL_OK)
            policy_label_free(mapped);
    }
}

static void
exercise_clearance(const struct policy_clearance *c)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (policy_clearance_to_der(c, &der, &len) != PAL_OK)
        abort();
    struct policy_clearance *back = NULL;
    if (policy_clearance_from_der(der, len, &back) != PAL_OK || !policy_clearance_equal(c, back))
        abort();
    free(der);
    policy_clearance_free(back);
    char *text = NULL;
    if (policy_clearance_to_text(set, c, &text) == PAL_OK) {
        char err[256];
        /* names resolve only in loaded policies */
        if (policy_clearance_from_text(set, text, &back, err, sizeof(err)) == PAL_OK) {
            if (!policy_clearance_equal(c, back))
                abort();
            policy_clearance_free(back);
        }
        free(text);
    }
    struct policy_catalog *cat = policy_catalog(set, c, clearances[0], POLICY_CATALOG_CATEGORIES);
    policy_catalog_free(cat);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    unsigned mode = data[0] % 5;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    struct policy_label *l = NULL;
    struct policy_clearance *c = NULL;

    switch (mode) {
    case 0:
        if (policy_label_from_der(p, n, &l) == PAL_OK)
            exercise_label(l);
        break;
    case 1:
        if (policy_label_from_base64((const char *)p, n, &l) == PAL_OK)
            exercise_label(l);
        break;
    case 2: {
        struct xml_tree *t = NULL;
        if (xml_parse_doc((const char *)p, n, &t, NULL, 0) != PAL_OK)
            break;
        char *marking = NULL;
        if (policy_label_from_xep258(t->root, &l, &marking) == PAL_OK && l != NULL)
            exercise_label(l);
        free(marking);
        policy_label_free(l);
        l = NULL;
        if (policy_label_from_xml(t->root, &l) == PAL_OK)
            exercise_label(l);
        xml_tree_free(t);
        break;
    }
    case 3:
        if (policy_clearance_from_der(p, n, &c) == PAL_OK)
            exercise_clearance(c);
        break;
    default: {
        char *text = malloc(n + 1);
        memcpy(text, p, n);
        text[n] = '\0';
        if (policy_clearance_from_text(set, text, &c, NULL, 0) == PAL_OK)
            exercise_clearance(c);
        free(text);
        break;
    }
    }
    policy_label_free(l);
    policy_clearance_free(c);
    return 0;
}
