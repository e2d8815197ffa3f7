/* The durable engine: SQLite in WAL mode, written by one writer thread.
 * The loop thread assigns ids (and row keys) and queues operations; at the end
 * of each loop turn it hands the turn's batch to the writer, which commits it
 * as one transaction (one sync covers many messages) and wakes the loop, which
 * then appends the committed messages to the hot history and calls their done
 * callbacks in issue order. The loop never waits on the disk. The history ring
 * holds every retained message (the hot window is the retention count), so a
 * catch-up reads memory; the database is the durable copy, read back at start,
 * and retention deletes from it the rows of exactly what the history dropped.
 * Never touches libuv: the owner wakes the loop through e->wake.
 * SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "engine/engine.h"
#include "engine/sqlite_schema.h"

typedef enum op_kind { OP_MSG, OP_DELETE, OP_MARK, OP_DROP, OP_SCHED_ADD, OP_SCHED_DEL, OP_VACUUM } op_kind_t;

typedef struct op {
    struct op *next;
    op_kind_t kind;
    int status;
    cr_engine_done_cb done;
    void *arg;
    cr_bytes_t *name;   /* channel name (OP_MSG, OP_MARK, OP_DROP) */
    cr_msg_t *msg;      /* OP_MSG */
    int64_t created;    /* OP_MSG: when the channel began */
    int new_channel;    /* OP_MSG: its channel's row may not exist yet */
    cr_msgid_t evicted; /* OP_MARK: the channel's newest evicted id */
    cr_msgid_t last;    /* OP_MARK: its last id */
    uint64_t *keys;     /* OP_DELETE, OP_DROP: rows to delete */
    size_t nkeys;
    uint64_t after;      /* OP_DROP: and the channel's rows above this key (still in flight) */
    cr_sched_item_t *it; /* OP_SCHED_ADD: a copy holding references */
    uint64_t sid;        /* OP_SCHED_DEL */
} op_t;

typedef struct oplist {
    op_t *head, **tail;
} oplist_t;

typedef struct keyvec {
    uint64_t *v;
    size_t n, cap;
} keyvec_t;

typedef struct sq_engine {
    cr_engine_t base;
    sqlite3 *db;
    cr_sq_stmts_t st;
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;  /* under mu */
    int woken;     /* under mu: the loop was woken and has not completed yet */
    int idle;      /* under mu: the writer waits for work and has not been signalled */
    oplist_t todo; /* handed to the writer (under mu) */
    oplist_t fin;  /* committed or failed, waiting for complete() (under mu) */
    oplist_t turn; /* queued during this loop turn (loop thread only) */
    /* Loop thread only from here. Row keys: one per message, increasing in publish order. */
    uint64_t next_key;
    uint64_t completed_key; /* every message with a key up to this one has completed */
    keyvec_t dead;          /* rows whose messages the history dropped, deleted at the next pass */
    /* Channels whose history dropped messages by count since the last pass (names,
     * with repeats): their evicted id is written at the next pass. */
    cr_bytes_t **evicted;
    size_t nevicted, capevicted;
} sq_engine_t;

static void key_push(keyvec_t *kv, uint64_t k)
{
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? 2 * kv->cap : 256;
        kv->v = cr_xrealloc(kv->v, kv->cap * sizeof(*kv->v));
    }
    kv->v[kv->n++] = k;
}

static void list_init(oplist_t *l)
{
    l->head = NULL;
    l->tail = &l->head;
}

static void list_push(oplist_t *l, op_t *o)
{
    o->next = NULL;
    *l->tail = o;
    l->tail = &o->next;
}

static void list_splice(oplist_t *dst, oplist_t *src)
{
    if (!src->head)
        return;
    *dst->tail = src->head;
    dst->tail = src->tail;
    list_init(src);
}

static op_t *op_new(sq_engine_t *e, op_kind_t kind, cr_engine_done_cb done, void *arg)
{
    op_t *o = cr_xcalloc(1, sizeof(*o));
    o->kind = kind;
    o->done = done;
    o->arg = arg;
    list_push(&e->turn, o);
    return o;
}

static void op_free(op_t *o)
{
    free(o->keys);
    cr_bytes_unref(o->name);
    cr_msg_unref(o->msg);
    cr_sched_item_free(o->it);
    free(o);
}

/* --- the writer thread ------------------------------------------------------------------------------ */

/* SQLite's result as crier's: a full disk and failing I/O are told apart for the 503. */
static int status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_IOERR:
        return -EIO;
    case SQLITE_READONLY:
        return -EROFS;
    default:
        return CR_EUNAVAIL;
    }
}

static int run_op(sq_engine_t *e, op_t *o)
{
    switch (o->kind) {
    case OP_MSG:
        return cr_sq_insert_msg(&e->st, o->msg, o->created, o->new_channel);
    case OP_DELETE:
        return cr_sq_delete(&e->st, o->keys, o->nkeys);
    case OP_MARK:
        return cr_sq_mark(&e->st, o->name, o->evicted, o->last);
    case OP_DROP:
        return cr_sq_drop(&e->st, o->name, o->keys, o->nkeys, o->after);
    case OP_SCHED_ADD:
        return cr_sq_sched_add(&e->st, o->it);
    case OP_SCHED_DEL:
        return cr_sq_sched_del(&e->st, o->sid);
    /* The file shrinks back after a burst instead of keeping its high-water mark. */
    case OP_VACUUM:
        return sqlite3_exec(e->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    }
    return SQLITE_MISUSE;
}

/* One transaction for the whole batch: all of it is committed, or none. */
static int run_batch(sq_engine_t *e, op_t *ops)
{
    int rc = cr_sq_begin(&e->st);
    for (op_t *o = ops; rc == SQLITE_OK && o; o = o->next)
        rc = run_op(e, o);
    if (rc == SQLITE_OK)
        rc = cr_sq_commit(&e->st);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(e->db))
        cr_sq_rollback(&e->st);
    return rc == SQLITE_OK ? 0 : status_of(rc);
}

static void *writer_main(void *arg)
{
    sq_engine_t *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->todo.head && !e->stopping) {
            e->idle = 1;
            pthread_cond_wait(&e->cv, &e->mu);
            e->idle = 0;
        }
        if (!e->todo.head)
            break;
        oplist_t batch = e->todo;
        list_init(&e->todo);
        pthread_mutex_unlock(&e->mu);
        int status = run_batch(e, batch.head);
        for (op_t *o = batch.head; o; o = o->next)
            o->status = status;
        pthread_mutex_lock(&e->mu);
        list_splice(&e->fin, &batch);
        int wake = !e->woken;
        e->woken = 1;
        /* Woken outside the lock, so the loop never waits on the mutex for a syscall. */
        pthread_mutex_unlock(&e->mu);
        if (wake && e->base.wake)
            e->base.wake(e->base.wake_arg);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* --- the loop side ---------------------------------------------------------------------------------- */

static void sq_flush(cr_engine_t *base)
{
    sq_engine_t *e = (sq_engine_t *)base;
    if (!e->turn.head)
        return;
    pthread_mutex_lock(&e->mu);
    list_splice(&e->todo, &e->turn);
    int wake = e->idle;
    e->idle = 0; /* one signal is enough until it sleeps again */
    pthread_mutex_unlock(&e->mu);
    /* Signalled outside the lock: on a shared core the writer runs at once, and
     * would otherwise block on the mutex the loop still holds (two more switches). */
    if (wake)
        pthread_cond_signal(&e->cv);
}

static int sq_queued(const cr_engine_t *base)
{
    return ((const sq_engine_t *)base)->turn.head != NULL;
}

static void note_evicted(sq_engine_t *e, cr_channel_t *ch)
{
    if (e->nevicted && e->evicted[e->nevicted - 1] == ch->name)
        return;
    if (e->nevicted == e->capevicted) {
        e->capevicted = e->capevicted ? 2 * e->capevicted : 64;
        e->evicted = cr_xrealloc(e->evicted, e->capevicted * sizeof(*e->evicted));
    }
    e->evicted[e->nevicted++] = cr_bytes_ref(ch->name);
}

/* A committed message joins the hot history of its channel, if that channel
 * still exists (it may have been deleted while the commit ran). What the count
 * limit pushes out of the history is deleted from the disk at the next pass. */
static void committed(sq_engine_t *e, op_t *o)
{
    cr_channel_t *ch = cr_registry_find(e->base.reg, o->name->data, o->name->len);
    if (!ch)
        return;
    /* Its row is on disk now (unless this message came from a channel of the same name
     * that was dropped while the commit ran: then the new one's own first message adds it). */
    if (o->new_channel && ch->created_ms == o->created)
        ch->stored = 1;
    cr_history_t *h = &ch->history;
    if (h->count && cr_msgid_cmp(cr_history_at(h, h->count - 1)->id, o->msg->id) >= 0)
        return;
    cr_history_append(h, o->msg);
    size_t max = e->base.cfg.max_count;
    if (max && h->count > max) {
        for (size_t i = 0; i < h->count - max; i++)
            key_push(&e->dead, cr_history_at(h, i)->store_key);
        cr_history_prune(h, o->msg->time_ms, max, 0);
        note_evicted(e, ch);
    }
}

static void sq_complete(cr_engine_t *base)
{
    sq_engine_t *e = (sq_engine_t *)base;
    pthread_mutex_lock(&e->mu);
    oplist_t fin = e->fin;
    list_init(&e->fin);
    e->woken = 0;
    pthread_mutex_unlock(&e->mu);
    for (op_t *o = fin.head, *next; o; o = next) {
        next = o->next;
        if (o->kind == OP_MSG) {
            e->completed_key = o->msg->store_key;
            if (o->status == 0)
                committed(e, o);
        }
        if (o->done)
            o->done(o->arg, o->status);
        op_free(o);
    }
}

static int sq_append(cr_engine_t *base, cr_channel_t *ch, cr_msg_t *msg, cr_engine_done_cb done, void *arg)
{
    sq_engine_t *e = (sq_engine_t *)base;
    /* The id is taken now, so that ids follow publish order even while commits run. */
    msg->id = cr_msgid_next(ch->last_id, (uint64_t)msg->time_ms);
    ch->last_id = msg->id;
    ch->published++;
    ch->last_publish_ms = msg->time_ms;
    msg->store_key = e->next_key++;
    op_t *o = op_new(e, OP_MSG, done, arg);
    o->name = cr_bytes_ref(ch->name);
    o->msg = cr_msg_ref(msg);
    o->created = ch->created_ms;
    o->new_channel = !ch->stored;
    return 0;
}

static int sq_load(cr_engine_t *base, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms,
                   cr_engine_done_cb done, void *arg)
{
    (void)after;
    /* Every retained message is in the history ring (restore reads them all back),
     * so a catch-up never waits on the disk. */
    cr_history_prune(&ch->history, now_ms, base->cfg.max_count, base->cfg.max_age_ms);
    done(arg, 0);
    return 0;
}

static void queue_mark(sq_engine_t *e, cr_channel_t *ch)
{
    op_t *o = op_new(e, OP_MARK, NULL, NULL);
    o->name = cr_bytes_ref(ch->name);
    o->evicted = ch->history.evicted_last;
    /* May be ahead of what is committed yet: harmless, ids only need to grow. */
    o->last = ch->last_id;
}

static int sq_drop(cr_engine_t *base, cr_channel_t *ch)
{
    sq_engine_t *e = (sq_engine_t *)base;
    cr_history_t *h = &ch->history;
    op_t *o = op_new(e, OP_DROP, NULL, NULL);
    o->name = cr_bytes_ref(ch->name);
    o->nkeys = h->count;
    o->keys = cr_xmalloc((h->count ? h->count : 1) * sizeof(*o->keys));
    for (size_t i = 0; i < h->count; i++)
        o->keys[i] = cr_history_at(h, i)->store_key;
    o->after = e->completed_key;
    cr_history_clear(h);
    return 0;
}

typedef struct {
    sq_engine_t *e;
    int64_t now;
    size_t queued;
} prune_ctx_t;

/* The history decides what goes (count, then age from the oldest, then each
 * message's TTL, as cr_history_prune does); the rows of what it drops are
 * collected first, to be deleted by key. */
static void prune_one(cr_channel_t *ch, void *arg)
{
    prune_ctx_t *p = arg;
    const cr_engine_config_t *cfg = &p->e->base.cfg;
    cr_history_t *h = &ch->history;
    size_t n = h->count, i = 0, before = p->e->dead.n;
    size_t over = cfg->max_count && n > cfg->max_count ? n - cfg->max_count : 0;
    for (; i < over; i++)
        key_push(&p->e->dead, cr_history_at(h, i)->store_key);
    for (; cfg->max_age_ms && i < n && cr_history_at(h, i)->time_ms + cfg->max_age_ms <= p->now; i++)
        key_push(&p->e->dead, cr_history_at(h, i)->store_key);
    for (; i < n; i++) {
        const cr_msg_t *m = cr_history_at(h, i);
        if (m->expires_ms && m->expires_ms <= p->now)
            key_push(&p->e->dead, m->store_key);
    }
    if (p->e->dead.n == before)
        return;
    cr_history_prune(h, p->now, cfg->max_count, cfg->max_age_ms);
    queue_mark(p->e, ch);
    p->queued++;
}

static int by_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (cr_bytes_t *const *)a, y = (uintptr_t) * (cr_bytes_t *const *)b;
    return x < y ? -1 : x > y;
}

static void prune_pass(sq_engine_t *e, int64_t now_ms)
{
    prune_ctx_t p = {e, now_ms, 0};
    cr_registry_foreach(e->base.reg, prune_one, &p);
    /* One mark per channel that evicted by count, however many messages it evicted. */
    if (e->nevicted)
        qsort(e->evicted, e->nevicted, sizeof(*e->evicted), by_ptr);
    for (size_t i = 0; i < e->nevicted; i++) {
        cr_bytes_t *name = e->evicted[i];
        cr_channel_t *ch = cr_registry_find(e->base.reg, name->data, name->len);
        if ((i == 0 || e->evicted[i - 1] != name) && ch && ch->name == name)
            queue_mark(e, ch);
    }
    for (size_t i = 0; i < e->nevicted; i++)
        cr_bytes_unref(e->evicted[i]);
    e->nevicted = 0;
    if (e->dead.n) {
        op_t *o = op_new(e, OP_DELETE, NULL, NULL);
        o->keys = e->dead.v;
        o->nkeys = e->dead.n;
        e->dead = (keyvec_t){NULL, 0, 0};
        op_new(e, OP_VACUUM, NULL, NULL);
    }
}

static void sq_prune(cr_engine_t *base, int64_t now_ms)
{
    prune_pass((sq_engine_t *)base, now_ms);
}

static int sq_sched_add(cr_engine_t *base, const cr_sched_item_t *it, cr_engine_done_cb done, void *arg)
{
    op_t *o = op_new((sq_engine_t *)base, OP_SCHED_ADD, done, arg);
    o->it = cr_sched_item_new(it->channels, it->content_type, it->event, it->payload, it->due_ms,
                              it->created_ms, it->ttl_ms);
    o->it->id = it->id;
    return 0;
}

static int sq_sched_del(cr_engine_t *base, uint64_t id, cr_engine_done_cb done, void *arg)
{
    op_t *o = op_new((sq_engine_t *)base, OP_SCHED_DEL, done, arg);
    o->sid = id;
    return 0;
}

static int sq_restore(cr_engine_t *base, int64_t now_ms)
{
    sq_engine_t *e = (sq_engine_t *)base;
    e->next_key = 1;
    int rc = cr_sq_restore(e->db, base->reg, base->sched, now_ms, &e->next_key);
    if (rc != SQLITE_OK)
        return status_of(rc);
    e->completed_key = e->next_key - 1;
    /* What retention dropped while the server was down goes from the disk too. */
    prune_pass(e, now_ms);
    if (pthread_create(&e->thread, NULL, writer_main, e) != 0)
        return CR_EUNAVAIL;
    e->running = 1;
    return 0;
}

static void sq_destroy(cr_engine_t *base)
{
    sq_engine_t *e = (sq_engine_t *)base;
    sq_flush(base);
    if (e->running) {
        pthread_mutex_lock(&e->mu);
        e->stopping = 1;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    } else {
        /* Never started: what was queued fails rather than vanishing. */
        for (op_t *o = e->todo.head; o; o = o->next)
            o->status = CR_EUNAVAIL;
        list_splice(&e->fin, &e->todo);
    }
    /* Answer what finished after the loop stopped listening. */
    sq_complete(base);
    for (size_t i = 0; i < e->nevicted; i++)
        cr_bytes_unref(e->evicted[i]);
    free(e->evicted);
    free(e->dead.v);
    cr_sq_stmts_finalize(&e->st);
    sqlite3_close(e->db);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* One node: the caller's own count is the whole answer. */
static int sq_subscribers(cr_engine_t *e, cr_channel_t *ch, void (*done)(void *arg, int status, size_t n),
                          void *arg)
{
    (void)e, (void)ch, (void)done, (void)arg;
    return CR_ENOTSUP;
}

static const cr_engine_ops_t sqlite_ops = {
    .name = "sqlite",
    .append = sq_append,
    .load = sq_load,
    .drop = sq_drop,
    .prune = sq_prune,
    .restore = sq_restore,
    .flush = sq_flush,
    .queued = sq_queued,
    .complete = sq_complete,
    .sched_add = sq_sched_add,
    .sched_del = sq_sched_del,
    .subscribers = sq_subscribers,
    .destroy = sq_destroy,
};

int cr_engine_sqlite_open(const cr_engine_config_t *cfg, const char *dir, int sync_full, cr_engine_t **out,
                          char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/crier.db", dir) >= (int)sizeof(path)) {
        snprintf(err, errlen, "%s: data directory path too long", dir);
        return CR_EINVAL;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int r = -errno;
        snprintf(err, errlen, "%s: cannot create the data directory: %s", dir, strerror(errno));
        return r;
    }
    sqlite3 *db = NULL;
    int rc = cr_sq_open(path, sync_full, &db, err, errlen);
    if (rc != SQLITE_OK)
        return status_of(rc) == CR_EUNAVAIL ? CR_EINVAL : status_of(rc);
    sq_engine_t *e = cr_xcalloc(1, sizeof(*e));
    e->base.ops = &sqlite_ops;
    e->base.cfg = *cfg;
    e->db = db;
    rc = cr_sq_stmts_prepare(db, &e->st);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        cr_sq_stmts_finalize(&e->st);
        sqlite3_close(db);
        free(e);
        return CR_EINVAL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    list_init(&e->todo);
    list_init(&e->fin);
    list_init(&e->turn);
    *out = &e->base;
    return 0;
}
