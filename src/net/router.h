/* Routes a complete request to its handler. A handler answers through the
 * connection and calls cr_conn_request_done() once the answer is queued, or
 * leaves the connection busy while the answer is pending (a stream, a long
 * poll, a store that commits asynchronously).
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_ROUTER_H
#define CR_NET_ROUTER_H

#include "net/conn.h"
#include "proto/http1_parse.h"

void cr_router_handle(cr_conn_t *c, const cr_http_request_t *req, const char *body, size_t body_len);

/* One publish, whoever asked for it (HTTP, a WebSocket client): the message and its options. */
typedef struct cr_publish_in {
    cr_span_t channels;     /* "a,b,c" as in /pub/{channels} */
    cr_span_t ctype, event; /* len 0: none */
    int64_t ttl_ms;         /* 0: no TTL of its own */
    const char *body;
    size_t len;
} cr_publish_in_t;

/* Called once the publish is stored (status 0, answer holds the JSON
 * {"id","channel","subscribers","time"} + "\n") or failed (negative code, answer empty). */
typedef void (*cr_publish_done_fn)(void *arg, int status, cr_buf_t *answer);

/* Validates in as an HTTP publish is validated (channel names, event name, content type,
 * the message size limit), then stores and fans out. Returns 0 (done is called once, maybe
 * before this returns) or a negative code with *why a detail or NULL (done is not called). */
int cr_publish(cr_server_t *srv, const cr_publish_in_t *in, const char **why, cr_publish_done_fn done,
               void *arg);

/* A request option given as a header or as a query parameter (X-TTL or ?ttl=): the header's
 * value, else the parameter's, into out[0..cap) NUL-terminated. 1 found, 0 absent, CR_EPARAM. */
int cr_api_header_or_query(const cr_http_request_t *req, const char *header, const char *param, char *out,
                           size_t cap, size_t *len);

/* Scheduled pushes (sched_api.c). The due time a request asks for with X-Delay / X-At /
 * ?delay= / ?at=: 1 with *due_ms set, 0 when it asks for none, CR_EPARAM with *why. */
int cr_api_sched_due(const cr_http_request_t *req, int64_t now_ms, int64_t *due_ms, const char **why);
/* Stores in as a push due at due_ms and answers 202 once it is stored. 0 (the request is
 * answered later) or a negative code with *why (nothing answered). */
int cr_api_schedule(cr_conn_t *c, const cr_publish_in_t *in, int64_t due_ms, const char **why);
/* GET /pub/{ch}/scheduled and DELETE /pub/{ch}/scheduled/{id}; both end the request. */
void cr_api_sched_list(cr_conn_t *c, cr_span_t channel);
void cr_api_sched_cancel(cr_conn_t *c, cr_span_t channel, cr_span_t id);
/* Publishes every scheduled push that is due (the server's schedule timer). */
void cr_api_sched_run(cr_server_t *srv);

/* Handlers of the HTTP API (api.c). */
void cr_api_publish(cr_conn_t *c, const cr_http_request_t *req, cr_span_t channels, const char *body,
                    size_t len);
void cr_api_channel_stats(cr_conn_t *c, cr_span_t channel);
void cr_api_channel_delete(cr_conn_t *c, cr_span_t channel); /* ends the request */
void cr_api_channels(cr_conn_t *c);
void cr_api_health(cr_conn_t *c);
void cr_api_metrics(cr_conn_t *c);
void cr_api_dashboard(cr_conn_t *c);
/* GET /feed/{channel}.atom|.rss (feed.c); rest is what follows "/feed/". */
void cr_api_feed(cr_conn_t *c, const cr_http_request_t *req, cr_span_t rest);

#endif
