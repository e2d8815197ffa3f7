/* Deadline queues: one FIFO per fixed timeout (header read, keep-alive idle,
 * long-poll hold, heartbeat). Every entry of a queue has the same timeout, so
 * appending keeps it sorted and a single periodic sweep pops the expired head.
 * This costs one list node per waiting object instead of one timer each, so a
 * million connections are not a million timers. No I/O, no clock reads.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_TIMERQ_H
#define CR_CORE_TIMERQ_H

#include <stdint.h>

#include "core/list.h"

typedef struct cr_timerq {
    cr_list_t head;
    int64_t timeout_ms;
} cr_timerq_t;

typedef struct cr_timerq_entry {
    cr_list_t link;
    int64_t deadline_ms;
} cr_timerq_entry_t;

void cr_timerq_init(cr_timerq_t *q, int64_t timeout_ms);
static inline void cr_timerq_entry_init(cr_timerq_entry_t *e)
{
    cr_list_init(&e->link);
    e->deadline_ms = 0;
}
/* (Re)arms e to expire timeout_ms after now (moving it to the tail). */
void cr_timerq_arm(cr_timerq_t *q, cr_timerq_entry_t *e, int64_t now_ms);
/* Disarms e if armed. */
void cr_timerq_cancel(cr_timerq_entry_t *e);
/* Pops and returns the head entry if it has expired at now, else NULL. */
cr_timerq_entry_t *cr_timerq_pop_expired(cr_timerq_t *q, int64_t now_ms);

#endif
