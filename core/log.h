/* SPDX-License-Identifier: Apache-2.0 */
/* log.h - one line per event: "event key=value ...", to stderr or syslog.
 * Passwords, SASL exchanges, LDAP secrets and message bodies never go here.
 *
 * Without a loop every line is one write(2) to stderr, as it is logged. With a
 * loop attached (log_attach_loop) lines below warn are collected in memory and
 * leave in one write just before the loop sleeps, or sooner when the buffer
 * fills; a warn or error line is written at once, after the lines before it.
 * What is buffered is also written on exit(), fatal() and on a crash (SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGABRT). Only SIGKILL loses it: at most the lines
 * of one loop iteration. Single-threaded, like the loop: log from the loop's
 * thread while a loop is attached. */
#ifndef PALISADE_LOG_H
#define PALISADE_LOG_H

#include <stdbool.h>

struct ev_loop;

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_NOTICE, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

enum log_trace_area {
    TRACE_STREAM = 1u << 0,
    TRACE_ROUTER = 1u << 1,
    TRACE_CLUSTER = 1u << 2,
    TRACE_LDAP = 1u << 3,
    TRACE_POLICY = 1u << 4,
    TRACE_SASL = 1u << 5,
    TRACE_TLS = 1u << 6,
};

/* ident prefixes every line (e.g. the node name). Safe to call again (reload). */
void log_init(const char *ident, bool use_syslog, enum log_level level);
/* Buffers lines below warn and flushes them from loop's last step before each
 * poll (ev_set_sleep_hook; the loop has no other sleep hook). Installs the
 * crash handlers and an atexit flush once. Syslog lines are never buffered. */
void log_attach_loop(struct ev_loop *loop);
/* Writes what is buffered and goes back to one write per line. Call it before
 * freeing the attached loop. */
void log_detach_loop(void);
/* Writes what is buffered now (a no-op when nothing is). */
void log_flush(void);
void log_set_level(enum log_level level);
/* True when a line at level would be written (to skip building costly arguments). */
bool log_enabled(enum log_level level);
/* Parses "error".."debug"; -1 if unknown. */
int log_level_parse(const char *s);
/* Parses a trace area name ("stream", "router", ...); 0 if unknown. */
unsigned log_trace_parse(const char *s);
void log_trace_enable(unsigned areas);
bool log_trace_enabled(unsigned area);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_trace_(unsigned area, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_trace(area, ...)                                                                       \
    do {                                                                                           \
        if (log_trace_enabled(area))                                                               \
            log_trace_(area, __VA_ARGS__);                                                         \
    } while (0)
/* Logs at error level and exits(1): startup failures and broken invariants only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
