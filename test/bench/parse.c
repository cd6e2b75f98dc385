/* SPDX-License-Identifier: Apache-2.0 */
/* parse.c - `--scenario parse`: which way of reading the server's output is
 * cheaper for the generator, the minimal scanner (scan.c) or the server's own
 * expat stream parser with an element tree per stanza (core/xstream.c)? Both
 * read the same in-memory stream of message stanzas, shaped like the ones the
 * servers deliver, and extract the sequence number and timestamp from the
 * body. No network, no server. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/xml.h"
#include "core/xstream.h"

#define PARSE_STANZAS 20000
#define PARSE_FEED 16384

static const char parse_header[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='localhost' version='1.0'>";

static struct {
    uint64_t sum;
    uint64_t stanzas;
} P;

static void
parse_body_text(const char *p, size_t n)
{
    const char *b = scan_find(p, n, "pb:", 3);
    if (!b)
        return;
    char *end;
    P.sum += strtoull(b + 3, &end, 10);
    if (*end == ':')
        P.sum += strtoull(end + 1, NULL, 10);
    P.stanzas++;
}

static void
parse_scan(const char *data, size_t len)
{
    /* The bytes become available in socket-sized chunks, as they would. */
    size_t start = 0;
    size_t end = 0;
    while (end < len) {
        end = end + PARSE_FEED < len ? end + PARSE_FEED : len;
        for (;;) {
            struct scan_item it;
            start += scan_next(data + start, end - start, &it);
            if (it.kind == SCAN_MORE)
                break;
            if (it.kind == SCAN_ELEM && scan_name_is(&it, "message")) {
                const char *v;
                size_t vlen;
                if (scan_child_text(&it, "body", &v, &vlen))
                    parse_body_text(v, vlen);
            }
        }
    }
}

static void
xs_on_open(void *arg, const struct xstream_header *h)
{
    (void)arg;
    (void)h;
}

static void
xs_on_stanza(void *arg, struct xml_tree *tree)
{
    (void)arg;
    struct xml_node *body = xml_child(tree->root, NULL, "body");
    if (body) {
        const char *t = xml_text(tree, body);
        parse_body_text(t, strlen(t));
    }
    xml_tree_free(tree);
}

static void
xs_on_close(void *arg)
{
    (void)arg;
}

static void
xs_on_error(void *arg, enum xstream_error err, const char *detail)
{
    (void)arg;
    fprintf(stderr, "palisade-bench: xstream error %s: %s\n", xstream_error_condition(err),
            detail ? detail : "");
    exit(1);
}

static void
parse_xstream(struct xstream *x, const char *data, size_t len)
{
    xstream_restart(x);
    xstream_feed(x, parse_header, strlen(parse_header));
    for (size_t off = 0; off < len; off += PARSE_FEED) {
        size_t n = len - off < PARSE_FEED ? len - off : PARSE_FEED;
        xstream_feed(x, data + off, n);
    }
}

int
scenario_parse(void)
{
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < PARSE_STANZAS; i++) {
        buf_printf(&b,
                   "<message from='bench%05d@localhost/b%d' to='bench%05d@localhost/b%d' "
                   "type='chat' id='m%d'><body>pb:%d:%llu</body>%s</message>",
                   i % 1000, i % 1000, (i + 1) % 1000, (i + 1) % 1000, i, i,
                   (unsigned long long)(1000000000000ull + (unsigned long long)i),
                   bench_opt.label ? bench_opt.label : "");
    }
    const char *data = buf_head(&b);
    size_t len = buf_used(&b);
    int reps = bench_opt.n > 0 ? (int)bench_opt.n : 50;
    if (reps > 100000)
        reps = 100000;

    memset(&P, 0, sizeof P);
    uint64_t t0 = bench_now_ns();
    for (int r = 0; r < reps; r++)
        parse_scan(data, len);
    uint64_t t1 = bench_now_ns();
    uint64_t scan_stanzas = P.stanzas;
    uint64_t scan_sum = P.sum;

    struct xstream_limits lim = {262144, 64, 64};
    static const struct xstream_callbacks cb = {xs_on_open, xs_on_stanza, xs_on_close,
                                                xs_on_error};
    struct xstream *x = xstream_new(&lim, &cb, NULL);
    memset(&P, 0, sizeof P);
    uint64_t t2 = bench_now_ns();
    for (int r = 0; r < reps; r++)
        parse_xstream(x, data, len);
    uint64_t t3 = bench_now_ns();
    xstream_free(x);
    if (P.stanzas != scan_stanzas || P.sum != scan_sum) {
        fprintf(stderr, "palisade-bench: parse: the scanner and xstream disagree (%llu vs %llu)\n",
                (unsigned long long)scan_stanzas, (unsigned long long)P.stanzas);
        buf_free(&b);
        return 1;
    }
    double scan_ns = (double)(t1 - t0) / (double)scan_stanzas;
    double xs_ns = (double)(t3 - t2) / (double)P.stanzas;
    char line[512];
    bench_result_begin(line, sizeof line);
    printf("%s stanzas=%llu stanza_bytes=%.0f scan_ns=%.1f xstream_ns=%.1f "
           "scan_per_s=%.0f xstream_per_s=%.0f ratio=%.1f\n",
           line, (unsigned long long)scan_stanzas, (double)len / PARSE_STANZAS, scan_ns, xs_ns,
           1e9 / scan_ns, 1e9 / xs_ns, xs_ns / scan_ns);
    printf("parse: %d-byte message stanzas: scanner %.0f ns each (%.2f M/s), xstream + tree "
           "%.0f ns each (%.2f M/s): the scanner is %.1fx cheaper\n",
           (int)(len / PARSE_STANZAS), scan_ns, 1e3 / scan_ns, xs_ns, 1e3 / xs_ns,
           xs_ns / scan_ns);
    buf_free(&b);
    return 0;
}
