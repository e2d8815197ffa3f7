/* Unit tests for the HTTP/1.1 request-head parser: valid heads, pipelining, limits (431),
 * every malformed form it must refuse (400/505), connection semantics, and incremental input at
 * every split point with each input ending on a PROT_NONE guard page.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include "core/err.h"
#include "proto/http1_parse.h"
#include "test_util.h"

#define MAX_HEAD 8192

static tu_guard_t guard = TU_GUARD_INIT;

/* Parses s[0..len) placed right before the guard page. */
static ssize_t parse_n(const char *s, size_t len, size_t max_head, cr_http_request_t *req)
{
    const char *p = tu_guard_copy(&guard, s, len);
    return cr_http1_parse_request(p, len, max_head, req);
}

static ssize_t parse(const char *s, cr_http_request_t *req)
{
    return parse_n(s, strlen(s), MAX_HEAD, req);
}

static int span_is(cr_span_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* Expects the whole of s to parse to rc, and every prefix to give CR_EAGAIN or that same rc: an
 * error must never depend on how the bytes arrived, and no prefix of a bad head may succeed. */
static void check_rc(int line, const char *s, ssize_t rc)
{
    cr_http_request_t req;
    size_t len = strlen(s);
    ssize_t got = parse_n(s, len, MAX_HEAD, &req);
    if (got != rc)
        fail_msg("line %d: whole input gave %zd, want %zd", line, got, rc);
    for (size_t k = 0; k < len; k++) {
        got = parse_n(s, k, MAX_HEAD, &req);
        if (got != CR_EAGAIN && got != rc)
            fail_msg("line %d: prefix of %zu bytes gave %zd, want CR_EAGAIN or %zd", line, k, got, rc);
    }
}

static void bad(int line, const char *s)
{
    check_rc(line, s, CR_EBADREQ);
}

static void test_simple_get(void **state)
{
    (void)state;
    cr_http_request_t req;
    const char *s =
        "GET /sub/news?last=5&x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: text/event-stream\r\n\r\n";
    assert_int_equal(parse(s, &req), (ssize_t)strlen(s));
    assert_true(span_is(req.method, "GET"));
    assert_true(span_is(req.target, "/sub/news?last=5&x=1"));
    assert_true(span_is(req.path, "/sub/news"));
    assert_true(span_is(req.query, "last=5&x=1"));
    assert_int_equal(req.minor_version, 1);
    assert_int_equal(req.nheaders, 2);
    assert_true(span_is(req.headers[0].name, "Host"));
    assert_true(span_is(req.headers[0].value, "example.com"));
    assert_true(span_is(req.headers[1].name, "Accept"));
    assert_true(span_is(req.headers[1].value, "text/event-stream"));
    assert_int_equal(req.content_length, -1);
    assert_int_equal(req.chunked, 0);
    assert_int_equal(req.keep_alive, 1);
    assert_int_equal(req.expect_continue, 0);
    assert_int_equal(req.upgrade, 0);
}

/* RFC 9112 §3.2.2: absolute-form targets are accepted; path and query come from after the authority. */
static void test_absolute_form(void **state)
{
    (void)state;
    cr_http_request_t req;
    const char *s = "GET http://example.com:8080/sub/x?since=all HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_int_equal(parse(s, &req), (ssize_t)strlen(s));
    assert_true(span_is(req.path, "/sub/x"));
    assert_true(span_is(req.query, "since=all"));
    s = "GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(parse(s, &req), (ssize_t)strlen(s));
    assert_true(span_is(req.path, "/"));
    assert_int_equal(req.query.len, 0);
}

static void test_post_content_length(void **state)
{
    (void)state;
    cr_http_request_t req;
    const char *head = "POST /pub/news HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                       "Content-Type: text/plain\r\n\r\n";
    char s[256];
    snprintf(s, sizeof(s), "%shello", head);
    assert_int_equal(parse(s, &req), (ssize_t)strlen(head));
    assert_true(span_is(req.method, "POST"));
    assert_int_equal(req.content_length, 5);
    assert_int_equal(req.chunked, 0);
    assert_int_equal(req.query.len, 0);
    assert_true(span_is(req.path, "/pub/news"));

    /* Repeated identical Content-Length values are one value (RFC 9110 §8.6). */
    assert_true(
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 007\r\n\r\n", &req) > 0);
    assert_int_equal(req.content_length, 7);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req) > 0);
    assert_int_equal(req.content_length, 0);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387904\r\n\r\n", &req) > 0);
    assert_int_equal(req.content_length, (int64_t)1 << 62);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000000000000000001\r\n\r\n",
                      &req) > 0);
    assert_int_equal(req.content_length, 1);
}

static void test_chunked_request(void **state)
{
    (void)state;
    cr_http_request_t req;
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &req) > 0);
    assert_int_equal(req.chunked, 1);
    assert_int_equal(req.content_length, -1);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &req) > 0);
    assert_int_equal(req.chunked, 1);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &req) > 0);
    assert_int_equal(req.chunked, 1);
    assert_true(
        parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
              &req) > 0);
    assert_int_equal(req.chunked, 1);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked , \r\n\r\n", &req) > 0);
    assert_int_equal(req.chunked, 1);
}

static void test_pipelined(void **state)
{
    (void)state;
    cr_http_request_t req;
    const char *s = "POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /sub/a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                    "GET /x HTTP/1.1\r\n";
    size_t len = strlen(s), off = 0;

    ssize_t n = parse_n(s, len, MAX_HEAD, &req);
    assert_true(n > 0);
    assert_true(span_is(req.path, "/pub/a"));
    assert_int_equal(req.content_length, 3);
    off = (size_t)n + 3;

    n = parse_n(s + off, len - off, MAX_HEAD, &req);
    assert_true(n > 0);
    assert_true(span_is(req.method, "GET"));
    assert_true(span_is(req.path, "/sub/a"));
    assert_int_equal(req.keep_alive, 0);
    off += (size_t)n;

    assert_int_equal(parse_n(s + off, len - off, MAX_HEAD, &req), CR_EAGAIN);
}

static void test_leading_empty_lines(void **state)
{
    (void)state;
    cr_http_request_t req;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(s, &req), (ssize_t)strlen(s));
    assert_true(span_is(req.method, "GET"));
    assert_int_equal(parse("\r\n", &req), CR_EAGAIN);
    assert_int_equal(parse("\r", &req), CR_EAGAIN);
    assert_int_equal(parse("", &req), CR_EAGAIN);
}

static void test_path_query(void **state)
{
    (void)state;
    cr_http_request_t req;
    assert_true(parse("GET /a?b=1?c HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(span_is(req.path, "/a"));
    assert_true(span_is(req.query, "b=1?c"));
    assert_true(parse("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(span_is(req.path, "/a"));
    assert_int_equal(req.query.len, 0);
    assert_true(parse("GET /?x HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(span_is(req.path, "/"));
    assert_true(span_is(req.query, "x"));
    assert_true(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(span_is(req.target, "*"));
    assert_true(span_is(req.path, "*"));
    assert_int_equal(req.query.len, 0);
    assert_true(parse("GET /%41b;c=d,e@f:g!$'()*+~ HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(span_is(req.path, "/%41b;c=d,e@f:g!$'()*+~"));
}

static void test_header_values(void **state)
{
    (void)state;
    cr_http_request_t req;
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nX:  \t a \t b \t \r\nY:\r\nZ:   \r\nW:\tv\r\n"
                      "O: caf\xc3\xa9\r\n\r\n",
                      &req) > 0);
    assert_int_equal(req.nheaders, 6);
    assert_true(span_is(req.headers[1].value, "a \t b"));
    assert_int_equal(req.headers[2].value.len, 0);
    assert_int_equal(req.headers[3].value.len, 0);
    assert_true(span_is(req.headers[4].value, "v"));
    assert_true(span_is(req.headers[5].value, "caf\xc3\xa9")); /* obs-text is allowed in values */

    const cr_http_header_t *h = cr_http_header_find(&req, "x");
    assert_non_null(h);
    assert_ptr_equal(h, &req.headers[1]);
    assert_ptr_equal(cr_http_header_find(&req, "HOST"), &req.headers[0]);
    assert_null(cr_http_header_find(&req, "Xx"));
    assert_null(cr_http_header_find(&req, ""));

    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\na: 2\r\n\r\n", &req) > 0);
    assert_true(span_is(cr_http_header_find(&req, "A")->value, "1"));
}

/* Builds "GET / HTTP/1.1\r\nHost: a\r\nX: aaa...\r\n\r\n" of exactly total bytes. */
static char *head_of_size(size_t total)
{
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t fixed = strlen(pre) + 4;
    assert_true(total > fixed);
    char *s = malloc(total + 1);
    assert_non_null(s);
    memcpy(s, pre, strlen(pre));
    memset(s + strlen(pre), 'a', total - fixed);
    memcpy(s + total - 4, "\r\n\r\n", 5);
    return s;
}

static void test_head_limit(void **state)
{
    (void)state;
    cr_http_request_t req;
    const size_t lim = 1024;
    char *s = head_of_size(lim);
    assert_int_equal(parse_n(s, lim, lim, &req), (ssize_t)lim);
    /* A head of limit + 1 bytes is refused with 431 once the byte past the limit is in. */
    free(s);
    s = head_of_size(lim + 1);
    assert_int_equal(parse_n(s, lim + 1, lim, &req), CR_EHDRTOOBIG);
    assert_int_equal(parse_n(s, lim, lim, &req), CR_EAGAIN);
    assert_int_equal(parse_n(s, lim + 1, lim + 1, &req), (ssize_t)(lim + 1));
    free(s);

    /* A trickled header that never ends: 431 as soon as len > max_head, CR_EAGAIN before. */
    char *t = malloc(4 * lim);
    assert_non_null(t);
    int pre = snprintf(t, 4 * lim, "GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ");
    memset(t + pre, 'z', 4 * lim - (size_t)pre);
    assert_int_equal(parse_n(t, lim, lim, &req), CR_EAGAIN);
    assert_int_equal(parse_n(t, lim + 1, lim, &req), CR_EHDRTOOBIG);
    assert_int_equal(parse_n(t, 4 * lim, lim, &req), CR_EHDRTOOBIG);
    /* The same with a huge request line. */
    memcpy(t, "GET /", 5);
    memset(t + 5, 'p', 4 * lim - 5);
    assert_int_equal(parse_n(t, lim, lim, &req), CR_EAGAIN);
    assert_int_equal(parse_n(t, lim + 1, lim, &req), CR_EHDRTOOBIG);
    free(t);

    /* Extra bytes after a complete head do not count against the limit. */
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse_n(ok, strlen(ok), strlen(ok) / 2, &req), (ssize_t)strlen(ok) / 2);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    cr_http_request_t req;
    char s[4096];
    size_t n = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < CR_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "X-%d: %d\r\n", i, i);
    memcpy(s + n, "\r\n", 3);
    assert_int_equal(parse(s, &req), (ssize_t)(n + 2));
    assert_int_equal(req.nheaders, CR_HTTP_MAX_HEADERS);
    assert_true(span_is(req.headers[CR_HTTP_MAX_HEADERS - 1].value, "63"));

    n += (size_t)snprintf(s + n, sizeof(s) - n, "X-last: 1\r\n\r\n");
    check_rc(__LINE__, s, CR_EHDRTOOBIG);
}

static void test_bad_request_line(void **state)
{
    (void)state;
    bad(__LINE__, "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET\x01 / HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, " / HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, " GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET /  HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET httpx HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "OPTIONS */ HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET /a\x01z HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET /a\x7fz HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET /a\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET /\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / \r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / http/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.10\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/11\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/a.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\rHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n");
    bad(__LINE__, "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    bad(__LINE__, "\r\n\rGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    {
        cr_http_request_t req;
        static const char nul[] = "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_int_equal(parse_n(nul, sizeof(nul) - 1, MAX_HEAD, &req), CR_EBADREQ);
    }
}

static void test_bad_version(void **state)
{
    (void)state;
    check_rc(__LINE__, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", CR_EVERSION);
    check_rc(__LINE__, "GET / HTTP/0.9\r\nHost: a\r\n\r\n", CR_EVERSION);
    check_rc(__LINE__, "GET / HTTP/3.0\r\n\r\n", CR_EVERSION);
    /* The HTTP/2 connection preface (RFC 9113 §3.4) is a version error, not garbage. */
    check_rc(__LINE__, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", CR_EVERSION);
    /* 505 is decided on the request line alone. */
    cr_http_request_t req;
    assert_int_equal(parse("GET / HTTP/2.0\r\n", &req), CR_EVERSION);
    /* A higher minor version of HTTP/1 is served as HTTP/1.1 (RFC 9110 section 2.5). */
    const char *v12 = "GET / HTTP/1.2\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(v12, &req), (ssize_t)strlen(v12));
    assert_int_equal(req.minor_version, 1);
    assert_true(req.keep_alive);
}

static void test_bad_headers(void **state)
{
    (void)state;
    bad(__LINE__, "GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX(y: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX\x01: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\n Host: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX: a\rz\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nX: a\nz\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\nX: z\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\n\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\n\rX");
    {
        cr_http_request_t req;
        static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
        assert_int_equal(parse_n(nul, sizeof(nul) - 1, MAX_HEAD, &req), CR_EBADREQ);
    }
}

static void test_bad_framing(void **state)
{
    (void)state;
    /* Content-Length: digits only, one value, at most 2^62. */
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387905\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999999\r\n\r\n");
    /* Content-Length with Transfer-Encoding, in either order. */
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
    /* The final coding must be chunked, applied once. */
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    bad(__LINE__,
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n");
    bad(__LINE__, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n");
    /* Transfer-Encoding on HTTP/1.0. */
    bad(__LINE__, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    /* Host: required in HTTP/1.1, never twice. */
    bad(__LINE__, "GET / HTTP/1.1\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nX-Host: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n");
    bad(__LINE__, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
}

static void test_host_rules(void **state)
{
    (void)state;
    cr_http_request_t req;
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    assert_int_equal(req.minor_version, 0);
    assert_int_equal(req.nheaders, 0);
    assert_true(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req) > 0); /* empty Host is allowed */
    assert_true(parse("GET / HTTP/1.1\r\nhost: a\r\n\r\n", &req) > 0);
}

static void test_keep_alive(void **state)
{
    (void)state;
    cr_http_request_t req;
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 0);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 1);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 1);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: close\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 0);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 0);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 0);

    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 1);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 0);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 0);
    assert_true(
        parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 0);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &req) > 0);
    assert_int_equal(req.keep_alive, 1);
}

static void test_connection_upgrade(void **state)
{
    (void)state;
    cr_http_request_t req;
    assert_true(
        parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
              &req) > 0);
    assert_int_equal(req.upgrade, 1);
    assert_int_equal(req.keep_alive, 1);
    assert_true(parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection:\tupgrade\t\r\n\r\n",
                      &req) > 0);
    assert_int_equal(req.upgrade, 1);
    assert_true(parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n", &req) > 0);
    assert_int_equal(req.upgrade, 0);
    assert_true(parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &req) > 0);
    assert_int_equal(req.upgrade, 0);
    assert_true(
        parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgraded\r\nUpgrade: websocket\r\n\r\n", &req) > 0);
    assert_int_equal(req.upgrade, 0);
    assert_true(
        parse(
            "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
            &req) > 0);
    assert_int_equal(req.upgrade, 1);
    assert_int_equal(req.keep_alive, 0);
}

static void test_token_list(void **state)
{
    (void)state;
    assert_true(cr_http_token_list_has(CR_SPAN_LIT("keep-alive, Upgrade"), "upgrade"));
    assert_true(cr_http_token_list_has(CR_SPAN_LIT("keep-alive, Upgrade"), "KEEP-ALIVE"));
    assert_true(cr_http_token_list_has(CR_SPAN_LIT(" , ,\tupgrade\t, "), "upgrade"));
    assert_true(cr_http_token_list_has(CR_SPAN_LIT("upgrade"), "upgrade"));
    assert_false(cr_http_token_list_has(CR_SPAN_LIT("upgrades"), "upgrade"));
    assert_false(cr_http_token_list_has(CR_SPAN_LIT("up grade"), "upgrade"));
    assert_false(cr_http_token_list_has(CR_SPAN_LIT("upgrad"), "upgrade"));
    assert_false(cr_http_token_list_has(CR_SPAN_LIT(""), "upgrade"));
    assert_false(cr_http_token_list_has(CR_SPAN_LIT(", ,"), ""));
    assert_false(cr_http_token_list_has((cr_span_t){NULL, 0}, "x"));
}

static void test_expect_continue(void **state)
{
    (void)state;
    cr_http_request_t req;
    assert_true(
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", &req) > 0);
    assert_int_equal(req.expect_continue, 1);
    assert_true(
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nexpect: 100-Continue\r\n\r\n", &req) > 0);
    assert_int_equal(req.expect_continue, 1);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", &req) > 0);
    assert_int_equal(req.expect_continue, 0);
    /* RFC 9110 §10.1.1: 100-continue in HTTP/1.0 is ignored. */
    assert_true(parse("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", &req) > 0);
    assert_int_equal(req.expect_continue, 0);
}

/* Feeding a re-parsing parser: pieces accumulate and each time the whole prefix so far is parsed
 * (from a guard-page copy). Until the head is complete it must say CR_EAGAIN, then give exactly
 * the same result as parsing the input whole. */
typedef struct feed_ctx {
    const char *input;
    size_t input_len;
    size_t have;
    ssize_t head_len; /* the expected result for the whole input */
    ssize_t last;
    const char *schedule;
    cr_http_request_t whole;
} feed_ctx_t;

static void feed_begin(void *arg, const char *schedule)
{
    feed_ctx_t *c = arg;
    c->have = 0;
    c->last = CR_EAGAIN;
    c->schedule = schedule;
}

static void feed_piece(void *arg, char *piece, size_t len, size_t off)
{
    feed_ctx_t *c = arg;
    cr_http_request_t req;
    assert_int_equal(off, c->have);
    assert_memory_equal(piece, c->input + off, len);
    c->have += len;
    c->last = parse_n(c->input, c->have, MAX_HEAD, &req);
    ssize_t want = c->have < (size_t)c->head_len ? CR_EAGAIN : c->head_len;
    if (c->last != want)
        fail_msg("%s: after %zu bytes got %zd, want %zd", c->schedule, c->have, c->last, want);
    if (c->last > 0) {
        assert_int_equal(req.nheaders, c->whole.nheaders);
        assert_int_equal(req.method.len, c->whole.method.len);
        assert_int_equal(req.target.len, c->whole.target.len);
        assert_int_equal(req.content_length, c->whole.content_length);
        assert_int_equal(req.chunked, c->whole.chunked);
        assert_int_equal(req.keep_alive, c->whole.keep_alive);
        for (size_t i = 0; i < req.nheaders; i++) {
            assert_int_equal(req.headers[i].name.len, c->whole.headers[i].name.len);
            assert_int_equal(req.headers[i].value.len, c->whole.headers[i].value.len);
        }
    }
}

static void feed_end(void *arg)
{
    feed_ctx_t *c = arg;
    assert_int_equal(c->have, c->input_len);
    assert_int_equal(c->last, c->head_len);
}

static void test_incremental(void **state)
{
    (void)state;
    static const char *inputs[] = {
        ("GET /sub/news?last=5 HTTP/1.1\r\nHost: example.com\r\nAccept: text/event-stream\r\n"
         "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"),
        "POST /pub/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Empty:\r\nX-Ows: \t v \t\r\n\r\nhello",
        ("\r\n\r\nPOST /pub/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n0\r\n\r\n"),
        "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    const tu_feed_ops_t ops = {feed_begin, feed_piece, feed_end};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        feed_ctx_t c = {.input = inputs[i], .input_len = strlen(inputs[i])};
        c.head_len = parse_n(inputs[i], c.input_len, MAX_HEAD, &c.whole);
        assert_true(c.head_len > 0);
        size_t runs = tu_feed(c.input, c.input_len, &ops, &c);
        assert_int_equal(runs, c.input_len + 1);
    }
}

/* The guard really is armed: reading the byte after a guarded copy kills the process. */
static void test_guard_page(void **state)
{
    (void)state;
    tu_guard_t g = TU_GUARD_INIT;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r";
    volatile const char *p = tu_guard_copy(&g, s, strlen(s));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        char c = p[strlen(s)];
        _exit(c == 42 ? 3 : 0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) ||
                (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3));

    /* Heads cut at each awkward place stop at the guard instead of reading on. */
    cr_http_request_t req;
    assert_int_equal(cr_http1_parse_request((const char *)p, strlen(s), MAX_HEAD, &req), CR_EAGAIN);
    static const char *cuts[] = {"G",
                                 "GET",
                                 "GET ",
                                 "GET /",
                                 "GET / ",
                                 "GET / HTTP/1",
                                 "GET / HTTP/1.1",
                                 "GET / HTTP/1.1\r",
                                 "GET / HTTP/1.1\r\nH",
                                 "GET / HTTP/1.1\r\nHost",
                                 "GET / HTTP/1.1\r\nHost:",
                                 "GET / HTTP/1.1\r\nHost: ",
                                 "GET / HTTP/1.1\r\nHost: a",
                                 "GET / HTTP/1.1\r\nHost: a\r",
                                 "GET / HTTP/1.1\r\nHost: a\r\n",
                                 "OPTIONS *"};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        const char *q = tu_guard_copy(&g, cuts[i], strlen(cuts[i]));
        assert_int_equal(cr_http1_parse_request(q, strlen(cuts[i]), MAX_HEAD, &req), CR_EAGAIN);
    }
    /* A zero-length input at the very end of the mapping. */
    assert_int_equal(cr_http1_parse_request(tu_guard_copy(&g, "", 0), 0, MAX_HEAD, &req), CR_EAGAIN);
    tu_guard_free(&g);
}

static int teardown(void **state)
{
    (void)state;
    tu_guard_free(&guard);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),          cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_post_content_length), cmocka_unit_test(test_chunked_request),
        cmocka_unit_test(test_pipelined),           cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_path_query),          cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_head_limit),          cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_bad_request_line),    cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_bad_headers),         cmocka_unit_test(test_bad_framing),
        cmocka_unit_test(test_host_rules),          cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_connection_upgrade),  cmocka_unit_test(test_token_list),
        cmocka_unit_test(test_expect_continue),     cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_guard_page),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
