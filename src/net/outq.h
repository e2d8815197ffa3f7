/* A connection's output queue: a ring of slices of shared, refcounted blocks.
 * Pushing a slice takes a reference, never copies. The queue is bounded: a hard
 * cap on queued bytes, and a soft cap that may be exceeded only for a while
 * (redis' client-output-buffer-limit), so one slow reader can't grow memory
 * without bound. An empty queue holds no memory. No sockets here; conn.c
 * gathers slices into iovecs and writes them.
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_OUTQ_H
#define CR_NET_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"

typedef struct cr_slice {
    cr_bytes_t *b;
    uint32_t off, len;
} cr_slice_t;

typedef struct cr_outq {
    cr_slice_t *_ring;
    uint32_t _cap, _head;
    uint32_t count;
    size_t bytes;          /* queued bytes not yet written */
    int64_t soft_since_ms; /* when bytes first exceeded the soft cap; -1 while under it */
} cr_outq_t;

typedef struct cr_outq_limits {
    size_t hard; /* over this: cut off at once */
    size_t soft; /* over this for longer than soft_ms: cut off */
    int64_t soft_ms;
} cr_outq_limits_t;

void cr_outq_init(cr_outq_t *q);
/* Queues b[off..off+len) (takes a reference). Returns 0, or CR_ESLOW when the
 * queue is over its limits (the slice is queued anyway; the caller cuts the
 * subscriber off). */
int cr_outq_push(cr_outq_t *q, cr_bytes_t *b, uint32_t off, uint32_t len, const cr_outq_limits_t *lim,
                 int64_t now_ms);
/* The i-th queued slice (borrowed), i < count. */
cr_slice_t *cr_outq_at(cr_outq_t *q, uint32_t i);
/* Marks n bytes as written: advances and unrefs finished slices. */
void cr_outq_consume(cr_outq_t *q, size_t n);
/* Drops everything queued and frees the ring. */
void cr_outq_clear(cr_outq_t *q);

#endif
