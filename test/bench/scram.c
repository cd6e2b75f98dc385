/* SPDX-License-Identifier: Apache-2.0 */
/* scram.c - a SCRAM-SHA-256 client (RFC 5802, RFC 7677) on OpenSSL, without
 * channel binding ("n,,"). The salted password is cached by (salt, iteration
 * count) as real clients do, so that after one login per account the generator
 * spends microseconds, not a 4096-round PBKDF2, on each login and the server's
 * cost is what gets measured. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/mem.h"

#define SCRAM_HASH_LEN 32
#define SCRAM_CACHE_MIN 1024

struct scram {
    char *user;
    char *password;
    char nonce[33];
    char *client_first;   /* "n,,n=...,r=..." */
    char *client_final;
    unsigned char server_key[SCRAM_HASH_LEN];
    char *auth_message;
};

/* Open addressing over salt + iterations. */
struct scram_cache_entry {
    char *salt;
    unsigned iters;
    unsigned char salted[SCRAM_HASH_LEN];
};

static struct {
    struct scram_cache_entry *v;
    size_t cap;
    size_t n;
} cache;

static uint64_t
scram_hash(const char *s, unsigned iters)
{
    uint64_t h = 1469598103934665603u ^ iters;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct scram_cache_entry *
scram_cache_find(const char *salt, unsigned iters, bool insert)
{
    if (insert && (cache.n + 1) * 2 > cache.cap) {
        size_t ncap = cache.cap ? cache.cap * 2 : SCRAM_CACHE_MIN;
        struct scram_cache_entry *nv = xcalloc(ncap, sizeof *nv);
        for (size_t i = 0; i < cache.cap; i++) {
            if (!cache.v[i].salt)
                continue;
            size_t k = scram_hash(cache.v[i].salt, cache.v[i].iters) & (ncap - 1);
            while (nv[k].salt)
                k = (k + 1) & (ncap - 1);
            nv[k] = cache.v[i];
        }
        free(cache.v);
        cache.v = nv;
        cache.cap = ncap;
    }
    if (cache.cap == 0)
        return NULL;
    size_t k = scram_hash(salt, iters) & (cache.cap - 1);
    while (cache.v[k].salt) {
        if (cache.v[k].iters == iters && strcmp(cache.v[k].salt, salt) == 0)
            return &cache.v[k];
        k = (k + 1) & (cache.cap - 1);
    }
    if (!insert)
        return NULL;
    cache.v[k].salt = xstrdup(salt);
    cache.v[k].iters = iters;
    cache.n++;
    return &cache.v[k];
}

size_t
scram_cache_size(void)
{
    return cache.n;
}

static bool cache_dirty;

/* Lines "iterations salt-base64 salted-password-hex". */
int
scram_cache_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned iters;
        char salt[256];
        char hex[2 * SCRAM_HASH_LEN + 1];
        if (sscanf(line, "%u %255s %64s", &iters, salt, hex) != 3 ||
            strlen(hex) != 2 * SCRAM_HASH_LEN)
            continue;
        struct scram_cache_entry *e = scram_cache_find(salt, iters, true);
        for (int i = 0; i < SCRAM_HASH_LEN; i++) {
            unsigned v;
            sscanf(hex + 2 * i, "%2x", &v);
            e->salted[i] = (unsigned char)v;
        }
        n++;
    }
    fclose(f);
    return n;
}

int
scram_cache_save(const char *path)
{
    if (!cache_dirty)
        return 0;
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(tmp);
        return -1;
    }
    for (size_t i = 0; i < cache.cap; i++) {
        if (!cache.v[i].salt)
            continue;
        fprintf(f, "%u %s ", cache.v[i].iters, cache.v[i].salt);
        for (int k = 0; k < SCRAM_HASH_LEN; k++)
            fprintf(f, "%02x", cache.v[i].salted[k]);
        fputc('\n', f);
    }
    int rc = fclose(f) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    free(tmp);
    return rc;
}

size_t
bench_b64_encode(const void *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

long
bench_b64_decode(const char *in, size_t n, unsigned char *out)
{
    if (n % 4 != 0)
        return -1;
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (n >= 1 && in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    return len;
}

struct scram *
scram_new(const char *user, const char *password)
{
    struct scram *s = xcalloc(1, sizeof *s);
    unsigned char r[16];
    s->user = xstrdup(user);
    s->password = xstrdup(password);
    RAND_bytes(r, sizeof r);
    for (int i = 0; i < 16; i++)
        snprintf(s->nonce + 2 * i, 3, "%02x", r[i]);
    return s;
}

void
scram_free(struct scram *s)
{
    if (!s)
        return;
    free(s->user);
    free(s->password);
    free(s->client_first);
    free(s->client_final);
    free(s->auth_message);
    free(s);
}

const char *
scram_client_first(struct scram *s)
{
    /* Bench user names hold neither ',' nor '=': no escaping needed. */
    free(s->client_first);
    s->client_first = xasprintf("n,,n=%s,r=%s", s->user, s->nonce);
    return s->client_first;
}

/* Finds "k=" at the start of an attribute of a comma-separated message. */
static bool
scram_attr(const char *msg, size_t len, char k, const char **v, size_t *vlen)
{
    size_t i = 0;
    while (i + 1 < len) {
        size_t e = i;
        while (e < len && msg[e] != ',')
            e++;
        if (msg[i] == k && msg[i + 1] == '=') {
            *v = msg + i + 2;
            *vlen = e - i - 2;
            return true;
        }
        i = e + 1;
    }
    return false;
}

static void
scram_hmac(const unsigned char *key, const void *data, size_t len, unsigned char *out)
{
    unsigned int olen = SCRAM_HASH_LEN;
    HMAC(EVP_sha256(), key, SCRAM_HASH_LEN, data, len, out, &olen);
}

const char *
scram_client_final(struct scram *s, const char *server_first, size_t len)
{
    const char *r;
    const char *salt64;
    const char *it;
    size_t rlen;
    size_t slen;
    size_t ilen;
    if (!scram_attr(server_first, len, 'r', &r, &rlen) ||
        !scram_attr(server_first, len, 's', &salt64, &slen) ||
        !scram_attr(server_first, len, 'i', &it, &ilen) || rlen < strlen(s->nonce) ||
        memcmp(r, s->nonce, strlen(s->nonce)) != 0 || ilen == 0 || ilen > 9)
        return NULL;
    char num[16];
    memcpy(num, it, ilen);
    num[ilen] = '\0';
    unsigned iters = (unsigned)strtoul(num, NULL, 10);
    if (iters == 0)
        return NULL;
    char *salt_str = xstrndup(salt64, slen);
    struct scram_cache_entry *ce = scram_cache_find(salt_str, iters, false);
    unsigned char salted[SCRAM_HASH_LEN];
    if (ce) {
        memcpy(salted, ce->salted, sizeof salted);
    } else {
        unsigned char *salt = xmalloc(slen + 4);
        long sl = bench_b64_decode(salt64, slen, salt);
        if (sl < 0 || PKCS5_PBKDF2_HMAC(s->password, (int)strlen(s->password), salt, (int)sl,
                                        (int)iters, EVP_sha256(), sizeof salted, salted) != 1) {
            free(salt);
            free(salt_str);
            return NULL;
        }
        free(salt);
        ce = scram_cache_find(salt_str, iters, true);
        memcpy(ce->salted, salted, sizeof salted);
        cache_dirty = true;
    }
    free(salt_str);

    unsigned char client_key[SCRAM_HASH_LEN];
    unsigned char stored_key[SCRAM_HASH_LEN];
    unsigned char sig[SCRAM_HASH_LEN];
    unsigned char proof[SCRAM_HASH_LEN];
    scram_hmac(salted, "Client Key", 10, client_key);
    SHA256(client_key, sizeof client_key, stored_key);
    scram_hmac(salted, "Server Key", 10, s->server_key);
    /* client-final-message-without-proof: "c=biws" is base64("n,,"). */
    char *without_proof = xasprintf("c=biws,r=%.*s", (int)rlen, r);
    free(s->auth_message);
    s->auth_message = xasprintf("%s,%.*s,%s", s->client_first + 3, (int)len, server_first,
                                without_proof);
    scram_hmac(stored_key, s->auth_message, strlen(s->auth_message), sig);
    for (int i = 0; i < SCRAM_HASH_LEN; i++)
        proof[i] = client_key[i] ^ sig[i];
    char proof64[64];
    bench_b64_encode(proof, sizeof proof, proof64);
    free(s->client_final);
    s->client_final = xasprintf("%s,p=%s", without_proof, proof64);
    free(without_proof);
    return s->client_final;
}

bool
scram_server_final_ok(struct scram *s, const char *msg, size_t len)
{
    const char *v;
    size_t vlen;
    if (!s->auth_message || !scram_attr(msg, len, 'v', &v, &vlen))
        return false;
    unsigned char sig[SCRAM_HASH_LEN];
    char sig64[64];
    scram_hmac(s->server_key, s->auth_message, strlen(s->auth_message), sig);
    size_t n = bench_b64_encode(sig, sizeof sig, sig64);
    return n == vlen && memcmp(sig64, v, n) == 0;
}
