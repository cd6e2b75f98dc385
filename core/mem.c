/* SPDX-License-Identifier: Apache-2.0 */
/* mem.c - allocation wrappers that abort on out-of-memory, and arenas. Every
 * element tree (one per stanza) lives in an arena, so parsing a stanza costs a
 * handful of mallocs and freeing it costs one walk over a short block list. */
#include "mem.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK 1024
#define ARENA_MAX_BLOCK (64 * 1024)
#define ARENA_SMALL_MAX 256 /* never worth a block of its own */

static void oom(size_t n) __attribute__((noreturn));

static void
oom(size_t n)
{
    /* No logging machinery here: it may need memory itself. */
    fprintf(stderr, "palisade: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        oom(n);
    return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
    void *p;

    if (size != 0 && nmemb > SIZE_MAX / size)
        oom(SIZE_MAX);
    p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        oom(nmemb * size);
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        oom(n);
    return q;
}

char *
xstrdup(const char *s)
{
    return xmemdup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);

    return xmemdup(s, len);
}

void *
xmemdup(const void *p, size_t n)
{
    char *q;

    if (n == SIZE_MAX)
        oom(n);
    q = xmalloc(n + 1);
    if (n > 0)
        memcpy(q, p, n);
    q[n] = '\0';
    return q;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "palisade: xasprintf: bad format '%s'\n", fmt);
        abort();
    }
    s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/*
 * Arenas. The arena header and its first block share one malloc. Small
 * allocations bump through the current (head) block; when it is full a new,
 * larger block becomes the head. An allocation of over half the next block's
 * size gets a block of its own, linked behind the head.
 */

struct arena_block {
    struct arena_block *next;
    size_t cap;  /* usable bytes in data */
    size_t used; /* bytes handed out */
    alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
    struct arena_block *head;  /* current bump block; the list holds all blocks */
    size_t next_block;         /* capacity of the next ordinary block */
    size_t total;              /* bytes malloc'ed, for arena_size() */
    struct arena_block *first; /* shares the arena's own malloc */
};

_Static_assert(((sizeof(struct arena) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1)) +
                       sizeof(struct arena_block) ==
                   ARENA_HEADER_BYTES,
               "ARENA_HEADER_BYTES in mem.h");

static size_t
align_up(size_t n)
{
    return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

struct arena *
arena_new(size_t block_size)
{
    struct arena *a;
    size_t hdr = align_up(sizeof(*a));
    size_t total;

    if (block_size == 0)
        block_size = ARENA_DEFAULT_BLOCK;
    if (block_size > SIZE_MAX / 4)
        oom(block_size);
    block_size = align_up(block_size);
    total = hdr + sizeof(struct arena_block) + block_size;
    a = xmalloc(total);
    a->first = (struct arena_block *)((char *)a + hdr);
    a->first->next = NULL;
    a->first->cap = block_size;
    a->first->used = 0;
    a->head = a->first;
    a->next_block = block_size * 2 < ARENA_MAX_BLOCK ? block_size * 2 : block_size;
    a->total = total;
    return a;
}

void
arena_free(struct arena *a)
{
    struct arena_block *b;
    struct arena_block *next;

    if (a == NULL)
        return;
    for (b = a->head; b != NULL; b = next) {
        next = b->next;
        if (b != a->first)
            free(b);
    }
    free(a);
}

static struct arena_block *
block_new(struct arena *a, size_t cap)
{
    struct arena_block *b;

    if (cap > SIZE_MAX - sizeof(*b))
        oom(cap);
    b = xmalloc(sizeof(*b) + cap);
    b->cap = cap;
    b->used = 0;
    a->total += sizeof(*b) + cap;
    return b;
}

void *
arena_alloc(struct arena *a, size_t n)
{
    struct arena_block *b = a->head;
    void *p;

    if (n > SIZE_MAX - ARENA_ALIGN)
        oom(n);
    n = align_up(n ? n : 1);
    if (b->cap - b->used >= n) {
        p = b->data + b->used;
        b->used += n;
        return p;
    }
    if (n > a->next_block / 2 && n > ARENA_SMALL_MAX) {
        /* Big: its own block, behind the head, which keeps its free space. */
        b = block_new(a, n);
        b->used = n;
        b->next = a->head->next;
        a->head->next = b;
        return b->data;
    }
    b = block_new(a, n > a->next_block ? n : a->next_block);
    b->next = a->head;
    a->head = b;
    if (a->next_block < ARENA_MAX_BLOCK)
        a->next_block *= 2;
    b->used = n;
    return b->data;
}

char *
arena_strdup(struct arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = arena_alloc(a, n + 1);

    memcpy(p, s, n + 1);
    return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = arena_alloc(a, len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

size_t
arena_size(const struct arena *a)
{
    return a != NULL ? a->total : 0;
}

size_t
arena_used(const struct arena *a)
{
    size_t n = 0;

    for (const struct arena_block *b = a != NULL ? a->head : NULL; b != NULL; b = b->next)
        n += b->used;
    return n;
}
