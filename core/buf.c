/* SPDX-License-Identifier: Apache-2.0 */
/* buf.c - growable byte buffers (connection input and output, serialisation) and
 * refcounted immutable chunks: a stanza is serialised once into a chunk and each
 * recipient's connection queues a reference. */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define BUF_MIN_CAP 256

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->off = 0;
    b->len = 0;
    b->cap = 0;
}

void
buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void
buf_reset(struct buf *b)
{
    b->off = 0;
    b->len = 0;
}

char *
buf_reserve(struct buf *b, size_t n)
{
    size_t used = b->len - b->off;
    size_t cap;

    if (b->cap - b->len >= n)
        return b->data + b->len;
    if (b->off > 0 && b->cap - used >= n && b->off >= used) {
        /* Enough room once the consumed head is dropped, and the move is
         * cheap compared with what was consumed. */
        memmove(b->data, b->data + b->off, used);
        b->off = 0;
        b->len = used;
        return b->data + b->len;
    }
    if (n > SIZE_MAX / 2 - b->len) {
        /* Let xrealloc report it. */
        cap = SIZE_MAX;
    } else {
        cap = b->cap ? b->cap : BUF_MIN_CAP;
        while (cap - b->len < n)
            cap *= 2;
    }
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return b->data + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
    b->len += n;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(buf_reserve(b, n), p, n);
    b->len += n;
}

void
buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    char tmp[256];
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_append(b, tmp, (size_t)n);
        return;
    }
    /* vsnprintf writes the NUL too; reserve it but do not commit it. */
    vsnprintf(buf_reserve(b, (size_t)n + 1), (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void
buf_append_xml_escaped(struct buf *b, const char *s, size_t n, int is_attr)
{
    size_t start = 0;
    size_t i;
    const char *rep;

    for (i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '\r':
            /* A literal CR would be normalised away by the next parser. */
            rep = "&#13;";
            break;
        case '"':
            rep = is_attr ? "&quot;" : NULL;
            break;
        case '\'':
            rep = is_attr ? "&apos;" : NULL;
            break;
        case '\n':
            /* Attribute value normalisation turns literal newlines and tabs
             * into spaces; character references survive it. */
            rep = is_attr ? "&#10;" : NULL;
            break;
        case '\t':
            rep = is_attr ? "&#9;" : NULL;
            break;
        default:
            rep = NULL;
            break;
        }
        if (rep == NULL)
            continue;
        buf_append(b, s + start, i - start);
        buf_append_str(b, rep);
        start = i + 1;
    }
    buf_append(b, s + start, n - start);
}

void
buf_consume(struct buf *b, size_t n)
{
    size_t used = b->len - b->off;

    if (n >= used) {
        b->off = 0;
        b->len = 0;
        return;
    }
    b->off += n;
}

char *
buf_strdup(const struct buf *b)
{
    return xmemdup(b->data != NULL ? b->data + b->off : "", b->len - b->off);
}

struct buf_chunk *
buf_chunk_new(const void *p, size_t n)
{
    struct buf_chunk *c;

    /* On overflow ask for SIZE_MAX: xmalloc aborts. */
    c = xmalloc(n > SIZE_MAX - sizeof(*c) - 1 ? SIZE_MAX : sizeof(*c) + n + 1);
    c->refs = 1;
    c->len = n;
    if (n > 0)
        memcpy(c->data, p, n);
    c->data[n] = '\0';
    return c;
}

struct buf_chunk *
buf_chunk_from_buf(struct buf *b)
{
    struct buf_chunk *c = buf_chunk_new(b->data != NULL ? b->data + b->off : "", b->len - b->off);

    buf_reset(b);
    return c;
}

struct buf_chunk *
buf_chunk_ref(struct buf_chunk *c)
{
    c->refs++;
    return c;
}

void
buf_chunk_unref(struct buf_chunk *c)
{
    if (c == NULL)
        return;
    if (--c->refs == 0)
        free(c);
}
