/* SPDX-License-Identifier: Apache-2.0 */
/* scram.c - SCRAM secrets (RFC 5802, RFC 7677) in the RFC 5803 text form that
 * Cyrus SASL's SCRAM plugin reads as authPassword:
 *   SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>
 * palisadectl computes them when it sets a password; the node checks PLAIN
 * passwords against them when the directory cannot be reached. Passwords are
 * SASLprep'ed as stored strings (RFC 5802 section 2.2) and every intermediate
 * key is wiped. */
#include "directory/directory.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stringprep.h>

#include "core/mem.h"

#define SCRAM_SALT_DEFAULT 16
#define SCRAM_MAX_ITER 1000000u /* PBKDF2 runs on the loop in dir_scram_verify */
#define SCRAM_MAX_SALT 256

struct scram_hash {
    const char *name; /* "SHA-256" */
    const char *mech; /* "SCRAM-SHA-256" */
    const EVP_MD *(*md)(void);
    size_t len;
};

static const struct scram_hash scram_hashes[] = {
    {"SHA-1", "SCRAM-SHA-1", EVP_sha1, 20},
    {"SHA-256", "SCRAM-SHA-256", EVP_sha256, 32},
};

static const struct scram_hash *
scram_hash_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof scram_hashes / sizeof scram_hashes[0]; i++)
        if (strcmp(scram_hashes[i].name, name) == 0)
            return &scram_hashes[i];
    return NULL;
}

static const struct scram_hash *
scram_hash_by_mech(const char *mech, size_t len)
{
    for (size_t i = 0; i < sizeof scram_hashes / sizeof scram_hashes[0]; i++)
        if (strlen(scram_hashes[i].mech) == len && memcmp(scram_hashes[i].mech, mech, len) == 0)
            return &scram_hashes[i];
    return NULL;
}

/* SASLprep as a stored string; NULL when the password has prohibited or
 * unassigned code points. Caller wipes and frees. */
static char *
scram_normalize(const char *password)
{
    char *out = NULL;
    if (stringprep_profile(password, &out, "SASLprep", STRINGPREP_NO_UNASSIGNED) != STRINGPREP_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static void
scram_free_secret(char *p)
{
    if (p) {
        OPENSSL_cleanse(p, strlen(p));
        free(p);
    }
}

/* StoredKey and ServerKey from a normalised password. */
static bool
scram_keys(const struct scram_hash *h, const char *norm, const unsigned char *salt, size_t salt_len,
           unsigned iter, unsigned char *stored, unsigned char *server)
{
    unsigned char salted[EVP_MAX_MD_SIZE];
    unsigned char client[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    bool ok = false;

    if (PKCS5_PBKDF2_HMAC(norm, (int)strlen(norm), salt, (int)salt_len, (int)iter, h->md(),
                          (int)h->len, salted) != 1)
        goto out;
    if (!HMAC(h->md(), salted, (int)h->len, (const unsigned char *)"Client Key", 10, client, &len))
        goto out;
    if (EVP_Digest(client, h->len, stored, NULL, h->md(), NULL) != 1)
        goto out;
    if (!HMAC(h->md(), salted, (int)h->len, (const unsigned char *)"Server Key", 10, server, &len))
        goto out;
    ok = true;
out:
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client, sizeof client);
    return ok;
}

static char *
scram_b64(const unsigned char *p, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    return out;
}

/* Strict base64 decode of s[0..len) into out (room for len bytes); returns the
 * decoded length or -1. */
static int
scram_unb64(const char *s, size_t len, unsigned char *out)
{
    if (len == 0 || len % 4 != 0)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (n < 0)
        return -1;
    if (s[len - 1] == '=')
        n--;
    if (s[len - 2] == '=')
        n--;
    return n;
}

char *
dir_scram_secret(const char *hash, const char *password, const unsigned char *salt, size_t salt_len,
                 unsigned iterations)
{
    const struct scram_hash *h = hash ? scram_hash_by_name(hash) : NULL;
    unsigned char rnd[SCRAM_SALT_DEFAULT];
    unsigned char stored[EVP_MAX_MD_SIZE];
    unsigned char server[EVP_MAX_MD_SIZE];
    char *norm = NULL;
    char *out = NULL;

    if (!h || !password || iterations == 0 || iterations > SCRAM_MAX_ITER)
        return NULL;
    if (!salt) {
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            return NULL;
        salt = rnd;
        salt_len = sizeof rnd;
    }
    if (salt_len == 0 || salt_len > SCRAM_MAX_SALT)
        return NULL;
    norm = scram_normalize(password);
    if (!norm)
        return NULL;
    if (scram_keys(h, norm, salt, salt_len, iterations, stored, server)) {
        char *s64 = scram_b64(salt, salt_len);
        char *k64 = scram_b64(stored, h->len);
        char *v64 = scram_b64(server, h->len);
        out = xasprintf("%s$%u:%s$%s:%s", h->mech, iterations, s64, k64, v64);
        free(s64);
        free(k64);
        free(v64);
    }
    scram_free_secret(norm);
    OPENSSL_cleanse(stored, sizeof stored);
    OPENSSL_cleanse(server, sizeof server);
    return out;
}

/* Checks one RFC 5803 value against a normalised password. */
static bool
scram_verify_one(const char *secret, const char *norm)
{
    const char *d1 = strchr(secret, '$');
    const char *colon1 = d1 ? strchr(d1 + 1, ':') : NULL;
    const char *d2 = colon1 ? strchr(colon1 + 1, '$') : NULL;
    const char *colon2 = d2 ? strchr(d2 + 1, ':') : NULL;
    if (!colon2)
        return false;
    const struct scram_hash *h = scram_hash_by_mech(secret, (size_t)(d1 - secret));
    if (!h)
        return false;

    char *end = NULL;
    unsigned long iter = strtoul(d1 + 1, &end, 10);
    if (end != colon1 || iter == 0 || iter > SCRAM_MAX_ITER)
        return false;

    unsigned char salt[SCRAM_MAX_SALT * 3 / 4 + 4];
    size_t salt_b64 = (size_t)(d2 - colon1 - 1);
    if (salt_b64 > SCRAM_MAX_SALT)
        return false;
    int salt_len = scram_unb64(colon1 + 1, salt_b64, salt);
    unsigned char want[EVP_MAX_MD_SIZE * 2];
    size_t stored_b64 = (size_t)(colon2 - d2 - 1);
    if (salt_len <= 0 || stored_b64 > sizeof want)
        return false;
    int want_len = scram_unb64(d2 + 1, stored_b64, want);
    if (want_len != (int)h->len)
        return false;

    unsigned char stored[EVP_MAX_MD_SIZE];
    unsigned char server[EVP_MAX_MD_SIZE];
    bool ok = scram_keys(h, norm, salt, (size_t)salt_len, (unsigned)iter, stored, server) &&
              CRYPTO_memcmp(stored, want, h->len) == 0;
    OPENSSL_cleanse(stored, sizeof stored);
    OPENSSL_cleanse(server, sizeof server);
    return ok;
}

bool
dir_scram_verify(const char *const *secrets, size_t n, const char *password)
{
    if (!secrets || !password || n == 0)
        return false;
    char *norm = scram_normalize(password);
    if (!norm)
        return false;
    bool ok = false;
    /* Only the strongest hash present decides: a stale SHA-1 secret left
     * behind by some other tool must not keep an old password working. */
    for (size_t k = sizeof scram_hashes / sizeof scram_hashes[0]; k-- > 0;) {
        const char *mech = scram_hashes[k].mech;
        size_t ml = strlen(mech);
        bool seen = false;
        for (size_t i = 0; i < n && !ok; i++) {
            if (secrets[i] && strncmp(secrets[i], mech, ml) == 0 && secrets[i][ml] == '$') {
                seen = true;
                ok = scram_verify_one(secrets[i], norm);
            }
        }
        if (seen)
            break;
    }
    scram_free_secret(norm);
    return ok;
}
