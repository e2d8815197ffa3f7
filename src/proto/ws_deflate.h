/* permessage-deflate (RFC 7692) for WebSocket: negotiating the client's offer, compressing a
 * server message once (no context kept between messages, so one compressed frame can go to
 * every subscriber) and inflating client messages with a cap on their size. Pure codecs on
 * zlib; no I/O.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_WS_DEFLATE_H
#define CR_PROTO_WS_DEFLATE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/bytes.h"

typedef struct cr_ws_deflate_params {
    unsigned enabled : 1;
    unsigned client_no_context_takeover : 1; /* the client resets its compressor per message */
} cr_ws_deflate_params_t;

/* Picks the first acceptable permessage-deflate offer from a Sec-WebSocket-Extensions value
 * (call once per header line; an offer already accepted wins). crier always answers with
 * server_no_context_takeover; it accepts client_no_context_takeover, client_max_window_bits
 * (with or without a value) and server_no_context_takeover; an offer with
 * server_max_window_bits below 15, an unknown or repeated parameter, or a bad value is
 * declined. On acceptance fills *p and writes the response value (NUL-ended) into resp.
 * Returns 1 accepted, 0 nothing acceptable, CR_EINVAL if resp (at least 96 bytes) is too small. */
int cr_ws_deflate_negotiate(cr_span_t offers, cr_ws_deflate_params_t *p, char *resp, size_t cap);

/* Writes the Sec-WebSocket-Extensions answer for accepted parameters p into resp (NUL-ended,
 * at least 96 bytes), as cr_ws_deflate_negotiate does. */
void cr_ws_deflate_response(const cr_ws_deflate_params_t *p, char *resp, size_t cap);

/* A raw DEFLATE compressor, reused message after message (reset in between). */
typedef struct cr_ws_deflater cr_ws_deflater_t;
cr_ws_deflater_t *cr_ws_deflater_new(void);
void cr_ws_deflater_free(cr_ws_deflater_t *d);
/* Builds a whole server frame (header with RSV1 + compressed payload) of one message. Returns
 * a new block the caller owns, or NULL when compressing would not make the frame smaller (send
 * it uncompressed: RFC 7692 lets each message choose). */
cr_bytes_t *cr_ws_deflate_frame(cr_ws_deflater_t *d, int opcode, const char *data, size_t len);

/* A raw DEFLATE decompressor for one connection's client messages. */
typedef struct cr_ws_inflater cr_ws_inflater_t;
/* no_context: the client resets its window per message, so this one does too. */
cr_ws_inflater_t *cr_ws_inflater_new(int no_context);
void cr_ws_inflater_free(cr_ws_inflater_t *z);
/* Inflates one message's payload (the 00 00 ff ff tail is added here) and appends it to out.
 * 0, CR_EWSTOOBIG when it would exceed max_out bytes, CR_EWSPROTO when it is not DEFLATE. */
int cr_ws_inflate(cr_ws_inflater_t *z, const char *in, size_t len, size_t max_out, cr_buf_t *out);

#endif
