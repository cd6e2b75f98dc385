# SPDX-License-Identifier: Apache-2.0
"""Helpers of the multi-user chat tests (test_muc.py, test_muc_cluster.py): joining a
room and collecting what the join brings (occupants, self-presence, history, subject),
the muc#user payload of room stanzas, the configuration form (muc#owner), role and
affiliation changes (muc#admin), service discovery, rooms written into the directory
with ldapadd, and security labels (XEP-0258) as test_labels.py sends and reads them.

Stanzas to rooms are written as XML text (Client.send_raw, Client.iq) so that the
tests show exactly what goes on the wire; slixmpp's xep_0045 plugin is registered on
the test clients (MUC_PLUGINS) so that its stanza classes parse what comes back."""
import base64
import re
import secrets
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape, quoteattr

import harness as H
from harness import (CONFIDENTIAL, NS_DISCO_INFO, NS_DISCO_ITEMS, RESTRICTED,  # noqa: F401
                     RESTRICTED_CLEARANCE, SECRET, SECRET_CLEARANCE, UNCLASSIFIED, q)

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = NS_MUC + "#user"
NS_MUC_ADMIN = NS_MUC + "#admin"
NS_MUC_OWNER = NS_MUC + "#owner"
NS_ROOMCONFIG = NS_MUC + "#roomconfig"
NS_ROOMINFO = NS_MUC + "#roominfo"
NS_XDATA = "jabber:x:data"
NS_SECLABEL = "urn:xmpp:sec-label:0"
NS_CATALOG = "urn:xmpp:sec-label:catalog:2"
NS_ESS = "urn:xmpp:sec-label:ess:0"

SERVICE = "conference." + H.DOMAIN

BASE_PLUGINS = ("xep_0030", "xep_0199", "xep_0054")
MUC_PLUGINS = BASE_PLUGINS + ("xep_0045",)
AWARE_PLUGINS = MUC_PLUGINS + ("xep_0258",)



def new_room(prefix="room"):
    """A bare room JID no other test uses."""
    return "%s-%s@%s" % (prefix, secrets.token_hex(4), SERVICE)


def summary(st):
    return H._summary(st) if hasattr(st, "xml") else ET.tostring(st, encoding="unicode")[:300]


def full(room, nick):
    return "%s/%s" % (room, nick)


# --------------------------------------------------------------------------------------
# Reading room stanzas


def frm(st):
    return str(st["from"])


def muc_user_x(st):
    return st.xml.find(q("x", NS_MUC_USER))


def item(st):
    """The muc#user <item/> of a room stanza (Element), or None."""
    x = muc_user_x(st)
    return None if x is None else x.find(q("item", NS_MUC_USER))


def codes(st):
    """The muc#user status codes of a room stanza, as a set of strings."""
    x = muc_user_x(st)
    return set() if x is None else {s.get("code") for s in x.findall(q("status", NS_MUC_USER))}


def ptype(st):
    return st.xml.get("type") or "available"


def from_room(room):
    return lambda st: H.bare(frm(st)) == room


def is_occ_presence(room, nick=None, type_=None, code=None):
    """Presence from room (any occupant, or room/nick); type_ 'available' matches
    presence without a type."""
    def pred(st):
        if st.name != "presence" or H.bare(frm(st)) != room:
            return False
        if nick is not None and frm(st) != full(room, nick):
            return False
        if type_ is not None and ptype(st) != type_:
            return False
        return code is None or code in codes(st)
    return pred


def is_groupchat(room, body=None, nick=None, contains=None):
    def pred(st):
        return (st.name == "message" and st["type"] == "groupchat" and H.bare(frm(st)) == room and
                (nick is None or frm(st) == full(room, nick)) and
                (body is None or st["body"] == body) and
                (contains is None or contains in (st["body"] or "")))
    return pred


def subject_el(st):
    return st.xml.find(q("subject", H.NS_CLIENT))


def is_subject(room):
    """A subject message from the room (XEP-0045 §8.1: <subject/> and no <body/>)."""
    def pred(st):
        return (st.name == "message" and st["type"] == "groupchat" and H.bare(frm(st)) == room
                and subject_el(st) is not None and st.xml.find(q("body", H.NS_CLIENT)) is None)
    return pred


def is_error_reply(mid, name="message"):
    return lambda st: st.name == name and st["type"] == "error" and st["id"] == mid


def has_delay(st):
    return st.xml.find(q("delay", H.NS_DELAY)) is not None


def bodies(c, room):
    """Bodies of the groupchat messages from room in c's inbox, in arrival order."""
    return [st["body"] for st in c.inbox if is_groupchat(room)(st) and st["body"]]


# --------------------------------------------------------------------------------------
# Joining


class Joined:
    """What a join brought, in arrival order: the presences of the occupants already
    there, the self-presence (110), the history, the subject; or the error presence."""

    def __init__(self, room, nick, stanzas):
        self.room = room
        self.nick = nick
        self.stanzas = stanzas
        self.error = next((s for s in stanzas if s.name == "presence" and ptype(s) == "error"), None)
        self.self_presence = next((s for s in stanzas if s.name == "presence" and "110" in codes(s)
                                   and ptype(s) != "error"), None)
        i = stanzas.index(self.self_presence) if self.self_presence is not None else len(stanzas)
        self.occupants = [s for s in stanzas[:i] if s.name == "presence"]
        self.after = stanzas[i + 1:]
        self.history = [s for s in self.after if s.name == "message" and s["body"]]
        self.subject = next((s for s in self.after if is_subject(self.room)(s)), None)

    @property
    def condition(self):
        return None if self.error is None else H.stanza_error_condition(self.error)

    def error_type(self):
        err = self.error.xml.find(q("error", H.NS_CLIENT))
        return None if err is None else err.get("type")

    def occupant_nicks(self):
        return [frm(s).split("/", 1)[1] for s in self.occupants]

    def history_bodies(self):
        return [s["body"] for s in self.history]

    def describe(self):
        return [summary(s) for s in self.stanzas]


def join_xml(room, nick, *, history=None, password=None, extra=""):
    hist = ""
    if history:
        hist = "<history %s/>" % " ".join("%s=%s" % (k, quoteattr(str(v))) for k, v in history.items())
    pw = "" if password is None else "<password>%s</password>" % xml_escape(password)
    return "<presence to=%s><x xmlns='%s'>%s%s</x>%s</presence>" % (
        quoteattr(full(room, nick)), NS_MUC, hist, pw, extra)


def join(c, room, nick, *, history=None, password=None, extra="", expect=None, check=True,
         timeout=10):
    """Sends the join presence and waits until the join is complete (XEP-0045 §7.2:
    occupants, self-presence, history, subject; a new room (201) is complete with its
    self-presence) or refused (presence of type error from room/nick). expect=None:
    the join must succeed; expect='<condition>': it must be refused with it;
    check=False: either. Returns Joined (its stanzas leave the inbox)."""
    before = {id(s) for s in c.inbox}
    me = full(room, nick)
    c.send_raw(join_xml(room, nick, history=history, password=password, extra=extra))

    def collected():
        new = [s for s in c.inbox if id(s) not in before and H.bare(frm(s)) == room]
        seen_self = False
        for k, s in enumerate(new):
            if s.name == "presence" and ptype(s) == "error" and frm(s) == me:
                return new[:k + 1]
            if s.name == "presence" and "110" in codes(s) and ptype(s) != "unavailable":
                seen_self = True
                if "201" in codes(s):
                    return new[:k + 1]
            elif seen_self and is_subject(room)(s):
                return new[:k + 1]
        return None
    got = c.wait_until(collected, timeout, "the join of %s as %s to complete (self-presence and "
                       "subject, or an error presence)" % (room, nick))
    for s in got:
        c.inbox.remove(s)
    j = Joined(room, nick, got)
    if not check:
        return j
    if expect is None:
        assert j.error is None, "%s could not join %s as %s: %s" % (c.jid, room, nick, summary(j.error))
    else:
        assert j.error is not None, "%s joined %s as %s although %s was expected: %s" % (
            c.jid, room, nick, expect, j.describe())
        assert j.condition == expect, "join of %s refused with %s, expected %s: %s" % (
            room, j.condition, expect, summary(j.error))
    return j


def leave(c, room, nick, timeout=10):
    """Sends unavailable presence to room/nick; waits for the self unavailable (110)."""
    c.send_raw("<presence to=%s type='unavailable'/>" % quoteattr(full(room, nick)))
    return c.wait_for(lambda s: is_occ_presence(room, nick, "unavailable")(s) and "110" in codes(s),
                      timeout, "the unavailable self-presence from %s" % full(room, nick))


def create(c, room, nick, config=None):
    """Creates room by joining it (201), then accepts the instant room (config None) or
    submits config (a dict for configure()). Returns the Joined of the creation."""
    j = join(c, room, nick)
    assert {"201", "110"} <= codes(j.self_presence), \
        "the creator's self-presence lacks 201/110: %s" % summary(j.self_presence)
    r = instant(c, room) if config is None else configure(c, room, config)
    assert r["type"] == "result", "configuring the new room failed: %s" % summary(r)
    return j


def say(c, room, body, *, label=None, mid=None, extra=""):
    """A groupchat message to room (label: base64 ESS label, or a <securitylabel/>
    Element); returns its id."""
    mid = mid or "gc-" + secrets.token_hex(5)
    c.send_raw("<message to=%s type='groupchat' id=%s><body>%s</body>%s%s</message>" % (
        quoteattr(room), quoteattr(mid), xml_escape(body), label_xml(label), extra))
    return mid


def private(c, to, body, *, label=None, mid=None, mtype="chat"):
    mid = mid or "pm-" + secrets.token_hex(5)
    c.send_raw("<message to=%s type=%s id=%s><body>%s</body><x xmlns='%s'/>%s</message>" % (
        quoteattr(to), quoteattr(mtype), quoteattr(mid), xml_escape(body), NS_MUC_USER,
        label_xml(label)))
    return mid


def set_subject(c, room, text, *, label=None, mid=None):
    mid = mid or "subj-" + secrets.token_hex(5)
    c.send_raw("<message to=%s type='groupchat' id=%s><subject>%s</subject>%s</message>" % (
        quoteattr(room), quoteattr(mid), xml_escape(text), label_xml(label)))
    return mid


def wait_all(clients, pred, what, timeout=10):
    """Each client gets a stanza matching pred; returns them (client order)."""
    return [c.wait_for(pred, timeout, "%s at %s" % (what, c.jid)) for c in clients]


# --------------------------------------------------------------------------------------
# Configuration (muc#owner) and administration (muc#admin)


def _value(v):
    if isinstance(v, bool):
        return ["1" if v else "0"]
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    return [str(v)]


def form_xml(fields, ftype="submit"):
    parts = ["<x xmlns='%s' type='%s'>" % (NS_XDATA, ftype)]
    if fields is not None:
        parts.append("<field var='FORM_TYPE'><value>%s</value></field>" % NS_ROOMCONFIG)
        for var, v in fields.items():
            var = var if var.startswith("muc#") else "muc#roomconfig_" + var
            parts.append("<field var=%s>%s</field>" % (quoteattr(var), "".join(
                "<value>%s</value>" % xml_escape(x) for x in _value(v))))
    parts.append("</x>")
    return "".join(parts)


def instant(c, room):
    """XEP-0045 §10.1.2: an empty submitted form accepts the default configuration."""
    return c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'/></query>" % (
        NS_MUC_OWNER, NS_XDATA), to=room)


def configure(c, room, fields):
    """Submits a muc#roomconfig form with fields ({'membersonly': True, 'maxusers': 2,
    ...}; names without the muc#roomconfig_ prefix). Returns the iq answer."""
    return c.iq("set", "<query xmlns='%s'>%s</query>" % (NS_MUC_OWNER, form_xml(fields)), to=room)


def form_fields(x):
    """{var: (type, [values])} of a data form Element."""
    out = {}
    for f in x.findall(q("field", NS_XDATA)):
        out[f.get("var")] = (f.get("type"), [v.text or "" for v in f.findall(q("value", NS_XDATA))])
    return out


def config_form(c, room):
    """The room's configuration form: (iq answer, {var: (type, values)} or None)."""
    r = c.iq("get", "<query xmlns='%s'/>" % NS_MUC_OWNER, to=room)
    if r["type"] != "result":
        return r, None
    x = r.xml.find("%s/%s" % (q("query", NS_MUC_OWNER), q("x", NS_XDATA)))
    assert x is not None, "no data form in the configuration answer: %s" % summary(r)
    return r, form_fields(x)


def admin_set(c, room, *items, reason=None):
    """muc#admin set with one <item/> per dict of attributes."""
    rs = "" if reason is None else "<reason>%s</reason>" % xml_escape(reason)
    body = "".join("<item %s>%s</item>" % (" ".join("%s=%s" % (k, quoteattr(v)) for k, v in it.items()),
                                           rs) for it in items)
    return c.iq("set", "<query xmlns='%s'>%s</query>" % (NS_MUC_ADMIN, body), to=room)


def admin_list(c, room, **attr):
    """muc#admin get (affiliation=... or role=...): (iq answer, [item attribute dicts])."""
    r = c.iq("get", "<query xmlns='%s'><item %s/></query>" % (
        NS_MUC_ADMIN, " ".join("%s=%s" % (k, quoteattr(v)) for k, v in attr.items())), to=room)
    if r["type"] != "result":
        return r, None
    query = r.xml.find(q("query", NS_MUC_ADMIN))
    return r, [dict(i.attrib) for i in query.findall(q("item", NS_MUC_ADMIN))]


def destroy(c, room, reason=None, alt=None):
    attrs = "" if alt is None else " jid=%s" % quoteattr(alt)
    rs = "" if reason is None else "<reason>%s</reason>" % xml_escape(reason)
    return c.iq("set", "<query xmlns='%s'><destroy%s>%s</destroy></query>" % (NS_MUC_OWNER, attrs, rs),
                to=room)


# --------------------------------------------------------------------------------------
# Service discovery


class Info:
    def __init__(self, r):
        self.r = r
        query = r.xml.find(q("query", NS_DISCO_INFO))
        self.identities = [(i.get("category"), i.get("type"), i.get("name"))
                           for i in query.findall(q("identity", NS_DISCO_INFO))]
        self.features = {f.get("var") for f in query.findall(q("feature", NS_DISCO_INFO))}
        self.forms = {}
        for x in query.findall(q("x", NS_XDATA)):
            fields = form_fields(x)
            self.forms[(fields.get("FORM_TYPE") or (None, [None]))[1][0]] = fields

    def roominfo(self, var):
        fields = self.forms.get(NS_ROOMINFO, {})
        return fields[var][1] if var in fields else None


def disco_info(c, jid, check=True):
    """Info of jid; the error answer instead when check is False and it is an error."""
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=jid)
    if r["type"] == "result":
        return Info(r)
    assert not check, "disco#info of %s failed: %s" % (jid, summary(r))
    return r


def disco_items(c, jid):
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=jid)
    assert r["type"] == "result", "disco#items of %s failed: %s" % (jid, summary(r))
    return [(i.get("jid"), i.get("name")) for i in r.xml.find(q("query", NS_DISCO_ITEMS)).findall(
        q("item", NS_DISCO_ITEMS))]


def room_exists(c, room):
    """True when disco#info of the room answers with a result (it exists)."""
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room)
    return r["type"] == "result"


# --------------------------------------------------------------------------------------
# Rooms in the directory


def rooms_base(slapd):
    return "ou=rooms,%s" % slapd.env["LDAP_BASE"]


def room_dn(slapd, room):
    return "cn=%s,%s" % (room.split("@", 1)[0], rooms_base(slapd))


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def config_text(fields):
    """xmppRoomConfig: one muc#roomconfig_<var>=<value> per line."""
    return "".join("muc#roomconfig_%s=%s\n" % (k, _value(v)[0]) for k, v in fields.items())


def room_ldif(slapd, room, *, name=None, owners=(), admins=(), members=(), outcasts=(),
              clearance=None, default_label=None, config=None, description=None):
    """An xmppRoom entry (cn=<local part>,ou=rooms,<base>) for ldapadd. owners, admins,
    members, outcasts: DNs of users or groups; clearance, default_label: base64 DER
    (palisadectl's der / ess); config: {var: value} or xmppRoomConfig text."""
    local = room.split("@", 1)[0]
    lines = ["dn: %s" % room_dn(slapd, room), "objectClass: xmppRoom", "cn: %s" % local,
             "xmppRoomJID: %s" % room]
    if name:
        lines.append("cn: %s" % name)
    if description:
        lines.append("description: %s" % description)
    lines += ["owner: %s" % dn for dn in owners]
    lines += ["xmppRoomAdmin: %s" % dn for dn in admins]
    lines += ["member: %s" % dn for dn in members]
    lines += ["xmppRoomOutcast: %s" % dn for dn in outcasts]
    if clearance:
        lines.append("xmppClearance:: %s" % clearance)
    if default_label:
        lines.append("xmppDefaultLabel:: %s" % default_label)
    if config is not None:
        text = config if isinstance(config, str) else config_text(config)
        lines.append("xmppRoomConfig:: %s" % b64(text))
    return "\n".join(lines) + "\n"


def group_dn(slapd, cn):
    return "cn=%s,ou=groups,%s" % (cn, slapd.env["LDAP_BASE"])


def group_ldif(slapd, cn, members):
    """A groupOfNames (cn=<cn>,ou=groups,<base>, as docs/DIRECTORY.md shows) with member
    DNs (at least one)."""
    lines = ["dn: %s" % group_dn(slapd, cn), "objectClass: groupOfNames", "cn: %s" % cn]
    lines += ["member: %s" % dn for dn in members]
    return "\n".join(lines) + "\n"


def room_entry(slapd, room):
    """The directory entry of the room (its xmppRoomJID), or None: (dn, {attr: values})."""
    found = slapd.ldap_search("(xmppRoomJID=%s)" % room, ["*"], base=slapd.env["LDAP_BASE"])
    if not found:
        return None
    assert len(found) == 1, "several entries hold xmppRoomJID=%s: %r" % (room, list(found))
    return next(iter(found.items()))


def wait_room(c, room, timeout=5):
    """Polls disco#info of the room until it answers (the node has the room);
    timeout only bounds a failure."""
    H.poll(lambda: room_exists(c, room), timeout, "room %s to exist (disco#info result)" % room,
           interval=0.1)


def wait_room_gone(c, room, timeout=5):
    H.poll(lambda: not room_exists(c, room), timeout, "room %s to be gone" % room, interval=0.1)


# --------------------------------------------------------------------------------------
# Labels


def label_xml(label):
    if label is None:
        return ""
    if isinstance(label, ET.Element):
        return ET.tostring(label, encoding="unicode")
    return ("<securitylabel xmlns='%s'><label><esssecuritylabel xmlns='%s'>%s</esssecuritylabel>"
            "</label></securitylabel>" % (NS_SECLABEL, NS_ESS, label))


def label_of(st):
    """(marking text, ESS base64) of a stanza's <securitylabel/>, or None."""
    sl = st.xml.find(q("securitylabel", NS_SECLABEL))
    if sl is None:
        return None
    dm = sl.find(q("displaymarking", NS_SECLABEL))
    ess = sl.find("%s/%s" % (q("label", NS_SECLABEL), q("esssecuritylabel", NS_ESS)))
    return (None if dm is None else dm.text, None if ess is None else (ess.text or "").strip())


def online(make_client, node, user, *, aware=True, resource=None, plugins=None, **kw):
    """A logged-in client with initial presence sent, whose label support the node has
    decided (it asks the client's disco#info on its first available presence): with
    aware=True the client advertises urn:xmpp:sec-label:0 (no FLOT for it)."""
    c = make_client(user, resource=resource,
                    plugins=plugins or (AWARE_PLUGINS if aware else MUC_PLUGINS), **kw)
    mark = len(node.log_text())
    c.send_presence()
    rx = re.compile(r"policy label-support sess=\d+ jid=%s supports=%s" % (
        re.escape(c.full_jid), "yes" if aware else "no"))
    c.wait_until(lambda: rx.search(node.log_text()[mark:]), 10,
                 "the node's label-support decision for %s" % c.full_jid)
    return c


def catalog(c, dest):
    """The XEP-0258 catalog for dest: [(marking, ESS base64, default?)] or the error."""
    r = c.iq("get", "<catalog xmlns='%s' to='%s'/>" % (NS_CATALOG, dest), to=H.DOMAIN)
    if r["type"] != "result":
        return r
    cat = r.xml.find(q("catalog", NS_CATALOG))
    assert cat is not None, "no <catalog/> in %s" % summary(r)
    out = []
    for it in cat.findall(q("item", NS_CATALOG)):
        sl = it.find(q("securitylabel", NS_SECLABEL))
        dm = sl.find(q("displaymarking", NS_SECLABEL))
        ess = sl.find("%s/%s" % (q("label", NS_SECLABEL), q("esssecuritylabel", NS_ESS)))
        out.append((None if dm is None else dm.text, None if ess is None else (ess.text or "").strip(),
                    it.get("default") in ("true", "1")))
    return out
