/* Polling (?transport=poll): answers at once with a JSON array of every
 * retained message newer than the cursor (each as in msg_json.h), or 204 when
 * there is none; the cursor to send next time is in X-Crier-Cursor. The array
 * is written as slices of the messages' shared JSON frames, not copied.
 * SPDX-License-Identifier: MIT */
#include "core/err.h"
#include "proto/http1_write.h"
#include "transport/msg_json.h"
#include "transport/stream.h"

static int poll_start(cr_stream_t *s, const uint8_t *gaps)
{
    (void)s;
    (void)gaps;
    return 0;
}

static int poll_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    (void)idx;
    if (s->nheld == s->capheld) {
        s->capheld = s->capheld ? s->capheld * 2 : 16;
        s->held = cr_xrealloc(s->held, s->capheld * sizeof(*s->held));
    }
    s->held[s->nheld++] = cr_msg_ref(msg);
    return 0;
}

static int poll_caught_up(cr_stream_t *s)
{
    CR_BYTES_DEFINE(open_b, "[");
    CR_BYTES_DEFINE(comma, ",");
    CR_BYTES_DEFINE(close_b, "]\n");
    cr_buf_t b = CR_BUF_INIT;
    cr_conn_head(s->conn, &b, s->nheld ? 200 : 204);
    cr_buf_puts(&b, "X-Crier-Cursor: ");
    cr_stream_cursor(s, &b);
    cr_buf_puts(&b, "\r\n");
    cr_stream_common_headers(s, &b);
    if (!s->nheld) {
        cr_conn_respond(s->conn, &b, NULL, NULL, 0);
        cr_buf_free(&b);
        return 1;
    }
    size_t len = 3 + (s->nheld - 1);
    for (size_t i = 0; i < s->nheld; i++)
        len += cr_msg_frame(s->held[i], CR_WIRE_JSON, cr_msg_json_encode)->len;
    cr_http1_header_str(&b, "Content-Type", "application/json");
    cr_http1_header_u64(&b, "Content-Length", len);
    cr_conn_finish_head(s->conn, &b);
    cr_buf_free(&b);
    if (s->conn->head_only)
        return 1;
    for (size_t i = 0; i < s->nheld; i++) {
        cr_stream_send(s, i ? comma : open_b);
        cr_stream_send(s, cr_msg_frame(s->held[i], CR_WIRE_JSON, cr_msg_json_encode));
    }
    cr_stream_send(s, close_b);
    return 1;
}

static void poll_heartbeat(cr_stream_t *s)
{
    (void)s;
}

static void poll_finish(cr_stream_t *s, int reason)
{
    cr_conn_error(s->conn, reason, NULL);
}

const cr_transport_t cr_transport_poll = {
    .name = "poll",
    .start = poll_start,
    .deliver = poll_deliver,
    .caught_up = poll_caught_up,
    .heartbeat = poll_heartbeat,
    .finish = poll_finish,
    .keeps_conn = 1,
    .heartbeats = 0,
};
