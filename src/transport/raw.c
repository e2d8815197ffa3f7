/* Raw line streaming (?transport=raw): a chunked text/plain response, each
 * message's payload followed by a newline; nothing else in band (a gap is told
 * in the X-Crier-Gap header). Blank lines are heartbeats.
 * SPDX-License-Identifier: MIT */
#include "proto/http1_write.h"
#include "transport/chunked_stream.h"

static cr_bytes_t *encode(const cr_msg_t *m)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_printf(&b, "%zx\r\n", (size_t)m->payload->len + 1);
    cr_buf_append(&b, m->payload->data, m->payload->len);
    cr_buf_append(&b, "\n\r\n", 3);
    cr_bytes_t *out = cr_buf_to_bytes(&b);
    cr_buf_free(&b);
    return out;
}

static int raw_start(cr_stream_t *s, const uint8_t *gaps)
{
    return cr_chunked_stream_start(s, gaps, "text/plain; charset=utf-8");
}

static int raw_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    (void)idx;
    return cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_RAW, encode));
}

static void raw_finish(cr_stream_t *s, int reason)
{
    (void)reason;
    cr_chunked_stream_last(s);
}

const cr_transport_t cr_transport_raw = {
    .name = "raw",
    .start = raw_start,
    .deliver = raw_deliver,
    .caught_up = cr_chunked_stream_caught_up,
    .heartbeat = cr_chunked_stream_heartbeat,
    .finish = raw_finish,
    .keeps_conn = 0,
    .heartbeats = 1,
};
