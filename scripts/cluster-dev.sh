#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cluster-dev.sh - a local Palisade cluster for development and tests: N nodes on this host,
# one directory (a scripts/slapd-dev.sh instance), every node a member (xmppNode entry).
#
#   cluster-dev.sh start DIR N --ldap-env SLAPD_DIR/env --domain D [options] [-- NODE-DEV-OPTIONS]
#       For K in 1..N: a CURVE key in DIR/nodeK/curve.secret (kept when it exists), the entry
#       xmppNodeName=nodeK,ou=nodes,<base> (palisadectl node add, as the directory's admin),
#       DIR/nodeK/node.cfg (scripts/node-dev.sh config), then the node is started
#       (scripts/node-dev.sh start: waits for "node ready"). Every node listens for clients on
#       the shared port (SO_REUSEPORT: the kernel spreads connections over the nodes) and on
#       its own port (port base + K - 1), so a client or a test can pick its node.
#       Options:
#         --shared-port P        shared STARTTLS client port (default 5222)
#         --port-base B          node K's own STARTTLS port is B+K-1 (default 5231)
#         --shared-tls-port P    also a shared direct-TLS port (XEP-0368; default none)
#         --listen ADDR          address of the client ports (default 127.0.0.1)
#         --transport ipc|tcp    cluster links: ipc://DIR/nodeK/cluster.sock (default), or
#                                tcp://127.0.0.1:(C+K-1) with C = --cluster-port-base (7101)
#         --cluster-port-base C  see --transport tcp
#         --site S               xmppSite of every node (default none)
#         --heartbeat-ms MS --dead-after-ms MS   cluster.* (default: the node's)
#         --spif FILE            security policy (repeatable), --flot true|false
#         --cert FILE --key FILE one certificate for every node (default: self-signed for the
#                                first domain in DIR/tls, scripts/gen-cert.sh)
#       Anything after -- goes to every node-dev.sh config (e.g. -- --trace cluster).
#       $PALISADE and $PALISADECTL name the binaries (default build/node/palisade{,ctl}).
#   cluster-dev.sh stop DIR         stops every node of DIR (SIGTERM; node-dev.sh stop)
#   cluster-dev.sh kill DIR K       kill -9 of node K (failover tests); its entry stays
#   cluster-dev.sh restart DIR K    stops node K if it runs and starts it again (same key and
#                                   binary: $PALISADE, else the one start used)
#   cluster-dev.sh status DIR       which nodes run; exit 0 when all do, 3 otherwise
# The directory entries stay when the nodes stop; a later start with a smaller N removes
# the entries of the nodes it no longer has. Logs: DIR/nodeK/node.log.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
node_dev=$top/scripts/node-dev.sh
say() { echo "cluster-dev: $*"; }
die() { echo "cluster-dev: $*" >&2; exit 1; }
usage() { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0" >&2; exit 2; }

# Runs a command with its output indented; returns its status.
indent() {
    "$@" 2>&1 | sed 's/^/  /'
    return "${PIPESTATUS[0]}"
}

is_uint() { case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }

port_busy() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# The node folders of DIR, in order: DIR/node1 DIR/node2 ... up to the N of the last start
# (folders of a larger earlier cluster stay behind); with "all", every one of them.
node_dirs() {
    local dir=$1 d n=
    [ "${2:-}" = all ] || [ ! -r "$dir/cluster.env" ] ||
        n=$(sed -n "s/^CLUSTER_N='\([0-9]*\)'$/\1/p" "$dir/cluster.env")
    for d in "$dir"/node*; do
        [ -d "$d" ] || continue
        case "${d##*/node}" in '' | *[!0-9]*) continue ;; esac
        [ -z "$n" ] || [ "${d##*/node}" -le "$n" ] || continue
        echo "${d##*/node} $d"
    done | sort -n | cut -d' ' -f2-
}

node_running() {
    "$node_dev" status "$1" >/dev/null 2>&1
}

cmd_start() {
    [ $# -ge 2 ] || usage
    local dir=$1 n=$2
    shift 2
    is_uint "$n" && [ "$n" -ge 1 ] && [ "$n" -le 64 ] || die "N must be a number from 1 to 64, got '$n'"
    local ldap_env= domains=() shared=5222 base=5231 shared_tls= listen=127.0.0.1
    local transport=ipc cport=7101 site= hb= dead= spifs=() flot= cert= key= extra=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then
            shift
            extra=("$@")
            break
        fi
        [ $# -ge 2 ] || die "option $1 needs a value"
        case "$1" in
            --ldap-env) ldap_env=$2 ;;
            --domain) domains+=(--domain "$2") ;;
            --shared-port) shared=$2 ;;
            --port-base) base=$2 ;;
            --shared-tls-port) shared_tls=$2 ;;
            --listen) listen=$2 ;;
            --transport)
                case "$2" in ipc | tcp) transport=$2 ;; *) die "--transport ipc|tcp" ;; esac ;;
            --cluster-port-base) cport=$2 ;;
            --site) site=$2 ;;
            --heartbeat-ms) hb=$2 ;;
            --dead-after-ms) dead=$2 ;;
            --spif) spifs+=(--spif "$2") ;;
            --flot) flot=$2 ;;
            --cert) cert=$2 ;;
            --key) key=$2 ;;
            *) die "unknown option $1 (see: $0 --help)" ;;
        esac
        shift 2
    done
    [ -n "$ldap_env" ] || die "start: --ldap-env SLAPD_DIR/env is required (scripts/slapd-dev.sh start makes one)"
    [ -r "$ldap_env" ] || die "start: cannot read $ldap_env (is slapd started? scripts/slapd-dev.sh start DIR PORT)"
    ldap_env=$(cd "$(dirname "$ldap_env")" && pwd)/$(basename "$ldap_env")
    [ ${#domains[@]} -gt 0 ] || die "start: --domain is required"
    local p
    for p in "$shared" "$base" "$cport" ${shared_tls:+"$shared_tls"}; do
        is_uint "$p" && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "start: '$p' is not a port"
    done
    [ $((base + n - 1)) -le 65535 ] && [ $((cport + n - 1)) -le 65535 ] || die "start: ports beyond 65535"
    if [ -n "$cert" ] || [ -n "$key" ]; then
        [ -r "$cert" ] && [ -r "$key" ] || die "start: --cert and --key go together and must be readable"
    fi

    local ctl=${PALISADECTL:-$top/build/node/palisadectl}
    [ -x "$ctl" ] || die "no palisadectl at $ctl: build with scripts/build.sh (or set PALISADECTL)"
    local bin=${PALISADE:-$top/build/node/palisade}
    [ -x "$bin" ] || die "no node binary at $bin: build with scripts/build.sh (or set PALISADE)"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local d
    while IFS= read -r d; do
        if node_running "$d"; then
            die "a node already runs from $d: stop the cluster first ($0 stop $dir)"
        fi
    done < <(node_dirs "$dir" all)

    say "checking that the ports are free"
    local k ports=("$shared" ${shared_tls:+"$shared_tls"})
    for ((k = 1; k <= n; k++)); do
        ports+=($((base + k - 1)))
        [ "$transport" = ipc ] || ports+=($((cport + k - 1)))
    done
    for p in "${ports[@]}"; do
        if port_busy "$p"; then
            die "port $p is already in use (ss -ltnp 'sport = :$p'); stop that server or pick other ports (--shared-port, --port-base, --cluster-port-base)"
        fi
    done

    if [ -z "$cert" ]; then
        local first_domain=${domains[1]%%,*}
        say "certificate for $first_domain, shared by every node: $dir/tls (scripts/gen-cert.sh)"
        indent "$top/scripts/gen-cert.sh" "$dir/tls" "$first_domain" || die "gen-cert.sh failed (above)"
        cert=$dir/tls/cert.pem
        key=$dir/tls/key.pem
    fi

    local eps=()
    for ((k = 1; k <= n; k++)); do
        local nd=$dir/node$k ep
        mkdir -p "$nd"
        rm -f "$nd/killed"
        if [ "$transport" = ipc ]; then
            ep=ipc://$nd/cluster.sock
            [ $((${#ep} - 6)) -lt 108 ] || die "the ipc socket path $nd/cluster.sock is over 107 bytes (sun_path): use a shorter DIR, or --transport tcp"
        else
            ep=tcp://127.0.0.1:$((cport + k - 1))
        fi
        eps+=("$ep")
        if [ -s "$nd/curve.secret" ]; then
            say "node$k: keeping its CURVE key $nd/curve.secret"
        else
            say "node$k: new CURVE key in $nd/curve.secret (palisadectl node keygen)"
            "$ctl" node keygen --secret-file "$nd/curve.secret" >/dev/null 2>&1 ||
                die "palisadectl node keygen failed: run it by hand to see why: $ctl node keygen --secret-file $nd/curve.secret"
        fi
        say "node$k: directory entry xmppNodeName=node$k,ou=nodes (endpoint $ep${site:+, site $site})"
        indent "$ctl" --env "$ldap_env" node add "node$k" "$ep" --secret-file "$nd/curve.secret" \
            ${site:+--site "$site"} --replace || die "palisadectl node add node$k failed (above)"
    done

    # Entries of nodes an earlier, larger start of this DIR made: the others would keep
    # trying to reach them.
    local prev_n=0
    if [ -r "$dir/cluster.env" ]; then
        prev_n=$(sed -n "s/^CLUSTER_N='\([0-9]*\)'$/\1/p" "$dir/cluster.env")
    fi
    for ((k = n + 1; k <= ${prev_n:-0}; k++)); do
        say "node$k: removing its entry (this cluster has $n nodes now)"
        indent "$ctl" --env "$ldap_env" node del "node$k" || true
    done
    {
        echo "# cluster-dev.sh state for $dir"
        echo "CLUSTER_N='$n'"
        echo "CLUSTER_LDAP_ENV='$ldap_env'"
        echo "CLUSTER_TRANSPORT='$transport'"
        echo "CLUSTER_SHARED_PORT='$shared'"
        echo "CLUSTER_PORT_BASE='$base'"
        echo "CLUSTER_SHARED_TLS_PORT='$shared_tls'"
        echo "CLUSTER_PALISADE='$bin'"
    } >"$dir/cluster.env"
    export PALISADE=$bin

    local tls_args=()
    [ -z "$shared_tls" ] || tls_args=(--c2s-tls "$listen:$shared_tls")
    for ((k = 1; k <= n; k++)); do
        local nd=$dir/node$k
        say "node$k: writing $nd/node.cfg (clients on $listen:$shared and $listen:$((base + k - 1)))"
        indent "$node_dev" config "$nd" --name "node$k" "${domains[@]}" --ldap-env "$ldap_env" \
            --c2s "$listen:$shared" --c2s "$listen:$((base + k - 1))" ${tls_args[@]+"${tls_args[@]}"} \
            --cert "$cert" --key "$key" --cluster-secret-file "$nd/curve.secret" \
            ${hb:+--heartbeat-ms "$hb"} ${dead:+--dead-after-ms "$dead"} \
            ${spifs[@]+"${spifs[@]}"} ${flot:+--flot "$flot"} ${extra[@]+"${extra[@]}"} ||
            die "node-dev.sh config failed for node$k (above)"
    done

    local started=()
    for ((k = 1; k <= n; k++)); do
        local nd=$dir/node$k
        say "node$k: starting (log $nd/node.log)"
        if ! indent "$node_dev" start "$nd"; then
            say "node$k did not start: stopping the nodes started so far"
            for d in ${started[@]+"${started[@]}"}; do "$node_dev" stop "$d" >/dev/null 2>&1 || true; done
            die "node$k did not start (log $nd/node.log)"
        fi
        started+=("$nd")
    done

    say "cluster of $n nodes running from $dir:"
    for ((k = 1; k <= n; k++)); do
        printf '  node%-3s pid %-8s clients %s:%s (shared) and %s:%s, cluster %s\n' "$k" \
            "$(cat "$dir/node$k/node.pid")" "$listen" "$shared" "$listen" $((base + k - 1)) "${eps[k - 1]}"
    done
    say "stop it with: $0 stop $dir"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local dir=$1 d rc=0 any=
    [ -d "$dir" ] || die "no such folder: $dir"
    dir=$(cd "$dir" && pwd)
    while IFS= read -r d; do
        any=yes
        local name=${d##*/}
        if node_running "$d"; then
            say "$name: stopping"
            indent "$node_dev" stop "$d" || rc=1
        elif [ -e "$d/killed" ]; then
            say "$name: not running (killed with kill -9 by this script)"
            rm -f "$d/node.pid"
        elif [ -s "$d/node.exit" ] && [ "$(cat "$d/node.exit")" != 0 ]; then
            say "$name: not running; it had exited with status $(cat "$d/node.exit") (log $d/node.log)"
            rm -f "$d/node.pid"
            rc=1
        else
            say "$name: not running"
        fi
    done < <(node_dirs "$dir")
    # a node of a larger earlier cluster that still runs (started by hand)
    while IFS= read -r d; do
        if [ "${d##*/node}" -gt "$(node_dirs "$dir" | wc -l)" ] && node_running "$d"; then
            say "${d##*/}: stopping (not part of the last start)"
            indent "$node_dev" stop "$d" || rc=1
        fi
    done < <(node_dirs "$dir" all)
    [ -n "$any" ] || say "no nodes in $dir"
    [ "$rc" -eq 0 ] || die "some nodes did not stop cleanly (above)"
    say "stopped"
}

node_dir_k() {
    local dir=$1 k=$2
    is_uint "$k" && [ "$k" -ge 1 ] || die "K must be a node number (1, 2, ...), got '$k'"
    [ -d "$dir/node$k" ] && [ -r "$dir/node$k/node.cfg" ] || die "no node$k in $dir (start the cluster first)"
    (cd "$dir/node$k" && pwd)
}

cmd_kill() {
    [ $# -eq 2 ] || usage
    local d pid
    d=$(node_dir_k "$1" "$2")
    node_running "$d" || die "node$2 is not running"
    pid=$(cat "$d/node.pid")
    say "node$2: kill -9 $pid"
    : >"$d/killed"
    kill -KILL "$pid"
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "node$2 (pid $pid) is still there 10 s after SIGKILL"
        sleep 0.02
    done
    say "node$2: gone (its directory entry stays; $0 restart $1 $2 brings it back)"
}

cmd_restart() {
    [ $# -eq 2 ] || usage
    local d
    d=$(node_dir_k "$1" "$2")
    if node_running "$d"; then
        say "node$2: stopping"
        indent "$node_dev" stop "$d" || die "node$2 did not stop cleanly (above)"
    fi
    rm -f "$d/killed"
    # the binary the cluster was started with, unless $PALISADE says otherwise
    if [ -z "${PALISADE:-}" ] && [ -r "$1/cluster.env" ]; then
        local b
        b=$(sed -n "s/^CLUSTER_PALISADE='\(.*\)'$/\1/p" "$1/cluster.env")
        [ -z "$b" ] || export PALISADE=$b
    fi
    say "node$2: starting ${PALISADE:+$PALISADE }(log $d/node.log)"
    indent "$node_dev" start "$d" || die "node$2 did not start (log $d/node.log)"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    local dir=$1 d all=0 up=0
    [ -d "$dir" ] || die "no such folder: $dir"
    while IFS= read -r d; do
        all=$((all + 1))
        if node_running "$d"; then
            up=$((up + 1))
            say "${d##*/}: running (pid $(cat "$d/node.pid"))"
        else
            say "${d##*/}: not running"
        fi
    done < <(node_dirs "$dir")
    say "$up of $all nodes running"
    [ "$all" -gt 0 ] && [ "$up" -eq "$all" ] || exit 3
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    kill) cmd_kill "$@" ;;
    restart) cmd_restart "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help) usage ;;
    *) usage ;;
esac
