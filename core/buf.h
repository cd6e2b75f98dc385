/* SPDX-License-Identifier: Apache-2.0 */
/* buf.h - growable byte buffers, and refcounted immutable chunks that several
 * connections can queue without copying (serialize once, fan out). */
#ifndef PALISADE_BUF_H
#define PALISADE_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* Bytes live in data[off .. len). Zero-initialise or buf_init() before use. */
struct buf {
    char *data;
    size_t off;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);       /* releases memory; b is then empty and reusable */
void buf_reset(struct buf *b);      /* empties, keeps capacity */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends s with XML escaping: & < > always; " ' too when is_attr. */
void buf_append_xml_escaped(struct buf *b, const char *s, size_t n, int is_attr);
static inline size_t
buf_used(const struct buf *b)
{
    return b->len - b->off;
}
static inline const char *
buf_head(const struct buf *b)
{
    return b->data + b->off;
}
/* Drops n bytes from the head (n <= buf_used). */
void buf_consume(struct buf *b, size_t n);
/* Ensures room for n more bytes after len; returns a pointer to write at. Caller
 * then calls buf_commit(b, written). */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
/* A NUL-terminated copy of the used bytes; caller frees. */
char *buf_strdup(const struct buf *b);

/* A refcounted immutable byte string. */
struct buf_chunk {
    unsigned refs;
    size_t len;
    char data[]; /* len bytes, NUL-terminated for convenience */
};
/* A new chunk with refs = 1 holding a copy of p[0..n). */
struct buf_chunk *buf_chunk_new(const void *p, size_t n);
/* Takes the bytes of b into a new chunk (refs = 1) and empties b. */
struct buf_chunk *buf_chunk_from_buf(struct buf *b);
struct buf_chunk *buf_chunk_ref(struct buf_chunk *c);
void buf_chunk_unref(struct buf_chunk *c); /* NULL is fine */

#endif
