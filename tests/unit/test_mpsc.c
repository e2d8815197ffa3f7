/* Unit tests of the MPSC queue: FIFO on one thread, then several producer threads
 * pushing while one consumer pops, checking that every item comes out exactly once
 * and in its producer's order. Run under ThreadSanitizer too (see the Makefile). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/list.h"
#include "core/mpsc.h"

typedef struct item {
    cr_mpsc_node_t node;
    int producer;
    int seq;
} item_t;

static void test_fifo_one_thread(void **state)
{
    (void)state;
    cr_mpsc_t q;
    cr_mpsc_init(&q);
    assert_null(cr_mpsc_pop(&q));
    item_t it[10];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10; i++) {
            it[i].seq = i;
            cr_mpsc_push(&q, &it[i].node);
        }
        for (int i = 0; i < 10; i++) {
            cr_mpsc_node_t *n = cr_mpsc_pop(&q);
            assert_non_null(n);
            assert_int_equal(CR_CONTAINER_OF(n, item_t, node)->seq, i);
        }
        assert_null(cr_mpsc_pop(&q));
    }
    /* Interleaved: one in, one out, so the stub goes round. */
    for (int i = 0; i < 10; i++) {
        cr_mpsc_push(&q, &it[i].node);
        cr_mpsc_node_t *n = cr_mpsc_pop(&q);
        assert_ptr_equal(n, &it[i].node);
        assert_null(cr_mpsc_pop(&q));
    }
}

#define PRODUCERS 4
#define PER_PRODUCER 100000

typedef struct {
    cr_mpsc_t *q;
    item_t *items;
    int id;
} producer_t;

static void *produce(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        p->items[i].producer = p->id;
        p->items[i].seq = i;
        cr_mpsc_push(p->q, &p->items[i].node);
    }
    return NULL;
}

static void test_threads_exactly_once_in_order(void **state)
{
    (void)state;
    cr_mpsc_t q;
    cr_mpsc_init(&q);
    pthread_t th[PRODUCERS];
    producer_t pr[PRODUCERS];
    int next[PRODUCERS] = {0};
    for (int i = 0; i < PRODUCERS; i++) {
        pr[i] = (producer_t){&q, calloc(PER_PRODUCER, sizeof(item_t)), i};
        assert_int_equal(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
    }
    long got = 0, empty = 0;
    while (got < (long)PRODUCERS * PER_PRODUCER) {
        cr_mpsc_node_t *n = cr_mpsc_pop(&q);
        if (!n) {
            empty++;
            continue;
        }
        item_t *it = CR_CONTAINER_OF(n, item_t, node);
        assert_true(it->producer >= 0 && it->producer < PRODUCERS);
        /* FIFO per producer, and no item twice nor skipped. */
        assert_int_equal(it->seq, next[it->producer]);
        next[it->producer]++;
        got++;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(next[i], PER_PRODUCER);
        free(pr[i].items);
    }
    assert_null(cr_mpsc_pop(&q));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_one_thread),
        cmocka_unit_test(test_threads_exactly_once_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
