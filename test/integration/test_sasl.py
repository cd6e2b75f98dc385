# SPDX-License-Identifier: Apache-2.0
"""SASL (RFC 6120 §6): SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 5802, RFC 7677), their -PLUS
variants with channel binding (tls-exporter, RFC 9266; tls-unique, RFC 5929), PLAIN only
inside TLS; each one succeeding with the right password and failing with
<not-authorized/> with a wrong one."""
import ssl
import xml.etree.ElementTree as ET

import pytest

import harness as H
from harness import NS_STREAM, NS_TLS, q

MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
PLUS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]


def attempt(r, mech, user, password, **kw):
    """One SASL attempt on a TLS stream whose features were read; returns the answer."""
    if mech == "PLAIN":
        return r.sasl_plain(user, password)
    return r.sasl_scram(mech, user, password, **kw)


def bind_after_success(r, user):
    r.after_sasl_success()
    jid = r.bind("sasl-test")
    assert jid == "%s/sasl-test" % user.jid


@pytest.mark.parametrize("mech", MECHS)
def test_slixmpp_logs_in_with(mech, xmpp_client, users):
    (u,) = users.take(1)
    c = xmpp_client(u, mech=mech)
    assert H.bare(c.full_jid) == u.jid
    c.ping_server()


@pytest.mark.parametrize("mech", MECHS)
def test_raw_exchange_succeeds(mech, raw, users):
    """SCRAM: the server's final message proves it knows the secret (checked)."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    assert mech in r.mechanisms(r.open())
    el = attempt(r, mech, u.localpart, u.password)
    assert H.is_success(el), ET.tostring(el)
    bind_after_success(r, u)


@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password_is_not_authorized(mech, raw, users):
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    if mech == "PLAIN":
        el = r.sasl_plain(u.localpart, u.password + "-wrong")
    else:
        el = r.sasl_scram(mech, u.localpart, u.password, wrong_password=True)
    assert H.sasl_failure_condition(el) == "not-authorized"


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "PLAIN"])
def test_unknown_user_is_not_authorized(mech, raw):
    """Same answer as a wrong password: no account enumeration (RFC 6120 §6.5.10)."""
    r = raw(direct_tls=True)
    r.open()
    el = attempt(r, mech, "nosuchuser", "whatever")
    assert H.sasl_failure_condition(el) == "not-authorized"


def test_retry_after_a_failure_on_the_same_stream(raw, users):
    """A mistyped password does not force a reconnect (RFC 6120 §6.4.5)."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    assert H.sasl_failure_condition(r.sasl_plain(u.localpart, "typo")) == "not-authorized"
    el = r.sasl_scram("SCRAM-SHA-256", u.localpart, u.password)
    assert H.is_success(el), ET.tostring(el)
    bind_after_success(r, u)


def test_unknown_mechanism_is_invalid_mechanism(raw):
    r = raw(direct_tls=True)
    r.open()
    r.auth("X-NOSUCH", b"x")
    assert H.sasl_failure_condition(r.next()) == "invalid-mechanism"


def test_plus_variants_and_binding_types_are_advertised(raw):
    r = raw(direct_tls=True)
    features = r.open()
    mechs = r.mechanisms(features)
    for m in PLUS:
        assert m in mechs, "%s not offered over TLS: %s" % (m, mechs)
    # XEP-0440: on TLS 1.3 tls-exporter is the binding (RFC 9266)
    assert r.tls_version == "TLSv1.3"
    assert "tls-exporter" in r.cb_types(features), ET.tostring(features)


@pytest.mark.parametrize("mech", PLUS)
def test_plus_with_tls_exporter_on_tls13(mech, raw, users):
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    assert r.tls_version == "TLSv1.3"
    el = r.sasl_scram(mech, u.localpart, u.password, cb_type="tls-exporter",
                      cb_data=H.tls_exporter(r.sock))
    assert H.is_success(el), ET.tostring(el)
    bind_after_success(r, u)


def test_plus_with_tls_exporter_after_starttls(raw, users):
    (u,) = users.take(1)
    r = raw()
    r.open()
    r.starttls()
    r.open()
    el = r.sasl_scram("SCRAM-SHA-256-PLUS", u.localpart, u.password, cb_type="tls-exporter",
                      cb_data=H.tls_exporter(r.sock))
    assert H.is_success(el), ET.tostring(el)
    bind_after_success(r, u)


@pytest.mark.parametrize("mech", PLUS)
def test_plus_with_tls_unique_on_tls12(mech, raw, users):
    """tls-unique is the binding every SCRAM -PLUS server must support on TLS 1.2
    (RFC 5802 §6)."""
    (u,) = users.take(1)
    r = raw(direct_tls=True, tls_context=H.insecure_tls_context(max_version=ssl.TLSVersion.TLSv1_2))
    features = r.open()
    assert r.tls_version == "TLSv1.2"
    assert mech in r.mechanisms(features)
    el = r.sasl_scram(mech, u.localpart, u.password, cb_type="tls-unique",
                      cb_data=r.sock.get_channel_binding("tls-unique"))
    assert H.is_success(el), ET.tostring(el)
    bind_after_success(r, u)


def test_plus_with_tls_exporter_on_tls12(raw, users):
    """RFC 9266 defines tls-exporter for TLS 1.2 with extended master secret, which
    OpenSSL negotiates by default."""
    (u,) = users.take(1)
    r = raw(direct_tls=True, tls_context=H.insecure_tls_context(max_version=ssl.TLSVersion.TLSv1_2))
    features = r.open()
    assert "tls-exporter" in r.cb_types(features)
    el = r.sasl_scram("SCRAM-SHA-256-PLUS", u.localpart, u.password, cb_type="tls-exporter",
                      cb_data=H.tls_exporter(r.sock))
    assert H.is_success(el), ET.tostring(el)


def test_slixmpp_plus_on_tls12(xmpp_client, users):
    """slixmpp 1.8 binds with tls-unique: usable on TLS 1.2."""
    (u,) = users.take(1)
    c = xmpp_client(u, mech="SCRAM-SHA-256-PLUS", channel_binding=True,
                    tls_context=H.insecure_tls_context(max_version=ssl.TLSVersion.TLSv1_2))
    assert H.bare(c.full_jid) == u.jid


def test_plus_with_wrong_binding_data_fails(raw, users):
    """A man in the middle terminating TLS would present other binding data."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    el = r.sasl_scram("SCRAM-SHA-256-PLUS", u.localpart, u.password, cb_type="tls-exporter",
                      cb_data=H.tls_exporter(r.sock), tamper_cb=True)
    assert H.sasl_failure_condition(el) == "not-authorized"


def test_plus_with_tls_unique_on_tls13_fails(raw, users):
    """tls-unique is not defined for TLS 1.3 (RFC 9266 §3)."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    assert r.tls_version == "TLSv1.3"
    el = r.sasl_scram("SCRAM-SHA-256-PLUS", u.localpart, u.password, cb_type="tls-unique",
                      cb_data=r.sock.get_channel_binding("tls-unique"))
    H.sasl_failure_condition(el)  # a <failure/>, whatever the condition


def test_plus_mechanism_without_binding_fails(raw, users):
    """Selecting -PLUS and then saying 'n' (no binding) is a downgrade: refused."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    assert "SCRAM-SHA-256-PLUS" in r.mechanisms(r.open()), "precondition: -PLUS offered"
    el = r.sasl_scram("SCRAM-SHA-256-PLUS", u.localpart, u.password, gs2_flag="n")
    H.sasl_failure_condition(el)


def test_y_flag_is_refused_when_the_server_offers_plus(raw, users):
    """gs2 'y' means "I could bind but think you cannot"; a server that offered -PLUS
    must fail it (RFC 5802 §6: downgrade protection)."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    assert "SCRAM-SHA-256-PLUS" in r.mechanisms(r.open()), "precondition: -PLUS offered"
    el = r.sasl_scram("SCRAM-SHA-256", u.localpart, u.password, gs2_flag="y")
    H.sasl_failure_condition(el)


def test_n_flag_without_plus_works(raw, users):
    """A client without channel binding support ('n') logs in with plain SCRAM."""
    (u,) = users.take(1)
    r = raw(direct_tls=True)
    r.open()
    el = r.sasl_scram("SCRAM-SHA-1", u.localpart, u.password, gs2_flag="n")
    assert H.is_success(el), ET.tostring(el)


# ---- a node with tls.required = false


def test_plain_is_not_offered_without_tls(aux_node, raw):
    n = aux_node("plain")
    r = raw(on=n)
    features = r.open()
    starttls = features.find(q("starttls", NS_TLS))
    assert starttls is not None, "STARTTLS must still be offered"
    assert starttls.find(q("required", NS_TLS)) is None, "tls.required=false but STARTTLS required"
    mechs = r.mechanisms(features)
    assert "PLAIN" not in mechs, "PLAIN offered on a plaintext stream: %s" % mechs
    assert "SCRAM-SHA-256" in mechs
    assert not [m for m in mechs if m.endswith("-PLUS")], "-PLUS offered without TLS: %s" % mechs
    r.starttls()
    assert "PLAIN" in r.mechanisms(r.open()), "PLAIN not offered inside TLS"


def test_plain_attempt_without_tls_fails(aux_node, raw, users):
    n = aux_node("plain")
    (u,) = users.take(1)
    r = raw(on=n)
    r.open()
    r.auth("PLAIN", ("\0%s\0%s" % (u.localpart, u.password)).encode())
    el = r.next()
    assert el.tag != q("success", H.NS_SASL), "PLAIN accepted without TLS"
    assert el.tag in (q("failure", H.NS_SASL), q("error", NS_STREAM)), ET.tostring(el)


def test_scram_without_tls_when_not_required(aux_node, raw, users):
    n = aux_node("plain")
    (u,) = users.take(1)
    r = raw(on=n)
    r.open()
    el = r.sasl_scram("SCRAM-SHA-256", u.localpart, u.password)
    assert H.is_success(el), ET.tostring(el)
    bind_after_success(r, u)
