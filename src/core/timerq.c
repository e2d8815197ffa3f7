/* Fixed-timeout deadline queues.
 * SPDX-License-Identifier: MIT */
#include "core/timerq.h"

void cr_timerq_init(cr_timerq_t *q, int64_t timeout_ms)
{
    cr_list_init(&q->head);
    q->timeout_ms = timeout_ms;
}

void cr_timerq_arm(cr_timerq_t *q, cr_timerq_entry_t *e, int64_t now_ms)
{
    if (cr_list_linked(&e->link))
        cr_list_remove(&e->link);
    e->deadline_ms = now_ms + q->timeout_ms;
    cr_list_push_back(&q->head, &e->link);
}

void cr_timerq_cancel(cr_timerq_entry_t *e)
{
    if (cr_list_linked(&e->link))
        cr_list_remove(&e->link);
}

cr_timerq_entry_t *cr_timerq_pop_expired(cr_timerq_t *q, int64_t now_ms)
{
    if (cr_list_empty(&q->head))
        return 0;
    cr_timerq_entry_t *e = CR_CONTAINER_OF(q->head.next, cr_timerq_entry_t, link);
    if (e->deadline_ms > now_ms)
        return 0;
    cr_list_remove(&e->link);
    return e;
}
