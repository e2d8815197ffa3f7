/* Unit tests for the chunked body decoder: every input is decoded whole, at every split point
 * and one byte at a time, into a separate buffer and in place, each piece ending on a PROT_NONE
 * guard page; the result (data, bytes consumed, error) must not depend on the schedule.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "proto/chunked.h"
#include "test_util.h"

typedef struct feed_ctx {
    int in_place;
    uint64_t max_body;
    cr_chunked_t d;
    const char *schedule;
    char out[16384];
    size_t out_len;
    size_t consumed;
    ssize_t err; /* first error, or 0 */
    /* expectations */
    const char *want_data;
    size_t want_data_len;
    size_t want_consumed; /* for success */
    ssize_t want_err;     /* 0, or the error every schedule must end in */
    int want_done;
} feed_ctx_t;

static void feed_begin(void *arg, const char *schedule)
{
    feed_ctx_t *c = arg;
    cr_chunked_init(&c->d, c->max_body);
    c->schedule = schedule;
    c->out_len = 0;
    c->consumed = 0;
    c->err = 0;
}

static void feed_piece(void *arg, char *piece, size_t len, size_t off)
{
    feed_ctx_t *c = arg;
    char sep[sizeof(c->out)];
    char *out = c->in_place ? piece : sep;
    size_t n = 0;
    (void)off;

    if (c->err) {
        /* Errors are sticky. */
        assert_int_equal(cr_chunked_decode(&c->d, piece, len, out, &n), c->err);
        return;
    }
    int was_done = c->d.done;
    ssize_t rc = cr_chunked_decode(&c->d, piece, len, out, &n);
    if (rc < 0) {
        c->err = rc;
        return;
    }
    if ((size_t)rc > len || n > (size_t)rc)
        fail_msg("%s: consumed %zd of %zu, wrote %zu", c->schedule, rc, len, n);
    if ((size_t)rc < len && !c->d.done)
        fail_msg("%s: consumed %zd of %zu without finishing", c->schedule, rc, len);
    if (was_done)
        assert_int_equal(rc, 0);
    assert_true(c->out_len + n <= sizeof(c->out));
    memcpy(c->out + c->out_len, out, n);
    c->out_len += n;
    c->consumed += (size_t)rc;
    assert_int_equal(c->d.total, c->out_len);
}

static void feed_end(void *arg)
{
    feed_ctx_t *c = arg;
    if (c->err != c->want_err)
        fail_msg("%s (%s): ended with %zd, want %zd", c->schedule, c->in_place ? "in place" : "copy", c->err,
                 c->want_err);
    if (c->want_err)
        return;
    if (c->d.done != c->want_done)
        fail_msg("%s: done=%d, want %d", c->schedule, c->d.done, c->want_done);
    assert_int_equal(c->consumed, c->want_consumed);
    assert_int_equal(c->out_len, c->want_data_len);
    assert_memory_equal(c->out, c->want_data, c->want_data_len);
}

static const tu_feed_ops_t ops = {feed_begin, feed_piece, feed_end};

/* Feeds in[0..len) under every schedule, copying and in place, and checks the outcome. */
static void check(const char *in, size_t len, uint64_t max_body, const char *data, size_t consumed, int done,
                  ssize_t err)
{
    static feed_ctx_t c; /* large; keep it off the stack */
    for (int in_place = 0; in_place < 2; in_place++) {
        memset(&c, 0, sizeof(c));
        c.in_place = in_place;
        c.max_body = max_body;
        c.want_data = data;
        c.want_data_len = data ? strlen(data) : 0;
        c.want_consumed = consumed;
        c.want_err = err;
        c.want_done = done;
        assert_int_equal(tu_feed(in, len, &ops, &c), len > 1 ? len + 1 : 1);
    }
}

static void check_ok(const char *in, const char *data)
{
    check(in, strlen(in), UINT64_MAX, data, strlen(in), 1, 0);
}

static void check_err(const char *in, uint64_t max_body, ssize_t err)
{
    check(in, strlen(in), max_body, NULL, 0, 0, err);
}

static void test_single_call(void **state)
{
    (void)state;
    cr_chunked_t d;
    char out[64];
    size_t n = 99;
    const char *in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    cr_chunked_init(&d, 1000);
    assert_int_equal(cr_chunked_decode(&d, in, strlen(in), out, &n), (ssize_t)strlen(in));
    assert_int_equal(n, 11);
    assert_memory_equal(out, "hello world", 11);
    assert_int_equal(d.total, 11);
    assert_int_equal(d.done, 1);
    /* After the end nothing more is consumed. */
    assert_int_equal(cr_chunked_decode(&d, "5\r\n", 3, out, &n), 0);
    assert_int_equal(n, 0);
}

static void test_multi_chunk(void **state)
{
    (void)state;
    check_ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    check_ok("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", "abc");
    check_ok("0\r\n\r\n", "");
    check_ok("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
    check_ok("000000000000000F\r\n0123456789abcde\r\n0000\r\n\r\n", "0123456789abcde");
    /* Data may hold anything, CRLF and NUL-free binary included. */
    check_ok("4\r\n\r\n\r\n\r\n3\r\n0\r\n\r\n0\r\n\r\n", "\r\n\r\n0\r\n");
}

static void test_next_request_left(void **state)
{
    (void)state;
    const char *in = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    size_t body = strlen("3\r\nabc\r\n0\r\n\r\n");
    check(in, strlen(in), UINT64_MAX, "abc", body, 1, 0);

    cr_chunked_t d;
    char buf[64];
    size_t n;
    memcpy(buf, in, strlen(in));
    cr_chunked_init(&d, 100);
    assert_int_equal(cr_chunked_decode(&d, buf, strlen(in), buf, &n), (ssize_t)body);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_memory_equal(buf + body, "GET / HTTP/1.1\r\n", 16); /* in-place decoding left it alone */
}

static void test_in_place_large(void **state)
{
    (void)state;
    /* Many chunks of growing size, decoded in place in one call and under every schedule. */
    static char in[12000], want[8000];
    size_t n = 0, w = 0;
    for (int i = 1; w + (size_t)i < sizeof(want) && i < 120; i++) {
        n += (size_t)snprintf(in + n, sizeof(in) - n, "%x;i=%d\r\n", i, i);
        for (int k = 0; k < i; k++)
            in[n++] = want[w++] = (char)('a' + (i + k) % 26);
        memcpy(in + n, "\r\n", 2);
        n += 2;
    }
    memcpy(in + n, "0\r\n\r\n", 6);
    n += 5;
    want[w] = '\0';
    check(in, n, w, want, n, 1, 0);
    check(in, n, w - 1, NULL, 0, 0, CR_EBODYTOOBIG);
}

static void test_extensions(void **state)
{
    (void)state;
    check_ok("5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello");
    check_ok("5;a=\"quoted ; string\";b\r\nhello\r\n0\r\n\r\n", "hello");
    check_ok("5 ;a\r\nhello\r\n0\t; b = c \r\n\r\n", "hello");
    check_ok("5;\xc3\xa9\r\nhello\r\n0\r\n\r\n", "hello");

    /* The extension bound: CR_CHUNKED_MAX_EXT bytes pass, one more fails. */
    char in[1024];
    size_t n = 0;
    in[n++] = '1';
    in[n++] = ';';
    memset(in + n, 'x', CR_CHUNKED_MAX_EXT - 1);
    n += CR_CHUNKED_MAX_EXT - 1;
    memcpy(in + n, "\r\nz\r\n0\r\n\r\n", 11);
    check(in, strlen(in), UINT64_MAX, "z", strlen(in), 1, 0);
    memmove(in + 3, in + 2, strlen(in + 2) + 1);
    in[2] = 'x';
    check(in, strlen(in), UINT64_MAX, NULL, 0, 0, CR_EBADREQ);

    check_err("5 \r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ); /* BWS not followed by ';' */
    check_err("5 x\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5;a\x01\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5;a\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5;a\rhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5;a\x7f\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
}

static void test_trailers(void **state)
{
    (void)state;
    check_ok("3\r\nabc\r\n0\r\nX-Checksum: abc\r\nY:\r\nZ: a \t b\r\n\r\n", "abc");
    check_ok("0\r\nExpires: never\r\n\r\n", "");
    check_err("0\r\nX: a\r\n b\r\n\r\n", UINT64_MAX, CR_EBADREQ); /* obs-fold */
    check_err("0\r\n X: a\r\n\r\n", UINT64_MAX, CR_EBADREQ);      /* leading space */
    check_err("0\r\nX a\r\n\r\n", UINT64_MAX, CR_EBADREQ);        /* no colon */
    check_err("0\r\nX : a\r\n\r\n", UINT64_MAX, CR_EBADREQ);      /* space before colon */
    check_err("0\r\n: a\r\n\r\n", UINT64_MAX, CR_EBADREQ);        /* empty name */
    check_err("0\r\nX: a\x01\r\n\r\n", UINT64_MAX, CR_EBADREQ);   /* CTL in value */
    check_err("0\r\nX: a\nY: b\r\n\r\n", UINT64_MAX, CR_EBADREQ); /* bare LF */
    check_err("0\r\nX: a\r\n\n", UINT64_MAX, CR_EBADREQ);         /* bare LF at the end */
    check_err("0\r\nX: a\rb\r\n\r\n", UINT64_MAX, CR_EBADREQ);    /* bare CR in a value */
    check_err("0\r\nX: a\r\n\rx", UINT64_MAX, CR_EBADREQ);        /* bare CR at the end */

    /* The trailer bound covers the whole section, final CRLF included. */
    static char in[2 * CR_CHUNKED_MAX_TRAILER];
    size_t head = strlen("0\r\n"), fixed = strlen("X: \r\n\r\n");
    memcpy(in, "0\r\nX: ", 6);
    memset(in + 6, 'v', CR_CHUNKED_MAX_TRAILER - fixed);
    memcpy(in + 6 + CR_CHUNKED_MAX_TRAILER - fixed, "\r\n\r\n", 5);
    assert_int_equal(strlen(in), head + CR_CHUNKED_MAX_TRAILER);
    check(in, strlen(in), UINT64_MAX, "", strlen(in), 1, 0);
    memmove(in + 7, in + 6, strlen(in + 6) + 1);
    check(in, strlen(in), UINT64_MAX, NULL, 0, 0, CR_EBADREQ);
}

static void test_bad_framing(void **state)
{
    (void)state;
    check_err("g\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("-5\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("+5\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("0x5\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err(" 5\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err(";x\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5\rhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5\r\nhelloX\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5\r\nhello\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5\r\nhello\rX0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("5\r\nhell\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("0\r\n\n", UINT64_MAX, CR_EBADREQ);
    check_err("0\n\r\n", UINT64_MAX, CR_EBADREQ);
}

static void test_overflow(void **state)
{
    (void)state;
    /* 17 hex digits cannot be a 64-bit size, even with leading zeros. */
    check_err("10000000000000000\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("00000000000000005\r\nhello\r\n0\r\n\r\n", UINT64_MAX, CR_EBADREQ);
    check_err("fffffffffffffffff\r\n", UINT64_MAX, CR_EBADREQ);
    /* 16 digits are fine as long as max_body allows the size... */
    check("ffffffffffffffff\r\nab", 20, UINT64_MAX, "ab", 20, 0, 0);
    /* ...and total + size must not wrap around past max_body. */
    check_err("2\r\nab\r\nffffffffffffffff\r\n", UINT64_MAX, CR_EBODYTOOBIG);
    check_err("7fffffffffffffff\r\n", 1000, CR_EBODYTOOBIG);
}

static void test_max_body(void **state)
{
    (void)state;
    const char *ok = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    check(ok, strlen(ok), 10, "helloworld", strlen(ok), 1, 0);
    /* Refused on the size line, before the chunk's data arrives. */
    check_err("5\r\nhello\r\n6\r\n", 10, CR_EBODYTOOBIG);
    check_err("b\r\n", 10, CR_EBODYTOOBIG);
    check_err("1\r\n", 0, CR_EBODYTOOBIG);
    check("0\r\n\r\n", 5, 0, "", 5, 1, 0);
}

static void test_sticky_error(void **state)
{
    (void)state;
    cr_chunked_t d;
    char out[32];
    size_t n;
    cr_chunked_init(&d, 100);
    assert_int_equal(cr_chunked_decode(&d, "3\r\nab", 5, out, &n), 5);
    assert_int_equal(n, 2);
    assert_int_equal(cr_chunked_decode(&d, "cX", 2, out, &n), CR_EBADREQ);
    assert_int_equal(cr_chunked_decode(&d, "\r\n0\r\n\r\n", 7, out, &n), CR_EBADREQ);
    assert_int_equal(n, 0);
    assert_int_equal(d.done, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_call),       cmocka_unit_test(test_multi_chunk),
        cmocka_unit_test(test_next_request_left), cmocka_unit_test(test_in_place_large),
        cmocka_unit_test(test_extensions),        cmocka_unit_test(test_trailers),
        cmocka_unit_test(test_bad_framing),       cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_max_body),          cmocka_unit_test(test_sticky_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
