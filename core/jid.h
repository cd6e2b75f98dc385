/* SPDX-License-Identifier: Apache-2.0 */
/* jid.h - JIDs (RFC 7622 forms and lengths), normalised with stringprep
 * (libidn: nodeprep, nameprep, resourceprep). A struct jid is one allocation. */
#ifndef PALISADE_JID_H
#define PALISADE_JID_H

#include <stdbool.h>

struct jid {
    const char *local;    /* NULL when absent */
    const char *domain;   /* never NULL */
    const char *resource; /* NULL when absent */
    const char *bare;     /* "local@domain" or "domain" */
    const char *full;     /* bare plus "/resource" when present */
};

/* Parses and normalises s. PAL_OK and *out (free with jid_free), or
 * PAL_EMALFORMED (empty parts, over 1023 bytes, prohibited characters). */
int jid_parse(const char *s, struct jid **out);
/* Builds from parts (local and resource may be NULL), normalising each. */
int jid_make(const char *local, const char *domain, const char *resource, struct jid **out);
struct jid *jid_dup(const struct jid *j);
void jid_free(struct jid *j); /* NULL is fine */
/* A copy without the resource. */
struct jid *jid_to_bare(const struct jid *j);
bool jid_equal(const struct jid *a, const struct jid *b);      /* full comparison */
bool jid_bare_equal(const struct jid *a, const struct jid *b); /* ignoring resource */
/* Normalises a string JID in place of parse+free: caller frees the result, NULL if invalid. */
char *jid_normalize(const char *s);

#endif
