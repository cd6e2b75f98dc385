#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# node-dev.sh - write a node config, start a Palisade node in the background, stop it.
#
#   node-dev.sh config DIR --name N --domain D --c2s ADDR --c2s-tls ADDR --ldap-env SLAPD_DIR/env
#                      [--tls-required true|false] [--tls-resumption true|false]
#                      [--cert FILE --key FILE]
#                      [--pkcs12 FILE --pkcs12-password-file FILE]
#                      [--auth-timeout S] [--failure-delay-ms MS] [--max-failures N]
#                      [--max-stanza-bytes N] [--max-depth N] [--log-level L] [--trace a,b]
#                      [--spif FILE] [--flot true|false]
#                      [--cluster-secret-file F] [--heartbeat-ms MS] [--dead-after-ms MS]
#                      [--control-socket PATH]
#       writes DIR/node.cfg (absolute paths). --domain, --c2s/--c2s-tls and --spif may repeat
#       or take comma-separated lists. Without --cert/--pkcs12 a self-signed certificate for
#       the first domain is made in DIR (scripts/gen-cert.sh). --spif loads security policies
#       (policy.spif, e.g. policy/spif/palisade-sample.xml); --flot (default true) puts the
#       display marking in the body for clients without label support (policy.flot).
#       --cluster-secret-file makes the node a cluster member (cluster.curve_secret_file, from
#       palisadectl node keygen; its xmppNode entry: palisadectl node add, or cluster-dev.sh);
#       --heartbeat-ms and --dead-after-ms set cluster.*. --control-socket (default
#       DIR/ctl.sock) is where palisadectl status asks the node (control.socket).
#   node-dev.sh start DIR
#       starts $PALISADE (default build/node/palisade) -c DIR/node.cfg in the background,
#       log in DIR/node.log, pid in DIR/node.pid; waits up to $NODE_READY_TIMEOUT seconds
#       (default 15) for "node ready" in the log. The exit status lands in DIR/node.exit.
#   node-dev.sh stop DIR
#       SIGTERM, waits up to 30 s (then SIGKILL); fails when the node exited non-zero.
#   node-dev.sh status DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "node-dev: $*"; }
die() { echo "node-dev: $*" >&2; exit 1; }
usage() { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0" >&2; exit 2; }

abspath() {
    local p=$1
    [ -e "$p" ] || die "no such file: $p"
    echo "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
}

# "a,b" "c" -> "a", "b", "c" as a libconfig list body
cfg_list() {
    local out= item
    local IFS=,
    for item in $*; do
        item=${item// /}
        [ -n "$item" ] || continue
        out+="${out:+, }\"$item\""
    done
    echo "$out"
}

cmd_config() {
    [ $# -ge 1 ] || usage
    local dir=$1; shift
    local name= domains=() c2s=() c2s_tls=() ldap_env= tls_required=true tls_resumption= cert= key=
    local p12= p12pw= auth_timeout=30 fail_delay=1000 max_fail=5 max_bytes=262144 max_depth=64
    local level=info trace= spifs=() flot=
    local cluster_secret= heartbeat_ms= dead_after_ms= control_socket=
    while [ $# -gt 0 ]; do
        [ $# -ge 2 ] || die "option $1 needs a value"
        case "$1" in
            --name) name=$2 ;;
            --domain) domains+=("$2") ;;
            --c2s) c2s+=("$2") ;;
            --c2s-tls) c2s_tls+=("$2") ;;
            --ldap-env) ldap_env=$2 ;;
            --tls-required)
                case "$2" in true|false) tls_required=$2 ;; *) die "--tls-required true|false" ;; esac ;;
            --tls-resumption)
                case "$2" in true|false) tls_resumption=" resumption = $2;" ;;
                             *) die "--tls-resumption true|false" ;; esac ;;
            --cert) cert=$2 ;;
            --key) key=$2 ;;
            --pkcs12) p12=$2 ;;
            --pkcs12-password-file) p12pw=$2 ;;
            --auth-timeout) auth_timeout=$2 ;;
            --failure-delay-ms) fail_delay=$2 ;;
            --max-failures) max_fail=$2 ;;
            --max-stanza-bytes) max_bytes=$2 ;;
            --max-depth) max_depth=$2 ;;
            --log-level) level=$2 ;;
            --trace) trace=$2 ;;
            --spif) spifs+=("$2") ;;
            --flot)
                case "$2" in true|false) flot=$2 ;; *) die "--flot true|false" ;; esac ;;
            --cluster-secret-file) cluster_secret=$2 ;;
            --heartbeat-ms) heartbeat_ms=$2 ;;
            --dead-after-ms) dead_after_ms=$2 ;;
            --control-socket) control_socket=$2 ;;
            *) die "unknown option $1" ;;
        esac
        shift 2
    done
    [ -n "$name" ] || die "config: --name is required"
    [ ${#domains[@]} -gt 0 ] || die "config: --domain is required"
    [ ${#c2s[@]} -gt 0 ] || [ ${#c2s_tls[@]} -gt 0 ] || die "config: --c2s or --c2s-tls is required"
    [ -n "$ldap_env" ] || die "config: --ldap-env SLAPD_DIR/env is required"
    [ -r "$ldap_env" ] || die "config: cannot read $ldap_env (is slapd started? scripts/slapd-dev.sh start)"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # shellcheck disable=SC1090
    ( set +u; . "$ldap_env"; for v in LDAP_URI LDAP_BASE LDAP_USERS LDAP_SERVICE_DN LDAP_SERVICE_SECRET_FILE; do
          [ -n "${!v:-}" ] || { echo "node-dev: $ldap_env does not set $v" >&2; exit 1; }
      done ) || exit 1
    local LDAP_URI LDAP_BASE LDAP_USERS LDAP_SERVICE_DN LDAP_SERVICE_SECRET_FILE
    eval "$(set +u; . "$ldap_env"; declare -p LDAP_URI LDAP_BASE LDAP_USERS LDAP_SERVICE_DN \
            LDAP_SERVICE_SECRET_FILE | sed 's/^declare -[a-z-]* //')"

    local first_domain
    first_domain=$(cfg_list "${domains[0]}" | sed 's/^"\([^"]*\)".*/\1/')
    local tls_block
    if [ -n "$p12" ]; then
        [ -n "$p12pw" ] || die "config: --pkcs12 needs --pkcs12-password-file"
        tls_block="pkcs12 = \"$(abspath "$p12")\"; pkcs12_password_file = \"$(abspath "$p12pw")\";"
    else
        if [ -z "$cert" ]; then
            "$top/scripts/gen-cert.sh" "$dir" "$first_domain" >/dev/null
            cert=$dir/cert.pem
            key=$dir/key.pem
        fi
        [ -n "$key" ] || die "config: --cert needs --key"
        tls_block="cert = \"$(abspath "$cert")\"; key = \"$(abspath "$key")\";"
    fi

    local policy_block= spif_list= arg f parts
    for arg in ${spifs[@]+"${spifs[@]}"}; do
        IFS=, read -ra parts <<<"$arg"
        for f in ${parts[@]+"${parts[@]}"}; do
            [ -n "$f" ] || continue
            spif_list+="${spif_list:+, }\"$(abspath "$f")\""
        done
    done
    if [ -n "$spif_list" ]; then
        policy_block="policy = { spif = [$spif_list]; flot = ${flot:-true}; };"
    elif [ -n "$flot" ]; then
        policy_block="policy = { flot = $flot; };"
    fi

    local cluster_block=
    if [ -n "$cluster_secret" ]; then
        cluster_block="cluster = { curve_secret_file = \"$(abspath "$cluster_secret")\";"
        [ -z "$heartbeat_ms" ] || cluster_block+=" heartbeat_ms = $heartbeat_ms;"
        [ -z "$dead_after_ms" ] || cluster_block+=" dead_after_ms = $dead_after_ms;"
        cluster_block+=" };"
    elif [ -n "$heartbeat_ms$dead_after_ms" ]; then
        die "config: --heartbeat-ms and --dead-after-ms need --cluster-secret-file"
    fi
    local control_block=
    if [ -n "$control_socket" ]; then
        case "$control_socket" in /*) ;; *) control_socket=$PWD/$control_socket ;; esac
        [ ${#control_socket} -lt 108 ] || die "config: the control socket path $control_socket is over 107 bytes (sun_path); pass a shorter --control-socket"
    else
        control_socket=$dir/ctl.sock
        if [ ${#control_socket} -ge 108 ]; then
            say "warning: $control_socket is over 107 bytes (sun_path): no control socket (pass a shorter --control-socket)"
            control_socket=
        fi
    fi
    [ -z "$control_socket" ] || control_block="control = { socket = \"$control_socket\"; };"

    local listen=
    [ ${#c2s[@]} -gt 0 ] && listen+="c2s = [$(cfg_list "${c2s[@]}")]; "
    [ ${#c2s_tls[@]} -gt 0 ] && listen+="c2s_tls = [$(cfg_list "${c2s_tls[@]}")]; "

    cat > "$dir/node.cfg.tmp" <<CFG
# Written by scripts/node-dev.sh; rewritten on each run.
node = { name = "$name"; };
server = { domains = [$(cfg_list "${domains[@]}")]; };
listen = { ${listen}reuseport = true; };
tls = { $tls_block required = $tls_required;$tls_resumption };
sasl = {
    mechanisms = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"];
    failure_delay_ms = $fail_delay;
    max_failures = $max_fail;
};
limits = { max_stanza_bytes = $max_bytes; max_depth = $max_depth; max_attributes = 64; auth_timeout_s = $auth_timeout; };
log = { level = "$level"; syslog = false; trace = [$(cfg_list "$trace")]; };
ldap = {
    uri = "$LDAP_URI";
    bind_dn = "$LDAP_SERVICE_DN";
    bind_secret_file = "$(abspath "$LDAP_SERVICE_SECRET_FILE")";
    base = "$LDAP_BASE";
    users = "$LDAP_USERS";
};
$policy_block
$cluster_block
$control_block
CFG
    mv "$dir/node.cfg.tmp" "$dir/node.cfg"
    say "wrote $dir/node.cfg (node $name, domains ${domains[*]}, c2s ${c2s[*]:-none}, c2s_tls ${c2s_tls[*]:-none}, tls.required $tls_required, policies ${spif_list:-none})"
    [ -z "$cluster_secret" ] || say "  cluster member: key $cluster_secret${heartbeat_ms:+, heartbeat ${heartbeat_ms} ms}${dead_after_ms:+, dead after ${dead_after_ms} ms}; control socket ${control_socket:-none}"
}

node_pid() {
    local dir=$1 pid
    [ -s "$dir/node.pid" ] || return 1
    pid=$(cat "$dir/node.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

cmd_start() {
    [ $# -eq 1 ] || usage
    local dir
    dir=$(cd "$1" && pwd) || die "no such folder: $1"
    [ -r "$dir/node.cfg" ] || die "no $dir/node.cfg: run node-dev.sh config first"
    local bin=${PALISADE:-$top/build/node/palisade}
    [ -x "$bin" ] || die "no node binary at $bin: build it with scripts/build.sh (or set PALISADE)"
    local pid
    if pid=$(node_pid "$dir"); then
        die "a node already runs from $dir (pid $pid): node-dev.sh stop $dir"
    fi
    rm -f "$dir/node.pid" "$dir/node.exit"
    : > "$dir/node.log"
    say "starting $bin -c $dir/node.cfg (log $dir/node.log)"
    # The subshell is the node's parent: it records the exit status for stop. It ignores
    # the signals a terminal or a process-group kill sends, so it outlives the node;
    # the node itself gets default dispositions back.
    (
        trap '' INT TERM HUP
        (trap - INT TERM HUP; exec "$bin" -c "$dir/node.cfg") </dev/null >>"$dir/node.log" 2>&1 &
        echo $! > "$dir/node.pid"
        rc=0
        wait $! || rc=$?
        echo "$rc" > "$dir/node.exit"
    ) </dev/null >/dev/null 2>&1 &
    local timeout=${NODE_READY_TIMEOUT:-15}
    local deadline=$((SECONDS + timeout))
    while [ ! -s "$dir/node.pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    pid=$(cat "$dir/node.pid" 2>/dev/null || true)
    while :; do
        if grep -q "node ready" "$dir/node.log"; then
            say "node ready (pid $pid)"
            return 0
        fi
        if [ -s "$dir/node.exit" ]; then
            tail -n 30 "$dir/node.log" | sed 's/^/  | /' >&2
            die "the node exited with status $(cat "$dir/node.exit") before it was ready (log tail above, full log $dir/node.log)"
        fi
        if [ $SECONDS -ge $deadline ]; then
            tail -n 30 "$dir/node.log" | sed 's/^/  | /' >&2
            [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
            die "no \"node ready\" in $dir/node.log after ${timeout}s (log tail above); is the directory up (scripts/slapd-dev.sh status)?"
        fi
        sleep 0.05
    done
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local dir=$1 pid
    [ -d "$dir" ] || die "no such folder: $dir"
    if ! pid=$(node_pid "$dir"); then
        if [ -s "$dir/node.exit" ]; then
            local rc
            rc=$(cat "$dir/node.exit")
            rm -f "$dir/node.pid"
            if [ "$rc" != 0 ]; then
                die "the node had already exited, with status $rc (log $dir/node.log)"
            fi
        fi
        say "no node running from $dir"
        return 0
    fi
    say "stopping the node (pid $pid) with SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$dir/node.pid"
            die "the node did not stop within 30 s of SIGTERM; killed it (log $dir/node.log)"
        fi
        sleep 0.05
    done
    # the wrapper writes the status right after the node is reaped
    deadline=$((SECONDS + 5))
    while [ ! -s "$dir/node.exit" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    local rc
    rc=$(cat "$dir/node.exit" 2>/dev/null || echo unknown)
    rm -f "$dir/node.pid"
    if [ "$rc" != 0 ]; then
        die "the node exited with status $rc after SIGTERM (log $dir/node.log)"
    fi
    say "node stopped cleanly"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    local pid
    if pid=$(node_pid "$1"); then
        say "running (pid $pid)"
    else
        say "not running"
        return 1
    fi
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
    config) cmd_config "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    *) usage ;;
esac
