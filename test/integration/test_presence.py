# SPDX-License-Identifier: Apache-2.0
"""Presence (RFC 6121 §4): broadcast to subscribers and to the user's other resources,
probes at login, unavailable when a session ends (cleanly or abruptly), directed
presence, and no presence for those not subscribed."""
import pytest

import harness as H


def online(xmpp_client, user, resource="r", **kw):
    c = xmpp_client(user, resource=resource, **kw)
    H.roster_get(c)
    c.send_presence()
    return c


@pytest.fixture
def contacts(xmpp_client, users):
    """Two users subscribed to each other, both online."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    H.subscribe_both(ca, cb)
    ca.clear()
    cb.clear()
    return a, b, ca, cb


def test_broadcast_reaches_subscribers(contacts):
    a, b, ca, cb = contacts
    ca.send_presence(show="dnd", status="in a meeting", priority=3)
    p = cb.wait_for(H.is_presence(frm=ca.full_jid, status="in a meeting"))
    assert p["show"] == "dnd"
    assert int(p["priority"]) == 3
    assert p.xml.get("to") in (None, b.jid, cb.full_jid)


def test_broadcast_reaches_the_users_other_resources(xmpp_client, users):
    """RFC 6121 §4.2.2 and §4.4.2: the user's own available resources see each other."""
    (u,) = users.take(1)
    c1 = online(xmpp_client, u, resource="one")
    c2 = online(xmpp_client, u, resource="two")
    c1.wait_for(H.is_presence(frm=c2.full_jid, ptype="available"), what="one sees two come online")
    c2.wait_for(H.is_presence(frm=c1.full_jid, ptype="available"), what="two sees one (probe)")
    c2.send_presence(status="moved")
    c1.wait_for(H.is_presence(frm=c2.full_jid, status="moved"))


def test_probe_at_login_shows_online_contacts(xmpp_client, users):
    """RFC 6121 §4.2.2/§4.3: at initial presence the server probes the contacts the user
    is subscribed to and delivers the presence of those online."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    H.subscribe_both(ca, cb)
    cb.send_presence(show="xa", status="b's status")
    ca.wait_for(H.is_presence(frm=cb.full_jid, status="b's status"))
    ca.disconnect()
    cb.wait_for(H.is_presence(frm=ca.full_jid, ptype="unavailable"))
    # a comes back: b's last presence arrives without b doing anything
    ca2 = online(xmpp_client, a, resource="back")
    p = ca2.wait_for(H.is_presence(frm=cb.full_jid, ptype="available"), what="b's presence from the probe")
    assert p["status"] == "b's status" and p["show"] == "xa"
    # and b learns that a is back
    cb.wait_for(H.is_presence(frm=ca2.full_jid, ptype="available"))


def test_no_presence_before_initial_presence(xmpp_client, users):
    """A connected resource that has not sent initial presence gets no broadcasts."""
    a, b = users.take(2)
    ca = online(xmpp_client, a)
    cb = online(xmpp_client, b)
    H.subscribe_both(ca, cb)
    ca.disconnect()
    ca2 = xmpp_client(a, resource="quiet")  # no presence sent
    cb.send_presence(status="hello?")
    cb.send_message(ca2.full_jid, "marker")
    ca2.wait_for(H.is_message(body="marker"))
    assert not ca2.has(H.is_presence(frm=cb.full_jid, status="hello?"))


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_unavailable_after_the_client_is_killed(how, contacts):
    """The TCP connection closes with no </stream:stream> and no unavailable presence:
    the server sends unavailable on the client's behalf (RFC 6121 §4.5.1)."""
    a, b, ca, cb = contacts
    gone = ca.full_jid
    ca.kill(rst=(how == "rst"))
    cb.wait_for(H.is_presence(frm=gone, ptype="unavailable"), timeout=10,
                what="unavailable from the killed client")


def test_unavailable_on_clean_logout(contacts):
    a, b, ca, cb = contacts
    gone = ca.full_jid
    ca.disconnect()
    cb.wait_for(H.is_presence(frm=gone, ptype="unavailable"))


def test_explicit_unavailable_is_broadcast(contacts):
    a, b, ca, cb = contacts
    ca.send_presence(ptype="unavailable", status="bye")
    p = cb.wait_for(H.is_presence(frm=ca.full_jid, ptype="unavailable"))
    assert p["status"] == "bye"


def test_no_broadcast_to_non_subscribers(contacts, xmpp_client, users):
    a, b, ca, cb = contacts
    (stranger,) = users.take(1)
    cs = online(xmpp_client, stranger)
    ca.send_presence(status="for subscribers only")
    cb.wait_for(H.is_presence(frm=ca.full_jid, status="for subscribers only"))
    ca.send_message(cs.full_jid, "marker")  # same sender, later: arrives after any leak
    cs.wait_for(H.is_message(body="marker"))
    assert not cs.has(H.is_presence(frm=ca.full_jid))


def test_directed_presence_and_its_unavailable(xmpp_client, users):
    """RFC 6121 §4.6: directed presence reaches a non-contact; when the sender goes
    offline, the server sends unavailable to that entity too."""
    a, c = users.take(2)
    ca = online(xmpp_client, a)
    cc = online(xmpp_client, c)
    ca.send_presence(to=cc.full_jid, status="just for you")
    p = cc.wait_for(H.is_presence(frm=ca.full_jid, status="just for you"))
    assert p.xml.get("type") is None
    gone = ca.full_jid
    ca.kill()
    cc.wait_for(H.is_presence(frm=gone, ptype="unavailable"), timeout=10,
                what="unavailable to the directed-presence recipient")


def test_directed_presence_to_bare_jid_reaches_available_resources(xmpp_client, users):
    a, c = users.take(2)
    ca = online(xmpp_client, a)
    c1 = online(xmpp_client, c, resource="one")
    c2 = online(xmpp_client, c, resource="two")
    ca.send_presence(to=c.jid, status="to all of you")
    for cc in (c1, c2):
        cc.wait_for(H.is_presence(frm=ca.full_jid, status="to all of you"))



def test_kept_presence_shared_between_sessions_stays_each_sessions_own(xmpp_client, users):
    """Sessions whose presences say the same share one kept copy (without from, to or the
    client's id): when one of them leaves, the other's presence still reaches its user's
    new resource, from its own full JID, and no stale id is replayed."""
    u, v = users.take(2)
    cu = xmpp_client(u, resource="one")
    cv = xmpp_client(v, resource="one")
    for c, pid in ((cu, "u-pres-1"), (cv, "v-pres-1")):
        H.roster_get(c)
        p = c.x.make_presence(pshow="away", pstatus="same words")
        p["id"] = pid
        c.send(p)
    cv.disconnect()
    cu2 = online(xmpp_client, u, resource="two")
    p = cu2.wait_for(H.is_presence(frm=cu.full_jid, status="same words"),
                     what="two gets one's kept presence")
    assert p["show"] == "away"
    assert p.xml.get("id") != "u-pres-1"
