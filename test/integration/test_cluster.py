# SPDX-License-Identifier: Apache-2.0
"""The cluster (issue 4) on loopback: three nodes of the sanitized build started with
scripts/cluster-dev.sh against the session's slapd (cluster_fixtures.py), each client
connected to the node a test picks (its own port) or to the port they share.

What is checked: presence and chat between clients on different nodes (subscription
handshake, available/unavailable, probes, bare JID to resources on two nodes, full
JID); a labelled message refused by the receiving node for an uncleared receiver; a
node with a wrong key or absent from the directory refused; kill -9 of a node in the
middle of traffic (contacts see its users unavailable within 3 s, its clients
reconnect to a surviving node, every message the cluster accepted delivered exactly
once, counted); the killed node restarted rejoins; a link cut between two nodes (a
network namespace) and its healing.

Every wait polls to a deadline; the module takes under two minutes."""
import asyncio
import copy
import re
import secrets
import time
import xml.etree.ElementTree as ET

import pytest

import harness as H
from harness import q

pytest_plugins = ["cluster_fixtures"]

NS_SECLABEL = "urn:xmpp:sec-label:0"
NS_CATALOG = "urn:xmpp:sec-label:catalog:2"
NS_ESS = "urn:xmpp:sec-label:ess:0"
AWARE_PLUGINS = ("xep_0030", "xep_0199", "xep_0054", "xep_0258")

DETECT_S = 3.0  # issue 4: the survivors notice a dead node within 3 s


def online(c, **presence):
    """The roster fetched, then initial presence (RFC 6121 §4.2)."""
    H.roster_get(c)
    c.send_presence(**presence)
    return c


def known_across(*clients):
    """Returns once every client's node knows every other client's session as it is
    now (available, after online()): each sends a message to each other's full JID and
    waits for it. A node announces a session's availability to the others right after
    handling its presence, on the same ordered link as the session's later stanzas,
    so a message from x that reached y's node proves y's node has x's announcement."""
    for src in clients:
        for dst in clients:
            if src is not dst:
                body = "sync %s -> %s %s" % (src.full_jid, dst.full_jid, secrets.token_hex(3))
                src.send_message(dst.full_jid, body)
                dst.wait_for(H.is_message(body=body), what="the sync message from %s" % src.full_jid)


# --------------------------------------------------------------------------------------
# Presence and chat across nodes


def test_members_see_each_other(cluster_health):
    """Every node reports the three members up through its control socket."""
    c = cluster_health
    for k in (1, 2, 3):
        states = c.wait_members_up(k, ["node1", "node2", "node3"], timeout=5)
        assert states["node%d" % k] == "self", states
        assert set(states) == {"node1", "node2", "node3"}, states


def befriend(cluster, slapd, a, b, nodes=None):
    """a and b subscribed to each other ('both' on both rosters), written straight into
    the directory as an administrator would, and in every running cluster node's
    replica when this returns: for tests whose subject is not the handshake."""
    nodes = [nd for nd in (nodes or cluster.nodes) if nd.alive()]
    marks = {nd.name: len(nd.log_text()) for nd in nodes}
    dns = []
    for user, contact in ((a, b), (b, a)):
        dn = "xmppContactJID=%s,%s" % (contact.jid, slapd.user_dn(user.jid))
        dns.append(dn)
        slapd.ldap_modify("dn: %s\nchangetype: add\nobjectClass: xmppRosterItem\n"
                          "xmppContactJID: %s\nxmppSubscription: both\n" % (dn, contact.jid))
    for nd in nodes:
        for dn in dns:
            nd.wait_log(r'ldap sync-entry dn="%s"' % re.escape(dn), marks[nd.name], timeout=5,
                        what="%s to sync %s" % (nd.name, dn))


def test_subscription_handshake_across_nodes(cluster_health, cclient, users):
    """a on node1 and b on node2, each answering at once (as an auto-approving client
    does): the RFC 6121 handshake in both directions ends in 'both' on both rosters,
    and each then has the other's available presence."""
    c = cluster_health
    a, b = users.take(2)
    ca = online(cclient(a, c.node(1).port, resource="on1"))
    cb = online(cclient(b, c.node(2).port, resource="on2"))
    known_across(ca, cb)
    H.subscribe_both(ca, cb)
    assert H.roster_get(ca)[b.jid].get("subscription") == "both"
    assert H.roster_get(cb)[a.jid].get("subscription") == "both"
    ca.wait_for(H.is_presence(frm=cb.full_jid, ptype="available"), what="b's presence at a")
    cb.wait_for(H.is_presence(frm=ca.full_jid, ptype="available"), what="a's presence at b")


def test_presence_across_nodes(cluster_health, cclient, users, slapd):
    """a on node1 and b on node2, subscribed to each other: each sees the other's
    presence changes; b going away is seen as unavailable; b back on node3 gets a's
    presence from the probe, and a sees b come back; a killed (TCP gone) is seen
    unavailable by b on node3."""
    c = cluster_health
    a, b = users.take(2)
    befriend(c, slapd, a, b)
    ca = online(cclient(a, c.node(1).port, resource="on1"))
    cb = online(cclient(b, c.node(2).port, resource="on2"))
    ca.wait_for(H.is_presence(frm=cb.full_jid, ptype="available"), what="b (node2) available at a (node1)")
    cb.wait_for(H.is_presence(frm=ca.full_jid, ptype="available"), what="a (node1) available at b (node2)")

    ca.send_presence(status="a on node1")
    cb.wait_for(H.is_presence(frm=ca.full_jid, status="a on node1"), what="a's status on node2")
    cb.send_presence(show="away", status="b on node2", priority=2)
    p = ca.wait_for(H.is_presence(frm=cb.full_jid, status="b on node2"), what="b's status on node1")
    assert p["show"] == "away" and int(p["priority"]) == 2, H._summary(p)

    gone = cb.full_jid
    cb.disconnect()
    ca.wait_for(H.is_presence(frm=gone, ptype="unavailable"), what="b (node2) unavailable at node1")

    cb3 = cclient(b, c.node(3).port, resource="on3")
    online(cb3)
    p = cb3.wait_for(H.is_presence(frm=ca.full_jid, ptype="available"),
                     what="a's presence (node1) answering b's probe on node3")
    assert p["status"] == "a on node1", H._summary(p)
    ca.wait_for(H.is_presence(frm=cb3.full_jid, ptype="available"), what="b back, on node3")

    gone = ca.full_jid
    ca.kill()
    cb3.wait_for(H.is_presence(frm=gone, ptype="unavailable"), timeout=10,
                 what="a (killed client on node1) unavailable at node3")


def test_chat_bare_and_full_jid_across_nodes(cluster_health, cclient, users, slapd):
    """a on node1; b with one resource on node2 and one on node3. To b's bare JID: both
    resources get it once; to a full JID: only that resource; the answers reach a."""
    c = cluster_health
    a, b = users.take(2)
    befriend(c, slapd, a, b)
    ca = online(cclient(a, c.node(1).port, resource="one"))
    b2 = online(cclient(b, c.node(2).port, resource="two"))
    b3 = online(cclient(b, c.node(3).port, resource="three"))
    # a sees both of b's resources available: both nodes announced them
    ca.wait_for(H.is_presence(frm=b2.full_jid, ptype="available"), what="b/two available at a")
    ca.wait_for(H.is_presence(frm=b3.full_jid, ptype="available"), what="b/three available at a")
    known_across(ca, b2, b3)
    for r in (ca, b2, b3):
        r.clear()

    ca.send_message(b.jid, "to the bare JID")
    for r in (b2, b3):
        m = r.wait_for(H.is_message(body="to the bare JID"), what="bare-JID message at %s" % r.full_jid)
        assert str(m["from"]) == ca.full_jid, H._summary(m)

    ca.send_message(b3.full_jid, "only for three")
    b3.wait_for(H.is_message(body="only for three"), what="full-JID message at b/three")
    ca.send_message(b2.full_jid, "only for two")
    b2.wait_for(H.is_message(body="only for two"), what="full-JID message at b/two")
    # same sender, same node, later: had the full-JID message gone to the wrong
    # resource it would have arrived before this one
    ca.send_message(b.jid, "marker")
    for r in (b2, b3):
        r.wait_for(H.is_message(body="marker"), what="marker at %s" % r.full_jid)
    assert not b2.has(H.is_message(body="only for three")), "b/two got b/three's message"
    assert not b3.has(H.is_message(body="only for two")), "b/three got b/two's message"
    for r in (b2, b3):
        assert not r.has(H.is_message(body="to the bare JID")), "%s got the bare-JID message twice" % r.full_jid

    b2.send_message(ca.full_jid, "from two")
    b3.send_message(a.jid, "from three")
    m2 = ca.wait_for(H.is_message(body="from two"), what="b/two's answer (node2 -> node1)")
    m3 = ca.wait_for(H.is_message(body="from three"), what="b/three's answer (node3 -> node1)")
    assert str(m2["from"]) == b2.full_jid and str(m3["from"]) == b3.full_jid


# --------------------------------------------------------------------------------------
# Labels: the receiving node decides for its receivers


def catalog_item(c, dest, marking):
    """The <securitylabel/> of the catalog item `marking` for dest (XEP-0258)."""
    r = c.iq("get", "<catalog xmlns='%s' to='%s'/>" % (NS_CATALOG, dest), to=H.DOMAIN)
    assert r["type"] == "result", "catalog request failed: %s" % H._summary(r)
    cat = r.xml.find(q("catalog", NS_CATALOG))
    for it in cat.findall(q("item", NS_CATALOG)):
        sl = it.find(q("securitylabel", NS_SECLABEL))
        dm = sl.find(q("displaymarking", NS_SECLABEL)) if sl is not None else None
        if dm is not None and dm.text == marking:
            return sl
    raise AssertionError("no %s item in the catalog for %s: %s" % (
        marking, dest, ET.tostring(cat, encoding="unicode")[:1000]))


def test_labelled_message_refused_by_the_receiving_node(cluster_health, cclient, sample):
    """alice (SECRET) on node1 sends a SECRET message (its label from alice's catalog)
    to carol (RESTRICTED) on node2: carol gets nothing, alice gets cancel/forbidden, and
    the decision is node2's: its log has the read denial for carol, node1's has not."""
    c = cluster_health
    alice, carol, bob = sample["alice"], sample["carol"], sample["bob"]
    ca = cclient(alice, c.node(1).port, resource="lbl", plugins=AWARE_PLUGINS)
    cc = online(cclient(carol, c.node(2).port, resource="lbl", plugins=AWARE_PLUGINS))
    # carol's session is known on node1 once a message to her full JID gets through
    ca.send_message(cc.full_jid, "hello carol")
    cc.wait_for(H.is_message(body="hello carol"), what="an unlabelled message to carol on node2")
    secret = catalog_item(ca, bob.jid, "SECRET")  # carol's own catalog offers no SECRET
    marks = {k: len(c.node(k).log_text()) for k in (1, 2)}

    m = ca.x.make_message(mto=cc.full_jid, mbody="eyes only", mtype="chat")
    m["id"] = "lbl-" + secrets.token_hex(5)
    m.xml.append(copy.deepcopy(secret))
    ca.send(m)
    err = ca.wait_for(lambda s: s.name == "message" and s["type"] == "error" and s["id"] == m["id"],
                      what="the error for the SECRET message")
    e = err.xml.find(q("error", H.NS_CLIENT))
    assert (e.get("type"), H.stanza_error_condition(err)) == ("cancel", "forbidden"), H._summary(err)
    assert "eyes only" not in ET.tostring(err.xml, encoding="unicode"), H._summary(err)
    ca.send_message(cc.full_jid, "after it")
    cc.wait_for(H.is_message(body="after it"), what="the unlabelled message after the SECRET one")
    assert not cc.has(H.is_message(body="eyes only")), "carol got the SECRET message"

    line = r"policy decision check=read verdict=deny-clearance .*jid=carol@localhost"
    n2 = re.search(line, c.node(2).log_text()[marks[2]:])
    n1 = re.search(line, c.node(1).log_text()[marks[1]:])
    assert n2, ("node2 (carol's node) logged no read decision for carol: the receiving node "
                "did not decide%s" % (" (node1 did: %r)" % n1.group(0) if n1 else ""))
    assert not n1, "node1 (alice's node) decided for carol, who is on node2: %r" % n1.group(0)


# --------------------------------------------------------------------------------------
# Membership: a node the directory does not list, or lists with another key


@pytest.mark.parametrize("case", ["wrong-key", "absent"])
def test_node_refused(cluster_health, slapd, build_dir, tmp_path, case):
    """A 4th node whose secret key does not match its xmppNode entry, or that has no
    entry, exits non-zero at start with a message saying why; while it tries, and after,
    no member reports it up (palisadectl node status on every node)."""
    import cluster_fixtures as CF  # loaded by pytest_plugins (imported here, not above,
    c = cluster_health              # so that pytest can rewrite its asserts)
    name = "node4" if case == "wrong-key" else "node5"
    d = tmp_path / name
    d.mkdir()
    ctl = build_dir / "node/palisadectl"
    env_file = slapd.dir / "env"
    H.sh([ctl, "node", "keygen", "--secret-file", d / "curve.secret"])
    endpoint = "ipc://%s" % (d / "cluster.sock")
    marks = {nd.name: len(nd.log_text()) for nd in c.nodes}
    if case == "wrong-key":
        H.sh([ctl, "node", "keygen", "--secret-file", d / "listed.secret"])
        H.sh([ctl, "--env", env_file, "node", "add", name, endpoint,
              "--secret-file", d / "listed.secret", "--replace"])
        for nd in c.nodes:  # the members know it (and will never see it up)
            nd.wait_log(r"cluster member-added node=%s " % name, marks[nd.name], timeout=5)
    try:
        H.sh([H.SCRIPTS / "node-dev.sh", "config", d, "--name", name, "--domain", H.DOMAIN,
              "--c2s", "127.0.0.1:%d" % CF.cluster_port("extra", 0 if case == "wrong-key" else 1),
              "--ldap-env", env_file, "--cert", c.dir / "tls/cert.pem",
              "--key", c.dir / "tls/key.pem", "--cluster-secret-file", d / "curve.secret",
              "--heartbeat-ms", CF.HEARTBEAT_MS, "--dead-after-ms", CF.DEAD_AFTER_MS] +
             [a for f in H.SPIFS for a in ("--spif", f)])
        start = CF.run_bg([H.SCRIPTS / "node-dev.sh", "start", d], env=CF.node_env(build_dir))
        seen = {}

        def observe():
            for nd in c.nodes:
                states = nd.member_states() or {}
                if name in states:
                    seen.setdefault(nd.name, set()).add(states[name])
        # watch the members while the node tries, and for a death timeout after it exits
        while start.poll() is None:
            observe()
            time.sleep(0.05)
        out = start.stdout.read()
        deadline = time.monotonic() + CF.DEAD_AFTER_MS / 1000.0
        while time.monotonic() < deadline:
            observe()
            time.sleep(0.1)
        assert start.returncode != 0, "node-dev.sh start of %s succeeded:\n%s" % (name, out)
        rc = (d / "node.exit").read_text().strip()
        assert rc not in ("", "0"), "%s exited with status %r" % (name, rc)
        log = (d / "node.log").read_text(errors="replace")
        want = "another CURVE key" if case == "wrong-key" else "is not in the directory"
        assert want in log, "%s's log does not say %r:\n%s" % (name, want, log[-3000:])
        assert "node ready" not in log, log[-3000:]
        for m in H.SANITIZER_MARKERS:
            assert m not in log, "%s logged a sanitizer report:\n%s" % (name, log[-20000:])
        up = {n: s for n, s in seen.items() if "up" in s}
        assert not up, "members reported %s up: %s" % (name, up)
        if case == "wrong-key":
            assert seen and all(s == {"down"} for s in seen.values()), seen
        else:
            assert not seen, "members list %s, which the directory does not: %s" % (name, seen)
    finally:
        if case == "wrong-key":
            H.sh([ctl, "--env", env_file, "node", "del", name], check=False)
            for nd in c.nodes:
                nd.wait_log(r"cluster member-removed node=%s" % name, marks[nd.name], timeout=5)


# --------------------------------------------------------------------------------------
# kill -9 of a node in the middle of traffic, and its return

KILL_MESSAGES = 200      # numbered messages, one every SEND_INTERVAL_S
SEND_INTERVAL_S = 0.01
KILL_AT = 100            # kill -9 of node2 when this many have been sent


class Traffic:
    """Numbered chat messages on a few streams (sender, recipient, 'to' address), sent
    from the harness's event loop while it keeps receiving; every client's received
    messages and errors are counted afterwards by id."""

    def __init__(self, token):
        self.token = token
        self.streams = []      # (name, sender client, recipient user, to-JID function)
        self.sent = {}         # id -> (stream name, seq)
        self.by_stream = {}    # stream name -> [seq sent, in order]

    def stream(self, name, sender, recipient, to):
        self.streams.append((name, sender, recipient, to))
        self.by_stream[name] = []

    async def run(self, count, interval, kill_at, kill):
        loop = asyncio.get_running_loop()
        kill_job = None
        t_kill = None
        seqs = {}
        for i in range(count):
            if i == kill_at:
                t_kill = time.monotonic()
                kill_job = loop.run_in_executor(None, kill)
            name, sender, recipient, to = self.streams[i % len(self.streams)]
            if sender.x.transport is None:
                await asyncio.sleep(interval)
                continue  # its node is gone: nothing sent
            seq = seqs.get(name, 0) + 1
            seqs[name] = seq
            mid = "%s-%s-%d" % (self.token, name, seq)
            m = sender.x.make_message(mto=to(), mbody=mid, mtype="chat")
            m["id"] = mid
            m.send()
            self.sent[mid] = (name, seq)
            self.by_stream[name].append(seq)
            await asyncio.sleep(interval)
        if kill_job is not None:
            await kill_job
        return t_kill

    def received(self, c):
        """{id: [delayed?, ...]} of this traffic's messages in c's inbox (delayed: it
        carries an XEP-0203 <delay/>, i.e. it came from the offline store)."""
        out = {}
        for st in c.inbox:
            if st.name != "message" or st["type"] == "error":
                continue
            body = st["body"]
            if body in self.sent:
                out.setdefault(body, []).append(st.xml.find(q("delay", H.NS_DELAY)) is not None)
        return out

    def errors(self, c):
        """{id: condition} of error replies to this traffic's messages in c's inbox."""
        return {st["id"]: H.stanza_error_condition(st) for st in c.inbox
                if st.name == "message" and st["type"] == "error" and st["id"] in self.sent}


def test_kill_node_mid_traffic(cluster_health, cclient, users, slapd):
    """x1 (node1) and x3 (node3) chat with y and z (both on node2), and with each other,
    200 numbered messages over about 2 s; node2 gets kill -9 half-way (cluster-dev.sh
    kill). Then:

    - y's and z's contacts on node1 and node3 get their unavailable presence within
      3 s of the kill;
    - y reconnects to node3's own port, z to the shared port (node1 or node3), and
      they get their offline messages;
    - ACCEPTED means: sent by a client of a surviving node (x1, x3) over a connection
      that stayed up, and no error stanza came back for it (by id) by the end. Every
      accepted message is delivered exactly once: to a live session (y's or z's old
      session before the kill, the new one after) or from the offline store at the
      reconnection. A message refused with an error must not be delivered at all.
    - Messages sent BY y and z (on the killed node) carry no receipt (no stream
      management): the cluster may have lost the tail that node2 had not passed on
      yet, so for them the check is at most once, and in order without gaps (what
      arrived of each stream is a prefix of what was sent).
    - x1 <-> x3 traffic (both nodes alive) is delivered exactly once, live."""
    c = cluster_health
    x1u, x3u, yu, zu = users.take(4)
    for contact in (yu, zu):
        for u in (x1u, x3u):
            befriend(c, slapd, u, contact)
    x1 = online(cclient(x1u, c.node(1).port, resource="n1"))
    x3 = online(cclient(x3u, c.node(3).port, resource="n3"))
    y = online(cclient(yu, c.node(2).port, resource="n2"))
    z = online(cclient(zu, c.node(2).port, resource="n2"))
    for watcher in (x1, x3):
        for contact in (y, z):
            watcher.wait_for(H.is_presence(frm=contact.full_jid, ptype="available"),
                             what="%s available at %s" % (contact.full_jid, watcher.jid))
    known_across(x1, x3, y, z)
    for cl in (x1, x3, y, z):
        cl.clear()
    y_jid, z_jid = y.full_jid, z.full_jid

    # when each watcher got each unavailable presence
    seen_gone = {}

    def watch(watcher):
        def f(st):
            if st.name == "presence" and st.xml.get("type") == "unavailable":
                seen_gone.setdefault((watcher.jid, str(st["from"])), time.monotonic())
            return st
        return f
    for w in (x1, x3):
        w.x.add_filter("in", watch(w))

    t = Traffic("k" + secrets.token_hex(3))
    t.stream("x1-y-full", x1, yu, lambda: y_jid)
    t.stream("x1-y-bare", x1, yu, lambda: yu.jid)
    t.stream("x3-y-bare", x3, yu, lambda: yu.jid)
    t.stream("x3-z-full", x3, zu, lambda: z_jid)
    t.stream("x1-z-bare", x1, zu, lambda: zu.jid)
    t.stream("y-x1", y, x1u, lambda: x1.full_jid)
    t.stream("z-x3", z, x3u, lambda: x3u.jid)
    t.stream("x1-x3", x1, x3u, lambda: x3.full_jid)
    t.stream("x3-x1", x3, x1u, lambda: x1u.jid)
    t_kill = x1.h.run(t.run(KILL_MESSAGES, SEND_INTERVAL_S, KILL_AT, lambda: c.kill(2)), 60)
    assert t_kill is not None

    # the contacts on the surviving nodes see y and z go, within 3 s
    pairs = [(w.jid, g) for w in (x1, x3) for g in (y_jid, z_jid)]
    x1.wait_until(lambda: all(p in seen_gone for p in pairs), DETECT_S + 2,
                  "unavailable presence of %s at %s" % ([y_jid, z_jid], [x1.jid, x3.jid]))
    delays = {"%s saw %s" % p: round(seen_gone[p] - t_kill, 2) for p in pairs}
    print("\nunavailable presence after the kill (s): %r" % delays)
    late = {k: v for k, v in delays.items() if v > DETECT_S}
    assert not late, "unavailable presence later than %.0f s after the kill: %s" % (DETECT_S, late)
    y.wait_disconnected(5)
    z.wait_disconnected(5)

    # y and z reconnect to a surviving node and get what was stored for them
    y2 = online(cclient(yu, c.node(3).port, resource="back"))
    z2 = online(cclient(zu, c.shared_port, resource="back"))

    receivers = {yu.jid: (y, y2), zu.jid: (z, z2), x1u.jid: (x1,), x3u.jid: (x3,)}
    stream_info = {name: (sender, rcpt) for name, sender, rcpt, _ in t.streams}
    survivors = {x1, x3}

    def deliveries():
        got = {}
        for clients in receivers.values():
            for cl in clients:
                for mid, delays in t.received(cl).items():
                    got.setdefault(mid, []).extend(
                        ("offline" if dl else "live") + "@" + ("old" if cl in (y, z) else "new"
                                                               if cl in (y2, z2) else "")
                        for dl in delays)
        return got

    def errors():
        e = {}
        for s in (x1, x3):
            e.update(t.errors(s))
        return e

    def expected():
        errs = errors()
        return {mid for mid, (name, _) in t.sent.items()
                if stream_info[name][0] in survivors and mid not in errs}

    def all_arrived():
        got = deliveries()
        return all(mid in got for mid in expected())
    try:
        x1.wait_until(all_arrived, 10, "every accepted message delivered")
    except AssertionError:
        pass  # reported in detail below
    for cl in (x1, x3, y2, z2):  # anything still in flight arrives before the answers
        cl.ping_server()

    got = deliveries()
    errs = errors()
    accepted = expected()
    lost = sorted(accepted - set(got))
    dups = {mid: where for mid, where in got.items() if len(where) > 1}
    errored_delivered = {mid: got[mid] for mid in errs if mid in got}
    gaps = {}
    for name, (sender, _) in stream_info.items():
        if sender in survivors:
            continue
        seqs = sorted(t.sent["%s-%s-%d" % (t.token, name, s)][1] for s in t.by_stream[name]
                      if "%s-%s-%d" % (t.token, name, s) in got)
        if seqs != list(range(1, len(seqs) + 1)):
            gaps[name] = seqs
    counts = {
        "sent": len(t.sent),
        "accepted": len(accepted),
        "errors": dict(sorted(errs.items())),
        "delivered live (old session)": sum(1 for w in got.values() for x in w if x == "live@old"),
        "delivered live (new session)": sum(1 for w in got.values() for x in w if x == "live@new"),
        "delivered offline": sum(1 for w in got.values() for x in w if x.startswith("offline")),
        "delivered live to x1/x3": sum(1 for w in got.values() for x in w if x == "live@"),
        "from node2 sent/delivered": {n: (len(t.by_stream[n]),
                                          sum(1 for s in t.by_stream[n]
                                              if "%s-%s-%d" % (t.token, n, s) in got))
                                      for n, (snd, _) in stream_info.items() if snd not in survivors},
    }
    print("\nkill -9 traffic: %r" % counts)
    problems = []
    if lost:
        problems.append("%d accepted messages never delivered: %s" % (len(lost), lost))
    if dups:
        problems.append("%d messages delivered more than once: %s" % (len(dups), dups))
    if errored_delivered:
        problems.append("messages refused with an error yet delivered: %s" % errored_delivered)
    if gaps:
        problems.append("messages from node2 delivered with gaps: %s" % gaps)
    for name in ("x1-x3", "x3-x1"):
        for s in t.by_stream[name]:
            mid = "%s-%s-%d" % (t.token, name, s)
            if got.get(mid) != ["live@"]:
                problems.append("%s between surviving nodes: %s" % (mid, got.get(mid) or errs.get(mid)))
    assert not problems, "\n".join(problems) + "\ncounts: %r" % counts


def test_killed_node_restarted_rejoins(cluster_health, cclient, users):
    """node2 (killed by the previous test, or here) restarted with cluster-dev.sh
    restart: node1 reports all three up within a few seconds, without a restart of the
    others, and a client on node2 chats with one on node1."""
    c = cluster_health
    if c.node(2).alive():
        c.kill(2)
        H.poll(lambda: (c.node(1).member_states() or {}).get("node2") == "down", DETECT_S,
               "node1 to see node2 down")
    pids = {k: c.node(k).pid() for k in (1, 3)}
    t0 = time.monotonic()
    c.restart(2)
    states = c.wait_members_up(1, ["node1", "node2", "node3"], timeout=5)
    print("\nnode2 up at node1 %.2f s after the restart began: %r" % (time.monotonic() - t0, states))
    c.wait_members_up(3, ["node1", "node2", "node3"], timeout=5)
    c.wait_members_up(2, ["node1", "node2", "node3"], timeout=5)
    assert {k: c.node(k).pid() for k in (1, 3)} == pids, "node1 or node3 restarted"
    a, b = users.take(2)
    ca = online(cclient(a, c.node(1).port, resource="n1"))
    cb = online(cclient(b, c.node(2).port, resource="n2"))
    # b's session reaches node1's table through the cluster: poll until a message to
    # b's full JID goes straight to it (before that it would be stored offline)
    H.poll(lambda: (c.node(1).status() or ("", {}))[1].get("node2", {}).get("sessions", 0) >= 1,
           5, "node1 to count b's session on node2")
    ca.send_message(cb.full_jid, "welcome back, node2")
    cb.wait_for(H.is_message(body="welcome back, node2", frm=ca.full_jid))
    cb.send_message(ca.full_jid, "glad to be back")
    ca.wait_for(H.is_message(body="glad to be back", frm=cb.full_jid))


# --------------------------------------------------------------------------------------
# A link cut between two nodes, and its healing


def test_partition_and_heal(partition_lab, cclient):
    """Two nodes (cluster_fixtures.PartitionLab: p2 in its own network namespace, the
    link between them a veth pair, their own slapd) with a on p1 and b on p2,
    subscribed to each other. The link cut (the veth pair down; both directions):
    each node reports the other down and each user sees the other go unavailable
    within 3 s; messages sent meanwhile are accepted and stored offline. The link
    healed: both nodes report each other up again without a restart, chat across the
    link works again, each user sees the other available again, and what was stored
    during the cut is delivered exactly once at the next login."""
    lab = partition_lab
    p1, p2 = lab.nodes["p1"], lab.nodes["p2"]

    def sees(nd, other, state):
        return (nd.member_states() or {}).get(other.name) == state
    for nd, other in ((p1, p2), (p2, p1)):
        H.poll(lambda: sees(nd, other, "up"), 10, "%s to see %s up" % (nd.name, other.name), 0.1)
    a, b = lab.pool.take(2)
    befriend(None, lab.slapd, a, b, nodes=[p1, p2])
    ca = online(cclient(a, p1.port, resource="p1"))
    cb = online(cclient(b, p2.port, resource="p2", host=p2.host))
    ca.wait_for(H.is_presence(frm=cb.full_jid, ptype="available"), what="b (p2) available at a (p1)")
    cb.wait_for(H.is_presence(frm=ca.full_jid, ptype="available"), what="a (p1) available at b (p2)")
    ca.send_message(cb.full_jid, "before the cut")
    cb.wait_for(H.is_message(body="before the cut"))
    cb.send_message(ca.full_jid, "before the cut, back")
    ca.wait_for(H.is_message(body="before the cut, back"))
    a_full, b_full = ca.full_jid, cb.full_jid

    t_cut = time.monotonic()
    lab.cut()
    H.poll(lambda: sees(p1, p2, "down") and sees(p2, p1, "down"), DETECT_S + 1,
           "p1 and p2 to report each other down", 0.05)
    t_down = time.monotonic() - t_cut
    ca.wait_for(H.is_presence(frm=b_full, ptype="unavailable"), DETECT_S + 1, "b unavailable at a")
    cb.wait_for(H.is_presence(frm=a_full, ptype="unavailable"), DETECT_S + 1, "a unavailable at b")
    t_gone = time.monotonic() - t_cut
    assert t_down <= DETECT_S and t_gone <= DETECT_S + 0.5, (t_down, t_gone)
    during = {"cut-1": (ca, b.jid), "cut-2": (ca, b_full), "cut-3": (cb, a.jid)}
    for body, (sender, to) in during.items():
        sender.send_message(to, body, id=body)

    t_heal = time.monotonic()
    lab.heal()
    H.poll(lambda: sees(p1, p2, "up") and sees(p2, p1, "up"), 10,
           "p1 and p2 to report each other up after the heal", 0.1)
    print("\npartition: down at both after %.2f s, users unavailable after %.2f s, "
          "up again %.2f s after the heal" % (t_down, t_gone, time.monotonic() - t_heal))
    problems = []
    # chat across the healed link: once p1 has b's session again, straight to it
    try:
        H.poll(lambda: (p1.status() or ("", {}))[1].get("p2", {}).get("sessions", 0) >= 1, 5,
               "p1 to count b's session on p2 again", 0.1)
        ca.send_message(b_full, "after the heal")
        cb.wait_for(H.is_message(body="after the heal"), what="a's message after the heal")
        cb.send_message(a_full, "after the heal, back")
        ca.wait_for(H.is_message(body="after the heal, back"), what="b's answer after the heal")
    except AssertionError as e:
        problems.append("chat after the heal: %s" % e)
    # presence: each sees the other available again
    for watcher, other in ((ca, b_full), (cb, a_full)):
        try:
            watcher.wait_for(H.is_presence(frm=other, ptype="available"), 5,
                             "%s available again" % other)
        except AssertionError:
            problems.append("%s did not see %s available again after the heal (it still shows "
                            "it offline)" % (watcher.full_jid, other))
    # what was sent during the cut: accepted, and delivered once at the next login
    for s in (ca, cb):
        s.ping_server()
    errs = {st["id"]: H.stanza_error_condition(st) for s in (ca, cb) for st in s.inbox
            if st.name == "message" and st["type"] == "error" and st["id"] in during}
    if errs:
        problems.append("messages sent during the cut were refused: %s" % errs)
    ca2 = online(cclient(a, p1.port, resource="again"))
    cb2 = online(cclient(b, p2.port, resource="again", host=p2.host))
    want = {"cut-1": (cb, cb2), "cut-2": (cb, cb2), "cut-3": (ca, ca2)}

    def count(body):
        return sum(1 for cl in want[body] for st in cl.inbox
                   if st.name == "message" and st["body"] == body)
    try:
        ca2.wait_until(lambda: all(count(k) >= 1 for k in want if k not in errs), 5,
                       "the messages sent during the cut")
    except AssertionError:
        pass
    for cl in (ca2, cb2):
        cl.ping_server()
    counts = {k: count(k) for k in want}
    bad = {k: n for k, n in counts.items() if n != (0 if k in errs else 1)}
    if bad:
        problems.append("messages sent during the cut delivered (times): %s" % counts)
    assert not problems, "\n".join(problems)
