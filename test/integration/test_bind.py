# SPDX-License-Identifier: Apache-2.0
"""Resource binding (RFC 6120 §7): client-chosen and server-generated resources; a
second session with the same resource replaces the first, which gets <conflict/>."""
import xml.etree.ElementTree as ET

import harness as H
from harness import NS_BIND, NS_CLIENT, q


def test_client_chosen_resource(xmpp_client, users):
    (u,) = users.take(1)
    c = xmpp_client(u, resource="laptop")
    assert c.full_jid == "%s/laptop" % u.jid


def test_server_generated_resources_are_distinct(xmpp_client, users):
    (u,) = users.take(1)
    c1 = xmpp_client(u)
    c2 = xmpp_client(u)
    assert H.bare(c1.full_jid) == u.jid and c1.resource
    assert H.bare(c2.full_jid) == u.jid and c2.resource
    assert c1.resource != c2.resource


def test_raw_bind_with_and_without_resource(raw, users):
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    assert r.login(u.localpart, u.password, resource="desk") == "%s/desk" % u.jid
    r2 = raw(direct_tls=True)
    jid = r2.login(u.localpart, u.password)
    assert jid.startswith(u.jid + "/") and len(jid) > len(u.jid) + 1


def test_resource_conflict_replaces_the_old_session(xmpp_client, users):
    a, b = users.take(2)
    old = xmpp_client(a, resource="phone")
    new = xmpp_client(a, resource="phone")
    assert new.full_jid == "%s/phone" % a.jid
    assert old.wait_stream_error() == "conflict"
    old.wait_disconnected()
    # the full JID now reaches the new session
    cb = xmpp_client(b)
    cb.send_message("%s/phone" % a.jid, "to the new one")
    m = new.wait_for(H.is_message(body="to the new one"))
    assert str(m["from"]) == cb.full_jid


def test_resource_conflict_on_raw_streams(raw, users):
    (u,) = users.take(1)
    r1 = raw(direct_tls=True)
    r1.login(u.localpart, u.password, resource="same")
    r2 = raw(direct_tls=True)
    assert r2.login(u.localpart, u.password, resource="same") == "%s/same" % u.jid
    assert r1.expect_stream_error() == "conflict"


def test_stanza_before_bind_is_not_routed(raw, xmpp_client, users):
    """RFC 6120 §7.1: no stanzas before binding: refused with <not-authorized/>
    (RFC 6120 §4.9.3.12) or bounced, never delivered."""
    a, b = users.take(2)
    cb = xmpp_client(b)
    r = raw(direct_tls=True)
    r.open()
    assert H.is_success(r.sasl_plain(a.localpart, a.password))
    r.after_sasl_success()
    r.send("<message to='%s' id='early'><body>too early</body></message>" % cb.full_jid)
    el = r.next()
    if el.tag == q("error", H.NS_STREAM):
        assert H.stream_error_condition(el) == "not-authorized"
    else:
        assert el.tag == q("message", NS_CLIENT) and el.get("type") == "error", ET.tostring(el)
    ca = xmpp_client(a)
    ca.send_message(cb.full_jid, "after binding")
    cb.wait_for(H.is_message(body="after binding"))
    assert not cb.has(H.is_message(body="too early"))


def test_bind_result_carries_the_full_jid(raw, users):
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    assert H.is_success(r.sasl_plain(u.localpart, u.password))
    features = r.after_sasl_success()
    assert features.find(q("bind", NS_BIND)) is not None, "no <bind/> feature after SASL"
    r.send("<iq type='set' id='b1'><bind xmlns='%s'><resource>r1</resource></bind></iq>" % NS_BIND)
    el = r.expect("iq", NS_CLIENT)
    assert el.get("id") == "b1" and el.get("type") == "result"
    assert el.find("%s/%s" % (q("bind", NS_BIND), q("jid", NS_BIND))).text == "%s/r1" % u.jid
