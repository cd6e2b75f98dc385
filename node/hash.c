/* SPDX-License-Identifier: Apache-2.0 */
/* hash.c - string-keyed chained hash table for the session table. Each entry is
 * one allocation holding its key; buckets double when entries outnumber them,
 * so lookups stay O(1) as sessions come and go. */
#include "node/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define HASH_MIN_BUCKETS 16

struct hash_entry {
    struct hash_entry *next;
    uint32_t code;
    void *value;
    char key[]; /* NUL-terminated copy */
};

struct hash {
    struct hash_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
};

/* Eight bytes a step (a byte-at-a-time FNV was a tenth of a labelled message:
 * its clearance and label keys are 200-character hex and base64 strings),
 * finished with MurmurHash3's 64-bit mix so the low bits pick buckets well. */
static uint32_t
hash_code(const char *s)
{
    size_t n = strlen(s);
    uint64_t h = 0x9e3779b97f4a7c15u ^ n;
    uint64_t w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s, n);
    h ^= w;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return (uint32_t)h;
}

struct hash *
hash_new(void)
{
    struct hash *h = xcalloc(1, sizeof *h);

    h->n_buckets = HASH_MIN_BUCKETS;
    h->buckets = xcalloc(h->n_buckets, sizeof *h->buckets);
    return h;
}

void
hash_free(struct hash *h)
{
    struct hash_entry *e;
    struct hash_entry *next;
    size_t i;

    if (h == NULL)
        return;
    for (i = 0; i < h->n_buckets; i++) {
        for (e = h->buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(h->buckets);
    free(h);
}

static struct hash_entry **
hash_slot(const struct hash *h, const char *key, uint32_t code)
{
    struct hash_entry **pe = &h->buckets[code & (h->n_buckets - 1)];

    for (; *pe != NULL; pe = &(*pe)->next)
        if ((*pe)->code == code && strcmp((*pe)->key, key) == 0)
            break;
    return pe;
}

static void
hash_grow(struct hash *h)
{
    size_t n = h->n_buckets * 2;
    struct hash_entry **b = xcalloc(n, sizeof *b);
    struct hash_entry *e;
    struct hash_entry *next;
    size_t i;

    for (i = 0; i < h->n_buckets; i++) {
        for (e = h->buckets[i]; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->code & (n - 1)];
            b[e->code & (n - 1)] = e;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->n_buckets = n;
}

void *
hash_get(const struct hash *h, const char *key)
{
    struct hash_entry *e = *hash_slot(h, key, hash_code(key));

    return e != NULL ? e->value : NULL;
}

void *
hash_put(struct hash *h, const char *key, void *value)
{
    uint32_t code = hash_code(key);
    struct hash_entry **pe = hash_slot(h, key, code);
    struct hash_entry *e;
    size_t len;
    void *old;

    if (*pe != NULL) {
        old = (*pe)->value;
        (*pe)->value = value;
        return old;
    }
    len = strlen(key);
    e = xmalloc(sizeof *e + len + 1);
    memcpy(e->key, key, len + 1);
    e->code = code;
    e->value = value;
    e->next = NULL;
    *pe = e;
    if (++h->count > h->n_buckets)
        hash_grow(h);
    return NULL;
}

void *
hash_del(struct hash *h, const char *key)
{
    struct hash_entry **pe = hash_slot(h, key, hash_code(key));
    struct hash_entry *e = *pe;
    void *old;

    if (e == NULL)
        return NULL;
    *pe = e->next;
    old = e->value;
    free(e);
    h->count--;
    return old;
}

size_t
hash_count(const struct hash *h)
{
    return h->count;
}

void **
hash_values(const struct hash *h, size_t *n)
{
    void **v = xcalloc(h->count ? h->count : 1, sizeof *v);
    size_t k = 0;

    for (size_t i = 0; i < h->n_buckets; i++)
        for (struct hash_entry *e = h->buckets[i]; e != NULL; e = e->next)
            v[k++] = e->value;
    *n = k;
    return v;
}
