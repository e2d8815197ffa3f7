/* --threads N: N event loops on N threads.
 *
 * Loop 0, the hub, is the process's main loop and cr_server_t as with one thread; it
 * alone holds what must be single: the store (ids per channel, durable appends,
 * restore, retention, scheduled pushes, Redis), the relay listener, the TCP listener
 * and the authoritative channel registry. Loops 1..N-1, the workers, each run a
 * cr_server_t of their own on their own thread: their connections, timer queues,
 * subscribers, and a registry that is a replica of the hub's, whose history rings hold
 * references to the very same refcounted messages. A worker's engine is a proxy that
 * forwards to the hub; the hub's engine is a wrapper around the real store that tells
 * the workers what was stored. So the HTTP, transport and API code is the same code
 * with one thread or N.
 *
 * Threads talk only through inboxes: one intrusive lock-free MPSC queue per loop
 * (core/mpsc.h) and a uv_async_t to wake it. Nothing else is shared but refcounted
 * immutable messages (their frame cache is filled by compare-and-swap, core/msg.c) and
 * counters read with relaxed loads, so the delivery path takes no lock.
 *
 *  - Accept: the hub accepts and hands each connection to the loops in turn (the
 *    hub's own turn keeps it), as an fd the loop adopts.
 *  - Publish on a worker: validated there, the message is posted to the hub, which
 *    appends it through the store (id assigned, committed) and, in commit order,
 *    posts one reference to every worker; each appends it to its replica and fans it
 *    out locally; once every loop has, the publishing loop answers its client (with the
 *    subscribers of every loop). Each inbox is FIFO
 *    and the hub posts in commit order, so every replica sees a channel's messages in
 *    id order, and a subscriber's catch-up (from its own loop's replica) and its live
 *    messages meet without loss or duplicate, as with one loop.
 *  - Resume with a cursor the worker's replica has not reached yet (the client saw the
 *    message on another loop first): the catch-up waits for a round trip through the
 *    hub's inbox, after which the worker has every message the client can have seen.
 *  - Delete (asked on any loop): posted to the hub, which drops the channel from the store
 *    and tells every loop; each tells its own subscribers, and the asking loop answers once
 *    all have, with their sum (404 only when no loop had the channel). Channel stats: a count
 *    request posted to every loop, summed.
 *  - Client ids are one sequence for all loops; a push to a client this loop does not
 *    have is run by whichever loop has it (net/client_push.c).
 *  - Scheduled pushes live in the hub's heap alone (and its store): a worker forwards
 *    adding, listing and cancelling there and gets the answer back (net/sched_api.c);
 *    the hub publishes them when due.
 *  - Not with the Redis store yet (cli/serve.c runs one loop then).
 *  - Retention: the hub's store prunes; each replica applies the same limits itself.
 *  - Presence: a loop whose channel gets its first subscriber, or loses its last, tells the
 *    others, which count it in the channel's `elsewhere` (making the channel if they lack it):
 *    no loop forgets an idle channel another has subscribers on, so a resume finds it as it
 *    was on every loop.
 *
 * SPDX-License-Identifier: MIT */
#include "net/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "core/mpsc.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/server.h"
#include "transport/stream.h"

typedef enum {
    IT_ACCEPT,    /* -> any loop: adopt fd */
    IT_APPEND,    /* -> hub: store msg, published on loop `from` */
    IT_STORED,    /* -> worker: msg is stored: into the replica, fan out, count in gather */
    IT_PUBLISHED, /* -> the publishing loop: every loop fanned msg out; complete the publish */
    IT_FAILED,    /* -> worker: the append failed with status */
    IT_DELETE,    /* -> hub: delete channel name (asked on loop `from`), counting in count */
    IT_DELETED,   /* -> worker: forget channel name and tell its subscribers; count them (if count) */
    IT_SYNC,      /* -> hub: answer with IT_SYNCED (everything stored before is then in the inbox) */
    IT_SYNCED,    /* -> worker: the catch-up load may go on */
    IT_COUNT,     /* -> any loop: add the subscribers to channel name to count */
    IT_COUNTED,   /* -> the asking loop: every loop counted */
    IT_STOP,      /* -> worker: stop */
    IT_CALL,      /* -> any loop: run call(srv, arg) */
    IT_PRESENCE,  /* -> other loops: loop `from` has subscribers on name (status 1), or none now (0) */
} item_kind_t;

typedef struct count {
    _Atomic unsigned pending;
    _Atomic size_t total;
    _Atomic unsigned found; /* loops that have the channel */
    unsigned origin;
    void (*done)(void *arg, int status, size_t n);
    void *arg;
    cr_bytes_t *name;
} count_t;

/* One stored message on its way through every loop: the publish is answered once all
 * have fanned it out, with the sum of their subscribers. */
typedef struct pubgather {
    _Atomic unsigned pending;
    _Atomic size_t total;
    unsigned origin;
    cr_engine_done_cb done;
    void *arg;
} pubgather_t;

typedef struct item {
    cr_mpsc_node_t node;
    item_kind_t kind;
    unsigned from;
    int fd;
    int status;
    int64_t created_ms;
    cr_msg_t *msg;
    cr_bytes_t *name;
    cr_engine_done_cb done;
    void *arg;
    count_t *count;
    pubgather_t *gather;
    void (*call)(cr_server_t *srv, void *arg);
} item_t;

typedef struct worker {
    cr_pool_t *pool;
    unsigned index;
    cr_server_t *srv;
    uv_loop_t *loop;
    uv_thread_t thread;
    int running; /* thread started */
    cr_mpsc_t inbox;
    uv_async_t wake;
} worker_t;

/* The hub's engine: the real store, plus telling the workers. */
typedef struct hub_engine {
    cr_engine_t base;
    cr_pool_t *pool;
} hub_engine_t;

/* A worker's engine: forwards to the hub; its registry is a replica. */
typedef struct proxy_engine {
    cr_engine_t base;
    cr_pool_t *pool;
    unsigned index;
} proxy_engine_t;

struct cr_pool {
    unsigned n;
    worker_t *w;
    cr_engine_t *real;
    hub_engine_t *hub_engine;
    cr_engine_ops_t hub_ops, proxy_ops;
    unsigned next; /* the loop the next accepted connection goes to */
    _Atomic uint64_t next_client_id;
    _Atomic size_t conns; /* open on every loop (--max-conns) */
    int lfd;
    uv_poll_t lpoll;
    int listening;
    int ended; /* every loop has ended (set after their threads are joined): finish_all's turn */
};

/* --- inboxes ------------------------------------------------------------------------------------------ */

static item_t *item_new(item_kind_t kind, unsigned from)
{
    item_t *it = cr_xcalloc(1, sizeof(*it));
    it->kind = kind;
    it->from = from;
    it->fd = -1;
    return it;
}

/* Posts it without waking loop `to`: it is taken with whatever wakes that loop next, and at
 * the latest by its sweep (cr_pool_drain). For news that nothing waits on. */
static void post_quiet(cr_pool_t *pool, unsigned to, item_t *it)
{
    cr_mpsc_push(&pool->w[to].inbox, &it->node);
}

static void post(cr_pool_t *pool, unsigned to, item_t *it)
{
    post_quiet(pool, to, it);
    /* uv_async_send first reads the handle's pending flag and does nothing if it is set.
     * Without a full fence that read may pass our store linking the item in (a store
     * then a load: x86 reorders them too), and the loop may clear the flag and drain
     * its inbox before the store lands: the item would wait for the next post, forever
     * if none comes (a pipelining client across loops hung so, once in a few hundred
     * runs). The fence orders them: either our send wakes the loop, or its drain sees
     * the item. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!pool->ended)
        uv_async_send(&pool->w[to].wake);
}

static void item_free(item_t *it)
{
    if (it->fd >= 0)
        close(it->fd);
    cr_msg_unref(it->msg);
    cr_bytes_unref(it->name);
    free(it);
}

static void finish_all(cr_pool_t *pool);

/* --- the hub: storing and telling ------------------------------------------------------------------- */

typedef struct append_ctx {
    cr_pool_t *pool;
    unsigned from;
    cr_engine_done_cb done;
    void *arg;
    cr_msg_t *msg;
} append_ctx_t;

/* Every worker gets msg (one reference each) in commit order, appends it to its replica
 * and fans it out; g (NULL for a message another node published) counts them. */
static void tell_stored(cr_pool_t *pool, cr_channel_t *ch, cr_msg_t *msg, pubgather_t *g)
{
    for (unsigned i = 1; i < pool->n; i++) {
        item_t *it = item_new(IT_STORED, 0);
        it->msg = cr_msg_ref(msg);
        it->created_ms = ch ? ch->created_ms : msg->time_ms;
        it->gather = g;
        post(pool, i, it);
    }
}

static void gather_add(cr_pool_t *pool, pubgather_t *g, size_t n)
{
    atomic_fetch_add_explicit(&g->total, n, memory_order_relaxed);
    if (atomic_fetch_sub_explicit(&g->pending, 1, memory_order_acq_rel) == 1) {
        item_t *it = item_new(IT_PUBLISHED, 0);
        it->gather = g;
        post(pool, g->origin, it);
    }
}

static void hub_stored(void *arg, int status)
{
    append_ctx_t *a = arg;
    cr_pool_t *pool = a->pool;
    cr_server_t *hub = pool->w[0].srv;
    if (status < 0) {
        if (a->from == 0) {
            a->done(a->arg, status);
        } else {
            item_t *it = item_new(IT_FAILED, 0);
            it->status = status;
            it->done = a->done;
            it->arg = a->arg;
            post(pool, a->from, it);
        }
    } else {
        cr_bytes_t *name = a->msg->channel;
        cr_channel_t *ch = cr_registry_find(&hub->reg, name->data, name->len);
        pubgather_t *g = cr_xcalloc(1, sizeof(*g));
        atomic_init(&g->pending, pool->n);
        atomic_init(&g->total, 0);
        g->origin = a->from;
        g->done = a->done;
        g->arg = a->arg;
        tell_stored(pool, ch, a->msg, g);
        gather_add(pool, g, ch ? cr_channel_fanout(ch, a->msg) : 0);
    }
    cr_msg_unref(a->msg);
    free(a);
}

static int hub_append_from(cr_pool_t *pool, unsigned from, cr_channel_t *ch, cr_msg_t *msg,
                           cr_engine_done_cb done, void *arg)
{
    append_ctx_t *a = cr_xcalloc(1, sizeof(*a));
    *a = (append_ctx_t){pool, from, done, arg, cr_msg_ref(msg)};
    int r = pool->real->ops->append(pool->real, ch, msg, hub_stored, a);
    if (r < 0) {
        cr_msg_unref(a->msg);
        free(a);
    }
    return r;
}

static int hub_append(cr_engine_t *e, cr_channel_t *ch, cr_msg_t *msg, cr_engine_done_cb done, void *arg)
{
    return hub_append_from(((hub_engine_t *)e)->pool, 0, ch, msg, done, arg);
}

static int hub_load(cr_engine_t *e, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms,
                    cr_engine_done_cb done, void *arg)
{
    cr_engine_t *real = ((hub_engine_t *)e)->pool->real;
    return real->ops->load(real, ch, after, now_ms, done, arg);
}

static int hub_drop(cr_engine_t *e, cr_channel_t *ch)
{
    cr_engine_t *real = ((hub_engine_t *)e)->pool->real;
    return real->ops->drop(real, ch);
}

static void hub_prune(cr_engine_t *e, int64_t now_ms)
{
    cr_engine_t *real = ((hub_engine_t *)e)->pool->real;
    real->ops->prune(real, now_ms);
}

/* A message another node stored (cluster store): every loop's subscribers get it. */
static void hub_arrived(void *arg, cr_channel_t *ch, cr_msg_t *msg)
{
    hub_engine_t *h = arg;
    tell_stored(h->pool, ch, msg, NULL);
    h->base.arrived(h->base.arrived_arg, ch, msg);
}

static count_t *count_new(cr_pool_t *pool, unsigned origin, cr_bytes_t *name,
                          void (*done)(void *arg, int status, size_t n), void *arg)
{
    count_t *c = cr_xcalloc(1, sizeof(*c));
    atomic_init(&c->pending, pool->n);
    atomic_init(&c->total, 0);
    atomic_init(&c->found, 0);
    c->origin = origin;
    c->done = done;
    c->arg = arg;
    c->name = cr_bytes_ref(name);
    return c;
}

/* Loop w's share of count c: the last loop to add sends the sum back to the asking loop. */
static void count_add(worker_t *w, count_t *c, int found, size_t n)
{
    atomic_fetch_add_explicit(&c->total, n, memory_order_relaxed);
    if (found)
        atomic_fetch_add_explicit(&c->found, 1, memory_order_relaxed);
    if (atomic_fetch_sub_explicit(&c->pending, 1, memory_order_acq_rel) == 1) {
        item_t *back = item_new(IT_COUNTED, w->index);
        back->count = c;
        post(w->pool, c->origin, back);
    }
}

/* Every worker forgets channel name and tells its subscribers, after whatever the hub told it
 * before; c (NULL: nobody waits) counts them. */
static void tell_deleted(cr_pool_t *pool, cr_bytes_t *name, count_t *c)
{
    for (unsigned i = 1; i < pool->n; i++) {
        item_t *it = item_new(IT_DELETED, 0);
        it->name = cr_bytes_ref(name);
        it->count = c;
        post(pool, i, it);
    }
}

/* Loop w forgets channel name, if it has it, and tells its subscribers (*told of them); the hub
 * drops it from the store too. */
static int delete_here(worker_t *w, cr_bytes_t *name, size_t *told)
{
    cr_server_t *srv = w->srv;
    cr_channel_t *ch = cr_registry_find(&srv->reg, name->data, name->len);
    *told = 0;
    if (!ch)
        return 0;
    *told = cr_stream_channel_deleted(srv, ch);
    if (w->index == 0)
        w->pool->real->ops->drop(w->pool->real, ch);
    else
        cr_history_clear(&ch->history);
    cr_registry_remove(&srv->reg, ch);
    cr_log(CR_LOG_DEBUG, "channel %s deleted on loop %u (%zu subscribers told)", name->data, w->index, *told);
    return 1;
}

/* On the hub: DELETE /pub/name. The store forgets it first, then every worker, each behind the
 * messages the hub told it before: no replica keeps a message of the deleted channel or loses one
 * published after. */
static void hub_delete(cr_pool_t *pool, cr_bytes_t *name, count_t *c)
{
    size_t n;
    int found = delete_here(&pool->w[0], name, &n);
    tell_deleted(pool, name, c);
    count_add(&pool->w[0], c, found, n);
}

static void hub_deleted(void *arg, cr_channel_t *ch)
{
    hub_engine_t *h = arg;
    tell_deleted(h->pool, ch->name, NULL);
    h->base.deleted(h->base.arrived_arg, ch);
}

static int hub_restore(cr_engine_t *e, int64_t now_ms)
{
    hub_engine_t *h = (hub_engine_t *)e;
    cr_engine_t *real = h->pool->real;
    real->reg = e->reg;
    real->sched = e->sched;
    real->wake = e->wake;
    real->wake_arg = e->wake_arg;
    real->arrived = hub_arrived;
    real->deleted = hub_deleted;
    real->arrived_arg = h;
    return real->ops->restore(real, now_ms);
}

static void hub_flush(cr_engine_t *e)
{
    cr_engine_t *real = ((hub_engine_t *)e)->pool->real;
    real->ops->flush(real);
}

static int hub_queued(const cr_engine_t *e)
{
    const cr_engine_t *real = ((const hub_engine_t *)e)->pool->real;
    return real->ops->queued && real->ops->queued(real);
}

static void hub_complete(cr_engine_t *e)
{
    cr_engine_t *real = ((hub_engine_t *)e)->pool->real;
    real->ops->complete(real);
}

static int hub_sched_add(cr_engine_t *e, const cr_sched_item_t *it, cr_engine_done_cb done, void *arg)
{
    cr_engine_t *real = ((hub_engine_t *)e)->pool->real;
    return real->ops->sched_add(real, it, done, arg);
}

static int hub_sched_del(cr_engine_t *e, uint64_t id, cr_engine_done_cb done, void *arg)
{
    cr_engine_t *real = ((hub_engine_t *)e)->pool->real;
    return real->ops->sched_del(real, id, done, arg);
}

static int count_everywhere(cr_pool_t *pool, unsigned origin, cr_bytes_t *name,
                            void (*done)(void *arg, int status, size_t n), void *arg)
{
    count_t *c = count_new(pool, origin, name, done, arg);
    for (unsigned i = 0; i < pool->n; i++) {
        item_t *it = item_new(IT_COUNT, origin);
        it->count = c;
        post(pool, i, it);
    }
    return 0;
}

static int hub_subscribers(cr_engine_t *e, cr_channel_t *ch, void (*done)(void *arg, int status, size_t n),
                           void *arg)
{
    cr_pool_t *pool = ((hub_engine_t *)e)->pool;
    int r = pool->real->ops->subscribers(pool->real, ch, done, arg);
    if (r != CR_ENOTSUP)
        return r;
    return count_everywhere(pool, 0, ch->name, done, arg);
}

static void hub_destroy(cr_engine_t *e)
{
    hub_engine_t *h = (hub_engine_t *)e;
    /* The store answers what it finished after the loop ended: those answers go round too. */
    h->pool->real->ops->destroy(h->pool->real);
    finish_all(h->pool);
    h->pool->real = NULL;
    h->pool->hub_engine = NULL;
    free(h);
}

static const cr_engine_ops_t hub_ops = {
    .append = hub_append,
    .load = hub_load,
    .drop = hub_drop,
    .prune = hub_prune,
    .restore = hub_restore,
    .flush = hub_flush,
    .queued = hub_queued,
    .complete = hub_complete,
    .sched_add = hub_sched_add,
    .sched_del = hub_sched_del,
    .subscribers = hub_subscribers,
    .destroy = hub_destroy,
};

/* --- a worker's engine: the hub does the storing ---------------------------------------------------- */

static int proxy_append(cr_engine_t *e, cr_channel_t *ch, cr_msg_t *msg, cr_engine_done_cb done, void *arg)
{
    (void)ch;
    proxy_engine_t *p = (proxy_engine_t *)e;
    item_t *it = item_new(IT_APPEND, p->index);
    it->msg = cr_msg_ref(msg);
    it->done = done;
    it->arg = arg;
    post(p->pool, 0, it);
    return 0;
}

static int proxy_load(cr_engine_t *e, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms,
                      cr_engine_done_cb done, void *arg)
{
    proxy_engine_t *p = (proxy_engine_t *)e;
    cr_history_prune(&ch->history, now_ms, e->cfg.max_count, e->cfg.max_age_ms);
    /* A cursor past this replica's last id was issued by the hub and may have been seen on
     * another loop: once the hub answers, everything stored before is in our inbox ahead
     * of its answer. (A time cursor names a moment, not a message.) */
    if (!cr_msgid_is_none(after) && after.seq != UINT64_MAX && cr_msgid_cmp(after, ch->last_id) > 0) {
        item_t *it = item_new(IT_SYNC, p->index);
        it->name = cr_bytes_ref(ch->name);
        it->done = done;
        it->arg = arg;
        post(p->pool, 0, it);
        return 0;
    }
    done(arg, 0);
    return 0;
}

static void copy_channel(cr_channel_t *from, void *arg)
{
    cr_registry_t *reg = arg;
    cr_channel_t *ch = cr_registry_get(reg, from->name->data, from->name->len, from->created_ms);
    ch->last_id = from->last_id;
    ch->published = from->published;
    ch->created_ms = from->created_ms;
    ch->last_publish_ms = from->last_publish_ms;
    for (size_t i = 0; i < from->history.count; i++)
        cr_history_append(&ch->history, cr_history_at(&from->history, i));
    ch->history.evicted_last = from->history.evicted_last;
}

/* Runs on the main thread before the worker threads start: the hub's registry holds what
 * the store read back; the replica takes references to the same messages. */
static int proxy_restore(cr_engine_t *e, int64_t now_ms)
{
    (void)now_ms;
    proxy_engine_t *p = (proxy_engine_t *)e;
    cr_registry_foreach(&p->pool->w[0].srv->reg, copy_channel, e->reg);
    return 0;
}

static void proxy_idle(cr_engine_t *e)
{
    (void)e;
}

/* Scheduled pushes live in the hub's heap alone: net/sched_api.c sends every request there. */
static int proxy_sched_add(cr_engine_t *e, const cr_sched_item_t *it, cr_engine_done_cb done, void *arg)
{
    (void)e, (void)it, (void)done, (void)arg;
    return CR_ENOTSUP;
}

static int proxy_sched_del(cr_engine_t *e, uint64_t id, cr_engine_done_cb done, void *arg)
{
    (void)e, (void)id, (void)done, (void)arg;
    return CR_ENOTSUP;
}

static int proxy_subscribers(cr_engine_t *e, cr_channel_t *ch, void (*done)(void *arg, int status, size_t n),
                             void *arg)
{
    proxy_engine_t *p = (proxy_engine_t *)e;
    return count_everywhere(p->pool, p->index, ch->name, done, arg);
}

static void proxy_destroy(cr_engine_t *e)
{
    free(e);
}

static const cr_engine_ops_t proxy_ops = {
    .append = proxy_append,
    .load = proxy_load,
    .drop = cr_engine_drop_history,
    .prune = cr_engine_prune_histories,
    .restore = proxy_restore,
    .flush = proxy_idle,
    .complete = proxy_idle,
    .sched_add = proxy_sched_add,
    .sched_del = proxy_sched_del,
    .subscribers = proxy_subscribers,
    .destroy = proxy_destroy,
};

/* --- what arrives in an inbox ------------------------------------------------------------------------ */

/* This loop's copy of a channel another loop told of, made if missing: a channel is as old
 * as its oldest copy (created_ms, the teller's). */
static cr_channel_t *replica(cr_server_t *srv, const cr_bytes_t *name, int64_t created_ms)
{
    cr_channel_t *ch = cr_registry_find(&srv->reg, name->data, name->len);
    if (!ch)
        ch = cr_registry_get(&srv->reg, name->data, name->len, created_ms);
    else if (created_ms < ch->created_ms)
        ch->created_ms = created_ms;
    return ch;
}

/* A stored message reaches a worker's replica, in id order per channel. */
static void on_stored_item(worker_t *w, item_t *it)
{
    cr_server_t *srv = w->srv;
    cr_msg_t *m = it->msg;
    cr_channel_t *ch = replica(srv, m->channel, it->created_ms);
    int fresh = cr_msgid_cmp(m->id, ch->last_id) > 0;
    if (fresh) {
        ch->last_id = m->id;
        ch->published++;
        ch->last_publish_ms = m->time_ms;
        cr_history_append(&ch->history, m);
        cr_history_trim(&ch->history, srv->engine->cfg.max_count);
    }
    size_t n = fresh ? cr_channel_fanout(ch, m) : 0;
    if (it->gather)
        gather_add(w->pool, it->gather, n);
}

static void on_count_item(worker_t *w, item_t *it)
{
    count_t *c = it->count;
    cr_channel_t *ch = cr_registry_find(&w->srv->reg, c->name->data, c->name->len);
    count_add(w, c, ch != NULL, ch ? ch->nsubs : 0);
}

/* A loop's channel got its first subscriber or lost its last: every other loop counts it in
 * the channel's `elsewhere`, so that no loop forgets an idle channel (server.c, gc_one) that
 * another has subscribers on; a resume there then finds the channel as it was, as with one
 * loop. The channel is made where it is missing, as a subscribe on one loop would. Only the
 * forgetting needs this news, and each loop takes its inbox in before it forgets anything
 * (cr_pool_drain): so it wakes nobody, and a long-poll cycle on a channel of its own costs
 * the other loops no thread switch. */
static void tell_presence(void *arg, cr_channel_t *ch, int here)
{
    worker_t *w = arg;
    for (unsigned i = 0; i < w->pool->n; i++) {
        if (i == w->index)
            continue;
        item_t *it = item_new(IT_PRESENCE, w->index);
        it->name = cr_bytes_ref(ch->name);
        it->status = here;
        it->created_ms = ch->created_ms;
        post_quiet(w->pool, i, it);
    }
}

static void on_presence_item(worker_t *w, item_t *it)
{
    if (it->status) {
        replica(w->srv, it->name, it->created_ms)->elsewhere++;
        return;
    }
    cr_channel_t *ch = cr_registry_find(&w->srv->reg, it->name->data, it->name->len);
    /* (Not there, or not counted: the channel was deleted and made anew meanwhile.) */
    if (ch && ch->elsewhere)
        ch->elsewhere--;
}

static void handle(worker_t *w, item_t *it)
{
    cr_pool_t *pool = w->pool;
    cr_server_t *srv = w->srv;
    cr_channel_t *ch;
    switch (it->kind) {
    case IT_ACCEPT:
        cr_conn_adopt(srv, it->fd);
        it->fd = -1;
        break;
    case IT_APPEND: {
        cr_bytes_t *name = it->msg->channel;
        ch = cr_registry_get(&srv->reg, name->data, name->len, cr_now_ms());
        int r = hub_append_from(pool, it->from, ch, it->msg, it->done, it->arg);
        if (r < 0) {
            item_t *f = item_new(IT_FAILED, 0);
            f->status = r;
            f->done = it->done;
            f->arg = it->arg;
            post(pool, it->from, f);
        }
        break;
    }
    case IT_STORED:
        on_stored_item(w, it);
        break;
    case IT_PUBLISHED: {
        pubgather_t *g = it->gather;
        srv->pool_fanout = atomic_load_explicit(&g->total, memory_order_relaxed);
        g->done(g->arg, 0);
        srv->pool_fanout = 0;
        free(g);
        break;
    }
    case IT_FAILED:
        it->done(it->arg, it->status);
        break;
    case IT_DELETE:
        hub_delete(pool, it->name, it->count);
        break;
    case IT_DELETED: {
        size_t n;
        int found = delete_here(w, it->name, &n);
        if (it->count)
            count_add(w, it->count, found, n);
        break;
    }
    case IT_SYNC: {
        item_t *back = item_new(IT_SYNCED, 0);
        back->name = it->name;
        it->name = NULL;
        back->done = it->done;
        back->arg = it->arg;
        post(pool, it->from, back);
        break;
    }
    case IT_SYNCED:
        ch = cr_registry_find(&srv->reg, it->name->data, it->name->len);
        if (ch)
            cr_history_prune(&ch->history, cr_now_ms(), srv->engine->cfg.max_count,
                             srv->engine->cfg.max_age_ms);
        it->done(it->arg, 0);
        break;
    case IT_COUNT:
        on_count_item(w, it);
        break;
    case IT_COUNTED: {
        count_t *c = it->count;
        c->done(c->arg, atomic_load_explicit(&c->found, memory_order_relaxed) ? 0 : CR_ENOTFOUND,
                atomic_load_explicit(&c->total, memory_order_relaxed));
        cr_bytes_unref(c->name);
        free(c);
        break;
    }
    case IT_CALL:
        it->call(srv, it->arg);
        break;
    case IT_PRESENCE:
        on_presence_item(w, it);
        break;
    case IT_STOP:
        cr_server_stop(srv);
        uv_unref((uv_handle_t *)&w->wake);
        break;
    }
}

static void drain(worker_t *w)
{
    cr_mpsc_node_t *n;
    while ((n = cr_mpsc_pop(&w->inbox))) {
        item_t *it = CR_CONTAINER_OF(n, item_t, node);
        handle(w, it);
        item_free(it);
    }
}

static void on_inbox(uv_async_t *a)
{
    drain(a->data);
}

void cr_pool_drain(cr_server_t *srv)
{
    drain(&srv->pool->w[srv->index]);
}

/* --- setup and teardown ------------------------------------------------------------------------------ */

cr_pool_t *cr_pool_new(unsigned n, cr_engine_t *real, cr_engine_t **hub_engine)
{
    cr_pool_t *pool = cr_xcalloc(1, sizeof(*pool));
    pool->n = n;
    pool->w = cr_xcalloc(n, sizeof(*pool->w));
    pool->real = real;
    pool->lfd = -1;
    atomic_init(&pool->next_client_id, 1);
    atomic_init(&pool->conns, 0);
    pool->hub_ops = hub_ops;
    pool->hub_ops.name = real->ops->name;
    pool->proxy_ops = proxy_ops;
    pool->proxy_ops.name = real->ops->name;
    hub_engine_t *h = cr_xcalloc(1, sizeof(*h));
    h->base.ops = &pool->hub_ops;
    h->base.reg = real->reg;
    h->base.cfg = real->cfg;
    h->base.shared = real->shared;
    h->pool = pool;
    pool->hub_engine = h;
    for (unsigned i = 0; i < n; i++) {
        pool->w[i].pool = pool;
        pool->w[i].index = i;
        cr_mpsc_init(&pool->w[i].inbox);
    }
    *hub_engine = &h->base;
    return pool;
}

static void run_worker(void *arg)
{
    worker_t *w = arg;
    uv_run(w->loop, UV_RUN_DEFAULT);
    cr_ws_thread_end();
}

static void join_server(cr_server_t *srv, cr_pool_t *pool, unsigned index)
{
    srv->pool = pool;
    srv->index = index;
    srv->reg.presence = tell_presence;
    srv->reg.presence_arg = &pool->w[index];
}

int cr_pool_start(cr_pool_t *pool, cr_server_t *hub)
{
    worker_t *w0 = &pool->w[0];
    w0->srv = hub;
    w0->loop = hub->loop;
    join_server(hub, pool, 0);
    uv_async_init(hub->loop, &w0->wake, on_inbox);
    w0->wake.data = w0;
    for (unsigned i = 1; i < pool->n; i++) {
        worker_t *w = &pool->w[i];
        w->loop = cr_xcalloc(1, sizeof(*w->loop));
        uv_loop_init(w->loop);
        w->srv = cr_xcalloc(1, sizeof(*w->srv));
        proxy_engine_t *p = cr_xcalloc(1, sizeof(*p));
        p->base.ops = &pool->proxy_ops;
        p->base.cfg = pool->real->cfg;
        p->base.shared = 1; /* a worker forgets an idle channel only locally */
        p->pool = pool;
        p->index = i;
        int r = cr_server_init_worker(w->srv, w->loop, &hub->cfg, &p->base);
        if (r < 0)
            return r;
        join_server(w->srv, pool, i);
        uv_async_init(w->loop, &w->wake, on_inbox);
        w->wake.data = w;
    }
    for (unsigned i = 1; i < pool->n; i++) {
        int r = uv_thread_create(&pool->w[i].thread, run_worker, &pool->w[i]);
        if (r < 0) {
            cr_log(CR_LOG_ERROR, "cannot start thread %u: %s", i, uv_strerror(r));
            return r;
        }
        pool->w[i].running = 1;
    }
    cr_log(CR_LOG_INFO, "%u event loops", pool->n);
    return 0;
}

static void on_listen_ready(uv_poll_t *p, int status, int events)
{
    (void)events;
    cr_pool_t *pool = p->data;
    if (status < 0) {
        cr_log(CR_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < 64; i++) {
        int fd = accept4(pool->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                cr_log(CR_LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        unsigned to = pool->next;
        pool->next = (pool->next + 1) % pool->n;
        if (to == 0) {
            cr_conn_adopt(pool->w[0].srv, fd);
        } else {
            item_t *it = item_new(IT_ACCEPT, 0);
            it->fd = fd;
            post(pool, to, it);
        }
    }
}

int cr_pool_listen(cr_pool_t *pool, const struct sockaddr *addr)
{
    socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, addr, len) < 0 || listen(fd, 4096) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    pool->lfd = fd;
    cr_server_t *hub = pool->w[0].srv;
    uv_poll_init(hub->loop, &pool->lpoll, fd);
    pool->lpoll.data = pool;
    uv_poll_start(&pool->lpoll, UV_READABLE, on_listen_ready);
    pool->listening = 1;
    return 0;
}

static void on_lpoll_closed(uv_handle_t *h)
{
    cr_pool_t *pool = h->data;
    close(pool->lfd);
    pool->lfd = -1;
}

void cr_pool_stop(cr_pool_t *pool)
{
    if (pool->listening) {
        pool->listening = 0;
        uv_close((uv_handle_t *)&pool->lpoll, on_lpoll_closed);
    }
    /* Late messages between loops need no answer now: the wake-ups must not keep a loop alive. */
    uv_unref((uv_handle_t *)&pool->w[0].wake);
    for (unsigned i = 1; i < pool->n; i++)
        if (pool->w[i].srv)
            post(pool, i, item_new(IT_STOP, 0));
}

/* What is still in an inbox once every loop has ended (or while the hub's store is destroyed,
 * answering what it finished) is finished on this, the main, thread: the loops' threads are
 * joined, so this thread is every inbox's only consumer, and every loop's objects are still
 * there (stopped) to be answered. A request is answered with CR_EUNAVAIL, never carried out;
 * what was only to be told is dropped; a count or a publish waiting for several loops gets its
 * answer. That may post more: rounds until every inbox is empty. */
static void finish(worker_t *w, item_t *it)
{
    switch (it->kind) {
    case IT_APPEND:
        it->done(it->arg, CR_EUNAVAIL);
        break;
    case IT_STORED:
        if (it->gather)
            gather_add(w->pool, it->gather, 0);
        break;
    case IT_DELETE:
        tell_deleted(w->pool, it->name, it->count);
        count_add(w, it->count, 0, 0);
        break;
    case IT_DELETED:
    case IT_COUNT:
        if (it->count)
            count_add(w, it->count, 0, 0);
        break;
    case IT_SYNCED:
        it->done(it->arg, CR_EUNAVAIL);
        break;
    case IT_PUBLISHED:
    case IT_FAILED:
    case IT_SYNC:
    case IT_COUNTED:
    case IT_CALL: /* every loop's server is stopping: the functions called only answer */
        handle(w, it);
        break;
    case IT_ACCEPT: /* item_free closes the fd */
    case IT_STOP:
    case IT_PRESENCE:
        break;
    }
}

static void finish_all(cr_pool_t *pool)
{
    for (int more = 1; more;) {
        more = 0;
        for (unsigned i = 0; i < pool->n; i++) {
            cr_mpsc_node_t *n;
            while ((n = cr_mpsc_pop(&pool->w[i].inbox))) {
                item_t *it = CR_CONTAINER_OF(n, item_t, node);
                finish(&pool->w[i], it);
                item_free(it);
                more = 1;
            }
        }
    }
}

void cr_pool_join(cr_pool_t *pool)
{
    for (unsigned i = 1; i < pool->n; i++) {
        worker_t *w = &pool->w[i];
        if (w->running)
            uv_thread_join(&w->thread);
        w->running = 0;
    }
    pool->ended = 1; /* posts from now on only queue: nothing is woken */
    for (unsigned i = 0; i < pool->n; i++) {
        worker_t *w = &pool->w[i];
        if (w->wake.loop && !uv_is_closing((uv_handle_t *)&w->wake)) {
            uv_close((uv_handle_t *)&w->wake, NULL);
            uv_run(w->loop, UV_RUN_NOWAIT);
        }
    }
    finish_all(pool);
    /* What the servers unlink as they are freed is told to nobody. */
    for (unsigned i = 0; i < pool->n; i++)
        if (pool->w[i].srv)
            pool->w[i].srv->reg.presence = NULL;
}

void cr_pool_free(cr_pool_t *pool)
{
    if (!pool)
        return;
    for (unsigned i = 1; i < pool->n; i++) {
        worker_t *w = &pool->w[i];
        if (!w->srv)
            continue;
        cr_server_free(w->srv);
        uv_run(w->loop, UV_RUN_NOWAIT);
        uv_loop_close(w->loop);
        free(w->srv);
        free(w->loop);
    }
    free(pool->w);
    free(pool);
}

int cr_pool_count(cr_server_t *srv, cr_bytes_t *name, void (*done)(void *arg, int status, size_t n),
                  void *arg)
{
    return count_everywhere(srv->pool, srv->index, name, done, arg);
}

int cr_pool_delete(cr_server_t *srv, cr_bytes_t *name, void (*done)(void *arg, int status, size_t n),
                   void *arg)
{
    cr_pool_t *pool = srv->pool;
    count_t *c = count_new(pool, srv->index, name, done, arg);
    if (srv->index == 0) {
        hub_delete(pool, name, c);
        return 0;
    }
    item_t *it = item_new(IT_DELETE, srv->index);
    it->name = cr_bytes_ref(name);
    it->count = c;
    post(pool, 0, it);
    return 0;
}

void cr_pool_call(cr_pool_t *pool, unsigned to, void (*fn)(cr_server_t *srv, void *arg), void *arg)
{
    item_t *it = item_new(IT_CALL, 0);
    it->call = fn;
    it->arg = arg;
    post(pool, to, it);
}

uint64_t cr_pool_next_client_id(cr_pool_t *pool)
{
    return atomic_fetch_add_explicit(&pool->next_client_id, 1, memory_order_relaxed);
}

size_t cr_pool_conns_add(cr_pool_t *pool, int delta)
{
    if (delta > 0)
        return atomic_fetch_add_explicit(&pool->conns, 1, memory_order_relaxed) + 1;
    return atomic_fetch_sub_explicit(&pool->conns, 1, memory_order_relaxed) - 1;
}

unsigned cr_pool_size(const cr_pool_t *pool)
{
    return pool->n;
}

cr_server_t *cr_pool_server(const cr_pool_t *pool, unsigned i)
{
    return pool->w[i].srv;
}
