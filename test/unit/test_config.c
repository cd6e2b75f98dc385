/* SPDX-License-Identifier: Apache-2.0 */
/* test_config.c - the schema-driven config loader on fixtures in
 * test/data/config/: types, ranges, defaults, unknown keys, includes, the
 * libconfig 32-bit wrap, and secret files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"

#define CFG(name) TEST_DATA_DIR "/config/" name

struct server_settings {
    char *name;
    struct config_strlist hosts;
    struct config_strlist mechanisms;
};

struct limit_settings {
    int64_t max_depth;
    int64_t max_stanza_bytes;
    int64_t big;
};

struct tls_settings {
    bool is_required;
    char *cert;
};

static bool
check_absolute(const void *value, char *err, size_t errlen)
{
    const char *s = *(char *const *)value;

    if (s != NULL && s[0] != '/') {
        snprintf(err, errlen, "'%s' is not an absolute path", s);
        return false;
    }
    return true;
}

static const struct config_item server_items[] = {
    {"server.name", CONFIG_STRING, offsetof(struct server_settings, name), NULL, 0, 0, NULL, false},
    {"server.hosts", CONFIG_STRLIST, offsetof(struct server_settings, hosts), NULL, 0, 0, NULL,
     true},
    {"server.mechanisms", CONFIG_STRLIST, offsetof(struct server_settings, mechanisms),
     "SCRAM-SHA-256, PLAIN", 0, 0, NULL, true},
};

static const struct config_item limit_items[] = {
    {"limits.max_depth", CONFIG_INT, offsetof(struct limit_settings, max_depth), "16", 1, 256,
     NULL, true},
    {"limits.max_stanza_bytes", CONFIG_INT, offsetof(struct limit_settings, max_stanza_bytes),
     "262144", 1024, 16777216, NULL, true},
    {"limits.big", CONFIG_INT, offsetof(struct limit_settings, big), "0", 0, 1000000000000LL,
     NULL, true},
};

static const struct config_item tls_items[] = {
    {"tls.required", CONFIG_BOOL, offsetof(struct tls_settings, is_required), "true", 0, 0, NULL,
     false},
    {"tls.cert", CONFIG_STRING, offsetof(struct tls_settings, cert), "/etc/palisade/default.pem",
     0, 0, check_absolute, false},
};

struct fixture {
    struct server_settings server;
    struct limit_settings limits;
    struct tls_settings tls;
    struct config_module mods[3];
    char err[512];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->mods[0] = (struct config_module){"server", server_items, 3, &f->server};
    f->mods[1] = (struct config_module){"limits", limit_items, 3, &f->limits};
    f->mods[2] = (struct config_module){"tls", tls_items, 2, &f->tls};
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    config_clear(f->mods, 3);
    free(f);
    return 0;
}

static int
load(struct fixture *f, const char *path)
{
    f->err[0] = '\0';
    return config_load(path, f->mods, 3, f->err, sizeof(f->err));
}

static void
test_config_good_file_fills_every_module(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load(f, CFG("good.cfg")), PAL_OK);
    assert_string_equal(f->server.name, "node1");
    assert_int_equal(f->server.hosts.n, 2);
    assert_string_equal(f->server.hosts.v[0], "localhost");
    assert_string_equal(f->server.hosts.v[1], "example.com");
    /* Default text split at commas, spaces trimmed. */
    assert_int_equal(f->server.mechanisms.n, 2);
    assert_string_equal(f->server.mechanisms.v[0], "SCRAM-SHA-256");
    assert_string_equal(f->server.mechanisms.v[1], "PLAIN");
    assert_int_equal(f->limits.max_depth, 32);
    assert_int_equal(f->limits.max_stanza_bytes, 65536);
    /* Written without L: libconfig wraps it to 705032704; we must not. */
    assert_true(f->limits.big == 5000000000LL);
    /* From the included file. */
    assert_false(f->tls.is_required);
    assert_string_equal(f->tls.cert, "/etc/palisade/cert.pem");

    config_clear(f->mods, 3);
    assert_null(f->server.name);
    assert_null(f->tls.cert);
    assert_int_equal(f->server.hosts.n, 0);
    assert_null(f->server.hosts.v);
}

static void
test_config_defaults_apply_when_absent(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load(f, CFG("strlist_forms.cfg")), PAL_OK);
    assert_int_equal(f->limits.max_depth, 16);
    assert_int_equal(f->limits.max_stanza_bytes, 262144);
    assert_true(f->tls.is_required);
    assert_string_equal(f->tls.cert, "/etc/palisade/default.pem");
    /* A single string is a one-element list; so is a one-element list. */
    assert_int_equal(f->server.hosts.n, 1);
    assert_string_equal(f->server.hosts.v[0], "localhost");
    assert_int_equal(f->server.mechanisms.n, 1);
    assert_string_equal(f->server.mechanisms.v[0], "PLAIN");
}

struct err_case {
    const char *file;
    const char *want; /* expected message after TEST_DATA_DIR "/config/" */
};

static void
test_config_errors_name_file_and_line(void **state)
{
    static const struct err_case cases[] = {
        {"unknown.cfg", "unknown.cfg:6: unknown setting 'tls.crt'"},
        {"unknown_group.cfg", "unknown_group.cfg:3: unknown setting 'bogus'"},
        {"range.cfg", "range.cfg:3: limits.max_depth: 500 is out of range (1..256)"},
        {"float_for_int.cfg", "float_for_int.cfg:3: limits.max_depth: expected an integer, got a "
                              "float"},
        {"string_for_int.cfg", "string_for_int.cfg:3: limits.max_depth: expected an integer, "
                               "got a string"},
        {"wrap.cfg", "wrap.cfg:4: limits.max_stanza_bytes: 5000000000 is out of range "
                     "(1024..16777216)"},
        {"include_range.cfg", "sub/limits_bad.cfg:3: limits.max_depth: 0 is out of range "
                              "(1..256)"},
        {"check_fails.cfg", "check_fails.cfg:3: tls.cert: 'relative/cert.pem' is not an "
                            "absolute path"},
        {"strlist_bad.cfg", "strlist_bad.cfg:3: server.hosts: element 2 is an integer, expected "
                            "a string"},
        {"bool_bad.cfg", "bool_bad.cfg:2: tls.required: expected a boolean, got a string"},
        {"missing_required.cfg", "missing_required.cfg: missing required setting 'server.name'"},
    };
    struct fixture *f = *state;
    const char *prefix = TEST_DATA_DIR "/config/";
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512];

        snprintf(path, sizeof(path), "%s%s", prefix, cases[i].file);
        assert_int_equal(load(f, path), PAL_ECONFIG);
        if (strncmp(f->err, prefix, strlen(prefix)) != 0 ||
            strcmp(f->err + strlen(prefix), cases[i].want) != 0)
            fail_msg("%s: got '%s', want '%s%s'", cases[i].file, f->err, prefix, cases[i].want);
        config_clear(f->mods, 3);
    }
}

static void
test_config_syntax_error_in_included_file(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load(f, CFG("include_syntax.cfg")), PAL_ECONFIG);
    assert_non_null(strstr(f->err, "sub/broken.cfg:2: "));
    assert_non_null(strstr(f->err, "syntax error"));
}

static void
test_config_missing_main_file(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load(f, CFG("does-not-exist.cfg")), PAL_ECONFIG);
    assert_string_equal(f->err, CFG("does-not-exist.cfg") ": cannot read file");
}

/* Writes text to a fresh temporary file; returns its path (static buffer). */
static const char *
temp_file(const char *text, size_t len)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/test_config_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void
test_config_int64_forms_are_exact(void **state)
{
    static const struct {
        const char *text;
        int rc;
        int64_t big;
    } cases[] = {
        {"server={name=\"n\";hosts=\"h\";};\nlimits={big=5000000000L;};\n", PAL_OK, 5000000000LL},
        {"server={name=\"n\";hosts=\"h\";};\nlimits={big=4294967296;};\n", PAL_OK, 4294967296LL},
        {"server={name=\"n\";hosts=\"h\";};\nlimits={big=0x100000000;};\n", PAL_OK, 4294967296LL},
        {"server={name=\"n\";hosts=\"h\";};\nlimits={big=2147483648;};\n", PAL_OK, 2147483648LL},
        {"server={name=\"n\";hosts=\"h\";};\nlimits={big=-4294967296;};\n", PAL_ECONFIG, 0},
        {"server={name=\"n\";hosts=\"h\";};\nlimits={big=99999999999999999999999;};\n",
         PAL_ECONFIG, 0},
        {"server={name=\"n\";hosts=\"h\";};\nlimits={\n  big =\n  # comment\n  8589934592;\n};\n",
         PAL_OK, 8589934592LL},
    };
    struct fixture *f = *state;
    const char *path;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        path = temp_file(cases[i].text, strlen(cases[i].text));
        if (load(f, path) != cases[i].rc)
            fail_msg("case %zu: rc mismatch: %s", i, f->err);
        if (cases[i].rc == PAL_OK && f->limits.big != cases[i].big)
            fail_msg("case %zu: %lld", i, (long long)f->limits.big);
        if (cases[i].rc != PAL_OK)
            assert_non_null(strstr(f->err, "limits.big: "));
        unlink(path);
        config_clear(f->mods, 3);
    }
}

static void
test_config_read_secret(void **state)
{
    char err[256];
    const char *path;
    char *s;

    (void)state;
    path = temp_file("s3cret\n", 7);
    s = config_read_secret(path, err, sizeof(err));
    assert_string_equal(s, "s3cret");
    free(s);
    unlink(path);

    path = temp_file("two\n\n", 5); /* only one newline is stripped */
    s = config_read_secret(path, err, sizeof(err));
    assert_string_equal(s, "two\n");
    free(s);
    unlink(path);

    path = temp_file("nonl", 4);
    s = config_read_secret(path, err, sizeof(err));
    assert_string_equal(s, "nonl");
    free(s);
    unlink(path);

    path = temp_file("\n", 1);
    assert_null(config_read_secret(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "empty"));
    unlink(path);

    assert_null(config_read_secret("/nonexistent/secret", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/secret: No such file or directory");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_good_file_fills_every_module),
        T(test_config_defaults_apply_when_absent),
        T(test_config_errors_name_file_and_line),
        T(test_config_syntax_error_in_included_file),
        T(test_config_missing_main_file),
        T(test_config_int64_forms_are_exact),
        T(test_config_read_secret),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
