/* SPDX-License-Identifier: Apache-2.0 */
/* stanza.h - a refcounted stanza: its element tree (owned), parsed addresses,
 * and a cached serialization shared by every recipient (serialize once, queue a
 * reference per connection). Handlers borrow a stanza; stanza_ref() to keep one. */
#ifndef PALISADE_STANZA_H
#define PALISADE_STANZA_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/jid.h"
#include "core/xml.h"

#define XMPP_NS_CLIENT "jabber:client"
#define XMPP_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

enum stanza_kind { STANZA_MESSAGE, STANZA_PRESENCE, STANZA_IQ };

struct stanza {
    unsigned refs;
    uint64_t id;           /* for logs: "stanza=<id>" */
    struct xml_tree *tree; /* owned */
    struct xml_node *el;   /* tree->root */
    enum stanza_kind kind;
    const char *type;      /* the type attribute or NULL (points into the tree) */
    const char *sid;       /* the id attribute or NULL */
    struct jid *from;      /* NULL when absent */
    struct jid *to;        /* NULL when absent */
    struct buf_chunk *wire; /* cached serialization; NULL until stanza_wire() */
    /* labels.c's cache of the parsed security label (policy_label), reset by
     * stanza_touched(); label_refused: the sender was already told. */
    void *label;
    char *label_marking; /* its display marking once labels.c needed it (owned) */
    int label_state; /* 0 not looked at, 1 unlabelled, 2 parsed, 3 unreadable */
    bool label_refused;
};

/* Wraps a tree from the stream parser (takes ownership of tree, even on error).
 * PAL_OK and *out (refs = 1); PAL_EMALFORMED when the element is not a
 * message/presence/iq in jabber:client (*cond = "unsupported-stanza-type"), or
 * a to/from JID does not parse (*cond = "jid-malformed"), or an iq has no type
 * or one other than get/set/result/error (*cond = "bad-format"). The "exactly
 * one payload child for get/set" rule is left to whoever reads the payload
 * (roster.c, services.c answer bad-request). st->id is 0: the caller assigns
 * `st->id = server_next_id(srv)` (stanza_copy keeps the original's id). */
int stanza_from_tree(struct xml_tree *tree, struct stanza **out, const char **cond);
/* A new empty stanza <name> of the given kind; from/to/type/id may be NULL. */
struct stanza *stanza_new(enum stanza_kind kind, const struct jid *from, const struct jid *to,
                          const char *type, const char *id);
struct stanza *stanza_ref(struct stanza *st);
void stanza_unref(struct stanza *st); /* NULL is fine */
/* A deep copy (refs = 1) that may be modified. */
struct stanza *stanza_copy(const struct stanza *st);
/* Moves st's tree into as little memory as it needs (for stanzas kept while a
 * session lasts); the content, the cached wire and the label cache stay. */
void stanza_compact(struct stanza *st);

/* Setters update the attribute, the parsed JID and drop the cached wire form.
 * jid NULL removes the attribute. */
void stanza_set_from(struct stanza *st, const struct jid *jid);
void stanza_set_to(struct stanza *st, const struct jid *jid);
void stanza_set_type(struct stanza *st, const char *type);
void stanza_set_id(struct stanza *st, const char *id);
/* Call after changing st->tree by hand (drops the cached wire form). */
void stanza_touched(struct stanza *st);

/* The serialization for a jabber:client stream (cached; borrowed: take a
 * buf_chunk_ref to queue it). */
struct buf_chunk *stanza_wire(struct stanza *st);

/* An error reply to st (RFC 6120 §8.3): to = st->from, from = st->to (or
 * from_override), same id, type="error", <error type=etype><cond/>
 * [<text>text</text>]</error>. The original payload is NOT copied, so nothing
 * of its content leaks. etype: "cancel", "modify", "auth", "wait", "continue". */
struct stanza *stanza_error_reply(const struct stanza *st, const struct jid *from_override,
                                  const char *etype, const char *cond, const char *text);
/* An iq result (type="result", same id, addresses swapped); caller adds payload. */
struct stanza *stanza_iq_result(const struct stanza *iq);
/* The first child element of an iq (its payload) or NULL. */
struct xml_node *stanza_iq_payload(const struct stanza *iq);
/* True when the iq carries exactly one child element, as RFC 6120 §8.2.3
 * requires of get and set (handlers answer bad-request otherwise). */
bool stanza_iq_payload_ok(const struct stanza *iq);

#endif
