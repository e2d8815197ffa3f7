/* Unit tests of the multipart, pushlet and feed encoders: multipart bodies are
 * split back into parts by the RFC 2046 delimiter rule, pushlet scripts are
 * checked to hold nothing that could end the script or a line, feed text is
 * checked against XML's character and escaping rules, dates against known
 * instants. Well-formedness of whole feeds is checked by a real XML parser in
 * tests/integration/test_multipart_pushlet_feed.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "proto/feed.h"
#include "proto/multipart.h"
#include "proto/pushlet.h"

static char *cstr(cr_buf_t *b)
{
    cr_buf_putc(b, '\0');
    b->len--;
    return b->data;
}

/* --- multipart --------------------------------------------------------------------------------------- */

static void test_boundary_grammar(void **state)
{
    (void)state;
    uint8_t rnd[CR_MULTIPART_RANDOM];
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (uint8_t)(i * 37 + 5);
    char b[CR_MULTIPART_BOUNDARY_MAX];
    size_t n = cr_multipart_boundary(b, rnd);
    assert_int_equal(n, strlen(b));
    assert_true(n >= 1 && n <= 70); /* RFC 2046 5.1.1 */
    assert_memory_equal(b, "crier-052a", 10);
    for (size_t i = 0; i < n; i++)
        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789-", b[i]));
    /* Different random bytes, different boundary: every byte counts. */
    char b2[CR_MULTIPART_BOUNDARY_MAX];
    rnd[CR_MULTIPART_RANDOM - 1] ^= 1;
    cr_multipart_boundary(b2, rnd);
    assert_string_not_equal(b, b2);
}

/* Splits body into parts by "--b" at the start and CRLF "--b" later (RFC 2046), returning the count;
 * part i's bytes (headers + body) go to parts[i]. Stops at the close delimiter. */
static int split_parts(const char *body, size_t len, const char *boundary, cr_buf_t *parts, int max,
                       int *closed)
{
    char open[96], delim[100];
    snprintf(open, sizeof(open), "--%s\r\n", boundary);
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    size_t ol = strlen(open), dl = strlen(delim);
    assert_true(len >= ol);
    assert_memory_equal(body, open, ol);
    size_t at = ol;
    int n = 0;
    *closed = 0;
    while (n < max) {
        const char *d = memmem(body + at, len - at, delim, dl);
        if (!d)
            break;
        size_t end = (size_t)(d - body);
        cr_buf_append(&parts[n++], body + at, end - at);
        at = end + dl;
        if (len - at >= 2 && memcmp(body + at, "--", 2) == 0) {
            *closed = 1;
            break;
        }
        assert_memory_equal(body + at, "\r\n", 2);
        at += 2;
    }
    return n;
}

static void test_multipart_roundtrip(void **state)
{
    (void)state;
    const char *boundary = "crier-00112233445566778899aabbccddeeff0011223344556677";
    /* Payloads that look like delimiters of another boundary, end in CRLF, or are empty. */
    const char *payloads[] = {"hello", "line1\r\n--crier-ffff\r\nnot a part", "\r\n", ""};
    cr_buf_t body = CR_BUF_INIT;
    cr_buf_printf(&body, "--%s\r\n", boundary);
    for (size_t i = 0; i < 4; i++) {
        cr_multipart_header_t h[] = {{"Content-Type", "text/plain", 10}, {"X-Crier-Event", NULL, 0}};
        cr_multipart_headers(&body, h, 2);
        cr_buf_puts(&body, payloads[i]);
        if (i == 3)
            cr_multipart_close(&body, boundary);
        else
            cr_multipart_delimiter(&body, boundary);
    }
    cr_buf_t parts[8];
    memset(parts, 0, sizeof(parts));
    int closed;
    int n = split_parts(body.data, body.len, boundary, parts, 8, &closed);
    assert_int_equal(n, 4);
    assert_true(closed);
    for (int i = 0; i < n; i++) {
        const char *hdr_end = memmem(parts[i].data, parts[i].len, "\r\n\r\n", 4);
        assert_non_null(hdr_end);
        assert_memory_equal(parts[i].data, "Content-Type: text/plain\r\n\r\n", 28); /* NULL header skipped */
        size_t blen = parts[i].len - (size_t)(hdr_end + 4 - parts[i].data);
        assert_int_equal(blen, strlen(payloads[i]));
        assert_memory_equal(hdr_end + 4, payloads[i], blen);
        cr_buf_free(&parts[i]);
    }
    cr_buf_free(&body);
}

static void test_multipart_header_injection_and_collision(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    const char evil[] = "text/plain\r\nX-Evil: 1\r\n\r\nbody";
    cr_multipart_header_t h[] = {{"Content-Type", evil, sizeof(evil) - 1}};
    cr_multipart_headers(&b, h, 1);
    assert_string_equal(cstr(&b), "Content-Type: text/plainX-Evil: 1body\r\n\r\n");
    cr_buf_free(&b);
    const char *bd = "crier-abc";
    assert_true(cr_multipart_collides("xx--crier-abcyy", 15, bd));
    assert_true(cr_multipart_collides("crier-abc", 9, bd));
    assert_false(cr_multipart_collides("crier-ab", 8, bd));
    assert_false(cr_multipart_collides("", 0, bd));
    assert_true(cr_multipart_type_valid("image/png", 9));
    assert_false(cr_multipart_type_valid("png", 3));
    assert_false(cr_multipart_type_valid("a/b\r\n", 5));
    assert_false(cr_multipart_type_valid("", 0));
}

/* --- pushlet ----------------------------------------------------------------------------------------- */

static void test_callback_validation(void **state)
{
    (void)state;
    const char *good[] = {"fn", "onMsg", "parent.onMsg", "window.app.$handle_2", "_x", "$"};
    const char *bad[] = {"",          "1fn",         "a..b",        ".a",   "a.",        "a b",
                         "alert(1)",  "a;b",         "a[0]",        "new",  "function",  "a-b",
                         "x\xc3\xa9", "_crier_push", "parent.on\n", "a.1b", "</script>", "this.x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(cr_pushlet_callback_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(cr_pushlet_callback_valid(bad[i], strlen(bad[i])));
    char longname[CR_PUSHLET_CALLBACK_MAX + 2];
    memset(longname, 'a', sizeof(longname));
    assert_true(cr_pushlet_callback_valid(longname, CR_PUSHLET_CALLBACK_MAX));
    assert_false(cr_pushlet_callback_valid(longname, CR_PUSHLET_CALLBACK_MAX + 1));
}

static void test_script_escaping(void **state)
{
    (void)state;
    /* A JSON text whose strings hold everything that could end a script or a line. */
    const char json[] =
        "{\"data\":\"</script><script>alert(1)</script><!-- a && b \xe2\x80\xa8|\xe2\x80\xa9|\xe2\x82\xac\"}";
    cr_buf_t b = CR_BUF_INIT;
    cr_pushlet_call(&b, json, sizeof(json) - 1);
    const char *out = cstr(&b);
    const char *open = "<script>" CR_PUSHLET_RELAY "(";
    assert_memory_equal(out, open, strlen(open));
    const char *tail = ");</script>\n";
    assert_string_equal(out + b.len - strlen(tail), tail);
    /* Between the script tags: no '<', '>', '&' and no raw U+2028/U+2029. */
    size_t inner_len = b.len - strlen(open) - strlen(tail);
    const char *inner = out + strlen(open);
    assert_null(memchr(inner, '<', inner_len));
    assert_null(memchr(inner, '>', inner_len));
    assert_null(memchr(inner, '&', inner_len));
    assert_null(memmem(inner, inner_len, "\xe2\x80\xa8", 3));
    assert_null(memmem(inner, inner_len, "\xe2\x80\xa9", 3));
    assert_non_null(memmem(inner, inner_len, "\\u003c/script\\u003e", 19));
    assert_non_null(memmem(inner, inner_len, "\\u2028|\\u2029|\xe2\x82\xac", 16)); /* other UTF-8 kept */
    cr_buf_free(&b);
    /* Already-safe JSON passes unchanged. */
    cr_buf_t c = CR_BUF_INIT;
    cr_pushlet_json(&c, "{\"a\":\"\\u003c\"}", 14);
    assert_string_equal(cstr(&c), "{\"a\":\"\\u003c\"}");
    cr_buf_free(&c);
}

static void test_pushlet_preamble(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    cr_pushlet_preamble(&b, "parent.onMsg", 12);
    const char *out = cstr(&b);
    assert_true(b.len > CR_PUSHLET_PADDING);
    assert_true(CR_PUSHLET_PADDING >= 1024);
    assert_memory_equal(out, "<!DOCTYPE html>", 15);
    assert_non_null(strstr(out, "function " CR_PUSHLET_RELAY "(m){parent.onMsg(m);}"));
    cr_buf_free(&b);
    cr_buf_t k = CR_BUF_INIT;
    cr_pushlet_keepalive(&k);
    assert_string_equal(cstr(&k), "<!-- -->\n");
    cr_buf_free(&k);
}

/* --- feeds ------------------------------------------------------------------------------------------- */

static void test_xml_text(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    const char in[] = "a<b>&\"'\r\n\t";
    cr_xml_text(&b, in, sizeof(in) - 1);
    assert_string_equal(cstr(&b), "a&lt;b&gt;&amp;&quot;&apos;&#13;\n\t");
    b.len = 0;
    /* NUL, a C0 control, a lone continuation byte, a surrogate, U+FFFE, an overlong '/',
     * a truncated sequence: each invalid in XML, each one U+FFFD per bad byte or char. */
    const char bad[] = {'x',        0,          'y',        1,          (char)0x80,
                        (char)0xed, (char)0xa0, (char)0x80, (char)0xef, (char)0xbf,
                        (char)0xbe, (char)0xc0, (char)0xaf, (char)0xe2, (char)0x82};
    cr_xml_text(&b, bad, sizeof(bad));
    const char *out = cstr(&b);
    /* Bytes that start no valid sequence are replaced one by one; U+FFFE, well-formed, as one. */
    cr_buf_t want = CR_BUF_INIT;
    cr_buf_puts(&want, "x\xef\xbf\xbdy");
    for (int i = 0; i < 10; i++)
        cr_buf_puts(&want, "\xef\xbf\xbd");
    assert_string_equal(out, cstr(&want));
    cr_buf_free(&want);
    b.len = 0;
    const char ok[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* é € 😀 kept as they are */
    cr_xml_text(&b, ok, sizeof(ok) - 1);
    assert_string_equal(cstr(&b), ok);
    cr_buf_free(&b);
}

static void test_dates(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    cr_rfc3339(&b, 0);
    assert_string_equal(cstr(&b), "1970-01-01T00:00:00.000Z");
    b.len = 0;
    cr_rfc3339(&b, 1700000000123LL);
    assert_string_equal(cstr(&b), "2023-11-14T22:13:20.123Z");
    b.len = 0;
    cr_rfc3339(&b, 951782400007LL); /* 2000-02-29, a leap day */
    assert_string_equal(cstr(&b), "2000-02-29T00:00:00.007Z");
    cr_buf_free(&b);
}

static void test_feed_shapes(void **state)
{
    (void)state;
    cr_feed_t f = {CR_FEED_ATOM, "news", 4, "http://h:1", 10, 1700000000123LL};
    cr_feed_entry_t text = {"1700000000123-0",        15, 1700000000123LL, "text/plain", 10, "alert", 5,
                            "first line <b>\nsecond", 21};
    const char png[] = "\x89PNG\r\n\x1a\n\0\0";
    cr_feed_entry_t bin = {"1700000000000-1", 15, 1700000000000LL, "image/png", 9, NULL, 0, png, 10};
    cr_buf_t b = CR_BUF_INIT;
    cr_feed_begin(&b, &f);
    cr_feed_entry(&b, &f, &text);
    cr_feed_entry(&b, &f, &bin);
    cr_feed_end(&b, &f);
    const char *atom = cstr(&b);
    assert_non_null(strstr(atom, "<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    assert_non_null(strstr(atom, "<id>tag:crier,2024:channel/news</id>"));
    assert_non_null(strstr(atom, "<updated>2023-11-14T22:13:20.123Z</updated>"));
    assert_non_null(strstr(atom, "<id>tag:crier,2024:channel/news/1700000000123-0</id>"));
    assert_non_null(strstr(atom, "<title type=\"text\">first line &lt;b&gt;\xe2\x80\xa6</title>"));
    assert_non_null(strstr(atom, "<category term=\"alert\"/>"));
    assert_non_null(strstr(atom, "<content type=\"image/png\">iVBORw0KGgoAAA==</content>"));
    assert_non_null(strstr(atom, "href=\"http://h:1/feed/news.atom\""));
    assert_string_equal(atom + b.len - 8, "</feed>\n");
    b.len = 0;
    f.kind = CR_FEED_RSS;
    cr_feed_begin(&b, &f);
    cr_feed_entry(&b, &f, &text);
    cr_feed_entry(&b, &f, &bin);
    cr_feed_end(&b, &f);
    const char *rss = cstr(&b);
    assert_non_null(strstr(rss, "<rss version=\"2.0\""));
    assert_non_null(strstr(rss, "<link>http://h:1/sub/news</link>"));
    assert_non_null(
        strstr(rss, "<guid isPermaLink=\"false\">tag:crier,2024:channel/news/1700000000123-0</guid>"));
    assert_non_null(strstr(rss, "<pubDate>Tue, 14 Nov 2023 22:13:20 GMT</pubDate>"));
    assert_non_null(strstr(rss, "<title>binary message (10 bytes, image/png)</title>"));
    assert_null(strstr(rss, "PNG"));
    cr_buf_free(&b);
    assert_true(cr_feed_is_text(NULL, 0, "hi", 2));
    assert_true(cr_feed_is_text("application/json", 16, "{}", 2));
    assert_false(cr_feed_is_text("IMAGE/png", 9, "hi", 2));
    assert_false(cr_feed_is_text(NULL, 0, "\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary_grammar),
        cmocka_unit_test(test_multipart_roundtrip),
        cmocka_unit_test(test_multipart_header_injection_and_collision),
        cmocka_unit_test(test_callback_validation),
        cmocka_unit_test(test_script_escaping),
        cmocka_unit_test(test_pushlet_preamble),
        cmocka_unit_test(test_xml_text),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_feed_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
