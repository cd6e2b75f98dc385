/* SPDX-License-Identifier: Apache-2.0 */
/* config.h - the only user of libconfig. Each module declares a table of its
 * settings (path, type, default, range, check, reloadable) and a struct the
 * loader fills. Unknown keys, wrong types and bad values fail with file:line. */
#ifndef PALISADE_CONFIG_H
#define PALISADE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_type {
    CONFIG_BOOL,    /* bool */
    CONFIG_INT,     /* int64_t; accepts libconfig int and int64 (L suffix) */
    CONFIG_STRING,  /* char * (caller-owned copy; NULL when absent with no default) */
    CONFIG_STRLIST, /* struct config_strlist; default given as comma-separated text */
};

struct config_strlist {
    size_t n;
    char **v;
};

/* A check on a parsed value (pointer to the field). Returns true if fine, else
 * writes a reason to err. */
typedef bool (*config_check_fn)(const void *value, char *err, size_t errlen);

struct config_item {
    const char *path;    /* dotted path, e.g. "limits.max_stanza_bytes" */
    enum config_type type;
    size_t offset;       /* offsetof() into the module's settings struct */
    const char *def;     /* default as text ("true", "262144", "a,b"); NULL = required */
    int64_t min, max;    /* CONFIG_INT range (ignored when min == max == 0) */
    config_check_fn check;
    bool reloadable;     /* may change on SIGHUP */
};

struct config_module {
    const char *name;
    const struct config_item *items;
    size_t n_items;
    void *settings; /* the struct to fill */
};

/* Loads path (includes resolve relative to path's directory) and fills every
 * module's settings. On failure returns PAL_ECONFIG with "file:line: message"
 * in err and leaves settings partially filled (free them with config_clear). */
int config_load(const char *path, struct config_module *mods, size_t n_mods, char *err,
                size_t errlen);
/* Frees the strings and lists config_load put into each module's settings. */
void config_clear(struct config_module *mods, size_t n_mods);
/* Reads a whole small file (a secret) and strips one trailing newline; caller
 * frees; NULL with a message in err. */
char *config_read_secret(const char *path, char *err, size_t errlen);

#endif
