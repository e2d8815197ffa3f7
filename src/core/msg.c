/* Messages, their ids and their per-format frame cache.
 * SPDX-License-Identifier: MIT */
#include "core/msg.h"

#include <stdlib.h>

#include "core/err.h"

static _Atomic long live_msgs;

size_t cr_msgid_format(cr_msgid_t id, char *buf)
{
    char tmp[CR_MSGID_MAX_LEN];
    size_t n = 0;
    uint64_t v = id.seq;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tmp[n++] = '-';
    v = id.ms;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return CR_ECURSOR;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CR_ECURSOR;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CR_ECURSOR;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cr_msgid_parse(const char *s, size_t len, cr_msgid_t *out)
{
    size_t dash = 0;
    while (dash < len && s[dash] != '-')
        dash++;
    if (dash == len)
        return CR_ECURSOR;
    cr_msgid_t id;
    if (parse_u64(s, dash, &id.ms) || parse_u64(s + dash + 1, len - dash - 1, &id.seq))
        return CR_ECURSOR;
    *out = id;
    return 0;
}

cr_msgid_t cr_msgid_next(cr_msgid_t last, uint64_t now_ms)
{
    if (now_ms > last.ms)
        return (cr_msgid_t){now_ms, 0};
    /* The clock stood still or went back: keep the last millisecond and count up,
     * so ids stay strictly increasing whatever the clock does. */
    return (cr_msgid_t){last.ms, last.seq + 1};
}

cr_msg_t *cr_msg_new(cr_bytes_t *channel, cr_bytes_t *content_type, cr_bytes_t *event, cr_bytes_t *payload,
                     int64_t time_ms, int64_t expires_ms)
{
    cr_msg_t *m = cr_xcalloc(1, sizeof(*m));
    atomic_init(&m->refcnt, 1);
    m->time_ms = time_ms;
    m->expires_ms = expires_ms;
    m->channel = cr_bytes_ref(channel);
    m->content_type = content_type ? cr_bytes_ref(content_type) : NULL;
    m->event = event ? cr_bytes_ref(event) : NULL;
    m->payload = cr_bytes_ref(payload);
    for (int i = 0; i < CR_WIRE_COUNT; i++)
        atomic_init(&m->frame[i], NULL);
    atomic_fetch_add_explicit(&live_msgs, 1, memory_order_relaxed);
    return m;
}

cr_msg_t *cr_msg_ref(cr_msg_t *m)
{
    atomic_fetch_add_explicit(&m->refcnt, 1, memory_order_relaxed);
    return m;
}

void cr_msg_unref(cr_msg_t *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    cr_bytes_unref(m->channel);
    cr_bytes_unref(m->content_type);
    cr_bytes_unref(m->event);
    cr_bytes_unref(m->payload);
    for (int i = 0; i < CR_WIRE_COUNT; i++)
        cr_bytes_unref(atomic_load_explicit(&m->frame[i], memory_order_relaxed));
    atomic_fetch_sub_explicit(&live_msgs, 1, memory_order_relaxed);
    free(m);
}

cr_bytes_t *cr_msg_frame(cr_msg_t *msg, cr_wire_t w, cr_frame_encode_fn enc)
{
    cr_bytes_t *f = atomic_load_explicit(&msg->frame[w], memory_order_acquire);
    if (f)
        return f;
    cr_bytes_t *mine = enc(msg);
    cr_bytes_t *expected = NULL;
    /* Two threads may race to encode; the loser frees its copy and uses the winner's. */
    if (atomic_compare_exchange_strong_explicit(&msg->frame[w], &expected, mine, memory_order_acq_rel,
                                                memory_order_acquire))
        return mine;
    cr_bytes_unref(mine);
    return expected;
}

long cr_msg_live(void)
{
    return atomic_load_explicit(&live_msgs, memory_order_relaxed);
}
