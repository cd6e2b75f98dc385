#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# load-sample.sh - sample accounts for development and tests in a slapd made by
# scripts/slapd-dev.sh: alice, bob, carol and dave @DOMAIN, passwords
# <name>-secret, with vCard data (cn, givenName, sn, mail, telephoneNumber,
# title, ou; alice also has a jpegPhoto from test/data/alice.jpg), and
# clearances under the sample security policy (policy/spif/palisade-sample.xml,
# policy PALISADE: UNCLASSIFIED < RESTRICTED < CONFIDENTIAL < SECRET, restrictive
# "Need To Know" NATO/EU, permissive "Releasable To" GBR/FRA/DEU/USA):
#
#   alice, bob  up to SECRET, NATO and EU, releasable to GBR FRA DEU USA
#   carol       up to RESTRICTED, releasable to GBR FRA DEU USA, no Need To Know:
#               she reads RESTRICTED (REL TO ...) but not CONFIDENTIAL, SECRET,
#               or anything compartmented NATO or EU
#   dave        no clearance: he sends and reads unlabelled messages only
#
# There is no default label (server, domain or user): unlabelled messages stay
# unlabelled, so dave can chat with everyone. To try one:
#   palisadectl --env DIR/env --spif policy/spif/palisade-sample.xml \
#       settings default-label 'policy=PALISADE class=UNCLASSIFIED'     (server-wide)
#   palisadectl ... settings default-label --domain DOMAIN 'policy=PALISADE class=RESTRICTED'
#   palisadectl ... --domain DOMAIN user default-label alice 'policy=PALISADE class=SECRET'
# (dave, with no clearance, may not send a labelled default: his unlabelled
# messages would then be refused.) Running this script again removes them.
#
# Two persistent multi-user chat rooms (xmppRoom entries under ou=rooms) at the
# room service conference.DOMAIN, and one group (groupOfNames under ou=groups):
#
#   briefing@conference.DOMAIN    clearance up to SECRET, NATO and EU, releasable
#                                 to GBR FRA DEU USA (alice's); no default label, so
#                                 alice, bob, carol and dave may all join (each
#                                 reads what their clearance allows); owner alice
#   restricted@conference.DOMAIN  clearance up to RESTRICTED; default label
#                                 'policy=PALISADE class=RESTRICTED' (unlabelled
#                                 messages get it; joining needs a clearance that
#                                 dominates it, which dave lacks); members only
#                                 (muc#roomconfig_membersonly=1); owner alice;
#                                 members: the group cn=analysts,ou=groups (carol
#                                 and bob)
#
# Running it again resets both rooms and the group to exactly this.
#
# Accounts, clearances, labels and rooms are set with palisadectl (so accounts
# get {SSHA} and SCRAM secrets and clearances are DER from their text form); the
# vCard attributes and the group with ldapmodify. Running it again resets the passwords,
# attributes, clearances, default labels and label-support settings.
#
#   load-sample.sh DIR DOMAIN
#
# PALISADECTL names the palisadectl binary (default: build/node/palisadectl).
# PALISADE_SPIF names the SPIF file of the sample policy (default:
# policy/spif/palisade-sample.xml); it must define the names above.
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
spif="${PALISADE_SPIF:-$top/policy/spif/palisade-sample.xml}"
[ -r "$spif" ] || die "cannot read the sample policy $spif" \
    "run this script from a Palisade checkout, or set PALISADE_SPIF=/path/to/palisade-sample.xml"
command -v ldapmodify >/dev/null || die "ldapmodify is missing" "install the Debian package ldap-utils"
photo="$top/test/data/alice.jpg"
[ -r "$photo" ] || die "cannot read $photo" "run this script from a Palisade checkout"

ctl_run() { "$ctl" --env "$dir/env" --spif "$spif" --domain "$domain" "$@"; }
# settings commands take their scope from a --domain after the command words
ctl_settings() { "$ctl" --env "$dir/env" --spif "$spif" settings "$@"; }

# Clearance text per user (palisadectl's text form; "" = no clearance).
clearance_of() {
    case "$1" in
    alice | bob) printf '%s' 'policy=PALISADE class=SECRET categories=NATO,EU,GBR,FRA,DEU,USA' ;;
    carol) printf '%s' 'policy=PALISADE class=RESTRICTED categories=GBR,FRA,DEU,USA' ;;
    *) printf '' ;;
    esac
}

# uid | given name | surname | title | ou | telephone
users=(
    "alice|Alice|Liddell|Explorer|Wonderland|+44 1865 270000"
    "bob|Bob|Marley|Engineer|Engineering|+1 876 555 0101"
    "carol|Carol|Danvers|Analyst|Intelligence|+1 202 555 0142"
    "dave|Dave|Bowman|Operator|Operations|+1 321 555 0199"
)

say "palisadectl: $ctl; directory: $LDAP_URI; domain: $domain; policy: $spif"
declare -A user_dn
"$ctl" --spif "$spif" policy check >/dev/null ||
    die "the sample policy $spif does not load" "see the palisadectl message above"
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
    user_dn[$uid]="$dn"

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

    clearance="$(clearance_of "$uid")"
    if [ -n "$clearance" ]; then
        say "clearance of $jid: $clearance"
        ctl_run user clearance "$jid" "$clearance" >/dev/null ||
            die "could not set the clearance of $jid" "see the palisadectl message above"
    else
        say "clearance of $jid: none"
        ctl_run user clearance "$jid" --clear >/dev/null ||
            die "could not clear the clearance of $jid" "see the palisadectl message above"
    fi
    ctl_run user default-label "$jid" --clear >/dev/null &&
        ctl_run user label-support "$jid" default >/dev/null ||
        die "could not reset the label settings of $jid" "see the palisadectl message above"
done
say "no default labels: clearing the server's and $domain's (if set)"
ctl_settings default-label --clear >/dev/null &&
    ctl_settings default-label --domain "$domain" --clear >/dev/null ||
    die "could not clear the default labels" "see the palisadectl message above"

ldap_admin() { "$1" -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_ADMIN_SECRET_FILE" "${@:2}"; }
# Adds the entry of the LDIF on stdin; 68 (alreadyExists) is left to the caller.
ldif_add() {
    local rc=0
    ldap_admin ldapmodify >/dev/null 2>"$dir/load-sample.err" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 68 ]; then
        sed 's/^/    /' "$dir/load-sample.err" >&2
        die "ldapmodify failed (exit $rc)" "check $dir/slapd.log"
    fi
    return "$rc"
}

groups_dn="${LDAP_GROUPS:-ou=groups,$LDAP_BASE}"
analysts="cn=analysts,$groups_dn"
say "group $analysts: carol and bob"
printf 'dn: %s\nchangetype: add\nobjectClass: organizationalUnit\nou: groups\n\n' "$groups_dn" |
    ldif_add || true
if ! printf 'dn: %s\nchangetype: add\nobjectClass: groupOfNames\ncn: analysts\nmember: %s\nmember: %s\ndescription: %s\n\n' \
    "$analysts" "${user_dn[carol]}" "${user_dn[bob]}" "sample group: members of restricted@conference.$domain" |
    ldif_add; then
    printf 'dn: %s\nchangetype: modify\nreplace: member\nmember: %s\nmember: %s\n\n' \
        "$analysts" "${user_dn[carol]}" "${user_dn[bob]}" | ldif_add ||
        die "could not reset the members of $analysts" "check $dir/slapd.log"
fi

# room JID OPTIONS... -- SET_ONLY_OPTIONS...: adds the room, or resets an existing one
room() {
    local jid="$1" common=() resets=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do common+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    resets=("$@")
    if ctl_run room show "$jid" >/dev/null 2>&1; then
        say "$jid exists: resetting it"
        ctl_run room set "$jid" "${common[@]}" "${resets[@]}" >/dev/null ||
            die "could not reset the room $jid" "see the palisadectl message above"
    else
        say "adding the room $jid"
        ctl_run room add "$jid" "${common[@]}" >/dev/null ||
            die "could not add the room $jid" "see the palisadectl message above"
    fi
}
room "briefing@conference.$domain" --name "Briefing room" \
    --description "Daily briefing, up to SECRET NATO/EU" \
    --clearance "$(clearance_of alice)" --owner "alice@$domain" \
    -- --no-default-label --no-admins --no-members --no-outcasts --no-room-config
room "restricted@conference.$domain" --name "Restricted room" \
    --description "Analysts only, up to RESTRICTED" \
    --clearance 'policy=PALISADE class=RESTRICTED' \
    --default-label 'policy=PALISADE class=RESTRICTED' \
    --owner "alice@$domain" --member "$analysts" \
    --room-config muc#roomconfig_membersonly=1 \
    -- --no-admins --no-outcasts --no-room-config

say "done: alice, bob, carol, dave @$domain (passwords <name>-secret); clearances:"
ctl_run user list | awk -F'\t' '{ printf "load-sample:   %-24s %s\n", $1, $5 }'
say "rooms:"
ctl_run room list | awk -F'\t' '{ printf "load-sample:   %-32s %s\n", $1, $4 }'
