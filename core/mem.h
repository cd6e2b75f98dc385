/* SPDX-License-Identifier: Apache-2.0 */
/* mem.h - allocation that aborts on out-of-memory (the x prefix), and arenas:
 * bump allocators freed in one step, used by element trees. */
#ifndef PALISADE_MEM_H
#define PALISADE_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Copies n bytes and appends a NUL. */
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct arena;
/* arena_new()'s own bytes in front of the first block: arena_new(n) is one
 * malloc of ARENA_HEADER_BYTES + n. */
#define ARENA_HEADER_BYTES 64
/* An arena whose first block holds block_size bytes (later blocks grow as needed). */
struct arena *arena_new(size_t block_size);
/* Frees every allocation of the arena and the arena; NULL is fine. */
void arena_free(struct arena *a);
/* Memory aligned for any type; lives until arena_free(). */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Bytes currently held by the arena (for memory accounting). */
size_t arena_size(const struct arena *a);
/* Bytes handed out by arena_alloc() (what a copy of the contents needs at most). */
size_t arena_used(const struct arena *a);

#endif
