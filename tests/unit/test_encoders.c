/* Unit tests of the output codecs: SSE event encoding (checked by parsing it
 * back with the SSE parser), JSON strings, base64, UTF-8 validation, HTTP dates
 * and chunks, and the output queue's limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/outq.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "proto/sse.h"
#include "proto/sse_parse.h"

typedef struct {
    char data[256];
    char type[64];
    size_t data_len;
    int n;
} got_t;

static void on_event(void *arg, const cr_sse_event_t *ev)
{
    got_t *g = arg;
    memcpy(g->data, ev->data, ev->data_len);
    g->data_len = ev->data_len;
    memcpy(g->type, ev->type, ev->type_len);
    g->type[ev->type_len] = '\0';
    g->n++;
}

static void roundtrip(const char *payload, const char *event, const char *expect_data,
                      const char *expect_type)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_sse_body(&b, event, event ? strlen(event) : 0, payload, strlen(payload));
    cr_sse_field(&b, "id", "1-0", 3);
    cr_buf_putc(&b, '\n');
    got_t g = {0};
    cr_sse_parser_t p;
    cr_sse_parser_init(&p, 0, on_event, &g);
    assert_int_equal(cr_sse_parser_feed(&p, b.data, b.len), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.data_len, strlen(expect_data));
    assert_memory_equal(g.data, expect_data, g.data_len);
    assert_string_equal(g.type, expect_type);
    cr_sse_parser_free(&p);
    cr_buf_free(&b);
}

static void test_sse_multiline_payloads_arrive_intact(void **state)
{
    (void)state;
    roundtrip("hello", NULL, "hello", "message");
    roundtrip("a\nb", NULL, "a\nb", "message");
    roundtrip("a\r\nb", NULL, "a\nb", "message"); /* the browser joins lines with LF */
    roundtrip("a\rb", NULL, "a\nb", "message");
    roundtrip("a\n\nb\n", NULL, "a\n\nb\n", "message");
    roundtrip(" leading space", NULL, " leading space", "message");
    roundtrip(":not a comment", NULL, ":not a comment", "message");
    roundtrip("x", "upd", "x", "upd");
    roundtrip("x", "bad\nname", "x", "badname"); /* CR/LF dropped from the name, never a new field */
}

static void test_sse_exact_bytes(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    cr_sse_body(&b, "e", 1, "l1\r\nl2\rl3", 9);
    const char want[] = "event: e\ndata: l1\ndata: l2\ndata: l3\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, b.len);
    b.len = 0;
    cr_sse_comment(&b, "hi\nthere", 8);
    assert_memory_equal(b.data, ": hithere\n", b.len);
    cr_buf_free(&b);
}

static void check_json(const char *in, size_t len, const char *want)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_json_string(&b, in, len);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    cr_buf_free(&b);
}

static void test_json_string_escaping(void **state)
{
    (void)state;
    check_json("plain", 5, "\"plain\"");
    check_json("q\"b\\", 4, "\"q\\\"b\\\\\"");
    check_json("\n\r\t\x01\x7f", 5, "\"\\n\\r\\t\\u0001\\u007f\"");
    check_json("</script>", 9, "\"\\u003c/script\\u003e\"");
    check_json("a&b", 3, "\"a\\u0026b\"");
    check_json("\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\"");
    check_json("\xc3\xa9", 2, "\"\xc3\xa9\"");                  /* valid UTF-8 passes */
    check_json("\xff", 1, "\"\\ufffd\"");                       /* invalid byte */
    check_json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");            /* overlong */
    check_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    check_json("\0", 1, "\"\\u0000\"");
}

static void test_utf8_valid(void **state)
{
    (void)state;
    struct {
        const char *s;
        size_t len;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"abc", 3, 1},
        {"\xc3\xa9", 2, 1},
        {"\xf0\x9f\x98\x80", 4, 1},
        {"\xf4\x8f\xbf\xbf", 4, 1}, /* U+10FFFF */
        {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"\xed\xa0\x80", 3, 0},     /* surrogate */
        {"\xc0\x80", 2, 0},         /* overlong NUL */
        {"\xe0\x80\xaf", 3, 0},     /* overlong */
        {"\xc3", 1, 0},             /* truncated */
        {"\x80", 1, 0},             /* lone continuation */
        {"\xf5\x80\x80\x80", 4, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(cr_utf8_valid((const unsigned char *)cases[i].s, cases[i].len), cases[i].ok);
}

static void test_base64_rfc4648_vectors(void **state)
{
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        cr_buf_t b = CR_BUF_INIT;
        cr_base64(&b, (const unsigned char *)in[i], strlen(in[i]));
        assert_int_equal(b.len, strlen(out[i]));
        if (b.len)
            assert_memory_equal(b.data, out[i], b.len);
        cr_buf_free(&b);
    }
}

static void test_http_date_roundtrip(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    cr_http1_date(&b, 784111777);
    assert_int_equal(b.len, 29);
    assert_memory_equal(b.data, "Sun, 06 Nov 1994 08:49:37 GMT", 29);
    int64_t t;
    assert_int_equal(cr_http1_date_parse(b.data, b.len, &t), 0);
    assert_int_equal(t, 784111777);
    for (int64_t v = 0; v < 4102444800LL; v += 86400 * 37 + 3671) {
        b.len = 0;
        cr_http1_date(&b, v);
        assert_int_equal(cr_http1_date_parse(b.data, b.len, &t), 0);
        assert_int_equal(t, v);
    }
    assert_int_equal(cr_http1_date_parse("Sun, 06 Nov 1994 08:49:37 UTC", 29, &t), CR_EPARAM);
    assert_int_equal(cr_http1_date_parse("Sun, 06 Xxx 1994 08:49:37 GMT", 29, &t), CR_EPARAM);
    assert_int_equal(cr_http1_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), CR_EPARAM);
    cr_buf_free(&b);
}

static void test_http_head_and_chunk(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    cr_http1_status_line(&b, 431);
    cr_http1_header(&b, "X-A", "v\r\nInjected: 1", 14);
    const char want[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nX-A: vInjected: 1\r\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, b.len);
    b.len = 0;
    cr_http1_chunk(&b, "0123456789abcdefX", 17);
    assert_memory_equal(b.data, "11\r\n0123456789abcdefX\r\n", b.len);
    cr_buf_free(&b);
}

static void test_outq_limits_and_consume(void **state)
{
    (void)state;
    long live = cr_bytes_live();
    cr_outq_t q;
    cr_outq_init(&q);
    cr_outq_limits_t lim = {1000, 300, 100};
    cr_bytes_t *blk = cr_bytes_copy("0123456789", 10);
    for (int i = 0; i < 30; i++)
        assert_int_equal(cr_outq_push(&q, blk, 0, 10, &lim, 0), 0);
    assert_int_equal(q.bytes, 300);
    /* over the soft cap: tolerated for soft_ms, then too slow */
    assert_int_equal(cr_outq_push(&q, blk, 0, 10, &lim, 1000), 0);
    assert_int_equal(cr_outq_push(&q, blk, 2, 5, &lim, 1050), 0);
    assert_int_equal(cr_outq_push(&q, blk, 0, 10, &lim, 1101), CR_ESLOW);
    /* writes drain it; partial slices keep their offset */
    assert_int_equal(q.bytes, 325); /* the slice that went over is queued all the same */
    cr_outq_consume(&q, 312);
    assert_int_equal(q.bytes, 13);
    assert_int_equal(cr_outq_at(&q, 0)->off, 4);
    assert_int_equal(cr_outq_at(&q, 0)->len, 3);
    /* under the soft cap again: the clock resets */
    assert_int_equal(cr_outq_push(&q, blk, 0, 10, &lim, 5000), 0);
    cr_outq_consume(&q, q.bytes);
    assert_int_equal(q.count, 0);
    assert_null(q._ring); /* an idle queue holds no memory */
    /* the hard cap cuts at once */
    for (int i = 0; i < 100; i++)
        assert_int_equal(cr_outq_push(&q, blk, 0, 10, &lim, 0),
                         0); /* 1000 bytes, all at once: soft time not over */
    assert_int_equal(cr_outq_push(&q, blk, 0, 1, &lim, 0), CR_ESLOW);
    cr_outq_clear(&q);
    cr_bytes_unref(blk);
    assert_int_equal(cr_bytes_live(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_multiline_payloads_arrive_intact),
        cmocka_unit_test(test_sse_exact_bytes),
        cmocka_unit_test(test_json_string_escaping),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_base64_rfc4648_vectors),
        cmocka_unit_test(test_http_date_roundtrip),
        cmocka_unit_test(test_http_head_and_chunk),
        cmocka_unit_test(test_outq_limits_and_consume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
