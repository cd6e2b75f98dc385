/* SPDX-License-Identifier: Apache-2.0 */
/* stanza.c - the refcounted stanza every step of the stanza path shares: the
 * element tree from the stream parser (or built by a feature), its parsed to and
 * from, and one cached serialization that every recipient's connection queues by
 * reference.
 *
 * Log ids: constructors leave st->id at 0. Whoever holds the server context
 * assigns one with `st->id = server_next_id(srv)`: c2s for stanzas it reads,
 * features for stanzas they generate. A copy keeps the id of its original, so
 * one logical stanza traces as one id through fan-out. */
#include "node/stanza.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "policy/policy.h"

static const char *const stanza_names[] = {
    [STANZA_MESSAGE] = "message",
    [STANZA_PRESENCE] = "presence",
    [STANZA_IQ] = "iq",
};

static bool
stanza_kind_of(const struct xml_node *el, enum stanza_kind *kind)
{
    size_t i;

    if (el == NULL || el->type != XML_ELEMENT || el->ns == NULL ||
        strcmp(el->ns, XMPP_NS_CLIENT) != 0)
        return false;
    for (i = 0; i < sizeof stanza_names / sizeof stanza_names[0]; i++) {
        if (strcmp(el->name, stanza_names[i]) == 0) {
            *kind = (enum stanza_kind)i;
            return true;
        }
    }
    return false;
}

static bool
stanza_iq_type_ok(const char *type)
{
    return type != NULL && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0 ||
                            strcmp(type, "result") == 0 || strcmp(type, "error") == 0);
}

/* Parses an optional address attribute: PAL_OK with *out NULL when absent. */
static int
stanza_parse_addr(const struct xml_node *el, const char *name, struct jid **out)
{
    const char *v = xml_attr(el, name);

    *out = NULL;
    if (v == NULL)
        return PAL_OK;
    return jid_parse(v, out);
}

int
stanza_from_tree(struct xml_tree *tree, struct stanza **out, const char **cond)
{
    struct stanza *st = NULL;
    enum stanza_kind kind;
    struct jid *from = NULL;
    struct jid *to = NULL;
    int rc = PAL_EMALFORMED;

    *out = NULL;
    *cond = NULL;
    if (tree == NULL || !stanza_kind_of(tree->root, &kind)) {
        *cond = "unsupported-stanza-type";
        goto out;
    }
    /* RFC 6120 §8.2.3: an iq without one of the four types cannot be answered
     * sensibly; the stream pays for it (the caller sends a stream error). The
     * "exactly one payload for get/set" rule is checked where the payload is
     * read (roster.c, services.c answer bad-request), since an iq for a client
     * is the client's to judge. */
    if (kind == STANZA_IQ && !stanza_iq_type_ok(xml_attr(tree->root, "type"))) {
        *cond = "bad-format";
        goto out;
    }
    if (stanza_parse_addr(tree->root, "from", &from) != PAL_OK ||
        stanza_parse_addr(tree->root, "to", &to) != PAL_OK) {
        *cond = "jid-malformed";
        goto out;
    }
    st = xcalloc(1, sizeof *st);
    st->refs = 1;
    st->tree = tree;
    st->el = tree->root;
    st->kind = kind;
    st->type = xml_attr(st->el, "type");
    st->sid = xml_attr(st->el, "id");
    st->from = from;
    st->to = to;
    from = to = NULL;
    tree = NULL;
    *out = st;
    rc = PAL_OK;
out:
    jid_free(from);
    jid_free(to);
    xml_tree_free(tree);
    return rc;
}

static struct stanza *
stanza_wrap(struct xml_tree *tree, enum stanza_kind kind)
{
    struct stanza *st = xcalloc(1, sizeof *st);

    st->refs = 1;
    st->tree = tree;
    st->el = tree->root;
    st->kind = kind;
    st->type = xml_attr(st->el, "type");
    st->sid = xml_attr(st->el, "id");
    return st;
}

struct stanza *
stanza_new(enum stanza_kind kind, const struct jid *from, const struct jid *to, const char *type,
           const char *id)
{
    struct xml_tree *tree = xml_tree_new();
    struct xml_node *el = xml_elem_new(tree, NULL, XMPP_NS_CLIENT, stanza_names[kind]);
    struct stanza *st;

    if (from != NULL)
        xml_set_attr(tree, el, NULL, "from", from->full);
    if (to != NULL)
        xml_set_attr(tree, el, NULL, "to", to->full);
    if (type != NULL)
        xml_set_attr(tree, el, NULL, "type", type);
    if (id != NULL)
        xml_set_attr(tree, el, NULL, "id", id);
    st = stanza_wrap(tree, kind);
    st->from = from != NULL ? jid_dup(from) : NULL;
    st->to = to != NULL ? jid_dup(to) : NULL;
    return st;
}

struct stanza *
stanza_ref(struct stanza *st)
{
    st->refs++;
    return st;
}

void
stanza_unref(struct stanza *st)
{
    if (st == NULL || --st->refs > 0)
        return;
    policy_label_free(st->label);
    free(st->label_marking);
    xml_tree_free(st->tree);
    jid_free(st->from);
    jid_free(st->to);
    buf_chunk_unref(st->wire);
    free(st);
}

struct stanza *
stanza_copy(const struct stanza *st)
{
    struct xml_tree *tree = xml_tree_new();
    struct stanza *c;

    xml_copy(tree, NULL, st->el);
    c = stanza_wrap(tree, st->kind);
    c->id = st->id;
    c->from = st->from != NULL ? jid_dup(st->from) : NULL;
    c->to = st->to != NULL ? jid_dup(st->to) : NULL;
    return c;
}

void
stanza_compact(struct stanza *st)
{
    st->tree = xml_tree_compact(st->tree);
    st->el = st->tree->root;
    st->type = xml_attr(st->el, "type");
    st->sid = xml_attr(st->el, "id");
}

static void
stanza_set_addr(struct stanza *st, const char *attr, struct jid **field, const struct jid *jid)
{
    /* jid may be *field itself: copy before freeing. */
    struct jid *copy = jid != NULL ? jid_dup(jid) : NULL;

    if (copy != NULL)
        xml_set_attr(st->tree, st->el, NULL, attr, copy->full);
    else
        xml_del_attr(st->el, NULL, attr);
    jid_free(*field);
    *field = copy;
    stanza_touched(st);
}

void
stanza_set_from(struct stanza *st, const struct jid *jid)
{
    stanza_set_addr(st, "from", &st->from, jid);
}

void
stanza_set_to(struct stanza *st, const struct jid *jid)
{
    stanza_set_addr(st, "to", &st->to, jid);
}

/* Sets or (value NULL) removes a plain attribute that st keeps a pointer to. */
static void
stanza_set_plain(struct stanza *st, const char *attr, const char **field, const char *value)
{
    if (value != NULL)
        xml_set_attr(st->tree, st->el, NULL, attr, value);
    else
        xml_del_attr(st->el, NULL, attr);
    *field = xml_attr(st->el, attr);
    stanza_touched(st);
}

void
stanza_set_type(struct stanza *st, const char *type)
{
    stanza_set_plain(st, "type", &st->type, type);
}

void
stanza_set_id(struct stanza *st, const char *id)
{
    stanza_set_plain(st, "id", &st->sid, id);
}

void
stanza_touched(struct stanza *st)
{
    buf_chunk_unref(st->wire);
    st->wire = NULL;
    policy_label_free(st->label);
    st->label = NULL;
    free(st->label_marking);
    st->label_marking = NULL;
    st->label_state = 0;
    /* The tree may have been edited by hand: keep the cached pointers honest. */
    st->type = xml_attr(st->el, "type");
    st->sid = xml_attr(st->el, "id");
}

struct buf_chunk *
stanza_wire(struct stanza *st)
{
    struct buf b;

    if (st->wire == NULL) {
        buf_init(&b);
        xml_serialize(st->el, XMPP_NS_CLIENT, &b);
        st->wire = buf_chunk_from_buf(&b);
        buf_free(&b);
    }
    return st->wire;
}

struct stanza *
stanza_error_reply(const struct stanza *st, const struct jid *from_override, const char *etype,
                   const char *cond, const char *text)
{
    struct stanza *e = stanza_new(st->kind, from_override != NULL ? from_override : st->to,
                                  st->from, "error", st->sid);
    struct xml_node *err = xml_elem_new(e->tree, e->el, NULL, "error");
    struct xml_node *t;

    e->id = st->id;
    xml_set_attr(e->tree, err, NULL, "type", etype);
    xml_elem_new(e->tree, err, XMPP_NS_STANZAS, cond);
    if (text != NULL) {
        t = xml_elem_new(e->tree, err, XMPP_NS_STANZAS, "text");
        xml_add_text(e->tree, t, text, strlen(text));
    }
    return e;
}

struct stanza *
stanza_iq_result(const struct stanza *iq)
{
    struct stanza *r = stanza_new(STANZA_IQ, iq->to, iq->from, "result", iq->sid);

    r->id = iq->id;
    return r;
}

struct xml_node *
stanza_iq_payload(const struct stanza *iq)
{
    return xml_child(iq->el, NULL, NULL);
}

bool
stanza_iq_payload_ok(const struct stanza *iq)
{
    const struct xml_node *p = xml_child(iq->el, NULL, NULL);

    return p != NULL && xml_next(p, NULL, NULL) == NULL;
}
