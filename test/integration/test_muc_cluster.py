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

A room made on one node reaches the others through the cluster: before a user joins
through another node the test waits until that node answers the room's disco#info
(which a locked room does not do for others than its owner), so that the join cannot
create a second room of the same name there."""
import re
import secrets

import pytest

import harness as H
import muc_util as M
from harness import q
from muc_util import codes, frm, full, is_groupchat, is_occ_presence, item, join, say

pytest_plugins = ["cluster_fixtures"]


@pytest.fixture(scope="module")
def ctl(build_dir):
    return M.Palisadectl(build_dir / "node/palisadectl")


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
