/* Server-Sent Events parsing, the client side (WHATWG HTML §9.2.6): bytes of a
 * text/event-stream in, one callback per dispatched event out. Incremental: any
 * split of the input gives the same events, including a CRLF cut between two
 * feeds. Never reads a socket and never reconnects; the caller does both and keeps
 * last_id and retry_ms, which survive cr_sse_parser_reset().
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_SSE_PARSE_H
#define CR_PROTO_SSE_PARSE_H

#include <stddef.h>

#include "core/buf.h"

/* One dispatched event. Every pointer is borrowed from the parser, valid only
 * during the callback, and NUL-terminated (the bytes may also hold NULs, so use
 * the lengths). type is "message" when the stream named none; id is the last
 * event ID string (empty when there is none). Bytes are passed through as they
 * came: the parser does not replace invalid UTF-8. */
typedef struct cr_sse_event {
    const char *type;
    size_t type_len;
    const char *data;
    size_t data_len;
    const char *id;
    size_t id_len;
} cr_sse_event_t;

typedef void (*cr_sse_event_cb)(void *arg, const cr_sse_event_t *ev);

typedef struct cr_sse_parser {
    /* Readable by the caller. */
    cr_buf_t last_id;   /* last event ID string: set from the "id" buffer at each dispatch,
                         * what a reconnect sends as Last-Event-ID (when non-empty) */
    long long retry_ms; /* last valid "retry:" value in milliseconds, -1 if none yet */

    /* Private. */
    size_t _max_event;
    cr_sse_event_cb _cb;
    void *_arg;
    cr_buf_t _line;  /* a line cut by the end of a feed */
    cr_buf_t _data;  /* data buffer: each "data" value followed by LF */
    cr_buf_t _type;  /* event type buffer */
    cr_buf_t _idbuf; /* last event ID buffer */
    unsigned _bom;   /* leading BOM bytes matched so far; 3 once past the stream start */
    int _skip_lf;    /* the previous line ended in CR: an LF now is part of that CRLF */
    int _skip_line;  /* inside a comment line, which is dropped without being buffered */
    int _err;        /* sticky error */
} cr_sse_parser_t;

/* Prepares p for a new stream. max_event bounds the bytes an event may hold
 * while it is parsed: the line being read plus the pending data and event type
 * (0 means no bound). cb is called for each dispatched event with arg. Comment
 * lines are never buffered, so heartbeats and padding cost no memory. */
void cr_sse_parser_init(cr_sse_parser_t *p, size_t max_event, cr_sse_event_cb cb, void *arg);

/* Parses buf[0..len) (borrowed), calling the callback for each event completed
 * by a blank line. An event cut off by the end of the stream is never dispatched.
 * The callback must not call cr_sse_parser_free() or cr_sse_parser_reset().
 * Returns 0, or CR_EBODYTOOBIG when an event grows past max_event; the error is
 * sticky (later feeds return it and parse nothing) until cr_sse_parser_reset(). */
int cr_sse_parser_feed(cr_sse_parser_t *p, const char *buf, size_t len);

/* Starts a new stream after a reconnect, as §9.2.6 does for each response: drops
 * the partial line and pending event, clears the sticky error, and expects a BOM
 * again. Keeps last_id and retry_ms, and the ID buffer restarts from last_id. */
void cr_sse_parser_reset(cr_sse_parser_t *p);

/* Frees the parser's buffers; p may be initialised again afterwards. */
void cr_sse_parser_free(cr_sse_parser_t *p);

#endif
