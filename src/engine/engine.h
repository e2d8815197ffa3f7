/* The message store interface. Every engine (memory now; sqlite and redis
 * later) implements every slot; what it can't do returns CR_ENOTSUP.
 * An engine assigns ids, keeps retained history in the channel's cr_history_t
 * (the hot window fan-out and catch-up read from), and answers asynchronously
 * through callbacks so that a durable engine can commit off the event loop.
 * SPDX-License-Identifier: MIT */
#ifndef CR_ENGINE_ENGINE_H
#define CR_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/channel.h"
#include "core/msg.h"
#include "core/sched.h"

typedef struct cr_engine cr_engine_t;

/* Called once a message is stored (status 0) or could not be (negative code).
 * The memory engine calls it before append returns. */
typedef void (*cr_engine_done_cb)(void *arg, int status);

typedef struct cr_engine_ops {
    const char *name;
    /* Assigns msg->id on ch (strictly above ch->last_id), stores msg (takes its own
     * reference), applies count retention, then calls done. Returns 0 if done will
     * be called, else a negative code (and done is not called). */
    int (*append)(cr_engine_t *e, cr_channel_t *ch, cr_msg_t *msg, cr_engine_done_cb done, void *arg);
    /* Makes every retained message after `after` available in ch->history for a
     * catch-up, with nothing in it past its age or TTL at now_ms, then calls done. */
    int (*load)(cr_engine_t *e, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms, cr_engine_done_cb done,
                void *arg);
    /* Forgets ch's messages. */
    int (*drop)(cr_engine_t *e, cr_channel_t *ch);
    /* Applies age and TTL retention to every channel at time now_ms. */
    void (*prune)(cr_engine_t *e, int64_t now_ms);
    /* Once at start, after reg and sched are set: fills them from the store (channels with
     * their last id and retained history, scheduled items). 0 or a negative code. */
    int (*restore)(cr_engine_t *e, int64_t now_ms);
    /* End of a loop turn: starts committing what the turns since the last flush
     * appended, as one transaction. */
    void (*flush)(cr_engine_t *e);
    /* Whether appends wait for a flush (NULL: never, the engine does not batch). */
    int (*queued)(const cr_engine_t *e);
    /* On the loop thread, after the engine called wake: calls the done callbacks of the
     * work it finished, in the order it was issued. */
    void (*complete)(cr_engine_t *e);
    /* Stores a scheduled item (borrowed: the engine takes references to what it keeps;
     * it->id must be set), then calls done. Returns 0 if done will be called. */
    int (*sched_add)(cr_engine_t *e, const cr_sched_item_t *it, cr_engine_done_cb done, void *arg);
    /* Forgets scheduled item id (sent or cancelled), then calls done (which may be NULL).
     * An engine commits it with the appends issued in the same loop turn, so a delivered
     * item is never both published and still scheduled. */
    int (*sched_del)(cr_engine_t *e, uint64_t id, cr_engine_done_cb done, void *arg);
    /* The number of subscribers to ch on every node of a cluster, then calls done(arg, 0, n)
     * (or a negative status). CR_ENOTSUP from single-node engines: the caller counts itself. */
    int (*subscribers)(cr_engine_t *e, cr_channel_t *ch, void (*done)(void *arg, int status, size_t n),
                       void *arg);
    void (*destroy)(cr_engine_t *e);
} cr_engine_ops_t;

typedef struct cr_engine_config {
    size_t max_count;   /* messages kept per channel (0: unlimited) */
    int64_t max_age_ms; /* oldest message kept (0: unlimited) */
} cr_engine_config_t;

/* Asks the owner of the loop to call ops->complete soon; callable from any thread. */
typedef void (*cr_engine_wake_fn)(void *arg);

struct cr_engine {
    const cr_engine_ops_t *ops;
    cr_registry_t *reg;
    cr_sched_t *sched; /* where restore puts scheduled items */
    cr_engine_config_t cfg;
    cr_engine_wake_fn wake;
    void *wake_arg;
    /* A message another node published on a channel this node follows: the engine has put it
     * in ch->history; the owner fans it out to local subscribers like a local publish. */
    void (*arrived)(void *arg, cr_channel_t *ch, cr_msg_t *msg);
    /* Another node deleted ch (DELETE /pub/ch): the owner tells its subscribers and forgets ch,
     * without calling drop (the store has dropped it already). Same arg as arrived. */
    void (*deleted)(void *arg, cr_channel_t *ch);
    void *arrived_arg;
    /* 1: the store is shared with other nodes (redis): a channel idle here is only forgotten
     * locally, never dropped from the store. */
    int shared;
};

/* Applies e's count and age retention, and message TTLs, to every channel's history in
 * e->reg at now_ms: the whole of pruning for a store that keeps nothing else (memory.c). */
void cr_engine_prune_histories(cr_engine_t *e, int64_t now_ms);
/* ops->drop for an engine whose store is the channel's history ring: clears it. */
int cr_engine_drop_history(cr_engine_t *e, cr_channel_t *ch);

/* The pure in-memory store. reg is borrowed and must outlive the engine. */
cr_engine_t *cr_engine_memory_new(cr_registry_t *reg, const cr_engine_config_t *cfg);

/* The durable store: SQLite in WAL mode at dir/crier.db (dir is created if missing).
 * Appends are committed on a writer thread, one transaction per batch; done runs on the
 * loop thread (through wake and complete) once the batch is committed. sync_full selects
 * synchronous=FULL (survives a power cut) over NORMAL (survives a process crash).
 * Returns 0 and the engine in *out, or a negative code with a message naming the file
 * in err[0..errlen). */
int cr_engine_sqlite_open(const cr_engine_config_t *cfg, const char *dir, int sync_full, cr_engine_t **out,
                          char *err, size_t errlen);

/* The cluster store on Redis (see engine/redis.c). attach hooks a hiredis connection to the
 * owner's event loop (engine/ never sees the loop itself). */
struct redisAsyncContext;
typedef struct cr_engine_redis_config {
    const char *urls;    /* "redis://[[user]:pass@]host[:port][/db]", comma-separated: one per shard */
    const char *node_id; /* this node's name in the cluster; "" or NULL: generated */
    int tls;             /* --redis-tls: refused when hiredis was built without TLS */
    const char *tls_ca;
    int (*attach)(void *loop, struct redisAsyncContext *ac);
    void *loop;
} cr_engine_redis_config_t;

/* Returns 0 and the engine in *out (connecting in the background), or a negative code
 * with the reason in err[0..errlen) (bad URL, TLS not available). */
int cr_engine_redis_open(const cr_engine_config_t *cfg, const cr_engine_redis_config_t *rcfg,
                         cr_engine_t **out, char *err, size_t errlen);

#endif
