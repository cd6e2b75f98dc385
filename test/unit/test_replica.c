/* SPDX-License-Identifier: Apache-2.0 */
/* test_replica.c - directory/replica.c: what RFC 4533 add/modify/delete/present
 * and refresh sweeps do to the replica, snapshots, roster and offline children
 * attached by parent DN, local writes that are pending, server settings
 * (default labels per domain and server-wide) and cluster nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "directory/dir_int.h"

#define USERS "ou=people,dc=palisade,dc=test"

struct tentry {
    struct dir_entry e;
    struct dir_attr a[8];
    struct dir_val v[16];
    size_t nv;
    char dn[256];
};

static void
te_init(struct tentry *t, const char *dn)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dn, sizeof t->dn, "%s", dn);
    t->e.dn = t->dn;
    t->e.attrs = t->a;
}

static void
te_add(struct tentry *t, const char *name, const char *value)
{
    struct dir_attr *a = NULL;
    for (size_t i = 0; i < t->e.n_attrs; i++)
        if (strcmp(t->a[i].name, name) == 0)
            a = &t->a[i];
    if (!a) {
        a = &t->a[t->e.n_attrs++];
        a->name = name;
        a->v = &t->v[t->nv];
    }
    t->v[t->nv++] = (struct dir_val){value, strlen(value)};
    a->n++;
}

static void
user_entry(struct tentry *t, const char *uid, const char *jid, const char *enabled)
{
    char dn[128];
    snprintf(dn, sizeof dn, "uid=%s," USERS, uid);
    te_init(t, dn);
    te_add(t, "objectClass", "inetOrgPerson");
    te_add(t, "objectClass", "xmppUser");
    te_add(t, "xmppJID", jid);
    if (enabled)
        te_add(t, "xmppAccountEnabled", enabled);
}

static void
roster_entry(struct tentry *t, const char *uid, const char *contact, const char *sub)
{
    char dn[160];
    snprintf(dn, sizeof dn, "xmppContactJID=%s,uid=%s," USERS, contact, uid);
    te_init(t, dn);
    te_add(t, "objectClass", "xmppRosterItem");
    te_add(t, "xmppContactJID", contact);
    te_add(t, "xmppSubscription", sub);
}

static void
offline_entry(struct tentry *t, const char *uid, const char *id, const char *ts)
{
    char dn[160];
    snprintf(dn, sizeof dn, "xmppOfflineId=%s,uid=%s," USERS, id, uid);
    te_init(t, dn);
    te_add(t, "objectClass", "xmppOfflineMessage");
    te_add(t, "xmppOfflineId", id);
    te_add(t, "xmppStanza", "<message/>");
    te_add(t, "xmppTimestamp", ts);
}

static const unsigned char *
uuid(unsigned n)
{
    static unsigned char u[8][16];
    static unsigned next;
    unsigned char *p = u[next++ % 8];
    memset(p, 0xab, 16);
    memcpy(p, &n, sizeof n);
    return p;
}

/* Settings entry: domain and label may be NULL (absent). */
static void
settings_entry(struct tentry *t, const char *dn, const char *domain, const char *label)
{
    te_init(t, dn);
    te_add(t, "objectClass", "xmppServerSettings");
    if (domain)
        te_add(t, "xmppDomain", domain);
    if (label)
        te_add(t, "xmppDefaultLabel", label);
}

struct fixture {
    struct dir_replica *r;
    size_t changes;
    char last[64];
    size_t settings_changes;
    size_t nodes_changes;
    size_t nodes_seen; /* what dir_replica_nodes listed from inside the last callback */
};

static void
on_nodes_changed(void *arg)
{
    struct fixture *f = arg;
    struct dir_node *n = NULL;
    f->nodes_changes++;
    /* the listener may read the replica: it sees the new state */
    assert_int_equal(dir_replica_nodes(f->r, &n, &f->nodes_seen), PAL_OK);
    dir_nodes_free(n, f->nodes_seen);
}

/* Z85 CURVE public keys (random 32 bytes, encoded per ZeroMQ RFC 32). */
#define KEY1 "C:*Lj]?Ng:3Ea!RAK.0ghIM5TG]oCuO%l@uTJ2-]"
#define KEY2 "E!5KKNfe.Dw7f7]*#?NVOp?Ub7WNjMUs-sH^}vT0"
#define KEY3 "uBF:!wU?g8B=H-hSALLL4hDr3LbwR.LCy$4cZFl4"

/* A node entry xmppNodeName=<rdn>,<parent>; site may be NULL. */
static void
node_entry(struct tentry *t, const char *rdn, const char *parent, const char *name,
           const char *endpoint, const char *key, const char *site)
{
    char dn[200];
    snprintf(dn, sizeof dn, "xmppNodeName=%s,%s", rdn, parent);
    te_init(t, dn);
    te_add(t, "objectClass", "xmppNode");
    te_add(t, "xmppNodeName", name);
    te_add(t, "xmppNodeEndpoint", endpoint);
    te_add(t, "xmppCurvePublicKey", key);
    if (site)
        te_add(t, "xmppSite", site);
}

#define NODES "ou=nodes,dc=palisade,dc=test"

/* The listed nodes' names, space-separated. */
static const char *
node_names(struct fixture *f)
{
    static char buf[256];
    struct dir_node *n = NULL;
    size_t k = 99;
    buf[0] = '\0';
    assert_int_equal(dir_replica_nodes(f->r, &n, &k), PAL_OK);
    if (k == 0)
        assert_null(n);
    for (size_t i = 0; i < k; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "", n[i].name);
    dir_nodes_free(n, k);
    return buf;
}

static void
on_settings_changed(void *arg)
{
    struct fixture *f = arg;
    f->settings_changes++;
}

/* The default label for domain as a string ("" when there is none). */
static const char *
dflt(struct fixture *f, const char *domain)
{
    static char buf[64];
    unsigned char *der = (unsigned char *)"junk";
    size_t len = 99;
    int rc = dir_replica_default_label(f->r, domain, &der, &len);
    if (rc == PAL_ENOENT) {
        assert_null(der);
        assert_int_equal(len, 0);
        return "";
    }
    assert_int_equal(rc, PAL_OK);
    assert_true(len > 0 && len < sizeof buf);
    memcpy(buf, der, len);
    buf[len] = '\0';
    free(der);
    return buf;
}

static void
on_changed(void *arg, const char *jid)
{
    struct fixture *f = arg;
    f->changes++;
    snprintf(f->last, sizeof f->last, "%s", jid);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->r = dir_replica_new("ou=People, dc=palisade,dc=test");
    dir_replica_on_user_changed(f->r, on_changed, f);
    dir_replica_on_settings_changed(f->r, on_settings_changed, f);
    dir_replica_on_nodes_changed(f->r, on_nodes_changed, f);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    dir_replica_free(f->r);
    free(f);
    return 0;
}

static void
test_replica_add_modify_delete_user(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_int_equal(f->changes, 1);
    assert_string_equal(f->last, "alice@localhost");
    assert_int_equal(dir_replica_user_count(f->r), 1);

    struct dir_user *before = dir_replica_user(f->r, "alice@localhost");
    assert_non_null(before);
    assert_true(before->enabled);

    user_entry(&t, "alice", "alice@localhost", "FALSE");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK); /* modify */
    assert_int_equal(f->changes, 2);
    struct dir_user *after = dir_replica_user(f->r, "alice@localhost");
    assert_false(after->enabled);
    assert_true(before->enabled); /* the old snapshot is untouched */
    assert_ptr_not_equal(before, after);
    assert_int_equal(dir_replica_user_count(f->r), 1);
    dir_user_unref(before);
    dir_user_unref(after);

    dir_replica_remove(f->r, uuid(1));
    assert_int_equal(f->changes, 3);
    assert_null(dir_replica_user(f->r, "alice@localhost"));
    assert_int_equal(dir_replica_user_count(f->r), 0);
    assert_int_equal(dir_replica_entry_count(f->r), 0);
    dir_replica_remove(f->r, uuid(1)); /* unknown uuid: nothing happens */
    assert_int_equal(f->changes, 3);
}

/* A full reload re-sends every entry: unchanged users are not reported. */
static void
test_replica_unchanged_put_is_quiet(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    f->changes = 0;
    dir_replica_refresh_begin(f->r);
    dir_replica_put(f->r, uuid(1), &t.e);
    assert_int_equal(f->changes, 0);
    assert_int_equal(dir_replica_sweep(f->r), 0);
    struct dir_user *u = dir_replica_user(f->r, "alice@localhost");
    assert_non_null(u);
    dir_user_unref(u);
}

static void
test_replica_jid_change_notifies_both(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    user_entry(&t, "alice", "alice2@localhost", NULL);
    f->changes = 0;
    dir_replica_put(f->r, uuid(1), &t.e);
    assert_int_equal(f->changes, 2);
    assert_null(dir_replica_user(f->r, "alice@localhost"));
    struct dir_user *u = dir_replica_user(f->r, "alice2@localhost");
    assert_non_null(u);
    dir_user_unref(u);
}

static void
test_replica_ignores_users_outside_base_and_bad_entries(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    te_init(&t, "uid=x,ou=rooms,dc=palisade,dc=test");
    te_add(&t, "objectClass", "xmppUser");
    te_add(&t, "xmppJID", "x@localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_null(dir_replica_user(f->r, "x@localhost"));

    /* a user whose JID turns invalid disappears (fail closed) */
    user_entry(&t, "bob", "bob@localhost", NULL);
    dir_replica_put(f->r, uuid(2), &t.e);
    user_entry(&t, "bob", "not a jid@@", NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_EMALFORMED);
    assert_null(dir_replica_user(f->r, "bob@localhost"));
    assert_int_equal(dir_replica_entry_count(f->r), 0);
}

/* The server may send children before their parent. */
static void
test_replica_children_attach_by_parent_dn(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    roster_entry(&t, "alice", "bob@localhost", "both");
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    struct dir_roster_item *items = NULL;
    size_t n = 99;
    assert_int_equal(dir_replica_roster_get(f->r, "alice@localhost", &items, &n), PAL_ENOENT);

    /* the parent, spelled differently */
    user_entry(&t, "Alice", "alice@localhost", NULL);
    snprintf(t.dn, sizeof t.dn, "UID=Alice, OU=people,dc=Palisade,dc=test");
    dir_replica_put(f->r, uuid(1), &t.e);
    roster_entry(&t, "alice", "carol@localhost", "to");
    dir_replica_put(f->r, uuid(11), &t.e);

    assert_int_equal(dir_replica_roster_get(f->r, "alice@localhost", &items, &n), PAL_OK);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].jid, "bob@localhost");
    assert_int_equal(items[0].sub, DIR_SUB_BOTH);
    assert_string_equal(items[1].jid, "carol@localhost");
    dir_roster_free(items, n);

    struct dir_roster_item *one =
        dir_replica_roster_find(f->r, "alice@localhost", "carol@localhost");
    assert_non_null(one);
    assert_int_equal(one->sub, DIR_SUB_TO);
    dir_roster_free(one, 1);
    assert_null(dir_replica_roster_find(f->r, "alice@localhost", "dave@localhost"));

    /* modify of an item replaces it; delete removes it */
    roster_entry(&t, "alice", "carol@localhost", "both");
    dir_replica_put(f->r, uuid(11), &t.e);
    one = dir_replica_roster_find(f->r, "alice@localhost", "carol@localhost");
    assert_int_equal(one->sub, DIR_SUB_BOTH);
    dir_roster_free(one, 1);
    dir_replica_remove(f->r, uuid(10));
    assert_int_equal(dir_replica_roster_get(f->r, "alice@localhost", &items, &n), PAL_OK);
    assert_int_equal(n, 1);
    dir_roster_free(items, n);
    assert_int_equal(dir_replica_entry_count(f->r), 2);
}

static void
test_replica_offline_oldest_first(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "bob", "bob@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    offline_entry(&t, "bob", "c", "20240101000003Z");
    dir_replica_put(f->r, uuid(20), &t.e);
    offline_entry(&t, "bob", "a", "20240101000001Z");
    dir_replica_put(f->r, uuid(21), &t.e);
    offline_entry(&t, "bob", "b", "20240101000002Z");
    dir_replica_put(f->r, uuid(22), &t.e);
    char *dn = NULL;
    assert_int_equal(dir_replica_offline_add(f->r, "bob@localhost", "d", "<m>d</m>", 8, NULL, 0,
                                             1704067204000, &dn),
                     PAL_OK);
    free(dn);
    struct dir_offline *m = NULL;
    size_t n = 0;
    assert_int_equal(dir_replica_offline_get(f->r, "bob@localhost", &m, &n), PAL_OK);
    assert_int_equal(n, 4);
    assert_string_equal(m[0].id, "a");
    assert_string_equal(m[1].id, "b");
    assert_string_equal(m[2].id, "c");
    assert_string_equal(m[3].id, "d");
    assert_string_equal(m[3].stanza, "<m>d</m>");
    dir_offline_free(m, n);
    assert_int_equal(dir_replica_offline_get(f->r, "nobody@localhost", &m, &n), PAL_ENOENT);
    assert_int_equal(dir_replica_offline_count(f->r, "bob@localhost"), 4);
    assert_int_equal(dir_replica_offline_count(f->r, "nobody@localhost"), 0);
}

/* refreshPresent: whatever was not reported during the refresh is gone. */
static void
test_replica_present_then_sweep(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    user_entry(&t, "bob", "bob@localhost", NULL);
    dir_replica_put(f->r, uuid(2), &t.e);
    roster_entry(&t, "alice", "bob@localhost", "both");
    dir_replica_put(f->r, uuid(3), &t.e);
    roster_entry(&t, "alice", "carol@localhost", "both");
    dir_replica_put(f->r, uuid(4), &t.e);

    dir_replica_refresh_begin(f->r);
    dir_replica_present(f->r, uuid(1));
    dir_replica_present(f->r, uuid(3));
    dir_replica_present(f->r, uuid(99)); /* unknown: ignored */
    user_entry(&t, "carol", "carol@localhost", NULL);
    dir_replica_put(f->r, uuid(5), &t.e); /* added during the refresh */
    f->changes = 0;
    assert_int_equal(dir_replica_sweep(f->r), 2); /* bob and alice's carol item */
    assert_int_equal(f->changes, 1);
    assert_string_equal(f->last, "bob@localhost");

    struct dir_user *u = dir_replica_user(f->r, "alice@localhost");
    assert_non_null(u);
    dir_user_unref(u);
    assert_null(dir_replica_user(f->r, "bob@localhost"));
    u = dir_replica_user(f->r, "carol@localhost");
    assert_non_null(u);
    dir_user_unref(u);
    struct dir_roster_item *items;
    size_t n;
    dir_replica_roster_get(f->r, "alice@localhost", &items, &n);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].jid, "bob@localhost");
    dir_roster_free(items, n);

    /* a second sweep in the same generation removes nothing */
    assert_int_equal(dir_replica_sweep(f->r), 0);
}

static void
test_replica_local_roster_put_and_echo(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);

    struct dir_roster_item it = {"bob@localhost", "Bob", DIR_SUB_NONE, true, false, 0, NULL};
    char *dn = NULL;
    bool existed = true;
    assert_int_equal(dir_replica_roster_put(f->r, "nobody@localhost", &it, &dn, &existed),
                     PAL_ENOENT);
    assert_int_equal(dir_replica_roster_put(f->r, "alice@localhost", &it, &dn, &existed), PAL_OK);
    assert_false(existed);
    assert_string_equal(dn, "xmppContactJID=bob@localhost,uid=alice," USERS);
    struct dir_roster_item *got = dir_replica_roster_find(f->r, "alice@localhost", "bob@localhost");
    assert_non_null(got);
    assert_string_equal(got->name, "Bob");
    assert_true(got->ask_out);
    dir_roster_free(got, 1);

    /* a refresh that does not know it yet keeps it while the write is pending */
    dir_replica_refresh_begin(f->r);
    dir_replica_present(f->r, uuid(1));
    assert_int_equal(dir_replica_sweep(f->r), 0);

    /* the server echoes the entry: it gets its uuid; a later put knows it exists */
    roster_entry(&t, "alice", "bob@localhost", "none");
    te_add(&t, "xmppRosterName", "Bob");
    dir_replica_put(f->r, uuid(7), &t.e);
    dir_replica_unpend(f->r, dn, true);
    free(dn);
    it.sub = DIR_SUB_TO;
    assert_int_equal(dir_replica_roster_put(f->r, "alice@localhost", &it, &dn, &existed), PAL_OK);
    assert_true(existed);
    dir_replica_unpend(f->r, dn, true);
    free(dn);
    struct dir_roster_item *items;
    size_t n;
    dir_replica_roster_get(f->r, "alice@localhost", &items, &n);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].sub, DIR_SUB_TO);
    dir_roster_free(items, n);

    /* the server's delete removes it */
    dir_replica_remove(f->r, uuid(7));
    assert_null(dir_replica_roster_find(f->r, "alice@localhost", "bob@localhost"));
}

static void
test_replica_local_del_and_failed_write(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    roster_entry(&t, "alice", "bob@localhost", "both");
    dir_replica_put(f->r, uuid(2), &t.e);

    char *dn = NULL;
    assert_int_equal(dir_replica_roster_del(f->r, "alice@localhost", "carol@localhost", &dn),
                     PAL_ENOENT);
    assert_int_equal(dir_replica_roster_del(f->r, "alice@localhost", "bob@localhost", &dn), PAL_OK);
    assert_null(dir_replica_roster_find(f->r, "alice@localhost", "bob@localhost"));
    dir_replica_remove(f->r, uuid(2)); /* the echo of our delete */
    dir_replica_unpend(f->r, dn, true);
    free(dn);

    /* a put whose write fails for good leaves no phantom item */
    struct dir_roster_item it = {"dave@localhost", NULL, DIR_SUB_NONE, false, false, 0, NULL};
    bool existed;
    dir_replica_roster_put(f->r, "alice@localhost", &it, &dn, &existed);
    struct dir_roster_item *got =
        dir_replica_roster_find(f->r, "alice@localhost", "dave@localhost");
    assert_non_null(got);
    dir_roster_free(got, 1);
    dir_replica_unpend(f->r, dn, false);
    free(dn);
    assert_null(dir_replica_roster_find(f->r, "alice@localhost", "dave@localhost"));
    assert_int_equal(dir_replica_entry_count(f->r), 1);
}

static void
test_replica_offline_local_add_del(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "bob", "bob@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    char *dn = NULL;
    static const unsigned char label[] = {0x31, 0x00};
    assert_int_equal(
        dir_replica_offline_add(f->r, "bob@localhost", "Id-1", "<m/>", 4, label, 2, 5, &dn),
        PAL_OK);
    assert_string_equal(dn, "xmppOfflineId=Id-1,uid=bob," USERS);
    char *dn2 = NULL;
    assert_int_equal(
        dir_replica_offline_add(f->r, "bob@localhost", "id-1", "<m/>", 4, NULL, 0, 5, &dn2),
        PAL_EEXIST);
    assert_int_equal(
        dir_replica_offline_add(f->r, "x@localhost", "id-2", "<m/>", 4, NULL, 0, 5, &dn2),
        PAL_ENOENT);

    /* the echo replaces the local copy in place */
    offline_entry(&t, "bob", "Id-1", "19700101000000.005Z");
    dir_replica_put(f->r, uuid(30), &t.e);
    dir_replica_unpend(f->r, dn, true);
    free(dn);
    struct dir_offline *m;
    size_t n;
    dir_replica_offline_get(f->r, "bob@localhost", &m, &n);
    assert_int_equal(n, 1);
    dir_offline_free(m, n);

    assert_int_equal(dir_replica_offline_del(f->r, "bob@localhost", "ID-1", &dn), PAL_OK);
    assert_string_equal(dn, "xmppOfflineId=Id-1,uid=bob," USERS);
    free(dn);
    dir_replica_offline_get(f->r, "bob@localhost", &m, &n);
    assert_int_equal(n, 0);
    assert_int_equal(dir_replica_offline_del(f->r, "bob@localhost", "id-1", &dn), PAL_ENOENT);
}

/* A server delete of an entry we are rewriting keeps our copy. */
static void
test_replica_delete_of_pending_item_keeps_it(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    roster_entry(&t, "alice", "bob@localhost", "none");
    dir_replica_put(f->r, uuid(2), &t.e);
    struct dir_roster_item it = {"bob@localhost", NULL, DIR_SUB_BOTH, false, false, 0, NULL};
    char *dn;
    bool existed;
    dir_replica_roster_put(f->r, "alice@localhost", &it, &dn, &existed);
    assert_true(existed);
    dir_replica_remove(f->r, uuid(2));
    struct dir_roster_item *got = dir_replica_roster_find(f->r, "alice@localhost", "bob@localhost");
    assert_non_null(got);
    assert_int_equal(got->sub, DIR_SUB_BOTH);
    dir_roster_free(got, 1);
    dir_replica_unpend(f->r, dn, true);
    free(dn);
}

static void
test_replica_duplicate_jid(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "a1", "same@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    user_entry(&t, "a2", "same@localhost", "FALSE");
    f->changes = 0;
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_EEXIST);
    assert_int_equal(f->changes, 0);
    struct dir_user *u = dir_replica_user(f->r, "same@localhost");
    assert_string_equal(u->dn, "uid=a1," USERS); /* the first keeps it */
    dir_user_unref(u);
    dir_replica_remove(f->r, uuid(1));
    u = dir_replica_user(f->r, "same@localhost");
    assert_non_null(u);
    assert_string_equal(u->dn, "uid=a2," USERS);
    dir_user_unref(u);
}

/* A user entry that turns into something else stops being a user. */
static void
test_replica_entry_leaving_filter(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    te_init(&t, "uid=alice," USERS);
    te_add(&t, "objectClass", "inetOrgPerson");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_null(dir_replica_user(f->r, "alice@localhost"));
    assert_int_equal(dir_replica_entry_count(f->r), 0);
}

/* An echo of an earlier write of ours must not take the replica back in time
 * while a later local write to the same entry is still in flight. */
static void
test_replica_stale_echo_of_pending_item_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "bob", "bob@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);

    /* first local write: none -> from; its echo arrives while a second local
     * write (from -> both) is in flight */
    struct dir_roster_item item = {.jid = "alice@localhost", .sub = DIR_SUB_FROM};
    char *dn1 = NULL, *dn2 = NULL;
    bool existed = false;
    assert_int_equal(dir_replica_roster_put(f->r, "bob@localhost", &item, &dn1, &existed), PAL_OK);
    dir_replica_unpend(f->r, dn1, true);
    item.sub = DIR_SUB_BOTH;
    assert_int_equal(dir_replica_roster_put(f->r, "bob@localhost", &item, &dn2, &existed), PAL_OK);
    roster_entry(&t, "bob", "alice@localhost", "from");
    assert_int_equal(dir_replica_put(f->r, uuid(30), &t.e), PAL_OK);
    struct dir_roster_item *one = dir_replica_roster_find(f->r, "bob@localhost", "alice@localhost");
    assert_non_null(one);
    assert_int_equal(one->sub, DIR_SUB_BOTH);
    dir_roster_free(one, 1);

    /* once our write is done, the directory's current state counts again */
    dir_replica_unpend(f->r, dn2, true);
    roster_entry(&t, "bob", "alice@localhost", "both");
    dir_replica_put(f->r, uuid(30), &t.e);
    dir_replica_remove(f->r, uuid(30));
    assert_null(dir_replica_roster_find(f->r, "bob@localhost", "alice@localhost"));
    free(dn1);
    free(dn2);

    /* an offline message deleted locally does not come back with a late echo */
    char *dn = NULL, *ddn = NULL;
    assert_int_equal(dir_replica_offline_add(f->r, "bob@localhost", "m1", "<m/>", 4, NULL, 0,
                                             1704067204000, &dn),
                     PAL_OK);
    dir_replica_unpend(f->r, dn, true);
    assert_int_equal(dir_replica_offline_del(f->r, "bob@localhost", "m1", &ddn), PAL_OK);
    offline_entry(&t, "bob", "m1", "20240101000004Z");
    dir_replica_put(f->r, uuid(31), &t.e);
    struct dir_offline *m = NULL;
    size_t n = 9;
    int rc = dir_replica_offline_get(f->r, "bob@localhost", &m, &n);
    assert_true(rc == PAL_ENOENT || n == 0);
    if (rc == PAL_OK)
        dir_offline_free(m, n);
    dir_replica_unpend(f->r, ddn, true);
    free(dn);
    free(ddn);
}

/* The user's label fields reach the snapshot, and a change of them is a
 * change of the user. */
static void
test_replica_user_label_fields(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    user_entry(&t, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(1), &t.e);
    struct dir_user *u = dir_replica_user(f->r, "alice@localhost");
    assert_null(u->default_label);
    assert_int_equal(u->label_support, -1);
    dir_user_unref(u);

    f->changes = 0;
    te_add(&t, "xmppDefaultLabel", "LBL1");
    te_add(&t, "xmppLabelSupport", "FALSE");
    dir_replica_put(f->r, uuid(1), &t.e);
    assert_int_equal(f->changes, 1);
    u = dir_replica_user(f->r, "alice@localhost");
    assert_int_equal(u->default_label_len, 4);
    assert_memory_equal(u->default_label, "LBL1", 4);
    assert_int_equal(u->label_support, 0);
    dir_user_unref(u);

    dir_replica_put(f->r, uuid(1), &t.e); /* same again: quiet */
    assert_int_equal(f->changes, 1);
    user_entry(&t, "alice", "alice@localhost", NULL);
    te_add(&t, "xmppDefaultLabel", "LBL1");
    te_add(&t, "xmppLabelSupport", "TRUE");
    dir_replica_put(f->r, uuid(1), &t.e);
    assert_int_equal(f->changes, 2);
    u = dir_replica_user(f->r, "alice@localhost");
    assert_int_equal(u->label_support, 1);
    dir_user_unref(u);
    assert_int_equal(f->settings_changes, 0); /* users are not settings */
}

static void
test_replica_default_label_lookup(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    assert_string_equal(dflt(f, "localhost"), "");
    assert_string_equal(dflt(f, NULL), "");

    /* server-wide only: every domain gets it */
    settings_entry(&t, "cn=default,ou=settings,dc=palisade,dc=test", NULL, "SERVER");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_int_equal(f->settings_changes, 1);
    assert_string_equal(dflt(f, "localhost"), "SERVER");
    assert_string_equal(dflt(f, NULL), "SERVER");

    /* a domain entry wins for its domain (any of its values, any ASCII case) */
    te_init(&t, "cn=example.com,ou=settings,dc=palisade,dc=test");
    te_add(&t, "objectClass", "xmppServerSettings");
    te_add(&t, "xmppDomain", "Example.com");
    te_add(&t, "xmppDomain", "alias.example"); /* values of one attribute in a row */
    te_add(&t, "xmppDefaultLabel", "DOMAIN");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_int_equal(f->settings_changes, 2);
    assert_string_equal(dflt(f, "example.com"), "DOMAIN");
    assert_string_equal(dflt(f, "EXAMPLE.com"), "DOMAIN");
    assert_string_equal(dflt(f, "alias.example"), "DOMAIN");
    assert_string_equal(dflt(f, "localhost"), "SERVER");
    assert_string_equal(dflt(f, NULL), "SERVER");

    /* a domain entry without a label does not hide the server-wide one */
    settings_entry(&t, "cn=bare,ou=settings,dc=palisade,dc=test", "bare.example", NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(3), &t.e), PAL_OK);
    assert_string_equal(dflt(f, "bare.example"), "SERVER");

    /* two candidates: the lowest normalised DN wins, whatever the order */
    settings_entry(&t, "cn=Another,ou=settings,dc=palisade,dc=test", "example.com", "OTHER");
    assert_int_equal(dir_replica_put(f->r, uuid(4), &t.e), PAL_OK);
    assert_string_equal(dflt(f, "example.com"), "OTHER"); /* cn=another < cn=example.com */

    /* modify: the label changes in place */
    settings_entry(&t, "cn=default,ou=settings,dc=palisade,dc=test", NULL, "SERVER2");
    size_t before = f->settings_changes;
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_int_equal(f->settings_changes, before + 1);
    assert_string_equal(dflt(f, "localhost"), "SERVER2");
    /* the same state again is quiet */
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_int_equal(f->settings_changes, before + 1);

    /* delete */
    dir_replica_remove(f->r, uuid(4));
    assert_int_equal(f->settings_changes, before + 2);
    assert_string_equal(dflt(f, "example.com"), "DOMAIN");
    dir_replica_remove(f->r, uuid(1));
    assert_string_equal(dflt(f, "localhost"), "");
    assert_string_equal(dflt(f, "example.com"), "DOMAIN");
    assert_int_equal(dir_replica_entry_count(f->r), 2);
    assert_int_equal(dir_replica_user_count(f->r), 0);
}

static void
test_replica_settings_malformed_sweep_and_kind_change(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    settings_entry(&t, "cn=example.com,ou=settings,dc=palisade,dc=test", "example.com", "DOM");
    dir_replica_put(f->r, uuid(1), &t.e);
    settings_entry(&t, "cn=default,ou=settings,dc=palisade,dc=test", NULL, "SRV");
    dir_replica_put(f->r, uuid(2), &t.e);
    assert_string_equal(dflt(f, "example.com"), "DOM");

    /* a domain value turning bad removes the entry: no stale label, and it
     * does not become server-wide */
    settings_entry(&t, "cn=example.com,ou=settings,dc=palisade,dc=test", "user@example.com",
                   "DOM");
    size_t before = f->settings_changes;
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EMALFORMED);
    assert_int_equal(f->settings_changes, before + 1);
    assert_string_equal(dflt(f, "example.com"), "SRV");
    assert_string_equal(dflt(f, "localhost"), "SRV");
    assert_int_equal(dir_replica_entry_count(f->r), 1);

    /* an entry that stops being settings */
    te_init(&t, "cn=default,ou=settings,dc=palisade,dc=test");
    te_add(&t, "objectClass", "applicationProcess");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_string_equal(dflt(f, "localhost"), "");
    assert_int_equal(dir_replica_entry_count(f->r), 0);

    /* refresh: what the server no longer reports goes, the rest stays */
    settings_entry(&t, "cn=a,ou=settings,dc=palisade,dc=test", NULL, "A");
    dir_replica_put(f->r, uuid(3), &t.e);
    settings_entry(&t, "cn=b,ou=settings,dc=palisade,dc=test", "b.example", "B");
    dir_replica_put(f->r, uuid(4), &t.e);
    settings_entry(&t, "cn=c,ou=settings,dc=palisade,dc=test", "c.example", "C");
    dir_replica_put(f->r, uuid(5), &t.e);
    dir_replica_refresh_begin(f->r);
    dir_replica_present(f->r, uuid(4));
    before = f->settings_changes;
    assert_int_equal(dir_replica_sweep(f->r), 2);
    assert_int_equal(f->settings_changes, before + 2);
    assert_string_equal(dflt(f, "b.example"), "B");
    assert_string_equal(dflt(f, "c.example"), "");
    assert_string_equal(dflt(f, NULL), "");

    /* a settings entry that turns into a user (odd, but the uuid is reused) */
    user_entry(&t, "b", "b@localhost", NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(4), &t.e), PAL_OK);
    assert_string_equal(dflt(f, "b.example"), "");
    struct dir_user *u = dir_replica_user(f->r, "b@localhost");
    assert_non_null(u);
    dir_user_unref(u);
    /* and back (freed at teardown with the replica) */
    settings_entry(&t, "cn=b,ou=settings,dc=palisade,dc=test", "b.example", "B");
    assert_int_equal(dir_replica_put(f->r, uuid(4), &t.e), PAL_OK);
    assert_null(dir_replica_user(f->r, "b@localhost"));
    assert_string_equal(dflt(f, "b.example"), "B");
}

static void
test_replica_nodes_add_modify_delete(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    assert_string_equal(node_names(f), "");

    node_entry(&t, "node2", NODES, "node2", "ipc:///run/p/node2.sock", KEY2, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_int_equal(f->nodes_changes, 1);
    assert_int_equal(f->nodes_seen, 1);
    node_entry(&t, "node1", NODES, "node1", "tcp://10.0.0.1:7400", KEY1, "paris");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_int_equal(f->nodes_changes, 2);
    assert_int_equal(f->nodes_seen, 2);
    assert_string_equal(node_names(f), "node1 node2"); /* sorted by name */

    struct dir_node *n = NULL;
    size_t k = 0;
    assert_int_equal(dir_replica_nodes(f->r, &n, &k), PAL_OK);
    assert_int_equal(k, 2);
    assert_string_equal(n[0].endpoint, "tcp://10.0.0.1:7400");
    assert_string_equal(n[0].curve_public, KEY1);
    assert_string_equal(n[0].site, "paris");
    assert_string_equal(n[1].endpoint, "ipc:///run/p/node2.sock");
    assert_null(n[1].site);
    dir_nodes_free(n, k);

    /* the same state again (a reload) is quiet; a new endpoint is a change */
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_int_equal(f->nodes_changes, 2);
    node_entry(&t, "node1", NODES, "node1", "tcp://10.0.0.9:7400", KEY1, "paris");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_int_equal(f->nodes_changes, 3);
    assert_int_equal(dir_replica_nodes(f->r, &n, &k), PAL_OK);
    assert_string_equal(n[0].endpoint, "tcp://10.0.0.9:7400");
    dir_nodes_free(n, k);
    /* so is a new site, or a site removed */
    node_entry(&t, "node1", NODES, "node1", "tcp://10.0.0.9:7400", KEY1, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_int_equal(f->nodes_changes, 4);

    /* users and settings are not nodes, and nodes are neither */
    struct tentry u;
    user_entry(&u, "alice", "alice@localhost", NULL);
    dir_replica_put(f->r, uuid(3), &u.e);
    settings_entry(&u, "cn=default,ou=settings,dc=palisade,dc=test", NULL, "L");
    dir_replica_put(f->r, uuid(4), &u.e);
    assert_int_equal(f->nodes_changes, 4);
    assert_int_equal(f->changes, 1);
    assert_int_equal(f->settings_changes, 1);
    assert_int_equal(dir_replica_user_count(f->r), 1);
    assert_int_equal(dir_replica_entry_count(f->r), 4);

    dir_replica_remove(f->r, uuid(1));
    assert_int_equal(f->nodes_changes, 5);
    assert_int_equal(f->nodes_seen, 1);
    assert_string_equal(node_names(f), "node1");
    dir_replica_remove(f->r, uuid(1)); /* gone already: nothing */
    assert_int_equal(f->nodes_changes, 5);
    assert_int_equal(dir_replica_entry_count(f->r), 3);
}

/* Names (ASCII case ignored) and keys are unique in what is listed: the first
 * by name, then DN, wins on every node, and the next takes over when it goes. */
static void
test_replica_nodes_duplicates(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    node_entry(&t, "node1", NODES, "node1", "tcp://h1:7400", KEY1, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    /* the same name elsewhere, in another case */
    node_entry(&t, "Node1", "ou=other,dc=palisade,dc=test", "Node1", "tcp://h9:7400", KEY2, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_EEXIST);
    assert_string_equal(node_names(f), "Node1"); /* "N" < "n" */
    /* another name with node1's key */
    node_entry(&t, "node3", NODES, "node3", "tcp://h3:7400", KEY1, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(3), &t.e), PAL_EEXIST);
    assert_string_equal(node_names(f), "Node1 node3"); /* node1 lost to Node1 */
    assert_int_equal(f->nodes_changes, 3);

    /* the exact same name twice: the lowest DN wins */
    node_entry(&t, "Node1", "ou=a,dc=palisade,dc=test", "Node1", "tcp://ha:7400", KEY3, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(4), &t.e), PAL_EEXIST);
    struct dir_node *n = NULL;
    size_t k = 0;
    assert_int_equal(dir_replica_nodes(f->r, &n, &k), PAL_OK);
    assert_int_equal(k, 2);
    assert_string_equal(n[0].endpoint, "tcp://ha:7400");
    dir_nodes_free(n, k);

    dir_replica_remove(f->r, uuid(4));
    dir_replica_remove(f->r, uuid(2));
    /* node1 and node3 share KEY1: node1 comes first */
    assert_string_equal(node_names(f), "node1");
    dir_replica_remove(f->r, uuid(1));
    assert_string_equal(node_names(f), "node3");
    assert_int_equal(f->nodes_changes, 7);
}

static void
test_replica_nodes_malformed_place_sweep(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    node_entry(&t, "node1", NODES, "node1", "tcp://h1:7400", KEY1, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    node_entry(&t, "node2", NODES, "node2", "tcp://h2:7400", KEY2, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_string_equal(dir_replica_why(f->r), "");

    /* a member whose entry turns bad stops being one: no stale copy */
    node_entry(&t, "node1", NODES, "node1", "tcp://h1", KEY1, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EMALFORMED);
    assert_non_null(strstr(dir_replica_why(f->r), "xmppNodeEndpoint"));
    assert_int_equal(f->nodes_changes, 3);
    assert_string_equal(node_names(f), "node2");
    assert_int_equal(dir_replica_entry_count(f->r), 1);
    /* a bad new entry changes nothing */
    node_entry(&t, "node 4", NODES, "node 4", "tcp://h4:7400", KEY3, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(4), &t.e), PAL_EMALFORMED);
    assert_non_null(strstr(dir_replica_why(f->r), "xmppNodeName"));
    assert_int_equal(f->nodes_changes, 3);
    /* the next good put clears the reason */
    node_entry(&t, "node1", NODES, "node1", "tcp://h1:7400", KEY1, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_string_equal(dir_replica_why(f->r), "");

    /* below ldap.users the nodes' service account may write: refused */
    node_entry(&t, "node5", USERS, "node5", "tcp://h5:7400", KEY3, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(5), &t.e), PAL_EMALFORMED);
    assert_non_null(strstr(dir_replica_why(f->r), "ldap.users"));
    node_entry(&t, "node5", "uid=alice," USERS, "node5", "tcp://h5:7400", KEY3, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(5), &t.e), PAL_EMALFORMED);
    assert_string_equal(node_names(f), "node1 node2");
    /* unless ldap.users is the whole base (then that account writes everywhere) */
    dir_replica_set_base(f->r, "dc=palisade,dc=test");
    assert_int_equal(dir_replica_put(f->r, uuid(5), &t.e), PAL_EMALFORMED);
    dir_replica_set_base(f->r, "OU=people,dc=palisade, dc=test");
    assert_int_equal(dir_replica_put(f->r, uuid(5), &t.e), PAL_OK);
    assert_string_equal(node_names(f), "node1 node2 node5");

    /* refresh: what the server no longer reports goes */
    size_t before = f->nodes_changes;
    dir_replica_refresh_begin(f->r);
    dir_replica_present(f->r, uuid(2));
    assert_int_equal(dir_replica_sweep(f->r), 2);
    assert_int_equal(f->nodes_changes, before + 2);
    assert_string_equal(node_names(f), "node2");

    /* an entry that stops being a node, and one that becomes one */
    settings_entry(&t, "xmppNodeName=node2," NODES, NULL, "L");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_string_equal(node_names(f), "");
    assert_string_equal(dflt(f, NULL), "L");
    node_entry(&t, "node2", NODES, "node2", "tcp://h2:7400", KEY2, NULL);
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_string_equal(node_names(f), "node2");
    assert_string_equal(dflt(f, NULL), "");
    te_init(&t, "xmppNodeName=node2," NODES);
    te_add(&t, "objectClass", "applicationProcess");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_string_equal(node_names(f), "");
    assert_int_equal(dir_replica_entry_count(f->r), 0);
}

/* A settings entry below ldap.users, where a node's service account may
 * write, must not set anyone's default label. */
static void
test_replica_settings_below_users_are_refused(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    settings_entry(&t, "cn=evil," USERS, NULL, "EVIL");
    assert_int_equal(dir_replica_put(f->r, uuid(60), &t.e), PAL_EMALFORMED);
    assert_non_null(strstr(dir_replica_why(f->r), "ldap.users"));
    settings_entry(&t, "cn=evil,uid=alice," USERS, "example.com", "EVIL");
    assert_int_equal(dir_replica_put(f->r, uuid(61), &t.e), PAL_EMALFORMED);
    assert_string_equal(dflt(f, NULL), "");
    assert_string_equal(dflt(f, "example.com"), "");
    settings_entry(&t, "cn=default,ou=settings,dc=palisade,dc=test", NULL, "SERVER");
    assert_int_equal(dir_replica_put(f->r, uuid(62), &t.e), PAL_OK);
    assert_string_equal(dflt(f, "example.com"), "SERVER");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replica_add_modify_delete_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_unchanged_put_is_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_jid_change_notifies_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_ignores_users_outside_base_and_bad_entries,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_children_attach_by_parent_dn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_offline_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_present_then_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_local_roster_put_and_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_local_del_and_failed_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_offline_local_add_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_delete_of_pending_item_keeps_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replica_duplicate_jid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_settings_below_users_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replica_stale_echo_of_pending_item_is_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replica_entry_leaving_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_user_label_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_default_label_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_settings_malformed_sweep_and_kind_change,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_nodes_add_modify_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_nodes_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_nodes_malformed_place_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
