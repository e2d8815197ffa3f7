/* Pushlet / forever frame (?transport=pushlet&callback=fn): a chunked HTML
 * document that never ends. Its head defines a relay that calls the page's
 * callback (fn, typically "parent.onMessage" from an iframe); each message is
 * then <script>relay({...})</script> with the JSON form of the message (see
 * msg_json.h), so a message's frame is the same for every subscriber whatever
 * its callback. Gaps and the ending arrive as calls with "event" crier-gap /
 * crier-deleted / crier-close; keep-alives are HTML comments.
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "proto/pushlet.h"
#include "proto/query.h"
#include "transport/msg_json.h"
#include "transport/stream.h"

static int pl_setup(cr_stream_t *s, const cr_http_request_t *req, const char **why)
{
    char cb[CR_PUSHLET_CALLBACK_MAX + 1];
    size_t len;
    int r = cr_query_get(req->query, "callback", cb, sizeof(cb), &len);
    if (r != 1 || !cr_pushlet_callback_valid(cb, len)) {
        *why = r == 0 ? "pushlet needs ?callback=<function>, e.g. callback=parent.onMessage"
                      : "callback must be a JavaScript name or dotted path (e.g. parent.onMessage), "
                        "at most 128 characters of [A-Za-z0-9_$.]";
        return CR_EPARAM;
    }
    s->priv = cr_xstrndup(cb, len);
    s->priv_free = free;
    return 0;
}

static int send_chunk(cr_stream_t *s, const cr_buf_t *text)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_http1_chunk(&b, text->data, text->len);
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r;
}

static cr_bytes_t *encode(const cr_msg_t *m)
{
    cr_buf_t json = CR_BUF_INIT, call = CR_BUF_INIT, chunk = CR_BUF_INIT;
    cr_msg_json(&json, m);
    cr_pushlet_call(&call, json.data, json.len);
    cr_http1_chunk(&chunk, call.data, call.len);
    cr_bytes_t *out = cr_buf_to_bytes(&chunk);
    cr_buf_free(&json);
    cr_buf_free(&call);
    cr_buf_free(&chunk);
    return out;
}

static int pl_start(cr_stream_t *s, const uint8_t *gaps)
{
    const char *cb = s->priv;
    int gap = s->gap; /* the head's X-Crier-Gap marks it told */
    (void)gaps;
    cr_buf_t b = CR_BUF_INIT;
    cr_conn_head(s->conn, &b, 200);
    cr_buf_puts(&b, "Content-Type: text/html; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"
                    "Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n");
    cr_stream_common_headers(s, &b);
    cr_buf_puts(&b, "\r\n");
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    if (r < 0)
        return r;
    cr_buf_t doc = CR_BUF_INIT;
    cr_pushlet_preamble(&doc, cb, strlen(cb));
    if (gap) {
        cr_buf_t j = CR_BUF_INIT;
        cr_buf_puts(&j, "{\"event\":\"crier-gap\",");
        cr_stream_gap_fields(s, &j);
        cr_buf_putc(&j, '}');
        cr_pushlet_call(&doc, j.data, j.len);
        cr_buf_free(&j);
    }
    r = send_chunk(s, &doc);
    cr_buf_free(&doc);
    return r;
}

static int pl_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    (void)idx;
    return cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_PUSHLET, encode));
}

static int pl_caught_up(cr_stream_t *s)
{
    (void)s;
    return 0;
}

static void pl_heartbeat(cr_stream_t *s)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_pushlet_keepalive(&b);
    if (send_chunk(s, &b) < 0)
        cr_conn_close(s->conn, cr_err_text(CR_ESLOW));
    cr_buf_free(&b);
}

static void pl_finish(cr_stream_t *s, int reason)
{
    cr_buf_t j = CR_BUF_INIT, doc = CR_BUF_INIT;
    if (reason == CR_EGONE) {
        cr_buf_puts(&j, "{\"event\":\"crier-deleted\",\"channel\":");
        cr_json_string(&j, s->gone->data, s->gone->len);
    } else {
        const char *why = cr_err_text(reason);
        cr_buf_puts(&j, "{\"event\":\"crier-close\",\"reason\":");
        cr_json_string(&j, why, strlen(why));
    }
    cr_buf_putc(&j, '}');
    cr_pushlet_call(&doc, j.data, j.len);
    cr_pushlet_end(&doc);
    send_chunk(s, &doc);
    cr_buf_free(&j);
    cr_buf_free(&doc);
    CR_BYTES_DEFINE(end, "0\r\n\r\n");
    cr_stream_send(s, end);
}

const cr_transport_t cr_transport_pushlet = {
    .name = "pushlet",
    .setup = pl_setup,
    .start = pl_start,
    .deliver = pl_deliver,
    .caught_up = pl_caught_up,
    .heartbeat = pl_heartbeat,
    .finish = pl_finish,
    .keeps_conn = 0,
    .heartbeats = 1,
};
