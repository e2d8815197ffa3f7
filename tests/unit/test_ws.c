/* Unit tests for the WebSocket codecs: the handshake (RFC 6455 section 1.3 accept vector, key
 * and header checks), the frame reader (RFC 6455 section 5.7 frames, fed whole, at every split
 * and one byte at a time, each piece ending on a PROT_NONE page; every error with its code),
 * the server frame header, and permessage-deflate (RFC 7692 section 7.2.3 payloads,
 * negotiation, the inflate cap, and a compress-then-read round trip).
 * Vectors are copied here from the RFC texts; the tests read no file.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "proto/http1_parse.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"
#include "test_util.h"

/* --- helpers ------------------------------------------------------------------------------------ */

static size_t unhex(const char *hex, char *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (char)v;
    }
    return n;
}

/* Appends one client frame (masked with key unless key is NULL) to b. */
static void frame(cr_buf_t *b, unsigned b0, const char *payload, size_t len, const char *key)
{
    unsigned char h[CR_WS_HEADER_MAX];
    size_t hl = cr_ws_frame_header(h, 0, 0, len);
    h[0] = (unsigned char)b0;
    if (key)
        h[1] |= 0x80;
    cr_buf_append(b, h, hl);
    if (key)
        cr_buf_append(b, key, 4);
    for (size_t i = 0; i < len; i++) {
        char c = payload[i];
        if (key)
            c ^= key[i & 3];
        cr_buf_append(b, &c, 1);
    }
}

#define KEY "\x37\xfa\x21\x3d"

/* --- feeder: the transcript of events must not depend on how the input is split ------------- */

typedef struct feed_ctx {
    cr_ws_reader_t r;
    size_t max;
    int rsv1, unmasked;
    const char *schedule;
    cr_buf_t got;
    ssize_t err;
    const char *want;
    ssize_t want_err;
} feed_ctx_t;

static void feed_begin(void *arg, const char *schedule)
{
    feed_ctx_t *c = arg;
    cr_ws_reader_init(&c->r, c->max, c->rsv1);
    c->r.allow_unmasked = c->unmasked ? 1 : 0;
    c->schedule = schedule;
    c->got.len = 0;
    c->err = 0;
}

static void feed_piece(void *arg, char *piece, size_t len, size_t off)
{
    feed_ctx_t *c = arg;
    (void)off;
    if (c->err) {
        cr_ws_event_t ev;
        assert_int_equal(cr_ws_read(&c->r, piece, len, &ev), c->err); /* sticky */
        return;
    }
    while (len) {
        cr_ws_event_t ev;
        ssize_t n = cr_ws_read(&c->r, piece, len, &ev);
        if (n < 0) {
            c->err = n;
            return;
        }
        if ((size_t)n > len)
            fail_msg("%s: consumed %zd of %zu", c->schedule, n, len);
        piece += n;
        len -= (size_t)n;
        if (!ev.opcode) {
            assert_int_equal(len, 0); /* nothing found: everything was taken */
            continue;
        }
        cr_buf_printf(&c->got, "%d%s", ev.opcode, ev.compressed ? "z" : "");
        if (ev.opcode == CR_WS_OP_CLOSE)
            cr_buf_printf(&c->got, "/%d", ev.close_code);
        cr_buf_putc(&c->got, ':');
        for (size_t i = 0; i < ev.len; i++) {
            unsigned char ch = (unsigned char)ev.data[i];
            if (ch >= 0x20 && ch < 0x7f)
                cr_buf_putc(&c->got, (char)ch);
            else
                cr_buf_printf(&c->got, "\\x%02x", ch);
        }
        cr_buf_putc(&c->got, ';');
    }
}

static void feed_end(void *arg)
{
    feed_ctx_t *c = arg;
    cr_buf_putc(&c->got, '\0');
    if (c->err != c->want_err)
        fail_msg("%s: ended with %zd, want %zd (events %s)", c->schedule, c->err, c->want_err, c->got.data);
    if (strcmp(c->got.data, c->want) != 0)
        fail_msg("%s: events\n  got  %s\n  want %s", c->schedule, c->got.data, c->want);
    cr_ws_reader_free(&c->r);
}

static const tu_feed_ops_t ops = {feed_begin, feed_piece, feed_end};

static void check_frames(const cr_buf_t *in, size_t max, int rsv1, int unmasked, const char *want,
                         ssize_t want_err)
{
    feed_ctx_t c;
    memset(&c, 0, sizeof(c));
    c.max = max;
    c.rsv1 = rsv1;
    c.unmasked = unmasked;
    c.want = want;
    c.want_err = want_err;
    size_t runs = tu_feed(in->data, in->len, &ops, &c);
    assert_int_equal(runs, in->len > 1 ? in->len + 1 : 1);
    cr_buf_free(&c.got);
}

static void check_hex(const char *hex, int unmasked, const char *want, ssize_t want_err)
{
    char raw[256];
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_append(&b, raw, unhex(hex, raw));
    check_frames(&b, 1 << 20, 0, unmasked, want, want_err);
    cr_buf_free(&b);
}

/* --- handshake ---------------------------------------------------------------------------------- */

static void test_accept_rfc6455(void **state)
{
    (void)state;
    char out[CR_WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(cr_ws_accept_key(key, strlen(key), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_key_valid(void **state)
{
    (void)state;
    assert_true(cr_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
    assert_true(cr_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAA==", 24));
    assert_false(cr_ws_key_valid("dGhlIHNhbXBsZSBub25jZR==", 24)); /* stray bits in the last char */
    assert_false(cr_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
    assert_false(cr_ws_key_valid("dGhlIHNhbXBsZSBub25jZQQQ", 24));
    assert_false(cr_ws_key_valid("dGhlIHNhbXBsZSBu*25jZQ==", 24));
    assert_false(cr_ws_key_valid("", 0));
}

static int check_request(const char *extra, const cr_ws_policy_t *pol, cr_ws_handshake_t *hs)
{
    static char buf[2048];
    static cr_http_request_t req;
    snprintf(buf, sizeof(buf), "GET /sub/x HTTP/1.1\r\nHost: h\r\n%s\r\n", extra);
    ssize_t n = cr_http1_parse_request(buf, strlen(buf), sizeof(buf), &req);
    assert_true(n > 0);
    const char *why = "unset";
    int r = cr_ws_handshake_check(&req, pol, hs, &why);
    if (r < 0)
        assert_non_null(why);
    return r;
}

#define GOOD_UPGRADE "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
#define GOOD_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define V13 "Sec-WebSocket-Version: 13\r\n"

static void test_handshake_check(void **state)
{
    (void)state;
    cr_ws_handshake_t hs;
    cr_ws_policy_t any = {NULL, "chat"};
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY V13 "Origin: http://example.com\r\n"
                                                             "Sec-WebSocket-Protocol: chat, superchat\r\n",
                                   &any, &hs),
                     0);
    assert_string_equal(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_string_equal(hs.protocol, "chat");
    /* The server's preference order decides between protocols the client offers. */
    cr_ws_policy_t pref = {NULL, "superchat, chat"};
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY V13 "Sec-WebSocket-Protocol: chat\r\n"
                                                             "Sec-WebSocket-Protocol: superchat\r\n",
                                   &pref, &hs),
                     0);
    assert_string_equal(hs.protocol, "superchat");
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY V13 "Sec-WebSocket-Protocol: other\r\n", &pref, &hs),
                     0);
    assert_string_equal(hs.protocol, "");
    cr_ws_policy_t crier = {NULL, "crier.json, crier"};
    assert_int_equal(
        check_request(GOOD_UPGRADE GOOD_KEY V13 "Sec-WebSocket-Protocol: crier, crier.json\r\n", &crier, &hs),
        0);
    assert_string_equal(hs.protocol, "crier.json");
    assert_int_equal(
        check_request(GOOD_UPGRADE GOOD_KEY V13 "Sec-WebSocket-Protocol: crier.jso\r\n", &crier, &hs), 0);
    assert_string_equal(hs.protocol, "");

    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY, &any, &hs), CR_EWSVERSION);
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY "Sec-WebSocket-Version: 8\r\n", &any, &hs),
                     CR_EWSVERSION);
    assert_int_equal(check_request(GOOD_UPGRADE V13, &any, &hs), CR_EBADREQ);
    assert_int_equal(check_request(GOOD_UPGRADE V13 "Sec-WebSocket-Key: short\r\n", &any, &hs), CR_EBADREQ);
    assert_int_equal(check_request("Upgrade: websocket\r\n" GOOD_KEY V13, &any, &hs), CR_EBADREQ);
    assert_int_equal(check_request("Upgrade: h2c\r\nConnection: upgrade\r\n" GOOD_KEY V13, &any, &hs),
                     CR_EBADREQ);

    cr_ws_policy_t listed = {"https://a.example, http://Example.com", NULL};
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY V13 "Origin: http://example.com\r\n", &listed, &hs),
                     0);
    assert_string_equal(hs.protocol, "");
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY V13 "Origin: https://a.example\r\n", &listed, &hs),
                     0);
    assert_int_equal(
        check_request(GOOD_UPGRADE GOOD_KEY V13 "Origin: https://a.example.evil\r\n", &listed, &hs),
        CR_EWSORIGIN);
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY V13 "Origin: https://a.exampl\r\n", &listed, &hs),
                     CR_EWSORIGIN);
    /* Not a browser: no Origin to check. */
    assert_int_equal(check_request(GOOD_UPGRADE GOOD_KEY V13, &listed, &hs), 0);
}

static void test_handshake_http10(void **state)
{
    (void)state;
    char buf[] = "GET /sub/x HTTP/1.0\r\n" GOOD_UPGRADE GOOD_KEY V13 "\r\n";
    cr_http_request_t req;
    assert_true(cr_http1_parse_request(buf, strlen(buf), sizeof(buf), &req) > 0);
    assert_true(cr_ws_is_upgrade(&req));
    cr_ws_handshake_t hs;
    cr_ws_policy_t any = {NULL, NULL};
    const char *why;
    assert_int_equal(cr_ws_handshake_check(&req, &any, &hs, &why), CR_EBADREQ);
}

/* --- frames: RFC 6455 section 5.7 --------------------------------------------------------------- */

static void test_rfc6455_frames(void **state)
{
    (void)state;
    check_hex("818537fa213d7f9f4d5158", 0, "1:Hello;", 0);  /* masked text */
    check_hex("810548656c6c6f", 1, "1:Hello;", 0);          /* unmasked (from a server) */
    check_hex("010348656c80026c6f", 1, "1:Hello;", 0);      /* fragmented */
    check_hex("890548656c6c6f", 1, "9:Hello;", 0);          /* ping */
    check_hex("8a8537fa213d7f9f4d5158", 0, "10:Hello;", 0); /* masked pong */
    check_hex("810548656c6c6f", 0, "", CR_EWSPROTO);        /* clients must mask */
    check_hex("818537fa213d7f9f4d5158890548656c6c6f", 0, "1:Hello;", CR_EWSPROTO);
}

static void test_extended_lengths(void **state)
{
    (void)state;
    static char payload[65536];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (char)('a' + i % 26);
    /* The encoder yields the RFC's headers for 256 and 65536 bytes. */
    unsigned char h[CR_WS_HEADER_MAX];
    char want[16];
    size_t n = cr_ws_frame_header(h, CR_WS_OP_BINARY, 0, 256);
    assert_int_equal(n, unhex("827e0100", want));
    assert_memory_equal(h, want, n);
    n = cr_ws_frame_header(h, CR_WS_OP_BINARY, 0, 65536);
    assert_int_equal(n, unhex("827f0000000000010000", want));
    assert_memory_equal(h, want, n);
    n = cr_ws_frame_header(h, CR_WS_OP_TEXT, 1, 5);
    assert_int_equal(n, unhex("c105", want));
    assert_memory_equal(h, want, n);

    /* The reader takes them back, masked, whole and split (not every split: 64 KiB). */
    cr_buf_t b = CR_BUF_INIT;
    frame(&b, 0x82, payload, 65536, KEY);
    cr_ws_reader_t r;
    cr_ws_reader_init(&r, 1 << 20, 0);
    cr_ws_event_t ev;
    char *copy = malloc(b.len);
    memcpy(copy, b.data, b.len);
    assert_int_equal(cr_ws_read(&r, copy, b.len, &ev), (ssize_t)b.len);
    assert_int_equal(ev.opcode, CR_WS_OP_BINARY);
    assert_int_equal(ev.len, 65536);
    assert_memory_equal(ev.data, payload, 65536);
    assert_true(ev.data >= copy && ev.data < copy + b.len); /* whole frame: read in place */
    size_t cuts[] = {1, 3, 9, 13, 14, 1000, 65549};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        memcpy(copy, b.data, b.len);
        assert_int_equal(cr_ws_read(&r, copy, cuts[k], &ev), (ssize_t)cuts[k]);
        assert_int_equal(ev.opcode, 0);
        assert_int_equal(cr_ws_read(&r, copy + cuts[k], b.len - cuts[k], &ev), (ssize_t)(b.len - cuts[k]));
        assert_int_equal(ev.opcode, CR_WS_OP_BINARY);
        assert_int_equal(ev.len, 65536);
        assert_memory_equal(ev.data, payload, 65536);
    }
    free(copy);
    cr_ws_reader_free(&r);
    /* 126 bytes: the first length that takes the 16-bit form, under every schedule. */
    b.len = 0;
    frame(&b, 0x81, payload, 126, KEY);
    char want2[140] = "1:";
    memcpy(want2 + 2, payload, 126);
    strcpy(want2 + 128, ";");
    check_frames(&b, 1 << 20, 0, 0, want2, 0);
    cr_buf_free(&b);
}

static void test_messages_and_controls(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    /* A fragmented text message with a ping between its fragments, then an empty binary
     * message, then a close with a code and reason. */
    frame(&b, 0x01, "multi\n", 6, KEY);
    frame(&b, 0x89, "p", 1, KEY);
    frame(&b, 0x00, "line", 4, KEY);
    frame(&b, 0x80, "", 0, KEY);
    frame(&b, 0x82, "", 0, KEY);
    frame(&b, 0x88,
          "\x03\xe8"
          "bye",
          5, KEY);
    check_frames(&b, 100, 0, 0, "9:p;1:multi\\x0aline;2:;8/1000:bye;", 0);
    /* A close with no code, and one with a registered code in the 3000s. */
    b.len = 0;
    frame(&b, 0x88, "", 0, KEY);
    frame(&b, 0x88, "\x0b\xb8", 2, KEY);
    check_frames(&b, 100, 0, 0, "8/1005:;8/3000:;", 0);
    cr_buf_free(&b);
}

static void check_bad(const char *what, unsigned b0, const char *payload, size_t len, ssize_t err)
{
    cr_buf_t b = CR_BUF_INIT;
    (void)what;
    frame(&b, b0, payload, len, KEY);
    check_frames(&b, 100, 0, 0, "", err);
    cr_buf_free(&b);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    static char big[200];
    memset(big, 'x', sizeof(big));
    check_bad("reserved opcode 3", 0x83, "x", 1, CR_EWSPROTO);
    check_bad("reserved opcode 0xB", 0x8B, "x", 1, CR_EWSPROTO);
    check_bad("RSV1 without an extension", 0xC1, "x", 1, CR_EWSPROTO);
    check_bad("RSV2", 0xA1, "x", 1, CR_EWSPROTO);
    check_bad("RSV3", 0x91, "x", 1, CR_EWSPROTO);
    check_bad("fragmented ping", 0x09, "x", 1, CR_EWSPROTO);
    check_bad("ping of 126 bytes", 0x89, big, 126, CR_EWSPROTO);
    check_bad("continuation first", 0x80, "x", 1, CR_EWSPROTO);
    check_bad("close of 1 byte", 0x88, "\x03", 1, CR_EWSPROTO);
    check_bad("close 1005", 0x88, "\x03\xed", 2, CR_EWSPROTO);
    check_bad("close 1006", 0x88, "\x03\xee", 2, CR_EWSPROTO);
    check_bad("close 999", 0x88, "\x03\xe7", 2, CR_EWSPROTO);
    check_bad("close 2999", 0x88, "\x0b\xb7", 2, CR_EWSPROTO);
    check_bad("close 5000", 0x88, "\x13\x88", 2, CR_EWSPROTO);
    check_bad("close reason not UTF-8", 0x88, "\x03\xe8\xff", 3, CR_EUTF8);
    check_bad("text not UTF-8", 0x81, "ok\xc0\xaf", 4, CR_EUTF8);
    check_bad("surrogate", 0x81, "\xed\xa0\x80", 3, CR_EUTF8);
    check_bad("above U+10FFFF", 0x81, "\xf4\x90\x80\x80", 4, CR_EUTF8);
    check_bad("ends inside a character", 0x81, "\xe2\x82", 2, CR_EUTF8);
    check_bad("too big", 0x82, big, 101, CR_EWSTOOBIG);
    /* Binary is not checked as UTF-8. */
    cr_buf_t b = CR_BUF_INIT;
    frame(&b, 0x82, "\xff\xfe", 2, KEY);
    check_frames(&b, 100, 0, 0, "2:\\xff\\xfe;", 0);

    /* A new message inside a fragmented one. */
    b.len = 0;
    frame(&b, 0x01, "a", 1, KEY);
    frame(&b, 0x81, "b", 1, KEY);
    check_frames(&b, 100, 0, 0, "", CR_EWSPROTO);
    /* The size limit counts every fragment. */
    b.len = 0;
    frame(&b, 0x02, big, 60, KEY);
    frame(&b, 0x80, big, 41, KEY);
    check_frames(&b, 100, 0, 0, "", CR_EWSTOOBIG);
    /* Exactly at the limit passes. */
    b.len = 0;
    frame(&b, 0x02, "ab", 2, KEY);
    frame(&b, 0x80, "cd", 2, KEY);
    check_frames(&b, 4, 0, 0, "2:abcd;", 0);
    /* A 64-bit length with its top bit set. */
    char raw[32];
    b.len = 0;
    cr_buf_append(&b, raw, unhex("82ff800000000000000137fa213d", raw));
    check_frames(&b, 100, 0, 0, "", CR_EWSPROTO);
    cr_buf_free(&b);
}

static void test_utf8_across_fragments(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    /* U+20AC (E2 82 AC) and U+1F600 (F0 9F 98 80) cut between fragments. */
    frame(&b, 0x01, "\xe2", 1, KEY);
    frame(&b, 0x00, "\x82\xac\xf0\x9f", 4, KEY);
    frame(&b, 0x80, "\x98\x80", 2, KEY);
    check_frames(&b, 100, 0, 0, "1:\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80;", 0);
    /* The second fragment breaks the character the first began: refused at once. */
    b.len = 0;
    frame(&b, 0x01, "ok\xe2\x82", 4, KEY);
    frame(&b, 0x80, "A", 1, KEY);
    check_frames(&b, 100, 0, 0, "", CR_EUTF8);
    /* Refused before the message ends: the bad fragment is not final. */
    b.len = 0;
    frame(&b, 0x01, "\xff", 1, KEY);
    check_frames(&b, 100, 0, 0, "", CR_EUTF8);
    /* The message ends inside a character. */
    b.len = 0;
    frame(&b, 0x01, "a", 1, KEY);
    frame(&b, 0x80, "\xf0\x9f\x98", 3, KEY);
    check_frames(&b, 100, 0, 0, "", CR_EUTF8);
    cr_buf_free(&b);
}

static void test_rsv1_when_negotiated(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    char raw[64];
    /* The frame Chromium sent after permessage-deflate was accepted (RFC 7692 7.2.3.1 payload). */
    cr_buf_append(&b, raw, unhex("c1878dd02ed07f98e31944d72e", raw));
    check_frames(&b, 100, 1, 0, "1z:\\xf2H\\xcd\\xc9\\xc9\\x07\\x00;", 0);
    /* Compressed text is not checked as UTF-8 before it is inflated. */
    b.len = 0;
    frame(&b, 0xC1, "\xff", 1, KEY);
    check_frames(&b, 100, 1, 0, "1z:\\xff;", 0);
    /* RSV1 on a continuation or on a control frame stays an error. */
    b.len = 0;
    frame(&b, 0x41, "a", 1, KEY);
    frame(&b, 0xC0, "b", 1, KEY);
    check_frames(&b, 100, 1, 0, "", CR_EWSPROTO);
    b.len = 0;
    frame(&b, 0xC9, "", 0, KEY);
    check_frames(&b, 100, 1, 0, "", CR_EWSPROTO);
    cr_buf_free(&b);
}

/* --- permessage-deflate: RFC 7692 ---------------------------------------------------------------- */

static void test_deflate_negotiate(void **state)
{
    (void)state;
    char resp[128];
    cr_ws_deflate_params_t p;
#define NEG(offer)                                                                                           \
    (memset(&p, 0, sizeof(p)), resp[0] = 0,                                                                  \
     cr_ws_deflate_negotiate(CR_SPAN_LIT(offer), &p, resp, sizeof(resp)))
    assert_int_equal(NEG("permessage-deflate; client_max_window_bits"), 1);
    assert_string_equal(resp, "permessage-deflate; server_no_context_takeover");
    assert_false(p.client_no_context_takeover);
    assert_int_equal(NEG("permessage-deflate;client_no_context_takeover;server_no_context_takeover"), 1);
    assert_string_equal(resp, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    assert_true(p.client_no_context_takeover);
    assert_int_equal(NEG("permessage-deflate; server_max_window_bits=10, permessage-deflate"), 1);
    assert_string_equal(resp, "permessage-deflate; server_no_context_takeover");
    assert_int_equal(NEG("permessage-deflate; client_max_window_bits=\"10\""), 1);
    assert_int_equal(NEG("permessage-deflate; server_max_window_bits=15"), 1);
    assert_int_equal(NEG("x-webkit-deflate-frame"), 0);
    assert_int_equal(NEG("permessage-deflate; unknown"), 0);
    assert_int_equal(NEG("permessage-deflate; client_no_context_takeover; client_no_context_takeover"), 0);
    assert_int_equal(NEG("permessage-deflate; client_max_window_bits=16"), 0);
    assert_int_equal(NEG("permessage-deflate; client_max_window_bits=7"), 0);
    assert_int_equal(NEG("permessage-deflate; server_max_window_bits"), 0);
    assert_int_equal(NEG("permessage-deflate; server_no_context_takeover=1"), 0);
    assert_int_equal(NEG(""), 0);
#undef NEG
}

static void inflate_hex(cr_ws_inflater_t *z, const char *hex, const char *want)
{
    char raw[128];
    size_t n = unhex(hex, raw);
    cr_buf_t out = CR_BUF_INIT;
    assert_int_equal(cr_ws_inflate(z, raw, n, 1000, &out), 0);
    assert_int_equal(out.len, strlen(want));
    if (out.len)
        assert_memory_equal(out.data, want, out.len);
    cr_buf_free(&out);
}

static void test_inflate_rfc7692(void **state)
{
    (void)state;
    cr_ws_inflater_t *z = cr_ws_inflater_new(1);
    inflate_hex(z, "f248cdc9c90700", "Hello");             /* 7.2.3.1 */
    inflate_hex(z, "000500faff48656c6c6f00", "Hello");     /* 7.2.3.3 no compression */
    inflate_hex(z, "f348cdc9c9070000", "Hello");           /* 7.2.3.4 BFINAL */
    inflate_hex(z, "f248cdc9c90700", "Hello");             /* ... and the next message still inflates */
    inflate_hex(z, "f24805000000ffffcac9c90700", "Hello"); /* 7.2.3.5 two blocks */
    inflate_hex(z, "00", "");                              /* an empty message */
    cr_ws_inflater_free(z);
    /* 7.2.3.2: with context takeover the second message refers back into the first. */
    z = cr_ws_inflater_new(0);
    inflate_hex(z, "f248cdc9c90700", "Hello");
    inflate_hex(z, "f200110000", "Hello");
    cr_ws_inflater_free(z);
}

static void test_inflate_limits(void **state)
{
    (void)state;
    cr_ws_deflater_t *d = cr_ws_deflater_new();
    static char text[100000];
    memset(text, 'a', sizeof(text));
    cr_bytes_t *f = cr_ws_deflate_frame(d, CR_WS_OP_TEXT, text, sizeof(text));
    assert_non_null(f);
    assert_true(f->len < 1000); /* a bomb: 100 kB from a few hundred bytes */
    size_t hl = (f->data[1] & 0x7F) == 126 ? 4 : 2;
    cr_ws_inflater_t *z = cr_ws_inflater_new(1);
    cr_buf_t out = CR_BUF_INIT;
    assert_int_equal(cr_ws_inflate(z, f->data + hl, f->len - hl, 99999, &out), CR_EWSTOOBIG);
    assert_true(out.len <= 100000);
    out.len = 0;
    assert_int_equal(cr_ws_inflate(z, f->data + hl, f->len - hl, 100000, &out), 0);
    assert_int_equal(out.len, 100000);
    assert_memory_equal(out.data, text, 100000);
    out.len = 0;
    assert_int_equal(cr_ws_inflate(z, "\xff\xff\xff\xff", 4, 1000, &out), CR_EWSPROTO);
    cr_buf_free(&out);
    cr_bytes_unref(f);
    cr_ws_inflater_free(z);
    cr_ws_deflater_free(d);
}

static void test_deflate_round_trip(void **state)
{
    (void)state;
    cr_ws_deflater_t *d = cr_ws_deflater_new();
    /* Too short to gain: the caller sends it plain. */
    assert_null(cr_ws_deflate_frame(d, CR_WS_OP_TEXT, "Hello", 5));
    char msg[3000];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = "crier pushes messages\n"[i % 22];
    for (int round = 0; round < 2; round++) { /* no context kept: the same bytes each time */
        cr_bytes_t *f = cr_ws_deflate_frame(d, CR_WS_OP_TEXT, msg, sizeof(msg));
        assert_non_null(f);
        assert_int_equal((unsigned char)f->data[0], 0xC1);
        cr_ws_reader_t r;
        cr_ws_reader_init(&r, 1 << 20, 1);
        r.allow_unmasked = 1;
        cr_ws_event_t ev;
        assert_int_equal(cr_ws_read(&r, f->data, f->len, &ev), (ssize_t)f->len);
        assert_int_equal(ev.opcode, CR_WS_OP_TEXT);
        assert_true(ev.compressed);
        cr_ws_inflater_t *z = cr_ws_inflater_new(1);
        cr_buf_t out = CR_BUF_INIT;
        assert_int_equal(cr_ws_inflate(z, ev.data, ev.len, 1 << 20, &out), 0);
        assert_int_equal(out.len, sizeof(msg));
        assert_memory_equal(out.data, msg, sizeof(msg));
        cr_buf_free(&out);
        cr_ws_inflater_free(z);
        cr_ws_reader_free(&r);
        cr_bytes_unref(f);
    }
    cr_ws_deflater_free(d);
    assert_int_equal(cr_bytes_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_rfc6455),        cmocka_unit_test(test_key_valid),
        cmocka_unit_test(test_handshake_check),       cmocka_unit_test(test_handshake_http10),
        cmocka_unit_test(test_rfc6455_frames),        cmocka_unit_test(test_extended_lengths),
        cmocka_unit_test(test_messages_and_controls), cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_utf8_across_fragments), cmocka_unit_test(test_rsv1_when_negotiated),
        cmocka_unit_test(test_deflate_negotiate),     cmocka_unit_test(test_inflate_rfc7692),
        cmocka_unit_test(test_inflate_limits),        cmocka_unit_test(test_deflate_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
