/* WebSocket (RFC 6455): GET /sub/{channels} with Upgrade: websocket. Each message is one frame
 * (text for UTF-8 payloads of a textual or no content type, binary otherwise), built once per
 * message and shared by every WebSocket subscriber, compressed once more for those that
 * negotiated permessage-deflate; with the subprotocol crier.json the frame holds the message's
 * JSON object instead. Only notices and control frames are built per connection.
 * The server pings every --ws-ping and closes a peer that has not answered by the next ping.
 * With --ws-publish, each message a client sends is published to the channels it subscribed
 * to, validated as an HTTP publish is. Control notices (crier-hello, crier-gap, crier-error)
 * are JSON text frames; a deleted channel closes with 1000.
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/log.h"
#include "net/router.h"
#include "proto/json_out.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"
#include "transport/msg_json.h"
#include "transport/stream.h"

#define CLOSE_REASON_MAX 123 /* a control frame carries 125 bytes, 2 of them the code */
/* Subprotocols, preferred first. crier.json: each message is a text frame with its JSON object
 * (id, channel, time, event, content_type, data or data_base64), so that a client knows the
 * cursor to resume from. crier (or none): each message is its bare payload. */
#define PROTOCOLS "crier.json, crier"
#define PROTO_JSON 1
#define PROTO_RAW 2

typedef struct ws_state {
    cr_ws_reader_t rd;
    cr_ws_inflater_t *inf; /* made on the first compressed message a client sends */
    cr_ws_deflate_params_t dfl;
    char accept[CR_WS_ACCEPT_LEN + 1]; /* for the handshake's answer */
    unsigned protocol : 2;             /* 0 (none), PROTO_JSON or PROTO_RAW */
    unsigned awaiting_pong : 1;
    unsigned close_sent : 1;
    unsigned live : 1; /* the 101 and the history are out: client frames may be answered */
    cr_buf_t early;    /* frames that came before that (a store may load history slowly) */
} ws_state_t;

/* One compressor per loop thread: frames are compressed there, once per message. */
static _Thread_local cr_ws_deflater_t *deflater;

void cr_ws_thread_end(void)
{
    cr_ws_deflater_free(deflater);
    deflater = NULL;
}

static void ws_state_free(void *p)
{
    ws_state_t *ws = p;
    cr_ws_reader_free(&ws->rd);
    cr_ws_inflater_free(ws->inf);
    cr_buf_free(&ws->early);
    free(ws);
}

static void put_frame(cr_buf_t *b, int opcode, const char *data, size_t len)
{
    unsigned char h[CR_WS_HEADER_MAX];
    size_t n = cr_ws_frame_header(h, opcode, 0, len);
    cr_buf_append(b, h, n);
    cr_buf_append(b, data, len);
}

/* --- shared message frames --------------------------------------------------------------------- */

static int contains(const cr_bytes_t *b, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= b->len; i++)
        if (cr_span_ieq((cr_span_t){b->data + i, n}, word))
            return 1;
    return 0;
}

/* Text for a UTF-8 payload whose content type (if any) is textual; binary otherwise, so that
 * bytes published as application/octet-stream stay bytes even when they happen to be UTF-8. */
static int frame_opcode(const cr_msg_t *m)
{
    const cr_bytes_t *ct = m->content_type, *p = m->payload;
    if (!cr_utf8_valid((const unsigned char *)p->data, p->len))
        return CR_WS_OP_BINARY;
    if (ct && !(ct->len >= 5 && cr_span_ieq((cr_span_t){ct->data, 5}, "text/")) && !contains(ct, "json") &&
        !contains(ct, "xml") && !contains(ct, "javascript") && !contains(ct, "urlencoded"))
        return CR_WS_OP_BINARY;
    return CR_WS_OP_TEXT;
}

static cr_bytes_t *encode_plain(const cr_msg_t *m)
{
    const cr_bytes_t *p = m->payload;
    int op = frame_opcode(m);
    unsigned char h[CR_WS_HEADER_MAX];
    size_t n = cr_ws_frame_header(h, op, 0, p->len);
    cr_bytes_t *f = cr_bytes_new(n + p->len);
    memcpy(f->data, h, n);
    memcpy(f->data + n, p->data, p->len);
    return f;
}

/* The compressed frame of data, or NULL when compression would not shrink it. */
static cr_bytes_t *deflate_frame(int op, const char *data, size_t len)
{
    if (!deflater)
        deflater = cr_ws_deflater_new();
    return cr_ws_deflate_frame(deflater, op, data, len);
}

static cr_bytes_t *encode_deflate(const cr_msg_t *m)
{
    cr_bytes_t *f = deflate_frame(frame_opcode(m), m->payload->data, m->payload->len);
    if (f)
        return f;
    /* Compression would not help: the plain frame serves both kinds of subscriber. */
    return cr_bytes_ref(cr_msg_frame((cr_msg_t *)m, CR_WIRE_WS, encode_plain));
}

static cr_bytes_t *encode_json(const cr_msg_t *m)
{
    cr_buf_t j = CR_BUF_INIT, b = CR_BUF_INIT;
    cr_msg_json(&j, m);
    put_frame(&b, CR_WS_OP_TEXT, j.data, j.len);
    cr_bytes_t *f = cr_buf_to_bytes(&b);
    cr_buf_free(&j);
    cr_buf_free(&b);
    return f;
}

static cr_bytes_t *encode_json_deflate(const cr_msg_t *m)
{
    cr_buf_t j = CR_BUF_INIT;
    cr_msg_json(&j, m);
    cr_bytes_t *f = deflate_frame(CR_WS_OP_TEXT, j.data, j.len);
    cr_buf_free(&j);
    if (f)
        return f;
    return cr_bytes_ref(cr_msg_frame((cr_msg_t *)m, CR_WIRE_WS_JSON, encode_json));
}

/* --- per-connection frames --------------------------------------------------------------------- */

/* Queues a frame answering the client (pong, notice). A client that keeps sending without
 * reading the answers fills its queue: it is cut off rather than let memory grow. */
static void answer(cr_stream_t *s, cr_buf_t *b)
{
    if (cr_stream_send_buf(s, b) < 0)
        cr_conn_close(s->conn, "WebSocket client sends without reading the answers");
}

static int send_close(cr_stream_t *s, int code, const char *reason, size_t rlen)
{
    ws_state_t *ws = s->priv;
    if (ws->close_sent)
        return 0;
    ws->close_sent = 1;
    char payload[2 + CLOSE_REASON_MAX];
    size_t n = 0;
    if (code != 1005) {
        if (rlen > CLOSE_REASON_MAX) {
            /* Cut on a character boundary: a close reason must be UTF-8. */
            rlen = CLOSE_REASON_MAX;
            while (rlen && ((unsigned char)reason[rlen] & 0xC0) == 0x80)
                rlen--;
        }
        payload[0] = (char)(code >> 8);
        payload[1] = (char)code;
        memcpy(payload + 2, reason, rlen);
        n = 2 + rlen;
    }
    cr_buf_t b = CR_BUF_INIT;
    put_frame(&b, CR_WS_OP_CLOSE, payload, n);
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r;
}

/* Sends {"event":"<event>","error":"<text>"} as a text frame. */
static void send_notice(cr_stream_t *s, const char *event, const char *text)
{
    cr_buf_t j = CR_BUF_INIT, b = CR_BUF_INIT;
    cr_buf_printf(&j, "{\"event\":\"%s\",\"error\":", event);
    cr_json_string(&j, text, strlen(text));
    cr_buf_putc(&j, '}');
    put_frame(&b, CR_WS_OP_TEXT, j.data, j.len);
    answer(s, &b);
    cr_buf_free(&j);
    cr_buf_free(&b);
}

/* Ends the stream with a close frame for code (the connection closes once it is written). */
static void fail(cr_stream_t *s, int code, const char *detail)
{
    const char *why = detail ? detail : cr_err_text(code);
    cr_log(CR_LOG_INFO, "%s: WebSocket c%llx closed %d: %s", s->conn->peer, (unsigned long long)s->client_id,
           cr_err_ws_close(code), why);
    send_close(s, cr_err_ws_close(code), why, strlen(why));
    cr_stream_end(s);
}

/* --- transport --------------------------------------------------------------------------------- */

static int ws_setup(cr_stream_t *s, const cr_http_request_t *req, const char **why)
{
    const cr_config_t *cfg = &s->srv->cfg;
    cr_ws_policy_t pol = {cfg->ws_origins, PROTOCOLS};
    cr_ws_handshake_t hs;
    char ext[96];
    int r = cr_ws_handshake_check(req, &pol, &hs, why);
    if (r < 0)
        return r;
    /* Kept small: an idle WebSocket subscriber holds only this beyond its stream. */
    ws_state_t *ws = cr_xcalloc(1, sizeof(*ws));
    memcpy(ws->accept, hs.accept, sizeof(ws->accept));
    ws->protocol = !strcmp(hs.protocol, "crier.json") ? PROTO_JSON : hs.protocol[0] ? PROTO_RAW : 0;
    for (size_t i = 0; i < req->nheaders; i++)
        if (cr_span_ieq(req->headers[i].name, "Sec-WebSocket-Extensions"))
            cr_ws_deflate_negotiate(req->headers[i].value, &ws->dfl, ext, sizeof(ext));
    cr_ws_reader_init(&ws->rd, cfg->ws_max_message, ws->dfl.enabled);
    s->priv = ws;
    s->priv_free = ws_state_free;
    return 0;
}

static int ws_start(cr_stream_t *s, const uint8_t *gaps)
{
    ws_state_t *ws = s->priv;
    int gap = s->gap; /* the head's X-Crier-Gap marks it told */
    cr_buf_t b = CR_BUF_INIT, j = CR_BUF_INIT;
    (void)gaps;
    cr_conn_head(s->conn, &b, 101);
    cr_buf_puts(&b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    cr_buf_puts(&b, ws->accept);
    cr_buf_puts(&b, "\r\n");
    if (ws->protocol)
        cr_buf_printf(&b, "Sec-WebSocket-Protocol: %s\r\n",
                      ws->protocol == PROTO_JSON ? "crier.json" : "crier");
    if (ws->dfl.enabled) {
        char ext[96];
        cr_ws_deflate_response(&ws->dfl, ext, sizeof(ext));
        cr_buf_printf(&b, "Sec-WebSocket-Extensions: %s\r\n", ext);
    }
    cr_stream_common_headers(s, &b);
    cr_buf_puts(&b, "\r\n");
    /* The first message tells the client who it is (POST /pub/@<client> reaches it) and where
     * its subscription starts, before any message it receives. */
    cr_buf_printf(&j, "{\"event\":\"crier-hello\",\"client\":\"c%llx\",\"channels\":[",
                  (unsigned long long)s->client_id);
    for (size_t i = 0; i < s->sub.nch; i++) {
        if (i)
            cr_buf_putc(&j, ',');
        cr_json_string(&j, s->sub.nodes[i].ch->name->data, s->sub.nodes[i].ch->name->len);
    }
    cr_buf_puts(&j, "],\"cursor\":\"");
    cr_stream_cursor(s, &j);
    cr_buf_puts(&j, "\"}");
    put_frame(&b, CR_WS_OP_TEXT, j.data, j.len);
    if (gap) {
        j.len = 0;
        cr_buf_puts(&j, "{\"event\":\"crier-gap\",");
        cr_stream_gap_fields(s, &j);
        cr_buf_putc(&j, '}');
        put_frame(&b, CR_WS_OP_TEXT, j.data, j.len);
    }
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    cr_buf_free(&j);
    cr_timerq_arm(&s->srv->ping_q, &s->timer, (int64_t)uv_now(s->srv->loop));
    return r;
}

static int ws_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    ws_state_t *ws = s->priv;
    (void)idx;
    if (ws->protocol == PROTO_JSON)
        return cr_stream_send(s, ws->dfl.enabled
                                     ? cr_msg_frame(msg, CR_WIRE_WS_JSON_DEFLATE, encode_json_deflate)
                                     : cr_msg_frame(msg, CR_WIRE_WS_JSON, encode_json));
    if (ws->dfl.enabled)
        return cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_WS_DEFLATE, encode_deflate));
    return cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_WS, encode_plain));
}

static void ws_input(cr_stream_t *s, char *data, size_t len);

static int ws_caught_up(cr_stream_t *s)
{
    ws_state_t *ws = s->priv;
    ws->live = 1;
    if (ws->early.len) {
        cr_buf_t early = ws->early;
        ws->early = (cr_buf_t)CR_BUF_INIT;
        ws_input(s, early.data, early.len);
        cr_buf_free(&early);
    }
    return 0;
}

static void ws_ping(cr_stream_t *s)
{
    ws_state_t *ws = s->priv;
    CR_BYTES_DEFINE(ping, "\x89\x00");
    if (ws->close_sent)
        return;
    if (ws->awaiting_pong) {
        fail(s, CR_ETIMEOUT, "no pong within the ping interval (--ws-ping)");
        return;
    }
    ws->awaiting_pong = 1;
    if (cr_stream_send(s, ping) < 0)
        cr_conn_close(s->conn, cr_err_text(CR_ESLOW));
}

static void ws_finish(cr_stream_t *s, int reason)
{
    if (reason == CR_EGONE) {
        cr_buf_t b = CR_BUF_INIT;
        cr_buf_puts(&b, "channel deleted: ");
        cr_buf_append(&b, s->gone->data, s->gone->len);
        send_close(s, 1000, b.data, b.len);
        cr_buf_free(&b);
        return;
    }
    const char *why = reason == CR_EUNAVAIL ? "server shutting down" : cr_err_text(reason);
    send_close(s, cr_err_ws_close(reason), why, strlen(why));
}

/* The publisher's stream may be gone when a store commits later, so the outcome is only logged
 * (refusals, which come at once, are told to the client). */
static void published(void *arg, int status, cr_buf_t *answer)
{
    (void)arg;
    (void)answer;
    if (status < 0)
        cr_log(CR_LOG_WARN, "WebSocket publish failed: %s", cr_err_text(status));
}

static void publish(cr_stream_t *s, int opcode, const char *data, size_t len)
{
    if (!s->srv->cfg.ws_publish) {
        send_notice(s, "crier-error", "publishing over WebSocket is off (crier serve --ws-publish)");
        return;
    }
    cr_buf_t names = CR_BUF_INIT;
    for (size_t i = 0; i < s->sub.nch; i++) {
        if (i)
            cr_buf_putc(&names, ',');
        cr_buf_append(&names, s->sub.nodes[i].ch->name->data, s->sub.nodes[i].ch->name->len);
    }
    cr_publish_in_t in = {{names.data, names.len},
                          opcode == CR_WS_OP_TEXT ? CR_SPAN_LIT("text/plain; charset=utf-8")
                                                  : CR_SPAN_LIT("application/octet-stream"),
                          {NULL, 0},
                          0,
                          data,
                          len};
    const char *why = NULL;
    int r = cr_publish(s->srv, &in, &why, published, NULL);
    cr_buf_free(&names);
    if (r < 0) {
        cr_buf_t t = CR_BUF_INIT;
        cr_buf_puts(&t, cr_err_text(r));
        if (why) {
            cr_buf_puts(&t, ": ");
            cr_buf_puts(&t, why);
        }
        cr_buf_putc(&t, '\0');
        send_notice(s, "crier-error", t.data);
        cr_buf_free(&t);
    }
}

/* A whole message from the client. 0, or a code to close with. */
static int on_message(cr_stream_t *s, const cr_ws_event_t *ev)
{
    ws_state_t *ws = s->priv;
    const char *data = ev->data;
    size_t len = ev->len;
    cr_buf_t plain = CR_BUF_INIT;
    if (ev->compressed) {
        if (!ws->inf)
            ws->inf = cr_ws_inflater_new(ws->dfl.client_no_context_takeover);
        int r = ws->inf ? cr_ws_inflate(ws->inf, data, len, s->srv->cfg.ws_max_message, &plain) : CR_EWSPROTO;
        if (r < 0) {
            cr_buf_free(&plain);
            return r;
        }
        data = plain.data ? plain.data : "";
        len = plain.len;
        if (ev->opcode == CR_WS_OP_TEXT && !cr_utf8_valid((const unsigned char *)data, len)) {
            cr_buf_free(&plain);
            return CR_EUTF8;
        }
    }
    publish(s, ev->opcode, data, len);
    cr_buf_free(&plain);
    return 0;
}

static void ws_input(cr_stream_t *s, char *data, size_t len)
{
    ws_state_t *ws = s->priv;
    if (!ws->live) {
        /* Before the handshake's answer is out nothing may be sent: keep the frames, within
         * a bound, until then. */
        if (ws->early.len + len > s->srv->cfg.ws_max_message + CR_WS_HEADER_MAX * 2) {
            cr_conn_close(s->conn, "WebSocket input before the handshake completed");
            return;
        }
        cr_buf_append(&ws->early, data, len);
        return;
    }
    while (!s->ended && !ws->close_sent) {
        cr_ws_event_t ev;
        ssize_t n = cr_ws_read(&ws->rd, data, len, &ev);
        if (n < 0) {
            fail(s, (int)n, NULL);
            return;
        }
        data += n;
        len -= (size_t)n;
        if (ev.opcode == 0)
            return; /* all taken; the reader keeps any partial frame */
        if (ev.opcode == CR_WS_OP_PING) {
            cr_buf_t b = CR_BUF_INIT;
            put_frame(&b, CR_WS_OP_PONG, ev.data, ev.len);
            answer(s, &b);
            cr_buf_free(&b);
        } else if (ev.opcode == CR_WS_OP_PONG) {
            ws->awaiting_pong = 0;
        } else if (ev.opcode == CR_WS_OP_CLOSE) {
            /* The closing handshake: answer with the same code; the connection ends once written. */
            cr_log(CR_LOG_DEBUG, "%s: WebSocket c%llx closed by the client (%d)", s->conn->peer,
                   (unsigned long long)s->client_id, ev.close_code);
            send_close(s, ev.close_code, ev.data, ev.len);
            cr_stream_end(s);
            return;
        } else {
            int r = on_message(s, &ev);
            if (r < 0) {
                fail(s, r, NULL);
                return;
            }
        }
    }
}

const cr_transport_t cr_transport_ws = {
    .name = "websocket",
    .start = ws_start,
    .deliver = ws_deliver,
    .caught_up = ws_caught_up,
    .heartbeat = ws_ping,
    .finish = ws_finish,
    .setup = ws_setup,
    .input = ws_input,
    .keeps_conn = 0,
    .heartbeats = 0,
};
