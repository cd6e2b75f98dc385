#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# load-sample.sh - sample accounts for development and tests in a slapd made by
# scripts/slapd-dev.sh: alice, bob, carol and dave @DOMAIN, passwords
# <name>-secret, with vCard data (cn, givenName, sn, mail, telephoneNumber,
# title, ou; alice also has a jpegPhoto from test/data/alice.jpg).
# Accounts are created with palisadectl (so they get {SSHA} and SCRAM secrets);
# the vCard attributes are set with ldapmodify. Running it again resets the
# passwords and attributes.
#
#   load-sample.sh DIR DOMAIN
#
# PALISADECTL names the palisadectl binary (default: build/node/palisadectl).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"

say() { printf 'load-sample: %s\n' "$*"; }
die() {
    printf 'load-sample: error: %s\n' "$1" >&2
    [ $# -ge 2 ] && printf 'load-sample: what to do: %s\n' "$2" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: $0 DIR DOMAIN" "DIR is the folder given to scripts/slapd-dev.sh start"
dir="$1"
domain="$2"
[ -r "$dir/env" ] || die "no $dir/env" "start the directory first: scripts/slapd-dev.sh start $dir PORT"
# shellcheck disable=SC1091
. "$dir/env"

ctl="${PALISADECTL:-$top/build/node/palisadectl}"
[ -x "$ctl" ] || die "no palisadectl at $ctl" \
    "build it (cmake --build build --target palisadectl) or set PALISADECTL=/path/to/palisadectl"
command -v ldapmodify >/dev/null || die "ldapmodify is missing" "install the Debian package ldap-utils"
photo="$top/test/data/alice.jpg"
[ -r "$photo" ] || die "cannot read $photo" "run this script from a Palisade checkout"

ctl_run() { "$ctl" --env "$dir/env" --domain "$domain" "$@"; }

# uid | given name | surname | title | ou | telephone
users=(
    "alice|Alice|Liddell|Explorer|Wonderland|+44 1865 270000"
    "bob|Bob|Marley|Engineer|Engineering|+1 876 555 0101"
    "carol|Carol|Danvers|Analyst|Intelligence|+1 202 555 0142"
    "dave|Dave|Bowman|Operator|Operations|+1 321 555 0199"
)

say "palisadectl: $ctl; directory: $LDAP_URI; domain: $domain"
existing="$(ctl_run user list | cut -f1)" || die "palisadectl user list failed" \
    "check the directory: scripts/slapd-dev.sh status $dir"

for row in "${users[@]}"; do
    IFS='|' read -r uid given sn title ou phone <<<"$row"
    jid="$uid@$domain"
    if grep -qxF "$jid" <<<"$existing"; then
        say "$jid exists: resetting its password"
        printf '%s\n' "$uid-secret" | ctl_run user passwd "$jid" --password-stdin >/dev/null ||
            die "could not set the password of $jid" "see the palisadectl message above"
    else
        say "adding $jid"
        printf '%s\n' "$uid-secret" |
            ctl_run user add "$jid" --password-stdin --name "$given $sn" >/dev/null ||
            die "could not add $jid" "see the palisadectl message above"
    fi
    dn="$(ctl_run user list | awk -F'\t' -v j="$jid" '$1 == j { print $4 }')"
    [ -n "$dn" ] || die "$jid is not in the directory after adding it" "check $dir/slapd.log"

    say "setting the vCard attributes of $jid"
    {
        printf 'dn: %s\nchangetype: modify\n' "$dn"
        printf 'replace: cn\ncn: %s %s\n-\n' "$given" "$sn"
        printf 'replace: givenName\ngivenName: %s\n-\n' "$given"
        printf 'replace: sn\nsn: %s\n-\n' "$sn"
        printf 'replace: mail\nmail: %s@%s\n-\n' "$uid" "$domain"
        printf 'replace: telephoneNumber\ntelephoneNumber: %s\n-\n' "$phone"
        printf 'replace: title\ntitle: %s\n-\n' "$title"
        printf 'replace: ou\nou: %s\n' "$ou"
        if [ "$uid" = alice ]; then
            printf -- '-\nreplace: jpegPhoto\njpegPhoto:< file://%s\n' "$photo"
        fi
        printf '\n'
    } | ldapmodify -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_ADMIN_SECRET_FILE" >/dev/null ||
        die "ldapmodify of $dn failed" "check $dir/slapd.log"
done
say "done: alice, bob, carol, dave @$domain (passwords <name>-secret)"
