/* libFuzzer target for the client-side SSE parser. Byte 0 picks max_event (0: no bound), byte 1
 * a piece size; the rest is the stream. It is parsed whole, in pieces of that size and one byte at
 * a time, each piece copied to an exactly sized heap block so ASan sees any read past it: the
 * events, the last event ID, the retry value and the error must agree, since a parser whose answer
 * depends on read boundaries would drop or invent events on a real network.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "proto/sse_parse.h"
#include "fuzz_check.h"

typedef struct result {
    cr_buf_t log; /* every event as len-prefixed type, data and id */
    size_t max_event;
    int err;
    long long retry_ms;
    cr_buf_t last_id;
} result_t;

static void put_field(cr_buf_t *log, const char *s, size_t n)
{
    cr_buf_append(log, &n, sizeof(n));
    cr_buf_append(log, s, n);
}

static void on_event(void *arg, const cr_sse_event_t *ev)
{
    result_t *r = arg;
    /* Everything held came from lines within the bound; the default type "message" did not. */
    check(ev->data_len <= r->max_event && ev->id_len <= r->max_event);
    check(ev->type_len <= r->max_event || (ev->type_len == 7 && memcmp(ev->type, "message", 7) == 0));
    check(ev->type_len > 0 && ev->type[ev->type_len] == '\0');
    check(ev->data[ev->data_len] == '\0' && ev->id[ev->id_len] == '\0');
    check(memchr(ev->id, '\0', ev->id_len) == NULL);
    put_field(&r->log, ev->type, ev->type_len);
    put_field(&r->log, ev->data, ev->data_len);
    put_field(&r->log, ev->id, ev->id_len);
}

static void run(result_t *r, const char *in, size_t len, size_t max_event, size_t step)
{
    memset(r, 0, sizeof(*r));
    r->max_event = max_event ? max_event : SIZE_MAX;
    cr_sse_parser_t p;
    cr_sse_parser_init(&p, max_event, on_event, r);
    size_t off = 0;
    while (off < len) {
        size_t n = step == 0 || step > len - off ? len - off : step;
        char *piece = malloc(n);
        memcpy(piece, in + off, n);
        int rc = cr_sse_parser_feed(&p, piece, n);
        free(piece);
        check(rc == 0 || rc == CR_EBODYTOOBIG);
        if (rc) {
            check(cr_sse_parser_feed(&p, "data:x\n\n", 8) == rc); /* sticky */
            r->err = rc;
            break;
        }
        off += n;
    }
    r->retry_ms = p.retry_ms;
    cr_buf_append(&r->last_id, p.last_id.data, p.last_id.len);

    /* After a reset the parser must be usable again and keep the last id. */
    size_t before = r->log.len;
    cr_sse_parser_reset(&p);
    check(cr_sse_parser_feed(&p, "data:z\n\n", 8) == 0 || max_event);
    check(p.last_id.len == r->last_id.len);
    r->log.len = before;
    cr_sse_parser_free(&p);
}

static int same(const cr_buf_t *a, const cr_buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_event = (size_t)data[0] * 4;
    size_t step = data[1] ? data[1] : 1;
    const char *in = (const char *)data + 2;
    size_t len = size - 2;

    result_t whole, pieces, bytes;
    run(&whole, in, len, max_event, 0);
    run(&pieces, in, len, max_event, step);
    run(&bytes, in, len, max_event, 1);

    check(whole.err == pieces.err && whole.err == bytes.err);
    check(same(&whole.log, &pieces.log) && same(&whole.log, &bytes.log));
    check(same(&whole.last_id, &pieces.last_id) && same(&whole.last_id, &bytes.last_id));
    check(whole.retry_ms == pieces.retry_ms && whole.retry_ms == bytes.retry_ms);
    check(whole.retry_ms >= -1);

    result_t *all[3] = {&whole, &pieces, &bytes};
    for (int i = 0; i < 3; i++) {
        cr_buf_free(&all[i]->log);
        cr_buf_free(&all[i]->last_id);
    }
    return 0;
}
