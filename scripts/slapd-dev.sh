#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# slapd-dev.sh - a throw-away OpenLDAP slapd for development and tests: cn=config
# generated into a scratch folder, Palisade's schema, syncprov, a service account,
# loopback only. Runs as an ordinary process (root or not), never as a system service.
#
#   slapd-dev.sh start DIR PORT   create DIR (scratch: wiped if it holds an old instance),
#                                 start slapd on ldap://127.0.0.1:PORT and ldapi, write DIR/env
#   slapd-dev.sh stop DIR         stop the slapd of DIR and wait for it to exit
#   slapd-dev.sh restart DIR      stop and start it again on the same data (reconnect tests)
#   slapd-dev.sh status DIR       exit 0 when it answers, 3 when it is not running
#
# DIR/env is shell-sourceable: LDAP_URI LDAP_BASE LDAP_USERS LDAP_ROOMS LDAP_GROUPS LDAP_SERVICE_DN
# LDAP_SERVICE_SECRET_FILE LDAP_ADMIN_DN LDAP_ADMIN_SECRET_FILE LDAPI_URI (plus LDAP_PORT,
# SLAPD_PID_FILE). Secrets live in DIR/admin.secret and DIR/service.secret (mode 600, no
# trailing newline, usable with `ldapsearch -y`). SLAPD_LOGLEVEL=stats (or any olcLogLevel)
# makes slapd log operations to DIR/slapd.log.
set -euo pipefail

BASE_DN="dc=palisade,dc=test"
USERS_DN="ou=people,$BASE_DN"
# Cluster members (xmppNode). The service account may write here for development only
# (palisadectl node add with a node's config); in production only an administrator may.
NODES_DN="ou=nodes,$BASE_DN"
# Persistent MUC rooms (xmppRoom). The nodes write rooms their owners create or configure
# through XMPP, so the service account manages them, except clearance and default label,
# which only an administrator sets.
ROOMS_DN="ou=rooms,$BASE_DN"
# Groups (groupOfNames) that rooms name as owners, admins, members or outcasts.
GROUPS_DN="ou=groups,$BASE_DN"
SERVICE_DN="cn=palisade,ou=services,$BASE_DN"
ADMIN_DN="cn=admin,$BASE_DN"
MODULE_PATH="/usr/lib/ldap"
SCHEMA_DIR="/etc/ldap/schema"
MARKER=".palisade-slapd-dev"
START_DEADLINE_S=10
STOP_DEADLINE_S=10

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
palisade_schema="${PALISADE_SCHEMA:-$here/../directory/schema/palisade.ldif}"

say() { printf 'slapd-dev: %s\n' "$*"; }
die() {
    printf 'slapd-dev: error: %s\n' "$1" >&2
    [ $# -ge 2 ] && printf 'slapd-dev: what to do: %s\n' "$2" >&2
    exit 1
}
usage() {
    cat >&2 <<EOF
usage: $0 start DIR PORT | stop DIR | restart DIR | status DIR
EOF
    exit 2
}

# Percent-encodes a path for an ldapi:// URL.
urlencode() {
    local s="$1" out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c="${s:i:1}"
        case "$c" in
        [A-Za-z0-9._~-]) out+="$c" ;;
        *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

need_tools() {
    local t missing=()
    for t in slapd slapadd slappasswd ldapwhoami ldapsearch openssl; do
        command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        die "missing tools: ${missing[*]}" "install the Debian packages slapd and ldap-utils (scripts/deps.sh as root)"
    fi
    [ -d "$MODULE_PATH" ] || die "no OpenLDAP module folder $MODULE_PATH" "install the Debian package slapd"
    [ -r "$SCHEMA_DIR/inetorgperson.ldif" ] || die "no stock schema in $SCHEMA_DIR" "install the Debian package slapd"
    [ -r "$palisade_schema" ] || die "cannot read the Palisade schema $palisade_schema" "run this script from a Palisade checkout or set PALISADE_SCHEMA"
}

slapd_bin() { command -v slapd 2>/dev/null || echo /usr/sbin/slapd; }
slapadd_bin() { command -v slapadd 2>/dev/null || echo /usr/sbin/slapadd; }
slappasswd_bin() { command -v slappasswd 2>/dev/null || echo /usr/sbin/slappasswd; }

# Prints the PID of DIR's slapd when it is running, else nothing.
running_pid() {
    local dir="$1" pid
    [ -f "$dir/slapd.pid" ] || return 0
    pid="$(cat "$dir/slapd.pid" 2>/dev/null || true)"
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = slapd ]; then
        printf '%s' "$pid"
    fi
}

log_tail() {
    if [ -s "$1/slapd.log" ]; then
        printf 'slapd-dev: last lines of %s:\n' "$1/slapd.log" >&2
        tail -n 15 "$1/slapd.log" | sed 's/^/    /' >&2
    fi
}

# Starts slapd on DIR's existing configuration and waits until it answers.
launch() {
    local dir="$1" ldap_uri="$2" ldapi_uri="$3" port="$4" pid
    say "starting slapd on $ldap_uri and $ldapi_uri (log: $dir/slapd.log)"
    "$(slapd_bin)" -d 0 -h "$ldap_uri $ldapi_uri" -F "$dir/slapd.d" </dev/null >>"$dir/slapd.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$dir/slapd.pid"

    say "waiting for slapd (pid $pid) to answer, up to ${START_DEADLINE_S}s"
    local deadline=$((SECONDS + START_DEADLINE_S))
    until ldapwhoami -x -H "$ldap_uri" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log_tail "$dir"
            rm -f "$dir/slapd.pid"
            die "slapd exited during startup" "read $dir/slapd.log; is port $port free and $dir writable?"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log_tail "$dir"
            kill "$pid" 2>/dev/null || true
            rm -f "$dir/slapd.pid"
            die "slapd did not answer on $ldap_uri within ${START_DEADLINE_S}s" "read $dir/slapd.log"
        fi
        sleep 0.05
    done
}

cmd_start() {
    local dir="$1" port="$2"
    case "$port" in '' | *[!0-9]*) die "PORT must be a number, got '$port'" "pass a free TCP port, e.g. 3890" ;; esac
    if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        die "PORT $port is out of range" "pass a port between 1024 and 32767"
    fi
    if [ "$port" -ge 32768 ] && [ "$port" -le 60999 ]; then
        say "warning: port $port is in the ephemeral range (32768-60999); an outgoing socket may hold it"
    fi
    need_tools

    mkdir -p "$dir" || die "cannot create $dir" "check the parent folder exists and is writable"
    dir="$(cd "$dir" && pwd)"
    local pid
    pid="$(running_pid "$dir")"
    if [ -n "$pid" ]; then
        die "a slapd (pid $pid) already runs for $dir" "stop it first: $0 stop $dir"
    fi
    if [ -n "$(ls -A "$dir")" ] && [ ! -e "$dir/$MARKER" ]; then
        die "$dir is not empty and was not made by this script" "pass a new or empty folder; DIR is scratch and gets wiped"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "something already listens on 127.0.0.1:$port" "pick another PORT, or stop the other server (ss -ltnp | grep :$port)"
    fi

    say "preparing $dir (scratch: old instance data is removed)"
    if [ -f "$dir/ldapi.path" ]; then rm -f "$(cat "$dir/ldapi.path")"; fi
    rm -rf "$dir/slapd.d" "$dir/db" "$dir/run" "$dir/env" "$dir/slapd.log" "$dir/slapd.pid" \
        "$dir"/*.secret "$dir"/*.ldif "$dir/ldapi" "$dir/ldapi.path"
    touch "$dir/$MARKER"
    mkdir -p "$dir/slapd.d" "$dir/db" "$dir/run"
    chmod 700 "$dir/slapd.d" "$dir/db" "$dir/run"

    # ldapi socket paths are limited to about 107 bytes (sun_path); keep a margin.
    local sock="$dir/ldapi"
    if [ ${#sock} -ge 100 ]; then
        sock="$(mktemp -u /tmp/pal-ldapi-XXXXXXXX)"
        say "DIR is long: the ldapi socket goes to $sock"
    fi
    printf '%s\n' "$sock" >"$dir/ldapi.path"
    local ldapi_uri="ldapi://$(urlencode "$sock")"
    local ldap_uri="ldap://127.0.0.1:$port"

    say "generating secrets: $dir/admin.secret, $dir/service.secret (mode 600)"
    (
        umask 077
        openssl rand -hex 16 | tr -d '\n' >"$dir/admin.secret"
        openssl rand -hex 16 | tr -d '\n' >"$dir/service.secret"
    )
    local admin_hash service_hash
    admin_hash="$("$(slappasswd_bin)" -h '{SSHA}' -T "$dir/admin.secret")" ||
        die "slappasswd failed to hash the admin secret" "check that slappasswd works: slappasswd -h {SSHA} -T FILE"
    service_hash="$("$(slappasswd_bin)" -h '{SSHA}' -T "$dir/service.secret")" ||
        die "slappasswd failed to hash the service secret" "check that slappasswd works"

    local peercred="gidNumber=$(id -g)+uidNumber=$(id -u),cn=peercred,cn=external,cn=auth"
    say "writing cn=config LDIF: $dir/config.ldif"
    cat >"$dir/config.ldif" <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/run/slapd.pid
olcArgsFile: $dir/run/slapd.args
olcLogLevel: ${SLAPD_LOGLEVEL:-none}

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $MODULE_PATH
olcModuleLoad: back_mdb
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://$SCHEMA_DIR/core.ldif

include: file://$SCHEMA_DIR/cosine.ldif

include: file://$SCHEMA_DIR/inetorgperson.ldif

include: file://$(cd "$(dirname "$palisade_schema")" && pwd)/$(basename "$palisade_schema")

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact="$peercred" manage by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $BASE_DN
olcRootDN: $ADMIN_DN
olcRootPW: $admin_hash
olcDbDirectory: $dir/db
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: entryCSN,entryUUID eq
olcDbIndex: xmppJID eq
olcDbIndex: xmppRoomJID eq
olcLimits: {0}dn.exact="$SERVICE_DN" size=unlimited time=unlimited
olcAddContentAcl: TRUE
olcAccess: {0}to * by dn.exact="$peercred" manage by * break
olcAccess: {1}to dn.subtree="$USERS_DN" attrs=userPassword,xmppScramSecret
  by dn.exact="$SERVICE_DN" manage by self =xw by anonymous auth by * none
olcAccess: {2}to attrs=userPassword,xmppScramSecret
  by dn.exact="$SERVICE_DN" read by self =xw by anonymous auth by * none
olcAccess: {3}to dn.subtree="$USERS_DN" by dn.exact="$SERVICE_DN" manage by * none
olcAccess: {4}to dn.subtree="$ROOMS_DN"
  attrs=xmppClearance,xmppDefaultLabel,xmppSecurityLabel,xmppLabelPolicy
  by dn.exact="$SERVICE_DN" read by * none
olcAccess: {5}to dn.subtree="$ROOMS_DN" by dn.exact="$SERVICE_DN" manage by * none
olcAccess: {6}to dn.subtree="$NODES_DN" by dn.exact="$SERVICE_DN" manage by * none
olcAccess: {7}to * by dn.exact="$SERVICE_DN" read by * none

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionlog: 1000
EOF

    say "writing base entries: $dir/base.ldif"
    cat >"$dir/base.ldif" <<EOF
dn: $BASE_DN
objectClass: dcObject
objectClass: organization
dc: palisade
o: Palisade development directory

dn: $USERS_DN
objectClass: organizationalUnit
ou: people

dn: ou=services,$BASE_DN
objectClass: organizationalUnit
ou: services

dn: ou=settings,$BASE_DN
objectClass: organizationalUnit
ou: settings
description: xmppServerSettings entries: cn=default (server-wide), cn=<domain>

dn: $ROOMS_DN
objectClass: organizationalUnit
ou: rooms
description: xmppRoom entries (persistent MUC rooms): cn=<room>

dn: $GROUPS_DN
objectClass: organizationalUnit
ou: groups
description: groupOfNames entries that rooms name as owners, admins, members or outcasts

dn: ou=peers,$BASE_DN
objectClass: organizationalUnit
ou: peers

dn: $NODES_DN
objectClass: organizationalUnit
ou: nodes
description: xmppNode entries (cluster members): xmppNodeName=<name>

dn: $SERVICE_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: palisade
description: Palisade service account (reads everything, manages $USERS_DN and $ROOMS_DN but their clearances and default labels, and, for development, $NODES_DN)
userPassword: $service_hash
EOF

    say "loading cn=config with slapadd -n0"
    if ! "$(slapadd_bin)" -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1; then
        sed 's/^/    /' "$dir/slapadd.log" >&2
        die "slapadd -n0 rejected $dir/config.ldif" "read the messages above; a schema error names the line of palisade.ldif"
    fi
    say "loading base entries with slapadd -n1"
    if ! "$(slapadd_bin)" -n1 -F "$dir/slapd.d" -l "$dir/base.ldif" >>"$dir/slapadd.log" 2>&1; then
        sed 's/^/    /' "$dir/slapadd.log" >&2
        die "slapadd -n1 rejected $dir/base.ldif" "read the messages above"
    fi

    launch "$dir" "$ldap_uri" "$ldapi_uri" "$port"

    say "checking the service account can bind"
    if ! ldapwhoami -x -H "$ldap_uri" -D "$SERVICE_DN" -y "$dir/service.secret" >/dev/null 2>&1; then
        log_tail "$dir"
        die "the service account cannot bind" "read $dir/slapd.log and $dir/config.ldif (ACLs)"
    fi

    say "writing $dir/env"
    # single quotes, so that non-shell readers (pytest) can parse KEY='value' too
    q() { printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"; }
    {
        printf '# slapd-dev.sh environment for %s (source it)\n' "$dir"
        q LDAP_URI "$ldap_uri"
        q LDAP_PORT "$port"
        q LDAP_BASE "$BASE_DN"
        q LDAP_USERS "$USERS_DN"
        q LDAP_ROOMS "$ROOMS_DN"
        q LDAP_GROUPS "$GROUPS_DN"
        q LDAP_SERVICE_DN "$SERVICE_DN"
        q LDAP_SERVICE_SECRET_FILE "$dir/service.secret"
        q LDAP_ADMIN_DN "$ADMIN_DN"
        q LDAP_ADMIN_SECRET_FILE "$dir/admin.secret"
        q LDAPI_URI "$ldapi_uri"
        q SLAPD_PID_FILE "$dir/slapd.pid"
    } >"$dir/env"
    say "ready: pid $(cat "$dir/slapd.pid"), $ldap_uri, base $BASE_DN (source $dir/env)"
}

cmd_stop() {
    local dir="$1" pid
    [ -d "$dir" ] || die "no such folder $dir" "pass the DIR given to start"
    dir="$(cd "$dir" && pwd)"
    pid="$(running_pid "$dir")"
    if [ -z "$pid" ]; then
        say "no slapd running for $dir"
        rm -f "$dir/slapd.pid"
        return 0
    fi
    say "stopping slapd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_DEADLINE_S))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "slapd did not exit within ${STOP_DEADLINE_S}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.1
            break
        fi
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        die "slapd (pid $pid) is still running" "kill it by hand: kill -KILL $pid"
    fi
    rm -f "$dir/slapd.pid"
    if [ -f "$dir/ldapi.path" ]; then rm -f "$(cat "$dir/ldapi.path")"; fi
    say "stopped"
}

# Stops and starts the slapd of DIR on the data it has: for reconnect tests.
cmd_restart() {
    local dir="$1"
    [ -f "$dir/env" ] && [ -d "$dir/slapd.d" ] || die "$dir holds no instance" "create one first: $0 start $dir PORT"
    dir="$(cd "$dir" && pwd)"
    # shellcheck disable=SC1091
    . "$dir/env"
    cmd_stop "$dir"
    launch "$dir" "$LDAP_URI" "$LDAPI_URI" "$LDAP_PORT"
    say "restarted: pid $(cat "$dir/slapd.pid"), $LDAP_URI (data kept)"
}

cmd_status() {
    local dir="$1" pid
    [ -d "$dir" ] || die "no such folder $dir" "pass the DIR given to start"
    dir="$(cd "$dir" && pwd)"
    pid="$(running_pid "$dir")"
    if [ -z "$pid" ]; then
        say "not running ($dir)"
        exit 3
    fi
    # shellcheck disable=SC1091
    . "$dir/env"
    if ldapwhoami -x -H "$LDAP_URI" >/dev/null 2>&1; then
        say "running: pid $pid, $LDAP_URI, $LDAPI_URI"
    else
        say "pid $pid is alive but does not answer on $LDAP_URI"
        log_tail "$dir"
        exit 1
    fi
}

[ $# -ge 2 ] || usage
case "$1" in
start) [ $# -eq 3 ] || usage; cmd_start "$2" "$3" ;;
stop) [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
restart) [ $# -eq 2 ] || usage; cmd_restart "$2" ;;
status) [ $# -eq 2 ] || usage; cmd_status "$2" ;;
*) usage ;;
esac
