/* Cursors: where a subscriber resumes. A single-channel cursor is a message id
 * "<ms>-<n>"; a subscription to several channels gets a compound cursor, the ids
 * of its channels in subscription order joined by ','. `?since=` also takes a
 * duration ("10m"), a unix time (seconds) or "all". Every form becomes one
 * message id per channel: resume delivers the messages with a larger id.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_CURSOR_H
#define CR_CORE_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/msg.h"

typedef enum cr_since_kind {
    CR_SINCE_NEW,  /* no cursor: only messages published from now on */
    CR_SINCE_ALL,  /* everything retained, and no gap notice */
    CR_SINCE_ID,   /* after ids[i] */
    CR_SINCE_TIME, /* messages published at or after time_ms */
} cr_since_kind_t;

typedef struct cr_since {
    cr_since_kind_t kind;
    int64_t time_ms;
} cr_since_t;

/* Parses a ?since= / Last-Event-ID value for a subscription to nch channels.
 * On CR_SINCE_ID, ids[0..nch) receive one id per channel (a compound cursor
 * must have exactly nch entries). now_ms resolves durations.
 * Returns 0, or CR_ECURSOR for anything else. */
int cr_since_parse(const char *s, size_t len, int64_t now_ms, size_t nch, cr_since_t *since, cr_msgid_t *ids);

/* Parses a duration "90", "90s", "15m", "2h", "1d", "500ms" into milliseconds. 0 or CR_EPARAM. */
int cr_duration_parse(const char *s, size_t len, int64_t *ms);

/* The id from which a since value resumes on a channel whose last id is last_id:
 * messages with a larger id are delivered. */
cr_msgid_t cr_since_start(const cr_since_t *since, cr_msgid_t id, cr_msgid_t last_id);

/* Appends the cursor of ids[0..n) (one id, or ids joined by ','). */
void cr_cursor_format(const cr_msgid_t *ids, size_t n, cr_buf_t *out);

#endif
