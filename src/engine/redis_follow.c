/* The channels a node follows on Redis, for the cluster engine: SUBSCRIBE while
 * local subscribers exist, read the stream after what the node has (on first use and
 * after every reconnection, which fills what pub/sub lost), then take each notice into
 * the channel's history and fan it out. Also the queue that answers appends in issue
 * order once their message is in the history. Never frees a cr_channel_t.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

rd_chan_t *cr__rd_chan_find(rd_engine_t *e, const char *name, size_t len)
{
    return *chan_slot(e, name, len);
}

rd_chan_t *cr__rd_chan_new(rd_engine_t *e, cr_bytes_t *name, rd_shard_t *sh)
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

/* The channel's own appends waiting for their notice complete (run_fifo calls their done). */
void cr__rd_chan_free(rd_engine_t *e, rd_chan_t *c)
{
    cr__rd_complete_pends(e, c->name, CR_MSGID_NONE, 1);
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

void cr__rd_chan_add_load(rd_chan_t *c, cr_engine_done_cb done, void *arg)
{
    if (c->nloads == c->capl) {
        c->capl = c->capl ? c->capl * 2 : 4;
        c->loads = cr_xrealloc(c->loads, c->capl * sizeof(*c->loads));
    }
    c->loads[c->nloads++] = (rd_load_t){done, arg};
}

void cr__rd_pubsub_name(const cr_bytes_t *name, char *out)
{
    memcpy(out, RD_PREFIX "p:", sizeof(RD_PREFIX "p:") - 1);
    memcpy(out + sizeof(RD_PREFIX "p:") - 1, name->data, name->len);
    out[sizeof(RD_PREFIX "p:") - 1 + name->len] = '\0';
}

void cr__rd_on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    rd_shard_t *sh = priv;
    if (reply && !sh->e->destroying)
        cr__rd_sub_reply(sh, reply);
}

/* The shard's connection is going away under c: it waits for the reconnection like the others. */
static void chan_failed(rd_chan_t *c)
{
    c->state = RC_DOWN;
    c->gen++;
    chan_drop_queue(c);
    chan_answer_loads(c, c->rebuild ? CR_EUNAVAIL : 0);
}

void cr__rd_chan_subscribe(rd_chan_t *c)
{
    char ps[CR_CHANNEL_NAME_MAX + 16];
    cr__rd_pubsub_name(c->name, ps);
    c->state = RC_SUBSCRIBING;
    c->gen++;
    if (redisAsyncCommand(c->shard->sub, cr__rd_on_sub_reply, c->shard, "SUBSCRIBE %s", ps) != REDIS_OK)
        chan_failed(c);
}

/* --- the append queue ----------------------------------------------------------------------------- */

/* Calls done for the appends at the head of the queue that are complete, in issue order. */
void cr__rd_run_fifo(rd_engine_t *e)
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
void cr__rd_complete_pends(rd_engine_t *e, const cr_bytes_t *name, cr_msgid_t upto, int all)
{
    for (rd_pend_t *p = e->head; p; p = p->next)
        if (p->replied && !p->complete && p->name->len == name->len &&
            !memcmp(p->name->data, name->data, name->len) && (all || cr_msgid_cmp(p->msg->id, upto) <= 0))
            p->complete = 1;
}

/* --- history ---------------------------------------------------------------------------------------- */

/* Puts m into ch's history if it is newer than everything there, and tells local subscribers. */
void cr__rd_take(rd_engine_t *e, cr_channel_t *ch, cr_msg_t *m, int fanout)
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

cr_channel_t *cr__rd_channel_of(rd_engine_t *e, const cr_bytes_t *name)
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
        cr_channel_t *ch = cr__rd_channel_of(e, c->name);
        if (ch) {
            cr__rd_take(e, ch, m, 1);
            cr__rd_complete_pends(e, c->name, ch->last_id, 0);
        }
    }
    cr_msg_unref(m);
    cr__rd_run_fifo(e);
}

/* --- sync: read the stream after what the node has --------------------------------------------------- */

typedef struct sync_req {
    rd_engine_t *e;
    cr_bytes_t *name;
    uint64_t gen;
} sync_req_t;

int cr__rd_reply_str(const redisReply *r, cr_span_t *out)
{
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        return -1;
    *out = (cr_span_t){r->str, (size_t)r->len};
    return 0;
}

static cr_msg_t *entry_msg(const cr_bytes_t *name, const redisReply *en)
{
    cr_span_t id, fv[16];
    if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 || cr__rd_reply_str(en->element[0], &id) < 0 ||
        en->element[1]->type != REDIS_REPLY_ARRAY || en->element[1]->elements > 16)
        return NULL;
    const redisReply *f = en->element[1];
    for (size_t i = 0; i < f->elements; i++)
        if (cr__rd_reply_str(f->element[i], &fv[i]) < 0)
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
    if (cr__rd_reply_str(r->element[0], &s) == 0) {
        long long created = strtoll(s.ptr, NULL, 10);
        /* The channel is as old as its stream: a cursor from before this node first saw it
         * is not from an earlier life of the channel. */
        if (created > 0 && created < ch->created_ms)
            ch->created_ms = created;
    }
    cr_msgid_t maxdel = CR_MSGID_NONE;
    if (cr__rd_reply_str(r->element[1], &s) == 0)
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
                cr__rd_take(e, ch, m, 1);
                cr_msg_unref(m);
            }
        }
    }
    for (size_t i = 0; i < c->nqueued; i++)
        cr__rd_take(e, ch, c->queued[i], 1);
}

static void on_synced(redisAsyncContext *ac, void *reply, void *priv)
{
    sync_req_t *q = priv;
    rd_engine_t *e = q->e;
    redisReply *r = reply;
    rd_chan_t *c = e->destroying ? NULL : cr__rd_chan_find(e, q->name->data, q->name->len);
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
    cr_channel_t *ch = cr__rd_channel_of(e, c->name);
    if (ch)
        apply_sync(e, c, ch, r);
    chan_drop_queue(c);
    c->state = RC_LIVE;
    c->rebuild = 0;
    cr__rd_complete_pends(e, c->name, ch ? ch->last_id : CR_MSGID_NONE, 1);
    chan_answer_loads(c, 0);
    cr__rd_run_fifo(e);
out:
    cr_bytes_unref(q->name);
    free(q);
}

static void chan_sync(rd_engine_t *e, rd_chan_t *c)
{
    c->state = RC_SYNCING;
    cr_channel_t *ch = cr__rd_channel_of(e, c->name);
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
    if (redisAsyncCommandArgv(c->shard->cmd, on_synced, q, 7, argv, lens) != REDIS_OK) {
        cr_bytes_unref(q->name);
        free(q);
        chan_failed(c);
    }
}

void cr__rd_sub_reply(rd_shard_t *sh, redisReply *r)
{
    rd_engine_t *e = sh->e;
    const size_t plen = sizeof(RD_PREFIX "p:") - 1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || (size_t)r->element[1]->len <= plen)
        return;
    const char *kind = r->element[0]->str;
    rd_chan_t *c = cr__rd_chan_find(e, r->element[1]->str + plen, (size_t)r->element[1]->len - plen);
    if (!c || c->shard != sh)
        return;
    if (!strcmp(kind, "message")) {
        if (r->element[2]->type != REDIS_REPLY_STRING)
            return;
        if (!strcmp(r->element[2]->str, "deleted")) {
            /* Deleted on some node (this one included, which has forgotten it already). */
            cr_channel_t *ch = cr__rd_channel_of(e, c->name);
            chan_drop_queue(c);
            if (ch && e->base.deleted)
                e->base.deleted(e->base.arrived_arg, ch);
            return;
        }
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
            cr__rd_chan_subscribe(c);
        } else {
            cr__rd_chan_free(e, c);
            cr__rd_run_fifo(e);
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
                cr__rd_chan_subscribe(c); /* then read what pub/sub lost while down */
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
                cr__rd_chan_free(e, c);
                continue;
            }
            c->state = RC_DOWN;
            c->gen++;
            chan_drop_queue(c);
            /* A channel already in step serves its history meanwhile; one never read has nothing. */
            chan_answer_loads(c, c->rebuild ? CR_EUNAVAIL : 0);
        }
    }
    cr__rd_run_fifo(e);
}
