/* What the two chunked HTTP streams (NDJSON and raw lines) share: the response
 * head, heartbeats and the ending. Each message is one HTTP chunk whose size
 * line is part of the shared frame, since it is the same for every subscriber.
 * SPDX-License-Identifier: MIT */
#ifndef CR_TRANSPORT_CHUNKED_STREAM_H
#define CR_TRANSPORT_CHUNKED_STREAM_H

#include "transport/stream.h"

/* Writes the 200 head with Transfer-Encoding: chunked and the given type. */
int cr_chunked_stream_start(cr_stream_t *s, const uint8_t *gaps, const char *ctype);
/* Queues one chunk holding text[0..len). */
int cr_chunked_stream_chunk(cr_stream_t *s, const char *text, size_t len);
/* Queues the chunk that ends the body. */
void cr_chunked_stream_last(cr_stream_t *s);
int cr_chunked_stream_caught_up(cr_stream_t *s);
/* An empty line as a chunk. */
void cr_chunked_stream_heartbeat(cr_stream_t *s);

#endif
