/* SPDX-License-Identifier: Apache-2.0 */
/* labeltext.c - the operator text form of a security label, for palisadectl
 * (label check, default labels) and provisioning scripts:
 *     policy=PALISADE class=SECRET categories=NATO,"Releasable To:GBR"
 * The grammar and its parser are the clearance text form's (policy_text_* in
 * clearance.c): space-separated key=value fields whose values are
 * comma-separated lists of bare or double-quoted items. Names resolve against
 * the loaded SPIFs, so a typo is an error, never a label that quietly means
 * something else. The parsed label is not validated (excluded classes, required
 * categories): that is a decision with a reason, policy_label_validate()'s job,
 * and "label check" wants to explain it rather than refuse to parse. Pure: no
 * I/O. */
#include "policy/policy_int.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"

enum { K_POLICY, K_CLASS, K_CATEGORIES, K_MARK, K_MARK_TYPE, K_COUNT };
static const struct policy_text_key label_keys[K_COUNT] = {
    [K_POLICY] = {"policy", false},
    [K_CLASS] = {"class", false},
    [K_CATEGORIES] = {"categories", true},
    [K_MARK] = {"privacymark", false},
    [K_MARK_TYPE] = {"privacymark-type", false},
};

int
policy_label_from_text(const struct policy_set *s, const char *text, struct policy_label **out,
                       char *err, size_t errlen)
{
    struct policy_text_field f[K_COUNT] = {{0}};
    struct policy_label *l = NULL;
    int rc;

    *out = NULL;
    policy_errf(err, errlen, "ok");
    if (text == NULL) {
        policy_errf(err, errlen, "no text");
        return PAL_EMALFORMED;
    }
    rc = policy_text_parse(text, label_keys, K_COUNT, f, err, errlen);
    if (rc != PAL_OK)
        goto out;
    rc = PAL_EMALFORMED;
    if (!f[K_POLICY].seen) {
        policy_errf(err, errlen, "no policy=");
        goto out;
    }
    if (!f[K_CLASS].seen) {
        policy_errf(err, errlen, "no class= (a label names one classification)");
        goto out;
    }
    bool utf8 = true;
    if (f[K_MARK_TYPE].seen) {
        if (!f[K_MARK].seen) {
            policy_errf(err, errlen, "privacymark-type without privacymark");
            goto out;
        }
        if (strcmp(f[K_MARK_TYPE].items[0], "printable") == 0) {
            utf8 = false;
        } else if (strcmp(f[K_MARK_TYPE].items[0], "utf8") != 0) {
            policy_errf(err, errlen, "privacymark-type is utf8 or printable");
            goto out;
        }
    }
    const struct policy *p = policy_set_find(s, f[K_POLICY].items[0]);
    if (p == NULL) {
        policy_errf(err, errlen, "policy \"%s\" is not loaded", f[K_POLICY].items[0]);
        rc = PAL_EPOLICY;
        goto out;
    }
    l = policy_label_new(p->oid);
    rc = PAL_ENOENT;
    const struct spif_class *k = policy_text_class(p, f[K_CLASS].items[0], err, errlen);
    if (k == NULL)
        goto out;
    l->has_class = true;
    l->cls = k->lacv;
    if (policy_text_categories(p, &f[K_CATEGORIES], &l->cats, err, errlen) != PAL_OK)
        goto out;
    if (f[K_MARK].seen &&
        policy_label_set_privacy_mark(l, f[K_MARK].items[0], utf8) != PAL_OK) {
        policy_errf(err, errlen,
                    utf8 ? "privacymark: 1 to 1024 bytes of UTF-8 without control characters"
                         : "privacymark: not a PrintableString (A-Z a-z 0-9 space '()+,-./:=?)");
        rc = PAL_EMALFORMED;
        goto out;
    }
    *out = l;
    l = NULL;
    rc = PAL_OK;
out:
    policy_label_free(l);
    policy_text_fields_free(f, K_COUNT);
    return rc;
}

int
policy_label_to_text(const struct policy_set *s, const struct policy_label *l, char **out)
{
    const struct policy *p = policy_set_find_oid(s, l->policy);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "policy=%s", l->policy);
    if (l->has_class) {
        const struct spif_class *k = p != NULL ? spif_find_class(p, l->cls) : NULL;
        buf_append_str(&b, " class=");
        if (k != NULL)
            policy_text_put_item(&b, k->name);
        else
            buf_printf(&b, "%d", (int)l->cls);
    }
    policy_text_put_categories(&b, p, &l->cats);
    if (l->pmark != NULL) {
        buf_append_str(&b, " privacymark=");
        policy_text_put_item(&b, l->pmark);
        if (!l->pmark_utf8)
            buf_append_str(&b, " privacymark-type=printable");
    }
    *out = buf_strdup(&b);
    buf_free(&b);
    return PAL_OK;
}
