/* SPDX-License-Identifier: Apache-2.0 */
/* tls.h - the node's server TLS context (OpenSSL 3): TLS 1.2+, certificate
 * and key from PEM files or a PKCS#12 bundle, and the channel-binding data
 * SASL -PLUS mechanisms need (RFC 9266 tls-exporter, RFC 5929 tls-unique). */
#ifndef PALISADE_TLS_H
#define PALISADE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct node_settings;

struct tls_ctx {
    SSL_CTX *ctx;
};

/* Builds the context from settings. PAL_OK and *out, or PAL_ETLS/PAL_ECONFIG
 * with a message naming the file in err. */
int tls_ctx_new(const struct node_settings *cfg, struct tls_ctx **out, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *t);

/* Channel-binding data of an established connection for type "tls-exporter"
 * or "tls-unique". Writes up to cap bytes to out and returns the length, or 0
 * when that type is not valid on this connection (tls-unique on TLS 1.3,
 * tls-exporter on TLS 1.2 without extended master secret). */
size_t tls_channel_binding(SSL *ssl, const char *type, unsigned char *out, size_t cap);
/* The binding types valid on this connection, best first (NULL-terminated,
 * static strings). */
const char *const *tls_binding_types(SSL *ssl);

#endif
