/* SPDX-License-Identifier: Apache-2.0 */
/* xml.c - element trees and their serializer, plus a whole-document parser for
 * files (SPIFs). A tree, its nodes and strings all live in one arena; the tree
 * struct itself is the arena's first allocation, so freeing is one step. The
 * serializer writes xmlns only where the namespace changes and declares a
 * generated prefix for any namespaced attribute other than xml:*. */
#include "xml.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "err.h"
#include "mem.h"
#include "xml_int.h"

/* A tree's first malloc is 1 KiB in all: glibc serves that from its per-thread
 * cache, where 1,088 bytes went through the bins and consolidated them (2-3 %
 * of a labelled message's CPU). */
#define XML_ARENA_BLOCK (1024 - ARENA_HEADER_BYTES)
#define XML_DOC_MAX_DEPTH 1024
#define XML_FILE_MAX (64u * 1024 * 1024)

struct xml_tree *
xml_tree_new(void)
{
    struct arena *a = arena_new(XML_ARENA_BLOCK);
    struct xml_tree *t = arena_alloc(a, sizeof(*t));

    t->arena = a;
    t->root = NULL;
    return t;
}

struct xml_tree *
xml_tree_compact(struct xml_tree *t)
{
    struct arena *a = arena_new(arena_used(t->arena));
    struct xml_tree *c = arena_alloc(a, sizeof(*c));

    c->arena = a;
    c->root = NULL;
    if (t->root != NULL)
        xml_copy(c, NULL, t->root);
    xml_tree_free(t);
    return c;
}

void
xml_tree_free(struct xml_tree *t)
{
    if (t != NULL)
        arena_free(t->arena); /* t lives in its own arena */
}

static bool
str_eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* Namespace strings repeat in every element; share the common ones. */
static const char *
ns_copy(struct xml_tree *t, const char *ns)
{
    if (ns == NULL || ns[0] == '\0')
        return "";
    if (strcmp(ns, XML_NS_XML) == 0)
        return XML_NS_XML;
    return arena_strdup(t->arena, ns);
}

static void
append_child(struct xml_node *parent, struct xml_node *n)
{
    n->parent = parent;
    n->next = NULL;
    if (parent->last_child != NULL)
        parent->last_child->next = n;
    else
        parent->children = n;
    parent->last_child = n;
}

/* el's subtree changes: no element from el up keeps its serialization
 * (xml_set_raw). */
static void
raw_drop(struct xml_node *el)
{
    for (; el != NULL; el = el->parent) {
        if (el->type == XML_ELEMENT) {
            el->text = NULL;
            el->text_len = 0;
        }
    }
}

void
xml_set_raw(struct xml_tree *t, struct xml_node *el, const char *s, size_t n)
{
    char *p = arena_alloc(t->arena, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    el->text = p;
    el->text_len = n;
}

struct xml_node *
xml_elem_new(struct xml_tree *t, struct xml_node *parent, const char *ns, const char *name)
{
    struct xml_node *n = arena_alloc(t->arena, sizeof(*n));

    memset(n, 0, sizeof(*n));
    n->type = XML_ELEMENT;
    if (ns == NULL)
        n->ns = parent != NULL ? parent->ns : "";
    else if (parent != NULL && strcmp(ns, parent->ns) == 0)
        n->ns = parent->ns;
    else
        n->ns = ns_copy(t, ns);
    n->name = arena_strdup(t->arena, name);
    if (parent != NULL) {
        raw_drop(parent);
        append_child(parent, n);
    }
    else if (t->root == NULL)
        t->root = n;
    /* else: a detached element, useful only to its creator */
    return n;
}

static struct xml_attr *
find_attr(const struct xml_node *el, const char *ns, const char *name)
{
    struct xml_attr *a;

    for (a = el->attrs; a != NULL; a = a->next)
        if (strcmp(a->name, name) == 0 && str_eq(a->ns, ns))
            return a;
    return NULL;
}

void
xml_set_attr(struct xml_tree *t, struct xml_node *el, const char *ns, const char *name,
             const char *value)
{
    struct xml_attr *a = find_attr(el, ns, name);
    struct xml_attr **tail;

    raw_drop(el);
    if (a != NULL) {
        a->value = arena_strdup(t->arena, value);
        return;
    }
    a = arena_alloc(t->arena, sizeof(*a));
    a->ns = (ns == NULL || ns[0] == '\0') ? NULL : ns_copy(t, ns);
    a->name = arena_strdup(t->arena, name);
    a->value = arena_strdup(t->arena, value);
    a->next = NULL;
    /* Keep document order: serialisation then reproduces the input. */
    for (tail = &el->attrs; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = a;
}

void
xml_del_attr(struct xml_node *el, const char *ns, const char *name)
{
    struct xml_attr **pp;

    raw_drop(el);
    for (pp = &el->attrs; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0 && str_eq((*pp)->ns, ns)) {
            *pp = (*pp)->next;
            return;
        }
    }
}

const char *
xml_attr(const struct xml_node *el, const char *name)
{
    struct xml_attr *a = find_attr(el, NULL, name);

    return a != NULL ? a->value : NULL;
}

const char *
xml_attr_ns(const struct xml_node *el, const char *ns, const char *name)
{
    struct xml_attr *a = find_attr(el, ns, name);

    return a != NULL ? a->value : NULL;
}

static struct xml_node *
text_new(struct xml_tree *t, const char *s, size_t n)
{
    struct xml_node *tn = arena_alloc(t->arena, sizeof(*tn));
    char *p = arena_alloc(t->arena, n + 1);

    memset(tn, 0, sizeof(*tn));
    tn->type = XML_TEXT;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    tn->text = p;
    tn->text_len = n;
    return tn;
}

/* Replaces tn's text with its text followed (or preceded) by s[0..n). */
static void
text_merge(struct xml_tree *t, struct xml_node *tn, const char *s, size_t n, bool is_prepend)
{
    char *p = arena_alloc(t->arena, tn->text_len + n + 1);

    if (is_prepend) {
        memcpy(p, s, n);
        memcpy(p + n, tn->text, tn->text_len);
    } else {
        memcpy(p, tn->text, tn->text_len);
        memcpy(p + tn->text_len, s, n);
    }
    tn->text_len += n;
    p[tn->text_len] = '\0';
    tn->text = p;
}

void
xml_add_text(struct xml_tree *t, struct xml_node *el, const char *s, size_t n)
{
    if (n == 0)
        return;
    raw_drop(el);
    if (el->last_child != NULL && el->last_child->type == XML_TEXT) {
        text_merge(t, el->last_child, s, n, false);
        return;
    }
    append_child(el, text_new(t, s, n));
}

void
xml_prepend_text(struct xml_tree *t, struct xml_node *el, const char *s, size_t n)
{
    struct xml_node *tn;

    if (n == 0)
        return;
    raw_drop(el);
    if (el->children != NULL && el->children->type == XML_TEXT) {
        text_merge(t, el->children, s, n, true);
        return;
    }
    tn = text_new(t, s, n);
    tn->parent = el;
    tn->next = el->children;
    el->children = tn;
    if (el->last_child == NULL)
        el->last_child = tn;
}

static bool
elem_matches(const struct xml_node *n, const char *ns, const char *name)
{
    return n->type == XML_ELEMENT && (ns == NULL || strcmp(n->ns, ns) == 0) &&
           (name == NULL || strcmp(n->name, name) == 0);
}

struct xml_node *
xml_child(const struct xml_node *el, const char *ns, const char *name)
{
    struct xml_node *c;

    for (c = el->children; c != NULL; c = c->next)
        if (elem_matches(c, ns, name))
            return c;
    return NULL;
}

struct xml_node *
xml_next(const struct xml_node *c, const char *ns, const char *name)
{
    for (c = c->next; c != NULL; c = c->next)
        if (elem_matches(c, ns, name))
            return (struct xml_node *)c;
    return NULL;
}

void
xml_unlink(struct xml_node *child)
{
    struct xml_node *parent = child->parent;
    struct xml_node *prev = NULL;
    struct xml_node *c;

    if (parent == NULL)
        return;
    raw_drop(parent);
    for (c = parent->children; c != NULL && c != child; c = c->next)
        prev = c;
    if (c == NULL)
        return;
    if (prev != NULL)
        prev->next = child->next;
    else
        parent->children = child->next;
    if (parent->last_child == child)
        parent->last_child = prev;
    child->parent = NULL;
    child->next = NULL;
}

const char *
xml_text(struct xml_tree *t, const struct xml_node *el)
{
    const struct xml_node *c;
    const struct xml_node *only = NULL;
    size_t count = 0;
    size_t len = 0;
    char *p;
    char *o;

    for (c = el->children; c != NULL; c = c->next) {
        if (c->type != XML_TEXT)
            continue;
        only = c;
        count++;
        len += c->text_len;
    }
    if (count == 0)
        return "";
    if (count == 1 || t == NULL)
        return only->text; /* t NULL breaks the contract; the last piece is all we can give */
    o = p = arena_alloc(t->arena, len + 1);
    for (c = el->children; c != NULL; c = c->next) {
        if (c->type != XML_TEXT)
            continue;
        memcpy(o, c->text, c->text_len);
        o += c->text_len;
    }
    *o = '\0';
    return p;
}

struct xml_node *
xml_copy(struct xml_tree *t, struct xml_node *parent, const struct xml_node *src)
{
    struct xml_node *n;
    const struct xml_attr *a;
    const struct xml_node *c;

    if (src->type == XML_TEXT) {
        if (parent == NULL)
            return NULL; /* a tree's root is an element */
        xml_add_text(t, parent, src->text, src->text_len);
        return parent->last_child;
    }
    n = xml_elem_new(t, parent, src->ns, src->name);
    for (a = src->attrs; a != NULL; a = a->next)
        xml_set_attr(t, n, a->ns, a->name, a->value);
    for (c = src->children; c != NULL; c = c->next)
        xml_copy(t, n, c);
    if (src->text != NULL) /* after the children: appending them drops it */
        xml_set_raw(t, n, src->text, src->text_len);
    return n;
}

/*
 * Serializer.
 */

static bool
is_foreign_ns(const char *ns)
{
    return ns != NULL && ns[0] != '\0' && strcmp(ns, XML_NS_XML) != 0;
}

/* Index of a's namespace among the distinct foreign namespaces of el's
 * attributes, in order of first use; *is_first tells whether a is that first use. */
static unsigned
attr_prefix(const struct xml_node *el, const struct xml_attr *a, bool *is_first)
{
    const struct xml_attr *b;
    const struct xml_attr *d;
    unsigned idx = 0;

    for (b = el->attrs; b != a; b = b->next) {
        if (!is_foreign_ns(b->ns))
            continue;
        for (d = el->attrs; d != b; d = d->next)
            if (is_foreign_ns(d->ns) && strcmp(d->ns, b->ns) == 0)
                break;
        if (d != b)
            continue; /* b's namespace was counted already */
        if (strcmp(b->ns, a->ns) == 0) {
            *is_first = false;
            return idx;
        }
        idx++;
    }
    *is_first = true;
    return idx;
}

static void
serialize_attrs(const struct xml_node *el, struct buf *out)
{
    const struct xml_attr *a;
    unsigned idx;
    bool is_first;

    /* Foreign-namespace attributes get generated prefixes a0, a1, ... declared
     * on this very element, so no prefix depends on an ancestor. Attribute
     * counts are capped by the stream limits; the quadratic scan is fine. */
    for (a = el->attrs; a != NULL; a = a->next) {
        if (!is_foreign_ns(a->ns))
            continue;
        idx = attr_prefix(el, a, &is_first);
        if (!is_first)
            continue;
        buf_printf(out, " xmlns:a%u=\"", idx);
        buf_append_xml_escaped(out, a->ns, strlen(a->ns), 1);
        buf_append_str(out, "\"");
    }
    for (a = el->attrs; a != NULL; a = a->next) {
        buf_append_str(out, " ");
        if (is_foreign_ns(a->ns))
            buf_printf(out, "a%u:", attr_prefix(el, a, &is_first));
        else if (a->ns != NULL && a->ns[0] != '\0')
            buf_append_str(out, "xml:");
        buf_append_str(out, a->name);
        buf_append_str(out, "=\"");
        buf_append_xml_escaped(out, a->value, strlen(a->value), 1);
        buf_append_str(out, "\"");
    }
}

void
xml_serialize(const struct xml_node *el, const char *parent_ns, struct buf *out)
{
    const struct xml_node *c;

    if (el->type == XML_TEXT) {
        buf_append_xml_escaped(out, el->text, el->text_len, 0);
        return;
    }
    if (el->text != NULL && !str_eq(el->ns, parent_ns)) {
        buf_append(out, el->text, el->text_len); /* xml_set_raw */
        return;
    }
    buf_append_str(out, "<");
    buf_append_str(out, el->name);
    if (!str_eq(el->ns, parent_ns)) {
        buf_append_str(out, " xmlns=\"");
        buf_append_xml_escaped(out, el->ns != NULL ? el->ns : "",
                               el->ns != NULL ? strlen(el->ns) : 0, 1);
        buf_append_str(out, "\"");
    }
    serialize_attrs(el, out);
    if (el->children == NULL) {
        buf_append_str(out, "/>");
        return;
    }
    buf_append_str(out, ">");
    for (c = el->children; c != NULL; c = c->next)
        xml_serialize(c, el->ns, out);
    buf_append_str(out, "</");
    buf_append_str(out, el->name);
    buf_append_str(out, ">");
}

/*
 * Element trees from expat's namespace-mode events (xml_int.h): the document
 * parser below and xstream.c build theirs with these.
 */

/* Splits expat's "uri\x01local": returns the local name (inside qname) and
 * sets *ns to the URI in scratch (valid until the next call), or NULL. */
static const char *
split_name(struct buf *scratch, const char *qname, const char **ns)
{
    const char *sep = strchr(qname, XML_NS_SEP);

    if (sep == NULL) {
        *ns = NULL;
        return qname;
    }
    buf_reset(scratch);
    buf_append(scratch, qname, (size_t)(sep - qname));
    buf_append(scratch, "", 1);
    *ns = buf_head(scratch);
    return sep + 1;
}

struct xml_node *
xml_elem_from_expat(struct xml_tree *t, struct xml_node *parent, const char *qname,
                    const char **atts, struct buf *scratch)
{
    const char *ns;
    const char *name = split_name(scratch, qname, &ns);
    struct xml_node *el = xml_elem_new(t, parent, ns != NULL ? ns : "", name);
    size_t i;

    for (i = 0; atts[i] != NULL; i += 2) {
        name = split_name(scratch, atts[i], &ns);
        xml_set_attr(t, el, ns, name, atts[i + 1]);
    }
    return el;
}

void
xml_flush_text(struct xml_tree *t, struct xml_node *el, struct buf *text)
{
    if (buf_used(text) == 0)
        return;
    if (el != NULL)
        xml_add_text(t, el, buf_head(text), buf_used(text));
    buf_reset(text);
}

/*
 * Whole-document parser (files). Unlike the stream parser it skips comments and
 * processing instructions: vendors' SPIF files carry comments. DTDs and
 * entities are refused outright.
 */

struct doc_ctx {
    XML_Parser p;
    struct xml_tree *tree;
    struct xml_node *cur;
    struct buf text; /* character data pending for cur, flushed as one node */
    struct buf ns;   /* scratch for a namespace URI */
    unsigned depth;
    char err[256];
    bool has_err;
};

static void doc_fail(struct doc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
doc_fail(struct doc_ctx *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->has_err)
        return;
    c->has_err = true;
    n = snprintf(c->err, sizeof(c->err), "line %lu: ",
                 (unsigned long)XML_GetCurrentLineNumber(c->p));
    va_start(ap, fmt);
    vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
    va_end(ap);
    XML_StopParser(c->p, XML_FALSE);
}

static void
doc_start(void *ud, const XML_Char *qname, const XML_Char **atts)
{
    struct doc_ctx *c = ud;

    if (c->has_err)
        return;
    if (++c->depth > XML_DOC_MAX_DEPTH) {
        doc_fail(c, "elements nested deeper than %d", XML_DOC_MAX_DEPTH);
        return;
    }
    xml_flush_text(c->tree, c->cur, &c->text);
    c->cur = xml_elem_from_expat(c->tree, c->cur, qname, atts, &c->ns);
}

static void
doc_end(void *ud, const XML_Char *qname)
{
    struct doc_ctx *c = ud;

    (void)qname;
    if (c->has_err)
        return;
    xml_flush_text(c->tree, c->cur, &c->text);
    c->depth--;
    if (c->cur != NULL)
        c->cur = c->cur->parent;
}

static void
doc_chars(void *ud, const XML_Char *s, int len)
{
    struct doc_ctx *c = ud;

    if (c->has_err || c->cur == NULL || len <= 0)
        return;
    buf_append(&c->text, s, (size_t)len);
}

static void
doc_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
            int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    doc_fail(ud, "DTDs are not allowed");
}

static void
doc_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
                const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
                const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    doc_fail(ud, "DTDs are not allowed");
}

static int
doc_external_entity(XML_Parser p, const XML_Char *context, const XML_Char *base,
                    const XML_Char *sysid, const XML_Char *pubid)
{
    (void)context;
    (void)base;
    (void)sysid;
    (void)pubid;
    doc_fail(XML_GetUserData(p), "DTDs are not allowed");
    return XML_STATUS_ERROR;
}

static void
doc_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
    (void)is_param;
    doc_fail(ud, "undefined entity '%s'", name);
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int
xml_parse_doc(const char *data, size_t len, struct xml_tree **out, char *err, size_t errlen)
{
    struct doc_ctx c;
    size_t done = 0;
    int chunk;
    int is_final;
    int rc = PAL_EMALFORMED;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    c.p = XML_ParserCreateNS(NULL, XML_NS_SEP);
    if (c.p == NULL) {
        set_err(err, errlen, "out of memory");
        return PAL_ENOMEM;
    }
    c.tree = xml_tree_new();
    buf_init(&c.text);
    buf_init(&c.ns);
    XML_SetUserData(c.p, &c);
    XML_SetElementHandler(c.p, doc_start, doc_end);
    XML_SetCharacterDataHandler(c.p, doc_chars);
    XML_SetStartDoctypeDeclHandler(c.p, doc_doctype);
    XML_SetEntityDeclHandler(c.p, doc_entity_decl);
    XML_SetExternalEntityRefHandler(c.p, doc_external_entity);
    XML_SetSkippedEntityHandler(c.p, doc_skipped_entity);
    XML_SetParamEntityParsing(c.p, XML_PARAM_ENTITY_PARSING_NEVER);
    /* No comment or processing-instruction handlers: expat skips them. */

    do {
        chunk = len - done > INT_MAX ? INT_MAX : (int)(len - done);
        is_final = done + (size_t)chunk == len;
        if (XML_Parse(c.p, data + done, chunk, is_final) != XML_STATUS_OK) {
            if (!c.has_err)
                snprintf(c.err, sizeof(c.err), "line %lu: %s",
                         (unsigned long)XML_GetCurrentLineNumber(c.p),
                         XML_ErrorString(XML_GetErrorCode(c.p)));
            set_err(err, errlen, "%s", c.err);
            goto out;
        }
        done += (size_t)chunk;
    } while (!is_final);
    if (c.has_err) {
        set_err(err, errlen, "%s", c.err);
        goto out;
    }
    *out = c.tree;
    c.tree = NULL;
    rc = PAL_OK;
out:
    buf_free(&c.text);
    buf_free(&c.ns);
    xml_tree_free(c.tree);
    XML_ParserFree(c.p);
    return rc;
}

int
xml_parse_file(const char *path, struct xml_tree **out, char *err, size_t errlen)
{
    FILE *f;
    struct buf b;
    char *w;
    size_t n;
    char msg[256];
    int rc;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = -errno;
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return rc == 0 ? PAL_EIO : rc;
    }
    buf_init(&b);
    for (;;) {
        w = buf_reserve(&b, 65536);
        n = fread(w, 1, 65536, f);
        buf_commit(&b, n);
        if (n < 65536)
            break;
        if (buf_used(&b) > XML_FILE_MAX) {
            set_err(err, errlen, "%s: file larger than %u bytes", path, XML_FILE_MAX);
            rc = PAL_ELIMIT;
            goto out;
        }
    }
    if (ferror(f)) {
        set_err(err, errlen, "%s: read error", path);
        rc = PAL_EIO;
        goto out;
    }
    rc = xml_parse_doc(buf_head(&b), buf_used(&b), out, msg, sizeof(msg));
    if (rc != PAL_OK)
        set_err(err, errlen, "%s: %s", path, msg);
out:
    fclose(f);
    buf_free(&b);
    return rc;
}
