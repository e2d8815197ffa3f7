/* JSON output helpers: string escaping that always yields valid JSON, and the
 * one JSON shape of a message used by NDJSON, polling and long polling.
 * Pure: bytes in, bytes out.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_JSON_OUT_H
#define CR_PROTO_JSON_OUT_H

#include <stddef.h>

#include "core/buf.h"

/* Appends s[0..len) as a quoted JSON string. Control characters, quotes and
 * backslashes are escaped, and so are '<', '>', '&', U+2028 and U+2029 so that
 * the output is also safe inside HTML <script>. Bytes that are not valid UTF-8
 * become U+FFFD (callers that must keep binary use base64 instead). */
void cr_json_string(cr_buf_t *out, const char *s, size_t len);
/* Appends the standard base64 encoding of s[0..len) (no quotes). */
void cr_base64(cr_buf_t *out, const unsigned char *s, size_t len);
/* Whether s[0..len) is valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
int cr_utf8_valid(const unsigned char *s, size_t len);

#endif
