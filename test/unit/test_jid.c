/* SPDX-License-Identifier: Apache-2.0 */
/* test_jid.c - JID parsing and normalisation, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stringprep.h>

#include "core/err.h"
#include "core/jid.h"

struct valid_case {
    const char *in;
    const char *local;    /* NULL: absent */
    const char *domain;
    const char *resource; /* NULL: absent */
    const char *bare;
    const char *full;
};

static const struct valid_case valid_cases[] = {
    {"localhost", NULL, "localhost", NULL, "localhost", "localhost"},
    {"alice@localhost", "alice", "localhost", NULL, "alice@localhost", "alice@localhost"},
    {"Alice@LocalHost/Res", "alice", "localhost", "Res", "alice@localhost",
     "alice@localhost/Res"},
    {"alice@example.com./phone", "alice", "example.com", "phone", "alice@example.com",
     "alice@example.com/phone"},
    {"example.com.", NULL, "example.com", NULL, "example.com", "example.com"},
    {"localhost/res/with/slashes@and@ats", NULL, "localhost", "res/with/slashes@and@ats",
     "localhost", "localhost/res/with/slashes@and@ats"},
    {"a@b/c@d/e", "a", "b", "c@d/e", "a@b", "a@b/c@d/e"},
    {"room@conference.localhost/Nick Name", "room", "conference.localhost", "Nick Name",
     "room@conference.localhost", "room@conference.localhost/Nick Name"},
    {"juliet@192.168.1.10/balcony", "juliet", "192.168.1.10", "balcony", "juliet@192.168.1.10",
     "juliet@192.168.1.10/balcony"},
    {"juliet@[2001:DB8::1]", "juliet", "[2001:DB8::1]", NULL, "juliet@[2001:DB8::1]",
     "juliet@[2001:DB8::1]"},
    {"[::1]", NULL, "[::1]", NULL, "[::1]", "[::1]"},
    {"Stra\xc3\x9f" "e@Example.ORG", "strasse", "example.org", NULL, "strasse@example.org",
     "strasse@example.org"},
    {"\xc3\x84lice@\xc3\x96rt.example", "\xc3\xa4lice", "\xc3\xb6rt.example", NULL,
     "\xc3\xa4lice@\xc3\xb6rt.example", "\xc3\xa4lice@\xc3\xb6rt.example"},
    {"user@xn--bcher-kva.example", "user", "xn--bcher-kva.example", NULL,
     "user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
    {"user@ex\xef\xbc\x8e" "com", "user", "ex.com", NULL, "user@ex.com", "user@ex.com"},
    {"_xmpp@my_host.example", "_xmpp", "my_host.example", NULL, "_xmpp@my_host.example",
     "_xmpp@my_host.example"},
};

static const char *const invalid_cases[] = {
    "",
    "@localhost",
    "alice@",
    "alice@/res",
    "localhost/",
    "alice@localhost/",
    "/res",
    "a@b@c",                  /* domain would contain '@' */
    "al ice@localhost",       /* space prohibited by nodeprep */
    "al\"ice@localhost",
    "a<b@localhost",
    "a:b@localhost",
    "a'b@localhost",
    "a&b@localhost",
    "alice@local host",
    "alice@.localhost",
    "alice@local..host",
    "alice@localhost..",
    ".",
    "alice@.",
    "alice@[::1",
    "alice@[not-an-ip]",
    "alice@exa!mple.com",
    "a\xff@localhost",        /* invalid UTF-8 */
    "alice@localhost/\xc3\x28",
    "\xc2\xad@localhost",     /* maps to nothing: empty after preparation */
};

static void
test_jid_valid_forms(void **state)
{
    size_t i;
    struct jid *j;
    const struct valid_case *c;

    (void)state;
    for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        c = &valid_cases[i];
        if (jid_parse(c->in, &j) != PAL_OK)
            fail_msg("rejected: %s", c->in);
        if (c->local == NULL)
            assert_null(j->local);
        else
            assert_string_equal(j->local, c->local);
        assert_string_equal(j->domain, c->domain);
        if (c->resource == NULL)
            assert_null(j->resource);
        else
            assert_string_equal(j->resource, c->resource);
        assert_string_equal(j->bare, c->bare);
        assert_string_equal(j->full, c->full);
        jid_free(j);
    }
}

static void
test_jid_invalid_forms(void **state)
{
    size_t i;
    struct jid *j;

    (void)state;
    for (i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
        j = (struct jid *)1;
        if (jid_parse(invalid_cases[i], &j) != PAL_EMALFORMED)
            fail_msg("accepted: '%s' as '%s'", invalid_cases[i], j->full);
        assert_null(j);
        assert_null(jid_normalize(invalid_cases[i]));
    }
    assert_int_equal(jid_parse(NULL, &j), PAL_EMALFORMED);
}

static char *
repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void
test_jid_part_length_limits(void **state)
{
    char *l1023 = repeat('a', 1023);
    char *l1024 = repeat('a', 1024);
    char buf[4200];
    struct jid *j;

    (void)state;
    snprintf(buf, sizeof(buf), "%s@localhost", l1023);
    assert_int_equal(jid_parse(buf, &j), PAL_OK);
    assert_int_equal(strlen(j->local), 1023);
    jid_free(j);
    snprintf(buf, sizeof(buf), "%s@localhost", l1024);
    assert_int_equal(jid_parse(buf, &j), PAL_EMALFORMED);

    snprintf(buf, sizeof(buf), "localhost/%s", l1023);
    assert_int_equal(jid_parse(buf, &j), PAL_OK);
    jid_free(j);
    snprintf(buf, sizeof(buf), "localhost/%s", l1024);
    assert_int_equal(jid_parse(buf, &j), PAL_EMALFORMED);

    /* 1023-byte domain; with a trailing dot still fine; one more byte is not. */
    memcpy(l1023, "a.", 2);
    snprintf(buf, sizeof(buf), "x@%s", l1023);
    assert_int_equal(jid_parse(buf, &j), PAL_OK);
    jid_free(j);
    snprintf(buf, sizeof(buf), "x@%s.", l1023);
    assert_int_equal(jid_parse(buf, &j), PAL_OK);
    jid_free(j);
    snprintf(buf, sizeof(buf), "x@a%s", l1023);
    assert_int_equal(jid_parse(buf, &j), PAL_EMALFORMED);

    /* The limit holds after preparation too: U+0149 (2 bytes) case-folds to
     * U+02BC U+006E (3 bytes), so 500 of them make 1000 bytes in, 1500 out. */
    {
        char grow[1100];
        size_t i;

        for (i = 0; i < 1000; i += 2)
            memcpy(grow + i, "\xc5\x89", 2);
        memcpy(grow + 1000, "@localhost", 11);
        assert_int_equal(jid_parse(grow, &j), PAL_EMALFORMED);
        memcpy(grow + 600, "@localhost", 11); /* 300 of them: 900 bytes out */
        assert_int_equal(jid_parse(grow, &j), PAL_OK);
        assert_int_equal(strlen(j->local), 900);
        jid_free(j);
    }
    free(l1023);
    free(l1024);
}

static void
test_jid_normalize(void **state)
{
    static const char *const pairs[][2] = {
        {"Alice@LocalHost/Res", "alice@localhost/Res"},
        {"LOCALHOST", "localhost"},
        {"bob@Example.COM.", "bob@example.com"},
        {"bob@example.com/ Spaced ", "bob@example.com/ Spaced "},
    };
    size_t i;
    char *s;

    (void)state;
    for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        s = jid_normalize(pairs[i][0]);
        assert_non_null(s);
        assert_string_equal(s, pairs[i][1]);
        free(s);
    }
}

static void
test_jid_make_dup_bare_and_compare(void **state)
{
    struct jid *a;
    struct jid *b;
    struct jid *c;
    struct jid *d;

    (void)state;
    assert_int_equal(jid_make("Alice", "LocalHost", "Phone", &a), PAL_OK);
    assert_string_equal(a->full, "alice@localhost/Phone");
    assert_int_equal(jid_parse("alice@localhost/phone", &b), PAL_OK);
    assert_false(jid_equal(a, b));         /* resources are case-sensitive */
    assert_true(jid_bare_equal(a, b));
    c = jid_dup(a);
    assert_true(jid_equal(a, c));
    assert_ptr_not_equal(c->full, a->full);
    d = jid_to_bare(a);
    assert_null(d->resource);
    assert_string_equal(d->full, "alice@localhost");
    assert_true(jid_bare_equal(d, b));
    jid_free(a);
    jid_free(b);
    jid_free(c);
    jid_free(d);
    jid_free(NULL);

    assert_int_equal(jid_make(NULL, "localhost", NULL, &a), PAL_OK);
    assert_string_equal(a->full, "localhost");
    assert_null(a->local);
    jid_free(a);
    assert_int_equal(jid_make("a@b", "localhost", NULL, &a), PAL_EMALFORMED);
    assert_null(a);
    assert_int_equal(jid_make("a", "local/host", NULL, &a), PAL_EMALFORMED);
    assert_int_equal(jid_make("", "localhost", NULL, &a), PAL_EMALFORMED);
    assert_int_equal(jid_make("a", "localhost", "", &a), PAL_EMALFORMED);
    assert_int_equal(jid_make("a", NULL, NULL, &a), PAL_EMALFORMED);
}

/* libidn's answer for one part: the prepared string, or NULL when refused. */
static char *
reference_prep(const char *in, int which)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", in);
    int rc = which == 0   ? stringprep_xmpp_nodeprep(buf, sizeof buf)
             : which == 1 ? stringprep_nameprep(buf, sizeof buf)
                          : stringprep_xmpp_resourceprep(buf, sizeof buf);
    return rc == STRINGPREP_OK && buf[0] ? strdup(buf) : NULL;
}

/* The ASCII fast path in jid.c gives libidn's answer for every printable
 * character in every part (local, domain, resource), alone and between
 * letters of both cases. */
static void
test_jid_ascii_fast_path_matches_libidn(void **state)
{
    (void)state;
    for (int c = 0x21; c <= 0x7e; c++) {
        for (int form = 0; form < 2; form++) {
            char part[8];
            if (form == 0)
                snprintf(part, sizeof part, "%c", c);
            else
                snprintf(part, sizeof part, "Ab%cZ", c);
            for (int which = 0; which < 3; which++) {
                char *want = reference_prep(part, which);
                struct jid *j = NULL;
                int rc = which == 0   ? jid_make(part, "example.com", NULL, &j)
                         : which == 1 ? jid_make("u", part, NULL, &j)
                                      : jid_make("u", "example.com", part, &j);
                if (which == 1) {
                    /* domains have syntax rules of their own: compare only
                     * when jid.c accepts it */
                    if (rc == PAL_OK)
                        assert_non_null(want);
                    if (rc == PAL_OK)
                        assert_string_equal(j->domain, want);
                } else if (want == NULL) {
                    if (rc == PAL_OK)
                        fail_msg("part '%s' (%d) accepted, libidn refuses it", part, which);
                } else {
                    if (rc != PAL_OK)
                        fail_msg("part '%s' (%d) refused, libidn gives '%s'", part, which, want);
                    assert_string_equal(which == 0 ? j->local : j->resource, want);
                }
                jid_free(j);
                free(want);
            }
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jid_valid_forms),
        cmocka_unit_test(test_jid_ascii_fast_path_matches_libidn),
        cmocka_unit_test(test_jid_invalid_forms),
        cmocka_unit_test(test_jid_part_length_limits),
        cmocka_unit_test(test_jid_normalize),
        cmocka_unit_test(test_jid_make_dup_bare_and_compare),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
