/* The route table of the HTTP API (DESIGN.md section 2).
 * SPDX-License-Identifier: MIT */
#include "net/router.h"

#include <string.h>

#include "core/err.h"
#include "proto/http1_write.h"
#include "net/client_push.h"
#include "transport/stream.h"

static int prefix(cr_span_t path, const char *p, cr_span_t *rest)
{
    size_t n = strlen(p);
    if (path.len < n || memcmp(path.ptr, p, n) != 0)
        return 0;
    rest->ptr = path.ptr + n;
    rest->len = path.len - n;
    return 1;
}

static void method_not_allowed(cr_conn_t *c, const char *allow)
{
    cr_conn_error(c, CR_EMETHOD, allow);
    cr_conn_request_done(c);
}

/* /pub/{ch}/scheduled and /pub/{ch}/scheduled/{id} (channel names never hold '/'). */
static void sched_route(cr_conn_t *c, const cr_http_request_t *req, cr_span_t rest, const char *slash)
{
    cr_span_t ch = {rest.ptr, (size_t)(slash - rest.ptr)}, tail;
    cr_span_t after = {slash, rest.len - ch.len};
    cr_span_t m = req->method;
    if (cr_span_eq(after, "/scheduled")) {
        if (!cr_span_eq(m, "GET") && !cr_span_eq(m, "HEAD"))
            return method_not_allowed(c, "GET, HEAD");
        cr_api_sched_list(c, ch);
    } else if (prefix(after, "/scheduled/", &tail)) {
        if (!cr_span_eq(m, "DELETE"))
            return method_not_allowed(c, "DELETE");
        cr_api_sched_cancel(c, ch, tail);
    } else {
        /* "a/b" is not a channel name ('/' is not allowed in one). */
        cr_conn_error(c, CR_ECHANNEL, NULL);
        cr_conn_request_done(c);
    }
}

/* OPTIONS * asks what the server as a whole supports (RFC 9110 section 9.3.7). */
static void options_server(cr_conn_t *c)
{
    cr_buf_t head = CR_BUF_INIT;
    cr_conn_head(c, &head, 200);
    cr_http1_header_str(&head, "Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    cr_conn_respond(c, &head, NULL, "", 0);
    cr_buf_free(&head);
    cr_conn_request_done(c);
}

void cr_router_handle(cr_conn_t *c, const cr_http_request_t *req, const char *body, size_t body_len)
{
    cr_span_t m = req->method, rest;
    int get = cr_span_eq(m, "GET") || cr_span_eq(m, "HEAD");
    if (cr_span_eq(req->path, "*"))
        return options_server(c); /* the parser allows "*" for OPTIONS alone */
    if (prefix(req->path, "/pub/", &rest)) {
        if (rest.len && rest.ptr[0] == '@') {
            cr_client_push_route(c, req, rest, body, body_len);
            return;
        }
        const char *slash = memchr(rest.ptr, '/', rest.len);
        if (slash) {
            sched_route(c, req, rest, slash);
            return;
        }
        if (cr_span_eq(m, "POST") || cr_span_eq(m, "PUT")) {
            cr_api_publish(c, req, rest, body, body_len);
            return;
        }
        if (get) {
            cr_api_channel_stats(c, rest); /* may wait for the cluster's count: it ends the request */
            return;
        }
        if (cr_span_eq(m, "DELETE")) {
            cr_api_channel_delete(c, rest); /* may wait for every loop (--threads): it ends the request */
            return;
        }
        return method_not_allowed(c, "GET, HEAD, POST, PUT, DELETE");
    }
    if (prefix(req->path, "/feed/", &rest)) {
        if (!get)
            return method_not_allowed(c, "GET, HEAD");
        cr_api_feed(c, req, rest);
        return;
    }
    if (prefix(req->path, "/sub/", &rest)) {
        if (!get)
            return method_not_allowed(c, "GET, HEAD");
        cr_subscribe(c, req, rest);
        return;
    }
    static const struct {
        const char *path;
        void (*fn)(cr_conn_t *c);
    } simple[] = {
        {"/channels", cr_api_channels},
        {"/health", cr_api_health},
        {"/metrics", cr_api_metrics},
        {"/", cr_api_dashboard},
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        if (!cr_span_eq(req->path, simple[i].path))
            continue;
        if (!get)
            return method_not_allowed(c, "GET, HEAD");
        simple[i].fn(c);
        cr_conn_request_done(c);
        return;
    }
    cr_conn_error(c, CR_ENOTFOUND,
                  "routes are /pub/{channel}, /sub/{channel}, /feed/{channel}.atom, /feed/{channel}.rss, "
                  "/channels, /health, /metrics");
    cr_conn_request_done(c);
}
