/* HTTP/1.1 connection state machine over libuv.
 * Input: read into the server's shared slab; only a partial request is copied
 * into the connection's own buffer, so idle connections hold no input memory.
 * Output: slices of shared blocks, gathered into one writev per loop turn.
 * Nothing here frees a connection except the uv_close callback.
 * SPDX-License-Identifier: MIT */
#include "net/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "net/log.h"
#include "net/router.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "transport/stream.h"

#define MAX_IOV 64
#define LINGER_MS 2000

static void process(cr_conn_t *c);
static void resume_reading(cr_conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void start_shutdown(cr_conn_t *c);
static void bad_request(cr_conn_t *c, int code, const char *detail);

static void arm(cr_conn_t *c, cr_timerq_t *q)
{
    cr_timerq_arm(q, &c->timer, (int64_t)uv_now(c->srv->loop));
    c->timer_q = q;
}

static void mark_dirty(cr_conn_t *c)
{
    if (!cr_list_linked(&c->dirty_link) && !uv_is_closing((uv_handle_t *)&c->tcp))
        cr_list_push_back(&c->srv->dirty, &c->dirty_link);
}

/* --- output ------------------------------------------------------------------------------------ */

int cr_conn_send(cr_conn_t *c, cr_bytes_t *b, uint32_t off, uint32_t len)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return CR_ESLOW;
    cr_outq_limits_t lim = {c->srv->cfg.outq_hard, c->srv->cfg.outq_soft, c->srv->cfg.outq_soft_ms};
    int r = cr_outq_push(&c->outq, b, off, len, &lim, (int64_t)uv_now(c->srv->loop));
    mark_dirty(c);
    return r;
}

int cr_conn_send_all(cr_conn_t *c, cr_bytes_t *b)
{
    return cr_conn_send(c, b, 0, b->len);
}

int cr_conn_send_buf(cr_conn_t *c, cr_buf_t *buf)
{
    cr_bytes_t *b = cr_buf_to_bytes(buf);
    int r = cr_conn_send_all(c, b);
    cr_bytes_unref(b);
    return r;
}

static uint32_t gather(cr_conn_t *c, uv_buf_t *bufs, size_t *total)
{
    uint32_t n = c->outq.count < MAX_IOV ? c->outq.count : MAX_IOV;
    *total = 0;
    for (uint32_t i = 0; i < n; i++) {
        cr_slice_t *s = cr_outq_at(&c->outq, i);
        bufs[i] = uv_buf_init(s->b->data + s->off, s->len);
        *total += s->len;
    }
    return n;
}

static void after_drain(cr_conn_t *c)
{
    if (c->close_after_write)
        start_shutdown(c);
}

static void on_write(uv_write_t *req, int status)
{
    cr_conn_t *c = req->data;
    free(req); /* held only while a write is in flight: an idle connection costs none */
    c->writing = 0;
    if (status < 0) {
        if (status != UV_ECANCELED)
            cr_conn_close(c, uv_strerror(status));
        return;
    }
    cr_outq_consume(&c->outq, c->inflight);
    c->inflight = 0;
    resume_reading(c);
    if (c->outq.count)
        cr_conn_flush(c);
    else
        after_drain(c);
}

void cr_conn_flush(cr_conn_t *c)
{
    if (cr_list_linked(&c->dirty_link))
        cr_list_remove(&c->dirty_link);
    if (c->writing || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    uv_buf_t bufs[MAX_IOV];
    size_t total;
    while (c->outq.count) {
        uint32_t n = gather(c, bufs, &total);
        int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (r == UV_EAGAIN || r == UV_ENOSYS)
            r = 0;
        if (r < 0) {
            cr_conn_close(c, uv_strerror(r));
            return;
        }
        cr_outq_consume(&c->outq, (size_t)r);
        if ((size_t)r < total)
            break; /* the socket is full: hand the rest to libuv */
    }
    if (!c->in_process)
        resume_reading(c);
    if (c->outq.count) {
        uint32_t n = gather(c, bufs, &total);
        uv_write_t *w = cr_xmalloc(sizeof(*w));
        w->data = c;
        int r = uv_write(w, (uv_stream_t *)&c->tcp, bufs, n, on_write);
        if (r < 0) {
            free(w);
            cr_conn_close(c, uv_strerror(r));
            return;
        }
        c->writing = 1;
        c->inflight = total;
        return;
    }
    after_drain(c);
}

/* --- responses ----------------------------------------------------------------------------------- */

void cr_conn_respond_json(cr_conn_t *c, int status, const cr_buf_t *body)
{
    cr_buf_t head = CR_BUF_INIT;
    cr_conn_head(c, &head, status);
    cr_conn_respond(c, &head, "application/json", body->data, body->len);
    cr_buf_free(&head);
}

void cr_conn_head(cr_conn_t *c, cr_buf_t *out, int status)
{
    (void)c;
    cr_http1_status_line(out, status);
    cr_buf_puts(out, "Server: crier\r\n");
}

static void end_head(cr_conn_t *c, cr_buf_t *head)
{
    if (!c->keep_alive) {
        cr_buf_puts(head, "Connection: close\r\n");
        c->close_after_write = 1;
    } else if (c->http10) {
        cr_buf_puts(head, "Connection: keep-alive\r\n");
    }
    cr_buf_append(head, "\r\n", 2);
}

void cr_conn_finish_head(cr_conn_t *c, cr_buf_t *head)
{
    end_head(c, head);
    cr_conn_send_buf(c, head);
}

void cr_conn_respond(cr_conn_t *c, cr_buf_t *head, const char *ctype, const char *body, size_t len)
{
    if (ctype)
        cr_http1_header_str(head, "Content-Type", ctype);
    cr_http1_header_u64(head, "Content-Length", len);
    end_head(c, head);
    if (!c->head_only)
        cr_buf_append(head, body, len);
    cr_conn_send_buf(c, head);
}

void cr_conn_respond_bytes(cr_conn_t *c, cr_buf_t *head, const char *ctype, cr_bytes_t *body)
{
    if (ctype)
        cr_http1_header_str(head, "Content-Type", ctype);
    cr_http1_header_u64(head, "Content-Length", body->len);
    end_head(c, head);
    cr_conn_send_buf(c, head);
    if (!c->head_only)
        cr_conn_send_all(c, body);
}

void cr_conn_error(cr_conn_t *c, int code, const char *detail)
{
    int status = cr_err_http_status(code);
    cr_buf_t body = CR_BUF_INIT, head = CR_BUF_INIT;
    cr_buf_t msg = CR_BUF_INIT;
    cr_buf_puts(&msg, cr_err_text(code));
    if (detail && *detail) {
        cr_buf_append(&msg, ": ", 2);
        cr_buf_puts(&msg, detail);
    }
    cr_buf_puts(&body, "{\"error\":");
    cr_json_string(&body, msg.data, msg.len);
    cr_buf_puts(&body, "}\n");
    cr_conn_head(c, &head, status);
    if (status == 405 && detail)
        cr_http1_header_str(&head, "Allow", detail);
    if (code == CR_EWSVERSION) {
        cr_http1_header_str(&head, "Sec-WebSocket-Version", "13");
        cr_http1_header_str(&head, "Upgrade", "websocket");
    }
    /* The connection stays open: a request that could be read was answered.
     * bad_request() closes the ones whose framing could not be trusted. */
    if (status == 400 || status == 408 || status == 413 || status == 431 || status >= 500)
        c->srv->bad_requests++;
    cr_conn_respond(c, &head, "application/json", body.data, body.len);
    cr_buf_free(&body);
    cr_buf_free(&msg);
    cr_buf_free(&head);
}

/* --- lifecycle --------------------------------------------------------------------------------------- */

static void conn_free(cr_conn_t *c)
{
    if (c->stream)
        cr_stream_conn_closed(c->stream);
    cr_outq_clear(&c->outq);
    free(c->in);
    free(c->chunked);
    cr_server_conn_closed(c->srv);
    free(c);
}

static void on_close(uv_handle_t *h)
{
    cr_conn_t *c = h->data;
    c->closed = 1;
    if (c->holds == 0)
        conn_free(c);
}

void cr_conn_hold(cr_conn_t *c)
{
    c->holds++;
}

void cr_conn_release(cr_conn_t *c)
{
    if (--c->holds == 0 && c->closed)
        conn_free(c);
}

int cr_conn_gone(const cr_conn_t *c)
{
    return c->closed || uv_is_closing((const uv_handle_t *)&c->tcp);
}

void cr_conn_close(cr_conn_t *c, const char *why)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (why)
        cr_log(CR_LOG_DEBUG, "%s: closed: %s", c->peer, why);
    c->state = CR_CONN_CLOSING;
    cr_timerq_cancel(&c->timer);
    c->timer_q = NULL;
    if (cr_list_linked(&c->dirty_link))
        cr_list_remove(&c->dirty_link);
    cr_list_remove(&c->link);
    if (c->stream)
        cr_stream_conn_closing(c->stream);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    cr_conn_t *c = req->data;
    free(req);
    if (status < 0 || c->eof) {
        cr_conn_close(c, status < 0 ? uv_strerror(status) : NULL);
        return;
    }
    /* Keep reading (and dropping) for a moment, so that unread input doesn't
     * turn our close into a reset that destroys the response in flight. */
    arm(c, &c->srv->linger_q);
}

static void start_shutdown(cr_conn_t *c)
{
    if (c->shutting || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    c->shutting = 1;
    c->state = CR_CONN_CLOSING;
    uv_shutdown_t *req = cr_xmalloc(sizeof(*req));
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        cr_conn_close(c, "shutdown failed");
    }
}

void cr_conn_end(cr_conn_t *c)
{
    c->close_after_write = 1;
    c->state = CR_CONN_CLOSING;
    if (!c->writing && c->outq.count == 0)
        start_shutdown(c);
    else
        mark_dirty(c);
}

void cr_conn_request_done(cr_conn_t *c)
{
    if (c->state != CR_CONN_BUSY)
        return;
    c->state = CR_CONN_READING;
    if (c->close_after_write) {
        c->state = CR_CONN_CLOSING;
        if (!c->writing && c->outq.count == 0)
            start_shutdown(c);
        return;
    }
    /* Inside process() the loop simply goes on with the next request. */
    if (!c->in_process && (c->in || c->eof))
        process(c);
    else if (!c->in_process && c->timer_q != &c->srv->idle_q)
        arm(c, &c->srv->idle_q);
}

/* --- input ----------------------------------------------------------------------------------------- */

static size_t in_limit(const cr_server_t *srv)
{
    return srv->cfg.max_head + srv->cfg.max_body + 64 * 1024;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cr_conn_t *c = h->data;
    (void)suggested;
    if (!c->in || c->state == CR_CONN_CLOSING || c->discard_input) {
        buf->base = c->srv->slab;
        buf->len = CR_SLAB_SIZE;
        return;
    }
    size_t limit = in_limit(c->srv);
    if (c->incap - c->inlen < 16 * 1024 && c->incap < limit) {
        size_t cap = c->incap * 2;
        if (cap > limit)
            cap = limit;
        c->in = cr_xrealloc(c->in, cap);
        c->incap = cap;
    }
    buf->base = c->in + c->inlen;
    buf->len = c->incap - c->inlen;
}

cr_span_t cr_conn_process_slab(cr_conn_t *c, size_t nread, void (*run)(cr_conn_t *c))
{
    c->in = c->srv->slab;
    c->inlen = nread;
    c->incap = CR_SLAB_SIZE;
    run(c);
    cr_span_t rest = {c->in, c->inlen};
    c->in = NULL;
    c->inlen = c->incap = 0;
    return rest;
}

static void keep_leftover(cr_conn_t *c, const char *data, size_t len)
{
    if (len == 0)
        return;
    size_t cap = 16 * 1024;
    while (cap < len)
        cap *= 2;
    c->in = cr_xmalloc(cap);
    c->incap = cap;
    memcpy(c->in, data, len);
    c->inlen = len;
}

static void handle_eof(cr_conn_t *c)
{
    c->eof = 1;
    /* A half-closed client still gets the answers to what it sent: an answer
     * still on its way (a publish waiting for its commit) ends the connection
     * when the requests after it are answered too (see process()). A stream
     * has nobody left to push to. */
    if (c->state == CR_CONN_BUSY && !c->stream)
        return;
    if (c->state == CR_CONN_READING && (c->outq.count || c->writing || c->inlen)) {
        process(c);
        return;
    }
    cr_conn_close(c, "peer closed");
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cr_conn_t *c = s->data;
    if (nread < 0) {
        if (nread == UV_EOF)
            handle_eof(c);
        else if (nread == UV_ENOBUFS && c->state == CR_CONN_READING)
            bad_request(c, CR_EBODYTOOBIG, "the request does not fit the input buffer");
        else
            cr_conn_close(c, uv_strerror((int)nread));
        return;
    }
    if (nread == 0)
        return;
    int from_slab = buf->base == c->srv->slab;
    if (c->state == CR_CONN_CLOSING || c->discard_input)
        return;
    if (from_slab) {
        cr_span_t rest = cr_conn_process_slab(c, (size_t)nread, process);
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            keep_leftover(c, rest.ptr, rest.len);
        return;
    }
    c->inlen += (size_t)nread;
    if (c->state == CR_CONN_BUSY && c->inlen >= in_limit(c->srv)) {
        cr_conn_close(c, "too much pipelined input while a response is pending");
        return;
    }
    process(c);
    if (c->in && c->inlen == 0) {
        free(c->in);
        c->in = NULL;
        c->incap = 0;
    }
}

static void bad_request(cr_conn_t *c, int code, const char *detail)
{
    cr_log(CR_LOG_INFO, "%s: %d %s%s%s", c->peer, cr_err_http_status(code), cr_err_text(code),
           detail ? ": " : "", detail ? detail : "");
    c->keep_alive = 0;
    c->head_only = 0; /* this answer is to a request we could not read, never to a HEAD */
    c->state = CR_CONN_BUSY;
    cr_conn_error(c, code, detail);
    cr_conn_end(c);
}

static void send_continue(cr_conn_t *c)
{
    CR_BYTES_DEFINE(cont, "HTTP/1.1 100 Continue\r\n\r\n");
    if (!c->sent_continue && c->srv->req.expect_continue) {
        c->sent_continue = 1;
        cr_conn_send_all(c, cont);
    }
}

/* Read back-pressure: a client that pipelines requests without reading the
 * answers is not read from while its answers are over the soft cap, so TCP
 * slows it down and its memory stays bounded. If it stays stalled past the soft
 * time it is cut off, like a slow subscriber. */
static void pause_reading(cr_conn_t *c)
{
    if (c->read_paused)
        return;
    c->read_paused = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    arm(c, &c->srv->stall_q);
}

static void resume_reading(cr_conn_t *c)
{
    if (!c->read_paused || c->outq.bytes > c->srv->cfg.outq_soft / 2)
        return;
    c->read_paused = 0;
    cr_timerq_cancel(&c->timer);
    c->timer_q = NULL;
    if (c->state == CR_CONN_CLOSING || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        return;
    if (c->in && c->state == CR_CONN_READING)
        process(c);
    else if (c->state == CR_CONN_READING)
        arm(c, &c->srv->idle_q);
}

/* An upgraded connection (WebSocket) reads no more HTTP: every byte is its stream's,
 * and the stream's reader keeps what it needs, so nothing stays in c->in. */
static int feed_stream(cr_conn_t *c)
{
    if (!c->stream || !c->stream->tp->input)
        return 0;
    size_t n = c->inlen;
    c->inlen = 0;
    if (n && !c->stream->ended)
        c->stream->tp->input(c->stream, c->in, n);
    return 1;
}

/* Handles every complete request in c->in, in order, while the connection is
 * ready for one. Consumed bytes are removed from the front of c->in. */
static void process(cr_conn_t *c)
{
    cr_server_t *srv = c->srv;
    size_t off = 0;
    if (feed_stream(c))
        return;
    c->in_process = 1;
    while (c->state == CR_CONN_READING && off < c->inlen) {
        if (c->outq.bytes > srv->cfg.outq_soft) {
            pause_reading(c);
            break;
        }
        char *p = c->in + off;
        size_t avail = c->inlen - off;
        cr_http_request_t *req = &srv->req;
        ssize_t r = cr_http1_parse_request(p, avail, srv->cfg.max_head, req);
        if (r == CR_EAGAIN) {
            if (c->timer_q != &srv->head_q)
                arm(c, &srv->head_q);
            break;
        }
        if (r < 0) {
            bad_request(c, (int)r, NULL);
            break;
        }
        size_t head = (size_t)r, total;
        const char *body = NULL;
        size_t body_len = 0;
        if (req->chunked) {
            if (!c->chunked) {
                c->chunked = cr_xmalloc(sizeof(*c->chunked));
                cr_chunked_init(c->chunked, srv->cfg.max_body);
                c->body_done = c->body_raw = 0;
            }
            size_t out_len = 0;
            ssize_t used = cr_chunked_decode(c->chunked, p + head + c->body_raw, avail - head - c->body_raw,
                                             p + head + c->body_done, &out_len);
            if (used < 0) {
                bad_request(c, (int)used, "in the chunked body");
                break;
            }
            c->body_raw += (size_t)used;
            c->body_done += out_len;
            if (c->body_raw > c->body_done) {
                /* Close the hole the framing left behind the decoded data, so that
                 * the buffer holds at most head + body + what is not decoded yet. */
                size_t gap = c->body_raw - c->body_done;
                memmove(p + head + c->body_done, p + head + c->body_raw, avail - head - c->body_raw);
                c->inlen -= gap;
                avail -= gap;
                c->body_raw = c->body_done;
            }
            if (!c->chunked->done) {
                send_continue(c);
                if (c->timer_q != &srv->head_q)
                    arm(c, &srv->head_q);
                break;
            }
            body = p + head;
            body_len = c->body_done;
            total = head + c->body_raw;
            free(c->chunked);
            c->chunked = NULL;
        } else if (req->content_length > 0) {
            if ((uint64_t)req->content_length > srv->cfg.max_body) {
                bad_request(c, CR_EBODYTOOBIG, NULL);
                break;
            }
            if (avail - head < (size_t)req->content_length) {
                send_continue(c);
                if (c->timer_q != &srv->head_q)
                    arm(c, &srv->head_q);
                break;
            }
            body = p + head;
            body_len = (size_t)req->content_length;
            total = head + body_len;
        } else {
            total = head;
        }
        cr_timerq_cancel(&c->timer);
        c->timer_q = NULL;
        c->sent_continue = 0;
        c->keep_alive = req->keep_alive && !srv->stopping;
        c->http10 = req->minor_version == 0;
        c->head_only = cr_span_eq(req->method, "HEAD");
        c->state = CR_CONN_BUSY;
        srv->requests++;
        off += total;
        cr_router_handle(c, req, body, body_len);
    }
    c->in_process = 0;
    if (off) {
        memmove(c->in, c->in + off, c->inlen - off);
        c->inlen -= off;
    }
    if (c->inlen && feed_stream(c))
        return; /* frames sent right behind the upgrade request */
    if (c->eof && c->state == CR_CONN_READING) {
        cr_conn_end(c); /* the half-closed client has had every answer it asked for */
        return;
    }
    if (c->state == CR_CONN_READING && c->inlen == 0 && c->timer_q != &srv->idle_q)
        arm(c, &srv->idle_q);
}

/* --- accept ----------------------------------------------------------------------------------------- */

void cr_conn_peer_name(cr_conn_t *c, const char *prefix)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[46] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), "%s%s:%d", prefix, host, port);
}

/* fd < 0: accept from srv's listener; else adopt fd, accepted by another loop. */
static void conn_start(cr_server_t *srv, int fd)
{
    cr_conn_t *c = cr_xcalloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    cr_list_init(&c->dirty_link);
    cr_timerq_entry_init(&c->timer);
    cr_outq_init(&c->outq);
    c->state = CR_CONN_READING;
    c->keep_alive = 1;
    cr_list_push_back(&srv->conns, &c->link);
    size_t open = cr_server_conn_opened(srv);
    if (fd >= 0 ? uv_tcp_open(&c->tcp, fd) < 0
                : uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->tcp) < 0) {
        if (fd >= 0)
            close(fd);
        cr_conn_close(c, "accept failed");
        return;
    }
    cr_conn_peer_name(c, "");
    uv_tcp_nodelay(&c->tcp, 1);
    if (open > srv->cfg.max_conns) {
        cr_log(CR_LOG_WARN, "%s: refused: %zu connections open (--max-conns)", c->peer, open - 1);
        c->state = CR_CONN_BUSY;
        c->keep_alive = 0;
        cr_conn_error(c, CR_ETOOMANYCONN, NULL);
        cr_conn_end(c);
    }
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        cr_conn_close(c, uv_strerror(r));
        return;
    }
    if (c->state == CR_CONN_READING)
        arm(c, &srv->head_q);
}

void cr_conn_accept(cr_server_t *srv)
{
    conn_start(srv, -1);
}

void cr_conn_adopt(cr_server_t *srv, int fd)
{
    conn_start(srv, fd);
}

/* Called by the server's sweep for a connection whose deadline passed. */
void cr_conn_timeout(cr_conn_t *c, cr_timerq_t *q)
{
    cr_server_t *srv = c->srv;
    c->timer_q = NULL;
    if (q == &srv->head_q && c->inlen > 0 && c->state == CR_CONN_READING) {
        cr_log(CR_LOG_INFO, "%s: request not complete within %lld ms", c->peer,
               (long long)srv->cfg.header_timeout_ms);
        bad_request(c, CR_ETIMEOUT, NULL);
        return;
    }
    cr_conn_close(c, q == &srv->linger_q  ? NULL
                     : q == &srv->stall_q ? "cut off: not reading its answers"
                                          : "timed out");
}
