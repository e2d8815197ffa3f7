/* Server setup, the periodic sweep and the end-of-turn reap and flush.
 * SPDX-License-Identifier: MIT */
#include "net/server.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/relay.h"
#include "net/router.h"
#include "net/worker.h"
#include "transport/stream.h"

#define SWEEP_MS 100
#define PRUNE_MS 1000
#define HOLD_TURNS 4 /* turns a commit may wait for input already there */

int64_t cr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connection(uv_stream_t *l, int status)
{
    cr_server_t *srv = l->data;
    if (status < 0) {
        cr_log(CR_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    cr_conn_accept(srv);
}

static void expire_conns(cr_server_t *srv, cr_timerq_t *q, int64_t now)
{
    cr_timerq_entry_t *e;
    while ((e = cr_timerq_pop_expired(q, now)))
        cr_conn_timeout(CR_CONTAINER_OF(e, cr_conn_t, timer), q);
}

typedef struct {
    cr_server_t *srv;
    int64_t now;
    cr_channel_t **dead;
    size_t ndead, cap;
} gc_ctx_t;

static void gc_one(cr_channel_t *ch, void *arg)
{
    gc_ctx_t *g = arg;
    int64_t last = ch->last_publish_ms > ch->created_ms ? ch->last_publish_ms : ch->created_ms;
    if (ch->nsubs || ch->elsewhere || ch->history.count || g->now - last < g->srv->cfg.channel_idle_ms)
        return;
    if (g->ndead == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 16;
        g->dead = cr_xrealloc(g->dead, g->cap * sizeof(*g->dead));
    }
    g->dead[g->ndead++] = ch;
}

/* Retention, then forgetting channels with nothing left in them: a subscriber
 * that comes back to one later with an old cursor is told of a possible gap,
 * because the new channel was created after its cursor. */
static void prune(cr_server_t *srv)
{
    if (srv->pool)
        cr_pool_drain(srv); /* what other loops said of their subscribers (tell_presence) */
    int64_t now = cr_now_ms();
    srv->engine->ops->prune(srv->engine, now);
    gc_ctx_t g = {srv, now, NULL, 0, 0};
    cr_registry_foreach(&srv->reg, gc_one, &g);
    for (size_t i = 0; i < g.ndead; i++) {
        /* A shared store (redis) keeps the channel for the other nodes: only this node forgets it. */
        if (!srv->engine->shared)
            srv->engine->ops->drop(srv->engine, g.dead[i]);
        cr_registry_remove(&srv->reg, g.dead[i]);
    }
    free(g.dead);
}

static void on_sweep(uv_timer_t *t)
{
    cr_server_t *srv = t->data;
    int64_t now = (int64_t)uv_now(srv->loop);
    expire_conns(srv, &srv->head_q, now);
    expire_conns(srv, &srv->idle_q, now);
    expire_conns(srv, &srv->linger_q, now);
    expire_conns(srv, &srv->stall_q, now);
    cr_stream_sweep(srv, now);
    if (now - srv->last_prune_ms >= PRUNE_MS) {
        srv->last_prune_ms = now;
        prune(srv);
    }
}

/* Whether the loop's next poll has something to read: a poll of libuv's epoll fd. */
static int input_waiting(cr_server_t *srv)
{
    struct pollfd p = {.fd = uv_backend_fd(srv->loop), .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static void on_held(uv_idle_t *h)
{
    (void)h; /* its being active is what matters: the loop polls without blocking */
}

/* What the turn appended is committed as one transaction. While more input waits
 * to be read, the batch is held for a few turns at most, to take in the publishes
 * already waiting: when the loop and the writer share a core, the writer would only
 * interrupt the loop, and one commit and two thread switches then cover them all
 * instead of several (the durable store's publish rate rose by about a tenth).
 * The idle handle keeps the loop from blocking with a batch held. */
static void flush_engine(cr_server_t *srv)
{
    cr_engine_t *e = srv->engine;
    if (e->ops->queued && e->ops->queued(e) && srv->held_turns < HOLD_TURNS && !srv->stopping &&
        input_waiting(srv)) {
        if (srv->held_turns++ == 0)
            uv_idle_start(&srv->held, on_held);
        return;
    }
    if (srv->held_turns) {
        srv->held_turns = 0;
        uv_idle_stop(&srv->held);
    }
    e->ops->flush(e);
}

/* End of a loop turn: streams that ended during fan-out are detached now that
 * no fan-out is running, then every connection with output gets one writev. */
static void on_turn(uv_check_t *h)
{
    cr_server_t *srv = h->data;
    cr_stream_reap(srv);
    while (!cr_list_empty(&srv->dirty)) {
        cr_conn_t *c = CR_CONTAINER_OF(srv->dirty.next, cr_conn_t, dirty_link);
        cr_conn_flush(c);
    }
    flush_engine(srv);
}

static void on_engine_wake(uv_async_t *a)
{
    cr_server_t *srv = a->data;
    srv->engine->ops->complete(srv->engine);
}

/* A message another node published (cluster engine), already in ch's history: local
 * subscribers get it through the same fan-out as a local publish. */
static void engine_arrived(void *arg, cr_channel_t *ch, cr_msg_t *msg)
{
    (void)arg;
    cr_channel_fanout(ch, msg);
}

/* Another node deleted ch: its subscribers here are told, as for a local DELETE. */
static void engine_deleted(void *arg, cr_channel_t *ch)
{
    cr_server_t *srv = arg;
    size_t n = cr_stream_channel_deleted(srv, ch);
    cr_log(CR_LOG_INFO, "channel %s deleted on another node (%zu subscribers told)", ch->name->data, n);
    cr_history_clear(&ch->history);
    cr_registry_remove(&srv->reg, ch);
}

/* Called by the engine's writer thread. */
static void engine_wake(void *arg)
{
    uv_async_send(arg);
}

static void on_sched_timer(uv_timer_t *t)
{
    cr_api_sched_run(t->data);
}

void cr_server_sched_rearm(cr_server_t *srv)
{
    if (srv->stopping)
        return;
    cr_sched_item_t *it = cr_sched_peek(&srv->sched);
    if (!it) {
        uv_timer_stop(&srv->sched_timer);
        return;
    }
    int64_t wait = it->due_ms - cr_now_ms();
    uv_timer_start(&srv->sched_timer, on_sched_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    cr_server_t *srv = s->data;
    cr_log(CR_LOG_INFO, "signal %d: shutting down", signum);
    cr_server_stop(srv);
}

static int server_init(cr_server_t *srv, uv_loop_t *loop, const cr_config_t *cfg, cr_engine_t *engine,
                       int signals)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->engine = engine;
    cr_registry_init(&srv->reg);
    cr_clients_init(&srv->clients);
    engine->reg = &srv->reg;
    cr_timerq_init(&srv->head_q, cfg->header_timeout_ms);
    cr_timerq_init(&srv->idle_q, cfg->idle_timeout_ms);
    cr_timerq_init(&srv->linger_q, 2000);
    cr_timerq_init(&srv->stall_q, cfg->outq_soft_ms);
    cr_timerq_init(&srv->hold_q, cfg->hold_ms);
    cr_timerq_init(&srv->hb_q, cfg->heartbeat_ms);
    cr_timerq_init(&srv->ping_q, cfg->ws_ping_ms);
    cr_list_init(&srv->conns);
    cr_list_init(&srv->dirty);
    cr_list_init(&srv->reap);
    srv->slab = cr_xmalloc(CR_SLAB_SIZE);
    srv->started_ms = cr_now_ms();
    srv->next_client_id = 1;
    uv_timer_init(loop, &srv->sweep);
    srv->sweep.data = srv;
    uv_timer_start(&srv->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_check_init(loop, &srv->turn);
    srv->turn.data = srv;
    uv_check_start(&srv->turn, on_turn);
    uv_idle_init(loop, &srv->held);
    if (signals) {
        uv_signal_init(loop, &srv->sigint);
        uv_signal_init(loop, &srv->sigterm);
        srv->sigint.data = srv->sigterm.data = srv;
        uv_signal_start(&srv->sigint, on_signal, SIGINT);
        uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    }
    cr_sched_init(&srv->sched);
    uv_timer_init(loop, &srv->sched_timer);
    srv->sched_timer.data = srv;
    uv_async_init(loop, &srv->engine_wake, on_engine_wake);
    srv->engine_wake.data = srv;
    engine->sched = &srv->sched;
    engine->wake = engine_wake;
    engine->wake_arg = &srv->engine_wake;
    engine->arrived = engine_arrived;
    engine->deleted = engine_deleted;
    engine->arrived_arg = srv;
    int r = engine->ops->restore(engine, cr_now_ms());
    if (r < 0) {
        cr_log(CR_LOG_ERROR, "cannot read back the %s store: %s", engine->ops->name, cr_err_text(r));
        return r;
    }
    if (srv->reg.count || srv->sched.count)
        cr_log(CR_LOG_INFO, "restored %zu channels and %zu scheduled pushes from the %s store",
               srv->reg.count, srv->sched.count, engine->ops->name);
    cr_server_sched_rearm(srv);
    return 0;
}

int cr_server_init(cr_server_t *srv, uv_loop_t *loop, const cr_config_t *cfg, cr_engine_t *engine)
{
    return server_init(srv, loop, cfg, engine, 1);
}

int cr_server_init_worker(cr_server_t *srv, uv_loop_t *loop, const cr_config_t *cfg, cr_engine_t *engine)
{
    return server_init(srv, loop, cfg, engine, 0);
}

int cr_server_listen(cr_server_t *srv)
{
    struct sockaddr_storage addr;
    int r;
    if (strchr(srv->cfg.listen_host, ':'))
        r = uv_ip6_addr(srv->cfg.listen_host, srv->cfg.listen_port, (struct sockaddr_in6 *)&addr);
    else
        r = uv_ip4_addr(srv->cfg.listen_host, srv->cfg.listen_port, (struct sockaddr_in *)&addr);
    if (r < 0) {
        cr_log(CR_LOG_ERROR, "bad listen address %s: %s", srv->cfg.listen_host, uv_strerror(r));
        return r;
    }
    if (srv->pool) {
        r = cr_pool_listen(srv->pool, (struct sockaddr *)&addr);
    } else {
        uv_tcp_init(srv->loop, &srv->listener);
        srv->listener.data = srv;
        r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
        if (r == 0)
            r = uv_listen((uv_stream_t *)&srv->listener, 4096, on_connection);
    }
    if (r < 0) {
        cr_log(CR_LOG_ERROR, "listen on %s:%d: %s", srv->cfg.listen_host, srv->cfg.listen_port,
               uv_strerror(r));
        return r;
    }
    cr_log(CR_LOG_INFO, "crier listening on http://%s:%d (engine %s)", srv->cfg.listen_host,
           srv->cfg.listen_port, srv->engine->ops->name);
    if (srv->cfg.relay_host[0])
        return cr_relay_listen(srv);
    return 0;
}

void cr_server_stop(cr_server_t *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    if (uv_is_active((uv_handle_t *)&srv->listener) || srv->listener.data)
        uv_close((uv_handle_t *)&srv->listener, NULL);
    if (srv->pool && srv->index == 0)
        cr_pool_stop(srv->pool);
    if (srv->index == 0)
        cr_relay_stop(srv);
    /* Every subscriber is told before its connection goes, with what fits in its
     * socket now: a client that knows the server is stopping reconnects elsewhere
     * or later with its cursor. */
    for (cr_list_t *it = srv->conns.next, *next; it != &srv->conns; it = next) {
        next = it->next; /* a failed write closes its connection */
        cr_conn_t *c = CR_CONTAINER_OF(it, cr_conn_t, link);
        if (c->stream)
            cr_stream_server_stopping(c->stream);
        cr_conn_flush(c);
    }
    while (!cr_list_empty(&srv->conns))
        cr_conn_close(CR_CONTAINER_OF(srv->conns.next, cr_conn_t, link), "server stopping");
    uv_close((uv_handle_t *)&srv->sweep, NULL);
    uv_close((uv_handle_t *)&srv->sched_timer, NULL);
    /* The writer thread may still wake the loop: the handle is closed only after
     * the engine is destroyed (cr_server_free), and must not keep the loop alive. */
    uv_unref((uv_handle_t *)&srv->engine_wake);
    uv_close((uv_handle_t *)&srv->turn, NULL);
    uv_close((uv_handle_t *)&srv->held, NULL);
    if (srv->sigint.data) {
        uv_close((uv_handle_t *)&srv->sigint, NULL);
        uv_close((uv_handle_t *)&srv->sigterm, NULL);
    }
}

void cr_server_free(cr_server_t *srv)
{
    cr_stream_reap(srv);
    /* A last retention pass, so a store closed now holds no more than it should. */
    srv->engine->ops->prune(srv->engine, cr_now_ms());
    srv->engine->ops->destroy(srv->engine);
    if (srv->engine_wake.loop && !uv_is_closing((uv_handle_t *)&srv->engine_wake)) {
        uv_close((uv_handle_t *)&srv->engine_wake, NULL);
        uv_run(srv->loop, UV_RUN_NOWAIT);
    }
    cr_sched_free(&srv->sched);
    cr_registry_destroy(&srv->reg);
    cr_clients_destroy(&srv->clients);
    free(srv->slab);
}
