# SPDX-License-Identifier: Apache-2.0
"""Service discovery (XEP-0030): the server's identity and features, items, unknown
nodes, and disco routed to clients."""
import harness as H
from harness import NS_DISCO_INFO, NS_DISCO_ITEMS, q


def info(c, to, node=None):
    attr = " node='%s'" % node if node else ""
    return c.iq("get", "<query xmlns='%s'%s/>" % (NS_DISCO_INFO, attr), to=to)


def test_server_identity_and_features(xmpp_client, users):
    (a,) = users.take(1)
    c = xmpp_client(a)
    r = info(c, H.DOMAIN)
    assert r["type"] == "result", H._summary(r)
    assert str(r["from"]) == H.DOMAIN
    query = r.xml.find(q("query", NS_DISCO_INFO))
    identities = [(i.get("category"), i.get("type")) for i in query.findall(q("identity", NS_DISCO_INFO))]
    assert ("server", "im") in identities, identities
    features = {f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO))}
    for f in (NS_DISCO_INFO, H.NS_PING, H.NS_VCARD):
        assert f in features, "%s not advertised: %s" % (f, sorted(features))


def test_server_items(xmpp_client, users):
    (a,) = users.take(1)
    c = xmpp_client(a)
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=H.DOMAIN)
    assert r["type"] == "result", H._summary(r)
    assert r.xml.find(q("query", NS_DISCO_ITEMS)) is not None


def test_unknown_node_is_item_not_found(xmpp_client, users):
    (a,) = users.take(1)
    c = xmpp_client(a)
    r = info(c, H.DOMAIN, node="no-such-node")
    assert H.iq_error_condition(r) == "item-not-found"


def test_disco_to_a_client_is_routed(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    cb = xmpp_client(b)
    r = info(ca, cb.full_jid)
    assert r["type"] == "result"
    assert str(r["from"]) == cb.full_jid
    features = {f.get("var") for f in r.xml.find(q("query", NS_DISCO_INFO)).findall(q("feature", NS_DISCO_INFO))}
    assert NS_DISCO_INFO in features  # slixmpp's own answer
