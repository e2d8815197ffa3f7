/* Runs the Redis engine's hiredis connections on the server's libuv loop: one uv_poll
 * per connection, started and stopped as hiredis asks for read and write readiness.
 * (hiredis ships a libuv adapter, but the one in Debian 12 drops poll errors, so a
 * refused reconnect would wait for ever; here an error wakes hiredis, which then
 * sees the failure itself.)
 * SPDX-License-Identifier: MIT */
#include "net/redis_loop.h"

#include <hiredis/async.h>
#include <stdlib.h>
#include <uv.h>

#include "core/bytes.h"

typedef struct redis_poll {
    redisAsyncContext *ac; /* NULL once hiredis has let go of the connection */
    uv_poll_t poll;
    int events;
} redis_poll_t;

static void on_poll(uv_poll_t *h, int status, int events)
{
    redis_poll_t *p = h->data;
    if (status < 0)
        events = p->events;
    /* Write first: a connect in progress completes (or fails) on writability. */
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
}

static void set_events(redis_poll_t *p, int events)
{
    p->events = events;
    if (events)
        uv_poll_start(&p->poll, events, on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void add_read(void *arg)
{
    redis_poll_t *p = arg;
    set_events(p, p->events | UV_READABLE);
}

static void del_read(void *arg)
{
    redis_poll_t *p = arg;
    set_events(p, p->events & ~UV_READABLE);
}

static void add_write(void *arg)
{
    redis_poll_t *p = arg;
    set_events(p, p->events | UV_WRITABLE);
}

static void del_write(void *arg)
{
    redis_poll_t *p = arg;
    set_events(p, p->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void cleanup(void *arg)
{
    redis_poll_t *p = arg;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, on_closed);
}

int cr_redis_loop_attach(void *loop, struct redisAsyncContext *ac)
{
    if (ac->ev.data)
        return -1;
    redis_poll_t *p = cr_xcalloc(1, sizeof(*p));
    if (uv_poll_init(loop, &p->poll, ac->c.fd) < 0) {
        free(p);
        return -1;
    }
    p->ac = ac;
    p->poll.data = p;
    /* The server stops when its own handles close; destroy then frees the connections. */
    uv_unref((uv_handle_t *)&p->poll);
    ac->ev.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
