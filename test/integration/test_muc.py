# SPDX-License-Identifier: Apache-2.0
"""Multi-user chat (XEP-0045, issue 6) on one node: the service in disco, rooms
created by joining them (locked until configured), occupant presence with roles,
affiliations and status codes, nick conflicts and changes, groupchat, private
messages, history on join (maxstanzas, maxchars, seconds, since), the subject, the
configuration form (persistent, members-only, password, moderated, max occupants,
whois), kick, ban, voice, membership and admin grants, destruction, mediated
invitations, rooms defined in the directory (ldapadd, ldapmodify, groups, ldapdelete),
and security labels in rooms: each occupant gets what its clearance allows and nothing
else, the room's clearance bounds what may be said, entering needs a clearance that
dominates the room's default label, unlabelled talk gets that label (FLOT for clients
without label support), the catalog for a room, subjects without labels, private
messages checked like one-to-one messages.

Each test makes its own rooms (unique names) and, except the label tests, uses
throwaway users. Room stanzas are written as XML (muc_util); every wait is for a
stanza, with a timeout that only bounds a failure. "Nobody else got it" is checked
by a later marker message from the same sender: the room delivers in order, so had
the earlier message been delivered it would be in the inbox before the marker."""
import calendar
import math
import secrets
import time

import pytest

import harness as H
import muc_util as M
from harness import q
from muc_util import (SERVICE, codes, frm, full, is_error_reply, is_groupchat, is_occ_presence,
                      is_subject, item, join, say)


@pytest.fixture
def mc(xmpp_client):
    """mc(user, **kw): a connected client with the xep_0045 plugin (no presence sent)."""
    def make(user, **kw):
        kw.setdefault("plugins", M.MUC_PLUGINS)
        return xmpp_client(user, **kw)
    return make


def people(mc, users, n):
    """n throwaway users, each with a connected client: [(user, client)]."""
    return [(u, mc(u)) for u in users.take(n)]


def room_with(mc, users, n, config=None, prefix="room"):
    """A new room created by the first of n throwaway users (nick u0), the others
    joined as u1, u2, ...; every client's inbox cleared. Returns (room, clients)."""
    ps = people(mc, users, n)
    room = M.new_room(prefix)
    M.create(ps[0][1], room, "u0", config)
    for k, (_, c) in enumerate(ps[1:], start=1):
        join(c, room, "u%d" % k)
    clients = [c for _, c in ps]
    # everyone has everyone's presence: the last joiner's reached the others
    for k, c in enumerate(clients[:-1]):
        c.wait_for(is_occ_presence(room, "u%d" % (n - 1), "available"), 10,
                   "u%d's presence at u%d" % (n - 1, k))
    for c in clients:
        c.clear()
    return room, clients


def marker(sender, room, receivers, text=None):
    """An unlabelled groupchat marker from sender, waited for at every receiver."""
    text = text or "marker " + secrets.token_hex(3)
    say(sender, room, text)
    for c in receivers:  # it stays in the inbox (tests read the order of what came)
        c.wait_until(lambda c=c: c.has(is_groupchat(room, text)), 10,
                     "the marker %r at %s" % (text, c.jid))
    return text


def gc_bodies(c, room):
    return [st["body"] for st in c.inbox if is_groupchat(room)(st) and st["body"]]


# --------------------------------------------------------------------------------------
# Discovery


def test_domain_items_list_the_service(mc, users):
    """XEP-0045 §6.1: the server's disco#items lists conference.<domain>."""
    (_, c), = people(mc, users, 1)
    items = M.disco_items(c, H.DOMAIN)
    assert SERVICE in [j for j, _ in items], items


def test_service_info(mc, users):
    """§6.2: the service is a conference/text entity with the MUC feature."""
    (_, c), = people(mc, users, 1)
    info = M.disco_info(c, SERVICE)
    assert ("conference", "text") in [(i[0], i[1]) for i in info.identities], info.identities
    assert M.NS_MUC in info.features, sorted(info.features)


def test_service_items_list_public_rooms(mc, users):
    """§6.3: disco#items of the service lists public rooms, not hidden ones."""
    (_, c), = people(mc, users, 1)
    public, hidden = M.new_room("public"), M.new_room("hidden")
    M.create(c, public, "owner", {"roomname": "A public room"})
    M.create(c, hidden, "owner", {"publicroom": False})
    items = dict(M.disco_items(c, SERVICE))
    assert public in items, "the public room is not listed: %s" % items
    assert items[public] == "A public room", items
    assert hidden not in items, "the hidden room is listed: %s" % items


def test_room_info_features(mc, users):
    """§6.4: a room's disco#info: identity conference/text, the muc_* features of its
    configuration and a muc#roominfo form with the number of occupants; after a
    reconfiguration the features follow."""
    room, (c0, c1) = room_with(mc, users, 2)
    info = M.disco_info(c1, room)
    assert ("conference", "text") in [(i[0], i[1]) for i in info.identities], info.identities
    want = {M.NS_MUC, "muc_temporary", "muc_open", "muc_unsecured", "muc_unmoderated",
            "muc_semianonymous"}
    assert want <= info.features, "missing %s in %s" % (want - info.features, sorted(info.features))
    assert info.roominfo("muc#roominfo_occupants") == ["2"], info.forms

    r = M.configure(c0, room, {"persistentroom": True, "membersonly": True,
                               "passwordprotectedroom": True, "roomsecret": "pw",
                               "moderatedroom": True, "whois": "anyone"})
    assert r["type"] == "result", M.summary(r)
    info = M.disco_info(c0, room)
    want = {"muc_persistent", "muc_membersonly", "muc_passwordprotected", "muc_moderated",
            "muc_nonanonymous"}
    assert want <= info.features, "missing %s in %s" % (want - info.features, sorted(info.features))
    for gone in ("muc_temporary", "muc_open", "muc_unsecured", "muc_unmoderated", "muc_semianonymous"):
        assert gone not in info.features, "%s still advertised: %s" % (gone, sorted(info.features))


# --------------------------------------------------------------------------------------
# Creating a room


def test_new_room_is_locked_until_the_instant_form(mc, users):
    """§10.1: the creator's self-presence carries 201 and 110 (owner, moderator); until
    the owner accepts the instant room (an empty submitted form) another user's join
    is refused with item-not-found; afterwards it succeeds."""
    (_, a), (_, b) = people(mc, users, 2)
    room = M.new_room()
    j = join(a, room, "owner")
    assert {"201", "110"} <= codes(j.self_presence), M.summary(j.self_presence)
    it = item(j.self_presence)
    assert (it.get("affiliation"), it.get("role")) == ("owner", "moderator"), M.summary(j.self_presence)
    jb = join(b, room, "guest", expect="item-not-found")
    assert frm(jb.error) == full(room, "guest"), M.summary(jb.error)
    r = M.instant(a, room)
    assert r["type"] == "result", M.summary(r)
    jb = join(b, room, "guest")
    assert "201" not in codes(jb.self_presence), M.summary(jb.self_presence)
    a.wait_for(is_occ_presence(room, "guest", "available"), what="the guest's presence")


def test_new_room_configured_with_the_form(mc, users):
    """§10.1.3: the owner of a new room gets the muc#roomconfig form with the fields of
    the issue (persistent, members-only, password, moderated, max occupants, whois),
    submits it, and the room opens with that configuration."""
    (_, a), (_, b) = people(mc, users, 2)
    room = M.new_room()
    join(a, room, "owner")
    r, fields = M.config_form(a, room)
    assert fields is not None, "no configuration form: %s" % M.summary(r)
    assert fields.get("FORM_TYPE", (None, [None]))[1] == [M.NS_ROOMCONFIG], fields.get("FORM_TYPE")
    for var in ("roomname", "roomdesc", "persistentroom", "publicroom", "membersonly",
                "passwordprotectedroom", "roomsecret", "moderatedroom", "maxusers", "whois"):
        assert "muc#roomconfig_" + var in fields, "no %s field: %s" % (var, sorted(fields))
    r = M.configure(a, room, {"roomname": "Planning", "roomdesc": "what we do next",
                              "whois": "anyone"})
    assert r["type"] == "result", M.summary(r)
    join(b, room, "guest")
    info = M.disco_info(b, room)
    assert "Planning" in [i[2] for i in info.identities], info.identities
    assert info.roominfo("muc#roominfo_description") == ["what we do next"], info.forms
    assert "muc_nonanonymous" in info.features, sorted(info.features)
    _, fields = M.config_form(a, room)
    assert fields["muc#roomconfig_roomname"][1] == ["Planning"], fields["muc#roomconfig_roomname"]
    assert fields["muc#roomconfig_whois"][1] == ["anyone"], fields["muc#roomconfig_whois"]


# --------------------------------------------------------------------------------------
# Entering and leaving


def test_join_presence_in_a_semi_anonymous_room(mc, users):
    """§7.2: the newcomer gets the occupants' presence first, then its own with 110;
    every occupant gets the newcomer's (affiliation, role; the real JID only for
    moderators, the room being semi-anonymous); the join ends with the subject, an
    empty one when none is set (§7.2.16). Leaving: everyone, the leaver included
    (110), gets unavailable presence with role none."""
    (_, a), (_, b), (_, c) = people(mc, users, 3)
    room = M.new_room()
    M.create(a, room, "alice")
    jb = join(b, room, "bob")
    assert jb.occupant_nicks() == ["alice"], jb.describe()
    seen_owner = item(jb.occupants[0])
    assert (seen_owner.get("affiliation"), seen_owner.get("role")) == ("owner", "moderator"), \
        M.summary(jb.occupants[0])
    assert seen_owner.get("jid") is None, "a participant sees a real JID in a semi-anonymous " \
                                          "room: %s" % M.summary(jb.occupants[0])
    mine = item(jb.self_presence)
    assert (mine.get("affiliation"), mine.get("role")) == ("none", "participant"), M.summary(jb.self_presence)
    assert frm(jb.self_presence) == full(room, "bob")
    assert jb.subject is not None and not (M.subject_el(jb.subject).text or ""), \
        "no empty subject at the end of the join: %s" % jb.describe()
    assert H.bare(frm(jb.subject)) == room

    p = a.wait_for(is_occ_presence(room, "bob", "available"), what="bob's presence at the owner")
    assert item(p).get("jid") == b.full_jid, "the moderator does not see bob's real JID: %s" % M.summary(p)
    assert (item(p).get("affiliation"), item(p).get("role")) == ("none", "participant"), M.summary(p)
    assert "110" not in codes(p), M.summary(p)

    jc = join(c, room, "carol")
    assert sorted(jc.occupant_nicks()) == ["alice", "bob"], jc.describe()
    pb = b.wait_for(is_occ_presence(room, "carol", "available"), what="carol's presence at bob")
    assert item(pb).get("jid") is None, "bob sees carol's real JID: %s" % M.summary(pb)
    pa = a.wait_for(is_occ_presence(room, "carol", "available"), what="carol's presence at alice")
    assert item(pa).get("jid") == c.full_jid, M.summary(pa)

    own = M.leave(b, room, "bob")
    assert item(own).get("role") == "none", M.summary(own)
    for x in (a, c):
        p = x.wait_for(is_occ_presence(room, "bob", "unavailable"), what="bob leaving, at %s" % x.jid)
        assert item(p).get("role") == "none", M.summary(p)
    info = M.disco_info(a, room)
    assert info.roominfo("muc#roominfo_occupants") == ["2"], info.forms


def test_join_presence_in_a_non_anonymous_room(mc, users):
    """whois=anyone: the self-presence carries 100 (§7.2.3) and every occupant sees
    every real JID."""
    (_, a), (_, b), (_, c) = people(mc, users, 3)
    room = M.new_room()
    M.create(a, room, "alice", {"whois": "anyone"})
    jb = join(b, room, "bob")
    assert "100" in codes(jb.self_presence), M.summary(jb.self_presence)
    assert item(jb.occupants[0]).get("jid") == a.full_jid, M.summary(jb.occupants[0])
    join(c, room, "carol")
    p = b.wait_for(is_occ_presence(room, "carol", "available"), what="carol's presence at bob")
    assert item(p).get("jid") == c.full_jid, "bob does not see carol's real JID: %s" % M.summary(p)


def test_abrupt_disconnect_leaves_the_room(mc, users):
    """A client whose connection drops (no </stream>) leaves the room: the others get
    its unavailable presence."""
    room, (a, b) = room_with(mc, users, 2)
    b.kill()
    p = a.wait_for(is_occ_presence(room, "u1", "unavailable"), 10, "u1's unavailable presence")
    assert item(p).get("role") == "none", M.summary(p)
    assert M.disco_info(a, room).roominfo("muc#roominfo_occupants") == ["1"]


def test_nick_conflict(mc, users):
    """§7.2.9: a nickname in use is refused with conflict; another one is fine."""
    room, (a, b) = room_with(mc, users, 2)
    (_, c), = people(mc, users, 1)
    jc = join(c, room, "u1", expect="conflict")
    assert jc.error_type() == "cancel", M.summary(jc.error)
    join(c, room, "u2")
    assert not a.has(is_occ_presence(room, "u1", "unavailable")), "u1 was disturbed by the conflict"


def test_nick_change(mc, users):
    """§7.6: unavailable presence from the old nick with 303 and the new nick, then
    available from the new one, to everyone (110 for the changer); its messages then
    come from the new nick; a taken nick is refused with conflict."""
    room, (a, b) = room_with(mc, users, 2)
    b.send_raw("<presence to='%s'/>" % full(room, "robert"))
    gone_p, back_p = is_occ_presence(room, "u1", "unavailable"), is_occ_presence(room, "robert", "available")
    for x, me in ((a, False), (b, True)):
        x.wait_until(lambda: x.has(gone_p) and x.has(back_p), 10,
                     "the old nick's 303 and the new nick's presence at %s" % x.jid)
        gone = next(s for s in x.inbox if gone_p(s))
        back = next(s for s in x.inbox if back_p(s))
        assert x.inbox.index(gone) < x.inbox.index(back), "the new nick came before the 303"
        assert "303" in codes(gone), M.summary(gone)
        assert item(gone).get("nick") == "robert", M.summary(gone)
        assert ("110" in codes(gone)) == me, M.summary(gone)
        assert ("110" in codes(back)) == me, M.summary(back)
    say(b, room, "as robert")
    a.wait_for(is_groupchat(room, "as robert", nick="robert"), what="a message from the new nick")
    b.send_raw("<presence to='%s' id='taken'/>" % full(room, "u0"))
    err = b.wait_for(lambda s: s.name == "presence" and M.ptype(s) == "error" and
                     frm(s) == full(room, "u0"), what="the conflict for a taken nick")
    assert H.stanza_error_condition(err) == "conflict", M.summary(err)


# --------------------------------------------------------------------------------------
# Messages


def test_groupchat_reaches_every_occupant_and_the_sender(mc, users):
    """§7.4: a groupchat message goes to every occupant, the sender included, from
    room/nick of the sender."""
    room, clients = room_with(mc, users, 3)
    say(clients[1], room, "hello room")
    for c in clients:
        m = c.wait_for(is_groupchat(room, "hello room"), what="the groupchat at %s" % c.jid)
        assert frm(m) == full(room, "u1"), M.summary(m)
        assert not M.has_delay(m), M.summary(m)


def test_private_message_between_occupants(mc, users):
    """§7.5: a message to room/nick reaches that occupant only, from room/<sender's
    nick>; an answer goes back the same way; a nick nobody has is item-not-found."""
    room, (a, b, c) = room_with(mc, users, 3)
    M.private(b, full(room, "u2"), "just for you")
    m = c.wait_for(lambda s: s.name == "message" and s["body"] == "just for you", what="the private message")
    assert frm(m) == full(room, "u1"), M.summary(m)
    assert m["type"] == "chat", M.summary(m)
    M.private(c, full(room, "u1"), "thanks")
    m = b.wait_for(lambda s: s.name == "message" and s["body"] == "thanks", what="the answer")
    assert frm(m) == full(room, "u2"), M.summary(m)
    marker(b, room, [a, b, c])
    for x in (a, b):
        assert not x.has(lambda s: s.name == "message" and s["body"] == "just for you"), \
            "%s got a private message meant for u2" % x.jid
    mid = M.private(b, full(room, "nobody"), "to no one")
    err = b.wait_for(is_error_reply(mid), what="the error for a private message to nobody")
    assert H.stanza_error_condition(err) == "item-not-found", M.summary(err)


def test_message_from_a_non_occupant_is_refused(mc, users):
    """§7.4: a groupchat message from someone not in the room: not-acceptable, and
    nobody gets it."""
    room, (a, b) = room_with(mc, users, 2)
    (_, out), = people(mc, users, 1)
    mid = say(out, room, "let me in")
    err = out.wait_for(is_error_reply(mid), what="the error for the outsider's message")
    assert H.stanza_error_condition(err) == "not-acceptable", M.summary(err)
    marker(a, room, [a, b])
    assert not a.has(is_groupchat(room, "let me in")) and not b.has(is_groupchat(room, "let me in"))


# --------------------------------------------------------------------------------------
# History and subject


def send_all(sender, room, texts, receivers=()):
    """Says each text; waits until the sender (and receivers) got them all back."""
    for t in texts:
        say(sender, room, t)
    for c in (sender,) + tuple(receivers):
        c.wait_many(lambda s: is_groupchat(room)(s) and s["body"] in texts, len(texts), 10,
                    "the %d messages at %s" % (len(texts), c.jid))


def check_history(j, room, expected):
    got = j.history_bodies()
    assert got == expected, "history for %s: %r, expected %r" % (j.nick, got, expected)
    for m in j.history:
        d = m.xml.find(q("delay", H.NS_DELAY))
        assert d is not None, "a history message without <delay/>: %s" % M.summary(m)
        assert d.get("stamp"), M.summary(m)
        assert H.bare(d.get("from") or room) == room, M.summary(m)
        assert m["type"] == "groupchat" and H.bare(frm(m)) == room, M.summary(m)
    assert j.subject is not None and j.stanzas[-1] is j.subject, "the subject does not end the join"


def test_history_maxstanzas(mc, users):
    """§7.2.15: maxstanzas=2 gives the last two messages, maxstanzas=0 none, and no
    <history/> the default (more than five); each with <delay/> from the room, after
    the self-presence and before the subject."""
    (_, a), (_, b), (_, c), (_, d) = people(mc, users, 4)
    room = M.new_room()
    M.create(a, room, "owner")
    sent = ["h%d" % i for i in range(1, 6)]
    send_all(a, room, sent)
    check_history(join(b, room, "two", history={"maxstanzas": 2}), room, sent[-2:])
    check_history(join(c, room, "none", history={"maxstanzas": 0}), room, [])
    check_history(join(d, room, "default"), room, sent)


def test_history_maxchars(mc, users):
    """maxchars counts the characters of the history stanzas: with messages of about
    1100 characters each, maxchars=2500 gives the last two, maxchars=0 none."""
    (_, a), (_, b), (_, c) = people(mc, users, 3)
    room = M.new_room()
    M.create(a, room, "owner")
    sent = ["m%d " % i + "x" * 1000 for i in range(1, 5)]
    send_all(a, room, sent)
    check_history(join(b, room, "some", history={"maxchars": 2500}), room, sent[-2:])
    check_history(join(c, room, "none", history={"maxchars": 0}), room, [])


GAP_S = 3.5  # between the old and the new messages of the seconds/since test


def utc_stamp(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_history_seconds_and_since(mc, users):
    """Two old messages, a pause of 3.5 s, two new ones: seconds=(just below the age of
    the old ones) and since=(a moment in the pause) give the new ones only;
    seconds=3600 gives all four. (The pause makes the ages differ; nothing is timed.)"""
    (_, a), (_, b), (_, c), (_, d) = people(mc, users, 4)
    room = M.new_room()
    M.create(a, room, "owner")
    old, new = ["old1", "old2"], ["new1", "new2"]
    send_all(a, room, old)
    t_old = time.time()  # the old ones are stored by now
    H.poll(lambda: time.time() >= t_old + GAP_S, GAP_S + 5, "the pause between old and new")
    send_all(a, room, new)
    # the largest whole number of seconds below the old messages' age: they are just
    # out, the new ones (GAP_S younger) in unless the join takes GAP_S - 1 s to arrive
    seconds = math.ceil(time.time() - t_old) - 1
    check_history(join(b, room, "seconds", history={"seconds": seconds}), room, new)
    since = utc_stamp(calendar.timegm(time.gmtime(t_old + GAP_S / 2)))
    check_history(join(c, room, "since", history={"since": since}), room, new)
    check_history(join(d, room, "all", history={"seconds": 3600}), room, old + new)


def test_subject(mc, users):
    """§8.1: an occupant sets the subject; every occupant gets it from room/nick; a
    newcomer gets the history, then the subject."""
    room, (a, b) = room_with(mc, users, 2)
    say(a, room, "before the subject")
    b.wait_for(is_groupchat(room, "before the subject"))
    M.set_subject(b, room, "Today: plans")
    for x in (a, b):
        s = x.wait_for(is_subject(room), what="the subject at %s" % x.jid)
        assert M.subject_el(s).text == "Today: plans" and frm(s) == full(room, "u1"), M.summary(s)
    (_, c), = people(mc, users, 1)
    j = join(c, room, "late")
    assert j.history_bodies() == ["before the subject"], j.describe()
    assert M.subject_el(j.subject).text == "Today: plans", M.summary(j.subject)
    assert j.stanzas.index(j.history[-1]) < j.stanzas.index(j.subject), j.describe()


# --------------------------------------------------------------------------------------
# The configuration form


def test_members_only(mc, users):
    """A members-only room: a non-member gets registration-required (§7.2.7); made a
    member by the owner, it enters with affiliation member."""
    (_, a), (ub, b) = people(mc, users, 2)
    room = M.new_room()
    M.create(a, room, "owner", {"membersonly": True})
    jb = join(b, room, "bob", expect="registration-required")
    assert jb.error_type() == "auth", M.summary(jb.error)
    r = M.admin_set(a, room, {"jid": ub.jid, "affiliation": "member"})
    assert r["type"] == "result", M.summary(r)
    jb = join(b, room, "bob")
    assert item(jb.self_presence).get("affiliation") == "member", M.summary(jb.self_presence)


def test_password(mc, users):
    """A password-protected room: no or a wrong password is not-authorized (§7.2.6);
    the right one enters."""
    (_, a), (_, b) = people(mc, users, 2)
    room = M.new_room()
    M.create(a, room, "owner", {"passwordprotectedroom": True, "roomsecret": "open sesame"})
    assert join(b, room, "bob", expect="not-authorized").error_type() == "auth"
    join(b, room, "bob", password="open sesam", expect="not-authorized")
    join(b, room, "bob", password="open sesame")


def test_moderated_room_and_voice(mc, users):
    """A moderated room: a non-member enters as visitor and may not speak (forbidden,
    nobody gets it); a moderator grants voice (participant: it speaks), then revokes it
    (visitor again). Everyone sees the role changes."""
    (_, a), (_, b) = people(mc, users, 2)
    room = M.new_room()
    M.create(a, room, "owner", {"moderatedroom": True})
    jb = join(b, room, "bob")
    assert item(jb.self_presence).get("role") == "visitor", M.summary(jb.self_presence)
    mid = say(b, room, "may I?")
    err = b.wait_for(is_error_reply(mid), what="the error for the visitor's message")
    assert H.stanza_error_condition(err) == "forbidden", M.summary(err)

    r = M.admin_set(a, room, {"nick": "bob", "role": "participant"})
    assert r["type"] == "result", M.summary(r)
    for x in (a, b):
        p = x.wait_for(lambda s: is_occ_presence(room, "bob", "available")(s) and
                       item(s).get("role") == "participant", what="bob's voice at %s" % x.jid)
    say(b, room, "thank you")
    a.wait_for(is_groupchat(room, "thank you"), what="the participant's message")
    assert not a.has(is_groupchat(room, "may I?")), "the visitor's message was broadcast"

    r = M.admin_set(a, room, {"nick": "bob", "role": "visitor"})
    assert r["type"] == "result", M.summary(r)
    for x in (a, b):
        p = x.wait_for(lambda s: is_occ_presence(room, "bob", "available")(s) and
                       item(s).get("role") == "visitor", what="bob's voice revoked at %s" % x.jid)
    assert p is not None
    mid = say(b, room, "again?")
    err = b.wait_for(is_error_reply(mid), what="the error after the revocation")
    assert H.stanza_error_condition(err) == "forbidden", M.summary(err)


def test_max_occupants(mc, users):
    """maxusers=2: a third user gets service-unavailable (§7.2.10); once one leaves,
    it enters."""
    (_, a), (_, b), (_, c) = people(mc, users, 3)
    room = M.new_room()
    M.create(a, room, "owner", {"maxusers": 2})
    join(b, room, "bob")
    join(c, room, "carol", expect="service-unavailable")
    M.leave(b, room, "bob")
    join(c, room, "carol")


def test_persistent_room_is_written_to_the_directory(mc, users, slapd):
    """A persistent room created through XMPP gets an xmppRoom entry under ou=rooms
    (xmppRoomJID, its configuration, the owner's DN); a configuration change and a new
    member are written back; destroying the room deletes the entry."""
    (ua, a), (ub, b) = people(mc, users, 2)
    room = M.new_room("stored")
    M.create(a, room, "owner", {"persistentroom": True, "roomname": "Stored room"})
    dn, entry = H.poll(lambda: M.room_entry(slapd, room), 10, "the room's entry in the directory")
    assert dn.lower().endswith(M.rooms_base(slapd).lower()), dn
    assert "xmppRoom" in entry.get("objectClass", []), entry
    assert "Stored room" in entry.get("cn", []), entry
    assert [v.lower() for v in entry.get("owner", [])] == [slapd.user_dn(ua.jid).lower()], entry
    config = "\n".join(entry.get("xmppRoomConfig", []))
    assert "muc#roomconfig_persistentroom=1" in config, config

    r = M.configure(a, room, {"membersonly": True})
    assert r["type"] == "result", M.summary(r)
    r = M.admin_set(a, room, {"jid": ub.jid, "affiliation": "member"})
    assert r["type"] == "result", M.summary(r)

    def written():
        _, e = M.room_entry(slapd, room)
        cfg = "\n".join(e.get("xmppRoomConfig", []))
        members = [v.lower() for v in e.get("member", [])]
        return "muc#roomconfig_membersonly=1" in cfg and slapd.user_dn(ub.jid).lower() in members
    H.poll(written, 10, "members-only and the new member in the directory entry", interval=0.2)
    r = M.destroy(a, room)
    assert r["type"] == "result", M.summary(r)
    H.poll(lambda: M.room_entry(slapd, room) is None, 10, "the entry deleted with the room",
           interval=0.2)


# --------------------------------------------------------------------------------------
# Kick, ban, voice, grants, destruction


def test_kick(mc, users):
    """§8.2: a moderator kicks an occupant (role none): it gets unavailable with 307
    and 110, the others with 307; it may enter again."""
    room, (a, b, c) = room_with(mc, users, 3)
    r = M.admin_set(a, room, {"nick": "u1", "role": "none"}, reason="out you go")
    assert r["type"] == "result", M.summary(r)
    own = b.wait_for(is_occ_presence(room, "u1", "unavailable"), what="the kicked one's own presence")
    assert {"307", "110"} <= codes(own), M.summary(own)
    for x in (a, c):
        p = x.wait_for(is_occ_presence(room, "u1", "unavailable"), what="the kick at %s" % x.jid)
        assert "307" in codes(p), M.summary(p)
    join(b, room, "u1")


def test_ban(mc, users):
    """§9.1: an admin/owner bans a user (affiliation outcast): it leaves with 301, is in
    the outcast list, and entering again is forbidden."""
    room, (a, b, c) = room_with(mc, users, 3)
    ub_jid = H.bare(b.full_jid)
    r = M.admin_set(a, room, {"jid": ub_jid, "affiliation": "outcast"}, reason="banned")
    assert r["type"] == "result", M.summary(r)
    own = b.wait_for(is_occ_presence(room, "u1", "unavailable"), what="the banned one's own presence")
    assert {"301", "110"} <= codes(own), M.summary(own)
    p = c.wait_for(is_occ_presence(room, "u1", "unavailable"), what="the ban at u2")
    assert "301" in codes(p), M.summary(p)
    r, items = M.admin_list(a, room, affiliation="outcast")
    assert items is not None, M.summary(r)
    assert [i.get("jid") for i in items] == [ub_jid], items
    jb = join(b, room, "u1", expect="forbidden")
    assert jb.error_type() == "auth", M.summary(jb.error)


def test_grant_membership_and_admin(mc, users):
    """§9.3, §10.6: the owner grants membership and admin; the lists (muc#admin get)
    show them; the new admin, in the room, becomes moderator; a participant may not
    read the lists (forbidden)."""
    room, (a, b, c) = room_with(mc, users, 3)
    jb, jc = H.bare(b.full_jid), H.bare(c.full_jid)
    r = M.admin_set(b, room, {"jid": jc, "affiliation": "member"})
    assert H.iq_error_condition(r) == "forbidden", M.summary(r)
    r = M.admin_set(a, room, {"jid": jb, "affiliation": "member"})
    assert r["type"] == "result", M.summary(r)
    r = M.admin_set(a, room, {"jid": jc, "affiliation": "admin"})
    assert r["type"] == "result", M.summary(r)
    p = a.wait_for(lambda s: is_occ_presence(room, "u2", "available")(s) and
                   item(s).get("affiliation") == "admin", what="u2 becoming admin")
    assert item(p).get("role") == "moderator", M.summary(p)
    p = c.wait_for(lambda s: is_occ_presence(room, "u1", "available")(s) and
                   item(s).get("affiliation") == "member", what="u1 becoming member, at u2")
    expected = {"member": [jb], "admin": [jc], "owner": [H.bare(a.full_jid)]}
    for aff, jids in expected.items():
        r, items = M.admin_list(a, room, affiliation=aff)
        assert items is not None, M.summary(r)
        assert sorted(i.get("jid") for i in items) == jids, (aff, items)
        assert all(i.get("affiliation") == aff for i in items), items
    r, items = M.admin_list(b, room, affiliation="member")
    assert items is None and H.iq_error_condition(r) == "forbidden", M.summary(r)


def test_non_moderator_cannot_kick(mc, users):
    """A participant's kick is refused with forbidden and changes nothing."""
    room, (a, b, c) = room_with(mc, users, 3)
    r = M.admin_set(b, room, {"nick": "u2", "role": "none"})
    assert H.iq_error_condition(r) == "forbidden", M.summary(r)
    marker(c, room, [a, b, c])
    assert not a.has(is_occ_presence(room, "u2", "unavailable")), "u2 was kicked by a participant"


def test_destroy(mc, users):
    """§10.9: a non-owner may not destroy the room (forbidden); the owner does: every
    occupant gets unavailable presence with <destroy/> (and the reason), and the room
    is gone."""
    room, (a, b) = room_with(mc, users, 2)
    r = M.destroy(b, room)
    assert H.iq_error_condition(r) == "forbidden", M.summary(r)
    r = M.destroy(a, room, reason="we are done", alt=M.new_room("elsewhere"))
    assert r["type"] == "result", M.summary(r)
    for x, nick in ((a, "u0"), (b, "u1")):
        p = x.wait_for(is_occ_presence(room, nick, "unavailable"), what="the destruction at %s" % x.jid)
        d = M.muc_user_x(p).find(q("destroy", M.NS_MUC_USER))
        assert d is not None, "no <destroy/> in %s" % M.summary(p)
        reason = d.find(q("reason", M.NS_MUC_USER))
        assert reason is not None and reason.text == "we are done", M.summary(p)
    r = M.disco_info(a, room, check=False)
    assert not isinstance(r, M.Info), "the destroyed room still answers disco#info: %s" % r.features
    assert H.iq_error_condition(r) == "item-not-found", M.summary(r)


# --------------------------------------------------------------------------------------
# Invitations


def test_mediated_invitation_and_decline(mc, users):
    """§7.8.2: an occupant invites a user through the room; the invitee gets a message
    from the room with <invite from=inviter/> and the reason; its decline goes back to
    the inviter from the room with <decline from=invitee/>."""
    room, (a,) = room_with(mc, users, 1)
    (ud, d), = people(mc, users, 1)
    for c in (a, d):  # available: invitations and declines go to bare JIDs
        c.send_presence()
    a.send_raw("<message to='%s' id='inv1'><x xmlns='%s'><invite to='%s'><reason>join us</reason>"
               "</invite></x></message>" % (room, M.NS_MUC_USER, ud.jid))
    inv = d.wait_for(lambda s: s.name == "message" and H.bare(frm(s)) == room and
                     M.muc_user_x(s) is not None and
                     M.muc_user_x(s).find(q("invite", M.NS_MUC_USER)) is not None,
                     what="the invitation")
    el = M.muc_user_x(inv).find(q("invite", M.NS_MUC_USER))
    # the inviter's bare, full or occupant JID
    assert el.get("from") in (H.bare(a.full_jid), a.full_jid, full(room, "u0")), M.summary(inv)
    reason = el.find(q("reason", M.NS_MUC_USER))
    assert reason is not None and reason.text == "join us", M.summary(inv)
    assert frm(inv) == room, M.summary(inv)
    d.send_raw("<message to='%s' id='dec1'><x xmlns='%s'><decline to='%s'><reason>busy</reason>"
               "</decline></x></message>" % (room, M.NS_MUC_USER, H.bare(a.full_jid)))
    dec = a.wait_for(lambda s: s.name == "message" and H.bare(frm(s)) == room and
                     M.muc_user_x(s) is not None and
                     M.muc_user_x(s).find(q("decline", M.NS_MUC_USER)) is not None,
                     what="the decline")
    el = M.muc_user_x(dec).find(q("decline", M.NS_MUC_USER))
    assert H.bare(el.get("from") or "") == ud.jid, M.summary(dec)
    reason = el.find(q("reason", M.NS_MUC_USER))
    assert reason is not None and reason.text == "busy", M.summary(dec)


# --------------------------------------------------------------------------------------
# Rooms in the directory


def add_room(slapd, room, **kw):
    slapd.ldap_add(M.room_ldif(slapd, room, **kw))
    return M.room_dn(slapd, room)


def test_directory_room_is_joinable(mc, users, slapd):
    """A room added with ldapadd (xmppRoomJID, cn, owner DN, configuration) is there
    within seconds (disco#info answers): its owner enters as owner without creating it
    (no 201), others as participants; it is persistent and has the configured name."""
    (uo, o), (_, b) = people(mc, users, 2)
    room = M.new_room("ldap")
    add_room(slapd, room, name="From LDAP", owners=[slapd.user_dn(uo.jid)],
             config={"roomdesc": "defined by an administrator"})
    M.wait_room(o, room)
    jo = join(o, room, "owner")
    assert "201" not in codes(jo.self_presence), M.summary(jo.self_presence)
    it = item(jo.self_presence)
    assert (it.get("affiliation"), it.get("role")) == ("owner", "moderator"), M.summary(jo.self_presence)
    jb = join(b, room, "guest")
    assert item(jb.self_presence).get("affiliation") == "none", M.summary(jb.self_presence)
    info = M.disco_info(b, room)
    assert "muc_persistent" in info.features, sorted(info.features)
    assert "From LDAP" in [i[2] for i in info.identities], info.identities
    assert info.roominfo("muc#roominfo_description") == ["defined by an administrator"], info.forms


def test_directory_room_change_changes_behaviour(mc, users, slapd):
    """ldapmodify of a room's xmppRoomConfig (members-only set): the room follows (its
    disco#info says muc_membersonly) and a non-member is then refused."""
    (uo, o), (_, b) = people(mc, users, 2)
    room = M.new_room("ldapmod")
    dn = add_room(slapd, room, owners=[slapd.user_dn(uo.jid)])
    M.wait_room(o, room)
    join(b, room, "early")
    M.leave(b, room, "early")
    slapd.ldap_modify("dn: %s\nchangetype: modify\nreplace: xmppRoomConfig\nxmppRoomConfig:: %s\n" % (
        dn, M.b64(M.config_text({"membersonly": True}))))
    H.poll(lambda: "muc_membersonly" in M.disco_info(o, room).features, 5,
           "the room to become members-only", interval=0.1)
    join(b, room, "late", expect="registration-required")


def test_directory_group_gives_affiliation(mc, users, slapd):
    """A members-only room whose member is a groupOfNames: the group's members enter
    (affiliation member), others do not; a user added to the group with ldapmodify is
    then in the member list and enters."""
    (uo, o), (ua, a), (ub, b) = people(mc, users, 3)
    room = M.new_room("grp")
    group = "grp-%s" % secrets.token_hex(3)
    slapd.ldap_add(M.group_ldif(slapd, group, [slapd.user_dn(ua.jid)]))
    group_dn = M.group_dn(slapd, group)
    add_room(slapd, room, owners=[slapd.user_dn(uo.jid)], members=[group_dn],
             config={"membersonly": True})
    M.wait_room(o, room)
    ja = join(a, room, "member")
    assert item(ja.self_presence).get("affiliation") == "member", M.summary(ja.self_presence)
    join(b, room, "outsider", expect="registration-required")
    slapd.ldap_modify("dn: %s\nchangetype: modify\nadd: member\nmember: %s\n" % (
        group_dn, slapd.user_dn(ub.jid)))

    def listed():
        r, items = M.admin_list(o, room, affiliation="member")
        assert items is not None, M.summary(r)
        return ub.jid in [i.get("jid") for i in items]
    H.poll(listed, 5, "the new group member in the room's member list", interval=0.1)
    jb = join(b, room, "newmember")
    assert item(jb.self_presence).get("affiliation") == "member", M.summary(jb.self_presence)


def test_directory_room_deleted_is_destroyed(mc, users, slapd):
    """ldapdelete of a room's entry destroys the room: its occupants get unavailable
    presence with <destroy/>, and the room is gone."""
    (uo, o), (_, b) = people(mc, users, 2)
    room = M.new_room("ldapdel")
    dn = add_room(slapd, room, owners=[slapd.user_dn(uo.jid)])
    M.wait_room(o, room)
    join(b, room, "guest")
    slapd.ldap_delete(dn)
    p = b.wait_for(is_occ_presence(room, "guest", "unavailable"), 10, "the destruction notice")
    assert M.muc_user_x(p).find(q("destroy", M.NS_MUC_USER)) is not None, M.summary(p)
    M.wait_room_gone(o, room)


# --------------------------------------------------------------------------------------
# Labels in rooms


@pytest.fixture
def labelled_room(slapd, sample, ctl):
    """labelled_room(clearance=SECRET_CLEARANCE, default=None, prefix, **kw): a room added
    with ldapadd, owner alice, with that clearance (text form) and default label (text
    form); returns its JID once the node has it."""
    def make(clearance=M.SECRET_CLEARANCE, default=None, prefix="lbl", check_client=None, **kw):
        room = M.new_room(prefix)
        add_room(slapd, room, owners=[slapd.user_dn(sample["alice"].jid)],
                 clearance=ctl.clearance_der(clearance) if clearance else None,
                 default_label=ctl.ess(default) if default else None, **kw)
        if check_client is not None:
            M.wait_room(check_client, room)
        return room
    return make


def aware(xmpp_client, node, user, **kw):
    return M.online(xmpp_client, node, user, aware=True, **kw)


def test_labelled_groupchat_reaches_only_the_cleared(xmpp_client, node, sample, ctl, users,
                                                     labelled_room):
    """A room cleared up to SECRET with alice (SECRET), carol (RESTRICTED) and dave (no
    clearance): a SECRET message reaches alice only, a RESTRICTED one alice and carol,
    an unlabelled one all three; nobody gets a placeholder and alice no error. History
    on join: a newcomer cleared SECRET gets all, one cleared RESTRICTED the RESTRICTED
    and unlabelled ones, one without clearance the unlabelled ones."""
    ca = aware(xmpp_client, node, sample["alice"])
    cc = aware(xmpp_client, node, sample["carol"])
    cd = aware(xmpp_client, node, sample["dave"])
    room = labelled_room(check_client=ca)
    for c, nick in ((ca, "alice"), (cc, "carol"), (cd, "dave")):
        join(c, room, nick)
    for c in (ca, cc, cd):
        c.clear()
    ids = [say(ca, room, "secret words", label=ctl.ess(M.SECRET)),
           say(ca, room, "restricted words", label=ctl.ess(M.RESTRICTED)),
           say(ca, room, "plain words")]
    end = marker(ca, room, [ca, cc, cd], "the end")
    assert gc_bodies(ca, room) == ["secret words", "restricted words", "plain words", end]
    assert gc_bodies(cc, room) == ["restricted words", "plain words", end]
    assert gc_bodies(cd, room) == ["plain words", end]
    for c, n in ((cc, 3), (cd, 2)):  # no placeholder: no other message from the room at all
        from_room = [M.summary(st) for st in c.inbox if st.name == "message" and H.bare(frm(st)) == room]
        assert len(from_room) == n, "%s got from the room: %s" % (c.jid, from_room)
    for c in (cc, cd):  # no trace of the message in any form
        assert not c.has(lambda s: s.name == "message" and s["id"] == ids[0] and s["type"] != "error"), \
            "%s got something for the SECRET message" % c.jid
        assert not c.has(lambda s: "secret words" in str(s)), "%s saw the SECRET text" % c.jid
    m = next(s for s in ca.inbox if is_groupchat(room, "secret words")(s))
    assert (M.label_of(m) or (None,))[0] == "SECRET", M.summary(m)
    m = next(s for s in cc.inbox if is_groupchat(room, "restricted words")(s))
    assert (M.label_of(m) or (None,))[0] == "RESTRICTED", M.summary(m)
    assert not ca.has(lambda s: s.name == "message" and s["type"] == "error"), \
        "alice got an error: %s" % [M.summary(s) for s in ca.inbox if s["type"] == "error"]

    (us,) = users.take(1, clearance=M.SECRET_CLEARANCE)
    (ur,) = users.take(1, clearance=M.RESTRICTED_CLEARANCE)
    (un,) = users.take(1)
    expected = {us: ["secret words", "restricted words", "plain words", end],
                ur: ["restricted words", "plain words", end],
                un: ["plain words", end]}
    for u, want in expected.items():
        c = aware(xmpp_client, node, u)
        j = join(c, room, u.localpart, history={"maxstanzas": 20})
        assert j.history_bodies() == want, "history of %s: %r" % (u.jid, j.history_bodies())
    (ur2,) = users.take(1, clearance=M.RESTRICTED_CLEARANCE)
    j = join(aware(xmpp_client, node, ur2), room, "two", history={"maxstanzas": 2})
    assert j.history_bodies() == ["plain words", end], \
        "maxstanzas counts what the newcomer may read: %r" % j.history_bodies()


@pytest.mark.parametrize("room_clearance, label", [
    ("policy=PALISADE class=SECRET categories=EU,GBR,FRA,DEU,USA", "policy=PALISADE class=SECRET categories=NATO"),
    (M.RESTRICTED_CLEARANCE, M.CONFIDENTIAL),
], ids=["category-the-room-lacks", "above-the-room"])
def test_label_outside_the_room_clearance_is_refused(xmpp_client, node, sample, ctl, labelled_room,
                                                     room_clearance, label):
    """alice may send the label (her clearance holds it) but the room's clearance does
    not: she gets an error for her message, and nobody, she included, gets it."""
    ca = aware(xmpp_client, node, sample["alice"])
    cb = aware(xmpp_client, node, sample["bob"])
    room = labelled_room(clearance=room_clearance, check_client=ca)
    join(ca, room, "alice")
    join(cb, room, "bob")
    mid = say(ca, room, "out of bounds", label=ctl.ess(label))
    err = ca.wait_for(is_error_reply(mid), what="the error for the label outside the room")
    assert H.stanza_error_condition(err) == "forbidden", M.summary(err)
    marker(ca, room, [ca, cb])
    for c in (ca, cb):
        assert not c.has(is_groupchat(room, "out of bounds")), "%s got the refused message" % c.jid


def test_entering_needs_the_room_default_label(xmpp_client, node, sample, ctl, labelled_room):
    """A room with default label RESTRICTED: dave (no clearance) is refused with
    forbidden; carol (RESTRICTED) and alice enter."""
    ca = aware(xmpp_client, node, sample["alice"])
    room = labelled_room(clearance=M.RESTRICTED_CLEARANCE, default=M.RESTRICTED, check_client=ca)
    cd = aware(xmpp_client, node, sample["dave"])
    jd = join(cd, room, "dave", expect="forbidden")
    assert jd.error_type() == "auth", M.summary(jd.error)
    join(aware(xmpp_client, node, sample["carol"]), room, "carol")
    join(ca, room, "alice")
    assert not ca.has(is_occ_presence(room, "dave")), "dave appeared in the room"


def test_unlabelled_talk_gets_the_room_default_label(xmpp_client, node, sample, ctl, users,
                                                     labelled_room):
    """In a room with default label RESTRICTED an unlabelled message carries RESTRICTED
    for a label-aware client (carol) and the marking as the first line of the body
    (FLOT) for a client without label support."""
    ca = aware(xmpp_client, node, sample["alice"])
    room = labelled_room(clearance=M.RESTRICTED_CLEARANCE, default=M.RESTRICTED, check_client=ca)
    cc = aware(xmpp_client, node, sample["carol"])
    (u,) = users.take(1, clearance=M.RESTRICTED_CLEARANCE)
    cu = M.online(xmpp_client, node, u, aware=False)
    for c, nick in ((ca, "alice"), (cc, "carol"), (cu, "plain")):
        join(c, room, nick)
    say(ca, room, "meeting at ten")
    m = cc.wait_for(is_groupchat(room, "meeting at ten"), what="carol's copy")
    assert M.label_of(m) == ("RESTRICTED", ctl.ess(M.RESTRICTED)), M.summary(m)
    m = cu.wait_for(is_groupchat(room, contains="meeting at ten"), what="the FLOT copy")
    assert m["body"] == "RESTRICTED\nmeeting at ten", repr(m["body"])
    m = ca.wait_for(is_groupchat(room, "meeting at ten"), what="alice's own copy")
    assert (M.label_of(m) or (None,))[0] == "RESTRICTED", M.summary(m)


def test_catalog_for_a_room(xmpp_client, node, sample, ctl, labelled_room):
    """XEP-0258 catalog with the room as destination: the labels inside both the room's
    clearance and the sender's; the room's default label is the default item."""
    ca = xmpp_client(sample["alice"], plugins=M.AWARE_PLUGINS)
    cc = xmpp_client(sample["carol"], plugins=M.AWARE_PLUGINS)
    cd = xmpp_client(sample["dave"], plugins=M.AWARE_PLUGINS)
    secret_room = labelled_room(check_client=ca)
    restricted_room = labelled_room(clearance=M.RESTRICTED_CLEARANCE, default=M.RESTRICTED,
                                    check_client=ca)
    all4 = [M.SECRET, M.CONFIDENTIAL, M.RESTRICTED, M.UNCLASSIFIED]
    low2 = [M.RESTRICTED, M.UNCLASSIFIED]
    for c, room, expected, dflt in ((ca, secret_room, all4, None), (cc, secret_room, low2, None),
                                    (cd, secret_room, [], None),
                                    (ca, restricted_room, low2, "RESTRICTED")):
        items = M.catalog(c, room)
        assert isinstance(items, list), "catalog for %s failed: %s" % (room, M.summary(items))
        got = sorted((marking, ess) for marking, ess, _ in items)
        want = sorted((lbl.split("class=")[1], ctl.ess(lbl)) for lbl in expected)
        assert got == want, "catalog of %s for %s: %s" % (c.jid, room, [m for m, _ in got])
        defaults = [marking for marking, _, d in items if d]
        assert defaults == ([dflt] if dflt else []), "default items: %r" % defaults


def test_subject_carries_no_label(xmpp_client, node, sample, ctl, users, labelled_room):
    """In a room with default label RESTRICTED the subject is not labelled: not when it
    is set, not for a newcomer."""
    ca = aware(xmpp_client, node, sample["alice"])
    room = labelled_room(clearance=M.RESTRICTED_CLEARANCE, default=M.RESTRICTED, check_client=ca)
    cc = aware(xmpp_client, node, sample["carol"])
    join(ca, room, "alice")
    join(cc, room, "carol")
    M.set_subject(cc, room, "Weekly sync")
    for c in (ca, cc):
        s = c.wait_for(is_subject(room), what="the subject at %s" % c.jid)
        assert M.subject_el(s).text == "Weekly sync", M.summary(s)
        assert M.label_of(s) is None, "the subject carries a label: %s" % M.summary(s)
    (u,) = users.take(1, clearance=M.RESTRICTED_CLEARANCE)
    j = join(aware(xmpp_client, node, u), room, "late")
    assert M.subject_el(j.subject).text == "Weekly sync", M.summary(j.subject)
    assert M.label_of(j.subject) is None, "the newcomer's subject carries a label: %s" % M.summary(j.subject)


def test_private_message_checked_like_one_to_one(xmpp_client, node, sample, ctl, labelled_room):
    """A SECRET private message from alice to carol's nick is refused (alice gets an
    error, carol nothing); a RESTRICTED one arrives with its label, from alice's room
    JID."""
    ca = aware(xmpp_client, node, sample["alice"])
    cc = aware(xmpp_client, node, sample["carol"])
    room = labelled_room(check_client=ca)
    join(ca, room, "alice")
    join(cc, room, "carol")
    mid = M.private(ca, full(room, "carol"), "secret aside", label=ctl.ess(M.SECRET))
    err = ca.wait_for(is_error_reply(mid), what="the error for the SECRET private message")
    assert H.stanza_error_condition(err) == "forbidden", M.summary(err)
    M.private(ca, full(room, "carol"), "restricted aside", label=ctl.ess(M.RESTRICTED))
    m = cc.wait_for(lambda s: s.name == "message" and s["body"] == "restricted aside",
                    what="the RESTRICTED private message")
    assert frm(m) == full(room, "alice"), M.summary(m)
    assert (M.label_of(m) or (None,))[0] == "RESTRICTED", M.summary(m)
    assert not cc.has(lambda s: s.name == "message" and "secret aside" in (s["body"] or "")), \
        "carol got the SECRET private message"


def test_sample_rooms(xmpp_client, node, sample):
    """The rooms of scripts/load-sample.sh: briefing@ (cleared up to SECRET, open) and
    restricted@ (default label RESTRICTED, members-only, members from the group
    analysts: carol and bob). alice, the owner, enters both as owner; carol and bob
    enter restricted@ as members; dave, whose clearance does not dominate its default
    label, is refused with forbidden (chosen over registration-required: no
    membership would let him in)."""
    briefing, restricted = "briefing@" + SERVICE, "restricted@" + SERVICE
    ca = aware(xmpp_client, node, sample["alice"])
    for room in (briefing, restricted):
        info = M.disco_info(ca, room)
        assert "muc_persistent" in info.features, sorted(info.features)
    assert "muc_membersonly" in M.disco_info(ca, restricted).features
    assert "muc_open" in M.disco_info(ca, briefing).features
    for room in (briefing, restricted):
        j = join(ca, room, "alice-" + secrets.token_hex(2), history={"maxstanzas": 0})
        assert item(j.self_presence).get("affiliation") == "owner", M.summary(j.self_presence)
    for who in ("carol", "bob"):
        j = join(aware(xmpp_client, node, sample[who]), restricted, who + "-" + secrets.token_hex(2),
                 history={"maxstanzas": 0})
        assert item(j.self_presence).get("affiliation") == "member", M.summary(j.self_presence)
    jd = join(aware(xmpp_client, node, sample["dave"]), restricted, "dave", expect="forbidden")
    assert jd.error is not None
