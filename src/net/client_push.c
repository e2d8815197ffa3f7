/* POST /pub/@{client-id}: one message to one live subscriber, and GET for what
 * that subscriber is.
 * SPDX-License-Identifier: MIT */
#include "net/client_push.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clients.h"
#include "core/err.h"
#include "net/worker.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "net/worker.h"
#include "proto/query.h"
#include "transport/stream.h"

#define EVENT_NAME_MAX 64
#define CTYPE_MAX 255

static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return cr_utf8_valid((const unsigned char *)s, len);
}

static void not_found(cr_conn_t *c, uint64_t id)
{
    cr_buf_t d = CR_BUF_INIT;
    cr_buf_puts(&d, "no client ");
    /* Shown only when it is a well-formed id, so that the error never echoes odd bytes. */
    if (id)
        cr_buf_printf(&d, "c%llx connected (it may have disconnected)", (unsigned long long)id);
    else
        cr_buf_puts(&d, "with that id: ids look like c1f, as told to the client");
    cr_buf_putc(&d, '\0');
    cr_conn_error(c, CR_ENOTFOUND, d.data);
    cr_buf_free(&d);
}

static cr_stream_t *lookup(cr_server_t *srv, uint64_t id)
{
    cr_sub_t *sub = id ? cr_clients_get(&srv->clients, id) : NULL;
    if (sub && !sub->closing)
        return (cr_stream_t *)sub; /* every registered subscriber is a stream's base */
    return NULL;
}

/* The live stream named by target ("@c1f"), or NULL after answering 404. */
static cr_stream_t *find_client(cr_conn_t *c, cr_span_t target)
{
    uint64_t id = 0;
    cr_client_id_parse(target.ptr + 1, target.len - 1, &id);
    cr_stream_t *s = lookup(c->srv, id);
    if (!s)
        not_found(c, id);
    return s;
}

static void describe_json(cr_buf_t *bp, cr_stream_t *s)
{
    cr_buf_t b = *bp;
    cr_buf_printf(&b, "{\"client\":\"c%llx\",\"transport\":", (unsigned long long)s->client_id);
    cr_json_string(&b, s->tp->name, strlen(s->tp->name));
    cr_buf_puts(&b, ",\"channels\":[");
    for (size_t i = 0; i < s->sub.nch; i++) {
        if (i)
            cr_buf_putc(&b, ',');
        cr_json_string(&b, s->sub.nodes[i].ch->name->data, s->sub.nodes[i].ch->name->len);
    }
    cr_buf_puts(&b, "]}\n");
    *bp = b;
}

static void describe(cr_conn_t *c, cr_stream_t *s)
{
    cr_buf_t b = CR_BUF_INIT;
    describe_json(&b, s);
    cr_conn_respond_json(c, 200, &b);
    cr_buf_free(&b);
}

/* 0, or a code with *why for a header or parameter an addressed message can't take. */
static int check_request(const cr_http_request_t *req, char *event, size_t *event_len, const char **why)
{
    char v[64];
    size_t vlen;
    const cr_http_header_t *h = cr_http_header_find(req, "X-Event");
    int r;
    if (h) {
        if (h->value.len == 0 || h->value.len > EVENT_NAME_MAX)
            r = CR_EPARAM;
        else
            memcpy(event, h->value.ptr, h->value.len), *event_len = h->value.len, r = 1;
    } else {
        r = cr_query_get(req->query, "event", event, EVENT_NAME_MAX + 1, event_len);
    }
    if (r < 0 || (r == 1 && (*event_len == 0 || !printable(event, *event_len)))) {
        *why = "X-Event / event: 1-64 printable characters";
        return CR_EPARAM;
    }
    if (r == 0)
        *event_len = 0;
    if (cr_http_header_find(req, "X-Delay") || cr_http_header_find(req, "X-At") ||
        cr_query_get(req->query, "delay", v, sizeof(v), &vlen) != 0 ||
        cr_query_get(req->query, "at", v, sizeof(v), &vlen) != 0) {
        *why = "X-Delay / X-At: a message addressed to a client is delivered now or not at all";
        return CR_EPARAM;
    }
    const cr_http_header_t *ct = cr_http_header_find(req, "Content-Type");
    if (ct && (ct->value.len > CTYPE_MAX || !printable(ct->value.ptr, ct->value.len))) {
        *why = "Content-Type too long or not printable";
        return CR_EPARAM;
    }
    return 0;
}

/* The addressed message for client id (its id is set where the client lives). */
static cr_msg_t *addressed_msg(uint64_t client_id, const cr_http_request_t *req, const char *event,
                               size_t event_len, const char *body, size_t len, int64_t now)
{
    char name[24];
    int nlen = snprintf(name, sizeof(name), "@c%llx", (unsigned long long)client_id);
    const cr_http_header_t *ct = cr_http_header_find(req, "Content-Type");
    cr_bytes_t *chan = cr_bytes_copy(name, (size_t)nlen);
    cr_bytes_t *payload = cr_bytes_copy(body ? body : "", len);
    cr_bytes_t *ctype = ct && ct->value.len ? cr_bytes_copy(ct->value.ptr, ct->value.len) : NULL;
    cr_bytes_t *ev = event_len ? cr_bytes_copy(event, event_len) : NULL;
    cr_msg_t *msg = cr_msg_new(chan, ctype, ev, payload, now, 0);
    cr_bytes_unref(chan);
    cr_bytes_unref(payload);
    cr_bytes_unref(ctype);
    cr_bytes_unref(ev);
    return msg;
}

/* Delivers msg to s on its own loop: 0 and the 201 answer in *answer, or a negative code. */
static int deliver(cr_server_t *srv, cr_stream_t *s, cr_msg_t *msg, cr_buf_t *answer)
{
    msg->id = cr_msgid_next(srv->clients.last_id, (uint64_t)msg->time_ms);
    srv->clients.last_id = msg->id;
    srv->published++;
    int r = cr_sub_direct(&s->sub, msg);
    if (r < 0)
        return r;
    char id[CR_MSGID_MAX_LEN];
    cr_buf_puts(answer, "{\"id\":\"");
    cr_buf_append(answer, id, cr_msgid_format(msg->id, id));
    cr_buf_printf(answer, "\",\"channel\":\"%s\",\"subscribers\":1,\"time\":%lld}\n", msg->channel->data,
                  (long long)msg->time_ms);
    return 0;
}

static void delivery_error(cr_conn_t *c, int r)
{
    /* It was cut off delivering this (it can't keep up): it has not got it. */
    cr_conn_error(c, r == CR_ENOTFOUND ? r : CR_ESLOW, "the client was cut off and did not get it");
}

/* The request was checked (check_request filled event). */
static void push(cr_conn_t *c, const cr_http_request_t *req, cr_span_t target, const char *event,
                 size_t event_len, const char *body, size_t len)
{
    cr_server_t *srv = c->srv;
    cr_stream_t *s = find_client(c, target);
    if (!s)
        return;
    cr_msg_t *msg = addressed_msg(s->client_id, req, event, event_len, body, len, cr_now_ms());
    cr_buf_t b = CR_BUF_INIT;
    int r = deliver(srv, s, msg, &b);
    if (r < 0)
        delivery_error(c, r);
    else
        cr_conn_respond_json(c, 201, &b);
    cr_buf_free(&b);
    cr_msg_unref(msg);
}

/* --- a client on another loop (--threads): the request goes there, the answer comes back --- */

typedef struct remote {
    cr_conn_t *c;             /* held; touched on its own loop only */
    unsigned origin;          /* c's loop */
    _Atomic unsigned pending; /* loops still looking */
    int found;                /* set by the one loop that has the client, before it counts down */
    uint64_t id;
    cr_msg_t *msg; /* NULL: describe */
    int status;    /* the answer: 0, or a code */
    int unknown;   /* no such client there */
    cr_buf_t answer;
} remote_t;

static void remote_answered(cr_server_t *srv, void *arg)
{
    (void)srv;
    remote_t *rq = arg;
    cr_conn_t *c = rq->c;
    if (!cr_conn_gone(c)) {
        if (rq->unknown)
            not_found(c, rq->id);
        else if (rq->status < 0)
            delivery_error(c, rq->status);
        else
            cr_conn_respond_json(c, rq->msg ? 201 : 200, &rq->answer);
        cr_conn_request_done(c);
    }
    cr_conn_release(c);
    cr_msg_unref(rq->msg);
    cr_buf_free(&rq->answer);
    free(rq);
}

/* On every other loop: the one that has the client acts; the last to look sends the answer back. */
static void remote_run(cr_server_t *srv, void *arg)
{
    remote_t *rq = arg;
    cr_stream_t *s = srv->stopping ? NULL : lookup(srv, rq->id);
    if (s) {
        rq->found = 1;
        if (!rq->msg)
            describe_json(&rq->answer, s);
        else
            rq->status = deliver(srv, s, rq->msg, &rq->answer);
    }
    if (atomic_fetch_sub_explicit(&rq->pending, 1, memory_order_acq_rel) == 1) {
        rq->unknown = !rq->found;
        cr_pool_call(srv->pool, rq->origin, remote_answered, rq);
    }
}

/* 1 when the client is not on this loop and the request went to the others (answered later).
 * event: a checked push's event name; NULL for a GET or HEAD. */
static int forwarded(cr_conn_t *c, const cr_http_request_t *req, cr_span_t target, const char *event,
                     size_t event_len, const char *body, size_t len)
{
    cr_server_t *srv = c->srv;
    uint64_t id = 0;
    if (!srv->pool || cr_client_id_parse(target.ptr + 1, target.len - 1, &id) < 0 || id == 0 ||
        lookup(srv, id))
        return 0;
    cr_msg_t *msg = event ? addressed_msg(id, req, event, event_len, body, len, cr_now_ms()) : NULL;
    remote_t *rq = cr_xcalloc(1, sizeof(*rq));
    rq->c = c;
    rq->origin = srv->index;
    rq->id = id;
    rq->msg = msg;
    unsigned n = cr_pool_size(srv->pool);
    atomic_init(&rq->pending, n - 1);
    cr_conn_hold(c);
    for (unsigned i = 0; i < n; i++)
        if (i != srv->index)
            cr_pool_call(srv->pool, i, remote_run, rq);
    return 1;
}

void cr_client_push_route(cr_conn_t *c, const cr_http_request_t *req, cr_span_t target, const char *body,
                          size_t len)
{
    cr_span_t m = req->method;
    int is_push = cr_span_eq(m, "POST") || cr_span_eq(m, "PUT");
    char event[EVENT_NAME_MAX + 1];
    size_t event_len = 0;
    if (is_push) {
        const char *why = NULL;
        int err = check_request(req, event, &event_len, &why);
        if (err) {
            cr_conn_error(c, err, why);
            cr_conn_request_done(c);
            return;
        }
    }
    if ((is_push || cr_span_eq(m, "GET") || cr_span_eq(m, "HEAD")) &&
        forwarded(c, req, target, is_push ? event : NULL, event_len, body, len))
        return;
    if (is_push) {
        push(c, req, target, event, event_len, body, len);
    } else if (cr_span_eq(m, "GET") || cr_span_eq(m, "HEAD")) {
        cr_stream_t *s = find_client(c, target);
        if (s)
            describe(c, s);
    } else {
        cr_conn_error(c, CR_EMETHOD, "GET, HEAD, POST, PUT");
    }
    cr_conn_request_done(c);
}
