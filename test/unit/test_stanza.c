/* SPDX-License-Identifier: Apache-2.0 */
/* test_stanza.c - wrapping parsed trees as stanzas (kinds, addresses, iq types),
 * constructors, setters and the cached wire form, copies, error replies that
 * leak no payload, iq results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jid.h"
#include "core/xml.h"
#include "node/stanza.h"

static struct xml_tree *
parse(const char *doc)
{
    struct xml_tree *t = NULL;
    char err[256] = "";

    if (xml_parse_doc(doc, strlen(doc), &t, err, sizeof err) != PAL_OK)
        fail_msg("parse failed: %s", err);
    return t;
}

static struct stanza *
wrap_ok(const char *doc)
{
    struct stanza *st = NULL;
    const char *cond = "unset";

    assert_int_equal(stanza_from_tree(parse(doc), &st, &cond), PAL_OK);
    assert_non_null(st);
    return st;
}

static const char *
wrap_fails(const char *doc)
{
    struct stanza *st = (struct stanza *)1;
    const char *cond = NULL;

    assert_int_equal(stanza_from_tree(parse(doc), &st, &cond), PAL_EMALFORMED);
    assert_null(st);
    assert_non_null(cond);
    return cond;
}

static char *
wire_str(struct stanza *st)
{
    struct buf_chunk *c = stanza_wire(st);

    return strndup(c->data, c->len);
}

static struct jid *
jid(const char *s)
{
    struct jid *j = NULL;

    assert_int_equal(jid_parse(s, &j), PAL_OK);
    return j;
}

static void
test_stanza_from_tree_message(void **state)
{
    struct stanza *st = wrap_ok("<message xmlns='jabber:client' from='alice@example.com/a' "
                                "to='bob@example.com' type='chat' id='m1'><body>hi</body>"
                                "</message>");

    (void)state;
    assert_int_equal(st->kind, STANZA_MESSAGE);
    assert_int_equal(st->refs, 1);
    assert_int_equal(st->id, 0);
    assert_string_equal(st->type, "chat");
    assert_string_equal(st->sid, "m1");
    assert_string_equal(st->from->full, "alice@example.com/a");
    assert_string_equal(st->to->full, "bob@example.com");
    assert_null(st->to->resource);
    assert_ptr_equal(st->el, st->tree->root);
    assert_null(st->wire);
    stanza_unref(st);
}

static void
test_stanza_from_tree_presence_and_iq(void **state)
{
    struct stanza *p = wrap_ok("<presence xmlns='jabber:client'/>");
    struct stanza *q = wrap_ok("<iq xmlns='jabber:client' type='get' id='q'>"
                               "<query xmlns='jabber:iq:roster'/></iq>");
    const char *types[] = {"get", "set", "result", "error"};
    char doc[128];
    size_t i;

    (void)state;
    assert_int_equal(p->kind, STANZA_PRESENCE);
    assert_null(p->type);
    assert_null(p->sid);
    assert_null(p->from);
    assert_null(p->to);
    assert_int_equal(q->kind, STANZA_IQ);
    assert_string_equal(stanza_iq_payload(q)->ns, "jabber:iq:roster");
    stanza_unref(p);
    stanza_unref(q);
    for (i = 0; i < 4; i++) {
        snprintf(doc, sizeof doc, "<iq xmlns='jabber:client' type='%s' id='x'/>", types[i]);
        stanza_unref(wrap_ok(doc));
    }
}

static void
test_stanza_from_tree_rejects_other_elements(void **state)
{
    (void)state;
    assert_string_equal(wrap_fails("<message xmlns='jabber:server'/>"), "unsupported-stanza-type");
    assert_string_equal(wrap_fails("<message/>"), "unsupported-stanza-type");
    assert_string_equal(wrap_fails("<foo xmlns='jabber:client'/>"), "unsupported-stanza-type");
    assert_string_equal(wrap_fails("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
                        "unsupported-stanza-type");
}

static void
test_stanza_from_tree_rejects_bad_iq_type(void **state)
{
    (void)state;
    assert_string_equal(wrap_fails("<iq xmlns='jabber:client' id='1'><query xmlns='x'/></iq>"),
                        "bad-format");
    assert_string_equal(wrap_fails("<iq xmlns='jabber:client' type='GET' id='1'/>"),
                        "bad-format");
    assert_string_equal(wrap_fails("<iq xmlns='jabber:client' type='' id='1'/>"), "bad-format");
}

static void
test_stanza_from_tree_rejects_bad_jids(void **state)
{
    (void)state;
    assert_string_equal(wrap_fails("<message xmlns='jabber:client' to='@example.com'/>"),
                        "jid-malformed");
    assert_string_equal(wrap_fails("<presence xmlns='jabber:client' from='a@'/>"),
                        "jid-malformed");
    assert_string_equal(wrap_fails("<message xmlns='jabber:client' to=''/>"), "jid-malformed");
}

static void
test_stanza_from_tree_null_tree(void **state)
{
    struct stanza *st = NULL;
    const char *cond = NULL;
    struct xml_tree *empty = xml_tree_new();

    (void)state;
    assert_int_equal(stanza_from_tree(empty, &st, &cond), PAL_EMALFORMED);
    assert_string_equal(cond, "unsupported-stanza-type");
    assert_int_equal(stanza_from_tree(NULL, &st, &cond), PAL_EMALFORMED);
}

static void
test_stanza_new_and_wire(void **state)
{
    struct jid *from = jid("alice@example.com/a");
    struct jid *to = jid("bob@example.com");
    struct stanza *st = stanza_new(STANZA_MESSAGE, from, to, "chat", "m1");
    struct buf_chunk *w;
    char *s;

    (void)state;
    assert_int_equal(st->kind, STANZA_MESSAGE);
    assert_string_equal(st->type, "chat");
    assert_string_equal(st->sid, "m1");
    assert_string_equal(st->from->full, "alice@example.com/a");
    assert_ptr_not_equal(st->from, from);
    s = wire_str(st);
    assert_string_equal(s, "<message from=\"alice@example.com/a\" to=\"bob@example.com\" "
                           "type=\"chat\" id=\"m1\"/>");
    free(s);
    w = stanza_wire(st);
    assert_ptr_equal(stanza_wire(st), w); /* cached */
    stanza_unref(st);
    st = stanza_new(STANZA_PRESENCE, NULL, NULL, NULL, NULL);
    s = wire_str(st);
    assert_string_equal(s, "<presence/>");
    free(s);
    stanza_unref(st);
    jid_free(from);
    jid_free(to);
}

static void
test_stanza_setters_update_attrs_and_drop_wire(void **state)
{
    struct stanza *st = wrap_ok("<message xmlns='jabber:client' from='alice@example.com/a' "
                                "to='bob@example.com' id='m1'/>");
    struct jid *bob = jid("bob@example.com/phone");
    struct buf_chunk *w;
    char *s;

    (void)state;
    w = buf_chunk_ref(stanza_wire(st)); /* a connection holding the old form */
    stanza_set_to(st, bob);
    assert_null(st->wire);
    assert_string_equal(st->to->full, "bob@example.com/phone");
    assert_string_equal(xml_attr(st->el, "to"), "bob@example.com/phone");
    stanza_set_from(st, NULL);
    assert_null(st->from);
    assert_null(xml_attr(st->el, "from"));
    stanza_set_type(st, "headline");
    assert_string_equal(st->type, "headline");
    s = wire_str(st);
    assert_string_equal(s, "<message to=\"bob@example.com/phone\" id=\"m1\" type=\"headline\"/>");
    free(s);
    stanza_set_type(st, NULL);
    assert_null(st->type);
    /* Setting an address from the stanza's own field is safe. */
    stanza_set_to(st, st->to);
    assert_string_equal(st->to->full, "bob@example.com/phone");
    assert_string_equal(w->data, "<message from=\"alice@example.com/a\" to=\"bob@example.com\" "
                                 "id=\"m1\"/>");
    buf_chunk_unref(w);
    jid_free(bob);
    stanza_unref(st);
}

static void
test_stanza_touched_rereads_type_and_id(void **state)
{
    struct stanza *st = wrap_ok("<message xmlns='jabber:client' id='m1'/>");
    char *s;

    (void)state;
    (void)stanza_wire(st);
    xml_set_attr(st->tree, st->el, NULL, "type", "chat");
    xml_elem_new(st->tree, st->el, NULL, "body");
    stanza_touched(st);
    assert_null(st->wire);
    assert_string_equal(st->type, "chat");
    s = wire_str(st);
    assert_string_equal(s, "<message id=\"m1\" type=\"chat\"><body/></message>");
    free(s);
    stanza_unref(st);
}

static void
test_stanza_copy_is_deep(void **state)
{
    struct stanza *st = wrap_ok("<message xmlns='jabber:client' from='alice@example.com/a' "
                                "to='bob@example.com' type='chat' id='m1'><body>hi</body>"
                                "</message>");
    struct stanza *c;
    struct jid *carol = jid("carol@example.com");
    char *a;
    char *b;

    (void)state;
    st->id = 42;
    c = stanza_copy(st);
    assert_int_equal(c->refs, 1);
    assert_int_equal(c->id, 42);
    assert_ptr_not_equal(c->tree, st->tree);
    assert_string_equal(c->type, "chat");
    assert_string_equal(c->sid, "m1");
    a = wire_str(st);
    b = wire_str(c);
    assert_string_equal(a, b);
    free(b);
    stanza_set_to(c, carol);
    xml_unlink(xml_child(c->el, NULL, "body"));
    stanza_touched(c);
    b = wire_str(c);
    assert_string_not_equal(a, b);
    assert_string_equal(st->to->full, "bob@example.com");
    assert_non_null(xml_child(st->el, NULL, "body"));
    free(a);
    free(b);
    jid_free(carol);
    stanza_unref(c);
    stanza_unref(st);
}

static void
test_stanza_ref_unref(void **state)
{
    struct stanza *st = stanza_new(STANZA_IQ, NULL, NULL, "get", "1");

    (void)state;
    assert_ptr_equal(stanza_ref(st), st);
    assert_int_equal(st->refs, 2);
    stanza_unref(st);
    assert_int_equal(st->refs, 1);
    stanza_unref(st);
    stanza_unref(NULL);
}

static void
test_stanza_error_reply_swaps_and_hides_payload(void **state)
{
    struct stanza *st = wrap_ok("<message xmlns='jabber:client' from='alice@example.com/a' "
                                "to='bob@example.com' type='chat' id='m1'><body>secret</body>"
                                "</message>");
    struct stanza *e;
    struct xml_node *err;
    char *s;

    (void)state;
    st->id = 7;
    e = stanza_error_reply(st, NULL, "cancel", "service-unavailable", NULL);
    assert_int_equal(e->kind, STANZA_MESSAGE);
    assert_int_equal(e->id, 7);
    assert_string_equal(e->type, "error");
    assert_string_equal(e->sid, "m1");
    assert_string_equal(e->from->full, "bob@example.com");
    assert_string_equal(e->to->full, "alice@example.com/a");
    err = xml_child(e->el, XMPP_NS_CLIENT, "error");
    assert_non_null(err);
    assert_string_equal(xml_attr(err, "type"), "cancel");
    assert_non_null(xml_child(err, XMPP_NS_STANZAS, "service-unavailable"));
    assert_null(xml_child(err, XMPP_NS_STANZAS, "text"));
    s = wire_str(e);
    assert_null(strstr(s, "secret"));
    assert_non_null(strstr(s, "<error type=\"cancel\"><service-unavailable "
                              "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error>"));
    free(s);
    stanza_unref(e);
    stanza_unref(st);
}

static void
test_stanza_error_reply_override_and_text(void **state)
{
    struct stanza *st = wrap_ok("<iq xmlns='jabber:client' from='alice@example.com/a' "
                                "type='set' id='q1'><vCard xmlns='vcard-temp'/></iq>");
    struct jid *domain = jid("example.com");
    struct stanza *e = stanza_error_reply(st, domain, "cancel", "not-allowed", "read-only");
    struct xml_node *err = xml_child(e->el, NULL, "error");
    struct xml_node *text = xml_child(err, XMPP_NS_STANZAS, "text");

    (void)state;
    assert_int_equal(e->kind, STANZA_IQ);
    assert_string_equal(e->from->full, "example.com");
    assert_string_equal(e->to->full, "alice@example.com/a");
    assert_non_null(xml_child(err, XMPP_NS_STANZAS, "not-allowed"));
    assert_non_null(text);
    assert_string_equal(xml_text(e->tree, text), "read-only");
    assert_null(xml_child(e->el, NULL, "vCard"));
    stanza_unref(e);
    /* No 'to' on the original: the reply has no 'from'. */
    stanza_set_to(st, NULL);
    e = stanza_error_reply(st, NULL, "modify", "bad-request", NULL);
    assert_null(e->from);
    assert_null(xml_attr(e->el, "from"));
    stanza_unref(e);
    jid_free(domain);
    stanza_unref(st);
}

static void
test_stanza_iq_result_and_payload(void **state)
{
    struct stanza *q = wrap_ok("<iq xmlns='jabber:client' from='alice@example.com/a' "
                               "to='example.com' type='get' id='p1'> <ping xmlns='urn:xmpp:ping'/>"
                               "</iq>");
    struct stanza *r;
    char *s;

    (void)state;
    assert_string_equal(stanza_iq_payload(q)->name, "ping");
    r = stanza_iq_result(q);
    assert_int_equal(r->kind, STANZA_IQ);
    assert_string_equal(r->type, "result");
    assert_string_equal(r->sid, "p1");
    assert_null(stanza_iq_payload(r));
    s = wire_str(r);
    assert_string_equal(s, "<iq from=\"example.com\" to=\"alice@example.com/a\" type=\"result\" "
                           "id=\"p1\"/>");
    free(s);
    stanza_unref(r);
    stanza_unref(q);
}

static void
test_stanza_iq_payload_ok_needs_exactly_one_child(void **state)
{
    struct stanza *none = wrap_ok("<iq xmlns='jabber:client' type='get' id='1'> </iq>");
    struct stanza *one = wrap_ok("<iq xmlns='jabber:client' type='get' id='1'>x<q xmlns='a'/>"
                                 "y</iq>");
    struct stanza *two = wrap_ok("<iq xmlns='jabber:client' type='set' id='1'><q xmlns='a'/>"
                                 "<q xmlns='b'/></iq>");

    (void)state;
    assert_false(stanza_iq_payload_ok(none));
    assert_null(stanza_iq_payload(none));
    assert_true(stanza_iq_payload_ok(one));
    assert_false(stanza_iq_payload_ok(two));
    stanza_unref(none);
    stanza_unref(one);
    stanza_unref(two);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stanza_from_tree_message),
        cmocka_unit_test(test_stanza_from_tree_presence_and_iq),
        cmocka_unit_test(test_stanza_from_tree_rejects_other_elements),
        cmocka_unit_test(test_stanza_from_tree_rejects_bad_iq_type),
        cmocka_unit_test(test_stanza_from_tree_rejects_bad_jids),
        cmocka_unit_test(test_stanza_from_tree_null_tree),
        cmocka_unit_test(test_stanza_new_and_wire),
        cmocka_unit_test(test_stanza_setters_update_attrs_and_drop_wire),
        cmocka_unit_test(test_stanza_touched_rereads_type_and_id),
        cmocka_unit_test(test_stanza_copy_is_deep),
        cmocka_unit_test(test_stanza_ref_unref),
        cmocka_unit_test(test_stanza_error_reply_swaps_and_hides_payload),
        cmocka_unit_test(test_stanza_error_reply_override_and_text),
        cmocka_unit_test(test_stanza_iq_result_and_payload),
        cmocka_unit_test(test_stanza_iq_payload_ok_needs_exactly_one_child),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
