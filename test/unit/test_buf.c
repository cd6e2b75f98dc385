/* SPDX-License-Identifier: Apache-2.0 */
/* test_buf.c - byte buffers, XML escaping and refcounted chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void
test_buf_append_and_consume(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(buf_used(&b), 0);
    buf_append_str(&b, "hello ");
    buf_append(&b, "world!", 5);
    assert_int_equal(buf_used(&b), 11);
    assert_memory_equal(buf_head(&b), "hello world", 11);
    buf_consume(&b, 6);
    assert_int_equal(buf_used(&b), 5);
    assert_memory_equal(buf_head(&b), "world", 5);
    buf_consume(&b, 5);
    assert_int_equal(buf_used(&b), 0);
    buf_free(&b);
    assert_null(b.data);
}

static void
test_buf_printf_long_output(void **state)
{
    struct buf b;
    char *s;
    char big[1000];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_init(&b);
    buf_printf(&b, "sess=%d ", 12);
    buf_printf(&b, "%s", big);
    assert_int_equal(buf_used(&b), 8 + 999);
    s = buf_strdup(&b);
    assert_int_equal(strlen(s), 8 + 999);
    assert_memory_equal(s, "sess=12 xxx", 11);
    free(s);
    buf_free(&b);
}

static void
test_buf_reserve_commit_and_compaction(void **state)
{
    struct buf b;
    char *w;
    size_t i;

    (void)state;
    buf_init(&b);
    for (i = 0; i < 100; i++) {
        w = buf_reserve(&b, 100);
        memset(w, (int)('a' + i % 26), 100);
        buf_commit(&b, 100);
        buf_consume(&b, 60);
    }
    assert_int_equal(buf_used(&b), 100 * 40);
    /* Consumed bytes get reclaimed, so capacity stays near the live size. */
    assert_true(b.cap <= 4 * 100 * 40);
    assert_int_equal(buf_head(&b)[buf_used(&b) - 1], 'a' + 99 % 26);
    buf_reset(&b);
    assert_int_equal(buf_used(&b), 0);
    buf_free(&b);
}

static void
test_buf_xml_escape_text_and_attr(void **state)
{
    struct buf b;
    const char *in = "a&b<c>d\"e'f\rg\nh\ti";
    char *s;

    (void)state;
    buf_init(&b);
    buf_append_xml_escaped(&b, in, strlen(in), 0);
    s = buf_strdup(&b);
    assert_string_equal(s, "a&amp;b&lt;c&gt;d\"e'f&#13;g\nh\ti");
    free(s);
    buf_reset(&b);
    buf_append_xml_escaped(&b, in, strlen(in), 1);
    s = buf_strdup(&b);
    assert_string_equal(s, "a&amp;b&lt;c&gt;d&quot;e&apos;f&#13;g&#10;h&#9;i");
    free(s);
    buf_free(&b);
}

static void
test_buf_xml_escape_respects_length(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b);
    buf_append_xml_escaped(&b, "<ab>", 2, 0);
    assert_int_equal(buf_used(&b), 5);
    assert_memory_equal(buf_head(&b), "&lt;a", 5);
    buf_free(&b);
}

static void
test_buf_chunk_refcount_and_nul(void **state)
{
    struct buf b;
    struct buf_chunk *c;
    struct buf_chunk *d;

    (void)state;
    buf_init(&b);
    buf_append_str(&b, "xx<presence/>");
    buf_consume(&b, 2);
    c = buf_chunk_from_buf(&b);
    assert_int_equal(buf_used(&b), 0);
    assert_int_equal(c->refs, 1);
    assert_int_equal(c->len, 11);
    assert_string_equal(c->data, "<presence/>");
    d = buf_chunk_ref(c);
    assert_ptr_equal(c, d);
    assert_int_equal(c->refs, 2);
    buf_chunk_unref(d);
    assert_int_equal(c->refs, 1);
    buf_chunk_unref(c);
    buf_chunk_unref(NULL);
    c = buf_chunk_new("", 0);
    assert_int_equal(c->len, 0);
    assert_string_equal(c->data, "");
    buf_chunk_unref(c);
    buf_free(&b);
}

static void
test_buf_strdup_empty(void **state)
{
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b);
    s = buf_strdup(&b);
    assert_string_equal(s, "");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_consume),
        cmocka_unit_test(test_buf_printf_long_output),
        cmocka_unit_test(test_buf_reserve_commit_and_compaction),
        cmocka_unit_test(test_buf_xml_escape_text_and_attr),
        cmocka_unit_test(test_buf_xml_escape_respects_length),
        cmocka_unit_test(test_buf_chunk_refcount_and_nul),
        cmocka_unit_test(test_buf_strdup_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
