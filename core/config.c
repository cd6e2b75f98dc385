/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - the only libconfig user. Loads the file (includes resolve from
 * its directory), fills each module's settings struct from its schema table
 * and rejects anything the tables do not know, every error with file:line.
 *
 * libconfig 1.5 wraps integer literals outside 32 bits that lack the L suffix
 * (5000000000 reads back as 705032704). So for every CONFIG_TYPE_INT value the
 * literal is re-read from the source text and its true value used: a wrapped
 * number is range-checked as what the operator wrote, never silently changed. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "err.h"
#include "mem.h"

#define CONFIG_FILE_MAX (4u * 1024 * 1024)
#define SECRET_MAX (64u * 1024)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Reads a whole file; NULL with errno set on failure. */
static char *
read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0;
    size_t n = 0;
    size_t got;
    int saved;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            data = xrealloc(data, cap + 1);
        }
        got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
        if (n > max) {
            fclose(f);
            free(data);
            errno = EFBIG;
            return NULL;
        }
    }
    if (ferror(f)) {
        saved = errno != 0 ? errno : EIO;
        fclose(f);
        free(data);
        errno = saved;
        return NULL;
    }
    fclose(f);
    data[n] = '\0';
    *len = n;
    return data;
}

/*
 * Literal recovery for 32-bit integers (see the file comment).
 */

static bool
is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '*';
}

/* Skips white space and comments (#, //, C style). */
static const char *
skip_blank(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\f')
            p++;
        if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p != '\0' && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");

            p = e != NULL ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

/* Finds the integer literal assigned to name at or after line in file and
 * parses it. Returns true with *value when found and unsuffixed; *is_overflow
 * when it does not fit in 64 bits either. */
static bool
literal_value(const char *file, int line, const char *name, int64_t *value, bool *is_overflow)
{
    size_t len;
    char *text;
    const char *p;
    const char *q;
    const char *digits;
    size_t nl = strlen(name);
    bool is_neg = false;
    bool is_found = false;
    uint64_t u;
    char *end;
    int cur = 1;

    *is_overflow = false;
    if (file == NULL || line <= 0 || (text = read_file(file, CONFIG_FILE_MAX, &len)) == NULL)
        return false;
    for (p = text; *p != '\0' && cur < line; p++)
        if (*p == '\n')
            cur++;
    for (; (p = strstr(p, name)) != NULL; p += nl) {
        if ((p > text && is_name_char(p[-1])) || is_name_char(p[nl]))
            continue;
        q = skip_blank(p + nl);
        if (*q != '=' && *q != ':')
            continue;
        q = skip_blank(q + 1);
        if (*q == '-' || *q == '+')
            is_neg = *q++ == '-';
        if (*q < '0' || *q > '9')
            break;
        digits = q;
        errno = 0;
        if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
            u = strtoull(digits + 2, &end, 16);
        else
            u = strtoull(digits, &end, 10);
        if (*end == 'L' || *end == '.' || *end == 'e' || *end == 'E')
            break; /* int64 or float: libconfig read it right */
        if (errno == ERANGE || u > (uint64_t)INT64_MAX + (is_neg ? 1 : 0)) {
            *is_overflow = true;
        } else if (is_neg) {
            *value = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
        } else {
            *value = (int64_t)u;
        }
        is_found = true;
        break;
    }
    free(text);
    return is_found;
}

/*
 * Values.
 */

static const char *
type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

static const char *
expected_name(enum config_type t)
{
    switch (t) {
    case CONFIG_BOOL:
        return "a boolean";
    case CONFIG_INT:
        return "an integer";
    case CONFIG_STRING:
        return "a string";
    case CONFIG_STRLIST:
        return "a string or a list of strings";
    }
    return "?";
}

static void
strlist_free(struct config_strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->n = 0;
    l->v = NULL;
}

static void
strlist_push(struct config_strlist *l, char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = s;
}

/* Where a setting came from, for messages: "file:line". libconfig names an
 * included file as written in @include, relative to the include directory;
 * messages show it joined to that directory so the operator can open it. */
struct where {
    char file[1024];
    const char *src; /* the name libconfig knows, for re-reading the literal */
    int line;
};

static void
display_name(const char *file, const char *main_path, const char *dir, char *out, size_t outlen)
{
    if (file == NULL)
        file = main_path;
    if (strcmp(file, main_path) == 0 || file[0] == '/' || strcmp(dir, ".") == 0)
        snprintf(out, outlen, "%s", file);
    else
        snprintf(out, outlen, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", file);
}

static void
where_of(const config_setting_t *s, const char *main_path, const char *dir, struct where *w)
{
    display_name(config_setting_source_file(s), main_path, dir, w->file, sizeof(w->file));
    w->src = w->file;
    w->line = config_setting_source_line(s);
}

/* Parses a default given as text into field. */
static int
apply_default(const struct config_item *it, void *field, const char *main_path, char *err,
              size_t errlen)
{
    const char *p;
    const char *e;
    char *end;
    struct config_strlist *l;

    switch (it->type) {
    case CONFIG_BOOL:
        if (strcmp(it->def, "true") != 0 && strcmp(it->def, "false") != 0)
            goto bad;
        *(bool *)field = strcmp(it->def, "true") == 0;
        return PAL_OK;
    case CONFIG_INT:
        errno = 0;
        *(int64_t *)field = strtoll(it->def, &end, 0);
        if (errno != 0 || end == it->def || *end != '\0')
            goto bad;
        return PAL_OK;
    case CONFIG_STRING:
        free(*(char **)field);
        *(char **)field = xstrdup(it->def);
        return PAL_OK;
    case CONFIG_STRLIST:
        l = field;
        strlist_free(l);
        for (p = it->def; *p != '\0'; p = *e == ',' ? e + 1 : e) {
            while (*p == ' ')
                p++;
            e = strchr(p, ',');
            if (e == NULL)
                e = p + strlen(p);
            end = (char *)e;
            while (end > p && end[-1] == ' ')
                end--;
            if (end > p)
                strlist_push(l, xstrndup(p, (size_t)(end - p)));
        }
        return PAL_OK;
    }
bad:
    set_err(err, errlen, "%s: bad built-in default '%s' for '%s'", main_path, it->def, it->path);
    return PAL_ECONFIG;
}

static int
read_value(const struct config_item *it, const config_setting_t *s, void *field,
           const struct where *w, char *err, size_t errlen)
{
    int t = config_setting_type(s);
    struct config_strlist *l;
    const config_setting_t *e;
    int64_t v;
    int64_t lit;
    bool is_overflow;
    int i;
    int n;

    switch (it->type) {
    case CONFIG_BOOL:
        if (t != CONFIG_TYPE_BOOL)
            goto wrong_type;
        *(bool *)field = config_setting_get_bool(s) != 0;
        return PAL_OK;
    case CONFIG_INT:
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            goto wrong_type;
        v = config_setting_get_int64(s);
        if (t == CONFIG_TYPE_INT && config_setting_name(s) != NULL &&
            literal_value(w->src, w->line, config_setting_name(s), &lit, &is_overflow)) {
            if (is_overflow) {
                set_err(err, errlen, "%s:%d: %s: value is out of range", w->file, w->line,
                        it->path);
                return PAL_ECONFIG;
            }
            v = lit; /* what was written, not libconfig's 32-bit wrap of it */
        }
        if ((it->min != 0 || it->max != 0) && (v < it->min || v > it->max)) {
            set_err(err, errlen,
                    "%s:%d: %s: %" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")", w->file,
                    w->line, it->path, v, it->min, it->max);
            return PAL_ECONFIG;
        }
        *(int64_t *)field = v;
        return PAL_OK;
    case CONFIG_STRING:
        if (t != CONFIG_TYPE_STRING)
            goto wrong_type;
        free(*(char **)field);
        *(char **)field = xstrdup(config_setting_get_string(s));
        return PAL_OK;
    case CONFIG_STRLIST:
        l = field;
        if (t == CONFIG_TYPE_STRING) {
            strlist_free(l);
            strlist_push(l, xstrdup(config_setting_get_string(s)));
            return PAL_OK;
        }
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
            goto wrong_type;
        n = config_setting_length(s);
        for (i = 0; i < n; i++) {
            e = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                set_err(err, errlen, "%s:%d: %s: element %d is %s, expected a string", w->file,
                        w->line, it->path, i + 1, type_name(config_setting_type(e)));
                return PAL_ECONFIG;
            }
        }
        strlist_free(l);
        for (i = 0; i < n; i++) {
            e = config_setting_get_elem(s, (unsigned)i);
            strlist_push(l, xstrdup(config_setting_get_string(e)));
        }
        return PAL_OK;
    }
wrong_type:
    set_err(err, errlen, "%s:%d: %s: expected %s, got %s", w->file, w->line, it->path,
            expected_name(it->type), type_name(t));
    return PAL_ECONFIG;
}

/*
 * Unknown settings.
 */

static bool
is_covered(const struct config_module *mods, size_t n_mods, const char *path, bool is_group)
{
    size_t plen = strlen(path);
    size_t m;
    size_t i;
    const char *ip;

    for (m = 0; m < n_mods; m++) {
        for (i = 0; i < mods[m].n_items; i++) {
            ip = mods[m].items[i].path;
            if (!is_group && strcmp(ip, path) == 0)
                return true;
            if (is_group && strncmp(ip, path, plen) == 0 && ip[plen] == '.')
                return true;
        }
    }
    return false;
}

/* Rejects the first setting under group (whose dotted path is prefix) that no
 * module item covers. */
static int
check_unknown(const config_setting_t *group, const char *prefix,
              const struct config_module *mods, size_t n_mods, const char *main_path,
              const char *dir, char *err, size_t errlen)
{
    const config_setting_t *s;
    const char *name;
    struct where w;
    char *path;
    bool is_group;
    int n = config_setting_length(group);
    int i;
    int rc;

    for (i = 0; i < n; i++) {
        s = config_setting_get_elem(group, (unsigned)i);
        name = config_setting_name(s);
        if (name == NULL)
            continue;
        path = prefix[0] != '\0' ? xasprintf("%s.%s", prefix, name) : xstrdup(name);
        is_group = config_setting_is_group(s);
        if (!is_covered(mods, n_mods, path, is_group)) {
            where_of(s, main_path, dir, &w);
            set_err(err, errlen, "%s:%d: unknown setting '%s'", w.file, w.line, path);
            free(path);
            return PAL_ECONFIG;
        }
        rc = is_group ? check_unknown(s, path, mods, n_mods, main_path, dir, err, errlen)
                      : PAL_OK;
        free(path);
        if (rc != PAL_OK)
            return rc;
    }
    return PAL_OK;
}

int
config_load(const char *path, struct config_module *mods, size_t n_mods, char *err,
            size_t errlen)
{
    config_t cfg;
    char *dir;
    char *slash;
    const struct config_item *it;
    const config_setting_t *s;
    struct where w;
    void *field;
    char reason[256];
    size_t m;
    size_t i;
    int rc = PAL_ECONFIG;

    config_init(&cfg);
    dir = xstrdup(path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    config_set_include_dir(&cfg, dir);
    if (!config_read_file(&cfg, path)) {
        if (config_error_file(&cfg) == NULL && config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
            set_err(err, errlen, "%s: cannot read file", path);
        } else {
            display_name(config_error_file(&cfg), path, dir, w.file, sizeof(w.file));
            set_err(err, errlen, "%s:%d: %s", w.file, config_error_line(&cfg),
                    config_error_text(&cfg));
        }
        goto out;
    }
    rc = check_unknown(config_root_setting(&cfg), "", mods, n_mods, path, dir, err, errlen);
    if (rc != PAL_OK)
        goto out;
    for (m = 0; m < n_mods; m++) {
        for (i = 0; i < mods[m].n_items; i++) {
            it = &mods[m].items[i];
            field = (char *)mods[m].settings + it->offset;
            s = config_lookup(&cfg, it->path);
            if (s == NULL) {
                if (it->def == NULL) {
                    set_err(err, errlen, "%s: missing required setting '%s'", path, it->path);
                    rc = PAL_ECONFIG;
                    goto out;
                }
                rc = apply_default(it, field, path, err, errlen);
                if (rc != PAL_OK)
                    goto out;
                w.line = 0;
            } else {
                where_of(s, path, dir, &w);
                rc = read_value(it, s, field, &w, err, errlen);
                if (rc != PAL_OK)
                    goto out;
            }
            if (it->check != NULL) {
                reason[0] = '\0';
                if (!it->check(field, reason, sizeof(reason))) {
                    if (s != NULL)
                        set_err(err, errlen, "%s:%d: %s: %s", w.file, w.line, it->path, reason);
                    else
                        set_err(err, errlen, "%s: %s (default): %s", path, it->path, reason);
                    rc = PAL_ECONFIG;
                    goto out;
                }
            }
        }
    }
    rc = PAL_OK;
out:
    config_destroy(&cfg);
    free(dir);
    return rc;
}

void
config_clear(struct config_module *mods, size_t n_mods)
{
    size_t m;
    size_t i;
    void *field;

    for (m = 0; m < n_mods; m++) {
        for (i = 0; i < mods[m].n_items; i++) {
            field = (char *)mods[m].settings + mods[m].items[i].offset;
            if (mods[m].items[i].type == CONFIG_STRING) {
                free(*(char **)field);
                *(char **)field = NULL;
            } else if (mods[m].items[i].type == CONFIG_STRLIST) {
                strlist_free(field);
            }
        }
    }
}

char *
config_read_secret(const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len = 0;

    data = read_file(path, SECRET_MAX, &len);
    if (data == NULL) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (len > 0 && data[len - 1] == '\n') {
        data[--len] = '\0';
        if (len > 0 && data[len - 1] == '\r')
            data[--len] = '\0';
    }
    if (len == 0) {
        set_err(err, errlen, "%s: secret file is empty", path);
        free(data);
        return NULL;
    }
    if (strlen(data) != len) {
        set_err(err, errlen, "%s: secret file contains a NUL byte", path);
        free(data);
        return NULL;
    }
    return data;
}
