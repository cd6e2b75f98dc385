/* SPDX-License-Identifier: Apache-2.0 */
/* test_cluster_msg.c - cluster/msg.c: the typed writers and bounds-checked
 * readers (round trips, sticky overflow and underflow, leftovers, strings and
 * blobs with lying lengths) and the header frame (round trip per kind, every
 * truncation, other versions, and each invariant a peer could break). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/cluster_int.h"
#include "core/err.h"

static void
test_cluster_msg_integers_round_trip(void **state)
{
    unsigned char buf[64];
    struct cluster_msg_writer w;
    struct cluster_msg_reader r;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    size_t len;

    (void)state;
    cluster_msg_writer_init(&w, buf, sizeof(buf));
    cluster_msg_put_u8(&w, 0xab);
    cluster_msg_put_u16(&w, 0x1234);
    cluster_msg_put_u32(&w, 0xdeadbeef);
    cluster_msg_put_u64(&w, 0x0102030405060708ull);
    cluster_msg_put_u64(&w, UINT64_MAX);
    assert_int_equal(cluster_msg_finish(&w, &len), PAL_OK);
    assert_int_equal(len, 1 + 2 + 4 + 8 + 8);
    /* Big-endian on the wire. */
    assert_int_equal(buf[1], 0x12);
    assert_int_equal(buf[2], 0x34);
    assert_int_equal(buf[3], 0xde);
    assert_int_equal(buf[7], 0x01);
    assert_int_equal(buf[14], 0x08);

    cluster_msg_reader_init(&r, buf, len);
    assert_int_equal(cluster_msg_get_u8(&r, &u8), PAL_OK);
    assert_int_equal(u8, 0xab);
    assert_int_equal(cluster_msg_get_u16(&r, &u16), PAL_OK);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(cluster_msg_get_u32(&r, &u32), PAL_OK);
    assert_int_equal(u32, 0xdeadbeef);
    assert_int_equal(cluster_msg_get_u64(&r, &u64), PAL_OK);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(cluster_msg_get_u64(&r, &u64), PAL_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(cluster_msg_end(&r), PAL_OK);
}

static void
test_cluster_msg_strings_and_blobs_round_trip(void **state)
{
    unsigned char buf[128];
    unsigned char bin[5] = {0, 1, 2, 0, 255};
    struct cluster_msg_writer w;
    struct cluster_msg_reader r;
    const char *s;
    const void *p;
    size_t n;
    size_t len;

    (void)state;
    cluster_msg_writer_init(&w, buf, sizeof(buf));
    cluster_msg_put_str(&w, "alice@example.com/phone");
    cluster_msg_put_str(&w, "");
    cluster_msg_put_str(&w, NULL);
    cluster_msg_put_blob(&w, bin, sizeof(bin));
    cluster_msg_put_blob(&w, NULL, 0);
    cluster_msg_put_bytes(&w, "xyz", 3);
    assert_int_equal(cluster_msg_finish(&w, &len), PAL_OK);

    cluster_msg_reader_init(&r, buf, len);
    assert_int_equal(cluster_msg_get_str(&r, &s, &n), PAL_OK);
    assert_int_equal(n, strlen("alice@example.com/phone"));
    assert_memory_equal(s, "alice@example.com/phone", n);
    assert_int_equal(cluster_msg_get_str(&r, &s, &n), PAL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(cluster_msg_get_str(&r, &s, &n), PAL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(cluster_msg_get_blob(&r, &p, &n), PAL_OK);
    assert_int_equal(n, sizeof(bin));
    assert_memory_equal(p, bin, sizeof(bin));
    assert_int_equal(cluster_msg_get_blob(&r, &p, &n), PAL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(cluster_msg_get_bytes(&r, 3, &p), PAL_OK);
    assert_memory_equal(p, "xyz", 3);
    assert_int_equal(cluster_msg_end(&r), PAL_OK);
}

static void
test_cluster_msg_writer_overflow_is_sticky(void **state)
{
    unsigned char buf[8];
    struct cluster_msg_writer w;
    size_t len;

    (void)state;
    memset(buf, 0x55, sizeof(buf));
    cluster_msg_writer_init(&w, buf, 6);
    cluster_msg_put_u32(&w, 1);
    cluster_msg_put_u32(&w, 2); /* does not fit: nothing of it is written */
    cluster_msg_put_u8(&w, 3);  /* would fit, but the writer has failed */
    assert_int_equal(cluster_msg_finish(&w, &len), PAL_ERANGE);
    assert_int_equal(len, 0);
    assert_int_equal(buf[4], 0x55);
    assert_int_equal(buf[6], 0x55);

    /* No buffer at all. */
    cluster_msg_writer_init(&w, NULL, 100);
    cluster_msg_put_u8(&w, 1);
    assert_int_equal(cluster_msg_finish(&w, &len), PAL_ERANGE);
}

static void
test_cluster_msg_writer_refuses_long_string(void **state)
{
    unsigned char *buf = malloc(70000);
    char *big = malloc(65537);
    struct cluster_msg_writer w;
    size_t len;

    (void)state;
    memset(big, 'a', 65536);
    big[65536] = '\0';
    cluster_msg_writer_init(&w, buf, 70000);
    cluster_msg_put_str(&w, big);
    assert_int_equal(cluster_msg_finish(&w, &len), PAL_ERANGE);
    big[65535] = '\0'; /* the longest string that fits the u16 length */
    cluster_msg_writer_init(&w, buf, 70000);
    cluster_msg_put_str(&w, big);
    assert_int_equal(cluster_msg_finish(&w, &len), PAL_OK);
    assert_int_equal(len, 2 + 65535);
    free(big);
    free(buf);
}

static void
test_cluster_msg_reader_underflow_is_sticky(void **state)
{
    const unsigned char buf[3] = {1, 2, 3};
    struct cluster_msg_reader r;
    uint32_t u32;
    uint8_t u8;

    (void)state;
    cluster_msg_reader_init(&r, buf, sizeof(buf));
    assert_int_equal(cluster_msg_get_u32(&r, &u32), PAL_EMALFORMED);
    assert_int_equal(u32, 0);
    /* The byte would be there, but the reader has failed. */
    assert_int_equal(cluster_msg_get_u8(&r, &u8), PAL_EMALFORMED);
    assert_int_equal(u8, 0);
    assert_int_equal(cluster_msg_end(&r), PAL_EMALFORMED);

    cluster_msg_reader_init(&r, NULL, 10);
    assert_int_equal(cluster_msg_get_u8(&r, &u8), PAL_EMALFORMED);
    assert_int_equal(cluster_msg_end(&r), PAL_EMALFORMED);
}

static void
test_cluster_msg_end_rejects_leftovers(void **state)
{
    const unsigned char buf[3] = {1, 2, 3};
    struct cluster_msg_reader r;
    uint16_t u16;

    (void)state;
    cluster_msg_reader_init(&r, buf, sizeof(buf));
    assert_int_equal(cluster_msg_get_u16(&r, &u16), PAL_OK);
    assert_int_equal(cluster_msg_end(&r), PAL_EMALFORMED);

    cluster_msg_reader_init(&r, buf, 0);
    assert_int_equal(cluster_msg_end(&r), PAL_OK);
}

static void
test_cluster_msg_lying_lengths_are_malformed(void **state)
{
    /* A string claiming 5 bytes with 3 present; a blob claiming 4 GiB; a
     * string with a NUL inside. */
    const unsigned char short_str[] = {0, 5, 'a', 'b', 'c'};
    const unsigned char huge_blob[] = {0xff, 0xff, 0xff, 0xff, 'x'};
    const unsigned char nul_str[] = {0, 3, 'a', 0, 'b'};
    struct cluster_msg_reader r;
    const char *s;
    const void *p;
    size_t n;

    (void)state;
    cluster_msg_reader_init(&r, short_str, sizeof(short_str));
    assert_int_equal(cluster_msg_get_str(&r, &s, &n), PAL_EMALFORMED);
    assert_null(s);
    assert_int_equal(n, 0);
    assert_int_equal(cluster_msg_end(&r), PAL_EMALFORMED);

    cluster_msg_reader_init(&r, huge_blob, sizeof(huge_blob));
    assert_int_equal(cluster_msg_get_blob(&r, &p, &n), PAL_EMALFORMED);
    assert_null(p);
    assert_int_equal(n, 0);

    cluster_msg_reader_init(&r, nul_str, sizeof(nul_str));
    assert_int_equal(cluster_msg_get_str(&r, &s, &n), PAL_EMALFORMED);
    assert_int_equal(cluster_msg_end(&r), PAL_EMALFORMED);

    /* A huge raw length cannot wrap the offset. */
    cluster_msg_reader_init(&r, short_str, sizeof(short_str));
    assert_int_equal(cluster_msg_get_bytes(&r, 2, &p), PAL_OK);
    assert_int_equal(cluster_msg_get_bytes(&r, SIZE_MAX, &p), PAL_EMALFORMED);
    assert_null(p);
}

static struct cluster_header
sample_header(uint8_t kind)
{
    struct cluster_header h;

    memset(&h, 0, sizeof(h));
    h.version = CLUSTER_PROTO_VERSION;
    h.kind = kind;
    h.epoch = 1700000000123456ull;
    h.link = 1700000000123459ull;
    h.peer_link = 1690000000000001ull;
    h.ack = 41;
    switch (kind) {
    case CLUSTER_KIND_DATA:
        h.type = 0xbeef;
        h.seq = 42;
        break;
    case CLUSTER_KIND_HEARTBEAT:
        h.seq = 7;
        break;
    case CLUSTER_KIND_NACK:
        h.seq = 3;
        break;
    default:
        break;
    }
    return h;
}

static void
test_cluster_msg_header_round_trip(void **state)
{
    const uint8_t kinds[] = {CLUSTER_KIND_HEARTBEAT, CLUSTER_KIND_DATA, CLUSTER_KIND_NACK,
                             CLUSTER_KIND_BYE};
    unsigned char buf[CLUSTER_HEADER_LEN];
    struct cluster_header h;
    struct cluster_header d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(kinds); i++) {
        h = sample_header(kinds[i]);
        assert_int_equal(cluster_msg_header_encode(&h, buf), CLUSTER_HEADER_LEN);
        assert_int_equal(buf[0], CLUSTER_PROTO_VERSION);
        assert_int_equal(buf[1], kinds[i]);
        assert_int_equal(cluster_msg_header_decode(buf, sizeof(buf), &d), PAL_OK);
        assert_memory_equal(&h, &d, sizeof(h));
        assert_string_not_equal(cluster_kind_str(kinds[i]), "unknown");
    }
    assert_string_equal(cluster_kind_str(0), "unknown");
}

static void
test_cluster_msg_header_every_truncation_is_malformed(void **state)
{
    unsigned char buf[CLUSTER_HEADER_LEN + 1];
    struct cluster_header h = sample_header(CLUSTER_KIND_DATA);
    struct cluster_header d;
    size_t len;

    (void)state;
    cluster_msg_header_encode(&h, buf);
    for (len = 0; len < CLUSTER_HEADER_LEN; len++) {
        assert_int_equal(cluster_msg_header_decode(buf, len, &d), PAL_EMALFORMED);
        assert_int_equal(d.kind, 0);
        assert_true(d.seq == 0);
    }
    buf[CLUSTER_HEADER_LEN] = 0;
    assert_int_equal(cluster_msg_header_decode(buf, CLUSTER_HEADER_LEN + 1, &d), PAL_EMALFORMED);
    assert_int_equal(cluster_msg_header_decode(NULL, 0, &d), PAL_EMALFORMED);
}

static void
test_cluster_msg_header_other_version_is_recognised(void **state)
{
    unsigned char buf[CLUSTER_HEADER_LEN];
    struct cluster_header h = sample_header(CLUSTER_KIND_HEARTBEAT);
    struct cluster_header d;

    (void)state;
    cluster_msg_header_encode(&h, buf);
    buf[0] = CLUSTER_PROTO_VERSION + 1;
    assert_int_equal(cluster_msg_header_decode(buf, sizeof(buf), &d), PAL_ERANGE);
    assert_int_equal(d.version, CLUSTER_PROTO_VERSION + 1);
    assert_int_equal(d.kind, 0);
    /* A later version may be longer or shorter: still recognised as such. */
    assert_int_equal(cluster_msg_header_decode(buf, 1, &d), PAL_ERANGE);
    buf[0] = 0;
    assert_int_equal(cluster_msg_header_decode(buf, sizeof(buf), &d), PAL_ERANGE);
}

/* Each row breaks one rule of the header. */
struct bad_header {
    const char *what;
    uint8_t kind;
    void (*mutate)(struct cluster_header *h);
};

static void
mut_kind_zero(struct cluster_header *h)
{
    h->kind = 0;
}

static void
mut_kind_five(struct cluster_header *h)
{
    h->kind = 5;
}

static void
mut_kind_max(struct cluster_header *h)
{
    h->kind = 0xff;
}

static void
mut_type(struct cluster_header *h)
{
    h->type = 1;
}

static void
mut_seq_zero(struct cluster_header *h)
{
    h->seq = 0;
}

static void
mut_seq_one(struct cluster_header *h)
{
    h->seq = 1;
}

static void
mut_epoch_zero(struct cluster_header *h)
{
    h->epoch = 0;
}

static void
mut_link_zero(struct cluster_header *h)
{
    h->link = 0;
}


static void
test_cluster_msg_header_broken_invariants_are_malformed(void **state)
{
    const struct bad_header rows[] = {
        {"kind 0", CLUSTER_KIND_HEARTBEAT, mut_kind_zero},
        {"kind 5", CLUSTER_KIND_HEARTBEAT, mut_kind_five},
        {"kind 255", CLUSTER_KIND_DATA, mut_kind_max},
        {"heartbeat with a type", CLUSTER_KIND_HEARTBEAT, mut_type},
        {"nack with a type", CLUSTER_KIND_NACK, mut_type},
        {"bye with a type", CLUSTER_KIND_BYE, mut_type},
        {"data seq 0", CLUSTER_KIND_DATA, mut_seq_zero},
        {"nack seq 0", CLUSTER_KIND_NACK, mut_seq_zero},
        {"bye with a seq", CLUSTER_KIND_BYE, mut_seq_one},
        {"epoch 0", CLUSTER_KIND_DATA, mut_epoch_zero},
        {"link 0", CLUSTER_KIND_HEARTBEAT, mut_link_zero},
    };
    unsigned char buf[CLUSTER_HEADER_LEN];
    struct cluster_header h;
    struct cluster_header d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        h = sample_header(rows[i].kind);
        rows[i].mutate(&h);
        cluster_msg_header_encode(&h, buf);
        if (cluster_msg_header_decode(buf, sizeof(buf), &d) != PAL_EMALFORMED)
            fail_msg("accepted: %s", rows[i].what);
        assert_int_equal(d.kind, 0);
    }
    /* Zero is fine where it means "none": peer_link, ack, a heartbeat's seq,
     * a data type. */
    h = sample_header(CLUSTER_KIND_DATA);
    h.type = 0;
    h.peer_link = 0;
    h.ack = 0;
    cluster_msg_header_encode(&h, buf);
    assert_int_equal(cluster_msg_header_decode(buf, sizeof(buf), &d), PAL_OK);
    h = sample_header(CLUSTER_KIND_HEARTBEAT);
    h.seq = 0;
    cluster_msg_header_encode(&h, buf);
    assert_int_equal(cluster_msg_header_decode(buf, sizeof(buf), &d), PAL_OK);
}

/* Random bytes never crash the decoder, and whatever it accepts re-encodes to
 * the same bytes. */
static void
test_cluster_msg_header_random_bytes(void **state)
{
    unsigned char buf[CLUSTER_HEADER_LEN];
    unsigned char again[CLUSTER_HEADER_LEN];
    struct cluster_header d;
    unsigned seed = 12345;
    size_t i;
    size_t j;
    size_t ok = 0;

    (void)state;
    for (i = 0; i < 20000; i++) {
        for (j = 0; j < sizeof(buf); j++) {
            seed = seed * 1103515245u + 12345u;
            buf[j] = (unsigned char)(seed >> 16);
        }
        buf[0] = CLUSTER_PROTO_VERSION;
        if (i % 2 == 0)
            buf[1] = (unsigned char)(1 + i / 2 % 4);
        if (cluster_msg_header_decode(buf, sizeof(buf), &d) == PAL_OK) {
            ok++;
            cluster_msg_header_encode(&d, again);
            assert_memory_equal(buf, again, sizeof(buf));
        }
    }
    assert_true(ok > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_msg_integers_round_trip),
        cmocka_unit_test(test_cluster_msg_strings_and_blobs_round_trip),
        cmocka_unit_test(test_cluster_msg_writer_overflow_is_sticky),
        cmocka_unit_test(test_cluster_msg_writer_refuses_long_string),
        cmocka_unit_test(test_cluster_msg_reader_underflow_is_sticky),
        cmocka_unit_test(test_cluster_msg_end_rejects_leftovers),
        cmocka_unit_test(test_cluster_msg_lying_lengths_are_malformed),
        cmocka_unit_test(test_cluster_msg_header_round_trip),
        cmocka_unit_test(test_cluster_msg_header_every_truncation_is_malformed),
        cmocka_unit_test(test_cluster_msg_header_other_version_is_recognised),
        cmocka_unit_test(test_cluster_msg_header_broken_invariants_are_malformed),
        cmocka_unit_test(test_cluster_msg_header_random_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
