/* The in-memory engine: the channel's history ring is the whole store.
 * Nothing survives a restart; --memory selects it.
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "core/err.h"
#include "engine/engine.h"

static int mem_append(cr_engine_t *e, cr_channel_t *ch, cr_msg_t *msg, cr_engine_done_cb done, void *arg)
{
    msg->id = cr_msgid_next(ch->last_id, (uint64_t)msg->time_ms);
    ch->last_id = msg->id;
    ch->published++;
    ch->last_publish_ms = msg->time_ms;
    cr_history_append(&ch->history, msg);
    cr_history_trim(&ch->history, e->cfg.max_count);
    done(arg, 0);
    return 0;
}

static int mem_load(cr_engine_t *e, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms,
                    cr_engine_done_cb done, void *arg)
{
    (void)after;
    /* The periodic pass runs once a second; a reader must not see what expired since. */
    cr_history_prune(&ch->history, now_ms, e->cfg.max_count, e->cfg.max_age_ms);
    done(arg, 0);
    return 0;
}

int cr_engine_drop_history(cr_engine_t *e, cr_channel_t *ch)
{
    (void)e;
    cr_history_clear(&ch->history);
    return 0;
}

typedef struct {
    cr_engine_t *e;
    int64_t now;
} prune_ctx_t;

static void prune_one(cr_channel_t *ch, void *arg)
{
    prune_ctx_t *p = arg;
    cr_history_prune(&ch->history, p->now, p->e->cfg.max_count, p->e->cfg.max_age_ms);
}

void cr_engine_prune_histories(cr_engine_t *e, int64_t now_ms)
{
    prune_ctx_t p = {e, now_ms};
    cr_registry_foreach(e->reg, prune_one, &p);
}

static int mem_restore(cr_engine_t *e, int64_t now_ms)
{
    (void)e, (void)now_ms;
    return 0;
}

static void mem_idle(cr_engine_t *e)
{
    (void)e;
}

/* Scheduled items live only in the server's heap: nothing else to keep. */
static int mem_sched_add(cr_engine_t *e, const cr_sched_item_t *it, cr_engine_done_cb done, void *arg)
{
    (void)e, (void)it;
    done(arg, 0);
    return 0;
}

static int mem_sched_del(cr_engine_t *e, uint64_t id, cr_engine_done_cb done, void *arg)
{
    (void)e, (void)id;
    if (done)
        done(arg, 0);
    return 0;
}

static void mem_destroy(cr_engine_t *e)
{
    free(e);
}

/* One node: the caller's own count is the whole answer. */
static int mem_subscribers(cr_engine_t *e, cr_channel_t *ch, void (*done)(void *arg, int status, size_t n),
                           void *arg)
{
    (void)e, (void)ch, (void)done, (void)arg;
    return CR_ENOTSUP;
}

static const cr_engine_ops_t memory_ops = {
    .name = "memory",
    .append = mem_append,
    .load = mem_load,
    .drop = cr_engine_drop_history,
    .prune = cr_engine_prune_histories,
    .restore = mem_restore,
    .flush = mem_idle,
    .complete = mem_idle,
    .sched_add = mem_sched_add,
    .sched_del = mem_sched_del,
    .subscribers = mem_subscribers,
    .destroy = mem_destroy,
};

cr_engine_t *cr_engine_memory_new(cr_registry_t *reg, const cr_engine_config_t *cfg)
{
    cr_engine_t *e = cr_xcalloc(1, sizeof(*e));
    e->ops = &memory_ops;
    e->reg = reg;
    e->cfg = *cfg;
    return e;
}
