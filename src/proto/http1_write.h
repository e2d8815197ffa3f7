/* HTTP/1.1 response writing: status lines, headers, dates, chunks. Pure: it
 * appends bytes to a buffer and never touches a socket.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_HTTP1_WRITE_H
#define CR_PROTO_HTTP1_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* The reason phrase of a status code ("Unknown" for codes crier never sends). */
const char *cr_http_reason(int status);
/* Appends "HTTP/1.1 <status> <reason>\r\n". */
void cr_http1_status_line(cr_buf_t *out, int status);
/* Appends "name: value\r\n"; CR and LF are dropped from value (no header injection). */
void cr_http1_header(cr_buf_t *out, const char *name, const char *value, size_t len);
void cr_http1_header_str(cr_buf_t *out, const char *name, const char *value);
void cr_http1_header_u64(cr_buf_t *out, const char *name, uint64_t value);
/* Appends an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for unix time t. */
void cr_http1_date(cr_buf_t *out, int64_t t);
/* Parses an IMF-fixdate into unix seconds. 0, or CR_EPARAM. */
int cr_http1_date_parse(const char *s, size_t len, int64_t *t);
/* Appends one chunk of the chunked transfer coding: hex size, CRLF, data, CRLF. */
void cr_http1_chunk(cr_buf_t *out, const char *data, size_t len);

#endif
