/* SPDX-License-Identifier: Apache-2.0 */
/* test_sess.c - the session table: full-JID index, bare-JID resource lists,
 * conflicts, removal from any list position, growth, directed presence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/hash.h"
#include "node/sess.h"

/* A session with a hand-built JID (the table only reads jid->full and jid->bare). */
struct fake {
    struct jid jid;
    struct sess s;
    char full[64];
    char bare[64];
};

static struct fake *
fake_new(const char *bare, const char *resource, uint64_t id)
{
    struct fake *f = calloc(1, sizeof *f);

    snprintf(f->bare, sizeof f->bare, "%s", bare);
    snprintf(f->full, sizeof f->full, "%s/%s", bare, resource);
    f->jid.domain = "example.com";
    f->jid.bare = f->bare;
    f->jid.full = f->full;
    f->jid.resource = resource;
    f->s.id = id;
    f->s.jid = &f->jid;
    return f;
}

static size_t
count_bare(struct sess_table *t, const char *bare)
{
    size_t n = 0;
    struct sess *s;

    for (s = sess_table_bare(t, bare); s != NULL; s = s->next_of_bare)
        n++;
    return n;
}

static bool
in_bare(struct sess_table *t, const char *bare, const struct sess *want)
{
    struct sess *s;

    for (s = sess_table_bare(t, bare); s != NULL; s = s->next_of_bare)
        if (s == want)
            return true;
    return false;
}

static void
test_sess_add_find(void **state)
{
    struct sess_table *t = sess_table_new();
    struct fake *a = fake_new("alice@example.com", "laptop", 1);
    struct fake *b = fake_new("bob@example.com", "phone", 2);

    (void)state;
    assert_null(sess_table_add(t, &a->s));
    assert_null(sess_table_add(t, &b->s));
    assert_ptr_equal(sess_table_find(t, "alice@example.com/laptop"), &a->s);
    assert_ptr_equal(sess_table_find(t, "bob@example.com/phone"), &b->s);
    assert_null(sess_table_find(t, "alice@example.com/phone"));
    assert_null(sess_table_find(t, "alice@example.com"));
    assert_int_equal(sess_table_count(t), 2);
    sess_table_free(t);
    free(a);
    free(b);
}

static void
test_sess_bare_lists_every_resource(void **state)
{
    struct sess_table *t = sess_table_new();
    struct fake *r[3];
    size_t i;

    (void)state;
    r[0] = fake_new("alice@example.com", "a", 1);
    r[1] = fake_new("alice@example.com", "b", 2);
    r[2] = fake_new("alice@example.com", "c", 3);
    for (i = 0; i < 3; i++)
        assert_null(sess_table_add(t, &r[i]->s));
    assert_int_equal(count_bare(t, "alice@example.com"), 3);
    for (i = 0; i < 3; i++)
        assert_true(in_bare(t, "alice@example.com", &r[i]->s));
    assert_null(sess_table_bare(t, "bob@example.com"));
    sess_table_free(t);
    for (i = 0; i < 3; i++)
        free(r[i]);
}

static void
test_sess_del_head_middle_tail(void **state)
{
    struct sess_table *t = sess_table_new();
    struct fake *r[4];
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        char res[8];
        snprintf(res, sizeof res, "r%zu", i);
        r[i] = fake_new("alice@example.com", "", i + 1);
        snprintf(r[i]->full, sizeof r[i]->full, "alice@example.com/%s", res);
        assert_null(sess_table_add(t, &r[i]->s));
    }
    /* r3 is the head (newest first), r0 the tail. */
    sess_table_del(t, &r[3]->s);
    assert_false(in_bare(t, "alice@example.com", &r[3]->s));
    assert_null(sess_table_find(t, "alice@example.com/r3"));
    assert_null(r[3]->s.next_of_bare);
    sess_table_del(t, &r[1]->s);
    sess_table_del(t, &r[0]->s);
    assert_int_equal(count_bare(t, "alice@example.com"), 1);
    assert_ptr_equal(sess_table_bare(t, "alice@example.com"), &r[2]->s);
    sess_table_del(t, &r[2]->s);
    assert_null(sess_table_bare(t, "alice@example.com"));
    assert_int_equal(sess_table_count(t), 0);
    sess_table_free(t);
    for (i = 0; i < 4; i++)
        free(r[i]);
}

static void
test_sess_conflict_returns_old_and_unindexes_it(void **state)
{
    struct sess_table *t = sess_table_new();
    struct fake *old = fake_new("alice@example.com", "laptop", 1);
    struct fake *other = fake_new("alice@example.com", "phone", 2);
    struct fake *neu = fake_new("alice@example.com", "laptop", 3);

    (void)state;
    assert_null(sess_table_add(t, &old->s));
    assert_null(sess_table_add(t, &other->s));
    assert_ptr_equal(sess_table_add(t, &neu->s), &old->s);
    assert_ptr_equal(sess_table_find(t, "alice@example.com/laptop"), &neu->s);
    assert_false(in_bare(t, "alice@example.com", &old->s));
    assert_true(in_bare(t, "alice@example.com", &neu->s));
    assert_true(in_bare(t, "alice@example.com", &other->s));
    assert_int_equal(sess_table_count(t), 2);
    /* Deleting the replaced session later (c2s tearing it down) is harmless. */
    sess_table_del(t, &old->s);
    assert_ptr_equal(sess_table_find(t, "alice@example.com/laptop"), &neu->s);
    assert_int_equal(count_bare(t, "alice@example.com"), 2);
    sess_table_free(t);
    free(old);
    free(other);
    free(neu);
}

static void
test_sess_add_twice_is_idempotent(void **state)
{
    struct sess_table *t = sess_table_new();
    struct fake *a = fake_new("alice@example.com", "laptop", 1);

    (void)state;
    assert_null(sess_table_add(t, &a->s));
    assert_null(sess_table_add(t, &a->s));
    assert_int_equal(count_bare(t, "alice@example.com"), 1);
    assert_int_equal(sess_table_count(t), 1);
    sess_table_free(t);
    free(a);
}

static void
test_sess_many_sessions_survive_growth(void **state)
{
    enum { N = 2000 };
    struct sess_table *t = sess_table_new();
    struct fake **f = calloc(N, sizeof *f);
    char bare[32];
    char res[16];
    size_t i;

    (void)state;
    for (i = 0; i < N; i++) {
        snprintf(bare, sizeof bare, "user%zu@example.com", i % 500);
        snprintf(res, sizeof res, "r%zu", i / 500);
        f[i] = fake_new(bare, "", i);
        snprintf(f[i]->full, sizeof f[i]->full, "%s/%s", bare, res);
        assert_null(sess_table_add(t, &f[i]->s));
    }
    assert_int_equal(sess_table_count(t), N);
    for (i = 0; i < N; i++)
        assert_ptr_equal(sess_table_find(t, f[i]->full), &f[i]->s);
    assert_int_equal(count_bare(t, "user7@example.com"), 4);
    for (i = 0; i < N; i += 2)
        sess_table_del(t, &f[i]->s);
    assert_int_equal(sess_table_count(t), N / 2);
    for (i = 0; i < N; i++)
        assert_ptr_equal(sess_table_find(t, f[i]->full), i % 2 ? &f[i]->s : NULL);
    assert_int_equal(count_bare(t, "user7@example.com"), 4);
    assert_int_equal(count_bare(t, "user8@example.com"), 0);
    assert_null(sess_table_bare(t, "user8@example.com"));
    sess_table_free(t);
    for (i = 0; i < N; i++)
        free(f[i]);
    free(f);
}

static void
test_sess_directed_add_del(void **state)
{
    struct fake *a = fake_new("alice@example.com", "laptop", 1);
    struct sess *s = &a->s;

    (void)state;
    sess_directed_add(s, "room@muc.example.com/alice");
    sess_directed_add(s, "carol@elsewhere.org/x");
    sess_directed_add(s, "room@muc.example.com/alice");
    assert_int_equal(s->n_directed, 2);
    sess_directed_del(s, "nobody@example.com/x");
    assert_int_equal(s->n_directed, 2);
    sess_directed_del(s, "room@muc.example.com/alice");
    assert_int_equal(s->n_directed, 1);
    assert_string_equal(s->directed[0], "carol@elsewhere.org/x");
    sess_directed_del(s, "carol@elsewhere.org/x");
    assert_int_equal(s->n_directed, 0);
    assert_null(s->directed);
    sess_directed_del(s, "carol@elsewhere.org/x");
    assert_int_equal(s->n_directed, 0);
    free(a);
}

static void
test_sess_hash_put_get_del(void **state)
{
    struct hash *h = hash_new();
    int a = 1;
    int b = 2;

    (void)state;
    assert_null(hash_put(h, "k", &a));
    assert_ptr_equal(hash_get(h, "k"), &a);
    assert_ptr_equal(hash_put(h, "k", &b), &a);
    assert_ptr_equal(hash_get(h, "k"), &b);
    assert_int_equal(hash_count(h), 1);
    assert_null(hash_del(h, "missing"));
    assert_ptr_equal(hash_del(h, "k"), &b);
    assert_null(hash_get(h, "k"));
    assert_int_equal(hash_count(h), 0);
    assert_null(hash_get(h, ""));
    hash_free(h);
    hash_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sess_add_find),
        cmocka_unit_test(test_sess_bare_lists_every_resource),
        cmocka_unit_test(test_sess_del_head_middle_tail),
        cmocka_unit_test(test_sess_conflict_returns_old_and_unindexes_it),
        cmocka_unit_test(test_sess_add_twice_is_idempotent),
        cmocka_unit_test(test_sess_many_sessions_survive_growth),
        cmocka_unit_test(test_sess_directed_add_del),
        cmocka_unit_test(test_sess_hash_put_get_del),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
