/* SPDX-License-Identifier: Apache-2.0 */
/* ev.h - the node's one event loop: epoll for fds, one-shot timers on a
 * monotonic millisecond clock (replaceable by a fake clock in tests), signals via
 * signalfd, before-sleep hooks (flush output, drain ZeroMQ), deferred frees
 * that run after all callbacks of an iteration, and one sleep hook that runs
 * last before the poll (the log flush). Single-threaded. */
#ifndef PALISADE_EV_H
#define PALISADE_EV_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;

enum { EV_READ = 1u << 0, EV_WRITE = 1u << 1, EV_HUP = 1u << 2 /* reported only */ };

/* events: EV_READ/EV_WRITE/EV_HUP bits that fired. */
typedef void (*ev_fd_fn)(struct ev_loop *loop, int fd, unsigned events, void *arg);
typedef void (*ev_timer_fn)(struct ev_loop *loop, void *arg);
typedef void (*ev_hook_fn)(struct ev_loop *loop, void *arg);
typedef void (*ev_signal_fn)(struct ev_loop *loop, int signo, void *arg);
typedef uint64_t (*ev_clock_fn)(void *arg);

struct ev_loop *ev_new(void);
/* Runs pending deferred frees, closes nothing it does not own. */
void ev_free(struct ev_loop *loop);

/* Registers fd for the events in mask (level-triggered). PAL_EEXIST if present. */
int ev_add_fd(struct ev_loop *loop, int fd, unsigned mask, ev_fd_fn fn, void *arg);
/* Changes the mask of a registered fd (mask 0 = registered but silent). */
int ev_mod_fd(struct ev_loop *loop, int fd, unsigned mask);
/* Unregisters fd; safe to call from any callback, including fd's own. The
 * caller closes fd. */
void ev_del_fd(struct ev_loop *loop, int fd);

/* One-shot timer firing after ms; returns an id > 0. */
uint64_t ev_timer_add(struct ev_loop *loop, uint64_t ms, ev_timer_fn fn, void *arg);
/* Cancels a timer; unknown or fired ids (and 0) are ignored. */
void ev_timer_del(struct ev_loop *loop, uint64_t id);

/* Monotonic milliseconds, cached at the start of each iteration. */
uint64_t ev_now(struct ev_loop *loop);
/* Replaces the clock (tests). fn(arg) returns milliseconds. */
void ev_set_clock(struct ev_loop *loop, ev_clock_fn fn, void *arg);

/* Runs fn(arg) before every poll, in registration order. */
void ev_before_sleep_add(struct ev_loop *loop, ev_hook_fn fn, void *arg);
void ev_before_sleep_del(struct ev_loop *loop, ev_hook_fn fn, void *arg);

/* Runs fn(arg) before every poll, after every before-sleep hook, so that
 * output the hooks produced (a cluster drain delivering stanzas) leaves in
 * the same iteration (node/conn.c's flush). One per loop: a second call
 * replaces it; fn NULL removes it. */
void ev_set_flush_hook(struct ev_loop *loop, ev_hook_fn fn, void *arg);

/* Runs fn(arg) as the last step before every poll, after the before-sleep hooks
 * and the deferred frees, so it sees everything they did (the log flush). One
 * per loop: a second call replaces it; fn NULL removes it. */
void ev_set_sleep_hook(struct ev_loop *loop, ev_hook_fn fn, void *arg);

/* Runs free_fn(p) after the current iteration's callbacks (never inside one). */
void ev_defer_free(struct ev_loop *loop, void (*free_fn)(void *), void *p);

/* Blocks signo and delivers it through the loop (signalfd). */
int ev_signal_add(struct ev_loop *loop, int signo, ev_signal_fn fn, void *arg);

/* One iteration: poll up to timeout_ms (-1: until the next timer or event; 0: do
 * not block), dispatch fds, expired timers, deferred frees. Returns the number of
 * callbacks run, or a PAL_E* code. */
int ev_run_once(struct ev_loop *loop, int timeout_ms);
/* Runs until ev_stop(). */
void ev_run(struct ev_loop *loop);
void ev_stop(struct ev_loop *loop);
bool ev_is_stopped(const struct ev_loop *loop);

#endif
