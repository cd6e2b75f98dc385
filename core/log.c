/* SPDX-License-Identifier: Apache-2.0 */
/* log.c - one line per event, to stderr with a UTC timestamp or to syslog
 * without one: "2026-11-26T14:00:00.123Z palisade[node1] notice: c2s auth-ok
 * sess=12 jid=alice@localhost". Control characters in messages are escaped, so
 * peer-supplied text can never forge a line. Trace areas are switched on one by
 * one, independently of the level.
 *
 * A busy node logs several lines per stanza (every label decision is one), so
 * a line must cost little: it is formatted once, straight into its place (the
 * timestamp's date and time are formatted once a second), and with a loop
 * attached it waits in a static buffer for the loop's sleep hook, which writes
 * a whole iteration's lines in one write(2) instead of one each. Warn and
 * error lines, exit(), fatal() and crashes flush at once (see log.h). */
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"

#define LOG_LINE_MAX 4096     /* message text, after escaping */
#define LOG_PREFIX_MAX 256    /* timestamp, ident, level or trace tag */
#define LOG_RESERVE (LOG_PREFIX_MAX + LOG_LINE_MAX + 1)
#define LOG_BUFFER_CAP (32 * 1024) /* buffered bytes that force a write */

static struct {
    char ident[128];    /* "palisade[node1]"; syslog keeps a pointer to it */
    bool use_syslog;
    bool syslog_open;
    enum log_level level;
    unsigned trace;
    size_t ident_len;
    struct ev_loop *loop;  /* attached: lines below warn are buffered */
    bool has_handlers;     /* crash handlers and atexit flush installed */
} logger = {
    .ident = "palisade",
    .level = LOG_LEVEL_NOTICE,
    .ident_len = 8,
};

/* Buffered lines (only while a loop is attached). A line is counted in
 * out_used once complete, so a crash handler writes whole lines only. */
static char out_buf[LOG_BUFFER_CAP + LOG_RESERVE];
static volatile size_t out_used;

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static struct sigaction crash_old[sizeof(crash_signals) / sizeof(crash_signals[0])];

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
    log_flush(); /* lines already logged carry the old ident */
    if (logger.syslog_open) {
        closelog();
        logger.syslog_open = false;
    }
    if (ident != NULL && ident[0] != '\0')
        snprintf(logger.ident, sizeof(logger.ident), "palisade[%s]", ident);
    else
        snprintf(logger.ident, sizeof(logger.ident), "palisade");
    logger.ident_len = strlen(logger.ident);
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

/* write(2) all of it to stderr; errors drop the rest (there is nowhere to
 * report them). Async-signal-safe. */
static void
write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void
log_flush(void)
{
    size_t n = out_used;

    if (n == 0)
        return;
    out_used = 0;
    write_all(out_buf, n);
}

/* "2026-11-26T14:00:00.123Z" into out (at least 25 bytes); returns its length.
 * The part up to the seconds is formatted once per second (per thread, as
 * palisadectl logs from worker threads without a loop). */
static size_t
format_time(char *out)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[24];
    static _Thread_local size_t cached_len;
    struct timespec now;
    struct tm tm;
    long ms;

    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != cached_sec) {
        gmtime_r(&now.tv_sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = now.tv_sec;
    }
    memcpy(out, cached, cached_len);
    ms = now.tv_nsec / 1000000;
    out[cached_len] = '.';
    out[cached_len + 1] = (char)('0' + ms / 100);
    out[cached_len + 2] = (char)('0' + ms / 10 % 10);
    out[cached_len + 3] = (char)('0' + ms % 10);
    out[cached_len + 4] = 'Z';
    return cached_len + 5;
}

static bool
has_control(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* The output of fast_format: out[0 .. cap-1), always NUL-terminated. */
struct fmt_out {
    char *p;
    size_t used;
    size_t cap; /* room for cap - 1 characters and the NUL */
};

static void
put(struct fmt_out *o, const char *s, size_t n)
{
    size_t room = o->cap - 1 - o->used;

    if (n > room)
        n = room;
    memcpy(o->p + o->used, s, n);
    o->used += n;
}

static void
put_unsigned(struct fmt_out *o, unsigned long long v, bool is_neg, unsigned base)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = digits[v % base];
        v /= base;
    } while (v != 0);
    if (is_neg)
        tmp[--i] = '-';
    put(o, tmp + i, sizeof(tmp) - i);
}

static void
put_signed(struct fmt_out *o, long long v)
{
    /* -(v + 1) + 1 cannot overflow, even for LLONG_MIN. */
    if (v < 0)
        put_unsigned(o, (unsigned long long)-(v + 1) + 1u, true, 10);
    else
        put_unsigned(o, (unsigned long long)v, false, 10);
}

/* printf for what log lines use, at a fraction of vsnprintf's cost: %s, %.*s,
 * %c, %%, and %d %i %u %x with no length modifier or l, ll, z (PRIu64 is %lu
 * here). Anything else (flags, widths, other precisions, %p, floating point)
 * returns -1 and the caller uses vsnprintf. Otherwise returns the length
 * written into out (cap bytes), truncated like snprintf, NUL-terminated. */
static int
fast_format(char *out, size_t cap, const char *fmt, va_list ap)
{
    struct fmt_out o = {out, 0, cap};
    const char *f = fmt;

    while (*f != '\0') {
        const char *pct = strchr(f, '%');
        const char *s;
        int len_mod = 0; /* 0 none, 1 l, 2 ll, 3 z */
        bool has_prec = false;
        int prec = 0;

        if (pct == NULL) {
            put(&o, f, strlen(f));
            break;
        }
        put(&o, f, (size_t)(pct - f));
        f = pct + 1;
        if (f[0] == '.' && f[1] == '*' && f[2] == 's') {
            has_prec = true;
            f += 2;
        } else if (f[0] == 'l' && f[1] == 'l') {
            len_mod = 2;
            f += 2;
        } else if (f[0] == 'l') {
            len_mod = 1;
            f++;
        } else if (f[0] == 'z') {
            len_mod = 3;
            f++;
        }
        switch (*f) {
        case 's':
            if (has_prec)
                prec = va_arg(ap, int);
            s = va_arg(ap, const char *);
            if (s == NULL)
                s = "(null)";
            if (len_mod != 0)
                return -1;
            put(&o, s, has_prec ? (prec < 0 ? strlen(s) : strnlen(s, (size_t)prec)) : strlen(s));
            break;
        case 'c': {
            char c;
            if (len_mod != 0)
                return -1;
            c = (char)va_arg(ap, int);
            put(&o, &c, 1);
            break;
        }
        case '%':
            if (len_mod != 0)
                return -1;
            put(&o, "%", 1);
            break;
        case 'd':
        case 'i':
            if (len_mod == 0)
                put_signed(&o, va_arg(ap, int));
            else if (len_mod == 1)
                put_signed(&o, va_arg(ap, long));
            else if (len_mod == 2)
                put_signed(&o, va_arg(ap, long long));
            else
                put_signed(&o, va_arg(ap, ssize_t));
            break;
        case 'u':
        case 'x':
            if (len_mod == 0)
                put_unsigned(&o, va_arg(ap, unsigned), false, *f == 'x' ? 16 : 10);
            else if (len_mod == 1)
                put_unsigned(&o, va_arg(ap, unsigned long), false, *f == 'x' ? 16 : 10);
            else if (len_mod == 2)
                put_unsigned(&o, va_arg(ap, unsigned long long), false, *f == 'x' ? 16 : 10);
            else
                put_unsigned(&o, va_arg(ap, size_t), false, *f == 'x' ? 16 : 10);
            break;
        default:
            return -1;
        }
        f++;
    }
    out[o.used] = '\0';
    return (int)o.used;
}

/* Formats the message into out (LOG_LINE_MAX bytes) with control characters
 * escaped; returns its length (not counting the terminating NUL). */
static size_t
format_message(char *out, const char *fmt, va_list ap)
{
    char raw[LOG_LINE_MAX];
    va_list copy;
    int n;

    va_copy(copy, ap);
    n = fast_format(out, LOG_LINE_MAX, fmt, copy);
    va_end(copy);
    if (n < 0)
        n = vsnprintf(out, LOG_LINE_MAX, fmt, ap);
    if (n < 0)
        n = 0;
    if (n >= LOG_LINE_MAX)
        n = LOG_LINE_MAX - 1;
    if (!has_control(out, (size_t)n))
        return (size_t)n;
    memcpy(raw, out, (size_t)n + 1);
    sanitize(out, LOG_LINE_MAX, raw);
    return strlen(out);
}

/* One whole line ("<time> <ident> <tag>: <message>\n") into out, which has
 * LOG_RESERVE bytes; returns its length. */
static size_t
format_line(char *out, const char *tag, const char *fmt, va_list ap)
{
    size_t o = format_time(out);
    size_t tag_len = strlen(tag);

    if (tag_len > LOG_PREFIX_MAX - 40 - logger.ident_len)
        tag_len = LOG_PREFIX_MAX - 40 - logger.ident_len;
    out[o++] = ' ';
    memcpy(out + o, logger.ident, logger.ident_len);
    o += logger.ident_len;
    out[o++] = ' ';
    memcpy(out + o, tag, tag_len);
    o += tag_len;
    out[o++] = ':';
    out[o++] = ' ';
    o += format_message(out + o, fmt, ap);
    out[o++] = '\n';
    return o;
}

static void
log_emit(int prio, const char *tag, const char *fmt, va_list ap)
{
    char line[LOG_RESERVE];
    size_t n;

    if (logger.use_syslog) {
        format_message(line, fmt, ap);
        syslog(prio, "%s: %s", tag, line);
        return;
    }
    if (logger.loop == NULL) {
        /* No loop: one write per line, as it is logged. */
        write_all(line, format_line(line, tag, fmt, ap));
        return;
    }
    n = format_line(out_buf + out_used, tag, fmt, ap);
    out_used += n;
    if (prio <= LOG_WARNING || out_used >= LOG_BUFFER_CAP)
        log_flush();
}

static void
on_sleep(struct ev_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    log_flush();
}

/* Writes the buffered lines, then lets the signal take its earlier course
 * (the default action, or a sanitizer's report). */
static void
on_crash(int signo)
{
    size_t i;

    log_flush();
    for (i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
        if (crash_signals[i] == signo)
            sigaction(signo, &crash_old[i], NULL);
    /* Blocked until we return: then delivered to the old action. A fault
     * happens again when the instruction is retried. */
    raise(signo);
}

void
log_attach_loop(struct ev_loop *loop)
{
    size_t i;

    if (!logger.has_handlers) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_crash;
        sigemptyset(&sa.sa_mask);
        for (i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
            sigaction(crash_signals[i], &sa, &crash_old[i]);
        atexit(log_flush);
        logger.has_handlers = true;
    }
    if (logger.loop != NULL && logger.loop != loop)
        log_detach_loop();
    logger.loop = loop;
    ev_set_sleep_hook(loop, on_sleep, NULL);
}

void
log_detach_loop(void)
{
    if (logger.loop == NULL)
        return;
    ev_set_sleep_hook(logger.loop, NULL, NULL);
    logger.loop = NULL;
    log_flush();
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
    char tag[32] = "trace ";
    const char *name = trace_name(area);
    size_t n = strlen(name);
    va_list ap;

    if (n > sizeof(tag) - 7)
        n = sizeof(tag) - 7;
    memcpy(tag + 6, name, n);
    tag[6 + n] = '\0';
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
