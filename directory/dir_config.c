/* SPDX-License-Identifier: Apache-2.0 */
/* dir_config.c - the "ldap" config group: where the directory is and how the
 * node binds to it. core/config.c reads it with the rest of node.cfg; dir_new()
 * checks what a table cannot (exactly one of bind_secret and bind_secret_file).
 * Optional strings default to "" and mean "not set". None of it reloads: the
 * connections are made once. */
#include "directory/directory.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <ldap.h>

static bool
check_uri(const void *value, char *err, size_t errlen)
{
    const char *uri = *(char *const *)value;
    LDAPURLDesc *lud = NULL;
    if (!uri || ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS) {
        snprintf(err, errlen, "not an LDAP URI (ldap://host:port, ldaps://..., ldapi://...)");
        return false;
    }
    bool ok = lud->lud_next == NULL; /* one server: failover is the DNS's or a proxy's job */
    ldap_free_urldesc(lud);
    if (!ok)
        snprintf(err, errlen, "give one URI, not a list");
    return ok;
}

static bool
check_dn(const void *value, char *err, size_t errlen)
{
    const char *dn = *(char *const *)value;
    LDAPDN parsed = NULL;
    if (!dn || dn[0] == '\0')
        return true; /* "not set"; required ones have no default */
    if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
        snprintf(err, errlen, "not a distinguished name (RFC 4514)");
        return false;
    }
    ldap_dnfree(parsed);
    return true;
}

static const struct config_item ldap_items[] = {
    {"ldap.uri", CONFIG_STRING, offsetof(struct dir_settings, uri), NULL, 0, 0, check_uri, false},
    {"ldap.starttls", CONFIG_BOOL, offsetof(struct dir_settings, starttls), "false", 0, 0, NULL,
     false},
    {"ldap.ca_file", CONFIG_STRING, offsetof(struct dir_settings, ca_file), "", 0, 0, NULL, false},
    {"ldap.bind_dn", CONFIG_STRING, offsetof(struct dir_settings, bind_dn), NULL, 0, 0, check_dn,
     false},
    {"ldap.bind_secret", CONFIG_STRING, offsetof(struct dir_settings, bind_secret), "", 0, 0, NULL,
     false},
    {"ldap.bind_secret_file", CONFIG_STRING, offsetof(struct dir_settings, bind_secret_file), "", 0,
     0, NULL, false},
    {"ldap.base", CONFIG_STRING, offsetof(struct dir_settings, base), NULL, 0, 0, check_dn, false},
    {"ldap.users", CONFIG_STRING, offsetof(struct dir_settings, users), "", 0, 0, check_dn, false},
    {"ldap.rooms", CONFIG_STRING, offsetof(struct dir_settings, rooms), "", 0, 0, check_dn, false},
    {"ldap.timeout_ms", CONFIG_INT, offsetof(struct dir_settings, timeout_ms), "5000", 100, 600000,
     NULL, false},
    {"ldap.bind_pool", CONFIG_INT, offsetof(struct dir_settings, bind_pool), "2", 1, 64, NULL,
     false},
};

struct config_module
dir_config_module(struct dir_settings *s)
{
    return (struct config_module){"ldap", ldap_items, sizeof ldap_items / sizeof ldap_items[0], s};
}
