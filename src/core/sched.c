/* The scheduled-push heap and the parsers for delays and points in time.
 * SPDX-License-Identifier: MIT */
#include "core/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void cr_sched_init(cr_sched_t *s)
{
    s->_heap = NULL;
    s->count = s->_cap = 0;
    s->next_id = 1;
}

void cr_sched_free(cr_sched_t *s)
{
    for (size_t i = 0; i < s->count; i++)
        cr_sched_item_free(s->_heap[i]);
    free(s->_heap);
    s->_heap = NULL;
    s->count = s->_cap = 0;
}

cr_sched_item_t *cr_sched_item_new(cr_bytes_t *channels, cr_bytes_t *content_type, cr_bytes_t *event,
                                   cr_bytes_t *payload, int64_t due_ms, int64_t created_ms, int64_t ttl_ms)
{
    cr_sched_item_t *it = cr_xcalloc(1, sizeof(*it));
    it->channels = cr_bytes_ref(channels);
    it->content_type = content_type ? cr_bytes_ref(content_type) : NULL;
    it->event = event ? cr_bytes_ref(event) : NULL;
    it->payload = cr_bytes_ref(payload);
    it->due_ms = due_ms;
    it->created_ms = created_ms;
    it->ttl_ms = ttl_ms;
    return it;
}

void cr_sched_item_free(cr_sched_item_t *it)
{
    if (!it)
        return;
    cr_bytes_unref(it->channels);
    cr_bytes_unref(it->content_type);
    cr_bytes_unref(it->event);
    cr_bytes_unref(it->payload);
    free(it);
}

int cr_sched_item_has_channel(const cr_sched_item_t *it, const char *name, size_t len)
{
    const char *p = it->channels->data, *end = p + it->channels->len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if ((size_t)(stop - p) == len && memcmp(p, name, len) == 0)
            return 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* Ties on the due time go by id: the order they were scheduled in. */
static int before(const cr_sched_item_t *a, const cr_sched_item_t *b)
{
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms;
    return a->id < b->id;
}

static void place(cr_sched_t *s, size_t i, cr_sched_item_t *it)
{
    s->_heap[i] = it;
    it->_idx = i;
}

static void sift_up(cr_sched_t *s, size_t i)
{
    cr_sched_item_t *it = s->_heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(it, s->_heap[parent]))
            break;
        place(s, i, s->_heap[parent]);
        i = parent;
    }
    place(s, i, it);
}

static void sift_down(cr_sched_t *s, size_t i)
{
    cr_sched_item_t *it = s->_heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cr_sched_item_t *best = it;
        if (l < s->count && before(s->_heap[l], best))
            m = l, best = s->_heap[l];
        if (r < s->count && before(s->_heap[r], best))
            m = r;
        if (m == i)
            break;
        place(s, i, s->_heap[m]);
        i = m;
    }
    place(s, i, it);
}

void cr_sched_assign_id(cr_sched_t *s, cr_sched_item_t *it)
{
    if (it->id == 0)
        it->id = s->next_id++;
    else if (it->id >= s->next_id)
        s->next_id = it->id + 1;
}

void cr_sched_push(cr_sched_t *s, cr_sched_item_t *it)
{
    cr_sched_assign_id(s, it);
    if (s->count == s->_cap) {
        s->_cap = s->_cap ? s->_cap * 2 : 16;
        s->_heap = cr_xrealloc(s->_heap, s->_cap * sizeof(*s->_heap));
    }
    place(s, s->count++, it);
    sift_up(s, it->_idx);
}

cr_sched_item_t *cr_sched_peek(const cr_sched_t *s)
{
    return s->count ? s->_heap[0] : NULL;
}

void cr_sched_remove(cr_sched_t *s, cr_sched_item_t *it)
{
    size_t i = it->_idx;
    cr_sched_item_t *last = s->_heap[--s->count];
    if (last != it) {
        place(s, i, last);
        /* The moved item may belong above or below its new place. */
        sift_up(s, i);
        sift_down(s, last->_idx);
    }
    it->_idx = 0;
}

cr_sched_item_t *cr_sched_pop_due(cr_sched_t *s, int64_t now_ms)
{
    cr_sched_item_t *it = cr_sched_peek(s);
    if (!it || it->due_ms > now_ms)
        return NULL;
    cr_sched_remove(s, it);
    return it;
}

cr_sched_item_t *cr_sched_find(const cr_sched_t *s, uint64_t id)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->_heap[i]->id == id)
            return s->_heap[i];
    return NULL;
}

cr_sched_item_t *cr_sched_at(const cr_sched_t *s, size_t i)
{
    return s->_heap[i];
}

/* --- parsing ---------------------------------------------------------------------------------------- */

/* Digits at s[*i..) as an integer (at most 12 of them); -1 if none. */
static int64_t digits(const char *s, size_t len, size_t *i, int *ndig)
{
    int64_t v = 0;
    int n = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9' && n < 13) {
        v = v * 10 + (s[*i] - '0');
        (*i)++, n++;
    }
    if (ndig)
        *ndig = n;
    if (n == 0 || n > 12)
        return -1;
    return v;
}

/* ".25" after a number: its value in thousandths. */
static int64_t fraction_ms(const char *s, size_t len, size_t *i)
{
    if (*i >= len || s[*i] != '.')
        return 0;
    (*i)++;
    int64_t v = 0, scale = 100;
    int n = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        v += (s[*i] - '0') * scale;
        scale /= 10;
        (*i)++, n++;
    }
    return n ? v : -1;
}

int cr_sched_parse_delay(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    int64_t total = 0, last_unit = INT64_MAX;
    if (len == 0)
        return CR_EPARAM;
    while (i < len) {
        int64_t v = digits(s, len, &i, NULL);
        if (v < 0)
            return CR_EPARAM;
        int64_t frac = fraction_ms(s, len, &i);
        if (frac < 0)
            return CR_EPARAM;
        int64_t unit;
        if (i == len) {
            /* A bare number is seconds, and only allowed alone. */
            if (total)
                return CR_EPARAM;
            unit = 1000;
        } else if (len - i >= 2 && s[i] == 'm' && s[i + 1] == 's') {
            unit = 1, i += 2;
        } else {
            switch (s[i]) {
            case 's':
                unit = 1000;
                break;
            case 'm':
                unit = 60 * 1000;
                break;
            case 'h':
                unit = 3600 * 1000;
                break;
            case 'd':
                unit = 86400 * 1000;
                break;
            default:
                return CR_EPARAM;
            }
            i++;
        }
        /* Units from the largest down, each once: "1h30m", not "30m1h" or "1m1m". */
        if (unit >= last_unit)
            return CR_EPARAM;
        last_unit = unit;
        const int64_t limit = (int64_t)1000 * 86400 * 365 * 100; /* a century: far past any limit */
        if (v > limit / unit) /* checked before multiplying (found by fuzz_header_values) */
            return CR_EPARAM;
        total += v * unit + frac * unit / 1000;
        if (total > limit)
            return CR_EPARAM;
    }
    *ms = total;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i < len && (s[*i] == c || (c == 'T' && (s[*i] == 't' || s[*i] == ' '))))
        return (*i)++, 1;
    return 0;
}

static int fixed(const char *s, size_t len, size_t *i, int n, int64_t *out)
{
    int got;
    size_t start = *i;
    int64_t v = digits(s, start + (size_t)n <= len ? start + (size_t)n : len, i, &got);
    if (v < 0 || got != n)
        return 0;
    *out = v;
    return 1;
}

static int parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    int64_t y, mo, d, h, mi, se, off = 0;
    if (!fixed(s, len, &i, 4, &y) || !expect(s, len, &i, '-') || !fixed(s, len, &i, 2, &mo) ||
        !expect(s, len, &i, '-') || !fixed(s, len, &i, 2, &d) || !expect(s, len, &i, 'T') ||
        !fixed(s, len, &i, 2, &h) || !expect(s, len, &i, ':') || !fixed(s, len, &i, 2, &mi) ||
        !expect(s, len, &i, ':') || !fixed(s, len, &i, 2, &se))
        return CR_EPARAM;
    int64_t frac = fraction_ms(s, len, &i);
    if (frac < 0 || i >= len)
        return CR_EPARAM;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return CR_EPARAM;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int sign = s[i] == '-' ? -1 : 1;
        int64_t oh, om;
        i++;
        if (!fixed(s, len, &i, 2, &oh) || !expect(s, len, &i, ':') || !fixed(s, len, &i, 2, &om) || oh > 23 ||
            om > 59)
            return CR_EPARAM;
        off = sign * (oh * 60 + om) * 60;
    } else {
        return CR_EPARAM;
    }
    if (i != len)
        return CR_EPARAM;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (se > 59 ? 59 : se) - off;
    *ms = secs * 1000 + frac;
    return 0;
}

int cr_sched_parse_at(const char *s, size_t len, int64_t *ms)
{
    if (len == 0)
        return CR_EPARAM;
    if (memchr(s, '-', len) || memchr(s, 'T', len))
        return parse_rfc3339(s, len, ms);
    size_t i = 0;
    int64_t v = digits(s, len, &i, NULL);
    int64_t frac = fraction_ms(s, len, &i);
    if (v < 0 || frac < 0 || i != len)
        return CR_EPARAM;
    *ms = v * 1000 + frac;
    return 0;
}

size_t cr_sched_format_rfc3339(int64_t ms, char *buf)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t msec = ms - secs * 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    /* civil_from_days, the inverse of days_from_civil */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    int n = snprintf(buf, 32, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", (long long)y, (long long)m,
                     (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60),
                     (long long)msec);
    return (size_t)n;
}
