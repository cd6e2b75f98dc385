#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# compare.sh - Palisade against Prosody on this machine, side by side.
#
# Starts a scratch slapd (scripts/slapd-dev.sh, port 3990) with the bench users
# bench00000..benchNNNNN@localhost (password bench-secret, imported with
# palisadectl user import, all given a SECRET clearance), a Palisade node
# (build/, RelWithDebInfo without sanitizers; c2s 16222 with tls.required false,
# direct TLS 16223; policy.spif = the sample policy) and a Prosody (Debian's
# 0.12, own config and data in the scratch folder, c2s 16322, direct TLS 16323,
# the same users written straight into its internal_hashed account files). Each
# server and its helpers are pinned to CPU 0, the load generator
# (palisade-bench) to CPU 1. Every scenario runs against each server in turn,
# A B A B, each run on a freshly started server; the table shows the better of
# the two rounds of each figure. Loopback only; everything started here is
# stopped on exit (also on Ctrl-C).
#
# Two scenarios go beyond one node against Prosody:
# - cross-node messages: a two-node Palisade cluster (scripts/cluster-dev.sh on
#   the same slapd: CURVE keys, xmppNode entries, ipc links; c2s 16231 on node1
#   and 16232 on node2), each pair's sender on node1 and its receiver on node2,
#   against the same one-way pairs on the single node. Prosody has no cluster:
#   the table shows one node against two. Both nodes and slapd are pinned to
#   CPU 0 and their CPU is summed.
# - MUC fan-out: R rooms of M occupants on both servers (Palisade's
#   conference.localhost; Prosody's muc component, configured below), S senders
#   per room, deliveries = messages x M.
#
# Usage: test/bench/compare.sh [--quick | --full] [--out FILE] [--rounds N]
#                              [--build DIR] [--no-build] [--keep] [--wait-quiet SECONDS]
#                              [--only GROUPS]
#   --quick        small counts, under 4 minutes (default)
#   --full         larger counts and more rates (10,000 idle TLS sessions), under 15 minutes
#   --out FILE     the markdown table (default test/bench/results.md)
#   --rounds N     rounds per scenario and server (default 2)
#   --build DIR    the Palisade build to measure (default build/); it must not be
#                  a sanitizer build
#   --no-build     use the build as it is (default: scripts/build.sh DIR first)
#   --keep         keep the scratch folder (logs, configs, raw RESULT lines)
#   --wait-quiet S wait up to S seconds for the 1-minute load average to drop
#                  under 0.5 before measuring (default 0: measure at once)
#   --only GROUPS  run only these scenario groups (comma-separated: login,
#                  messages, labelled, cluster, muc, idle); the table then has
#                  only their rows and goes to the scratch folder unless --out
#                  names a file (for trying things out, not for results.md)
#
# Idle memory is read IDLE_SETTLE_S (3) seconds after the last session came
# up: Palisade gives back an idle stream's parser after 1-2 seconds without
# input (node/c2s.c), so a reading after one second would catch the newest
# sessions before that. Both servers get the same wait.
#
# Prosody runs with only roster, saslauth, tls and disco (plus the modules it
# always loads: c2s, presence, message, iq, offline); s2s is disabled, and the
# Debian defaults that would skew the comparison are off: limits (a 10 kB/s
# c2s rate limit), carbons, smacks, csi_simple, blocklist, pep, mam, vcard,
# register, admin modules. Its passwords are SCRAM-SHA-256 with 4096
# iterations, like Palisade's. Its MUC component (conference.localhost) lets
# anyone create rooms (restrict_room_creation false), locks a new room until
# its owner accepts the instant room, as Palisade does, and has no tombstones
# and no XEP-0421 occupant ids (Palisade adds none); Prosody has no MUC rate
# limits. Both keep their default room history (Prosody 20 messages, Palisade
# 50), which the occupants never receive: they join with maxstanzas='0'.
# Palisade's CPU figures include slapd's (PLAIN is checked with an LDAP bind);
# its memory figures are the node's alone.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

mode=quick
out=$top/test/bench/results.md
rounds=2
build=yes
builddir=
keep=
wait_quiet=0
only_groups=
out_given=
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) mode=quick ;;
        --full) mode=full ;;
        --out) out=$2; out_given=yes; shift ;;
        --rounds) rounds=$2; shift ;;
        --no-build) build= ;;
        --keep) keep=yes ;;
        --wait-quiet) wait_quiet=$2; shift ;;
        --build) builddir=$2; shift ;;
        --only) only_groups=,$2,; shift ;;
        -h|--help) sed -n '3,64p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
builddir=${builddir:-$top/build}
case "$builddir" in /*) ;; *) builddir=$PWD/$builddir ;; esac
started_at=$SECONDS

say() { printf 'compare: %s\n' "$*"; }
die() { printf 'compare: error: %s\n' "$*" >&2; exit 1; }

LDAP_PORT=3990
PAL_PORT=16222
PAL_TLS_PORT=16223
PRO_PORT=16322
PRO_TLS_PORT=16323
CL_SHARED_PORT=16230   # the cluster's shared port (unused by the scenarios)
CL_PORT_BASE=16231     # node1's own c2s port; node2's is the next one
DOMAIN=localhost
PASSWORD=bench-secret
SPIF=$top/policy/spif/palisade-sample.xml
CLEARANCE='policy=PALISADE class=SECRET categories=NATO,EU,GBR,FRA,DEU,USA'
LABEL='policy=PALISADE class=CONFIDENTIAL categories=NATO,GBR'

# IDLE_TLS_N is compared with Prosody (which sets up about 100 TLS sessions/s);
# MANY_TLS_N sessions are held on Palisade alone (issue 5: 10,000 without errors).
if [ "$mode" = quick ]; then
    USERS=1000
    LOGIN_SCRAM_N=800; LOGIN_TLS_N=200; LOGIN_USERS=300; LOGIN_C=50
    PAIRS=50; WARM_S=0.5; DUR_S=1.5
    RATES="2000 10000"
    LABEL_RATES=""
    IDLE_N=1000; IDLE_TLS_N=600; IDLE_HOLD=1; MANY_TLS_N=0; IDLE_SETTLE_S=3
    CL_PAIRS=50; CL_RATES="10000"
    MUC_ROOMS=10; MUC_OCC=20; MUC_SENDERS=2; MUC_RATES="250"
else
    USERS=10000
    LOGIN_SCRAM_N=3000; LOGIN_TLS_N=600; LOGIN_USERS=1000; LOGIN_C=50
    PAIRS=50; WARM_S=1; DUR_S=4
    RATES="2000 5000 10000"
    LABEL_RATES="2000"
    IDLE_N=3000; IDLE_TLS_N=1500; IDLE_HOLD=3; MANY_TLS_N=10000; IDLE_SETTLE_S=3
    CL_PAIRS=50; CL_RATES="2000 10000"
    MUC_ROOMS=10; MUC_OCC=20; MUC_SENDERS=2; MUC_RATES="100 250"
fi
# want GROUP: is this scenario group to run (--only)?
want() { [ -z "$only_groups" ] || [[ $only_groups == *",$1,"* ]]; }

# ---- preconditions ----

for t in prosody setpriv taskset python3 ldapmodify ss; do
    command -v "$t" >/dev/null || die "$t is missing (scripts/deps.sh --bench installs what the benchmark needs)"
done
[ "$(nproc)" -ge 2 ] || die "this needs two CPUs (server on CPU 0, load generator on CPU 1)"
for p in $LDAP_PORT $PAL_PORT $PAL_TLS_PORT $PRO_PORT $PRO_TLS_PORT $CL_SHARED_PORT \
    $CL_PORT_BASE $((CL_PORT_BASE + 1)); do
    if ss -Hltn "sport = :$p" | grep -q .; then
        die "port $p is in use (ss -ltnp 'sport = :$p'); another benchmark running?"
    fi
done
# What is measured: the tree as built now (others may commit while this runs).
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$top" diff --quiet HEAD -- core node policy directory cluster 2>/dev/null; then
    commit+=" plus uncommitted changes in the working tree"
fi
if [ -n "$build" ]; then
    say "building Palisade (scripts/build.sh $builddir, RelWithDebInfo, no sanitizers)"
    scripts/build.sh "$builddir" >/dev/null || die "the build failed: run scripts/build.sh to see why"
fi
PALISADE=$builddir/node/palisade
PALISADECTL=$builddir/node/palisadectl
BENCH=$builddir/test/bench/palisade-bench
for b in "$PALISADE" "$PALISADECTL" "$BENCH"; do
    [ -x "$b" ] || die "no $b: run scripts/build.sh"
done
if grep -q '^SANITIZE:BOOL=ON' "$builddir/CMakeCache.txt" 2>/dev/null; then
    die "$builddir is a sanitizer build; measurements need scripts/build.sh DIR (no --sanitize)"
fi

# ---- scratch folder and cleanup ----

scratch=$(mktemp -d /tmp/palisade-bench.XXXXXX)
chmod 755 "$scratch"
# A partial run (--only) does not replace results.md unless asked to.
[ -z "$only_groups" ] || [ -n "$out_given" ] || out=$scratch/results.md
slapd_up=
node_up=
cluster_up=
prosody_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$prosody_pid" ]; then
        say "stopping Prosody (pid $prosody_pid)"
        stop_prosody
    fi
    if [ -n "$cluster_up" ]; then
        say "stopping the two-node cluster"
        stop_cluster
    fi
    if [ -n "$node_up" ]; then
        say "stopping the Palisade node"
        PALISADE=$PALISADE scripts/node-dev.sh stop "$scratch/node" >/dev/null || true
    fi
    if [ -n "$slapd_up" ]; then
        say "stopping slapd"
        scripts/slapd-dev.sh stop "$scratch/slapd" >/dev/null || true
    fi
    if [ -n "$keep" ]; then
        say "kept $scratch (logs, configs, raw results in $scratch/results.txt)"
    else
        rm -rf "$scratch"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM

# ---- the directory and the users ----

say "scratch folder $scratch; mode $mode, $rounds rounds, $USERS users"
say "starting slapd on 127.0.0.1:$LDAP_PORT (scripts/slapd-dev.sh)"
scripts/slapd-dev.sh start "$scratch/slapd" "$LDAP_PORT" >"$scratch/slapd-dev.log" 2>&1 ||
    { cat "$scratch/slapd-dev.log" >&2; die "slapd did not start"; }
slapd_up=yes
slapd_pid=$(cat "$scratch/slapd/slapd.pid")
taskset -a -p -c 0 "$slapd_pid" >/dev/null

ctl() { "$PALISADECTL" --env "$scratch/slapd/env" --spif "$SPIF" --domain "$DOMAIN" "$@"; }
say "importing $USERS users bench00000..bench$(printf %05d $((USERS - 1))) (palisadectl user import)"
for ((i = 0; i < USERS; i++)); do printf 'bench%05d@%s %s\n' "$i" "$DOMAIN" "$PASSWORD"; done \
    >"$scratch/users.txt"
ctl user import "$scratch/users.txt" | sed 's/^/  /' || die "the import failed"

say "clearance for every bench user: $CLEARANCE (one ldapmodify, DER from palisadectl label check)"
check=$(ctl label check --clearance "$CLEARANCE" --label "$LABEL") ||
    die "palisadectl label check failed: $check"
der=$(awk '$1 == "der" { print $2 }' <<<"$check")
ess=$(awk '$1 == "ess" { print $2 }' <<<"$check")
marking=$(sed -n 's/^marking *"\(.*\)".*/\1/p' <<<"$check")
[ -n "$der" ] && [ -n "$ess" ] || die "no DER in: $check"
(
    set +u
    . "$scratch/slapd/env"
    for ((i = 0; i < USERS; i++)); do
        printf 'dn: uid=bench%05d,%s\nchangetype: modify\nreplace: xmppClearance\nxmppClearance:: %s\n\n' \
            "$i" "$LDAP_USERS" "$der"
    done | ldapmodify -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_ADMIN_SECRET_FILE" >/dev/null
) || die "setting the clearances failed"
label_file=$scratch/label.xml
printf "<securitylabel xmlns='urn:xmpp:sec-label:0'><displaymarking>%s</displaymarking><label><esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>%s</esssecuritylabel></label></securitylabel>\n" \
    "$marking" "$ess" >"$label_file"
say "label on labelled messages: $LABEL (\"$marking\")"

# ---- Palisade ----

say "writing the Palisade config ($scratch/node/node.cfg: tls.required false, policy.spif)"
scripts/node-dev.sh config "$scratch/node" --name bench --domain "$DOMAIN" \
    --c2s "127.0.0.1:$PAL_PORT" --c2s-tls "127.0.0.1:$PAL_TLS_PORT" \
    --ldap-env "$scratch/slapd/env" --tls-required false --spif "$SPIF" >/dev/null

node_pid=
start_node() {
    PALISADE=$PALISADE NODE_READY_TIMEOUT=60 scripts/node-dev.sh start "$scratch/node" >/dev/null ||
        die "the node did not start (log $scratch/node/node.log)"
    node_up=yes
    node_pid=$(cat "$scratch/node/node.pid")
    taskset -a -p -c 0 "$node_pid" >/dev/null
}
stop_node() {
    PALISADE=$PALISADE scripts/node-dev.sh stop "$scratch/node" >/dev/null || true
    node_up=
}
say "starting the Palisade node on 127.0.0.1:$PAL_PORT, pinned to CPU 0"
start_node

# ---- a two-node Palisade cluster on the same slapd ----

cl=$scratch/cluster
cl_pids=
# Both nodes' own c2s ports: node1 $CL_PORT_BASE, node2 the next; the shared port
# (SO_REUSEPORT) is not used by the scenarios.
cluster_members_up() {
    local k m out
    for k in 1 2; do
        out=$("$PALISADECTL" node status "$cl/node$k/ctl.sock" 2>/dev/null) || return 1
        for m in node1 node2; do
            awk -v m="$m" 'NR > 2 && $1 == m && ($3 == "up" || $3 == "self") { f = 1 }
                           END { exit !f }' <<<"$out" || return 1
        done
    done
}
start_cluster() {
    local k pids=()
    for k in 1 2; do
        PALISADE=$PALISADE NODE_READY_TIMEOUT=60 taskset -c 0 scripts/node-dev.sh start \
            "$cl/node$k" >/dev/null || die "cluster node$k did not start (log $cl/node$k/node.log)"
        cluster_up=yes
        pids+=("$(cat "$cl/node$k/node.pid")")
        taskset -a -p -c 0 "${pids[-1]}" >/dev/null
    done
    cl_pids=$(IFS=,; echo "${pids[*]}")
    local deadline=$((SECONDS + 30))
    until cluster_members_up; do
        [ $SECONDS -lt $deadline ] || die "the cluster nodes do not see each other after 30 s (palisadectl node status $cl/node1/ctl.sock; logs $cl/node*/node.log)"
        sleep 0.1
    done
}
stop_cluster() {
    local k
    for k in 1 2; do
        PALISADE=$PALISADE scripts/node-dev.sh stop "$cl/node$k" >/dev/null 2>&1 || true
    done
    cluster_up=
}
if want cluster; then
    say "setting up a two-node cluster in $cl (scripts/cluster-dev.sh: CURVE keys, xmppNode entries node1 and node2, c2s $CL_PORT_BASE and $((CL_PORT_BASE + 1)), tls.required false), pinned to CPU 0"
    PALISADE=$PALISADE PALISADECTL=$PALISADECTL NODE_READY_TIMEOUT=60 taskset -c 0 \
        scripts/cluster-dev.sh start "$cl" 2 --ldap-env "$scratch/slapd/env" --domain "$DOMAIN" \
        --shared-port "$CL_SHARED_PORT" --port-base "$CL_PORT_BASE" --spif "$SPIF" \
        --cert "$scratch/node/cert.pem" --key "$scratch/node/key.pem" -- --tls-required false \
        >"$scratch/cluster-dev.log" 2>&1 ||
        { cat "$scratch/cluster-dev.log" >&2; die "the cluster did not start"; }
    cluster_up=yes
    deadline=$((SECONDS + 30))
    until cluster_members_up; do
        [ $SECONDS -lt $deadline ] || die "the cluster nodes do not see each other after 30 s (logs $cl/node*/node.log)"
        sleep 0.1
    done
    say "the cluster is up (node1 and node2 see each other); stopping it until its scenario"
    stop_cluster
fi

# ---- Prosody ----

pro=$scratch/prosody
mkdir -p "$pro/data/localhost/accounts"
cp "$scratch/node/cert.pem" "$scratch/node/key.pem" "$pro/"
say "writing $USERS Prosody accounts (internal_hashed, SCRAM-SHA-256, 4096 iterations)"
python3 - "$pro/data/localhost/accounts" "$USERS" "$PASSWORD" <<'PY'
import hashlib, hmac, sys
folder, n, password = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
salt, iters = "palisade-bench-salt", 4096
salted = hashlib.pbkdf2_hmac("sha256", password, salt.encode(), iters)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()
body = ('return {\n\t["iteration_count"] = %d;\n\t["salt"] = "%s";\n\t["server_key"] = "%s";\n'
        '\t["stored_key"] = "%s";\n};\n') % (iters, salt, server_key.hex(),
                                          hashlib.sha256(client_key).hexdigest())
for i in range(n):
    with open("%s/bench%05d.dat" % (folder, i), "w") as f:
        f.write(body)
PY
cat >"$pro/prosody.cfg.lua" <<CFG
-- Written by test/bench/compare.sh: a scratch Prosody for the benchmark.
pidfile = "$pro/prosody.pid"
data_path = "$pro/data"
plugin_paths = {}
interfaces = { "127.0.0.1" }
c2s_ports = { $PRO_PORT }
c2s_direct_tls_ports = { $PRO_TLS_PORT }
s2s_ports = {}
http_ports = {}
https_ports = {}
network_backend = "epoll"
log = { info = "$pro/prosody.log" }
-- Only what the scenarios use; see the header of compare.sh for what is off and why.
modules_enabled = { "roster", "saslauth", "tls", "disco" }
modules_disabled = { "s2s", "s2s_auth_certs" }
authentication = "internal_hashed"
password_hash = "SHA-256"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
ssl = { certificate = "$pro/cert.pem", key = "$pro/key.pem" }
certificates = "$pro"
VirtualHost "$DOMAIN"
-- XEP-0045, for the MUC fan-out scenario: anyone may create a room; a new room
-- is locked until its owner accepts the instant room (as on Palisade); no
-- tombstones, no XEP-0421 occupant ids (Palisade adds none). Default history
-- (20 messages kept; the occupants ask for none).
Component "conference.$DOMAIN" "muc"
    restrict_room_creation = false
    muc_room_locking = true
    muc_tombstones = false
    muc_occupant_id = false
CFG
as_prosody=()
if [ "$(id -u)" = 0 ]; then
    chown -R prosody: "$pro"
    as_prosody=(setpriv --reuid=prosody --regid=prosody --init-groups)
fi

start_prosody() {
    : >"$pro/stdout.log"
    # taskset and setpriv exec: the pid is Prosody's own.
    taskset -c 0 "${as_prosody[@]}" prosody --config "$pro/prosody.cfg.lua" -F \
        </dev/null >>"$pro/stdout.log" 2>&1 &
    prosody_pid=$!
    local deadline=$((SECONDS + 20))
    until (exec 3<>"/dev/tcp/127.0.0.1/$PRO_PORT") 2>/dev/null; do
        kill -0 "$prosody_pid" 2>/dev/null || { tail "$pro/prosody.log" "$pro/stdout.log" >&2; die "Prosody exited"; }
        [ $SECONDS -lt $deadline ] || die "Prosody does not listen on $PRO_PORT (log $pro/prosody.log)"
        sleep 0.1
    done
}
stop_prosody() {
    [ -n "$prosody_pid" ] || return 0
    kill -TERM "$prosody_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while kill -0 "$prosody_pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then kill -KILL "$prosody_pid" 2>/dev/null || true; fi
        sleep 0.1
    done
    wait "$prosody_pid" 2>/dev/null || true
    prosody_pid=
}
say "starting Prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null) on 127.0.0.1:$PRO_PORT, pinned to CPU 0"
start_prosody

# ---- measuring ----

# The generator keeps SCRAM salted passwords in a file, as clients do, so no
# run spends its time in PBKDF2: one untimed pass fills it.
cache=$scratch/scram.cache
say "warming the generator's SCRAM cache: one login per user (untimed)"
taskset -c 1 "$BENCH" -q --port $PAL_PORT --scenario login -n "$USERS" --users "$USERS" -c 100 \
    --warmup 0 --scram-cache "$cache" >"$scratch/warm.out" 2>&1 ||
    { cat "$scratch/warm.out" >&2; die "logins to Palisade fail"; }
taskset -c 1 "$BENCH" -q --port $PRO_PORT --scenario login -n 10 --users 10 -c 5 --warmup 0 \
    --scram-cache "$cache" >>"$scratch/warm.out" 2>&1 ||
    { cat "$scratch/warm.out" >&2; die "logins to Prosody fail"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$wait_quiet" -gt 0 ]; then
    deadline=$((SECONDS + wait_quiet))
    while awk '{ exit !($1 >= 0.5) }' /proc/loadavg && [ $SECONDS -lt $deadline ]; do
        say "load average $(cut -d' ' -f1 /proc/loadavg): waiting for a quieter machine"
        sleep 10
    done
fi
say "load average before measuring: $load_before (other work on these cores skews the figures)"

results=$scratch/results.txt
: >"$results"
: >"$scratch/bench.out"
pids_of() {
    case "$1" in
        palisade) echo "$node_pid,$slapd_pid" ;;
        cluster) echo "$cl_pids,$slapd_pid" ;;
        *) echo "$prosody_pid" ;;
    esac
}
port_of() {
    if [ "$2" = direct ]; then
        if [ "$1" = palisade ]; then echo $PAL_TLS_PORT; else echo $PRO_TLS_PORT; fi
    else
        case "$1" in
            palisade) echo $PAL_PORT ;;
            cluster) echo $CL_PORT_BASE ;;
            *) echo $PRO_PORT ;;
        esac
    fi
}

# run NAME SERVER ROUND TLS -- palisade-bench arguments
run() {
    local name=$1 server=$2 round=$3 tls=$4
    shift 5
    local line t0=$SECONDS extra=()
    # In the cluster, each pair's second session (the receiver) is on node2.
    [ "$server" != cluster ] || extra=(--peer-port $((CL_PORT_BASE + 1)))
    printf 'compare:   %-18s %-8s round %s ... ' "$name" "$server" "$round"
    if ! line=$(taskset -c 1 "$BENCH" -q --server "$server" --port "$(port_of "$server" "$tls")" \
            --tls "$tls" --server-pid "$(pids_of "$server")" --scram-cache "$cache" \
            ${extra[@]+"${extra[@]}"} "$@" \
            2>>"$scratch/bench.err" |
            tee -a "$scratch/bench.out" | grep '^RESULT'); then
        line=
    fi
    if [ -z "$line" ]; then
        echo "no result (see $scratch/bench.out)"
        return 0
    fi
    echo "$line" | sed "s/^RESULT /RESULT name=$name round=$round /" >>"$results"
    echo "$line" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "=");
        if (kv[1] ~ /^(logins_per_s|msgs_per_s|deliveries_per_s|p99_us|p99_ms|cpu_us_per_msg|cpu_us_per_delivery|cpu_us_per_login|kib_per_session|failed|lost|dup|errors|dropped)$/)
            printf "%s=%s ", kv[1], kv[2] } }'
    echo "($((SECONDS - t0)) s)"
}

restart() {
    case "$1" in
        palisade) stop_cluster; stop_node; start_node ;;
        cluster) stop_node; stop_cluster; start_cluster ;;
        *) stop_cluster; stop_prosody; start_prosody ;;
    esac
}

# scenario NAME TLS -- arguments: A B A B (only=SERVER: that one alone). Every
# run gets a freshly started server: Prosody keeps state from earlier logins
# that slows it down (about 15,000 messages/s fresh, 5,000 after a 3,000-login
# storm), and memory readings need allocators without earlier garbage.
scenario() {
    local name=$1 tls=$2
    shift 2
    for ((r = 1; r <= rounds; r++)); do
        for s in ${only:-palisade prosody}; do
            restart "$s"
            run "$name" "$s" "$r" "$tls" -- "$@"
        done
    done
}

say "the generator's own cost: its stream scanner against core/xstream.c (--scenario parse)"
taskset -c 1 "$BENCH" -q --scenario parse -n 20 | tee -a "$scratch/bench.out" | grep '^RESULT' |
    sed 's/^RESULT /RESULT name=parse round=1 /' >>"$scratch/results.txt" || true
sed -n 's/^RESULT name=parse .*scan_ns=\([^ ]*\) xstream_ns=\([^ ]*\).*/compare:   scanner \1 ns, xstream + tree \2 ns per message stanza/p' \
    "$scratch/results.txt"
if want login; then
    say "login storms ($LOGIN_C at a time; the generator's SCRAM cache is warmed first)"
    scenario login-scram none --scenario login -n "$LOGIN_SCRAM_N" --users "$LOGIN_USERS" \
        -c "$LOGIN_C" --mech SCRAM-SHA-256
    # Palisade offers PLAIN only inside TLS (even with tls.required false): Prosody
    # alone, as the reference the issue quotes (plaintext PLAIN).
    only=prosody scenario login-plain none --scenario login -n "$LOGIN_TLS_N" \
        --users "$LOGIN_USERS" -c "$LOGIN_C" --mech PLAIN
    scenario login-tls-plain starttls --scenario login -n "$LOGIN_TLS_N" --users "$LOGIN_USERS" \
        -c "$LOGIN_C" --mech PLAIN
    scenario login-tls-scram starttls --scenario login -n "$LOGIN_TLS_N" --users "$LOGIN_USERS" \
        -c "$LOGIN_C" --mech SCRAM-SHA-256
fi

if want messages; then
    say "one-to-one messages, $PAIRS pairs (flat out, then at fixed rates)"
    scenario messages-flat none --scenario messages --pairs "$PAIRS" --warmup-s "$WARM_S" \
        --duration "$DUR_S"
    for rate in $RATES; do
        scenario "messages-$rate" none --scenario messages --pairs "$PAIRS" --rate "$rate" \
            --warmup-s "$WARM_S" --duration "$DUR_S"
    done
fi
if want labelled; then
    say "labelled messages (XEP-0258 label on every message; Prosody passes it through unchecked)"
    scenario labelled-flat none --scenario labelled --label-file "$label_file" --pairs "$PAIRS" \
        --warmup-s "$WARM_S" --duration "$DUR_S"
    # The same stanzas without the label but as long (the body padded by the
    # label's length): what the label checks cost, apart from the bytes.
    scenario sized-flat none --scenario messages --body-bytes "$(wc -c <"$label_file")" \
        --pairs "$PAIRS" --warmup-s "$WARM_S" --duration "$DUR_S"
    for rate in $LABEL_RATES; do
        scenario "labelled-$rate" none --scenario labelled --label-file "$label_file" \
            --pairs "$PAIRS" --rate "$rate" --warmup-s "$WARM_S" --duration "$DUR_S"
    done
fi

if want cluster; then
    # "palisade" is the single node, "cluster" the two nodes (senders on node1,
    # receivers on node2); Prosody has no cluster.
    say "cross-node messages: $CL_PAIRS one-way pairs, one node against two (Palisade only; flat out, then at fixed rates)"
    only="palisade cluster" scenario cluster-flat none --scenario messages --one-way \
        --pairs "$CL_PAIRS" --warmup-s "$WARM_S" --duration "$DUR_S"
    for rate in $CL_RATES; do
        only="palisade cluster" scenario "cluster-$rate" none --scenario messages --one-way \
            --pairs "$CL_PAIRS" --rate "$rate" --warmup-s "$WARM_S" --duration "$DUR_S"
    done
fi

if want muc; then
    say "MUC fan-out: $MUC_ROOMS rooms of $MUC_OCC occupants, $MUC_SENDERS senders per room (flat out, then at fixed rates)"
    scenario muc-flat none --scenario muc --rooms "$MUC_ROOMS" --occupants "$MUC_OCC" \
        --senders "$MUC_SENDERS" --warmup-s "$WARM_S" --duration "$DUR_S"
    for rate in $MUC_RATES; do
        scenario "muc-$rate" none --scenario muc --rooms "$MUC_ROOMS" --occupants "$MUC_OCC" \
            --senders "$MUC_SENDERS" --rate "$rate" --warmup-s "$WARM_S" --duration "$DUR_S"
    done
fi

if want idle; then
    say "idle sessions"
    scenario idle none --scenario idle -n "$IDLE_N" -c 100 --settle "$IDLE_SETTLE_S" \
        --hold "$IDLE_HOLD"
    scenario idle-tls starttls --scenario idle -n "$IDLE_TLS_N" -c 100 --settle "$IDLE_SETTLE_S" \
        --hold "$IDLE_HOLD"
    if [ "$MANY_TLS_N" -gt 0 ]; then
        say "$MANY_TLS_N TLS sessions at once, held 10 s (Palisade only)"
        restart palisade
        run tls-sessions palisade 1 starttls -- --scenario idle -n "$MANY_TLS_N" -c 200 \
            --settle "$IDLE_SETTLE_S" --hold 10
    fi
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table ----

say "done measuring in $((SECONDS - started_at)) s; load average now $load_after"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
cmd="test/bench/compare.sh --$mode"
[ "$rounds" != 2 ] && cmd+=" --rounds $rounds"
[ "$builddir" != "$top/build" ] && cmd+=" --build ${builddir#"$top"/}"
python3 - "$results" "$out" "$mode" "$cpu_model" "$(nproc)" "$(uname -r)" "$load_before" \
    "$load_after" "$commit" "$cmd" "$(date -u +%Y-%m-%dT%H:%MZ)" "$rounds" "$IDLE_SETTLE_S" <<'PY'
import sys
(results, out, mode, cpu, ncpu, kernel, load_before, load_after, commit, cmd, when,
 rounds, idle_settle) = sys.argv[1:14]
runs = {}
for line in open(results):
    kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    runs.setdefault((kv["name"], kv["server"]), []).append(kv)

def best(name, server, key, higher):
    vals = []
    for kv in runs.get((name, server), []):
        try:
            v = float(kv[key])
        except (KeyError, ValueError):
            continue
        if v >= 0:
            vals.append(v)
    if not vals:
        return None
    return max(vals) if higher else min(vals)

def total(name, server, key):
    return sum(float(kv.get(key, 0)) for kv in runs.get((name, server), []))

def fmt(v, unit):
    if v is None:
        return "–"
    if v >= 1000:
        s = "{:,.0f}".format(v)
    elif v >= 100:
        s = "%.0f" % v
    elif v >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s + (" " + unit if unit else "")

names = {n for (n, s) in runs}
def have(n): return n in names

rows = []  # scenario, metric, palisade, prosody, ratio, target
def row(scen, name, metric, key, unit, higher, target=None, scale=1.0):
    if not have(name):
        return  # not run (--only)
    p = best(name, "palisade", key, higher)
    q = best(name, "prosody", key, higher)
    if p is not None: p *= scale
    if q is not None: q *= scale
    ratio = None
    if p and q:
        ratio = p / q if higher else q / p
    t = ""
    if target is not None and ratio is not None:
        t = ("✓ " if ratio >= target else "✗ ") + "≥ %g×" % target
    rows.append((scen, metric, fmt(p, unit), fmt(q, unit),
                 "%.1f×" % ratio if ratio is not None else "–", t))

row("login, SCRAM-SHA-256, no TLS", "login-scram", "logins/s", "logins_per_s", "", True, 5)
row("", "login-scram", "latency p99", "p99_ms", "ms", False)
row("", "login-scram", "server CPU per login", "cpu_us_per_login", "µs", False)
row("login, PLAIN, no TLS", "login-plain", "logins/s", "logins_per_s", "", True)
if have("login-plain") and rows[-1][2] == "–":
    rows[-1] = rows[-1][:2] + ("not offered",) + rows[-1][3:]
row("login, STARTTLS + PLAIN", "login-tls-plain", "logins/s", "logins_per_s", "", True, 5)
row("", "login-tls-plain", "server CPU per login", "cpu_us_per_login", "µs", False)
row("login, STARTTLS + SCRAM-SHA-256", "login-tls-scram", "logins/s", "logins_per_s", "", True)
row("", "login-tls-scram", "server CPU per login", "cpu_us_per_login", "µs", False)
row("messages, flat out", "messages-flat", "delivered msgs/s", "msgs_per_s", "", True, 6)
row("", "messages-flat", "server CPU per message", "cpu_us_per_msg", "µs", False)
for n in sorted((n for n in names if n.startswith("messages-") and n[9:].isdigit()),
                key=lambda n: int(n[9:])):
    r = int(n[9:])
    row("messages at %s/s" % "{:,}".format(r), n, "server CPU per message", "cpu_us_per_msg",
        "µs", False, 6)
    row("", n, "delivered msgs/s", "msgs_per_s", "", True)
    row("", n, "latency p50", "p50_us", "µs", False)
    row("", n, "latency p99", "p99_us", "µs", False)
row("labelled (XEP-0258), flat out", "labelled-flat", "delivered msgs/s", "msgs_per_s", "", True)
row("", "labelled-flat", "server CPU per message", "cpu_us_per_msg", "µs", False)
row("unlabelled, as long as labelled, flat out", "sized-flat", "delivered msgs/s", "msgs_per_s",
    "", True)
row("", "sized-flat", "server CPU per message", "cpu_us_per_msg", "µs", False)
for n in sorted((n for n in names if n.startswith("labelled-") and n[9:].isdigit()),
                key=lambda n: int(n[9:])):
    row("labelled at %s/s" % "{:,}".format(int(n[9:])), n, "server CPU per message",
        "cpu_us_per_msg", "µs", False)

# MUC fan-out: deliveries = messages x occupants.
def muc_shape(n):
    for kv in runs.get((n, "palisade"), []) + runs.get((n, "prosody"), []):
        return "%s rooms × %s" % (kv.get("rooms", "?"), kv.get("occupants", "?"))
    return ""
muc_rates = sorted((n for n in names if n.startswith("muc-") and n[4:].isdigit()),
                   key=lambda n: int(n[4:]))
muc_occ = 0
for (n, s), kvs in runs.items():
    if n.startswith("muc-"):
        muc_occ = int(kvs[0].get("occupants", 0) or 0)
row("MUC fan-out, %s, flat out" % muc_shape("muc-flat"), "muc-flat", "deliveries/s",
    "deliveries_per_s", "", True)
row("", "muc-flat", "server CPU per delivery", "cpu_us_per_delivery", "µs", False)
row("", "muc-flat", "latency p99", "p99_us", "µs", False)
for n in muc_rates:
    r = int(n[4:])
    row("MUC at %s msgs/s (%s deliveries/s)" % ("{:,}".format(r), "{:,}".format(r * muc_occ)),
        n, "server CPU per delivery", "cpu_us_per_delivery", "µs", False)
    row("", n, "deliveries/s", "deliveries_per_s", "", True)
    row("", n, "latency p50", "p50_us", "µs", False)
    row("", n, "latency p99", "p99_us", "µs", False)

row("idle sessions, no TLS", "idle", "memory per session", "kib_per_session", "KiB", False, 3)
row("idle sessions, STARTTLS", "idle-tls", "memory per session", "kib_per_session", "KiB", False, 3)

# Cross-node messages: Palisade alone, one node ("palisade") against two
# ("cluster"): Prosody has no cluster.
cl_rows = []
def cl_row(scen, name, metric, key, unit, higher):
    if not have(name):
        return
    one = best(name, "palisade", key, higher)
    two = best(name, "cluster", key, higher)
    cl_rows.append((scen, metric, fmt(one, unit), fmt(two, unit),
                    "%.2f×" % (two / one) if one and two else "–", "no cluster"))
cl_pairs = ""
for (n, s), kvs in runs.items():
    if n.startswith("cluster-"):
        cl_pairs = kvs[0].get("pairs", "")
cl_row("flat out", "cluster-flat", "delivered msgs/s", "msgs_per_s", "", True)
cl_row("", "cluster-flat", "server CPU per message", "cpu_us_per_msg", "µs", False)
cl_row("", "cluster-flat", "latency p50", "p50_us", "µs", False)
cl_row("", "cluster-flat", "latency p99", "p99_us", "µs", False)
for n in sorted((n for n in names if n.startswith("cluster-") and n[8:].isdigit()),
                key=lambda n: int(n[8:])):
    cl_row("at %s msgs/s" % "{:,}".format(int(n[8:])), n, "server CPU per message",
           "cpu_us_per_msg", "µs", False)
    cl_row("", n, "delivered msgs/s", "msgs_per_s", "", True)
    cl_row("", n, "latency p50", "p50_us", "µs", False)
    cl_row("", n, "latency p99", "p99_us", "µs", False)

# Palisade's own targets that are not ratios against Prosody.
notes = []
lf = best("labelled-flat", "palisade", "msgs_per_s", True)
mf = best("messages-flat", "palisade", "msgs_per_s", True)
sf = best("sized-flat", "palisade", "msgs_per_s", True)
if lf and mf:
    notes.append("Labelled throughput is %.0f %% of unlabelled (target ≥ 90 %%): %s.%s"
                 % (100 * lf / mf, "met" if lf >= 0.9 * mf else "not met",
                    " Against unlabelled stanzas as long as the labelled ones (the body padded "
                    "by the label's length) it is %.0f %%: the rest of the gap is the bigger "
                    "stanza." % (100 * lf / sf) if sf else ""))
p99 = best("messages-10000", "palisade", "p99_us", False)
if p99 is not None:
    notes.append("p99 latency at 10,000 msgs/s is %.2f ms (target < 5 ms): %s."
                 % (p99 / 1000, "met" if p99 < 5000 else "not met"))
cpu10 = best("messages-10000", "palisade", "cpu_us_per_msg", False)
if cpu10 is not None:
    notes.append("Server CPU per message at 10,000 msgs/s is %.1f µs (target < 16 µs): %s."
                 % (cpu10, "met" if cpu10 < 16 else "not met"))
for n in ("tls-sessions", "idle-tls", "idle"):
    k = best(n, "palisade", "ready", True)
    bad = total(n, "palisade", "failed") + total(n, "palisade", "dropped")
    if k is not None:
        label = {"tls-sessions": "TLS sessions held on Palisade alone",
                 "idle-tls": "TLS sessions in the idle comparison",
                 "idle": "Plaintext sessions in the idle comparison"}[n]
        notes.append("%s: %d up at once, %d failed or dropped." % (label, k, bad))
        if n == "tls-sessions":
            kib = best(n, "palisade", "kib_per_session", False)
            notes[-1] = notes[-1][:-1] + (", %.1f KiB each (target: 10,000 without errors)."
                                          % kib if kib else ".")
u2 = best("cluster-flat", "cluster", "server_util", True)
if u2 is not None and u2 < 0.9:
    notes.append("Two nodes flat out kept CPU 0 only %.0f %% busy (one node: %.0f %%) while the "
                 "generator waited for deliveries: messages wait between the nodes, not for CPU "
                 "(test/bench/PROFILE.md, \"Cross-node messages\")."
                 % (100 * u2, 100 * (best("cluster-flat", "palisade", "server_util", True) or 0)))
for kvs in [runs.get(("muc-flat", "palisade"), []) or runs.get(("muc-flat", "prosody"), [])]:
    if kvs:
        kv = kvs[0]
        notes.append("MUC: %s rooms of %s occupants, %s of them sending in each room (window %s "
                     "flat out); each occupant joined with `<history maxstanzas='0'/>`; a delivery "
                     "is one occupant receiving one message, the sender's own reflection "
                     "included. Prosody: muc component with room locking (the generator "
                     "accepts the instant room after the 201, as on Palisade), no tombstones, "
                     "no occupant ids; both keep their default history (Prosody 20, Palisade "
                     "50 messages), unlabelled messages."
                     % (kv.get("rooms"), kv.get("occupants"), kv.get("senders"),
                        kv.get("window")))
if have("idle") or have("idle-tls"):
    notes.append("Idle memory is read %s s after the last session came up (Palisade frees an "
                 "idle stream's parser after 1-2 s without input)." % idle_settle)
for n in sorted({n for (n, s) in runs}):
    for srv in ("palisade", "cluster"):
        g = best(n, srv, "gen_util", False)
        if g is not None and g >= 0.9:
            notes.append("In %s (%s) the generator used %.0f %% of its core even in its best "
                         "round: Palisade's figure there is a lower bound."
                         % (n, "two nodes" if srv == "cluster" else "Palisade", 100 * g))
sc = best("parse", "server", "scan_ns", False)
xs = best("parse", "server", "xstream_ns", False)
if sc and xs:
    notes.append("The generator reads the servers' output with a minimal scanner: %.0f ns per "
                 "message stanza, against %.0f ns for core/xstream.c with a tree per stanza."
                 % (sc, xs))
problems = []
for (n, s), kvs in sorted(runs.items()):
    for kv in kvs:
        if "msgs_per_s" in kv and float(kv["msgs_per_s"]) == 0:
            problems.append("%s on %s round %s: nothing delivered in the measured window "
                            "(the server stalled or got no CPU)" % (n, s, kv["round"]))
        if n == "parse":
            continue
        for k in ("failed", "lost", "dup", "errors", "dropped"):
            if float(kv.get(k, 0) or 0) > 0:
                problems.append("%s on %s round %s: %s=%s" % (n, s, kv["round"], k, kv[k]))

def render(head, body):
    w = [max(len(r[i]) for r in body + [head]) for i in range(len(head))]
    def line(r): return "| " + " | ".join(r[i].ljust(w[i]) for i in range(len(head))) + " |"
    return [line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"] + [line(r) for r in body]
table = render(("scenario", "metric", "Palisade", "Prosody", "ratio", "target"), rows)
cl_title = ("Cross-node messages: %s one-way pairs, each sender on node1 and its receiver on "
            "node2 of a two-node cluster, against the same pairs on one node. Prosody has no "
            "cluster, so there is no ratio against it; the ratio column is two nodes ÷ one "
            "node. Both nodes and slapd are pinned to CPU 0 and their CPU is summed."
            % cl_pairs)
cl_table = render(("cross-node messages", "metric", "Palisade, 1 node", "Palisade, 2 nodes",
                   "2 nodes ÷ 1 node", "Prosody"), cl_rows) if cl_rows else []
print()
print("\n".join(table))
if cl_table:
    print()
    print(cl_title)
    print()
    print("\n".join(cl_table))
print()
for n in notes: print(n)
if problems:
    print("Problems:"); [print("  " + p) for p in problems]
else:
    print("No failed logins, lost, duplicated or errored messages, or dropped sessions.")

with open(out, "w") as f:
    f.write("<!-- Written by %s; do not edit by hand. -->\n" % cmd)
    f.write("Measured %s on %s (%s CPUs, Linux %s), commit %s, with `%s`: "
            "each server pinned to CPU 0, the load generator to CPU 1, loopback, best of "
            "%s rounds (A B A B, each run on a freshly started server). Load average %s "
            "before, %s after (other work was running on the machine).\n\n"
            % (when, cpu, ncpu, kernel, commit, cmd, rounds, load_before, load_after))
    f.write("\n".join(table) + "\n\n")
    if cl_table:
        f.write(cl_title + "\n\n")
        f.write("\n".join(cl_table) + "\n\n")
    for n in notes: f.write("- " + n + "\n")
    if problems:
        f.write("- Problems: " + "; ".join(problems) + "\n")
    else:
        f.write("- No failed logins, lost, duplicated or errored messages, or dropped sessions.\n")
    f.write("- Ratio: how many times better Palisade is (rate ÷ rate, or cost ÷ cost). "
            "Palisade's CPU includes slapd's (and in the cluster both nodes'); Prosody 0.12 has "
            "no XEP-0258 support and passes labels through unchecked.\n")
print("\ncompare: table written to %s" % out)
PY
say "total time $((SECONDS - started_at)) s"
