/* A channel's retained messages in id order: a ring of message references with
 * retention by count, by age and by each message's own TTL. It remembers the
 * newest message it had to drop (by count or age), so that a resume from before
 * that point is told about the gap instead of skipping it silently.
 * No I/O and no clock reads: "now" is passed in.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_HISTORY_H
#define CR_CORE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

typedef struct cr_history {
    cr_msg_t **_ring;
    size_t _cap, _head;
    size_t count;
    size_t _nttl;            /* held messages with a TTL of their own */
    cr_msgid_t evicted_last; /* newest message dropped by count or age; NONE if none */
} cr_history_t;

void cr_history_init(cr_history_t *h);
/* Drops every message reference and frees the ring. */
void cr_history_clear(cr_history_t *h);
/* Appends msg (takes a reference). Its id must be larger than every id held. */
void cr_history_append(cr_history_t *h, cr_msg_t *msg);
/* The i-th oldest retained message (borrowed), i < count. */
cr_msg_t *cr_history_at(const cr_history_t *h, size_t i);
/* Index of the first message whose id is larger than id (count if none). */
size_t cr_history_first_after(const cr_history_t *h, cr_msgid_t id);
/* Whether messages after id were dropped before a reader could resume from id. */
int cr_history_gap_after(const cr_history_t *h, cr_msgid_t id);
/* Applies retention: keeps at most max_count messages (0: no limit), none older
 * than max_age_ms (0: no limit), none past its own TTL. Returns how many went. */
size_t cr_history_prune(cr_history_t *h, int64_t now_ms, size_t max_count, int64_t max_age_ms);
/* Count retention alone, for the publish path: drops the oldest messages beyond
 * max_count, in time independent of the history's length. */
void cr_history_trim(cr_history_t *h, size_t max_count);

#endif
