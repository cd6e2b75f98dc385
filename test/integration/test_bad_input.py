# SPDX-License-Identifier: Apache-2.0
"""Bad input gets the RFC 6120 answer and costs only its own connection: while each
misbehaving stream is dealt with, two other authenticated users keep chatting.

Stream errors (RFC 6120 §4.9.3): <not-well-formed/>, <restricted-xml/> (§11.1: DTDs,
comments, processing instructions, entity declarations and references),
<policy-violation/> (size, depth and attribute limits), <invalid-namespace/>,
<host-unknown/>, <unsupported-version/>; SASL <not-authorized/> after a delay; a stream
that does not authenticate in time is closed."""
import xml.etree.ElementTree as ET

import pytest

import harness as H
from harness import NS_SASL, q

# (name, bytes sent after authentication and binding, expected condition)
AFTER_AUTH = [
    ("mismatched-tags", "<message><body>x</bod></message>", "not-well-formed"),
    ("angle-garbage", "<<<>>> &&& garbage", "not-well-formed"),
    ("nul-byte", "<message><body>\x00</body></message>", "not-well-formed"),
    ("bad-utf8", b"<message><body>\xff\xfe</body></message>", "not-well-formed"),
    ("comment-top-level", "<!-- a comment -->", "restricted-xml"),
    ("comment-in-stanza", "<message to='x@localhost'><!-- c --><body>b</body></message>", "restricted-xml"),
    ("processing-instruction", "<?evil instruction?>", "restricted-xml"),
    ("pi-in-stanza", "<message to='x@localhost'><?pi x?><body>b</body></message>", "restricted-xml"),
    ("entity-reference", "<message to='x@localhost'><body>&boom;</body></message>", "restricted-xml"),
    ("unknown-first-level-element", "<thing xmlns='urn:example:unknown'/>", "unsupported-stanza-type"),
    # a stream header inside the stream: refused at its start tag, not waited on forever
    ("nested-stream-header", "<stream:stream xmlns='jabber:client' "
     "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>",
     ("bad-format", "unsupported-stanza-type", "invalid-xml", "not-well-formed")),
]


def authed(raw, users):
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.login(u.localpart, u.password, resource="bad")
    return r


@pytest.mark.parametrize("name,data,cond", AFTER_AUTH, ids=[c[0] for c in AFTER_AUTH])
def test_bad_xml_after_auth(name, data, cond, raw, users, chat_pair):
    r = authed(raw, users)
    chat_pair.check()
    r.send(data)
    chat_pair.check()
    got = r.expect_stream_error()
    if isinstance(cond, tuple):
        assert got in cond
    else:
        assert got == cond
    chat_pair.check()


def test_bad_xml_before_auth(raw, chat_pair):
    r = raw(direct_tls=True)
    r.open()
    r.send("<auth xmlns='%s' mechanism='PLAIN'>" % NS_SASL + "</oops>")
    assert r.expect_stream_error() == "not-well-formed"
    chat_pair.check()


def test_restricted_xml_before_auth(raw, chat_pair):
    r = raw(direct_tls=True)
    r.open()
    r.send("<!-- before auth -->")
    assert r.expect_stream_error() == "restricted-xml"
    chat_pair.check()


@pytest.mark.parametrize("prolog", [
    "<?xml version='1.0'?><!DOCTYPE stream:stream>",
    "<?xml version='1.0'?><!DOCTYPE stream:stream SYSTEM 'http://example.com/x.dtd'>",
    "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY boom 'x'>]>",
    "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>",
], ids=["doctype", "external-dtd", "entity-declaration", "entity-expansion"])
def test_dtd_in_the_stream_prolog(prolog, raw, chat_pair):
    r = raw(direct_tls=True)
    r.send_header(prolog=prolog)
    chat_pair.check()
    assert r.expect_stream_error() == "restricted-xml"
    chat_pair.check()


def test_dtd_on_the_plaintext_port(raw, chat_pair):
    r = raw()
    r.send_header(prolog="<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>")
    assert r.expect_stream_error() == "restricted-xml"
    chat_pair.check()


def test_stanza_over_the_size_limit(raw, users, chat_pair, node):
    """A stanza that never ends but grows past limits.max_stanza_bytes is cut off at the
    limit: the server does not wait for its end."""
    limit = node.limits["max_stanza_bytes"]
    r = authed(raw, users)
    head = "<message to='%s' type='chat'><body>" % users.take(1)[0].jid
    r.send(head + "A" * (limit - len(head) + 64))
    chat_pair.check()
    assert r.expect_stream_error() == "policy-violation"
    chat_pair.check()


def test_stanza_just_under_the_size_limit_is_delivered(xmpp_client, raw, users, node):
    limit = node.limits["max_stanza_bytes"]
    (rcpt,) = users.take(1)
    cr = xmpp_client(rcpt)
    r = authed(raw, users)
    head = "<message to='%s' type='chat'><body>" % cr.full_jid
    tail = "</body></message>"
    body = "B" * (limit - len(head) - len(tail) - 1024)
    r.send(head + body + tail)
    m = cr.wait_for(lambda s: s.name == "message" and len(s["body"]) == len(body), timeout=10,
                    what="the large message")
    assert m["body"] == body


def test_nesting_over_the_depth_limit(raw, users, chat_pair, node):
    depth = node.limits["max_depth"]
    r = authed(raw, users)
    r.send("<message to='x@localhost'>" + "<a xmlns='urn:example:deep'>" * (depth + 10))
    chat_pair.check()
    assert r.expect_stream_error() == "policy-violation"
    chat_pair.check()


def test_too_many_attributes(raw, users, chat_pair):
    r = authed(raw, users)
    attrs = " ".join("a%d='v'" % i for i in range(200))
    r.send("<message to='x@localhost' %s><body>x</body></message>" % attrs)
    chat_pair.check()
    assert r.expect_stream_error() == "policy-violation"
    chat_pair.check()


@pytest.mark.parametrize("ns,stream_ns", [
    ("jabber:client", "http://wrong.example/streams"),
    ("urn:example:not-jabber-client", H.NS_STREAM),
], ids=["stream-namespace", "content-namespace"])
def test_invalid_namespace(ns, stream_ns, raw, chat_pair):
    r = raw()
    r.send_header(ns=ns, stream_ns=stream_ns)
    chat_pair.check()
    assert r.expect_stream_error() == "invalid-namespace"
    chat_pair.check()


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls-port", "direct-tls-port"])
def test_unknown_host(direct_tls, raw, chat_pair):
    r = raw(direct_tls=direct_tls)
    r.send_header(to="nosuch.example")
    hdr = r.wait_header()
    assert hdr.tag == q("stream", H.NS_STREAM), "the error must come inside a proper stream"
    assert r.expect_stream_error() == "host-unknown"
    chat_pair.check()


def test_unsupported_version(raw, chat_pair):
    """RFC 6120 §4.7.5: a higher major version than the server supports."""
    r = raw()
    r.send_header(version="2.0")
    assert r.expect_stream_error() == "unsupported-version"
    chat_pair.check()


def test_failed_sasl_is_answered_after_the_delay(raw, users, chat_pair):
    """The answer to a wrong SCRAM proof is held back (sasl.failure_delay_ms): other
    clients complete several round trips before it arrives. The order of events is
    what is checked, not a duration."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    s, server_first = r.scram_begin("SCRAM-SHA-256", u.localpart, u.password)
    r.response(s.client_final(server_first, wrong_password=True))
    chat_pair.check()
    chat_pair.check()
    chat_pair.check()
    assert not r.readable_now(), "the SASL failure came back at once, before other clients' messages"
    assert H.sasl_failure_condition(r.next(timeout=10)) == "not-authorized"


def test_too_many_failures_close_the_stream(raw, users, chat_pair, node):
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    for i in range(node.limits["max_failures"] - 1):
        el = r.sasl_plain(u.localpart, "wrong-%d" % i)
        assert H.sasl_failure_condition(el) == "not-authorized"
    r.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, H.b64(("\0%s\0last-wrong" % u.localpart).encode())))
    # the last failure is answered and then the stream is closed
    el = r.next(timeout=10)
    if el.tag == q("failure", NS_SASL):
        assert H.sasl_failure_condition(el) == "not-authorized"
        cond = r.expect_stream_error()
    else:
        assert el.tag == q("error", H.NS_STREAM), ET.tostring(el)
        cond = H.stream_error_condition(el)
        r.wait_closed(5)
    assert cond in ("not-authorized", "policy-violation")
    chat_pair.check()


def test_unauthenticated_stream_times_out(aux_node, raw, users, xmpp_client):
    """A node with limits.auth_timeout_s = 2 closes a stream that never authenticates;
    sessions that did authenticate (before and during) carry on."""
    n = aux_node("short-auth")
    a, b = users.take(2)
    pair = H.ChatPair(xmpp_client(a, on=n), xmpp_client(b, on=n))
    idle = raw(on=n)
    idle.open()
    tls_idle = raw(on=n, direct_tls=True)
    tls_idle.open()
    pair.check()
    cond = idle.expect_stream_error(timeout=15)
    assert cond in ("connection-timeout", "policy-violation"), cond
    assert tls_idle.expect_stream_error(timeout=15) == cond
    pair.check()  # authenticated sessions are older than the timeout and still work

