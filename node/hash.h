/* SPDX-License-Identifier: Apache-2.0 */
/* hash.h - a small string-keyed hash table (separate chaining, FNV-1a, grows at
 * load factor 1). node/-private: the session table indexes by full and by bare
 * JID with it. Keys are copied; values are borrowed pointers the caller owns. */
#ifndef PALISADE_NODE_HASH_H
#define PALISADE_NODE_HASH_H

#include <stddef.h>

struct hash;

struct hash *hash_new(void);
/* Frees the table and its key copies, not the values; NULL is fine. */
void hash_free(struct hash *h);

/* The value stored under key, or NULL. */
void *hash_get(const struct hash *h, const char *key);
/* Stores value (not NULL) under key (copied). Returns the value it replaced, or NULL. */
void *hash_put(struct hash *h, const char *key, void *value);
/* Removes key. Returns the value it held, or NULL if absent. */
void *hash_del(struct hash *h, const char *key);
size_t hash_count(const struct hash *h);
/* A snapshot of every value (caller frees the array), *n of them. */
void **hash_values(const struct hash *h, size_t *n);

#endif
