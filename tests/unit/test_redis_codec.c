/* Unit tests for the Redis engine's pure parts: URL parsing, the channel -> shard hash, and
 * decoding messages from pub/sub notices and stream entries. Inputs end at a PROT_NONE guard
 * page, so a decoder reading past the end crashes the test.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "engine/redis_msg.h"
#include "engine/redis_url.h"
#include "test_util.h"

static tu_guard_t guard = TU_GUARD_INIT;

static int url(const char *s, cr_redis_url_t *u, const char **why)
{
    size_t len = strlen(s);
    return cr_redis_url_parse(tu_guard_copy(&guard, s, len), len, u, why);
}

static void test_url_forms(void **state)
{
    (void)state;
    cr_redis_url_t u;
    const char *why = NULL;
    assert_int_equal(url("redis://127.0.0.1", &u, &why), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.pass, "");
    assert_int_equal(url("redis://:s3cr:et@cache.local:7000/3", &u, &why), 0);
    assert_string_equal(u.host, "cache.local");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);
    assert_string_equal(u.user, "");
    assert_string_equal(u.pass, "s3cr:et");
    assert_int_equal(url("redis://crier:pw@h:1/", &u, &why), 0);
    assert_string_equal(u.user, "crier");
    assert_string_equal(u.pass, "pw");
    assert_int_equal(u.port, 1);
    assert_int_equal(url("redis://[::1]:6380/2", &u, &why), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_int_equal(url("rediss://h", &u, &why), 0);
    assert_int_equal(u.tls, 1);
}

static void test_url_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "http://h",
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:x",
        "redis://h/db",
        "redis://pw@h",
        "redis://[::1",
        "redis://[::1]x",
        "redis://h:12345678901",
        "redis://h h",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_redis_url_t u;
        const char *why = NULL;
        if (url(bad[i], &u, &why) != CR_EPARAM || !why)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    /* NUL bytes inside (found by fuzz_redis): the host would have been cut short unseen. */
    static const char nul_host[] = "rediss://\0\0[\0"
                                   "2";
    cr_redis_url_t u;
    const char *why = NULL;
    assert_int_equal(cr_redis_url_parse(tu_guard_copy(&guard, nul_host, sizeof(nul_host) - 1),
                                        sizeof(nul_host) - 1, &u, &why),
                     CR_EPARAM);
    static const char nul_pass[] = "redis://:p\0w@h";
    assert_int_equal(cr_redis_url_parse(tu_guard_copy(&guard, nul_pass, sizeof(nul_pass) - 1),
                                        sizeof(nul_pass) - 1, &u, &why),
                     CR_EPARAM);
}

static void test_url_lists(void **state)
{
    (void)state;
    cr_redis_url_t u[4];
    const char *why = NULL;
    assert_int_equal(cr_redis_urls_parse("redis://a,redis://b:2/1", u, 4, &why), 2);
    assert_string_equal(u[1].host, "b");
    assert_int_equal(u[1].db, 1);
    assert_int_equal(cr_redis_urls_parse("redis://a,,redis://b", u, 4, &why), CR_EPARAM);
    assert_int_equal(cr_redis_urls_parse("redis://a,", u, 4, &why), CR_EPARAM);
    assert_int_equal(cr_redis_urls_parse("redis://a,redis://a:6379", u, 4, &why), CR_EPARAM);
    assert_int_equal(cr_redis_urls_parse("redis://a,redis://b,redis://c", u, 2, &why), CR_EPARAM);
}

static void test_shard_hash(void **state)
{
    (void)state;
    /* FNV-1a 32 of "" and "a" are published constants: nodes built elsewhere agree. */
    assert_int_equal(cr_redis_shard("", 0, 0x7fffffff), 2166136261u % 0x7fffffffu);
    assert_int_equal(cr_redis_shard("a", 1, 0x7fffffff), 0xe40c292cu % 0x7fffffffu);
    assert_int_equal(cr_redis_shard("anything", 8, 1), 0);
    size_t hits[4] = {0};
    char name[16];
    for (int i = 0; i < 4000; i++) {
        int n = snprintf(name, sizeof(name), "ch%d", i);
        size_t s = cr_redis_shard(name, (size_t)n, 4);
        assert_true(s < 4);
        assert_int_equal(s, cr_redis_shard(name, (size_t)n, 4));
        hits[s]++;
    }
    for (int i = 0; i < 4; i++)
        assert_in_range(hits[i], 800, 1200);
}

static cr_msg_t *notice(cr_bytes_t *ch, const char *s, size_t len)
{
    return cr_redis_notice_decode(ch, tu_guard_copy(&guard, s, len), len);
}

static void test_notice(void **state)
{
    (void)state;
    cr_bytes_t *ch = cr_bytes_copy("news", 4);
    static const char ok[] = "1700000000000-3\n1700000000001\n0\n10\n4\ntext/plainpinghello\nworld";
    cr_msg_t *m = notice(ch, ok, sizeof(ok) - 1);
    assert_non_null(m);
    assert_int_equal(m->id.ms, 1700000000000ULL);
    assert_int_equal(m->id.seq, 3);
    assert_int_equal(m->time_ms, 1700000000001LL);
    assert_int_equal(m->expires_ms, 0);
    assert_memory_equal(m->content_type->data, "text/plain", 10);
    assert_memory_equal(m->event->data, "ping", 4);
    assert_int_equal(m->payload->len, 11);
    assert_memory_equal(m->payload->data, "hello\nworld", 11);
    cr_msg_unref(m);
    static const char empty[] = "5-0\n7\n9\n0\n0\n";
    m = notice(ch, empty, sizeof(empty) - 1);
    assert_non_null(m);
    assert_null(m->content_type);
    assert_null(m->event);
    assert_int_equal(m->payload->len, 0);
    assert_int_equal(m->expires_ms, 9);
    cr_msg_unref(m);
    /* Every prefix of a valid notice that cuts a header line is refused, never over-read. */
    for (size_t n = 0; n < sizeof(ok) - 1; n++) {
        m = notice(ch, ok, n);
        if (n < 51) /* headers, then 10 + 4 bytes of content type and event */
            assert_null(m);
        else if (m)
            cr_msg_unref(m);
    }
    static const char *bad[] = {"0-0\n1\n0\n0\n0\n",    "x\n1\n0\n0\n0\n",    "1-1\n1\n0\n99\n0\nab",
                                "1-1\n1\n0\n1\n99\nab", "1-1\n-1\n0\n0\n0\n", "1-1\n1\n0\n0\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (notice(ch, bad[i], strlen(bad[i])))
            fail_msg("notice \"%s\" accepted", bad[i]);
    cr_bytes_unref(ch);
    assert_int_equal(cr_msg_live(), 0);
}

static void test_entry(void **state)
{
    (void)state;
    cr_bytes_t *ch = cr_bytes_copy("news", 4);
    cr_span_t fv[] = {CR_SPAN_LIT("t"), CR_SPAN_LIT("12"),   CR_SPAN_LIT("x"),  CR_SPAN_LIT("0"),
                      CR_SPAN_LIT("c"), CR_SPAN_LIT(""),     CR_SPAN_LIT("e"),  CR_SPAN_LIT("alert"),
                      CR_SPAN_LIT("d"), CR_SPAN_LIT("body"), CR_SPAN_LIT("zz"), CR_SPAN_LIT("ignored")};
    cr_msg_t *m = cr_redis_entry_decode(ch, CR_SPAN_LIT("12-1"), fv, 12);
    assert_non_null(m);
    assert_int_equal(m->id.seq, 1);
    assert_null(m->content_type);
    assert_memory_equal(m->event->data, "alert", 5);
    assert_memory_equal(m->payload->data, "body", 4);
    cr_msg_unref(m);
    assert_null(cr_redis_entry_decode(ch, CR_SPAN_LIT("12"), fv, 12));      /* bad id */
    assert_null(cr_redis_entry_decode(ch, CR_SPAN_LIT("12-1"), fv, 8));     /* no data field */
    assert_null(cr_redis_entry_decode(ch, CR_SPAN_LIT("12-1"), fv + 2, 8)); /* no time field */
    assert_null(cr_redis_entry_decode(ch, CR_SPAN_LIT("12-1"), fv, 11));    /* odd count */
    cr_bytes_unref(ch);
    assert_int_equal(cr_msg_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_forms), cmocka_unit_test(test_url_refused),
        cmocka_unit_test(test_url_lists), cmocka_unit_test(test_shard_hash),
        cmocka_unit_test(test_notice),    cmocka_unit_test(test_entry),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    tu_guard_free(&guard);
    return r;
}
