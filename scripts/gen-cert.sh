#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gen-cert.sh - a self-signed EC P-256 server certificate for development and tests.
# Usage: scripts/gen-cert.sh DIR DOMAIN
# Writes DIR/cert.pem, DIR/key.pem (mode 600), DIR/cert.p12 (cert + key, PKCS#12 with
# OpenSSL 3 defaults) and DIR/p12.secret (its password, mode 600). Subject CN and
# subjectAltName DNS are DOMAIN; valid 825 days. An existing pair for the same DOMAIN
# is kept, so clients that accepted it once keep trusting it.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 DIR DOMAIN" >&2
    exit 2
fi
dir=$1
domain=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] && [ -s "$dir/cert.p12" ] &&
   [ -s "$dir/p12.secret" ] &&
   openssl x509 -in "$dir/cert.pem" -noout -checkend 86400 >/dev/null 2>&1 &&
   openssl x509 -in "$dir/cert.pem" -noout -ext subjectAltName 2>/dev/null |
       grep -qx "[[:space:]]*DNS:$domain"; then
    echo "gen-cert: keeping the certificate for $domain in $dir/cert.pem"
    exit 0
fi

echo "gen-cert: creating a self-signed EC P-256 certificate for $domain in $dir"
umask 077
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 825 -sha256 \
    -subj "/CN=$domain" \
    -addext "subjectAltName=DNS:$domain" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" 2>/dev/null
openssl rand -hex 16 > "$dir/p12.secret"
openssl pkcs12 -export -in "$dir/cert.pem" -inkey "$dir/key.pem" -name "$domain" \
    -out "$dir/cert.p12" -passout "file:$dir/p12.secret"
chmod 644 "$dir/cert.pem"
echo "gen-cert: wrote cert.pem, key.pem, cert.p12 (password in p12.secret);" \
     "SHA-256 fingerprint $(openssl x509 -in "$dir/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)"
