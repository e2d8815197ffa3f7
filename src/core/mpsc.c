/* The MPSC queue: a singly linked list from tail (oldest) to head (newest). A
 * producer swaps itself in as head, then links the previous head to itself; between
 * the two steps the list is briefly cut, which pop reports as empty.
 * SPDX-License-Identifier: MIT */
#include "core/mpsc.h"

#include <stddef.h>

void cr_mpsc_init(cr_mpsc_t *q)
{
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    q->tail = &q->stub;
}

void cr_mpsc_push(cr_mpsc_t *q, cr_mpsc_node_t *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    cr_mpsc_node_t *prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

cr_mpsc_node_t *cr_mpsc_pop(cr_mpsc_t *q)
{
    cr_mpsc_node_t *tail = q->tail;
    cr_mpsc_node_t *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    /* tail is the last node linked: it can be returned only once another node follows it. */
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL; /* a push is half done */
    cr_mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}
