/* SPDX-License-Identifier: Apache-2.0 */
/* test_ev.c - the event loop under a fake clock: timers, fds on pipes, stale
 * events after ev_del_fd, hooks, deferred frees, signals. Never sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/ev.h"

struct fixture {
    struct ev_loop *loop;
    uint64_t clock;
    char order[64]; /* callback trace, one letter per call */
    size_t n_order;
};

static uint64_t
fake_clock(void *arg)
{
    return ((struct fixture *)arg)->clock;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->loop = ev_new();
    if (f->loop == NULL)
        return -1;
    f->clock = 1000;
    ev_set_clock(f->loop, fake_clock, f);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    ev_free(f->loop);
    free(f);
    return 0;
}

static void
note(struct fixture *f, char c)
{
    if (f->n_order + 1 < sizeof(f->order))
        f->order[f->n_order++] = c;
    f->order[f->n_order] = '\0';
}

/* Timer args: the fixture plus a letter. */
struct tmark {
    struct fixture *f;
    char c;
};

static void
on_timer(struct ev_loop *loop, void *arg)
{
    struct tmark *m = arg;

    (void)loop;
    note(m->f, m->c);
}

static void
test_ev_timers_fire_in_deadline_order(void **state)
{
    struct fixture *f = *state;
    struct tmark a = {f, 'a'};
    struct tmark b = {f, 'b'};
    struct tmark c = {f, 'c'};
    struct tmark d = {f, 'd'};

    assert_int_equal(ev_now(f->loop), 1000);
    ev_timer_add(f->loop, 30, on_timer, &c);
    ev_timer_add(f->loop, 10, on_timer, &a);
    ev_timer_add(f->loop, 20, on_timer, &b);
    ev_timer_add(f->loop, 10, on_timer, &d); /* same deadline as a: after a */
    assert_int_equal(ev_run_once(f->loop, 0), 0);
    f->clock = 1009;
    assert_int_equal(ev_run_once(f->loop, 0), 0);
    assert_int_equal(ev_now(f->loop), 1009);
    f->clock = 1020;
    assert_int_equal(ev_run_once(f->loop, 0), 3);
    assert_string_equal(f->order, "adb");
    f->clock = 5000;
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_string_equal(f->order, "adbc");
    assert_int_equal(ev_run_once(f->loop, 0), 0);
}

static void
test_ev_timer_del_cancels(void **state)
{
    struct fixture *f = *state;
    struct tmark a = {f, 'a'};
    struct tmark b = {f, 'b'};
    uint64_t ida;
    uint64_t idb;

    ida = ev_timer_add(f->loop, 5, on_timer, &a);
    idb = ev_timer_add(f->loop, 5, on_timer, &b);
    assert_true(ida > 0);
    assert_true(idb != ida);
    ev_timer_del(f->loop, ida);
    ev_timer_del(f->loop, 0);
    ev_timer_del(f->loop, 987654);
    f->clock += 5;
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_string_equal(f->order, "b");
    ev_timer_del(f->loop, idb); /* fired: ignored */
    ev_timer_del(f->loop, ida); /* deleted twice: ignored */
}

static void
rearm(struct ev_loop *loop, void *arg)
{
    struct tmark *m = arg;

    note(m->f, m->c);
    ev_timer_add(loop, 0, rearm, arg);
}

static void
test_ev_timer_added_in_callback_waits_for_next_iteration(void **state)
{
    struct fixture *f = *state;
    struct tmark r = {f, 'r'};

    ev_timer_add(f->loop, 0, rearm, &r);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_string_equal(f->order, "rr");
}

static void
count_timer(struct ev_loop *loop, void *arg)
{
    uint64_t *fired = arg;

    (*fired)++;
    /* The heap must hand out timers in deadline order. */
    assert_true(ev_now(loop) >= 1000);
}

struct stress_timer {
    uint64_t id;
    uint64_t deadline;
    bool is_live;
};

static uint64_t stress_last_deadline;
static struct stress_timer *stress_cur;

static void
stress_fire(struct ev_loop *loop, void *arg)
{
    struct stress_timer *t = arg;

    (void)loop;
    assert_true(t->is_live);
    assert_true(t->deadline >= stress_last_deadline);
    stress_last_deadline = t->deadline;
    t->is_live = false;
    stress_cur = t;
}

static void
test_ev_timer_heap_random_add_del(void **state)
{
    struct fixture *f = *state;
    enum { N = 3000 };
    struct stress_timer *ts = calloc(N, sizeof(*ts));
    unsigned seed = 12345;
    size_t i;
    size_t live = 0;
    size_t fired = 0;
    uint64_t ms;

    for (i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        ms = (seed >> 8) % 5000;
        ts[i].deadline = f->clock + ms;
        ts[i].id = ev_timer_add(f->loop, ms, stress_fire, &ts[i]);
        ts[i].is_live = true;
        live++;
    }
    for (i = 0; i < N; i += 3) {
        ev_timer_del(f->loop, ts[i].id);
        ts[i].is_live = false;
        live--;
    }
    stress_last_deadline = 0;
    while (f->clock <= 1000 + 5000 + 7) {
        fired += (size_t)ev_run_once(f->loop, 0);
        f->clock += 7;
    }
    assert_int_equal(fired, live);
    for (i = 0; i < N; i++)
        assert_false(ts[i].is_live);
    free(ts);
}

static void
test_ev_run_once_infinite_timeout_waits_for_due_timer(void **state)
{
    struct fixture *f = *state;
    uint64_t fired = 0;

    ev_timer_add(f->loop, 10, count_timer, &fired);
    f->clock += 10;
    /* The timer is due, so -1 must not block. */
    assert_int_equal(ev_run_once(f->loop, -1), 1);
    assert_int_equal(fired, 1);
}

/* fd tests */

struct fdmark {
    struct fixture *f;
    char c;
    unsigned events;
    int calls;
    int other_fd;           /* for the stale-event test */
    struct fdmark *other;
    int replacement_pipe[2];
};

static void
on_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct fdmark *m = arg;
    char b[16];

    (void)loop;
    m->events = events;
    m->calls++;
    note(m->f, m->c);
    if (events & EV_READ)
        (void)!read(fd, b, sizeof(b));
}

static void
test_ev_fd_read_and_mod(void **state)
{
    struct fixture *f = *state;
    struct fdmark m = {.f = f, .c = 'p'};
    int p[2];

    assert_int_equal(pipe(p), 0);
    assert_int_equal(ev_add_fd(f->loop, p[0], EV_READ, on_fd, &m), PAL_OK);
    assert_int_equal(ev_add_fd(f->loop, p[0], EV_READ, on_fd, &m), PAL_EEXIST);
    assert_int_equal(ev_run_once(f->loop, 0), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(m.events, EV_READ);

    /* Silenced: data waits. */
    assert_int_equal(ev_mod_fd(f->loop, p[0], 0), PAL_OK);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(ev_run_once(f->loop, 0), 0);
    assert_int_equal(ev_mod_fd(f->loop, p[0], EV_READ), PAL_OK);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(m.calls, 2);

    /* Write readiness on the write end. */
    assert_int_equal(ev_add_fd(f->loop, p[1], EV_WRITE, on_fd, &m), PAL_OK);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(m.events, EV_WRITE);
    ev_del_fd(f->loop, p[1]);
    assert_int_equal(ev_mod_fd(f->loop, p[1], EV_READ), PAL_ENOENT);

    /* Hang-up when the writer goes away. */
    close(p[1]);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_true(m.events & EV_HUP);
    assert_true(m.events & EV_READ);
    ev_del_fd(f->loop, p[0]);
    ev_del_fd(f->loop, p[0]);
    close(p[0]);
    assert_int_equal(ev_run_once(f->loop, 0), 0);
}

static void
on_fd_replaced(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct fdmark *m = arg;

    (void)loop;
    (void)fd;
    m->events = events;
    m->calls++;
    note(m->f, 'N');
}

/* Whichever of the two ready pipes runs first deletes the other, closes it,
 * puts a fresh empty pipe under the same fd number and registers that. The
 * stale event already fetched for the old fd must reach nobody. */
static void
on_fd_killer(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct fdmark *m = arg;
    struct fdmark *o = m->other;
    int np[2];

    (void)fd;
    (void)events;
    m->calls++;
    note(m->f, m->c);
    ev_del_fd(loop, o->other_fd);
    close(o->other_fd);
    assert_int_equal(pipe(np), 0);
    if (np[0] != o->other_fd) {
        assert_int_equal(dup2(np[0], o->other_fd), o->other_fd);
        close(np[0]);
    }
    o->replacement_pipe[0] = o->other_fd;
    o->replacement_pipe[1] = np[1];
    assert_int_equal(ev_add_fd(loop, o->other_fd, EV_READ, on_fd_replaced, o), PAL_OK);
    m->other = NULL;
}

static void
test_ev_del_fd_in_callback_skips_stale_events(void **state)
{
    struct fixture *f = *state;
    struct fdmark a = {.f = f, .c = 'a'};
    struct fdmark b = {.f = f, .c = 'b'};
    int pa[2];
    int pb[2];
    struct fdmark *survivor;
    struct fdmark *victim;

    assert_int_equal(pipe(pa), 0);
    assert_int_equal(pipe(pb), 0);
    a.other = &b;
    b.other = &a;
    a.other_fd = pa[0];
    b.other_fd = pb[0];
    assert_int_equal(ev_add_fd(f->loop, pa[0], EV_READ, on_fd_killer, &a), PAL_OK);
    assert_int_equal(ev_add_fd(f->loop, pb[0], EV_READ, on_fd_killer, &b), PAL_OK);
    assert_int_equal(write(pa[1], "x", 1), 1);
    assert_int_equal(write(pb[1], "x", 1), 1);

    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(a.calls + b.calls, 1);
    survivor = a.calls ? &a : &b;
    victim = a.calls ? &b : &a;
    assert_null(survivor->other);
    assert_int_equal(victim->calls, 0); /* neither old nor new callback got the stale event */
    assert_int_equal(strlen(f->order), 1);

    /* The replacement gets its own events. */
    assert_int_equal(write(victim->replacement_pipe[1], "z", 1), 1);
    survivor->c = 's';
    ev_mod_fd(f->loop, survivor == &a ? pa[0] : pb[0], 0);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(victim->calls, 1);
    assert_int_equal(victim->events, EV_READ);

    ev_del_fd(f->loop, pa[0]);
    ev_del_fd(f->loop, pb[0]);
    close(pa[0]);
    close(pa[1]);
    close(pb[0]);
    close(pb[1]);
    close(victim->replacement_pipe[1]);
}

static void
on_fd_del_self(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct fdmark *m = arg;

    (void)events;
    m->calls++;
    ev_del_fd(loop, fd);
}

static void
test_ev_del_own_fd_in_callback(void **state)
{
    struct fixture *f = *state;
    struct fdmark m = {.f = f};
    int p[2];

    assert_int_equal(pipe(p), 0);
    assert_int_equal(ev_add_fd(f->loop, p[0], EV_READ, on_fd_del_self, &m), PAL_OK);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(ev_run_once(f->loop, 0), 0);
    assert_int_equal(m.calls, 1);
    /* It may be added again afterwards; the data is still there. */
    assert_int_equal(ev_add_fd(f->loop, p[0], EV_READ, on_fd_del_self, &m), PAL_OK);
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(m.calls, 2);
    close(p[0]);
    close(p[1]);
}

static void
hook_a(struct ev_loop *loop, void *arg)
{
    (void)loop;
    note(arg, 'A');
}

static void
hook_b(struct ev_loop *loop, void *arg)
{
    (void)loop;
    note(arg, 'B');
}

static void
hook_del_self(struct ev_loop *loop, void *arg)
{
    note(arg, 'D');
    ev_before_sleep_del(loop, hook_del_self, arg);
}

static void
test_ev_before_sleep_hooks_run_in_order(void **state)
{
    struct fixture *f = *state;

    ev_before_sleep_add(f->loop, hook_a, f);
    ev_before_sleep_add(f->loop, hook_del_self, f);
    ev_before_sleep_add(f->loop, hook_b, f);
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "ADB");
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "ADBAB");
    ev_before_sleep_del(f->loop, hook_a, f);
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "ADBABB");
}

struct defer_state {
    struct fixture *f;
    bool is_freed;
    bool was_freed_in_callback;
};

static void
defer_fn(void *p)
{
    struct defer_state *d = p;

    d->is_freed = true;
    note(d->f, 'F');
}

static void
timer_defers(struct ev_loop *loop, void *arg)
{
    struct defer_state *d = arg;

    ev_defer_free(loop, defer_fn, d);
    d->was_freed_in_callback = d->is_freed;
    note(d->f, 'T');
}

static void
timer_after(struct ev_loop *loop, void *arg)
{
    struct defer_state *d = arg;

    (void)loop;
    /* Deferred by an earlier callback of this iteration: not yet run. */
    assert_false(d->is_freed);
    note(d->f, 'U');
}

static void
test_ev_defer_free_runs_after_callbacks(void **state)
{
    struct fixture *f = *state;
    struct defer_state d = {.f = f};
    struct defer_state d2 = {.f = f};

    ev_timer_add(f->loop, 0, timer_defers, &d);
    ev_timer_add(f->loop, 0, timer_after, &d);
    assert_int_equal(ev_run_once(f->loop, 0), 2);
    assert_false(d.was_freed_in_callback);
    assert_true(d.is_freed);
    assert_string_equal(f->order, "TUF");
    /* Pending frees run at ev_free too (teardown). */
    ev_defer_free(f->loop, defer_fn, &d2);
    assert_false(d2.is_freed);
    ev_free(f->loop);
    assert_true(d2.is_freed);
    f->loop = ev_new();
}

static void
sleep_defers(struct ev_loop *loop, void *arg)
{
    struct defer_state *d = arg;

    ev_defer_free(loop, defer_fn, d);
    note(d->f, 'H');
}

static void
sleep_hook(struct ev_loop *loop, void *arg)
{
    (void)loop;
    note(arg, 'S');
}

/* The sleep hook comes after the before-sleep hooks and the frees they
 * deferred (the log flush sees everything they logged). */
static void
test_ev_sleep_hook_runs_last_before_poll(void **state)
{
    struct fixture *f = *state;
    struct defer_state d = {.f = f};

    ev_set_sleep_hook(f->loop, sleep_hook, f);
    ev_before_sleep_add(f->loop, sleep_defers, &d);
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "HFS");
    /* Replaced, then removed. */
    ev_before_sleep_del(f->loop, sleep_defers, &d);
    ev_set_sleep_hook(f->loop, hook_a, f);
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "HFSA");
    ev_set_sleep_hook(f->loop, NULL, NULL);
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "HFSA");
}

static void
flush_hook(struct ev_loop *loop, void *arg)
{
    (void)loop;
    note(arg, 'X');
}

/* The flush hook runs after every before-sleep hook, even one added after it
 * was set (a cluster drain's deliveries leave in the same iteration), and
 * before the sleep hook. */
static void
test_ev_flush_hook_runs_after_the_hooks(void **state)
{
    struct fixture *f = *state;

    ev_set_flush_hook(f->loop, flush_hook, f);
    ev_before_sleep_add(f->loop, hook_a, f);
    ev_set_sleep_hook(f->loop, sleep_hook, f);
    ev_before_sleep_add(f->loop, hook_b, f);
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "ABXS");
    ev_set_flush_hook(f->loop, NULL, NULL);
    ev_run_once(f->loop, 0);
    assert_string_equal(f->order, "ABXSABS");
}

static void
on_signal(struct ev_loop *loop, int signo, void *arg)
{
    int *got = arg;

    (void)loop;
    *got = signo;
}

static void
test_ev_signal_delivered_through_loop(void **state)
{
    struct fixture *f = *state;
    int got = 0;

    assert_int_equal(ev_signal_add(f->loop, SIGUSR1, on_signal, &got), PAL_OK);
    assert_int_equal(ev_signal_add(f->loop, 0, on_signal, &got), PAL_EINVAL);
    assert_int_equal(raise(SIGUSR1), 0); /* blocked: pending until the loop reads it */
    assert_int_equal(ev_run_once(f->loop, 0), 1);
    assert_int_equal(got, SIGUSR1);
}

static void
stop_timer(struct ev_loop *loop, void *arg)
{
    (void)arg;
    ev_stop(loop);
}

static void
test_ev_run_until_stop(void **state)
{
    struct fixture *f = *state;

    assert_false(ev_is_stopped(f->loop));
    ev_timer_add(f->loop, 0, stop_timer, NULL);
    ev_run(f->loop); /* the due timer means no blocking */
    assert_true(ev_is_stopped(f->loop));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ev_timers_fire_in_deadline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_timer_del_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_timer_added_in_callback_waits_for_next_iteration,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_timer_heap_random_add_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_run_once_infinite_timeout_waits_for_due_timer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_fd_read_and_mod, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_del_fd_in_callback_skips_stale_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ev_del_own_fd_in_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_before_sleep_hooks_run_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_defer_free_runs_after_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_sleep_hook_runs_last_before_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_flush_hook_runs_after_the_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_signal_delivered_through_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ev_run_until_stop, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
