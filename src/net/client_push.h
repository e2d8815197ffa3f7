/* Client-addressed push: every subscriber has a client id (c<hex>), told to it
 * at stream start; POST /pub/@{id} hands a message to that one subscriber, over
 * its own transport's framing, with "@{id}" as the channel. The message gets an
 * id (from one server-wide sequence) but is stored nowhere: it can't be resumed,
 * and a client that is gone gets nothing (404 at publish time).
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_CLIENT_PUSH_H
#define CR_NET_CLIENT_PUSH_H

#include <stddef.h>

#include "net/conn.h"

/* Handles /pub/@{client-id} (target is "@..."): POST/PUT deliver the body, GET/HEAD
 * describe the client; answers and finishes the request. */
void cr_client_push_route(cr_conn_t *c, const cr_http_request_t *req, cr_span_t target, const char *body,
                          size_t len);

#endif
