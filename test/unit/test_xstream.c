/* SPDX-License-Identifier: Apache-2.0 */
/* test_xstream.c - the XMPP stream parser: trickled input, every error class,
 * limits, suspend after <starttls/>, restarts and serializer round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/xml.h"
#include "core/xstream.h"

#define HEADER                                                                                     \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                  \
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' "               \
    "xml:lang='en'>"

#define MAX_STANZAS 16

struct rec {
    struct xstream *x;
    int opens;
    char to[64];
    char from[64];
    char version[16];
    char lang[16];
    char default_ns[64];
    bool has_id;
    int n_stanzas;
    char *stanzas[MAX_STANZAS];       /* serialized with the stream's namespace */
    struct xml_tree *trees[MAX_STANZAS];
    int closes;
    int errors;
    enum xstream_error err;
    char detail[256];
    const char *suspend_on;           /* local name of a stanza that suspends */
    bool is_restart_in_callback;
    bool is_hibernate_in_callback;    /* try xstream_hibernate from on_stanza */
    int hibernated_in_callback;       /* times that succeeded (must stay 0) */
};

static void
copy(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s != NULL ? s : "(null)");
}

static void
on_open(void *arg, const struct xstream_header *h)
{
    struct rec *r = arg;

    r->opens++;
    copy(r->to, sizeof(r->to), h->to);
    copy(r->from, sizeof(r->from), h->from);
    copy(r->version, sizeof(r->version), h->version);
    copy(r->lang, sizeof(r->lang), h->lang);
    copy(r->default_ns, sizeof(r->default_ns), h->default_ns);
    r->has_id = h->id != NULL;
}

static void
on_stanza(void *arg, struct xml_tree *t)
{
    struct rec *r = arg;
    struct buf b;

    assert_true(r->n_stanzas < MAX_STANZAS);
    buf_init(&b);
    xml_serialize(t->root, "jabber:client", &b);
    r->stanzas[r->n_stanzas] = buf_strdup(&b);
    r->trees[r->n_stanzas] = t;
    r->n_stanzas++;
    buf_free(&b);
    if (r->is_hibernate_in_callback && xstream_hibernate(r->x))
        r->hibernated_in_callback++;
    if (r->suspend_on != NULL && strcmp(t->root->name, r->suspend_on) == 0) {
        if (r->is_restart_in_callback)
            xstream_restart(r->x);
        else
            xstream_suspend(r->x);
    }
}

static void
on_close(void *arg)
{
    ((struct rec *)arg)->closes++;
}

static void
on_error(void *arg, enum xstream_error err, const char *detail)
{
    struct rec *r = arg;

    r->errors++;
    r->err = err;
    copy(r->detail, sizeof(r->detail), detail);
}

static const struct xstream_callbacks callbacks = {on_open, on_stanza, on_close, on_error};

static struct xstream_limits default_limits = {
    .max_stanza_bytes = 4096,
    .max_depth = 8,
    .max_attrs = 16,
};

static int
setup(void **state)
{
    struct rec *r = calloc(1, sizeof(*r));

    r->x = xstream_new(&default_limits, &callbacks, r);
    *state = r;
    return 0;
}

static int
teardown(void **state)
{
    struct rec *r = *state;
    int i;

    for (i = 0; i < r->n_stanzas; i++) {
        free(r->stanzas[i]);
        xml_tree_free(r->trees[i]);
    }
    xstream_free(r->x);
    free(r);
    return 0;
}

static size_t
feed_str(struct rec *r, const char *s)
{
    return xstream_feed(r->x, s, strlen(s));
}

static void
feed_all(struct rec *r, const char *s)
{
    assert_int_equal(feed_str(r, s), strlen(s));
}

static void
test_xstream_header_fields(void **state)
{
    struct rec *r = *state;

    feed_all(r, HEADER);
    assert_int_equal(r->opens, 1);
    assert_string_equal(r->to, "localhost");
    assert_string_equal(r->from, "(null)");
    assert_string_equal(r->version, "1.0");
    assert_string_equal(r->lang, "en");
    assert_string_equal(r->default_ns, "jabber:client");
    assert_false(r->has_id);
    assert_int_equal(r->errors, 0);
    assert_false(xstream_is_done(r->x));
}

static void
test_xstream_stanza_fed_byte_by_byte_arrives_immediately(void **state)
{
    struct rec *r = *state;
    const char *s = HEADER "<presence/><message to='a@b'><body>hi</body></message>";
    size_t i;
    size_t presence_end = strlen(HEADER "<presence/>");
    size_t total = strlen(s);

    for (i = 0; i < total; i++) {
        assert_int_equal(xstream_feed(r->x, s + i, 1), 1);
        if (i + 1 < presence_end)
            assert_int_equal(r->n_stanzas, 0);
        else if (i + 1 < total)
            assert_int_equal(r->n_stanzas, 1);
    }
    assert_int_equal(r->opens, 1);
    assert_int_equal(r->n_stanzas, 2);
    assert_string_equal(r->stanzas[0], "<presence/>");
    assert_string_equal(r->stanzas[1], "<message to=\"a@b\"><body>hi</body></message>");
}

static void
test_xstream_stanza_namespaces(void **state)
{
    struct rec *r = *state;
    struct xml_node *q;

    feed_all(r, HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                       "<iq type='get' id='1'><query xmlns='jabber:iq:roster'><item/></query></iq>"
                       "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                       "</stream:features>");
    assert_int_equal(r->n_stanzas, 3);
    assert_string_equal(r->trees[0]->root->ns, "urn:ietf:params:xml:ns:xmpp-tls");
    assert_string_equal(r->trees[0]->root->name, "starttls");
    assert_string_equal(r->trees[1]->root->ns, "jabber:client");
    q = xml_child(r->trees[1]->root, "jabber:iq:roster", "query");
    assert_non_null(q);
    assert_non_null(xml_child(q, "jabber:iq:roster", "item"));
    assert_string_equal(r->trees[2]->root->ns, XMPP_NS_STREAMS);
    assert_string_equal(r->stanzas[1], "<iq type=\"get\" id=\"1\"><query "
                                       "xmlns=\"jabber:iq:roster\"><item/></query></iq>");
}

static void
test_xstream_whitespace_between_stanzas_is_fine(void **state)
{
    struct rec *r = *state;

    feed_all(r, HEADER "\n  <presence/>\r\n\t \n<presence/>  ");
    assert_int_equal(r->n_stanzas, 2);
    assert_int_equal(r->errors, 0);
}

static void
test_xstream_close(void **state)
{
    struct rec *r = *state;
    const char *s = HEADER "<presence/></stream:stream>trailing";

    assert_int_equal(feed_str(r, s), strlen(s) - strlen("trailing"));
    assert_int_equal(r->n_stanzas, 1);
    assert_int_equal(r->closes, 1);
    assert_int_equal(r->errors, 0);
    assert_true(xstream_is_done(r->x));
    assert_int_equal(feed_str(r, "<presence/>"), 0);
    assert_int_equal(r->n_stanzas, 1);
}

/* Error classes. */

struct err_case {
    const char *input;
    enum xstream_error err;
    const char *detail_part;
};

static void
check_error_case(const struct err_case *c)
{
    struct rec r;
    size_t n;
    int i;

    memset(&r, 0, sizeof(r));
    r.x = xstream_new(&default_limits, &callbacks, &r);
    n = xstream_feed(r.x, c->input, strlen(c->input));
    if (r.errors != 1)
        fail_msg("no error for: %s", c->input);
    if (r.err != c->err)
        fail_msg("error %s (%s) instead of %s for: %s", xstream_error_condition(r.err),
                 r.detail, xstream_error_condition(c->err), c->input);
    if (c->detail_part != NULL && strstr(r.detail, c->detail_part) == NULL)
        fail_msg("detail '%s' lacks '%s'", r.detail, c->detail_part);
    assert_true(n < strlen(c->input) || c->err == XSTREAM_ERR_POLICY_VIOLATION);
    assert_true(xstream_is_done(r.x));
    /* Dead: nothing more is consumed or reported. */
    assert_int_equal(xstream_feed(r.x, "<presence/>", 11), 0);
    assert_int_equal(r.errors, 1);
    for (i = 0; i < r.n_stanzas; i++) {
        free(r.stanzas[i]);
        xml_tree_free(r.trees[i]);
    }
    xstream_free(r.x);
}

static void
test_xstream_restricted_xml(void **state)
{
    static const struct err_case cases[] = {
        {"<?xml version='1.0'?><!DOCTYPE stream:stream><stream:stream/>",
         XSTREAM_ERR_RESTRICTED_XML, "DOCTYPE"},
        {"<!DOCTYPE x [<!ENTITY a 'b'>]>", XSTREAM_ERR_RESTRICTED_XML, NULL},
        {"<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;'>]>"
         "<lolz>&lol1;</lolz>",
         XSTREAM_ERR_RESTRICTED_XML, NULL},
        {HEADER "<!-- hello -->", XSTREAM_ERR_RESTRICTED_XML, "comments"},
        {HEADER "<message><!-- in a stanza --></message>", XSTREAM_ERR_RESTRICTED_XML,
         "comments"},
        {HEADER "<?php echo 1; ?>", XSTREAM_ERR_RESTRICTED_XML, "processing instructions"},
        {HEADER "<message><?pi x?></message>", XSTREAM_ERR_RESTRICTED_XML, "processing"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error_case(&cases[i]);
}

static void
test_xstream_entity_declaration_is_restricted(void **state)
{
    /* The entity handler itself, reached only if DOCTYPE were let through,
     * is covered by restricted-xml from the DOCTYPE refusal; an entity
     * reference other than the five predefined ones is restricted XML too
     * (RFC 6120 §11.1). */
    static const struct err_case cases[] = {
        {"<!DOCTYPE s [<!ENTITY % p SYSTEM 'http://evil/x'>%p;]>", XSTREAM_ERR_RESTRICTED_XML,
         NULL},
        {HEADER "<message>&xxe;</message>", XSTREAM_ERR_RESTRICTED_XML, "undefined entity"},
        {HEADER "<message>&amp;&lt;&gt;&quot;&apos;&#65;</message><message>&boom;</message>",
         XSTREAM_ERR_RESTRICTED_XML, NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error_case(&cases[i]);
}

/* A stream header inside the stream is refused at its start tag instead of
 * waiting forever for an end tag that never comes. */
static void
test_xstream_nested_stream_header_is_refused(void **state)
{
    static const struct err_case cases[] = {
        {HEADER "<stream:stream xmlns='jabber:client' to='localhost' version='1.0'>",
         XSTREAM_ERR_BAD_FORMAT, "stream header inside"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error_case(&cases[i]);
}

static void
test_xstream_policy_violations(void **state)
{
    static const struct err_case cases[] = {
        {HEADER "<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>",
         XSTREAM_ERR_POLICY_VIOLATION, "deeper"},
        {HEADER "<m a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' a9='' a10='' a11='' a12='' "
                "a13='' a14='' a15='' a16='' a17=''/>",
         XSTREAM_ERR_POLICY_VIOLATION, "attributes"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error_case(&cases[i]);
}

static void
test_xstream_depth_at_limit_is_fine(void **state)
{
    struct rec *r = *state;

    /* max_depth 8: the stanza plus seven levels. */
    feed_all(r, HEADER "<a><b><c><d><e><f><g><h/></g></f></e></d></c></b></a>");
    assert_int_equal(r->errors, 0);
    assert_int_equal(r->n_stanzas, 1);
}

static void
test_xstream_oversize_stanza(void **state)
{
    struct rec *r = *state;
    char *big = malloc(6000);
    size_t i;

    feed_all(r, HEADER "<message><body>");
    memset(big, 'x', 6000);
    /* Text trickles in; the limit trips once the stanza passes 4096 bytes. */
    for (i = 0; i < 6000 && r->errors == 0; i += 500)
        xstream_feed(r->x, big, 500);
    assert_int_equal(r->errors, 1);
    assert_int_equal(r->err, XSTREAM_ERR_POLICY_VIOLATION);
    assert_true(i <= 4500);
    assert_int_equal(r->n_stanzas, 0);
    free(big);
}

static void
test_xstream_oversize_start_tag_without_events(void **state)
{
    struct rec *r = *state;
    char *big = malloc(3000);
    size_t i;

    /* One unfinished attribute value fires no handler at all. */
    feed_all(r, HEADER "<message to='");
    memset(big, 'x', 3000);
    for (i = 0; i < 3 && r->errors == 0; i++)
        xstream_feed(r->x, big, 3000);
    assert_int_equal(r->errors, 1);
    assert_int_equal(r->err, XSTREAM_ERR_POLICY_VIOLATION);
    assert_int_equal(i, 2);
    free(big);
}

static void
test_xstream_complete_oversize_stanza_in_one_read(void **state)
{
    struct rec *r = *state;
    struct buf b;

    buf_init(&b);
    buf_append_str(&b, HEADER "<message><body>");
    memset(buf_reserve(&b, 5000), 'y', 5000);
    buf_commit(&b, 5000);
    buf_append_str(&b, "</body></message>");
    xstream_feed(r->x, buf_head(&b), buf_used(&b));
    assert_int_equal(r->errors, 1);
    assert_int_equal(r->err, XSTREAM_ERR_POLICY_VIOLATION);
    assert_int_equal(r->n_stanzas, 0);
    buf_free(&b);
}

static void
test_xstream_invalid_namespace(void **state)
{
    static const struct err_case cases[] = {
        {"<stream:stream xmlns:stream='http://example.com/streams' xmlns='jabber:client'>",
         XSTREAM_ERR_INVALID_NAMESPACE, NULL},
        {"<stream xmlns='jabber:client'>", XSTREAM_ERR_INVALID_NAMESPACE, NULL},
        {"<message xmlns='jabber:client'/>", XSTREAM_ERR_INVALID_NAMESPACE, NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error_case(&cases[i]);
}

static void
test_xstream_not_well_formed(void **state)
{
    static const struct err_case cases[] = {
        {"GET / HTTP/1.1\r\n", XSTREAM_ERR_NOT_WELL_FORMED, "line 1"},
        {HEADER "<message></presence>", XSTREAM_ERR_NOT_WELL_FORMED, "mismatched tag"},
        {HEADER "<<<", XSTREAM_ERR_NOT_WELL_FORMED, NULL},
        {HEADER "<x:message/>", XSTREAM_ERR_NOT_WELL_FORMED, "unbound prefix"},
        {HEADER "<message a='1' a='2'/>", XSTREAM_ERR_NOT_WELL_FORMED, NULL},
        {HEADER "<message>\xff\xfe</message>", XSTREAM_ERR_NOT_WELL_FORMED, NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error_case(&cases[i]);
}

static void
test_xstream_bad_format_and_encoding(void **state)
{
    static const struct err_case cases[] = {
        {HEADER "hello", XSTREAM_ERR_BAD_FORMAT, "text"},
        {HEADER "<presence/>text<presence/>", XSTREAM_ERR_BAD_FORMAT, NULL},
        {"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream/>",
         XSTREAM_ERR_UNSUPPORTED_ENCODING, "ISO-8859-1"},
        {"<?xml version='1.0' encoding='UTF-16'?>", XSTREAM_ERR_UNSUPPORTED_ENCODING, NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error_case(&cases[i]);
}

static void
test_xstream_xml_version_1_1_is_refused(void **state)
{
    struct rec r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.x = xstream_new(&default_limits, &callbacks, &r);
    xstream_feed(r.x, "<?xml version='1.1'?>", 21);
    assert_int_equal(r.errors, 1);
    assert_true(r.err == XSTREAM_ERR_UNSUPPORTED_ENCODING ||
                r.err == XSTREAM_ERR_NOT_WELL_FORMED);
    xstream_free(r.x);
}

static void
test_xstream_error_reported_once_across_feeds(void **state)
{
    struct rec *r = *state;

    feed_all(r, HEADER);
    xstream_feed(r->x, "<a></b>", 7);
    assert_int_equal(r->errors, 1);
    assert_int_equal(xstream_feed(r->x, "<c/>", 4), 0);
    assert_int_equal(r->errors, 1);
}

static void
test_xstream_suspend_after_starttls_leaves_bytes(void **state)
{
    struct rec *r = *state;
    const char *plain = "<iq type='set'><injected/></iq>";
    char in[512];
    size_t n;
    size_t want;

    snprintf(in, sizeof(in), "%s<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>%s", HEADER,
             plain);
    want = strlen(in) - strlen(plain);
    r->suspend_on = "starttls";
    n = feed_str(r, in);
    assert_int_equal(n, want);
    assert_int_equal(r->n_stanzas, 1);
    assert_false(xstream_is_done(r->x));
    /* Without a restart nothing more is taken. */
    assert_int_equal(feed_str(r, plain), 0);
    assert_int_equal(r->n_stanzas, 1);

    /* After the TLS handshake: a fresh stream. */
    xstream_restart(r->x);
    feed_all(r, "<stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
                "<iq type='get' id='2'/>");
    assert_int_equal(r->opens, 2);
    assert_int_equal(r->n_stanzas, 2);
    assert_string_equal(r->stanzas[1], "<iq type=\"get\" id=\"2\"/>");
    assert_string_equal(r->lang, "(null)");
}

static void
test_xstream_suspend_with_stanza_split_across_feeds(void **state)
{
    struct rec *r = *state;

    r->suspend_on = "success";
    feed_all(r, HEADER "<succ");
    /* The stanza ends 5 bytes into this read. */
    assert_int_equal(feed_str(r, "ess/><presence/>"), 5);
    assert_int_equal(r->n_stanzas, 1);
}

static void
test_xstream_restart_from_callback_is_deferred(void **state)
{
    struct rec *r = *state;
    const char *rest = "<stream:stream xmlns='jabber:client' "
                       "xmlns:stream='http://etherx.jabber.org/streams'><presence/>";
    size_t n;

    r->suspend_on = "auth";
    r->is_restart_in_callback = true;
    n = feed_str(r, HEADER "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    assert_int_equal(n, strlen(HEADER "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
    /* Already restarted: the new header is accepted. */
    feed_all(r, rest);
    assert_int_equal(r->opens, 2);
    assert_int_equal(r->n_stanzas, 2);
    assert_string_equal(r->stanzas[1], "<presence/>");
}

static void
test_xstream_restart_resets_default_namespace(void **state)
{
    struct rec *r = *state;

    feed_all(r, HEADER "<presence/>");
    xstream_restart(r->x);
    feed_all(r, "<stream:stream xmlns='jabber:server' "
                "xmlns:stream='http://etherx.jabber.org/streams'><presence/>");
    assert_string_equal(r->default_ns, "jabber:server");
    assert_string_equal(r->trees[1]->root->ns, "jabber:server");
}

static void
test_xstream_serializer_round_trip(void **state)
{
    struct rec *r = *state;
    struct rec r2;
    const char *stanza =
        "<message to='bob@localhost' xml:lang='de' "
        "a='&quot;q&quot; &apos;s&apos; &amp;&lt;&gt;&#13;'>"
        "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2 \"quoted\" 'single' cr&#13;lf\n</body>"
        "<securitylabel xmlns='urn:xmpp:sec-label:0'><displaymarking>SECRET</displaymarking>"
        "<label><esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>MQ==</esssecuritylabel>"
        "</label></securitylabel><x xmlns='jabber:x:data' xmlns:o='urn:other' o:attr='v'/>"
        "</message>";
    char in[2048];

    snprintf(in, sizeof(in), HEADER "%s", stanza);
    feed_all(r, in);
    assert_int_equal(r->n_stanzas, 1);
    /* Namespaces only where they change; \r and quotes escaped. */
    assert_string_equal(r->stanzas[0],
        "<message to=\"bob@localhost\" xml:lang=\"de\" "
        "a=\"&quot;q&quot; &apos;s&apos; &amp;&lt;&gt;&#13;\">"
        "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2 \"quoted\" 'single' cr&#13;lf\n</body>"
        "<securitylabel xmlns=\"urn:xmpp:sec-label:0\"><displaymarking>SECRET</displaymarking>"
        "<label><esssecuritylabel xmlns=\"urn:xmpp:sec-label:ess:0\">MQ==</esssecuritylabel>"
        "</label></securitylabel><x xmlns=\"jabber:x:data\" xmlns:a0=\"urn:other\" "
        "a0:attr=\"v\"/></message>");
    assert_string_equal(xml_text(r->trees[0], xml_child(r->trees[0]->root, NULL, "body")),
                        "1 < 2 && 3 > 2 \"quoted\" 'single' cr\rlf\n");

    /* Parse the serialization again: same serialization, same tree. */
    memset(&r2, 0, sizeof(r2));
    r2.x = xstream_new(&default_limits, &callbacks, &r2);
    snprintf(in, sizeof(in), HEADER "%s", r->stanzas[0]);
    feed_all(&r2, in);
    assert_int_equal(r2.n_stanzas, 1);
    assert_string_equal(r2.stanzas[0], r->stanzas[0]);
    assert_string_equal(xml_attr(r2.trees[0]->root, "a"), "\"q\" 's' &<>\r");
    assert_string_equal(xml_attr_ns(r2.trees[0]->root, XML_NS_XML, "lang"), "de");
    free(r2.stanzas[0]);
    xml_tree_free(r2.trees[0]);
    xstream_free(r2.x);
}

static void
test_xstream_error_condition_names(void **state)
{
    (void)state;
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_NOT_WELL_FORMED), "not-well-formed");
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_RESTRICTED_XML), "restricted-xml");
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_POLICY_VIOLATION),
                        "policy-violation");
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_INVALID_NAMESPACE),
                        "invalid-namespace");
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_UNSUPPORTED_ENCODING),
                        "unsupported-encoding");
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_BAD_FORMAT), "bad-format");
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_INVALID_XML), "invalid-xml");
    assert_string_equal(xstream_error_condition(XSTREAM_ERR_INTERNAL_SERVER_ERROR),
                        "internal-server-error");
}

/* Hibernation: the parser is freed between stanzas and made again from the
 * saved header. Whatever the read boundaries and wherever hibernation is
 * tried, the owner must see exactly what it sees without hibernation. */

#define HIB_HEADER                                                                                 \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                  \
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:foo='urn:foo' to='localhost' "         \
    "id='a&amp;b' version='1.0' xml:lang='en'>"

/* Stanzas using the header's prefixes (stream:, foo:), text with entities,
 * whitespace and a CR between stanzas, and the close. */
static const char *const hib_parts[] = {
    HIB_HEADER,
    "<presence/>",
    "\n",
    "<message to='a@b' foo:attr='1'><body>hi &amp; bye &#x263A;</body>"
    "<foo:x><foo:y foo:z='2'>t</foo:y></foo:x></message>",
    "  ",
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
    "<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>",
    "\r\n",
    "<message><body xml:lang='fr'>\xc3\xa9t\xc3\xa9</body></message>",
    "</stream:stream>",
};
#define HIB_N_PARTS (sizeof(hib_parts) / sizeof(hib_parts[0]))

static void
rec_init(struct rec *r, const struct xstream_limits *lim)
{
    memset(r, 0, sizeof(*r));
    r->x = xstream_new(lim, &callbacks, r);
}

static void
rec_done(struct rec *r)
{
    int i;

    for (i = 0; i < r->n_stanzas; i++) {
        free(r->stanzas[i]);
        xml_tree_free(r->trees[i]);
    }
    xstream_free(r->x);
}

/* Everything the owner saw must match, namespaces of every root included. */
static void
assert_same_result(const struct rec *a, const struct rec *b)
{
    int i;

    assert_int_equal(a->opens, b->opens);
    assert_string_equal(a->to, b->to);
    assert_string_equal(a->lang, b->lang);
    assert_string_equal(a->default_ns, b->default_ns);
    assert_int_equal(a->n_stanzas, b->n_stanzas);
    for (i = 0; i < a->n_stanzas; i++) {
        assert_string_equal(a->stanzas[i], b->stanzas[i]);
        assert_string_equal(a->trees[i]->root->ns, b->trees[i]->root->ns);
    }
    assert_int_equal(a->closes, b->closes);
    assert_int_equal(a->errors, b->errors);
    if (a->errors)
        assert_int_equal(a->err, b->err);
}

static size_t
hib_stream(char *out, size_t cap, size_t *bounds, size_t *n_bounds)
{
    size_t o = 0;
    size_t i;

    *n_bounds = 0;
    for (i = 0; i < HIB_N_PARTS; i++) {
        size_t n = strlen(hib_parts[i]);
        assert_true(o + n < cap);
        memcpy(out + o, hib_parts[i], n);
        o += n;
        /* After the header, each stanza and whitespace, but not after the
         * close (the stream is done). */
        if (i + 1 < HIB_N_PARTS)
            bounds[(*n_bounds)++] = o;
    }
    out[o] = '\0';
    return o;
}

static bool
is_bound(const size_t *bounds, size_t n_bounds, size_t k)
{
    size_t i;

    for (i = 0; i < n_bounds; i++)
        if (bounds[i] == k)
            return true;
    return false;
}

static void
test_xstream_hibernate_split_at_every_byte_parses_identically(void **state)
{
    char in[2048];
    size_t bounds[HIB_N_PARTS];
    size_t n_bounds;
    size_t len = hib_stream(in, sizeof(in), bounds, &n_bounds);
    struct rec ref;
    size_t k;

    (void)state;
    rec_init(&ref, &default_limits);
    assert_int_equal(xstream_feed(ref.x, in, len), len);
    assert_int_equal(ref.errors, 0);
    assert_int_equal(ref.closes, 1);
    assert_int_equal(ref.n_stanzas, 5);
    /* The prefixes of the header reach the stanzas. */
    assert_non_null(xml_child(ref.trees[1]->root, "urn:foo", "x"));
    assert_string_equal(ref.trees[2]->root->ns, XMPP_NS_STREAMS);

    for (k = 0; k <= len; k++) {
        struct rec r;
        bool is_hibernated;

        rec_init(&r, &default_limits);
        assert_int_equal(xstream_feed(r.x, in, k), k);
        is_hibernated = xstream_hibernate(r.x);
        /* At every stanza boundary it hibernates, inside a stanza never. */
        if (is_bound(bounds, n_bounds, k))
            assert_true(is_hibernated);
        if (k < strlen(HIB_HEADER) || k == len)
            assert_false(is_hibernated);
        assert_int_equal(xstream_is_hibernating(r.x), is_hibernated);
        assert_int_equal(xstream_feed(r.x, in + k, len - k), len - k);
        assert_same_result(&ref, &r);
        assert_int_equal(r.hibernated_in_callback, 0);
        rec_done(&r);
    }
    rec_done(&ref);
}

static void
test_xstream_hibernate_after_every_byte_parses_identically(void **state)
{
    char in[2048];
    size_t bounds[HIB_N_PARTS];
    size_t n_bounds;
    size_t len = hib_stream(in, sizeof(in), bounds, &n_bounds);
    struct rec ref;
    struct rec r;
    size_t k;
    size_t n_hibernated = 0;

    (void)state;
    rec_init(&ref, &default_limits);
    assert_int_equal(xstream_feed(ref.x, in, len), len);
    rec_init(&r, &default_limits);
    r.is_hibernate_in_callback = true;
    for (k = 0; k < len; k++) {
        assert_int_equal(xstream_feed(r.x, in + k, 1), 1);
        if (xstream_hibernate(r.x))
            n_hibernated++;
    }
    assert_same_result(&ref, &r);
    assert_true(n_hibernated >= n_bounds - 1); /* all but after the close */
    /* Never from inside a callback. */
    assert_int_equal(r.hibernated_in_callback, 0);
    rec_done(&r);
    rec_done(&ref);
}

static void
test_xstream_hibernate_refuses_when_state_would_be_lost(void **state)
{
    struct rec *r = *state;

    assert_false(xstream_hibernate(r->x)); /* no header yet */
    feed_all(r, "<?xml version='1.0'?>");
    assert_false(xstream_hibernate(r->x));
    feed_all(r, "<stream:stream xmlns='jabber:client' xmlns:stream='http");
    assert_false(xstream_hibernate(r->x)); /* a partial header in expat */
    feed_all(r, "://etherx.jabber.org/streams'>");
    assert_true(xstream_hibernate(r->x));
    assert_true(xstream_hibernate(r->x)); /* again: nothing to do */
    feed_all(r, "<message><bo");
    assert_false(xstream_hibernate(r->x)); /* inside a stanza */
    feed_all(r, "dy>x</body></message>\r");
    assert_false(xstream_hibernate(r->x)); /* expat holds the CR */
    feed_all(r, "\n<presence/><presence");
    assert_false(xstream_hibernate(r->x)); /* a partial tag */
    feed_all(r, "/>");
    assert_true(xstream_hibernate(r->x));
    assert_int_equal(r->n_stanzas, 3);
    assert_int_equal(r->opens, 1);
    assert_string_equal(r->default_ns, "jabber:client");

    /* Suspended (STARTTLS) and closed streams stay as they are. */
    r->suspend_on = "starttls";
    feed_all(r, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert_false(xstream_hibernate(r->x));
    xstream_restart(r->x);
    assert_false(xstream_hibernate(r->x)); /* a new header is needed first */
    feed_all(r, "<stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams'>");
    assert_true(xstream_hibernate(r->x));
    feed_all(r, "</stream:stream>");
    assert_int_equal(r->closes, 1);
    assert_false(xstream_hibernate(r->x));
    assert_int_equal(r->opens, 2);
}

/* A read that wakes the parser and suspends: the count returned is in the
 * caller's bytes, not the parser's (which include the saved header). */
static void
test_xstream_hibernate_then_suspend_leaves_the_same_bytes(void **state)
{
    struct rec *r = *state;
    const char *tls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    const char *plain = "<iq type='set'><injected/></iq>";
    char in[256];

    feed_all(r, HEADER);
    assert_true(xstream_hibernate(r->x));
    r->suspend_on = "starttls";
    snprintf(in, sizeof(in), "%s%s", tls, plain);
    assert_int_equal(feed_str(r, in), strlen(tls));
    assert_int_equal(r->n_stanzas, 1);
    assert_int_equal(feed_str(r, plain), 0);
}

/* Limits hold after waking, and fail at the same byte as without hibernation. */
static void
check_limit_after_wake(const char *header, const char *tail, enum xstream_error want)
{
    struct rec ref;
    struct rec r;
    size_t n_ref;
    size_t n;

    rec_init(&ref, &default_limits);
    assert_int_equal(xstream_feed(ref.x, header, strlen(header)), strlen(header));
    n_ref = xstream_feed(ref.x, tail, strlen(tail));
    assert_int_equal(ref.errors, 1);
    assert_int_equal(ref.err, want);

    rec_init(&r, &default_limits);
    assert_int_equal(xstream_feed(r.x, header, strlen(header)), strlen(header));
    assert_true(xstream_hibernate(r.x));
    n = xstream_feed(r.x, tail, strlen(tail));
    assert_int_equal(n, n_ref);
    assert_same_result(&ref, &r);
    assert_true(xstream_is_done(r.x));
    rec_done(&r);
    rec_done(&ref);
}

static void
test_xstream_hibernate_limits_still_hold(void **state)
{
    static char big[6000];
    char tail[8000];
    size_t i;

    (void)state;
    /* Stanza size: a body past 4096 bytes, and a start tag that never ends. */
    memset(big, 'x', sizeof(big) - 1);
    snprintf(tail, sizeof(tail), "<presence/><message><body>%s</body></message>", big);
    check_limit_after_wake(HEADER, tail, XSTREAM_ERR_POLICY_VIOLATION);
    snprintf(tail, sizeof(tail), "<message a='%s", big);
    check_limit_after_wake(HEADER, tail, XSTREAM_ERR_POLICY_VIOLATION);
    /* Depth: 9 levels inside a stanza where 8 are allowed. */
    tail[0] = '\0';
    for (i = 0; i < 10; i++)
        strcat(tail, "<a>");
    check_limit_after_wake(HEADER, tail, XSTREAM_ERR_POLICY_VIOLATION);
    /* Attributes: 17 where 16 are allowed. */
    snprintf(tail, sizeof(tail), "<message a0='' a1='' a2='' a3='' a4='' a5='' a6='' a7='' "
                                 "a8='' a9='' b0='' b1='' b2='' b3='' b4='' b5='' b6=''/>");
    check_limit_after_wake(HEADER, tail, XSTREAM_ERR_POLICY_VIOLATION);
    /* Restricted XML and junk are still refused. */
    check_limit_after_wake(HEADER, "<!-- hello -->", XSTREAM_ERR_RESTRICTED_XML);
    check_limit_after_wake(HEADER, "<message>&foo;</message>", XSTREAM_ERR_RESTRICTED_XML);
    check_limit_after_wake(HEADER, "text", XSTREAM_ERR_BAD_FORMAT);
    check_limit_after_wake(HEADER, "<a></b>", XSTREAM_ERR_NOT_WELL_FORMED);
    check_limit_after_wake(HEADER, "<stream:stream>", XSTREAM_ERR_BAD_FORMAT);
}

/* A header longer than expat's context (1 KiB) is kept whole. */
static void
test_xstream_hibernate_with_a_long_header(void **state)
{
    struct rec *r = *state;
    static char id[3000];
    char header[3500];

    memset(id, 'i', sizeof(id) - 1);
    snprintf(header, sizeof(header),
             "<stream:stream xmlns='jabber:client' xmlns:p='urn:p' "
             "xmlns:stream='http://etherx.jabber.org/streams' id='%s'>",
             id);
    feed_all(r, header);
    assert_true(xstream_hibernate(r->x));
    feed_all(r, "<message><p:q/></message>");
    assert_int_equal(r->errors, 0);
    assert_int_equal(r->opens, 1);
    assert_int_equal(r->n_stanzas, 1);
    assert_non_null(xml_child(r->trees[0]->root, "urn:p", "q"));
}

/* Streams keep their headers for waking, shared when the bytes are the same:
 * whichever streams go first, each of the others wakes with its own header
 * (its namespace prefix), past the shared list's length as well. */
static void
test_xstream_hibernate_shared_headers_wake_each_stream_with_its_own(void **state)
{
    enum { N = 90 };
    static struct rec r[N];
    char header[256];
    char ns[32];
    (void)state;

    for (int i = 0; i < N; i++) {
        rec_init(&r[i], &default_limits);
        /* Three kinds of header sent by many streams, and streams whose 'from'
         * makes theirs unique (more than the shared list holds). */
        if (i % 2 == 0)
            snprintf(header, sizeof(header),
                     "<stream:stream xmlns='jabber:client' xmlns:p='urn:p%d' "
                     "xmlns:stream='http://etherx.jabber.org/streams'>", i % 3);
        else
            snprintf(header, sizeof(header),
                     "<stream:stream xmlns='jabber:client' xmlns:p='urn:p%d' from='u%d@x' "
                     "xmlns:stream='http://etherx.jabber.org/streams'>", i % 3, i);
        assert_int_equal(xstream_feed(r[i].x, header, strlen(header)), strlen(header));
        assert_true(xstream_hibernate(r[i].x));
    }
    /* Every third stream goes, the others wake and parse with their prefix. */
    for (int i = 0; i < N; i += 3)
        rec_done(&r[i]);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            continue;
        const char *m = "<message><p:q/></message>";
        assert_int_equal(xstream_feed(r[i].x, m, strlen(m)), strlen(m));
        assert_int_equal(r[i].errors, 0);
        assert_int_equal(r[i].opens, 1);
        assert_int_equal(r[i].n_stanzas, 1);
        snprintf(ns, sizeof(ns), "urn:p%d", i % 3);
        assert_non_null(xml_child(r[i].trees[0]->root, ns, "q"));
        assert_true(xstream_hibernate(r[i].x));
        rec_done(&r[i]);
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_xstream_header_fields),
        T(test_xstream_stanza_fed_byte_by_byte_arrives_immediately),
        T(test_xstream_stanza_namespaces),
        T(test_xstream_whitespace_between_stanzas_is_fine),
        T(test_xstream_close),
        T(test_xstream_restricted_xml),
        T(test_xstream_entity_declaration_is_restricted),
        T(test_xstream_nested_stream_header_is_refused),
        T(test_xstream_policy_violations),
        T(test_xstream_depth_at_limit_is_fine),
        T(test_xstream_oversize_stanza),
        T(test_xstream_oversize_start_tag_without_events),
        T(test_xstream_complete_oversize_stanza_in_one_read),
        T(test_xstream_invalid_namespace),
        T(test_xstream_not_well_formed),
        T(test_xstream_bad_format_and_encoding),
        T(test_xstream_xml_version_1_1_is_refused),
        T(test_xstream_error_reported_once_across_feeds),
        T(test_xstream_suspend_after_starttls_leaves_bytes),
        T(test_xstream_suspend_with_stanza_split_across_feeds),
        T(test_xstream_restart_from_callback_is_deferred),
        T(test_xstream_restart_resets_default_namespace),
        T(test_xstream_serializer_round_trip),
        T(test_xstream_error_condition_names),
        T(test_xstream_hibernate_split_at_every_byte_parses_identically),
        T(test_xstream_hibernate_after_every_byte_parses_identically),
        T(test_xstream_hibernate_refuses_when_state_would_be_lost),
        T(test_xstream_hibernate_then_suspend_leaves_the_same_bytes),
        T(test_xstream_hibernate_limits_still_hold),
        T(test_xstream_hibernate_with_a_long_header),
        T(test_xstream_hibernate_shared_headers_wake_each_stream_with_its_own),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
