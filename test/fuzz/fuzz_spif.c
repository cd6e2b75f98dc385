/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_spif.c - libFuzzer target for the SPIF loader (policy_load_mem). A
 * policy that loads is then used: every classification and category as a
 * label (validation, markings, the envelope builder), an "up to" clearance of
 * each classification, and the catalog. */
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/xml.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct policy *p = NULL;
    char err[512];
    if (size > 1 << 20 || policy_load_mem((const char *)data, size, &p, err, sizeof(err)) != PAL_OK)
        return 0;
    struct policy_set *s = policy_set_new();
    if (policy_set_add(s, p) != PAL_OK)
        abort();
    size_t nclass = policy_class_count(p);
    size_t ncat = policy_category_count(p);
    for (size_t i = 0; i < nclass && i < 64; i++) {
        struct policy_class_info ci;
        if (!policy_class_get(p, i, &ci))
            abort();
        struct policy_clearance *c = policy_clearance_new(policy_oid(p));
        if (policy_clearance_add_up_to(s, c, ci.lacv) != PAL_OK)
            abort();
        for (size_t k = 0; k <= ncat && k < 64; k++) {
            struct policy_label *l = policy_label_new(policy_oid(p));
            policy_label_set_class(l, ci.lacv);
            struct policy_category_info ki;
            if (k < ncat) {
                if (!policy_category_get(p, k, &ki))
                    abort();
                if (policy_label_add_category(l, ki.tagset_oid, ki.type, ki.lacv) != PAL_OK)
                    abort();
                policy_clearance_add_category(c, ki.tagset_oid, ki.type, ki.lacv);
            }
            struct policy_decision d = policy_label_validate(s, l);
            struct policy_marking m;
            int rc = policy_display_marking(s, l, &m);
            if ((rc == PAL_OK) != (d.verdict == POLICY_ALLOW))
                abort();
            if (rc == PAL_OK) {
                policy_marking_clear(&m);
                struct xml_tree *t = xml_tree_new();
                if (policy_label_to_xep258(s, l, t, NULL, NULL) != PAL_OK)
                    abort();
                xml_tree_free(t);
                /* the clearance holds the class and every category so far */
                if (policy_check_read(s, c, l).verdict != POLICY_ALLOW)
                    abort();
            }
            policy_label_free(l);
        }
        char *text = NULL;
        if (policy_clearance_to_text(s, c, &text) == PAL_OK)
            free(text);
        struct policy_catalog *cat = policy_catalog(s, c, c, POLICY_CATALOG_CATEGORIES);
        policy_catalog_free(cat);
        policy_clearance_free(c);
    }
    policy_set_free(s);
    return 0;
}
