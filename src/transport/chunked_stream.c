/* Shared parts of the chunked streaming transports.
 * SPDX-License-Identifier: MIT */
#include "transport/chunked_stream.h"

#include "core/err.h"
#include "proto/http1_write.h"

int cr_chunked_stream_start(cr_stream_t *s, const uint8_t *gaps, const char *ctype)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_conn_head(s->conn, &b, 200);
    cr_http1_header_str(&b, "Content-Type", ctype);
    cr_buf_puts(&b, "Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n");
    cr_stream_common_headers(s, &b);
    cr_buf_puts(&b, "\r\n");
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r;
}

int cr_chunked_stream_chunk(cr_stream_t *s, const char *text, size_t len)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_http1_chunk(&b, text, len);
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r;
}

void cr_chunked_stream_last(cr_stream_t *s)
{
    CR_BYTES_DEFINE(last, "0\r\n\r\n");
    cr_stream_send(s, last);
}

int cr_chunked_stream_caught_up(cr_stream_t *s)
{
    (void)s;
    return 0;
}

void cr_chunked_stream_heartbeat(cr_stream_t *s)
{
    CR_BYTES_DEFINE(beat, "1\r\n\n\r\n");
    if (cr_stream_send(s, beat) < 0)
        cr_conn_close(s->conn, cr_err_text(CR_ESLOW));
}
