/* Unit tests of the IO-free core: history retention and gaps, the channel
 * registry, subscriptions, catch-up and fan-out, driven without sockets and
 * ending with every reference returned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/channel.h"
#include "core/err.h"
#include "core/history.h"
#include "core/sub.h"
#include "core/timerq.h"

static cr_msg_t *publish(cr_channel_t *ch, const char *text, int64_t now, int64_t expires)
{
    cr_bytes_t *p = cr_bytes_copy(text, strlen(text));
    cr_msg_t *m = cr_msg_new(ch->name, NULL, NULL, p, now, expires);
    cr_bytes_unref(p);
    m->id = cr_msgid_next(ch->last_id, (uint64_t)now);
    ch->last_id = m->id;
    cr_history_append(&ch->history, m);
    return m; /* caller's reference */
}

static void test_history_count_age_ttl(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    cr_channel_t *ch = cr_registry_get(&reg, "a", 1, 0);
    for (int i = 0; i < 10; i++)
        cr_msg_unref(publish(ch, "x", 1000 + i, i == 8 ? 1500 : 0));
    assert_int_equal(ch->history.count, 10);
    assert_true(cr_msgid_is_none(ch->history.evicted_last));
    /* count: keep 6 -> the 4 oldest go and are remembered as evicted */
    assert_int_equal(cr_history_prune(&ch->history, 1100, 6, 0), 4);
    assert_int_equal(cr_history_at(&ch->history, 0)->id.ms, 1004);
    assert_int_equal(ch->history.evicted_last.ms, 1003);
    assert_true(cr_history_gap_after(&ch->history, (cr_msgid_t){1002, 0}));
    assert_false(cr_history_gap_after(&ch->history, (cr_msgid_t){1003, 0}));
    /* TTL: message 8 expires at 1500, from the middle, leaving no gap mark */
    assert_int_equal(cr_history_prune(&ch->history, 1500, 0, 0), 1);
    assert_int_equal(ch->history.count, 5);
    for (size_t i = 0; i < ch->history.count; i++)
        assert_int_not_equal(cr_history_at(&ch->history, i)->id.ms, 1008);
    assert_int_equal(ch->history.evicted_last.ms, 1003);
    /* age: everything 100 ms old at 1105 -> messages 1004 and 1005 go */
    assert_int_equal(cr_history_prune(&ch->history, 1105, 0, 100), 2);
    assert_int_equal(ch->history.evicted_last.ms, 1005);
    assert_int_equal(cr_history_first_after(&ch->history, (cr_msgid_t){1006, 0}), 1);
    assert_int_equal(cr_history_first_after(&ch->history, CR_MSGID_NONE), 0);
    assert_int_equal(cr_history_first_after(&ch->history, (cr_msgid_t){9999, 0}), ch->history.count);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_msg_live(), 0);
}

/* The publish path's trim is count-only; the TTL bookkeeping that lets prune
 * skip its compaction pass follows messages in and out by every route. */
static void test_history_trim_and_ttl_bookkeeping(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    cr_channel_t *ch = cr_registry_get(&reg, "t", 1, 0);
    for (int i = 0; i < 6; i++)
        cr_msg_unref(publish(ch, "x", 1000 + i, i % 2 ? 5000 : 0)); /* 1001, 1003, 1005 have TTLs */
    assert_int_equal(ch->history._nttl, 3);
    cr_history_trim(&ch->history, 4); /* 1000 and 1001 go */
    assert_int_equal(ch->history.count, 4);
    assert_int_equal(ch->history._nttl, 2);
    assert_int_equal(ch->history.evicted_last.ms, 1001);
    cr_history_trim(&ch->history, 0); /* 0: no limit */
    assert_int_equal(ch->history.count, 4);
    assert_int_equal(cr_history_prune(&ch->history, 5000, 0, 0), 2); /* the two TTLs left expire */
    assert_int_equal(ch->history._nttl, 0);
    assert_int_equal(ch->history.count, 2);
    assert_int_equal(cr_history_at(&ch->history, 0)->id.ms, 1002);
    assert_int_equal(cr_history_at(&ch->history, 1)->id.ms, 1004);
    assert_int_equal(ch->history.evicted_last.ms, 1001); /* TTL expiry leaves no gap mark */
    cr_msg_unref(publish(ch, "x", 1006, 6000));
    assert_int_equal(cr_history_prune(&ch->history, 6000, 0, 0), 1);
    assert_int_equal(ch->history._nttl, 0);
    cr_history_clear(&ch->history);
    assert_int_equal(ch->history._nttl, 0);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_msg_live(), 0);
}

static void test_history_ring_wraps(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    cr_channel_t *ch = cr_registry_get(&reg, "w", 1, 0);
    for (int i = 0; i < 1000; i++) {
        cr_msg_unref(publish(ch, "x", i + 1, 0));
        cr_history_prune(&ch->history, i + 1, 5, 0);
    }
    assert_int_equal(ch->history.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(cr_history_at(&ch->history, i)->id.ms, 996 + i);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_msg_live(), 0);
}

static void test_channel_names(void **state)
{
    (void)state;
    assert_true(cr_channel_name_valid("a-Z_0.~:", 8));
    assert_false(cr_channel_name_valid("", 0));
    assert_false(cr_channel_name_valid("a b", 3));
    assert_false(cr_channel_name_valid("a/b", 3));
    assert_false(cr_channel_name_valid("é", 2));
    char big[256];
    memset(big, 'x', sizeof(big));
    assert_true(cr_channel_name_valid(big, 255));
    assert_false(cr_channel_name_valid(big, 256));
    cr_span_t out[3];
    assert_int_equal(cr_channel_list_parse(CR_SPAN_LIT("a,b,c"), out, 3), 3);
    assert_int_equal(out[1].len, 1);
    assert_int_equal(cr_channel_list_parse(CR_SPAN_LIT("a,b,c,d"), out, 3), CR_ETOOMANYCH);
    assert_int_equal(cr_channel_list_parse(CR_SPAN_LIT("a,,b"), out, 3), CR_ECHANNEL);
    assert_int_equal(cr_channel_list_parse(CR_SPAN_LIT("a,a"), out, 3), CR_ECHANNEL);
    assert_int_equal(cr_channel_list_parse(CR_SPAN_LIT(""), out, 3), CR_ECHANNEL);
}

static void test_registry_grows_and_removes(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    char name[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(name, sizeof(name), "ch%d", i);
        cr_registry_get(&reg, name, (size_t)n, 0);
    }
    assert_int_equal(reg.count, 5000);
    cr_channel_t *ch = cr_registry_find(&reg, "ch4321", 6);
    assert_non_null(ch);
    assert_ptr_equal(cr_registry_get(&reg, "ch4321", 6, 0), ch);
    cr_registry_remove(&reg, ch);
    assert_null(cr_registry_find(&reg, "ch4321", 6));
    assert_int_equal(reg.count, 4999);
    cr_registry_destroy(&reg);
}

/* A test subscriber records what it receives. */
typedef struct {
    cr_sub_t sub;
    cr_msgid_t got[64];
    size_t got_idx[64];
    size_t n;
    int fail_after; /* deliver returns CR_ESLOW after this many (0: never) */
    int done_after; /* ... or 1 after this many */
} rec_t;

static int rec_deliver(cr_sub_t *sub, cr_msg_t *msg, size_t idx)
{
    rec_t *r = (rec_t *)sub;
    r->got[r->n] = msg->id;
    r->got_idx[r->n] = idx;
    r->n++;
    if (r->fail_after && (int)r->n >= r->fail_after)
        return CR_ESLOW;
    if (r->done_after && (int)r->n >= r->done_after)
        return 1;
    return 0;
}

static void test_catch_up_then_live_in_order_no_dup(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    cr_channel_t *a = cr_registry_get(&reg, "a", 1, 0), *b = cr_registry_get(&reg, "b", 1, 0);
    cr_msg_t *m1 = publish(a, "1", 10, 0), *m2 = publish(b, "2", 11, 0), *m3 = publish(a, "3", 12, 0);
    rec_t r = {0};
    cr_sub_init(&r.sub, rec_deliver, 2);
    cr_sub_attach(&r.sub, 0, a, m1->id); /* has seen m1 already */
    cr_sub_attach(&r.sub, 1, b, CR_MSGID_NONE);
    /* A message published while the subscriber catches up is held, not lost or reordered. */
    cr_msg_t *m4 = publish(b, "4", 13, 0);
    assert_int_equal(cr_channel_fanout(b, m4), 1);
    assert_int_equal(r.n, 0);
    assert_int_equal(cr_sub_catch_up(&r.sub), 0);
    /* history after the cursors in id order (m2, m3, m4 from history), m4 held is a duplicate and dropped */
    assert_int_equal(r.n, 3);
    assert_int_equal(cr_msgid_cmp(r.got[0], m2->id), 0);
    assert_int_equal(r.got_idx[0], 1);
    assert_int_equal(cr_msgid_cmp(r.got[1], m3->id), 0);
    assert_int_equal(cr_msgid_cmp(r.got[2], m4->id), 0);
    /* live now */
    cr_msg_t *m5 = publish(a, "5", 14, 0);
    cr_channel_fanout(a, m5);
    assert_int_equal(r.n, 4);
    /* offering an old message again is a no-op */
    cr_channel_fanout(a, m3);
    assert_int_equal(r.n, 4);
    cr_msgid_t cur[2];
    cr_sub_cursor(&r.sub, cur);
    assert_int_equal(cr_msgid_cmp(cur[0], m5->id), 0);
    assert_int_equal(cr_msgid_cmp(cur[1], m4->id), 0);
    cr_sub_detach(&r.sub);
    assert_int_equal(a->nsubs, 0);
    assert_true(cr_list_empty(&b->subs));
    cr_msg_t *all[] = {m1, m2, m3, m4, m5};
    for (size_t i = 0; i < 5; i++)
        cr_msg_unref(all[i]);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_msg_live(), 0);
}

static void test_failed_subscriber_is_marked_not_freed(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    cr_channel_t *a = cr_registry_get(&reg, "a", 1, 0);
    rec_t slow = {0}, ok = {0}, lp = {0};
    slow.fail_after = 2;
    lp.done_after = 1;
    rec_t *subs[] = {&slow, &ok, &lp};
    for (size_t i = 0; i < 3; i++) {
        cr_sub_init(&subs[i]->sub, rec_deliver, 1);
        cr_sub_attach(&subs[i]->sub, 0, a, CR_MSGID_NONE);
        cr_sub_catch_up(&subs[i]->sub);
    }
    for (int i = 0; i < 4; i++) {
        cr_msg_t *m = publish(a, "m", 100 + i, 0);
        assert_int_equal(cr_channel_fanout(a, m), 3); /* still linked: the owner detaches later */
        cr_msg_unref(m);
    }
    assert_int_equal(slow.n, 2);
    assert_true(slow.sub.closing);
    assert_int_equal(slow.sub.close_reason, CR_ESLOW);
    assert_int_equal(lp.n, 1);
    assert_int_equal(lp.sub.close_reason, 1);
    assert_int_equal(ok.n, 4);
    for (size_t i = 0; i < 3; i++)
        cr_sub_detach(&subs[i]->sub);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_msg_live(), 0);
}

static void test_timerq(void **state)
{
    (void)state;
    cr_timerq_t q;
    cr_timerq_init(&q, 100);
    cr_timerq_entry_t e[3];
    for (int i = 0; i < 3; i++) {
        cr_timerq_entry_init(&e[i]);
        cr_timerq_arm(&q, &e[i], i * 10);
    }
    cr_timerq_arm(&q, &e[0], 50); /* re-arm moves to the tail */
    assert_null(cr_timerq_pop_expired(&q, 109));
    assert_ptr_equal(cr_timerq_pop_expired(&q, 110), &e[1]);
    cr_timerq_cancel(&e[2]);
    assert_null(cr_timerq_pop_expired(&q, 149));
    assert_ptr_equal(cr_timerq_pop_expired(&q, 150), &e[0]);
    assert_null(cr_timerq_pop_expired(&q, 1000));
}

/* The data structures hold a million subscribers without any limit of their own. */
static void test_million_subscribers_without_sockets(void **state)
{
    (void)state;
    enum { N = 1000000 };
    cr_registry_t reg;
    cr_registry_init(&reg);
    cr_channel_t *a = cr_registry_get(&reg, "big", 3, 0);
    rec_t *subs = calloc(N, sizeof(*subs));
    assert_non_null(subs);
    for (size_t i = 0; i < N; i++) {
        cr_sub_init(&subs[i].sub, rec_deliver, 1);
        cr_sub_attach(&subs[i].sub, 0, a, CR_MSGID_NONE);
        cr_sub_catch_up(&subs[i].sub);
    }
    assert_int_equal(a->nsubs, N);
    cr_msg_t *m = publish(a, "hello", 1, 0);
    assert_int_equal(cr_channel_fanout(a, m), N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(subs[i].n, 1);
    cr_msg_unref(m);
    for (size_t i = 0; i < N; i++)
        cr_sub_detach(&subs[i].sub);
    free(subs);
    assert_int_equal(a->nsubs, 0);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_msg_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_count_age_ttl),
        cmocka_unit_test(test_history_trim_and_ttl_bookkeeping),
        cmocka_unit_test(test_history_ring_wraps),
        cmocka_unit_test(test_channel_names),
        cmocka_unit_test(test_registry_grows_and_removes),
        cmocka_unit_test(test_catch_up_then_live_in_order_no_dup),
        cmocka_unit_test(test_failed_subscriber_is_marked_not_freed),
        cmocka_unit_test(test_timerq),
        cmocka_unit_test(test_million_subscribers_without_sockets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
