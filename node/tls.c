/* SPDX-License-Identifier: Apache-2.0 */
/* tls.c - server TLS context and channel bindings. Connections themselves
 * (handshake, reads, writes) live in conn.c. */
#include "node/tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "node/settings.h"

static void
ssl_error_text(char *err, size_t errlen, const char *what, const char *path)
{
    char detail[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, detail, sizeof detail);
    snprintf(err, errlen, "%s: %s: %s", path, what, e ? detail : "unknown error");
    ERR_clear_error();
}

static int
load_pkcs12(SSL_CTX *ctx, const struct node_settings *cfg, char *err, size_t errlen)
{
    int rc = PAL_ETLS;
    char *pass = NULL;
    PKCS12 *p12 = NULL;
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    FILE *f = NULL;

    if (cfg->tls_pkcs12_password_file) {
        pass = config_read_secret(cfg->tls_pkcs12_password_file, err, errlen);
        if (!pass)
            return PAL_ECONFIG;
    }
    f = fopen(cfg->tls_pkcs12, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", cfg->tls_pkcs12, strerror(errno));
        goto out;
    }
    p12 = d2i_PKCS12_fp(f, NULL);
    if (!p12) {
        ssl_error_text(err, errlen, "not a PKCS#12 file", cfg->tls_pkcs12);
        goto out;
    }
    if (!PKCS12_parse(p12, pass ? pass : "", &pkey, &cert, &ca)) {
        ssl_error_text(err, errlen, "cannot decrypt PKCS#12 (wrong password or legacy cipher)",
                       cfg->tls_pkcs12);
        goto out;
    }
    if (!cert || !pkey) {
        snprintf(err, errlen, "%s: PKCS#12 holds no certificate and key", cfg->tls_pkcs12);
        goto out;
    }
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
        ssl_error_text(err, errlen, "certificate or key rejected", cfg->tls_pkcs12);
        goto out;
    }
    for (int i = 0; ca && i < sk_X509_num(ca); i++) {
        X509 *x = sk_X509_value(ca, i);
        if (SSL_CTX_add1_chain_cert(ctx, x) != 1) {
            ssl_error_text(err, errlen, "chain certificate rejected", cfg->tls_pkcs12);
            goto out;
        }
    }
    rc = PAL_OK;
out:
    if (f)
        fclose(f);
    if (pass) {
        OPENSSL_cleanse(pass, strlen(pass));
        free(pass);
    }
    sk_X509_pop_free(ca, X509_free);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    PKCS12_free(p12);
    return rc;
}

int
tls_ctx_new(const struct node_settings *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error_text(err, errlen, "SSL_CTX_new failed", "tls");
        return PAL_ETLS;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* One read(2) per burst of records, not a header read and a body read for
     * each (conn_read_tls asks SSL_has_pending, which counts read-ahead bytes). */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Idle sessions give their read/write buffers back (memory per session). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (cfg->tls_resumption) {
        /* One TLS 1.3 ticket (a client holds one connection), TLS 1.2 tickets,
         * and the session cache for TLS 1.2 session ids; this node's keys only. */
        SSL_CTX_set_num_tickets(ctx, 1);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"palisade-c2s", 12);
    } else {
        /* Every connection a full handshake: no tickets to encrypt and send (about
         * 70 us of CPU each per login), no sessions cached (docs/CONFIG.md). */
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    if (cfg->tls_ciphers && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
        ssl_error_text(err, errlen, "bad cipher list", "tls.ciphers");
        goto fail;
    }
    if (cfg->tls_pkcs12) {
        if (load_pkcs12(ctx, cfg, err, errlen) != PAL_OK)
            goto fail;
    } else {
        if (!cfg->tls_cert || !cfg->tls_key) {
            snprintf(err, errlen, "tls: set tls.cert and tls.key, or tls.pkcs12");
            goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
            ssl_error_text(err, errlen, "cannot load certificate chain", cfg->tls_cert);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
            ssl_error_text(err, errlen, "cannot load private key", cfg->tls_key);
            goto fail;
        }
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error_text(err, errlen, "private key does not match the certificate",
                       cfg->tls_pkcs12 ? cfg->tls_pkcs12 : cfg->tls_key);
        goto fail;
    }
    struct tls_ctx *t = xcalloc(1, sizeof *t);
    t->ctx = ctx;
    *out = t;
    return PAL_OK;
fail:
    SSL_CTX_free(ctx);
    return PAL_ETLS;
}

void
tls_ctx_free(struct tls_ctx *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

size_t
tls_channel_binding(SSL *ssl, const char *type, unsigned char *out, size_t cap)
{
    int version = SSL_version(ssl);
    if (strcmp(type, "tls-exporter") == 0) {
        /* RFC 9266: valid on TLS 1.3, and on 1.2 only with extended master secret. */
        if (version < TLS1_3_VERSION && SSL_get_extms_support(ssl) != 1)
            return 0;
        if (cap < 32)
            return 0;
        static const char label[] = "EXPORTER-Channel-Binding";
        if (SSL_export_keying_material(ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) != 1)
            return 0;
        return 32;
    }
    if (strcmp(type, "tls-unique") == 0) {
        /* RFC 5929, forbidden on TLS 1.3 (RFC 9266). The server's view: the
         * first Finished message is the client's on a full handshake, ours on a
         * resumed one. */
        if (version >= TLS1_3_VERSION)
            return 0;
        size_t n = SSL_session_reused(ssl) ? SSL_get_finished(ssl, out, cap)
                                           : SSL_get_peer_finished(ssl, out, cap);
        return n <= cap ? n : 0;
    }
    return 0;
}

const char *const *
tls_binding_types(SSL *ssl)
{
    static const char *const v13[] = {"tls-exporter", NULL};
    static const char *const v12_ems[] = {"tls-exporter", "tls-unique", NULL};
    static const char *const v12[] = {"tls-unique", NULL};
    if (SSL_version(ssl) >= TLS1_3_VERSION)
        return v13;
    return SSL_get_extms_support(ssl) == 1 ? v12_ems : v12;
}
