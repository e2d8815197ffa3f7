/* libFuzzer target for the WebSocket frame reader and the permessage-deflate codecs.
 * Byte 0 picks max_message, byte 1 flags (bit 0: deflate negotiated, bit 1: accept unmasked
 * frames, bit 2: also read the input as a Sec-WebSocket-Extensions offer), byte 2 a piece
 * size; the rest is the client's byte stream. It is read whole, in pieces of that size and one
 * byte at a time: the events (and the error) must be the same, since a reader whose answer
 * depends on packet boundaries could be fooled. Compressed messages are inflated under the cap
 * and text is then checked as UTF-8.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "proto/json_out.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "fuzz_check.h"

typedef struct result {
    cr_buf_t events;
    ssize_t err;
} result_t;

static void record(result_t *res, const cr_ws_event_t *ev, size_t max, cr_ws_inflater_t *z)
{
    cr_buf_printf(&res->events, "%d %d %d %zu:", ev->opcode, ev->compressed, ev->close_code, ev->len);
    cr_buf_append(&res->events, ev->data, ev->len);
    check(ev->len <= max || (ev->opcode & 8));
    if (ev->opcode & 8)
        check(ev->len <= 125);
    if (ev->opcode == CR_WS_OP_TEXT && !ev->compressed)
        check(cr_utf8_valid((const unsigned char *)ev->data, ev->len));
    if (ev->compressed && z) {
        cr_buf_t out = CR_BUF_INIT;
        int r = cr_ws_inflate(z, ev->data, ev->len, max, &out);
        check(r == 0 || r == CR_EWSTOOBIG || r == CR_EWSPROTO);
        if (r == 0) {
            check(out.len <= max);
            cr_buf_printf(&res->events, "inflated %zu %d", out.len,
                          cr_utf8_valid((const unsigned char *)out.data, out.len));
            cr_buf_append(&res->events, out.data, out.len);
        } else {
            cr_buf_printf(&res->events, "inflate error %d", r);
        }
        cr_buf_free(&out);
    }
}

static void run(const char *in, size_t len, size_t max, unsigned flags, size_t step, result_t *res)
{
    cr_ws_reader_t r;
    cr_ws_reader_init(&r, max, flags & 1);
    r.allow_unmasked = (flags & 2) ? 1 : 0;
    cr_ws_inflater_t *z = (flags & 1) ? cr_ws_inflater_new(0) : NULL;
    size_t off = 0;
    res->err = 0;
    while (off < len && !res->err) {
        size_t n = step == 0 || step > len - off ? len - off : step;
        char *piece = malloc(n);
        memcpy(piece, in + off, n);
        size_t pos = 0;
        while (pos < n) {
            cr_ws_event_t ev;
            ssize_t got = cr_ws_read(&r, piece + pos, n - pos, &ev);
            if (got < 0) {
                check(got == CR_EWSPROTO || got == CR_EUTF8 || got == CR_EWSTOOBIG);
                check(cr_ws_read(&r, piece, n, &ev) == got); /* sticky */
                res->err = got;
                break;
            }
            check((size_t)got <= n - pos);
            pos += (size_t)got;
            if (!ev.opcode) {
                check(pos == n);
                break;
            }
            record(res, &ev, max, z);
        }
        free(piece);
        off += n;
    }
    cr_ws_inflater_free(z);
    cr_ws_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max = (size_t)data[0] * 16 + 1;
    unsigned flags = data[1];
    size_t step = data[2];
    const char *in = (const char *)data + 3;
    size_t len = size - 3;

    if (flags & 4) {
        char resp[128];
        cr_ws_deflate_params_t p = {0, 0};
        int r = cr_ws_deflate_negotiate((cr_span_t){in, len}, &p, resp, sizeof(resp));
        check(r == 0 || r == 1);
        check(r == 0 || (p.enabled && strncmp(resp, "permessage-deflate", 18) == 0));
    }

    result_t whole = {CR_BUF_INIT, 0}, pieces = {CR_BUF_INIT, 0}, bytes = {CR_BUF_INIT, 0};
    run(in, len, max, flags, 0, &whole);
    run(in, len, max, flags, step, &pieces);
    run(in, len, max, flags, 1, &bytes);
    check(whole.err == pieces.err && whole.err == bytes.err);
    check(whole.events.len == pieces.events.len && whole.events.len == bytes.events.len);
    if (whole.events.len) {
        check(memcmp(whole.events.data, pieces.events.data, whole.events.len) == 0);
        check(memcmp(whole.events.data, bytes.events.data, whole.events.len) == 0);
    }
    cr_buf_free(&whole.events);
    cr_buf_free(&pieces.events);
    cr_buf_free(&bytes.events);
    return 0;
}
