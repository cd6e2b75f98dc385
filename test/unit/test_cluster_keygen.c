/* SPDX-License-Identifier: Apache-2.0 */
/* test_cluster_keygen.c - cluster_keygen() and cluster_key_public(): the
 * provisioning keys are 40-character Z85 pairs that belong together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/cluster.h"
#include "core/err.h"

static void
test_cluster_keygen_pairs_belong_together(void **state)
{
    char pub[CLUSTER_KEY_Z85_LEN + 1];
    char sec[CLUSTER_KEY_Z85_LEN + 1];
    char pub2[CLUSTER_KEY_Z85_LEN + 1];
    char sec2[CLUSTER_KEY_Z85_LEN + 1];
    char derived[CLUSTER_KEY_Z85_LEN + 1];

    (void)state;
    assert_int_equal(cluster_keygen(pub, sec), PAL_OK);
    assert_int_equal(strlen(pub), CLUSTER_KEY_Z85_LEN);
    assert_int_equal(strlen(sec), CLUSTER_KEY_Z85_LEN);
    assert_string_not_equal(pub, sec);
    assert_int_equal(cluster_key_public(sec, derived), PAL_OK);
    assert_string_equal(derived, pub);

    assert_int_equal(cluster_keygen(pub2, sec2), PAL_OK);
    assert_string_not_equal(pub, pub2);
    assert_string_not_equal(sec, sec2);
}

static void
test_cluster_keygen_bad_secret_is_refused(void **state)
{
    char pub[CLUSTER_KEY_Z85_LEN + 1];

    (void)state;
    assert_int_equal(cluster_key_public("short", pub), PAL_EINVAL);
    assert_string_equal(pub, "");
    assert_int_equal(cluster_key_public(NULL, pub), PAL_EINVAL);
    /* 40 characters, but '"' is not in the Z85 alphabet. */
    assert_int_equal(cluster_key_public("\"123456789012345678901234567890123456789", pub),
                     PAL_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_keygen_pairs_belong_together),
        cmocka_unit_test(test_cluster_keygen_bad_secret_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
