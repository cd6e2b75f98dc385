/* SPDX-License-Identifier: Apache-2.0 */
/* test_muc_config.c - a room's configuration as the directory's
 * xmppRoomConfig and the cluster carry it: defaults, every field through text
 * and back, what the parser ignores, role and affiliation names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/muc_int.h"

static void
test_defaults(void **state)
{
    (void)state;
    struct muc_config c;
    muc_config_default(&c);
    assert_false(c.persistent);
    assert_true(c.public_);
    assert_false(c.members_only);
    assert_false(c.password);
    assert_false(c.moderated);
    assert_false(c.whois_anyone); /* semi-anonymous unless configured */
    assert_true(c.change_subject);
    assert_true(c.allow_invites);
    assert_int_equal(c.max_users, 0);
    assert_null(c.name);
    muc_config_clear(&c);
}

static void
test_round_trip(void **state)
{
    (void)state;
    struct muc_config a, b;
    muc_config_default(&a);
    a.name = strdup("Watch floor");
    a.desc = strdup("The watch officers = on duty");
    a.secret = strdup("s3cret=x");
    a.persistent = true;
    a.public_ = false;
    a.members_only = true;
    a.password = true;
    a.moderated = true;
    a.whois_anyone = true;
    a.change_subject = false;
    a.allow_invites = false;
    a.max_users = 30;
    char *text = muc_config_text(&a);
    assert_non_null(strstr(text, "muc#roomconfig_roomname=Watch floor\n"));
    assert_non_null(strstr(text, "muc#roomconfig_whois=anyone\n"));
    muc_config_default(&b);
    muc_config_parse(&b, text);
    assert_string_equal(b.name, "Watch floor");
    assert_string_equal(b.desc, "The watch officers = on duty"); /* '=' in a value */
    assert_string_equal(b.secret, "s3cret=x");
    assert_true(b.persistent);
    assert_false(b.public_);
    assert_true(b.members_only);
    assert_true(b.password);
    assert_true(b.moderated);
    assert_true(b.whois_anyone);
    assert_false(b.change_subject);
    assert_false(b.allow_invites);
    assert_int_equal(b.max_users, 30);
    free(text);
    muc_config_clear(&a);
    muc_config_clear(&b);
}

static void
test_parse_tolerates(void **state)
{
    (void)state;
    struct muc_config c;
    muc_config_default(&c);
    /* unknown vars, other prefixes, lines without '=', true/false spelled out,
     * a negative maxusers, no final newline */
    muc_config_parse(&c, "muc#roomconfig_unknown=1\nsomething else\n"
                         "x-other=1\nmuc#roomconfig_membersonly=true\n"
                         "muc#roomconfig_publicroom=false\nmuc#roomconfig_maxusers=-4\n"
                         "\nmuc#roomconfig_roomname=");
    assert_true(c.members_only);
    assert_false(c.public_);
    assert_int_equal(c.max_users, 0);
    assert_null(c.name); /* an empty value is no name */
    muc_config_parse(&c, NULL);
    assert_true(c.members_only);
    muc_config_clear(&c);
}

static void
test_copy_is_deep(void **state)
{
    (void)state;
    struct muc_config a, b;
    muc_config_default(&a);
    a.name = strdup("n");
    muc_config_copy(&b, &a);
    assert_ptr_not_equal(a.name, b.name);
    muc_config_clear(&a);
    assert_string_equal(b.name, "n");
    muc_config_clear(&b);
}

static void
test_names(void **state)
{
    (void)state;
    for (int r = MUC_ROLE_NONE; r <= MUC_ROLE_MODERATOR; r++)
        assert_int_equal(muc_role_parse(muc_role_str((enum muc_role)r)), r);
    for (int a = MUC_AFFIL_OUTCAST; a <= MUC_AFFIL_OWNER; a++)
        assert_int_equal(muc_affil_parse(muc_affil_str((enum muc_affil)a)), a);
    assert_int_equal(muc_role_parse("king"), -1);
    assert_int_equal(muc_affil_parse(NULL), -1);
    /* affiliations are ordered: a stronger one compares greater */
    assert_true(MUC_AFFIL_OWNER > MUC_AFFIL_ADMIN && MUC_AFFIL_ADMIN > MUC_AFFIL_MEMBER &&
                MUC_AFFIL_MEMBER > MUC_AFFIL_NONE && MUC_AFFIL_NONE > MUC_AFFIL_OUTCAST);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse_tolerates),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
