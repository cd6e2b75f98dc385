# SPDX-License-Identifier: Apache-2.0
"""Messages (RFC 6121 §5, §8.5): to a full JID, to a bare JID (all available
non-negative resources), offline storage delivered at the next initial presence
(XEP-0160), unknown users bounced with <service-unavailable/>, 'from' stamped by the
server (RFC 6120 §8.1.2.1)."""
import harness as H


def online(xmpp_client, user, resource="r", priority=None):
    c = xmpp_client(user, resource=resource)
    c.send_presence(priority=priority)
    return c


def test_to_full_jid(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    cb = xmpp_client(b)
    ca.send_message(cb.full_jid, "hello b", id="m-1")
    m = cb.wait_for(H.is_message(body="hello b"))
    assert str(m["from"]) == ca.full_jid, "the server stamps the sender's full JID"
    assert str(m["to"]) == cb.full_jid
    assert m["id"] == "m-1" and m["type"] == "chat"


def test_full_jid_reaches_only_that_resource(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    b1 = online(xmpp_client, b, "one")
    b2 = online(xmpp_client, b, "two")
    ca.send_message(b1.full_jid, "for one")
    ca.send_message(b2.full_jid, "for two")
    b1.wait_for(H.is_message(body="for one"))
    b2.wait_for(H.is_message(body="for two"))
    assert not b2.has(H.is_message(body="for one"))
    assert not b1.has(H.is_message(body="for two"))


def test_bare_jid_chat_reaches_all_available_resources(xmpp_client, users):
    """Equal priorities: Palisade delivers to every available resource (RFC 6121
    §8.5.2.1.1 allows that for chat and normal messages)."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    b1 = online(xmpp_client, b, "one")
    b2 = online(xmpp_client, b, "two")
    ca.send_message(b.jid, "to everyone", mtype="chat")
    for c in (b1, b2):
        m = c.wait_for(H.is_message(body="to everyone"), what="bare-JID message on %s" % c.resource)
        assert str(m["from"]) == ca.full_jid


def test_bare_jid_headline_reaches_all_non_negative_resources(xmpp_client, users):
    """RFC 6121 §8.5.2.1.1: headline goes to all non-negative resources, never to a
    negative one."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    b1 = online(xmpp_client, b, "high", priority=5)
    b2 = online(xmpp_client, b, "low", priority=1)
    b3 = online(xmpp_client, b, "negative", priority=-1)
    ca.send_message(b.jid, "news", mtype="headline")
    b1.wait_for(H.is_message(body="news"))
    b2.wait_for(H.is_message(body="news"))
    ca.send_message(b3.full_jid, "marker")
    b3.wait_for(H.is_message(body="marker"))
    assert not b3.has(H.is_message(body="news")), "a negative-priority resource got a bare-JID message"


def test_bare_jid_skips_connected_but_unavailable_resources(xmpp_client, users):
    """Only available resources (initial presence sent) get bare-JID messages."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    b_av = online(xmpp_client, b, "available")
    b_quiet = xmpp_client(b, resource="quiet")  # connected, no presence
    ca.send_message(b.jid, "bare")
    b_av.wait_for(H.is_message(body="bare"))
    ca.send_message(b_quiet.full_jid, "marker")
    b_quiet.wait_for(H.is_message(body="marker"))
    assert not b_quiet.has(H.is_message(body="bare"))


def test_offline_messages_are_delivered_at_next_initial_presence(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    for i in range(3):
        ca.send_message(b.jid, "offline-%d" % i)
    ca.send_message("%s/gone-resource" % b.jid, "offline-3")  # no such resource: like bare
    ca.ping_server()
    assert not [m for m in ca.inbox if m.name == "message" and m["type"] == "error"], \
        "a message to an existing offline user was bounced: %s" % [H._summary(m) for m in ca.inbox]
    cb = xmpp_client(b, resource="later")
    # nothing before initial presence (XEP-0160 §3)
    cb.ping_server()
    assert not cb.has(H.is_message()), "offline messages delivered before initial presence"
    cb.send_presence()
    got = cb.wait_many(lambda s: s.name == "message" and s["body"].startswith("offline-"), 4,
                       what="offline messages")
    for m in got:
        assert H.bare(m["from"]) == a.jid
    assert [m["body"] for m in got] == ["offline-%d" % i for i in range(4)], "not in sending order"


def test_offline_messages_are_delivered_once(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    ca.send_message(b.jid, "just once")
    ca.ping_server()
    cb = online(xmpp_client, b, "first")
    cb.wait_for(H.is_message(body="just once"))
    cb.disconnect()
    cb2 = online(xmpp_client, b, "second")
    ca.send_message(b.jid, "fresh")
    cb2.wait_for(H.is_message(body="fresh"))
    cb2.ping_server()
    assert not cb2.has(H.is_message(body="just once")), "offline message delivered twice"


def test_message_to_unknown_user_is_service_unavailable(xmpp_client, users):
    """RFC 6121 §8.5.1 lets a server bounce or drop; Palisade never drops silently."""
    (a,) = users.take(1)
    ca = xmpp_client(a)
    to = "nosuchuser@%s" % H.DOMAIN
    ca.send_message(to, "anyone there?", id="lost-1")
    err = ca.wait_for(lambda s: s.name == "message" and s["type"] == "error" and s["id"] == "lost-1",
                      what="the bounce")
    assert H.stanza_error_condition(err) == "service-unavailable"
    assert H.bare(err["from"]) == to


def test_message_to_unknown_domain_is_bounced(xmpp_client, users):
    """No s2s yet: a remote domain cannot be reached; the sender hears about it."""
    (a,) = users.take(1)
    ca = xmpp_client(a)
    ca.send_message("someone@nosuch.example", "far away", id="far-1")
    err = ca.wait_for(lambda s: s.name == "message" and s["type"] == "error" and s["id"] == "far-1",
                      what="the bounce")
    assert H.stanza_error_condition(err) is not None


def test_forged_from_is_never_delivered(xmpp_client, raw, users):
    """RFC 6120 §8.1.2.1: the server makes sure 'from' is the sender's JID: a forged
    'from' ends the stream with <invalid-from/>, or is replaced; the recipient never sees
    the forged address."""
    a, b, victim = users.take(3)
    cb = online(xmpp_client, b, "rcpt")
    r = raw(direct_tls=True)
    real = r.login(a.localpart, a.password, resource="forger")
    r.send("<message from='%s/x' to='%s' type='chat'><body>forged</body></message>" % (victim.jid, cb.full_jid))
    r.send("<iq type='get' id='after-forge' to='%s'><ping xmlns='%s'/></iq>" % (H.DOMAIN, H.NS_PING))
    el = r.next()
    if el.tag == H.q("error", H.NS_STREAM):
        assert H.stream_error_condition(el) == "invalid-from"
        ca = xmpp_client(a)
        ca.send_message(cb.full_jid, "honest")
        cb.wait_for(H.is_message(body="honest"))
        assert not cb.has(H.is_message(body="forged"))
    else:
        assert el.get("id") == "after-forge", H.ET.tostring(el)
        r.send("<message to='%s' type='chat'><body>marker</body></message>" % cb.full_jid)
        cb.wait_for(H.is_message(body="marker"))
    assert not cb.has(lambda s: H.bare(s["from"]) == victim.jid), "a forged 'from' was delivered"
    for m in [s for s in cb.inbox if s.name == "message" and s["body"] == "forged"]:
        assert str(m["from"]) == real


def test_own_bare_jid_from_is_accepted(raw, xmpp_client, users):
    """A 'from' equal to the sender's bare or full JID is fine (RFC 6120 §8.1.2.1)."""
    a, b = users.take(2)
    cb = online(xmpp_client, b, "rcpt")
    r = raw(direct_tls=True)
    full = r.login(a.localpart, a.password, resource="honest")
    r.send("<message from='%s' to='%s' type='chat'><body>with from</body></message>" % (full, cb.full_jid))
    m = cb.wait_for(H.is_message(body="with from"))
    assert str(m["from"]) == full


def test_message_exchange_many(xmpp_client, users):
    """A burst both ways arrives complete and in order."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    cb = xmpp_client(b)
    for i in range(50):
        ca.x.make_message(mto=cb.full_jid, mbody="burst-%02d" % i, mtype="chat").send()
    ca.flush()
    got = cb.wait_many(lambda s: s.name == "message" and s["body"].startswith("burst-"), 50,
                       what="burst messages")
    assert [s["body"] for s in got] == ["burst-%02d" % i for i in range(50)]
