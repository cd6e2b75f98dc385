# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the integration tests: ONE scratch slapd (scripts/slapd-dev.sh) with the
sample users (scripts/load-sample.sh: alice and bob cleared up to SECRET, carol up to
RESTRICTED, dave not at all) and a pool of throwaway users (no clearance unless a test
asks for one), ONE node of the sanitized build (build-asan, or $PALISADE_BUILD) started
through scripts/node-dev.sh with the sample security policies (H.SPIFS) and
`--trace ldap` (so tests can wait for the replica), extra nodes with other settings on
demand, and clients (slixmpp and raw sockets).

At the end the nodes are stopped with SIGTERM; a node that exits non-zero or logs a
sanitizer report fails the run (and a node that dies or reports during a test fails
that test)."""
import os
import random
import signal
from pathlib import Path

import pytest

import harness as H

BUILD = Path(os.environ.get("PALISADE_BUILD", H.ROOT / "build-asan"))


def _port_base():
    """All ports of a run are BASE+n (n < 100). PALISADE_TEST_PORT_BASE fixes BASE;
    otherwise the first block in 20000-29999 (below the ephemeral range 32768-60999, away
    from scripts/run.sh's 3890/5222/5223) whose ports are all free, so that test runs
    of several developers on one machine do not collide."""
    if os.environ.get("PALISADE_TEST_PORT_BASE"):
        return int(os.environ["PALISADE_TEST_PORT_BASE"])
    start = random.randrange(200, 300)
    for k in range(100):
        base = ((start + k) % 100 + 200) * 100
        if all(H.port_free(base + n) for n in USED_PORT_OFFSETS):
            return base
    raise RuntimeError("no free block of ports in 20000-29999")


USED_PORT_OFFSETS = (1, 22, 23, 32, 33, 42, 43, 52, 53, 60, 62, 63)
PORT_BASE = _port_base()
SLAPD_PORT = PORT_BASE + 1
NODE_PORTS = (PORT_BASE + 22, PORT_BASE + 23)  # c2s (STARTTLS), c2s_tls (direct TLS)
POOL_SIZE = int(os.environ.get("PALISADE_TEST_POOL", "640"))
TEST_TIMEOUT_S = 180
# PALISADE_TEST_CLIENT_TLS=direct: slixmpp clients use direct TLS (XEP-0368) by default
# instead of STARTTLS.
DIRECT_TLS_DEFAULT = os.environ.get("PALISADE_TEST_CLIENT_TLS", "starttls") == "direct"

# Extra nodes, started the first time a test asks for them: settings and ports.
AUX_NODES = {
    "plain": dict(ports=(PORT_BASE + 32, PORT_BASE + 33), tls_required=False),
    "short-auth": dict(ports=(PORT_BASE + 42, PORT_BASE + 43), limits={"auth_timeout_s": 2}),
    "pkcs12": dict(ports=(PORT_BASE + 52, PORT_BASE + 53), pkcs12=True),
    "resumption": dict(ports=(PORT_BASE + 62, PORT_BASE + 63), tls_resumption=True),
}
SPARE_PORT = PORT_BASE + 60  # for a test's own helper server

_nodes = []  # every node started in this session, for the health checks


def pytest_collection_modifyitems(session, config, items):
    # The directory tests stop and restart slapd: run them last.
    items.sort(key=lambda it: 1 if it.fspath.basename == "test_directory.py" else 0)


_log_marks = {}  # node name -> log size when the current test started


def pytest_runtest_setup(item):
    for n in _nodes:
        _log_marks[n.name] = len(n.log_text())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report shows what the nodes logged while it ran (last 80 lines)."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when != "teardown":
        for n in _nodes:
            lines = n.log_text()[_log_marks.get(n.name, 0):].splitlines()
            if lines:
                rep.sections.append(("node %s log during the test (%s)" % (n.name, n.log_path),
                                     "\n".join(lines[-80:])))


@pytest.fixture(scope="session")
def build_dir():
    for b in ("node/palisade", "node/palisadectl"):
        if not (BUILD / b).is_file():
            pytest.fail("%s is missing: build with scripts/build.sh --sanitize (or set "
                        "PALISADE_BUILD to a build folder)" % (BUILD / b), pytrace=False)
    return BUILD


@pytest.fixture(scope="session")
def ctl(build_dir):
    """Labels and clearances from their text forms (H.Palisadectl)."""
    return H.Palisadectl(build_dir / "node/palisadectl")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("pal")


@pytest.fixture(scope="session")
def slapd(workdir, build_dir):
    s = H.Slapd(workdir / "slapd", SLAPD_PORT, build_dir / "node/palisadectl")
    if not H.port_free(SLAPD_PORT):
        pytest.fail("port %d is in use: is another test run going?" % SLAPD_PORT, pytrace=False)
    s.start()
    try:
        H.sh([H.SCRIPTS / "load-sample.sh", s.dir, H.DOMAIN],
             env={"PALISADECTL": str(build_dir / "node/palisadectl"),
                  "PALISADE_SPIF": str(H.SAMPLE_SPIF)})
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def cert(workdir):
    d = workdir / "tls"
    H.sh([H.SCRIPTS / "gen-cert.sh", d, H.DOMAIN])
    return d


@pytest.fixture(scope="session")
def pool(slapd):
    p = H.UserPool(slapd)
    p.create(POOL_SIZE)
    yield p
    print("\nuser pool: %d of %d users taken" % (POOL_SIZE - len(p.free), POOL_SIZE))


def _start_node(workdir, name, ports, slapd, build_dir, cert, **kw):
    extra = []
    if kw.pop("pkcs12", False):
        extra = ["--pkcs12", cert / "cert.p12", "--pkcs12-password-file", cert / "p12.secret"]
    if kw.pop("tls_resumption", False):
        extra += ["--tls-resumption", "true"]
    n = H.Node(workdir / name, name=name, c2s_port=ports[0], c2s_tls_port=ports[1], slapd=slapd,
               binary=build_dir / "node/palisade", cert_dir=cert, extra=extra, **kw)
    _nodes.append(n)
    n.start()
    return n


def _stop_node(n):
    problem = n.stop()
    if problem:
        print(problem)
        pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def node(workdir, slapd, pool, build_dir, cert):
    """The node every test uses, on 127.0.0.1:PORT_BASE+22 (STARTTLS) and +23 (direct TLS)."""
    n = _start_node(workdir, "node1", NODE_PORTS, slapd, build_dir, cert)
    yield n
    _stop_node(n)


@pytest.fixture(scope="session")
def aux_node(workdir, slapd, pool, build_dir, cert, node):
    """aux_node(kind): a second node with other settings (see AUX_NODES), started once."""
    started = {}

    def get(kind):
        if kind not in started:
            spec = dict(AUX_NODES[kind])
            ports = spec.pop("ports")
            started[kind] = _start_node(workdir, "aux-" + kind, ports, slapd, build_dir, cert, **spec)
        return started[kind]
    yield get
    problems = [p for p in (n.stop() for n in started.values()) if p]
    if problems:
        print("\n".join(problems))
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def harness():
    h = H.Harness()
    yield h
    h.close()


@pytest.fixture(autouse=True)
def _per_test(request):
    """Per test: a hang guard, then disconnect the test's clients and check that every
    node still runs and logged no sanitizer report."""
    def on_alarm(signum, frame):
        raise TimeoutError("test exceeded %ds" % TEST_TIMEOUT_S)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if "harness" in request.fixturenames:
            request.getfixturevalue("harness").cleanup()
    problems = [p for p in (n.health_problem() for n in _nodes) if p]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


class Users:
    """The pool as tests see it: take(n, clearance=None) gives n fresh users no other
    test uses, with a clearance when asked (palisadectl's text form, or a list of them,
    one per policy); it returns once every running node's replica holds it."""

    def __init__(self, pool, slapd):
        self.pool = pool
        self.slapd = slapd

    def take(self, count=1, clearance=None):
        got = self.pool.take(count)
        if clearance is not None:
            self.set_clearance(got, clearance)
        return got

    def make_new(self):
        return self.pool.make_new()

    def set_clearance(self, users, clearance):
        """clearance: text, list of texts, or None (--clear). Waits for the nodes."""
        if isinstance(users, H.User):
            users = [users]
        texts = [clearance] if isinstance(clearance, str) else list(clearance or [])
        nodes = [n for n in _nodes if n.started and n.alive()]
        marks = {n.name: len(n.log_text()) for n in nodes}
        for u in users:
            self.slapd.ctl("clearance", u.jid, *(texts or ["--clear"]))
        for u in users:
            dn = self.slapd.user_dn(u.jid)
            for n in nodes:
                n.wait_synced(dn, marks[n.name])


@pytest.fixture
def users(pool, slapd):
    """users.take(n, clearance=None): n fresh users (H.User: jid, localpart, password) no
    other test uses; with clearance='policy=PALISADE class=SECRET categories=...' (text
    form: policy/README.md), cleared so on every running node."""
    return Users(pool, slapd)


@pytest.fixture
def server_default_label(slapd):
    """server_default_label(text, wait=True): sets the server-wide default label
    (palisadectl settings default-label, as the administrator) and returns once every
    running node's replica holds it (wait=False: at once); the test's end clears it
    again, on every node, so other tests see unlabelled messages stay unlabelled."""
    base = slapd.env["LDAP_BASE"]
    state = {"dn": None, "touched": False}

    def settings_dn():
        found = slapd.ldap_search("(&(objectClass=xmppServerSettings)(!(xmppDomain=*)))",
                                  ["dn"], base=base)
        assert len(found) == 1, "expected one server-wide settings entry, found %r" % list(found)
        return next(iter(found))

    def change(*args):
        nodes = [n for n in _nodes if n.started and n.alive()]
        marks = {n.name: len(n.log_text()) for n in nodes}
        state["touched"] = True
        slapd.settings("default-label", *args)
        state["dn"] = state["dn"] or settings_dn()
        for n in nodes:
            n.wait_synced(state["dn"], marks[n.name])

    def set_label(text, wait=True):
        if wait:
            change(text)
        else:
            state["touched"] = True
            slapd.settings("default-label", text)
    yield set_label
    if state["touched"]:
        change("--clear")


@pytest.fixture
def sample():
    """The sample users alice, bob, carol, dave (read-only use, please)."""
    return H.SAMPLE_USERS


@pytest.fixture
def xmpp_client(harness, node):
    """xmpp_client(user_or_jid, password=None, *, on=None (a node; default the main one),
    direct_tls=False, resource=None, mech="SCRAM-SHA-256", connect=True, **opts)
    -> connected H.Client."""
    def make(who, password=None, *, on=None, direct_tls=DIRECT_TLS_DEFAULT, resource=None,
             connect=True, **opts):
        n = on or node
        if isinstance(who, H.User):
            jid, password = who.jid, password or who.password
        else:
            jid = who
        if resource:
            jid = "%s/%s" % (jid, resource)
        c = harness.client(jid, password, port=n.c2s_tls_port if direct_tls else n.c2s_port,
                           direct_tls=direct_tls, **opts)
        if connect:
            c.connect()
        return c
    return make


@pytest.fixture
def raw(harness, node):
    """raw(on=None, direct_tls=False, tls_context=None, tls_session=None) -> H.RawStream,
    connected (tls_session: an ssl.SSLSession to offer for resumption, direct TLS)."""
    def make(on=None, *, direct_tls=False, tls_context=None, tls_session=None, timeout=10):
        n = on or node
        return H.RawStream(n.c2s_tls_port if direct_tls else n.c2s_port, direct_tls=direct_tls,
                           tls_context=tls_context, tls_session=tls_session, timeout=timeout,
                           harness=harness)
    return make


@pytest.fixture
def spare_port():
    """A port of this run's block that no node uses, for a test's own helper server."""
    return SPARE_PORT


@pytest.fixture
def ldap_modify(slapd):
    """ldap_modify(ldif_text): ldapmodify as the directory administrator."""
    return slapd.ldap_modify


class SlapdOutage:
    def __init__(self, slapd):
        self.slapd = slapd

    def stop(self):
        self.slapd.stop()
        assert not self.slapd.is_up()

    def start(self):
        self.slapd.resume()


@pytest.fixture
def slapd_restart(slapd):
    """stop() and start() the directory (same database); it runs again after the test."""
    o = SlapdOutage(slapd)
    yield o
    o.start()


@pytest.fixture
def chat_pair(xmpp_client, users):
    a, b = users.take(2)
    return H.ChatPair(xmpp_client(a), xmpp_client(b))
