/* Subscription setup and the life of a stream, shared by every transport.
 * SPDX-License-Identifier: MIT */
#include "transport/stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/clients.h"
#include "core/err.h"
#include "net/log.h"
#include "proto/accept.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "proto/query.h"
#include "proto/ws_handshake.h"

int cr_stream_send(cr_stream_t *s, cr_bytes_t *b)
{
    return cr_conn_send_all(s->conn, b);
}

int cr_stream_send_buf(cr_stream_t *s, cr_buf_t *buf)
{
    return cr_conn_send_buf(s->conn, buf);
}

void cr_stream_cursor(const cr_stream_t *s, cr_buf_t *out)
{
    cr_msgid_t ids[s->sub.nch ? s->sub.nch : 1];
    cr_sub_cursor(&s->sub, ids);
    cr_cursor_format(ids, s->sub.nch, out);
}

void cr_stream_common_headers(cr_stream_t *s, cr_buf_t *out)
{
    const uint8_t *gaps = s->gaps;
    cr_buf_printf(out, "X-Crier-Client: c%llx\r\n", (unsigned long long)s->client_id);
    if (gaps && s->gap) {
        cr_buf_puts(out, "X-Crier-Gap: ");
        int first = 1;
        for (size_t i = 0; i < s->sub.nch; i++) {
            if (!gaps[i])
                continue;
            if (!first)
                cr_buf_putc(out, ',');
            cr_buf_append(out, s->sub.nodes[i].ch->name->data, s->sub.nodes[i].ch->name->len);
            first = 0;
        }
        cr_buf_puts(out, "\r\n");
        s->gap = 0; /* told once: the cursor has moved past the gap */
    }
    cr_buf_puts(out, "Cache-Control: no-store\r\n");
}

void cr_stream_gap_fields(const cr_stream_t *s, cr_buf_t *out)
{
    cr_buf_puts(out, "\"channels\":[");
    int first = 1;
    for (size_t i = 0; i < s->sub.nch; i++) {
        if (!s->gaps || !s->gaps[i])
            continue;
        if (!first)
            cr_buf_putc(out, ',');
        cr_json_string(out, s->sub.nodes[i].ch->name->data, s->sub.nodes[i].ch->name->len);
        first = 0;
    }
    cr_buf_puts(out, "],\"cursor\":\"");
    if (s->gap_from)
        cr_buf_puts(out, s->gap_from);
    cr_buf_putc(out, '"');
}

/* --- ending ------------------------------------------------------------------------------------------ */

void cr_stream_end(cr_stream_t *s)
{
    if (s->ended)
        return;
    s->ended = 1;
    s->sub.closing = 1;
    cr_timerq_cancel(&s->timer);
    cr_list_push_back(&s->srv->reap, &s->reap_link);
}

static void stream_free(cr_stream_t *s)
{
    if (cr_list_linked(&s->reap_link))
        cr_list_remove(&s->reap_link);
    cr_timerq_cancel(&s->timer);
    cr_clients_del(&s->srv->clients, s->client_id);
    cr_sub_detach(&s->sub);
    for (size_t i = 0; i < s->nheld; i++)
        cr_msg_unref(s->held[i]);
    free(s->held);
    free(s->gaps);
    free(s->gap_from);
    if (s->priv_free)
        s->priv_free(s->priv);
    free(s);
}

void cr_stream_reap(cr_server_t *srv)
{
    while (!cr_list_empty(&srv->reap)) {
        cr_stream_t *s = CR_CONTAINER_OF(srv->reap.next, cr_stream_t, reap_link);
        cr_list_remove(&s->reap_link);
        cr_conn_t *c = s->conn;
        int keeps = s->tp->keeps_conn;
        c->stream = NULL;
        stream_free(s);
        if (keeps)
            cr_conn_request_done(c);
        else
            cr_conn_end(c);
    }
}

void cr_stream_conn_closing(cr_stream_t *s)
{
    /* Maybe inside a fan-out: only mark; the close callback detaches. */
    s->sub.closing = 1;
    s->ended = 1;
    cr_timerq_cancel(&s->timer);
    if (cr_list_linked(&s->reap_link))
        cr_list_remove(&s->reap_link);
}

void cr_stream_conn_closed(cr_stream_t *s)
{
    s->conn->stream = NULL;
    stream_free(s);
}

size_t cr_stream_channel_deleted(cr_server_t *srv, cr_channel_t *ch)
{
    size_t n = 0;
    (void)srv;
    while (!cr_list_empty(&ch->subs)) {
        cr_subnode_t *node = CR_CONTAINER_OF(ch->subs.next, cr_subnode_t, link);
        cr_stream_t *s = (cr_stream_t *)node->sub;
        cr_list_remove(&node->link);
        cr_channel_sub_unlinked(ch);
        n++;
        if (!s->ended && !s->sub.closing) {
            s->gone = ch->name;
            s->tp->finish(s, CR_EGONE);
            s->gone = NULL;
            if (!s->tp->outlives_channels)
                cr_stream_end(s);
        }
    }
    return n;
}

void cr_stream_sweep(cr_server_t *srv, int64_t now)
{
    cr_timerq_entry_t *e;
    while ((e = cr_timerq_pop_expired(&srv->hb_q, now))) {
        cr_stream_t *s = CR_CONTAINER_OF(e, cr_stream_t, timer);
        s->tp->heartbeat(s);
        if (!s->ended)
            cr_timerq_arm(&srv->hb_q, &s->timer, now);
    }
    while ((e = cr_timerq_pop_expired(&srv->ping_q, now))) {
        cr_stream_t *s = CR_CONTAINER_OF(e, cr_stream_t, timer);
        s->tp->heartbeat(s);
        if (!s->ended)
            cr_timerq_arm(&srv->ping_q, &s->timer, now);
    }
    while ((e = cr_timerq_pop_expired(&srv->hold_q, now))) {
        cr_stream_t *s = CR_CONTAINER_OF(e, cr_stream_t, timer);
        s->tp->finish(s, CR_ETIMEOUT);
        cr_stream_end(s);
    }
}

void cr_stream_server_stopping(cr_stream_t *s)
{
    if (s->ended)
        return;
    s->tp->finish(s, CR_EUNAVAIL);
    cr_stream_end(s);
}

/* --- delivery ---------------------------------------------------------------------------------------- */

static int stream_deliver(cr_sub_t *sub, cr_msg_t *msg, size_t idx)
{
    cr_stream_t *s = (cr_stream_t *)sub;
    int r = s->tp->deliver(s, msg, idx);
    if (r < 0) {
        s->srv->slow_cutoffs += r == CR_ESLOW;
        cr_log(CR_LOG_WARN,
               "%s: subscriber c%llx cut off: %s (%zu bytes queued); it can resume from its cursor",
               s->conn->peer, (unsigned long long)s->client_id, cr_err_text(r), s->conn->outq.bytes);
        cr_conn_close(s->conn, cr_err_text(r));
        return r;
    }
    s->srv->delivered++;
    if (r == 1)
        cr_stream_end(s);
    return r;
}

cr_stream_t *cr_stream_new(cr_conn_t *c, const cr_transport_t *tp, size_t nch, size_t size)
{
    cr_stream_t *s = cr_xcalloc(1, size);
    s->tp = tp;
    s->conn = c;
    s->srv = c->srv;
    cr_timerq_entry_init(&s->timer);
    cr_list_init(&s->reap_link);
    s->client_id = cr_server_client_id(c->srv);
    cr_sub_init(&s->sub, stream_deliver, nch);
    cr_clients_put(&c->srv->clients, s->client_id, &s->sub);
    return s;
}

/* --- setup ------------------------------------------------------------------------------------------- */

static const cr_transport_t *pick_transport(cr_conn_t *c, const cr_http_request_t *req, int *err)
{
    char t[32];
    size_t tlen;
    *err = 0;
    if (cr_ws_is_upgrade(req))
        return &cr_transport_ws;
    int r = cr_query_get(req->query, "transport", t, sizeof(t), &tlen);
    if (r < 0) {
        *err = CR_EPARAM;
        return NULL;
    }
    if (r == 1) {
        if (!strcmp(t, "sse") || !strcmp(t, "eventsource"))
            return &cr_transport_sse;
        if (!strcmp(t, "longpoll") || !strcmp(t, "long-poll"))
            return &cr_transport_longpoll;
        if (!strcmp(t, "poll"))
            return &cr_transport_poll;
        if (!strcmp(t, "ndjson"))
            return &cr_transport_ndjson;
        if (!strcmp(t, "raw"))
            return &cr_transport_raw;
        if (!strcmp(t, "multipart") || !strcmp(t, "mixed"))
            return &cr_transport_multipart;
        if (!strcmp(t, "replace") || !strcmp(t, "x-mixed-replace"))
            return &cr_transport_replace;
        if (!strcmp(t, "pushlet") || !strcmp(t, "iframe"))
            return &cr_transport_pushlet;
        *err = CR_EPARAM;
        return NULL;
    }
    /* Long polling answers with whatever type the publisher sent, which only star/star names, and it
     * is the server's first choice. A stream never ends, so it goes only to a client that names its
     * type: text/star or a bare star/star (an <img>, a fetch()) must not be left hanging on one. */
    static const char *const offers[] = {"*/*", "text/event-stream", "application/x-ndjson",
                                         "multipart/x-mixed-replace", "multipart/mixed"};
    const cr_transport_t *const by_offer[] = {&cr_transport_longpoll, &cr_transport_sse, &cr_transport_ndjson,
                                              &cr_transport_replace, &cr_transport_multipart};
    const cr_http_header_t *accept = cr_http_header_find(req, "Accept");
    cr_accept_match_t m;
    (void)c;
    if (accept && cr_accept_best(accept->value, offers, 5, &m) && m.spec == CR_ACCEPT_EXACT)
        return by_offer[m.offer];
    return &cr_transport_longpoll;
}

static void strip_quotes(cr_span_t *v)
{
    if (v->len >= 2 && v->ptr[0] == '"' && v->ptr[v->len - 1] == '"') {
        v->ptr++;
        v->len -= 2;
    }
    if (v->len >= 2 && v->ptr[0] == 'W' && v->ptr[1] == '/') {
        v->ptr += 2;
        v->len -= 2;
        strip_quotes(v);
    }
}

/* Finds where to resume: Last-Event-ID, else ?since=, else Nchan's
 * If-None-Match / If-Modified-Since pair. 0 or CR_ECURSOR. */
static int parse_since(cr_stream_t *s, const cr_http_request_t *req, size_t nch, cr_since_t *since,
                       cr_msgid_t *ids)
{
    char v[4096];
    size_t vlen;
    int64_t now = cr_now_ms();
    since->kind = CR_SINCE_NEW;
    /* Last-Event-ID first: an EventSource opened on ".../sub/x?since=all"
     * reconnects to that same URL, and must resume where it was, not restart. */
    const cr_http_header_t *h = cr_http_header_find(req, "Last-Event-ID");
    if (h && h->value.len)
        return cr_since_parse(h->value.ptr, h->value.len, now, nch, since, ids);
    int r = cr_query_get(req->query, "since", v, sizeof(v), &vlen);
    if (r < 0)
        return CR_ECURSOR;
    if (r == 1)
        return cr_since_parse(v, vlen, now, nch, since, ids);
    const cr_http_header_t *inm = cr_http_header_find(req, "If-None-Match");
    if (inm && inm->value.len) {
        cr_span_t tag = inm->value;
        strip_quotes(&tag);
        if (cr_since_parse(tag.ptr, tag.len, now, nch, since, ids) == 0 && since->kind == CR_SINCE_ID) {
            s->nchan_style = 1;
            return 0;
        }
        since->kind = CR_SINCE_NEW;
    }
    const cr_http_header_t *ims = cr_http_header_find(req, "If-Modified-Since");
    if (ims) {
        int64_t t;
        if (cr_http1_date_parse(ims->value.ptr, ims->value.len, &t) == 0) {
            since->kind = CR_SINCE_TIME;
            since->time_ms = t * 1000;
            s->nchan_style = 1;
        }
    }
    return 0;
}

static int channel_gap(const cr_stream_t *s, const cr_subnode_t *n)
{
    if (s->since_kind == CR_SINCE_ALL || s->since_kind == CR_SINCE_NEW)
        return 0;
    if (cr_history_gap_after(&n->ch->history, n->cursor))
        return 1;
    /* A cursor this channel never issued: ahead of its last id, or older than
     * the channel itself. It came from an earlier life of the channel (a
     * restart of the memory store, or the channel was dropped), so what was
     * published in between is unknown: say so rather than skip silently.
     * A time cursor ({T, UINT64_MAX}, from ?since=<unix time>) names a moment,
     * not a message, and means the same in any life of the channel. */
    if (s->since_kind == CR_SINCE_ID && !cr_msgid_is_none(n->cursor) && n->cursor.seq != UINT64_MAX &&
        (cr_msgid_cmp(n->cursor, n->ch->last_id) > 0 || (int64_t)n->cursor.ms < n->ch->created_ms))
        return 1;
    return 0;
}

static void begin(cr_stream_t *s)
{
    s->gaps = cr_xcalloc(s->sub.nch, 1);
    cr_buf_t from = CR_BUF_INIT;
    cr_stream_cursor(s, &from);
    cr_buf_putc(&from, '\0');
    for (size_t i = 0; i < s->sub.nch; i++) {
        cr_subnode_t *n = &s->sub.nodes[i];
        if (!channel_gap(s, n))
            continue;
        s->gaps[i] = 1;
        s->gap = 1;
        /* Told once, the gap is behind the subscriber: its cursor moves past
         * what is lost, so the next resume does not report it again. */
        if (cr_msgid_cmp(n->cursor, n->ch->last_id) > 0)
            n->cursor = n->ch->last_id;
        if (cr_msgid_cmp(n->cursor, n->ch->history.evicted_last) < 0)
            n->cursor = n->ch->history.evicted_last;
    }
    if (s->gap)
        s->gap_from = from.data; /* the notices say where the lost stretch begins */
    else
        cr_buf_free(&from);
    const uint8_t *gaps = s->gaps;
    if (s->tp->start(s, gaps) < 0) {
        cr_conn_close(s->conn, "stream start failed");
        return;
    }
    if (s->tp->heartbeats)
        cr_timerq_arm(&s->srv->hb_q, &s->timer, (int64_t)uv_now(s->srv->loop));
    int r = cr_sub_catch_up(&s->sub);
    if (r == 0 && !s->sub.closing && s->tp->caught_up(s) == 1)
        cr_stream_end(s);
}

static void on_loaded(void *arg, int status)
{
    cr_stream_t *s = arg;
    cr_conn_t *c = s->conn;
    if (--s->pending_loads > 0) {
        if (status < 0 && !s->ended) {
            cr_log(CR_LOG_WARN, "%s: history load failed: %s", c->peer, cr_err_text(status));
            s->ended = 1;
        }
        return;
    }
    if (cr_conn_gone(c)) {
        cr_conn_release(c); /* the stream goes with its connection, maybe now */
        return;
    }
    if (status < 0 && !s->ended) {
        cr_log(CR_LOG_WARN, "%s: history load failed: %s", c->peer, cr_err_text(status));
        s->ended = 1;
    }
    if (s->ended) {
        cr_conn_error(c, status < 0 ? status : CR_EUNAVAIL, "loading history");
        cr_stream_end(s);
    } else {
        begin(s);
    }
    cr_conn_release(c);
}

void cr_subscribe(cr_conn_t *c, const cr_http_request_t *req, cr_span_t channels)
{
    cr_server_t *srv = c->srv;
    size_t max = srv->cfg.max_channels;
    cr_span_t names[max];
    int n = cr_channel_list_parse(channels, names, max);
    if (n < 0) {
        cr_conn_error(c, n, NULL);
        cr_conn_request_done(c);
        return;
    }
    int err;
    /* HEAD gets the head of a poll's answer: its status and the cursor. */
    const cr_transport_t *tp = c->head_only ? &cr_transport_poll : pick_transport(c, req, &err);
    if (!tp) {
        cr_conn_error(c, err,
                      "transport must be sse, longpoll, poll, ndjson, raw, multipart, replace or pushlet");
        cr_conn_request_done(c);
        return;
    }
    cr_stream_t *s = cr_xcalloc(1, sizeof(*s));
    s->tp = tp;
    s->conn = c;
    s->srv = srv;
    cr_timerq_entry_init(&s->timer);
    cr_list_init(&s->reap_link);
    cr_since_t since;
    cr_msgid_t ids[n];
    if (parse_since(s, req, (size_t)n, &since, ids) < 0) {
        free(s);
        cr_conn_error(c, CR_ECURSOR, NULL);
        cr_conn_request_done(c);
        return;
    }
    if (tp->setup) {
        const char *why = NULL;
        int r = tp->setup(s, req, &why);
        if (r < 0) {
            if (s->priv_free)
                s->priv_free(s->priv);
            free(s);
            cr_conn_error(c, r, why);
            cr_conn_request_done(c);
            return;
        }
    }
    s->since_kind = since.kind;
    s->client_id = cr_server_client_id(srv);
    cr_sub_init(&s->sub, stream_deliver, (size_t)n);
    cr_clients_put(&srv->clients, s->client_id, &s->sub);
    int64_t now = cr_now_ms();
    for (int i = 0; i < n; i++) {
        cr_channel_t *ch = cr_registry_get(&srv->reg, names[i].ptr, names[i].len, now);
        cr_sub_attach(&s->sub, (size_t)i, ch, cr_since_start(&since, ids[i], ch->last_id));
    }
    c->stream = s;
    if (!tp->keeps_conn && !tp->input)
        c->discard_input = 1; /* a stream lasts until the connection ends */
    s->pending_loads = n;
    /* A load may answer on a later turn (--threads: a round trip through the hub), maybe after
     * the connection closed: the stream must last until then. */
    cr_conn_hold(c);
    for (int i = 0; i < n; i++) {
        int r = srv->engine->ops->load(srv->engine, s->sub.nodes[i].ch, s->sub.nodes[i].cursor, now,
                                       on_loaded, s);
        if (r < 0)
            on_loaded(s, r);
    }
}
