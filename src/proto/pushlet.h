/* Pushlet / forever-frame encoding: an HTML document that never ends, each
 * message a <script> that calls the page's callback with the message as JSON.
 * The callback name is checked to be a plain JavaScript property path, and the
 * JSON is made safe inside <script> (nothing can close the element or open a
 * comment, and U+2028/U+2029 can't end a line). Pure: bytes in, bytes out.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_PUSHLET_H
#define CR_PROTO_PUSHLET_H

#include <stddef.h>

#include "core/buf.h"

#define CR_PUSHLET_CALLBACK_MAX 128
/* Bytes of padding after the head: browsers hold back the first KiB or so of an
 * HTML response before they parse it, and a forever frame must run at once. */
#define CR_PUSHLET_PADDING 2048
/* The name of the function every message script calls; the preamble defines it
 * to forward to the subscriber's callback, so message frames are the same for all. */
#define CR_PUSHLET_RELAY "_crier_push"

/* Whether s[0..len) is a callback path: identifiers ([A-Za-z_$][A-Za-z0-9_$]*,
 * ASCII) joined by single dots, at most CR_PUSHLET_CALLBACK_MAX bytes, whose
 * first identifier is not a reserved word nor the relay's own name. */
int cr_pushlet_callback_valid(const char *s, size_t len);
/* Appends json[0..len) with '<', '>', '&', U+2028 and U+2029 written as \uXXXX
 * escapes. json must be a JSON text; these characters can only occur inside its
 * strings, where the escapes mean the same thing. */
void cr_pushlet_json(cr_buf_t *out, const char *json, size_t len);
/* Appends the document head: doctype, the relay function calling callback (which
 * must be valid), and the padding. */
void cr_pushlet_preamble(cr_buf_t *out, const char *callback, size_t len);
/* Appends one message script: <script>RELAY(json)</script> and a newline. */
void cr_pushlet_call(cr_buf_t *out, const char *json, size_t len);
/* Appends a keep-alive that renders nothing (an HTML comment). */
void cr_pushlet_keepalive(cr_buf_t *out);
/* Appends the end of the document. */
void cr_pushlet_end(cr_buf_t *out);

#endif
