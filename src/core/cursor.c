/* Cursor and since parsing, cursor formatting.
 * SPDX-License-Identifier: MIT */
#include "core/cursor.h"

#include <string.h>

#include "core/err.h"

int cr_duration_parse(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    int64_t v = 0;
    if (len == 0)
        return CR_EPARAM;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (INT64_MAX / 1000 / 86400 / 10))
            return CR_EPARAM;
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0)
        return CR_EPARAM;
    const char *unit = s + i;
    size_t ulen = len - i;
    int64_t mult;
    if (ulen == 0 || (ulen == 1 && unit[0] == 's'))
        mult = 1000;
    else if (ulen == 2 && memcmp(unit, "ms", 2) == 0)
        mult = 1;
    else if (ulen == 1 && unit[0] == 'm')
        mult = 60 * 1000;
    else if (ulen == 1 && unit[0] == 'h')
        mult = 3600 * 1000;
    else if (ulen == 1 && unit[0] == 'd')
        mult = 86400 * 1000;
    else
        return CR_EPARAM;
    *ms = v * mult;
    return 0;
}

static int all_digits(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int cr_since_parse(const char *s, size_t len, int64_t now_ms, size_t nch, cr_since_t *since, cr_msgid_t *ids)
{
    since->time_ms = 0;
    if (len == 3 && memcmp(s, "all", 3) == 0) {
        since->kind = CR_SINCE_ALL;
        return 0;
    }
    if (memchr(s, '-', len)) {
        size_t n = 0, start = 0;
        for (size_t i = 0; i <= len; i++) {
            if (i < len && s[i] != ',')
                continue;
            if (n == nch || cr_msgid_parse(s + start, i - start, &ids[n]))
                return CR_ECURSOR;
            n++;
            start = i + 1;
        }
        if (n != nch)
            return CR_ECURSOR;
        since->kind = CR_SINCE_ID;
        return 0;
    }
    if (all_digits(s, len)) {
        if (len > 12) /* seconds until year 33658: anything longer is not a unix time */
            return CR_ECURSOR;
        int64_t t = 0;
        for (size_t i = 0; i < len; i++)
            t = t * 10 + (s[i] - '0');
        since->kind = CR_SINCE_TIME;
        since->time_ms = t * 1000;
        return 0;
    }
    int64_t d;
    if (cr_duration_parse(s, len, &d))
        return CR_ECURSOR;
    since->kind = CR_SINCE_TIME;
    since->time_ms = d < now_ms ? now_ms - d : 0; /* further back than the epoch: everything */
    return 0;
}

cr_msgid_t cr_since_start(const cr_since_t *since, cr_msgid_t id, cr_msgid_t last_id)
{
    switch (since->kind) {
    case CR_SINCE_NEW:
        return last_id;
    case CR_SINCE_ALL:
        return CR_MSGID_NONE;
    case CR_SINCE_ID:
        return id;
    case CR_SINCE_TIME:
        /* Ids carry their millisecond, so "at or after t" is "after (t-1, max)".
         * When the channel has nothing that recent, resume from its last id,
         * so that the cursor handed back is one the channel really issued. */
        if (since->time_ms <= 0)
            return CR_MSGID_NONE;
        if (last_id.ms < (uint64_t)since->time_ms)
            return last_id;
        return (cr_msgid_t){(uint64_t)since->time_ms - 1, UINT64_MAX};
    }
    return last_id;
}

void cr_cursor_format(const cr_msgid_t *ids, size_t n, cr_buf_t *out)
{
    char tmp[CR_MSGID_MAX_LEN];
    for (size_t i = 0; i < n; i++) {
        if (i)
            cr_buf_putc(out, ',');
        cr_buf_append(out, tmp, cr_msgid_format(ids[i], tmp));
    }
}
