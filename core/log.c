/* SPDX-License-Identifier: Apache-2.0 */
/* log.c - one line per event, to stderr with a UTC timestamp or to syslog
 * without one: "2026-11-26T14:00:00.123Z palisade[node1] notice: c2s auth-ok
 * sess=12 jid=alice@localhost". Control characters in messages are escaped, so
 * peer-supplied text can never forge a line. Trace areas are switched on one by
 * one, independently of the level. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static struct {
    char ident[128];    /* "palisade[node1]"; syslog keeps a pointer to it */
    bool use_syslog;
    bool syslog_open;
    enum log_level level;
    unsigned trace;
} logger = {
    .ident = "palisade",
    .level = LOG_LEVEL_NOTICE,
};

static const char *const level_names[] = {
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARN] = "warn",   [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info",   [LOG_LEVEL_DEBUG] = "debug",
};

static const struct {
    const char *name;
    unsigned area;
} trace_names[] = {
    {"stream", TRACE_STREAM}, {"router", TRACE_ROUTER}, {"cluster", TRACE_CLUSTER},
    {"ldap", TRACE_LDAP},     {"policy", TRACE_POLICY}, {"sasl", TRACE_SASL},
    {"tls", TRACE_TLS},
};

#define TRACE_ALL (TRACE_STREAM | TRACE_ROUTER | TRACE_CLUSTER | TRACE_LDAP | TRACE_POLICY | \
                   TRACE_SASL | TRACE_TLS)

void
log_init(const char *ident, bool use_syslog, enum log_level level)
{
    if (logger.syslog_open) {
        closelog();
        logger.syslog_open = false;
    }
    if (ident != NULL && ident[0] != '\0')
        snprintf(logger.ident, sizeof(logger.ident), "palisade[%s]", ident);
    else
        snprintf(logger.ident, sizeof(logger.ident), "palisade");
    logger.use_syslog = use_syslog;
    log_set_level(level);
    if (use_syslog) {
        openlog(logger.ident, LOG_NDELAY, LOG_DAEMON);
        logger.syslog_open = true;
    }
}

void
log_set_level(enum log_level level)
{
    if ((int)level < LOG_LEVEL_ERROR)
        level = LOG_LEVEL_ERROR;
    if (level > LOG_LEVEL_DEBUG)
        level = LOG_LEVEL_DEBUG;
    logger.level = level;
}

bool
log_enabled(enum log_level level)
{
    return level <= logger.level;
}

int
log_level_parse(const char *s)
{
    size_t i;

    if (s == NULL)
        return -1;
    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    if (strcmp(s, "warning") == 0)
        return LOG_LEVEL_WARN;
    return -1;
}

unsigned
log_trace_parse(const char *s)
{
    size_t i;

    if (s == NULL)
        return 0;
    for (i = 0; i < sizeof(trace_names) / sizeof(trace_names[0]); i++)
        if (strcmp(s, trace_names[i].name) == 0)
            return trace_names[i].area;
    if (strcmp(s, "all") == 0)
        return TRACE_ALL;
    return 0;
}

void
log_trace_enable(unsigned areas)
{
    /* Replaces the set, so a reload can switch areas off again. */
    logger.trace = areas;
}

bool
log_trace_enabled(unsigned area)
{
    return (logger.trace & area) != 0;
}

static const char *
trace_name(unsigned area)
{
    size_t i;

    for (i = 0; i < sizeof(trace_names) / sizeof(trace_names[0]); i++)
        if (area & trace_names[i].area)
            return trace_names[i].name;
    return "trace";
}

/* Copies src into dst (size dstlen > 0) escaping control characters; truncates. */
static void
sanitize(char *dst, size_t dstlen, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    unsigned char c;

    for (; (c = (unsigned char)*src) != '\0'; src++) {
        if (c >= 0x20 && c != 0x7f) {
            if (o + 1 >= dstlen)
                break;
            dst[o++] = (char)c;
            continue;
        }
        if (o + 4 >= dstlen)
            break;
        dst[o++] = '\\';
        dst[o++] = 'x';
        dst[o++] = hex[c >> 4];
        dst[o++] = hex[c & 0xf];
    }
    dst[o] = '\0';
}

static void
log_emit(int prio, const char *tag, const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX];
    char clean[LOG_LINE_MAX];
    char ts[40];
    struct timespec now;
    struct tm tm;
    int n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    sanitize(clean, sizeof(clean), msg);
    if (logger.use_syslog) {
        syslog(prio, "%s: %s", tag, clean);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);
    /* One fprintf per line: stderr is unbuffered, so a line is one write. */
    fprintf(stderr, "%s %s %s: %s\n", ts, logger.ident, tag, clean);
}

#define LOG_AT(lvl, prio)                                                                          \
    do {                                                                                           \
        va_list ap;                                                                                \
        if (logger.level < (lvl))                                                                  \
            return;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_emit((prio), level_names[(lvl)], fmt, ap);                                             \
        va_end(ap);                                                                                \
    } while (0)

void
log_error(const char *fmt, ...)
{
    LOG_AT(LOG_LEVEL_ERROR, LOG_ERR);
}

void
log_warn(const char *fmt, ...)
{
    LOG_AT(LOG_LEVEL_WARN, LOG_WARNING);
}

void
log_notice(const char *fmt, ...)
{
    LOG_AT(LOG_LEVEL_NOTICE, LOG_NOTICE);
}

void
log_info(const char *fmt, ...)
{
    LOG_AT(LOG_LEVEL_INFO, LOG_INFO);
}

void
log_debug(const char *fmt, ...)
{
    LOG_AT(LOG_LEVEL_DEBUG, LOG_DEBUG);
}

void
log_trace_(unsigned area, const char *fmt, ...)
{
    char tag[32];
    va_list ap;

    snprintf(tag, sizeof(tag), "trace %s", trace_name(area));
    va_start(ap, fmt);
    log_emit(LOG_DEBUG, tag, fmt, ap);
    va_end(ap);
}

void
fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_ERR, level_names[LOG_LEVEL_ERROR], fmt, ap);
    va_end(ap);
    exit(1);
}
