# SPDX-License-Identifier: Apache-2.0
"""Presence subscriptions (RFC 6121 §3): the full handshake with its roster pushes,
requests to offline contacts delivered when they come online, cancel and unsubscribe."""
import harness as H


def online(xmpp_client, user, resource="r"):
    """Logged in, roster requested (interested resource), initial presence sent."""
    c = xmpp_client(user, resource=resource)
    H.roster_get(c)
    c.send_presence()
    return c


def test_full_handshake_ends_with_both(xmpp_client, users):
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)

    # a asks b (RFC 6121 §3.1.2: push "none" + ask="subscribe" to a)
    ca.send_presence(to=b.jid, ptype="subscribe")
    ca.wait_for(H.is_roster_push(b.jid, "none", ask="subscribe", owner=a.jid), what="a: push none+ask")
    req = cb.wait_for(H.is_presence(frm=a.jid, ptype="subscribe"), what="b: subscribe from a")
    assert str(req["from"]) == a.jid, "a subscription request comes from the bare JID (§3.1.2)"

    # b approves (§3.1.5: push "from" to b; §3.1.6: "subscribed", push "to" and b's presence to a)
    cb.send_presence(to=a.jid, ptype="subscribed")
    cb.wait_for(H.is_roster_push(a.jid, "from", owner=b.jid), what="b: push from")
    ca.wait_for(H.is_presence(frm=b.jid, ptype="subscribed"), what="a: subscribed from b")
    ca.wait_for(H.is_roster_push(b.jid, "to", owner=a.jid), what="a: push to")
    ca.wait_for(H.is_presence(frm=cb.full_jid, ptype="available"), what="a: b's current presence")

    # and back
    cb.send_presence(to=a.jid, ptype="subscribe")
    cb.wait_for(H.is_roster_push(a.jid, "from", ask="subscribe", owner=b.jid), what="b: push from+ask")
    ca.wait_for(H.is_presence(frm=b.jid, ptype="subscribe"), what="a: subscribe from b")
    ca.send_presence(to=b.jid, ptype="subscribed")
    ca.wait_for(H.is_roster_push(b.jid, "both", owner=a.jid), what="a: push both")
    cb.wait_for(H.is_presence(frm=a.jid, ptype="subscribed"), what="b: subscribed from a")
    cb.wait_for(H.is_roster_push(a.jid, "both", owner=b.jid), what="b: push both")
    cb.wait_for(H.is_presence(frm=ca.full_jid, ptype="available"), what="b: a's current presence")

    assert H.roster_get(ca)[b.jid].get("subscription") == "both"
    assert H.roster_get(cb)[a.jid].get("subscription") == "both"
    assert H.roster_get(ca)[b.jid].get("ask") is None

    # presence now flows both ways
    ca.send_presence(status="a is here", show="away")
    p = cb.wait_for(H.is_presence(frm=ca.full_jid, status="a is here"))
    assert p["show"] == "away"
    cb.send_presence(status="b is here")
    ca.wait_for(H.is_presence(frm=cb.full_jid, status="b is here"))


def test_request_to_an_offline_user_is_delivered_at_login(xmpp_client, users):
    """RFC 6121 §3.1.3: stored, then delivered when the contact next becomes available."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    ca.send_presence(to=b.jid, ptype="subscribe")
    ca.wait_for(H.is_roster_push(b.jid, "none", ask="subscribe"))
    cb = online(xmpp_client, b)
    cb.wait_for(H.is_presence(frm=a.jid, ptype="subscribe"), what="the stored subscription request")
    cb.send_presence(to=a.jid, ptype="subscribed")
    ca.wait_for(H.is_roster_push(b.jid, "to", owner=a.jid), what="a: push to")
    ca.wait_for(H.is_presence(frm=cb.full_jid, ptype="available"))


def test_pending_request_survives_a_logout(xmpp_client, users):
    """The contact sees the request again at its next login until it answers."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    ca.send_presence(to=b.jid, ptype="subscribe")
    cb.wait_for(H.is_presence(frm=a.jid, ptype="subscribe"))
    cb.disconnect()
    cb2 = online(xmpp_client, b, resource="again")
    cb2.wait_for(H.is_presence(frm=a.jid, ptype="subscribe"), what="the unanswered request again")


def test_denied_request(xmpp_client, users):
    """RFC 6121 §3.2: 'unsubscribed' to a pending request; the asker's item loses ask."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    ca.send_presence(to=b.jid, ptype="subscribe")
    cb.wait_for(H.is_presence(frm=a.jid, ptype="subscribe"))
    cb.send_presence(to=a.jid, ptype="unsubscribed")
    ca.wait_for(H.is_presence(frm=b.jid, ptype="unsubscribed"))
    push = H.is_roster_push(b.jid, "none", owner=a.jid)
    ca.wait_for(lambda st: push(st) and H.roster_items(st)[b.jid].get("ask") is None,
                what="a: push none without ask")
    item = H.roster_get(ca)[b.jid]
    assert item.get("subscription", "none") == "none" and item.get("ask") is None


def test_unsubscribe_from_both(xmpp_client, users):
    """RFC 6121 §3.3: a unsubscribes from b: a has 'from', b has 'to', and a gets b's
    unavailable presence."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    H.subscribe_both(ca, cb)
    ca.send_presence(to=b.jid, ptype="unsubscribe")
    ca.wait_for(H.is_roster_push(b.jid, "from", owner=a.jid), what="a: push from")
    cb.wait_for(H.is_presence(frm=a.jid, ptype="unsubscribe"))
    cb.wait_for(H.is_roster_push(a.jid, "to", owner=b.jid), what="b: push to")
    ca.wait_for(H.is_presence(frm=b.jid, ptype="unavailable"), what="a: b unavailable")
    assert H.roster_get(ca)[b.jid].get("subscription") == "from"
    assert H.roster_get(cb)[a.jid].get("subscription") == "to"


def test_cancel_subscription(xmpp_client, users):
    """RFC 6121 §3.2: b cancels a's subscription ('unsubscribed' while 'both')."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    H.subscribe_both(ca, cb)
    cb.send_presence(to=a.jid, ptype="unsubscribed")
    cb.wait_for(H.is_roster_push(a.jid, "to", owner=b.jid), what="b: push to")
    ca.wait_for(H.is_presence(frm=b.jid, ptype="unsubscribed"))
    ca.wait_for(H.is_roster_push(b.jid, "from", owner=a.jid), what="a: push from")
    ca.wait_for(H.is_presence(frm=b.jid, ptype="unavailable"), what="a: b unavailable")


def test_subscribed_without_request_changes_nothing(xmpp_client, users):
    """RFC 6121 §3.1.5: an unsolicited 'subscribed' is ignored."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    cb.send_presence(to=a.jid, ptype="subscribed")
    cb.send_message(ca.full_jid, "marker")
    ca.wait_for(H.is_message(body="marker"))
    assert not ca.has(H.is_presence(frm=b.jid, ptype="subscribed"))
    assert b.jid not in H.roster_get(ca)
