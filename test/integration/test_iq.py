# SPDX-License-Identifier: Apache-2.0
"""IQ routing and errors (RFC 6120 §8.2.3, §8.4; RFC 6121 §8.5): results routed back
between clients, <service-unavailable/> for unknown destinations and namespaces,
<bad-request/> for malformed requests."""
import harness as H
from harness import NS_PING


def test_iq_between_two_clients_and_its_result(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    cb = xmpp_client(b)
    r = ca.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=cb.full_jid)
    assert r["type"] == "result", H._summary(r)
    assert str(r["from"]) == cb.full_jid
    # b saw the request from a's full JID
    assert cb.wait_for(lambda s: s.name == "iq" and s["type"] == "get" and
                       str(s["from"]) == ca.full_jid, what="the request on b")


def test_error_reply_is_routed_back(xmpp_client, users):
    """b's client does not understand the namespace and answers an error; a receives it."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    cb = xmpp_client(b)
    r = ca.iq("get", "<query xmlns='urn:example:unknown'/>", to=cb.full_jid)
    assert r["type"] == "error"
    assert str(r["from"]) == cb.full_jid
    assert H.stanza_error_condition(r) in ("service-unavailable", "feature-not-implemented")


def test_iq_to_unknown_resource_is_service_unavailable(xmpp_client, users):
    """RFC 6121 §8.5.3.2.3 (and §8.5.3.2.2 for an offline user)."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    r = ca.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="%s/nowhere" % b.jid)  # b offline
    assert H.iq_error_condition(r) == "service-unavailable"
    cb = xmpp_client(b, resource="here")
    r = ca.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="%s/nowhere" % b.jid)  # b online elsewhere
    assert H.iq_error_condition(r) == "service-unavailable"
    assert not cb.has(lambda s: s.name == "iq" and s["type"] == "get")


def test_iq_to_unknown_user_is_service_unavailable(xmpp_client, users):
    """RFC 6121 §8.5.1."""
    (a,) = users.take(1)
    ca = xmpp_client(a)
    for to in ("nosuchuser@%s" % H.DOMAIN, "nosuchuser@%s/res" % H.DOMAIN):
        r = ca.iq("get", "<query xmlns='urn:example:x'/>", to=to)
        assert H.iq_error_condition(r) == "service-unavailable", to


def test_unknown_namespace_to_the_server(xmpp_client, users):
    """RFC 6120 §8.4: a namespace the server does not handle."""
    (a,) = users.take(1)
    ca = xmpp_client(a)
    for to in (H.DOMAIN, None):
        r = ca.iq("get", "<query xmlns='urn:example:nothing-here'/>", to=to)
        assert H.iq_error_condition(r) in ("service-unavailable", "feature-not-implemented")
        assert r["id"]


def test_unknown_namespace_to_a_bare_jid(xmpp_client, users):
    """RFC 6121 §8.5.2.1.3: the server answers IQs to a bare JID on the account's behalf."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    cb = xmpp_client(b)
    r = ca.iq("get", "<query xmlns='urn:example:nothing-here'/>", to=b.jid)
    assert H.iq_error_condition(r) == "service-unavailable"
    assert not cb.has(lambda s: s.name == "iq" and s["type"] == "get"), "an IQ to the bare JID reached a resource"


def test_iq_get_with_two_children_is_bad_request(xmpp_client, users):
    """RFC 6120 §8.2.3: a get or set has exactly one child."""
    (a,) = users.take(1)
    ca = xmpp_client(a)
    iq = ca.x.Iq()
    iq["type"] = "get"
    iq["to"] = H.DOMAIN
    import xml.etree.ElementTree as ET
    iq.append(ET.fromstring("<ping xmlns='%s'/>" % NS_PING))
    iq.append(ET.fromstring("<ping xmlns='%s'/>" % NS_PING))
    r = ca.h.run(ca._iq(iq, 10), 15)
    assert H.iq_error_condition(r) == "bad-request"


def test_iq_error_carries_the_request_id(xmpp_client, users):
    (a,) = users.take(1)
    ca = xmpp_client(a)
    ca.send_raw("<iq type='get' id='keep-this-id' to='nosuchuser@%s'><query xmlns='urn:example:x'/></iq>" % H.DOMAIN)
    r = ca.wait_for(lambda s: s.name == "iq" and s["id"] == "keep-this-id")
    assert r["type"] == "error"


def test_no_error_reply_to_an_error(xmpp_client, users):
    """RFC 6120 §8.3.1: an error is never answered with an error."""
    (a,) = users.take(1)
    ca = xmpp_client(a)
    ca.send_raw("<iq type='error' id='err-1' to='nosuchuser@%s'><error type='cancel'>"
                "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" % H.DOMAIN)
    ca.ping_server()
    assert not ca.has(lambda s: s.name == "iq" and s["id"] == "err-1")
