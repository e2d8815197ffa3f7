/* NDJSON streaming: a chunked response with one JSON object per line per
 * message (see msg_json.h); a gap or the channel's deletion arrive as objects
 * with an "event" of crier-gap / crier-deleted. Blank lines are heartbeats.
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "core/err.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "transport/chunked_stream.h"
#include "transport/msg_json.h"

static cr_bytes_t *encode(const cr_msg_t *m)
{
    cr_buf_t json = CR_BUF_INIT, chunk = CR_BUF_INIT;
    cr_msg_json(&json, m);
    cr_buf_putc(&json, '\n');
    cr_http1_chunk(&chunk, json.data, json.len);
    cr_bytes_t *out = cr_buf_to_bytes(&chunk);
    cr_buf_free(&json);
    cr_buf_free(&chunk);
    return out;
}

static int nd_start(cr_stream_t *s, const uint8_t *gaps)
{
    int gap = s->gap; /* the head's X-Crier-Gap marks it told */
    int r = cr_chunked_stream_start(s, gaps, "application/x-ndjson");
    if (r == 0 && gap) {
        cr_buf_t b = CR_BUF_INIT;
        cr_buf_puts(&b, "{\"event\":\"crier-gap\",");
        cr_stream_gap_fields(s, &b);
        cr_buf_puts(&b, "}\n");
        r = cr_chunked_stream_chunk(s, b.data, b.len);
        cr_buf_free(&b);
    }
    return r;
}

static int nd_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    (void)idx;
    return cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_NDJSON, encode));
}

static void nd_finish(cr_stream_t *s, int reason)
{
    cr_buf_t b = CR_BUF_INIT;
    if (reason == CR_EGONE) {
        cr_buf_puts(&b, "{\"event\":\"crier-deleted\",\"channel\":");
        cr_json_string(&b, s->gone->data, s->gone->len);
    } else {
        const char *why = cr_err_text(reason);
        cr_buf_puts(&b, "{\"event\":\"crier-close\",\"reason\":");
        cr_json_string(&b, why, strlen(why));
    }
    cr_buf_puts(&b, "}\n");
    cr_chunked_stream_chunk(s, b.data, b.len);
    cr_buf_free(&b);
    cr_chunked_stream_last(s);
}

const cr_transport_t cr_transport_ndjson = {
    .name = "ndjson",
    .start = nd_start,
    .deliver = nd_deliver,
    .caught_up = cr_chunked_stream_caught_up,
    .heartbeat = cr_chunked_stream_heartbeat,
    .finish = nd_finish,
    .keeps_conn = 0,
    .heartbeats = 1,
};
