#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - run Palisade on this machine: a local OpenLDAP directory with the sample users and
# a cluster of three nodes serving the XMPP domain "localhost", in the foreground until Ctrl-C.
#
# Steps: install missing Debian packages (as root, scripts/deps.sh), build (build/),
# start slapd in .run/slapd on ldap://127.0.0.1:$LDAP_PORT, add alice, bob, carol and dave
# (passwords alice-secret, bob-secret, ...) with their clearances under the sample security
# policy (alice and bob up to SECRET, carol up to RESTRICTED, dave none), make a
# self-signed certificate for localhost (.run/tls), and start the cluster with
# scripts/cluster-dev.sh in .run/cluster: a CURVE key and a directory entry per node, the
# configs (security policies policy/spif/palisade-sample.xml and palisade-partner.xml), then
# the nodes. All of them share the client ports 5222 (STARTTLS) and 5223 (direct TLS), and
# each also listens on a port of its own (5231, 5232, 5233), so a client can pick its node.
# Killing a node (scripts/cluster-dev.sh kill .run/cluster 2) does not end the run: restart
# it with scripts/cluster-dev.sh restart .run/cluster 2. Ctrl-C (or SIGTERM) stops the nodes
# and the directory. Running it again starts a fresh directory with the sample data (what
# was written to the old one is gone) and reuses the nodes' keys and the certificate in
# .run/, so clients that accepted the certificate keep trusting it.
#
# Environment:
#   LISTEN=ADDR        address the nodes listen on (default 127.0.0.1, loopback only;
#                      LISTEN=0.0.0.0 serves other machines, if your network allows)
#   NODES=N            number of nodes (default 3)
#   C2S_PORT=N         shared STARTTLS client port (default 5222)
#   C2S_TLS_PORT=N     shared direct TLS client port, XEP-0368 (default 5223)
#   NODE_PORT_BASE=N   node K's own STARTTLS port is N+K-1 (default 5231)
#   LDAP_PORT=N        port of the local slapd (default 3890)
#   SKIP_BUILD=1       do not rebuild
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
run=$top/.run
listen=${LISTEN:-127.0.0.1}
c2s_port=${C2S_PORT:-5222}
c2s_tls_port=${C2S_TLS_PORT:-5223}
nodes=${NODES:-3}
port_base=${NODE_PORT_BASE:-5231}
ldap_port=${LDAP_PORT:-3890}
domain=localhost
sample_spif=$top/policy/spif/palisade-sample.xml
partner_spif=$top/policy/spif/palisade-partner.xml

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

port_busy() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

slapd_started=
cluster_started=
cleanup() {
    local rc=$?
    trap - INT TERM EXIT
    set +e
    if [ -n "${tail_pid:-}" ]; then
        kill "$tail_pid" 2>/dev/null || true
        tail_pid=
    fi
    if [ -n "$cluster_started" ]; then
        step "stopping the nodes"
        scripts/cluster-dev.sh stop "$run/cluster" || rc=1
    fi
    if [ -n "$slapd_started" ]; then
        step "stopping the directory (slapd)"
        scripts/slapd-dev.sh stop "$run/slapd" || rc=1
    fi
    if [ -n "${tail_pid:-}" ]; then
        kill "$tail_pid" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
# Ctrl-C or SIGTERM is the normal way to stop: clean up and exit 0 when that works.
trap 'echo; echo "run: stopping (signal received)"; exit 0' INT TERM

step "checking Debian packages (scripts/deps.sh)"
if ! scripts/deps.sh; then
    die "missing packages: run this script as root, or install what deps.sh listed above"
fi

if [ -z "${SKIP_BUILD:-}" ]; then
    step "building (scripts/build.sh build)"
    scripts/build.sh "$top/build" || die "the build failed (errors above)"
fi
palisade=$top/build/node/palisade
palisadectl=$top/build/node/palisadectl
[ -x "$palisade" ] || die "no $palisade after the build"
[ -x "$palisadectl" ] || die "no $palisadectl after the build"
export PALISADE=$palisade PALISADECTL=$palisadectl

mkdir -p "$run"

case "$nodes" in '' | *[!0-9]*) die "NODES must be a number, got '$nodes'" ;; esac
[ "$nodes" -ge 1 ] && [ "$nodes" -le 64 ] || die "NODES must be 1 to 64"

# Nodes left behind by an earlier run that was killed: stop them first.
if scripts/node-dev.sh status "$run/node" >/dev/null 2>&1; then
    step "stopping a node left running by an earlier (single-node) run"
    scripts/node-dev.sh stop "$run/node" || true
fi
if [ -d "$run/cluster" ] && ! scripts/cluster-dev.sh status "$run/cluster" 2>/dev/null |
        grep -q '^cluster-dev: 0 of'; then
    step "stopping nodes left running by an earlier run"
    scripts/cluster-dev.sh stop "$run/cluster" || true
fi
own_ports=()
for ((k = 0; k < nodes; k++)); do own_ports+=($((port_base + k))); done
for p in "$c2s_port" "$c2s_tls_port" "${own_ports[@]}"; do
    if port_busy "$p"; then
        die "port $p is already in use (another XMPP server? see: ss -ltnp 'sport = :$p');" \
            "stop it or choose other ports: C2S_PORT=... C2S_TLS_PORT=... NODE_PORT_BASE=... $0"
    fi
done

step "starting the directory: slapd in $run/slapd on ldap://127.0.0.1:$ldap_port"
if scripts/slapd-dev.sh status "$run/slapd" >/dev/null 2>&1; then
    echo "run: a slapd from an earlier run is still up; restarting it"
    scripts/slapd-dev.sh stop "$run/slapd" || true
fi
if port_busy "$ldap_port"; then
    die "port $ldap_port is already in use; choose another one: LDAP_PORT=... $0"
fi
scripts/slapd-dev.sh start "$run/slapd" "$ldap_port" ||
    die "slapd did not start (see above); delete $run/slapd to start with a fresh directory"
slapd_started=yes

# A directory kept from an earlier run already holds the sample users (and whatever was
# added since): load them only when alice is missing.
has_alice=$(set +u; . "$run/slapd/env"
    ldapsearch -LLL -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_ADMIN_SECRET_FILE" \
        -b "$LDAP_USERS" "(xmppJID=alice@$domain)" dn 2>/dev/null | grep -c '^dn:' || true)
if [ "${has_alice:-0}" -eq 0 ]; then
    step "adding the sample users alice, bob, carol, dave (scripts/load-sample.sh)"
    PALISADE_SPIF=$sample_spif scripts/load-sample.sh "$run/slapd" "$domain" ||
        die "loading the sample users failed (see above)"
else
    step "the sample users are already in the directory (delete $run/ to start from scratch)"
fi

step "certificate for $domain ($run/tls, scripts/gen-cert.sh)"
scripts/gen-cert.sh "$run/tls" "$domain"

step "starting a cluster of $nodes nodes in $run/cluster (scripts/cluster-dev.sh)"
cluster_started=yes
scripts/cluster-dev.sh start "$run/cluster" "$nodes" --ldap-env "$run/slapd/env" \
    --domain "$domain" --listen "$listen" --shared-port "$c2s_port" \
    --shared-tls-port "$c2s_tls_port" --port-base "$port_base" \
    --cert "$run/tls/cert.pem" --key "$run/tls/key.pem" \
    --spif "$sample_spif" --spif "$partner_spif" --flot true ||
    die "the cluster did not start (see above)"

fpr=$(openssl x509 -in "$run/tls/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
host=$listen
case "$host" in
    127.0.0.1) host=localhost ;;
    0.0.0.0) host="localhost, or this machine's address from elsewhere" ;;
esac
# shellcheck disable=SC1091
users_base=$(set +u; . "$run/slapd/env"; echo "$LDAP_USERS")
# The clearances as the directory holds them now (a kept directory may have been changed).
ctl_env=(--env "$run/slapd/env" --spif "$sample_spif" --spif "$partner_spif" --domain "$domain")
clearances=$("$palisadectl" "${ctl_env[@]}" user list 2>/dev/null |
    awk -F'\t' '{ printf "             %-22s %s\n", $1, ($5 == "" || $5 == "-" ? "no clearance" : $5) }' || true)
own_list=
for ((k = 1; k <= nodes; k++)); do own_list+="${own_list:+, }node$k $((port_base + k - 1))"; done
cat <<MSG

==> Palisade is running: $nodes nodes, serving the XMPP domain "$domain"

Connect any XMPP client (Gajim, Dino, Psi+, Profanity, ...):
  account    alice@$domain   password alice-secret
             bob@$domain     password bob-secret     (also carol, dave: <name>-secret)
  server     $host, port $c2s_port (STARTTLS) or $c2s_tls_port (direct TLS): any node
             (the kernel picks one); or one node's own port: $own_list
  certificate  self-signed for "$domain": accept it when the client asks; its SHA-256
             fingerprint is $fpr
Security labels (XEP-0258), sample policy PALISADE (policy/spif/palisade-sample.xml):
             alice, bob   cleared up to SECRET, NATO and EU, releasable to GBR FRA DEU USA
             carol        cleared up to RESTRICTED, releasable to GBR FRA DEU USA
             dave         no clearance: unlabelled messages only
  the directory holds now:
${clearances:-             (could not list the users)}
  a client without label support sees the marking as the first line of the body (FLOT).
  Check a label:  $palisadectl ${ctl_env[*]} \\
      label check --user carol@$domain --label 'policy=PALISADE class=SECRET'
Chat rooms (XEP-0045) at conference.$domain; two sample rooms in the directory:
             briefing@conference.$domain    cleared up to SECRET: all four may enter, each
                                           sees only the messages its clearance allows
             restricted@conference.$domain  members (group analysts: bob, carol), default
                                           label RESTRICTED
  list them: $palisadectl --env $run/slapd/env room list
Add a user (the directory is at ldap://127.0.0.1:$ldap_port, users under $users_base):
  . $run/slapd/env && echo 'a-password' | $palisadectl user --uri "\$LDAP_URI" \\
      --bind-dn "\$LDAP_ADMIN_DN" --bind-secret-file "\$LDAP_ADMIN_SECRET_FILE" \\
      --users "\$LDAP_USERS" --domain $domain add erin@$domain --password-stdin
The nodes:  scripts/cluster-dev.sh status $run/cluster
  kill one:  scripts/cluster-dev.sh kill $run/cluster 2     (its clients reconnect to another)
  bring it back: scripts/cluster-dev.sh restart $run/cluster 2
  members:   $palisadectl --env $run/slapd/env node list
Node logs: $run/cluster/node*/node.log (shown below; each line names its node).
Stop with Ctrl-C.

MSG

logs=()
for ((k = 1; k <= nodes; k++)); do logs+=("$run/cluster/node$k/node.log"); done
tail -n +1 -F -q "${logs[@]}" &
tail_pid=$!
# A node that goes away is reported, not fatal: the others carry on (that is the point),
# and cluster-dev.sh restart brings it back. The run ends when every node is gone.
declare -A was_up
while :; do
    up=0
    for ((k = 1; k <= nodes; k++)); do
        if scripts/node-dev.sh status "$run/cluster/node$k" >/dev/null 2>&1; then
            up=$((up + 1))
            was_up[$k]=1
        elif [ -n "${was_up[$k]:-}" ]; then
            was_up[$k]=
            echo "run: node$k is gone (status $(cat "$run/cluster/node$k/node.exit" 2>/dev/null ||
                echo unknown)); bring it back with: scripts/cluster-dev.sh restart $run/cluster $k"
        fi
    done
    [ "$up" -gt 0 ] || break
    sleep 1
done
die "every node has exited; their logs are in $run/cluster/node*/node.log"
