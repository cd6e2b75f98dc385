/* SPDX-License-Identifier: Apache-2.0 */
/* policy.h - security labels (XEP-0258, ESS RFC 2634), clearances (X.501 /
 * RFC 5755), security policies (Open XML SPIF) and the decisions between them.
 * Pure: no I/O except reading a SPIF file in policy_load(), no logging, no
 * globals. Every decision carries its reason; anything unknown (a policy not
 * loaded, a value the policy does not define, a missing clearance, an
 * unmappable label) is a denial.
 *
 * Where it sits: the router calls policy_check_send() with the sender's
 * clearance, the delivering node policy_check_read() with each receiver's, and
 * the catalog service policy_catalog(). Labels arrive as XEP-0258 envelopes and
 * leave as envelopes the server rebuilt (display marking recomputed from the
 * SPIF, equivalent labels added), never as the client sent them.
 *
 * Encodings (see policy/README.md for the full reasoning):
 * - ESS label: ESSSecurityLabel ::= SET { security-policy-identifier OID,
 *   security-classification INTEGER OPTIONAL, privacy-mark ESSPrivacyMark
 *   OPTIONAL, security-categories SET OF SecurityCategory OPTIONAL }, strict
 *   DER: input that does not re-encode to the same bytes is rejected.
 * - SecurityCategory ::= SEQUENCE { type [0] IMPLICIT OID, value [1] EXPLICIT
 *   ANY }, with the SDN.801c / ACP 145 tag types: type is the tag-type OID
 *   (2.16.840.1.101.2.1.8.3.N) and the value names the tag set and the lacvs:
 *     .0 restrictive         SEQUENCE { tagName OID, attributeFlags BIT STRING }
 *     .1 enum. permissive    SEQUENCE { tagName OID, attributeList SET OF INTEGER }
 *     .2 permissive          SEQUENCE { tagName OID, attributeFlags BIT STRING }
 *     .3 informative         SEQUENCE { tagName OID, CHOICE { BIT STRING,
 *                                                             SET OF INTEGER } }
 *     .4 enum. restrictive   SEQUENCE { tagName OID, attributeList SET OF INTEGER }
 *   In a BIT STRING, lacv N is bit N (named-bit DER: trailing zeros dropped).
 * - Clearance (xmppClearance): RFC 5755 Clearance ::= SEQUENCE { policyId OID,
 *   classList BIT STRING DEFAULT {unclassified(1)}, securityCategories SET OF
 *   SecurityCategory OPTIONAL }; classification lacv N is bit N of classList.
 * - XML label (our own form, namespace POLICY_NS_XMLLABEL):
 *     <label xmlns='urn:palisade:label:0' policy='OID' classification='4'>
 *       <category tagset='OID' type='restrictive' lacv='1'/>
 *       <privacymark type='utf8'>text</privacymark>      (optional)
 *     </label>
 *   type is one of policy_tag_type_str(); classification may be absent.
 * - Clearance text (operators, directory tools): space-separated key=value
 *   fields; a value is a comma-separated list whose items may be double-quoted
 *   (\" and \\ escapes) to hold spaces or commas:
 *     policy=NATO class="NATO SECRET" categories=ATOMAL,"Releasable To:ALB"
 *   policy: OID or name of a loaded policy. class: "up to" form, every
 *   classification whose hierarchy is at most this one. classes: an explicit
 *   list. Classifications by name or decimal lacv. categories: a category name,
 *   "tag set name:category name" (or "tag name:category name") when the name is
 *   ambiguous, or "tagsetOID/type/lacv".
 * - Label text (operators, palisadectl): the same grammar, keys policy, class
 *   (exactly one classification, by name or lacv), categories, privacymark
 *   (one value) and privacymark-type (utf8, the default, or printable):
 *     policy=PALISADE class=SECRET categories=NATO,"Releasable To:GBR" */
#ifndef PALISADE_POLICY_H
#define PALISADE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xml_node;
struct xml_tree;

#define POLICY_NS_SECLABEL "urn:xmpp:sec-label:0"
#define POLICY_NS_ESS "urn:xmpp:sec-label:ess:0"
#define POLICY_NS_CATALOG "urn:xmpp:sec-label:catalog:2"
#define POLICY_NS_XMLLABEL "urn:palisade:label:0"
#define POLICY_NS_SPIF "http://www.xmlspif.org/spif"
/* Namespace of our SPIF extension: <extensions><pal:markingColours><pal:classification
 * name='SECRET' fgcolor='black' bgcolor='red'/></pal:markingColours></extensions>.
 * Without it, a classification's color= is the background and the foreground is
 * black or white, whichever contrasts. */
#define POLICY_NS_SPIF_EXT "urn:palisade:spif:0"

/* Highest classification lacv (X.411 ub-integer-options); also the last bit of
 * a classList. */
#define POLICY_MAX_CLASS 256
/* Highest lacv a bit-string category may use (SPIF loader and decoders). */
#define POLICY_MAX_BIT_LACV 4095

struct policy;           /* one loaded SPIF; opaque, immutable */
struct policy_set;       /* the loaded policies a node enforces; opaque */
struct policy_label;     /* a security label; opaque */
struct policy_clearance; /* a user's, room's, peer's or service's clearance; opaque */
struct policy_catalog;   /* labels offered to a sender; opaque */

/* Tag types of security categories (SPIF tagType/enumType/tag7Encoding). */
enum policy_tag_type {
    POLICY_TAG_RESTRICTIVE,      /* bit map: the clearance must hold every one */
    POLICY_TAG_ENUM_RESTRICTIVE, /* integer set: the clearance must hold every one */
    POLICY_TAG_PERMISSIVE,       /* bit map: the clearance must hold at least one */
    POLICY_TAG_ENUM_PERMISSIVE,  /* integer set: the clearance must hold at least one */
    POLICY_TAG_INFORMATIVE,      /* tagType7 bitSetAttributes: no access control */
    POLICY_TAG_INFORMATIVE_ENUM, /* tagType7 securityAttributes: no access control */
};
#define POLICY_TAG_TYPE_COUNT 6

enum policy_verdict {
    POLICY_ALLOW,
    POLICY_DENY_BAD_LABEL, /* the label is invalid (or its policy unknown) */
    POLICY_DENY_CLEARANCE, /* valid label, but the clearance does not dominate it */
    POLICY_DENY_PEER,      /* policy_check_peer(): the peer server is not cleared */
};

/* Why; policy_reason_str() gives the stable short string in quotes. */
enum policy_reason {
    POLICY_R_OK,                    /* "ok" */
    POLICY_R_UNLABELLED,            /* "unlabelled": no label and no default applied */
    POLICY_R_NO_CLEARANCE,          /* "no-clearance" */
    POLICY_R_INVALID_LABEL,         /* "invalid-label": no classification, bad values */
    POLICY_R_UNKNOWN_POLICY,        /* "unknown-policy": the label's policy is not loaded */
    POLICY_R_UNKNOWN_CLASSIFICATION,/* "unknown-classification" */
    POLICY_R_UNKNOWN_CATEGORY,      /* "unknown-category" */
    POLICY_R_EXCLUDED_CLASS,        /* "excluded-classification": category not allowed
                                     * with this classification (excludedClass) */
    POLICY_R_EXCLUDED_CATEGORY,     /* "excluded-category": two categories that exclude
                                     * each other */
    POLICY_R_MISSING_REQUIRED,      /* "missing-required-category" (requiredCategory) */
    POLICY_R_TOO_MANY_CATEGORIES,   /* "too-many-categories" (singleSelection, maxSelection) */
    POLICY_R_OBSOLETE,              /* "obsolete-value": may be read, not sent */
    POLICY_R_CLASS_TOO_HIGH,        /* "classification-too-high": not in the classList */
    POLICY_R_MISSING_RESTRICTIVE,   /* "missing-restrictive-category" */
    POLICY_R_NO_PERMISSIVE,         /* "no-permissive-category" */
    POLICY_R_POLICY_MISMATCH,       /* "policy-mismatch": no equivalence maps the label
                                     * into the clearance's policy */
    POLICY_R_INVALID_CLEARANCE,     /* "invalid-clearance": its policy is not loaded */
};
#define POLICY_REASON_COUNT 17

struct policy_decision {
    enum policy_verdict verdict;
    enum policy_reason reason;
};

/* A display marking computed from the policy. */
struct policy_marking {
    char *text;   /* caller frees with policy_marking_clear() */
    char fg[16];  /* W3C colour name or #rrggbb */
    char bg[16];
};

/* Read-only views of a loaded policy; strings are borrowed from the policy. */
struct policy_class_info {
    const char *name;
    int32_t lacv;
    int32_t hierarchy;
    const char *marking; /* phrase used in display markings */
    const char *fg;      /* foreground colour */
    const char *bg;      /* background colour */
    bool is_obsolete;
};

struct policy_category_info {
    const char *tagset_oid;
    const char *tagset_name;
    const char *tag_name; /* the securityCategoryTag (may be "") */
    enum policy_tag_type type;
    uint32_t lacv;
    const char *name;
    const char *marking; /* phrase used in display markings */
    bool is_obsolete;
};

/* ---- policies and policy sets ---- */

/* Loads a SPIF file (the only I/O in policy/). PAL_OK and *out (free with
 * policy_free()), or a negative PAL_E* code (PAL_EMALFORMED for a file that is
 * not a valid SPIF, PAL_EIO/PAL_ENOENT when it cannot be read) with a message
 * in err ("file: line N: ..." for XML errors, "file: <element> ...: ..." for
 * SPIF errors) and *out NULL. err may be NULL. */
int policy_load(const char *path, struct policy **out, char *err, size_t errlen);
/* Same from bytes in memory; no I/O. */
int policy_load_mem(const char *data, size_t len, struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *p); /* NULL is fine */

/* The securityPolicyId name and OID (dotted). Borrowed. */
const char *policy_name(const struct policy *p);
const char *policy_oid(const struct policy *p);
/* Classifications in ascending hierarchy order. policy_class_get() fills *out
 * and returns true, or false when i is out of range. */
size_t policy_class_count(const struct policy *p);
bool policy_class_get(const struct policy *p, size_t i, struct policy_class_info *out);
/* Categories in document order. */
size_t policy_category_count(const struct policy *p);
bool policy_category_get(const struct policy *p, size_t i, struct policy_category_info *out);
/* Equivalent policies the SPIF names (equivalentPolicies): name and OID, borrowed. */
size_t policy_equivalent_count(const struct policy *p);
bool policy_equivalent_get(const struct policy *p, size_t i, const char **name, const char **oid);

/* An empty set. Never NULL (aborts on OOM). */
struct policy_set *policy_set_new(void);
/* Frees the set and every policy in it; NULL is fine. */
void policy_set_free(struct policy_set *s);
/* Adds p. PAL_OK: the set owns p. PAL_EEXIST (a policy with the same OID or
 * name is loaded): the caller still owns p. */
int policy_set_add(struct policy_set *s, struct policy *p);
/* policy_load() + policy_set_add(); errors as policy_load() (duplicates too). */
int policy_set_load(struct policy_set *s, const char *path, char *err, size_t errlen);
/* The policy with this OID, or else this name; NULL if none. Borrowed. */
const struct policy *policy_set_find(const struct policy_set *s, const char *oid_or_name);
size_t policy_set_count(const struct policy_set *s);
const struct policy *policy_set_get(const struct policy_set *s, size_t i);

/* ---- labels ---- */

/* A label of policy_oid (dotted OID) with no classification and no category;
 * NULL when the OID is not well formed. Caller frees with policy_label_free(). */
struct policy_label *policy_label_new(const char *policy_oid);
void policy_label_free(struct policy_label *l); /* NULL is fine */
struct policy_label *policy_label_dup(const struct policy_label *l);
/* PAL_OK, or PAL_ERANGE for lacv outside 0..POLICY_MAX_CLASS. */
int policy_label_set_class(struct policy_label *l, int32_t lacv);
/* Adds a category (a set: adding twice is a no-op). PAL_EINVAL for a bad OID
 * or type, PAL_ERANGE for a bit-string lacv above POLICY_MAX_BIT_LACV. */
int policy_label_add_category(struct policy_label *l, const char *tagset_oid,
                              enum policy_tag_type type, uint32_t lacv);
/* Sets (text copied) or clears (NULL) the privacy mark; utf8 picks UTF8String
 * over PrintableString. PAL_EINVAL when !utf8 and text is not printable. */
int policy_label_set_privacy_mark(struct policy_label *l, const char *text, bool utf8);

const char *policy_label_policy(const struct policy_label *l); /* borrowed */
bool policy_label_has_class(const struct policy_label *l);
int32_t policy_label_class(const struct policy_label *l); /* -1 when absent */
/* Categories sorted by (tag set OID, type, lacv). false when i is out of range. */
size_t policy_label_category_count(const struct policy_label *l);
bool policy_label_category(const struct policy_label *l, size_t i, const char **tagset_oid,
                           enum policy_tag_type *type, uint32_t *lacv);
const char *policy_label_privacy_mark(const struct policy_label *l); /* NULL if none */
/* Semantic equality (never compare encodings). */
bool policy_label_equal(const struct policy_label *a, const struct policy_label *b);

/* Strict DER ESSSecurityLabel. PAL_OK and *out (caller frees), or
 * PAL_EMALFORMED (not DER, unknown category type, bad values). */
int policy_label_from_der(const unsigned char *der, size_t len, struct policy_label **out);
/* PAL_OK and *der (caller free()s), *len. */
int policy_label_to_der(const struct policy_label *l, unsigned char **der, size_t *len);
/* Base64 of the DER (XML whitespace ignored, padding optional). */
int policy_label_from_base64(const char *b64, size_t len, struct policy_label **out);
int policy_label_to_base64(const struct policy_label *l, char **out); /* caller free()s */

/* A label element: <esssecuritylabel xmlns=POLICY_NS_ESS> or our
 * <label xmlns=POLICY_NS_XMLLABEL>. PAL_OK and *out, PAL_EMALFORMED, or
 * PAL_ENOENT for an element of another format. el is borrowed. */
int policy_label_from_xml(const struct xml_node *el, struct policy_label **out);
enum policy_xml_form { POLICY_XML_ESS, POLICY_XML_PALISADE };
/* Appends the label element to parent in t (t's root when parent is NULL) and
 * returns it (in t's arena); NULL only when DER encoding fails. */
struct xml_node *policy_label_to_xml(const struct policy_label *l, enum policy_xml_form form,
                                     struct xml_tree *t, struct xml_node *parent);

/* A XEP-0258 <securitylabel/> element (borrowed). PAL_OK and *out; *out is
 * NULL when <label/> is empty (the sender asks for the default label).
 * marking (may be NULL) receives the client's display marking text or NULL
 * (caller frees): for logs only, the server recomputes it. <equivalentlabel/>
 * elements are ignored: equivalents are recomputed from the policies.
 * PAL_EMALFORMED for a bad envelope or label, PAL_ENOENT for a label format
 * we do not know (both: deny). */
int policy_label_from_xep258(const struct xml_node *el, struct policy_label **out,
                             char **marking);
/* Builds <securitylabel xmlns=POLICY_NS_SECLABEL> for l under parent (t's root
 * when NULL): the display marking from l's policy, the ESS label, and one
 * <equivalentlabel/> per policy that l maps into. *out (may be NULL) gets the
 * element. PAL_EPOLICY when l is not valid in s. */
int policy_label_to_xep258(const struct policy_set *s, const struct policy_label *l,
                           struct xml_tree *t, struct xml_node *parent, struct xml_node **out);

/* The label text form (see the top of this file); names resolve against s.
 * class= is required. The label is not validated (policy_label_validate()
 * does that, with a reason). PAL_OK and *out (caller frees), or PAL_EMALFORMED
 * (syntax, bad privacy mark) / PAL_EPOLICY (policy not in s) / PAL_ENOENT (no
 * such classification or category) with a message in err (may be NULL). */
int policy_label_from_text(const struct policy_set *s, const char *text,
                           struct policy_label **out, char *err, size_t errlen);
/* The text form: the policy's OID; names when l's policy is in s and defines
 * the value, numbers otherwise ("class=7", "categories=OID/type/lacv");
 * "tag set:name" for a category name the policy repeats; class= omitted when l
 * has no classification (such text does not parse back). PAL_OK and *out
 * (caller frees). */
int policy_label_to_text(const struct policy_set *s, const struct policy_label *l, char **out);

/* Is l well formed and valid under its policy in s? verdict ALLOW or
 * DENY_BAD_LABEL with the reason. Obsolete values are valid here. */
struct policy_decision policy_label_validate(const struct policy_set *s,
                                             const struct policy_label *l);
/* The display marking of a valid label. PAL_OK and *out (clear with
 * policy_marking_clear()), or PAL_EPOLICY when l is not valid in s. */
int policy_display_marking(const struct policy_set *s, const struct policy_label *l,
                           struct policy_marking *out);
void policy_marking_clear(struct policy_marking *m);
/* Maps l into the policy target_oid through the SPIF equivalences
 * (equivalentClassification, equivalentSecCategoryTag): forward with l's
 * policy's mappings (applied encrypt/both), else backward with the target's
 * (applied decrypt/both). l itself when target_oid is its policy. PAL_OK and
 * *out (caller frees), PAL_ENOENT when no equivalence maps every value,
 * PAL_EPOLICY when l is not valid in s. */
int policy_label_map(const struct policy_set *s, const struct policy_label *l,
                     const char *target_oid, struct policy_label **out);

/* ---- clearances ---- */

/* A clearance of policy_oid holding nothing; NULL for a malformed OID. */
struct policy_clearance *policy_clearance_new(const char *policy_oid);
void policy_clearance_free(struct policy_clearance *c); /* NULL is fine */
struct policy_clearance *policy_clearance_dup(const struct policy_clearance *c);
/* Adds one classification to the classList. PAL_ERANGE outside 0..POLICY_MAX_CLASS. */
int policy_clearance_add_class(struct policy_clearance *c, int32_t lacv);
/* The "up to" form: adds every classification of c's policy (in s) whose
 * hierarchy is at most that of lacv. PAL_EPOLICY when the policy is not in s,
 * PAL_ENOENT when it has no classification lacv. */
int policy_clearance_add_up_to(const struct policy_set *s, struct policy_clearance *c,
                               int32_t lacv);
/* Adds a category held (same rules as policy_label_add_category()). */
int policy_clearance_add_category(struct policy_clearance *c, const char *tagset_oid,
                                  enum policy_tag_type type, uint32_t lacv);
const char *policy_clearance_policy(const struct policy_clearance *c); /* borrowed */
bool policy_clearance_has_class(const struct policy_clearance *c, int32_t lacv);
size_t policy_clearance_category_count(const struct policy_clearance *c);
bool policy_clearance_category(const struct policy_clearance *c, size_t i,
                               const char **tagset_oid, enum policy_tag_type *type,
                               uint32_t *lacv);
bool policy_clearance_equal(const struct policy_clearance *a, const struct policy_clearance *b);

/* Strict DER Clearance (RFC 5755). PAL_OK and *out, or PAL_EMALFORMED. */
int policy_clearance_from_der(const unsigned char *der, size_t len,
                              struct policy_clearance **out);
int policy_clearance_to_der(const struct policy_clearance *c, unsigned char **der,
                            size_t *len); /* caller free()s *der */
/* The text form (see the top of this file); names resolve against s. PAL_OK and
 * *out, or PAL_EMALFORMED / PAL_EPOLICY / PAL_ENOENT with a message in err. */
int policy_clearance_from_text(const struct policy_set *s, const char *text,
                               struct policy_clearance **out, char *err, size_t errlen);
/* The text form, with names when c's policy is in s (numbers otherwise), and
 * class= when the classList is exactly an "up to" set. Caller frees *out. */
int policy_clearance_to_text(const struct policy_set *s, const struct policy_clearance *c,
                             char **out);

/* ---- decisions (pure; every argument borrowed; s may hold any policies) ---- */

/* May the holder of c read content labelled l? l NULL (unlabelled, no default
 * label applied): ALLOW/unlabelled. c NULL: DENY_CLEARANCE/no-clearance. The
 * label must be valid; c dominates l when, after mapping l into c's policy if
 * they differ, c's classList holds l's classification, c holds every
 * restrictive category of l and at least one category of each permissive tag
 * set l uses. Informative categories are ignored. */
struct policy_decision policy_check_read(const struct policy_set *s,
                                         const struct policy_clearance *c,
                                         const struct policy_label *l);
/* May the holder of c send (or a room with clearance c carry) l? As
 * policy_check_read(), and l may not use obsolete values. */
struct policy_decision policy_check_send(const struct policy_set *s,
                                         const struct policy_clearance *c,
                                         const struct policy_label *l);
/* May l cross to a peer server with clearance c? As policy_check_read(), but a
 * clearance failure is DENY_PEER. */
struct policy_decision policy_check_peer(const struct policy_set *s,
                                         const struct policy_clearance *c,
                                         const struct policy_label *l);
enum policy_check { POLICY_CHECK_READ, POLICY_CHECK_SEND, POLICY_CHECK_PEER };
/* For a holder of several clearances (one per policy, as in a multi-valued
 * xmppClearance): ALLOW when any of cs[0..n) allows; otherwise the decision of
 * the clearance in l's own policy if there is one, else of cs[0]. n == 0 is
 * "no clearance". */
struct policy_decision policy_check_any(const struct policy_set *s, enum policy_check kind,
                                        const struct policy_clearance *const *cs, size_t n,
                                        const struct policy_label *l);

/* Stable short strings ("allow", "deny-bad-label", ...; "ok", "no-clearance",
 * ...); never NULL ("unknown" for values out of range). */
const char *policy_verdict_str(enum policy_verdict v);
const char *policy_reason_str(enum policy_reason r);
/* "restrictive", "enumerated-restrictive", "permissive", "enumerated-permissive",
 * "informative", "informative-enumerated"; policy_tag_type_parse() reverses
 * (PAL_OK or PAL_EINVAL). */
const char *policy_tag_type_str(enum policy_tag_type t);
int policy_tag_type_parse(const char *s, enum policy_tag_type *out);

/* ---- XEP-0258 catalog ---- */

/* Include, for each classification, labels with one restrictive or permissive
 * category that both clearances hold (not only classification-only labels). */
#define POLICY_CATALOG_CATEGORIES 0x1u

/* The labels of the sender's policy that sender may send and receiver may read,
 * highest classification first: one per classification (with the smallest set
 * of categories its requiredCategory rules ask for when needed), and with
 * POLICY_CATALOG_CATEGORIES the single-category variants. Obsolete values are
 * never offered. NULL sender or receiver: an empty catalog. Never NULL; caller
 * frees with policy_catalog_free(). */
struct policy_catalog *policy_catalog(const struct policy_set *s,
                                      const struct policy_clearance *sender,
                                      const struct policy_clearance *receiver, unsigned flags);
void policy_catalog_free(struct policy_catalog *cat); /* NULL is fine */
size_t policy_catalog_count(const struct policy_catalog *cat);
/* Item i's label, marking and XEP-0258 selector ("POLICY|CLASS" or
 * "POLICY|CLASS|MARKING"); borrowed from cat; NULL when i is out of range. */
const struct policy_label *policy_catalog_label(const struct policy_catalog *cat, size_t i);
const struct policy_marking *policy_catalog_marking(const struct policy_catalog *cat, size_t i);
const char *policy_catalog_selector(const struct policy_catalog *cat, size_t i);
/* Builds <catalog xmlns=POLICY_NS_CATALOG to=… name=… desc=… restrict=…> with
 * one <item selector=…> per label (default='true' on the item equal to dflt,
 * which may be NULL) under parent (t's root when NULL). to, name, desc may be
 * NULL (attribute omitted). Returns the element (in t's arena). */
struct xml_node *policy_catalog_to_xml(const struct policy_set *s,
                                       const struct policy_catalog *cat,
                                       const struct policy_label *dflt, const char *to,
                                       const char *name, const char *desc, bool is_restrict,
                                       struct xml_tree *t, struct xml_node *parent);

#endif
