/* The two shapes a message has in Redis, decoded back into a cr_msg_t: a stream entry
 * (fields t, x, c, e, d) and the pub/sub notice the publish script sends to other nodes
 * ("<id>\n<time>\n<expires>\n<ctype len>\n<event len>\n" then ctype, event and payload
 * bytes). Pure: bytes in, message out, no I/O.
 * SPDX-License-Identifier: MIT */
#ifndef CR_ENGINE_REDIS_MSG_H
#define CR_ENGINE_REDIS_MSG_H

#include <stddef.h>

#include "core/bytes.h"
#include "core/msg.h"

/* A new message (refcount 1, id set) from a pub/sub notice, or NULL when p[0..len) is
 * malformed. channel is borrowed (the message takes its own reference). */
cr_msg_t *cr_redis_notice_decode(cr_bytes_t *channel, const char *p, size_t len);
/* A new message from a stream entry: its id and n field/value spans (names then values,
 * alternating). NULL when the id is malformed or the fields are incomplete. */
cr_msg_t *cr_redis_entry_decode(cr_bytes_t *channel, cr_span_t id, const cr_span_t *fv, size_t n);

#endif
