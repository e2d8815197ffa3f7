/* Output queue of shared slices.
 * SPDX-License-Identifier: MIT */
#include "net/outq.h"

#include <stdlib.h>

#include "core/err.h"

void cr_outq_init(cr_outq_t *q)
{
    q->_ring = NULL;
    q->_cap = q->_head = q->count = 0;
    q->bytes = 0;
    q->soft_since_ms = -1;
}

cr_slice_t *cr_outq_at(cr_outq_t *q, uint32_t i)
{
    return &q->_ring[(q->_head + i) & (q->_cap - 1)];
}

int cr_outq_push(cr_outq_t *q, cr_bytes_t *b, uint32_t off, uint32_t len, const cr_outq_limits_t *lim,
                 int64_t now_ms)
{
    if (len == 0)
        return 0;
    if (q->count == q->_cap) {
        uint32_t cap = q->_cap ? q->_cap * 2 : 4;
        cr_slice_t *ring = cr_xmalloc(cap * sizeof(*ring));
        for (uint32_t i = 0; i < q->count; i++)
            ring[i] = *cr_outq_at(q, i);
        free(q->_ring);
        q->_ring = ring;
        q->_cap = cap;
        q->_head = 0;
    }
    q->_ring[(q->_head + q->count) & (q->_cap - 1)] = (cr_slice_t){cr_bytes_ref(b), off, len};
    q->count++;
    q->bytes += len;
    if (q->bytes > lim->hard)
        return CR_ESLOW;
    if (q->bytes > lim->soft) {
        if (q->soft_since_ms < 0)
            q->soft_since_ms = now_ms;
        else if (now_ms - q->soft_since_ms > lim->soft_ms)
            return CR_ESLOW;
    } else {
        q->soft_since_ms = -1;
    }
    return 0;
}

void cr_outq_consume(cr_outq_t *q, size_t n)
{
    q->bytes -= n;
    while (n && q->count) {
        cr_slice_t *s = cr_outq_at(q, 0);
        if (n < s->len) {
            s->off += (uint32_t)n;
            s->len -= (uint32_t)n;
            return;
        }
        n -= s->len;
        cr_bytes_unref(s->b);
        q->_head = (q->_head + 1) & (q->_cap - 1);
        q->count--;
    }
    if (q->count == 0) {
        /* An idle subscriber should cost only its structs: give the ring back. */
        free(q->_ring);
        q->_ring = NULL;
        q->_cap = q->_head = 0;
        q->soft_since_ms = -1;
    }
}

void cr_outq_clear(cr_outq_t *q)
{
    for (uint32_t i = 0; i < q->count; i++)
        cr_bytes_unref(cr_outq_at(q, i)->b);
    free(q->_ring);
    cr_outq_init(q);
}
