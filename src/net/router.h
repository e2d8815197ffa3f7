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

/* Handlers of the HTTP API (api.c). */
void cr_api_publish(cr_conn_t *c, const cr_http_request_t *req, cr_span_t channels, const char *body,
                    size_t len);
void cr_api_channel_stats(cr_conn_t *c, cr_span_t channel);
void cr_api_channel_delete(cr_conn_t *c, cr_span_t channel);
void cr_api_channels(cr_conn_t *c);
void cr_api_health(cr_conn_t *c);
void cr_api_metrics(cr_conn_t *c);
void cr_api_dashboard(cr_conn_t *c);

#endif
