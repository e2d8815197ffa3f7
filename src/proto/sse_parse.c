/* Incremental text/event-stream parser, written from WHATWG HTML §9.2.6
 * ("Interpreting an event stream"). Complete lines are parsed where they lie in
 * the caller's buffer; only a line cut by the end of a feed is copied. It must
 * never read a socket or decide about reconnecting: that is the caller's job.
 * SPDX-License-Identifier: MIT */
#include "proto/sse_parse.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

void cr_sse_parser_init(cr_sse_parser_t *p, size_t max_event, cr_sse_event_cb cb, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->retry_ms = -1;
    p->_max_event = max_event ? max_event : SIZE_MAX;
    p->_cb = cb;
    p->_arg = arg;
}

void cr_sse_parser_reset(cr_sse_parser_t *p)
{
    p->_line.len = 0;
    p->_data.len = 0;
    p->_type.len = 0;
    p->_idbuf.len = 0;
    /* Browsers start each response's ID buffer from the last event ID, so an event
     * without "id:" after a reconnect keeps reporting it. */
    cr_buf_append(&p->_idbuf, p->last_id.data, p->last_id.len);
    p->_bom = 0;
    p->_skip_lf = 0;
    p->_skip_line = 0;
    p->_err = 0;
}

void cr_sse_parser_free(cr_sse_parser_t *p)
{
    cr_buf_free(&p->last_id);
    cr_buf_free(&p->_line);
    cr_buf_free(&p->_data);
    cr_buf_free(&p->_type);
    cr_buf_free(&p->_idbuf);
}

/* A NUL-terminated view of b (which keeps its length). */
static const char *cstr(cr_buf_t *b)
{
    cr_buf_reserve(b, 1);
    b->data[b->len] = '\0';
    return b->data;
}

static void set(cr_buf_t *b, const char *s, size_t n)
{
    b->len = 0;
    cr_buf_append(b, s, n);
}

/* Whether a line of n bytes, on top of what the pending event already holds,
 * stays within max_event. Written so that nothing can overflow. */
static int fits(const cr_sse_parser_t *p, size_t n)
{
    size_t held = p->_data.len + p->_type.len;
    return held <= p->_max_event && n <= p->_max_event - held;
}

static void dispatch(cr_sse_parser_t *p)
{
    /* Step 1 runs even when there is no data: an id-only block moves the last event ID. */
    if (p->last_id.len != p->_idbuf.len ||
        (p->_idbuf.len && memcmp(p->last_id.data, p->_idbuf.data, p->_idbuf.len) != 0))
        set(&p->last_id, p->_idbuf.data, p->_idbuf.len);
    if (p->_data.len == 0) {
        p->_type.len = 0;
        return;
    }
    /* The data buffer ends in the LF appended after its last value: drop it. */
    p->_data.len--;
    cr_sse_event_t ev;
    ev.data = cstr(&p->_data);
    ev.data_len = p->_data.len;
    if (p->_type.len) {
        ev.type = cstr(&p->_type);
        ev.type_len = p->_type.len;
    } else {
        ev.type = "message";
        ev.type_len = 7;
    }
    ev.id = p->last_id.len ? cstr(&p->last_id) : "";
    ev.id_len = p->last_id.len;
    p->_cb(p->_arg, &ev);
    p->_data.len = 0;
    p->_type.len = 0;
}

static int name_is(const char *name, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(name, lit, n) == 0;
}

static void set_retry(cr_sse_parser_t *p, const char *v, size_t n)
{
    if (n == 0)
        return;
    long long ms = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        /* Saturate rather than wrap: a delay this long means "practically never". */
        int d = v[i] - '0';
        ms = ms > (LLONG_MAX - d) / 10 ? LLONG_MAX : ms * 10 + d;
    }
    p->retry_ms = ms;
}

/* One complete line, without its end-of-line bytes. */
static void process_line(cr_sse_parser_t *p, const char *line, size_t n)
{
    if (n == 0) {
        dispatch(p);
        return;
    }
    if (line[0] == ':')
        return;
    const char *colon = memchr(line, ':', n);
    size_t name_len = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t value_len = n - (size_t)(value - line);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_is(line, name_len, "data")) {
        cr_buf_append(&p->_data, value, value_len);
        cr_buf_putc(&p->_data, '\n');
    } else if (name_is(line, name_len, "event")) {
        set(&p->_type, value, value_len);
    } else if (name_is(line, name_len, "id")) {
        if (!memchr(value, '\0', value_len))
            set(&p->_idbuf, value, value_len);
    } else if (name_is(line, name_len, "retry")) {
        set_retry(p, value, value_len);
    }
    /* Any other field is ignored; names are case-sensitive. */
}

static const char *find_eol(const char *s, const char *end)
{
    for (; s < end; s++)
        if (*s == '\n' || *s == '\r')
            return s;
    return NULL;
}

int cr_sse_parser_feed(cr_sse_parser_t *p, const char *buf, size_t len)
{
    if (p->_err)
        return p->_err;
    const char *s = buf, *end = buf + len;

    /* Only the first bytes of a stream may be a BOM; it may arrive split over feeds.
     * A partial match that fails is ordinary line content. */
    while (p->_bom < 3 && s < end) {
        if ((unsigned char)*s == bom[p->_bom]) {
            p->_bom++;
            s++;
            continue;
        }
        cr_buf_append(&p->_line, bom, p->_bom);
        p->_bom = 3;
    }

    while (s < end) {
        if (p->_skip_lf) {
            p->_skip_lf = 0;
            if (*s == '\n') {
                s++;
                continue;
            }
        }
        const char *eol = find_eol(s, end);
        if (p->_skip_line) {
            if (!eol)
                return 0;
            p->_skip_line = 0;
            p->_skip_lf = *eol == '\r';
            s = eol + 1;
            continue;
        }
        if (!eol) {
            /* The line goes on in the next feed. */
            if (p->_line.len == 0 && *s == ':') {
                p->_skip_line = 1;
                return 0;
            }
            size_t n = (size_t)(end - s);
            if (p->_line.len > SIZE_MAX - n || !fits(p, p->_line.len + n)) {
                p->_err = CR_EBODYTOOBIG;
                return p->_err;
            }
            cr_buf_append(&p->_line, s, n);
            return 0;
        }
        size_t n = (size_t)(eol - s);
        const char *line = s;
        if (p->_line.len) {
            if (p->_line.len > SIZE_MAX - n || !fits(p, p->_line.len + n)) {
                p->_err = CR_EBODYTOOBIG;
                return p->_err;
            }
            cr_buf_append(&p->_line, s, n);
            line = p->_line.data;
            n = p->_line.len;
        } else if (n && *s != ':' && !fits(p, n)) {
            p->_err = CR_EBODYTOOBIG;
            return p->_err;
        }
        p->_skip_lf = *eol == '\r';
        s = eol + 1;
        process_line(p, line, n);
        p->_line.len = 0;
    }
    return 0;
}
