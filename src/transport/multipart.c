/* The two multipart streams, one chunked response each:
 *  - multipart/mixed (?transport=multipart, Accept: multipart/mixed): one part
 *    per message with its Content-Type, Content-Length, Content-ID and X-Crier-*
 *    headers. The delimiter follows each part at once, so a streaming reader
 *    sees the part end without waiting for the next message. Gaps, heartbeats
 *    and the ending are parts of their own, told by X-Crier-Event.
 *  - multipart/x-mixed-replace (?transport=replace): each part replaces the
 *    last, for an <img> (webcam style). Chromium shows a part only once the
 *    headers of the next one have arrived, so the next part's delimiter and
 *    headers go out right after each payload, announcing the type just sent; a
 *    message of another type first closes the announced part empty. Nothing
 *    can go in band between parts, so this stream has no heartbeats. With no
 *    cursor given it starts with the newest retained message, so a picture
 *    shows at once.
 * The boundary is random per stream (192 bits), so payloads can't forge it;
 * each frame is still checked and the stream ends cleanly if one contains it.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/err.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "proto/multipart.h"
#include "transport/msg_json.h"
#include "transport/stream.h"

#define DEFAULT_TYPE "application/octet-stream"

typedef struct mp_state {
    char boundary[CR_MULTIPART_BOUNDARY_MAX];
    cr_bytes_t *delim;     /* mixed: the delimiter as a chunk, shared by every part */
    cr_bytes_t *next_head; /* replace: delimiter + headers of the next part, as a chunk */
    char *announced;       /* replace: the type next_head announces */
} mp_state_t;

static void mp_free(void *p)
{
    mp_state_t *st = p;
    cr_bytes_unref(st->delim);
    cr_bytes_unref(st->next_head);
    free(st->announced);
    free(st);
}

static int mp_setup(cr_stream_t *s, const cr_http_request_t *req, const char **why)
{
    (void)req;
    uint8_t rnd[CR_MULTIPART_RANDOM];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        *why = "no random bytes for a multipart boundary";
        return CR_EUNAVAIL;
    }
    mp_state_t *st = cr_xcalloc(1, sizeof(*st));
    cr_multipart_boundary(st->boundary, rnd);
    s->priv = st;
    s->priv_free = mp_free;
    return 0;
}

/* Queues text[0..len) as one chunk. */
static int send_chunk(cr_stream_t *s, const char *text, size_t len)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_http1_chunk(&b, text, len);
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r;
}

static int send_head(cr_stream_t *s, const char *subtype)
{
    mp_state_t *st = s->priv;
    cr_buf_t b = CR_BUF_INIT;
    cr_conn_head(s->conn, &b, 200);
    cr_buf_printf(&b, "Content-Type: multipart/%s; boundary=%s\r\n", subtype, st->boundary);
    cr_buf_puts(&b, "Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\n");
    cr_stream_common_headers(s, &b);
    cr_buf_puts(&b, "\r\n");
    int r = cr_stream_send_buf(s, &b);
    cr_buf_free(&b);
    return r;
}

/* --- multipart/mixed -------------------------------------------------------------------------------- */

static cr_bytes_t *mixed_encode(const cr_msg_t *m)
{
    char id[CR_MSGID_MAX_LEN], clen[24];
    size_t idlen = cr_msgid_format(m->id, id);
    snprintf(clen, sizeof(clen), "%u", (unsigned)m->payload->len);
    cr_buf_t cidb = CR_BUF_INIT;
    cr_buf_printf(&cidb, "<%s.", id);
    cr_buf_append(&cidb, m->channel->data, m->channel->len);
    cr_buf_puts(&cidb, "@crier>");
    cr_multipart_header_t h[] = {
        {"Content-Type", m->content_type ? m->content_type->data : DEFAULT_TYPE,
         m->content_type ? m->content_type->len : strlen(DEFAULT_TYPE)},
        {"Content-Length", clen, strlen(clen)},
        {"Content-ID", cidb.data, cidb.len},
        {"X-Crier-Id", id, idlen},
        {"X-Crier-Channel", m->channel->data, m->channel->len},
        {"X-Crier-Event", m->event ? m->event->data : NULL, m->event ? m->event->len : 0},
    };
    cr_buf_t part = CR_BUF_INIT, chunk = CR_BUF_INIT;
    cr_multipart_headers(&part, h, sizeof(h) / sizeof(h[0]));
    cr_buf_append(&part, m->payload->data, m->payload->len);
    cr_http1_chunk(&chunk, part.data, part.len);
    cr_bytes_t *out = cr_buf_to_bytes(&chunk);
    cr_buf_free(&part);
    cr_buf_free(&chunk);
    cr_buf_free(&cidb);
    return out;
}

/* Queues a part of crier's own (a notice) followed by the delimiter, or by the
 * close delimiter and the end of the body when last. */
static int mixed_notice(cr_stream_t *s, const char *event, const cr_buf_t *json, int last)
{
    mp_state_t *st = s->priv;
    char clen[24];
    snprintf(clen, sizeof(clen), "%zu", json->len);
    cr_multipart_header_t h[] = {
        {"Content-Type", "application/json", 16},
        {"Content-Length", clen, strlen(clen)},
        {"X-Crier-Event", event, strlen(event)},
    };
    cr_buf_t part = CR_BUF_INIT;
    cr_multipart_headers(&part, h, sizeof(h) / sizeof(h[0]));
    cr_buf_append(&part, json->data, json->len);
    if (last)
        cr_multipart_close(&part, st->boundary);
    else
        cr_multipart_delimiter(&part, st->boundary);
    int r = send_chunk(s, part.data, part.len);
    cr_buf_free(&part);
    if (r == 0 && last) {
        CR_BYTES_DEFINE(end, "0\r\n\r\n");
        r = cr_stream_send(s, end);
    }
    return r;
}

static int mixed_start(cr_stream_t *s, const uint8_t *gaps)
{
    mp_state_t *st = s->priv;
    int gap = s->gap; /* the head's X-Crier-Gap marks it told */
    int r = send_head(s, "mixed");
    if (r < 0)
        return r;
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_printf(&b, "--%s\r\n", st->boundary);
    r = send_chunk(s, b.data, b.len);
    b.len = 0;
    cr_multipart_delimiter(&b, st->boundary);
    cr_buf_t chunk = CR_BUF_INIT;
    cr_http1_chunk(&chunk, b.data, b.len);
    st->delim = cr_buf_to_bytes(&chunk);
    cr_buf_free(&chunk);
    cr_buf_free(&b);
    (void)gaps;
    if (r == 0 && gap) {
        cr_buf_t j = CR_BUF_INIT;
        cr_buf_puts(&j, "{\"event\":\"crier-gap\",");
        cr_stream_gap_fields(s, &j);
        cr_buf_putc(&j, '}');
        r = mixed_notice(s, "crier-gap", &j, 0);
        cr_buf_free(&j);
    }
    return r;
}

static int collides(cr_stream_t *s, const cr_bytes_t *frame)
{
    mp_state_t *st = s->priv;
    return cr_multipart_collides(frame->data, frame->len, st->boundary);
}

static int end_on_collision(cr_stream_t *s)
{
    cr_buf_t j = CR_BUF_INIT;
    cr_buf_puts(
        &j, "{\"event\":\"crier-close\",\"reason\":\"a message contains the boundary; resume from the last "
            "id to get it on a new boundary\"}");
    int r = mixed_notice(s, "crier-close", &j, 1);
    cr_buf_free(&j);
    return r < 0 ? r : 1;
}

static int mixed_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    mp_state_t *st = s->priv;
    (void)idx;
    cr_bytes_t *f = cr_msg_frame(msg, CR_WIRE_MULTIPART, mixed_encode);
    if (collides(s, f))
        return end_on_collision(s);
    int r = cr_stream_send(s, f);
    return r < 0 ? r : cr_stream_send(s, st->delim);
}

static int mixed_caught_up(cr_stream_t *s)
{
    (void)s;
    return 0;
}

static void mixed_heartbeat(cr_stream_t *s)
{
    mp_state_t *st = s->priv;
    cr_multipart_header_t h[] = {
        {"Content-Type", "text/plain", 10},
        {"Content-Length", "0", 1},
        {"X-Crier-Event", "heartbeat", 9},
    };
    cr_buf_t part = CR_BUF_INIT;
    cr_multipart_headers(&part, h, sizeof(h) / sizeof(h[0]));
    cr_multipart_delimiter(&part, st->boundary);
    if (send_chunk(s, part.data, part.len) < 0)
        cr_conn_close(s->conn, cr_err_text(CR_ESLOW));
    cr_buf_free(&part);
}

static void mixed_finish(cr_stream_t *s, int reason)
{
    cr_buf_t j = CR_BUF_INIT;
    const char *event;
    if (reason == CR_EGONE) {
        event = "crier-deleted";
        cr_buf_puts(&j, "{\"event\":\"crier-deleted\",\"channel\":");
        cr_json_string(&j, s->gone->data, s->gone->len);
    } else {
        const char *why = cr_err_text(reason);
        event = "crier-close";
        cr_buf_puts(&j, "{\"event\":\"crier-close\",\"reason\":");
        cr_json_string(&j, why, strlen(why));
    }
    cr_buf_putc(&j, '}');
    mixed_notice(s, event, &j, 1);
    cr_buf_free(&j);
}

const cr_transport_t cr_transport_multipart = {
    .name = "multipart",
    .setup = mp_setup,
    .start = mixed_start,
    .deliver = mixed_deliver,
    .caught_up = mixed_caught_up,
    .heartbeat = mixed_heartbeat,
    .finish = mixed_finish,
    .keeps_conn = 0,
    .heartbeats = 1,
};

/* --- multipart/x-mixed-replace ---------------------------------------------------------------------- */

static cr_bytes_t *payload_encode(const cr_msg_t *m)
{
    cr_buf_t chunk = CR_BUF_INIT;
    cr_http1_chunk(&chunk, m->payload->data, m->payload->len);
    cr_bytes_t *out = cr_buf_to_bytes(&chunk);
    cr_buf_free(&chunk);
    return out;
}

/* Makes next_head announce type (the delimiter, then the next part's headers). */
static void announce(mp_state_t *st, const char *type, size_t len)
{
    if (st->announced && strlen(st->announced) == len && memcmp(st->announced, type, len) == 0)
        return;
    free(st->announced);
    st->announced = cr_xstrndup(type, len);
    cr_bytes_unref(st->next_head);
    cr_multipart_header_t h[] = {{"Content-Type", type, len}};
    cr_buf_t b = CR_BUF_INIT, chunk = CR_BUF_INIT;
    cr_multipart_delimiter(&b, st->boundary);
    cr_multipart_headers(&b, h, 1);
    cr_http1_chunk(&chunk, b.data, b.len);
    st->next_head = cr_buf_to_bytes(&chunk);
    cr_buf_free(&b);
    cr_buf_free(&chunk);
}

static void msg_type(const cr_msg_t *m, const char **type, size_t *len)
{
    *type = m->content_type ? m->content_type->data : DEFAULT_TYPE;
    *len = m->content_type ? m->content_type->len : strlen(DEFAULT_TYPE);
}

static int replace_start(cr_stream_t *s, const uint8_t *gaps)
{
    mp_state_t *st = s->priv;
    (void)gaps;
    /* No cursor: begin with the newest retained message (the current picture). */
    if (s->since_kind == CR_SINCE_NEW) {
        cr_subnode_t *node = NULL;
        const cr_msg_t *newest = NULL;
        for (size_t i = 0; i < s->sub.nch; i++) {
            const cr_history_t *h = &s->sub.nodes[i].ch->history;
            const cr_msg_t *m = h->count ? cr_history_at(h, h->count - 1) : NULL;
            if (m && (!newest || m->time_ms > newest->time_ms)) {
                newest = m;
                node = &s->sub.nodes[i];
            }
        }
        if (newest) {
            const cr_history_t *h = &node->ch->history;
            if (h->count >= 2)
                node->cursor = cr_history_at(h, h->count - 2)->id;
            else if (newest->id.seq > 0)
                node->cursor = (cr_msgid_t){newest->id.ms, newest->id.seq - 1};
            else
                node->cursor = (cr_msgid_t){newest->id.ms - 1, UINT64_MAX};
        }
    }
    int r = send_head(s, "x-mixed-replace");
    if (r < 0)
        return r;
    /* The first part's headers wait for its message: its type is not known before.
     * (Announcing a guessed type that is no image makes Chromium fail the <img>.) */
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_printf(&b, "--%s\r\n", st->boundary);
    r = send_chunk(s, b.data, b.len);
    cr_buf_free(&b);
    return r;
}

static int replace_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    mp_state_t *st = s->priv;
    (void)idx;
    cr_bytes_t *f = cr_msg_frame(msg, CR_WIRE_PAYLOAD, payload_encode);
    if (collides(s, f)) {
        cr_buf_t b = CR_BUF_INIT;
        cr_multipart_close(&b, st->boundary);
        int r = send_chunk(s, b.data, b.len);
        cr_buf_free(&b);
        CR_BYTES_DEFINE(end, "0\r\n\r\n");
        return r < 0 ? r : (cr_stream_send(s, end) < 0 ? CR_ESLOW : 1);
    }
    const char *type;
    size_t tlen;
    msg_type(msg, &type, &tlen);
    int r = 0;
    if (!st->announced) {
        /* The first part: its headers, without a delimiter (start sent the opening one). */
        cr_buf_t b = CR_BUF_INIT;
        cr_multipart_header_t h[] = {{"Content-Type", type, tlen}};
        cr_multipart_headers(&b, h, 1);
        r = send_chunk(s, b.data, b.len);
        cr_buf_free(&b);
        announce(st, type, tlen);
    } else if (strlen(st->announced) != tlen || memcmp(st->announced, type, tlen) != 0) {
        /* The part already opened announced another type: end it empty. */
        announce(st, type, tlen);
        r = cr_stream_send(s, st->next_head);
    }
    if (r == 0)
        r = cr_stream_send(s, f);
    if (r == 0)
        r = cr_stream_send(s, st->next_head);
    return r;
}

static void replace_heartbeat(cr_stream_t *s)
{
    (void)s; /* never armed: any byte would become part of the next picture */
}

static void replace_finish(cr_stream_t *s, int reason)
{
    mp_state_t *st = s->priv;
    (void)reason;
    cr_buf_t b = CR_BUF_INIT;
    cr_multipart_close(&b, st->boundary);
    send_chunk(s, b.data, b.len);
    cr_buf_free(&b);
    CR_BYTES_DEFINE(end, "0\r\n\r\n");
    cr_stream_send(s, end);
}

const cr_transport_t cr_transport_replace = {
    .name = "replace",
    .setup = mp_setup,
    .start = replace_start,
    .deliver = replace_deliver,
    .caught_up = mixed_caught_up,
    .heartbeat = replace_heartbeat,
    .finish = replace_finish,
    .keeps_conn = 0,
    .heartbeats = 0,
};
