/* SPDX-License-Identifier: Apache-2.0 */
/* test_map.c - directory/map.c: attribute lists -> dir_user, roster items,
 * offline messages, server settings and cluster nodes; the write-side
 * builders; DNs and GeneralizedTime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/mem.h"
#include "directory/dir_int.h"

/* A test entry: up to 16 attributes, 64 values. */
struct tentry {
    struct dir_entry e;
    struct dir_attr a[16];
    struct dir_val v[64];
    size_t nv;
};

static void
te_init(struct tentry *t, const char *dn)
{
    memset(t, 0, sizeof *t);
    t->e.dn = dn;
    t->e.attrs = t->a;
}

static void
te_bin(struct tentry *t, const char *name, const void *p, size_t len)
{
    struct dir_attr *a = NULL;
    for (size_t i = 0; i < t->e.n_attrs; i++)
        if (strcmp(t->a[i].name, name) == 0)
            a = &t->a[i];
    if (!a) {
        a = &t->a[t->e.n_attrs++];
        a->name = name;
        a->v = &t->v[t->nv];
        a->n = 0;
    }
    /* values of one attribute must be contiguous: add them in one go */
    assert_ptr_equal(&a->v[a->n], &t->v[t->nv]);
    t->v[t->nv++] = (struct dir_val){p, len};
    a->n++;
}

static void
te_add(struct tentry *t, const char *name, const char *value)
{
    te_bin(t, name, value, strlen(value));
}

static void
make_alice(struct tentry *t)
{
    static const unsigned char der[] = {0x31, 0x00, 0x06, 0x01, 0x29};
    static const unsigned char jpeg[] = {0xff, 0xd8, 0x00, 0xff, 0xd9};
    te_init(t, "uid=alice,ou=people,dc=palisade,dc=test");
    te_add(t, "objectClass", "top");
    te_add(t, "objectClass", "inetOrgPerson");
    te_add(t, "objectClass", "xmppUser");
    te_add(t, "xmppJID", "Alice@LocalHost");
    te_add(t, "xmppScramSecret", "SCRAM-SHA-1$4096:c2FsdA==$a:b");
    te_add(t, "xmppScramSecret", "SCRAM-SHA-256$4096:c2FsdA==$c:d");
    te_bin(t, "xmppClearance", der, sizeof der);
    te_add(t, "cn", "Alice Liddell");
    te_add(t, "givenName", "Alice");
    te_add(t, "sn", "Liddell");
    te_add(t, "mail", "alice@example.com");
    te_add(t, "telephoneNumber", "+44 1865 000000");
    te_add(t, "title", "Explorer");
    te_add(t, "ou", "Wonderland");
    te_bin(t, "jpegPhoto", jpeg, sizeof jpeg);
}

static void
test_map_user_all_fields(void **state)
{
    (void)state;
    struct tentry t;
    struct dir_user *u = NULL;
    const char *why = NULL;
    make_alice(&t);
    assert_int_equal(dir_entry_kind(&t.e), DIR_KIND_USER);
    assert_int_equal(dir_map_user(&t.e, &u, &why), PAL_OK);
    assert_int_equal(u->refs, 1);
    assert_string_equal(u->dn, "uid=alice,ou=people,dc=palisade,dc=test");
    assert_string_equal(u->jid, "alice@localhost");
    assert_true(u->enabled);
    assert_true(u->has_password);
    assert_int_equal(u->n_scram, 2);
    assert_string_equal(u->scram[1], "SCRAM-SHA-256$4096:c2FsdA==$c:d");
    assert_int_equal(u->n_clearance, 1);
    assert_int_equal(u->clearance[0].len, 5);
    assert_int_equal(u->clearance[0].der[1], 0x00);
    assert_string_equal(u->cn, "Alice Liddell");
    assert_string_equal(u->given_name, "Alice");
    assert_string_equal(u->sn, "Liddell");
    assert_string_equal(u->mail, "alice@example.com");
    assert_string_equal(u->telephone, "+44 1865 000000");
    assert_string_equal(u->title, "Explorer");
    assert_string_equal(u->ou, "Wonderland");
    assert_int_equal(u->jpeg_len, 5);
    assert_int_equal(u->jpeg[4], 0xd9);
    dir_user_unref(u);
}

static void
test_map_user_minimal_defaults(void **state)
{
    (void)state;
    struct tentry t;
    struct dir_user *u = NULL;
    const char *why = NULL;
    te_init(&t, "cn=svc,ou=people,dc=x");
    te_add(&t, "objectClass", "device");
    te_add(&t, "objectClass", "XMPPUSER");
    te_add(&t, "xmppjid", "bob@localhost");
    assert_int_equal(dir_map_user(&t.e, &u, &why), PAL_OK);
    assert_true(u->enabled); /* absent = enabled */
    assert_false(u->has_password);
    assert_int_equal(u->n_scram, 0);
    assert_int_equal(u->n_clearance, 0);
    assert_null(u->cn);
    assert_null(u->jpeg);
    assert_null(u->default_label);
    assert_int_equal(u->default_label_len, 0);
    assert_int_equal(u->label_support, -1); /* absent */
    dir_user_unref(u);
}

static void
test_map_user_label_fields(void **state)
{
    (void)state;
    /* XEP-0258's example ESS label: policy 1.1, classification 4 */
    static const unsigned char der[] = {0x31, 0x06, 0x02, 0x01, 0x04, 0x06, 0x01, 0x29};
    static const struct {
        const char *value; /* xmppLabelSupport, NULL = absent */
        int want;
    } cases[] = {{NULL, -1}, {"TRUE", 1}, {"FALSE", 0}, {"true", 0}, {"", 0}};
    struct dir_user *prev = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tentry t;
        struct dir_user *u = NULL;
        const char *why = NULL;
        te_init(&t, "uid=a,dc=x");
        te_add(&t, "objectClass", "xmppUser");
        te_add(&t, "xmppJID", "a@x");
        te_bin(&t, "xmppDefaultLabel", der, sizeof der);
        if (cases[i].value)
            te_add(&t, "xmppLabelSupport", cases[i].value);
        assert_int_equal(dir_map_user(&t.e, &u, &why), PAL_OK);
        assert_int_equal(u->label_support, cases[i].want);
        assert_int_equal(u->default_label_len, sizeof der);
        assert_memory_equal(u->default_label, der, sizeof der);
        assert_ptr_not_equal(u->default_label, der); /* a copy */
        /* a different label support is a different snapshot (except two
         * values that both read as FALSE) */
        if (prev)
            assert_int_equal(dir_user_equal(prev, u), prev->label_support == u->label_support);
        dir_user_unref(prev);
        prev = u;
    }
    /* the label itself takes part in equality */
    struct tentry t;
    struct dir_user *u = NULL;
    const char *why = NULL;
    te_init(&t, "uid=a,dc=x");
    te_add(&t, "objectClass", "xmppUser");
    te_add(&t, "xmppJID", "a@x");
    te_add(&t, "xmppLabelSupport", "FALSE");
    assert_int_equal(dir_map_user(&t.e, &u, &why), PAL_OK);
    assert_null(u->default_label);
    assert_false(dir_user_equal(prev, u));
    dir_user_unref(u);
    dir_user_unref(prev);
}

static void
test_map_user_enabled_flag(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        bool enabled;
    } cases[] = {{"TRUE", true}, {"FALSE", false}, {"yes", false}, {"", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tentry t;
        struct dir_user *u = NULL;
        const char *why = NULL;
        te_init(&t, "uid=a,dc=x");
        te_add(&t, "objectClass", "xmppUser");
        te_add(&t, "xmppJID", "a@x");
        te_add(&t, "xmppAccountEnabled", cases[i].value);
        assert_int_equal(dir_map_user(&t.e, &u, &why), PAL_OK);
        assert_int_equal(u->enabled, cases[i].enabled);
        dir_user_unref(u);
    }
}

static void
test_map_user_rejects_bad_jids(void **state)
{
    (void)state;
    static const char *const bad[] = {"localhost", "a@b/res", "@b", "a@", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tentry t;
        struct dir_user *u = NULL;
        const char *why = NULL;
        te_init(&t, "uid=a,dc=x");
        te_add(&t, "objectClass", "xmppUser");
        te_add(&t, "xmppJID", bad[i]);
        assert_int_equal(dir_map_user(&t.e, &u, &why), PAL_EMALFORMED);
        assert_non_null(why);
        assert_null(u);
    }
    struct tentry t;
    struct dir_user *u = NULL;
    const char *why = NULL;
    te_init(&t, "uid=a,dc=x");
    te_add(&t, "objectClass", "xmppUser");
    assert_int_equal(dir_map_user(&t.e, &u, &why), PAL_EMALFORMED);
}

static void
test_map_kind_by_object_class(void **state)
{
    (void)state;
    struct tentry t;
    te_init(&t, "cn=x");
    te_add(&t, "objectClass", "organizationalUnit");
    assert_int_equal(dir_entry_kind(&t.e), DIR_KIND_NONE);
    te_init(&t, "cn=x");
    te_add(&t, "objectClass", "xmpprosteritem");
    assert_int_equal(dir_entry_kind(&t.e), DIR_KIND_ROSTER);
    te_init(&t, "cn=x");
    te_add(&t, "objectClass", "xmppOfflineMessage");
    assert_int_equal(dir_entry_kind(&t.e), DIR_KIND_OFFLINE);
    te_init(&t, "cn=x");
    te_add(&t, "objectClass", "XMPPServerSettings");
    assert_int_equal(dir_entry_kind(&t.e), DIR_KIND_SETTINGS);
    assert_string_equal(dir_kind_str(DIR_KIND_SETTINGS), "settings");
    te_init(&t, "xmppNodeName=n1,ou=nodes,dc=x");
    te_add(&t, "objectClass", "top");
    te_add(&t, "objectClass", "XMPPnode");
    assert_int_equal(dir_entry_kind(&t.e), DIR_KIND_NODE);
    assert_string_equal(dir_kind_str(DIR_KIND_NODE), "node");
    te_init(&t, "cn=x");
    assert_int_equal(dir_entry_kind(&t.e), DIR_KIND_NONE);
    /* the sync requests what the mappers read */
    bool found = false;
    for (size_t i = 0; i < dir_n_classes; i++) {
        if (dir_classes[i].kind != DIR_KIND_SETTINGS)
            continue;
        size_t hits = 0;
        for (const char *const *a = dir_classes[i].attrs; *a; a++)
            hits += strcmp(*a, "xmppDomain") == 0 || strcmp(*a, "xmppDefaultLabel") == 0;
        assert_int_equal(hits, 2);
        found = true;
    }
    assert_true(found);
    for (size_t i = 0; i < dir_n_classes; i++) {
        if (dir_classes[i].kind != DIR_KIND_USER)
            continue;
        size_t hits = 0;
        for (const char *const *a = dir_classes[i].attrs; *a; a++)
            hits += strcmp(*a, "xmppLabelSupport") == 0 || strcmp(*a, "xmppDefaultLabel") == 0;
        assert_int_equal(hits, 2);
    }
    found = false;
    for (size_t i = 0; i < dir_n_classes; i++) {
        if (dir_classes[i].kind != DIR_KIND_NODE)
            continue;
        size_t hits = 0;
        for (const char *const *a = dir_classes[i].attrs; *a; a++)
            hits += strcmp(*a, "xmppNodeName") == 0 || strcmp(*a, "xmppNodeEndpoint") == 0 ||
                    strcmp(*a, "xmppCurvePublicKey") == 0 || strcmp(*a, "xmppSite") == 0;
        assert_int_equal(hits, 4);
        found = true;
    }
    assert_true(found);
}

/* Z85 CURVE public keys (random 32 bytes, encoded per ZeroMQ RFC 32). */
#define KEY1 "C:*Lj]?Ng:3Ea!RAK.0ghIM5TG]oCuO%l@uTJ2-]"
#define KEY2 "E!5KKNfe.Dw7f7]*#?NVOp?Ub7WNjMUs-sH^}vT0"

static void
node_entry(struct tentry *t, const char *name, const char *endpoint, const char *key,
           const char *site)
{
    te_init(t, "xmppNodeName=x,ou=nodes,dc=x");
    te_add(t, "objectClass", "xmppNode");
    if (name)
        te_add(t, "xmppNodeName", name);
    if (endpoint)
        te_add(t, "xmppNodeEndpoint", endpoint);
    if (key)
        te_add(t, "xmppCurvePublicKey", key);
    if (site)
        te_add(t, "xmppSite", site);
}

static void
test_map_node(void **state)
{
    (void)state;
    struct tentry t;
    struct dir_node n;
    struct dir_node n2;
    const char *why = NULL;

    node_entry(&t, "node-1.site_A", "tcp://10.0.0.1:7400", KEY1, "Paris");
    te_add(&t, "description", "ignored");
    assert_int_equal(dir_map_node(&t.e, &n, &why), PAL_OK);
    assert_string_equal(n.name, "node-1.site_A"); /* as stored: no case folding */
    assert_string_equal(n.endpoint, "tcp://10.0.0.1:7400");
    assert_string_equal(n.curve_public, KEY1);
    assert_string_equal(n.site, "Paris");
    assert_int_equal(dir_node_check(&n, &why), PAL_OK);

    /* site is optional; equality covers every field */
    node_entry(&t, "node-1.site_A", "tcp://10.0.0.1:7400", KEY1, NULL);
    assert_int_equal(dir_map_node(&t.e, &n2, &why), PAL_OK);
    assert_null(n2.site);
    assert_false(dir_node_equal(&n, &n2));
    dir_node_clear(&n2);
    dir_node_copy(&n2, &n);
    assert_true(dir_node_equal(&n, &n2));
    assert_ptr_not_equal(n2.name, n.name);
    dir_node_clear(&n2);
    dir_node_clear(&n);
    assert_null(n.name);

    /* endpoints the cluster accepts */
    static const char *const good_ep[] = {
        "tcp://127.0.0.1:1",       "tcp://node2.example.org:65535", "tcp://[::1]:7400",
        "tcp://[fe80::1%eth0]:7400", "ipc:///run/palisade/node1.sock", "ipc:///x",
    };
    for (size_t i = 0; i < sizeof good_ep / sizeof good_ep[0]; i++) {
        node_entry(&t, "n", good_ep[i], KEY2, NULL);
        assert_int_equal(dir_map_node(&t.e, &n, &why), PAL_OK);
        assert_string_equal(n.endpoint, good_ep[i]);
        dir_node_clear(&n);
    }

    char long_name[65];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    char long_site[65];
    memcpy(long_site, long_name, sizeof long_site);
    char long_ipc[128] = "ipc:///";
    memset(long_ipc + 7, 'p', 107); /* path "/ppp...": 108 bytes, no room for sun_path's NUL */
    long_ipc[7 + 107] = '\0';
    static const struct {
        const char *name, *endpoint, *key;
    } bad[] = {
        {NULL, "tcp://h:1", KEY1},          /* missing attributes */
        {"n", NULL, KEY1},
        {"n", "tcp://h:1", NULL},
        {"", "tcp://h:1", KEY1},            /* names */
        {"node 1", "tcp://h:1", KEY1},
        {"node/1", "tcp://h:1", KEY1},
        {"n\xc3\xa9", "tcp://h:1", KEY1},
        {"n", "tcp://h", KEY1},             /* endpoints */
        {"n", "tcp://:7400", KEY1},
        {"n", "tcp://h:0", KEY1},
        {"n", "tcp://h:65536", KEY1},
        {"n", "tcp://h:+80", KEY1},
        {"n", "tcp://h:80x", KEY1},
        {"n", "tcp://h:", KEY1},
        {"n", "tcp://*:7400", KEY1},
        {"n", "tcp://a/b:7400", KEY1},
        {"n", "tcp://h :7400", KEY1},
        {"n", "tcp://[::1:7400", KEY1},
        {"n", "udp://h:7400", KEY1},
        {"n", "ipc://relative.sock", KEY1},
        {"n", "ipc:///", KEY1},
        {"n", "inproc://x", KEY1},
        {"n", "TCP://h:1", KEY1},
        {"n", "tcp://h:1", "C:*Lj]?Ng:3Ea!RAK.0ghIM5TG]oCuO%l@uTJ2-"},   /* keys: 39 */
        {"n", "tcp://h:1", "C:*Lj]?Ng:3Ea!RAK.0ghIM5TG]oCuO%l@uTJ2-]]"}, /* 41 */
        {"n", "tcp://h:1", "C:*Lj]?Ng:3Ea!RAK.0ghIM5TG]oCuO%l@uTJ2-\\"}, /* not Z85 */
        {"n", "tcp://h:1", "C:*Lj]?Ng:3Ea!RAK.0ghIM5TG]oCuO%l@uTJ2- "},
        {"n", "tcp://h:1", "#####]?Ng:3Ea!RAK.0ghIM5TG]oCuO%l@uTJ2-]"}, /* a group over 2^32 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0] + 3; i++) {
        size_t k = i - sizeof bad / sizeof bad[0];
        if (i < sizeof bad / sizeof bad[0])
            node_entry(&t, bad[i].name, bad[i].endpoint, bad[i].key, NULL);
        else if (k == 0)
            node_entry(&t, long_name, "tcp://h:1", KEY1, NULL);
        else if (k == 1)
            node_entry(&t, "n", long_ipc, KEY1, NULL);
        else
            node_entry(&t, "n", "tcp://h:1", KEY1, long_site);
        why = NULL;
        n.name = (char *)"junk";
        if (dir_map_node(&t.e, &n, &why) != PAL_EMALFORMED)
            fail_msg("bad node case %zu accepted", i);
        assert_non_null(why);
        assert_null(n.name); /* nothing left behind */
        assert_null(n.endpoint);
    }
    /* the limits themselves are fine */
    long_name[63] = '\0';
    long_site[63] = '\0';
    long_ipc[7 + 106] = '\0';
    node_entry(&t, long_name, long_ipc, KEY1, long_site);
    assert_int_equal(dir_map_node(&t.e, &n, &why), PAL_OK);
    dir_node_clear(&n);

    /* a NUL byte inside a value */
    te_init(&t, "xmppNodeName=x,ou=nodes,dc=x");
    te_add(&t, "objectClass", "xmppNode");
    te_bin(&t, "xmppNodeName", "n\0x", 3);
    te_add(&t, "xmppNodeEndpoint", "tcp://h:1");
    te_add(&t, "xmppCurvePublicKey", KEY1);
    assert_int_equal(dir_map_node(&t.e, &n, &why), PAL_EMALFORMED);
    node_entry(&t, "n", "tcp://h:1", KEY1, NULL);
    te_bin(&t, "xmppSite", "a\0b", 3);
    assert_int_equal(dir_map_node(&t.e, &n, &why), PAL_EMALFORMED);

    /* dir_node_check on its own (palisadectl) */
    struct dir_node c = {(char *)"n", (char *)"ipc:///tmp/n.sock", (char *)KEY2, NULL};
    assert_int_equal(dir_node_check(&c, &why), PAL_OK);
    c.site = (char *)"";
    assert_int_equal(dir_node_check(&c, &why), PAL_OK);
    c.curve_public = NULL;
    assert_int_equal(dir_node_check(&c, &why), PAL_EMALFORMED);
    dir_nodes_free(NULL, 0);
}

static void
test_map_settings(void **state)
{
    (void)state;
    static const unsigned char der[] = {0x31, 0x06, 0x02, 0x01, 0x04, 0x06, 0x01, 0x29};
    struct tentry t;
    struct dir_server_settings s;
    struct dir_server_settings s2;
    const char *why = NULL;

    /* server-wide: no xmppDomain */
    te_init(&t, "cn=default,ou=settings,dc=x");
    te_add(&t, "objectClass", "xmppServerSettings");
    te_add(&t, "cn", "default");
    te_bin(&t, "xmppDefaultLabel", der, sizeof der);
    assert_int_equal(dir_map_settings(&t.e, &s, &why), PAL_OK);
    assert_int_equal(s.n_domains, 0);
    assert_int_equal(s.default_label_len, sizeof der);
    assert_memory_equal(s.default_label, der, sizeof der);

    /* domains are normalised; several values are allowed */
    te_init(&t, "cn=example.com,ou=settings,dc=x");
    te_add(&t, "objectClass", "xmppServerSettings");
    te_add(&t, "xmppDomain", "Example.COM");
    te_add(&t, "xmppDomain", "other.example");
    assert_int_equal(dir_map_settings(&t.e, &s2, &why), PAL_OK);
    assert_int_equal(s2.n_domains, 2);
    assert_string_equal(s2.domains[0], "example.com");
    assert_string_equal(s2.domains[1], "other.example");
    assert_null(s2.default_label);
    assert_false(dir_server_settings_equal(&s, &s2));
    assert_true(dir_server_settings_equal(&s2, &s2));
    dir_server_settings_clear(&s);
    dir_server_settings_clear(&s2);

    /* a value that is not a domain spoils the entry (it must not turn into a
     * server-wide one) */
    static const char *const bad[] = {"alice@example.com", "example.com/res", "", "a b@@"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        te_init(&t, "cn=bad,ou=settings,dc=x");
        te_add(&t, "objectClass", "xmppServerSettings");
        te_add(&t, "xmppDomain", "good.example");
        te_add(&t, "xmppDomain", bad[i]);
        te_bin(&t, "xmppDefaultLabel", der, sizeof der);
        why = NULL;
        assert_int_equal(dir_map_settings(&t.e, &s, &why), PAL_EMALFORMED);
        assert_non_null(why);
        assert_int_equal(s.n_domains, 0);
        assert_null(s.default_label);
    }
}

static void
test_map_roster_item(void **state)
{
    (void)state;
    struct tentry t;
    struct dir_roster_item it;
    const char *why = NULL;
    te_init(&t, "xmppContactJID=bob@localhost,uid=alice,ou=people,dc=x");
    te_add(&t, "objectClass", "xmppRosterItem");
    te_add(&t, "xmppContactJID", "Bob@LOCALHOST");
    te_add(&t, "xmppRosterName", "Bobby");
    te_add(&t, "xmppSubscription", "Both");
    te_add(&t, "xmppAsk", "TRUE");
    te_add(&t, "xmppRosterGroup", "Friends");
    te_add(&t, "xmppRosterGroup", "Work");
    assert_int_equal(dir_map_roster(&t.e, &it, &why), PAL_OK);
    assert_string_equal(it.jid, "bob@localhost");
    assert_string_equal(it.name, "Bobby");
    assert_int_equal(it.sub, DIR_SUB_BOTH);
    assert_true(it.ask_out);
    assert_false(it.ask_in);
    assert_int_equal(it.n_groups, 2);
    assert_string_equal(it.groups[1], "Work");
    dir_roster_item_clear(&it);

    te_init(&t, "xmppContactJID=x,dc=x");
    te_add(&t, "objectClass", "xmppRosterItem");
    te_add(&t, "xmppContactJID", "conference.localhost"); /* a domain JID is a fine contact */
    te_add(&t, "xmppSubscription", "sideways");
    assert_int_equal(dir_map_roster(&t.e, &it, &why), PAL_OK);
    assert_int_equal(it.sub, DIR_SUB_NONE);
    assert_null(it.name);
    assert_int_equal(it.n_groups, 0);
    dir_roster_item_clear(&it);

    te_init(&t, "xmppContactJID=x,dc=x");
    te_add(&t, "objectClass", "xmppRosterItem");
    assert_int_equal(dir_map_roster(&t.e, &it, &why), PAL_EMALFORMED);
}

static void
test_map_offline_message(void **state)
{
    (void)state;
    static const unsigned char label[] = {0x31, 0x06, 0x02, 0x01, 0x04, 0x06, 0x01, 0x29};
    static const char stanza[] = "<message to='a@x'><body>hi</body></message>";
    struct tentry t;
    struct dir_offline m;
    int64_t ts = -1;
    const char *why = NULL;
    te_init(&t, "xmppOfflineId=1,uid=a,dc=x");
    te_add(&t, "objectClass", "xmppOfflineMessage");
    te_add(&t, "xmppOfflineId", "0001");
    te_add(&t, "xmppStanza", stanza);
    te_bin(&t, "xmppSecurityLabel", label, sizeof label);
    te_add(&t, "xmppTimestamp", "20240102030405.678Z");
    assert_int_equal(dir_map_offline(&t.e, &m, &ts, &why), PAL_OK);
    assert_string_equal(m.id, "0001");
    assert_int_equal(m.len, strlen(stanza));
    assert_memory_equal(m.stanza, stanza, m.len);
    assert_int_equal(m.label_len, sizeof label);
    assert_int_equal(ts, 1704164645678);
    dir_offline_clear(&m);

    te_init(&t, "xmppOfflineId=1,uid=a,dc=x");
    te_add(&t, "objectClass", "xmppOfflineMessage");
    te_add(&t, "xmppOfflineId", "0001");
    assert_int_equal(dir_map_offline(&t.e, &m, &ts, &why), PAL_EMALFORMED);
}

/* Builder output read back through the mapper gives the same item. */
static void
test_map_roster_attrs_round_trip(void **state)
{
    (void)state;
    char *groups[] = {"Friends", "friends", "Work", ""};
    struct dir_roster_item it = {"carol@localhost", NULL, DIR_SUB_FROM, false, true, 4, groups};
    struct arena *a = arena_new(1024);
    struct dir_attr *attrs = NULL;
    size_t n = dir_map_roster_attrs(&it, a, &attrs);
    assert_int_equal(n, 7);
    assert_string_equal(attrs[0].name, "objectClass");
    assert_string_equal(attrs[1].name, "xmppContactJID");
    const struct dir_entry e = {"xmppContactJID=carol@localhost,uid=a,dc=x", n, attrs};
    assert_null(dir_entry_attr(&e, "xmppRosterName")->v); /* unset: n = 0 */
    assert_int_equal(dir_entry_attr(&e, "xmppAsk")->n, 0);
    assert_int_equal(dir_entry_attr(&e, "xmppRosterGroup")->n, 2); /* dup and empty dropped */

    struct dir_roster_item back;
    const char *why = NULL;
    assert_int_equal(dir_map_roster(&e, &back, &why), PAL_OK);
    assert_string_equal(back.jid, "carol@localhost");
    assert_null(back.name);
    assert_int_equal(back.sub, DIR_SUB_FROM);
    assert_false(back.ask_out);
    assert_true(back.ask_in);
    assert_int_equal(back.n_groups, 2);
    assert_string_equal(back.groups[0], "Friends");
    assert_string_equal(back.groups[1], "Work");
    dir_roster_item_clear(&back);
    arena_free(a);
}

static void
test_map_offline_attrs_round_trip(void **state)
{
    (void)state;
    static const unsigned char label[] = {0x31, 0x00};
    struct arena *a = arena_new(1024);
    struct dir_attr *attrs = NULL;
    size_t n = dir_map_offline_attrs("42-ab", "<message/>", 10, label, sizeof label, 1704164645678,
                                     a, &attrs);
    const struct dir_entry e = {"xmppOfflineId=42-ab,uid=a,dc=x", n, attrs};
    assert_int_equal(dir_entry_kind(&e), DIR_KIND_OFFLINE);
    assert_string_equal(dir_entry_attr(&e, "xmppTimestamp")->v[0].p, "20240102030405.678Z");
    struct dir_offline m;
    int64_t ts;
    const char *why = NULL;
    assert_int_equal(dir_map_offline(&e, &m, &ts, &why), PAL_OK);
    assert_string_equal(m.id, "42-ab");
    assert_string_equal(m.stanza, "<message/>");
    assert_int_equal(m.label_len, 2);
    assert_int_equal(ts, 1704164645678);
    dir_offline_clear(&m);
    arena_free(a);

    a = arena_new(256);
    n = dir_map_offline_attrs("1", "<m/>", 4, NULL, 0, 0, a, &attrs);
    const struct dir_entry e2 = {"xmppOfflineId=1,dc=x", n, attrs};
    assert_int_equal(dir_entry_attr(&e2, "xmppSecurityLabel")->n, 0);
    arena_free(a);
}

static void
test_map_dn_normalize_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: malformed */
    } cases[] = {
        {"uid=alice,ou=people,dc=palisade,dc=test", "uid=alice,ou=people,dc=palisade,dc=test"},
        {"UID=Alice, ou=People ,DC=Palisade,dc=Test", "uid=alice,ou=people,dc=palisade,dc=test"},
        {"  cn = a   b  ,dc=x", "cn=a b,dc=x"},
        {"cn=a\\,b,dc=x", "cn=a\\,b,dc=x"},
        {"cn=a\\2Cb,dc=x", "cn=a\\,b,dc=x"},
        {"cn=a\\2cb\\+c,dc=x", "cn=a\\,b\\+c,dc=x"},
        {"cn=\\ lead,dc=x", "cn=\\ lead,dc=x"},
        {"cn=trail\\ ,dc=x", "cn=trail\\ ,dc=x"},
        {"cn=\\#hash,dc=x", "cn=\\#hash,dc=x"},
        {"cn=a+sn=B,dc=x", "cn=a+sn=b,dc=x"},
        {"cn=a;dc=x", "cn=a,dc=x"},
        {"cn=#04024869,dc=x", "cn=#04024869,dc=x"},
        {"xmppContactJID=Bob@Example.COM,uid=a,dc=x", "xmppcontactjid=bob@example.com,uid=a,dc=x"},
        {"cn=caf\xc3\xa9,dc=x", "cn=caf\xc3\xa9,dc=x"},
        {"", NULL},
        {"foo", NULL},
        {"=x,dc=y", NULL},
        {"cn=a,", NULL},
        {"cn=\"quoted\",dc=x", NULL},
        {"cn=a\\", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *n = dir_dn_normalize(cases[i].in);
        if (cases[i].out) {
            assert_non_null(n);
            assert_string_equal(n, cases[i].out);
        } else {
            assert_null(n);
        }
        free(n);
    }
}

static void
test_map_dn_parent_and_below(void **state)
{
    (void)state;
    assert_string_equal(dir_dn_parent("uid=a,ou=people,dc=x"), "ou=people,dc=x");
    assert_string_equal(dir_dn_parent("cn=a\\,b,dc=x"), "dc=x");
    assert_string_equal(dir_dn_parent("cn=a\\\\,dc=x"), "dc=x");
    assert_null(dir_dn_parent("dc=x"));
    assert_true(dir_dn_is_below("uid=a,ou=people,dc=x", "ou=people,dc=x"));
    assert_true(dir_dn_is_below("xmppcontactjid=b,uid=a,ou=people,dc=x", "ou=people,dc=x"));
    assert_false(dir_dn_is_below("ou=people,dc=x", "ou=people,dc=x"));
    assert_false(dir_dn_is_below("uid=a,ou=rooms,dc=x", "ou=people,dc=x"));
    assert_false(dir_dn_is_below("uid=a,xou=people,dc=x", "ou=people,dc=x"));
    assert_false(dir_dn_is_below("cn=a\\,ou=people,dc=x", "ou=people,dc=x"));
}

static void
test_map_rdn_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"bob@localhost", "bob@localhost"},
        {"a,b+c=d", "a\\,b\\+c\\=d"},
        {"#x", "\\#x"},
        {" x ", "\\ x\\ "},
        {"q\"<>;\\", "q\\\"\\<\\>\\;\\\\"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = dir_rdn_escape(cases[i].in);
        assert_string_equal(e, cases[i].out);
        /* and the escaped form normalises back to a DN with the same value */
        char *dn = xasprintf("cn=%s,dc=x", e);
        char *n = dir_dn_normalize(dn);
        assert_non_null(n);
        free(n);
        free(dn);
        free(e);
    }
}

static void
test_map_gentime(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t ms;
        int rc;
    } cases[] = {
        {"19700101000000Z", 0, PAL_OK},
        {"20240102030405.678Z", 1704164645678, PAL_OK},
        {"20240102030405,5Z", 1704164645500, PAL_OK},
        {"202401020304Z", 1704164640000, PAL_OK},
        {"2024010203Z", 1704164400000, PAL_OK},
        {"20240102030405+0100", 1704164645000 - 3600000, PAL_OK},
        {"20240102030405-0130", 1704164645000 + 5400000, PAL_OK},
        {"20000229235959Z", 951868799000, PAL_OK},
        {"20240102030405", 0, PAL_EMALFORMED},
        {"20241302030405Z", 0, PAL_EMALFORMED},
        {"2024010203040xZ", 0, PAL_EMALFORMED},
        {"20240102030405.Z", 0, PAL_EMALFORMED},
        {"20240102030405ZZ", 0, PAL_EMALFORMED},
        {"", 0, PAL_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(dir_gentime_parse(cases[i].in, strlen(cases[i].in), &ms), cases[i].rc);
        if (cases[i].rc == PAL_OK)
            assert_int_equal(ms, cases[i].ms);
    }
    char buf[32];
    dir_gentime_format(1704164645678, buf, sizeof buf);
    assert_string_equal(buf, "20240102030405.678Z");
}

static void
test_map_sub_and_bool(void **state)
{
    (void)state;
    assert_int_equal(dir_sub_parse("to", 2), DIR_SUB_TO);
    assert_int_equal(dir_sub_parse("FROM", 4), DIR_SUB_FROM);
    assert_int_equal(dir_sub_parse("bothx", 5), DIR_SUB_NONE);
    assert_string_equal(dir_sub_str(DIR_SUB_BOTH), "both");
    bool ok;
    assert_true(dir_bool_parse("TRUE", 4, &ok) && ok);
    assert_false(dir_bool_parse("FALSE", 5, &ok));
    assert_true(ok);
    dir_bool_parse("true", 4, &ok);
    assert_false(ok);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_user_all_fields),
        cmocka_unit_test(test_map_user_minimal_defaults),
        cmocka_unit_test(test_map_user_enabled_flag),
        cmocka_unit_test(test_map_user_label_fields),
        cmocka_unit_test(test_map_user_rejects_bad_jids),
        cmocka_unit_test(test_map_kind_by_object_class),
        cmocka_unit_test(test_map_settings),
        cmocka_unit_test(test_map_node),
        cmocka_unit_test(test_map_roster_item),
        cmocka_unit_test(test_map_offline_message),
        cmocka_unit_test(test_map_roster_attrs_round_trip),
        cmocka_unit_test(test_map_offline_attrs_round_trip),
        cmocka_unit_test(test_map_dn_normalize_table),
        cmocka_unit_test(test_map_dn_parent_and_below),
        cmocka_unit_test(test_map_rdn_escape),
        cmocka_unit_test(test_map_gentime),
        cmocka_unit_test(test_map_sub_and_bool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
