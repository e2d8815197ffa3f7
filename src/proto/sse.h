/* Server-Sent Events encoding (WHATWG HTML §9.2.5). A payload with line breaks
 * (CRLF, LF or lone CR) becomes several "data:" lines, so it arrives intact;
 * names and ids never carry CR or LF. Pure: fields in, bytes out.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_SSE_H
#define CR_PROTO_SSE_H

#include <stddef.h>

#include "core/buf.h"

/* Appends "event: <event>\n" (if event_len > 0) and the payload as "data: " lines.
 * Does not end the event: callers add "id: …\n" and the blank line. CR and LF in
 * the event name are dropped. */
void cr_sse_body(cr_buf_t *out, const char *event, size_t event_len, const char *data, size_t data_len);
/* Appends a field line "name: value\n" with CR/LF/NUL removed from value. */
void cr_sse_field(cr_buf_t *out, const char *name, const char *value, size_t len);
/* Appends a comment line ": text\n" (CR/LF removed). */
void cr_sse_comment(cr_buf_t *out, const char *text, size_t len);

#endif
