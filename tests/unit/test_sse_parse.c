/* Unit tests for the client-side SSE parser. Every stream from the WHATWG/WPT vectors
 * (copied below from reference/vectors/sse_event_stream.json, which Chromium 156 agreed with)
 * is fed whole, split at every point and one byte at a time, each piece ending on a PROT_NONE
 * guard page; the events, last event ID and retry value must not depend on the schedule.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "proto/sse_parse.h"
#include "test_util.h"

#define S(lit) lit, sizeof(lit) - 1
#define MAX_EVENTS 8

typedef struct want_event {
    const char *type;
    const char *data;
    size_t data_len;
    const char *id;
} want_event_t;

typedef struct vector {
    const char *name;
    const char *wire;
    size_t wire_len;
    size_t nevents;
    want_event_t events[MAX_EVENTS];
    long long retry_ms; /* -1: no valid retry field */
    const char *last_id;
} vector_t;

/* From sse_event_stream.json: name, wire bytes, expected events {type, data, lastEventId},
 * final_reconnection_time_ms (null -> -1), final_last_event_id_buffer. */
static const vector_t vectors[] = {
    {"spec-yhoo", S("data: YHOO\ndata: +2\ndata: 10\n\n"), 1, {{"message", S("YHOO\n+2\n10"), ""}}, -1, ""},
    {"spec-four-blocks",
     S(": test stream\n\ndata: first event\nid: 1\n"
       "\ndata:second event\nid\n\ndata:  third event\n"
       "\n"),
     3,
     {{"message", S("first event"), "1"},
      {"message", S("second event"), ""},
      {"message", S(" third event"), ""}},
     -1,
     ""},
    {"spec-empty-data-lines",
     S("data\n\ndata\ndata\n\ndata:"),
     2,
     {{"message", S(""), ""}, {"message", S("\n"), ""}},
     -1,
     ""},
    {"spec-one-space-removed",
     S("data:test\n\ndata: test\n\n"),
     2,
     {{"message", S("test"), ""}, {"message", S("test"), ""}},
     -1,
     ""},
    {"wpt-format-bom",
     S("\357\273\277data:1\n\n\357\273\277data:2\n"
       "\ndata:3\n\n\n"),
     2,
     {{"message", S("1"), ""}, {"message", S("3"), ""}},
     -1,
     ""},
    {"wpt-format-newlines",
     S("data:test\r\ndata\ndata:test\r\n\r\n"),
     1,
     {{"message", S("test\n\ntest"), ""}},
     -1,
     ""},
    {"wpt-format-utf-8", S("data:ok\342\200\246\n\n\n"), 1, {{"message", S("ok\342\200\246"), ""}}, -1, ""},
    {"id-with-nul-ignored",
     S("id: 1\ndata: a\n\nid: x\000y\ndata: b\n\n"),
     2,
     {{"message", S("a"), "1"}, {"message", S("b"), "1"}},
     -1,
     "1"},
    {"retry-digits-only",
     S("retry:03000\ndata:x\n\nretry:1000x\ndata:y\n"
       "\n"),
     2,
     {{"message", S("x"), ""}, {"message", S("y"), ""}},
     3000,
     ""},
    {"event-type-reset-after-dispatch",
     S("event: add\ndata: 1\n\ndata: 2\n\n"),
     2,
     {{"add", S("1"), ""}, {"message", S("2"), ""}},
     -1,
     ""},
    {"id-only-block-sets-last-id", S("id: 7\n\ndata: z\n\n"), 1, {{"message", S("z"), "7"}}, -1, "7"},
    {"field-names-case-sensitive",
     S("Data: no\nDATA: no\nfoo: bar\ndata: yes\n"
       "\n"),
     1,
     {{"message", S("yes"), ""}},
     -1,
     ""},
    {"colon-in-value", S("data: a:b: c\n\n"), 1, {{"message", S("a:b: c"), ""}}, -1, ""},
    {"field-without-colon", S("data\ndata\n\n"), 1, {{"message", S("\n"), ""}}, -1, ""},
    {"cr-only-line-endings", S("data: a\rdata: b\r\r"), 1, {{"message", S("a\nb"), ""}}, -1, ""},
    {"eof-mid-event-discarded",
     S("data: complete\n\ndata: partial\n"),
     1,
     {{"message", S("complete"), ""}},
     -1,
     ""},
    {"wpt-format-field-parsing",
     S("data:\000\ndata:  2\rData:1\ndata\000:2\n"
       "data:1\r\000data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n"
       " data:32\ndata:4\n\n"),
     1,
     {{"message", S("\000\n 2\n1\n3\n\n4"), ""}},
     -1,
     ""},
    {"wpt-format-comments",
     S("data:1\r:\000\n:\r\ndata:2\n:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxx\rdata:3\n:data:fail\r:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxx\ndata:4\n\n"),
     1,
     {{"message", S("1\n2\n3\n4"), ""}},
     -1,
     ""},
    {"wpt-format-null-character", S("data:\000\n\n\n\n\n"), 1, {{"message", S("\000"), ""}}, -1, ""},
    {"wpt-format-leading-space",
     S("data:\ttest\rdata: \ndata:test\n\n\n"),
     1,
     {{"message", S("\ttest\n\ntest"), ""}},
     -1,
     ""},
};

/* --- the collecting callback and the feeder -------------------------------------------------------- */

typedef struct got_event {
    char *type, *data, *id;
    size_t type_len, data_len, id_len;
} got_event_t;

typedef struct feed_ctx {
    cr_sse_parser_t p;
    size_t max_event;
    const char *schedule;
    got_event_t ev[MAX_EVENTS];
    size_t nev;
    int err; /* first error, or 0 */
    /* expectations, checked at the end of every schedule */
    const vector_t *want;
    int want_err;
} feed_ctx_t;

static char *dup_bytes(const char *s, size_t n)
{
    char *d = cr_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void on_event(void *arg, const cr_sse_event_t *ev)
{
    feed_ctx_t *c = arg;
    if (c->nev == MAX_EVENTS)
        fail_msg("%s: more than %d events", c->schedule, MAX_EVENTS);
    /* The parser promises NUL-terminated views. */
    assert_int_equal(ev->type[ev->type_len], '\0');
    assert_int_equal(ev->data[ev->data_len], '\0');
    assert_int_equal(ev->id[ev->id_len], '\0');
    got_event_t *g = &c->ev[c->nev++];
    g->type = dup_bytes(ev->type, ev->type_len);
    g->type_len = ev->type_len;
    g->data = dup_bytes(ev->data, ev->data_len);
    g->data_len = ev->data_len;
    g->id = dup_bytes(ev->id, ev->id_len);
    g->id_len = ev->id_len;
}

static void clear_events(feed_ctx_t *c)
{
    for (size_t i = 0; i < c->nev; i++) {
        free(c->ev[i].type);
        free(c->ev[i].data);
        free(c->ev[i].id);
    }
    c->nev = 0;
}

static void feed_begin(void *arg, const char *schedule)
{
    feed_ctx_t *c = arg;
    cr_sse_parser_init(&c->p, c->max_event, on_event, c);
    c->schedule = schedule;
    c->err = 0;
    clear_events(c);
}

static void feed_piece(void *arg, char *piece, size_t len, size_t off)
{
    feed_ctx_t *c = arg;
    (void)off;
    int rc = cr_sse_parser_feed(&c->p, piece, len);
    if (c->err) {
        assert_int_equal(rc, c->err); /* errors are sticky */
        return;
    }
    c->err = rc;
}

static void feed_end(void *arg)
{
    feed_ctx_t *c = arg;
    const vector_t *w = c->want;
    if (c->err != c->want_err)
        fail_msg("%s (%s): ended with %d, want %d", w->name, c->schedule, c->err, c->want_err);
    if (c->nev != w->nevents)
        fail_msg("%s (%s): %zu events, want %zu", w->name, c->schedule, c->nev, w->nevents);
    for (size_t i = 0; i < c->nev; i++) {
        const got_event_t *g = &c->ev[i];
        const want_event_t *e = &w->events[i];
        if (g->type_len != strlen(e->type) || memcmp(g->type, e->type, g->type_len) != 0)
            fail_msg("%s (%s): event %zu type '%s', want '%s'", w->name, c->schedule, i, g->type, e->type);
        if (g->data_len != e->data_len || memcmp(g->data, e->data, g->data_len) != 0)
            fail_msg("%s (%s): event %zu data '%s' (%zu bytes), want '%s' (%zu)", w->name, c->schedule, i,
                     g->data, g->data_len, e->data, e->data_len);
        if (g->id_len != strlen(e->id) || memcmp(g->id, e->id, g->id_len) != 0)
            fail_msg("%s (%s): event %zu id '%s', want '%s'", w->name, c->schedule, i, g->id, e->id);
    }
    if (c->p.retry_ms != w->retry_ms)
        fail_msg("%s (%s): retry %lld, want %lld", w->name, c->schedule, c->p.retry_ms, w->retry_ms);
    if (c->p.last_id.len != strlen(w->last_id) ||
        (c->p.last_id.len && memcmp(c->p.last_id.data, w->last_id, c->p.last_id.len) != 0))
        fail_msg("%s (%s): last id '%.*s', want '%s'", w->name, c->schedule, (int)c->p.last_id.len,
                 c->p.last_id.data ? c->p.last_id.data : "", w->last_id);
    cr_sse_parser_free(&c->p);
    clear_events(c);
}

static const tu_feed_ops_t feed_ops = {feed_begin, feed_piece, feed_end};

/* Runs v under every schedule; returns the number of schedules. */
static size_t check_vector(const vector_t *v, size_t max_event, int want_err)
{
    feed_ctx_t c;
    memset(&c, 0, sizeof(c));
    c.max_event = max_event;
    c.want = v;
    c.want_err = want_err;
    return tu_feed(v->wire, v->wire_len, &feed_ops, &c);
}

/* --- tests ----------------------------------------------------------------------------------------- */

static void test_vectors(void **state)
{
    (void)state;
    size_t runs = 0;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        runs += check_vector(&vectors[i], 16u << 20, 0);
    assert_int_equal(sizeof(vectors) / sizeof(vectors[0]), 20);
    print_message("%zu vectors, %zu schedules\n", sizeof(vectors) / sizeof(vectors[0]), runs);
}

/* The vectors again with no bound (max_event 0): the result must not change. */
static void test_vectors_unbounded(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        check_vector(&vectors[i], 0, 0);
}

static void test_crlf_across_feeds(void **state)
{
    (void)state;
    feed_ctx_t c;
    memset(&c, 0, sizeof(c));
    cr_sse_parser_init(&c.p, 0, on_event, &c);
    c.schedule = "manual";
    /* CR ends one feed, LF starts the next: one line end, so "data:b" is not preceded by a blank line. */
    assert_int_equal(cr_sse_parser_feed(&c.p, "data:a\r", 7), 0);
    assert_int_equal(cr_sse_parser_feed(&c.p, "\ndata:b\r", 8), 0);
    assert_int_equal(c.nev, 0);
    /* An empty feed between CR and LF changes nothing either. */
    assert_int_equal(cr_sse_parser_feed(&c.p, "", 0), 0);
    assert_int_equal(cr_sse_parser_feed(&c.p, "\n", 1), 0);
    assert_int_equal(c.nev, 0);
    assert_int_equal(cr_sse_parser_feed(&c.p, "\r", 1), 0);
    assert_int_equal(c.nev, 1);
    assert_string_equal(c.ev[0].data, "a\nb");
    /* CR CR is two line ends: the LF after the second CR belongs to it, not to a third line. */
    assert_int_equal(cr_sse_parser_feed(&c.p, "data:c\r\r\n", 9), 0);
    assert_int_equal(c.nev, 2);
    assert_string_equal(c.ev[1].data, "c");
    cr_sse_parser_free(&c.p);
    clear_events(&c);
}

static const vector_t extra[] = {
    /* A BOM cut short is ordinary content: "\xEF\xBBdata" is an unknown field. */
    {"partial-bom", S("\357\273data:1\n\ndata:2\n\n"), 1, {{"message", S("2"), ""}}, -1, ""},
    {"bom-then-comment", S("\357\273\277:hi\ndata:1\n\n"), 1, {{"message", S("1"), ""}}, -1, ""},
    {"bom-only", S("\357\273\277"), 0, {{NULL, NULL, 0, NULL}}, -1, ""},
    /* An id that is never dispatched does not move the last event ID. */
    {"id-without-dispatch", S("id: 1\ndata: a\n\nid: 2\ndata: b\n"), 1, {{"message", S("a"), "1"}}, -1, "1"},
    /* The event type is per event, the id sticky; a bare "event" means the default type. */
    {"named-and-sticky",
     S("event: crier-gap\nid: 5-0\ndata: {}\n\nevent\ndata: x\n\n"),
     2,
     {{"crier-gap", S("{}"), "5-0"}, {"message", S("x"), "5-0"}},
     -1,
     "5-0"},
    /* The crier server's preamble, then a compound id. */
    {"crier-stream",
     S(": crier\nretry: 3000\n\n:\nid: 1795736418134-0,1795736418135-2\ndata: hello\ndata: world\n\n"),
     1,
     {{"message", S("hello\nworld"), "1795736418134-0,1795736418135-2"}},
     3000,
     "1795736418134-0,1795736418135-2"},
    /* Bogus retry values keep the previous one; a huge one saturates. */
    {"retry-bogus",
     S("retry: 10\nretry:\nretry: -5\nretry: 1e3\nretry: 20 \n"),
     0,
     {{NULL, NULL, 0, NULL}},
     10,
     ""},
    {"retry-huge",
     S("retry: 99999999999999999999999999\n"),
     0,
     {{NULL, NULL, 0, NULL}},
     9223372036854775807LL,
     ""},
    /* A data value keeps everything after the one space, trailing spaces and CR-free bytes included. */
    {"value-bytes", S("data:   a b  \ndata:\t\n\n"), 1, {{"message", S("  a b  \n\t"), ""}}, -1, ""},
    /* Long comments cost nothing and never trip the bound. */
    {"long-comment",
     S(":xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\ndata:ok\n\n"),
     1,
     {{"message", S("ok"), ""}},
     -1,
     ""},
};

static void test_extra(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        check_vector(&extra[i], 16u << 20, 0);
        check_vector(&extra[i], 64, 0); /* every event above fits in 64 bytes */
    }
}

static void test_max_event(void **state)
{
    (void)state;
    /* "data: 0123456789" is 16 bytes: it fits a bound of 16 and fails 15, under every schedule,
     * after the first (small) event is delivered. */
    static const vector_t ok = {"bound-16", S("data:a\n\ndata: 0123456789\n\n"),
                                2,          {{"message", S("a"), ""}, {"message", S("0123456789"), ""}},
                                -1,         ""};
    check_vector(&ok, 16, 0);
    static const vector_t over = {
        "bound-15", S("data:a\n\ndata: 0123456789\n\ndata:b\n\n"), 1, {{"message", S("a"), ""}}, -1, ""};
    check_vector(&over, 15, CR_EBODYTOOBIG);

    /* The pending data counts: a line of 8 bytes fits 15 alone, not on top of 8 pending bytes. */
    static const vector_t acc = {
        "bound-acc", S("data:abc\ndata:def\ndata:ghi\n\n"), 0, {{NULL, NULL, 0, NULL}}, -1, ""};
    check_vector(&acc, 15, CR_EBODYTOOBIG);
    static const vector_t acc_ok = {"bound-acc-ok",
                                    S("data:abc\ndata:def\ndata:ghi\n\n"),
                                    1,
                                    {{"message", S("abc\ndef\nghi"), ""}},
                                    -1,
                                    ""};
    check_vector(&acc_ok, 16, 0);

    /* A line cut off at the end of the stream is bounded too. */
    static const vector_t cut = {
        "bound-cut", S("data:a\n\ndata: 0123456789"), 1, {{"message", S("a"), ""}}, -1, ""};
    check_vector(&cut, 15, CR_EBODYTOOBIG);
}

static void test_reset(void **state)
{
    (void)state;
    feed_ctx_t c;
    memset(&c, 0, sizeof(c));
    c.schedule = "reset";
    cr_sse_parser_init(&c.p, 12, on_event, &c);
    const char *a = "retry: 500\nid: 7-1\ndata: x\n\ndata: pending";
    assert_int_equal(cr_sse_parser_feed(&c.p, a, strlen(a)), CR_EBODYTOOBIG);
    assert_int_equal(c.nev, 1);
    assert_int_equal(cr_sse_parser_feed(&c.p, "\n\n", 2), CR_EBODYTOOBIG);

    /* A new stream: error, partial line and pending data are gone; last id and retry stay, a BOM is
     * stripped again, and an event without "id:" still reports the last id. */
    cr_sse_parser_reset(&c.p);
    assert_int_equal(c.p.retry_ms, 500);
    assert_int_equal(c.p.last_id.len, 3);
    assert_int_equal(cr_sse_parser_feed(&c.p, "\357\273\277data: y\n\n", 12), 0);
    assert_int_equal(c.nev, 2);
    assert_string_equal(c.ev[1].data, "y");
    assert_string_equal(c.ev[1].id, "7-1");

    /* A CR that ended the old stream does not eat the new stream's first LF. */
    assert_int_equal(cr_sse_parser_feed(&c.p, "data: z\r", 8), 0);
    cr_sse_parser_reset(&c.p);
    assert_int_equal(cr_sse_parser_feed(&c.p, "\ndata: w\n\n", 10), 0);
    assert_int_equal(c.nev, 3);
    assert_string_equal(c.ev[2].data, "w");

    /* free then init again works. */
    cr_sse_parser_free(&c.p);
    cr_sse_parser_init(&c.p, 0, on_event, &c);
    assert_int_equal(c.p.retry_ms, -1);
    assert_int_equal(c.p.last_id.len, 0);
    cr_sse_parser_free(&c.p);
    clear_events(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),           cmocka_unit_test(test_vectors_unbounded),
        cmocka_unit_test(test_crlf_across_feeds), cmocka_unit_test(test_extra),
        cmocka_unit_test(test_max_event),         cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
