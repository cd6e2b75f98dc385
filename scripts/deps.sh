#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages Palisade needs to build, run and test.
# Installs only what is missing, non-interactively, and only when run as root.
# Usage: scripts/deps.sh [--bench]   (--bench adds Prosody for the comparison benchmark)
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config git ca-certificates openssl procps psmisc iproute2
    libldap2-dev libexpat1-dev libssl-dev libzmq3-dev libsasl2-dev libsasl2-modules
    libconfig-dev libidn-dev libcmocka-dev
    slapd ldap-utils
    python3 python3-slixmpp python3-pytest
)
if [ "${1:-}" = "--bench" ]; then
    pkgs+=(prosody lua-bitop)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: run this script as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# slapd must not create a system database or start a system service: our scripts
# run their own slapd in a scratch folder.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! apt-get update -qq; then
    echo "deps: apt-get update failed; check the apt sources and the network to the Debian mirror" >&2
    exit 1
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/palisade-deps.log 2>&1; then
    tail -20 /tmp/palisade-deps.log >&2
    echo "deps: apt-get install failed (full log: /tmp/palisade-deps.log)" >&2
    exit 1
fi
echo "deps: done"
