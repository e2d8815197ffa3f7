/* The WebSocket opening handshake (RFC 6455 section 4.2): checks a parsed upgrade request
 * against the server's policy (allowed origins, known subprotocols) and computes the
 * Sec-WebSocket-Accept answer. Pure: request in, verdict and answer values out; no I/O.
 * permessage-deflate negotiation is ws_deflate's job.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_WS_HANDSHAKE_H
#define CR_PROTO_WS_HANDSHAKE_H

#include <stddef.h>

#include "core/bytes.h"
#include "proto/http1_parse.h"

#define CR_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */
#define CR_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#define CR_WS_PROTOCOL_MAX 64

typedef struct cr_ws_policy {
    const char *origins;   /* allowed Origin values, comma-separated (exact, case-insensitive);
                              NULL or "": any. A request without Origin (not a browser) passes. */
    const char *protocols; /* subprotocols the server speaks, comma-separated, preferred first */
} cr_ws_policy_t;

typedef struct cr_ws_handshake {
    char accept[CR_WS_ACCEPT_LEN + 1];     /* Sec-WebSocket-Accept value, NUL-terminated */
    char protocol[CR_WS_PROTOCOL_MAX + 1]; /* the subprotocol chosen (from the policy), or "" */
} cr_ws_handshake_t;

/* Whether the request asks for a WebSocket (an Upgrade header listing "websocket"). */
int cr_ws_is_upgrade(const cr_http_request_t *req);

/* Checks req as a WebSocket opening handshake. On success fills *out and returns 0. Errors,
 * each with *why saying what was wrong:
 * CR_EWSVERSION  Sec-WebSocket-Version missing or not 13 (answer 426 with
 *                "Sec-WebSocket-Version: 13");
 * CR_EBADREQ     not GET over HTTP/1.1, Upgrade without "websocket", Connection without
 *                "upgrade", or a Sec-WebSocket-Key missing or not the base64 of 16 bytes;
 * CR_EWSORIGIN   an Origin header not on the policy's list. */
int cr_ws_handshake_check(const cr_http_request_t *req, const cr_ws_policy_t *pol, cr_ws_handshake_t *out,
                          const char **why);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)) into out (29 bytes, NUL-ended).
 * 0, or CR_EINVAL if the digest could not be computed. */
int cr_ws_accept_key(const char *key, size_t len, char *out);

/* Whether key is the base64 encoding of exactly 16 bytes (24 characters, "==" padding). */
int cr_ws_key_valid(const char *key, size_t len);

#endif
