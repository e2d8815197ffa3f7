/* Server-Sent Events: text/event-stream, one event per message with its id,
 * "retry:" up front, comment heartbeats, and crier-gap / crier-deleted events.
 * The event is encoded once per message and shared; only a compound cursor
 * (several channels) adds a small per-subscriber "id:" block. The body is
 * delimited by the connection's end (no chunking), as EventSource expects.
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "core/err.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "proto/sse.h"
#include "transport/stream.h"

static cr_bytes_t *encode_body(const cr_msg_t *m, int with_id)
{
    cr_buf_t b = CR_BUF_INIT;
    if (with_id) {
        char id[CR_MSGID_MAX_LEN];
        cr_sse_field(&b, "id", id, cr_msgid_format(m->id, id));
    }
    cr_sse_body(&b, m->event ? m->event->data : NULL, m->event ? m->event->len : 0, m->payload->data,
                m->payload->len);
    if (with_id)
        cr_buf_putc(&b, '\n');
    cr_bytes_t *out = cr_buf_to_bytes(&b);
    cr_buf_free(&b);
    return out;
}

static cr_bytes_t *encode_full(const cr_msg_t *m)
{
    return encode_body(m, 1);
}

static cr_bytes_t *encode_no_id(const cr_msg_t *m)
{
    return encode_body(m, 0);
}

static int sse_start(cr_stream_t *s, const uint8_t *gaps)
{
    int gap = s->gap; /* the head's X-Crier-Gap marks it told */
    cr_buf_t b = CR_BUF_INIT;
    cr_conn_head(s->conn, &b, 200);
    cr_buf_puts(&b, "Content-Type: text/event-stream\r\nX-Accel-Buffering: no\r\nConnection: close\r\n");
    cr_stream_common_headers(s, &b);
    cr_buf_puts(&b, "\r\n");
    cr_buf_printf(&b, ": crier\nretry: %lld\n\n", (long long)s->srv->cfg.retry_ms);
    /* The client id first, so that the client can hand it to whoever addresses it (POST /pub/@id). */
    cr_buf_printf(&b, "event: crier-hello\ndata: {\"client\":\"c%llx\"}\n\n",
                  (unsigned long long)s->client_id);
    if (gap) {
        /* Sent with the cursor it applies to, so that a client can tell which resume missed messages. */
        cr_buf_puts(&b, "event: crier-gap\ndata: {");
        cr_stream_gap_fields(s, &b);
        cr_buf_puts(&b, "}\n\n");
    }
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r;
}

static int sse_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    if (idx == CR_SUB_DIRECT) {
        /* Addressed to this client alone: no id line, so that the EventSource's
         * Last-Event-ID stays the channels' cursor. */
        CR_BYTES_DEFINE(end, "\n");
        int r = cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_SSE_BODY, encode_no_id));
        int r2 = cr_stream_send(s, end);
        return r < 0 ? r : r2;
    }
    if (s->sub.nch == 1)
        return cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_SSE, encode_full));
    int r = cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_SSE_BODY, encode_no_id));
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_puts(&b, "id: ");
    cr_stream_cursor(s, &b);
    cr_buf_puts(&b, "\n\n");
    int r2 = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r < 0 ? r : r2;
}

static int sse_caught_up(cr_stream_t *s)
{
    (void)s;
    return 0;
}

static void sse_heartbeat(cr_stream_t *s)
{
    CR_BYTES_DEFINE(beat, ":\n");
    if (cr_stream_send(s, beat) < 0)
        cr_conn_close(s->conn, cr_err_text(CR_ESLOW));
}

static void sse_finish(cr_stream_t *s, int reason)
{
    cr_buf_t b = CR_BUF_INIT;
    if (reason == CR_EGONE) {
        cr_buf_puts(&b, "event: crier-deleted\ndata: {\"channel\":");
        cr_json_string(&b, s->gone->data, s->gone->len);
        cr_buf_puts(&b, "}\n\n");
    } else {
        cr_buf_puts(&b, "event: crier-close\ndata: {\"reason\":");
        const char *why = cr_err_text(reason);
        cr_json_string(&b, why, strlen(why));
        cr_buf_puts(&b, "}\n\n");
    }
    cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
}

const cr_transport_t cr_transport_sse = {
    .name = "sse",
    .start = sse_start,
    .deliver = sse_deliver,
    .caught_up = sse_caught_up,
    .heartbeat = sse_heartbeat,
    .finish = sse_finish,
    .keeps_conn = 0,
    .heartbeats = 1,
};
