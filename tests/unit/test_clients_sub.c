/* Unit tests of the client registry (id -> subscriber) and of the run-time
 * changes to a subscriber's channel set (add / go live / remove) and messages
 * addressed to one subscriber, all without sockets, ending with every
 * reference returned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/channel.h"
#include "core/clients.h"
#include "core/err.h"
#include "core/history.h"
#include "core/sub.h"

static cr_msg_t *publish(cr_channel_t *ch, const char *text, int64_t now)
{
    cr_bytes_t *p = cr_bytes_copy(text, strlen(text));
    cr_msg_t *m = cr_msg_new(ch->name, NULL, NULL, p, now, 0);
    cr_bytes_unref(p);
    m->id = cr_msgid_next(ch->last_id, (uint64_t)now);
    ch->last_id = m->id;
    cr_history_append(&ch->history, m);
    return m;
}

/* A subscriber that records what it got: "<channel or @>:<payload>" joined by spaces. */
typedef struct rec {
    cr_sub_t sub;
    char log[512];
    size_t n;
} rec_t;

static int rec_deliver(cr_sub_t *sub, cr_msg_t *msg, size_t idx)
{
    rec_t *r = (rec_t *)sub;
    char item[64];
    const char *src = idx == CR_SUB_DIRECT ? "@" : sub->nodes[idx].ch->name->data;
    snprintf(item, sizeof(item), "%s%s:%.*s", r->n ? " " : "", src, (int)msg->payload->len,
             msg->payload->data);
    strncat(r->log, item, sizeof(r->log) - strlen(r->log) - 1);
    r->n++;
    return 0;
}

static void fanout(cr_channel_t *ch, const char *text, int64_t now)
{
    cr_msg_t *m = publish(ch, text, now);
    cr_channel_fanout(ch, m);
    cr_msg_unref(m);
}

static void test_clients_put_get_del(void **state)
{
    (void)state;
    enum { N = 5000 };
    cr_clients_t t;
    cr_clients_init(&t);
    static cr_sub_t subs[N];
    assert_null(cr_clients_get(&t, 1));
    for (uint64_t i = 1; i <= N; i++)
        cr_clients_put(&t, i, &subs[i - 1]);
    assert_int_equal(t.count, N);
    for (uint64_t i = 1; i <= N; i++)
        assert_ptr_equal(cr_clients_get(&t, i), &subs[i - 1]);
    assert_null(cr_clients_get(&t, N + 1));
    assert_null(cr_clients_get(&t, 0));
    /* Delete every third id: the rest must stay reachable (backward-shift deletion keeps probe runs whole).
     */
    for (uint64_t i = 1; i <= N; i += 3)
        cr_clients_del(&t, i);
    cr_clients_del(&t, N + 7); /* absent: nothing happens */
    for (uint64_t i = 1; i <= N; i++) {
        if ((i - 1) % 3 == 0)
            assert_null(cr_clients_get(&t, i));
        else
            assert_ptr_equal(cr_clients_get(&t, i), &subs[i - 1]);
    }
    assert_int_equal(t.count, N - (N + 2) / 3);
    /* Ids put back after deletions are found again. */
    for (uint64_t i = 1; i <= N; i += 3)
        cr_clients_put(&t, i, &subs[0]);
    for (uint64_t i = 1; i <= N; i += 3)
        assert_ptr_equal(cr_clients_get(&t, i), &subs[0]);
    assert_int_equal(t.count, N);
    for (uint64_t i = 1; i <= N; i++)
        cr_clients_del(&t, i);
    assert_int_equal(t.count, 0);
    for (uint64_t i = 1; i <= N; i++)
        assert_null(cr_clients_get(&t, i));
    cr_clients_destroy(&t);
}

static void test_client_id_parse(void **state)
{
    (void)state;
    uint64_t id = 0;
    assert_int_equal(cr_client_id_parse("c1f", 3, &id), 0);
    assert_int_equal(id, 0x1f);
    assert_int_equal(cr_client_id_parse("cFFFFFFFFFFFFFFFF", 17, &id), 0);
    assert_true(id == UINT64_MAX);
    assert_int_equal(cr_client_id_parse("c", 1, &id), CR_ENOTFOUND);
    assert_int_equal(cr_client_id_parse("c0", 2, &id), CR_ENOTFOUND);
    assert_int_equal(cr_client_id_parse("x1", 2, &id), CR_ENOTFOUND);
    assert_int_equal(cr_client_id_parse("c1g", 3, &id), CR_ENOTFOUND);
    assert_int_equal(cr_client_id_parse("c11111111111111111", 18, &id), CR_ENOTFOUND);
    assert_int_equal(cr_client_id_parse("c1 ", 3, &id), CR_ENOTFOUND);
}

static void test_sub_add_live_remove(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    cr_channel_t *a = cr_registry_get(&reg, "a", 1, 0);
    cr_channel_t *b = cr_registry_get(&reg, "b", 1, 0);
    cr_channel_t *c = cr_registry_get(&reg, "c", 1, 0);
    /* Another subscriber on every channel, so that moved nodes sit between real neighbours. */
    rec_t other = {0};
    cr_sub_init(&other.sub, rec_deliver, 3);
    cr_sub_attach(&other.sub, 0, a, CR_MSGID_NONE);
    cr_sub_attach(&other.sub, 1, b, CR_MSGID_NONE);
    cr_sub_attach(&other.sub, 2, c, CR_MSGID_NONE);
    assert_int_equal(cr_sub_catch_up(&other.sub), 0);

    rec_t r = {0};
    cr_sub_init(&r.sub, rec_deliver, 0);
    assert_int_equal(cr_sub_catch_up(&r.sub), 0); /* no channels: live at once */
    cr_msg_unref(publish(a, "a1", 1000));
    cr_msg_unref(publish(a, "a2", 1001));

    /* Added from the start of a's history: replayed, then live. Not linked before node_live. */
    size_t ia = cr_sub_add(&r.sub, a, CR_MSGID_NONE);
    assert_int_equal(ia, 0);
    assert_int_equal(a->nsubs, 1);
    assert_int_equal(cr_sub_node_live(&r.sub, ia), 0);
    assert_int_equal(a->nsubs, 2);
    assert_string_equal(r.log, "a:a1 a:a2");
    /* Added with the cursor at b's last id: only what comes later. */
    cr_msg_unref(publish(b, "b-old", 1002));
    size_t ib = cr_sub_add(&r.sub, b, b->last_id);
    assert_int_equal(cr_sub_node_live(&r.sub, ib), 0);
    size_t ic = cr_sub_add(&r.sub, c, c->last_id);
    assert_int_equal(cr_sub_node_live(&r.sub, ic), 0);
    assert_int_equal(r.sub.nch, 3);
    assert_int_equal(cr_sub_find(&r.sub, b), 1);
    fanout(a, "a3", 1003);
    fanout(b, "b1", 1004);
    fanout(c, "c1", 1005);
    assert_string_equal(r.log, "a:a1 a:a2 a:a3 b:b1 c:c1");

    /* Removing the first node moves the last (c) into its place, still linked and live. */
    cr_sub_remove(&r.sub, (size_t)cr_sub_find(&r.sub, a));
    assert_int_equal(r.sub.nch, 2);
    assert_int_equal(a->nsubs, 1);
    assert_int_equal(cr_sub_find(&r.sub, a), -1);
    assert_int_equal(cr_sub_find(&r.sub, c), 0);
    r.log[0] = '\0';
    r.n = 0;
    fanout(a, "a4", 1006);
    fanout(c, "c2", 1007);
    fanout(b, "b2", 1008);
    assert_string_equal(r.log, "c:c2 b:b2");
    /* Other subscribers' lists survived the moves. */
    assert_int_equal(other.n, 6);

    /* Messages addressed to the subscriber itself: delivered at once when live,
     * held in order while catching up, refused once closing. */
    cr_msg_t *d = publish(a, "direct", 1009);
    assert_int_equal(cr_sub_direct(&r.sub, d), 0);
    assert_string_equal(r.log, "c:c2 b:b2 @:direct");
    rec_t late = {0};
    cr_sub_init(&late.sub, rec_deliver, 1);
    cr_sub_attach(&late.sub, 0, b, CR_MSGID_NONE);
    assert_int_equal(cr_sub_direct(&late.sub, d), 0);
    assert_int_equal(late.n, 0);
    assert_int_equal(cr_sub_catch_up(&late.sub), 0);
    assert_string_equal(late.log, "b:b-old b:b1 b:b2 @:direct");
    late.sub.closing = 1;
    assert_int_equal(cr_sub_direct(&late.sub, d), CR_ENOTFOUND);
    cr_msg_unref(d);

    /* Remove down to nothing, then detach: every channel count returns. */
    cr_sub_remove(&r.sub, 1);
    cr_sub_remove(&r.sub, 0);
    assert_int_equal(r.sub.nch, 0);
    assert_int_equal(b->nsubs, 2);
    assert_int_equal(c->nsubs, 1);
    cr_sub_detach(&r.sub);
    cr_sub_detach(&late.sub);
    cr_sub_detach(&other.sub);
    assert_int_equal(a->nsubs + b->nsubs + c->nsubs, 0);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_msg_live(), 0);
    assert_int_equal(cr_bytes_live(), 0);
}

typedef struct {
    char log[64];
} presence_log_t;

static void note_presence(void *arg, cr_channel_t *ch, int here)
{
    presence_log_t *p = arg;
    size_t n = strlen(p->log);
    snprintf(p->log + n, sizeof(p->log) - n, "%s%c%s", n ? " " : "", here ? '+' : '-', ch->name->data);
}

/* The registry tells only a channel's first subscriber and its last one leaving (the other
 * loops count channels by that, net/worker.c), and its subscriber total follows every one. */
static void test_presence_told_on_first_and_last(void **state)
{
    (void)state;
    cr_registry_t reg;
    cr_registry_init(&reg);
    presence_log_t p = {{0}};
    reg.presence = note_presence;
    reg.presence_arg = &p;
    cr_channel_t *a = cr_registry_get(&reg, "a", 1, 0);
    cr_channel_t *b = cr_registry_get(&reg, "b", 1, 0);
    rec_t s1 = {0}, s2 = {0};
    cr_sub_init(&s1.sub, rec_deliver, 2);
    cr_sub_attach(&s1.sub, 0, a, CR_MSGID_NONE);
    cr_sub_attach(&s1.sub, 1, b, CR_MSGID_NONE);
    assert_int_equal(cr_sub_catch_up(&s1.sub), 0);
    cr_sub_init(&s2.sub, rec_deliver, 1);
    cr_sub_attach(&s2.sub, 0, a, CR_MSGID_NONE);
    assert_int_equal(cr_sub_catch_up(&s2.sub), 0);
    assert_string_equal(p.log, "+a +b");
    assert_int_equal(reg.subs, 3);
    cr_sub_detach(&s1.sub);
    assert_string_equal(p.log, "+a +b -b");
    assert_int_equal(reg.subs, 1);
    cr_sub_detach(&s2.sub);
    assert_string_equal(p.log, "+a +b -b -a");
    assert_int_equal(reg.subs, 0);
    cr_registry_destroy(&reg);
    assert_int_equal(cr_bytes_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clients_put_get_del),
        cmocka_unit_test(test_client_id_parse),
        cmocka_unit_test(test_sub_add_live_remove),
        cmocka_unit_test(test_presence_told_on_first_and_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
