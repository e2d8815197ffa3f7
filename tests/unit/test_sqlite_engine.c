/* Unit tests of the durable engine without a server: appends committed by the
 * writer thread and completed on the calling thread in order, restore after
 * reopening (history, last id, evicted id, scheduled items), retention on disk,
 * and refusal of a damaged file. The test plays the loop: wake signals a
 * condition variable, and the test then calls complete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/channel.h"
#include "core/err.h"
#include "core/sched.h"
#include "engine/engine.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int woken;

static void wake(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    woken = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

typedef struct world {
    char dir[64];
    cr_registry_t reg;
    cr_sched_t sched;
    cr_engine_t *e;
    int done_status[16];
    int ndone;
} world_t;

static void on_done(void *arg, int status)
{
    world_t *w = arg;
    w->done_status[w->ndone++] = status;
}

static void open_engine(world_t *w, size_t max_count)
{
    cr_engine_config_t cfg = {max_count, 0};
    char err[512];
    cr_registry_init(&w->reg);
    cr_sched_init(&w->sched);
    int r = cr_engine_sqlite_open(&cfg, w->dir, 0, &w->e, err, sizeof(err));
    assert_int_equal(r, 0);
    w->e->reg = &w->reg;
    w->e->sched = &w->sched;
    w->e->wake = wake;
    assert_int_equal(w->e->ops->restore(w->e, 1000), 0);
}

static void close_engine(world_t *w)
{
    w->e->ops->destroy(w->e);
    cr_sched_free(&w->sched);
    cr_registry_destroy(&w->reg);
}

/* Hands the turn's work to the writer and completes it once committed. */
static void turn(world_t *w, int expect)
{
    w->e->ops->flush(w->e);
    while (w->ndone < expect) {
        pthread_mutex_lock(&mu);
        while (!woken)
            pthread_cond_wait(&cv, &mu);
        woken = 0;
        pthread_mutex_unlock(&mu);
        w->e->ops->complete(w->e);
    }
}

static cr_msg_t *message(cr_channel_t *ch, const char *text, int64_t t)
{
    cr_bytes_t *p = cr_bytes_copy(text, strlen(text));
    cr_msg_t *m = cr_msg_new(ch->name, NULL, NULL, p, t, 0);
    cr_bytes_unref(p);
    return m;
}

static int setup(void **state)
{
    world_t *w = calloc(1, sizeof(*w));
    strcpy(w->dir, "/tmp/crier-unit-sqlite-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world_t *w = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w);
    return 0;
}

static void test_append_commit_restore(void **state)
{
    world_t *w = *state;
    long live = cr_msg_live();
    open_engine(w, 0);
    cr_channel_t *ch = cr_registry_get(&w->reg, "a", 1, 1000);
    cr_msg_t *m[3];
    for (int i = 0; i < 3; i++) {
        m[i] = message(ch, i == 1 ? "two" : "x", 2000);
        assert_int_equal(w->e->ops->append(w->e, ch, m[i], on_done, w), 0);
    }
    /* ids are taken at once, in order; nothing is in the history before the commit */
    assert_true(cr_msgid_cmp(m[0]->id, m[1]->id) < 0 && cr_msgid_cmp(m[1]->id, m[2]->id) < 0);
    assert_int_equal(ch->history.count, 0);
    assert_int_equal(w->ndone, 0);
    turn(w, 3);
    assert_int_equal(w->done_status[0] | w->done_status[1] | w->done_status[2], 0);
    assert_int_equal(ch->history.count, 3);
    cr_msgid_t last = m[2]->id;
    for (int i = 0; i < 3; i++)
        cr_msg_unref(m[i]);
    close_engine(w);
    assert_int_equal(cr_msg_live(), live);

    open_engine(w, 0);
    ch = cr_registry_find(&w->reg, "a", 1);
    assert_non_null(ch);
    assert_int_equal(ch->history.count, 3);
    assert_int_equal(cr_msgid_cmp(ch->last_id, last), 0);
    cr_msg_t *two = cr_history_at(&ch->history, 1);
    assert_memory_equal(two->payload->data, "two", 3);
    /* the clock is behind the stored ids: the next id still goes above them */
    cr_msg_t *n = message(ch, "later", 5);
    w->ndone = 0;
    w->e->ops->append(w->e, ch, n, on_done, w);
    assert_true(cr_msgid_cmp(n->id, last) > 0);
    turn(w, 1);
    cr_msg_unref(n);
    close_engine(w);
    assert_int_equal(cr_msg_live(), live);
}

static void test_retention_on_disk_and_gap_mark(void **state)
{
    world_t *w = *state;
    open_engine(w, 2);
    cr_channel_t *ch = cr_registry_get(&w->reg, "r", 1, 1000);
    for (int i = 0; i < 5; i++) {
        cr_msg_t *m = message(ch, "m", 2000 + i);
        w->e->ops->append(w->e, ch, m, on_done, w);
        cr_msg_unref(m);
    }
    turn(w, 5);
    assert_int_equal(ch->history.count, 2);
    cr_msgid_t evicted = ch->history.evicted_last;
    assert_false(cr_msgid_is_none(evicted));
    w->e->ops->prune(w->e, 3000);
    close_engine(w); /* the prune is committed before the database closes */
    /* reopened without a count limit: only the 2 retained ones are on disk */
    open_engine(w, 0);
    ch = cr_registry_find(&w->reg, "r", 1);
    assert_int_equal(ch->history.count, 2);
    assert_int_equal(cr_msgid_cmp(ch->history.evicted_last, evicted), 0);
    close_engine(w);
}

static void test_scheduled_items_persist(void **state)
{
    world_t *w = *state;
    open_engine(w, 0);
    cr_bytes_t *chs = cr_bytes_copy("a,b", 3), *p = cr_bytes_copy("later", 5), *ev = cr_bytes_copy("e", 1);
    cr_sched_item_t *a = cr_sched_item_new(chs, NULL, ev, p, 9000, 1000, 0);
    cr_sched_item_t *b = cr_sched_item_new(chs, NULL, NULL, p, 8000, 1000, 60000);
    cr_sched_assign_id(&w->sched, a);
    cr_sched_assign_id(&w->sched, b);
    w->e->ops->sched_add(w->e, a, on_done, w);
    w->e->ops->sched_add(w->e, b, on_done, w);
    turn(w, 2);
    w->e->ops->sched_del(w->e, a->id, on_done, w);
    turn(w, 3);
    uint64_t bid = b->id;
    cr_sched_item_free(a);
    cr_sched_item_free(b);
    cr_bytes_unref(chs);
    cr_bytes_unref(p);
    cr_bytes_unref(ev);
    close_engine(w);
    open_engine(w, 0);
    assert_int_equal(w->sched.count, 1);
    cr_sched_item_t *it = cr_sched_peek(&w->sched);
    assert_int_equal(it->id, bid);
    assert_int_equal(it->due_ms, 8000);
    assert_int_equal(it->ttl_ms, 60000);
    assert_memory_equal(it->channels->data, "a,b", 3);
    assert_null(it->event);
    /* ids are never given twice, even those of deleted items */
    assert_true(w->sched.next_id > bid);
    close_engine(w);
}

static void test_damaged_file_refused(void **state)
{
    world_t *w = *state;
    char path[128], err[512];
    snprintf(path, sizeof(path), "%s/crier.db", w->dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 200; i++)
        fputs("garbage garbage garbage ", f);
    fclose(f);
    cr_engine_config_t cfg = {0, 0};
    cr_engine_t *e = NULL;
    assert_true(cr_engine_sqlite_open(&cfg, w->dir, 1, &e, err, sizeof(err)) < 0);
    assert_null(e);
    assert_non_null(strstr(err, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_commit_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_on_disk_and_gap_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_items_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_file_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
