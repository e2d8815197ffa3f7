/* permessage-deflate negotiation, compression and decompression over zlib.
 * SPDX-License-Identifier: MIT */
#include "proto/ws_deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/err.h"
#include "proto/ws_frame.h"

/* --- negotiation ------------------------------------------------------------------------------ */

static cr_span_t trim(const char *a, const char *b)
{
    while (a < b && (*a == ' ' || *a == '\t'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    return (cr_span_t){a, (size_t)(b - a)};
}

/* Splits s at the first sep outside a quoted string; *rest gets what follows. */
static cr_span_t split(cr_span_t s, char sep, cr_span_t *rest)
{
    int quoted = 0;
    size_t i = 0;
    for (; i < s.len; i++) {
        if (s.ptr[i] == '"')
            quoted = !quoted;
        else if (s.ptr[i] == sep && !quoted)
            break;
    }
    cr_span_t head = trim(s.ptr, s.ptr + i);
    rest->ptr = s.ptr + (i < s.len ? i + 1 : i);
    rest->len = i < s.len ? s.len - i - 1 : 0;
    return head;
}

/* A window-bits value 8-15, quoted or not; -1 if it isn't one. */
static int window_bits(cr_span_t v)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        v.ptr++, v.len -= 2;
    if (v.len == 1 && v.ptr[0] >= '8' && v.ptr[0] <= '9')
        return v.ptr[0] - '0';
    if (v.len == 2 && v.ptr[0] == '1' && v.ptr[1] >= '0' && v.ptr[1] <= '5')
        return 10 + v.ptr[1] - '0';
    return -1;
}

/* 1 if the offer's parameters are acceptable (filling *p), else 0. */
static int accept_offer(cr_span_t params, cr_ws_deflate_params_t *p)
{
    int seen_snct = 0, seen_cnct = 0, seen_smwb = 0, seen_cmwb = 0;
    cr_ws_deflate_params_t got = {1, 0};
    while (params.len) {
        cr_span_t one = split(params, ';', &params);
        if (!one.len)
            continue;
        cr_span_t val;
        cr_span_t name = split(one, '=', &val);
        int has_val = name.len < one.len;
        val = trim(val.ptr, val.ptr + val.len);
        if (cr_span_ieq(name, "server_no_context_takeover")) {
            if (seen_snct++ || has_val)
                return 0;
        } else if (cr_span_ieq(name, "client_no_context_takeover")) {
            if (seen_cnct++ || has_val)
                return 0;
            got.client_no_context_takeover = 1;
        } else if (cr_span_ieq(name, "server_max_window_bits")) {
            /* One compressed frame serves every subscriber, so it is made with the full window. */
            if (seen_smwb++ || !has_val || window_bits(val) != 15)
                return 0;
        } else if (cr_span_ieq(name, "client_max_window_bits")) {
            /* Our inflater takes any window up to 15, so the client may keep its own choice. */
            if (seen_cmwb++ || (has_val && window_bits(val) < 0))
                return 0;
        } else {
            return 0;
        }
    }
    *p = got;
    return 1;
}

void cr_ws_deflate_response(const cr_ws_deflate_params_t *p, char *resp, size_t cap)
{
    snprintf(resp, cap, "permessage-deflate; server_no_context_takeover%s",
             p->client_no_context_takeover ? "; client_no_context_takeover" : "");
}

int cr_ws_deflate_negotiate(cr_span_t offers, cr_ws_deflate_params_t *p, char *resp, size_t cap)
{
    if (p->enabled)
        return 1;
    if (cap < 96)
        return CR_EINVAL;
    while (offers.len) {
        cr_span_t offer = split(offers, ',', &offers);
        cr_span_t params;
        cr_span_t name = split(offer, ';', &params);
        if (!cr_span_ieq(name, "permessage-deflate") || !accept_offer(params, p))
            continue;
        cr_ws_deflate_response(p, resp, cap);
        return 1;
    }
    return 0;
}

/* --- compression ---------------------------------------------------------------------------- */

struct cr_ws_deflater {
    z_stream z;
};

cr_ws_deflater_t *cr_ws_deflater_new(void)
{
    cr_ws_deflater_t *d = cr_xcalloc(1, sizeof(*d));
    if (deflateInit2(&d->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void cr_ws_deflater_free(cr_ws_deflater_t *d)
{
    if (!d)
        return;
    deflateEnd(&d->z);
    free(d);
}

cr_bytes_t *cr_ws_deflate_frame(cr_ws_deflater_t *d, int opcode, const char *data, size_t len)
{
    if (!d || len > UINT32_MAX / 2)
        return NULL;
    /* Room for the worst case plus the sync-flush marker; beyond the plain frame's size it
     * would not be worth sending, so the output is capped there. */
    size_t cap = deflateBound(&d->z, (uLong)len) + 16;
    unsigned char *out = cr_xmalloc(cap);
    deflateReset(&d->z);
    d->z.next_in = (Bytef *)(uintptr_t)data;
    d->z.avail_in = (uInt)len;
    d->z.next_out = out;
    d->z.avail_out = (uInt)cap;
    int r = deflate(&d->z, Z_SYNC_FLUSH);
    size_t n = cap - d->z.avail_out;
    cr_bytes_t *frame = NULL;
    if (r == Z_OK && d->z.avail_in == 0 && n >= 4 && memcmp(out + n - 4, "\0\0\xff\xff", 4) == 0) {
        n -= 4; /* RFC 7692 7.2.1: the sender drops the empty block's tail */
        if (n == 0)
            out[n++] = 0; /* an empty message is one 00 octet */
        if (n < len) {
            unsigned char h[CR_WS_HEADER_MAX];
            size_t hl = cr_ws_frame_header(h, opcode, 1, n);
            frame = cr_bytes_new(hl + n);
            memcpy(frame->data, h, hl);
            memcpy(frame->data + hl, out, n);
        }
    }
    free(out);
    return frame;
}

/* --- decompression ---------------------------------------------------------------------------- */

struct cr_ws_inflater {
    z_stream z;
    int no_context;
};

cr_ws_inflater_t *cr_ws_inflater_new(int no_context)
{
    cr_ws_inflater_t *z = cr_xcalloc(1, sizeof(*z));
    if (inflateInit2(&z->z, -15) != Z_OK) {
        free(z);
        return NULL;
    }
    z->no_context = no_context;
    return z;
}

void cr_ws_inflater_free(cr_ws_inflater_t *z)
{
    if (!z)
        return;
    inflateEnd(&z->z);
    free(z);
}

static int inflate_some(cr_ws_inflater_t *z, const unsigned char *in, size_t len, size_t max_out,
                        cr_buf_t *out, size_t start)
{
    z->z.next_in = (Bytef *)(uintptr_t)in;
    z->z.avail_in = (uInt)len;
    for (;;) {
        size_t used = out->len - start;
        size_t room = max_out - used;
        size_t chunk = room < 16384 ? room + 1 : 16384; /* one byte over the cap tells "too big" */
        cr_buf_reserve(out, chunk);
        z->z.next_out = (Bytef *)out->data + out->len;
        z->z.avail_out = (uInt)chunk;
        int r = inflate(&z->z, Z_SYNC_FLUSH);
        out->len += chunk - z->z.avail_out;
        if (out->len - start > max_out)
            return CR_EWSTOOBIG;
        if (r == Z_STREAM_END) {
            /* A final block (BFINAL) ends this stream; what follows starts afresh. */
            inflateReset(&z->z);
            if (!z->z.avail_in)
                break;
            continue;
        }
        if (r != Z_OK && r != Z_BUF_ERROR)
            return CR_EWSPROTO;
        if (z->z.avail_out == 0)
            continue; /* more output may be waiting */
        if (z->z.avail_in == 0 || r == Z_BUF_ERROR)
            break;
    }
    return 0;
}

int cr_ws_inflate(cr_ws_inflater_t *z, const char *in, size_t len, size_t max_out, cr_buf_t *out)
{
    static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
    size_t start = out->len;
    if (len > UINT32_MAX)
        return CR_EWSTOOBIG;
    int r = inflate_some(z, (const unsigned char *)in, len, max_out, out, start);
    if (r == 0)
        r = inflate_some(z, tail, sizeof(tail), max_out, out, start);
    if (r < 0 || z->no_context)
        inflateReset(&z->z);
    return r;
}
