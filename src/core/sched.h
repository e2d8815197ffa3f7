/* Scheduled pushes waiting for their due time: a binary min-heap ordered by
 * (due time, schedule id), so the next one is found in O(1) and added or
 * removed in O(log n) however many wait. Also the parsers for the time a
 * publisher asks for (X-Delay, X-At). No I/O and no clock reads: "now" is passed in.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_SCHED_H
#define CR_CORE_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"

/* One scheduled publish: what the publisher sent, held until due_ms. */
typedef struct cr_sched_item {
    uint64_t id;              /* schedule id, unique per server (kept across restarts by the store) */
    int64_t due_ms;           /* when to publish (unix ms) */
    int64_t created_ms;       /* when it was scheduled */
    int64_t ttl_ms;           /* X-TTL of the message once published (0: none) */
    cr_bytes_t *channels;     /* "a" or "a,b" as the publisher named them */
    cr_bytes_t *content_type; /* NULL when none */
    cr_bytes_t *event;        /* NULL for "message" */
    cr_bytes_t *payload;
    size_t _idx; /* position in the heap */
} cr_sched_item_t;

typedef struct cr_sched {
    cr_sched_item_t **_heap;
    size_t count, _cap;
    uint64_t next_id; /* the id the next new item gets */
} cr_sched_t;

void cr_sched_init(cr_sched_t *s);
/* Frees every item still waiting and the heap. */
void cr_sched_free(cr_sched_t *s);

/* A new item (not in any heap; id 0). Takes its own references to the blocks
 * (content_type and event may be NULL). */
cr_sched_item_t *cr_sched_item_new(cr_bytes_t *channels, cr_bytes_t *content_type, cr_bytes_t *event,
                                   cr_bytes_t *payload, int64_t due_ms, int64_t created_ms, int64_t ttl_ms);
void cr_sched_item_free(cr_sched_item_t *it);
/* Whether the item publishes to channel name[0..len). */
int cr_sched_item_has_channel(const cr_sched_item_t *it, const char *name, size_t len);

/* Gives an item with id 0 the next id; an item with an id moves next_id past it. */
void cr_sched_assign_id(cr_sched_t *s, cr_sched_item_t *it);
/* Adds it to the heap (takes ownership; assigns an id if it has none). */
void cr_sched_push(cr_sched_t *s, cr_sched_item_t *it);
/* The item due first, or NULL; borrowed. */
cr_sched_item_t *cr_sched_peek(const cr_sched_t *s);
/* Removes and returns (to the caller's ownership) the first item if due at now_ms, else NULL. */
cr_sched_item_t *cr_sched_pop_due(cr_sched_t *s, int64_t now_ms);
/* The item with this id, or NULL; borrowed. O(n). */
cr_sched_item_t *cr_sched_find(const cr_sched_t *s, uint64_t id);
/* Takes it out of the heap; the caller owns it again. */
void cr_sched_remove(cr_sched_t *s, cr_sched_item_t *it);
/* The i-th item in heap order (not due order), i < count; borrowed. */
cr_sched_item_t *cr_sched_at(const cr_sched_t *s, size_t i);

/* Parses a delay: seconds ("90", "1.5") or units combined ("90s", "15m", "1h30m", "1d2h", "500ms").
 * 0 or CR_EPARAM. */
int cr_sched_parse_delay(const char *s, size_t len, int64_t *ms);
/* Parses a point in time: unix seconds ("1767225600", "1767225600.25") or RFC 3339
 * ("2026-01-01T00:00:00Z", "...T01:00:00.5+01:00"). 0 or CR_EPARAM. */
int cr_sched_parse_at(const char *s, size_t len, int64_t *ms);
/* Writes ms as RFC 3339 UTC with milliseconds ("2026-01-01T00:00:00.000Z") and a NUL;
 * buf holds at least 32 bytes. Returns the length. */
size_t cr_sched_format_rfc3339(int64_t ms, char *buf);

#endif
