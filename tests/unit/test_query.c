/* Unit tests for query-string lookup and percent-decoding. Every query is placed right before a
 * PROT_NONE guard page, so a decoder peeking past a trailing '%' crashes the test.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "proto/query.h"
#include "test_util.h"

static tu_guard_t guard = TU_GUARD_INIT;

static int get(const char *query, const char *key, char *out, size_t outcap, size_t *outlen)
{
    size_t len = strlen(query);
    cr_span_t q = {tu_guard_copy(&guard, query, len), len};
    return cr_query_get(q, key, out, outcap, outlen);
}

/* Expects key to be found in query with the decoded value want. */
static void found(int line, const char *query, const char *key, const char *want)
{
    char out[128];
    size_t n = 999;
    int rc = get(query, key, out, sizeof(out), &n);
    if (rc != 1)
        fail_msg("line %d: %s in \"%s\" gave %d, want found", line, key, query, rc);
    if (n != strlen(want) || strcmp(out, want) != 0)
        fail_msg("line %d: %s in \"%s\" gave \"%s\" (%zu), want \"%s\"", line, key, query, out, n, want);
}

static void absent(int line, const char *query, const char *key)
{
    char out[16] = "junk";
    size_t n = 999;
    int rc = get(query, key, out, sizeof(out), &n);
    if (rc != 0 || n != 0 || out[0] != '\0')
        fail_msg("line %d: %s in \"%s\" gave %d (\"%s\", %zu), want absent", line, key, query, rc, out, n);
}

static void bad_value(int line, const char *query, const char *key)
{
    char out[16] = "junk";
    size_t n = 999;
    int rc = get(query, key, out, sizeof(out), &n);
    if (rc != CR_EPARAM || n != 0 || out[0] != '\0')
        fail_msg("line %d: %s in \"%s\" gave %d (\"%s\", %zu), want CR_EPARAM", line, key, query, rc, out, n);
}

static void test_decoding(void **state)
{
    (void)state;
    found(__LINE__, "a=1&b=hello%20world&c=x", "a", "1");
    found(__LINE__, "a=1&b=hello%20world&c=x", "b", "hello world");
    found(__LINE__, "a=1&b=hello%20world&c=x", "c", "x");
    found(__LINE__, "ch=%2Fnews%2fsport", "ch", "/news/sport");
    found(__LINE__, "v=caf%C3%A9", "v", "caf\xc3\xa9");
    found(__LINE__, "v=%41%4a%4A%7e", "v", "AJJ~");
    found(__LINE__, "v=a=b=c", "v", "a=b=c");
    found(__LINE__, "v=a?b/c", "v", "a?b/c");
    found(__LINE__, "v=%25", "v", "%");
}

static void test_plus(void **state)
{
    (void)state;
    found(__LINE__, "q=a+b", "q", "a b");
    found(__LINE__, "q=a+b%2B", "q", "a b+");
    found(__LINE__, "q=+++", "q", "   ");
    found(__LINE__, "my+key=1", "my key", "1");
    found(__LINE__, "my%20key=2", "my key", "2");
}

static void test_keys(void **state)
{
    (void)state;
    found(__LINE__, "ab=1&a=2", "a", "2");
    found(__LINE__, "a=1&a=2", "a", "1");
    found(__LINE__, "&&a=1&", "a", "1");
    found(__LINE__, "%61=5", "a", "5");
    found(__LINE__, "%zz=1&a=2", "a", "2"); /* a badly encoded name matches nothing */
    found(__LINE__, "A=1&a=2", "a", "2");   /* keys are case-sensitive */
    absent(__LINE__, "a=1", "b");
    absent(__LINE__, "", "a");
    absent(__LINE__, "&&&", "a");
    absent(__LINE__, "ab=1", "a");
    absent(__LINE__, "a=1", "ab");
    absent(__LINE__, "%zz=1", "%zz");
    absent(__LINE__, "b=a", "a");

    char out[8];
    size_t n = 5;
    assert_int_equal(cr_query_get((cr_span_t){NULL, 0}, "a", out, sizeof(out), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cr_query_get(CR_SPAN_LIT("a=1"), "a", out, sizeof(out), NULL), 1);
    assert_string_equal(out, "1");
}

static void test_empty_value(void **state)
{
    (void)state;
    found(__LINE__, "a=&b", "a", "");
    found(__LINE__, "a=&b", "b", "");
    found(__LINE__, "a", "a", "");
    found(__LINE__, "x=1&flag&y=2", "flag", "");
    found(__LINE__, "=5", "", "5");
}

static void test_bad_percent(void **state)
{
    (void)state;
    bad_value(__LINE__, "a=%zz", "a");
    bad_value(__LINE__, "a=%4", "a");
    bad_value(__LINE__, "a=%", "a");
    bad_value(__LINE__, "a=x%", "a");
    bad_value(__LINE__, "a=%4g", "a");
    bad_value(__LINE__, "a=%g4", "a");
    bad_value(__LINE__, "a=%%41", "a");
    bad_value(__LINE__, "a=%00", "a");
    bad_value(__LINE__, "a=%4&b=1", "a");
    found(__LINE__, "a=%zz&b=1", "b", "1"); /* only the value asked for is decoded */
}

static void test_too_long(void **state)
{
    (void)state;
    char out[4];
    size_t n = 9;
    assert_int_equal(get("a=abc", "a", out, 4, &n), 1);
    assert_int_equal(n, 3);
    assert_string_equal(out, "abc");
    assert_int_equal(get("a=abcd", "a", out, 4, &n), CR_EPARAM);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    assert_int_equal(get("a=%41%42%43", "a", out, 4, &n), 1);
    assert_string_equal(out, "ABC");
    assert_int_equal(get("a=", "a", out, 1, &n), 1);
    assert_string_equal(out, "");
    assert_int_equal(get("a=x", "a", out, 1, &n), CR_EPARAM);
    assert_int_equal(get("a=", "a", out, 0, &n), CR_EPARAM);
    assert_int_equal(get("b=", "a", out, 0, &n), 0);
}

static void test_percent_decode(void **state)
{
    (void)state;
    char out[32];
    size_t n = 7;
    const char *in;

    in = tu_guard_copy(&guard, "%2Fa+b%7E", 9);
    assert_int_equal(cr_percent_decode(in, 9, out, sizeof(out), &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(out, "/a+b~");
    in = tu_guard_copy(&guard, "", 0);
    assert_int_equal(cr_percent_decode(in, 0, out, sizeof(out), &n), 0);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    assert_int_equal(cr_percent_decode("abc", 3, out, sizeof(out), NULL), 0);
    assert_string_equal(out, "abc");

    static const char *bad[] = {"%", "%4", "a%", "%G0", "%0g", "%00", "x%00y", "%-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        in = tu_guard_copy(&guard, bad[i], strlen(bad[i]));
        n = 7;
        strcpy(out, "junk");
        if (cr_percent_decode(in, strlen(bad[i]), out, sizeof(out), &n) != CR_EPARAM)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(n, 0);
        assert_string_equal(out, "");
    }
    /* A raw NUL would truncate the C string as surely as %00. */
    assert_int_equal(cr_percent_decode("a\0b", 3, out, sizeof(out), &n), CR_EPARAM);
    assert_int_equal(cr_query_get((cr_span_t){"a=x\0y", 5}, "a", out, sizeof(out), &n), CR_EPARAM);
    assert_int_equal(cr_percent_decode("ab", 2, out, 2, &n), CR_EPARAM);
    assert_int_equal(cr_percent_decode("ab", 2, out, 3, &n), 0);
    assert_int_equal(cr_percent_decode("", 0, out, 0, &n), CR_EPARAM);
}

static int teardown(void **state)
{
    (void)state;
    tu_guard_free(&guard);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoding),       cmocka_unit_test(test_plus),
        cmocka_unit_test(test_keys),           cmocka_unit_test(test_empty_value),
        cmocka_unit_test(test_bad_percent),    cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_percent_decode),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
