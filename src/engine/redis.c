/* The cluster engine on Redis. Each channel's messages go to a Redis Stream
 * (crier:s:<name>) bounded by the retention, and the stream entry id is the message id.
 * One Lua script does XADD and PUBLISH together, so every node gets one notice per
 * message (crier:p:<name>) in id order, whoever published it. A node follows a channel
 * (redis_follow.c) while it has local subscribers on it and serves them from memory.
 * This file: the engine ops and the engine's construction. Never blocks the loop.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "engine/redis_priv.h"

/* --- engine ops ------------------------------------------------------------------------------------- */

static rd_shard_t *shard_of(rd_engine_t *e, const cr_bytes_t *name)
{
    return &e->shards[cr_redis_shard(name->data, name->len, e->nshards)];
}

static void on_published(redisAsyncContext *ac, void *reply, void *priv)
{
    rd_pend_t *p = priv;
    rd_engine_t *e = p->e;
    redisReply *r = reply;
    cr_span_t s;
    p->replied = 1;
    if (e->destroying)
        return;
    if (cr__rd_reply_str(r, &s) < 0 || cr_msgid_parse(s.ptr, s.len, &p->msg->id) < 0) {
        if (r && r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "crier: redis: publish to %s: %s\n", p->name->data, r->str);
        p->status = CR_EUNAVAIL;
        p->complete = 1;
    } else {
        rd_chan_t *c = cr__rd_chan_find(e, p->name->data, p->name->len);
        cr_channel_t *ch = cr__rd_channel_of(e, p->name);
        if (!c || c->state == RC_UNSUBSCRIBING) {
            /* Nobody here follows it: keep it for this node's figures; it is not fanned out by
             * the engine (there is no local subscriber to tell). */
            if (ch)
                cr__rd_take(e, ch, p->msg, 0);
            p->complete = 1;
        } else if (c->state == RC_LIVE && ch && cr_msgid_cmp(ch->last_id, p->msg->id) >= 0) {
            p->complete = 1; /* its notice came first */
        }
        /* Otherwise it completes when its notice (or a resync) brings it into the history, so that
         * local subscribers get it in id order with the other nodes' messages. */
    }
    cr__rd_run_fifo(e);
}

static int rd_append(cr_engine_t *base, cr_channel_t *ch, cr_msg_t *msg, cr_engine_done_cb done, void *arg)
{
    rd_engine_t *e = (rd_engine_t *)base;
    rd_shard_t *sh = shard_of(e, ch->name);
    if (!sh->up)
        return CR_EUNAVAIL;
    char skey[CR_CHANNEL_NAME_MAX + 16], ckey[CR_CHANNEL_NAME_MAX + 16], ps[CR_CHANNEL_NAME_MAX + 16];
    char count[24], age[24], t[24], x[24];
    snprintf(skey, sizeof(skey), RD_PREFIX "s:%s", ch->name->data);
    snprintf(ckey, sizeof(ckey), RD_PREFIX "c:%s", ch->name->data);
    cr__rd_pubsub_name(ch->name, ps);
    snprintf(count, sizeof(count), "%zu", base->cfg.max_count);
    snprintf(age, sizeof(age), "%lld", (long long)base->cfg.max_age_ms);
    snprintf(t, sizeof(t), "%lld", (long long)msg->time_ms);
    snprintf(x, sizeof(x), "%lld", (long long)msg->expires_ms);
    const cr_bytes_t *ct = msg->content_type, *ev = msg->event;
    const char *argv[] = {"EVALSHA",
                          e->sha[RD_SCRIPT_PUBLISH],
                          "2",
                          skey,
                          ckey,
                          count,
                          age,
                          ps,
                          t,
                          x,
                          ct ? ct->data : "",
                          ev ? ev->data : "",
                          msg->payload->data};
    size_t lens[] = {
        7,          40,        1,         strlen(skey),     strlen(ckey),     strlen(count),    strlen(age),
        strlen(ps), strlen(t), strlen(x), ct ? ct->len : 0, ev ? ev->len : 0, msg->payload->len};
    rd_pend_t *p = cr_xcalloc(1, sizeof(*p));
    p->e = e;
    p->name = cr_bytes_ref(ch->name);
    p->msg = cr_msg_ref(msg);
    p->done = done;
    p->arg = arg;
    if (e->tail)
        e->tail->next = p;
    else
        e->head = p;
    e->tail = p;
    if (redisAsyncCommandArgv(sh->cmd, on_published, p, 13, argv, lens) != REDIS_OK) {
        /* The connection is going away: refused, in turn, like any failed append. */
        p->replied = p->complete = 1;
        p->status = CR_EUNAVAIL;
        cr__rd_run_fifo(e);
    }
    return 0;
}

static int rd_load(cr_engine_t *base, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms,
                   cr_engine_done_cb done, void *arg)
{
    rd_engine_t *e = (rd_engine_t *)base;
    (void)after; /* the node keeps everything retained once it follows the channel */
    cr_history_prune(&ch->history, now_ms, base->cfg.max_count, base->cfg.max_age_ms);
    rd_shard_t *sh = shard_of(e, ch->name);
    rd_chan_t *c = cr__rd_chan_find(e, ch->name->data, ch->name->len);
    if (c) {
        switch (c->state) {
        case RC_LIVE:
            /* Answered once the other nodes can count this subscriber. */
            cr__rd_count_put(sh, ch->name, ch->nsubs, done, arg);
            return 0;
        case RC_DOWN:
            if (c->rebuild)
                return CR_EUNAVAIL;
            done(arg, 0); /* what the node has now; the resync brings the rest */
            return 0;
        default:
            /* The count goes ahead of the stream read whose answer lets the subscriber start. */
            cr__rd_count_put(sh, ch->name, ch->nsubs, NULL, NULL);
            cr__rd_chan_add_load(c, done, arg);
            return 0;
        }
    }
    if (!sh->up)
        return CR_EUNAVAIL;
    c = cr__rd_chan_new(e, ch->name, sh);
    c->rebuild = 1;
    cr__rd_chan_add_load(c, done, arg);
    cr__rd_count_put(sh, ch->name, ch->nsubs, NULL, NULL);
    cr__rd_chan_subscribe(c);
    return 0;
}

static int rd_drop(cr_engine_t *base, cr_channel_t *ch)
{
    rd_engine_t *e = (rd_engine_t *)base;
    cr_history_clear(&ch->history);
    rd_shard_t *sh = shard_of(e, ch->name);
    if (!sh->up) {
        fprintf(stderr, "crier: redis down: channel %s deleted on this node only\n", ch->name->data);
        return CR_EUNAVAIL;
    }
    char skey[CR_CHANNEL_NAME_MAX + 16], ckey[CR_CHANNEL_NAME_MAX + 16];
    snprintf(skey, sizeof(skey), RD_PREFIX "s:%s", ch->name->data);
    snprintf(ckey, sizeof(ckey), RD_PREFIX "c:%s", ch->name->data);
    char ps[CR_CHANNEL_NAME_MAX + 16];
    cr__rd_pubsub_name(ch->name, ps);
    const char *argv[] = {"EVALSHA", e->sha[RD_SCRIPT_DELETE], "2", skey, ckey, ps};
    size_t lens[] = {7, 40, 1, strlen(skey), strlen(ckey), strlen(ps)};
    redisAsyncCommandArgv(sh->cmd, NULL, NULL, 6, argv, lens);
    return 0;
}

typedef struct {
    rd_engine_t *e;
    int64_t now;
} prune_ctx_t;

static void prune_one(cr_channel_t *ch, void *arg)
{
    prune_ctx_t *p = arg;
    cr_history_prune(&ch->history, p->now, p->e->base.cfg.max_count, p->e->base.cfg.max_age_ms);
}

/* Stops following channels nobody here subscribes to any more. */
static void release_idle(rd_engine_t *e)
{
    for (size_t i = 0; i < e->nbuckets; i++) {
        for (rd_chan_t *c = e->buckets[i], *next; c; c = next) {
            next = c->next;
            if (c->nloads || (c->state != RC_LIVE && c->state != RC_DOWN))
                continue;
            cr_channel_t *ch = cr__rd_channel_of(e, c->name);
            if (ch && ch->nsubs)
                continue;
            cr__rd_complete_pends(e, c->name, CR_MSGID_NONE, 1);
            if (c->state == RC_LIVE && c->shard->up) {
                char ps[CR_CHANNEL_NAME_MAX + 16];
                cr__rd_pubsub_name(c->name, ps);
                c->state = RC_UNSUBSCRIBING;
                c->gen++;
                if (redisAsyncCommand(c->shard->sub, cr__rd_on_sub_reply, c->shard, "UNSUBSCRIBE %s", ps) !=
                    REDIS_OK)
                    cr__rd_chan_free(e, c);
            } else {
                cr__rd_chan_free(e, c);
            }
        }
    }
}

static void rd_prune(cr_engine_t *base, int64_t now_ms)
{
    rd_engine_t *e = (rd_engine_t *)base;
    e->now_ms = now_ms;
    prune_ctx_t p = {e, now_ms};
    cr_registry_foreach(base->reg, prune_one, &p);
    if (e->destroying)
        return;
    release_idle(e);
    cr__rd_run_fifo(e);
    for (size_t i = 0; i < e->nshards; i++)
        cr__rd_shard_tick(&e->shards[i], now_ms);
}

typedef struct count_req {
    rd_engine_t *e;
    cr_bytes_t *name;
    void (*done)(void *arg, int status, size_t n);
    void *arg;
} count_req_t;

static void on_counted(redisAsyncContext *ac, void *reply, void *priv)
{
    count_req_t *q = priv;
    redisReply *r = reply;
    if (!q->e->destroying) {
        cr_channel_t *ch = cr__rd_channel_of(q->e, q->name);
        size_t local = ch ? ch->nsubs : 0;
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0)
            q->done(q->arg, 0, local + (size_t)r->integer);
        else
            q->done(q->arg, CR_EUNAVAIL, local);
    }
    cr_bytes_unref(q->name);
    free(q);
}

static int rd_subscribers(cr_engine_t *base, cr_channel_t *ch, void (*done)(void *arg, int status, size_t n),
                          void *arg)
{
    rd_engine_t *e = (rd_engine_t *)base;
    rd_shard_t *sh = shard_of(e, ch->name);
    if (!sh->up)
        return CR_EUNAVAIL;
    char stale[24];
    snprintf(stale, sizeof(stale), "%d", RD_COUNT_TTL_MS);
    const char *argv[] = {
        "EVALSHA", e->sha[RD_SCRIPT_COUNT], "1", RD_PREFIX "nodes", ch->name->data, RD_PREFIX, e->node,
        stale};
    size_t lens[] = {7,
                     40,
                     1,
                     sizeof(RD_PREFIX "nodes") - 1,
                     ch->name->len,
                     sizeof(RD_PREFIX) - 1,
                     strlen(e->node),
                     strlen(stale)};
    count_req_t *q = cr_xcalloc(1, sizeof(*q));
    q->e = e;
    q->name = cr_bytes_ref(ch->name);
    q->done = done;
    q->arg = arg;
    if (redisAsyncCommandArgv(sh->cmd, on_counted, q, 8, argv, lens) == REDIS_OK)
        return 0;
    cr_bytes_unref(q->name);
    free(q);
    return CR_EUNAVAIL;
}

static int rd_restore(cr_engine_t *base, int64_t now_ms)
{
    /* Channels are read from Redis when a subscriber first needs them. */
    ((rd_engine_t *)base)->now_ms = now_ms;
    return 0;
}

static void rd_idle(cr_engine_t *base)
{
    (void)base;
}

/* Scheduled pushes stay in this node's memory (they are published, and so shared, when due). */
static int rd_sched_add(cr_engine_t *base, const cr_sched_item_t *it, cr_engine_done_cb done, void *arg)
{
    (void)base, (void)it;
    done(arg, 0);
    return 0;
}

static int rd_sched_del(cr_engine_t *base, uint64_t id, cr_engine_done_cb done, void *arg)
{
    (void)base, (void)id;
    if (done)
        done(arg, 0);
    return 0;
}

static void rd_destroy(cr_engine_t *base)
{
    rd_engine_t *e = (rd_engine_t *)base;
    e->destroying = 1;
    for (size_t i = 0; i < e->nshards; i++)
        cr__rd_shard_free(&e->shards[i]);
    for (size_t i = 0; i < e->nbuckets; i++)
        while (e->buckets[i])
            cr__rd_chan_free(e, e->buckets[i]);
    while (e->head) {
        rd_pend_t *p = e->head;
        e->head = p->next;
        cr_msg_unref(p->msg);
        cr_bytes_unref(p->name);
        free(p);
    }
    free(e->buckets);
    free(e->shards);
    free(e);
}

static const cr_engine_ops_t redis_ops = {
    .name = "redis",
    .append = rd_append,
    .load = rd_load,
    .drop = rd_drop,
    .prune = rd_prune,
    .restore = rd_restore,
    .flush = rd_idle,
    .complete = rd_idle,
    .sched_add = rd_sched_add,
    .sched_del = rd_sched_del,
    .subscribers = rd_subscribers,
    .destroy = rd_destroy,
};

int cr_engine_redis_open(const cr_engine_config_t *cfg, const cr_engine_redis_config_t *rcfg,
                         cr_engine_t **out, char *err, size_t errlen)
{
    cr_redis_url_t urls[CR_REDIS_MAX_SHARDS];
    const char *why = NULL;
    int n = cr_redis_urls_parse(rcfg->urls, urls, CR_REDIS_MAX_SHARDS, &why);
    if (n < 0) {
        snprintf(err, errlen, "--redis: %s", why);
        return CR_EPARAM;
    }
    int tls = rcfg->tls || (rcfg->tls_ca && rcfg->tls_ca[0]);
    for (int i = 0; i < n; i++)
        tls |= urls[i].tls;
    if (tls) {
        snprintf(err, errlen,
                 "Redis over TLS needs hiredis with SSL support, and this build's hiredis "
                 "(Debian 12 libhiredis 0.14) has none: reach Redis through a local TLS tunnel");
        return CR_ENOTSUP;
    }
    if (rcfg->node_id && strlen(rcfg->node_id) > 100) {
        snprintf(err, errlen, "--node-id: at most 100 characters");
        return CR_EPARAM;
    }
    rd_engine_t *e = cr_xcalloc(1, sizeof(*e));
    e->base.ops = &redis_ops;
    e->base.cfg = *cfg;
    e->base.shared = 1;
    e->attach = rcfg->attach;
    e->loop = rcfg->loop;
    if (rcfg->node_id && rcfg->node_id[0]) {
        snprintf(e->node, sizeof(e->node), "%s", rcfg->node_id);
    } else {
        char host[64] = "node";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(e->node, sizeof(e->node), "%s-%ld-%04x", host, (long)getpid(),
                 (unsigned)(((uintptr_t)e >> 4) ^ (uintptr_t)time(NULL)) & 0xffff);
    }
    for (int i = 0; i < RD_SCRIPT_N; i++)
        cr__rd_sha1_hex(cr__rd_scripts[i], e->sha[i]);
    e->nbuckets = 64;
    e->buckets = cr_xcalloc(e->nbuckets, sizeof(*e->buckets));
    e->nshards = (size_t)n;
    e->shards = cr_xcalloc((size_t)n, sizeof(*e->shards));
    for (int i = 0; i < n; i++) {
        rd_shard_t *sh = &e->shards[i];
        sh->e = e;
        sh->idx = (size_t)i;
        sh->url = urls[i];
        cr__rd_shard_connect(sh);
    }
    *out = &e->base;
    return 0;
}
