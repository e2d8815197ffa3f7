/* HTTP/1.1 request-head parser, written from RFC 9112. One forward pass that validates every byte
 * as it goes (so garbage is rejected early and a trickled head costs no more than re-scanning a
 * bounded prefix), then a pass over the collected headers for the framing rules that defend
 * against request smuggling. Never allocates, never reads past buf[len), never past max_head.
 * SPDX-License-Identifier: MIT */
#include "proto/http1_parse.h"

#include <string.h>

#include "core/err.h"

/* Content-Length values above this are refused: no body crier accepts comes near it, and the
 * bound keeps every arithmetic on it far from int64_t overflow. */
#define CL_MAX ((int64_t)1 << 62)

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
 *         / DIGIT / ALPHA (RFC 9110 §5.6.2) */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Turns an absolute-form target "http://authority/path?query" into the span of
 * its "/path?query" (possibly empty). 0, or CR_EBADREQ if it is not http(s). */
static int absolute_to_origin(cr_span_t *t)
{
    size_t skip;
    if (t->len >= 7 && cr_span_ieq((cr_span_t){t->ptr, 7}, "http://"))
        skip = 7;
    else if (t->len >= 8 && cr_span_ieq((cr_span_t){t->ptr, 8}, "https://"))
        skip = 8;
    else
        return CR_EBADREQ;
    size_t i = skip;
    while (i < t->len && t->ptr[i] != '/' && t->ptr[i] != '?')
        i++;
    if (i == skip)
        return CR_EBADREQ; /* no authority */
    t->ptr += i;
    t->len -= i;
    return 0;
}

/* Request-target bytes: visible ASCII except '#' (a fragment is never sent, RFC 9112 §3.2). */
static int is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

/* field-value bytes: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5). */
static int is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Expects CRLF at buf[*pos]. */
static int expect_crlf(const char *buf, size_t end, size_t *pos)
{
    if (*pos == end)
        return CR_EAGAIN;
    if (buf[*pos] != '\r')
        return CR_EBADREQ;
    if (*pos + 1 == end)
        return CR_EAGAIN;
    if (buf[*pos + 1] != '\n')
        return CR_EBADREQ;
    *pos += 2;
    return 0;
}

static int parse_request_line(const char *buf, size_t end, size_t *pos, cr_http_request_t *req)
{
    static const char proto[] = "HTTP/";
    size_t p = *pos, start;
    int major, rc;

    /* RFC 9112 §2.2: a server SHOULD ignore empty lines received before the request line. */
    while (p < end && buf[p] == '\r') {
        if ((rc = expect_crlf(buf, end, &p)) != 0)
            return rc;
    }

    start = p;
    while (p < end && is_tchar((unsigned char)buf[p]))
        p++;
    if (p == end)
        return CR_EAGAIN;
    if (p == start || buf[p] != ' ')
        return CR_EBADREQ;
    req->method = (cr_span_t){buf + start, p - start};
    p++;

    start = p;
    if (p == end)
        return CR_EAGAIN;
    if (buf[p] == '*') {
        p++;
    } else if (buf[p] == '/' || buf[p] == 'h' || buf[p] == 'H') {
        /* origin-form, or absolute-form (RFC 9112 §3.2.2: a server MUST accept it) */
        while (p < end && is_target_char((unsigned char)buf[p]))
            p++;
    } else {
        return CR_EBADREQ; /* authority-form, an extra SP or garbage */
    }
    if (p == end)
        return CR_EAGAIN;
    if (buf[p] != ' ')
        return CR_EBADREQ;
    req->target = (cr_span_t){buf + start, p - start};
    p++;

    for (size_t i = 0; i < 8; i++, p++) {
        if (p == end)
            return CR_EAGAIN;
        char c = buf[p];
        int ok = i < 5 ? c == proto[i] : i == 6 ? c == '.' : (c >= '0' && c <= '9');
        if (!ok)
            return CR_EBADREQ;
    }
    major = buf[p - 3] - '0';
    req->minor_version = buf[p - 1] - '0';
    if ((rc = expect_crlf(buf, end, &p)) != 0)
        return rc;

    if (major != 1)
        return CR_EVERSION;
    /* RFC 9110 section 2.5: a higher minor version of a major version we speak is
     * handled as the highest minor we implement. */
    if (req->minor_version > 1)
        req->minor_version = 1;
    if (req->target.ptr[0] == '*' && !cr_span_eq(req->method, "OPTIONS"))
        return CR_EBADREQ;

    cr_span_t origin = req->target;
    if (origin.ptr[0] != '/' && origin.ptr[0] != '*' && absolute_to_origin(&origin) < 0)
        return CR_EBADREQ;
    const char *q = memchr(origin.ptr, '?', origin.len);
    if (q) {
        req->path = (cr_span_t){origin.ptr, (size_t)(q - origin.ptr)};
        req->query = (cr_span_t){q + 1, origin.len - req->path.len - 1};
    } else {
        req->path = origin;
        req->query = (cr_span_t){origin.ptr + origin.len, 0};
    }
    if (req->path.len == 0)
        req->path = CR_SPAN_LIT("/"); /* "http://host?x" names the root */
    *pos = p;
    return 0;
}

/* Parses header lines up to and including the empty line. */
static int parse_headers(const char *buf, size_t end, size_t *pos, cr_http_request_t *req)
{
    size_t p = *pos;

    for (;;) {
        if (p == end)
            return CR_EAGAIN;
        if (buf[p] == '\r')
            break;
        /* obs-fold, or whitespace between the start line and the first field (RFC 9112 §2.2, §5.2):
         * both are ways to make two parsers disagree on where a field starts, so refuse them. */
        if (is_ows(buf[p]))
            return CR_EBADREQ;
        if (req->nheaders == CR_HTTP_MAX_HEADERS)
            return CR_EHDRTOOBIG;

        size_t start = p;
        while (p < end && is_tchar((unsigned char)buf[p]))
            p++;
        if (p == end)
            return CR_EAGAIN;
        if (p == start || buf[p] != ':')
            return CR_EBADREQ;
        cr_http_header_t *h = &req->headers[req->nheaders];
        h->name = (cr_span_t){buf + start, p - start};
        p++;

        while (p < end && is_ows(buf[p]))
            p++;
        start = p;
        size_t vend = p; /* one past the last non-OWS byte */
        while (p < end && buf[p] != '\r') {
            if (!is_value_char((unsigned char)buf[p]))
                return CR_EBADREQ;
            p++;
            if (!is_ows(buf[p - 1]))
                vend = p;
        }
        int rc = expect_crlf(buf, end, &p);
        if (rc != 0)
            return rc;
        h->value = (cr_span_t){buf + start, vend - start};
        req->nheaders++;
    }
    int rc = expect_crlf(buf, end, &p);
    if (rc != 0)
        return rc;
    *pos = p;
    return 0;
}

/* Iterates the non-empty elements of a comma-separated list: returns 0 at the end. */
static int list_next(cr_span_t *rest, cr_span_t *elem)
{
    while (rest->len > 0) {
        const char *c = memchr(rest->ptr, ',', rest->len);
        size_t n = c ? (size_t)(c - rest->ptr) : rest->len;
        cr_span_t e = {rest->ptr, n};
        rest->ptr += c ? n + 1 : n;
        rest->len -= c ? n + 1 : n;
        while (e.len > 0 && is_ows(e.ptr[0])) {
            e.ptr++;
            e.len--;
        }
        while (e.len > 0 && is_ows(e.ptr[e.len - 1]))
            e.len--;
        if (e.len > 0) {
            *elem = e;
            return 1;
        }
    }
    return 0;
}

static int parse_content_length(cr_span_t v, int64_t *out)
{
    int64_t n = 0;
    if (v.len == 0)
        return CR_EBADREQ;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return CR_EBADREQ;
        int d = v.ptr[i] - '0';
        if (n > (CL_MAX - d) / 10)
            return CR_EBADREQ;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

/* Applies the framing and connection rules to the collected headers. */
static int check_headers(cr_http_request_t *req)
{
    int hosts = 0, has_te = 0, te_chunked_last = 0, conn_close = 0, conn_keep = 0, conn_upgrade = 0;
    int has_upgrade = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        const cr_http_header_t *h = &req->headers[i];
        cr_span_t rest = h->value, e;

        if (cr_span_ieq(h->name, "content-length")) {
            int64_t n;
            if (parse_content_length(h->value, &n) != 0)
                return CR_EBADREQ;
            if (req->content_length >= 0 && req->content_length != n)
                return CR_EBADREQ;
            req->content_length = n;
        } else if (cr_span_ieq(h->name, "transfer-encoding")) {
            has_te = 1;
            /* The codings of every Transfer-Encoding line form one list (RFC 9110 §5.3).
             * chunked must be last and applied once (RFC 9112 §6.1). */
            while (list_next(&rest, &e)) {
                if (te_chunked_last)
                    return CR_EBADREQ;
                te_chunked_last = cr_span_ieq(e, "chunked");
            }
        } else if (cr_span_ieq(h->name, "host")) {
            hosts++;
        } else if (cr_span_ieq(h->name, "connection")) {
            while (list_next(&rest, &e)) {
                if (cr_span_ieq(e, "close"))
                    conn_close = 1;
                else if (cr_span_ieq(e, "keep-alive"))
                    conn_keep = 1;
                else if (cr_span_ieq(e, "upgrade"))
                    conn_upgrade = 1;
            }
        } else if (cr_span_ieq(h->name, "upgrade")) {
            has_upgrade |= h->value.len > 0;
        } else if (cr_span_ieq(h->name, "expect")) {
            /* RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request. */
            if (req->minor_version == 1 && cr_http_token_list_has(h->value, "100-continue"))
                req->expect_continue = 1;
        }
    }

    if (has_te) {
        /* RFC 9112 §6.1: Content-Length with Transfer-Encoding is the classic smuggling vector;
         * a server MAY reject it and crier does. HTTP/1.0 has no chunked coding, and a final
         * coding other than chunked leaves the body length unknowable for a request. */
        if (req->content_length >= 0 || req->minor_version == 0 || !te_chunked_last)
            return CR_EBADREQ;
        req->chunked = 1;
    }
    if (hosts > 1 || (hosts == 0 && req->minor_version == 1))
        return CR_EBADREQ;

    if (req->minor_version == 1)
        req->keep_alive = !conn_close;
    else
        req->keep_alive = conn_keep && !conn_close;
    req->upgrade = conn_upgrade && has_upgrade;
    return 0;
}

ssize_t cr_http1_parse_request(const char *buf, size_t len, size_t max_head, cr_http_request_t *req)
{
    size_t end = len < max_head ? len : max_head, pos = 0;
    int rc;

    req->method = req->target = req->path = req->query = (cr_span_t){buf, 0};
    req->minor_version = 0;
    req->nheaders = 0;
    req->content_length = -1;
    req->chunked = req->keep_alive = req->expect_continue = req->upgrade = 0;

    rc = parse_request_line(buf, end, &pos, req);
    if (rc == 0)
        rc = parse_headers(buf, end, &pos, req);
    if (rc == CR_EAGAIN && len > max_head)
        return CR_EHDRTOOBIG; /* the head does not end within max_head bytes */
    if (rc != 0)
        return rc;
    rc = check_headers(req);
    if (rc != 0)
        return rc;
    return (ssize_t)pos;
}

const cr_http_header_t *cr_http_header_find(const cr_http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (cr_span_ieq(req->headers[i].name, name))
            return &req->headers[i];
    return NULL;
}

int cr_http_token_list_has(cr_span_t value, const char *token)
{
    cr_span_t e;
    if (token[0] == '\0')
        return 0;
    while (list_next(&value, &e))
        if (cr_span_ieq(e, token))
            return 1;
    return 0;
}
