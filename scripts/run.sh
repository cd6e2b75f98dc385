#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - run Palisade on this machine: a local OpenLDAP directory with the sample users,
# one node serving the XMPP domain "localhost", in the foreground until Ctrl-C.
#
# Steps: install missing Debian packages (as root, scripts/deps.sh), build (build/),
# start slapd in .run/slapd on ldap://127.0.0.1:$LDAP_PORT, add alice, bob, carol and dave
# (passwords alice-secret, bob-secret, ...) with their clearances under the sample security
# policy (alice and bob up to SECRET, carol up to RESTRICTED, dave none), make a
# self-signed certificate for localhost (.run/tls), write .run/node/node.cfg (security
# policies policy/spif/palisade-sample.xml and palisade-partner.xml) and run the node.
# Ctrl-C (or SIGTERM) stops the node and the directory. Running it again reuses the
# directory and the certificate in .run/ (delete .run/ to start from scratch).
#
# Environment:
#   LISTEN=ADDR        address the node listens on (default 127.0.0.1, loopback only;
#                      LISTEN=0.0.0.0 serves other machines, if your network allows)
#   C2S_PORT=N         STARTTLS client port (default 5222)
#   C2S_TLS_PORT=N     direct TLS client port, XEP-0368 (default 5223)
#   LDAP_PORT=N        port of the local slapd (default 3890)
#   SKIP_BUILD=1       do not rebuild
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
run=$top/.run
listen=${LISTEN:-127.0.0.1}
c2s_port=${C2S_PORT:-5222}
c2s_tls_port=${C2S_TLS_PORT:-5223}
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
node_started=
cleanup() {
    local rc=$?
    trap - INT TERM EXIT
    set +e
    if [ -n "$node_started" ]; then
        step "stopping the node"
        scripts/node-dev.sh stop "$run/node" || rc=1
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

# A node left behind by an earlier run that was killed: stop it first.
if scripts/node-dev.sh status "$run/node" >/dev/null 2>&1; then
    step "stopping a node left running by an earlier run"
    scripts/node-dev.sh stop "$run/node" || true
fi
for p in "$c2s_port" "$c2s_tls_port"; do
    if port_busy "$p"; then
        die "port $p is already in use (another XMPP server? see: ss -ltnp 'sport = :$p');" \
            "stop it or choose other ports: C2S_PORT=... C2S_TLS_PORT=... $0"
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

step "writing $run/node/node.cfg"
scripts/node-dev.sh config "$run/node" --name node1 --domain "$domain" \
    --c2s "$listen:$c2s_port" --c2s-tls "$listen:$c2s_tls_port" \
    --ldap-env "$run/slapd/env" --cert "$run/tls/cert.pem" --key "$run/tls/key.pem" \
    --tls-required true --spif "$sample_spif" --spif "$partner_spif" --flot true

step "starting the node ($palisade)"
scripts/node-dev.sh start "$run/node" || die "the node did not start (see above)"
node_started=yes
node_pid=$(cat "$run/node/node.pid")

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
cat <<MSG

==> Palisade is running (node pid $node_pid), serving the XMPP domain "$domain"

Connect any XMPP client (Gajim, Dino, Psi+, Profanity, ...):
  account    alice@$domain   password alice-secret
             bob@$domain     password bob-secret     (also carol, dave: <name>-secret)
  server     $host, port $c2s_port (STARTTLS) or $c2s_tls_port (direct TLS)
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
Add a user (the directory is at ldap://127.0.0.1:$ldap_port, users under $users_base):
  . $run/slapd/env && echo 'a-password' | $palisadectl user --uri "\$LDAP_URI" \\
      --bind-dn "\$LDAP_ADMIN_DN" --bind-secret-file "\$LDAP_ADMIN_SECRET_FILE" \\
      --users "\$LDAP_USERS" --domain $domain add erin@$domain --password-stdin
Node log: $run/node/node.log (shown below). Stop with Ctrl-C.

MSG

tail -n +1 -f --pid="$node_pid" "$run/node/node.log" &
tail_pid=$!
wait "$tail_pid" || true
tail_pid=
# The node went away by itself.
node_started=
rc=$(cat "$run/node/node.exit" 2>/dev/null || echo unknown)
rm -f "$run/node/node.pid"
die "the node exited by itself (status $rc); its log is $run/node/node.log"
