/* SPDX-License-Identifier: Apache-2.0 */
/* xstream.h - the XMPP stream parser on expat: namespace-aware, restricted XML
 * (RFC 6120 §11: no DTD, comments, PIs, entity declarations), limits on stanza
 * size, depth and attributes, one element tree per top-level stanza, and
 * restarts after STARTTLS and SASL. Reparse deferral is disabled so trickled
 * stanzas are delivered at once. */
#ifndef PALISADE_XSTREAM_H
#define PALISADE_XSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "xml.h"

#define XMPP_NS_STREAMS "http://etherx.jabber.org/streams"

struct xstream;

/* What went wrong; each maps to one RFC 6120 stream error condition. */
enum xstream_error {
    XSTREAM_ERR_NOT_WELL_FORMED,     /* <not-well-formed/> */
    XSTREAM_ERR_RESTRICTED_XML,      /* <restricted-xml/>: DTD, comment, PI, entity decl */
    XSTREAM_ERR_POLICY_VIOLATION,    /* <policy-violation/>: size, depth or attribute limit */
    XSTREAM_ERR_INVALID_NAMESPACE,   /* <invalid-namespace/>: wrong stream namespace */
    XSTREAM_ERR_UNSUPPORTED_ENCODING,/* <unsupported-encoding/>: XML decl not UTF-8 */
    XSTREAM_ERR_BAD_FORMAT,          /* <bad-format/>: e.g. text at the stream level */
    XSTREAM_ERR_INVALID_XML,         /* <invalid-xml/> */
    XSTREAM_ERR_INTERNAL_SERVER_ERROR, /* <internal-server-error/>: our fault */
};

/* The RFC 6120 condition element name, e.g. "not-well-formed". */
const char *xstream_error_condition(enum xstream_error e);

struct xstream_limits {
    size_t max_stanza_bytes; /* bytes from a stanza's start tag to its end tag */
    unsigned max_depth;      /* element depth inside a stanza (stanza = 1) */
    unsigned max_attrs;      /* attributes per element */
};

struct xstream_header {
    const char *to, *from, *id, *version, *lang; /* NULL when absent */
    const char *default_ns;                      /* the stream's content namespace or NULL */
};

struct xstream_callbacks {
    /* <stream:stream> opened (also after each restart). Header strings are borrowed. */
    void (*on_open)(void *arg, const struct xstream_header *h);
    /* A complete top-level stanza. The callee takes ownership of tree. */
    void (*on_stanza)(void *arg, struct xml_tree *tree);
    /* </stream:stream> received. */
    void (*on_close)(void *arg);
    /* Bad input; the stream is dead afterwards. detail is for logs. */
    void (*on_error)(void *arg, enum xstream_error err, const char *detail);
};

struct xstream *xstream_new(const struct xstream_limits *lim, const struct xstream_callbacks *cb,
                            void *arg);
void xstream_free(struct xstream *x);

/* Feeds bytes. Callbacks run from inside. Returns the bytes consumed: all of
 * them, unless a callback called xstream_suspend() (then the bytes after the
 * stanza that suspended are not consumed), or an error occurred (on_error
 * called; returns what was consumed before). */
size_t xstream_feed(struct xstream *x, const char *data, size_t len);
/* Called from on_stanza: stop after the current stanza (STARTTLS, SASL success). */
void xstream_suspend(struct xstream *x);
/* Starts a fresh stream (new parser); the next bytes must begin with a stream header. */
void xstream_restart(struct xstream *x);
/* True after on_error or on_close. */
bool xstream_is_done(const struct xstream *x);

/* Frees the expat parser of an idle stream (about 10 KiB) and any text and
 * scratch buffers, when the stream is between top-level stanzas with nothing
 * held in expat. The next xstream_feed() makes a fresh parser and gives it the
 * saved stream header first (without calling on_open again), so stanzas parse
 * exactly as before, namespace prefixes of the header included; only the line
 * numbers in error details start again. Returns true when the stream now holds
 * no parser (also if it already held none), false when it cannot hibernate
 * here (inside a stanza, bytes pending, before the header, done, suspended, or
 * called from a callback). Cheap to call on a busy stream that cannot. */
bool xstream_hibernate(struct xstream *x);
bool xstream_is_hibernating(const struct xstream *x);

#endif
