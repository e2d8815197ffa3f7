/* One HTTP/1.1 client connection: reads requests (pipelined, keep-alive,
 * Content-Length and chunked bodies), hands each to the router in order, and
 * writes responses and streams from its output queue with one write in flight.
 * A connection carries at most one subscriber stream at a time (HTTP/2 will
 * carry many on one connection; streams never assume a socket of their own).
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_CONN_H
#define CR_NET_CONN_H

#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "core/list.h"
#include "core/timerq.h"
#include "net/outq.h"
#include "net/server.h"
#include "proto/chunked.h"

struct cr_stream;

typedef enum cr_conn_state {
    CR_CONN_READING, /* waiting for or reading a request */
    CR_CONN_BUSY,    /* a response is pending (a stream, a long poll, an async store) */
    CR_CONN_CLOSING, /* ending: no more requests are read */
} cr_conn_state_t;

typedef struct cr_conn {
    uv_tcp_t tcp;
    cr_server_t *srv;
    cr_list_t link;       /* srv->conns */
    cr_list_t dirty_link; /* srv->dirty */
    cr_timerq_entry_t timer;
    cr_timerq_t *timer_q; /* which queue timer is on, if any */
    cr_outq_t outq;
    size_t inflight; /* bytes of the write in flight */
    char *in;        /* unprocessed input; NULL while there is none */
    size_t inlen, incap;
    cr_chunked_t *chunked; /* body decoder while a chunked body arrives */
    size_t body_done;      /* decoded body bytes after the head (chunked) */
    size_t body_raw;       /* raw bytes of body consumed so far (chunked) */
    struct cr_stream *stream;
    cr_conn_state_t state;
    unsigned writing : 1;
    unsigned keep_alive : 1;
    unsigned close_after_write : 1;
    unsigned shutting : 1;
    unsigned eof : 1;
    unsigned sent_continue : 1;
    unsigned discard_input : 1;
    unsigned in_process : 1;
    unsigned http10 : 1;
    unsigned head_only : 1;   /* answering HEAD: heads without bodies */
    unsigned read_paused : 1; /* not reading: answers queued beyond the soft cap */
    unsigned closed : 1;      /* the handle is closed; freed once nothing holds it */
    uint32_t holds;           /* pending store operations that will still use c */
    char peer[56];
} cr_conn_t;

/* Processes, with run(c), the nread bytes libuv read into the loop's slab, in place as c's
 * input (c holds no buffer of its own then). Returns what run left unconsumed: it points
 * into the slab, so the caller copies what it keeps before the next read. */
cr_span_t cr_conn_process_slab(cr_conn_t *c, size_t nread, void (*run)(cr_conn_t *c));

/* Names c->peer "<prefix><address>:<port>" for log lines. */
void cr_conn_peer_name(cr_conn_t *c, const char *prefix);
/* Accepts one connection from the listener (called from the listener's callback). */
void cr_conn_accept(cr_server_t *srv);
/* The same for a connection another loop accepted (--threads): srv's loop takes fd over. */
void cr_conn_adopt(cr_server_t *srv, int fd);

/* Queues b[off..off+len) for writing (takes a reference; flushed at the end of
 * the loop turn). Returns 0, or CR_ESLOW when the queue is over its limits. */
int cr_conn_send(cr_conn_t *c, cr_bytes_t *b, uint32_t off, uint32_t len);
/* Queues the whole block. */
int cr_conn_send_all(cr_conn_t *c, cr_bytes_t *b);
/* Queues the contents of buf (copied into one block) and empties buf. */
int cr_conn_send_buf(cr_conn_t *c, cr_buf_t *buf);

/* Starts a response head: status line and the headers every response carries. */
void cr_conn_head(cr_conn_t *c, cr_buf_t *out, int status);
/* Finishes and queues a complete response with a body of known length:
 * Content-Type (if ctype), Content-Length, Connection, the blank line, body. */
void cr_conn_respond(cr_conn_t *c, cr_buf_t *head, const char *ctype, const char *body, size_t len);
/* Like cr_conn_respond, with a shared block as the body (queued by reference). */
void cr_conn_respond_bytes(cr_conn_t *c, cr_buf_t *head, const char *ctype, cr_bytes_t *body);
/* Ends a head the caller gave its own Content-Length: Connection, blank line; queues it. */
void cr_conn_finish_head(cr_conn_t *c, cr_buf_t *head);
/* Answers with status and body (JSON) as a complete response. */
void cr_conn_respond_json(cr_conn_t *c, int status, const cr_buf_t *body);
/* Answers with the JSON error {"error": "<text>[: detail]"} and the code's status. */
void cr_conn_error(cr_conn_t *c, int code, const char *detail);

/* The request that made the connection busy is answered: read the next one. */
void cr_conn_request_done(cr_conn_t *c);
/* Ends the connection once its queued output is written. */
void cr_conn_end(cr_conn_t *c);
/* Closes at once (queued output is dropped). Safe during fan-out: the
 * connection is freed later, in the close callback. */
void cr_conn_close(cr_conn_t *c, const char *why);
/* Keeps c allocated across an asynchronous store operation, even if it closes
 * meanwhile; every hold is matched by one release. cr_conn_gone tells whether it closed. */
void cr_conn_hold(cr_conn_t *c);
void cr_conn_release(cr_conn_t *c);
int cr_conn_gone(const cr_conn_t *c);
/* The deadline of c on queue q passed (called by the server's sweep). */
void cr_conn_timeout(cr_conn_t *c, cr_timerq_t *q);
/* Writes queued output now (called at the end of each loop turn). */
void cr_conn_flush(cr_conn_t *c);

#endif
