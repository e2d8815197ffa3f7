/* Retained messages of one channel, as a ring of references.
 * SPDX-License-Identifier: MIT */
#include "core/history.h"

#include <stdlib.h>

void cr_history_init(cr_history_t *h)
{
    h->_ring = NULL;
    h->_cap = h->_head = h->count = h->_nttl = 0;
    h->evicted_last = CR_MSGID_NONE;
}

void cr_history_clear(cr_history_t *h)
{
    for (size_t i = 0; i < h->count; i++)
        cr_msg_unref(cr_history_at(h, i));
    free(h->_ring);
    cr_history_init(h);
}

cr_msg_t *cr_history_at(const cr_history_t *h, size_t i)
{
    return h->_ring[(h->_head + i) & (h->_cap - 1)];
}

void cr_history_append(cr_history_t *h, cr_msg_t *msg)
{
    if (h->count == h->_cap) {
        size_t cap = h->_cap ? h->_cap * 2 : 8; /* a power of two, so an index is a mask away */
        cr_msg_t **ring = cr_xmalloc(cap * sizeof(*ring));
        for (size_t i = 0; i < h->count; i++)
            ring[i] = cr_history_at(h, i);
        free(h->_ring);
        h->_ring = ring;
        h->_cap = cap;
        h->_head = 0;
    }
    h->_ring[(h->_head + h->count) & (h->_cap - 1)] = cr_msg_ref(msg);
    h->count++;
    h->_nttl += msg->expires_ms != 0;
}

size_t cr_history_first_after(const cr_history_t *h, cr_msgid_t id)
{
    size_t lo = 0, hi = h->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cr_msgid_cmp(cr_history_at(h, mid)->id, id) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int cr_history_gap_after(const cr_history_t *h, cr_msgid_t id)
{
    return !cr_msgid_is_none(h->evicted_last) && cr_msgid_cmp(h->evicted_last, id) > 0;
}

static void drop_oldest(cr_history_t *h, int evicted)
{
    cr_msg_t *m = cr_history_at(h, 0);
    if (evicted)
        h->evicted_last = m->id;
    h->_nttl -= m->expires_ms != 0;
    cr_msg_unref(m);
    h->_head = (h->_head + 1) & (h->_cap - 1);
    h->count--;
}

void cr_history_trim(cr_history_t *h, size_t max_count)
{
    while (max_count && h->count > max_count)
        drop_oldest(h, 1);
}

size_t cr_history_prune(cr_history_t *h, int64_t now_ms, size_t max_count, int64_t max_age_ms)
{
    size_t before = h->count;
    cr_history_trim(h, max_count);
    while (max_age_ms && h->count && cr_history_at(h, 0)->time_ms + max_age_ms <= now_ms)
        drop_oldest(h, 1);
    /* Messages past their own TTL are gone by the publisher's wish, not lost:
     * they leave no gap mark. They may sit anywhere in the ring, so compact
     * (only when some held message has a TTL: the common case costs nothing). */
    if (h->_nttl) {
        size_t kept = 0;
        for (size_t i = 0; i < h->count; i++) {
            cr_msg_t *m = cr_history_at(h, i);
            if (m->expires_ms && m->expires_ms <= now_ms) {
                h->_nttl--;
                cr_msg_unref(m);
                continue;
            }
            h->_ring[(h->_head + kept) & (h->_cap - 1)] = m;
            kept++;
        }
        h->count = kept;
    }
    if (h->count == 0 && h->_cap > 8) {
        free(h->_ring);
        h->_ring = NULL;
        h->_cap = h->_head = 0;
    }
    return before - h->count;
}
