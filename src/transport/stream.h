/* A subscriber stream: one subscription carried by a connection, and the push
 * mechanism (transport) that frames messages for it. Every transport is one
 * static const table of the same five operations. The stream setup here is
 * shared by all: parse channels and cursor, pick the transport, attach to the
 * channels, load history, start, catch up, go live.
 * SPDX-License-Identifier: MIT */
#ifndef CR_TRANSPORT_STREAM_H
#define CR_TRANSPORT_STREAM_H

#include <stdint.h>

#include "core/cursor.h"
#include "core/sub.h"
#include "core/timerq.h"
#include "net/conn.h"
#include "net/server.h"

typedef struct cr_stream cr_stream_t;

typedef struct cr_transport {
    const char *name;
    /* Writes the response head and preamble; gaps[i] is 1 when channel i's
     * history no longer reaches back to the cursor. 0 or a negative code. */
    int (*start)(cr_stream_t *s, const uint8_t *gaps);
    /* Frames and queues msg from channel node idx. 0 to go on, 1 when the
     * stream is complete (a long poll answered), negative on failure. */
    int (*deliver)(cr_stream_t *s, cr_msg_t *msg, size_t idx);
    /* History has been replayed. 0 to stay live, 1 when the stream is complete. */
    int (*caught_up)(cr_stream_t *s);
    /* Keeps an idle stream alive (called every --heartbeat). */
    void (*heartbeat)(cr_stream_t *s);
    /* The server ends the stream: CR_EGONE (channel deleted; s->gone names it),
     * CR_ETIMEOUT (hold time over) or CR_EUNAVAIL (shutting down). Writes the ending. */
    void (*finish)(cr_stream_t *s, int reason);
    /* Optional (NULL: nothing to read): reads the transport's own request parameters
     * before anything is answered, keeping what it needs in s->priv. 0, or a negative
     * code with *why a detail (or NULL), answered as that code's 4xx. */
    int (*setup)(cr_stream_t *s, const cr_http_request_t *req, const char **why);
    /* Optional (NULL: the client sends nothing after its request): bytes the client sent
     * on an upgraded connection (WebSocket frames), in any split. data is writable and
     * only valid during the call. */
    void (*input)(cr_stream_t *s, char *data, size_t len);
    /* 1 if the connection serves more requests after the stream (long poll, poll). */
    int keeps_conn;
    /* 1 if the stream is armed for heartbeats, 0 if it waits on the hold timer. */
    int heartbeats;
    /* 1 if finish(CR_EGONE) only drops that channel and the stream goes on (the relay). */
    int outlives_channels;
} cr_transport_t;

struct cr_stream {
    cr_sub_t sub; /* base: the core subscription */
    const cr_transport_t *tp;
    cr_conn_t *conn;
    cr_server_t *srv;
    cr_timerq_entry_t timer; /* heartbeat or hold */
    cr_list_t reap_link;
    uint64_t client_id;
    cr_since_kind_t since_kind;
    unsigned ended : 1;
    unsigned answered : 1;    /* long poll: the response has been written */
    unsigned nchan_style : 1; /* long poll resumed by If-Modified-Since/If-None-Match */
    unsigned gap : 1;         /* some channel had a gap not told yet */
    uint8_t *gaps;            /* per channel: 1 if its history no longer reached the cursor */
    char *gap_from;           /* the cursor the subscriber resumed from, when there was a gap */
    int pending_loads;
    const cr_bytes_t *gone; /* during finish(CR_EGONE): the deleted channel's name */
    cr_msg_t **held;        /* poll: messages collected for the one response */
    size_t nheld, capheld;
    void *priv;                    /* the transport's own per-stream state, if any */
    void (*priv_free)(void *priv); /* frees priv with the stream */
};

extern const cr_transport_t cr_transport_sse;
extern const cr_transport_t cr_transport_longpoll;
extern const cr_transport_t cr_transport_poll;
extern const cr_transport_t cr_transport_ndjson;
extern const cr_transport_t cr_transport_raw;
extern const cr_transport_t cr_transport_multipart; /* multipart/mixed */
extern const cr_transport_t cr_transport_replace;   /* multipart/x-mixed-replace */
extern const cr_transport_t cr_transport_pushlet;
extern const cr_transport_t cr_transport_ws; /* WebSocket (RFC 6455) */
/* A loop thread that ends (--threads) frees the WebSocket compressor it made (one per thread). */
void cr_ws_thread_end(void);

/* A stream on c with transport tp and nch channel nodes (not attached), its client
 * id assigned and registered so that POST /pub/@id reaches it. size (at least
 * sizeof(cr_stream_t)) lets a carrier embed the stream as the first member of
 * its own state. For carriers other than cr_subscribe (the relay); the caller
 * sets c->stream. The stream is freed with the connection. */
cr_stream_t *cr_stream_new(cr_conn_t *c, const cr_transport_t *tp, size_t nch, size_t size);

/* Handles GET /sub/{channels}: on success the connection carries the new stream. */
void cr_subscribe(cr_conn_t *c, const cr_http_request_t *req, cr_span_t channels);

/* Queues a block on the stream's connection (takes a reference). 0 or CR_ESLOW. */
int cr_stream_send(cr_stream_t *s, cr_bytes_t *b);
/* Queues buf's contents and empties it. */
int cr_stream_send_buf(cr_stream_t *s, cr_buf_t *buf);
/* Appends the subscription's current cursor. */
void cr_stream_cursor(const cr_stream_t *s, cr_buf_t *out);
/* Appends the response head lines every stream answer carries: client id, no-store, and
 * X-Crier-Gap naming the channels with a gap (on the first answer only). */
void cr_stream_common_headers(cr_stream_t *s, cr_buf_t *out);

/* Appends the JSON members of a gap notice: "channels":[those with a gap],"cursor":"<resumed from>". */
void cr_stream_gap_fields(const cr_stream_t *s, cr_buf_t *out);

/* Ends the stream: it gets nothing more and is detached at the end of the turn. */
void cr_stream_end(cr_stream_t *s);
/* Ends every subscriber of ch with finish(CR_EGONE) and unlinks them from ch
 * (called before ch is dropped). Returns how many there were. */
size_t cr_stream_channel_deleted(cr_server_t *srv, cr_channel_t *ch);

/* Server hooks: end-of-turn reap, periodic heartbeats and hold timeouts, and
 * the two halves of a connection closing under a stream. */
void cr_stream_reap(cr_server_t *srv);
void cr_stream_sweep(cr_server_t *srv, int64_t now);
void cr_stream_conn_closing(cr_stream_t *s);
/* The server is stopping: the stream gets its ending (finish(CR_EUNAVAIL): an SSE
 * crier-close event, a WebSocket close 1001, a long poll's 503) before its connection goes. */
void cr_stream_server_stopping(cr_stream_t *s);
void cr_stream_conn_closed(cr_stream_t *s);

#endif
