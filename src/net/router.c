/* The route table of the HTTP API (DESIGN.md section 2).
 * SPDX-License-Identifier: MIT */
#include "net/router.h"

#include <string.h>

#include "core/err.h"
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

void cr_router_handle(cr_conn_t *c, const cr_http_request_t *req, const char *body, size_t body_len)
{
    cr_span_t m = req->method, rest;
    int get = cr_span_eq(m, "GET") || cr_span_eq(m, "HEAD");
    if (prefix(req->path, "/pub/", &rest)) {
        if (cr_span_eq(m, "POST") || cr_span_eq(m, "PUT")) {
            cr_api_publish(c, req, rest, body, body_len);
            return;
        }
        if (get)
            cr_api_channel_stats(c, rest);
        else if (cr_span_eq(m, "DELETE"))
            cr_api_channel_delete(c, rest);
        else
            return method_not_allowed(c, "GET, HEAD, POST, PUT, DELETE");
        cr_conn_request_done(c);
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
    cr_conn_error(c, CR_ENOTFOUND, "routes are /pub/{channel}, /sub/{channel}, /channels, /health, /metrics");
    cr_conn_request_done(c);
}
