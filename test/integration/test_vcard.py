# SPDX-License-Identifier: Apache-2.0
"""vCard (XEP-0054) served from the user's directory entry: the inetOrgPerson
attributes cn, givenName, sn, mail, telephoneNumber, title, ou and jpegPhoto; a change
made with ldapmodify shows within a second."""
import base64
import time

import pytest

import harness as H
from harness import NS_VCARD, q

ATTRS = ["cn", "givenName", "sn", "mail", "telephoneNumber", "title", "ou", "jpegPhoto"]


def vcard(c, to=None):
    r = c.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to=to)
    assert r["type"] == "result", H._summary(r)
    v = r.xml.find(q("vCard", NS_VCARD))
    assert v is not None, "no <vCard/> in the result"
    return v


def text(v, path):
    el = v.find("/".join(q(p, NS_VCARD) for p in path.split("/")))
    return None if el is None else (el.text or "").strip()


def ldap_attrs(slapd, jid):
    entries = slapd.ldap_search("(xmppJID=%s)" % jid, ATTRS)
    assert len(entries) == 1
    return {k: v[0] for k, v in next(iter(entries.values())).items()}


def check_matches(v, attrs):
    assert text(v, "FN") == attrs["cn"]
    assert text(v, "N/GIVEN") == attrs["givenName"]
    assert text(v, "N/FAMILY") == attrs["sn"]
    emails = [(e.findtext(q("USERID", NS_VCARD)) or "").strip() for e in v.findall(q("EMAIL", NS_VCARD))]
    assert attrs["mail"] in emails, emails
    tels = [(t.findtext(q("NUMBER", NS_VCARD)) or "").strip() for t in v.findall(q("TEL", NS_VCARD))]
    assert attrs["telephoneNumber"] in tels, tels
    assert text(v, "TITLE") == attrs["title"]
    assert text(v, "ORG/ORGUNIT") == attrs["ou"]


def test_alice_vcard_matches_the_directory(xmpp_client, sample, slapd):
    attrs = ldap_attrs(slapd, "alice@%s" % H.DOMAIN)
    for a in ATTRS:
        assert a in attrs, "the sample data lacks %s for alice" % a
    c = xmpp_client(sample["bob"])
    v = vcard(c, "alice@%s" % H.DOMAIN)
    check_matches(v, attrs)
    photo = v.find(q("PHOTO", NS_VCARD))
    assert photo is not None, "no PHOTO although alice has a jpegPhoto"
    assert (photo.findtext(q("TYPE", NS_VCARD)) or "").strip() == "image/jpeg"
    binval = "".join((photo.findtext(q("BINVAL", NS_VCARD)) or "").split())
    jpeg = attrs["jpegPhoto"]
    jpeg = jpeg if isinstance(jpeg, bytes) else jpeg.encode("latin-1")
    assert base64.b64decode(binval) == jpeg


def test_own_vcard(xmpp_client, sample, slapd):
    attrs = ldap_attrs(slapd, "alice@%s" % H.DOMAIN)
    c = xmpp_client(sample["alice"])
    check_matches(vcard(c), attrs)


def test_vcard_of_unknown_user_is_an_error(xmpp_client, users):
    (u,) = users.take(1)
    c = xmpp_client(u)
    r = c.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="nosuchuser@%s" % H.DOMAIN)
    assert H.iq_error_condition(r) in ("service-unavailable", "item-not-found")


@pytest.fixture
def restore_alice_title(slapd):
    dn = slapd.user_dn("alice@%s" % H.DOMAIN)
    old = ldap_attrs(slapd, "alice@%s" % H.DOMAIN)["title"]
    yield dn
    slapd.ldap_modify("dn: %s\nchangetype: modify\nreplace: title\ntitle: %s\n" % (dn, old))


def test_title_change_shows_within_a_second(xmpp_client, sample, ldap_modify, restore_alice_title):
    c = xmpp_client(sample["bob"])
    new = "Chief Test Officer %d" % int(time.time())
    ldap_modify("dn: %s\nchangetype: modify\nreplace: title\ntitle: %s\n" % (restore_alice_title, new))
    changed_at = time.monotonic()
    while True:
        if text(vcard(c, "alice@%s" % H.DOMAIN), "TITLE") == new:
            break
        assert time.monotonic() - changed_at < 1.0, "the new title did not show within a second"
    # and it is what the directory says now
    assert text(vcard(c, "alice@%s" % H.DOMAIN), "TITLE") == new
