/* SPDX-License-Identifier: Apache-2.0 */
/* msg.c - the frame codec: typed big-endian writers into a caller's buffer and
 * bounds-checked readers over received bytes (after OpenSMTPD's mproc.c), plus
 * the cluster header frame built on them. Every peer byte passes through the
 * readers before anything looks at it; a failure is sticky and the caller
 * checks once, at cluster_msg_end(), which also refuses leftovers. */
#include "cluster/cluster_int.h"

#include <string.h>

#include "core/err.h"

void
cluster_msg_writer_init(struct cluster_msg_writer *w, void *buf, size_t cap)
{
    w->buf = buf;
    w->cap = buf != NULL ? cap : 0;
    w->len = 0;
    w->is_overflow = false;
}

static unsigned char *
writer_room(struct cluster_msg_writer *w, size_t n)
{
    unsigned char *p;

    if (w->is_overflow || n > w->cap - w->len) {
        w->is_overflow = true;
        return NULL;
    }
    p = w->buf + w->len;
    w->len += n;
    return p;
}

void
cluster_msg_put_u8(struct cluster_msg_writer *w, uint8_t v)
{
    unsigned char *p = writer_room(w, 1);

    if (p != NULL)
        p[0] = v;
}

void
cluster_msg_put_u16(struct cluster_msg_writer *w, uint16_t v)
{
    unsigned char *p = writer_room(w, 2);

    if (p == NULL)
        return;
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

void
cluster_msg_put_u32(struct cluster_msg_writer *w, uint32_t v)
{
    unsigned char *p = writer_room(w, 4);
    int i;

    if (p == NULL)
        return;
    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

void
cluster_msg_put_u64(struct cluster_msg_writer *w, uint64_t v)
{
    unsigned char *p = writer_room(w, 8);
    int i;

    if (p == NULL)
        return;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

void
cluster_msg_put_bytes(struct cluster_msg_writer *w, const void *src, size_t n)
{
    unsigned char *p = writer_room(w, n);

    if (p != NULL && n > 0)
        memcpy(p, src, n);
}

void
cluster_msg_put_blob(struct cluster_msg_writer *w, const void *src, size_t n)
{
    if (n > UINT32_MAX) {
        w->is_overflow = true;
        return;
    }
    cluster_msg_put_u32(w, (uint32_t)n);
    cluster_msg_put_bytes(w, src, n);
}

void
cluster_msg_put_str(struct cluster_msg_writer *w, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n > UINT16_MAX) {
        w->is_overflow = true;
        return;
    }
    cluster_msg_put_u16(w, (uint16_t)n);
    cluster_msg_put_bytes(w, s, n);
}

int
cluster_msg_finish(const struct cluster_msg_writer *w, size_t *len)
{
    if (w->is_overflow) {
        *len = 0;
        return PAL_ERANGE;
    }
    *len = w->len;
    return PAL_OK;
}

void
cluster_msg_reader_init(struct cluster_msg_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->len = data != NULL ? len : 0;
    r->off = 0;
    r->is_bad = false;
}

static const unsigned char *
reader_take(struct cluster_msg_reader *r, size_t n)
{
    const unsigned char *p;

    if (r->is_bad || n > r->len - r->off) {
        r->is_bad = true;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

int
cluster_msg_get_u8(struct cluster_msg_reader *r, uint8_t *v)
{
    const unsigned char *p = reader_take(r, 1);

    *v = p != NULL ? p[0] : 0;
    return p != NULL ? PAL_OK : PAL_EMALFORMED;
}

int
cluster_msg_get_u16(struct cluster_msg_reader *r, uint16_t *v)
{
    const unsigned char *p = reader_take(r, 2);

    *v = p != NULL ? (uint16_t)((unsigned)p[0] << 8 | p[1]) : 0;
    return p != NULL ? PAL_OK : PAL_EMALFORMED;
}

int
cluster_msg_get_u32(struct cluster_msg_reader *r, uint32_t *v)
{
    const unsigned char *p = reader_take(r, 4);
    uint32_t x = 0;
    int i;

    if (p != NULL)
        for (i = 0; i < 4; i++)
            x = x << 8 | p[i];
    *v = x;
    return p != NULL ? PAL_OK : PAL_EMALFORMED;
}

int
cluster_msg_get_u64(struct cluster_msg_reader *r, uint64_t *v)
{
    const unsigned char *p = reader_take(r, 8);
    uint64_t x = 0;
    int i;

    if (p != NULL)
        for (i = 0; i < 8; i++)
            x = x << 8 | p[i];
    *v = x;
    return p != NULL ? PAL_OK : PAL_EMALFORMED;
}

int
cluster_msg_get_bytes(struct cluster_msg_reader *r, size_t n, const void **out)
{
    const unsigned char *p = reader_take(r, n);

    *out = p;
    return p != NULL ? PAL_OK : PAL_EMALFORMED;
}

int
cluster_msg_get_blob(struct cluster_msg_reader *r, const void **out, size_t *n)
{
    uint32_t len;

    *out = NULL;
    *n = 0;
    if (cluster_msg_get_u32(r, &len) != PAL_OK || cluster_msg_get_bytes(r, len, out) != PAL_OK)
        return PAL_EMALFORMED;
    *n = len;
    return PAL_OK;
}

int
cluster_msg_get_str(struct cluster_msg_reader *r, const char **s, size_t *n)
{
    uint16_t len;
    const void *p;

    *s = NULL;
    *n = 0;
    if (cluster_msg_get_u16(r, &len) != PAL_OK || cluster_msg_get_bytes(r, len, &p) != PAL_OK)
        return PAL_EMALFORMED;
    if (memchr(p, '\0', len) != NULL) {
        r->is_bad = true;
        return PAL_EMALFORMED;
    }
    *s = p;
    *n = len;
    return PAL_OK;
}

int
cluster_msg_end(const struct cluster_msg_reader *r)
{
    return !r->is_bad && r->off == r->len ? PAL_OK : PAL_EMALFORMED;
}

/*
 * The header frame.
 */

size_t
cluster_msg_header_encode(const struct cluster_header *h, unsigned char *buf)
{
    struct cluster_msg_writer w;
    size_t len;

    cluster_msg_writer_init(&w, buf, CLUSTER_HEADER_LEN);
    cluster_msg_put_u8(&w, h->version);
    cluster_msg_put_u8(&w, h->kind);
    cluster_msg_put_u16(&w, h->type);
    cluster_msg_put_u64(&w, h->epoch);
    cluster_msg_put_u64(&w, h->link);
    cluster_msg_put_u64(&w, h->peer_link);
    cluster_msg_put_u64(&w, h->seq);
    cluster_msg_put_u64(&w, h->ack);
    /* Cannot overflow: the layout is fixed and the buffer is its size. */
    (void)cluster_msg_finish(&w, &len);
    return len;
}

int
cluster_msg_header_decode(const void *data, size_t len, struct cluster_header *h)
{
    struct cluster_msg_reader r;

    memset(h, 0, sizeof(*h));
    cluster_msg_reader_init(&r, data, len);
    /* The version comes first so that any later format can be recognised as
     * such, whatever its length. */
    if (cluster_msg_get_u8(&r, &h->version) != PAL_OK)
        return PAL_EMALFORMED;
    if (h->version != CLUSTER_PROTO_VERSION)
        return PAL_ERANGE;
    cluster_msg_get_u8(&r, &h->kind);
    cluster_msg_get_u16(&r, &h->type);
    cluster_msg_get_u64(&r, &h->epoch);
    cluster_msg_get_u64(&r, &h->link);
    cluster_msg_get_u64(&r, &h->peer_link);
    cluster_msg_get_u64(&r, &h->seq);
    cluster_msg_get_u64(&r, &h->ack);
    if (cluster_msg_end(&r) != PAL_OK)
        goto bad;
    if (h->epoch == 0 || h->link == 0)
        goto bad;
    switch (h->kind) {
    case CLUSTER_KIND_HEARTBEAT:
        if (h->type != 0)
            goto bad;
        break;
    case CLUSTER_KIND_DATA:
        if (h->seq == 0)
            goto bad;
        break;
    case CLUSTER_KIND_NACK:
        if (h->type != 0 || h->seq == 0)
            goto bad;
        break;
    case CLUSTER_KIND_BYE:
        if (h->type != 0 || h->seq != 0)
            goto bad;
        break;
    default:
        goto bad;
    }
    return PAL_OK;
bad:
    memset(h, 0, sizeof(*h));
    h->version = CLUSTER_PROTO_VERSION;
    return PAL_EMALFORMED;
}

const char *
cluster_kind_str(uint8_t kind)
{
    switch (kind) {
    case CLUSTER_KIND_HEARTBEAT:
        return "heartbeat";
    case CLUSTER_KIND_DATA:
        return "data";
    case CLUSTER_KIND_NACK:
        return "nack";
    case CLUSTER_KIND_BYE:
        return "bye";
    default:
        return "unknown";
    }
}
