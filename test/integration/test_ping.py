# SPDX-License-Identifier: Apache-2.0
"""XMPP Ping (XEP-0199): client to server, client to client, to an absent resource."""
import harness as H
from harness import NS_PING


def ping(c, to):
    return c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=to)


def test_ping_the_server(xmpp_client, users):
    (a,) = users.take(1)
    c = xmpp_client(a)
    r = ping(c, H.DOMAIN)
    assert r["type"] == "result", H._summary(r)
    assert str(r["from"]) == H.DOMAIN
    assert len(r.xml) == 0, "a ping result is empty"


def test_ping_without_to_is_answered_by_the_server(xmpp_client, users):
    (a,) = users.take(1)
    c = xmpp_client(a)
    r = ping(c, None)
    assert r["type"] == "result"


def test_ping_another_client(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    cb = xmpp_client(b)
    r = ping(ca, cb.full_jid)
    assert r["type"] == "result"
    assert str(r["from"]) == cb.full_jid


def test_ping_an_absent_resource(xmpp_client, users):
    a, b = users.take(2)
    ca = xmpp_client(a)
    r = ping(ca, "%s/absent" % b.jid)
    assert H.iq_error_condition(r) == "service-unavailable"


def test_many_pings(xmpp_client, users):
    """Pipelined requests each get their own answer."""
    (a,) = users.take(1)
    c = xmpp_client(a)
    import asyncio
    import xml.etree.ElementTree as ET

    async def many():
        iqs = []
        for _ in range(30):
            iq = c.x.Iq()
            iq["type"] = "get"
            iq["to"] = H.DOMAIN
            iq.append(ET.fromstring("<ping xmlns='%s'/>" % NS_PING))
            iqs.append(c._iq(iq, 10))
        return await asyncio.gather(*iqs)
    results = c.h.run(many(), 20)
    assert [r["type"] for r in results] == ["result"] * 30
    assert len({r["id"] for r in results}) == 30
