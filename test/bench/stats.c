/* SPDX-License-Identifier: Apache-2.0 */
/* stats.c - clocks, latency histograms and what /proc says about the server:
 * CPU seconds (schedstat's nanoseconds over its threads, else utime + stime),
 * the kernel's share (stime / (utime + stime)) and resident memory. */
#include "bench.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

#define HIST_FINE 100000   /* 1 µs buckets: 0 .. 100 ms */
#define HIST_COARSE 60000  /* 1 ms buckets: 100 ms .. 60.1 s */

uint64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
bench_hist_init(struct bench_hist *h)
{
    memset(h, 0, sizeof *h);
    h->fine = xcalloc(HIST_FINE, sizeof *h->fine);
    h->coarse = xcalloc(HIST_COARSE + 1, sizeof *h->coarse);
}

void
bench_hist_free(struct bench_hist *h)
{
    free(h->fine);
    free(h->coarse);
    memset(h, 0, sizeof *h);
}

void
bench_hist_reset(struct bench_hist *h)
{
    memset(h->fine, 0, HIST_FINE * sizeof *h->fine);
    memset(h->coarse, 0, (HIST_COARSE + 1) * sizeof *h->coarse);
    h->count = 0;
    h->max_ns = 0;
    h->sum_ns = 0;
}

void
bench_hist_add(struct bench_hist *h, uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us < HIST_FINE) {
        h->fine[us]++;
    } else {
        uint64_t ms = (us - HIST_FINE) / 1000;
        h->coarse[ms < HIST_COARSE ? ms : HIST_COARSE]++;
    }
    h->count++;
    h->sum_ns += (double)ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

double
bench_hist_quantile_us(const struct bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_FINE; i++) {
        seen += h->fine[i];
        if (seen > rank)
            return (double)i + 0.5;
    }
    for (size_t i = 0; i <= HIST_COARSE; i++) {
        seen += h->coarse[i];
        if (seen > rank)
            return (double)HIST_FINE + (double)i * 1000 + 500;
    }
    return (double)h->max_ns / 1000;
}

/* Nanoseconds on a CPU, summed over the threads (/proc/PID/task/TID/schedstat,
 * first field): far finer than the 10 ms ticks of /proc/PID/stat. */
static double
proc_schedstat_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    double sum = 0;
    bool any = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[300];
        snprintf(file, sizeof file, "/proc/%ld/task/%s/schedstat", (long)pid, e->d_name);
        FILE *f = fopen(file, "r");
        if (!f)
            continue;
        unsigned long long ns = 0;
        if (fscanf(f, "%llu", &ns) == 1) {
            sum += (double)ns / 1e9;
            any = true;
        }
        fclose(f);
    }
    closedir(d);
    return any ? sum : -1;
}

double
bench_proc_cpu_s(pid_t pid)
{
    double v = proc_schedstat_s(pid);
    if (v >= 0)
        return v;
    double sys = 0;
    double user = bench_proc_cpu_split(pid, &sys);
    return user < 0 ? -1 : user + sys;
}

double
bench_proc_cpu_split(pid_t pid, double *sys_s)
{
    char path[64];
    char line[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name may hold spaces and parentheses: fields follow the last ')'. */
    char *p = strrchr(line, ')');
    if (!p)
        return -1;
    unsigned long utime = 0;
    unsigned long stime = 0;
    /* state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    long tck = sysconf(_SC_CLK_TCK);
    double hz = (double)(tck > 0 ? tck : 100);
    *sys_s = (double)stime / hz;
    return (double)utime / hz;
}

double
bench_servers_cpu_s(void)
{
    double sum = 0;
    bool any = false;
    for (int i = 0; i < bench_opt.n_pids; i++) {
        double v = bench_proc_cpu_s(bench_opt.pids[i]);
        if (v >= 0) {
            sum += v;
            any = true;
        }
    }
    return any ? sum : -1;
}

double
bench_servers_cpu_split(double *sys_s)
{
    double user = 0;
    bool any = false;
    *sys_s = 0;
    for (int i = 0; i < bench_opt.n_pids; i++) {
        double sys = 0;
        double v = bench_proc_cpu_split(bench_opt.pids[i], &sys);
        if (v >= 0) {
            user += v;
            *sys_s += sys;
            any = true;
        }
    }
    return any ? user : -1;
}

long
bench_proc_rss_kib(pid_t pid)
{
    char path[64];
    char line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

double
bench_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void
bench_cpu_now(struct bench_cpu *c)
{
    c->server = bench_servers_cpu_s();
    c->user = bench_servers_cpu_split(&c->sys);
    c->self = bench_self_cpu_s();
}

struct bench_cpu_delta
bench_cpu_since(const struct bench_cpu *a, const struct bench_cpu *b)
{
    double ticks = (b->user - a->user) + (b->sys - a->sys);
    return (struct bench_cpu_delta){
        .server = a->server >= 0 && b->server >= 0 ? b->server - a->server : -1,
        .sys_share = ticks > 0 ? (b->sys - a->sys) / ticks : -1,
        .self = b->self - a->self,
    };
}

double
bench_loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

bool
bench_bitmap_test_set(struct bench_bitmap *b, uint64_t i)
{
    size_t w = (size_t)(i / 64);
    if (w >= b->n_words) {
        size_t n = b->n_words ? b->n_words : 64;
        while (n <= w)
            n *= 2;
        b->w = xrealloc(b->w, n * sizeof *b->w);
        memset(b->w + b->n_words, 0, (n - b->n_words) * sizeof *b->w);
        b->n_words = n;
    }
    uint64_t bit = (uint64_t)1 << (i % 64);
    bool was = (b->w[w] & bit) != 0;
    b->w[w] |= bit;
    return was;
}

void
bench_bitmap_free(struct bench_bitmap *b)
{
    free(b->w);
    b->w = NULL;
    b->n_words = 0;
}
