/* SPDX-License-Identifier: Apache-2.0 */
/* ev.c - the node's event loop, shaped like valkey's ae.c: level-triggered
 * epoll for fds, one-shot timers in a binary min-heap, signals through a
 * signalfd, before-sleep hooks (ZeroMQ drain), one flush hook after them (the
 * connections' output), deferred frees and one sleep hook that runs last
 * before the poll (the log flush).
 *
 * An fd's epoll data carries its table slot's generation, so events that were
 * already fetched for an fd deleted (and perhaps re-added under the same number)
 * by an earlier callback of the same batch are recognised as stale and skipped.
 * Timers are found by id through a small open-addressing map to their heap slot,
 * so cancelling is O(log n). */
#include "ev.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "mem.h"

#define EV_MAX_EVENTS 256

struct ev_fd {
    ev_fd_fn fn;
    void *arg;
    unsigned mask;
    uint32_t gen;      /* matches the generation in the fd's epoll data */
    bool is_active;
    bool is_in_epoll;  /* mask 0 keeps an fd out of epoll so HUP cannot spin */
};

struct ev_timer {
    uint64_t deadline;
    uint64_t id; /* also the tie-breaker: equal deadlines fire in creation order */
    ev_timer_fn fn;
    void *arg;
};

struct ev_hook {
    ev_hook_fn fn; /* NULL once deleted; compacted outside the hook walk */
    void *arg;
};

struct ev_deferred {
    void (*fn)(void *);
    void *p;
};

struct ev_sig {
    ev_signal_fn fn;
    void *arg;
};

struct ev_loop {
    int epfd;
    struct ev_fd *fds;
    size_t n_fds;
    uint32_t next_gen;

    struct ev_timer *heap;
    size_t n_heap;
    size_t cap_heap;
    uint64_t next_timer_id;
    /* id -> heap index map: linear probing, backward-shift deletion. */
    uint64_t *map_ids; /* 0 = empty slot */
    size_t *map_idx;
    size_t map_cap;    /* power of two */

    struct ev_hook *hooks;
    size_t n_hooks;
    size_t cap_hooks;
    bool is_in_hooks;
    bool has_dead_hooks;
    struct ev_hook flush_hook; /* after the before-sleep hooks; fn NULL when none */
    struct ev_hook sleep_hook; /* last before the poll; fn NULL when none */

    struct ev_deferred *defers;
    size_t n_defers;
    size_t cap_defers;

    int sigfd;
    sigset_t sigmask;
    struct ev_sig sigs[_NSIG];

    ev_clock_fn clock_fn;
    void *clock_arg;
    uint64_t now;
    bool is_stopped;
};

static uint64_t
monotonic_ms(void *arg)
{
    struct timespec ts;

    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct ev_loop *
ev_new(void)
{
    struct ev_loop *loop = xcalloc(1, sizeof(*loop));

    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->sigfd = -1;
    sigemptyset(&loop->sigmask);
    loop->next_timer_id = 1;
    loop->next_gen = 1;
    loop->clock_fn = monotonic_ms;
    loop->now = monotonic_ms(NULL);
    return loop;
}

static void
run_deferred(struct ev_loop *loop)
{
    size_t i;
    struct ev_deferred d;

    /* A free function may defer more frees; they run in this pass too. */
    for (i = 0; i < loop->n_defers; i++) {
        d = loop->defers[i];
        d.fn(d.p);
    }
    loop->n_defers = 0;
}

void
ev_free(struct ev_loop *loop)
{
    if (loop == NULL)
        return;
    run_deferred(loop);
    /* Blocked signals stay blocked: unblocking could deliver a pending
     * SIGTERM with its default action during shutdown. */
    if (loop->sigfd >= 0)
        close(loop->sigfd);
    close(loop->epfd);
    free(loop->fds);
    free(loop->heap);
    free(loop->map_ids);
    free(loop->map_idx);
    free(loop->hooks);
    free(loop->defers);
    free(loop);
}

/*
 * File descriptors.
 */

static uint32_t
epoll_mask(unsigned mask)
{
    uint32_t e = 0;

    if (mask & EV_READ)
        e |= EPOLLIN;
    if (mask & EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

static int
epoll_apply(struct ev_loop *loop, int fd, struct ev_fd *f)
{
    struct epoll_event ee;
    int op;

    memset(&ee, 0, sizeof(ee));
    ee.events = epoll_mask(f->mask);
    ee.data.u64 = ((uint64_t)f->gen << 32) | (uint32_t)fd;
    if (f->mask == 0) {
        if (f->is_in_epoll && epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ee) < 0)
            return -errno;
        f->is_in_epoll = false;
        return PAL_OK;
    }
    op = f->is_in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, fd, &ee) < 0)
        return -errno;
    f->is_in_epoll = true;
    return PAL_OK;
}

int
ev_add_fd(struct ev_loop *loop, int fd, unsigned mask, ev_fd_fn fn, void *arg)
{
    struct ev_fd *f;
    size_t n;
    int rc;

    if (fd < 0 || fn == NULL)
        return PAL_EINVAL;
    if ((size_t)fd >= loop->n_fds) {
        n = loop->n_fds ? loop->n_fds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        loop->fds = xrealloc(loop->fds, n * sizeof(*loop->fds));
        memset(loop->fds + loop->n_fds, 0, (n - loop->n_fds) * sizeof(*loop->fds));
        loop->n_fds = n;
    }
    f = &loop->fds[fd];
    if (f->is_active)
        return PAL_EEXIST;
    f->fn = fn;
    f->arg = arg;
    f->mask = mask & (EV_READ | EV_WRITE);
    f->gen = loop->next_gen++;
    if (loop->next_gen == 0)
        loop->next_gen = 1;
    f->is_in_epoll = false;
    rc = epoll_apply(loop, fd, f);
    if (rc != PAL_OK)
        return rc;
    f->is_active = true;
    return PAL_OK;
}

int
ev_mod_fd(struct ev_loop *loop, int fd, unsigned mask)
{
    struct ev_fd *f;
    unsigned old;
    int rc;

    if (fd < 0 || (size_t)fd >= loop->n_fds || !loop->fds[fd].is_active)
        return PAL_ENOENT;
    f = &loop->fds[fd];
    old = f->mask;
    f->mask = mask & (EV_READ | EV_WRITE);
    if (f->mask == old)
        return PAL_OK;
    rc = epoll_apply(loop, fd, f);
    if (rc != PAL_OK)
        f->mask = old;
    return rc;
}

void
ev_del_fd(struct ev_loop *loop, int fd)
{
    struct ev_fd *f;

    if (fd < 0 || (size_t)fd >= loop->n_fds || !loop->fds[fd].is_active)
        return;
    f = &loop->fds[fd];
    /* Errors are harmless: the caller may have closed fd already, which
     * removed it from epoll. */
    if (f->is_in_epoll)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    f->is_active = false;
    f->is_in_epoll = false;
    f->fn = NULL;
    f->arg = NULL;
    f->mask = 0;
}

/*
 * Timers: min-heap on (deadline, id) plus the id -> slot map.
 */

static size_t
map_hash(const struct ev_loop *loop, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (loop->map_cap - 1);
}

static size_t *
map_find(struct ev_loop *loop, uint64_t id)
{
    size_t i;

    if (loop->map_cap == 0 || id == 0)
        return NULL;
    for (i = map_hash(loop, id); loop->map_ids[i] != 0; i = (i + 1) & (loop->map_cap - 1))
        if (loop->map_ids[i] == id)
            return &loop->map_idx[i];
    return NULL;
}

static void map_put(struct ev_loop *loop, uint64_t id, size_t idx);

static void
map_grow(struct ev_loop *loop)
{
    uint64_t *old_ids = loop->map_ids;
    size_t *old_idx = loop->map_idx;
    size_t old_cap = loop->map_cap;
    size_t i;

    loop->map_cap = old_cap ? old_cap * 2 : 64;
    loop->map_ids = xcalloc(loop->map_cap, sizeof(*loop->map_ids));
    loop->map_idx = xcalloc(loop->map_cap, sizeof(*loop->map_idx));
    for (i = 0; i < old_cap; i++)
        if (old_ids[i] != 0)
            map_put(loop, old_ids[i], old_idx[i]);
    free(old_ids);
    free(old_idx);
}

static void
map_put(struct ev_loop *loop, uint64_t id, size_t idx)
{
    size_t i;

    /* Load factor at most 1/2. */
    if ((loop->n_heap + 1) * 2 > loop->map_cap)
        map_grow(loop);
    for (i = map_hash(loop, id); loop->map_ids[i] != 0; i = (i + 1) & (loop->map_cap - 1))
        ;
    loop->map_ids[i] = id;
    loop->map_idx[i] = idx;
}

static void
map_del(struct ev_loop *loop, uint64_t id)
{
    size_t mask = loop->map_cap - 1;
    size_t i;
    size_t j;
    size_t home;

    for (i = map_hash(loop, id); loop->map_ids[i] != id; i = (i + 1) & mask)
        if (loop->map_ids[i] == 0)
            return;
    /* Backward-shift: move later members of the probe run into the hole when
     * their home slot does not lie cyclically in (i, j]. */
    j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (loop->map_ids[j] == 0)
            break;
        home = map_hash(loop, loop->map_ids[j]);
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        loop->map_ids[i] = loop->map_ids[j];
        loop->map_idx[i] = loop->map_idx[j];
        i = j;
    }
    loop->map_ids[i] = 0;
}

static bool
timer_before(const struct ev_timer *a, const struct ev_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->id < b->id);
}

static void
heap_set(struct ev_loop *loop, size_t i, const struct ev_timer *t)
{
    loop->heap[i] = *t;
    *map_find(loop, t->id) = i;
}

static void
heap_sift_up(struct ev_loop *loop, size_t i)
{
    struct ev_timer t = loop->heap[i];
    size_t parent;

    while (i > 0) {
        parent = (i - 1) / 2;
        if (!timer_before(&t, &loop->heap[parent]))
            break;
        heap_set(loop, i, &loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, &t);
}

static void
heap_sift_down(struct ev_loop *loop, size_t i)
{
    struct ev_timer t = loop->heap[i];
    size_t child;

    for (;;) {
        child = 2 * i + 1;
        if (child >= loop->n_heap)
            break;
        if (child + 1 < loop->n_heap && timer_before(&loop->heap[child + 1], &loop->heap[child]))
            child++;
        if (!timer_before(&loop->heap[child], &t))
            break;
        heap_set(loop, i, &loop->heap[child]);
        i = child;
    }
    heap_set(loop, i, &t);
}

/* Removes the timer at heap index i. */
static void
heap_remove(struct ev_loop *loop, size_t i)
{
    struct ev_timer last;

    map_del(loop, loop->heap[i].id);
    loop->n_heap--;
    if (i == loop->n_heap)
        return;
    last = loop->heap[loop->n_heap];
    loop->heap[i] = last;
    *map_find(loop, last.id) = i;
    if (i > 0 && timer_before(&last, &loop->heap[(i - 1) / 2]))
        heap_sift_up(loop, i);
    else
        heap_sift_down(loop, i);
}

uint64_t
ev_timer_add(struct ev_loop *loop, uint64_t ms, ev_timer_fn fn, void *arg)
{
    struct ev_timer t;

    if (loop->n_heap == loop->cap_heap) {
        loop->cap_heap = loop->cap_heap ? loop->cap_heap * 2 : 16;
        loop->heap = xrealloc(loop->heap, loop->cap_heap * sizeof(*loop->heap));
    }
    t.deadline = ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + ms;
    t.id = loop->next_timer_id++;
    t.fn = fn;
    t.arg = arg;
    map_put(loop, t.id, loop->n_heap);
    loop->heap[loop->n_heap++] = t;
    heap_sift_up(loop, loop->n_heap - 1);
    return t.id;
}

void
ev_timer_del(struct ev_loop *loop, uint64_t id)
{
    size_t *slot = map_find(loop, id);

    if (slot != NULL)
        heap_remove(loop, *slot);
}

uint64_t
ev_now(struct ev_loop *loop)
{
    return loop->now;
}

void
ev_set_clock(struct ev_loop *loop, ev_clock_fn fn, void *arg)
{
    loop->clock_fn = fn != NULL ? fn : monotonic_ms;
    loop->clock_arg = fn != NULL ? arg : NULL;
    loop->now = loop->clock_fn(loop->clock_arg);
}

/* Fires the timers due at loop->now that existed when the pass began, so a
 * callback re-arming itself with 0 ms cannot starve the loop. A timer added
 * during the pass has deadline >= now and a larger id, so it sorts after every
 * older due timer: reaching one at the top ends the pass. */
static int
run_timers(struct ev_loop *loop)
{
    uint64_t last_id = loop->next_timer_id - 1;
    struct ev_timer t;
    int n = 0;

    while (loop->n_heap > 0 && loop->heap[0].deadline <= loop->now &&
           loop->heap[0].id <= last_id) {
        t = loop->heap[0];
        heap_remove(loop, 0);
        t.fn(loop, t.arg);
        n++;
    }
    return n;
}

/*
 * Hooks, deferred frees, signals.
 */

void
ev_before_sleep_add(struct ev_loop *loop, ev_hook_fn fn, void *arg)
{
    if (loop->n_hooks == loop->cap_hooks) {
        loop->cap_hooks = loop->cap_hooks ? loop->cap_hooks * 2 : 8;
        loop->hooks = xrealloc(loop->hooks, loop->cap_hooks * sizeof(*loop->hooks));
    }
    loop->hooks[loop->n_hooks].fn = fn;
    loop->hooks[loop->n_hooks].arg = arg;
    loop->n_hooks++;
}

static void
compact_hooks(struct ev_loop *loop)
{
    size_t i;
    size_t o = 0;

    for (i = 0; i < loop->n_hooks; i++)
        if (loop->hooks[i].fn != NULL)
            loop->hooks[o++] = loop->hooks[i];
    loop->n_hooks = o;
    loop->has_dead_hooks = false;
}

void
ev_before_sleep_del(struct ev_loop *loop, ev_hook_fn fn, void *arg)
{
    size_t i;

    for (i = 0; i < loop->n_hooks; i++) {
        if (loop->hooks[i].fn == fn && loop->hooks[i].arg == arg) {
            loop->hooks[i].fn = NULL;
            loop->has_dead_hooks = true;
            break;
        }
    }
    if (!loop->is_in_hooks)
        compact_hooks(loop);
}

static void
run_hooks(struct ev_loop *loop)
{
    size_t i;

    loop->is_in_hooks = true;
    /* n_hooks is re-read: a hook added by a hook runs in this pass. */
    for (i = 0; i < loop->n_hooks; i++)
        if (loop->hooks[i].fn != NULL)
            loop->hooks[i].fn(loop, loop->hooks[i].arg);
    loop->is_in_hooks = false;
    if (loop->has_dead_hooks)
        compact_hooks(loop);
}

void
ev_set_flush_hook(struct ev_loop *loop, ev_hook_fn fn, void *arg)
{
    loop->flush_hook.fn = fn;
    loop->flush_hook.arg = arg;
}

void
ev_set_sleep_hook(struct ev_loop *loop, ev_hook_fn fn, void *arg)
{
    loop->sleep_hook.fn = fn;
    loop->sleep_hook.arg = arg;
}

void
ev_defer_free(struct ev_loop *loop, void (*free_fn)(void *), void *p)
{
    if (loop->n_defers == loop->cap_defers) {
        loop->cap_defers = loop->cap_defers ? loop->cap_defers * 2 : 16;
        loop->defers = xrealloc(loop->defers, loop->cap_defers * sizeof(*loop->defers));
    }
    loop->defers[loop->n_defers].fn = free_fn;
    loop->defers[loop->n_defers].p = p;
    loop->n_defers++;
}

static void
on_signalfd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct signalfd_siginfo si;
    struct ev_sig *s;
    ssize_t n;

    (void)events;
    (void)arg;
    for (;;) {
        n = read(fd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si))
            break; /* EAGAIN: drained */
        if (si.ssi_signo >= (uint32_t)_NSIG)
            continue;
        s = &loop->sigs[si.ssi_signo];
        if (s->fn != NULL)
            s->fn(loop, (int)si.ssi_signo, s->arg);
    }
}

int
ev_signal_add(struct ev_loop *loop, int signo, ev_signal_fn fn, void *arg)
{
    sigset_t one;
    int fd;
    int rc;

    if (signo <= 0 || signo >= _NSIG || fn == NULL)
        return PAL_EINVAL;
    sigemptyset(&one);
    if (sigaddset(&one, signo) < 0)
        return PAL_EINVAL;
    if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
        return -errno;
    sigaddset(&loop->sigmask, signo);
    fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (loop->sigfd < 0) {
        rc = ev_add_fd(loop, fd, EV_READ, on_signalfd, NULL);
        if (rc != PAL_OK) {
            close(fd);
            return rc;
        }
        loop->sigfd = fd;
    }
    loop->sigs[signo].fn = fn;
    loop->sigs[signo].arg = arg;
    return PAL_OK;
}

/*
 * The loop.
 */

static int
poll_timeout(struct ev_loop *loop, int timeout_ms)
{
    uint64_t delta;
    int t;

    if (loop->n_heap == 0)
        return timeout_ms;
    delta = loop->heap[0].deadline > loop->now ? loop->heap[0].deadline - loop->now : 0;
    t = delta > INT_MAX ? INT_MAX : (int)delta;
    if (timeout_ms < 0 || t < timeout_ms)
        return t;
    return timeout_ms;
}

int
ev_run_once(struct ev_loop *loop, int timeout_ms)
{
    struct epoll_event events[EV_MAX_EVENTS];
    struct ev_fd *f;
    unsigned fired;
    uint32_t gen;
    int fd;
    int n;
    int i;
    int ran = 0;

    run_hooks(loop);
    /* After every hook: what they delivered (a cluster drain, say) goes out
     * in this iteration, not after the next wakeup. */
    if (loop->flush_hook.fn != NULL)
        loop->flush_hook.fn(loop, loop->flush_hook.arg);
    /* Hooks may have deferred frees; do not sleep on them. */
    run_deferred(loop);
    if (loop->sleep_hook.fn != NULL)
        loop->sleep_hook.fn(loop, loop->sleep_hook.arg);
    loop->now = loop->clock_fn(loop->clock_arg);
    n = epoll_wait(loop->epfd, events, EV_MAX_EVENTS, poll_timeout(loop, timeout_ms));
    if (n < 0) {
        if (errno != EINTR)
            return -errno;
        n = 0;
    }
    loop->now = loop->clock_fn(loop->clock_arg);
    for (i = 0; i < n; i++) {
        fd = (int)(uint32_t)events[i].data.u64;
        gen = (uint32_t)(events[i].data.u64 >> 32);
        if ((size_t)fd >= loop->n_fds)
            continue;
        f = &loop->fds[fd];
        /* Deleted, or deleted and re-added, by an earlier callback. */
        if (!f->is_active || f->gen != gen)
            continue;
        fired = 0;
        if (events[i].events & (EPOLLIN | EPOLLPRI))
            fired |= EV_READ;
        if (events[i].events & EPOLLOUT)
            fired |= EV_WRITE;
        if (events[i].events & (EPOLLHUP | EPOLLERR))
            fired |= EV_HUP | (f->mask & EV_READ);
        /* The mask may have changed since the batch was fetched. */
        fired &= f->mask | EV_HUP;
        if (fired == 0)
            continue;
        f->fn(loop, fd, fired, f->arg);
        ran++;
    }
    ran += run_timers(loop);
    run_deferred(loop);
    return ran;
}

void
ev_run(struct ev_loop *loop)
{
    loop->is_stopped = false;
    while (!loop->is_stopped)
        ev_run_once(loop, -1);
}

void
ev_stop(struct ev_loop *loop)
{
    loop->is_stopped = true;
}

bool
ev_is_stopped(const struct ev_loop *loop)
{
    return loop->is_stopped;
}
