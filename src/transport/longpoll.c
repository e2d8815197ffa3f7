/* Long polling (RFC 6202): a plain GET is held until a message exists or the
 * hold time ends (then 204). One message per response, its payload as the body
 * with its own Content-Type, the cursor in X-Crier-Cursor. Nchan's clients
 * resume with If-Modified-Since / If-None-Match, so each answer also carries
 * Last-Modified and an Etag holding the cursor (304 when the hold ends for them).
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "core/err.h"
#include "proto/http1_write.h"
#include "transport/stream.h"

static void cursor_headers(cr_stream_t *s, cr_buf_t *b)
{
    cr_buf_puts(b, "X-Crier-Cursor: ");
    cr_stream_cursor(s, b);
    cr_buf_puts(b, "\r\nEtag: \"");
    cr_stream_cursor(s, b);
    cr_buf_puts(b, "\"\r\n");
}

static int lp_start(cr_stream_t *s, const uint8_t *gaps)
{
    (void)s;
    (void)gaps;
    return 0; /* the head goes out with the answer */
}

static int lp_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    (void)idx;
    cr_buf_t b = CR_BUF_INIT;
    char id[CR_MSGID_MAX_LEN];
    cr_conn_head(s->conn, &b, 200);
    cr_buf_puts(&b, "X-Crier-Id: ");
    cr_buf_append(&b, id, cr_msgid_format(msg->id, id));
    cr_buf_puts(&b, "\r\n");
    cr_http1_header(&b, "X-Crier-Channel", msg->channel->data, msg->channel->len);
    if (msg->event)
        cr_http1_header(&b, "X-Crier-Event", msg->event->data, msg->event->len);
    cursor_headers(s, &b);
    cr_buf_puts(&b, "Last-Modified: ");
    cr_http1_date(&b, msg->time_ms / 1000);
    cr_buf_puts(&b, "\r\n");
    cr_stream_common_headers(s, &b);
    const char *ctype = msg->content_type ? msg->content_type->data : "text/plain";
    cr_conn_respond_bytes(s->conn, &b, ctype, msg->payload);
    cr_buf_free(&b);
    s->answered = 1;
    return 1;
}

static int lp_caught_up(cr_stream_t *s)
{
    cr_timerq_arm(&s->srv->hold_q, &s->timer, (int64_t)uv_now(s->srv->loop));
    return 0;
}

static void lp_heartbeat(cr_stream_t *s)
{
    (void)s;
}

static void lp_finish(cr_stream_t *s, int reason)
{
    if (s->answered)
        return;
    s->answered = 1;
    if (reason == CR_ETIMEOUT) {
        cr_buf_t b = CR_BUF_INIT;
        cr_conn_head(s->conn, &b, s->nchan_style ? 304 : 204);
        cursor_headers(s, &b);
        cr_stream_common_headers(s, &b);
        cr_conn_respond(s->conn, &b, NULL, NULL, 0);
        cr_buf_free(&b);
        return;
    }
    cr_conn_error(s->conn, reason, NULL);
}

const cr_transport_t cr_transport_longpoll = {
    .name = "longpoll",
    .start = lp_start,
    .deliver = lp_deliver,
    .caught_up = lp_caught_up,
    .heartbeat = lp_heartbeat,
    .finish = lp_finish,
    .keeps_conn = 1,
    .heartbeats = 0,
};
