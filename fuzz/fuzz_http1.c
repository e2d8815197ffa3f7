/* libFuzzer target for the HTTP/1.1 request parser and the chunked decoder behind it: the input
 * is a stream of pipelined requests. Each head is parsed, then its body is skipped
 * (Content-Length) or decoded in place (chunked), and the loop goes on with the next request.
 * Beyond memory safety it checks the parser's contract: spans inside the head, results that do
 * not depend on how many bytes had arrived, and the head limit.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/chunked.h"
#include "proto/http1_parse.h"
#include "fuzz_check.h"

#define MAX_HEAD 2048
#define MAX_BODY 65536

static int span_in(cr_span_t s, const char *p, size_t n)
{
    return s.ptr >= p && s.len <= n && (size_t)(s.ptr - p) <= n - s.len;
}

static void check_request(const cr_http_request_t *req, const char *p, size_t n)
{
    check(span_in(req->method, p, n) && req->method.len > 0);
    check(span_in(req->target, p, n) && req->target.len > 0);
    check(span_in(req->path, p, n) && span_in(req->query, p, n));
    check(req->path.ptr == req->target.ptr && req->path.len <= req->target.len);
    check(req->query.len == 0 || req->query.ptr == req->path.ptr + req->path.len + 1);
    check(req->target.ptr[0] == '/' || (req->target.len == 1 && req->target.ptr[0] == '*'));
    check(req->minor_version == 0 || req->minor_version == 1);
    check(req->nheaders <= CR_HTTP_MAX_HEADERS);
    check(req->content_length >= -1 && req->content_length <= ((int64_t)1 << 62));
    check(!(req->chunked && req->content_length >= 0));
    check(!(req->chunked && req->minor_version == 0));
    check(!req->expect_continue || req->minor_version == 1);
    for (size_t i = 0; i < req->nheaders; i++) {
        const cr_http_header_t *h = &req->headers[i];
        check(span_in(h->name, p, n) && span_in(h->value, p, n) && h->name.len > 0);
        if (h->value.len > 0) {
            char first = h->value.ptr[0], last = h->value.ptr[h->value.len - 1];
            check(first != ' ' && first != '\t' && last != ' ' && last != '\t');
        }
        check(memchr(h->value.ptr, '\r', h->value.len) == NULL &&
              memchr(h->value.ptr, '\n', h->value.len) == NULL);
        check(cr_http_header_find(req, "x") == NULL || cr_http_header_find(req, "x")->name.len == 1);
        (void)cr_http_token_list_has(h->value, "close");
    }
    const cr_http_header_t *host = cr_http_header_find(req, "Host");
    check(req->minor_version == 0 || host != NULL);
    int close = 0, keep = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (cr_span_ieq(req->headers[i].name, "connection")) {
            close |= cr_http_token_list_has(req->headers[i].value, "close");
            keep |= cr_http_token_list_has(req->headers[i].value, "keep-alive");
        }
    }
    check(req->keep_alive == (req->minor_version == 1 ? !close : keep && !close));
    if (req->upgrade)
        check(cr_http_header_find(req, "upgrade") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private, exactly sized, writable copy: chunked bodies are decoded in place. */
    char *buf = malloc(size ? size : 1);
    if (size)
        memcpy(buf, data, size);
    size_t off = 0;
    cr_http_request_t req, again;

    while (off < size) {
        const char *p = buf + off;
        size_t len = size - off;
        ssize_t n = cr_http1_parse_request(p, len, MAX_HEAD, &req);
        check(cr_http1_parse_request(p, len, MAX_HEAD, &again) == n);
        if (n < 0) {
            check(n == CR_EAGAIN || n == CR_EBADREQ || n == CR_EHDRTOOBIG || n == CR_EVERSION);
            check(n != CR_EAGAIN || len <= MAX_HEAD);
            if (n == CR_EAGAIN)
                check(cr_http1_parse_request(p, len / 2, MAX_HEAD, &again) == CR_EAGAIN);
            break;
        }
        size_t h = (size_t)n;
        check(h <= len && h <= MAX_HEAD && h >= 16);
        check(p[h - 2] == '\r' && p[h - 1] == '\n');
        check_request(&req, p, h);
        /* Fewer bytes of a valid head are always "need more"; the head alone parses the same;
         * a limit one byte short of the head is a 431. */
        check(cr_http1_parse_request(p, h - 1, MAX_HEAD, &again) == CR_EAGAIN);
        check(cr_http1_parse_request(p, h / 2, MAX_HEAD, &again) == CR_EAGAIN);
        check(cr_http1_parse_request(p, h, h, &again) == n);
        check(again.nheaders == req.nheaders && again.content_length == req.content_length);
        check(cr_http1_parse_request(p, h, h - 1, &again) == CR_EHDRTOOBIG);
        off += h;

        if (req.chunked) {
            cr_chunked_t d;
            size_t out_len;
            cr_chunked_init(&d, MAX_BODY);
            ssize_t used = cr_chunked_decode(&d, buf + off, size - off, buf + off, &out_len);
            if (used < 0) {
                check(used == CR_EBADREQ || used == CR_EBODYTOOBIG);
                break;
            }
            check((size_t)used <= size - off && out_len <= (size_t)used && d.total == out_len);
            check(d.total <= MAX_BODY);
            if (!d.done)
                break;
            off += (size_t)used;
        } else if (req.content_length > 0) {
            if ((uint64_t)req.content_length > size - off)
                break;
            off += (size_t)req.content_length;
        }
    }
    free(buf);
    return 0;
}
