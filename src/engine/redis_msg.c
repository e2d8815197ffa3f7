/* Decoding messages read back from Redis streams and pub/sub notices.
 * SPDX-License-Identifier: MIT */
#include "engine/redis_msg.h"

#include <string.h>

static int parse_i64(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* One decimal line of a notice; advances *p. */
static int line(const char **p, const char *end, int64_t *out)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl || parse_i64(*p, (size_t)(nl - *p), out) < 0)
        return -1;
    *p = nl + 1;
    return 0;
}

static cr_msg_t *build(cr_bytes_t *channel, cr_msgid_t id, int64_t t, int64_t x, cr_span_t ct, cr_span_t ev,
                       cr_span_t d)
{
    cr_bytes_t *ctype = ct.len ? cr_bytes_copy(ct.ptr, ct.len) : NULL;
    cr_bytes_t *event = ev.len ? cr_bytes_copy(ev.ptr, ev.len) : NULL;
    cr_bytes_t *payload = cr_bytes_copy(d.len ? d.ptr : "", d.len);
    cr_msg_t *m = cr_msg_new(channel, ctype, event, payload, t, x);
    m->id = id;
    cr_bytes_unref(ctype);
    cr_bytes_unref(event);
    cr_bytes_unref(payload);
    return m;
}

cr_msg_t *cr_redis_notice_decode(cr_bytes_t *channel, const char *p, size_t len)
{
    const char *end = p + len;
    const char *nl = memchr(p, '\n', len);
    cr_msgid_t id;
    int64_t t, x, ctlen, evlen;
    if (!nl || cr_msgid_parse(p, (size_t)(nl - p), &id) < 0 || cr_msgid_is_none(id))
        return NULL;
    p = nl + 1;
    if (line(&p, end, &t) < 0 || line(&p, end, &x) < 0 || line(&p, end, &ctlen) < 0 ||
        line(&p, end, &evlen) < 0 || ctlen > end - p || evlen > end - p - ctlen)
        return NULL;
    cr_span_t ct = {p, (size_t)ctlen}, ev = {p + ctlen, (size_t)evlen};
    cr_span_t d = {p + ctlen + evlen, (size_t)(end - p - ctlen - evlen)};
    return build(channel, id, t, x, ct, ev, d);
}

cr_msg_t *cr_redis_entry_decode(cr_bytes_t *channel, cr_span_t idspan, const cr_span_t *fv, size_t n)
{
    cr_msgid_t id;
    if (cr_msgid_parse(idspan.ptr, idspan.len, &id) < 0 || cr_msgid_is_none(id) || n % 2)
        return NULL;
    int64_t t = -1, x = -1;
    cr_span_t ct = {"", 0}, ev = {"", 0}, d = {NULL, 0};
    int have_d = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        cr_span_t k = fv[i], v = fv[i + 1];
        if (k.len != 1)
            continue;
        switch (k.ptr[0]) {
        case 't':
            if (parse_i64(v.ptr, v.len, &t) < 0)
                return NULL;
            break;
        case 'x':
            if (parse_i64(v.ptr, v.len, &x) < 0)
                return NULL;
            break;
        case 'c':
            ct = v;
            break;
        case 'e':
            ev = v;
            break;
        case 'd':
            d = v;
            have_d = 1;
            break;
        default:
            break;
        }
    }
    if (t < 0 || x < 0 || !have_d)
        return NULL;
    return build(channel, id, t, x, ct, ev, d);
}
