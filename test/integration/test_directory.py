# SPDX-License-Identifier: Apache-2.0
"""The directory is the system of record and the node keeps a live replica (RFC 4533):
logins keep working while slapd is down, changes flow again once it is back, and users
added, disabled, deleted or given a new password (palisadectl or plain ldapmodify) take
effect within a second. These tests run last (see conftest.py): they stop slapd."""
import base64
import hashlib
import os

import pytest

import harness as H
from harness import NS_VCARD

MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]


def account_exists(observer, jid):
    """True once the node knows the account: an IQ to an unknown account is answered
    <service-unavailable/> (RFC 6121 §8.5.1), one to a known account is handled by the
    server on the account's behalf (XEP-0054: a vCard or another error)."""
    r = observer.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to=jid)
    return not (r["type"] == "error" and H.stanza_error_condition(r) == "service-unavailable")


def set_enabled(slapd, jid, enabled):
    slapd.ldap_modify("dn: %s\nchangetype: modify\nreplace: xmppAccountEnabled\nxmppAccountEnabled: %s\n" % (
        slapd.user_dn(jid), "TRUE" if enabled else "FALSE"))


@pytest.mark.parametrize("mech", MECHS)
def test_password_change_with_palisadectl(mech, node, slapd, users):
    (u,) = users.take(1)
    assert H.try_login(node, u.localpart, u.password, mech)
    new = u.password + "-new"
    slapd.set_password(u.jid, new)
    H.within(1.0, lambda: not H.try_login(node, u.localpart, u.password, mech),
             "the old password refused (%s)" % mech)
    assert H.try_login(node, u.localpart, new, mech), "the new password does not work"
    u.password = new


def test_scram_secret_changed_with_ldapmodify(node, slapd, users):
    (u,) = users.take(1)
    dn = slapd.user_dn(u.jid)
    old = slapd.ldap_search("(xmppJID=%s)" % u.jid, ["xmppScramSecret"])[dn].get("xmppScramSecret", [])
    assert old, "palisadectl stored no xmppScramSecret"
    new = "changed-by-ldapmodify"
    values = [H.scram_secret("SCRAM-SHA-256", new), H.scram_secret("SCRAM-SHA-1", new)]
    slapd.ldap_modify("dn: %s\nchangetype: modify\nreplace: xmppScramSecret\n%s\n" % (
        dn, "".join("xmppScramSecret: %s\n" % v for v in values)))
    H.within(1.0, lambda: H.try_login(node, u.localpart, new, "SCRAM-SHA-256"),
             "login with the new SCRAM secret")
    assert H.try_login(node, u.localpart, new, "SCRAM-SHA-1")
    assert not H.try_login(node, u.localpart, u.password, "SCRAM-SHA-256"), "the old secret still works"


def test_disabled_account_cannot_log_in(node, slapd, users):
    (u,) = users.take(1)
    assert H.try_login(node, u.localpart, u.password)
    set_enabled(slapd, u.jid, False)
    H.within(1.0, lambda: not H.try_login(node, u.localpart, u.password),
             "the disabled account refused")
    for mech in ("SCRAM-SHA-1", "PLAIN"):
        assert not H.try_login(node, u.localpart, u.password, mech), "disabled account logged in with " + mech
    set_enabled(slapd, u.jid, True)
    H.within(3.0, lambda: H.try_login(node, u.localpart, u.password), "the re-enabled account")


def test_disabled_account_loses_its_sessions_within_a_second(node, slapd, users, raw):
    """Disabling is not only for the next login: a logged-in session of the account
    ends with a stream error within a second, on every node (each follows its replica)."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.login(u.localpart, u.password, resource="soon-disabled")
    try:
        set_enabled(slapd, u.jid, False)
        assert r.expect_stream_error(timeout=1.0) == "not-authorized"
    finally:
        set_enabled(slapd, u.jid, True)
    H.within(3.0, lambda: H.try_login(node, u.localpart, u.password), "the re-enabled account")


def test_user_added_with_palisadectl_logs_in_within_a_second(node, slapd, users, xmpp_client):
    (observer,) = users.take(1)
    o = xmpp_client(observer)
    u = users.make_new()
    assert not account_exists(o, u.jid)
    slapd.add_user(u.jid, u.password)
    H.within(1.0, lambda: account_exists(o, u.jid), "the new account on the node")
    assert H.try_login(node, u.localpart, u.password), "the new user cannot log in"
    c = xmpp_client(u)
    assert H.bare(c.full_jid) == u.jid


def test_user_added_with_ldapmodify_logs_in_within_a_second(node, slapd, users, xmpp_client):
    """No Palisade tool involved: any LDAP client can provision users."""
    (observer,) = users.take(1)
    o = xmpp_client(observer)
    local, pw = "ldapadded", "added-with-ldapmodify"
    jid = "%s@%s" % (local, H.DOMAIN)
    salt = os.urandom(8)
    ssha = "{SSHA}" + base64.b64encode(hashlib.sha1(pw.encode() + salt).digest() + salt).decode()
    ldif = ("dn: uid=%s,%s\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: xmppUser\n"
            "uid: %s\ncn: Added By Hand\nsn: Hand\nxmppJID: %s\nxmppAccountEnabled: TRUE\n"
            "userPassword: %s\nxmppScramSecret: %s\nxmppScramSecret: %s\n") % (
        local, slapd.env["LDAP_USERS"], local, jid, ssha,
        H.scram_secret("SCRAM-SHA-256", pw), H.scram_secret("SCRAM-SHA-1", pw))
    slapd.ldap_modify(ldif)
    H.within(1.0, lambda: account_exists(o, jid), "the new account on the node")
    for mech in MECHS:
        assert H.try_login(node, local, pw, mech), "cannot log in with " + mech


def test_deleted_user_cannot_log_in(node, slapd, users):
    (u,) = users.take(1)
    assert H.try_login(node, u.localpart, u.password)
    slapd.ctl("del", u.jid)
    H.within(1.0, lambda: not H.try_login(node, u.localpart, u.password), "the deleted account refused")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "PLAIN"])
def test_logins_work_while_the_directory_is_down(mech, node, users, xmpp_client, slapd_restart):
    a, b = users.take(2)
    cb = xmpp_client(b)
    slapd_restart.stop()
    assert H.try_login(node, a.localpart, a.password, mech), "%s login failed with slapd down" % mech
    assert not H.try_login(node, a.localpart, a.password + "x", mech), "wrong password accepted"
    ca = xmpp_client(a, mech=mech)
    ca.send_message(cb.full_jid, "during the outage")
    cb.wait_for(H.is_message(body="during the outage"))
    assert H.roster_get(ca) == {}


def test_changes_flow_after_the_directory_returns(node, slapd, users, xmpp_client, slapd_restart):
    (observer,) = users.take(1)
    o = xmpp_client(observer)
    slapd_restart.stop()
    slapd_restart.start()
    # The node reconnects with a backoff capped at 5 s (directory/ldap.c); the first
    # change may wait for that, then it flows within a second.
    u = users.make_new()
    slapd.add_user(u.jid, u.password)
    H.within(6.0, lambda: account_exists(o, u.jid), "a user added after slapd came back")
    assert H.try_login(node, u.localpart, u.password)
    # from now on, within a second again
    new = u.password + "-2"
    slapd.set_password(u.jid, new)
    H.within(1.0, lambda: not H.try_login(node, u.localpart, u.password), "the old password refused")
    assert H.try_login(node, u.localpart, new)


def test_offline_message_during_outage_is_kept(node, users, xmpp_client, slapd_restart):
    """Nothing is silently dropped across a directory outage (DESIGN.md)."""
    a, b = users.take(2)
    ca = xmpp_client(a)
    slapd_restart.stop()
    ca.send_message(b.jid, "stored while slapd was down", id="outage-1")
    ca.ping_server()
    slapd_restart.start()
    cb = xmpp_client(b)
    cb.send_presence()
    cb.wait_for(H.is_message(body="stored while slapd was down"), timeout=10,
                what="the message sent during the outage")
    assert not ca.has(lambda s: s.name == "message" and s["type"] == "error" and s["id"] == "outage-1")


def test_roster_change_during_outage_is_written_later(node, users, xmpp_client, slapd, slapd_restart):
    a, contact = users.take(2)
    ca = xmpp_client(a)
    H.roster_get(ca)
    slapd_restart.stop()
    assert H.roster_set(ca, contact.jid, name="Written later")["type"] == "result"
    ca.wait_for(H.is_roster_push(contact.jid))
    slapd_restart.start()
    dn = slapd.user_dn(a.jid)
    H.poll(lambda: slapd.ldap_search("(objectClass=*)", ["dn"], base=dn).__len__() > 1, 10,
           "the roster item written to the directory after the outage")
    ca.disconnect()
    c2 = xmpp_client(a, resource="after")
    assert H.roster_get(c2)[contact.jid].get("name") == "Written later"
