# SPDX-License-Identifier: Apache-2.0
"""Integration test harness: a real slapd and real Palisade nodes started through
scripts/, slixmpp clients driven from synchronous tests, and a raw-socket XMPP client
for bad input and for the SASL exchanges slixmpp cannot do.

Every wait polls a condition to a deadline; nothing sleeps blindly.
"""
import asyncio
import base64
import ctypes
import functools
import hashlib
import hmac
import itertools
import logging
import os
import re
import secrets
import select
import socket
import ssl
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import deque
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape, quoteattr

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

ROOT = Path(__file__).absolute().parents[2]
SCRIPTS = ROOT / "scripts"
DOMAIN = "localhost"
# The security policies of every test node (policy.spif) and of palisadectl's texts:
# PALISADE (the sample: alice, bob, carol and dave have clearances under it) and PARTNER.
SAMPLE_SPIF = ROOT / "policy/spif/palisade-sample.xml"
SPIFS = (SAMPLE_SPIF, ROOT / "policy/spif/palisade-partner.xml")
# Labels and clearances of the sample policy in palisadectl's text form.
ALL_CATEGORIES = "categories=NATO,EU,GBR,FRA,DEU,USA"
SECRET_CLEARANCE = "policy=PALISADE class=SECRET " + ALL_CATEGORIES
RESTRICTED_CLEARANCE = "policy=PALISADE class=RESTRICTED categories=GBR,FRA,DEU,USA"
UNCLASSIFIED = "policy=PALISADE class=UNCLASSIFIED"
RESTRICTED = "policy=PALISADE class=RESTRICTED"
CONFIDENTIAL = "policy=PALISADE class=CONFIDENTIAL"
SECRET = "policy=PALISADE class=SECRET"

NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_CLIENT = "jabber:client"
NS_ROSTER = "jabber:iq:roster"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PING = "urn:xmpp:ping"
NS_VCARD = "vcard-temp"
NS_DELAY = "urn:xmpp:delay"

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")

log = logging.getLogger("harness")


def sanitizer_report(text):
    """The first sanitizer report in a log's text (from its first line), or None."""
    for m in SANITIZER_MARKERS:
        i = text.find(m)
        if i >= 0:
            start = text.rfind("\n==", 0, i)
            start = text.rfind("\n", 0, i) if start < 0 else start
            return text[max(0, start):][:20000]
    return None


def q(tag, ns):
    """ElementTree's {ns}tag."""
    return "{%s}%s" % (ns, tag)


def sh(cmd, *, input=None, env=None, timeout=120, check=True):
    """Runs a command (list), returns CompletedProcess; on failure raises with its output."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    log.info("run: %s", " ".join(str(c) for c in cmd))
    p = subprocess.run([str(c) for c in cmd], input=input, env=full_env, timeout=timeout,
                       capture_output=True, text=True, stdin=None if input is not None
                       else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (exit %d): %s\n--- stdout\n%s--- stderr\n%s" % (
            p.returncode, " ".join(str(c) for c in cmd), p.stdout, p.stderr))
    return p


def poll(cond, timeout, what, interval=0.02):
    """Calls cond() until it returns a true value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


# --------------------------------------------------------------------------------------
# The directory


class Slapd:
    """One scratch slapd from scripts/slapd-dev.sh, plus the LDAP tools the tests use."""

    def __init__(self, dir, port, palisadectl):
        self.dir = Path(dir)
        self.port = port
        self.palisadectl = Path(palisadectl)
        self.env = {}
        self.pid = None

    def start(self):
        sh([SCRIPTS / "slapd-dev.sh", "start", self.dir, self.port])
        self.env = read_env_file(self.dir / "env")

    def stop(self):
        p = getattr(self, "_popen", None)
        if p is not None and p.poll() is None:
            # started by resume(): our child, so we reap it (slapd-dev.sh would see a zombie)
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            (self.dir / "slapd.pid").unlink(missing_ok=True)
            self._popen = None
            return
        sh([SCRIPTS / "slapd-dev.sh", "stop", self.dir])

    def is_up(self):
        return sh(["ldapwhoami", "-x", "-H", self.env["LDAP_URI"]], check=False,
                  timeout=10).returncode == 0

    def resume(self):
        """Starts slapd again on the existing database (slapd-dev.sh start would wipe it),
        with the command line slapd-dev.sh uses, and waits until it answers."""
        if self.is_up():
            return
        uri, ldapi = self.env["LDAP_URI"], self.env["LDAPI_URI"]
        sock = (self.dir / "ldapi.path").read_text().strip() if (self.dir / "ldapi.path").exists() else None
        if sock and os.path.exists(sock):
            os.unlink(sock)
        slapd = "/usr/sbin/slapd" if os.path.exists("/usr/sbin/slapd") else "slapd"
        with open(self.dir / "slapd.log", "ab") as logf:
            p = subprocess.Popen([slapd, "-d", "0", "-h", "%s %s" % (uri, ldapi), "-F",
                                  str(self.dir / "slapd.d")], stdin=subprocess.DEVNULL,
                                 stdout=logf, stderr=logf, start_new_session=True)
        (self.dir / "slapd.pid").write_text("%d\n" % p.pid)
        self._popen = p  # keeps the child object so it is reaped
        poll(lambda: p.poll() is not None or self.is_up(), 10, "slapd to answer after restart")
        if p.poll() is not None:
            raise RuntimeError("slapd exited at restart:\n" + (self.dir / "slapd.log").read_text()[-2000:])

    # LDAP tools, as the directory administrator
    def _admin_args(self):
        return ["-x", "-H", self.env["LDAP_URI"], "-D", self.env["LDAP_ADMIN_DN"],
                "-y", self.env["LDAP_ADMIN_SECRET_FILE"]]

    def ldap_modify(self, ldif):
        """ldapmodify with the admin credentials; LDIF as text."""
        return sh(["ldapmodify"] + self._admin_args(), input=ldif)

    def ldap_add(self, ldif):
        """ldapadd with the admin credentials; LDIF as text."""
        return sh(["ldapadd"] + self._admin_args(), input=ldif)

    def ldap_delete(self, *dns):
        """ldapdelete of the entries dns, with the admin credentials."""
        return sh(["ldapdelete"] + self._admin_args() + list(dns))

    def ldap_search(self, filt, attrs=(), base=None):
        """Returns {dn: {attr: [values]}} (values as str; binary ones base64 text)."""
        p = sh(["ldapsearch", "-LLL", "-o", "ldif-wrap=no"] + self._admin_args() +
               ["-b", base or self.env["LDAP_USERS"], filt] + list(attrs))
        out = {}
        dn = None
        for line in p.stdout.splitlines():
            if not line.strip():
                continue
            key, sep, val = line.partition(":")
            if sep == "" or line.startswith(" "):
                continue
            if val.startswith(":"):
                val = val[1:].strip()
                raw = base64.b64decode(val)
                try:
                    val = raw.decode("utf-8")
                except UnicodeDecodeError:
                    val = raw
            else:
                val = val.strip()
            if key == "dn":
                dn = val
                out[dn] = {}
            elif dn is not None:
                out[dn].setdefault(key, []).append(val)
        return out

    def user_dn(self, jid):
        found = self.ldap_search("(xmppJID=%s)" % jid, ["dn"])
        assert len(found) == 1, "expected one entry with xmppJID=%s, found %r" % (jid, list(found))
        return next(iter(found))

    def palisadectl_args(self):
        """palisadectl's options for this directory, as its administrator, with SPIFS."""
        args = ["--uri", self.env["LDAP_URI"], "--bind-dn", self.env["LDAP_ADMIN_DN"],
                "--bind-secret-file", self.env["LDAP_ADMIN_SECRET_FILE"],
                "--users", self.env["LDAP_USERS"], "--base", self.env["LDAP_BASE"]]
        for f in SPIFS:
            args += ["--spif", f]
        return args

    def ctl(self, *args, input=None, check=True):
        """palisadectl user ... with the admin credentials."""
        return sh([self.palisadectl, "user"] + self.palisadectl_args() + ["--domain", DOMAIN] +
                  list(args), input=input, check=check)

    def settings(self, *args, check=True):
        """palisadectl settings ... with the admin credentials (a --domain scope goes in
        args: palisadectl wants it after the command words)."""
        return sh([self.palisadectl] + self.palisadectl_args() + ["settings"] + list(args),
                  check=check)

    def add_user(self, jid, password):
        self.ctl("add", jid, "--password-stdin", input=password + "\n")

    def set_password(self, jid, password):
        self.ctl("passwd", jid, "--password-stdin", input=password + "\n")


def read_env_file(path):
    """Parses a shell env file of KEY='value' lines by sourcing it in bash."""
    p = sh(["bash", "-c", 'set -a; . "$1"; env -0', "env", path])
    env = {}
    for item in p.stdout.split("\0"):
        k, sep, v = item.partition("=")
        if sep and (k.startswith("LDAP") or k.startswith("SLAPD")):
            env[k] = v
    return env


# --------------------------------------------------------------------------------------
# Nodes


class Node:
    """A Palisade node run by scripts/node-dev.sh from its own folder."""

    def __init__(self, dir, *, name, c2s_port, c2s_tls_port, slapd, binary, cert_dir,
                 extra=(), tls_required=True, limits=None, spif=SPIFS, flot=None,
                 trace="ldap"):
        self.dir = Path(dir)
        self.name = name
        self.c2s_port = c2s_port
        self.c2s_tls_port = c2s_tls_port
        self.slapd = slapd
        self.binary = Path(binary)
        self.cert_dir = Path(cert_dir)
        self.extra = list(extra)
        self.tls_required = tls_required
        self.limits = dict(max_stanza_bytes=262144, max_depth=64, auth_timeout_s=30,
                           failure_delay_ms=1000, max_failures=3)
        self.limits.update(limits or {})
        self.spif = list(spif or ())
        self.flot = flot
        self.trace = trace
        self.started = False
        self.checked_log_bytes = 0

    @property
    def log_path(self):
        return self.dir / "node.log"

    def config(self):
        args = [SCRIPTS / "node-dev.sh", "config", self.dir, "--name", self.name,
                "--domain", DOMAIN, "--c2s", "127.0.0.1:%d" % self.c2s_port,
                "--c2s-tls", "127.0.0.1:%d" % self.c2s_tls_port,
                "--ldap-env", self.slapd.dir / "env",
                "--tls-required", "true" if self.tls_required else "false",
                "--auth-timeout", self.limits["auth_timeout_s"],
                "--failure-delay-ms", self.limits["failure_delay_ms"],
                "--max-failures", self.limits["max_failures"],
                "--max-stanza-bytes", self.limits["max_stanza_bytes"],
                "--max-depth", self.limits["max_depth"]]
        for f in self.spif:
            args += ["--spif", f]
        if self.flot is not None:
            args += ["--flot", "true" if self.flot else "false"]
        if self.trace:
            args += ["--trace", self.trace]
        if not any(a == "--pkcs12" for a in self.extra):
            args += ["--cert", self.cert_dir / "cert.pem", "--key", self.cert_dir / "key.pem"]
        sh(args + self.extra)

    def start(self):
        for p in (self.c2s_port, self.c2s_tls_port):
            if not port_free(p):
                raise RuntimeError("port %d is in use: is an earlier test run still going?" % p)
        self.config()
        env = {"PALISADE": str(self.binary),
               "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
               "UBSAN_OPTIONS": "print_stacktrace=1",
               "NODE_READY_TIMEOUT": "30"}
        sh([SCRIPTS / "node-dev.sh", "start", self.dir], env=env, timeout=60)
        self.started = True

    def pid(self):
        try:
            return int((self.dir / "node.pid").read_text())
        except (OSError, ValueError):
            return None

    def alive(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return not (self.dir / "node.exit").exists()

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def sanitizer_report(self, since=0):
        """The sanitizer report in the log (from byte offset since), or None."""
        return sanitizer_report(self.log_text()[since:])

    def health_problem(self):
        """None when the node runs and logged no sanitizer report since the last call."""
        problem = None
        report = self.sanitizer_report(self.checked_log_bytes)
        if report:
            problem = "node %s logged a sanitizer report:\n%s" % (self.name, report)
        elif self.started and not self.alive():
            rc = (self.dir / "node.exit").read_text().strip() if (self.dir / "node.exit").exists() else "?"
            problem = "node %s is no longer running (exit status %s); log tail:\n%s" % (
                self.name, rc, self.log_text()[-4000:])
            self.started = False
        self.checked_log_bytes = len(self.log_text())
        return problem

    def stop(self):
        """SIGTERM through node-dev.sh; returns a problem description or None."""
        if not self.started:
            return None
        self.started = False
        p = sh([SCRIPTS / "node-dev.sh", "stop", self.dir], check=False, timeout=60)
        problems = []
        if p.returncode != 0:
            problems.append("stopping node %s failed: %s%s" % (self.name, p.stdout, p.stderr))
        report = self.sanitizer_report()
        if report:
            problems.append("node %s logged a sanitizer report:\n%s" % (self.name, report))
        return "\n".join(problems) or None

    def grep_log(self, pattern):
        return re.findall(pattern, self.log_text())

    def wait_log(self, pattern, since=0, timeout=5, what=None):
        """Polls the log (from byte offset since) for the regular expression; returns the
        match."""
        rx = re.compile(pattern)
        return poll(lambda: rx.search(self.log_text()[since:]), timeout,
                    what or "/%s/ in the log of node %s" % (pattern, self.name))

    def wait_synced(self, dn, since, timeout=5):
        """Waits until the node's replica took a change of the entry dn that slapd made
        after the log had `since` bytes (the node runs with --trace ldap)."""
        assert self.trace and "ldap" in self.trace, "wait_synced needs --trace ldap"
        return self.wait_log(r'ldap sync-entry dn="%s"' % re.escape(dn), since, timeout,
                             "node %s to sync %s" % (self.name, dn))


# --------------------------------------------------------------------------------------
# Users


class User:
    def __init__(self, localpart, password):
        self.localpart = localpart
        self.password = password
        self.jid = "%s@%s" % (localpart, DOMAIN)

    def __repr__(self):
        return "User(%s)" % self.jid


SAMPLE_USERS = {name: User(name, name + "-secret") for name in ("alice", "bob", "carol", "dave")}


class UserPool:
    """Throwaway users created before the node starts (so they are in its first replica
    load); each test takes fresh ones so tests never share state."""

    def __init__(self, slapd):
        self.slapd = slapd
        self.free = deque()
        self.counter = itertools.count(1)

    def _new_user(self):
        n = next(self.counter)
        return User("u%03d" % n, "pw-%03d-%s" % (n, secrets.token_hex(6)))

    def create(self, count):
        """Adds count users with one `palisadectl user import -`."""
        users = [self._new_user() for _ in range(count)]
        self.slapd.ctl("import", "-", input="".join("%s %s\n" % (u.jid, u.password) for u in users))
        self.free.extend(users)

    def take(self, count=1):
        if len(self.free) < count:
            raise RuntimeError("the user pool is exhausted: raise POOL_SIZE in conftest.py")
        return [self.free.popleft() for _ in range(count)]

    def make_new(self):
        """A user not yet created (for tests that add users themselves)."""
        return self._new_user()


# --------------------------------------------------------------------------------------
# slixmpp clients driven from synchronous tests


class LoginError(AssertionError):
    pass


def insecure_tls_context(max_version=None, min_version=None):
    """Accepts the self-signed test certificate (as a user who accepted it would)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    return ctx


class _ClientXMPP(slixmpp.ClientXMPP):
    """ClientXMPP that connects to the given address instead of resolving the domain."""

    def __init__(self, *a, forced_addr=None, **kw):
        super().__init__(*a, **kw)
        self._forced_addr = forced_addr

    async def get_dns_records(self, domain, port=None):
        host, port = self._forced_addr
        return [(domain, host, port)]


def _summary(st):
    try:
        return ET.tostring(st.xml, encoding="unicode")[:300]
    except Exception:  # noqa: BLE001 - a diagnostic only
        return repr(st)[:300]


class Client:
    """One slixmpp connection. Methods are synchronous: each runs the shared event loop
    until its awaitable completes (or its deadline passes). Every stanza received is kept
    in self.inbox until a wait_for() consumes it."""

    def __init__(self, harness, jid, password, *, port, direct_tls=False, mech="SCRAM-SHA-256",
                 tls_context=None, channel_binding=False, plugins=("xep_0030", "xep_0199",
                                                                 "xep_0054")):
        self.h = harness
        self.loop = harness.loop
        self.jid = jid
        self.password = password
        self.port = port
        self.direct_tls = direct_tls
        self.inbox = []
        self.stream_errors = []
        self.sasl_failures = []
        self.problems = []
        self.connected = False
        self.session_started = False
        self._event = None
        x = _ClientXMPP(jid, password, forced_addr=("127.0.0.1", port), sasl_mech=mech)
        x.ssl_context = tls_context or insecure_tls_context()
        x.use_ipv6 = False
        x.use_aiodns = False
        x.whitespace_keepalive = False
        # Tests decide about subscriptions; no automatic answers.
        x.roster.auto_authorize = None
        x.roster.auto_subscribe = False
        if not channel_binding:
            # slixmpp sends the gs2 flag 'y' when it has binding data but picked a
            # non-PLUS mechanism, which a server offering -PLUS must refuse (RFC 5802);
            # ordinary test clients say 'n' (no channel binding support) instead.
            mechs = x["feature_mechanisms"]
            default_cb = mechs.sasl_callback

            def creds(required, optional):
                r = default_cb(required, optional)
                if "channel_binding" in r:
                    r["channel_binding"] = None
                return r
            mechs.sasl_callback = creds
        for p in plugins:
            x.register_plugin(p)
        x.add_filter("in", self._on_stanza)
        x.add_event_handler("session_start", self._on_session_start)
        x.add_event_handler("failed_auth", lambda st: self.sasl_failures.append(st))
        x.add_event_handler("failed_all_auth", lambda _: self._note("all-auth-failed"))
        x.add_event_handler("connection_failed", lambda e: self._note("connection failed: %s" % e))
        x.add_event_handler("disconnected", self._on_disconnected)
        self.x = x

    # -- receiving
    def _on_stanza(self, st):
        tag = st.xml.tag
        if tag == q("error", NS_STREAM):
            self.stream_errors.append(st)
        self.inbox.append(st)
        if self._event is not None:
            self._event.set()
        return st

    def _note(self, what):
        self.problems.append(what)
        if self._event is not None:
            self._event.set()

    def _on_session_start(self, _):
        self.session_started = True
        if self._event is not None:
            self._event.set()

    def _on_disconnected(self, _):
        self.connected = False
        if self._event is not None:
            self._event.set()

    async def _until(self, cond, timeout, what):
        if self._event is None:
            self._event = asyncio.Event()
        deadline = self.loop.time() + timeout
        while True:
            v = cond()
            if v:
                return v
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise AssertionError("%s: timed out after %.1fs waiting for %s; inbox: %s" % (
                    self.jid, timeout, what, [_summary(s) for s in self.inbox[-8:]]))
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), min(remaining, 0.25))
            except asyncio.TimeoutError:
                pass

    # -- connecting
    async def aconnect(self, timeout=8):
        self._event = asyncio.Event()
        self.x.connect(use_ssl=self.direct_tls)
        self.connected = True

        def done():
            if self.session_started:
                return "ok"
            if self.problems:
                return self.problems[0]
            if self.sasl_failures and not self.x.is_connecting() and not self.x.transport:
                return "auth"
            if self.stream_errors:
                return "stream-error"
            if not self.x.transport and not self.x.is_connecting():
                return "closed"
            return None
        try:
            r = await self._until(done, timeout, "session start")
        except AssertionError:
            self.x.cancel_connection_attempt()
            self.x.abort()
            raise
        if r != "ok":
            self.x.cancel_connection_attempt()
            self.x.abort()
            raise LoginError("%s could not log in (%s): sasl failures %s, stream errors %s" % (
                self.jid, r, [_summary(s) for s in self.sasl_failures],
                [_summary(s) for s in self.stream_errors]))
        return self

    def connect(self, timeout=8):
        return self.h.run(self.aconnect(timeout), timeout + 5)

    @property
    def full_jid(self):
        return str(self.x.boundjid.full)

    @property
    def resource(self):
        return self.x.boundjid.resource

    # -- sending
    async def _flush(self):
        # slixmpp queues output; give its sender task a chance, then wait for the queue.
        await asyncio.sleep(0)
        try:
            await asyncio.wait_for(self.x.waiting_queue.join(), 5)
        except asyncio.TimeoutError:
            raise AssertionError("%s: output queue not flushed within 5s" % self.jid)

    def flush(self):
        self.h.run(self._flush(), 10)

    def send(self, stanza):
        stanza.send()
        self.flush()
        return stanza

    def send_raw(self, text):
        self.x.send_raw(text)
        self.flush()

    def send_message(self, to, body, mtype="chat", **extra):
        m = self.x.make_message(mto=to, mbody=body, mtype=mtype)
        m["id"] = extra.pop("id", None) or secrets.token_hex(6)
        for k, v in extra.items():
            m[k] = v
        return self.send(m)

    def send_presence(self, to=None, ptype=None, show=None, status=None, priority=None):
        p = self.x.make_presence(pto=to, ptype=ptype, pshow=show, pstatus=status,
                                 ppriority=priority)
        return self.send(p)

    def iq(self, itype, payload, to=None, timeout=10):
        """Sends an iq with payload (XML text or Element); returns the response stanza
        (type result or error)."""
        iq = self.x.Iq()
        iq["type"] = itype
        if to:
            iq["to"] = to
        if isinstance(payload, str):
            payload = ET.fromstring(payload)
        if payload is not None:
            iq.append(payload)
        return self.h.run(self._iq(iq, timeout), timeout + 5)

    async def _iq(self, iq, timeout):
        try:
            return await iq.send(timeout=timeout)
        except IqError as e:
            return e.iq
        except IqTimeout:
            raise AssertionError("%s: no answer within %ss to %s" % (self.jid, timeout, _summary(iq)))

    # -- waiting
    def wait_for(self, pred, timeout=5, what="a matching stanza"):
        """Waits for (and removes from the inbox) the first stanza matching pred."""

        def find():
            for i, st in enumerate(self.inbox):
                try:
                    ok = pred(st)
                except Exception:  # noqa: BLE001 - predicates may probe absent fields
                    ok = False
                if ok:
                    del self.inbox[i]
                    return st
            return None
        return self.h.run(self._until(find, timeout, what), timeout + 5)

    def wait_many(self, pred, count, timeout=5, what="stanzas"):
        """Waits until count stanzas match pred; removes and returns them in arrival order."""

        def matching():
            out = []
            for st in self.inbox:
                try:
                    if pred(st):
                        out.append(st)
                except Exception:  # noqa: BLE001
                    pass
            return out

        got = self.h.run(self._until(lambda: len(matching()) >= count and matching(), timeout,
                                     "%d %s" % (count, what)), timeout + 5)
        for st in got:
            self.inbox.remove(st)
        return got

    def wait_until(self, cond, timeout=5, what="a condition"):
        """Runs the event loop (every client's traffic) until cond() is true; returns it."""
        return self.h.run(self._until(cond, timeout, what), timeout + 5)

    def has(self, pred):
        for st in self.inbox:
            try:
                if pred(st):
                    return True
            except Exception:  # noqa: BLE001
                pass
        return False

    def wait_stream_error(self, timeout=10):
        st = self.h.run(self._until(lambda: self.stream_errors[0] if self.stream_errors else None,
                                    timeout, "a stream error"), timeout + 5)
        return stream_error_condition(st.xml)

    def wait_disconnected(self, timeout=10):
        self.h.run(self._until(lambda: not self.x.transport, timeout, "the connection to close"),
                   timeout + 5)

    def ping_server(self, timeout=10):
        """A round trip to the server: everything the server sent before its answer has
        been received once this returns."""
        r = self.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=DOMAIN, timeout=timeout)
        assert r["type"] == "result", "ping to the server failed: %s" % _summary(r)

    def clear(self):
        self.inbox.clear()

    # -- ending
    async def adisconnect(self, wait=3):
        if self.x.transport:
            try:
                await asyncio.wait_for(self.x.disconnect(wait=wait), wait + 2)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                self.x.abort()
        self.connected = False
        # slixmpp's sender task outlives the connection; end it with the client
        t = getattr(self.x, "_run_out_filters", None)
        if t is not None and not t.done():
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)

    def disconnect(self, wait=3):
        self.h.run(self.adisconnect(wait), wait + 5)

    def kill(self, rst=False):
        """Closes the TCP connection abruptly: no </stream:stream>, no TLS close_notify;
        with rst=True the kernel sends a reset instead of a FIN."""
        t = self.x.transport
        if t is not None:
            sock = t.get_extra_info("socket")
            if sock is not None and rst:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
            t.abort()
        self.h.run(asyncio.sleep(0), 5)
        self.connected = False


def stream_error_condition(el):
    for child in el:
        if child.tag.startswith("{%s}" % NS_STREAMS) and child.tag != q("text", NS_STREAMS):
            return child.tag.split("}", 1)[1]
    return None


def stanza_error_condition(st):
    """The defined condition of a stanza error (slixmpp stanza or Element), or None."""
    el = st.xml if hasattr(st, "xml") else st
    err = el.find(q("error", NS_CLIENT))
    if err is None:
        return None
    for child in err:
        if child.tag.startswith("{%s}" % NS_STANZAS) and child.tag != q("text", NS_STANZAS):
            return child.tag.split("}", 1)[1]
    return None


class Harness:
    """The shared asyncio loop and the clients of the current test."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.clients = []
        self.raws = []

    def run(self, aw, timeout=30):
        async def guarded():
            return await asyncio.wait_for(aw, timeout)
        return self.loop.run_until_complete(guarded())

    def client(self, jid, password, *, port, **opts):
        c = Client(self, jid, password, port=port, **opts)
        self.clients.append(c)
        return c

    def cleanup(self):
        clients, self.clients = self.clients, []
        if clients:
            async def all_down():
                await asyncio.gather(*(c.adisconnect(2) for c in clients), return_exceptions=True)
            try:
                self.run(all_down(), 15)
            except Exception:  # noqa: BLE001
                for c in clients:
                    c.x.abort()
        raws, self.raws = self.raws, []
        for r in raws:
            r.close()

    def close(self):
        self.cleanup()
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()


# --------------------------------------------------------------------------------------
# Raw XMPP over a socket


class StreamClosed(AssertionError):
    pass


libssl = None


def _libssl():
    global libssl
    if libssl is None:
        libssl = ctypes.CDLL("libssl.so.3")
        libssl.SSL_export_keying_material.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
        libssl.SSL_export_keying_material.restype = ctypes.c_int
        libssl.SSL_version.argtypes = [ctypes.c_void_p]
        libssl.SSL_version.restype = ctypes.c_int
        libssl.SSL_get_finished.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        libssl.SSL_get_finished.restype = ctypes.c_size_t
    return libssl


_TLS_VERSIONS = {"TLSv1.3": 0x0304, "TLSv1.2": 0x0303, "TLSv1.1": 0x0302, "TLSv1": 0x0301}


def tls_exporter(sslsock):
    """RFC 9266 tls-exporter channel binding of a Python SSLSocket. Python 3.11's ssl
    module has no keying-material exporter, so this calls OpenSSL's
    SSL_export_keying_material on the SSL* inside the socket (CPython's PySSLSocket
    layout: PyObject_HEAD, PyObject *Socket, SSL *ssl). The pointer is checked against
    the protocol version and the tls-unique value Python itself reports before use."""
    lib = _libssl()
    inner = sslsock._sslobj
    ptr = ctypes.c_void_p.from_address(id(inner) + 3 * ctypes.sizeof(ctypes.c_void_p)).value
    assert ptr, "no SSL* in the socket"
    assert lib.SSL_version(ptr) == _TLS_VERSIONS[sslsock.version()], "SSL* layout check failed"
    fin = ctypes.create_string_buffer(128)
    n = lib.SSL_get_finished(ptr, fin, 128)
    assert fin.raw[:n] == sslsock.get_channel_binding("tls-unique"), "SSL* layout check failed"
    out = ctypes.create_string_buffer(32)
    label = b"EXPORTER-Channel-Binding"
    assert lib.SSL_export_keying_material(ptr, out, 32, label, len(label), None, 0, 0) == 1
    return out.raw


def saslname(s):
    return s.replace("=", "=3D").replace(",", "=2C")


class Scram:
    """A SCRAM client (RFC 5802, RFC 7677), with channel binding (RFC 5929, RFC 9266)."""

    def __init__(self, mech, username, password, *, cb_type=None, cb_data=None, gs2_flag=None):
        base = mech[:-5] if mech.endswith("-PLUS") else mech
        self.hname = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[base]
        self.username = username
        self.password = password
        if gs2_flag is None:
            gs2_flag = "p=%s" % cb_type if cb_type else "n"
        self.gs2_header = gs2_flag + ",,"
        self.cb_data = cb_data or b""
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (saslname(username), self.nonce)
        self.server_signature = None

    def client_first(self):
        return (self.gs2_header + self.first_bare).encode()

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.hname).digest()

    def client_final(self, server_first, *, wrong_password=False, tamper_cb=False):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.nonce), "server nonce does not extend ours"
        salt = base64.b64decode(attrs["s"])
        iters = int(attrs["i"])
        self.salt, self.iterations = salt, iters
        pw = (self.password + ("x" if wrong_password else "")).encode()
        salted = hashlib.pbkdf2_hmac(self.hname, pw, salt, iters)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hname, client_key).digest()
        cb_data = self.cb_data
        if tamper_cb and cb_data:
            cb_data = bytes([cb_data[0] ^ 0xFF]) + cb_data[1:]
        cbind = base64.b64encode(self.gs2_header.encode() + cb_data).decode()
        without_proof = "c=%s,r=%s" % (cbind, attrs["r"])
        auth_message = ",".join([self.first_bare, server_first, without_proof]).encode()
        sig = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = self._hmac(salted, b"Server Key")
        self.server_signature = self._hmac(server_key, auth_message)
        return ("%s,p=%s" % (without_proof, base64.b64encode(proof).decode())).encode()

    def verify_server_final(self, data):
        attrs = dict(kv.split("=", 1) for kv in data.decode().split(","))
        assert "v" in attrs, "server-final without a verifier: %r" % data
        assert base64.b64decode(attrs["v"]) == self.server_signature, \
            "the server's SCRAM signature is wrong (no mutual authentication)"


def b64(data):
    return base64.b64encode(data).decode() if data else "="


class RawStream:
    """A client stream written by hand. Blocking socket with deadlines; the received
    bytes are parsed with ElementTree's pull parser, one element per top-level child."""

    def __init__(self, port, *, direct_tls=False, tls_context=None, tls_session=None, timeout=10,
                 harness=None):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.raw_sock = self.sock
        self.received = bytearray()
        self.eof = False
        self.eof_reason = None
        self.stream_ended = False
        self._new_parser()
        if harness is not None:
            harness.raws.append(self)
        if direct_tls:
            self._wrap_tls(tls_context, tls_session)

    # -- plumbing
    def _new_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.header = None
        self.pending = deque()

    def _wrap_tls(self, ctx=None, session=None):
        ctx = ctx or insecure_tls_context()
        self.sock = ctx.wrap_socket(self.raw_sock, server_hostname=DOMAIN, session=session)
        self._new_parser()

    @property
    def tls_version(self):
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
            self.eof = True
            self.eof_reason = "send failed: %r" % e

    def _pump(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise TimeoutError
        except (ConnectionResetError, ssl.SSLError, OSError) as e:
            self.eof = True
            self.eof_reason = repr(e)
            return
        if not data:
            self.eof = True
            self.eof_reason = "EOF"
            return
        self._feed(data)

    def _feed(self, data):
        self.received += data
        try:
            self.parser.feed(data)
            events = list(self.parser.read_events())
        except ET.ParseError as e:
            raise AssertionError("the server sent malformed XML (%s): %r" % (e, bytes(self.received[-500:])))
        for ev, el in events:
            if ev == "start":
                if self.depth == 0:
                    self.header = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                    if self.header is not None:
                        try:
                            self.header.remove(el)  # keep the root small
                        except ValueError:
                            pass
                elif self.depth == 0:
                    self.stream_ended = True

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def readable_now(self):
        """True if the server has sent application data (or closed) that was not read
        yet; never waits. TLS records without application data (session tickets) do not
        count."""
        if self.pending or self.eof or self.stream_ended:
            return True
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r and not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return False
        before = len(self.received)
        self.sock.settimeout(0.0)
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except (ConnectionResetError, ssl.SSLError, OSError) as e:
            self.eof, self.eof_reason = True, repr(e)
            return True
        if not data:
            self.eof, self.eof_reason = True, "EOF"
            return True
        self._feed(data)
        return len(self.received) > before

    def wait_header(self, timeout=None):
        deadline = self._deadline(timeout)
        while self.header is None:
            if self.eof:
                raise StreamClosed("connection closed before the server's stream header: %r" %
                                   bytes(self.received[-500:]))
            try:
                self._pump(deadline)
            except TimeoutError:
                raise AssertionError("no stream header from the server within the deadline")
        return self.header

    def next(self, timeout=None):
        """The next top-level element from the server."""
        deadline = self._deadline(timeout)
        while not self.pending:
            if self.eof or self.stream_ended:
                raise StreamClosed("stream closed (%s) while waiting for an element; last bytes: %r" % (
                    "</stream:stream>" if self.stream_ended else self.eof_reason,
                    bytes(self.received[-500:])))
            try:
                self._pump(deadline)
            except TimeoutError:
                raise AssertionError("no element from the server within the deadline; last bytes: %r" %
                                     bytes(self.received[-300:]))
        return self.pending.popleft()

    def expect(self, tag, ns, timeout=None):
        el = self.next(timeout)
        assert el.tag == q(tag, ns), "expected <%s xmlns='%s'>, got %s" % (
            tag, ns, ET.tostring(el, encoding="unicode")[:500])
        return el

    def expect_stream_error(self, timeout=None):
        """Reads until a stream error (skipping other elements); checks the server then
        closes the stream and the connection; returns the defined condition."""
        deadline = self._deadline(timeout)
        while True:
            try:
                el = self.next(max(0.0, deadline - time.monotonic()))
            except StreamClosed as e:
                raise AssertionError("the connection closed without a stream error: %s" % e)
            if el.tag == q("error", NS_STREAM):
                cond = stream_error_condition(el)
                self.last_error = el
                self.wait_closed(timeout=5)
                return cond

    def wait_closed(self, timeout=None):
        """Waits until the server ends the stream or closes the connection."""
        deadline = self._deadline(timeout)
        while not (self.eof or self.stream_ended):
            try:
                self._pump(deadline)
            except TimeoutError:
                raise AssertionError("the server did not close the stream within the deadline")
            self.pending.clear()
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- stream steps
    def send_header(self, to=DOMAIN, *, ns=NS_CLIENT, stream_ns=NS_STREAM, version="1.0",
                    prolog="<?xml version='1.0'?>", extra=""):
        attrs = ""
        if to is not None:
            attrs += " to=%s" % quoteattr(to)
        if version is not None:
            attrs += " version=%s" % quoteattr(version)
        self.send("%s<stream:stream xmlns=%s xmlns:stream=%s%s xml:lang='en'%s>" % (
            prolog, quoteattr(ns), quoteattr(stream_ns), attrs, extra))

    def open(self, to=DOMAIN, timeout=None):
        """Sends a stream header; returns the server's <features/>."""
        self.send_header(to)
        self.wait_header(timeout)
        return self.expect("features", NS_STREAM, timeout)

    def starttls(self, tls_context=None, timeout=None):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        self.expect("proceed", NS_TLS, timeout)
        self._wrap_tls(tls_context)

    @staticmethod
    def mechanisms(features):
        m = features.find(q("mechanisms", NS_SASL))
        return [] if m is None else [e.text for e in m.findall(q("mechanism", NS_SASL))]

    @staticmethod
    def cb_types(features):
        cb = features.find(q("sasl-channel-binding", NS_SASL_CB))
        return [] if cb is None else [e.get("type") for e in cb.findall(q("channel-binding", NS_SASL_CB))]

    def auth(self, mech, initial=None):
        if initial is None:
            self.send("<auth xmlns='%s' mechanism=%s/>" % (NS_SASL, quoteattr(mech)))
        else:
            self.send("<auth xmlns='%s' mechanism=%s>%s</auth>" % (NS_SASL, quoteattr(mech), b64(initial)))

    def response(self, data):
        self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, b64(data)))

    def sasl_plain(self, user, password, authzid=""):
        """Returns the server's answer: <success/> or <failure/>."""
        self.auth("PLAIN", ("%s\0%s\0%s" % (authzid, user, password)).encode())
        return self.next()

    def scram_begin(self, mech, user, password, **kw):
        """Sends client-first and returns (scram, server-first bytes)."""
        s = Scram(mech, user, password, **kw)
        self.auth(mech, s.client_first())
        el = self.next()
        if el.tag != q("challenge", NS_SASL):
            raise AssertionError("expected a SASL challenge, got %s" % ET.tostring(el, encoding="unicode"))
        return s, base64.b64decode(el.text or "")

    def sasl_scram(self, mech, user, password, *, wrong_password=False, tamper_cb=False,
                   timeout=None, **kw):
        """A full SCRAM exchange; returns the final element (<success/> or <failure/>, which
        may also come instead of the first challenge); a <success/> is checked for the
        server's signature."""
        s = Scram(mech, user, password, **kw)
        self.auth(mech, s.client_first())
        el = self.next(timeout)
        if el.tag != q("challenge", NS_SASL):
            return el
        server_first = base64.b64decode(el.text or "")
        self.response(s.client_final(server_first, wrong_password=wrong_password, tamper_cb=tamper_cb))
        el = self.next(timeout)
        if el.tag == q("success", NS_SASL):
            s.verify_server_final(base64.b64decode(el.text or ""))
        return el

    def after_sasl_success(self):
        """Restarts the stream after <success/> and returns the new features."""
        self._new_parser()
        return self.open()

    def bind(self, resource=None):
        payload = "<bind xmlns='%s'>%s</bind>" % (
            NS_BIND, "" if resource is None else "<resource>%s</resource>" % xml_escape(resource))
        self.send("<iq type='set' id='bind1'>%s</iq>" % payload)
        el = self.expect("iq", NS_CLIENT)
        assert el.get("type") == "result", "bind failed: %s" % ET.tostring(el, encoding="unicode")
        return el.find("%s/%s" % (q("bind", NS_BIND), q("jid", NS_BIND))).text

    def login(self, user, password, *, resource=None, starttls=True):
        """STARTTLS (unless direct TLS), PLAIN, bind. Returns the full JID."""
        if not isinstance(self.sock, ssl.SSLSocket):
            self.open()
            if starttls:
                self.starttls()
        features = self.open()
        assert "PLAIN" in self.mechanisms(features), "PLAIN not offered: %s" % ET.tostring(features)
        r = self.sasl_plain(user, password)
        assert r.tag == q("success", NS_SASL), "login failed: %s" % ET.tostring(r, encoding="unicode")
        self.after_sasl_success()
        return self.bind(resource)


def is_success(el):
    return el.tag == q("success", NS_SASL)


def sasl_failure_condition(el):
    assert el.tag == q("failure", NS_SASL), "expected a SASL <failure/>, got %s" % (
        ET.tostring(el, encoding="unicode")[:300])
    for child in el:
        if child.tag != q("text", NS_SASL):
            return child.tag.split("}", 1)[1]
    return None


# --------------------------------------------------------------------------------------
# Stanza helpers shared by the tests


def bare(jid):
    return str(jid).split("/", 1)[0]


def is_message(body=None, frm=None, mtype=None):
    def pred(st):
        return (st.name == "message" and (body is None or st["body"] == body) and
                (frm is None or str(st["from"]) == frm or (("/" not in frm) and bare(st["from"]) == frm)) and
                (mtype is None or st["type"] == mtype))
    return pred


def is_presence(frm=None, ptype=None, status=None):
    """ptype "available" matches presence without a type attribute."""
    def pred(st):
        if st.name != "presence":
            return False
        t = st.xml.get("type") or "available"
        return ((frm is None or str(st["from"]) == frm or (("/" not in frm) and bare(st["from"]) == frm)) and
                (ptype is None or t == ptype) and (status is None or st["status"] == status))
    return pred


def roster_query(st):
    return st.xml.find(q("query", NS_ROSTER))


def roster_items(st):
    """{bare jid: item Element} from a roster result or push."""
    query = roster_query(st)
    assert query is not None, "no roster query in %s" % _summary(st)
    return {i.get("jid"): i for i in query.findall(q("item", NS_ROSTER))}


def is_roster_push(jid=None, subscription=None, ask=None, owner=None):
    """A roster push (iq set with one item). owner: the user's bare JID; a push must come
    from it or carry no 'from' (RFC 6121 2.1.6)."""
    def pred(st):
        if st.name != "iq" or st["type"] != "set" or roster_query(st) is None:
            return False
        frm = st.xml.get("from")
        if owner is not None and frm not in (None, owner):
            return False
        items = roster_items(st)
        if jid is None:
            return True
        item = items.get(jid)
        return (item is not None and (subscription is None or item.get("subscription", "none") == subscription)
                and (ask is None or item.get("ask") == (ask or None)))
    return pred


def roster_get(c):
    r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
    assert r["type"] == "result", "roster get failed: %s" % _summary(r)
    return roster_items(r)


def roster_set(c, jid, name=None, groups=(), subscription=None):
    attrs = " jid=%s" % quoteattr(jid)
    if name is not None:
        attrs += " name=%s" % quoteattr(name)
    if subscription is not None:
        attrs += " subscription=%s" % quoteattr(subscription)
    body = "".join("<group>%s</group>" % xml_escape(g) for g in groups)
    return c.iq("set", "<query xmlns='%s'><item%s>%s</item></query>" % (NS_ROSTER, attrs, body))


def subscribe_both(ca, cb, timeout=5):
    """The full RFC 6121 handshake in both directions between two logged-in clients that
    have sent initial presence; returns when both rosters say 'both'."""
    a, b = bare(ca.full_jid), bare(cb.full_jid)
    ca.send_presence(to=b, ptype="subscribe")
    cb.wait_for(is_presence(frm=a, ptype="subscribe"), timeout, "subscribe from %s" % a)
    cb.send_presence(to=a, ptype="subscribed")
    ca.wait_for(is_presence(frm=b, ptype="subscribed"), timeout, "subscribed from %s" % b)
    cb.send_presence(to=a, ptype="subscribe")
    ca.wait_for(is_presence(frm=b, ptype="subscribe"), timeout, "subscribe from %s" % b)
    ca.send_presence(to=b, ptype="subscribed")
    cb.wait_for(is_presence(frm=a, ptype="subscribed"), timeout, "subscribed from %s" % a)
    ca.wait_for(is_roster_push(b, "both"), timeout, "roster push: %s both" % b)
    cb.wait_for(is_roster_push(a, "both"), timeout, "roster push: %s both" % a)


def iq_error_condition(resp):
    assert resp["type"] == "error", "expected an error, got %s" % _summary(resp)
    return stanza_error_condition(resp)


class ChatPair:
    """Two logged-in clients; check() proves messages still flow both ways."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.n = 0

    def check(self, timeout=5):
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            self.n += 1
            body = "still-chatting-%d" % self.n
            src.send_message(dst.full_jid, body)
            dst.wait_for(lambda s, body=body: s.name == "message" and s["body"] == body,
                         timeout, "chat message %r" % body)


def scram_secret(mech, password, iterations=4096, salt=None):
    """An RFC 5803 value: MECH$iter:salt$StoredKey:ServerKey (what xmppScramSecret holds)."""
    hname = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech]
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hname).digest()
    stored = hashlib.new(hname, client_key).digest()
    server = hmac.new(salted, b"Server Key", hname).digest()
    e = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return "%s$%d:%s$%s:%s" % (mech, iterations, e(salt), e(stored), e(server))


def try_login(node, user, password, mech="SCRAM-SHA-256", timeout=10):
    """One login attempt on a fresh direct-TLS stream: True on <success/>, False on
    <failure/> (which the node delays)."""
    r = RawStream(node.c2s_tls_port, direct_tls=True, timeout=timeout)
    try:
        r.open()
        if mech == "PLAIN":
            el = r.sasl_plain(user, password)
        else:
            el = r.sasl_scram(mech, user, password)
        if is_success(el):
            return True
        sasl_failure_condition(el)
        return False
    finally:
        r.close()


def within(seconds, check, what):
    """Polls check() until it is true; fails unless an attempt that STARTED within
    `seconds` of now saw it true (a failing login attempt itself takes the failure
    delay, so the start of each attempt is what counts)."""
    t0 = time.monotonic()
    while True:
        started = time.monotonic()
        if check():
            return started - t0
        if time.monotonic() - t0 >= seconds:
            raise AssertionError("%s: not seen within %.1fs (last attempt started at +%.2fs)" % (
                what, seconds, started - t0))


# --------------------------------------------------------------------------------------
# Labels and clearances from their text forms, with palisadectl (as an operator would)


class Palisadectl:
    def __init__(self, path):
        self.path = path

    @functools.lru_cache(maxsize=None)
    def check(self, label, clearance=SECRET_CLEARANCE):
        """`palisadectl label check` output as {key: value} (ess, der, marking, read...)."""
        args = [self.path]
        for f in SPIFS:
            args += ["--spif", f]
        p = sh(args + ["label", "check", "--clearance", clearance, "--label", label], check=False)
        assert p.returncode in (0, 1), "palisadectl label check failed: %s%s" % (p.stdout, p.stderr)
        out = {}
        for line in p.stdout.splitlines():
            k, _, v = line.partition(" ")
            out.setdefault(k, v.strip())
        return out

    def ess(self, label):
        """The base64 ESS security label (what <esssecuritylabel/> carries)."""
        return self.check(label)["ess"]

    def clearance_der(self, clearance):
        """The base64 DER of a clearance (what xmppClearance holds)."""
        return self.check(UNCLASSIFIED, clearance)["der"]
