/* SPDX-License-Identifier: Apache-2.0 */
/* test_rooms.c - rooms in directory/replica.c and map.c: xmppRoom entries
 * added, changed and removed by sync, duplicate and invalid room JIDs,
 * affiliations from user DNs and from groupOfNames (nested, cyclic, too
 * deep), re-resolution when users and groups change, what is logged once,
 * and the write-back (dir_replica_room_put/del, the attribute list, pending
 * writes and their echoes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/mem.h"
#include "directory/dir_int.h"

#define BASE "dc=palisade,dc=test"
#define USERS "ou=people," BASE
#define ROOMS "ou=rooms," BASE
#define GROUPS "ou=groups," BASE

/* ---- Entries ---------------------------------------------------------------- */

struct tentry {
    struct dir_entry e;
    struct dir_attr a[16];
    struct dir_val v[16][16]; /* per attribute */
    char dn[256];
    char buf[4096]; /* values built with te_addf */
    size_t used;
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
te_addn(struct tentry *t, const char *name, const char *value, size_t len)
{
    size_t k = 0;
    while (k < t->e.n_attrs && strcmp(t->a[k].name, name) != 0)
        k++;
    if (k == t->e.n_attrs) {
        assert_true(k < 16);
        t->e.n_attrs++;
        t->a[k].name = name;
        t->a[k].v = t->v[k];
    }
    assert_true(t->a[k].n < 16);
    t->v[k][t->a[k].n++] = (struct dir_val){value, len};
}

static void
te_add(struct tentry *t, const char *name, const char *value)
{
    te_addn(t, name, value, strlen(value));
}

static void __attribute__((format(printf, 3, 4)))
te_addf(struct tentry *t, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->used, sizeof t->buf - t->used, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof t->buf - t->used);
    te_add(t, name, t->buf + t->used);
    t->used += (size_t)n + 1;
}

static void
user_entry(struct tentry *t, const char *uid, const char *jid)
{
    char dn[128];
    snprintf(dn, sizeof dn, "uid=%s," USERS, uid);
    te_init(t, dn);
    te_add(t, "objectClass", "inetOrgPerson");
    te_add(t, "objectClass", "xmppUser");
    te_add(t, "xmppJID", jid);
}

/* A room cn=<rdn>,ou=rooms; affiliations added by the caller. */
static void
room_entry(struct tentry *t, const char *rdn, const char *jid)
{
    char dn[160];
    snprintf(dn, sizeof dn, "cn=%s," ROOMS, rdn);
    te_init(t, dn);
    te_add(t, "objectClass", "xmppRoom");
    te_add(t, "cn", rdn);
    if (jid)
        te_add(t, "xmppRoomJID", jid);
}

/* A group cn=<name>,ou=groups; members are uids (uid=<m>,ou=people) or, with
 * a leading '@', groups (cn=<m>,ou=groups). */
static void
group_entry(struct tentry *t, const char *name, const char *const *members)
{
    char dn[160];
    snprintf(dn, sizeof dn, "cn=%s," GROUPS, name);
    te_init(t, dn);
    te_add(t, "objectClass", "groupOfNames");
    te_add(t, "cn", name);
    for (size_t i = 0; members && members[i]; i++) {
        if (members[i][0] == '@')
            te_addf(t, "member", "cn=%s," GROUPS, members[i] + 1);
        else
            te_addf(t, "member", "uid=%s," USERS, members[i]);
    }
}

static const unsigned char *
uuid(unsigned n)
{
    static unsigned char u[8][16];
    static unsigned next;
    unsigned char *p = u[next++ % 8];
    memset(p, 0xcd, 16);
    memcpy(p, &n, sizeof n);
    return p;
}

/* ---- Fixture ------------------------------------------------------------------ */

struct fixture {
    struct dir_replica *r;
    size_t changes;      /* room listener calls */
    size_t all_changes;  /* of them with NULL */
    char last[128];      /* last room JID told, "" for NULL */
    size_t notices[4];   /* by enum dir_room_notice */
    char last_notice[512];
};

static void
on_rooms_changed(void *arg, const char *room_jid)
{
    struct fixture *f = arg;
    f->changes++;
    if (!room_jid)
        f->all_changes++;
    snprintf(f->last, sizeof f->last, "%s", room_jid ? room_jid : "");
    /* the listener may read the replica: it sees the new state */
    if (room_jid) {
        struct dir_room *rm = dir_replica_room(f->r, room_jid);
        dir_room_unref(rm);
    }
}

static void
on_notice(void *arg, enum dir_room_notice what, const char *room_dn, const char *value,
          const char *group)
{
    struct fixture *f = arg;
    f->notices[what]++;
    snprintf(f->last_notice, sizeof f->last_notice, "%s|%s|%s", room_dn, value,
             group ? group : "");
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->r = dir_replica_new(USERS);
    dir_replica_set_base(f->r, BASE);
    dir_replica_set_rooms_base(f->r, ROOMS);
    dir_replica_on_rooms_changed(f->r, on_rooms_changed, f);
    dir_replica_on_room_notice(f->r, on_notice, f);
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
reset_counts(struct fixture *f)
{
    f->changes = f->all_changes = 0;
    f->last[0] = '\0';
    memset(f->notices, 0, sizeof f->notices);
    f->last_notice[0] = '\0';
}

/* The affiliation list as "jid jid*" (* = via a group). */
static const char *
affils(const struct dir_affil *v, size_t n)
{
    static char buf[4][512];
    static unsigned k;
    char *b = buf[k++ % 4];
    b[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(b + strlen(b), 512 - strlen(b), "%s%s%s", i ? " " : "", v[i].jid,
                 v[i].via_group ? "*" : "");
    return b;
}

#define OWNERS(rm) affils((rm)->owners, (rm)->n_owners)
#define ADMINS(rm) affils((rm)->admins, (rm)->n_admins)
#define MEMBERS(rm) affils((rm)->members, (rm)->n_members)
#define OUTCASTS(rm) affils((rm)->outcasts, (rm)->n_outcasts)

/* alice, bob, carol, dave @localhost with uuids 1..4 */
static void
add_users(struct fixture *f)
{
    static const char *const uids[] = {"alice", "bob", "carol", "dave"};
    for (unsigned i = 0; i < 4; i++) {
        struct tentry t;
        char jid[64];
        snprintf(jid, sizeof jid, "%s@localhost", uids[i]);
        user_entry(&t, uids[i], jid);
        assert_int_equal(dir_replica_put(f->r, uuid(i + 1), &t.e), PAL_OK);
    }
}

/* ---- Rooms from sync ------------------------------------------------------------ */

static void
test_rooms_add_modify_delete(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    struct tentry t;
    room_entry(&t, "briefing", "Briefing@Conference.Localhost");
    te_add(&t, "cn", "Morning briefing");
    te_add(&t, "description", "What happened overnight");
    te_add(&t, "xmppRoomConfig", "muc#roomconfig_persistentroom=1\nmuc#roomconfig_maxusers=20\n");
    te_addn(&t, "xmppClearance", "\x30\x03\x06\x01\x29", 5);
    te_addn(&t, "xmppClearance", "\x30\x03\x06\x01\x2a", 5);
    te_addn(&t, "xmppDefaultLabel", "\x31\x03\x02\x01\x01", 5);
    te_add(&t, "owner", "uid=alice," USERS);
    te_add(&t, "xmppRoomAdmin", "UID=Bob, ou=People," BASE);
    te_add(&t, "member", "uid=carol," USERS);
    te_add(&t, "xmppRoomOutcast", "uid=dave," USERS);
    reset_counts(f);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    assert_int_equal(f->changes, 1);
    assert_string_equal(f->last, "briefing@conference.localhost");

    struct dir_room *rm = dir_replica_room(f->r, "briefing@conference.localhost");
    assert_non_null(rm);
    assert_string_equal(rm->dn, "cn=briefing," ROOMS);
    assert_string_equal(rm->jid, "briefing@conference.localhost");
    assert_string_equal(rm->name, "Morning briefing"); /* the cn that is not the RDN's */
    assert_string_equal(rm->description, "What happened overnight");
    assert_string_equal(rm->config,
                        "muc#roomconfig_persistentroom=1\nmuc#roomconfig_maxusers=20\n");
    assert_int_equal(rm->n_clearance, 2);
    assert_memory_equal(rm->clearance[1].der, "\x30\x03\x06\x01\x2a", 5);
    assert_int_equal(rm->default_label_len, 5);
    assert_string_equal(OWNERS(rm), "alice@localhost");
    assert_string_equal(ADMINS(rm), "bob@localhost");
    assert_string_equal(MEMBERS(rm), "carol@localhost");
    assert_string_equal(OUTCASTS(rm), "dave@localhost");
    assert_null(dir_replica_room(f->r, "nope@conference.localhost"));

    /* the same state again (a reload): nobody is told */
    reset_counts(f);
    dir_replica_refresh_begin(f->r);
    for (unsigned i = 1; i <= 4; i++)
        dir_replica_present(f->r, uuid(i));
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    assert_int_equal(dir_replica_sweep(f->r), 0);
    dir_replica_refresh_end(f->r);
    assert_int_equal(f->changes, 0);

    /* modify: a new snapshot; the old one is untouched */
    room_entry(&t, "briefing", "briefing@conference.localhost");
    te_add(&t, "owner", "uid=bob," USERS);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    assert_int_equal(f->changes, 1);
    struct dir_room *after = dir_replica_room(f->r, "briefing@conference.localhost");
    assert_ptr_not_equal(rm, after);
    assert_string_equal(OWNERS(after), "bob@localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost");
    assert_string_equal(after->name, "briefing"); /* only the RDN's cn */
    assert_null(after->description);
    assert_null(after->config);
    assert_int_equal(after->n_clearance, 0);
    assert_null(after->default_label);
    assert_int_equal(after->n_admins + after->n_members + after->n_outcasts, 0);
    dir_room_unref(rm);
    dir_room_unref(after);

    char **jids = NULL;
    size_t n = 9;
    assert_int_equal(dir_replica_rooms(f->r, &jids, &n), PAL_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jids[0], "briefing@conference.localhost");
    dir_strv_free(jids, n);

    /* delete */
    reset_counts(f);
    dir_replica_remove(f->r, uuid(10));
    assert_int_equal(f->changes, 1);
    assert_string_equal(f->last, "briefing@conference.localhost");
    assert_null(dir_replica_room(f->r, "briefing@conference.localhost"));
    assert_int_equal(dir_replica_rooms(f->r, &jids, &n), PAL_OK);
    assert_int_equal(n, 0);
    assert_null(jids);
    assert_int_equal(dir_replica_entry_count(f->r), 4); /* the users */
}

static void
test_rooms_duplicate_jids(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    /* the higher DN first: it is the room until the lower one comes */
    room_entry(&t, "zeta", "ops@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    reset_counts(f);
    room_entry(&t, "alpha", "OPS@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_int_equal(f->changes, 1); /* the room is another entry now */
    assert_int_equal(f->notices[DIR_ROOM_DUPLICATE], 1);
    assert_string_equal(f->last_notice,
                        "cn=zeta," ROOMS "|ops@conference.localhost|cn=alpha," ROOMS);
    struct dir_room *rm = dir_replica_room(f->r, "ops@conference.localhost");
    assert_string_equal(rm->dn, "cn=alpha," ROOMS);
    dir_room_unref(rm);

    /* a change of the loser: PAL_EEXIST, nobody is told */
    reset_counts(f);
    room_entry(&t, "zeta", "ops@conference.localhost");
    te_add(&t, "description", "the other one");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EEXIST);
    assert_int_equal(f->changes, 0);

    /* a third, between them: still the lowest wins */
    room_entry(&t, "mid", "ops@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(3), &t.e), PAL_EEXIST);

    char **jids = NULL;
    size_t n = 0;
    dir_replica_rooms(f->r, &jids, &n);
    assert_int_equal(n, 1);
    dir_strv_free(jids, n);

    /* the room goes: the next by DN takes over */
    reset_counts(f);
    dir_replica_remove(f->r, uuid(2));
    assert_int_equal(f->changes, 1);
    rm = dir_replica_room(f->r, "ops@conference.localhost");
    assert_string_equal(rm->dn, "cn=mid," ROOMS);
    dir_room_unref(rm);
    dir_replica_remove(f->r, uuid(3));
    rm = dir_replica_room(f->r, "ops@conference.localhost");
    assert_string_equal(rm->dn, "cn=zeta," ROOMS);
    assert_string_equal(rm->description, "the other one");
    dir_room_unref(rm);

    /* the winner changes its JID: the other takes over the old one */
    room_entry(&t, "alpha", "ops@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    reset_counts(f);
    room_entry(&t, "alpha", "war@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_OK);
    assert_int_equal(f->changes, 2); /* both JIDs */
    rm = dir_replica_room(f->r, "ops@conference.localhost");
    assert_string_equal(rm->dn, "cn=zeta," ROOMS);
    dir_room_unref(rm);
    rm = dir_replica_room(f->r, "war@conference.localhost");
    assert_string_equal(rm->dn, "cn=alpha," ROOMS);
    dir_room_unref(rm);
}

static void
test_rooms_invalid_entries(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "conference.localhost",          /* no local part */
        "room@conference.localhost/res", /* not bare */
        "room@@conference.localhost",    /* not a JID */
        "",
    };
    struct tentry t;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        room_entry(&t, "bad", bad[i]);
        assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EMALFORMED);
        assert_string_equal(dir_replica_why(f->r),
                            "no valid bare JID with a local part in xmppRoomJID");
    }
    room_entry(&t, "bad", NULL); /* no xmppRoomJID at all */
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EMALFORMED);
    room_entry(&t, "bad", "bad@conference.localhost");
    te_add(&t, "xmppRoomConfig", "muc#roomconfig_persistentroom=1\nmembersonly\n");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EMALFORMED);
    assert_string_equal(dir_replica_why(f->r), "xmppRoomConfig has a line that is not var=value");
    room_entry(&t, "bad", "bad@conference.localhost");
    te_addn(&t, "xmppRoomConfig", "a=1\0b=2", 7);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EMALFORMED);
    room_entry(&t, "bad", "bad@conference.localhost");
    te_addn(&t, "owner", "uid=x\0," USERS, 6);
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_EMALFORMED);
    /* below a separate ldap.users: not a room */
    te_init(&t, "cn=sneaky,uid=alice," USERS);
    te_add(&t, "objectClass", "xmppRoom");
    te_add(&t, "cn", "sneaky");
    te_add(&t, "xmppRoomJID", "sneaky@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(2), &t.e), PAL_EMALFORMED);
    assert_null(dir_replica_room(f->r, "sneaky@conference.localhost"));
    assert_int_equal(dir_replica_entry_count(f->r), 0);

    /* a good room that turns bad is gone, not kept stale */
    room_entry(&t, "good", "good@conference.localhost");
    te_add(&t, "xmppRoomConfig", "muc#roomconfig_membersonly=1\r\n\r\nmuc#roomconfig_roomdesc=\n");
    assert_int_equal(dir_replica_put(f->r, uuid(3), &t.e), PAL_OK);
    struct dir_room *rm = dir_replica_room(f->r, "good@conference.localhost");
    assert_non_null(rm);
    dir_room_unref(rm);
    reset_counts(f);
    room_entry(&t, "good", "good@conference.localhost/x");
    assert_int_equal(dir_replica_put(f->r, uuid(3), &t.e), PAL_EMALFORMED);
    assert_int_equal(f->changes, 1);
    assert_null(dir_replica_room(f->r, "good@conference.localhost"));
    assert_int_equal(dir_replica_entry_count(f->r), 0);
}

/* ---- Affiliations ---------------------------------------------------------------- */

static void
test_rooms_user_affiliations(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    struct tentry t;
    room_entry(&t, "r", "r@conference.localhost");
    te_add(&t, "owner", "uid=alice," USERS);
    te_add(&t, "owner", "uid=ghost," USERS); /* no such user */
    te_add(&t, "owner", "not a dn");
    te_add(&t, "member", "uid=bob," USERS);
    te_add(&t, "member", "uid=alice," USERS); /* also an owner: an owner */
    te_add(&t, "member", "cn=palisade,ou=services," BASE); /* exists, but no user */
    reset_counts(f);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    struct dir_room *rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost");
    assert_string_equal(MEMBERS(rm), "bob@localhost");
    dir_room_unref(rm);
    /* each value that resolves to nothing is logged, once */
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 3);
    reset_counts(f);
    te_add(&t, "description", "changed");
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 0);
    assert_int_equal(f->changes, 1);

    /* the missing user comes: the room has one more owner, the listener hears
     * "re-read all" */
    reset_counts(f);
    user_entry(&t, "ghost", "casper@localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(5), &t.e), PAL_OK);
    assert_int_equal(f->all_changes, 1);
    rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost casper@localhost");
    dir_room_unref(rm);

    /* its JID changes: re-resolved */
    reset_counts(f);
    user_entry(&t, "ghost", "boo@localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(5), &t.e), PAL_OK);
    assert_int_equal(f->all_changes, 1);
    rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost boo@localhost");
    dir_room_unref(rm);

    /* an unrelated change of that user (no new JID): nothing for rooms */
    reset_counts(f);
    te_add(&t, "cn", "Casper");
    assert_int_equal(dir_replica_put(f->r, uuid(5), &t.e), PAL_OK);
    assert_int_equal(f->changes, 0);
    /* a user no room names: nothing either */
    user_entry(&t, "erin", "erin@localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(6), &t.e), PAL_OK);
    assert_int_equal(f->changes, 0);

    /* it goes: gone from the room, logged again as unresolved */
    dir_replica_remove(f->r, uuid(5));
    assert_int_equal(f->all_changes, 1);
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 1);
    assert_string_equal(f->last_notice, "cn=r," ROOMS "|uid=ghost," USERS "|");
    rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost");
    dir_room_unref(rm);
}

/* During a refresh users may not be there yet: problems wait for its end. */
static void
test_rooms_notices_wait_for_refresh_end(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    dir_replica_refresh_begin(f->r);
    room_entry(&t, "r", "r@conference.localhost");
    te_add(&t, "owner", "uid=alice," USERS);
    te_add(&t, "owner", "uid=ghost," USERS);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    assert_int_equal(f->changes, 1); /* told during the first refresh too */
    user_entry(&t, "alice", "alice@localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(1), &t.e), PAL_OK);
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 0);
    dir_replica_refresh_end(f->r);
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 1);
    assert_string_equal(f->last_notice, "cn=r," ROOMS "|uid=ghost," USERS "|");
    struct dir_room *rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost");
    dir_room_unref(rm);
    /* a second refresh with the same state: no second notice */
    dir_replica_refresh_begin(f->r);
    user_entry(&t, "alice", "alice@localhost");
    dir_replica_put(f->r, uuid(1), &t.e);
    room_entry(&t, "r", "r@conference.localhost");
    te_add(&t, "owner", "uid=alice," USERS);
    te_add(&t, "owner", "uid=ghost," USERS);
    dir_replica_put(f->r, uuid(10), &t.e);
    dir_replica_refresh_end(f->r);
    assert_int_equal(dir_replica_sweep(f->r), 0);
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 1);
}

static void
test_rooms_group_affiliations(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    struct tentry t;
    static const char *const analysts[] = {"carol", "bob", NULL};
    static const char *const staff[] = {"@analysts", "dave", NULL};
    group_entry(&t, "analysts", analysts);
    assert_int_equal(dir_replica_put(f->r, uuid(20), &t.e), PAL_OK);
    group_entry(&t, "staff", staff);
    assert_int_equal(dir_replica_put(f->r, uuid(21), &t.e), PAL_OK);

    room_entry(&t, "r", "r@conference.localhost");
    te_add(&t, "owner", "uid=alice," USERS);
    te_add(&t, "member", "cn=staff," GROUPS);
    te_add(&t, "member", "uid=bob," USERS); /* direct and from a group: direct */
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    struct dir_room *rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost");
    assert_string_equal(MEMBERS(rm), "bob@localhost carol@localhost* dave@localhost*");
    dir_room_unref(rm);

    /* a member leaves the inner group: re-resolved, "re-read all" */
    reset_counts(f);
    static const char *const fewer[] = {"bob", NULL};
    group_entry(&t, "analysts", fewer);
    assert_int_equal(dir_replica_put(f->r, uuid(20), &t.e), PAL_OK);
    assert_int_equal(f->changes, 1);
    assert_int_equal(f->all_changes, 1);
    rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(MEMBERS(rm), "bob@localhost dave@localhost*");
    dir_room_unref(rm);

    /* the same group state again: quiet */
    reset_counts(f);
    assert_int_equal(dir_replica_put(f->r, uuid(20), &t.e), PAL_OK);
    assert_int_equal(f->changes, 0);

    /* a ban through a group wins over everything */
    reset_counts(f);
    room_entry(&t, "r", "r@conference.localhost");
    te_add(&t, "owner", "uid=alice," USERS);
    te_add(&t, "owner", "uid=dave," USERS);
    te_add(&t, "xmppRoomAdmin", "cn=staff," GROUPS);
    te_add(&t, "xmppRoomOutcast", "cn=analysts," GROUPS);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OWNERS(rm), "alice@localhost dave@localhost");
    assert_string_equal(ADMINS(rm), "");
    assert_string_equal(OUTCASTS(rm), "bob@localhost*");
    dir_room_unref(rm);

    /* the group goes: its members go with it */
    reset_counts(f);
    dir_replica_remove(f->r, uuid(20));
    assert_int_equal(f->all_changes, 1);
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 2); /* from staff and from the room */
    rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OUTCASTS(rm), "");
    assert_string_equal(OWNERS(rm), "alice@localhost dave@localhost");
    dir_room_unref(rm);
    /* and comes back */
    group_entry(&t, "analysts", analysts);
    assert_int_equal(dir_replica_put(f->r, uuid(22), &t.e), PAL_OK);
    rm = dir_replica_room(f->r, "r@conference.localhost");
    assert_string_equal(OUTCASTS(rm), "bob@localhost* carol@localhost*");
    dir_room_unref(rm);
}

static void
test_rooms_group_cycle_and_depth(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    struct tentry t;
    /* g1 -> g2 -> g1, with alice in g1 and bob in g2 */
    static const char *const g1[] = {"alice", "@g2", NULL};
    static const char *const g2[] = {"bob", "@g1", NULL};
    group_entry(&t, "g1", g1);
    dir_replica_put(f->r, uuid(20), &t.e);
    group_entry(&t, "g2", g2);
    dir_replica_put(f->r, uuid(21), &t.e);
    room_entry(&t, "cyc", "cyc@conference.localhost");
    te_add(&t, "member", "cn=g1," GROUPS);
    reset_counts(f);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    struct dir_room *rm = dir_replica_room(f->r, "cyc@conference.localhost");
    assert_string_equal(MEMBERS(rm), "alice@localhost* bob@localhost*");
    dir_room_unref(rm);
    assert_int_equal(f->notices[DIR_ROOM_CYCLE], 1);
    assert_string_equal(f->last_notice, "cn=cyc," ROOMS "|cn=g1," GROUPS "|");

    /* a chain d0 -> d1 -> ... -> d9, user i in group di: the room names d0,
     * so d0..d7 are expanded (8 groups) and d8 is too deep */
    char names[10][8];
    char refs[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "d%d", i);
        snprintf(refs[i], sizeof refs[i], "@d%d", i + 1);
    }
    static const char *const uids[] = {"alice", "bob", "carol", "dave"};
    for (int i = 0; i < 10; i++) {
        const char *m[] = {uids[i % 4], i < 9 ? refs[i] : NULL, NULL};
        group_entry(&t, names[i], m);
        assert_int_equal(dir_replica_put(f->r, uuid(30 + (unsigned)i), &t.e), PAL_OK);
    }
    reset_counts(f);
    room_entry(&t, "deep", "deep@conference.localhost");
    te_add(&t, "member", "cn=d5," GROUPS); /* d5..d9: 5 groups, all expanded */
    te_add(&t, "owner", "cn=d0," GROUPS);
    assert_int_equal(dir_replica_put(f->r, uuid(11), &t.e), PAL_OK);
    rm = dir_replica_room(f->r, "deep@conference.localhost");
    /* owners: users of d0..d7 (alice bob carol dave); d8 is not expanded */
    assert_string_equal(OWNERS(rm),
                        "alice@localhost* bob@localhost* carol@localhost* dave@localhost*");
    /* members: d5..d9 hold bob carol dave alice bob: all are owners already */
    assert_string_equal(MEMBERS(rm), "");
    dir_room_unref(rm);
    assert_int_equal(f->notices[DIR_ROOM_TOO_DEEP], 1);
    assert_string_equal(f->last_notice, "cn=deep," ROOMS "|cn=d8," GROUPS "|");

    /* a user only in d8: not an owner; in d9 through d5 a member */
    user_entry(&t, "erin", "erin@localhost");
    dir_replica_put(f->r, uuid(6), &t.e);
    const char *m8[] = {"erin", "@d9", NULL};
    group_entry(&t, "d8", m8);
    reset_counts(f);
    assert_int_equal(dir_replica_put(f->r, uuid(38), &t.e), PAL_OK);
    assert_int_equal(f->all_changes, 1);
    rm = dir_replica_room(f->r, "deep@conference.localhost");
    assert_string_equal(OWNERS(rm),
                        "alice@localhost* bob@localhost* carol@localhost* dave@localhost*");
    assert_string_equal(MEMBERS(rm), "erin@localhost*");
    dir_room_unref(rm);
}

/* Many paths to the same groups: resolved once per depth, not per path. */
static void
test_rooms_group_diamonds_are_cheap(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    struct tentry t;
    /* 8 levels of 6 groups, each naming all 6 of the next level: 6^8 paths */
    char names[8][6][12];
    for (int l = 0; l < 8; l++)
        for (int g = 0; g < 6; g++)
            snprintf(names[l][g], sizeof names[l][g], "@l%dg%d", l, g);
    for (int l = 7; l >= 0; l--) {
        for (int g = 0; g < 6; g++) {
            const char *m[8] = {NULL};
            int k = 0;
            if (l < 7)
                for (int x = 0; x < 6; x++)
                    m[k++] = names[l + 1][x];
            else
                m[k++] = "carol";
            group_entry(&t, names[l][g] + 1, m);
            assert_int_equal(dir_replica_put(f->r, uuid(100 + (unsigned)(l * 6 + g)), &t.e),
                             PAL_OK);
        }
    }
    room_entry(&t, "wide", "wide@conference.localhost");
    te_add(&t, "member", "cn=l0g0," GROUPS);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    struct dir_room *rm = dir_replica_room(f->r, "wide@conference.localhost");
    assert_string_equal(MEMBERS(rm), "carol@localhost*");
    dir_room_unref(rm);
}

/* ---- Sweep ------------------------------------------------------------------------ */

static void
test_rooms_sweep(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    struct tentry t;
    static const char *const g[] = {"bob", NULL};
    group_entry(&t, "g", g);
    dir_replica_put(f->r, uuid(20), &t.e);
    room_entry(&t, "a", "a@conference.localhost");
    te_add(&t, "member", "cn=g," GROUPS);
    dir_replica_put(f->r, uuid(10), &t.e);
    room_entry(&t, "b", "b@conference.localhost");
    dir_replica_put(f->r, uuid(11), &t.e);

    /* a full refresh that mentions users and room a only */
    dir_replica_refresh_begin(f->r);
    for (unsigned i = 1; i <= 4; i++)
        dir_replica_present(f->r, uuid(i));
    dir_replica_present(f->r, uuid(10));
    reset_counts(f);
    assert_int_equal(dir_replica_sweep(f->r), 2); /* the group, room b */
    dir_replica_refresh_end(f->r);
    assert_null(dir_replica_room(f->r, "b@conference.localhost"));
    struct dir_room *rm = dir_replica_room(f->r, "a@conference.localhost");
    assert_string_equal(MEMBERS(rm), "");
    dir_room_unref(rm);
    assert_int_equal(f->notices[DIR_ROOM_UNRESOLVED], 1);
    assert_int_equal(dir_replica_entry_count(f->r), 5);
}

/* ---- Write-back -------------------------------------------------------------------- */

/* The attribute named name in attrs, as "v1|v2" ("-" when it has no value). */
static const char *
attr_vals(const struct dir_attr *attrs, size_t n, const char *name)
{
    static char buf[4][512];
    static unsigned k;
    char *b = buf[k++ % 4];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(attrs[i].name, name) != 0)
            continue;
        b[0] = '\0';
        for (size_t j = 0; j < attrs[i].n; j++)
            snprintf(b + strlen(b), 512 - strlen(b), "%s%.*s", j ? "|" : "",
                     (int)attrs[i].v[j].len, attrs[i].v[j].p);
        return attrs[i].n ? b : "-";
    }
    return "(absent)";
}

static void
test_rooms_write_back_new_room(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    const char *owners[] = {"Alice@Localhost"};
    const char *members[] = {"bob@localhost", "carol@localhost", "bob@localhost"};
    struct dir_room_spec spec = {
        .jid = "Tea@Conference.Localhost",
        .name = "Tea room",
        .config = "muc#roomconfig_persistentroom=1\nmuc#roomconfig_roomsecret=s3cret\n",
        .owners = owners,
        .n_owners = 1,
        .members = members,
        .n_members = 3,
    };
    struct dir_room_data d;
    bool existed = true;
    reset_counts(f);
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_OK);
    assert_false(existed);
    assert_int_equal(f->changes, 0); /* the caller knows */
    assert_string_equal(d.dn, "cn=tea," ROOMS);

    struct arena *a = arena_new(1024);
    struct dir_attr *attrs = NULL;
    size_t n = dir_map_room_attrs(&d, a, &attrs);
    assert_int_equal(n, 9);
    assert_string_equal(attrs[0].name, "objectClass");
    assert_string_equal(attr_vals(attrs, n, "objectClass"), "xmppRoom");
    assert_string_equal(attrs[1].name, "xmppRoomJID"); /* second: a modify keeps it */
    assert_string_equal(attr_vals(attrs, n, "xmppRoomJID"), "tea@conference.localhost");
    assert_string_equal(attr_vals(attrs, n, "cn"), "tea|Tea room");
    assert_string_equal(attr_vals(attrs, n, "description"), "-");
    assert_string_equal(attr_vals(attrs, n, "xmppRoomConfig"), spec.config);
    assert_string_equal(attr_vals(attrs, n, "owner"), "uid=alice," USERS);
    assert_string_equal(attr_vals(attrs, n, "member"), "uid=bob," USERS "|uid=carol," USERS);
    assert_string_equal(attr_vals(attrs, n, "xmppRoomAdmin"), "-");
    assert_string_equal(attr_vals(attrs, n, "xmppRoomOutcast"), "-");
    assert_string_equal(attr_vals(attrs, n, "xmppClearance"), "(absent)");
    assert_string_equal(attr_vals(attrs, n, "xmppDefaultLabel"), "(absent)");
    arena_free(a);

    /* the replica shows it now */
    struct dir_room *rm = dir_replica_room(f->r, "tea@conference.localhost");
    assert_non_null(rm);
    assert_string_equal(rm->name, "Tea room");
    assert_string_equal(OWNERS(rm), "alice@localhost");
    assert_string_equal(MEMBERS(rm), "bob@localhost carol@localhost");
    assert_int_equal(rm->n_clearance, 0);
    dir_room_unref(rm);

    /* the echo of the add, with a clearance an administrator set meanwhile */
    struct tentry t;
    room_entry(&t, "tea", "tea@conference.localhost");
    te_add(&t, "cn", "Tea room");
    te_add(&t, "owner", "uid=alice," USERS);
    te_addn(&t, "xmppClearance", "\x30\x00", 2);
    reset_counts(f);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    rm = dir_replica_room(f->r, "tea@conference.localhost");
    assert_string_equal(MEMBERS(rm), "bob@localhost carol@localhost"); /* still ours */
    assert_int_equal(rm->n_clearance, 1); /* the directory's */
    dir_room_unref(rm);
    assert_int_equal(f->changes, 1); /* the clearance is news */

    /* the write landed: ours is the directory's state; the clearance stays */
    reset_counts(f);
    dir_replica_unpend(f->r, d.dn, true);
    assert_int_equal(f->changes, 0);
    rm = dir_replica_room(f->r, "tea@conference.localhost");
    assert_string_equal(MEMBERS(rm), "bob@localhost carol@localhost");
    assert_int_equal(rm->n_clearance, 1);
    dir_room_unref(rm);
    /* from now on the directory's word counts */
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    rm = dir_replica_room(f->r, "tea@conference.localhost");
    assert_string_equal(MEMBERS(rm), "");
    dir_room_unref(rm);
    dir_room_data_clear(&d);
}

static void
test_rooms_write_back_errors(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    const char *ghost[] = {"ghost@localhost"};
    const char *badjid[] = {"bob@localhost/phone"};
    const char *domain[] = {"localhost"};
    struct dir_room_data d;
    bool existed;
    struct dir_room_spec spec = {.jid = "r@conference.localhost", .owners = ghost, .n_owners = 1};
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_ENOENT);
    spec.owners = badjid;
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_EMALFORMED);
    spec.owners = domain;
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_EMALFORMED);
    spec = (struct dir_room_spec){.jid = "conference.localhost"};
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_EMALFORMED);
    spec = (struct dir_room_spec){.jid = "r@conference.localhost", .config = "x=1\nnovalue\n"};
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_EMALFORMED);
    assert_null(dir_replica_room(f->r, "r@conference.localhost"));
    char *dn = (char *)"x";
    assert_int_equal(dir_replica_room_del(f->r, "r@conference.localhost", &dn), PAL_ENOENT);
    assert_null(dn);
    assert_int_equal(dir_replica_room_del(f->r, "r@conference.localhost/x", &dn), PAL_EMALFORMED);

    /* a failed add: the room was never there */
    spec = (struct dir_room_spec){.jid = "r@conference.localhost"};
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_OK);
    reset_counts(f);
    dir_replica_unpend(f->r, d.dn, false);
    assert_null(dir_replica_room(f->r, "r@conference.localhost"));
    assert_int_equal(f->changes, 1); /* the room this node showed went away */
    dir_room_data_clear(&d);
}

/* An existing room: group values and values nothing resolves are kept, user
 * values replaced; the DN, RDN and JID stay; a failed write goes back. */
static void
test_rooms_write_back_existing_room(void **state)
{
    struct fixture *f = *state;
    add_users(f);
    struct tentry t;
    static const char *const g[] = {"carol", NULL};
    group_entry(&t, "analysts", g);
    dir_replica_put(f->r, uuid(20), &t.e);
    te_init(&t, "cn=Ops Room," ROOMS); /* an administrator's entry */
    te_add(&t, "objectClass", "xmppRoom");
    te_add(&t, "cn", "Ops Room");
    te_add(&t, "xmppRoomJID", "ops@conference.localhost");
    te_add(&t, "description", "operations");
    te_add(&t, "owner", "uid=alice," USERS);
    te_add(&t, "member", "cn=analysts," GROUPS);
    te_add(&t, "member", "uid=bob," USERS);
    te_add(&t, "member", "uid=nobody," USERS);
    te_addn(&t, "xmppDefaultLabel", "\x31\x00", 2);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);

    const char *owners[] = {"alice@localhost"};
    const char *members[] = {"dave@localhost"};
    const char *outcasts[] = {"bob@localhost"};
    struct dir_room_spec spec = {
        .jid = "ops@conference.localhost",
        .name = "Operations",
        .owners = owners,
        .n_owners = 1,
        .members = members,
        .n_members = 1,
        .outcasts = outcasts,
        .n_outcasts = 1,
    };
    struct dir_room_data d;
    bool existed = false;
    reset_counts(f);
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_OK);
    assert_true(existed);
    assert_int_equal(f->changes, 0);
    assert_string_equal(d.dn, "cn=Ops Room," ROOMS);
    struct arena *a = arena_new(1024);
    struct dir_attr *attrs = NULL;
    size_t n = dir_map_room_attrs(&d, a, &attrs);
    assert_string_equal(attr_vals(attrs, n, "cn"), "Ops Room|Operations");
    assert_string_equal(attr_vals(attrs, n, "description"), "-"); /* NULL: removed */
    assert_string_equal(attr_vals(attrs, n, "member"),
                        "cn=analysts," GROUPS "|uid=nobody," USERS "|uid=dave," USERS);
    assert_string_equal(attr_vals(attrs, n, "xmppRoomOutcast"), "uid=bob," USERS);
    arena_free(a);
    struct dir_room *rm = dir_replica_room(f->r, "ops@conference.localhost");
    assert_string_equal(rm->name, "Operations");
    assert_string_equal(MEMBERS(rm), "carol@localhost* dave@localhost");
    assert_string_equal(OUTCASTS(rm), "bob@localhost");
    assert_int_equal(rm->default_label_len, 2); /* never written, still there */
    dir_room_unref(rm);

    /* a stale echo while the write is in flight changes nothing we wrote */
    reset_counts(f);
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    assert_int_equal(f->changes, 0);
    /* but an administrator removing the default label takes effect at once */
    te_init(&t, "cn=Ops Room," ROOMS);
    te_add(&t, "objectClass", "xmppRoom");
    te_add(&t, "cn", "Ops Room");
    te_add(&t, "xmppRoomJID", "ops@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    assert_int_equal(f->changes, 1);
    rm = dir_replica_room(f->r, "ops@conference.localhost");
    assert_null(rm->default_label);
    assert_string_equal(OUTCASTS(rm), "bob@localhost");
    dir_room_unref(rm);

    /* the write fails for good: back to the directory's state, told */
    reset_counts(f);
    dir_replica_unpend(f->r, d.dn, false);
    assert_int_equal(f->changes, 1);
    assert_string_equal(f->last, "ops@conference.localhost");
    rm = dir_replica_room(f->r, "ops@conference.localhost");
    assert_string_equal(rm->name, "Ops Room");
    assert_string_equal(OUTCASTS(rm), "");
    assert_string_equal(OWNERS(rm), "");
    dir_room_unref(rm);
    dir_room_data_clear(&d);
}

static void
test_rooms_write_back_delete(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    room_entry(&t, "a", "dup@conference.localhost");
    dir_replica_put(f->r, uuid(10), &t.e);
    room_entry(&t, "b", "dup@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(11), &t.e), PAL_EEXIST);
    room_entry(&t, "solo", "solo@conference.localhost");
    dir_replica_put(f->r, uuid(12), &t.e);

    /* deleting a room with a duplicate: the other takes over, and the caller
     * is told (it is not what it asked for) */
    char *dn = NULL;
    reset_counts(f);
    assert_int_equal(dir_replica_room_del(f->r, "dup@conference.localhost", &dn), PAL_OK);
    assert_string_equal(dn, "cn=a," ROOMS);
    assert_int_equal(f->changes, 1);
    struct dir_room *rm = dir_replica_room(f->r, "dup@conference.localhost");
    assert_string_equal(rm->dn, "cn=b," ROOMS);
    dir_room_unref(rm);
    /* a stale echo does not bring it back (nor counts as a duplicate) */
    room_entry(&t, "a", "dup@conference.localhost");
    assert_int_equal(dir_replica_put(f->r, uuid(10), &t.e), PAL_OK);
    rm = dir_replica_room(f->r, "dup@conference.localhost");
    assert_string_equal(rm->dn, "cn=b," ROOMS);
    dir_room_unref(rm);
    dir_replica_unpend(f->r, dn, true);
    dir_replica_remove(f->r, uuid(10)); /* the delete's echo */
    rm = dir_replica_room(f->r, "dup@conference.localhost");
    assert_string_equal(rm->dn, "cn=b," ROOMS);
    dir_room_unref(rm);
    free(dn);

    /* a delete that fails for good: the room comes back */
    reset_counts(f);
    assert_int_equal(dir_replica_room_del(f->r, "solo@conference.localhost", &dn), PAL_OK);
    assert_int_equal(f->changes, 0);
    assert_null(dir_replica_room(f->r, "solo@conference.localhost"));
    dir_replica_unpend(f->r, dn, false);
    assert_int_equal(f->changes, 1);
    rm = dir_replica_room(f->r, "solo@conference.localhost");
    assert_non_null(rm);
    dir_room_unref(rm);
    free(dn);

    /* delete, then create again before the delete finished */
    assert_int_equal(dir_replica_room_del(f->r, "solo@conference.localhost", &dn), PAL_OK);
    struct dir_room_spec spec = {.jid = "solo@conference.localhost", .description = "new"};
    struct dir_room_data d;
    bool existed = true;
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_OK);
    assert_false(existed); /* an add, after the delete */
    assert_string_equal(d.dn, "cn=solo," ROOMS);
    dir_replica_unpend(f->r, dn, true);
    rm = dir_replica_room(f->r, "solo@conference.localhost");
    assert_string_equal(rm->description, "new");
    dir_room_unref(rm);
    dir_replica_unpend(f->r, d.dn, true);
    rm = dir_replica_room(f->r, "solo@conference.localhost");
    assert_string_equal(rm->description, "new");
    dir_room_unref(rm);
    free(dn);
    dir_room_data_clear(&d);
}

/* Two domains with a room of the same local part: the second gets the full
 * JID as its RDN instead of taking over the first's entry. */
static void
test_rooms_write_back_dn_collision(void **state)
{
    struct fixture *f = *state;
    struct tentry t;
    room_entry(&t, "lobby", "lobby@conference.one.test");
    dir_replica_put(f->r, uuid(10), &t.e);
    struct dir_room_spec spec = {.jid = "lobby@conference.two.test"};
    struct dir_room_data d;
    bool existed = true;
    assert_int_equal(dir_replica_room_put(f->r, &spec, &d, &existed), PAL_OK);
    assert_false(existed);
    assert_string_equal(d.dn, "cn=lobby@conference.two.test," ROOMS);
    struct arena *a = arena_new(512);
    struct dir_attr *attrs = NULL;
    size_t n = dir_map_room_attrs(&d, a, &attrs);
    assert_string_equal(attr_vals(attrs, n, "cn"), "lobby@conference.two.test|lobby");
    arena_free(a);
    struct dir_room *rm = dir_replica_room(f->r, "lobby@conference.two.test");
    assert_string_equal(rm->name, "lobby");
    dir_room_unref(rm);
    rm = dir_replica_room(f->r, "lobby@conference.one.test");
    assert_string_equal(rm->dn, "cn=lobby," ROOMS);
    dir_room_unref(rm);
    dir_room_data_clear(&d);
}

/* ---- map.c helpers ----------------------------------------------------------------- */

static void
test_rooms_config_check(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"", PAL_OK},
        {"a=1", PAL_OK},
        {"a=1\n", PAL_OK},
        {"a=\nb=x=y\n\n", PAL_OK},
        {"a=1\r\nb=2\r\n", PAL_OK},
        {"muc#roomconfig_roomname=Tea & biscuits", PAL_OK},
        {"=1", PAL_EMALFORMED},
        {"a=1\nb\n", PAL_EMALFORMED},
        {"a=1\n\r\n=2", PAL_EMALFORMED},
        {"justtext", PAL_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = NULL;
        int rc = dir_room_config_check(cases[i].s, strlen(cases[i].s), &why);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": %d", cases[i].s, rc);
    }
    const char *why = NULL;
    assert_int_equal(dir_room_config_check("a=1\0", 4, &why), PAL_EMALFORMED);
    assert_string_equal(why, "xmppRoomConfig holds a NUL byte");
}

static void
test_rooms_rdn_values_and_name(void **state)
{
    (void)state;
    char **v = NULL;
    assert_int_equal(dir_dn_rdn_values("cn=Ops Room,ou=rooms,dc=x", "cn", &v), 1);
    assert_string_equal(v[0], "Ops Room");
    dir_strv_free(v, 1);
    assert_int_equal(dir_dn_rdn_values(" CN = a\\,b\\2Bc + uid=z ,ou=x", "cn", &v), 1);
    assert_string_equal(v[0], "a,b+c");
    dir_strv_free(v, 1);
    assert_int_equal(dir_dn_rdn_values("cn=a+cn=B,ou=x", "CN", &v), 2);
    assert_string_equal(v[1], "B");
    dir_strv_free(v, 2);
    assert_int_equal(dir_dn_rdn_values("uid=a,cn=b", "cn", &v), 0);
    assert_null(v);
    assert_int_equal(dir_dn_rdn_values("garbage", "cn", &v), 0);
    assert_null(v);

    char *cn[] = {"briefing", "Morning briefing"};
    struct dir_room_data d = {.dn = "cn=Briefing,ou=rooms,dc=x", .n_cn = 2, .cn = cn};
    char *name = dir_room_data_name(&d);
    assert_string_equal(name, "Morning briefing");
    free(name);
    d.n_cn = 1;
    name = dir_room_data_name(&d);
    assert_string_equal(name, "briefing");
    free(name);
    d.dn = "xmppRoomJID=x@y,ou=rooms,dc=x";
    d.n_cn = 2;
    name = dir_room_data_name(&d);
    assert_string_equal(name, "briefing");
    free(name);
    d.n_cn = 0;
    assert_null(dir_room_data_name(&d));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rooms_add_modify_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_duplicate_jids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_invalid_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_user_affiliations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_notices_wait_for_refresh_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rooms_group_affiliations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_group_cycle_and_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_group_diamonds_are_cheap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_write_back_new_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_write_back_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_write_back_existing_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_write_back_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms_write_back_dn_collision, setup, teardown),
        cmocka_unit_test(test_rooms_config_check),
        cmocka_unit_test(test_rooms_rdn_values_and_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
