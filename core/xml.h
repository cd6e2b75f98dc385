/* SPDX-License-Identifier: Apache-2.0 */
/* xml.h - element trees (one arena per tree, freed in one step) and a correct
 * serializer. Names are split into namespace URI and local name, as expat's
 * namespace mode delivers them; the serializer writes xmlns only where an
 * element's namespace differs from its parent's (or the stream's). */
#ifndef PALISADE_XML_H
#define PALISADE_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define XML_NS_XML "http://www.w3.org/XML/1998/namespace"

struct arena;

struct xml_attr {
    const char *ns; /* NULL for unprefixed attributes; XML_NS_XML for xml:lang */
    const char *name;
    const char *value;
    struct xml_attr *next;
};

enum xml_node_type { XML_ELEMENT, XML_TEXT };

struct xml_node {
    enum xml_node_type type;
    const char *ns;   /* element namespace URI ("" if none); NULL for text */
    const char *name; /* local name; NULL for text */
    struct xml_attr *attrs;
    struct xml_node *parent;
    struct xml_node *children;
    struct xml_node *last_child;
    struct xml_node *next;
    /* XML_TEXT: the characters (unescaped), text_len bytes. XML_ELEMENT: NULL,
     * or the element's own serialization (xml_set_raw) */
    const char *text;
    size_t text_len;
};

struct xml_tree {
    struct arena *arena;
    struct xml_node *root;
};

/* A new empty tree (root NULL). */
struct xml_tree *xml_tree_new(void);
void xml_tree_free(struct xml_tree *t); /* NULL is fine */
/* Replaces t (freed) by a copy of its root in one block just big enough, for
 * trees kept for long (a session's presence): a tree built or edited in place
 * holds a 1 KiB first block and whatever replaced attributes left behind. */
struct xml_tree *xml_tree_compact(struct xml_tree *t);

/* Gives el its serialization s[0..n) (copied), which xml_serialize() then
 * writes instead of walking el, wherever el's namespace is not its parent's
 * (so that s declares it): for a subtree built once and copied into many
 * stanzas. xml_copy() carries it; any change below el (new child, attribute,
 * text, unlink) drops it. s must be what xml_serialize() writes for el. */
void xml_set_raw(struct xml_tree *t, struct xml_node *el, const char *s, size_t n);

/* A new element in t's arena, appended to parent (or made t's root when parent is
 * NULL and t has none). ns NULL means the parent's namespace. Strings are copied. */
struct xml_node *xml_elem_new(struct xml_tree *t, struct xml_node *parent, const char *ns,
                              const char *name);
/* Sets (replaces) an attribute; value is copied. ns NULL for plain attributes. */
void xml_set_attr(struct xml_tree *t, struct xml_node *el, const char *ns, const char *name,
                  const char *value);
/* Removes an attribute if present. */
void xml_del_attr(struct xml_node *el, const char *ns, const char *name);
/* The value of a plain (namespace-less) attribute, or NULL. */
const char *xml_attr(const struct xml_node *el, const char *name);
const char *xml_attr_ns(const struct xml_node *el, const char *ns, const char *name);
/* Appends text (merged with a preceding text node). */
void xml_add_text(struct xml_tree *t, struct xml_node *el, const char *s, size_t n);
/* Inserts a text node as el's first child. */
void xml_prepend_text(struct xml_tree *t, struct xml_node *el, const char *s, size_t n);

/* First child element with this namespace (NULL = any) and name (NULL = any). */
struct xml_node *xml_child(const struct xml_node *el, const char *ns, const char *name);
/* Next sibling element after c with this namespace/name (NULL = any). */
struct xml_node *xml_next(const struct xml_node *c, const char *ns, const char *name);
/* Unlinks child from its parent (memory stays in the arena). */
void xml_unlink(struct xml_node *child);
/* The concatenated text of el's direct text children, in t's arena ("" if none).
 * t may be NULL when el has at most one text child (then no copy is made). */
const char *xml_text(struct xml_tree *t, const struct xml_node *el);
/* A deep copy of src (from any tree) appended to parent in t (root if NULL). */
struct xml_node *xml_copy(struct xml_tree *t, struct xml_node *parent, const struct xml_node *src);

/* Serializes el and its subtree onto out. parent_ns is the default namespace in
 * force where el is written (e.g. "jabber:client" for a stanza on a c2s stream). */
void xml_serialize(const struct xml_node *el, const char *parent_ns, struct buf *out);

/* Parses a whole document (files such as SPIFs). Refuses DTDs, entity
 * declarations and external entities. PAL_OK and *out (caller frees), or
 * PAL_EMALFORMED with a message "line N: reason" in err. */
int xml_parse_doc(const char *data, size_t len, struct xml_tree **out, char *err, size_t errlen);
/* Same, from a file; errors name the file. */
int xml_parse_file(const char *path, struct xml_tree **out, char *err, size_t errlen);

#endif
