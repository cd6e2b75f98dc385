/* SPDX-License-Identifier: Apache-2.0 */
/* policy_int.h - policy/'s private structures, shared by its .c files only.
 * Never included outside policy/. */
#ifndef PALISADE_POLICY_INT_H
#define PALISADE_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/* Longest dotted OID we accept (the project's 2.25 arcs are about 50 chars). */
#define POLICY_OID_MAX 200
/* Words in a classification bitmap (0..POLICY_MAX_CLASS). */
#define CLASS_WORDS ((POLICY_MAX_CLASS + 64) / 64)

/* One category value of a label or clearance. */
struct pcat {
    char *tagset; /* dotted OID, owned */
    enum policy_tag_type type;
    uint32_t lacv;
};

/* A set of categories kept sorted by (tagset, type, lacv), no duplicates. */
struct catset {
    size_t n;
    size_t cap;
    struct pcat *v;
};

struct policy_label {
    char *policy;
    bool has_class;
    int32_t cls;
    char *pmark; /* privacy mark or NULL */
    bool pmark_utf8;
    struct catset cats;
};

struct policy_clearance {
    char *policy;
    uint64_t classes[CLASS_WORDS];
    struct catset cats;
};

/* ---- the SPIF model ---- */

enum spif_applied { APPLIED_ENCRYPT = 1, APPLIED_DECRYPT = 2, APPLIED_BOTH = 3 };
enum spif_op { OP_ONLY_ONE, OP_ONE_OR_MORE, OP_ALL };

/* A type as a categoryGroup names it: informative matches either encoding. */
struct spif_group {
    size_t tagset;   /* index into policy->tagsets */
    enum policy_tag_type type;
    bool any_informative;
    bool any_lacv;   /* no lacv (or all='true'): any category of the tag set */
    uint32_t lacv;
};

struct spif_req {
    enum spif_op op;
    size_t n;
    struct spif_group *g;
};

struct spif_eqclass {
    size_t eqpol;    /* index into policy->eqpols */
    int32_t lacv;
    unsigned applied;
    bool unsupported; /* carries requiredCategory: never used for mapping */
};

struct spif_eqcat {
    size_t eqpol;
    char *tagset;    /* target tag set OID */
    enum policy_tag_type type;
    uint32_t lacv;
    unsigned applied;
    bool discard;    /* action='discard': drop the value when mapping */
};

struct spif_class {
    char *name;
    int32_t lacv;
    int32_t hierarchy;
    char *marking;
    char fg[16];
    char bg[16];
    bool obsolete;
    bool suppress_name; /* markingData code suppressClassName / noMarkingDisplay */
    size_t n_eq;
    struct spif_eqclass *eq;
    size_t n_req;
    struct spif_req *req;
};

struct spif_tagset {
    char *name;
    char *oid;
};

struct spif_tag {
    char *name;
    size_t tagset;
    enum policy_tag_type type;
    char *prefix; /* markingQualifier (default language), may be NULL */
    char *suffix;
    char *sep;
    long max_sel; /* 0 = unbounded */
};

struct spif_cat {
    size_t tag;    /* index into policy->tags */
    size_t tagset; /* index into policy->tagsets */
    enum policy_tag_type type;
    uint32_t lacv;
    char *name;
    char *marking;
    bool obsolete;
    bool no_display;   /* markingData code noMarkingDisplay */
    uint64_t excluded[CLASS_WORDS]; /* classification lacvs this category excludes */
    int32_t required_class; /* requiredClass lacv, -1 if none */
    size_t n_req;
    struct spif_req *req;
    size_t n_excl;
    struct spif_group *excl;
    size_t n_eq;
    struct spif_eqcat *eq;
};

struct spif_eqpol {
    char *name;
    char *oid;
    bool unsupported; /* carries requiredCategory */
};

struct policy {
    char *name;
    char *oid;
    size_t n_class;
    struct spif_class *classes; /* ascending hierarchy */
    size_t n_tagset;
    struct spif_tagset *tagsets;
    size_t n_tag;
    struct spif_tag *tags;
    size_t n_cat;
    struct spif_cat *cats; /* document order */
    size_t n_eqpol;
    struct spif_eqpol *eqpols;
};

struct policy_set {
    size_t n;
    size_t cap;
    struct policy **v;
};

/* ---- helpers shared between the files ---- */

/* True when s is a canonical dotted OID (first arc 0-2, no leading zeros, at
 * least two arcs, at most POLICY_OID_MAX chars). */
bool policy_oid_valid(const char *s);
/* True when s is a bit-map tag type (lacv = bit number). */
bool policy_tag_is_bitmap(enum policy_tag_type t);
bool policy_tag_is_restrictive(enum policy_tag_type t);
bool policy_tag_is_permissive(enum policy_tag_type t);

void catset_init(struct catset *s);
void catset_free(struct catset *s);
void catset_copy(struct catset *dst, const struct catset *src);
/* Adds a copy of (tagset, type, lacv); validates as policy_label_add_category(). */
int catset_add(struct catset *s, const char *tagset, enum policy_tag_type type, uint32_t lacv);
bool catset_has(const struct catset *s, const char *tagset, enum policy_tag_type type,
                uint32_t lacv);
bool catset_equal(const struct catset *a, const struct catset *b);

void class_bit_set(uint64_t *bits, int32_t lacv);
bool class_bit_get(const uint64_t *bits, int32_t lacv);

/* The policy with exactly this OID (never by name), or NULL. */
const struct policy *policy_set_find_oid(const struct policy_set *s, const char *oid);
/* The category of p with this key, or NULL. */
const struct spif_cat *spif_find_cat(const struct policy *p, const char *tagset,
                                     enum policy_tag_type type, uint32_t lacv);
const struct spif_class *spif_find_class(const struct policy *p, int32_t lacv);
/* The index of p's equivalentPolicy with this OID, or -1. */
long spif_find_eqpol(const struct policy *p, const char *oid);

/* Bounded copy that always terminates (err may be NULL or errlen 0). */
void policy_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* PrintableString characters only / a privacy mark we accept (no control
 * characters, 1..1024 bytes). */
bool policy_label_printable(const char *s);
bool policy_label_mark_ok(const char *s);

/* Base64 (RFC 4648). Decoding skips XML whitespace, accepts missing padding,
 * rejects other characters and non-zero trailing bits: PAL_OK and *out, *outlen
 * (caller free()s) or PAL_EMALFORMED. Encoding returns a NUL-terminated string. */
int policy_b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);
char *policy_b64_encode(const unsigned char *in, size_t len);

/* ---- the operator text form of clearances and labels (clearance.c) ----
 * Space-separated key=value fields whose values are comma-separated lists of
 * bare or double-quoted items (\" and \\ escapes), names resolved against a
 * loaded SPIF. */

struct buf;

/* A key of a text form, and whether it takes a list or exactly one value. */
struct policy_text_key {
    const char *name;
    bool is_list;
};

/* What text gave for one key: items owned, in the order given. */
struct policy_text_field {
    bool seen;
    size_t n;
    char **items;
};

/* Splits text into f[k] for each keys[k] (f zero-initialised, n_keys long).
 * Unknown or repeated keys, and more than one value for a key that is no list,
 * are errors. PAL_OK, or PAL_EMALFORMED with err set; either way the caller
 * frees f with policy_text_fields_free(). */
int policy_text_parse(const char *text, const struct policy_text_key *keys, size_t n_keys,
                      struct policy_text_field *f, char *err, size_t errlen);
void policy_text_fields_free(struct policy_text_field *f, size_t n);
/* p's classification with the name s, else with the decimal lacv s; NULL with
 * err set when p has neither. */
const struct spif_class *policy_text_class(const struct policy *p, const char *s, char *err,
                                           size_t errlen);
/* Adds the categories of p that f names (by name, "tag set:name", "tag:name" or
 * "tagsetOID/type/lacv") to cats: PAL_OK, or PAL_ENOENT with err set. */
int policy_text_categories(const struct policy *p, const struct policy_text_field *f,
                           struct catset *cats, char *err, size_t errlen);
/* Appends s as one item: bare when it can be, else quoted. */
void policy_text_put_item(struct buf *b, const char *s);
/* Appends " categories=" and cats by name ("tag set:name" where the name is not
 * unique; tagsetOID/type/lacv for what p, which may be NULL, does not define).
 * Nothing when cats is empty. */
void policy_text_put_categories(struct buf *b, const struct policy *p, const struct catset *cats);

#endif
