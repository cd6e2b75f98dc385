# SPDX-License-Identifier: Apache-2.0
"""Multi-user chat across the cluster (issue 6): three nodes of the sanitized build
(cluster_fixtures.py, as test_cluster.py runs them), occupants of one room on
different nodes.

What is checked: occupants on three nodes see each other's presence, messages and
private messages; labelled groupchat decided by each receiving node for its own
occupants; a room added with ldapadd appears on every node; the history is the same
on every node; kill -9 of a node with occupants on all three: the survivors stay
joined, get the dead node's occupants' unavailable presence, go on chatting, and a
newcomer gets the history from before the kill; a node restarted afterwards has the
rooms (a user joining there sees the occupants and the history).

Actor and target on different nodes, each checked at every occupant on every node: a
locked room (201) refusing a user of another node until the instant form; nick
changes (303) and nick conflicts with another node's occupant, and a lone occupant's
nick change keeping the room's configuration elsewhere; the subject; kick (307), ban
(301), voice in a moderated room; members-only set with the form (322, 104); a room
made persistent (its entry, node2 restarted) and made temporary again (its owner
still known everywhere); destruction from a third node; mediated invitation and
decline; private messages, a labelled one the receiver's node refuses without
revealing a real JID; disco#info and #items equal on all nodes.

A room made on one node reaches the others through the cluster: before a user joins
through another node the test waits until that node answers the room's disco#info
(which a locked room does not do for others than its owner), so that the join cannot
create a second room of the same name there."""
import re
import secrets
import xml.etree.ElementTree as ET

import pytest

import harness as H
import muc_util as M
from harness import q
from muc_util import codes, frm, full, is_groupchat, is_occ_presence, item, join, say

pytest_plugins = ["cluster_fixtures"]


@pytest.fixture
def on(cclient, cluster_health):
    """on(user, k, aware=None, resource=None): a client on node k (its own port) with
    the xep_0045 plugin; aware True/False: initial presence sent and the node's
    label-support decision made (test_muc's label clients)."""
    def make(user, k, *, aware=None, resource=None):
        nd = cluster_health.node(k)
        resource = resource or "n%d-%s" % (k, secrets.token_hex(2))
        if aware is None:
            return cclient(user, nd.port, resource=resource, plugins=M.MUC_PLUGINS)

        def factory(u, resource=None, plugins=None):
            return cclient(u, nd.port, resource=resource, plugins=plugins)
        return M.online(factory, nd, user, aware=aware, resource=resource)
    return make


def join_there(c, room, nick, **kw):
    """Waits until c's node has the room (open to c), then joins it."""
    M.wait_room(c, room, timeout=10)
    return join(c, room, nick, **kw)


def everyone_gets(clients, room, body, nick=None, timeout=10):
    return M.wait_all(clients, is_groupchat(room, body, nick=nick), "%r" % body, timeout)


def everyone_has(clients, room, body, timeout=10):
    """Like everyone_gets, but the message stays in the inboxes (for gc_bodies)."""
    for c in clients:
        c.wait_until(lambda c=c: c.has(is_groupchat(room, body)), timeout,
                     "%r at %s" % (body, c.jid))


def gc_bodies(c, room):
    return [st["body"] for st in c.inbox if is_groupchat(room)(st) and st["body"]]


# --------------------------------------------------------------------------------------


def test_occupants_on_three_nodes(cluster_health, on, users):
    """one (node1) creates a room; two (node2) and three (node3) join: each newcomer
    gets the occupants of the other nodes, each occupant gets the newcomers; messages
    from each node reach all three; a private message crosses nodes; a leave is seen
    everywhere."""
    u1, u2, u3 = users.take(3)
    c1, c2, c3 = on(u1, 1), on(u2, 2), on(u3, 3)
    room = M.new_room("cl")
    M.create(c1, room, "one")
    j2 = join_there(c2, room, "two")
    assert j2.occupant_nicks() == ["one"], j2.describe()
    p = c1.wait_for(is_occ_presence(room, "two", "available"), 10, "two's presence at node1")
    assert item(p).get("jid") == c2.full_jid, "the owner does not see two's real JID: %s" % M.summary(p)
    j3 = join_there(c3, room, "three")
    assert sorted(j3.occupant_nicks()) == ["one", "two"], j3.describe()
    for c in (c1, c2):
        c.wait_for(is_occ_presence(room, "three", "available"), 10, "three's presence at %s" % c.jid)

    for sender, nick in ((c2, "two"), (c3, "three"), (c1, "one")):
        body = "hello from %s" % nick
        say(sender, room, body)
        for m in everyone_gets((c1, c2, c3), room, body):
            assert frm(m) == full(room, nick), M.summary(m)

    M.private(c1, full(room, "three"), "across the cluster")
    m = c3.wait_for(lambda s: s.name == "message" and s["body"] == "across the cluster", 10,
                    "the private message from node1 at node3")
    assert frm(m) == full(room, "one"), M.summary(m)
    M.private(c3, full(room, "two"), "and back")
    m = c2.wait_for(lambda s: s.name == "message" and s["body"] == "and back", 10,
                    "the private message from node3 at node2")
    assert frm(m) == full(room, "three"), M.summary(m)

    M.leave(c3, room, "three")
    for c in (c1, c2):
        c.wait_for(is_occ_presence(room, "three", "unavailable"), 10, "three leaving, at %s" % c.jid)
    assert M.disco_info(c2, room).roominfo("muc#roominfo_occupants") == ["2"]


def test_labels_decided_by_each_receiving_node(cluster_health, on, sample, ctl, users, slapd):
    """A room cleared up to SECRET (ldapadd) with alice on node1, carol on node2, dave on
    node3: SECRET reaches alice only, RESTRICTED alice and carol, unlabelled all three;
    the read refusals for carol and dave are made by their own nodes; a RESTRICTED
    newcomer on node3 gets the history it may read."""
    c = cluster_health
    room = M.new_room("cllbl")
    slapd.ldap_add(M.room_ldif(slapd, room, owners=[slapd.user_dn(sample["alice"].jid)],
                               clearance=ctl.clearance_der(M.SECRET_CLEARANCE)))
    ca = on(sample["alice"], 1, aware=True)
    cc = on(sample["carol"], 2, aware=True)
    cd = on(sample["dave"], 3, aware=True)
    for cl, nick in ((ca, "alice"), (cc, "carol"), (cd, "dave")):
        join_there(cl, room, nick)
    for nick in ("carol", "dave"):
        ca.wait_for(is_occ_presence(room, nick, "available"), 10, "%s's presence at alice" % nick)
    for cl in (ca, cc, cd):
        cl.clear()
    marks = {k: len(c.node(k).log_text()) for k in (1, 2, 3)}
    say(ca, room, "secret words", label=ctl.ess(M.SECRET))
    say(ca, room, "restricted words", label=ctl.ess(M.RESTRICTED))
    say(ca, room, "plain words")
    say(ca, room, "the end")
    everyone_has((ca, cc, cd), room, "the end")
    assert gc_bodies(ca, room) == ["secret words", "restricted words", "plain words", "the end"]
    assert gc_bodies(cc, room) == ["restricted words", "plain words", "the end"]
    assert gc_bodies(cd, room) == ["plain words", "the end"]
    for cl in (cc, cd):
        assert not cl.has(lambda s: "secret words" in str(s)), "%s saw the SECRET text" % cl.jid

    deny = r"policy decision check=read verdict=deny\S* .*jid=%s"
    logs = {k: c.node(k).log_text()[marks[k]:] for k in (1, 2, 3)}
    assert re.search(deny % "carol@localhost", logs[2]), "node2 did not decide for carol"
    assert re.search(deny % "dave@localhost", logs[3]), "node3 did not decide for dave"
    for who in ("carol", "dave"):
        assert not re.search(deny % (who + "@localhost"), logs[1]), \
            "node1 decided for %s, who is on another node" % who

    (ur,) = users.take(1, clearance=M.RESTRICTED_CLEARANCE)
    j = join_there(on(ur, 3, aware=True), room, "newcomer")
    assert j.history_bodies() == ["restricted words", "plain words", "the end"], j.history_bodies()


def test_directory_room_appears_on_every_node(cluster_health, on, users, slapd):
    """A room added with ldapadd is there on every node within seconds (each node
    answers its disco#info); users on the three nodes enter it and see each other;
    its owner (from the entry) is owner on every node."""
    u1, u2, u3 = users.take(3)
    room = M.new_room("clldap")
    slapd.ldap_add(M.room_ldif(slapd, room, owners=[slapd.user_dn(u1.jid)], name="Everywhere"))
    clients = [on(u, k) for k, u in ((1, u1), (2, u2), (3, u3))]
    for cl in clients:
        M.wait_room(cl, room, timeout=5)
        info = M.disco_info(cl, room)
        assert "muc_persistent" in info.features and "Everywhere" in [i[2] for i in info.identities], \
            (info.features, info.identities)
    j1 = join(clients[0], room, "one")
    assert item(j1.self_presence).get("affiliation") == "owner", M.summary(j1.self_presence)
    join(clients[1], room, "two")
    j3 = join(clients[2], room, "three")
    assert sorted(j3.occupant_nicks()) == ["one", "two"], j3.describe()
    owner_seen = next(p for p in j3.occupants if frm(p) == full(room, "one"))
    assert item(owner_seen).get("affiliation") == "owner", M.summary(owner_seen)


def history_of(j):
    return [(m["body"], m.xml.find(q("delay", H.NS_DELAY)).get("stamp")) for m in j.history]


def test_history_is_the_same_on_every_node(cluster_health, on, users):
    """Messages said in turn from the three nodes: newcomers on each node get the same
    history (bodies, order and stamps)."""
    u1, u2, u3, v1, v2, v3 = users.take(6)
    c1, c2, c3 = on(u1, 1), on(u2, 2), on(u3, 3)
    room = M.new_room("clhist")
    M.create(c1, room, "one")
    join_there(c2, room, "two")
    join_there(c3, room, "three")
    c1.wait_for(is_occ_presence(room, "three", "available"), 10)
    c2.wait_for(is_occ_presence(room, "three", "available"), 10)
    sent = []
    for i in range(9):
        body = "turn %d" % i
        say((c1, c2, c3)[i % 3], room, body)
        everyone_gets((c1, c2, c3), room, body)
        sent.append(body)
    histories = {}
    for k, v in ((1, v1), (2, v2), (3, v3)):
        j = join(on(v, k), room, "late%d" % k, history={"maxstanzas": 50})
        assert j.history_bodies() == sent, "history on node%d: %r" % (k, j.history_bodies())
        histories[k] = history_of(j)
    assert histories[1] == histories[2] == histories[3], histories


# --------------------------------------------------------------------------------------
# Actor and target on different nodes: what every occupant on every node sees.
#
# "Node k has processed it" is shown by an effect there (a presence, a message) and by
# the cluster's order: per pair of nodes, messages arrive in the order sent
# (cluster/PROTOCOL.md), so a groupchat marker from node A that an occupant on node B
# received proves that B has processed everything A sent before it.


def in_room(room, *members):
    """members: (client, nick) in joining order, the first one already in the room
    (its creator); each joins through its own node, and every occupant has seen the
    last one's presence when this returns; inboxes are cleared."""
    for c, nick in members[1:]:
        join_there(c, room, nick)
    last = members[-1][1]
    for c, nick in members[:-1]:
        c.wait_for(is_occ_presence(room, last, "available"), 10,
                   "%s's presence at %s" % (last, nick))
    for c, _ in members:
        c.clear()


def marker(sender, room, receivers, text=None):
    """A groupchat marker from sender, waited for (and kept in the inbox) at every
    receiver: everything the sender's node sent before it reached their nodes."""
    text = text or "marker " + secrets.token_hex(3)
    say(sender, room, text)
    everyone_has(receivers, room, text)
    return text


def flush_from(sender, receivers):
    """A chat message from sender to each receiver's full JID, waited for: everything
    the sender's node sent to the receivers' nodes before it has arrived there."""
    text = "flush " + secrets.token_hex(3)
    for c in receivers:
        sender.send_message(c.full_jid, text)
    for c in receivers:
        c.wait_for(lambda s: s.name == "message" and s["body"] == text, 10,
                   "the flush from %s at %s" % (sender.jid, c.jid))


def occupants_seen(clients, room):
    """muc#roominfo_occupants of the room as each client's node answers it."""
    return [M.disco_info(c, room).roominfo("muc#roominfo_occupants") for c in clients]


def gone_everywhere(c, room):
    r = M.disco_info(c, room, check=False)
    assert not isinstance(r, M.Info), "the room still answers disco#info at %s: %s" % (
        c.jid, sorted(r.features))
    assert H.stanza_error_condition(r) == "item-not-found", M.summary(r)


def test_locked_room_opens_to_other_nodes_with_the_instant_form(cluster_health, on, users):
    """A room created on node1 is locked (201, owner/moderator): node3, which holds it
    (its owner's other resource there gets its disco#info), refuses a user with
    item-not-found from room/nick and adds nobody; once the owner accepts the instant
    room, a user on node2 enters the same room (no 201, the owner among the
    occupants), and so does the one on node3."""
    uo, u2, u3 = users.take(3)
    c1, o3, c2, c3 = on(uo, 1), on(uo, 3), on(u2, 2), on(u3, 3)
    room = M.new_room("cllock")
    j = join(c1, room, "owner")
    assert {"201", "110"} <= codes(j.self_presence), M.summary(j.self_presence)
    it = item(j.self_presence)
    assert (it.get("affiliation"), it.get("role")) == ("owner", "moderator"), \
        M.summary(j.self_presence)
    M.wait_room(o3, room, timeout=10)  # node3 has the locked room (only owners see it)
    r = M.disco_info(c3, room, check=False)
    assert H.stanza_error_condition(r) == "item-not-found", \
        "a locked room answers a non-owner on node3: %s" % M.summary(r)
    j3 = join(c3, room, "three", expect="item-not-found")
    assert frm(j3.error) == full(room, "three"), M.summary(j3.error)
    assert M.disco_info(o3, room).roominfo("muc#roominfo_occupants") == ["1"], \
        "node3 let the refused user in"

    r = M.instant(c1, room)
    assert r["type"] == "result", M.summary(r)
    j2 = join_there(c2, room, "two")
    assert "201" not in codes(j2.self_presence), \
        "node2 made a new room: %s" % M.summary(j2.self_presence)
    assert j2.occupant_nicks() == ["owner"], j2.describe()
    assert item(j2.self_presence).get("role") == "participant", M.summary(j2.self_presence)
    c1.wait_for(is_occ_presence(room, "two", "available"), 10, "two (node2) at the owner")
    j3 = join_there(c3, room, "three")
    assert "201" not in codes(j3.self_presence), \
        "node3 made a new room: %s" % M.summary(j3.self_presence)
    assert sorted(j3.occupant_nicks()) == ["owner", "two"], j3.describe()
    for c in (c1, c2):
        c.wait_for(is_occ_presence(room, "three", "available"), 10, "three (node3) at %s" % c.jid)
    assert not c1.has(is_occ_presence(room, "three", "unavailable"))


def test_nick_change_seen_on_every_node(cluster_health, on, users):
    """two (node2) becomes deux: occupants on node1 and node3 and two itself get the
    old nick's unavailable presence with 303 and the new nick, then the new nick's
    presence (110 only for the changer; the real JID only for the moderator); deux's
    messages come from the new nick everywhere. Taking a nick an occupant of another
    node holds is refused with conflict (a change on node2, a join on node3), and
    disturbs nobody."""
    u1, u2, u3, u4 = users.take(4)
    c1, c2, c3 = on(u1, 1), on(u2, 2), on(u3, 3)
    room = M.new_room("clnick")
    M.create(c1, room, "one")
    in_room(room, (c1, "one"), (c2, "two"), (c3, "three"))
    c2.send_raw("<presence to='%s'/>" % full(room, "deux"))
    gone_p = is_occ_presence(room, "two", "unavailable")
    back_p = is_occ_presence(room, "deux", "available")
    for x, me in ((c1, False), (c2, True), (c3, False)):
        x.wait_until(lambda x=x: x.has(gone_p) and x.has(back_p), 10,
                     "two's 303 and deux's presence at %s" % x.jid)
        gone = next(s for s in x.inbox if gone_p(s))
        back = next(s for s in x.inbox if back_p(s))
        assert x.inbox.index(gone) < x.inbox.index(back), \
            "the new nick came before the 303 at %s" % x.jid
        assert "303" in codes(gone) and item(gone).get("nick") == "deux", M.summary(gone)
        assert ("110" in codes(gone)) == me and ("110" in codes(back)) == me, \
            (M.summary(gone), M.summary(back))
        assert item(back).get("role") == "participant", M.summary(back)
    s = next(s for s in c1.inbox if back_p(s))
    assert item(s).get("jid") == c2.full_jid, \
        "the moderator lost deux's real JID: %s" % M.summary(s)
    for s in (next(s for s in c3.inbox if back_p(s)), next(s for s in c3.inbox if gone_p(s))):
        assert item(s).get("jid") is None, \
            "a participant on node3 sees a real JID: %s" % M.summary(s)
    say(c2, room, "as deux")
    everyone_gets((c1, c2, c3), room, "as deux", nick="deux")

    c2.send_raw("<presence to='%s'/>" % full(room, "one"))
    err = c2.wait_for(lambda s: s.name == "presence" and M.ptype(s) == "error" and
                      frm(s) == full(room, "one"), 10, "the conflict for node1's nick")
    assert H.stanza_error_condition(err) == "conflict", M.summary(err)
    j4 = join_there(on(u4, 3), room, "deux", expect="conflict")
    assert j4.error_type() == "cancel", M.summary(j4.error)
    marker(c1, room, (c1, c2, c3))
    for x in (c1, c2, c3):
        for nick in ("one", "deux", "three"):
            assert not x.has(is_occ_presence(room, nick, "unavailable")), \
                "%s left at %s after a refused nick" % (nick, x.jid)
    assert occupants_seen((c1, c2, c3), room) == [["3"]] * 3


def test_lone_occupant_nick_change_keeps_the_room_on_other_nodes(cluster_health, on, users):
    """The owner, alone (node2) in a password-protected room, changes nick: node1 still
    has the room as configured (name, password; the owner is owner there) and refuses
    a user without the password; with it, the user enters and sees the owner under
    the new nick."""
    uo, u1 = users.take(2)
    co, c1, o1 = on(uo, 2), on(u1, 1), on(uo, 1)
    room = M.new_room("cllone")
    M.create(co, room, "owner", {"passwordprotectedroom": True, "roomsecret": "pw",
                                 "roomname": "Guarded"})
    M.wait_room(c1, room, timeout=10)
    co.send_raw("<presence to='%s'/>" % full(room, "boss"))
    gone = co.wait_for(is_occ_presence(room, "owner", "unavailable"), 10, "the owner's 303")
    assert {"303", "110"} <= codes(gone), M.summary(gone)
    co.wait_for(is_occ_presence(room, "boss", "available"), 10, "the owner's new nick")
    flush_from(co, (c1,))  # node1 has what node2 sent about the change
    info = M.disco_info(c1, room)
    assert "Guarded" in [i[2] for i in info.identities], info.identities
    assert "muc_passwordprotected" in info.features, sorted(info.features)
    r, fields = M.config_form(o1, room)
    assert fields is not None, "node1 no longer knows the owner: %s" % M.summary(r)
    j = join(c1, room, "guest", expect="not-authorized")
    assert j.error_type() == "auth", M.summary(j.error)
    j = join(c1, room, "guest", password="pw")
    assert j.occupant_nicks() == ["boss"], j.describe()
    assert item(j.occupants[0]).get("affiliation") == "owner", M.summary(j.occupants[0])


def test_subject_set_on_node3_reaches_every_node(cluster_health, on, users):
    """three (node3) sets the subject: occupants on node1 and node2 get it from
    room/three; a newcomer on node1 gets the history, then that subject; each node's
    disco#info (to occupants) shows it."""
    u1, u2, u3, u4 = users.take(4)
    c1, c2, c3 = on(u1, 1), on(u2, 2), on(u3, 3)
    room = M.new_room("clsubj")
    M.create(c1, room, "one")
    in_room(room, (c1, "one"), (c2, "two"), (c3, "three"))
    say(c2, room, "before the subject")
    everyone_gets((c1, c2, c3), room, "before the subject")
    M.set_subject(c3, room, "Across the cluster")
    for x in (c1, c2, c3):
        s = x.wait_for(M.is_subject(room), 10, "the subject at %s" % x.jid)
        assert M.subject_el(s).text == "Across the cluster", M.summary(s)
        assert frm(s) == full(room, "three"), M.summary(s)
    j = join(on(u4, 1), room, "late")
    assert j.history_bodies() == ["before the subject"], j.describe()
    assert M.subject_el(j.subject).text == "Across the cluster", M.summary(j.subject)
    assert frm(j.subject) == full(room, "three"), M.summary(j.subject)
    assert j.stanzas.index(j.history[-1]) < j.stanzas.index(j.subject), j.describe()
    for x in (c1, c2, c3):
        info = M.disco_info(x, room)
        assert info.roominfo("muc#roominfo_subject") == ["Across the cluster"], (x.jid, info.forms)


def test_kick_across_nodes(cluster_health, on, users):
    """The owner (node1) kicks two (node2): two gets unavailable with 307 and 110, the
    actor and the reason; one and three (node3) get 307 without 110; two is out of
    the room on every node: its groupchat is refused with not-acceptable and reaches
    nobody, and every node counts two occupants."""
    u1, u2, u3 = users.take(3)
    c1, c2, c3 = on(u1, 1), on(u2, 2), on(u3, 3)
    room = M.new_room("clkick")
    M.create(c1, room, "mod")
    in_room(room, (c1, "mod"), (c2, "two"), (c3, "three"))
    r = M.admin_set(c1, room, {"nick": "two", "role": "none"}, reason="out you go")
    assert r["type"] == "result", M.summary(r)
    own = c2.wait_for(is_occ_presence(room, "two", "unavailable"), 10, "the kick at the kicked one")
    assert {"307", "110"} <= codes(own), M.summary(own)
    assert item(own).get("role") == "none", M.summary(own)
    actor = item(own).find(q("actor", M.NS_MUC_USER))
    reason = item(own).find(q("reason", M.NS_MUC_USER))
    assert actor is not None and actor.get("nick") == "mod", M.summary(own)
    assert reason is not None and reason.text == "out you go", M.summary(own)
    for x in (c1, c3):
        p = x.wait_for(is_occ_presence(room, "two", "unavailable"), 10, "the kick at %s" % x.jid)
        assert "307" in codes(p) and "110" not in codes(p), M.summary(p)
    mid = say(c2, room, "still here?")
    err = c2.wait_for(M.is_error_reply(mid), 10, "the error for the kicked one's groupchat")
    assert H.stanza_error_condition(err) == "not-acceptable", M.summary(err)
    flush_from(c2, (c1, c3))
    for x in (c1, c3):
        assert not x.has(is_groupchat(room, "still here?")), \
            "%s got the kicked one's message" % x.jid
    assert occupants_seen((c1, c2, c3), room) == [["2"]] * 3


def test_ban_across_nodes(cluster_health, on, users):
    """The owner (node1) bans the user of three (node3): it gets 301 and 110, the
    occupants on node1 and node2 get 301; it is in the outcast list; entering again is
    forbidden on node2 (and on node3), and nobody sees it come back."""
    u1, u2, uv = users.take(3)
    c1, c2, cv = on(u1, 1), on(u2, 2), on(uv, 3)
    room = M.new_room("clban")
    M.create(c1, room, "owner")
    in_room(room, (c1, "owner"), (c2, "two"), (cv, "three"))
    r = M.admin_set(c1, room, {"jid": uv.jid, "affiliation": "outcast"}, reason="banned")
    assert r["type"] == "result", M.summary(r)
    own = cv.wait_for(is_occ_presence(room, "three", "unavailable"), 10,
                      "the ban at the banned one")
    assert {"301", "110"} <= codes(own), M.summary(own)
    for x in (c1, c2):
        p = x.wait_for(is_occ_presence(room, "three", "unavailable"), 10, "the ban at %s" % x.jid)
        assert "301" in codes(p) and "110" not in codes(p), M.summary(p)
    r, items = M.admin_list(c1, room, affiliation="outcast")
    assert items is not None and [i.get("jid") for i in items] == [uv.jid], (M.summary(r), items)
    marker(c1, room, (c2,))  # node2 has what node1 sent with the ban
    jv = join(on(uv, 2), room, "three", expect="forbidden")
    assert jv.error_type() == "auth", M.summary(jv.error)
    join(cv, room, "three-again", expect="forbidden")
    marker(c2, room, (c1, c2))
    for x in (c1, c2):
        assert not x.has(lambda s: is_occ_presence(room)(s) and M.ptype(s) == "available"), \
            "the banned user came back at %s" % x.jid
    assert occupants_seen((c1, c2), room) == [["2"]] * 2


def test_voice_granted_and_revoked_across_nodes(cluster_health, on, users):
    """A moderated room of node1's owner: the visitor on node2 may not speak
    (forbidden, nobody gets it); the owner grants it voice: node1, node2 and node3
    see it become participant, and it speaks to all; voice revoked: visitor again
    everywhere, and refused again."""
    u1, uv, u3 = users.take(3)
    c1, cv, c3 = on(u1, 1), on(uv, 2), on(u3, 3)
    room = M.new_room("clvoice")
    M.create(c1, room, "mod", {"moderatedroom": True})
    in_room(room, (c1, "mod"), (cv, "visitor"), (c3, "watcher"))
    r, items = M.admin_list(c1, room, role="visitor")
    assert items is not None and sorted(i.get("nick") for i in items) == ["visitor", "watcher"], \
        (M.summary(r), items)
    mid = say(cv, room, "may I?")
    err = cv.wait_for(M.is_error_reply(mid), 10, "the error for the visitor's message")
    assert H.stanza_error_condition(err) == "forbidden", M.summary(err)

    def role_is(role):
        return lambda s: (is_occ_presence(room, "visitor", "available")(s) and
                          item(s).get("role") == role)

    r = M.admin_set(c1, room, {"nick": "visitor", "role": "participant"})
    assert r["type"] == "result", M.summary(r)
    for x in (c1, cv, c3):
        p = x.wait_for(role_is("participant"), 10, "the voice at %s" % x.jid)
        assert ("110" in codes(p)) == (x is cv), M.summary(p)
    say(cv, room, "thank you")
    everyone_has((c1, cv, c3), room, "thank you")
    for x in (c1, cv, c3):
        assert not x.has(is_groupchat(room, "may I?")), "the visitor's message reached %s" % x.jid

    r = M.admin_set(c1, room, {"nick": "visitor", "role": "visitor"})
    assert r["type"] == "result", M.summary(r)
    for x in (c1, cv, c3):
        x.wait_for(role_is("visitor"), 10, "the revocation at %s" % x.jid)
    mid = say(cv, room, "again?")
    err = cv.wait_for(M.is_error_reply(mid), 10, "the error after the revocation")
    assert H.stanza_error_condition(err) == "forbidden", M.summary(err)
    flush_from(cv, (c1, c3))
    for x in (c1, c3):
        assert not x.has(is_groupchat(room, "again?")), "the silenced visitor reached %s" % x.jid


def test_members_only_set_on_node2(cluster_health, on, users):
    """The owner (node2) makes one (node1) and a user not in the room members, then
    makes the room members-only with the form: everyone on node1 sees one's new
    affiliation; the non-member three (node3) is removed with 322 (and 110) as node1
    and node2 see; it may not come back through node1 (registration-required); the
    other member enters through node1; one stays, and gets the 104 notice."""
    uo, u1, u3, um = users.take(4)
    co, c1, c3 = on(uo, 2), on(u1, 1), on(u3, 3)
    room = M.new_room("clmembers")
    M.create(co, room, "owner")
    in_room(room, (co, "owner"), (c1, "one"), (c3, "three"))
    r = M.admin_set(co, room, {"jid": u1.jid, "affiliation": "member"},
                    {"jid": um.jid, "affiliation": "member"})
    assert r["type"] == "result", M.summary(r)
    for x in (co, c1, c3):
        p = x.wait_for(is_occ_presence(room, "one", "available"), 10,
                       "one's new affiliation at %s" % x.jid)
        assert item(p).get("affiliation") == "member", "%s sees one's affiliation as %s: %s" % (
            x.jid, item(p).get("affiliation"), M.summary(p))

    r = M.configure(co, room, {"membersonly": True})
    assert r["type"] == "result", M.summary(r)
    own = c3.wait_for(is_occ_presence(room, "three", "unavailable"), 10, "the removal at three")
    assert {"322", "110"} <= codes(own), M.summary(own)
    for x in (co, c1):
        p = x.wait_for(is_occ_presence(room, "three", "unavailable"), 10,
                       "three's removal at %s" % x.jid)
        assert "322" in codes(p), M.summary(p)
    # node2 sent the configuration before the removal: node1 has it
    j = join(on(u3, 1), room, "three", expect="registration-required")
    assert j.error_type() == "auth", M.summary(j.error)
    jm = join(on(um, 1), room, "member")
    assert item(jm.self_presence).get("affiliation") == "member", M.summary(jm.self_presence)
    assert sorted(jm.occupant_nicks()) == ["one", "owner"], jm.describe()
    co.wait_for(is_occ_presence(room, "member", "available"), 10, "the member (node1) at the owner")
    c1.wait_for(lambda s: s.name == "message" and H.bare(frm(s)) == room and "104" in codes(s), 10,
                "the configuration change notice (104) at one")
    assert not c1.has(is_occ_presence(room, "one", "unavailable")), "the member was removed"
    for x in (co, c1, c3):
        assert "muc_membersonly" in M.disco_info(x, room).features, x.jid


def test_membership_in_a_directory_room_seen_on_every_node(cluster_health, on, users, slapd):
    """In a room from the directory the owner (node1) makes an occupant of node2 a
    member: the occupants on node1, node2 and node3 all see affiliation 'member' in
    the presence that announces it, although node2's and node3's replicas learn of
    the directory write only afterwards."""
    uo, u2, u3 = users.take(3)
    room = M.new_room("cldirmember")
    slapd.ldap_add(M.room_ldif(slapd, room, owners=[slapd.user_dn(uo.jid)], name="Members"))
    co, c2, c3 = on(uo, 1), on(u2, 2), on(u3, 3)
    for cl in (co, c2, c3):
        M.wait_room(cl, room, timeout=5)
    join_there(co, room, "owner")
    in_room(room, (co, "owner"), (c2, "two"), (c3, "three"))
    for attempt in range(3):  # each grant is a fresh race between the cluster and LDAP
        affil = "member" if attempt % 2 == 0 else "none"
        for x in (co, c2, c3):
            x.clear()
        r = M.admin_set(co, room, {"jid": u2.jid, "affiliation": affil})
        assert r["type"] == "result", M.summary(r)
        for x in (co, c2, c3):
            p = x.wait_for(is_occ_presence(room, "two", "available"), 10,
                           "two's new affiliation at %s" % x.jid)
            assert item(p).get("affiliation") == affil, "%s sees two's affiliation as %s: %s" % (
                x.jid, item(p).get("affiliation"), M.summary(p))


def test_room_made_persistent_outlives_a_restart(cluster_health, on, users, slapd):
    """The owner (node1) makes a temporary room persistent (with a name, a description
    and moderation): its entry appears in the directory, every node calls it
    persistent; emptied, it stays; node2 restarted has it with its configuration
    (disco#info, the owner's form there), a user entering through node2 is a visitor
    and sees the owner who entered again through node1."""
    c = cluster_health
    uo, u2, u3 = users.take(3)
    co, c2, c3, o3 = on(uo, 1), on(u2, 2), on(u3, 3), on(uo, 3)
    room = M.new_room("clkeep")
    M.create(co, room, "owner")
    in_room(room, (co, "owner"), (c2, "two"), (c3, "three"))
    r = M.configure(co, room, {"persistentroom": True, "roomname": "Kept room",
                               "roomdesc": "survives restarts", "moderatedroom": True})
    assert r["type"] == "result", M.summary(r)
    # at once, whether or not node3's replica has the new entry yet
    r, fields = M.config_form(o3, room)
    assert fields is not None, \
        "node3 forgot the owner of the room made persistent: %s" % M.summary(r)
    dn, entry = H.poll(lambda: M.room_entry(slapd, room), 10, "the room's entry in the directory")
    assert "Kept room" in entry.get("cn", []), entry
    assert [v.lower() for v in entry.get("owner", [])] == [slapd.user_dn(uo.jid).lower()], entry
    config = "\n".join(entry.get("xmppRoomConfig", []))
    for line in ("muc#roomconfig_persistentroom=1", "muc#roomconfig_moderatedroom=1"):
        assert line in config, config
    for x in (co, c2, c3):
        assert "muc_persistent" in M.disco_info(x, room).features, x.jid
    for x, nick in ((c2, "two"), (c3, "three"), (co, "owner")):
        M.leave(x, room, nick)
    for x in (co, c2, c3):
        info = M.disco_info(x, room)
        assert info.roominfo("muc#roominfo_occupants") == ["0"], (x.jid, info.forms)

    c.restart(2)
    for k in (1, 2, 3):
        c.wait_members_up(k, ["node1", "node2", "node3"], timeout=10)
    n2 = on(u2, 2)
    M.wait_room(n2, room, timeout=5)
    info = M.disco_info(n2, room)
    assert {"muc_persistent", "muc_moderated"} <= info.features, sorted(info.features)
    assert "Kept room" in [i[2] for i in info.identities], info.identities
    assert info.roominfo("muc#roominfo_description") == ["survives restarts"], info.forms
    r, fields = M.config_form(on(uo, 2), room)
    assert fields is not None, "the owner on node2 gets no form: %s" % M.summary(r)
    for var, want in (("persistentroom", "1"), ("moderatedroom", "1"), ("roomname", "Kept room")):
        assert fields["muc#roomconfig_" + var][1] == [want], (var, fields["muc#roomconfig_" + var])
    jo = join(co, room, "owner")
    assert "201" not in codes(jo.self_presence), M.summary(jo.self_presence)
    j2 = join(n2, room, "two")
    assert item(j2.self_presence).get("role") == "visitor", M.summary(j2.self_presence)
    assert j2.occupant_nicks() == ["owner"], j2.describe()
    seen = j2.occupants[0]
    assert (item(seen).get("affiliation"), item(seen).get("role")) == ("owner", "moderator"), \
        M.summary(seen)


def test_room_made_temporary_keeps_its_owner_on_every_node(cluster_health, on, users, slapd):
    """The owner (node1) makes a persistent room temporary: its entry goes, and node3,
    once its replica has lost the entry too, still knows the owner (the form) and
    calls the room temporary; emptied, the room is gone from every node."""
    c = cluster_health
    uo, u3 = users.take(2)
    co, c3, o3 = on(uo, 1), on(u3, 3), on(uo, 3)
    room = M.new_room("cltemp")
    M.create(co, room, "owner", {"persistentroom": True})
    H.poll(lambda: M.room_entry(slapd, room), 10, "the room's entry in the directory")
    in_room(room, (co, "owner"), (c3, "three"))
    r = M.configure(co, room, {"persistentroom": False})
    assert r["type"] == "result", M.summary(r)
    H.poll(lambda: M.room_entry(slapd, room) is None, 10, "the entry deleted", interval=0.1)
    # node3's replica has the deletion once it has a change made after it
    mark = len(c.node(3).log_text())
    later = M.new_room("clsyncmark")
    slapd.ldap_add(M.room_ldif(slapd, later, owners=[slapd.user_dn(uo.jid)]))
    c.node(3).wait_log(r'ldap sync-entry dn="%s"' % re.escape(M.room_dn(slapd, later)), mark, 10)
    destroyed = [M.summary(s) for s in c3.inbox if is_occ_presence(room, "three", "unavailable")(s)]
    assert not destroyed, "node3 took the deleted entry for a destruction: %s" % destroyed
    r, fields = M.config_form(o3, room)
    assert fields is not None, \
        "node3 forgot the owner of the room made temporary: %s" % M.summary(r)
    assert fields["muc#roomconfig_persistentroom"][1] == ["0"], \
        fields["muc#roomconfig_persistentroom"]
    assert "muc_temporary" in M.disco_info(c3, room).features
    M.leave(c3, room, "three")
    M.leave(co, room, "owner")
    for x in (co, o3):
        M.wait_room_gone(x, room, timeout=5)


def test_destroy_on_node3(cluster_health, on, users):
    """The owner, from a resource on node3 outside the room, destroys it: the
    occupants on node1, node2 and node3 get unavailable presence with <destroy/>
    (reason, alternate venue) and 110; every node then answers item-not-found, and
    entering it again creates a new room."""
    uo, u2, u3 = users.take(3)
    co, c2, c3, o3 = on(uo, 1), on(u2, 2), on(u3, 3), on(uo, 3)
    room, venue = M.new_room("cldestroy"), M.new_room("elsewhere")
    M.create(co, room, "owner")
    in_room(room, (co, "owner"), (c2, "two"), (c3, "three"))
    M.wait_room(o3, room, timeout=5)
    r = M.destroy(c3, room)
    assert H.iq_error_condition(r) == "forbidden", M.summary(r)
    r = M.destroy(o3, room, reason="we are done", alt=venue)
    assert r["type"] == "result", M.summary(r)
    for x, nick in ((co, "owner"), (c2, "two"), (c3, "three")):
        p = x.wait_for(is_occ_presence(room, nick, "unavailable"), 10,
                       "the destruction at %s" % x.jid)
        d = M.muc_user_x(p).find(q("destroy", M.NS_MUC_USER))
        assert d is not None, "no <destroy/> at %s: %s" % (x.jid, M.summary(p))
        assert d.get("jid") == venue, M.summary(p)
        reason = d.find(q("reason", M.NS_MUC_USER))
        assert reason is not None and reason.text == "we are done", M.summary(p)
        assert "110" in codes(p), M.summary(p)
    for x in (co, c2, c3, o3):
        gone_everywhere(x, room)
    j = join(c2, room, "two")
    assert "201" in codes(j.self_presence), "the destroyed room lingers on node2: %s" % j.describe()


def test_mediated_invitation_across_nodes(cluster_health, on, users):
    """one (node1) invites a user connected to node2 through the room: it gets the
    invitation from the room with one's JID and the reason; its decline reaches one
    (node1) from the room with its JID and reason."""
    ua, ud = users.take(2)
    ca, cd = on(ua, 1), on(ud, 2)
    room = M.new_room("clinvite")
    M.create(ca, room, "one")
    for c in (ca, cd):  # available: invitations and declines go to bare JIDs
        c.send_presence()
    # node1 knows that ud is available: node2 told it before it relays this message
    cd.send_message(ca.full_jid, "I am here")
    ca.wait_for(lambda s: s.name == "message" and s["body"] == "I am here", 10, "cd's message")
    ca.send_raw("<message to='%s' id='inv1'><x xmlns='%s'><invite to='%s'><reason>join us</reason>"
                "</invite></x></message>" % (room, M.NS_MUC_USER, ud.jid))

    def has(kind):
        return lambda s: (s.name == "message" and H.bare(frm(s)) == room and
                          M.muc_user_x(s) is not None and
                          M.muc_user_x(s).find(q(kind, M.NS_MUC_USER)) is not None)
    inv = cd.wait_for(has("invite"), 10, "the invitation at node2")
    assert frm(inv) == room, M.summary(inv)
    el = M.muc_user_x(inv).find(q("invite", M.NS_MUC_USER))
    assert el.get("from") in (ua.jid, ca.full_jid, full(room, "one")), M.summary(inv)
    reason = el.find(q("reason", M.NS_MUC_USER))
    assert reason is not None and reason.text == "join us", M.summary(inv)
    cd.send_raw("<message to='%s' id='dec1'><x xmlns='%s'><decline to='%s'><reason>busy</reason>"
                "</decline></x></message>" % (room, M.NS_MUC_USER, ua.jid))
    dec = ca.wait_for(has("decline"), 10, "the decline at node1")
    assert frm(dec) == room, M.summary(dec)
    el = M.muc_user_x(dec).find(q("decline", M.NS_MUC_USER))
    assert H.bare(el.get("from") or "") == ud.jid, M.summary(dec)
    reason = el.find(q("reason", M.NS_MUC_USER))
    assert reason is not None and reason.text == "busy", M.summary(dec)


def test_private_messages_across_nodes_and_labels(cluster_health, on, sample, ctl, users):
    """alice (SECRET, node1) writes privately to carol (RESTRICTED, node3): a plain
    message arrives from room/alice; a SECRET one is refused: alice gets an error
    from room/carol that names no real JID of carol, carol gets nothing; a RESTRICTED
    one arrives with its label. The third occupant (node2) gets none of them."""
    (u2,) = users.take(1)
    ca = on(sample["alice"], 1, aware=True)
    cc = on(sample["carol"], 3, aware=True)
    c2 = on(u2, 2)
    room = M.new_room("clpriv")
    M.create(ca, room, "alice")
    in_room(room, (ca, "alice"), (cc, "carol"), (c2, "two"))
    M.private(ca, full(room, "carol"), "plain aside")
    m = cc.wait_for(lambda s: s.name == "message" and s["body"] == "plain aside", 10,
                    "the plain aside")
    assert frm(m) == full(room, "alice") and m["type"] == "chat", M.summary(m)

    mid = M.private(ca, full(room, "carol"), "secret aside", label=ctl.ess(M.SECRET))
    err = ca.wait_for(M.is_error_reply(mid), 10, "the error for the SECRET aside")
    assert H.stanza_error_condition(err) == "forbidden", M.summary(err)
    assert frm(err) == full(room, "carol"), "the error comes from %s" % frm(err)
    text = ET.tostring(err.xml, encoding="unicode")
    for real in (sample["carol"].jid, cc.full_jid):
        assert real not in text, "the error reveals carol's real JID %s: %s" % (real, text)

    M.private(ca, full(room, "carol"), "restricted aside", label=ctl.ess(M.RESTRICTED))
    m = cc.wait_for(lambda s: s.name == "message" and s["body"] == "restricted aside", 10,
                    "the RESTRICTED aside")
    assert frm(m) == full(room, "alice"), M.summary(m)
    assert (M.label_of(m) or (None,))[0] == "RESTRICTED", M.summary(m)
    assert not cc.has(lambda s: "secret aside" in str(s)), "carol got the SECRET aside"
    marker(ca, room, (c2,))
    assert not c2.has(lambda s: s.name == "message" and "aside" in (s["body"] or "")), \
        "the third occupant got a private message"


def test_occupant_count_is_the_same_on_every_node(cluster_health, on, users):
    """Occupants on the three nodes join, one leaves, one's connection drops: after
    each step every node's disco#info gives the same count, and every node's
    disco#items (to an occupant) the same occupants."""
    ua1, ua2, ub2, ua3, ub3 = users.take(5)
    a1, a2, b2, a3, b3 = on(ua1, 1), on(ua2, 2), on(ub2, 2), on(ua3, 3), on(ub3, 3)
    watchers = (a1, a2, a3)
    room = M.new_room("clcount")
    M.create(a1, room, "a1")
    in_room(room, (a1, "a1"), (a2, "a2"), (b2, "b2"), (a3, "a3"), (b3, "b3"))

    def check(n, nicks):
        assert occupants_seen(watchers, room) == [[str(n)]] * 3
        for x in watchers:
            items = sorted(j for j, _ in M.disco_items(x, room))
            assert items == sorted(full(room, k) for k in nicks), (x.jid, items)

    check(5, ["a1", "a2", "b2", "a3", "b3"])
    M.leave(b2, room, "b2")
    for x in watchers:
        x.wait_for(is_occ_presence(room, "b2", "unavailable"), 10, "b2 leaving, at %s" % x.jid)
    check(4, ["a1", "a2", "a3", "b3"])
    b3.kill()
    for x in watchers:
        x.wait_for(is_occ_presence(room, "b3", "unavailable"), 10, "b3 gone, at %s" % x.jid)
    check(3, ["a1", "a2", "a3"])
    join(b2, room, "b2-again")
    for x in watchers:
        x.wait_for(is_occ_presence(room, "b2-again", "available"), 10, "b2 back, at %s" % x.jid)
    check(4, ["a1", "a2", "a3", "b2-again"])


def test_kill_node_room_goes_on(cluster_health, on, users):
    """Occupants on node1, node2 (two) and node3; kill -9 of node2: the survivors stay
    joined, get unavailable presence for node2's occupants, go on chatting; newcomers on
    node1 and node3 get the history from before and after the kill, and only the
    survivors as occupants."""
    c = cluster_health
    u1, u2, w2, u3, n1, n3 = users.take(6)
    c1, c2, d2, c3 = on(u1, 1), on(u2, 2), on(w2, 2), on(u3, 3)
    room = M.new_room("clkill")
    M.create(c1, room, "one")
    join_there(c2, room, "two")
    join_there(d2, room, "two-b")
    join_there(c3, room, "three")
    for cl in (c1, c2, d2):
        cl.wait_for(is_occ_presence(room, "three", "available"), 10)
    before = []
    for cl, nick in ((c1, "one"), (c2, "two"), (d2, "two-b"), (c3, "three")):
        body = "before, from %s" % nick
        say(cl, room, body)
        everyone_gets((c1, c2, d2, c3), room, body)
        before.append(body)

    c.kill(2)
    for survivor in (c1, c3):
        for nick in ("two", "two-b"):
            p = survivor.wait_for(is_occ_presence(room, nick, "unavailable"), 10,
                                  "%s (node2) unavailable at %s" % (nick, survivor.jid))
            assert item(p) is not None and item(p).get("role") == "none", M.summary(p)
    after = []
    for cl, nick in ((c1, "one"), (c3, "three")):
        body = "after, from %s" % nick
        say(cl, room, body)
        everyone_gets((c1, c3), room, body)
        after.append(body)
    assert not c1.has(is_occ_presence(room, "one", "unavailable")) and \
        not c3.has(is_occ_presence(room, "three", "unavailable")), "a survivor left the room"

    for k, u, there in ((1, n1, ["one", "three"]), (3, n3, ["new1", "one", "three"])):
        j = join(on(u, k), room, "new%d" % k, history={"maxstanzas": 50})
        assert sorted(j.occupant_nicks()) == there, \
            "occupants seen on node%d after the kill: %s" % (k, j.occupant_nicks())
        assert j.history_bodies() == before + after, \
            "history on node%d after the kill: %r" % (k, j.history_bodies())
    for cl in (c1, c3):
        cl.wait_for(is_occ_presence(room, "new1", "available"), 10)
        cl.wait_for(is_occ_presence(room, "new3", "available"), 10)


def test_restarted_node_gets_the_rooms(cluster_health, on, users, slapd):
    """node2 (killed by the previous test, or here) restarted: a user joining a room
    through it sees the occupants on node1 and node3 and the history, and talks with
    them; a directory room is there too."""
    c = cluster_health
    if c.node(2).alive():
        c.kill(2)
        H.poll(lambda: (c.node(1).member_states() or {}).get("node2") == "down", 10,
               "node1 to see node2 down")
    u1, u3, u2, uo = users.take(4)
    c1, c3 = on(u1, 1), on(u3, 3)
    room = M.new_room("clback")
    M.create(c1, room, "one")
    join_there(c3, room, "three")
    c1.wait_for(is_occ_presence(room, "three", "available"), 10)
    sent = []
    for cl, nick in ((c1, "one"), (c3, "three")):
        body = "while node2 was down, from %s" % nick
        say(cl, room, body)
        everyone_gets((c1, c3), room, body)
        sent.append(body)
    stored = M.new_room("clbackldap")
    slapd.ldap_add(M.room_ldif(slapd, stored, owners=[slapd.user_dn(uo.jid)]))
    M.wait_room(c1, stored, timeout=5)

    c.restart(2)
    for k in (1, 2, 3):
        c.wait_members_up(k, ["node1", "node2", "node3"], timeout=10)
    c2 = on(u2, 2)
    M.wait_room(c2, stored, timeout=5)
    j = join_there(c2, room, "two", history={"maxstanzas": 50})
    assert sorted(j.occupant_nicks()) == ["one", "three"], j.describe()
    assert j.history_bodies() == sent, j.history_bodies()
    for cl in (c1, c3):
        cl.wait_for(is_occ_presence(room, "two", "available"), 10, "two (restarted node2) at %s" % cl.jid)
    say(c2, room, "back on node2")
    everyone_gets((c1, c2, c3), room, "back on node2")
    assert "201" not in codes(j.self_presence), "node2 created the room anew: %s" % M.summary(j.self_presence)
