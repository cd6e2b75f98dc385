/* SPDX-License-Identifier: Apache-2.0 */
/* test_mem.c - x* allocation helpers and arenas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/mem.h"

static void
test_mem_xstrdup_and_xmemdup_copy_and_terminate(void **state)
{
    char *s;
    char *m;
    char *n;

    (void)state;
    s = xstrdup("hello");
    assert_string_equal(s, "hello");
    m = xmemdup("abc\0def", 7);
    assert_memory_equal(m, "abc\0def", 7);
    assert_int_equal(m[7], '\0');
    n = xstrndup("abcdef", 3);
    assert_string_equal(n, "abc");
    free(s);
    free(m);
    free(n);
    n = xstrndup("ab", 10);
    assert_string_equal(n, "ab");
    free(n);
}

static void
test_mem_xasprintf_formats(void **state)
{
    char *s;

    (void)state;
    s = xasprintf("%s=%d", "sess", 12);
    assert_string_equal(s, "sess=12");
    free(s);
}

static void
test_mem_zero_sizes_return_memory(void **state)
{
    void *p;
    void *q;

    (void)state;
    p = xmalloc(0);
    assert_non_null(p);
    q = xcalloc(0, 8);
    assert_non_null(q);
    p = xrealloc(p, 0);
    assert_non_null(p);
    free(p);
    free(q);
}

static void
test_mem_arena_allocations_are_aligned_and_distinct(void **state)
{
    struct arena *a = arena_new(64);
    unsigned char *prev = NULL;
    unsigned char *p;
    int i;

    (void)state;
    for (i = 1; i < 200; i++) {
        p = arena_alloc(a, (size_t)(i % 37) + 1);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 37) + 1); /* ASan catches overlaps past the end */
        assert_ptr_not_equal(p, prev);
        prev = p;
    }
    arena_free(a);
}

static void
test_mem_arena_big_allocation_gets_own_block(void **state)
{
    struct arena *a = arena_new(256);
    char *small1;
    char *big;
    char *small2;
    size_t before;

    (void)state;
    small1 = arena_alloc(a, 16);
    before = arena_size(a);
    big = arena_alloc(a, 100000);
    memset(big, 1, 100000);
    assert_true(arena_size(a) >= before + 100000);
    /* The first block still has room: the next small allocation follows small1. */
    small2 = arena_alloc(a, 16);
    assert_ptr_equal(small2, small1 + 16);
    arena_free(a);
}

static void
test_mem_arena_strdup_copies(void **state)
{
    struct arena *a = arena_new(0);
    char src[] = "alice@localhost";
    char *s;
    char *n;

    (void)state;
    s = arena_strdup(a, src);
    n = arena_strndup(a, src, 5);
    src[0] = 'X';
    assert_string_equal(s, "alice@localhost");
    assert_string_equal(n, "alice");
    assert_true(arena_size(a) > 0);
    arena_free(a);
    arena_free(NULL);
}

static void
test_mem_arena_many_blocks_grow(void **state)
{
    struct arena *a = arena_new(32);
    size_t i;
    char *p;

    (void)state;
    for (i = 0; i < 10000; i++) {
        p = arena_alloc(a, 24);
        memset(p, (int)i, 24);
    }
    assert_true(arena_size(a) >= 10000 * 32);
    /* Blocks grow, so there are far fewer than 10000 of them: the overhead is small. */
    assert_true(arena_size(a) < 10000 * 32 * 2);
    arena_free(a);
}

static void
test_mem_pal_strerror_never_null(void **state)
{
    (void)state;
    assert_string_equal(pal_strerror(PAL_OK), "success");
    assert_string_equal(pal_strerror(PAL_ECONFIG), "bad configuration");
    assert_non_null(pal_strerror(PAL_ENOMEM));
    assert_non_null(pal_strerror(-EPIPE));
    assert_non_null(pal_strerror(12345));
    assert_non_null(pal_strerror(-99999));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_xstrdup_and_xmemdup_copy_and_terminate),
        cmocka_unit_test(test_mem_xasprintf_formats),
        cmocka_unit_test(test_mem_zero_sizes_return_memory),
        cmocka_unit_test(test_mem_arena_allocations_are_aligned_and_distinct),
        cmocka_unit_test(test_mem_arena_big_allocation_gets_own_block),
        cmocka_unit_test(test_mem_arena_strdup_copies),
        cmocka_unit_test(test_mem_arena_many_blocks_grow),
        cmocka_unit_test(test_mem_pal_strerror_never_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
