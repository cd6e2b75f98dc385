/* SPDX-License-Identifier: Apache-2.0 */
/* test_log.c - log lines as they land on stderr (redirected to a temporary
 * file): one write per line without a loop; with a loop attached, lines below
 * warn wait for the loop's sleep hook, a warn line takes the earlier lines
 * with it, a full buffer and detaching write at once, and exit() and a crash
 * (abort) lose nothing. Escaping and truncation of hostile text. */
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ev.h"
#include "core/log.h"

struct fixture {
    struct ev_loop *loop;
    int saved_stderr;
    int fd;          /* the temporary file stderr points at */
    char text[131072];
};

static uint64_t
fake_clock(void *arg)
{
    (void)arg;
    return 1000;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char path[] = "/tmp/palisade-test-log.XXXXXX";

    if (f == NULL)
        return -1;
    f->fd = mkstemp(path);
    if (f->fd < 0)
        return -1;
    unlink(path);
    fflush(stderr);
    f->saved_stderr = dup(STDERR_FILENO);
    dup2(f->fd, STDERR_FILENO);
    f->loop = ev_new();
    ev_set_clock(f->loop, fake_clock, NULL);
    log_init("t", false, LOG_LEVEL_INFO);
    log_trace_enable(0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    log_detach_loop();
    ev_free(f->loop);
    dup2(f->saved_stderr, STDERR_FILENO);
    close(f->saved_stderr);
    close(f->fd);
    free(f);
    return 0;
}

/* What has been written to stderr so far. */
static const char *
written(struct fixture *f)
{
    ssize_t n = pread(f->fd, f->text, sizeof(f->text) - 1, 0);

    f->text[n > 0 ? n : 0] = '\0';
    return f->text;
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void
test_log_without_loop_writes_each_line_at_once(void **state)
{
    struct fixture *f = *state;

    log_info("c2s auth-ok sess=%d jid=%s", 12, "alice@localhost");
    assert_non_null(strstr(written(f), " palisade[t] info: c2s auth-ok sess=12 "
                                       "jid=alice@localhost\n"));
    log_debug("filtered");
    assert_null(strstr(written(f), "filtered"));
    assert_int_equal(count_lines(written(f)), 1);
}

static void
test_log_line_format_has_utc_timestamp(void **state)
{
    struct fixture *f = *state;
    const char *s;

    log_notice("node ready");
    s = written(f);
    /* 2026-11-26T14:00:00.123Z palisade[t] notice: node ready */
    assert_true(strlen(s) > 25);
    assert_int_equal(s[4], '-');
    assert_int_equal(s[10], 'T');
    assert_int_equal(s[19], '.');
    assert_int_equal(s[23], 'Z');
    assert_string_equal(s + 24, " palisade[t] notice: node ready\n");
}

static void
test_log_loop_buffers_until_the_sleep_hook(void **state)
{
    struct fixture *f = *state;

    log_attach_loop(f->loop);
    log_info("policy decision n=1");
    log_notice("policy decision n=2");
    log_trace_enable(TRACE_POLICY);
    log_trace(TRACE_POLICY, "trace n=3");
    assert_string_equal(written(f), "");
    ev_run_once(f->loop, 0);
    assert_int_equal(count_lines(written(f)), 3);
    assert_true(strstr(f->text, "n=1") < strstr(f->text, "n=2"));
    assert_non_null(strstr(f->text, " palisade[t] trace policy: trace n=3\n"));
    /* Nothing is written twice. */
    ev_run_once(f->loop, 0);
    assert_int_equal(count_lines(written(f)), 3);
}

static void
test_log_warn_writes_at_once_after_earlier_lines(void **state)
{
    struct fixture *f = *state;

    log_attach_loop(f->loop);
    log_info("first");
    log_warn("second");
    written(f);
    assert_non_null(strstr(f->text, "info: first\n"));
    assert_non_null(strstr(f->text, "warn: second\n"));
    assert_true(strstr(f->text, "first") < strstr(f->text, "second"));
    log_info("third");
    log_error("fourth");
    assert_int_equal(count_lines(written(f)), 4);
    assert_true(strstr(f->text, "third") < strstr(f->text, "fourth"));
}

static void
test_log_full_buffer_forces_a_write(void **state)
{
    struct fixture *f = *state;
    char pad[201];
    size_t i;

    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    log_attach_loop(f->loop);
    /* 400 lines of about 250 bytes: more than the buffer holds. */
    for (i = 0; i < 400; i++)
        log_info("line n=%zu pad=%s", i, pad);
    written(f);
    assert_true(count_lines(f->text) > 0);
    assert_true(count_lines(f->text) < 400);
    /* Only whole lines were written. */
    assert_int_equal(f->text[strlen(f->text) - 1], '\n');
    ev_run_once(f->loop, 0);
    assert_int_equal(count_lines(written(f)), 400);
    assert_non_null(strstr(f->text, "line n=0 "));
    assert_non_null(strstr(f->text, "line n=399 "));
    assert_true(strstr(f->text, "line n=198 ") < strstr(f->text, "line n=199 "));
}

static void
test_log_detach_writes_and_goes_back_to_one_write_per_line(void **state)
{
    struct fixture *f = *state;

    log_attach_loop(f->loop);
    log_info("buffered");
    assert_string_equal(written(f), "");
    log_detach_loop();
    assert_non_null(strstr(written(f), "info: buffered\n"));
    log_info("direct");
    assert_non_null(strstr(written(f), "info: direct\n"));
    /* The loop no longer flushes anything of ours. */
    ev_run_once(f->loop, 0);
    assert_int_equal(count_lines(written(f)), 2);
}

static void
test_log_escapes_control_characters(void **state)
{
    struct fixture *f = *state;

    log_attach_loop(f->loop);
    log_info("c2s stream-error text=%s end", "a\nb\rc\x7f" "d\x01");
    log_flush();
    assert_non_null(strstr(written(f), "text=a\\x0ab\\x0dc\\x7fd\\x01 end\n"));
    assert_int_equal(count_lines(f->text), 1);
}

static void
test_log_long_message_is_truncated_to_one_line(void **state)
{
    struct fixture *f = *state;
    static char big[10000];
    const char *s;

    memset(big, 'y', sizeof(big) - 1);
    log_attach_loop(f->loop);
    log_info("big=%s", big);
    log_info("after");
    log_flush();
    s = written(f);
    assert_int_equal(count_lines(s), 2);
    /* The message part is at most 4095 bytes. */
    assert_true(strchr(s, '\n') - strstr(s, "big=") == 4095);
    assert_non_null(strstr(s, "info: after\n"));
}

/* The message part of the last line written. */
static const char *
last_message(struct fixture *f)
{
    char *s;
    char *nl;

    log_flush();
    written(f);
    nl = strrchr(f->text, '\n');
    assert_non_null(nl);
    *nl = '\0';
    s = strrchr(f->text, '\n');
    s = s != NULL ? s + 1 : f->text;
    s = strstr(s, " info: ");
    assert_non_null(s);
    return s + strlen(" info: ");
}

/* Each format goes through log_info and snprintf: same text. */
#define SAME_AS_SNPRINTF(f, ...)                                                                   \
    do {                                                                                           \
        char want_[512];                                                                           \
        snprintf(want_, sizeof(want_), __VA_ARGS__);                                               \
        log_info(__VA_ARGS__);                                                                     \
        assert_string_equal(last_message(f), want_);                                               \
    } while (0)

static void
test_log_formats_like_snprintf(void **state)
{
    struct fixture *f = *state;
    /* NULL, but not one the compiler can see (it would warn about snprintf). */
    const char *null_str = getenv("PALISADE_TEST_LOG_NO_SUCH_VARIABLE");

    log_attach_loop(f->loop);
    SAME_AS_SNPRINTF(f, "policy decision check=%s verdict=%s stanza=%" PRIu64 " jid=%s",
                     "send", "allow", (uint64_t)UINT64_MAX, "alice@localhost/r");
    SAME_AS_SNPRINTF(f, "d=%d %d %d i=%i", 0, INT_MIN, INT_MAX, -7);
    SAME_AS_SNPRINTF(f, "ld=%ld %ld lld=%lld %lld", LONG_MIN, LONG_MAX, LLONG_MIN, LLONG_MAX);
    SAME_AS_SNPRINTF(f, "u=%u %u lu=%lu llu=%llu zu=%zu zd=%zd %zd", 0u, UINT_MAX, ULONG_MAX,
                     ULLONG_MAX, SIZE_MAX, (ssize_t)-5, (ssize_t)SSIZE_MAX);
    SAME_AS_SNPRINTF(f, "x=%x %lx %llx %zx", 0xdeadbeefu, 0x1UL, ULLONG_MAX, (size_t)255);
    SAME_AS_SNPRINTF(f, "s=%s|%s| c=%c pct=%% end", "", "a b", 'Z');
    log_info("null=%s", null_str);
    assert_string_equal(last_message(f), "null=(null)");
    SAME_AS_SNPRINTF(f, "prec=[%.*s][%.*s][%.*s][%.*s]", 3, "abcdef", 0, "abc", 10, "ab", -1,
                     "neg");
    SAME_AS_SNPRINTF(f, "%s", "only");
    SAME_AS_SNPRINTF(f, "trailing %%");
    /* Beyond the fast path: widths, flags, precisions, %p, doubles. */
    SAME_AS_SNPRINTF(f, "width=[%5d][%-4s][%04x][%.2f][%+d][%.3s]", 42, "ab", 0xau, 1.5, 3,
                     "abcdef");
    SAME_AS_SNPRINTF(f, "mixed %s %5d %s", "a", 1, "b");
}

/* In a child: attach, log, then end as do_end says; the parent reads what the
 * child left in the shared file. */
static int
child_run(struct fixture *f, int do_end)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        struct ev_loop *loop = ev_new();

        log_attach_loop(loop);
        log_info("child line before the end");
        if (do_end == 0)
            exit(0);
        abort();
    }
    waitpid(pid, &status, 0);
    (void)f;
    return status;
}

static void
test_log_exit_writes_buffered_lines(void **state)
{
    struct fixture *f = *state;
    int status = child_run(f, 0);

    assert_true(WIFEXITED(status));
    assert_non_null(strstr(written(f), "info: child line before the end\n"));
}

static void
test_log_abort_writes_buffered_lines(void **state)
{
    struct fixture *f = *state;
    int status = child_run(f, 1);

    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(written(f), "info: child line before the end\n"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_without_loop_writes_each_line_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_line_format_has_utc_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_loop_buffers_until_the_sleep_hook, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_warn_writes_at_once_after_earlier_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_full_buffer_forces_a_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_detach_writes_and_goes_back_to_one_write_per_line,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_escapes_control_characters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_long_message_is_truncated_to_one_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_formats_like_snprintf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_exit_writes_buffered_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_abort_writes_buffered_lines, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
