/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - palisade-bench: options and the scenario to run. See bench.h for
 * what the generator does and test/bench/README.md for how to use it; the
 * comparison with Prosody is test/bench/compare.sh. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/mem.h"

struct bench_opts bench_opt = {
    .scenario = "login",
    .server = "server",
    .host = "127.0.0.1",
    .port = 5222,
    .domain = "localhost",
    .prefix = "bench",
    .width = 5,
    .password = "bench-secret",
    .tls = BENCH_TLS_NONE,
    .mech = BENCH_MECH_SCRAM_SHA_256,
    .n = 1000,
    .concurrency = 50,
    .users = 0,
    .warmup = -1,
    .pairs = 50,
    .rooms = 10,
    .occupants = 20,
    .room_senders = 2,
    .rate = 0,
    .window = 0,
    .duration = 5,
    .warmup_s = 1,
    .hold = 2,
    .settle = 1,
};

void
bench_log(const char *fmt, ...)
{
    if (bench_opt.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("palisade-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: palisade-bench --scenario login|messages|labelled|muc|idle|parse [options]\n"
            "  --server NAME         name on the RESULT line (default server)\n"
            "  --host H --port P     the server's c2s address (default 127.0.0.1:5222)\n"
            "  --peer-port P         messages: the second session of each pair connects to P\n"
            "                        (another node of a cluster; default --port)\n"
            "  --domain D            XMPP domain (default localhost)\n"
            "  --tls none|starttls|direct   (default none)\n"
            "  --mech PLAIN|SCRAM-SHA-256   (default SCRAM-SHA-256)\n"
            "  --prefix P --width W --password PW   users P00000.. (default bench, 5, "
            "bench-secret)\n"
            "  --user-offset K       first user index (default 0)\n"
            "  --users U             login: distinct users to cycle through (default n)\n"
            "  -n N                  login: logins; idle: sessions; parse: repetitions\n"
            "  -c, --concurrency C   connections being set up at once (default 50)\n"
            "  --warmup N            login: untimed logins first (default: U for SCRAM without "
            "--scram-cache, else 0)\n"
            "  --pairs P             messages: sender/receiver pairs (default 50)\n"
            "  --one-way             messages: only the first session of a pair sends\n"
            "  --rooms R             muc: rooms (default 10)\n"
            "  --occupants M         muc: occupants per room (default 20)\n"
            "  --senders S           muc: occupants per room that send (default 2)\n"
            "  --room-prefix P       muc: rooms P0, P1, ... (default bench<pid>r)\n"
            "  --muc-domain D        muc: the service (default conference.<domain>)\n"
            "  --rate R              messages, muc: R msgs/s in total (default 0 = flat out)\n"
            "  --window W            messages in flight per direction, muc: per sender (default "
            "16 flat out, "
            "100 at a rate)\n"
            "  --duration S          messages, muc: seconds measured (default 5)\n"
            "  --warmup-s S          messages, muc: seconds of traffic before measuring "
            "(default 1)\n"
            "  --body-bytes B        messages: extra body text per message (default 0)\n"
            "  --label-file F        labelled: the <securitylabel/> XML to put in each message\n"
            "  --hold S              idle: seconds to keep the sessions after measuring "
            "(default 2)\n"
            "  --settle S            idle: seconds to wait before each memory reading "
            "(default 1)\n"
            "  --server-pid PID[,PID..]  server processes: CPU from /proc (summed), RSS of the "
            "first\n"
            "  --scram-cache FILE    keep SCRAM salted passwords in FILE between runs (no "
            "warm-up needed)\n"
            "  -q, --quiet           only the RESULT line and the summary\n");
}

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "palisade-bench: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096;
    size_t len = 0;
    char *s = xmalloc(cap);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            s = xrealloc(s, cap);
        }
    }
    fclose(f);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    s[len] = '\0';
    return s;
}

static void
raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static long
num_arg(const char *opt, const char *v, long min, long max)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        fprintf(stderr, "palisade-bench: %s wants a number from %ld to %ld, not '%s'\n", opt,
                min, max, v);
        exit(2);
    }
    return n;
}

static double
real_arg(const char *opt, const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (*end || d < 0) {
        fprintf(stderr, "palisade-bench: %s wants a non-negative number, not '%s'\n", opt, v);
        exit(2);
    }
    return d;
}

int
main(int argc, char **argv)
{
    enum { O_SERVER = 256, O_HOST, O_PORT, O_DOMAIN, O_TLS, O_MECH, O_PREFIX, O_WIDTH,
           O_PASSWORD, O_OFFSET, O_USERS, O_WARMUP, O_PAIRS, O_RATE, O_WINDOW, O_DURATION,
           O_WARMUP_S, O_BODY, O_LABEL, O_HOLD, O_SETTLE, O_PID, O_CACHE, O_PEER_PORT,
           O_ONE_WAY, O_ROOMS, O_OCCUPANTS, O_SENDERS, O_ROOM_PREFIX, O_MUC_DOMAIN };
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, 's'},
        {"server", required_argument, NULL, O_SERVER},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"peer-port", required_argument, NULL, O_PEER_PORT},
        {"one-way", no_argument, NULL, O_ONE_WAY},
        {"rooms", required_argument, NULL, O_ROOMS},
        {"occupants", required_argument, NULL, O_OCCUPANTS},
        {"senders", required_argument, NULL, O_SENDERS},
        {"room-prefix", required_argument, NULL, O_ROOM_PREFIX},
        {"muc-domain", required_argument, NULL, O_MUC_DOMAIN},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"tls", required_argument, NULL, O_TLS},
        {"mech", required_argument, NULL, O_MECH},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"width", required_argument, NULL, O_WIDTH},
        {"password", required_argument, NULL, O_PASSWORD},
        {"user-offset", required_argument, NULL, O_OFFSET},
        {"users", required_argument, NULL, O_USERS},
        {"concurrency", required_argument, NULL, 'c'},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"pairs", required_argument, NULL, O_PAIRS},
        {"rate", required_argument, NULL, O_RATE},
        {"window", required_argument, NULL, O_WINDOW},
        {"duration", required_argument, NULL, O_DURATION},
        {"warmup-s", required_argument, NULL, O_WARMUP_S},
        {"body-bytes", required_argument, NULL, O_BODY},
        {"label-file", required_argument, NULL, O_LABEL},
        {"hold", required_argument, NULL, O_HOLD},
        {"settle", required_argument, NULL, O_SETTLE},
        {"server-pid", required_argument, NULL, O_PID},
        {"scram-cache", required_argument, NULL, O_CACHE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "s:n:c:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': bench_opt.scenario = optarg; break;
        case O_SERVER: bench_opt.server = optarg; break;
        case O_HOST: bench_opt.host = optarg; break;
        case O_PORT: bench_opt.port = (int)num_arg("--port", optarg, 1, 65535); break;
        case O_PEER_PORT:
            bench_opt.peer_port = (int)num_arg("--peer-port", optarg, 1, 65535);
            break;
        case O_ONE_WAY: bench_opt.one_way = true; break;
        case O_ROOMS: bench_opt.rooms = (int)num_arg("--rooms", optarg, 1, 10000); break;
        case O_OCCUPANTS:
            bench_opt.occupants = (int)num_arg("--occupants", optarg, 1, 10000);
            break;
        case O_SENDERS: bench_opt.room_senders = (int)num_arg("--senders", optarg, 1, 10000); break;
        case O_ROOM_PREFIX: bench_opt.room_prefix = optarg; break;
        case O_MUC_DOMAIN: bench_opt.muc_domain = optarg; break;
        case O_DOMAIN: bench_opt.domain = optarg; break;
        case O_TLS:
            if (strcmp(optarg, "none") == 0)
                bench_opt.tls = BENCH_TLS_NONE;
            else if (strcmp(optarg, "starttls") == 0)
                bench_opt.tls = BENCH_TLS_STARTTLS;
            else if (strcmp(optarg, "direct") == 0)
                bench_opt.tls = BENCH_TLS_DIRECT;
            else {
                fprintf(stderr, "palisade-bench: --tls none|starttls|direct\n");
                return 2;
            }
            break;
        case O_MECH:
            if (strcmp(optarg, "PLAIN") == 0)
                bench_opt.mech = BENCH_MECH_PLAIN;
            else if (strcmp(optarg, "SCRAM-SHA-256") == 0)
                bench_opt.mech = BENCH_MECH_SCRAM_SHA_256;
            else {
                fprintf(stderr, "palisade-bench: --mech PLAIN|SCRAM-SHA-256\n");
                return 2;
            }
            break;
        case O_PREFIX: bench_opt.prefix = optarg; break;
        case O_WIDTH: bench_opt.width = (int)num_arg("--width", optarg, 1, 9); break;
        case O_PASSWORD: bench_opt.password = optarg; break;
        case O_OFFSET: bench_opt.user_offset = (int)num_arg("--user-offset", optarg, 0, 99999999); break;
        case O_USERS: bench_opt.users = (int)num_arg("--users", optarg, 1, 99999999); break;
        case 'n': bench_opt.n = num_arg("-n", optarg, 1, 100000000); break;
        case 'c': bench_opt.concurrency = (int)num_arg("--concurrency", optarg, 1, 100000); break;
        case O_WARMUP: bench_opt.warmup = num_arg("--warmup", optarg, 0, 100000000); break;
        case O_PAIRS: bench_opt.pairs = (int)num_arg("--pairs", optarg, 1, 50000); break;
        case O_RATE: bench_opt.rate = real_arg("--rate", optarg); break;
        case O_WINDOW: bench_opt.window = (int)num_arg("--window", optarg, 1, 1000000); break;
        case O_DURATION: bench_opt.duration = real_arg("--duration", optarg); break;
        case O_WARMUP_S: bench_opt.warmup_s = real_arg("--warmup-s", optarg); break;
        case O_BODY: bench_opt.body_bytes = (int)num_arg("--body-bytes", optarg, 0, 100000); break;
        case O_LABEL: bench_opt.label_file = optarg; break;
        case O_CACHE: bench_opt.scram_cache = optarg; break;
        case O_HOLD: bench_opt.hold = real_arg("--hold", optarg); break;
        case O_SETTLE: bench_opt.settle = real_arg("--settle", optarg); break;
        case O_PID: {
            char *save = NULL;
            char *copy = xstrdup(optarg);
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (bench_opt.n_pids == BENCH_MAX_PIDS) {
                    fprintf(stderr, "palisade-bench: at most %d --server-pid values\n",
                            BENCH_MAX_PIDS);
                    return 2;
                }
                bench_opt.pids[bench_opt.n_pids++] =
                    (pid_t)num_arg("--server-pid", t, 1, 1L << 30);
            }
            free(copy);
            break;
        }
        case 'q': bench_opt.quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (bench_opt.users == 0)
        bench_opt.users = (int)bench_opt.n;
    if (bench_opt.window == 0)
        bench_opt.window = bench_opt.rate > 0 ? 100 : 16;
    if (bench_opt.label_file)
        bench_opt.label = read_all(bench_opt.label_file);
    for (int i = 0; i < bench_opt.n_pids; i++) {
        if (bench_proc_cpu_s(bench_opt.pids[i]) < 0) {
            fprintf(stderr, "palisade-bench: no process %ld to measure\n",
                    (long)bench_opt.pids[i]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (bench_opt.scram_cache) {
        int n = scram_cache_load(bench_opt.scram_cache);
        bench_log("SCRAM cache %s: %d salted passwords", bench_opt.scram_cache, n);
    }
    int rc;
    if (strcmp(bench_opt.scenario, "login") == 0)
        rc = scenario_login();
    else if (strcmp(bench_opt.scenario, "messages") == 0)
        rc = scenario_messages(false);
    else if (strcmp(bench_opt.scenario, "labelled") == 0)
        rc = scenario_messages(true);
    else if (strcmp(bench_opt.scenario, "muc") == 0)
        rc = scenario_muc();
    else if (strcmp(bench_opt.scenario, "idle") == 0)
        rc = scenario_idle();
    else if (strcmp(bench_opt.scenario, "parse") == 0)
        rc = scenario_parse();
    else {
        fprintf(stderr, "palisade-bench: unknown scenario '%s'\n", bench_opt.scenario);
        usage(stderr);
        rc = 2;
    }
    if (bench_opt.scram_cache && scram_cache_save(bench_opt.scram_cache) != 0)
        fprintf(stderr, "palisade-bench: cannot write %s\n", bench_opt.scram_cache);
    free(bench_opt.label);
    return rc;
}
