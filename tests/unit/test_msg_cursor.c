/* Unit tests: message ids, the frame cache, cursors and since parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/msg.h"

static void test_msgid_format_parse(void **state)
{
    (void)state;
    char buf[CR_MSGID_MAX_LEN];
    cr_msgid_t id = {1700000000123ULL, 7}, back;
    assert_int_equal(cr_msgid_format(id, buf), 15);
    assert_string_equal(buf, "1700000000123-7");
    assert_int_equal(cr_msgid_parse(buf, strlen(buf), &back), 0);
    assert_int_equal(cr_msgid_cmp(id, back), 0);
    cr_msgid_t max = {UINT64_MAX, UINT64_MAX};
    assert_int_equal(cr_msgid_format(max, buf), 41);
    assert_int_equal(cr_msgid_parse(buf, strlen(buf), &back), 0);
    assert_int_equal(cr_msgid_cmp(max, back), 0);
    const char *bad[] = {"",    "-", "1-", "-1", "1--1", "a-1", "1-1a", "+1-1", "18446744073709551616-0",
                         "1 -1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cr_msgid_parse(bad[i], strlen(bad[i]), &back), CR_ECURSOR);
}

static void test_msgid_next_strictly_increases(void **state)
{
    (void)state;
    cr_msgid_t last = CR_MSGID_NONE;
    uint64_t clock[] = {1000, 1000, 1000, 999, 500, 1001, 1001, 2000};
    for (size_t i = 0; i < sizeof(clock) / sizeof(clock[0]); i++) {
        cr_msgid_t next = cr_msgid_next(last, clock[i]);
        assert_true(cr_msgid_cmp(next, last) > 0);
        last = next;
    }
    assert_int_equal(last.ms, 2000);
    assert_int_equal(last.seq, 0);
}

static int encodes;
static cr_bytes_t *enc(const cr_msg_t *m)
{
    encodes++;
    return cr_bytes_copy(m->payload->data, m->payload->len);
}

static void test_frame_cache_encodes_once(void **state)
{
    (void)state;
    long before = cr_bytes_live();
    cr_bytes_t *ch = cr_bytes_copy("news", 4), *pl = cr_bytes_copy("hi", 2);
    cr_msg_t *m = cr_msg_new(ch, NULL, NULL, pl, 1, 0);
    encodes = 0;
    cr_bytes_t *a = cr_msg_frame(m, CR_WIRE_SSE, enc);
    cr_bytes_t *b = cr_msg_frame(m, CR_WIRE_SSE, enc);
    assert_ptr_equal(a, b);
    assert_int_equal(encodes, 1);
    cr_msg_frame(m, CR_WIRE_NDJSON, enc);
    assert_int_equal(encodes, 2);
    cr_bytes_unref(ch);
    cr_bytes_unref(pl);
    cr_msg_unref(m);
    assert_int_equal(cr_bytes_live(), before);
}

static void test_since_forms(void **state)
{
    (void)state;
    cr_since_t s;
    cr_msgid_t ids[3];
    assert_int_equal(cr_since_parse("all", 3, 0, 1, &s, ids), 0);
    assert_int_equal(s.kind, CR_SINCE_ALL);
    assert_int_equal(cr_since_parse("5-2", 3, 0, 1, &s, ids), 0);
    assert_int_equal(s.kind, CR_SINCE_ID);
    assert_int_equal(ids[0].ms, 5);
    assert_int_equal(ids[0].seq, 2);
    assert_int_equal(cr_since_parse("1-0,2-1,3-2", 11, 0, 3, &s, ids), 0);
    assert_int_equal(ids[2].ms, 3);
    assert_int_equal(ids[1].seq, 1);
    /* a compound cursor must have one id per channel */
    assert_int_equal(cr_since_parse("1-0,2-1", 7, 0, 3, &s, ids), CR_ECURSOR);
    assert_int_equal(cr_since_parse("1-0,2-1,3-2,4-0", 15, 0, 3, &s, ids), CR_ECURSOR);
    assert_int_equal(cr_since_parse("1-0,", 4, 0, 1, &s, ids), CR_ECURSOR);
    assert_int_equal(cr_since_parse("10m", 3, 1000000, 1, &s, ids), 0);
    assert_int_equal(s.kind, CR_SINCE_TIME);
    assert_int_equal(s.time_ms, 1000000 - 600000);
    /* a duration reaching back past the epoch means everything (found by fuzz_cursor) */
    assert_int_equal(cr_since_parse("77165150m", 9, 1700000000000LL, 1, &s, ids), 0);
    assert_int_equal(s.kind, CR_SINCE_TIME);
    assert_int_equal(s.time_ms, 0);
    assert_int_equal(cr_since_parse("1700000000", 10, 0, 1, &s, ids), 0);
    assert_int_equal(s.time_ms, 1700000000000LL);
    const char *bad[] = {"", "x", "10x", "al", "1700000000000000", "-", "m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cr_since_parse(bad[i], strlen(bad[i]), 0, 1, &s, ids), CR_ECURSOR);
}

static void test_since_start(void **state)
{
    (void)state;
    cr_since_t s = {CR_SINCE_NEW, 0};
    cr_msgid_t last = {50, 3}, id = {7, 1};
    assert_int_equal(cr_msgid_cmp(cr_since_start(&s, id, last), last), 0);
    s.kind = CR_SINCE_ALL;
    assert_true(cr_msgid_is_none(cr_since_start(&s, id, last)));
    s.kind = CR_SINCE_ID;
    assert_int_equal(cr_msgid_cmp(cr_since_start(&s, id, last), id), 0);
    s.kind = CR_SINCE_TIME;
    s.time_ms = 40;
    cr_msgid_t start = cr_since_start(&s, id, last);
    /* messages at 40 ms or later are after the start, those at 39 ms are not */
    assert_true(cr_msgid_cmp((cr_msgid_t){40, 0}, start) > 0);
    assert_true(cr_msgid_cmp((cr_msgid_t){39, 999}, start) <= 0);
}

static void test_duration(void **state)
{
    (void)state;
    int64_t ms;
    struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"90", 90000},   {"90s", 90000},   {"15m", 900000},
              {"2h", 7200000}, {"1d", 86400000}, {"500ms", 500}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(cr_duration_parse(ok[i].s, strlen(ok[i].s), &ms), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    assert_int_equal(cr_duration_parse("", 0, &ms), CR_EPARAM);
    assert_int_equal(cr_duration_parse("s", 1, &ms), CR_EPARAM);
    assert_int_equal(cr_duration_parse("1w", 2, &ms), CR_EPARAM);
    assert_int_equal(cr_duration_parse("99999999999999999999", 20, &ms), CR_EPARAM);
}

static void test_cursor_format(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    cr_msgid_t ids[] = {{1, 0}, {22, 3}};
    cr_cursor_format(ids, 2, &b);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "1-0,22-3", 8);
    cr_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgid_format_parse),
        cmocka_unit_test(test_msgid_next_strictly_increases),
        cmocka_unit_test(test_frame_cache_encodes_once),
        cmocka_unit_test(test_since_forms),
        cmocka_unit_test(test_since_start),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_cursor_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
