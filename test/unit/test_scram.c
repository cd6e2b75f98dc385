/* SPDX-License-Identifier: Apache-2.0 */
/* test_scram.c - directory/scram.c against the RFC 5802 (SCRAM-SHA-1) and
 * RFC 7677 (SCRAM-SHA-256) examples: the secrets we store must let a server
 * reproduce the RFCs' ServerSignature and accept their ClientProof. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "directory/directory.h"

struct vector {
    const char *hash;
    const char *salt_b64;
    const char *auth_message; /* client-first-bare,server-first,client-final-without-proof */
    const char *proof_b64;
    const char *server_sig_b64;
    const char *secret; /* what we must store */
};

static const struct vector rfc5802 = {
    "SHA-1",
    "QSXCR+Q6sek8bf92",
    "n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
    "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
};

static const struct vector rfc7677 = {
    "SHA-256",
    "W22ZaJ0SNY7soEsUEjb6gQ==",
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
};

static size_t
unb64(const char *s, unsigned char *out)
{
    size_t len = strlen(s);
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    assert_true(n >= 0);
    if (len && s[len - 1] == '=')
        n--;
    if (len > 1 && s[len - 2] == '=')
        n--;
    return (size_t)n;
}

/* Plays the server side of the RFC exchange with the keys in secret. */
static void
check_exchange(const struct vector *v, const char *secret)
{
    const EVP_MD *md = strcmp(v->hash, "SHA-1") == 0 ? EVP_sha1() : EVP_sha256();
    size_t hl = (size_t)EVP_MD_get_size(md);
    const char *keys = strrchr(secret, '$') + 1;
    char stored_b64[128];
    const char *colon = strchr(keys, ':');
    memcpy(stored_b64, keys, (size_t)(colon - keys));
    stored_b64[colon - keys] = '\0';

    unsigned char stored[64], server[64], proof[64], want_sig[64];
    assert_int_equal(unb64(stored_b64, stored), hl);
    assert_int_equal(unb64(colon + 1, server), hl);
    assert_int_equal(unb64(v->proof_b64, proof), hl);
    assert_int_equal(unb64(v->server_sig_b64, want_sig), hl);

    unsigned char sig[64], client_sig[64], client_key[64], h[64];
    unsigned len;
    const unsigned char *am = (const unsigned char *)v->auth_message;
    HMAC(md, server, (int)hl, am, strlen(v->auth_message), sig, &len);
    assert_memory_equal(sig, want_sig, hl);
    HMAC(md, stored, (int)hl, am, strlen(v->auth_message), client_sig, &len);
    for (size_t i = 0; i < hl; i++)
        client_key[i] = proof[i] ^ client_sig[i];
    EVP_Digest(client_key, hl, h, NULL, md, NULL);
    assert_memory_equal(h, stored, hl);
}

static void
check_vector(const struct vector *v)
{
    unsigned char salt[64];
    size_t salt_len = unb64(v->salt_b64, salt);
    char *s = dir_scram_secret(v->hash, "pencil", salt, salt_len, 4096);
    assert_non_null(s);
    assert_string_equal(s, v->secret);
    check_exchange(v, s);
    free(s);
}

static void
test_scram_rfc5802_sha1_vector(void **state)
{
    (void)state;
    check_vector(&rfc5802);
}

static void
test_scram_rfc7677_sha256_vector(void **state)
{
    (void)state;
    check_vector(&rfc7677);
}

static void
test_scram_verify_accepts_right_password(void **state)
{
    (void)state;
    const char *secrets[] = {rfc5802.secret, rfc7677.secret};
    assert_true(dir_scram_verify(secrets, 2, "pencil"));
    assert_true(dir_scram_verify(&secrets[0], 1, "pencil"));
    assert_true(dir_scram_verify(&secrets[1], 1, "pencil"));
}

static void
test_scram_verify_rejects_wrong_password(void **state)
{
    (void)state;
    const char *secrets[] = {rfc5802.secret, rfc7677.secret};
    assert_false(dir_scram_verify(secrets, 2, "pencil2"));
    assert_false(dir_scram_verify(secrets, 2, ""));
    assert_false(dir_scram_verify(secrets, 0, "pencil"));
    assert_false(dir_scram_verify(NULL, 0, "pencil"));
}

/* A stale SHA-1 secret must not keep an old password working once a SHA-256
 * secret exists. */
static void
test_scram_verify_uses_strongest_hash_only(void **state)
{
    (void)state;
    char *new256 = dir_scram_secret("SHA-256", "new-password", NULL, 0, 4096);
    assert_non_null(new256);
    const char *secrets[] = {rfc5802.secret, new256};
    assert_false(dir_scram_verify(secrets, 2, "pencil"));
    assert_true(dir_scram_verify(secrets, 2, "new-password"));
    free(new256);
}

static void
test_scram_verify_rejects_malformed_secrets(void **state)
{
    (void)state;
    const char *bad[] = {
        "SCRAM-SHA-256",
        "SCRAM-SHA-256$4096",
        "SCRAM-SHA-256$x:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:a",
        "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:a",
        "SCRAM-SHA-256$4096:!!!$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:a",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$6dlGYMOdZcOPutkcNY8U2g7vK9Y=:a",
        "SCRAM-MD5$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:a",
        "SCRAM-SHA-256$99999999:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtb=:a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(dir_scram_verify(&bad[i], 1, "pencil"));
}

static void
test_scram_secret_random_salt_differs(void **state)
{
    (void)state;
    char *a = dir_scram_secret("SHA-256", "pencil", NULL, 0, 4096);
    char *b = dir_scram_secret("SHA-256", "pencil", NULL, 0, 4096);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(a, b);
    assert_true(strncmp(a, "SCRAM-SHA-256$4096:", 19) == 0);
    const char *pa = a;
    assert_true(dir_scram_verify(&pa, 1, "pencil"));
    free(a);
    free(b);
}

static void
test_scram_secret_rejects_bad_arguments(void **state)
{
    (void)state;
    assert_null(dir_scram_secret("SHA-512", "pencil", NULL, 0, 4096));
    assert_null(dir_scram_secret("SHA-256", "pencil", NULL, 0, 0));
    assert_null(dir_scram_secret("SHA-256", NULL, NULL, 0, 4096));
    /* U+0007 is prohibited by SASLprep */
    assert_null(dir_scram_secret("SHA-256", "pen\acil", NULL, 0, 4096));
}

/* SASLprep maps U+00A0 (no-break space) to a space: both spellings are one
 * password, as clients that SASLprep will send it. */
static void
test_scram_saslprep_applies(void **state)
{
    (void)state;
    char *s = dir_scram_secret("SHA-256", "pen\xc2\xa0" "cil", NULL, 0, 4096);
    assert_non_null(s);
    const char *ps = s;
    assert_true(dir_scram_verify(&ps, 1, "pen cil"));
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scram_rfc5802_sha1_vector),
        cmocka_unit_test(test_scram_rfc7677_sha256_vector),
        cmocka_unit_test(test_scram_verify_accepts_right_password),
        cmocka_unit_test(test_scram_verify_rejects_wrong_password),
        cmocka_unit_test(test_scram_verify_uses_strongest_hash_only),
        cmocka_unit_test(test_scram_verify_rejects_malformed_secrets),
        cmocka_unit_test(test_scram_secret_random_salt_differs),
        cmocka_unit_test(test_scram_secret_rejects_bad_arguments),
        cmocka_unit_test(test_scram_saslprep_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
