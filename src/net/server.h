/* The server: one libuv loop owning its listener, connections, channel
 * registry, engine and timers. Per loop turn it reaps streams that ended during
 * fan-out, then flushes every connection that has output, so that messages
 * queued for one subscriber within a turn leave in one writev.
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_SERVER_H
#define CR_NET_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "core/channel.h"
#include "core/clients.h"
#include "core/list.h"
#include "core/sched.h"
#include "core/timerq.h"
#include "engine/engine.h"
#include "net/config.h"
#include "proto/http1_parse.h"

/* The loop's shared read buffer: a read lands there when its connection holds no input. */
#define CR_SLAB_SIZE (64 * 1024)

typedef struct cr_server {
    uv_loop_t *loop;
    cr_config_t cfg;
    cr_registry_t reg;
    cr_engine_t *engine;
    uv_tcp_t listener;
    uv_tcp_t relay_listener; /* the raw TCP relay (--relay-listen); data is NULL when off */
    cr_clients_t clients;    /* client id -> live subscriber, for POST /pub/@id */
    uv_timer_t sweep;        /* drives the deadline queues, retention and channel GC */
    uv_check_t turn;         /* end of each loop turn: reap, then flush */
    uv_idle_t held;          /* active while a batch is held for the next turn: poll won't block */
    int held_turns;          /* turns the engine's batch has been held for */
    uv_async_t engine_wake;  /* the engine's writer thread finished work: complete it here */
    uv_timer_t sched_timer;  /* fires when the first scheduled push is due */
    cr_sched_t sched;        /* scheduled pushes waiting for their time */
    uv_signal_t sigint, sigterm;
    cr_timerq_t head_q;   /* connections reading a request head or body */
    cr_timerq_t idle_q;   /* keep-alive connections between requests */
    cr_timerq_t linger_q; /* half-closed connections draining input before close */
    cr_timerq_t stall_q;  /* connections not read from because their client does not read its answers */
    cr_timerq_t hold_q;   /* long polls waiting for a message */
    cr_timerq_t hb_q;     /* streams waiting for their next heartbeat */
    cr_timerq_t ping_q;   /* WebSocket streams waiting for their next ping */
    cr_list_t conns;      /* every open connection */
    cr_list_t dirty;      /* connections with queued output */
    cr_list_t reap;       /* streams that ended and wait to be detached */
    size_t nconns;
    uint64_t next_client_id;
    struct cr_pool *pool; /* --threads > 1: the loops this one works with (net/worker.h); else NULL */
    unsigned index;       /* this loop's place in the pool; 0: the hub (and the only loop without a pool) */
    size_t pool_fanout;   /* while a publish completes with a pool: the subscribers every loop reached */
    int64_t started_ms;
    int64_t last_prune_ms;
    cr_http_request_t req; /* scratch for the request being handled (one loop, one at a time) */
    char *slab;            /* shared read buffer (CR_SLAB_SIZE): idle connections hold no input buffer */
    int stopping;
    /* counters for /health and /metrics */
    uint64_t published, delivered, slow_cutoffs, requests, bad_requests;
} cr_server_t;

/* Sets up srv on loop with cfg (copied) and the engine (takes ownership), and reads back
 * what the engine stored (restore). 0 or a negative code (logged); on failure the caller
 * still stops, runs the loop and frees srv. */
int cr_server_init(cr_server_t *srv, uv_loop_t *loop, const cr_config_t *cfg, cr_engine_t *engine);
/* The same for one of the worker loops of --threads (net/worker.c): no signal handlers,
 * and restore fills the registry from the hub's. */
int cr_server_init_worker(cr_server_t *srv, uv_loop_t *loop, const cr_config_t *cfg, cr_engine_t *engine);
/* A new client id (POST /pub/@id), unique across loops (net/worker.c counts for them). */
uint64_t cr_pool_next_client_id(struct cr_pool *pool);
static inline uint64_t cr_server_client_id(cr_server_t *srv)
{
    return srv->pool ? cr_pool_next_client_id(srv->pool) : srv->next_client_id++;
}
/* --max-conns is one limit for the process: with --threads, net/worker.c counts every loop's
 * connections (delta +1 or -1) and returns how many are open. */
size_t cr_pool_conns_add(struct cr_pool *pool, int delta);
/* A connection opened on srv's loop: how many the process has open now, this one included. */
static inline size_t cr_server_conn_opened(cr_server_t *srv)
{
    srv->nconns++;
    return srv->pool ? cr_pool_conns_add(srv->pool, 1) : srv->nconns;
}
static inline void cr_server_conn_closed(cr_server_t *srv)
{
    srv->nconns--;
    if (srv->pool)
        cr_pool_conns_add(srv->pool, -1);
}
/* Sets the scheduled-push timer to the first item's due time (after the heap changed). */
void cr_server_sched_rearm(cr_server_t *srv);
/* Binds and listens on cfg.listen_host:listen_port. 0 or a negative code (logged). */
int cr_server_listen(cr_server_t *srv);
/* Stops accepting, closes every connection and handle; the loop then ends. */
void cr_server_stop(cr_server_t *srv);
/* Frees what the server owns once the loop has ended. */
void cr_server_free(cr_server_t *srv);

/* Wall-clock milliseconds since the epoch (message times and ids). */
int64_t cr_now_ms(void);

#endif
