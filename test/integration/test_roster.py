# SPDX-License-Identifier: Apache-2.0
"""Roster management (RFC 6121 §2): get, set, update, remove; pushes to every
interested resource; the roster is kept across sessions (it lives in the directory)."""
import harness as H
from harness import NS_ROSTER


def interested(xmpp_client, user, resource):
    """A session that requested the roster: an "interested resource" (RFC 6121 §2.1.6)."""
    c = xmpp_client(user, resource=resource)
    H.roster_get(c)
    return c


def test_new_user_has_an_empty_roster(xmpp_client, users):
    (u,) = users.take(1)
    assert H.roster_get(xmpp_client(u)) == {}


def test_set_pushes_and_get_returns_the_item(xmpp_client, users):
    u, contact = users.take(2)
    c = interested(xmpp_client, u, "one")
    r = H.roster_set(c, contact.jid, name="Contact", groups=["Friends", "Work"])
    assert r["type"] == "result", H._summary(r)
    push = c.wait_for(H.is_roster_push(contact.jid, owner=u.jid), what="roster push")
    item = H.roster_items(push)[contact.jid]
    assert item.get("name") == "Contact"
    assert item.get("subscription", "none") == "none"
    items = H.roster_get(c)
    assert list(items) == [contact.jid]
    got = items[contact.jid]
    assert got.get("name") == "Contact"
    assert got.get("subscription", "none") == "none"
    assert sorted(g.text for g in got.findall(H.q("group", NS_ROSTER))) == ["Friends", "Work"]


def test_pushes_reach_two_resources(xmpp_client, users):
    u, contact = users.take(2)
    c1 = interested(xmpp_client, u, "one")
    c2 = interested(xmpp_client, u, "two")
    assert H.roster_set(c1, contact.jid, name="Pal")["type"] == "result"
    for c in (c1, c2):
        push = c.wait_for(H.is_roster_push(contact.jid, owner=u.jid), what="push on %s" % c.resource)
        assert H.roster_items(push)[contact.jid].get("name") == "Pal"
    # update from the other resource
    assert H.roster_set(c2, contact.jid, name="Old pal", groups=["G"])["type"] == "result"
    for c in (c1, c2):
        push = c.wait_for(H.is_roster_push(contact.jid, owner=u.jid), what="update push")
        assert H.roster_items(push)[contact.jid].get("name") == "Old pal"
    assert H.roster_get(c1)[contact.jid].get("name") == "Old pal"


def test_remove_pushes_and_forgets(xmpp_client, users):
    u, contact = users.take(2)
    c1 = interested(xmpp_client, u, "one")
    c2 = interested(xmpp_client, u, "two")
    assert H.roster_set(c1, contact.jid, name="Tmp")["type"] == "result"
    for c in (c1, c2):
        c.wait_for(H.is_roster_push(contact.jid), what="add push")
    r = H.roster_set(c2, contact.jid, subscription="remove")
    assert r["type"] == "result", H._summary(r)
    for c in (c1, c2):
        c.wait_for(H.is_roster_push(contact.jid, subscription="remove", owner=u.jid), what="remove push")
    assert contact.jid not in H.roster_get(c1)


def test_removing_an_unknown_item_is_item_not_found(xmpp_client, users):
    """RFC 6121 §2.5.3."""
    (u,) = users.take(1)
    c = xmpp_client(u)
    r = H.roster_set(c, "nobody-here@%s" % H.DOMAIN, subscription="remove")
    assert H.iq_error_condition(r) == "item-not-found"


def test_set_with_two_items_is_bad_request(xmpp_client, users):
    """RFC 6121 §2.3.3: a roster set contains exactly one item."""
    u, x, y = users.take(3)
    c = xmpp_client(u)
    r = c.iq("set", "<query xmlns='%s'><item jid='%s'/><item jid='%s'/></query>" % (NS_ROSTER, x.jid, y.jid))
    assert H.iq_error_condition(r) == "bad-request"
    assert H.roster_get(c) == {}


def test_roster_of_another_user_is_not_accessible(xmpp_client, users):
    """RFC 6121 §2.1.5: a roster get addressed to another account is refused."""
    u, other = users.take(2)
    c = xmpp_client(u)
    r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to=other.jid)
    assert r["type"] == "error"
    assert H.stanza_error_condition(r) in ("forbidden", "service-unavailable", "not-allowed")


def test_roster_is_kept_across_sessions(xmpp_client, users):
    u, contact = users.take(2)
    c = interested(xmpp_client, u, "one")
    assert H.roster_set(c, contact.jid, name="Kept", groups=["Saved"])["type"] == "result"
    c.wait_for(H.is_roster_push(contact.jid))
    c.disconnect()
    c2 = xmpp_client(u, resource="two")
    item = H.roster_get(c2).get(contact.jid)
    assert item is not None, "roster item lost after logout"
    assert item.get("name") == "Kept"
    assert [g.text for g in item.findall(H.q("group", NS_ROSTER))] == ["Saved"]
