/* Unit tests of the scheduled-push heap (order by due time then id, removal
 * from the middle, many items) and of the delay / point-in-time parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/sched.h"

static cr_sched_item_t *item(int64_t due)
{
    cr_bytes_t *ch = cr_bytes_copy("a,b", 3), *p = cr_bytes_copy("x", 1);
    cr_sched_item_t *it = cr_sched_item_new(ch, NULL, NULL, p, due, 0, 0);
    cr_bytes_unref(ch);
    cr_bytes_unref(p);
    return it;
}

static void test_order_and_ties(void **state)
{
    (void)state;
    long live = cr_bytes_live();
    cr_sched_t s;
    cr_sched_init(&s);
    int64_t dues[] = {50, 10, 30, 10, 20, 50, 0};
    for (size_t i = 0; i < sizeof(dues) / sizeof(dues[0]); i++)
        cr_sched_push(&s, item(dues[i]));
    assert_int_equal(s.count, 7);
    assert_null(cr_sched_pop_due(&s, -1));
    int64_t last = -1;
    uint64_t last_id = 0;
    cr_sched_item_t *it;
    size_t n = 0;
    while ((it = cr_sched_pop_due(&s, 50))) {
        assert_true(it->due_ms > last || (it->due_ms == last && it->id > last_id));
        last = it->due_ms, last_id = it->id;
        cr_sched_item_free(it);
        n++;
    }
    assert_int_equal(n, 7);
    /* ids keep counting: never reused within a heap's life */
    cr_sched_item_t *x = item(1);
    cr_sched_push(&s, x);
    assert_int_equal(x->id, 8);
    cr_sched_free(&s);
    assert_int_equal(cr_bytes_live(), live);
}

static void test_remove_middle_many(void **state)
{
    (void)state;
    cr_sched_t s;
    cr_sched_init(&s);
    enum { N = 5000 };
    cr_sched_item_t **all = malloc(N * sizeof(*all));
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        all[i] = item((int64_t)(r % 1000));
        cr_sched_push(&s, all[i]);
    }
    uint64_t first_id = all[0]->id;
    /* remove every third one, found by id */
    for (int i = 0; i < N; i += 3) {
        cr_sched_item_t *it = cr_sched_find(&s, all[i]->id);
        assert_ptr_equal(it, all[i]);
        cr_sched_remove(&s, it);
        cr_sched_item_free(it);
    }
    assert_null(cr_sched_find(&s, first_id));
    size_t left = s.count, n = 0;
    int64_t last = -1;
    cr_sched_item_t *it;
    while ((it = cr_sched_pop_due(&s, 1000))) {
        assert_true(it->due_ms >= last);
        last = it->due_ms;
        cr_sched_item_free(it);
        n++;
    }
    assert_int_equal(n, left);
    assert_int_equal(left, N - (N + 2) / 3);
    free(all);
    cr_sched_free(&s);
}

static void test_restored_ids(void **state)
{
    (void)state;
    cr_sched_t s;
    cr_sched_init(&s);
    cr_sched_item_t *a = item(5);
    a->id = 41;
    cr_sched_push(&s, a);
    cr_sched_item_t *b = item(1);
    cr_sched_assign_id(&s, b);
    assert_int_equal(b->id, 42);
    cr_sched_push(&s, b);
    assert_ptr_equal(cr_sched_peek(&s), b);
    assert_true(cr_sched_item_has_channel(a, "a", 1));
    assert_true(cr_sched_item_has_channel(a, "b", 1));
    assert_false(cr_sched_item_has_channel(a, "a,b", 3));
    assert_false(cr_sched_item_has_channel(a, "", 0));
    cr_sched_free(&s);
}

static int64_t delay(const char *s)
{
    int64_t ms = -1;
    return cr_sched_parse_delay(s, strlen(s), &ms) == 0 ? ms : -1;
}

static void test_parse_delay(void **state)
{
    (void)state;
    assert_int_equal(delay("90"), 90000);
    assert_int_equal(delay("1.5"), 1500);
    assert_int_equal(delay("90s"), 90000);
    assert_int_equal(delay("15m"), 900000);
    assert_int_equal(delay("1h30m"), 5400000);
    assert_int_equal(delay("1d2h3m4s500ms"), 93784500);
    assert_int_equal(delay("500ms"), 500);
    const char *bad[] = {"",
                         "s",
                         "1x",
                         "30m1h",
                         "1m1m",
                         "1h 30m",
                         "-5",
                         "1h30",
                         "1.",
                         "99999999999999d",
                         "712677600207d57d" /* overflowed before the range check (fuzz_header_values) */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(delay(bad[i]), -1);
}

static int64_t at(const char *s)
{
    int64_t ms = -1;
    return cr_sched_parse_at(s, strlen(s), &ms) == 0 ? ms : -1;
}

static void test_parse_at_and_format(void **state)
{
    (void)state;
    assert_int_equal(at("1767225600"), 1767225600000LL);
    assert_int_equal(at("1767225600.25"), 1767225600250LL);
    assert_int_equal(at("2026-01-01T00:00:00Z"), 1767225600000LL);
    assert_int_equal(at("2026-01-01T01:00:00.5+01:00"), 1767225600500LL);
    assert_int_equal(at("2025-12-31T19:00:00-05:00"), 1767225600000LL);
    assert_int_equal(at("2024-02-29T12:00:00z"), 1709208000000LL);
    assert_int_equal(at("1970-01-01T00:00:00Z"), 0);
    const char *bad[] = {"",
                         "abc",
                         "2026-13-01T00:00:00Z",
                         "2026-01-01T00:00:00",
                         "2026-01-01",
                         "2026-01-01T24:00:00Z",
                         "2026-01-01T00:00:00+0100",
                         "12.x",
                         "2026-01-01T00:00:00Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(at(bad[i]), -1);
    char buf[32];
    int64_t samples[] = {0, 1767225600500LL, 1709208000000LL, 951782400000LL, 4102444799999LL};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        size_t n = cr_sched_format_rfc3339(samples[i], buf);
        assert_int_equal(n, 24);
        assert_int_equal(at(buf), samples[i]); /* the parser reads back what the formatter wrote */
    }
    cr_sched_format_rfc3339(1767225600500LL, buf);
    assert_string_equal(buf, "2026-01-01T00:00:00.500Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_ties),      cmocka_unit_test(test_remove_middle_many),
        cmocka_unit_test(test_restored_ids),        cmocka_unit_test(test_parse_delay),
        cmocka_unit_test(test_parse_at_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
