# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the cluster tests (test_cluster.py loads this module as a plugin with
`pytest_plugins`): a cluster of three nodes of the sanitized build started with
scripts/cluster-dev.sh against the session's slapd (conftest.py), clients that pick
their node, and the health checks of the cluster's nodes.

Ports: the run's block of conftest.py (PORT_BASE + n, n < 100; conftest uses the
offsets in its USED_PORT_OFFSETS) gives the cluster PORT_BASE+70 (the port every node
shares, SO_REUSEPORT), +71..+73 (node K's own port), +74..+75 (the nodes
test_node_refused starts), and the partition test +76..+77 (its nodes' client ports),
+80 (its slapd) and +81..+82 (its tcp cluster endpoints).

PALISADE_CLUSTER_LOG_LEVEL=debug in the environment gives the cluster's nodes that log
level (default info), for investigations.

Health: a cluster node that logs a sanitizer report fails the test during which it
did (and the module's end); a node that dies without the test killing it fails the
test; at the end every node is stopped with SIGTERM (cluster-dev.sh stop) and must exit
with status 0. A failed test's report shows what each cluster node logged during it."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import harness as H

CLUSTER_OFFSETS = dict(shared=70, own=71, extra=74, cluster_tcp=81)
CLUSTER_SIZE = 3
HEARTBEAT_MS = 100
DEAD_AFTER_MS = 1000

_clusters = []  # every Cluster of the session, for the report hook


def _conftest():
    """The root conftest module pytest loaded (its PORT_BASE and BUILD are the run's)."""
    mod = sys.modules.get("conftest")
    if mod is None or not hasattr(mod, "PORT_BASE"):
        raise RuntimeError("cluster_fixtures needs test/integration/conftest.py loaded")
    return mod


def cluster_port(name, k=0):
    return _conftest().PORT_BASE + CLUSTER_OFFSETS[name] + k


def node_env(build_dir):
    """The environment of cluster-dev.sh and node-dev.sh: the sanitized binaries, and the
    sanitizer options the rest of the suite uses (harness.Node.start)."""
    return {"PALISADE": str(build_dir / "node/palisade"),
            "PALISADECTL": str(build_dir / "node/palisadectl"),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
            "UBSAN_OPTIONS": "print_stacktrace=1",
            "NODE_READY_TIMEOUT": "30"}


class ClusterNode:
    """Node K of a cluster-dev.sh cluster: DIR/nodeK with node.cfg, node.log, node.pid,
    node.exit and ctl.sock (its control socket)."""

    def __init__(self, cluster, k):
        self.cluster = cluster
        self.k = k
        self.name = "node%d" % k
        self.dir = cluster.dir / self.name
        self.port = cluster.port_base + k - 1      # its own STARTTLS port
        self.c2s_port = self.port                  # (what harness-style helpers read)
        self.expect_running = False
        self.checked_bytes = 0                     # health: sanitizer reports seen so far
        self.old_logs = []                         # logs of earlier runs (before a restart)

    @property
    def log_path(self):
        return self.dir / "node.log"

    @property
    def ctl_socket(self):
        return self.dir / "ctl.sock"

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def all_logs(self):
        return "".join(p.read_text(errors="replace") for p in self.old_logs) + self.log_text()

    def pid(self):
        try:
            return int((self.dir / "node.pid").read_text())
        except (OSError, ValueError):
            return None

    def alive(self):
        pid = self.pid()
        if pid is None or (self.dir / "node.exit").exists():
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def exit_status(self):
        try:
            return (self.dir / "node.exit").read_text().strip()
        except OSError:
            return None

    def sanitizer_report(self, since=0):
        return H.sanitizer_report(self.log_text()[since:])

    def health_problem(self):
        problem = None
        report = self.sanitizer_report(self.checked_bytes)
        if report:
            problem = "cluster %s logged a sanitizer report:\n%s" % (self.name, report)
        elif self.expect_running and not self.alive():
            problem = "cluster %s is no longer running (exit status %s); log tail:\n%s" % (
                self.name, self.exit_status(), self.log_text()[-4000:])
            self.expect_running = False
        self.checked_bytes = len(self.log_text())
        return problem

    def wait_log(self, pattern, since=0, timeout=5, what=None):
        rx = re.compile(pattern)
        return H.poll(lambda: rx.search(self.log_text()[since:]), timeout,
                      what or "/%s/ in the log of %s" % (pattern, self.name))

    def status(self):
        """`palisadectl node status` through the control socket: (header line,
        {member: dict(site, state, sessions, heard_ms, queue, endpoint)}), or None when
        the node does not answer."""
        p = H.sh([self.cluster.palisadectl, "node", "status", self.ctl_socket], check=False,
                 timeout=10)
        if p.returncode != 0:
            return None
        lines = p.stdout.splitlines()
        members = {}
        for line in lines[2:]:
            f = line.split()
            if len(f) >= 7:
                members[f[0]] = dict(site=f[1], state=f[2], sessions=int(f[3]),
                                     heard_ms=int(f[4]), queue=int(f[5]), endpoint=f[6])
        return (lines[0] if lines else ""), members

    def member_states(self):
        st = self.status()
        return None if st is None else {m: v["state"] for m, v in st[1].items()}

    def __repr__(self):
        return "ClusterNode(%s, port %d)" % (self.name, self.port)


class Cluster:
    """A cluster started by scripts/cluster-dev.sh from DIR."""

    def __init__(self, dir, n, *, slapd, build_dir, shared_port, port_base, transport="ipc",
                 cluster_port_base=None, extra=()):
        self.dir = Path(dir)
        self.n = n
        self.slapd = slapd
        self.build_dir = Path(build_dir)
        self.palisadectl = self.build_dir / "node/palisadectl"
        self.shared_port = shared_port
        self.port_base = port_base
        self.transport = transport
        self.cluster_port_base = cluster_port_base
        self.extra = list(extra)
        self.env = node_env(self.build_dir)
        self.nodes = [ClusterNode(self, k) for k in range(1, n + 1)]
        self.script = H.SCRIPTS / "cluster-dev.sh"
        self.started = False

    def node(self, k):
        return self.nodes[k - 1]

    def _run(self, *args, check=True, timeout=120):
        return H.sh([self.script] + [str(a) for a in args], env=self.env, check=check,
                    timeout=timeout)

    def start(self):
        ports = [self.shared_port] + [self.port_base + i for i in range(self.n)]
        if self.transport == "tcp":
            ports += [self.cluster_port_base + i for i in range(self.n)]
        busy = [p for p in ports if not H.port_free(p)]
        if busy:
            raise RuntimeError("cluster ports in use: %s (another test run?)" % busy)
        args = ["start", self.dir, self.n, "--ldap-env", self.slapd.dir / "env",
                "--domain", H.DOMAIN, "--shared-port", self.shared_port,
                "--port-base", self.port_base, "--transport", self.transport,
                "--heartbeat-ms", HEARTBEAT_MS, "--dead-after-ms", DEAD_AFTER_MS]
        if self.transport == "tcp":
            args += ["--cluster-port-base", self.cluster_port_base]
        args += ["--"]
        for f in H.SPIFS:
            args += ["--spif", f]
        args += ["--trace", "ldap"] + self.extra
        if os.environ.get("PALISADE_CLUSTER_LOG_LEVEL"):  # e.g. debug, when investigating
            args += ["--log-level", os.environ["PALISADE_CLUSTER_LOG_LEVEL"]]
        self.started = True  # stop() from here on, even if start fails half-way
        self._run(*args)
        for nd in self.nodes:
            nd.expect_running = True

    def kill(self, k):
        """kill -9 of node K (cluster-dev.sh kill); returns once the process is gone."""
        nd = self.node(k)
        nd.expect_running = False
        self._run("kill", self.dir, k, timeout=30)

    def restart(self, k):
        """cluster-dev.sh restart: the node's previous log is kept aside (node-dev.sh
        start truncates node.log) and still checked for sanitizer reports."""
        nd = self.node(k)
        if nd.log_path.exists():
            report = nd.sanitizer_report(nd.checked_bytes)
            keep = nd.dir / ("node.log.%d" % (len(nd.old_logs) + 1))
            shutil.copyfile(nd.log_path, keep)
            nd.old_logs.append(keep)
            if report:
                raise AssertionError("%s logged a sanitizer report before its restart:\n%s" % (
                    nd.name, report))
        nd.checked_bytes = 0
        nd.expect_running = False
        self._run("restart", self.dir, k, timeout=90)
        nd.checked_bytes = 0
        nd.expect_running = True

    def stop(self):
        """SIGTERM to every node; returns a list of problems (non-zero exits, sanitizer
        reports)."""
        if not self.started:
            return []
        self.started = False
        problems = []
        p = self._run("stop", self.dir, check=False, timeout=120)
        if p.returncode != 0:
            problems.append("cluster-dev.sh stop failed (exit %d):\n%s%s" % (
                p.returncode, p.stdout, p.stderr))
        for nd in self.nodes:
            st = nd.exit_status()
            killed = (nd.dir / "killed").exists()
            if st not in (None, "0") and not killed:
                problems.append("%s exited with status %s (log %s)" % (nd.name, st, nd.log_path))
            for log in nd.old_logs + [nd.log_path]:
                try:
                    text = log.read_text(errors="replace")
                except OSError:
                    continue
                for m in H.SANITIZER_MARKERS:
                    if m in text:
                        i = text.find(m)
                        problems.append("%s logged a sanitizer report (%s):\n%s" % (
                            nd.name, log, text[max(0, i - 200):][:20000]))
                        break
        return problems

    def health_problems(self):
        return [p for p in (nd.health_problem() for nd in self.nodes) if p]

    def wait_members_up(self, on_k, names, timeout=10):
        """Polls `palisadectl node status` of node on_k until every named member is up
        (or self); returns the member states."""
        want = set(names)

        def check():
            states = self.node(on_k).member_states()
            if states and all(states.get(m) in ("up", "self") for m in want):
                return states
            return None
        return H.poll(check, timeout, "%s to report %s up (palisadectl node status)" % (
            self.node(on_k).name, sorted(want)), interval=0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, slapd, pool, build_dir):
    """Three nodes (cluster-dev.sh start DIR 3) of the sanitized build against the
    session's slapd, ipc links, heartbeat 100 ms, dead after 1000 ms, the sample
    policies; node K on 127.0.0.1:cluster.node(K).port and all on cluster.shared_port.
    Stopped (SIGTERM) at the module's end: a non-zero exit or a sanitizer report fails."""
    c = Cluster(tmp_path_factory.mktemp("cluster"), CLUSTER_SIZE, slapd=slapd,
                build_dir=build_dir, shared_port=cluster_port("shared"),
                port_base=cluster_port("own"))
    _clusters.append(c)
    try:
        c.start()
        for k in range(1, CLUSTER_SIZE + 1):
            c.wait_members_up(k, ["node%d" % j for j in range(1, CLUSTER_SIZE + 1)], timeout=15)
        yield c
    finally:
        problems = c.stop()
        _clusters.remove(c)
        if problems:
            print("\n".join(problems))
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def cluster_health(cluster):
    """Per test: the cluster's nodes logged no sanitizer report and none died unless the
    test killed it."""
    marks = {nd.name: len(nd.log_text()) for nd in cluster.nodes}
    cluster.log_marks = marks
    yield cluster
    problems = cluster.health_problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def cclient(harness):
    """cclient(user, port, resource=None, plugins=None, connect=True, host=None) ->
    H.Client on 127.0.0.1:port (a node's own port, or the shared one; another address
    with host) over STARTTLS."""
    def make(user, port, *, resource=None, plugins=None, connect=True, timeout=8, host=None):
        jid = user.jid if resource is None else "%s/%s" % (user.jid, resource)
        kw = {} if plugins is None else {"plugins": plugins}
        c = harness.client(jid, user.password, port=port, direct_tls=False, **kw)
        if host is not None:
            c.x._forced_addr = (host, port)  # harness clients dial 127.0.0.1 otherwise
        if connect:
            c.connect(timeout=timeout)
        return c
    return make


# ---- a link cut: two nodes, one of them in a network namespace

PARTITION_NET = "10.231"   # 10.231.0.0/30: the cluster link; 10.231.1.0/30: clients


# `ip netns add` bind-mounts /run/netns on first use and nothing unmounts it; a test
# leaves the host as it found it, so the mount goes when this process made it.
def netns_mounted():
    # os.path.ismount cannot see a bind mount within one filesystem
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == "/run/netns" for line in f if len(line.split()) > 1)
    except OSError:
        return False


NETNS_WAS_MOUNTED = netns_mounted()


def undo_netns_mount():
    if NETNS_WAS_MOUNTED or not netns_mounted():
        return
    try:
        if os.listdir("/run/netns"):
            return  # someone else's namespaces live there now
    except OSError:
        return
    H.sh(["umount", "/run/netns"], check=False)


def netns_unavailable_reason():
    """None when this process can make network namespaces and veth pairs (root and a
    working `ip netns`), else why not: the partition test skips with it."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and veth pairs), running as uid %d" % os.geteuid()
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = "palprobe%d" % os.getpid()
    p = H.sh(["ip", "netns", "add", probe], check=False)
    if p.returncode != 0:
        return "`ip netns add` fails here: %s" % (p.stderr.strip() or p.stdout.strip())
    try:
        p = H.sh(["ip", "netns", "exec", probe, "ip", "link", "set", "lo", "up"], check=False)
        if p.returncode != 0:
            # e.g. in a chroot, where / is not a mount point
            return "`ip netns exec` fails here: %s" % (p.stderr.strip() or p.stdout.strip())
        p = H.sh(["ip", "link", "add", probe[:12] + "a", "type", "veth", "peer", "name",
                  probe[:12] + "b", "netns", probe], check=False)
        if p.returncode != 0:
            return "cannot make a veth pair into a namespace: %s" % p.stderr.strip()
        H.sh(["ip", "link", "del", probe[:12] + "a"], check=False)
    finally:
        H.sh(["ip", "netns", "del", probe], check=False)
        undo_netns_mount()
    for net in ("%s.0.1" % PARTITION_NET, "%s.1.1" % PARTITION_NET):
        r = H.sh(["ip", "route", "get", net], check=False).stdout
        if " dev lo " in r or "local " in r or (" via " not in r and r.strip()):
            return "%s is already in use on this host: %s" % (net, r.strip())
    return None


class PartitionLab:
    """Two cluster nodes against their own slapd (so the session cluster's directory,
    whose every xmppNode entry is a member, is not involved): p1 in this network
    namespace, p2 in a namespace of its own. Links are tcp over a veth pair
    (p1 tcp://10.231.0.1, p2 tcp://10.231.0.2): cutting it (cut()) cuts both directions
    of the link between the two nodes and nothing else. Clients
    reach p1 on 127.0.0.1 and p2 over a second veth pair (10.231.1.2), which stays up.
    p2 reads the directory through slapd's ldapi socket (a path: not bound to a
    namespace)."""

    def __init__(self, dir, build_dir):
        self.dir = Path(dir)
        self.build_dir = Path(build_dir)
        self.ctl = self.build_dir / "node/palisadectl"
        self.ns = "palpart%d" % os.getpid()
        tag = "pp%d" % (os.getpid() % 100000)
        self.link_root, self.link_ns = tag + "l0", tag + "l1"      # cluster link
        self.cli_root, self.cli_ns = tag + "c0", tag + "c1"        # clients of p2
        self.slapd = None
        self.nodes = {}
        self.ns_made = False
        self.env = node_env(self.build_dir)

    def ip(self, *args, ns=False):
        cmd = (["ip", "netns", "exec", self.ns] if ns else []) + ["ip"] + [str(a) for a in args]
        return H.sh(cmd)

    def start(self):
        pb = _conftest().PORT_BASE
        self.slapd = H.Slapd(self.dir / "slapd", pb + 80, self.ctl)
        if not H.port_free(pb + 80):
            raise RuntimeError("port %d is in use" % (pb + 80))
        self.slapd.start()
        self.pool = H.UserPool(self.slapd)
        self.pool.create(4)
        # the namespace and its two veth pairs
        self.ip("netns", "add", self.ns)
        self.ns_made = True
        self.ip("link", "set", "lo", "up", ns=True)
        for root, inner, net in ((self.link_root, self.link_ns, 0), (self.cli_root, self.cli_ns, 1)):
            self.ip("link", "add", root, "type", "veth", "peer", "name", inner, "netns", self.ns)
            self.ip("addr", "add", "%s.%d.1/30" % (PARTITION_NET, net), "dev", root)
            self.ip("link", "set", root, "up")
            self.ip("addr", "add", "%s.%d.2/30" % (PARTITION_NET, net), "dev", inner, ns=True)
            self.ip("link", "set", inner, "up", ns=True)
        # p2's directory access: the ldapi socket
        env2 = self.dir / "slapd-ldapi.env"
        text = (self.slapd.dir / "env").read_text()
        env2.write_text(re.sub(r"(?m)^LDAP_URI=.*$", "LDAP_URI='%s'" % self.slapd.env["LDAPI_URI"],
                               text))
        specs = {"p1": dict(addr="%s.0.1" % PARTITION_NET, port=pb + 81, c2s="127.0.0.1:%d" % (pb + 76),
                            env=self.slapd.dir / "env", ns=False),
                 "p2": dict(addr="%s.0.2" % PARTITION_NET, port=pb + 82,
                            c2s="%s.1.2:%d" % (PARTITION_NET, pb + 77), env=env2, ns=True)}
        H.sh([H.SCRIPTS / "gen-cert.sh", self.dir / "tls", H.DOMAIN])
        for name, sp in specs.items():
            d = self.dir / name
            d.mkdir()
            H.sh([self.ctl, "node", "keygen", "--secret-file", d / "curve.secret"])
            H.sh([self.ctl, "--env", self.slapd.dir / "env", "node", "add", name,
                  "tcp://%s:%d" % (sp["addr"], sp["port"]), "--secret-file", d / "curve.secret"])
            H.sh([H.SCRIPTS / "node-dev.sh", "config", d, "--name", name, "--domain", H.DOMAIN,
                  "--c2s", sp["c2s"], "--ldap-env", sp["env"], "--cert", self.dir / "tls/cert.pem",
                  "--key", self.dir / "tls/key.pem", "--cluster-secret-file", d / "curve.secret",
                  "--heartbeat-ms", HEARTBEAT_MS, "--dead-after-ms", DEAD_AFTER_MS,
                  "--trace", "ldap"] + [a for f in H.SPIFS for a in ("--spif", f)])
            self.nodes[name] = LabNode(self, name, d, sp)
        for name, sp in specs.items():
            cmd = [H.SCRIPTS / "node-dev.sh", "start", self.dir / name]
            if sp["ns"]:
                cmd = ["ip", "netns", "exec", self.ns] + cmd
            self.nodes[name].expect_running = True
            H.sh(cmd, env=self.env, timeout=60)

    def cut(self):
        """The link cut: p2's end of the veth pair goes down. p2 can send nothing to p1
        (its route to 10.231.0.0/30 is gone, and its namespace has no other), and p1's
        end loses its carrier: its route stays and what p1 sends to p2 is dropped
        silently, as on a cut cable. (Taking p1's end down instead would remove p1's
        route, and p1 would then reach for 10.231.0.2 through its default route: on a
        host whose default gateway answers any TCP connection, as some sandboxes'
        egress proxies do, the node's connection would go there.)"""
        self.ip("link", "set", self.link_ns, "down", ns=True)

    def heal(self):
        self.ip("link", "set", self.link_ns, "up", ns=True)

    def stop(self):
        problems = []
        for nd in self.nodes.values():
            if not nd.expect_running and not nd.alive():
                continue
            nd.expect_running = False
            p = H.sh([H.SCRIPTS / "node-dev.sh", "stop", nd.dir], check=False, timeout=60)
            if p.returncode != 0:
                problems.append("stopping %s failed: %s%s" % (nd.name, p.stdout, p.stderr))
            report = nd.sanitizer_report()
            if report:
                problems.append("%s logged a sanitizer report:\n%s" % (nd.name, report))
        if self.ns_made:
            H.sh(["ip", "link", "del", self.link_root], check=False)
            H.sh(["ip", "link", "del", self.cli_root], check=False)
            H.sh(["ip", "netns", "del", self.ns], check=False)
            undo_netns_mount()
            self.ns_made = False
        if self.slapd is not None and self.slapd.env:
            self.slapd.stop()
        return problems


class LabNode(ClusterNode):
    """A node of the PartitionLab (same files as a cluster-dev.sh node)."""

    def __init__(self, lab, name, d, spec):
        self.cluster = lab  # ClusterNode.status() needs .palisadectl
        lab.palisadectl = lab.ctl
        self.k = None
        self.name = name
        self.dir = Path(d)
        self.host, _, port = spec["c2s"].rpartition(":")
        self.port = int(port)
        self.c2s_port = self.port
        self.expect_running = False
        self.checked_bytes = 0
        self.old_logs = []


@pytest.fixture
def partition_lab(tmp_path_factory, build_dir):
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip("link cut with a network namespace: " + reason)
    lab = PartitionLab(tmp_path_factory.mktemp("part"), build_dir)
    _clusters.append(lab)
    try:
        lab.start()
        yield lab
    finally:
        problems = lab.stop()
        _clusters.remove(lab)
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


# ---- reports

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed cluster test's report shows what each cluster node logged while it ran
    (last 120 lines each)."""
    outcome = yield
    rep = outcome.get_result()
    if not (rep.failed and call.when != "teardown" and
            item.fspath.basename in ("test_cluster.py", "test_muc_cluster.py")):
        return
    used = [c for c in _clusters
            if any(c is v for v in getattr(item, "funcargs", {}).values())]
    for c in used:
        marks = getattr(c, "log_marks", {})
        for nd in (c.nodes.values() if isinstance(c.nodes, dict) else c.nodes):
            for log in nd.old_logs:
                lines = log.read_text(errors="replace").splitlines()
                rep.sections.append(("cluster %s earlier log (%s)" % (nd.name, log),
                                     "\n".join(lines[-120:])))
            text = nd.log_text()
            mark = marks.get(nd.name, 0)
            lines = text[mark if mark <= len(text) else 0:].splitlines()
            if lines:
                rep.sections.append(("cluster %s log during the test (%s)" % (nd.name, nd.log_path),
                                     "\n".join(lines[-120:])))


def run_bg(cmd, env=None):
    """A command in the background (subprocess.Popen), for a test's own helpers."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.Popen([str(c) for c in cmd], env=full, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
