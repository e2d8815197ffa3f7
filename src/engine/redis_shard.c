/* One Redis server of the cluster engine: its two connections (commands, and
 * pub/sub, which Redis dedicates to SUBSCRIBE once used), connecting and
 * reconnecting with backoff, the Lua scripts every publish and resync runs, and the
 * node's subscriber counts kept on the server. Nothing here blocks: hiredis runs
 * on the owner's loop through the attach hook.
 * SPDX-License-Identifier: MIT */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/redis_priv.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 4000
#define BEAT_MS 1000

/* KEYS: stream, creation key. ARGV: max count (0: none), max age ms (0: none), pub/sub
 * channel, time, expires, content type, event, payload. XADD and PUBLISH in one script:
 * every node sees the notices in id order, whichever node published. */
static const char script_publish[] =
    "local id\n"
    "if ARGV[1] ~= '0' then\n"
    "  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[4], 'x', ARGV[5],"
    " 'c', ARGV[6], 'e', ARGV[7], 'd', ARGV[8])\n"
    "else\n"
    "  id = redis.call('XADD', KEYS[1], '*', 't', ARGV[4], 'x', ARGV[5], 'c', ARGV[6], 'e', ARGV[7],"
    " 'd', ARGV[8])\n"
    "end\n"
    "local ms = tonumber(string.match(id, '^(%d+)'))\n"
    "redis.call('SET', KEYS[2], string.format('%d', ms), 'NX')\n"
    "if ARGV[2] ~= '0' then\n"
    "  local age = tonumber(ARGV[2])\n"
    "  redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', ms - age))\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[3], id .. '\\n' .. ARGV[4] .. '\\n' .. ARGV[5] .. '\\n' .. #ARGV[6] .. '\\n' "
    ".."
    " #ARGV[7] .. '\\n' .. ARGV[6] .. ARGV[7] .. ARGV[8])\n"
    "return id\n";

/* KEYS: stream, creation key. ARGV: after ("": the newest entries, newest first), count.
 * Returns {created ms, max deleted id, entries}. */
static const char script_sync[] =
    "local created = redis.call('GET', KEYS[2]) or '0'\n"
    "local maxdel = '0-0'\n"
    "local entries = {}\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  local info = redis.call('XINFO', 'STREAM', KEYS[1])\n"
    "  for i = 1, #info, 2 do if info[i] == 'max-deleted-entry-id' then maxdel = info[i + 1] end end\n"
    "  if ARGV[1] ~= '' then\n"
    "    entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')\n"
    "  elseif ARGV[2] ~= '0' then\n"
    "    entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])\n"
    "  else\n"
    "    entries = redis.call('XREVRANGE', KEYS[1], '+', '-')\n"
    "  end\n"
    "end\n"
    "return {created, maxdel, entries}\n";

/* KEYS: the node set. ARGV: channel, prefix, this node, staleness ms. The subscribers of
 * the channel on every other live node. */
static const char script_count[] = "local t = redis.call('TIME')\n"
                                   "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
                                   "local nodes = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%d', "
                                   "now - tonumber(ARGV[4])), '+inf')\n"
                                   "local sum = 0\n"
                                   "for _, n in ipairs(nodes) do\n"
                                   "  if n ~= ARGV[3] then sum = sum + tonumber(redis.call('HGET', ARGV[2] "
                                   ".. 'n:' .. n, ARGV[1]) or '0') end\n"
                                   "end\n"
                                   "return sum\n";

/* KEYS: this node's count hash, the node set. ARGV: node, ttl ms, full ('1': replace the
 * hash), then channel/count pairs (count 0 removes the field). */
static const char script_beat[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end\n"
    "for i = 4, #ARGV - 1, 2 do\n"
    "  if ARGV[i + 1] == '0' then redis.call('HDEL', KEYS[1], ARGV[i])\n"
    "  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "redis.call('ZADD', KEYS[2], string.format('%d', now), ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now - 3600000))\n"
    "return 1\n";

/* KEYS: stream, creation key. ARGV: pub/sub channel. Other nodes following it are told. */
static const char script_delete[] = "redis.call('DEL', KEYS[1], KEYS[2])\n"
                                    "redis.call('PUBLISH', ARGV[1], 'deleted')\n"
                                    "return 1\n";

const char *const cr__rd_scripts[RD_SCRIPT_N] = {script_publish, script_sync, script_count, script_beat,
                                                 script_delete};

static void log_reply_error(rd_shard_t *sh, const char *what, redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "crier: redis %s:%d: %s: %s\n", sh->url.host, sh->url.port, what, r->str);
}

/* AUTH, SELECT and SCRIPT LOAD answers: an error there makes the connection useless. */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    rd_shard_t *sh = ac->data;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ERROR || sh->e->destroying)
        return;
    log_reply_error(sh, (const char *)priv, r);
    /* Both connections go (this one once its callback returns); retried with backoff. */
    cr__rd_shard_down(sh);
}

static void setup(rd_shard_t *sh, redisAsyncContext *ac, int scripts)
{
    const cr_redis_url_t *u = &sh->url;
    if (u->pass[0] && u->user[0])
        redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s %s", u->user, u->pass);
    else if (u->pass[0])
        redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s", u->pass);
    if (u->db)
        redisAsyncCommand(ac, on_setup_reply, "SELECT", "SELECT %d", u->db);
    /* Named, so that an operator (or a test) can tell the nodes' connections apart in CLIENT LIST. */
    redisAsyncCommand(ac, on_setup_reply, "CLIENT SETNAME", "CLIENT SETNAME crier:%s:%s", sh->e->node,
                      scripts ? "cmd" : "sub");
    /* Pipelined ahead of anything else: an EVALSHA never meets a server that lacks its script,
     * even right after that server restarted empty. */
    for (int i = 0; scripts && i < RD_SCRIPT_N; i++)
        redisAsyncCommand(ac, on_setup_reply, "SCRIPT LOAD", "SCRIPT LOAD %s", cr__rd_scripts[i]);
}

static void lost(rd_shard_t *sh, const redisAsyncContext *ac)
{
    if (ac == sh->cmd)
        sh->cmd = NULL, sh->cmd_ok = 0;
    if (ac == sh->sub)
        sh->sub = NULL, sh->sub_ok = 0;
    if (sh->e->destroying)
        return;
    if (!sh->said_down) {
        fprintf(stderr, "crier: redis %s:%d unreachable (%s): retrying\n", sh->url.host, sh->url.port,
                ac->errstr ? ac->errstr : "closed");
        sh->said_down = 1;
    }
    cr__rd_shard_down(sh);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rd_shard_t *sh = ac->data;
    if (status != REDIS_OK) {
        lost(sh, ac); /* hiredis frees the context after this callback */
        return;
    }
    if (ac == sh->cmd)
        sh->cmd_ok = 1;
    else
        sh->sub_ok = 1;
    if (sh->cmd_ok && sh->sub_ok && !sh->up) {
        sh->up = 1;
        sh->backoff_ms = 0;
        sh->said_down = 0;
        fprintf(stderr, "crier: redis %s:%d connected\n", sh->url.host, sh->url.port);
        cr__rd_shard_up(sh);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    lost(ac->data, ac);
}

static redisAsyncContext *open_one(rd_shard_t *sh, int scripts)
{
    redisAsyncContext *ac = redisAsyncConnect(sh->url.host, sh->url.port);
    if (!ac)
        return NULL;
    if (ac->err) {
        if (!sh->said_down) {
            fprintf(stderr, "crier: redis %s:%d: %s: retrying\n", sh->url.host, sh->url.port, ac->errstr);
            sh->said_down = 1;
        }
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = sh;
    if (sh->e->attach(sh->e->loop, ac) < 0) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    setup(sh, ac, scripts);
    return ac;
}

void cr__rd_shard_connect(rd_shard_t *sh)
{
    sh->cmd = open_one(sh, 1);
    sh->sub = sh->cmd ? open_one(sh, 0) : NULL;
    if (!sh->cmd || !sh->sub) {
        if (sh->cmd)
            redisAsyncFree(sh->cmd);
        sh->cmd = NULL;
        sh->retry_at_ms = sh->e->now_ms + BACKOFF_MIN_MS;
    }
}

void cr__rd_shard_tick(rd_shard_t *sh, int64_t now_ms)
{
    if (sh->up) {
        if (now_ms - sh->heartbeat_ms >= BEAT_MS)
            cr__rd_shard_beat(sh);
        return;
    }
    if (sh->cmd || sh->sub || now_ms < sh->retry_at_ms)
        return;
    sh->backoff_ms = sh->backoff_ms ? sh->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (sh->backoff_ms > BACKOFF_MAX_MS)
        sh->backoff_ms = BACKOFF_MAX_MS;
    sh->retry_at_ms = now_ms + sh->backoff_ms;
    cr__rd_shard_connect(sh);
}

void cr__rd_shard_free(rd_shard_t *sh)
{
    if (sh->cmd)
        redisAsyncFree(sh->cmd);
    if (sh->sub)
        redisAsyncFree(sh->sub);
    sh->cmd = sh->sub = NULL;
}

/* --- subscriber counts ------------------------------------------------------------------------------ */

typedef struct beat {
    rd_shard_t *sh;
    const char **argv;
    size_t *lens;
    char (*nums)[24];
    size_t argc, cap;
} beat_t;

static void beat_push(beat_t *b, const char *s, size_t len)
{
    if (b->argc == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->argv = cr_xrealloc(b->argv, b->cap * sizeof(*b->argv));
        b->lens = cr_xrealloc(b->lens, b->cap * sizeof(*b->lens));
        b->nums = cr_xrealloc(b->nums, b->cap * sizeof(*b->nums));
    }
    b->argv[b->argc] = s;
    b->lens[b->argc++] = len;
}

/* Numbers live in b->nums, which may move as it grows: they are pointed at only once
 * every argument is in. */
static void beat_push_num(beat_t *b, size_t n)
{
    beat_push(b, NULL, 0);
    b->lens[b->argc - 1] = (size_t)snprintf(b->nums[b->argc - 1], 24, "%zu", n);
}

static int beat_send(beat_t *b, redisCallbackFn *cb, void *arg)
{
    for (size_t i = 0; i < b->argc; i++)
        if (!b->argv[i])
            b->argv[i] = b->nums[i];
    int r = redisAsyncCommandArgv(b->sh->cmd, cb, arg, (int)b->argc, b->argv, b->lens);
    free(b->argv);
    free(b->lens);
    free(b->nums);
    return r == REDIS_OK ? 0 : -1;
}

static void beat_begin(beat_t *b, rd_shard_t *sh, char *hash, size_t hcap, int full)
{
    memset(b, 0, sizeof(*b));
    b->sh = sh;
    snprintf(hash, hcap, RD_PREFIX "n:%s", sh->e->node);
    beat_push(b, "EVALSHA", 7);
    beat_push(b, sh->e->sha[RD_SCRIPT_BEAT], 40);
    beat_push(b, "2", 1);
    beat_push(b, hash, strlen(hash));
    beat_push(b, RD_PREFIX "nodes", sizeof(RD_PREFIX "nodes") - 1);
    beat_push(b, sh->e->node, strlen(sh->e->node));
    beat_push_num(b, RD_COUNT_TTL_MS);
    beat_push(b, full ? "1" : "0", 1);
}

static void beat_one(cr_channel_t *ch, void *arg)
{
    beat_t *b = arg;
    if (!ch->nsubs || cr_redis_shard(ch->name->data, ch->name->len, b->sh->e->nshards) != b->sh->idx)
        return;
    beat_push(b, ch->name->data, ch->name->len);
    beat_push_num(b, ch->nsubs);
}

void cr__rd_shard_beat(rd_shard_t *sh)
{
    char hash[200];
    beat_t b;
    sh->heartbeat_ms = sh->e->now_ms;
    beat_begin(&b, sh, hash, sizeof(hash), 1);
    cr_registry_foreach(sh->e->base.reg, beat_one, &b);
    beat_send(&b, NULL, NULL);
}

typedef struct count_put {
    rd_engine_t *e;
    cr_engine_done_cb done;
    void *arg;
} count_put_t;

static void on_count_put(redisAsyncContext *ac, void *reply, void *priv)
{
    count_put_t *q = priv;
    /* Without an answer the count is rewritten by the next beat: the subscriber goes on anyway. */
    if (!q->e->destroying)
        q->done(q->arg, 0);
    free(q);
}

void cr__rd_count_put(rd_shard_t *sh, const cr_bytes_t *name, size_t n, cr_engine_done_cb done, void *arg)
{
    if (!sh->up) {
        if (done)
            done(arg, 0);
        return;
    }
    char hash[200];
    beat_t b;
    beat_begin(&b, sh, hash, sizeof(hash), 0);
    beat_push(&b, name->data, name->len);
    beat_push_num(&b, n);
    count_put_t *q = NULL;
    if (done) {
        q = cr_xcalloc(1, sizeof(*q));
        *q = (count_put_t){sh->e, done, arg};
    }
    if (beat_send(&b, done ? on_count_put : NULL, q) < 0 && done) {
        free(q);
        done(arg, 0);
    }
}

void cr__rd_sha1_hex(const char *s, char out[41])
{
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}
