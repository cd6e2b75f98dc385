/* SPDX-License-Identifier: Apache-2.0 */
/* ess.c - DER for ESS security labels (RFC 2634) and clearances (RFC 5755),
 * with SDN.801c / ACP 145 security categories, and base64. The ASN.1 side uses
 * OpenSSL template macros as PLATFORM-NOTES §5 proved them: the SET of
 * ESSSecurityLabel is a SEQUENCE template whose fields are in DER tag order,
 * wrapped in a universal SET tag. Decoding is strict DER: after decoding into
 * our model we encode again and demand the same bytes, which rejects BER
 * lengths, unsorted SETs, duplicate values, trailing zero bits and DEFAULT
 * values written out. The only state here is OpenSSL's static item tables. */
#include "policy/policy_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "core/err.h"
#include "core/mem.h"

/* SDN.801c tag-type OIDs under 2.16.840.1.101.2.1.8.3 (the privilegeId of the
 * NATO SPIF). The index is the last arc. */
static const char *const tag_type_oid[POLICY_TAG_TYPE_COUNT] = {
    [POLICY_TAG_RESTRICTIVE] = "2.16.840.1.101.2.1.8.3.0",
    [POLICY_TAG_ENUM_PERMISSIVE] = "2.16.840.1.101.2.1.8.3.1",
    [POLICY_TAG_PERMISSIVE] = "2.16.840.1.101.2.1.8.3.2",
    [POLICY_TAG_INFORMATIVE] = "2.16.840.1.101.2.1.8.3.3",
    [POLICY_TAG_INFORMATIVE_ENUM] = "2.16.840.1.101.2.1.8.3.3",
    [POLICY_TAG_ENUM_RESTRICTIVE] = "2.16.840.1.101.2.1.8.3.4",
};

/* SecurityCategory ::= SEQUENCE { type [0] IMPLICIT OID, value [1] EXPLICIT ANY } */
typedef struct {
    ASN1_OBJECT *type;
    ASN1_TYPE *value;
} PAL_SEC_CATEGORY;

ASN1_SEQUENCE(PAL_SEC_CATEGORY) = {
    ASN1_IMP(PAL_SEC_CATEGORY, type, ASN1_OBJECT, 0),
    ASN1_EXP(PAL_SEC_CATEGORY, value, ASN1_ANY, 1),
} static_ASN1_SEQUENCE_END(PAL_SEC_CATEGORY)

DEFINE_STACK_OF(PAL_SEC_CATEGORY)

/* The inside of ESSSecurityLabel in DER tag order: INTEGER(2) < OID(6) <
 * UTF8String(12) < SET(17) < PrintableString(19). The privacy-mark CHOICE is
 * two optional fields so one template is DER for both alternatives. */
typedef struct {
    ASN1_INTEGER *classification;
    ASN1_OBJECT *policy;
    ASN1_UTF8STRING *mark_utf8;
    STACK_OF(PAL_SEC_CATEGORY) *categories;
    ASN1_PRINTABLESTRING *mark_printable;
} PAL_ESS_LABEL;

ASN1_SEQUENCE(PAL_ESS_LABEL) = {
    ASN1_OPT(PAL_ESS_LABEL, classification, ASN1_INTEGER),
    ASN1_SIMPLE(PAL_ESS_LABEL, policy, ASN1_OBJECT),
    ASN1_OPT(PAL_ESS_LABEL, mark_utf8, ASN1_UTF8STRING),
    ASN1_SET_OF_OPT(PAL_ESS_LABEL, categories, PAL_SEC_CATEGORY),
    ASN1_OPT(PAL_ESS_LABEL, mark_printable, ASN1_PRINTABLESTRING),
} static_ASN1_SEQUENCE_END(PAL_ESS_LABEL)

/* ESSSecurityLabel: the above with a universal SET tag (not ASN1_TFLG_IMPLICIT,
 * which would add the context class: 0xB1). */
typedef PAL_ESS_LABEL PAL_ESS_SECURITY_LABEL;

ASN1_ITEM_TEMPLATE(PAL_ESS_SECURITY_LABEL) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_IMPTAG | ASN1_TFLG_UNIVERSAL, V_ASN1_SET,
                          ESSSecurityLabel, PAL_ESS_LABEL)
static_ASN1_ITEM_TEMPLATE_END(PAL_ESS_SECURITY_LABEL)

/* RestrictiveTag and PermissiveTag: SEQUENCE { tagName OID, attributeFlags BIT STRING } */
typedef struct {
    ASN1_OBJECT *tag_name;
    ASN1_BIT_STRING *flags;
} PAL_BITMAP_TAG;

ASN1_SEQUENCE(PAL_BITMAP_TAG) = {
    ASN1_SIMPLE(PAL_BITMAP_TAG, tag_name, ASN1_OBJECT),
    ASN1_SIMPLE(PAL_BITMAP_TAG, flags, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(PAL_BITMAP_TAG)

/* EnumeratedTag: SEQUENCE { tagName OID, attributeList SET OF INTEGER } */
typedef struct {
    ASN1_OBJECT *tag_name;
    STACK_OF(ASN1_INTEGER) *attrs;
} PAL_ENUM_TAG;

ASN1_SEQUENCE(PAL_ENUM_TAG) = {
    ASN1_SIMPLE(PAL_ENUM_TAG, tag_name, ASN1_OBJECT),
    ASN1_SET_OF(PAL_ENUM_TAG, attrs, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(PAL_ENUM_TAG)

/* InformativeTag: SEQUENCE { tagName OID, attributes FreeFormField }, FreeFormField
 * ::= CHOICE { bitSetAttributes BIT STRING, securityAttributes SET OF INTEGER }:
 * two optional fields (BIT STRING(3) < SET(17)), exactly one present. */
typedef struct {
    ASN1_OBJECT *tag_name;
    ASN1_BIT_STRING *bits;
    STACK_OF(ASN1_INTEGER) *attrs;
} PAL_INFO_TAG;

ASN1_SEQUENCE(PAL_INFO_TAG) = {
    ASN1_SIMPLE(PAL_INFO_TAG, tag_name, ASN1_OBJECT),
    ASN1_OPT(PAL_INFO_TAG, bits, ASN1_BIT_STRING),
    ASN1_SET_OF_OPT(PAL_INFO_TAG, attrs, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(PAL_INFO_TAG)

/* Clearance ::= SEQUENCE { policyId OID, classList BIT STRING DEFAULT
 * {unclassified}, securityCategories SET OF SecurityCategory OPTIONAL } */
typedef struct {
    ASN1_OBJECT *policy;
    ASN1_BIT_STRING *class_list;
    STACK_OF(PAL_SEC_CATEGORY) *categories;
} PAL_CLEARANCE;

ASN1_SEQUENCE(PAL_CLEARANCE) = {
    ASN1_SIMPLE(PAL_CLEARANCE, policy, ASN1_OBJECT),
    ASN1_OPT(PAL_CLEARANCE, class_list, ASN1_BIT_STRING),
    ASN1_SET_OF_OPT(PAL_CLEARANCE, categories, PAL_SEC_CATEGORY),
} static_ASN1_SEQUENCE_END(PAL_CLEARANCE)

/* classList DEFAULT {unclassified}: bit 1. */
#define CLASS_UNCLASSIFIED 1

/* ---- OIDs ---- */

/* The dotted text of obj, or NULL if it is too long or not canonical. */
static char *
oid_text(const ASN1_OBJECT *obj)
{
    char buf[POLICY_OID_MAX + 2];
    int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
    if (n <= 0 || (size_t)n > POLICY_OID_MAX || !policy_oid_valid(buf))
        return NULL;
    return xstrdup(buf);
}

static ASN1_OBJECT *
oid_obj(const char *s)
{
    return OBJ_txt2obj(s, 1);
}

static int
tag_type_from_oid(const char *oid, bool *is_informative, enum policy_tag_type *out)
{
    *is_informative = false;
    for (int t = 0; t < POLICY_TAG_TYPE_COUNT; t++) {
        if (strcmp(oid, tag_type_oid[t]) == 0) {
            *out = (enum policy_tag_type)t;
            *is_informative = t == POLICY_TAG_INFORMATIVE || t == POLICY_TAG_INFORMATIVE_ENUM;
            return PAL_OK;
        }
    }
    return PAL_EMALFORMED;
}

/* ---- category values ---- */

static int
bits_to_cats(const ASN1_BIT_STRING *bs, const char *tagset, enum policy_tag_type type,
             struct catset *out, size_t *added)
{
    const unsigned char *d = ASN1_STRING_get0_data(bs);
    int len = ASN1_STRING_length(bs);
    for (int i = 0; i < len; i++) {
        if (d[i] == 0)
            continue;
        for (int b = 0; b < 8; b++) {
            if (!(d[i] & (0x80 >> b)))
                continue;
            long lacv = (long)i * 8 + b;
            if (lacv > POLICY_MAX_BIT_LACV)
                return PAL_EMALFORMED;
            if (catset_add(out, tagset, type, (uint32_t)lacv) != PAL_OK)
                return PAL_EMALFORMED;
            (*added)++;
        }
    }
    return PAL_OK;
}

static int
ints_to_cats(const STACK_OF(ASN1_INTEGER) *sk, const char *tagset, enum policy_tag_type type,
             struct catset *out, size_t *added)
{
    for (int i = 0; i < sk_ASN1_INTEGER_num(sk); i++) {
        int64_t v;
        if (!ASN1_INTEGER_get_int64(&v, sk_ASN1_INTEGER_value(sk, i)) || v < 0 ||
            v > (int64_t)UINT32_MAX)
            return PAL_EMALFORMED;
        if (catset_add(out, tagset, type, (uint32_t)v) != PAL_OK)
            return PAL_EMALFORMED;
        (*added)++;
    }
    return PAL_OK;
}

/* One SecurityCategory into cats. Rejects unknown types and empty values. */
static int
category_decode(const PAL_SEC_CATEGORY *sc, struct catset *cats)
{
    int rc = PAL_EMALFORMED;
    char *type_oid = NULL;
    char *tagset = NULL;
    void *v = NULL;
    const ASN1_ITEM *it = NULL;
    bool informative;
    enum policy_tag_type type;
    size_t added = 0;

    type_oid = oid_text(sc->type);
    if (type_oid == NULL || tag_type_from_oid(type_oid, &informative, &type) != PAL_OK)
        goto out;
    if (sc->value == NULL || sc->value->type != V_ASN1_SEQUENCE)
        goto out;
    const unsigned char *p = ASN1_STRING_get0_data(sc->value->value.sequence);
    long len = ASN1_STRING_length(sc->value->value.sequence);
    const unsigned char *end = p + len;
    if (informative)
        it = ASN1_ITEM_rptr(PAL_INFO_TAG);
    else if (policy_tag_is_bitmap(type))
        it = ASN1_ITEM_rptr(PAL_BITMAP_TAG);
    else
        it = ASN1_ITEM_rptr(PAL_ENUM_TAG);
    v = ASN1_item_d2i(NULL, &p, len, it);
    if (v == NULL || p != end)
        goto out;
    if (informative) {
        PAL_INFO_TAG *t = v;
        if ((t->bits == NULL) == (t->attrs == NULL))
            goto out;
        tagset = oid_text(t->tag_name);
        if (tagset == NULL)
            goto out;
        if (t->bits != NULL)
            rc = bits_to_cats(t->bits, tagset, POLICY_TAG_INFORMATIVE, cats, &added);
        else
            rc = ints_to_cats(t->attrs, tagset, POLICY_TAG_INFORMATIVE_ENUM, cats, &added);
    } else if (policy_tag_is_bitmap(type)) {
        PAL_BITMAP_TAG *t = v;
        tagset = oid_text(t->tag_name);
        if (tagset == NULL)
            goto out;
        rc = bits_to_cats(t->flags, tagset, type, cats, &added);
    } else {
        PAL_ENUM_TAG *t = v;
        tagset = oid_text(t->tag_name);
        if (tagset == NULL)
            goto out;
        rc = ints_to_cats(t->attrs, tagset, type, cats, &added);
    }
    if (rc == PAL_OK && added == 0)
        rc = PAL_EMALFORMED; /* an empty category cannot be re-encoded */
out:
    if (v != NULL)
        ASN1_item_free((ASN1_VALUE *)v, it);
    free(type_oid);
    free(tagset);
    return rc;
}

/* Encodes one (tagset, type) group of cats[from..to) as a SecurityCategory. */
static PAL_SEC_CATEGORY *
category_encode(const struct pcat *c, size_t n)
{
    PAL_SEC_CATEGORY *sc = NULL;
    void *v = NULL;
    const ASN1_ITEM *it;
    unsigned char *der = NULL;
    ASN1_STRING *seq = NULL;
    ASN1_BIT_STRING *bits = NULL;
    STACK_OF(ASN1_INTEGER) *ints = NULL;
    ASN1_OBJECT *name = oid_obj(c[0].tagset);
    bool ok = false;

    if (name == NULL)
        goto out;
    if (policy_tag_is_bitmap(c[0].type)) {
        bits = ASN1_BIT_STRING_new();
        if (bits == NULL)
            goto out;
        for (size_t i = 0; i < n; i++)
            if (!ASN1_BIT_STRING_set_bit(bits, (int)c[i].lacv, 1))
                goto out;
    } else {
        ints = sk_ASN1_INTEGER_new_null();
        if (ints == NULL)
            goto out;
        for (size_t i = 0; i < n; i++) {
            ASN1_INTEGER *ai = ASN1_INTEGER_new();
            if (ai == NULL || !ASN1_INTEGER_set_int64(ai, c[i].lacv) ||
                !sk_ASN1_INTEGER_push(ints, ai)) {
                ASN1_INTEGER_free(ai);
                goto out;
            }
        }
    }
    switch (c[0].type) {
    case POLICY_TAG_INFORMATIVE:
    case POLICY_TAG_INFORMATIVE_ENUM: {
        PAL_INFO_TAG *t;
        it = ASN1_ITEM_rptr(PAL_INFO_TAG);
        v = t = (void *)ASN1_item_new(it);
        if (t == NULL)
            goto out;
        ASN1_OBJECT_free(t->tag_name);
        t->tag_name = name;
        t->bits = bits;
        t->attrs = ints;
        break;
    }
    case POLICY_TAG_RESTRICTIVE:
    case POLICY_TAG_PERMISSIVE: {
        PAL_BITMAP_TAG *t;
        it = ASN1_ITEM_rptr(PAL_BITMAP_TAG);
        v = t = (void *)ASN1_item_new(it);
        if (t == NULL)
            goto out;
        ASN1_OBJECT_free(t->tag_name);
        ASN1_BIT_STRING_free(t->flags);
        t->tag_name = name;
        t->flags = bits;
        break;
    }
    default: {
        PAL_ENUM_TAG *t;
        it = ASN1_ITEM_rptr(PAL_ENUM_TAG);
        v = t = (void *)ASN1_item_new(it);
        if (t == NULL)
            goto out;
        ASN1_OBJECT_free(t->tag_name);
        sk_ASN1_INTEGER_pop_free(t->attrs, ASN1_INTEGER_free);
        t->tag_name = name;
        t->attrs = ints;
        break;
    }
    }
    name = NULL;
    bits = NULL;
    ints = NULL;
    int len = ASN1_item_i2d(v, &der, it);
    if (len <= 0)
        goto out;
    seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    if (seq == NULL || !ASN1_STRING_set(seq, der, len))
        goto out;
    sc = (PAL_SEC_CATEGORY *)ASN1_item_new(ASN1_ITEM_rptr(PAL_SEC_CATEGORY));
    if (sc == NULL)
        goto out;
    ASN1_OBJECT_free(sc->type);
    sc->type = oid_obj(tag_type_oid[c[0].type]);
    if (sc->type == NULL)
        goto out;
    if (sc->value == NULL)
        sc->value = ASN1_TYPE_new();
    if (sc->value == NULL)
        goto out;
    ASN1_TYPE_set(sc->value, V_ASN1_SEQUENCE, seq);
    seq = NULL;
    ok = true;
out:
    if (v != NULL)
        ASN1_item_free((ASN1_VALUE *)v, it);
    ASN1_OBJECT_free(name);
    ASN1_BIT_STRING_free(bits);
    sk_ASN1_INTEGER_pop_free(ints, ASN1_INTEGER_free);
    ASN1_STRING_free(seq);
    OPENSSL_free(der);
    if (!ok) {
        ASN1_item_free((ASN1_VALUE *)sc, ASN1_ITEM_rptr(PAL_SEC_CATEGORY));
        sc = NULL;
    }
    return sc;
}

static bool
same_group(const struct pcat *a, const struct pcat *b)
{
    if (strcmp(a->tagset, b->tagset) != 0)
        return false;
    if (a->type == b->type)
        return true;
    return false;
}

static void
sec_category_free(PAL_SEC_CATEGORY *sc)
{
    ASN1_item_free((ASN1_VALUE *)sc, ASN1_ITEM_rptr(PAL_SEC_CATEGORY));
}

/* The categories as a SET OF SecurityCategory (NULL and ok when empty). */
static int
cats_encode(const struct catset *cats, STACK_OF(PAL_SEC_CATEGORY) **out)
{
    *out = NULL;
    if (cats->n == 0)
        return PAL_OK;
    STACK_OF(PAL_SEC_CATEGORY) *sk = sk_PAL_SEC_CATEGORY_new_null();
    if (sk == NULL)
        return PAL_ENOMEM;
    for (size_t i = 0; i < cats->n;) {
        size_t j = i + 1;
        while (j < cats->n && same_group(&cats->v[i], &cats->v[j]))
            j++;
        PAL_SEC_CATEGORY *sc = category_encode(&cats->v[i], j - i);
        if (sc == NULL || !sk_PAL_SEC_CATEGORY_push(sk, sc)) {
            sec_category_free(sc);
            sk_PAL_SEC_CATEGORY_pop_free(sk, sec_category_free);
            return PAL_EMALFORMED;
        }
        i = j;
    }
    *out = sk;
    return PAL_OK;
}

static int
cats_decode(const STACK_OF(PAL_SEC_CATEGORY) *sk, struct catset *cats)
{
    for (int i = 0; i < sk_PAL_SEC_CATEGORY_num(sk); i++) {
        int rc = category_decode(sk_PAL_SEC_CATEGORY_value(sk, i), cats);
        if (rc != PAL_OK)
            return rc;
    }
    return PAL_OK;
}

/* ---- labels ---- */

static int
label_encode(const struct policy_label *l, unsigned char **der, size_t *len)
{
    int rc = PAL_EINVAL;
    const ASN1_ITEM *it = ASN1_ITEM_rptr(PAL_ESS_SECURITY_LABEL);
    PAL_ESS_LABEL *e = (PAL_ESS_LABEL *)ASN1_item_new(it);
    unsigned char *buf = NULL;

    if (e == NULL)
        return PAL_ENOMEM;
    ASN1_OBJECT_free(e->policy);
    e->policy = oid_obj(l->policy);
    if (e->policy == NULL)
        goto out;
    if (l->has_class) {
        e->classification = ASN1_INTEGER_new();
        if (e->classification == NULL || !ASN1_INTEGER_set_int64(e->classification, l->cls))
            goto out;
    }
    if (l->pmark != NULL) {
        ASN1_STRING *s = l->pmark_utf8 ? ASN1_UTF8STRING_new() : ASN1_PRINTABLESTRING_new();
        if (s == NULL)
            goto out;
        if (l->pmark_utf8)
            e->mark_utf8 = s;
        else
            e->mark_printable = s;
        if (!ASN1_STRING_set(s, l->pmark, (int)strlen(l->pmark)))
            goto out;
    }
    if (cats_encode(&l->cats, &e->categories) != PAL_OK)
        goto out;
    int n = ASN1_item_i2d((ASN1_VALUE *)e, &buf, it);
    if (n <= 0)
        goto out;
    *der = xmemdup(buf, (size_t)n);
    *len = (size_t)n;
    rc = PAL_OK;
out:
    OPENSSL_free(buf);
    ASN1_item_free((ASN1_VALUE *)e, it);
    return rc;
}

int
policy_label_to_der(const struct policy_label *l, unsigned char **der, size_t *len)
{
    ERR_set_mark();
    int rc = label_encode(l, der, len);
    ERR_pop_to_mark();
    return rc;
}

static bool
printable_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(" '()+,-./:=?", c) != NULL) || c == 0)
            return false;
    }
    return true;
}

/* Privacy marks go into XML and logs: well-formed UTF-8 of characters XML
 * allows, without control characters. */
static bool
mark_ok(const unsigned char *s, size_t n)
{
    if (n == 0 || n > 1024)
        return false;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        uint32_t cp;
        size_t len;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF, U+FFFE/U+FFFF */
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
            return false;
        i += len;
    }
    return true;
}

static int
label_decode(const unsigned char *der, size_t len, struct policy_label **out)
{
    int rc = PAL_EMALFORMED;
    const ASN1_ITEM *it = ASN1_ITEM_rptr(PAL_ESS_SECURITY_LABEL);
    const unsigned char *p = der;
    PAL_ESS_LABEL *e = NULL;
    struct policy_label *l = NULL;
    unsigned char *again = NULL;
    size_t again_len = 0;

    *out = NULL;
    if (len == 0 || len > 65536)
        goto out;
    e = (PAL_ESS_LABEL *)ASN1_item_d2i(NULL, &p, (long)len, it);
    if (e == NULL || p != der + len)
        goto out;
    l = xcalloc(1, sizeof(*l));
    catset_init(&l->cats);
    l->cls = -1;
    l->policy = oid_text(e->policy);
    if (l->policy == NULL)
        goto out;
    if (e->classification != NULL) {
        int64_t v;
        if (!ASN1_INTEGER_get_int64(&v, e->classification) || v < 0 || v > POLICY_MAX_CLASS)
            goto out;
        l->has_class = true;
        l->cls = (int32_t)v;
    }
    if (e->mark_utf8 != NULL && e->mark_printable != NULL)
        goto out;
    ASN1_STRING *pm = e->mark_utf8 != NULL ? e->mark_utf8 : e->mark_printable;
    if (pm != NULL) {
        const unsigned char *d = ASN1_STRING_get0_data(pm);
        size_t n = (size_t)ASN1_STRING_length(pm);
        if (!mark_ok(d, n) || (e->mark_printable != NULL && !printable_ok(d, n)))
            goto out;
        l->pmark = xstrndup((const char *)d, n);
        l->pmark_utf8 = e->mark_utf8 != NULL;
    }
    if (e->categories != NULL) {
        if (sk_PAL_SEC_CATEGORY_num(e->categories) == 0)
            goto out;
        if (cats_decode(e->categories, &l->cats) != PAL_OK)
            goto out;
    }
    /* Strict DER: our canonical encoding of what we understood must be the input. */
    if (label_encode(l, &again, &again_len) != PAL_OK || again_len != len ||
        memcmp(again, der, len) != 0)
        goto out;
    *out = l;
    l = NULL;
    rc = PAL_OK;
out:
    free(again);
    policy_label_free(l);
    ASN1_item_free((ASN1_VALUE *)e, it);
    return rc;
}

int
policy_label_from_der(const unsigned char *der, size_t len, struct policy_label **out)
{
    ERR_set_mark();
    int rc = label_decode(der, len, out);
    ERR_pop_to_mark();
    return rc;
}

int
policy_label_from_base64(const char *b64, size_t len, struct policy_label **out)
{
    unsigned char *der = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = policy_b64_decode(b64, len, &der, &n);
    if (rc == PAL_OK)
        rc = policy_label_from_der(der, n, out);
    free(der);
    return rc;
}

int
policy_label_to_base64(const struct policy_label *l, char **out)
{
    unsigned char *der = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = policy_label_to_der(l, &der, &n);
    if (rc == PAL_OK)
        *out = policy_b64_encode(der, n);
    free(der);
    return rc;
}

bool
policy_label_printable(const char *s)
{
    return printable_ok((const unsigned char *)s, strlen(s));
}

bool
policy_label_mark_ok(const char *s)
{
    return mark_ok((const unsigned char *)s, strlen(s));
}

/* ---- clearances ---- */

static bool
only_unclassified(const uint64_t *bits)
{
    for (int i = 0; i < CLASS_WORDS; i++)
        if (bits[i] != (i == 0 ? (uint64_t)1 << CLASS_UNCLASSIFIED : 0))
            return false;
    return true;
}

static int
clearance_encode(const struct policy_clearance *c, unsigned char **der, size_t *len)
{
    int rc = PAL_EINVAL;
    const ASN1_ITEM *it = ASN1_ITEM_rptr(PAL_CLEARANCE);
    PAL_CLEARANCE *e = (PAL_CLEARANCE *)ASN1_item_new(it);
    unsigned char *buf = NULL;

    if (e == NULL)
        return PAL_ENOMEM;
    ASN1_OBJECT_free(e->policy);
    e->policy = oid_obj(c->policy);
    if (e->policy == NULL)
        goto out;
    if (!only_unclassified(c->classes)) { /* DER: a DEFAULT value is omitted */
        e->class_list = ASN1_BIT_STRING_new();
        if (e->class_list == NULL)
            goto out;
        for (int32_t v = 0; v <= POLICY_MAX_CLASS; v++)
            if (class_bit_get(c->classes, v) && !ASN1_BIT_STRING_set_bit(e->class_list, v, 1))
                goto out;
    }
    if (cats_encode(&c->cats, &e->categories) != PAL_OK)
        goto out;
    int n = ASN1_item_i2d((ASN1_VALUE *)e, &buf, it);
    if (n <= 0)
        goto out;
    *der = xmemdup(buf, (size_t)n);
    *len = (size_t)n;
    rc = PAL_OK;
out:
    OPENSSL_free(buf);
    ASN1_item_free((ASN1_VALUE *)e, it);
    return rc;
}

int
policy_clearance_to_der(const struct policy_clearance *c, unsigned char **der, size_t *len)
{
    ERR_set_mark();
    int rc = clearance_encode(c, der, len);
    ERR_pop_to_mark();
    return rc;
}

static int
clearance_decode(const unsigned char *der, size_t len, struct policy_clearance **out)
{
    int rc = PAL_EMALFORMED;
    const ASN1_ITEM *it = ASN1_ITEM_rptr(PAL_CLEARANCE);
    const unsigned char *p = der;
    PAL_CLEARANCE *e = NULL;
    struct policy_clearance *c = NULL;
    unsigned char *again = NULL;
    size_t again_len = 0;

    *out = NULL;
    if (len == 0 || len > 65536)
        goto out;
    e = (PAL_CLEARANCE *)ASN1_item_d2i(NULL, &p, (long)len, it);
    if (e == NULL || p != der + len)
        goto out;
    c = xcalloc(1, sizeof(*c));
    catset_init(&c->cats);
    c->policy = oid_text(e->policy);
    if (c->policy == NULL)
        goto out;
    if (e->class_list == NULL) {
        class_bit_set(c->classes, CLASS_UNCLASSIFIED);
    } else {
        const unsigned char *d = ASN1_STRING_get0_data(e->class_list);
        int n = ASN1_STRING_length(e->class_list);
        for (int i = 0; i < n; i++) {
            for (int b = 0; b < 8; b++) {
                if (!(d[i] & (0x80 >> b)))
                    continue;
                long v = (long)i * 8 + b;
                if (v > POLICY_MAX_CLASS)
                    goto out;
                class_bit_set(c->classes, (int32_t)v);
            }
        }
    }
    if (e->categories != NULL) {
        if (sk_PAL_SEC_CATEGORY_num(e->categories) == 0)
            goto out;
        if (cats_decode(e->categories, &c->cats) != PAL_OK)
            goto out;
    }
    if (clearance_encode(c, &again, &again_len) != PAL_OK || again_len != len ||
        memcmp(again, der, len) != 0)
        goto out;
    *out = c;
    c = NULL;
    rc = PAL_OK;
out:
    free(again);
    policy_clearance_free(c);
    ASN1_item_free((ASN1_VALUE *)e, it);
    return rc;
}

int
policy_clearance_from_der(const unsigned char *der, size_t len, struct policy_clearance **out)
{
    ERR_set_mark();
    int rc = clearance_decode(der, len, out);
    ERR_pop_to_mark();
    return rc;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
policy_b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    unsigned char *buf = xmalloc(len / 4 * 3 + 3);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t digits = 0;
    size_t pad = 0;

    *out = NULL;
    *outlen = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad > 0)
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        digits++;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* digits % 4 == 1 cannot happen in base64; padding, if any, must complete
     * the last quantum; leftover bits must be zero. */
    if (digits % 4 == 1 || (pad > 0 && (digits + pad) % 4 != 0) || pad > 2 || acc != 0 ||
        n == 0)
        goto bad;
    *out = buf;
    *outlen = n;
    return PAL_OK;
bad:
    free(buf);
    return PAL_EMALFORMED;
}

char *
policy_b64_encode(const unsigned char *in, size_t len)
{
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}
