/* Hooks a hiredis connection of the Redis engine onto the server's libuv loop, so
 * that engine/ never includes <uv.h>.
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_REDIS_LOOP_H
#define CR_NET_REDIS_LOOP_H

struct redisAsyncContext;

/* loop is a uv_loop_t *. The connection does not keep the loop alive on its own: the server
 * stops when its own handles are closed, and the engine's destroy frees the connections.
 * 0 or -1. */
int cr_redis_loop_attach(void *loop, struct redisAsyncContext *ac);

#endif
