# SPDX-License-Identifier: Apache-2.0
"""TLS on client streams: STARTTLS required by default (RFC 6120 §5), direct TLS
(XEP-0368), TLS 1.2 or later only, the configured certificate from PEM or PKCS#12."""
import select
import ssl
import subprocess
import time
import warnings
import xml.etree.ElementTree as ET

import pytest

import harness as H
from harness import NS_SASL, NS_STREAM, NS_TLS, q


def old_tls_context():
    """A client that can only speak TLS 1.0/1.1 (what an outdated client offers)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def test_starttls_is_offered_as_required_and_nothing_else_before_tls(raw):
    r = raw()
    features = r.open()
    starttls = features.find(q("starttls", NS_TLS))
    assert starttls is not None, "STARTTLS not offered: %s" % ET.tostring(features)
    assert starttls.find(q("required", NS_TLS)) is not None, "STARTTLS not marked <required/>"
    assert r.mechanisms(features) == [], "SASL offered before TLS: %s" % r.mechanisms(features)


def test_sasl_before_starttls_is_refused(raw, users):
    (u,) = users.take(1)
    r = raw()
    r.open()
    r.auth("PLAIN", ("\0%s\0%s" % (u.localpart, u.password)).encode())
    el = r.next()
    assert el.tag != q("success", NS_SASL), "authenticated without TLS although TLS is required"
    assert el.tag in (q("failure", NS_SASL), q("error", NS_STREAM)), \
        "expected a SASL failure or a stream error, got %s" % ET.tostring(el)


def test_stanza_before_tls_is_not_routed(raw, xmpp_client, users):
    a, b = users.take(2)
    cb = xmpp_client(b)
    cb.send_presence()
    r = raw()
    r.open()
    r.send("<message to='%s' type='chat' id='pt'><body>plaintext</body></message>" % b.jid)
    # refused: a stream error, or a bounce of the stanza
    el = r.next()
    if el.tag == q("error", NS_STREAM):
        assert H.stream_error_condition(el) in ("not-authorized", "policy-violation")
    else:
        assert el.tag == q("message", H.NS_CLIENT) and el.get("type") == "error", ET.tostring(el)
    # a message sent afterwards by someone else arrives; the plaintext one never did
    ca = xmpp_client(a)
    ca.send_message(cb.full_jid, "after")
    cb.wait_for(H.is_message(body="after"))
    assert not cb.has(H.is_message(body="plaintext"))


def test_starttls_upgrade_then_sasl_offered(raw):
    r = raw()
    r.open()
    r.starttls()
    assert r.tls_version in ("TLSv1.2", "TLSv1.3")
    features = r.open()
    assert features.find(q("starttls", NS_TLS)) is None, "STARTTLS offered again inside TLS"
    mechs = r.mechanisms(features)
    for m in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        assert m in mechs, "%s not offered after STARTTLS: %s" % (m, mechs)


def test_login_over_starttls(xmpp_client, users):
    (u,) = users.take(1)
    c = xmpp_client(u)
    assert H.bare(c.full_jid) == u.jid
    assert c.x.socket.version() in ("TLSv1.2", "TLSv1.3")


def test_direct_tls_login(xmpp_client, users):
    (u,) = users.take(1)
    c = xmpp_client(u, direct_tls=True)
    assert H.bare(c.full_jid) == u.jid
    assert c.x.socket.version() in ("TLSv1.2", "TLSv1.3")


def test_direct_tls_offers_sasl_without_starttls(raw):
    r = raw(direct_tls=True)
    features = r.open()
    assert features.find(q("starttls", NS_TLS)) is None
    assert "SCRAM-SHA-256" in r.mechanisms(features)


def test_server_presents_the_configured_certificate(raw, cert):
    expected = ssl.PEM_cert_to_DER_cert((cert / "cert.pem").read_text())
    r = raw(direct_tls=True)
    assert r.sock.getpeercert(binary_form=True) == expected
    r2 = raw()
    r2.open()
    r2.starttls()
    assert r2.sock.getpeercert(binary_form=True) == expected


def test_certificate_verifies_for_the_domain(raw, cert):
    """A client that trusts the generated certificate accepts it for 'localhost'."""
    ctx = ssl.create_default_context(cafile=str(cert / "cert.pem"))
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    r = raw(direct_tls=True, tls_context=ctx)
    assert r.tls_version


def test_tls12_is_accepted(raw):
    r = raw(direct_tls=True, tls_context=H.insecure_tls_context(max_version=ssl.TLSVersion.TLSv1_2))
    assert r.tls_version == "TLSv1.2"
    assert "SCRAM-SHA-256" in r.mechanisms(r.open())


@pytest.fixture
def tls11_control_server(cert, spare_port):
    """openssl s_server speaking only TLS 1.1: proves the old client context works, so a
    refusal by the node is the node's doing."""
    port = spare_port
    p = subprocess.Popen(["openssl", "s_server", "-accept", str(port), "-cert", str(cert / "cert.pem"),
                          "-key", str(cert / "key.pem"), "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
                          "-naccept", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    seen = b""
    while b"ACCEPT" not in seen:
        assert time.monotonic() < deadline and p.poll() is None, "s_server did not start: %r" % seen
        r, _, _ = select.select([p.stdout], [], [], 0.1)
        if r:
            seen += p.stdout.read1(4096)
    yield port
    p.kill()
    p.wait()


def test_tls11_is_refused(raw, tls11_control_server):
    import socket
    with socket.create_connection(("127.0.0.1", tls11_control_server), timeout=5) as s:
        with old_tls_context().wrap_socket(s) as t:
            assert t.version() == "TLSv1.1", "control: the old client could not do TLS 1.1"
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        raw(direct_tls=True, tls_context=old_tls_context())
    r = raw()
    r.open()
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        r.starttls(tls_context=old_tls_context())


def test_pkcs12_certificate(aux_node, raw, xmpp_client, users, cert):
    """A node configured with tls.pkcs12 serves the certificate inside the bundle."""
    n = aux_node("pkcs12")
    expected = ssl.PEM_cert_to_DER_cert((cert / "cert.pem").read_text())
    r = raw(on=n, direct_tls=True)
    assert r.sock.getpeercert(binary_form=True) == expected
    (u,) = users.take(1)
    c = xmpp_client(u, on=n)
    assert H.bare(c.full_jid) == u.jid


# ---- TLS session resumption (tls.resumption, docs/CONFIG.md) ----

def _features_then_session(raw, on=None, ctx=None, session=None):
    """A direct-TLS stream that read its features (and with them any ticket sent after the
    handshake); returns the stream."""
    r = raw(on=on, direct_tls=True, tls_context=ctx, tls_session=session)
    r.open()
    return r


def test_no_session_tickets_or_resumption_by_default(raw):
    """Off by default: no TLS 1.3 ticket arrives, and a TLS 1.2 client offering the
    session of its previous connection gets a full handshake."""
    r = _features_then_session(raw)
    assert r.tls_version == "TLSv1.3"
    assert not r.sock.session.has_ticket
    ctx12 = H.insecure_tls_context(max_version=ssl.TLSVersion.TLSv1_2)
    first = _features_then_session(raw, ctx=ctx12)
    again = _features_then_session(raw, ctx=ctx12, session=first.sock.session)
    assert again.tls_version == "TLSv1.2"
    assert not again.sock.session_reused


def test_resumption_when_enabled(aux_node, raw, users):
    """tls.resumption = true: one ticket per TLS 1.3 connection, the next connection resumes
    with it and logs in; a TLS 1.2 session resumes too."""
    n = aux_node("resumption")
    ctx = H.insecure_tls_context()
    first = _features_then_session(raw, on=n, ctx=ctx)
    assert first.sock.session.has_ticket
    r = raw(on=n, direct_tls=True, tls_context=ctx, tls_session=first.sock.session)
    assert r.sock.session_reused
    (u,) = users.take(1)
    assert H.bare(r.login(u.localpart, u.password)) == u.jid
    ctx12 = H.insecure_tls_context(max_version=ssl.TLSVersion.TLSv1_2)
    first12 = _features_then_session(raw, on=n, ctx=ctx12)
    again12 = _features_then_session(raw, on=n, ctx=ctx12, session=first12.sock.session)
    assert again12.sock.session_reused


def test_stream_header_in_the_same_segment_as_the_finished_message(node):
    """A client may send its stream header right behind its TLS Finished, and both arrive
    in one read: the node must answer it (OpenSSL reads ahead; the socket will not signal
    those bytes again). The client here is a memory-BIO TLS object, so the two records
    leave in one send()."""
    import socket
    sock = socket.create_connection(("127.0.0.1", node.c2s_tls_port), timeout=10)
    try:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = H.insecure_tls_context().wrap_bio(incoming, outgoing, server_hostname=H.DOMAIN)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                data = sock.recv(65536)
                assert data, "the node closed during the handshake"
                incoming.write(data)
        tls.write(("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>"
                   % H.DOMAIN).encode())
        sock.sendall(outgoing.read())  # the Finished and the header together
        got = b""
        deadline = time.monotonic() + 5
        while b"</stream:features>" not in got and time.monotonic() < deadline:
            try:
                got += tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            incoming.write(data)
        assert b"<stream:features" in got, "no stream features after the header: %r" % got[:200]
    finally:
        sock.close()
