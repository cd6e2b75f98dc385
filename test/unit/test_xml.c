/* SPDX-License-Identifier: Apache-2.0 */
/* test_xml.c - element trees, the serializer and the document parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xml.h"

/* Serializes el with parent_ns into a NUL-terminated string; caller frees. */
static char *
ser(const struct xml_node *el, const char *parent_ns)
{
    struct buf b;
    char *s;

    buf_init(&b);
    xml_serialize(el, parent_ns, &b);
    s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

static struct xml_tree *
parse_ok(const char *doc)
{
    struct xml_tree *t = NULL;
    char err[256] = "";

    if (xml_parse_doc(doc, strlen(doc), &t, err, sizeof(err)) != PAL_OK)
        fail_msg("parse failed: %s", err);
    assert_non_null(t);
    assert_non_null(t->root);
    return t;
}

static bool
str_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int
attr_count(const struct xml_node *el)
{
    const struct xml_attr *a;
    int n = 0;

    for (a = el->attrs; a != NULL; a = a->next)
        n++;
    return n;
}

/* Structural equality: names, namespaces, attributes (any order), text. */
static bool
tree_equal(const struct xml_node *a, const struct xml_node *b)
{
    const struct xml_attr *at;
    const struct xml_node *ca;
    const struct xml_node *cb;

    if (a->type != b->type)
        return false;
    if (a->type == XML_TEXT)
        return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
    if (!str_same(a->ns, b->ns) || !str_same(a->name, b->name))
        return false;
    if (attr_count(a) != attr_count(b))
        return false;
    for (at = a->attrs; at != NULL; at = at->next)
        if (!str_same(xml_attr_ns(b, at->ns, at->name), at->value))
            return false;
    for (ca = a->children, cb = b->children; ca != NULL && cb != NULL; ca = ca->next, cb = cb->next)
        if (!tree_equal(ca, cb))
            return false;
    return ca == NULL && cb == NULL;
}

static void
test_xml_build_and_query(void **state)
{
    struct xml_tree *t = xml_tree_new();
    struct xml_node *msg;
    struct xml_node *body;
    struct xml_node *x;

    (void)state;
    msg = xml_elem_new(t, NULL, "jabber:client", "message");
    assert_ptr_equal(t->root, msg);
    xml_set_attr(t, msg, NULL, "to", "bob@localhost");
    xml_set_attr(t, msg, NULL, "type", "chat");
    xml_set_attr(t, msg, NULL, "to", "carol@localhost");
    xml_set_attr(t, msg, XML_NS_XML, "lang", "en");
    body = xml_elem_new(t, msg, NULL, "body");
    assert_string_equal(body->ns, "jabber:client");
    xml_add_text(t, body, "hel", 3);
    xml_add_text(t, body, "lo", 2);
    assert_ptr_equal(body->children, body->last_child);
    x = xml_elem_new(t, msg, "urn:xmpp:sec-label:0", "securitylabel");

    assert_string_equal(xml_attr(msg, "to"), "carol@localhost");
    assert_null(xml_attr(msg, "lang"));
    assert_string_equal(xml_attr_ns(msg, XML_NS_XML, "lang"), "en");
    assert_int_equal(attr_count(msg), 3);
    assert_ptr_equal(xml_child(msg, NULL, "body"), body);
    assert_ptr_equal(xml_child(msg, "urn:xmpp:sec-label:0", NULL), x);
    assert_null(xml_child(msg, "jabber:client", "securitylabel"));
    assert_ptr_equal(xml_next(body, NULL, NULL), x);
    assert_null(xml_next(x, NULL, NULL));
    assert_string_equal(xml_text(t, body), "hello");
    assert_string_equal(xml_text(t, msg), "");

    xml_del_attr(msg, NULL, "type");
    assert_null(xml_attr(msg, "type"));
    xml_del_attr(msg, NULL, "nonexistent");
    assert_int_equal(attr_count(msg), 2);

    xml_unlink(body);
    assert_ptr_equal(msg->children, x);
    assert_ptr_equal(msg->last_child, x);
    xml_unlink(x);
    assert_null(msg->children);
    assert_null(msg->last_child);
    xml_tree_free(t);
    xml_tree_free(NULL);
}

static void
test_xml_text_concatenates_direct_text(void **state)
{
    struct xml_tree *t = parse_ok("<a>one<b>inner</b>two<c/>three</a>");

    (void)state;
    assert_string_equal(xml_text(t, t->root), "onetwothree");
    assert_string_equal(xml_text(NULL, xml_child(t->root, NULL, "b")), "inner");
    xml_prepend_text(t, t->root, "zero", 4);
    assert_string_equal(xml_text(t, t->root), "zeroonetwothree");
    xml_tree_free(t);
}

static void
test_xml_prepend_text_to_empty_element(void **state)
{
    struct xml_tree *t = xml_tree_new();
    struct xml_node *e = xml_elem_new(t, NULL, "", "e");
    char *s;

    (void)state;
    xml_prepend_text(t, e, "b", 1);
    xml_prepend_text(t, e, "a", 1);
    assert_ptr_equal(e->children, e->last_child);
    assert_string_equal(xml_text(NULL, e), "ab");
    s = ser(e, NULL);
    assert_string_equal(s, "<e>ab</e>");
    free(s);
    xml_tree_free(t);
}

static void
test_xml_serialize_namespaces_only_where_needed(void **state)
{
    struct xml_tree *t = xml_tree_new();
    struct xml_node *iq;
    struct xml_node *q;
    struct xml_node *item;
    char *s;

    (void)state;
    iq = xml_elem_new(t, NULL, "jabber:client", "iq");
    xml_set_attr(t, iq, NULL, "type", "result");
    q = xml_elem_new(t, iq, "jabber:iq:roster", "query");
    item = xml_elem_new(t, q, NULL, "item");
    xml_set_attr(t, item, NULL, "jid", "bob@localhost");
    xml_elem_new(t, iq, "", "nons");

    s = ser(iq, "jabber:client");
    assert_string_equal(s, "<iq type=\"result\"><query xmlns=\"jabber:iq:roster\">"
                           "<item jid=\"bob@localhost\"/></query><nons xmlns=\"\"/></iq>");
    free(s);
    s = ser(iq, "jabber:server");
    assert_string_equal(s, "<iq xmlns=\"jabber:client\" type=\"result\"><query "
                           "xmlns=\"jabber:iq:roster\"><item jid=\"bob@localhost\"/></query>"
                           "<nons xmlns=\"\"/></iq>");
    free(s);
    xml_tree_free(t);
}

static void
test_xml_serialize_xml_lang_and_prefixed_attrs(void **state)
{
    struct xml_tree *t = xml_tree_new();
    struct xml_node *m;
    char *s;

    (void)state;
    m = xml_elem_new(t, NULL, "jabber:client", "message");
    xml_set_attr(t, m, XML_NS_XML, "lang", "de");
    xml_set_attr(t, m, "urn:example:a", "x", "1");
    xml_set_attr(t, m, "urn:example:b", "y", "2");
    xml_set_attr(t, m, "urn:example:a", "z", "3");
    s = ser(m, "jabber:client");
    assert_string_equal(s, "<message xmlns:a0=\"urn:example:a\" xmlns:a1=\"urn:example:b\" "
                           "xml:lang=\"de\" a0:x=\"1\" a1:y=\"2\" a0:z=\"3\"/>");
    free(s);
    xml_tree_free(t);
}

static void
test_xml_serialize_escapes(void **state)
{
    struct xml_tree *t = xml_tree_new();
    struct xml_node *b;
    char *s;
    const char *text = "a & b < c > d \" ' \r end";

    (void)state;
    b = xml_elem_new(t, NULL, "jabber:client", "body");
    xml_set_attr(t, b, NULL, "v", "x\"y'z&<>\r\n");
    xml_add_text(t, b, text, strlen(text));
    s = ser(b, "jabber:client");
    assert_string_equal(s, "<body v=\"x&quot;y&apos;z&amp;&lt;&gt;&#13;&#10;\">"
                           "a &amp; b &lt; c &gt; d \" ' &#13; end</body>");
    free(s);
    xml_tree_free(t);
}

static void
test_xml_round_trip_gives_same_tree(void **state)
{
    static const char *const docs[] = {
        "<message xmlns='jabber:client' to='bob@localhost' xml:lang='en'>"
        "<body>x &amp; y &lt; z &gt; &quot;q&quot; &apos;a&apos; cr&#13;lf&#10;</body>"
        "<securitylabel xmlns='urn:xmpp:sec-label:0'><displaymarking fgcolor='black' "
        "bgcolor='red'>SECRET</displaymarking><label><esssecuritylabel "
        "xmlns='urn:xmpp:sec-label:ess:0'>MQYCAQQGASk=</esssecuritylabel></label>"
        "</securitylabel><nons xmlns=''><deeper/></nons></message>",
        "<p:a xmlns:p='urn:p' xmlns:q='urn:q' q:attr='1' p:attr='2' attr='3'><q:b/>"
        "<c xmlns='urn:c' q:z='tab&#9;nl&#10;cr&#13;'>t</c></p:a>",
        "<r>mixed <i>content</i> with   spaces\n and lines</r>",
    };
    size_t i;
    struct xml_tree *t1;
    struct xml_tree *t2;
    char *s1;
    char *s2;

    (void)state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        t1 = parse_ok(docs[i]);
        s1 = ser(t1->root, NULL);
        t2 = parse_ok(s1);
        assert_true(tree_equal(t1->root, t2->root));
        s2 = ser(t2->root, NULL);
        assert_string_equal(s1, s2);
        free(s1);
        free(s2);
        xml_tree_free(t1);
        xml_tree_free(t2);
    }
}

static void
test_xml_round_trip_declares_namespace_once(void **state)
{
    struct xml_tree *t = parse_ok("<stream:x xmlns:stream='urn:s' xmlns='jabber:client'>"
                                  "<message><body>hi</body></message></stream:x>");
    struct xml_node *m = xml_child(t->root, "jabber:client", "message");
    char *s;

    (void)state;
    assert_non_null(m);
    assert_string_equal(xml_child(m, NULL, "body")->ns, "jabber:client");
    s = ser(m, "jabber:client");
    assert_string_equal(s, "<message><body>hi</body></message>");
    free(s);
    s = ser(m, NULL);
    assert_string_equal(s, "<message xmlns=\"jabber:client\"><body>hi</body></message>");
    free(s);
    xml_tree_free(t);
}

static void
test_xml_copy_is_deep_and_independent(void **state)
{
    struct xml_tree *src = parse_ok("<a xmlns='urn:a' k='v'><b>t</b><c xmlns='urn:c'/></a>");
    struct xml_tree *dst = xml_tree_new();
    struct xml_node *wrap;
    struct xml_node *cp;
    char *s;

    (void)state;
    wrap = xml_elem_new(dst, NULL, "urn:w", "wrap");
    cp = xml_copy(dst, wrap, src->root);
    xml_tree_free(src);
    assert_ptr_equal(cp->parent, wrap);
    s = ser(wrap, NULL);
    assert_string_equal(s, "<wrap xmlns=\"urn:w\"><a xmlns=\"urn:a\" k=\"v\"><b>t</b>"
                           "<c xmlns=\"urn:c\"/></a></wrap>");
    free(s);
    xml_tree_free(dst);
}

static void
test_xml_parse_doc_skips_comments_and_pis(void **state)
{
    struct xml_tree *t = parse_ok("<?xml version='1.0' encoding='UTF-8'?>\n"
                                  "<!-- vendor comment -->\n"
                                  "<spif><!-- inner --><?pi data?><x>1</x></spif>\n<!-- end -->");
    char *s;

    (void)state;
    s = ser(t->root, NULL);
    assert_string_equal(s, "<spif><x>1</x></spif>");
    free(s);
    xml_tree_free(t);
}

static void
test_xml_parse_doc_refuses_dtds(void **state)
{
    static const char *const docs[] = {
        "<?xml version='1.0'?>\n<!DOCTYPE a>\n<a/>",
        "<!DOCTYPE a [\n<!ENTITY x 'boom'>\n]>\n<a>&x;</a>",
        "<!DOCTYPE a [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]><a>&lol2;</a>",
        "<!DOCTYPE a SYSTEM 'file:///etc/passwd'><a/>",
    };
    size_t i;
    struct xml_tree *t;
    char err[256];

    (void)state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        t = (struct xml_tree *)1;
        err[0] = '\0';
        assert_int_equal(xml_parse_doc(docs[i], strlen(docs[i]), &t, err, sizeof(err)),
                         PAL_EMALFORMED);
        assert_null(t);
        assert_non_null(strstr(err, "DTDs are not allowed"));
        assert_memory_equal(err, "line ", 5);
    }
    assert_int_equal(xml_parse_doc(docs[0], strlen(docs[0]), &t, err, sizeof(err)),
                     PAL_EMALFORMED);
    assert_string_equal(err, "line 2: DTDs are not allowed");
}

static void
test_xml_parse_doc_reports_line_of_syntax_error(void **state)
{
    const char *doc = "<a>\n<b>\n</a>";
    struct xml_tree *t;
    char err[256];

    (void)state;
    assert_int_equal(xml_parse_doc(doc, strlen(doc), &t, err, sizeof(err)), PAL_EMALFORMED);
    assert_memory_equal(err, "line 3: ", 8);
    assert_int_equal(xml_parse_doc("", 0, &t, err, sizeof(err)), PAL_EMALFORMED);
    assert_int_equal(xml_parse_doc("<a>&undefined;</a>", 18, &t, err, sizeof(err)),
                     PAL_EMALFORMED);
}

static void
test_xml_parse_file_names_the_file(void **state)
{
    char path[] = "/tmp/test_xml_XXXXXX";
    const char *doc = "<spif xmlns='urn:spif'>\n<!-- c -->\n<a/>\n</spif>\n";
    const char *bad = "<spif>\n<a>\n";
    struct xml_tree *t;
    char err[512];
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
    assert_int_equal(xml_parse_file(path, &t, err, sizeof(err)), PAL_OK);
    assert_string_equal(t->root->ns, "urn:spif");
    assert_non_null(xml_child(t->root, "urn:spif", "a"));
    xml_tree_free(t);

    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, bad, strlen(bad), 0), (ssize_t)strlen(bad));
    assert_int_equal(xml_parse_file(path, &t, err, sizeof(err)), PAL_EMALFORMED);
    assert_memory_equal(err, path, strlen(path));
    assert_non_null(strstr(err, ": line 3: "));
    close(fd);
    unlink(path);

    assert_int_not_equal(xml_parse_file(path, &t, err, sizeof(err)), PAL_OK);
    assert_null(t);
    assert_memory_equal(err, path, strlen(path));
    assert_non_null(strstr(err, "No such file"));
}

static void
test_xml_parse_doc_many_entities_in_text(void **state)
{
    /* Expat hands text over in many small pieces; the tree gets one node. */
    size_t n = 20000;
    size_t i;
    char *doc = malloc(n * 5 + 16);
    char *p = doc;
    struct xml_tree *t;

    (void)state;
    p += sprintf(p, "<a>");
    for (i = 0; i < n; i++)
        p += sprintf(p, "&amp;");
    p += sprintf(p, "</a>");
    t = parse_ok(doc);
    assert_ptr_equal(t->root->children, t->root->last_child);
    assert_int_equal(t->root->children->text_len, n);
    xml_tree_free(t);
    free(doc);
}

/* xml_set_raw: a pre-serialized subtree is written as given, travels with
 * xml_copy, and is dropped by any change below it. */
static void
test_xml_raw_subtree(void **state)
{
    (void)state;
    struct xml_tree *lab = parse_ok("<securitylabel xmlns='urn:x:l'><label>L</label></securitylabel>");
    char *exact = ser(lab->root, "jabber:client");
    struct xml_tree *t = parse_ok("<message xmlns='jabber:client'><body>hi</body></message>");
    struct xml_node *c = xml_copy(t, t->root, lab->root);
    /* a marker only raw output can produce: proves the raw bytes are used */
    xml_set_raw(t, c, "<securitylabel xmlns='urn:x:l'><raw/></securitylabel>", 53);
    char *s = ser(t->root, NULL);
    assert_non_null(strstr(s, "<raw/>"));
    free(s);
    /* the same namespace as the parent: serialized normally */
    s = ser(c, "urn:x:l");
    assert_null(strstr(s, "<raw/>"));
    free(s);
    /* copied into another tree, the raw form comes along */
    struct xml_tree *t2 = xml_tree_new();
    xml_copy(t2, NULL, t->root);
    s = ser(t2->root, NULL);
    assert_non_null(strstr(s, "<raw/>"));
    free(s);
    /* a change below it (here: text in a child) drops it everywhere up */
    xml_add_text(t, xml_child(c, "urn:x:l", "label"), "2", 1);
    s = ser(t->root, NULL);
    assert_null(strstr(s, "<raw/>"));
    assert_non_null(strstr(s, "<label>L2</label>"));
    free(s);
    /* the real serialization set as raw gives identical output */
    struct xml_tree *t3 = parse_ok("<message xmlns='jabber:client'/>");
    struct xml_node *c3 = xml_copy(t3, t3->root, lab->root);
    char *plain = ser(t3->root, NULL);
    xml_set_raw(t3, c3, exact, strlen(exact));
    s = ser(t3->root, NULL);
    assert_string_equal(s, plain);
    free(s);
    free(plain);
    free(exact);
    xml_tree_free(lab);
    xml_tree_free(t);
    xml_tree_free(t2);
    xml_tree_free(t3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_build_and_query),
        cmocka_unit_test(test_xml_text_concatenates_direct_text),
        cmocka_unit_test(test_xml_prepend_text_to_empty_element),
        cmocka_unit_test(test_xml_serialize_namespaces_only_where_needed),
        cmocka_unit_test(test_xml_serialize_xml_lang_and_prefixed_attrs),
        cmocka_unit_test(test_xml_serialize_escapes),
        cmocka_unit_test(test_xml_round_trip_gives_same_tree),
        cmocka_unit_test(test_xml_round_trip_declares_namespace_once),
        cmocka_unit_test(test_xml_copy_is_deep_and_independent),
        cmocka_unit_test(test_xml_parse_doc_skips_comments_and_pis),
        cmocka_unit_test(test_xml_parse_doc_refuses_dtds),
        cmocka_unit_test(test_xml_parse_doc_reports_line_of_syntax_error),
        cmocka_unit_test(test_xml_parse_file_names_the_file),
        cmocka_unit_test(test_xml_parse_doc_many_entities_in_text),
        cmocka_unit_test(test_xml_raw_subtree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
