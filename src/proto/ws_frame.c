/* The WebSocket frame reader and the server frame header encoder.
 * SPDX-License-Identifier: MIT */
#include "proto/ws_frame.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void cr_ws_reader_init(cr_ws_reader_t *r, size_t max_message, int allow_rsv1)
{
    memset(r, 0, sizeof(*r));
    r->max_message = max_message;
    r->allow_rsv1 = allow_rsv1 ? 1 : 0;
}

void cr_ws_reader_free(cr_ws_reader_t *r)
{
    free(r->_msg);
    r->_msg = NULL;
    r->_msglen = r->_msgcap = 0;
    free(r->_ctl);
    r->_ctl = NULL;
}

int cr_ws_close_code_valid(int code)
{
    /* 1004-1006 and 1015 are reserved and never sent; 1016-2999 are unassigned. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* Feeds s[0..n) to the incremental UTF-8 check (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). 0, or -1 at the first byte that can't be UTF-8. */
static int utf8_feed(cr_ws_reader_t *r, const unsigned char *s, size_t n)
{
    unsigned need = r->_u8need, lo = r->_u8lo, hi = r->_u8hi;
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (need) {
            if (c < lo || c > hi)
                return -1;
            need--;
            lo = 0x80, hi = 0xBF;
            continue;
        }
        if (c < 0x80)
            continue;
        lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c == 0xE0)
            need = 2, lo = 0xA0;
        else if (c == 0xED)
            need = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF)
            need = 2;
        else if (c == 0xF0)
            need = 3, lo = 0x90;
        else if (c == 0xF4)
            need = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3)
            need = 3;
        else
            return -1;
    }
    r->_u8need = (uint8_t)need;
    r->_u8lo = (uint8_t)lo;
    r->_u8hi = (uint8_t)hi;
    return 0;
}

static void utf8_reset(cr_ws_reader_t *r)
{
    r->_u8need = 0;
    r->_u8lo = 0x80;
    r->_u8hi = 0xBF;
}

static ssize_t fail(cr_ws_reader_t *r, int code)
{
    r->_err = code;
    return code;
}

/* Checks what the first two header bytes already tell, so that a bad frame is refused
 * before its length or payload arrives. */
static int check_start(const cr_ws_reader_t *r)
{
    unsigned b0 = r->_hdr[0], b1 = r->_hdr[1];
    unsigned op = b0 & 0x0F, len7 = b1 & 0x7F;
    if (b0 & 0x30)
        return CR_EWSPROTO; /* RSV2, RSV3: no extension here defines them */
    if ((op >= 3 && op <= 7) || op >= 0xB)
        return CR_EWSPROTO;
    if (!(b1 & 0x80) && !r->allow_unmasked)
        return CR_EWSPROTO;
    if (op & 0x8) {
        if (!(b0 & 0x80) || len7 > CR_WS_CONTROL_MAX || (b0 & 0x40))
            return CR_EWSPROTO;
        return 0;
    }
    if ((b0 & 0x40) && (!r->allow_rsv1 || op == CR_WS_OP_CONT))
        return CR_EWSPROTO; /* permessage-deflate marks only a message's first frame */
    if (op == CR_WS_OP_CONT && !r->_msg_op)
        return CR_EWSPROTO;
    if (op != CR_WS_OP_CONT && r->_msg_op)
        return CR_EWSPROTO;
    return 0;
}

static size_t header_len(const cr_ws_reader_t *r)
{
    unsigned len7 = r->_hdr[1] & 0x7F;
    size_t n = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    return n + ((r->_hdr[1] & 0x80) ? 4 : 0);
}

static int header_done(cr_ws_reader_t *r)
{
    const unsigned char *h = r->_hdr;
    unsigned len7 = h[1] & 0x7F;
    size_t pos = 2;
    uint64_t plen = len7;
    if (len7 == 126) {
        plen = (uint64_t)h[2] << 8 | h[3];
        pos = 4;
    } else if (len7 == 127) {
        if (h[2] & 0x80)
            return CR_EWSPROTO;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | h[2 + i];
        pos = 10;
    }
    r->_fin = (h[0] & 0x80) != 0;
    r->_op = h[0] & 0x0F;
    r->_rsv1 = (h[0] & 0x40) != 0;
    r->_masked = (h[1] & 0x80) != 0;
    if (r->_masked)
        memcpy(r->_mask, h + pos, 4);
    r->_plen = plen;
    r->_pdone = 0;
    if (!(r->_op & 0x8)) {
        if (plen > r->max_message || r->_msglen + plen > r->max_message)
            return CR_EWSTOOBIG;
        if (r->_op != CR_WS_OP_CONT) {
            r->_msg_op = r->_op;
            r->_msg_compressed = r->_rsv1;
            utf8_reset(r);
        }
    }
    r->_in_payload = 1;
    return 0;
}

static void unmask(char *p, size_t n, const unsigned char *mask, uint64_t done)
{
    size_t k = (size_t)(done & 3);
    for (size_t i = 0; i < n; i++, k = (k + 1) & 3)
        p[i] ^= (char)mask[k];
}

static int finish_control(cr_ws_reader_t *r, const char *p, cr_ws_event_t *ev)
{
    size_t n = (size_t)r->_plen;
    ev->opcode = r->_op;
    ev->data = p;
    ev->len = n;
    if (r->_op != CR_WS_OP_CLOSE)
        return 0;
    if (n == 0) {
        ev->close_code = 1005;
        return 0;
    }
    if (n == 1)
        return CR_EWSPROTO;
    int code = (unsigned char)p[0] << 8 | (unsigned char)p[1];
    if (!cr_ws_close_code_valid(code))
        return CR_EWSPROTO;
    cr_ws_reader_t tmp;
    utf8_reset(&tmp);
    if (utf8_feed(&tmp, (const unsigned char *)p + 2, n - 2) < 0 || tmp._u8need)
        return CR_EUTF8;
    ev->close_code = code;
    ev->data = p + 2;
    ev->len = n - 2;
    return 0;
}

ssize_t cr_ws_read(cr_ws_reader_t *r, char *buf, size_t len, cr_ws_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (r->_err)
        return r->_err;
    if (!r->_msg_op && r->_msg) {
        /* The last message assembled here was handed out by the previous call. */
        free(r->_msg);
        r->_msg = NULL;
        r->_msglen = r->_msgcap = 0;
    }
    if (r->_ctl && !(r->_in_payload && (r->_op & 0x8))) {
        free(r->_ctl);
        r->_ctl = NULL;
    }
    size_t off = 0;
    for (;;) {
        if (!r->_in_payload) {
            if (off == len)
                break;
            size_t need = r->_hlen < 2 ? 2 : header_len(r);
            while (r->_hlen < need && off < len) {
                r->_hdr[r->_hlen++] = (unsigned char)buf[off++];
                if (r->_hlen == 2) {
                    int e = check_start(r);
                    if (e)
                        return fail(r, e);
                    need = header_len(r);
                }
            }
            if (r->_hlen < need)
                break;
            int e = header_done(r);
            if (e)
                return fail(r, e);
        }
        uint64_t left = r->_plen - r->_pdone;
        size_t take = (size_t)(len - off < left ? len - off : left);
        char *p = buf + off;
        int control = (r->_op & 0x8) != 0;
        /* A whole frame in hand that is a message or a control frame by itself: no copy. */
        int whole = r->_pdone == 0 && take == r->_plen && (control || (r->_fin && r->_op != CR_WS_OP_CONT));
        if (r->_masked)
            unmask(p, take, r->_mask, r->_pdone);
        if (!control) {
            if (r->_msg_op == CR_WS_OP_TEXT && !r->_msg_compressed &&
                utf8_feed(r, (const unsigned char *)p, take) < 0)
                return fail(r, CR_EUTF8);
            if (!whole && take) {
                if (r->_msglen + take > r->_msgcap) {
                    size_t cap = r->_msgcap ? r->_msgcap : 256;
                    while (cap < r->_msglen + take)
                        cap *= 2;
                    if (cap > r->max_message)
                        cap = r->max_message;
                    r->_msg = cr_xrealloc(r->_msg, cap);
                    r->_msgcap = cap;
                }
                memcpy(r->_msg + r->_msglen, p, take);
                r->_msglen += take;
            }
        } else if (!whole && take) {
            if (!r->_ctl)
                r->_ctl = cr_xmalloc(CR_WS_CONTROL_MAX);
            memcpy(r->_ctl + r->_pdone, p, take);
        }
        r->_pdone += take;
        off += take;
        if (r->_pdone < r->_plen)
            break;
        r->_in_payload = 0;
        r->_hlen = 0;
        if (control) {
            int e = finish_control(r, whole ? p : r->_ctl, ev);
            if (e)
                return fail(r, e);
            return (ssize_t)off;
        }
        if (!r->_fin)
            continue;
        if (r->_msg_op == CR_WS_OP_TEXT && !r->_msg_compressed && r->_u8need)
            return fail(r, CR_EUTF8); /* the message ends inside a character */
        ev->opcode = r->_msg_op;
        ev->compressed = r->_msg_compressed;
        if (whole) {
            ev->data = p;
            ev->len = take;
        } else {
            ev->data = r->_msg ? r->_msg : p;
            ev->len = r->_msglen;
        }
        r->_msg_op = 0;
        r->_msg_compressed = 0;
        return (ssize_t)off;
    }
    return (ssize_t)off;
}

size_t cr_ws_frame_header(unsigned char *out, int opcode, int rsv1, uint64_t len)
{
    out[0] = (unsigned char)(0x80 | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}
