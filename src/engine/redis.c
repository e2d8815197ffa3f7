/* The cluster engine on Redis. Each channel's messages go to a Redis Stream
 * (crier:s:<name>) bounded by the retention, and the stream entry id is the message id.
 * One Lua script does XADD and PUBLISH together, so every node gets one notice per
 * message (crier:p:<name>) in id order, whoever published it. A node SUBSCRIBEs to a
 * channel while it has local subscribers on it, keeps the channel's history from the
 * notices, and serves its subscribers from memory. On (re)subscribing it reads the
 * stream after the last id it has, which also fills whatever pub/sub lost while a
 * connection was down. Never frees a channel; never blocks the loop.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "engine/redis_msg.h"
#include "engine/redis_priv.h"

/* --- followed channels --------------------------------------------------------------------------- */

static size_t name_hash(const char *s, size_t len)
{
    size_t h = 5381;
    for (size_t i = 0; i < len; i++)
        h = h * 33 + (unsigned char)s[i];
    return h;
}

static rd_chan_t **chan_slot(rd_engine_t *e, const char *name, size_t len)
{
    rd_chan_t **p = &e->buckets[name_hash(name, len) & (e->nbuckets - 1)];
    while (*p && !((*p)->name->len == len && !memcmp((*p)->name->data, name, len)))
        p = &(*p)->next;
    return p;
}

static rd_chan_t *chan_find(rd_engine_t *e, const char *name, size_t len)
{
    return *chan_slot(e, name, len);
}

static rd_chan_t *chan_new(rd_engine_t *e, cr_bytes_t *name, rd_shard_t *sh)
{
    if (e->nchans >= e->nbuckets) {
        size_t n = e->nbuckets * 2;
        rd_chan_t **b = cr_xcalloc(n, sizeof(*b));
        for (size_t i = 0; i < e->nbuckets; i++)
            for (rd_chan_t *c = e->buckets[i], *next; c; c = next) {
                next = c->next;
                size_t k = name_hash(c->name->data, c->name->len) & (n - 1);
                c->next = b[k];
                b[k] = c;
            }
        free(e->buckets);
        e->buckets = b;
        e->nbuckets = n;
    }
    rd_chan_t *c = cr_xcalloc(1, sizeof(*c));
    c->name = cr_bytes_ref(name);
    c->shard = sh;
    rd_chan_t **slot = chan_slot(e, name->data, name->len);
    c->next = *slot;
    *slot = c;
    e->nchans++;
    return c;
}

static void chan_drop_queue(rd_chan_t *c)
{
    for (size_t i = 0; i < c->nqueued; i++)
        cr_msg_unref(c->queued[i]);
    c->nqueued = 0;
}

static void chan_free(rd_engine_t *e, rd_chan_t *c)
{
    rd_chan_t **slot = chan_slot(e, c->name->data, c->name->len);
    *slot = c->next;
    e->nchans--;
    chan_drop_queue(c);
    free(c->queued);
    free(c->loads);
    cr_bytes_unref(c->name);
    free(c);
}

/* Answers every load waiting on c. done may subscribe more (and so add loads): it works on a copy. */
static void chan_answer_loads(rd_chan_t *c, int status)
{
    size_t n = c->nloads;
    if (!n)
        return;
    rd_load_t *l = c->loads;
    c->loads = NULL;
    c->nloads = c->capl = 0;
    for (size_t i = 0; i < n; i++)
        l[i].done(l[i].arg, status);
    free(l);
}

static void chan_add_load(rd_chan_t *c, cr_engine_done_cb done, void *arg)
{
    if (c->nloads == c->capl) {
        c->capl = c->capl ? c->capl * 2 : 4;
        c->loads = cr_xrealloc(c->loads, c->capl * sizeof(*c->loads));
    }
    c->loads[c->nloads++] = (rd_load_t){done, arg};
}

static void pubsub_name(const cr_bytes_t *name, char *out)
{
    memcpy(out, RD_PREFIX "p:", sizeof(RD_PREFIX "p:") - 1);
    memcpy(out + sizeof(RD_PREFIX "p:") - 1, name->data, name->len);
    out[sizeof(RD_PREFIX "p:") - 1 + name->len] = '\0';
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    rd_shard_t *sh = priv;
    if (reply && !sh->e->destroying)
        cr__rd_sub_reply(sh, reply);
}

static void chan_subscribe(rd_chan_t *c)
{
    char ps[CR_CHANNEL_NAME_MAX + 16];
    pubsub_name(c->name, ps);
    c->state = RC_SUBSCRIBING;
    c->gen++;
    redisAsyncCommand(c->shard->sub, on_sub_reply, c->shard, "SUBSCRIBE %s", ps);
}

/* --- the append queue ----------------------------------------------------------------------------- */

/* Calls done for the appends at the head of the queue that are complete, in issue order. */
static void run_fifo(rd_engine_t *e)
{
    if (e->running_fifo || e->destroying)
        return;
    e->running_fifo = 1;
    while (e->head && e->head->complete) {
        rd_pend_t *p = e->head;
        e->head = p->next;
        if (!e->head)
            e->tail = NULL;
        p->done(p->arg, p->status);
        cr_msg_unref(p->msg);
        cr_bytes_unref(p->name);
        free(p);
    }
    e->running_fifo = 0;
}

/* Own appends on name that are stored and, if the node follows the channel, already in its
 * history (id <= upto) are complete. With upto NONE: every stored one. */
static void complete_pends(rd_engine_t *e, const cr_bytes_t *name, cr_msgid_t upto, int all)
{
    for (rd_pend_t *p = e->head; p; p = p->next)
        if (p->replied && !p->complete && p->name->len == name->len &&
            !memcmp(p->name->data, name->data, name->len) && (all || cr_msgid_cmp(p->msg->id, upto) <= 0))
            p->complete = 1;
}

/* --- history ---------------------------------------------------------------------------------------- */

/* Puts m into ch's history if it is newer than everything there, and tells local subscribers. */
static void take(rd_engine_t *e, cr_channel_t *ch, cr_msg_t *m, int fanout)
{
    if (cr_msgid_cmp(m->id, ch->last_id) <= 0)
        return;
    ch->last_id = m->id;
    ch->published++;
    ch->last_publish_ms = m->time_ms;
    cr_history_append(&ch->history, m);
    cr_history_trim(&ch->history, e->base.cfg.max_count);
    if (fanout && e->base.arrived)
        e->base.arrived(e->base.arrived_arg, ch, m);
}

static cr_channel_t *channel_of(rd_engine_t *e, const cr_bytes_t *name)
{
    return cr_registry_find(e->base.reg, name->data, name->len);
}

static void on_notice(rd_engine_t *e, rd_chan_t *c, cr_msg_t *m)
{
    if (c->state == RC_SYNCING) {
        if (c->nqueued == c->capq) {
            c->capq = c->capq ? c->capq * 2 : 8;
            c->queued = cr_xrealloc(c->queued, c->capq * sizeof(*c->queued));
        }
        c->queued[c->nqueued++] = m;
        return;
    }
    if (c->state == RC_LIVE) {
        cr_channel_t *ch = channel_of(e, c->name);
        if (ch) {
            take(e, ch, m, 1);
            complete_pends(e, c->name, ch->last_id, 0);
        }
    }
    cr_msg_unref(m);
    run_fifo(e);
}

/* --- sync: read the stream after what the node has --------------------------------------------------- */

typedef struct sync_req {
    rd_engine_t *e;
    cr_bytes_t *name;
    uint64_t gen;
} sync_req_t;

static int reply_str(const redisReply *r, cr_span_t *out)
{
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        return -1;
    *out = (cr_span_t){r->str, (size_t)r->len};
    return 0;
}

static cr_msg_t *entry_msg(const cr_bytes_t *name, const redisReply *en)
{
    cr_span_t id, fv[16];
    if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 || reply_str(en->element[0], &id) < 0 ||
        en->element[1]->type != REDIS_REPLY_ARRAY || en->element[1]->elements > 16)
        return NULL;
    const redisReply *f = en->element[1];
    for (size_t i = 0; i < f->elements; i++)
        if (reply_str(f->element[i], &fv[i]) < 0)
            return NULL;
    return cr_redis_entry_decode((cr_bytes_t *)name, id, fv, f->elements);
}

/* The id just before id, for "something older than id was dropped". */
static cr_msgid_t before(cr_msgid_t id)
{
    if (id.seq)
        return (cr_msgid_t){id.ms, id.seq - 1};
    return (cr_msgid_t){id.ms - 1, UINT64_MAX};
}

static void apply_sync(rd_engine_t *e, rd_chan_t *c, cr_channel_t *ch, const redisReply *r)
{
    cr_span_t s;
    if (reply_str(r->element[0], &s) == 0) {
        long long created = strtoll(s.ptr, NULL, 10);
        /* The channel is as old as its stream: a cursor from before this node first saw it
         * is not from an earlier life of the channel. */
        if (created > 0 && created < ch->created_ms)
            ch->created_ms = created;
    }
    cr_msgid_t maxdel = CR_MSGID_NONE;
    if (reply_str(r->element[1], &s) == 0)
        cr_msgid_parse(s.ptr, s.len, &maxdel);
    const redisReply *en = r->element[2];
    if (c->rebuild) {
        cr_history_clear(&ch->history);
        cr_msgid_t first = CR_MSGID_NONE;
        for (size_t i = en->elements; i-- > 0;) {
            cr_msg_t *m = entry_msg(c->name, en->element[i]);
            if (!m)
                continue;
            if (cr_msgid_is_none(first))
                first = m->id;
            if (cr_history_first_after(&ch->history, m->id) == ch->history.count) {
                cr_history_append(&ch->history, m);
                if (cr_msgid_cmp(m->id, ch->last_id) > 0) {
                    ch->last_id = m->id;
                    ch->last_publish_ms = m->time_ms;
                }
            }
            cr_msg_unref(m);
        }
        /* The stream may hold a little more than the count (MAXLEN ~): what was left unread
         * counts as dropped, so a resume from before it is told of the gap. */
        if (e->base.cfg.max_count && en->elements >= e->base.cfg.max_count && !cr_msgid_is_none(first) &&
            cr_msgid_cmp(before(first), maxdel) > 0)
            maxdel = before(first);
        if (cr_msgid_cmp(maxdel, ch->history.evicted_last) > 0)
            ch->history.evicted_last = maxdel;
        cr_history_prune(&ch->history, e->now_ms, e->base.cfg.max_count, e->base.cfg.max_age_ms);
    } else {
        for (size_t i = 0; i < en->elements; i++) {
            cr_msg_t *m = entry_msg(c->name, en->element[i]);
            if (m) {
                take(e, ch, m, 1);
                cr_msg_unref(m);
            }
        }
    }
    for (size_t i = 0; i < c->nqueued; i++)
        take(e, ch, c->queued[i], 1);
}

static void on_synced(redisAsyncContext *ac, void *reply, void *priv)
{
    sync_req_t *q = priv;
    rd_engine_t *e = q->e;
    redisReply *r = reply;
    rd_chan_t *c = e->destroying ? NULL : chan_find(e, q->name->data, q->name->len);
    if (!c || c->gen != q->gen || c->state != RC_SYNCING)
        goto out;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[2]->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "crier: redis: reading stream %s: %s\n", c->name->data, r->str);
        if (r) {
            /* A server that answers but cannot run the script: give up on this channel. */
            chan_drop_queue(c);
            c->state = RC_DOWN;
            chan_answer_loads(c, CR_EUNAVAIL);
        }
        goto out;
    }
    cr_channel_t *ch = channel_of(e, c->name);
    if (ch)
        apply_sync(e, c, ch, r);
    chan_drop_queue(c);
    c->state = RC_LIVE;
    c->rebuild = 0;
    complete_pends(e, c->name, ch ? ch->last_id : CR_MSGID_NONE, 1);
    chan_answer_loads(c, 0);
    run_fifo(e);
out:
    cr_bytes_unref(q->name);
    free(q);
}

static void chan_sync(rd_engine_t *e, rd_chan_t *c)
{
    c->state = RC_SYNCING;
    cr_channel_t *ch = channel_of(e, c->name);
    char after[CR_MSGID_MAX_LEN] = "", count[24];
    if (!c->rebuild && ch && !cr_msgid_is_none(ch->last_id))
        cr_msgid_format(ch->last_id, after);
    else
        c->rebuild = 1;
    snprintf(count, sizeof(count), "%zu", e->base.cfg.max_count);
    char skey[CR_CHANNEL_NAME_MAX + 16], ckey[CR_CHANNEL_NAME_MAX + 16];
    snprintf(skey, sizeof(skey), RD_PREFIX "s:%s", c->name->data);
    snprintf(ckey, sizeof(ckey), RD_PREFIX "c:%s", c->name->data);
    const char *argv[] = {"EVALSHA", e->sha[RD_SCRIPT_SYNC], "2", skey, ckey, after, count};
    size_t lens[] = {7, 40, 1, strlen(skey), strlen(ckey), strlen(after), strlen(count)};
    sync_req_t *q = cr_xcalloc(1, sizeof(*q));
    q->e = e;
    q->name = cr_bytes_ref(c->name);
    q->gen = c->gen;
    redisAsyncCommandArgv(c->shard->cmd, on_synced, q, 7, argv, lens);
}

void cr__rd_sub_reply(rd_shard_t *sh, redisReply *r)
{
    rd_engine_t *e = sh->e;
    const size_t plen = sizeof(RD_PREFIX "p:") - 1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || (size_t)r->element[1]->len <= plen)
        return;
    const char *kind = r->element[0]->str;
    rd_chan_t *c = chan_find(e, r->element[1]->str + plen, (size_t)r->element[1]->len - plen);
    if (!c || c->shard != sh)
        return;
    if (!strcmp(kind, "message")) {
        if (r->element[2]->type != REDIS_REPLY_STRING)
            return;
        cr_msg_t *m = cr_redis_notice_decode(c->name, r->element[2]->str, (size_t)r->element[2]->len);
        if (!m) {
            fprintf(stderr, "crier: redis: malformed notice on %s ignored\n", r->element[1]->str);
            return;
        }
        on_notice(e, c, m);
    } else if (!strcmp(kind, "subscribe")) {
        if (c->state == RC_SUBSCRIBING)
            chan_sync(e, c);
    } else if (!strcmp(kind, "unsubscribe")) {
        if (c->state != RC_UNSUBSCRIBING)
            return;
        if (c->nloads) {
            /* Subscribers came back while it went: follow it again, from scratch. */
            c->rebuild = 1;
            chan_subscribe(c);
        } else {
            chan_free(e, c);
        }
    }
}

/* --- shards up and down ---------------------------------------------------------------------------- */

void cr__rd_shard_up(rd_shard_t *sh)
{
    rd_engine_t *e = sh->e;
    for (size_t i = 0; i < e->nbuckets; i++)
        for (rd_chan_t *c = e->buckets[i]; c; c = c->next)
            if (c->shard == sh)
                chan_subscribe(c); /* then read what pub/sub lost while down */
    cr__rd_shard_beat(sh);
}

void cr__rd_shard_down(rd_shard_t *sh)
{
    rd_engine_t *e = sh->e;
    redisAsyncContext *cmd = sh->cmd, *sub = sh->sub;
    sh->up = 0;
    sh->cmd = sh->sub = NULL;
    sh->cmd_ok = sh->sub_ok = 0;
    /* Both go at once, connected or not (hiredis tells nothing of freeing an unconnected one);
     * their pending callbacks run now with no reply. */
    if (cmd)
        redisAsyncFree(cmd);
    if (sub)
        redisAsyncFree(sub);
    if (!sh->retry_at_ms || sh->retry_at_ms < e->now_ms)
        sh->retry_at_ms = e->now_ms + (sh->backoff_ms ? sh->backoff_ms : 500);
    for (size_t i = 0; i < e->nbuckets; i++) {
        for (rd_chan_t *c = e->buckets[i], *next; c; c = next) {
            next = c->next;
            if (c->shard != sh || c->state == RC_DOWN)
                continue;
            if (c->state == RC_UNSUBSCRIBING && !c->nloads) {
                chan_free(e, c);
                continue;
            }
            c->state = RC_DOWN;
            c->gen++;
            chan_drop_queue(c);
            /* A channel already in step serves its history meanwhile; one never read has nothing. */
            chan_answer_loads(c, c->rebuild ? CR_EUNAVAIL : 0);
        }
    }
}

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
    if (reply_str(r, &s) < 0 || cr_msgid_parse(s.ptr, s.len, &p->msg->id) < 0) {
        if (r && r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "crier: redis: publish to %s: %s\n", p->name->data, r->str);
        p->status = CR_EUNAVAIL;
        p->complete = 1;
    } else {
        rd_chan_t *c = chan_find(e, p->name->data, p->name->len);
        cr_channel_t *ch = channel_of(e, p->name);
        if (!c) {
            /* Nobody here follows it: keep it for this node's figures; it is not fanned out by
             * the engine (there is no local subscriber to tell). */
            if (ch)
                take(e, ch, p->msg, 0);
            p->complete = 1;
        } else if (c->state == RC_LIVE && ch && cr_msgid_cmp(ch->last_id, p->msg->id) >= 0) {
            p->complete = 1; /* its notice came first */
        }
        /* Otherwise it completes when its notice (or a resync) brings it into the history, so that
         * local subscribers get it in id order with the other nodes' messages. */
    }
    run_fifo(e);
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
    pubsub_name(ch->name, ps);
    snprintf(count, sizeof(count), "%zu", base->cfg.max_count);
    snprintf(age, sizeof(age), "%lld", (long long)base->cfg.max_age_ms);
    snprintf(t, sizeof(t), "%lld", (long long)msg->time_ms);
    snprintf(x, sizeof(x), "%lld", (long long)msg->expires_ms);
    const cr_bytes_t *ct = msg->content_type, *ev = msg->event;
    const char *argv[] = {"EVALSHA", e->sha[RD_SCRIPT_PUBLISH], "2", skey, ckey, count, age, ps, t, x,
                          ct ? ct->data : "", ev ? ev->data : "", msg->payload->data};
    size_t lens[] = {7,         40,        1,        strlen(skey),          strlen(ckey),
                     strlen(count), strlen(age), strlen(ps), strlen(t), strlen(x),
                     ct ? ct->len : 0, ev ? ev->len : 0, msg->payload->len};
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
    redisAsyncCommandArgv(sh->cmd, on_published, p, 13, argv, lens);
    return 0;
}

static int rd_load(cr_engine_t *base, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms, cr_engine_done_cb done,
                   void *arg)
{
    rd_engine_t *e = (rd_engine_t *)base;
    (void)after; /* the node keeps everything retained once it follows the channel */
    cr_history_prune(&ch->history, now_ms, base->cfg.max_count, base->cfg.max_age_ms);
    rd_shard_t *sh = shard_of(e, ch->name);
    rd_chan_t *c = chan_find(e, ch->name->data, ch->name->len);
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
            chan_add_load(c, done, arg);
            return 0;
        }
    }
    if (!sh->up)
        return CR_EUNAVAIL;
    c = chan_new(e, ch->name, sh);
    c->rebuild = 1;
    chan_add_load(c, done, arg);
    cr__rd_count_put(sh, ch->name, ch->nsubs, NULL, NULL);
    chan_subscribe(c);
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
    const char *argv[] = {"DEL", skey, ckey};
    size_t lens[] = {3, strlen(skey), strlen(ckey)};
    redisAsyncCommandArgv(sh->cmd, NULL, NULL, 3, argv, lens);
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
            cr_channel_t *ch = channel_of(e, c->name);
            if (ch && ch->nsubs)
                continue;
            complete_pends(e, c->name, CR_MSGID_NONE, 1);
            if (c->state == RC_LIVE && c->shard->up) {
                char ps[CR_CHANNEL_NAME_MAX + 16];
                pubsub_name(c->name, ps);
                c->state = RC_UNSUBSCRIBING;
                c->gen++;
                redisAsyncCommand(c->shard->sub, on_sub_reply, c->shard, "UNSUBSCRIBE %s", ps);
            } else {
                chan_free(e, c);
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
    run_fifo(e);
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
        cr_channel_t *ch = channel_of(q->e, q->name);
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
    const char *argv[] = {"EVALSHA", e->sha[RD_SCRIPT_COUNT], "1", RD_PREFIX "nodes", ch->name->data,
                          RD_PREFIX, e->node, stale};
    size_t lens[] = {7, 40, 1, sizeof(RD_PREFIX "nodes") - 1, ch->name->len, sizeof(RD_PREFIX) - 1,
                     strlen(e->node), strlen(stale)};
    count_req_t *q = cr_xcalloc(1, sizeof(*q));
    q->e = e;
    q->name = cr_bytes_ref(ch->name);
    q->done = done;
    q->arg = arg;
    redisAsyncCommandArgv(sh->cmd, on_counted, q, 8, argv, lens);
    return 0;
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
            chan_free(e, e->buckets[i]);
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

int cr_engine_redis_open(const cr_engine_config_t *cfg, const cr_engine_redis_config_t *rcfg, cr_engine_t **out,
                         char *err, size_t errlen)
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
        snprintf(err, errlen, "Redis over TLS needs hiredis with SSL support, and this build's hiredis "
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
        snprintf(e->node, sizeof(e->node), "%s-%ld-%04x", host, (long)getpid(), (unsigned)(((uintptr_t)e >> 4) ^ (uintptr_t)time(NULL)) & 0xffff);
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
