/* SPDX-License-Identifier: Apache-2.0 */
/* c2s.h - client-to-server streams (RFC 6120): listeners on the STARTTLS and
 * direct-TLS (XEP-0368) ports, the stream state machine (header, STARTTLS,
 * SASL, resource binding), limits and stream errors. A bound stream owns one
 * session (sess.h) and hands its stanzas to the router. */
#ifndef PALISADE_C2S_H
#define PALISADE_C2S_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct c2s;
struct stanza;

/* Opens every configured c2s listener. PAL_OK, or an error with err filled. */
int c2s_listen(struct server *srv, char *err, size_t errlen);
/* Closes the listeners (no new clients) and sends every stream
 * <system-shutdown/>. */
void c2s_shutdown(struct server *srv);
/* Number of open client connections. */
size_t c2s_count(const struct server *srv);

/* Queues a stanza on the stream (serialized once; the chunk is shared). */
void c2s_send_stanza(struct c2s *c, struct stanza *st);
/* Ends the stream with an RFC 6120 stream error (condition name, e.g.
 * "conflict") and closes it after the output is written. */
void c2s_stream_error(struct c2s *c, const char *cond, const char *text);
/* Ends every stream of a bare JID (an account disabled or removed). */
void c2s_kick_user(struct server *srv, const char *bare_jid, const char *cond);

#endif
