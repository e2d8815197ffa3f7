/* Strict, zero-copy HTTP/1.1 request-head parser (RFC 9112 §2-§3, §5-§6, RFC 9110 §5).
 * It reads the caller's buffer and fills a struct of spans pointing back into it; it never
 * allocates, never does I/O and keeps no state between calls: a caller that received more
 * bytes simply parses again from the start of the request.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_HTTP1_PARSE_H
#define CR_PROTO_HTTP1_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/bytes.h"

#define CR_HTTP_MAX_HEADERS 64

typedef struct cr_http_header {
    cr_span_t name, value; /* value has leading and trailing OWS removed */
} cr_http_header_t;

typedef struct cr_http_request {
    cr_span_t method, target; /* target as sent */
    cr_span_t path, query;    /* target split at the first '?', query without the '?' (len 0 if none) */
    int minor_version;        /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */
    cr_http_header_t headers[CR_HTTP_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length;  /* -1 when absent */
    unsigned chunked : 1;    /* Transfer-Encoding: chunked (the final coding) */
    unsigned keep_alive : 1; /* per version default + Connection header tokens (close / keep-alive) */
    unsigned expect_continue : 1;
    unsigned upgrade : 1; /* Connection has token "upgrade" and an Upgrade header is present */
} cr_http_request_t;

/* Parses the request head in buf[0..len). On success every span in *req points into buf, so
 * buf must outlive them. Nothing past the returned length is read as part of the head: it is
 * the body or the next pipelined request.
 *
 * Accepted syntax (anything else is CR_EBADREQ):
 *  - any number of empty lines (CRLF) before the request line; they count in the returned length;
 *  - method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF, exactly one SP between the parts;
 *  - request-target in origin-form ("/..." of visible ASCII, no '#') or "*" with OPTIONS only;
 *  - header lines name ":" OWS value OWS CRLF, name a token, value free of CTLs other than HTAB;
 *  - every line ends with CRLF: a bare LF or a bare CR is rejected (RFC 9112 §2.2 lets a
 *    recipient accept a bare LF; crier doesn't, so it never disagrees with a stricter proxy);
 *  - no obs-fold and no whitespace before the first header (a line starting with SP or HTAB).
 * Semantic checks once the head is complete (all CR_EBADREQ): Content-Length must be digits only
 * and at most 2^62, repeated Content-Length headers must agree; Content-Length together with
 * Transfer-Encoding, Transfer-Encoding on HTTP/1.0, a Transfer-Encoding whose final coding is
 * not chunked or that applies chunked twice; HTTP/1.1 without Host; more than one Host.
 *
 * Errors are reported as soon as the offending byte is present, so a prefix of a request that
 * will be malformed may already return CR_EBADREQ; a prefix of a valid request returns CR_EAGAIN.
 *
 * Returns the length of the head (leading empty lines + request line + headers + empty line),
 * CR_EAGAIN        more bytes are needed (only when len <= max_head),
 * CR_EHDRTOOBIG    the head is longer than max_head bytes (reported as soon as len > max_head
 *                  without a complete head), or it has more than CR_HTTP_MAX_HEADERS headers,
 * CR_EVERSION      a well-formed request line whose version is not HTTP/1.0 or HTTP/1.1,
 * CR_EBADREQ       anything malformed.
 * On error *req is left partly filled and must not be used. */
ssize_t cr_http1_parse_request(const char *buf, size_t len, size_t max_head, cr_http_request_t *req);

/* First header with this name (ASCII case-insensitive), or NULL. */
const cr_http_header_t *cr_http_header_find(const cr_http_request_t *req, const char *name);

/* Whether a comma-separated header value list contains token (ASCII case-insensitive, OWS around
 * each element trimmed, empty elements ignored). An empty token never matches. */
int cr_http_token_list_has(cr_span_t value, const char *token);

#endif
