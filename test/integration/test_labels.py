# SPDX-License-Identifier: Apache-2.0
"""Security labels (XEP-0258) as users see them, on a node with the sample policy
PALISADE (UNCLASSIFIED < RESTRICTED < CONFIDENTIAL < SECRET) and the sample clearances
(scripts/load-sample.sh): alice and bob up to SECRET with every category, carol up to
RESTRICTED releasable to GBR FRA DEU USA, dave none.

What is checked: the catalog per destination, the server's disco features, labelled
delivery with the server's own display marking, rejection above the sender's
clearance, refusal for an uncleared receiver (the sender hears, nothing is delivered,
the error reveals no content), unreadable labels, the server's default label, FLOT
for clients without label support (and the per-user setting), a lowered clearance
stopping delivery within a second, also of offline messages already stored, and the
decision log.

A "label-aware" client registers xep_0258 (which advertises urn:xmpp:sec-label:0 in
its disco#info) and waits until the node has its answer to the disco#info query the
node sends on the first available presence: until then the node counts the session
as not supporting labels and would put the marking in the body (FLOT).

Tests that change clearances or label settings use throwaway users (users.take(...,
clearance=...)), so the sample users stay as load-sample.sh made them."""
import base64
import copy
import re
import secrets
import xml.etree.ElementTree as ET

import pytest
from slixmpp import Message
from slixmpp.plugins.xep_0258 import SecurityLabel
from slixmpp.xmlstream import register_stanza_plugin

import harness as H
from harness import (CONFIDENTIAL, NS_DISCO_INFO, RESTRICTED, RESTRICTED_CLEARANCE, SECRET,
                     SECRET_CLEARANCE, UNCLASSIFIED, q)

NS_SECLABEL = "urn:xmpp:sec-label:0"
NS_CATALOG = "urn:xmpp:sec-label:catalog:2"
NS_ESS = "urn:xmpp:sec-label:ess:0"

BASE_PLUGINS = ("xep_0030", "xep_0199", "xep_0054")
AWARE_PLUGINS = BASE_PLUGINS + ("xep_0258",)


# The sample policy's display markings: text, fgcolor, bgcolor (palisade-sample.xml).
MARKINGS = {
    UNCLASSIFIED: ("UNCLASSIFIED", "white", "green"),
    RESTRICTED: ("RESTRICTED", "black", "aqua"),
    CONFIDENTIAL: ("CONFIDENTIAL", "white", "navy"),
    SECRET: ("SECRET", "black", "red"),
}

# Messages may carry a <securitylabel/> whatever plugins a client registered (only the
# disco feature, added by the xep_0258 plugin, makes a client label-aware).
register_stanza_plugin(Message, SecurityLabel)




# --------------------------------------------------------------------------------------
# Clients


def label_support_line(c, supports):
    return r"policy label-support sess=\d+ jid=%s supports=%s" % (re.escape(c.full_jid), supports)


def online(xmpp_client, node, user, *, aware, resource=None):
    """A logged-in client that sent initial presence and whose disco#info answer to the
    node has arrived: with aware=True it advertises urn:xmpp:sec-label:0."""
    c = xmpp_client(user, resource=resource, plugins=AWARE_PLUGINS if aware else BASE_PLUGINS)
    mark = len(node.log_text())
    c.send_presence()
    # the client answers the node's disco#info query only while the event loop runs
    rx = re.compile(label_support_line(c, "yes" if aware else "no"))
    c.wait_until(lambda: rx.search(node.log_text()[mark:]), 5,
                 "the node's label-support decision for %s" % c.full_jid)
    return c


def send_labelled(c, to, body, label_ess=None, *, marking=None, fgcolor=None, bgcolor=None,
                  element=None, mid=None):
    """Sends a chat message with a <securitylabel/>: an ESS label (base64) with an
    optional client display marking, or a whole <securitylabel/> element as given
    (element). Returns the message id."""
    m = c.x.make_message(mto=to, mbody=body, mtype="chat")
    m["id"] = mid or "lbl-" + secrets.token_hex(5)
    if element is not None:
        m.xml.append(copy.deepcopy(element))
    else:
        sl = m["security_label"]
        if marking is not None:
            dm = sl["display_marking"]
            dm["value"] = marking
            if fgcolor:
                dm["fgcolor"] = fgcolor
            if bgcolor:
                dm["bgcolor"] = bgcolor
        # ESSLabel.set_value of slixmpp 1.8 puts bytes into the text; set it directly
        sl["label"]["ess"].xml.text = label_ess
    c.send(m)
    return m["id"]


def send_plain(c, to, body, mid=None):
    return c.send_message(to, body, id=mid or "pl-" + secrets.token_hex(5))["id"]


def label_of(st):
    """(marking text, fgcolor, bgcolor, ESS base64) of a stanza's <securitylabel/>, or
    None when it has none."""
    sl = st.xml.find(q("securitylabel", NS_SECLABEL))
    return None if sl is None else securitylabel_parts(sl)


def securitylabel_parts(sl):
    """(marking text, fgcolor, bgcolor, ESS base64) of a <securitylabel/> element."""
    dm = sl.find(q("displaymarking", NS_SECLABEL))
    ess = sl.find("%s/%s" % (q("label", NS_SECLABEL), q("esssecuritylabel", NS_ESS)))
    return (None if dm is None else dm.text, None if dm is None else dm.get("fgcolor"),
            None if dm is None else dm.get("bgcolor"), None if ess is None else (ess.text or "").strip())


def is_error_for(mid):
    return lambda s: s.name == "message" and s["type"] == "error" and s["id"] == mid


def error_details(st):
    """(type, condition, text) of a stanza error."""
    err = st.xml.find(q("error", H.NS_CLIENT))
    assert err is not None, "no <error/> in %s" % H._summary(st)
    text = err.find(q("text", H.NS_STANZAS))
    return err.get("type"), H.stanza_error_condition(st), None if text is None else text.text


def assert_reveals_nothing(err, secret_body):
    """A label error carries neither the body nor the label of the refused message."""
    assert err.xml.find(q("body", H.NS_CLIENT)) is None, "the error carries a body: %s" % H._summary(err)
    assert err.xml.find(q("securitylabel", NS_SECLABEL)) is None, \
        "the error carries the label: %s" % H._summary(err)
    assert secret_body not in ET.tostring(err.xml, encoding="unicode"), \
        "the error reveals the content: %s" % H._summary(err)


def catalog(c, dest):
    """The catalog for dest: [(item element, marking text, ESS base64, default)]."""
    r = c.iq("get", "<catalog xmlns='%s' to='%s'/>" % (NS_CATALOG, dest), to=H.DOMAIN)
    assert r["type"] == "result", "catalog request failed: %s" % H._summary(r)
    cat = r.xml.find(q("catalog", NS_CATALOG))
    assert cat is not None, "no <catalog/> in %s" % H._summary(r)
    assert H.bare(cat.get("to")) == dest, "catalog for %r, asked for %s" % (cat.get("to"), dest)
    items = []
    for it in cat.findall(q("item", NS_CATALOG)):
        sl = it.find(q("securitylabel", NS_SECLABEL))
        assert sl is not None, "a catalog item without a label: %s" % ET.tostring(it, encoding="unicode")
        marking, _, _, ess = securitylabel_parts(sl)
        items.append((sl, marking, ess, it.get("default") in ("true", "1")))
    return items


# --------------------------------------------------------------------------------------
# Discovery and the catalog


def test_server_advertises_labels_and_catalog(xmpp_client, sample):
    c = xmpp_client(sample["alice"])
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=H.DOMAIN)
    assert r["type"] == "result", H._summary(r)
    features = {f.get("var") for f in r.xml.find(q("query", NS_DISCO_INFO)).findall(q("feature", NS_DISCO_INFO))}
    assert NS_SECLABEL in features, sorted(features)
    assert NS_CATALOG in features, sorted(features)


@pytest.mark.parametrize("dest, expected", [
    ("bob", [SECRET, CONFIDENTIAL, RESTRICTED, UNCLASSIFIED]),
    ("carol", [RESTRICTED, UNCLASSIFIED]),
    ("dave", []),
], ids=["bob", "carol", "dave"])
def test_catalog_offers_what_both_clearances_allow(xmpp_client, sample, ctl, dest, expected):
    """alice (SECRET) to bob (SECRET): every classification; to carol (RESTRICTED): none
    above RESTRICTED; to dave (no clearance): no label at all."""
    c = xmpp_client(sample["alice"], plugins=AWARE_PLUGINS)
    items = catalog(c, sample[dest].jid)
    got = sorted((marking, ess) for _, marking, ess, _ in items)
    want = sorted((MARKINGS[lbl][0], ctl.ess(lbl)) for lbl in expected)
    assert got == want, "catalog alice -> %s: %s" % (dest, [m for m, _ in got])
    assert not any(d for *_, d in items), "a default item although no default label is set"


@pytest.mark.parametrize("dest", ["bob", "carol"])
def test_catalog_labels_are_usable_as_they_are(xmpp_client, node, sample, dest):
    """Every label of the catalog, sent back unchanged, reaches the destination with the
    marking the catalog showed."""
    ca = xmpp_client(sample["alice"], plugins=AWARE_PLUGINS)
    cd = online(xmpp_client, node, sample[dest], aware=True)
    items = catalog(ca, sample[dest].jid)
    assert items, "empty catalog for %s" % dest
    for i, (sl, marking, ess, _) in enumerate(items):
        body = "from the catalog %d" % i
        mid = send_labelled(ca, sample[dest].jid, body, element=sl)
        m = cd.wait_for(H.is_message(body=body), what="the message labelled %s" % marking)
        assert label_of(m)[0] == marking and label_of(m)[3] == ess, label_of(m)
        assert not ca.has(is_error_for(mid)), "the catalog's label %s was refused" % marking


# --------------------------------------------------------------------------------------
# Delivery and refusals


def test_secret_message_arrives_with_the_servers_marking(xmpp_client, node, sample, ctl):
    """alice sends SECRET with a wrong marking (text and colours); bob gets the label
    with the marking the policy defines, and his body untouched."""
    ca = xmpp_client(sample["alice"])
    cb = online(xmpp_client, node, sample["bob"], aware=True)
    send_labelled(ca, sample["bob"].jid, "the plan", ctl.ess(SECRET), marking="UNCLASSIFIED",
                  fgcolor="white", bgcolor="green")
    m = cb.wait_for(H.is_message(body="the plan"), what="the SECRET message")
    assert H.bare(m["from"]) == sample["alice"].jid
    assert label_of(m) == MARKINGS[SECRET] + (ctl.ess(SECRET),), label_of(m)
    sl = m.xml.find(q("securitylabel", NS_SECLABEL))
    assert len(sl.findall(q("displaymarking", NS_SECLABEL))) == 1, ET.tostring(sl, encoding="unicode")


@pytest.mark.parametrize("sender, label", [
    ("carol", SECRET),                                      # classification-too-high
    ("carol", RESTRICTED + " categories=NATO,GBR"),         # missing-restrictive-category
    ("dave", RESTRICTED),                                   # no-clearance
], ids=["carol-SECRET", "carol-RESTRICTED-NATO", "dave-RESTRICTED"])
def test_label_above_the_senders_clearance_is_rejected(xmpp_client, node, sample, ctl, sender, label):
    """The sender gets auth/forbidden; the message is not routed: bob receives the
    sender's next (unlabelled) message and never the labelled one."""
    cs = xmpp_client(sample[sender])
    cb = online(xmpp_client, node, sample["bob"], aware=True)
    mid = send_labelled(cs, sample["bob"].jid, "too high for me", ctl.ess(label))
    err = cs.wait_for(is_error_for(mid), what="the error for the labelled message")
    etype, cond, _ = error_details(err)
    assert (etype, cond) == ("auth", "forbidden"), H._summary(err)
    assert_reveals_nothing(err, "too high for me")
    send_plain(cs, sample["bob"].jid, "after the refusal")
    cb.wait_for(H.is_message(body="after the refusal"), what="the unlabelled message after it")
    assert not cb.has(H.is_message(body="too high for me")), "a rejected message was delivered"


@pytest.mark.parametrize("receiver", ["carol", "dave"])
def test_receiver_not_cleared_gets_nothing_and_sender_hears(xmpp_client, node, sample, ctl, receiver):
    """alice sends SECRET to carol (RESTRICTED) and to dave (no clearance): alice gets
    cancel/forbidden saying the recipient is not cleared, with nothing of the message;
    the receiver gets nothing, while unlabelled messages still reach it."""
    ca = xmpp_client(sample["alice"])
    cr = online(xmpp_client, node, sample[receiver], aware=True)
    mid = send_labelled(ca, sample[receiver].jid, "eyes only", ctl.ess(SECRET))
    err = ca.wait_for(is_error_for(mid), what="the error for the SECRET message")
    etype, cond, text = error_details(err)
    assert (etype, cond) == ("cancel", "forbidden"), H._summary(err)
    assert text and "not cleared" in text, "the error does not say the recipient is not cleared: %r" % text
    assert H.bare(err["from"]) == sample[receiver].jid, H._summary(err)
    assert_reveals_nothing(err, "eyes only")
    send_plain(ca, sample[receiver].jid, "plain words")
    cr.wait_for(H.is_message(body="plain words"), what="the unlabelled message")
    assert not cr.has(H.is_message(body="eyes only")), "the SECRET message reached %s" % receiver


@pytest.mark.parametrize("garbage", ["!!not*base64!!", "AAAA", "MQYCAQQGASk="],
                         ids=["not-base64", "not-der", "unknown-policy"])
def test_unreadable_label_is_bad_request(xmpp_client, node, sample, garbage):
    """Not base64, base64 of no DER label, a label of an unknown policy (XEP-0258's
    example, policy 1.1): modify/bad-request, nothing delivered."""
    ca = xmpp_client(sample["alice"])
    cb = online(xmpp_client, node, sample["bob"], aware=True)
    mid = send_labelled(ca, sample["bob"].jid, "garbled", garbage)
    err = ca.wait_for(is_error_for(mid), what="the error for the unreadable label")
    etype, cond, _ = error_details(err)
    assert (etype, cond) == ("modify", "bad-request"), H._summary(err)
    send_plain(ca, sample["bob"].jid, "readable")
    cb.wait_for(H.is_message(body="readable"))
    assert not cb.has(H.is_message(body="garbled")), "a message with an unreadable label was delivered"


def test_two_clearances_see_one_conversation_differently(xmpp_client, node, sample, ctl):
    """alice sends one message of each classification and an unlabelled one to bob
    (SECRET) and carol (RESTRICTED): bob reads all five, carol the unlabelled,
    UNCLASSIFIED and RESTRICTED ones only; alice hears of the two carol may not read."""
    ca = xmpp_client(sample["alice"])
    cb = online(xmpp_client, node, sample["bob"], aware=True)
    cc = online(xmpp_client, node, sample["carol"], aware=True)
    sent = [(None, "talk: plain")] + [(lbl, "talk: %s" % MARKINGS[lbl][0])
                                      for lbl in (UNCLASSIFIED, RESTRICTED, CONFIDENTIAL, SECRET)]
    refused = set()
    for rcpt in ("bob", "carol"):
        for lbl, body in sent:
            if lbl is None:
                send_plain(ca, sample[rcpt].jid, body)
            else:
                mid = send_labelled(ca, sample[rcpt].jid, body, ctl.ess(lbl))
                if rcpt == "carol" and lbl in (CONFIDENTIAL, SECRET):
                    refused.add(mid)
        send_plain(ca, sample[rcpt].jid, "talk: end")

    def seen(c):
        c.wait_for(H.is_message(body="talk: end"), what="the end of the conversation")
        return [(s["body"], (label_of(s) or (None,))[0]) for s in c.inbox
                if s.name == "message" and (s["body"] or "").startswith("talk:")]
    assert seen(cb) == [(body, lbl and MARKINGS[lbl][0]) for lbl, body in sent]
    assert seen(cc) == [(body, lbl and MARKINGS[lbl][0]) for lbl, body in sent
                        if lbl in (None, UNCLASSIFIED, RESTRICTED)]
    errors = ca.wait_many(lambda s: s.name == "message" and s["type"] == "error", len(refused),
                          what="errors for carol's unreadable messages")
    assert {e["id"] for e in errors} == refused


def test_partner_label_crosses_by_its_equivalence(xmpp_client, node, sample, ctl):
    """The PARTNER policy maps PARTNER RESTRICTED to PALISADE RESTRICTED: carol (a
    PALISADE clearance) reads it; PARTNER SENSITIVE has no equivalent: alice may not
    send it (she holds no PARTNER clearance), and nothing is delivered."""
    ca = xmpp_client(sample["alice"])
    cc = online(xmpp_client, node, sample["carol"], aware=True)
    send_labelled(ca, sample["carol"].jid, "partner restricted",
                  ctl.ess('policy=PARTNER class="PARTNER RESTRICTED"'))
    m = cc.wait_for(H.is_message(body="partner restricted"), what="the PARTNER RESTRICTED message")
    assert label_of(m) is not None
    mid = send_labelled(ca, sample["carol"].jid, "partner sensitive",
                        ctl.ess('policy=PARTNER class="PARTNER SENSITIVE"'))
    err = ca.wait_for(is_error_for(mid), what="the error for PARTNER SENSITIVE")
    assert error_details(err)[1] == "forbidden", H._summary(err)
    send_plain(ca, sample["carol"].jid, "after partner")
    cc.wait_for(H.is_message(body="after partner"))
    assert not cc.has(H.is_message(body="partner sensitive"))


def test_offline_receiver_not_cleared_is_refused_at_once(xmpp_client, node, sample, ctl, users,
                                                         slapd):
    """A SECRET message to an offline user cleared only RESTRICTED is refused when sent
    (the sender hears at once) and never stored; the unlabelled one after it is."""
    (u,) = users.take(1, clearance=RESTRICTED_CLEARANCE)
    dn = slapd.user_dn(u.jid)
    ca = xmpp_client(sample["alice"])
    mid = send_labelled(ca, u.jid, "secret for later", ctl.ess(SECRET))
    err = ca.wait_for(is_error_for(mid), what="the error for the SECRET message")
    assert error_details(err)[:2] == ("cancel", "forbidden"), H._summary(err)
    send_plain(ca, u.jid, "plain for later")
    H.poll(lambda: slapd.ldap_search("(objectClass=xmppOfflineMessage)", ["xmppStanza"], base=dn),
           10, "the unlabelled message in the offline store")
    stored = slapd.ldap_search("(objectClass=xmppOfflineMessage)", ["xmppStanza"], base=dn)
    assert len(stored) == 1 and "plain for later" in str(stored), stored
    cu = xmpp_client(u, plugins=AWARE_PLUGINS)
    cu.send_presence()
    cu.wait_for(H.is_message(body="plain for later"))
    cu.ping_server()
    assert not cu.has(lambda s: s.name == "message" and "secret for later" in (s["body"] or ""))


def test_label_aware_client_gets_offline_messages_without_flot(xmpp_client, node, sample, ctl,
                                                               users):
    """A label-aware client shows the label itself: its stored labelled messages must
    not carry the marking in the body either."""
    (u,) = users.take(1, clearance=SECRET_CLEARANCE)
    ca = xmpp_client(sample["alice"])
    send_labelled(ca, u.jid, "waiting secret", ctl.ess(SECRET))
    ca.ping_server()
    cu = xmpp_client(u, plugins=AWARE_PLUGINS)
    cu.send_presence()
    m = cu.wait_for(lambda s: s.name == "message" and "waiting secret" in (s["body"] or ""),
                    what="the offline SECRET message")
    assert label_of(m)[0] == "SECRET"
    assert m["body"] == "waiting secret", repr(m["body"])


# --------------------------------------------------------------------------------------
# The default label


def test_default_label_is_applied(xmpp_client, node, sample, ctl, server_default_label):
    """With the server's default label UNCLASSIFIED: alice's unlabelled message reaches
    bob labelled UNCLASSIFIED (within a second of the change); dave, who has no
    clearance, can then neither send nor receive unlabelled messages."""
    ca = xmpp_client(sample["alice"])
    cb = online(xmpp_client, node, sample["bob"], aware=True)
    cd = online(xmpp_client, node, sample["dave"], aware=False)
    server_default_label(UNCLASSIFIED, wait=False)

    n = [0]

    def labelled_now():
        n[0] += 1
        body = "unlabelled %d" % n[0]
        send_plain(ca, sample["bob"].jid, body)
        return label_of(cb.wait_for(H.is_message(body=body), what="message %r" % body)) is not None
    H.within(1.0, labelled_now, "the default label on alice's messages")
    send_plain(ca, sample["bob"].jid, "labelled by default")
    m = cb.wait_for(H.is_message(body="labelled by default"))
    assert label_of(m) == MARKINGS[UNCLASSIFIED] + (ctl.ess(UNCLASSIFIED),), label_of(m)

    # the catalog marks it as the default
    defaults = [marking for _, marking, _, dflt in catalog(ca, sample["bob"].jid) if dflt]
    assert defaults == ["UNCLASSIFIED"], "default items in the catalog: %r" % defaults

    # dave sends: the default label applies to him too, and he holds no clearance
    mid = send_plain(cd, sample["bob"].jid, "from dave")
    err = cd.wait_for(is_error_for(mid), what="the error for dave's message")
    assert error_details(err)[:2] == ("auth", "forbidden"), H._summary(err)
    cb.ping_server()
    assert not cb.has(H.is_message(body="from dave")), "dave's message was delivered"

    # dave receives: alice's unlabelled message now carries UNCLASSIFIED
    mid = send_plain(ca, sample["dave"].jid, "to dave")
    err = ca.wait_for(is_error_for(mid), what="the error for alice's message to dave")
    assert error_details(err)[:2] == ("cancel", "forbidden"), H._summary(err)
    cd.ping_server()
    assert not cd.has(H.is_message(body="to dave")), "dave received a labelled message"


# --------------------------------------------------------------------------------------
# FLOT: the marking in the first line of the body


def test_flot_for_a_client_without_label_support(xmpp_client, node, sample, ctl):
    """carol's client does not advertise labels: the marking is the body's first line;
    bob's does: his body is untouched."""
    ca = xmpp_client(sample["alice"])
    cc = online(xmpp_client, node, sample["carol"], aware=False)
    cb = online(xmpp_client, node, sample["bob"], aware=True)
    send_labelled(ca, cc.full_jid, "meeting at ten", ctl.ess(RESTRICTED))
    send_labelled(ca, cb.full_jid, "meeting at ten", ctl.ess(RESTRICTED))
    m = cc.wait_for(lambda s: s.name == "message" and "meeting at ten" in (s["body"] or ""),
                    what="carol's copy")
    assert m["body"] == "RESTRICTED\nmeeting at ten", repr(m["body"])
    m = cb.wait_for(lambda s: s.name == "message" and "meeting at ten" in (s["body"] or ""),
                    what="bob's copy")
    assert m["body"] == "meeting at ten", repr(m["body"])


def test_label_support_setting_overrides_the_client(xmpp_client, node, sample, ctl, users, slapd):
    """`palisadectl user label-support JID off` puts the marking in the body even for a
    label-aware client, `on` leaves it out even for a client without label support, and
    `default` goes back to what each client advertises."""
    (u,) = users.take(1, clearance=SECRET_CLEARANCE)
    dn = slapd.user_dn(u.jid)
    ca = xmpp_client(sample["alice"])
    aware = online(xmpp_client, node, u, aware=True, resource="aware")
    plain = online(xmpp_client, node, u, aware=False, resource="plain")

    def setting(value):
        mark = len(node.log_text())
        slapd.ctl("label-support", u.jid, value)
        node.wait_synced(dn, mark)

    def bodies_seen(text):
        """(aware client's body, plain client's body) of a CONFIDENTIAL message to u."""
        send_labelled(ca, u.jid, text, ctl.ess(CONFIDENTIAL))
        return tuple(c.wait_for(lambda s: s.name == "message" and text in (s["body"] or ""),
                                what="%r on %s" % (text, c.resource))["body"] for c in (aware, plain))
    assert bodies_seen("first") == ("first", "CONFIDENTIAL\nfirst")
    setting("off")
    assert bodies_seen("second") == ("CONFIDENTIAL\nsecond", "CONFIDENTIAL\nsecond")
    setting("on")
    assert bodies_seen("third") == ("third", "third")
    setting("default")
    assert bodies_seen("fourth") == ("fourth", "CONFIDENTIAL\nfourth")


def test_flot_marking_shows_categories(xmpp_client, node, sample, ctl):
    """The FLOT line is the policy's full marking (classification and categories)."""
    ca = xmpp_client(sample["alice"])
    cc = online(xmpp_client, node, sample["carol"], aware=False)
    label = RESTRICTED + " categories=GBR"
    marking = ctl.check(label)["marking"].split('"')[1]
    assert "GBR" in marking, marking
    send_labelled(ca, cc.full_jid, "for the UK", ctl.ess(label))
    m = cc.wait_for(lambda s: s.name == "message" and "for the UK" in (s["body"] or ""))
    assert m["body"] == marking + "\nfor the UK", repr(m["body"])


# --------------------------------------------------------------------------------------
# Clearances changed in the directory


def lower_clearance_ldif(dn, der_b64):
    return "dn: %s\nchangetype: modify\nreplace: xmppClearance\nxmppClearance:: %s\n" % (dn, der_b64)


def test_lowered_clearance_stops_delivery_within_a_second(xmpp_client, node, sample, ctl, users,
                                                          slapd, ldap_modify):
    """A receiver cleared SECRET, lowered to RESTRICTED with ldapmodify: within a second
    SECRET messages to it are refused (the sender hears) and not delivered."""
    (u,) = users.take(1, clearance=SECRET_CLEARANCE)
    ca = xmpp_client(sample["alice"])
    cu = online(xmpp_client, node, u, aware=True)
    send_labelled(ca, u.jid, "secret before", ctl.ess(SECRET))
    cu.wait_for(H.is_message(body="secret before"), what="SECRET while cleared")

    ldap_modify(lower_clearance_ldif(slapd.user_dn(u.jid), ctl.clearance_der(RESTRICTED_CLEARANCE)))
    attempts = []

    def refused_now():
        body = "secret attempt %d" % len(attempts)
        mid = send_labelled(ca, u.jid, body, ctl.ess(SECRET))
        attempts.append((mid, body))
        ca.wait_until(lambda: ca.has(is_error_for(mid)) or cu.has(H.is_message(body=body)), 5,
                      "an error for or the delivery of %r" % body)
        return ca.has(is_error_for(mid))
    H.within(1.0, refused_now, "SECRET refused after the clearance was lowered")
    mid, body = attempts[-1]
    err = ca.wait_for(is_error_for(mid))
    assert error_details(err)[:2] == ("cancel", "forbidden"), H._summary(err)
    assert_reveals_nothing(err, body)
    send_labelled(ca, u.jid, "restricted still fine", ctl.ess(RESTRICTED))
    cu.wait_for(H.is_message(body="restricted still fine"), what="RESTRICTED after lowering")
    assert not cu.has(H.is_message(body=body)), "a refused SECRET message was delivered"


def test_lowered_clearance_stops_stored_offline_messages(xmpp_client, node, sample, ctl, users,
                                                         slapd, ldap_modify):
    """A SECRET message waits offline (kept with its label); the receiver's clearance is
    lowered; at login the SECRET message is not delivered (its sender hears), while an
    unlabelled one sent at the same time is."""
    (u,) = users.take(1, clearance=SECRET_CLEARANCE)
    dn = slapd.user_dn(u.jid)
    ca = xmpp_client(sample["alice"])
    secret_id = send_labelled(ca, u.jid, "stored secret", ctl.ess(SECRET))
    send_plain(ca, u.jid, "stored plain")
    ca.ping_server()
    assert not ca.has(lambda s: s.name == "message" and s["type"] == "error"), \
        "a message to an offline cleared user was refused: %s" % [H._summary(s) for s in ca.inbox]

    def stored():
        found = slapd.ldap_search("(objectClass=xmppOfflineMessage)", ["xmppStanza", "xmppSecurityLabel"],
                                  base=dn)
        return len(found) == 2 and found
    found = H.poll(stored, 10, "both messages in the offline store")
    # ldap_search decodes base64 values to text when they happen to be UTF-8
    labels = [base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
              for e in found.values() for v in e.get("xmppSecurityLabel", [])]
    assert labels == [ctl.ess(SECRET)], "the stored SECRET message lost its label: %r" % labels

    mark = len(node.log_text())
    ldap_modify(lower_clearance_ldif(dn, ctl.clearance_der(RESTRICTED_CLEARANCE)))
    node.wait_synced(dn, mark, timeout=1.0)

    cu = xmpp_client(u, plugins=AWARE_PLUGINS)
    cu.send_presence()
    cu.wait_for(H.is_message(body="stored plain"), what="the unlabelled offline message")
    err = ca.wait_for(is_error_for(secret_id), what="the error for the stored SECRET message")
    etype, cond, text = error_details(err)
    assert (etype, cond) == ("cancel", "forbidden"), H._summary(err)
    assert_reveals_nothing(err, "stored secret")
    cu.ping_server()
    assert not cu.has(lambda s: s.name == "message" and "stored secret" in (s["body"] or "")), \
        "the SECRET offline message was delivered after the clearance was lowered"


# --------------------------------------------------------------------------------------
# Values the nodes cannot read fail closed (docs/DIRECTORY.md)


def unreadable_user(users, slapd, node, ldap_modify, attr):
    """A fresh user (cleared SECRET) whose attr holds bytes that are no DER value."""
    (u,) = users.take(1, clearance=SECRET_CLEARANCE)
    dn = slapd.user_dn(u.jid)
    mark = len(node.log_text())
    ldap_modify("dn: %s\nchangetype: modify\nreplace: %s\n%s:: AAAA\n" % (dn, attr, attr))
    node.wait_synced(dn, mark)
    return u


def test_unreadable_clearance_denies_labelled_messages(xmpp_client, node, sample, ctl, users,
                                                       slapd, ldap_modify):
    """An xmppClearance that is not DER: no labelled message to or from that user;
    unlabelled ones still flow; the read refusal is logged with its reason."""
    u = unreadable_user(users, slapd, node, ldap_modify, "xmppClearance")
    ca = xmpp_client(sample["alice"])
    cu = online(xmpp_client, node, u, aware=True)
    mark = len(node.log_text())
    mid = send_labelled(ca, u.jid, "to the unreadable", ctl.ess(RESTRICTED))
    err = ca.wait_for(is_error_for(mid), what="the error for the message to the user")
    assert error_details(err)[:2] == ("cancel", "forbidden"), H._summary(err)
    mid = send_labelled(cu, ca.full_jid, "from the unreadable", ctl.ess(RESTRICTED))
    err = cu.wait_for(is_error_for(mid), what="the error for the user's labelled message")
    assert error_details(err)[:2] == ("auth", "forbidden"), H._summary(err)
    send_plain(ca, u.jid, "plain to")
    cu.wait_for(H.is_message(body="plain to"))
    send_plain(cu, ca.full_jid, "plain from")
    ca.wait_for(H.is_message(body="plain from"))
    assert not cu.has(H.is_message(body="to the unreadable"))
    assert not ca.has(H.is_message(body="from the unreadable"))
    assert re.search(r"policy decision check=read verdict=\S+ reason=unreadable-clearance "
                     r"stanza=\d+ jid=%s" % re.escape(u.jid), node.log_text()[mark:])


def test_unreadable_clearance_send_refusal_names_its_reason(xmpp_client, node, sample, ctl, users,
                                                            slapd, ldap_modify):
    u = unreadable_user(users, slapd, node, ldap_modify, "xmppClearance")
    ca = xmpp_client(sample["alice"])
    cu = xmpp_client(u)
    mark = len(node.log_text())
    mid = send_labelled(cu, ca.full_jid, "from the unreadable", ctl.ess(RESTRICTED))
    cu.wait_for(is_error_for(mid), what="the error for the user's labelled message")
    log = node.log_text()[mark:]
    assert re.search(r"policy decision check=send verdict=deny-clearance reason=unreadable-clearance "
                     r"stanza=\d+ jid=%s" % re.escape(u.jid), log), \
        [line for line in log.splitlines() if "policy decision" in line]


def test_unreadable_default_label_refuses_what_it_would_label(xmpp_client, node, sample, users,
                                                              slapd, ldap_modify):
    """A user's xmppDefaultLabel that is not DER: that user's unlabelled messages are
    refused (wait/internal-server-error), not sent unlabelled; the log says what to fix."""
    u = unreadable_user(users, slapd, node, ldap_modify, "xmppDefaultLabel")
    ca = online(xmpp_client, node, sample["alice"], aware=True)
    cu = xmpp_client(u)
    mark = len(node.log_text())
    mid = send_plain(cu, sample["alice"].jid, "would have been labelled")
    err = cu.wait_for(is_error_for(mid), what="the error for the unlabelled message")
    assert error_details(err)[:2] == ("wait", "internal-server-error"), H._summary(err)
    ca.ping_server()
    assert not ca.has(H.is_message(body="would have been labelled"))
    assert re.search(r"policy default-label-unreadable jid=%s" % re.escape(u.jid),
                     node.log_text()[mark:])


# --------------------------------------------------------------------------------------
# The decision log


def test_every_decision_is_logged_with_its_reason(xmpp_client, node, sample, ctl):
    ca = xmpp_client(sample["alice"])
    cb = online(xmpp_client, node, sample["bob"], aware=True)
    cc = online(xmpp_client, node, sample["carol"], aware=True)
    mark = len(node.log_text())
    send_labelled(ca, sample["bob"].jid, "allowed", ctl.ess(SECRET))
    cb.wait_for(H.is_message(body="allowed"))
    mid = send_labelled(ca, sample["carol"].jid, "refused", ctl.ess(SECRET))
    ca.wait_for(is_error_for(mid))
    mid = send_labelled(cc, sample["bob"].jid, "not allowed to send", ctl.ess(CONFIDENTIAL))
    cc.wait_for(is_error_for(mid))
    log = node.log_text()[mark:]
    for rx in (r'policy decision check=send verdict=allow reason=\S+ stanza=\d+ jid=alice@localhost label="SECRET"',
               r'policy decision check=read verdict=allow reason=\S+ stanza=\d+ jid=bob@localhost label="SECRET"',
               r'policy decision check=read verdict=deny-clearance reason=classification-too-high '
               r'stanza=\d+ jid=carol@localhost label="SECRET"',
               r'policy decision check=send verdict=deny-clearance reason=classification-too-high '
               r'stanza=\d+ jid=carol@localhost label="CONFIDENTIAL"'):
        assert re.search(rx, log), "no line /%s/ in the log:\n%s" % (
            rx, "\n".join(line for line in log.splitlines() if "policy" in line))
