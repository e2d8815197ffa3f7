/* An intrusive multi-producer single-consumer FIFO queue (Vyukov's design) built on C11
 * atomics: any thread may push, one thread pops. Push is one atomic exchange and one
 * store, wait-free; pop never blocks and never takes a lock. The queue allocates
 * nothing: a node is embedded in the item it carries (CR_CONTAINER_OF gets it back).
 * Items pushed by one producer come out in the order that producer pushed them.
 * No I/O and no wake-up: the owner pairs it with its own (uv_async_send after push, with a
 * seq_cst fence between them: see post() in net/worker.c).
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_MPSC_H
#define CR_CORE_MPSC_H

#include <stdatomic.h>

typedef struct cr_mpsc_node {
    _Atomic(struct cr_mpsc_node *) next;
} cr_mpsc_node_t;

typedef struct cr_mpsc {
    _Atomic(cr_mpsc_node_t *) head; /* the last node pushed (producers swap it) */
    cr_mpsc_node_t *tail;           /* the next node to pop (consumer only) */
    cr_mpsc_node_t stub;            /* keeps the list non-empty */
} cr_mpsc_t;

void cr_mpsc_init(cr_mpsc_t *q);
/* Any thread. n must not be in a queue. */
void cr_mpsc_push(cr_mpsc_t *q, cr_mpsc_node_t *n);
/* The consumer thread only. The oldest node, or NULL when the queue is empty or a
 * producer is half-way through a push (its item comes out on a later pop: a producer
 * wakes the consumer after its push completes). */
cr_mpsc_node_t *cr_mpsc_pop(cr_mpsc_t *q);

#endif
