/* POST /pub/@{client-id}: one message to one live subscriber, and GET for what
 * that subscriber is.
 * SPDX-License-Identifier: MIT */
#include "net/client_push.h"

#include <stdio.h>
#include <string.h>

#include "core/clients.h"
#include "core/err.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
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

/* The live stream named by target ("@c1f"), or NULL after answering 404. */
static cr_stream_t *find_client(cr_conn_t *c, cr_span_t target)
{
    uint64_t id = 0;
    cr_sub_t *sub = NULL;
    if (cr_client_id_parse(target.ptr + 1, target.len - 1, &id) == 0)
        sub = cr_clients_get(&c->srv->clients, id);
    if (sub && !sub->closing)
        return (cr_stream_t *)sub; /* every registered subscriber is a stream's base */
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
    return NULL;
}

static void describe(cr_conn_t *c, cr_stream_t *s)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_printf(&b, "{\"client\":\"c%llx\",\"transport\":", (unsigned long long)s->client_id);
    cr_json_string(&b, s->tp->name, strlen(s->tp->name));
    cr_buf_puts(&b, ",\"channels\":[");
    for (size_t i = 0; i < s->sub.nch; i++) {
        if (i)
            cr_buf_putc(&b, ',');
        cr_json_string(&b, s->sub.nodes[i].ch->name->data, s->sub.nodes[i].ch->name->len);
    }
    cr_buf_puts(&b, "]}\n");
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

static void push(cr_conn_t *c, const cr_http_request_t *req, cr_span_t target, const char *body, size_t len)
{
    cr_server_t *srv = c->srv;
    char event[EVENT_NAME_MAX + 1];
    size_t event_len = 0;
    const char *why = NULL;
    int err = check_request(req, event, &event_len, &why);
    if (err) {
        cr_conn_error(c, err, why);
        return;
    }
    cr_stream_t *s = find_client(c, target);
    if (!s)
        return;
    int64_t now = cr_now_ms();
    char name[24];
    int nlen = snprintf(name, sizeof(name), "@c%llx", (unsigned long long)s->client_id);
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
    msg->id = cr_msgid_next(srv->clients.last_id, (uint64_t)now);
    srv->clients.last_id = msg->id;
    srv->published++;
    int r = cr_sub_direct(&s->sub, msg);
    if (r < 0) {
        /* It was cut off delivering this (it can't keep up): it has not got it. */
        cr_conn_error(c, r == CR_ENOTFOUND ? r : CR_ESLOW, "the client was cut off and did not get it");
    } else {
        char id[CR_MSGID_MAX_LEN];
        cr_buf_t b = CR_BUF_INIT;
        cr_buf_puts(&b, "{\"id\":\"");
        cr_buf_append(&b, id, cr_msgid_format(msg->id, id));
        cr_buf_printf(&b, "\",\"channel\":\"%s\",\"subscribers\":1,\"time\":%lld}\n", name, (long long)now);
        cr_conn_respond_json(c, 201, &b);
        cr_buf_free(&b);
    }
    cr_msg_unref(msg);
}

void cr_client_push_route(cr_conn_t *c, const cr_http_request_t *req, cr_span_t target, const char *body,
                          size_t len)
{
    cr_span_t m = req->method;
    if (cr_span_eq(m, "POST") || cr_span_eq(m, "PUT")) {
        push(c, req, target, body, len);
    } else if (cr_span_eq(m, "GET") || cr_span_eq(m, "HEAD")) {
        cr_stream_t *s = find_client(c, target);
        if (s)
            describe(c, s);
    } else {
        cr_conn_error(c, CR_EMETHOD, "GET, HEAD, POST, PUT");
    }
    cr_conn_request_done(c);
}
