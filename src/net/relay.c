/* Raw TCP relay: listener, line reading, commands, and the relay transport.
 * A relay connection is a cr_conn_t (for its output queue, writev and close
 * path) with its own read callback instead of the HTTP parser.
 * SPDX-License-Identifier: MIT */
#include "net/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"
#include "net/conn.h"
#include "net/log.h"
#include "proto/relay_line.h"
#include "transport/stream.h"

/* A partial line is kept in a buffer this big: a whole line and its "\r\n" fit. */
#define PARTIAL_CAP 2048
#define RELAY_KEEPALIVE_S 60

typedef struct relay {
    cr_stream_t base;
    cr_channel_t *loading; /* a "sub ... since" waiting for the store; input waits too */
    cr_since_t since;
    cr_msgid_t from; /* where that sub resumes */
    int in_process;  /* process() is running: a load that completes at once must not re-enter it */
} relay_t;

static void process(cr_conn_t *c);

/* --- output ------------------------------------------------------------------------------------------ */

static void reply(relay_t *r, const char *word, const char *arg, size_t len)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_relay_frame_line(&b, word, arg, len);
    int rc = cr_stream_send_buf(&r->base, &b);
    cr_buf_free(&b);
    if (rc < 0)
        cr_conn_close(r->base.conn, "relay client not reading its replies");
}

static void reply_name(relay_t *r, const char *word, const cr_channel_t *ch)
{
    reply(r, word, ch->name->data, ch->name->len);
}

static void reply_err(relay_t *r, int code, const char *detail)
{
    cr_buf_t t = CR_BUF_INIT;
    cr_buf_puts(&t, cr_err_text(code));
    if (detail) {
        cr_buf_puts(&t, ": ");
        cr_buf_puts(&t, detail);
    }
    reply(r, "err", t.data, t.len);
    cr_buf_free(&t);
}

static cr_bytes_t *encode(const cr_msg_t *m)
{
    char id[CR_MSGID_MAX_LEN];
    size_t idlen = cr_msgid_format(m->id, id);
    cr_buf_t b = CR_BUF_INIT;
    cr_relay_frame_msg(&b, m->channel->data, m->channel->len, id, idlen, m->payload->data, m->payload->len);
    cr_bytes_t *out = cr_buf_to_bytes(&b);
    cr_buf_free(&b);
    return out;
}

/* --- the relay transport ------------------------------------------------------------------------------ */

static int relay_start(cr_stream_t *s, const uint8_t *gaps)
{
    (void)s;
    (void)gaps;
    return 0;
}

/* A channel message and one addressed to the client (idx CR_SUB_DIRECT, channel
 * "@<client id>") take the same frame. */
static int relay_deliver(cr_stream_t *s, cr_msg_t *msg, size_t idx)
{
    (void)idx;
    return cr_stream_send(s, cr_msg_frame(msg, CR_WIRE_TCP_RELAY, encode));
}

static int relay_caught_up(cr_stream_t *s)
{
    (void)s;
    return 0;
}

static void relay_heartbeat(cr_stream_t *s)
{
    (void)s;
}

static void relay_finish(cr_stream_t *s, int reason)
{
    relay_t *r = (relay_t *)s;
    if (reason != CR_EGONE) {
        reply_err(r, reason, NULL);
        return;
    }
    /* Only that channel is gone: drop its node (already off the channel's list)
     * and keep the connection. */
    for (size_t i = 0; i < s->sub.nch; i++) {
        if (s->sub.nodes[i].ch->name == s->gone) {
            cr_sub_remove(&s->sub, i);
            break;
        }
    }
    reply(r, "gone", s->gone->data, s->gone->len);
}

static const cr_transport_t cr_transport_relay = {
    .name = "relay",
    .start = relay_start,
    .deliver = relay_deliver,
    .caught_up = relay_caught_up,
    .heartbeat = relay_heartbeat,
    .finish = relay_finish,
    .keeps_conn = 0,
    .heartbeats = 0,
    .outlives_channels = 1,
};

/* --- commands ----------------------------------------------------------------------------------------- */

/* Whether a resume from cursor on ch may have missed messages (as for HTTP subscribers). */
static int has_gap(const cr_since_t *since, const cr_channel_t *ch, cr_msgid_t cursor)
{
    if (since->kind == CR_SINCE_ALL || since->kind == CR_SINCE_NEW)
        return 0;
    if (cr_history_gap_after(&ch->history, cursor))
        return 1;
    return since->kind == CR_SINCE_ID && !cr_msgid_is_none(cursor) && cursor.seq != UINT64_MAX &&
           (cr_msgid_cmp(cursor, ch->last_id) > 0 || (int64_t)cursor.ms < ch->created_ms);
}

/* The channel is in the store's window: say ok (and gap), replay, go live. */
static void sub_ready(relay_t *r, cr_channel_t *ch)
{
    cr_sub_t *sub = &r->base.sub;
    cr_msgid_t cursor = r->from;
    reply_name(r, "ok sub", ch);
    if (has_gap(&r->since, ch, cursor)) {
        char id[CR_MSGID_MAX_LEN];
        cr_buf_t b = CR_BUF_INIT;
        cr_buf_append(&b, ch->name->data, ch->name->len);
        cr_buf_putc(&b, ' ');
        cr_buf_append(&b, id, cr_msgid_format(cursor, id));
        reply(r, "gap", b.data, b.len);
        cr_buf_free(&b);
        /* Told once: resume past what is lost. */
        if (cr_msgid_cmp(cursor, ch->last_id) > 0)
            cursor = ch->last_id;
        if (cr_msgid_cmp(cursor, ch->history.evicted_last) < 0)
            cursor = ch->history.evicted_last;
    }
    if (sub->closing)
        return;
    cr_sub_node_live(sub, cr_sub_add(sub, ch, cursor));
}

static void on_loaded(void *arg, int status)
{
    relay_t *r = arg;
    cr_channel_t *ch = r->loading;
    r->loading = NULL;
    if (status < 0)
        reply_err(r, status, "loading history");
    else
        sub_ready(r, ch);
    cr_conn_t *c = r->base.conn;
    if (!r->in_process && c->in && !uv_is_closing((uv_handle_t *)&c->tcp))
        process(c);
}

static void cmd_sub(relay_t *r, const cr_relay_cmd_t *cmd)
{
    cr_server_t *srv = r->base.srv;
    cr_sub_t *sub = &r->base.sub;
    cr_msgid_t id = CR_MSGID_NONE;
    int64_t now = cr_now_ms();
    if (!cr_channel_name_valid(cmd->channel.ptr, cmd->channel.len))
        return reply_err(r, CR_ECHANNEL, NULL);
    r->since.kind = CR_SINCE_NEW;
    if (cmd->since.len && cr_since_parse(cmd->since.ptr, cmd->since.len, now, 1, &r->since, &id) < 0)
        return reply_err(r, CR_ECURSOR, NULL);
    cr_channel_t *ch = cr_registry_find(&srv->reg, cmd->channel.ptr, cmd->channel.len);
    if (ch && cr_sub_find(sub, ch) >= 0)
        return reply_err(r, CR_ERELAYCMD, "already subscribed to that channel");
    if (sub->nch >= srv->cfg.max_channels)
        return reply_err(r, CR_ETOOMANYCH, "see --max-channels");
    ch = cr_registry_get(&srv->reg, cmd->channel.ptr, cmd->channel.len, now);
    r->from = cr_since_start(&r->since, id, ch->last_id);
    if (!cmd->since.len) {
        sub_ready(r, ch);
        return;
    }
    r->loading = ch;
    int rc = srv->engine->ops->load(srv->engine, ch, r->from, now, on_loaded, r);
    if (rc < 0)
        on_loaded(r, rc);
}

static void cmd_unsub(relay_t *r, const cr_relay_cmd_t *cmd)
{
    cr_sub_t *sub = &r->base.sub;
    if (!cr_channel_name_valid(cmd->channel.ptr, cmd->channel.len))
        return reply_err(r, CR_ECHANNEL, NULL);
    cr_channel_t *ch = cr_registry_find(&r->base.srv->reg, cmd->channel.ptr, cmd->channel.len);
    long idx = ch ? cr_sub_find(sub, ch) : -1;
    if (idx < 0)
        return reply_err(r, CR_ERELAYCMD, "not subscribed to that channel");
    cr_sub_remove(sub, (size_t)idx);
    reply_name(r, "ok unsub", ch);
}

static void command(relay_t *r, cr_span_t line)
{
    cr_relay_cmd_t cmd;
    const char *why;
    if (cr_relay_line_parse(line, &cmd, &why) < 0)
        return reply_err(r, CR_ERELAYCMD, why);
    switch (cmd.verb) {
    case CR_RELAY_NONE:
        break;
    case CR_RELAY_SUB:
        cmd_sub(r, &cmd);
        break;
    case CR_RELAY_UNSUB:
        cmd_unsub(r, &cmd);
        break;
    case CR_RELAY_PING:
        reply(r, "pong", cmd.token.ptr, cmd.token.len);
        break;
    }
}

/* --- input -------------------------------------------------------------------------------------------- */

static int closing(cr_conn_t *c)
{
    return c->state == CR_CONN_CLOSING || uv_is_closing((uv_handle_t *)&c->tcp) || !c->stream;
}

/* Runs every complete line of c->in; consumed bytes leave the front of c->in. */
static void process(cr_conn_t *c)
{
    relay_t *r = (relay_t *)c->stream;
    size_t off = 0;
    r->in_process = 1;
    while (!closing(c) && !r->loading && off < c->inlen) {
        cr_span_t line;
        ssize_t n = cr_relay_line_split(c->in + off, c->inlen - off, CR_RELAY_LINE_MAX, &line);
        if (n == CR_EAGAIN)
            break;
        if (n < 0) {
            char why[64];
            snprintf(why, sizeof(why), "at most %d bytes a line; closing", CR_RELAY_LINE_MAX);
            reply_err(r, (int)n, why);
            cr_log(CR_LOG_INFO, "%s: relay client sent a line over %d bytes", c->peer, CR_RELAY_LINE_MAX);
            off = c->inlen;
            cr_conn_end(c);
            break;
        }
        off += (size_t)n;
        command(r, line);
    }
    r->in_process = 0;
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (off) {
        memmove(c->in, c->in + off, c->inlen - off);
        c->inlen -= off;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cr_conn_t *c = h->data;
    (void)suggested;
    if (!c->in) {
        buf->base = c->srv->slab;
        buf->len = CR_SLAB_SIZE;
        return;
    }
    buf->base = c->in + c->inlen;
    buf->len = c->incap - c->inlen;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    cr_conn_t *c = st->data;
    if (nread < 0) {
        if (nread != UV_EOF) {
            cr_conn_close(c, uv_strerror((int)nread));
        } else if (c->outq.count || c->writing) {
            c->eof = 1; /* what it asked for is still answered, then the connection ends */
            uv_read_stop(st);
            cr_conn_end(c);
        } else {
            cr_conn_close(c, "peer closed");
        }
        return;
    }
    if (nread == 0 || closing(c))
        return;
    if (buf->base == c->srv->slab) {
        /* Lines are handled straight from the slab; only a partial line is kept. */
        cr_span_t rest = cr_conn_process_slab(c, (size_t)nread, process);
        if (rest.len && !closing(c)) {
            /* More than a line's worth left means a command is waiting on the store. */
            c->incap = rest.len > PARTIAL_CAP / 2 ? rest.len * 2 : PARTIAL_CAP;
            c->in = cr_xmalloc(c->incap);
            memcpy(c->in, rest.ptr, rest.len);
            c->inlen = rest.len;
        }
        return;
    }
    c->inlen += (size_t)nread;
    process(c);
    if (c->in && c->inlen == 0) {
        free(c->in);
        c->in = NULL;
        c->incap = 0;
    } else if (c->in && c->inlen == c->incap) {
        c->incap *= 2;
        c->in = cr_xrealloc(c->in, c->incap);
    }
}

/* --- accept ------------------------------------------------------------------------------------------- */

static void on_connection(uv_stream_t *l, int status)
{
    cr_server_t *srv = l->data;
    if (status < 0) {
        cr_log(CR_LOG_WARN, "relay accept: %s", uv_strerror(status));
        return;
    }
    cr_conn_t *c = cr_xcalloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    cr_list_init(&c->dirty_link);
    cr_timerq_entry_init(&c->timer);
    cr_outq_init(&c->outq);
    c->state = CR_CONN_BUSY; /* never reads HTTP requests */
    cr_list_push_back(&srv->conns, &c->link);
    size_t open = cr_server_conn_opened(srv);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        cr_conn_close(c, "accept failed");
        return;
    }
    cr_conn_peer_name(c, "relay ");
    uv_tcp_nodelay(&c->tcp, 1);
    /* Relay clients have no heartbeat of their own: let TCP find the dead ones. */
    uv_tcp_keepalive(&c->tcp, 1, RELAY_KEEPALIVE_S);
    if (open > srv->cfg.max_conns) {
        CR_BYTES_DEFINE(full, "err too many connections\n");
        cr_log(CR_LOG_WARN, "%s: refused: %zu connections open (--max-conns)", c->peer, open - 1);
        cr_conn_send_all(c, full);
        cr_conn_end(c);
        return;
    }
    relay_t *r = (relay_t *)cr_stream_new(c, &cr_transport_relay, 0, sizeof(relay_t));
    c->stream = &r->base;
    cr_sub_catch_up(&r->base.sub); /* no channels yet: it goes live */
    char id[24];
    int idlen = snprintf(id, sizeof(id), "c%llx", (unsigned long long)r->base.client_id);
    reply(r, "hello", id, (size_t)idlen);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        cr_conn_close(c, uv_strerror(rc));
}

int cr_relay_listen(cr_server_t *srv)
{
    struct sockaddr_storage addr;
    const char *host = srv->cfg.relay_host;
    int port = srv->cfg.relay_port, r;
    if (strchr(host, ':'))
        r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    else
        r = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (r < 0) {
        cr_log(CR_LOG_ERROR, "bad relay address %s: %s", host, uv_strerror(r));
        return r;
    }
    uv_tcp_init(srv->loop, &srv->relay_listener);
    srv->relay_listener.data = srv;
    r = uv_tcp_bind(&srv->relay_listener, (struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&srv->relay_listener, 4096, on_connection);
    if (r < 0) {
        cr_log(CR_LOG_ERROR, "relay listen on %s:%d: %s", host, port, uv_strerror(r));
        return r;
    }
    cr_log(CR_LOG_INFO, "crier relay listening on tcp://%s:%d", host, port);
    return 0;
}

void cr_relay_stop(cr_server_t *srv)
{
    if (srv->relay_listener.data && !uv_is_closing((uv_handle_t *)&srv->relay_listener))
        uv_close((uv_handle_t *)&srv->relay_listener, NULL);
}
