/* Unit tests for Accept negotiation: weights, wildcards, specificity, tie-breaks, and malformed
 * headers that must neither crash nor match. Every header is placed right before a PROT_NONE guard
 * page, and every prefix of every header is tried too, so a parser reading past the end crashes.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/accept.h"
#include "test_util.h"

static tu_guard_t guard = TU_GUARD_INIT;

static cr_span_t guarded(const char *s, size_t len)
{
    return (cr_span_t){tu_guard_copy(&guard, s, len), len};
}

/* The offers crier's pick_transport makes, in its order. */
static const char *const push_offers[] = {"*/*", "text/event-stream", "application/x-ndjson",
                                          "multipart/x-mixed-replace", "multipart/mixed"};
enum { LONGPOLL, SSE, NDJSON, REPLACE, MIXED, NONE = -1 };

struct quality_case {
    int line;
    const char *accept, *offer;
    int found;
    unsigned q;
    int spec;
};

static const struct quality_case quality_cases[] = {
    {__LINE__, "text/event-stream", "text/event-stream", 1, 1000, CR_ACCEPT_EXACT},
    {__LINE__, "TEXT/Event-Stream", "text/event-stream", 1, 1000, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream", "TEXT/EVENT-STREAM", 1, 1000, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0.9", "text/event-stream", 1, 900, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream ; Q=0.25", "text/event-stream", 1, 250, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=1.000", "text/event-stream", 1, 1000, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0.001", "text/event-stream", 1, 1, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0", "text/event-stream", 1, 0, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0.", "text/event-stream", 1, 0, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=1.", "text/event-stream", 1, 1000, CR_ACCEPT_EXACT},
    {__LINE__, "text/*;q=0.5", "text/event-stream", 1, 500, CR_ACCEPT_TYPE},
    {__LINE__, "*/*;q=0.8", "text/event-stream", 1, 800, CR_ACCEPT_ANY},
    {__LINE__, "*/*", "*/*", 1, 1000, CR_ACCEPT_ANY},
    {__LINE__, "text/*", "*/*", 0, 0, -1},
    {__LINE__, "text/plain", "*/*", 0, 0, -1},
    /* the most specific range decides, whatever the order and the weights */
    {__LINE__, "*/*;q=0.1, text/*;q=0.2, text/event-stream;q=0.3", "text/event-stream", 1, 300,
     CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0.3, text/*, */*", "text/event-stream", 1, 300, CR_ACCEPT_EXACT},
    {__LINE__, "text/*;q=0.4, */*", "text/plain", 1, 400, CR_ACCEPT_TYPE},
    /* equally specific: the first counts */
    {__LINE__, "text/plain;q=0.2, text/plain;q=0.9", "text/plain", 1, 200, CR_ACCEPT_EXACT},
    /* parameters: checked, not matched; the q among them; quoted values may hold , and ; */
    {__LINE__, "text/event-stream;charset=utf-8;q=0.7", "text/event-stream", 1, 700, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;a=\"x, y; q=0\";q=0.6", "text/event-stream", 1, 600, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;a=\"say \\\"hi\\\", q=0\"", "text/event-stream", 1, 1000, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0.5;ext=1", "text/event-stream", 1, 500, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;;q=0.5;", "text/event-stream", 1, 500, CR_ACCEPT_EXACT},
    /* list syntax: empty elements and optional whitespace */
    {__LINE__, " ,\t, text/plain , ,text/event-stream\t;\tq=0.4 ,", "text/event-stream", 1, 400,
     CR_ACCEPT_EXACT},
    {__LINE__, "", "text/event-stream", 0, 0, -1},
    {__LINE__, " , ,", "text/event-stream", 0, 0, -1},
    /* a different type or subtype, a prefix, a longer name: no match */
    {__LINE__, "text/event-streams", "text/event-stream", 0, 0, -1},
    {__LINE__, "text/event", "text/event-stream", 0, 0, -1},
    {__LINE__, "application/*", "text/event-stream", 0, 0, -1},
    {__LINE__, "text/event-stream", "text", 0, 0, -1},
};

/* Each malformed element must match nothing, for any offer, even star/star. */
static const char *const malformed[] = {
    "text",
    "text/",
    "/event-stream",
    "text /event-stream",
    "text/ event-stream",
    "text/event stream",
    "*/event-stream",
    "te\"xt/plain",
    "text/event-stream;q=1.001",
    "text/event-stream;q=2",
    "text/event-stream;q=0.0001",
    "text/event-stream;q=.5",
    "text/event-stream;q=-0",
    "text/event-stream;q=\"0.5\"",
    "text/event-stream;q=0.5;q=0.5",
    "text/event-stream;q",
    "text/event-stream;q=",
    "text/event-stream;q = 0.5",
    "text/event-stream;=0.5",
    "text/event-stream;a=\"unterminated",
    "text/event-stream;a=\"bad\x01\"",
    "text/event-stream;a=\"x\"y",
    "text/event-stream garbage",
    "text/event-stream;a=b c",
    "text/event-stream\x00",
    "*/*;q=x",
    "\xff/\xfe",
};

static void test_quality(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(quality_cases) / sizeof(quality_cases[0]); i++) {
        const struct quality_case *c = &quality_cases[i];
        unsigned q = 12345;
        int spec = 99;
        int r = cr_accept_quality(guarded(c->accept, strlen(c->accept)), c->offer, &q, &spec);
        if (r != c->found || q != c->q || spec != c->spec)
            fail_msg("line %d: \"%s\" for %s gave found=%d q=%u spec=%d, want %d %u %d", c->line, c->accept,
                     c->offer, r, q, spec, c->found, c->q, c->spec);
    }
}

static void test_malformed_never_match(void **state)
{
    (void)state;
    const char *offers[] = {"*/*", "text/event-stream", "text/plain", "text/*"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        /* strlen would stop at the embedded NUL; that case spells out its length */
        size_t len = strlen(malformed[i]) + (strcmp(malformed[i], "text/event-stream") == 0);
        for (size_t k = 0; k < 4; k++) {
            unsigned q = 7;
            int spec = 7;
            if (cr_accept_quality(guarded(malformed[i], len), offers[k], &q, &spec) != 0 || q != 0 ||
                spec != -1)
                fail_msg("malformed \"%s\" matched %s (q=%u spec=%d)", malformed[i], offers[k], q, spec);
        }
        cr_accept_match_t m = {99, 99, 99};
        assert_int_equal(cr_accept_best(guarded(malformed[i], len), push_offers, 5, &m), 0);
        assert_int_equal(m.offer, 99);
    }
}

/* A malformed element is skipped: the well-formed ones around it still count, except after an
 * unterminated quoted-string, which swallows the rest of the header. */
static void test_malformed_skipped(void **state)
{
    (void)state;
    char buf[256];
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        if (strchr(malformed[i], ',') || strchr(malformed[i], '"'))
            continue;
        int n = snprintf(buf, sizeof(buf), "text/plain;q=0.3, %s, multipart/mixed;q=0.2", malformed[i]);
        unsigned q;
        int spec;
        assert_int_equal(cr_accept_quality(guarded(buf, (size_t)n), "text/plain", &q, &spec), 1);
        assert_int_equal(q, 300);
        assert_int_equal(cr_accept_quality(guarded(buf, (size_t)n), "multipart/mixed", &q, &spec), 1);
        assert_int_equal(q, 200);
    }
    const char *swallow = "text/plain;a=\"open, text/event-stream";
    assert_int_equal(cr_accept_quality(guarded(swallow, strlen(swallow)), "text/event-stream", NULL, NULL),
                     0);
    assert_int_equal(cr_accept_quality(guarded(swallow, strlen(swallow)), "text/plain", NULL, NULL), 0);
}

struct best_case {
    int line;
    const char *accept;
    int offer; /* index into push_offers, or NONE */
    int spec;
};

static const struct best_case best_cases[] = {
    {__LINE__, "*/*", LONGPOLL, CR_ACCEPT_ANY},
    /* browsers' defaults: <img>, an iframe, EventSource, fetch() */
    {__LINE__, "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", LONGPOLL, CR_ACCEPT_ANY},
    {__LINE__,
     "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
     "application/signed-exchange;v=b3;q=0.7",
     LONGPOLL, CR_ACCEPT_ANY},
    {__LINE__, "text/event-stream", SSE, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0.9", SSE, CR_ACCEPT_EXACT},
    {__LINE__, "TEXT/Event-Stream", SSE, CR_ACCEPT_EXACT},
    {__LINE__, "multipart/mixed, */*;q=0.1", MIXED, CR_ACCEPT_EXACT},
    {__LINE__, "application/x-ndjson", NDJSON, CR_ACCEPT_EXACT},
    {__LINE__, "multipart/x-mixed-replace", REPLACE, CR_ACCEPT_EXACT},
    /* an exact name beats star/star at the same weight (specificity), not at a lower one (q) */
    {__LINE__, "text/event-stream, */*", SSE, CR_ACCEPT_EXACT},
    {__LINE__, "text/event-stream;q=0.5, */*", LONGPOLL, CR_ACCEPT_ANY},
    /* equal weight and specificity: the server's order */
    {__LINE__, "multipart/mixed, application/x-ndjson, text/event-stream", SSE, CR_ACCEPT_EXACT},
    {__LINE__, "multipart/mixed;q=0.9, application/x-ndjson;q=0.8", MIXED, CR_ACCEPT_EXACT},
    {__LINE__, "application/json, text/event-stream", SSE, CR_ACCEPT_EXACT},
    /* type wildcards reach the streams, only as TYPE matches (pick_transport declines those) */
    {__LINE__, "text/*", SSE, CR_ACCEPT_TYPE},
    {__LINE__, "multipart/*", REPLACE, CR_ACCEPT_TYPE},
    /* q=0 is "not acceptable" */
    {__LINE__, "text/event-stream;q=0", NONE, -1},
    {__LINE__, "*/*;q=0, text/event-stream;q=0", NONE, -1},
    {__LINE__, "*/*, text/event-stream;q=0", LONGPOLL, CR_ACCEPT_ANY},
    {__LINE__, "text/event-stream;q=0, application/x-ndjson;q=0.1", NDJSON, CR_ACCEPT_EXACT},
    {__LINE__, "text/html", NONE, -1},
    {__LINE__, "", NONE, -1},
};

static void test_best(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(best_cases) / sizeof(best_cases[0]); i++) {
        const struct best_case *c = &best_cases[i];
        cr_accept_match_t m = {99, 99, 99};
        int r = cr_accept_best(guarded(c->accept, strlen(c->accept)), push_offers, 5, &m);
        int got = r ? (int)m.offer : NONE;
        if (got != c->offer || (r && m.spec != c->spec) || (!r && m.offer != 99))
            fail_msg("line %d: \"%s\" gave %d (spec %d), want %d (spec %d)", c->line, c->accept, got,
                     r ? m.spec : -1, c->offer, c->spec);
    }
}

static void test_no_offers(void **state)
{
    (void)state;
    cr_accept_match_t m;
    assert_int_equal(cr_accept_best(guarded("*/*", 3), push_offers, 0, &m), 0);
}

/* Every prefix of every header: within bounds (the guard page), and the weight stays in 0..1000. */
static void test_prefixes(void **state)
{
    (void)state;
    const char
        *all[sizeof(quality_cases) / sizeof(quality_cases[0]) + sizeof(malformed) / sizeof(malformed[0])];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(quality_cases) / sizeof(quality_cases[0]); i++)
        all[n++] = quality_cases[i].accept;
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        all[n++] = malformed[i];
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(all[i]);
        for (size_t cut = 0; cut <= len; cut++) {
            unsigned q = 0;
            int spec = -1;
            int r = cr_accept_quality(guarded(all[i], cut), "text/event-stream", &q, &spec);
            assert_true(q <= 1000);
            assert_true(r ? spec >= CR_ACCEPT_ANY && spec <= CR_ACCEPT_EXACT : (spec == -1 && q == 0));
            cr_accept_match_t m;
            if (cr_accept_best(guarded(all[i], cut), push_offers, 5, &m))
                assert_true(m.offer < 5 && m.q >= 1 && m.q <= 1000);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quality),           cmocka_unit_test(test_malformed_never_match),
        cmocka_unit_test(test_malformed_skipped), cmocka_unit_test(test_best),
        cmocka_unit_test(test_no_offers),         cmocka_unit_test(test_prefixes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_guard_free(&guard);
    return rc;
}
