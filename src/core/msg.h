/* A published message: immutable once its id is set, refcounted, and holding
 * a lazily filled cache of its encoded frames, one per wire format, so that a
 * message is encoded at most once per format however many subscribers get it.
 * No I/O; encoders are passed in by the layer that knows the format.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_MSG_H
#define CR_CORE_MSG_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/bytes.h"

/* Message id <unix-ms>-<n>: strictly increasing per channel (the Redis Streams form). */
typedef struct cr_msgid {
    uint64_t ms;
    uint64_t seq;
} cr_msgid_t;

#define CR_MSGID_NONE ((cr_msgid_t){0, 0})
#define CR_MSGID_MAX_LEN 42 /* "18446744073709551615-18446744073709551615" + NUL */

static inline int cr_msgid_cmp(cr_msgid_t a, cr_msgid_t b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

static inline int cr_msgid_is_none(cr_msgid_t a)
{
    return a.ms == 0 && a.seq == 0;
}

/* Writes "<ms>-<seq>" and a NUL into buf (at least CR_MSGID_MAX_LEN bytes); returns its length. */
size_t cr_msgid_format(cr_msgid_t id, char *buf);
/* Parses exactly "<ms>-<seq>" (decimal, no sign, no leading '+'). 0 or CR_ECURSOR. */
int cr_msgid_parse(const char *s, size_t len, cr_msgid_t *out);
/* The next id for a channel whose last id is last, at time now_ms. */
cr_msgid_t cr_msgid_next(cr_msgid_t last, uint64_t now_ms);

/* Wire formats whose frames are cached per message. */
typedef enum cr_wire {
    CR_WIRE_SSE,        /* full SSE event incl. "id: <msgid>" (single-channel subscribers) */
    CR_WIRE_SSE_BODY,   /* SSE event without id line and final blank line (compound cursors add their own) */
    CR_WIRE_NDJSON,     /* one JSON object + "\n", as an HTTP chunk */
    CR_WIRE_RAW,        /* the payload as one line, as an HTTP chunk */
    CR_WIRE_JSON,       /* one JSON object, no framing (poll arrays, long-poll JSON) */
    CR_WIRE_MULTIPART,  /* multipart/mixed part headers + payload, as an HTTP chunk (no delimiter) */
    CR_WIRE_PAYLOAD,    /* the bare payload as an HTTP chunk (multipart/x-mixed-replace) */
    CR_WIRE_PUSHLET,    /* one <script> call of the pushlet relay, as an HTTP chunk */
    CR_WIRE_TCP_RELAY,  /* raw TCP relay: "msg CHANNEL ID LEN\n" PAYLOAD "\n" (proto/relay_line.h) */
    CR_WIRE_WS,         /* one WebSocket frame: text for UTF-8 payloads, binary otherwise */
    CR_WIRE_WS_DEFLATE, /* the same frame compressed (permessage-deflate, no context takeover) */
    CR_WIRE_WS_JSON,    /* one WebSocket text frame holding the message's JSON object (crier.json) */
    CR_WIRE_WS_JSON_DEFLATE, /* the same frame compressed (crier.json with permessage-deflate) */
    CR_WIRE_COUNT
} cr_wire_t;

typedef struct cr_msg {
    _Atomic uint32_t refcnt;
    cr_msgid_t id;
    int64_t time_ms;          /* publish time */
    int64_t expires_ms;       /* 0: no TTL of its own */
    uint64_t store_key;       /* the durable engine's row for it (0: none); set before sharing */
    cr_bytes_t *channel;      /* channel name */
    cr_bytes_t *content_type; /* NULL when the publisher gave none */
    cr_bytes_t *event;        /* SSE event name, NULL for "message" */
    cr_bytes_t *payload;
    _Atomic(cr_bytes_t *) frame[CR_WIRE_COUNT];
} cr_msg_t;

typedef cr_bytes_t *(*cr_frame_encode_fn)(const cr_msg_t *msg);

/* A new message with refcount 1. Takes its own references to channel, content_type,
 * event and payload (the caller keeps theirs). The id is set by the engine that
 * stores it, before the message is shared. */
cr_msg_t *cr_msg_new(cr_bytes_t *channel, cr_bytes_t *content_type, cr_bytes_t *event, cr_bytes_t *payload,
                     int64_t time_ms, int64_t expires_ms);
cr_msg_t *cr_msg_ref(cr_msg_t *m);
void cr_msg_unref(cr_msg_t *m);

/* The frame of msg for wire format w, encoding it with enc on first use. The
 * returned block is borrowed: it lives as long as msg; take a reference to keep it. */
cr_bytes_t *cr_msg_frame(cr_msg_t *msg, cr_wire_t w, cr_frame_encode_fn enc);

/* Live messages, for tests that check every reference came back. */
long cr_msg_live(void);

#endif
