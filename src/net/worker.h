/* --threads N: N event loops on N threads, each owning its connections.
 * See worker.c for the design.
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_WORKER_H
#define CR_NET_WORKER_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/bytes.h"
#include "engine/engine.h"

struct cr_server;
typedef struct cr_pool cr_pool_t;

/* A pool of n loops (n >= 2) around the store real (the pool takes ownership). Returns
 * the pool and, in *hub_engine, the engine to give the hub's cr_server_init. */
cr_pool_t *cr_pool_new(unsigned n, cr_engine_t *real, cr_engine_t **hub_engine);
/* After cr_server_init(hub): sets up loops 1..n-1 (their replicas read from the hub's
 * registry) and starts their threads. 0 or a negative code (logged). */
int cr_pool_start(cr_pool_t *pool, struct cr_server *hub);
/* Listens on addr from the hub's loop and hands each accepted connection to the loops in
 * turn. 0 or a negative code (not logged). */
int cr_pool_listen(cr_pool_t *pool, const struct sockaddr *addr);
/* From the hub's cr_server_stop: stops listening and tells every loop to stop. */
void cr_pool_stop(cr_pool_t *pool);
/* After the hub's loop ended: waits for the threads and finishes what is still queued
 * between loops; the caller then frees the hub (whose store may answer its last appends),
 * then the pool, which frees the loops 1..n-1. */
void cr_pool_join(cr_pool_t *pool);
void cr_pool_free(cr_pool_t *pool);

/* DELETE /pub/<name> asked on srv's loop: the hub drops the channel from the store, every loop
 * forgets it and tells its subscribers, then done runs on srv's loop with status 0 and how
 * many subscribers were told, or CR_ENOTFOUND when no loop had the channel. 0. */
int cr_pool_delete(struct cr_server *srv, cr_bytes_t *name, void (*done)(void *arg, int status, size_t n),
                   void *arg);
/* Counts the subscribers to channel name on every loop, then calls done on srv's loop with
 * status 0, or CR_ENOTFOUND when no loop has the channel. 0. */
int cr_pool_count(struct cr_server *srv, cr_bytes_t *name, void (*done)(void *arg, int status, size_t n),
                  void *arg);
/* Runs fn(srv, arg) on loop `to`'s thread, soon (for requests about what another loop
 * owns, such as a client's connection). fn runs even when the loops stop, at the last on the
 * main thread once they have ended (srv->stopping is set then): it must then only answer and
 * free, never start new work. */
void cr_pool_call(cr_pool_t *pool, unsigned to, void (*fn)(struct cr_server *srv, void *arg), void *arg);
/* Takes in what waits in srv's inbox (srv's thread; for news posted without a wake-up). */
void cr_pool_drain(struct cr_server *srv);
/* How many loops the pool has, and one loop's server (for /health and /metrics sums:
 * read its counters with relaxed atomic loads). */
unsigned cr_pool_size(const cr_pool_t *pool);
struct cr_server *cr_pool_server(const cr_pool_t *pool, unsigned i);

#endif
