/* MIME multipart encoding for push streams (RFC 2046 section 5.1): boundaries,
 * delimiters and part headers for multipart/mixed (one part per message) and
 * multipart/x-mixed-replace (each part replaces the last). Pure: the caller
 * brings the random bytes and the fields, this appends bytes to a buffer.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_MULTIPART_H
#define CR_PROTO_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Random bytes a boundary is made from: 24 bytes = 192 bits, so nobody who has
 * not seen the stream's head can guess it. */
#define CR_MULTIPART_RANDOM 24
/* "crier-" + 2 hex digits per random byte; within RFC 2046's 70, plus a NUL. */
#define CR_MULTIPART_BOUNDARY_MAX (6 + 2 * CR_MULTIPART_RANDOM + 1)

/* One part header line; value bytes CR, LF and NUL are dropped (no header injection). */
typedef struct cr_multipart_header {
    const char *name;
    const char *value;
    size_t len;
} cr_multipart_header_t;

/* Writes the boundary made from rnd[0..CR_MULTIPART_RANDOM) and a NUL into out
 * (CR_MULTIPART_BOUNDARY_MAX bytes); returns its length. */
size_t cr_multipart_boundary(char *out, const uint8_t *rnd);
/* Appends a delimiter line: CRLF "--" boundary CRLF (the CRLF in front belongs
 * to the delimiter, so the part before it ends exactly where its body ends). */
void cr_multipart_delimiter(cr_buf_t *out, const char *boundary);
/* Appends the close delimiter: CRLF "--" boundary "--" CRLF. */
void cr_multipart_close(cr_buf_t *out, const char *boundary);
/* Appends part header lines and the blank line that ends them. Headers with a
 * NULL value are skipped. */
void cr_multipart_headers(cr_buf_t *out, const cr_multipart_header_t *h, size_t n);
/* Whether data[0..len) contains the boundary (so it could end a part early).
 * With a random boundary this never happens by chance; the caller checks anyway. */
int cr_multipart_collides(const char *data, size_t len, const char *boundary);
/* Whether s[0..len) is a usable part Content-Type: printable ASCII, a "/" in it. */
int cr_multipart_type_valid(const char *s, size_t len);

#endif
