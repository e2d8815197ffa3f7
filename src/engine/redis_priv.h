/* Inside the Redis cluster engine: its shards (two connections each: commands and
 * pub/sub), the channels this node follows on Redis, and the publishes waiting for
 * their answer. Shared by redis.c (engine ops, channel sync) and redis_shard.c
 * (connections, reconnection, scripts). Not for other layers.
 * SPDX-License-Identifier: MIT */
#ifndef CR_ENGINE_REDIS_PRIV_H
#define CR_ENGINE_REDIS_PRIV_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "engine/engine.h"
#include "engine/redis_url.h"

typedef struct rd_engine rd_engine_t;

typedef struct rd_shard {
    rd_engine_t *e;
    size_t idx;
    cr_redis_url_t url;
    redisAsyncContext *cmd, *sub; /* NULL while not connected */
    int cmd_ok, sub_ok;           /* their connect callbacks said yes */
    int up;                       /* both connected: publishes and loads may go */
    int64_t retry_at_ms, backoff_ms;
    int64_t heartbeat_ms; /* when the subscriber counts were last written */
    int said_down;        /* logged once per outage */
} rd_shard_t;

/* Where a followed channel stands with Redis. SUBSCRIBING: SUBSCRIBE sent; SYNCING:
 * subscribed, stream read sent (notices are queued meanwhile); LIVE: notices go straight
 * to history and fan-out; DOWN: the shard's connection is gone (resynced when back);
 * UNSUBSCRIBING: no local subscriber left, UNSUBSCRIBE sent. */
typedef enum { RC_SUBSCRIBING, RC_SYNCING, RC_LIVE, RC_DOWN, RC_UNSUBSCRIBING } rd_state_t;

typedef struct rd_load {
    cr_engine_done_cb done;
    void *arg;
} rd_load_t;

typedef struct rd_chan {
    struct rd_chan *next;
    cr_bytes_t *name;
    rd_shard_t *shard;
    rd_state_t state;
    int rebuild;  /* the next sync replaces the local history (it may be stale) */
    uint64_t gen; /* bumped when the state resets: late replies are recognised */
    cr_msg_t **queued;
    size_t nqueued, capq;
    rd_load_t *loads;
    size_t nloads, capl;
} rd_chan_t;

/* One append, from its EVALSHA to its done callback. */
typedef struct rd_pend {
    struct rd_pend *next;
    rd_engine_t *e;
    cr_bytes_t *name;
    cr_msg_t *msg;
    cr_engine_done_cb done;
    void *arg;
    int replied, complete, status;
} rd_pend_t;

enum { RD_SCRIPT_PUBLISH, RD_SCRIPT_SYNC, RD_SCRIPT_COUNT, RD_SCRIPT_BEAT, RD_SCRIPT_DELETE, RD_SCRIPT_N };

struct rd_engine {
    cr_engine_t base;
    rd_shard_t *shards;
    size_t nshards;
    char node[128];
    int (*attach)(void *loop, redisAsyncContext *ac);
    void *loop;
    rd_chan_t **buckets;
    size_t nbuckets, nchans;
    rd_pend_t *head, *tail; /* appends in issue order: done is called in that order */
    int running_fifo;
    int destroying;
    int64_t now_ms; /* time of the last prune tick */
    char sha[RD_SCRIPT_N][41];
};

#define RD_PREFIX "crier:"
#define RD_COUNT_TTL_MS 5000 /* a node silent this long no longer counts */

/* redis_shard.c */
extern const char *const cr__rd_scripts[RD_SCRIPT_N];
void cr__rd_shard_connect(rd_shard_t *sh);
void cr__rd_shard_tick(rd_shard_t *sh, int64_t now_ms);
void cr__rd_shard_free(rd_shard_t *sh);
/* Writes this node's subscriber count for every channel of the shard (full: replace all). */
void cr__rd_shard_beat(rd_shard_t *sh);
/* Writes one channel's count now (a subscriber arrived: other nodes see it at once), then calls
 * done (if not NULL) once Redis has it, or at once when the shard is down. */
void cr__rd_count_put(rd_shard_t *sh, const cr_bytes_t *name, size_t n, cr_engine_done_cb done, void *arg);
/* The SHA-1 of a script as EVALSHA wants it (40 hex digits and a NUL). */
void cr__rd_sha1_hex(const char *s, char out[41]);

/* redis_follow.c */
rd_chan_t *cr__rd_chan_find(rd_engine_t *e, const char *name, size_t len);
rd_chan_t *cr__rd_chan_new(rd_engine_t *e, cr_bytes_t *name, rd_shard_t *sh);
/* Unlinks and frees c; appends of its channel still waiting complete (run_fifo answers them). */
void cr__rd_chan_free(rd_engine_t *e, rd_chan_t *c);
void cr__rd_chan_add_load(rd_chan_t *c, cr_engine_done_cb done, void *arg);
/* Sends SUBSCRIBE; the confirmation starts the stream read. */
void cr__rd_chan_subscribe(rd_chan_t *c);
/* "crier:p:<name>" into out (CR_CHANNEL_NAME_MAX + 16 bytes). */
void cr__rd_pubsub_name(const cr_bytes_t *name, char *out);
void cr__rd_on_sub_reply(redisAsyncContext *ac, void *reply, void *priv);
/* Calls done for the complete appends at the head of the queue, in issue order. */
void cr__rd_run_fifo(rd_engine_t *e);
/* Marks stored appends on name complete: those with id <= upto, or all of them. */
void cr__rd_complete_pends(rd_engine_t *e, const cr_bytes_t *name, cr_msgid_t upto, int all);
/* Puts m into ch's history if newer than its last id (and fans it out if asked). */
void cr__rd_take(rd_engine_t *e, cr_channel_t *ch, cr_msg_t *m, int fanout);
cr_channel_t *cr__rd_channel_of(rd_engine_t *e, const cr_bytes_t *name);
/* A string or status reply as a span; -1 for anything else (or no reply). */
int cr__rd_reply_str(const redisReply *r, cr_span_t *out);

/* redis_follow.c, called by redis_shard.c */
void cr__rd_shard_up(rd_shard_t *sh);
void cr__rd_shard_down(rd_shard_t *sh);
/* A reply on a shard's pub/sub connection (subscribe, unsubscribe or message). */
void cr__rd_sub_reply(rd_shard_t *sh, redisReply *r);

#endif
