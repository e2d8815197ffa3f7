/* `crier serve`: flags to a cr_config_t, then the server's loop until a signal.
 * SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/cursor.h"
#include "net/log.h"
#include "net/redis_loop.h"
#include "net/server.h"
#include "net/worker.h"

static const char usage[] =
    "usage: crier serve [flags]\n"
    "\n"
    "Starts the push server. Every flag has an embedded default.\n"
    "\n"
    "  --listen HOST:PORT       address to listen on (default 0.0.0.0:8080)\n"
    "  --relay-listen HOST:PORT also serve the raw TCP relay (line protocol) there (default: off)\n"
    "  --data DIR               the durable store's directory (default ./crier-data)\n"
    "  --memory                 keep messages in memory only: nothing survives a restart\n"
    "  --threads N              event loops, each on its own thread with its own connections\n"
    "                           (default 0 = one per core; 1 = a single loop)\n"
    "  --redis URL[,URL...]     run as one node of a cluster on Redis (takes precedence over\n"
    "                           --data and --memory): redis://[[user]:pass@]host[:port][/db];\n"
    "                           several URLs spread channels over several servers\n"
    "  --node-id NAME           this node's name in the cluster (default host-pid-random)\n"
    "  --redis-tls              reach Redis over TLS (needs hiredis with SSL; see README)\n"
    "  --redis-tls-ca FILE      CA certificates for --redis-tls\n"
    "  --sync MODE              normal: an acknowledged message survives a crash of crier;\n"
    "                           full: it also survives a power cut (slower) (default normal)\n"
    "  --history N              messages kept per channel (default 1000; 0 = no limit)\n"
    "  --history-age DUR        oldest message kept, e.g. 24h, 30m (default 24h; 0 = no limit)\n"
    "  --channel-idle DUR       forget a channel after this long with no message retained, no\n"
    "                           publish and no subscriber (default 60s)\n"
    "  --max-ttl DUR            largest X-TTL a publisher may set (default 30d)\n"
    "  --max-body SIZE          message size limit, e.g. 1m, 64k (default 1m; larger bodies get 413)\n"
    "  --max-head SIZE          request head limit (default 16k; larger heads get 431)\n"
    "  --max-channels N         channels in one publish or subscription (default 64)\n"
    "  --max-conns N            open connections (default 1000000; more get 503)\n"
    "  --header-timeout DUR     time a client has to send a whole request (default 10s; then 408)\n"
    "  --idle-timeout DUR       keep-alive idle time between requests (default 60s)\n"
    "  --hold DUR               long-poll hold before a 204 (default 30s)\n"
    "  --heartbeat DUR          heartbeat interval on streams (default 15s)\n"
    "  --retry DUR              reconnect delay told to EventSource clients (default 3s)\n"
    "  --queue-hard SIZE        output queue per connection: cut off above this (default 8m)\n"
    "  --queue-soft SIZE        ... or above this for longer than --queue-soft-time (default 1m)\n"
    "  --queue-soft-time DUR    (default 10s)\n"
    "  --ws-ping DUR            WebSocket ping interval; a client that has not answered the last\n"
    "                           ping by the next one is closed (default 30s)\n"
    "  --ws-max-message SIZE    largest message a WebSocket client may send (default 1m; close 1009)\n"
    "  --ws-publish             WebSocket clients may publish: each message they send goes to the\n"
    "                           channels they subscribed to (default off)\n"
    "  --ws-origin LIST         allowed browser Origins, comma-separated, e.g.\n"
    "                           https://app.example.com (default any; others get 403)\n"
    "  --log-level LEVEL        error, warn, info or debug (default info)\n"
    "  -h, --help               this text\n"
    "\n"
    "DUR is a number of seconds or a number with a unit: 500ms, 90s, 15m, 2h, 1d.\n"
    "SIZE is bytes or a number with k, m or g.\n";

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return -1;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    if (*end)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_dur(const char *s, int64_t *out)
{
    return cr_duration_parse(s, strlen(s), out);
}

/* "HOST:PORT" or "[V6]:PORT" into host (an empty host means all interfaces). 0 or -1. */
static int parse_hostport(const char *s, char *host, size_t hostcap, int *port_out)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= hostcap)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        memcpy(host, s + 1, hlen - 2);
        host[hlen - 2] = '\0';
    } else {
        memcpy(host, s, hlen);
        host[hlen] = '\0';
    }
    if (!host[0])
        strcpy(host, "0.0.0.0");
    *port_out = (int)port;
    return 0;
}

static int parse_listen(const char *s, cr_config_t *cfg)
{
    return parse_hostport(s, cfg->listen_host, sizeof(cfg->listen_host), &cfg->listen_port);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int cr_cli_serve(int argc, char **argv)
{
    cr_config_t cfg;
    cr_config_defaults(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        size_t sz;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(f, "--memory")) {
            takes = 0;
            cfg.memory = 1;
        } else if (!strcmp(f, "--ws-publish")) {
            takes = 0;
            cfg.ws_publish = 1;
        } else if (!strcmp(f, "--redis-tls")) {
            takes = 0;
            cfg.redis_tls = 1;
        } else if (!v) {
            fprintf(stderr, "crier serve: %s needs a value (see crier serve --help)\n", f);
            return 2;
        } else if (!strcmp(f, "--redis")) {
            bad = !*v || strlen(v) >= sizeof(cfg.redis_urls);
            if (!bad)
                strcpy(cfg.redis_urls, v);
        } else if (!strcmp(f, "--node-id")) {
            bad = !*v || strlen(v) >= 101 || strpbrk(v, " \t\r\n") != NULL;
            if (!bad)
                strcpy(cfg.node_id, v);
        } else if (!strcmp(f, "--redis-tls-ca")) {
            bad = !*v || strlen(v) >= sizeof(cfg.redis_tls_ca);
            if (!bad)
                strcpy(cfg.redis_tls_ca, v);
        } else if (!strcmp(f, "--data")) {
            bad = !*v || strlen(v) >= sizeof(cfg.data_dir);
            if (!bad)
                strcpy(cfg.data_dir, v);
        } else if (!strcmp(f, "--sync")) {
            bad = strcmp(v, "normal") && strcmp(v, "full");
            cfg.sync_full = !strcmp(v, "full");
        } else if (!strcmp(f, "--threads")) {
            bad = parse_size(v, &sz) || sz > 256;
            cfg.threads = (unsigned)sz;
        } else if (!strcmp(f, "--listen")) {
            bad = parse_listen(v, &cfg);
        } else if (!strcmp(f, "--relay-listen")) {
            bad = parse_hostport(v, cfg.relay_host, sizeof(cfg.relay_host), &cfg.relay_port);
        } else if (!strcmp(f, "--history")) {
            bad = parse_size(v, &cfg.history_count);
        } else if (!strcmp(f, "--history-age")) {
            bad = parse_dur(v, &cfg.history_age_ms);
        } else if (!strcmp(f, "--channel-idle")) {
            bad = parse_dur(v, &cfg.channel_idle_ms) || cfg.channel_idle_ms <= 0;
        } else if (!strcmp(f, "--max-ttl")) {
            bad = parse_dur(v, &cfg.max_ttl_ms);
        } else if (!strcmp(f, "--max-body")) {
            bad = parse_size(v, &cfg.max_body) || cfg.max_body == 0 || cfg.max_body > (1u << 30);
        } else if (!strcmp(f, "--max-head")) {
            bad = parse_size(v, &cfg.max_head) || cfg.max_head < 256 || cfg.max_head > (1u << 24);
        } else if (!strcmp(f, "--max-channels")) {
            bad = parse_size(v, &cfg.max_channels) || cfg.max_channels == 0 || cfg.max_channels > 1024;
        } else if (!strcmp(f, "--max-conns")) {
            bad = parse_size(v, &cfg.max_conns) || cfg.max_conns == 0;
        } else if (!strcmp(f, "--header-timeout")) {
            bad = parse_dur(v, &cfg.header_timeout_ms) || cfg.header_timeout_ms <= 0;
        } else if (!strcmp(f, "--idle-timeout")) {
            bad = parse_dur(v, &cfg.idle_timeout_ms) || cfg.idle_timeout_ms <= 0;
        } else if (!strcmp(f, "--hold")) {
            bad = parse_dur(v, &cfg.hold_ms) || cfg.hold_ms <= 0;
        } else if (!strcmp(f, "--heartbeat")) {
            bad = parse_dur(v, &cfg.heartbeat_ms) || cfg.heartbeat_ms <= 0;
        } else if (!strcmp(f, "--retry")) {
            bad = parse_dur(v, &cfg.retry_ms);
        } else if (!strcmp(f, "--queue-hard")) {
            bad = parse_size(v, &sz) || sz < 4096;
            cfg.outq_hard = sz;
        } else if (!strcmp(f, "--queue-soft")) {
            bad = parse_size(v, &sz) || sz < 1024;
            cfg.outq_soft = sz;
        } else if (!strcmp(f, "--queue-soft-time")) {
            bad = parse_dur(v, &cfg.outq_soft_ms);
        } else if (!strcmp(f, "--ws-ping")) {
            bad = parse_dur(v, &cfg.ws_ping_ms) || cfg.ws_ping_ms <= 0;
        } else if (!strcmp(f, "--ws-max-message")) {
            bad = parse_size(v, &cfg.ws_max_message) || cfg.ws_max_message == 0 ||
                  cfg.ws_max_message > (1u << 30);
        } else if (!strcmp(f, "--ws-origin")) {
            bad = strlen(v) >= sizeof(cfg.ws_origins);
            if (!bad)
                strcpy(cfg.ws_origins, v);
        } else if (!strcmp(f, "--log-level")) {
            bad = cr_log_level_parse(v, &cr_log_level);
        } else {
            fprintf(stderr, "crier serve: unknown flag %s (see crier serve --help)\n", f);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "crier serve: bad value for %s: %s (see crier serve --help)\n", f, v);
            return 2;
        }
        i += takes;
    }
    if (cfg.outq_soft > cfg.outq_hard)
        cfg.outq_soft = cfg.outq_hard;
    int threads_asked = cfg.threads != 0;
    if (cfg.threads == 0) {
        unsigned cores = uv_available_parallelism();
        cfg.threads = cores > 256 ? 256 : cores;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    uv_loop_t *loop = uv_default_loop();
    cr_engine_config_t ecfg = {cfg.history_count, cfg.history_age_ms};
    cr_server_t *srv = cr_xcalloc(1, sizeof(*srv));
    cr_engine_t *engine = NULL;
    if (cfg.redis_urls[0]) {
        char err[512];
        cr_engine_redis_config_t rcfg = {cfg.redis_urls,   cfg.node_id,          cfg.redis_tls,
                                         cfg.redis_tls_ca, cr_redis_loop_attach, loop};
        if (cr_engine_redis_open(&ecfg, &rcfg, &engine, err, sizeof(err)) < 0) {
            fprintf(stderr, "crier serve: %s\n", err);
            free(srv);
            return 2;
        }
    } else if (cfg.memory) {
        engine = cr_engine_memory_new(&srv->reg, &ecfg);
    } else {
        char err[4200];
        int r = cr_engine_sqlite_open(&ecfg, cfg.data_dir, cfg.sync_full, &engine, err, sizeof(err));
        if (r < 0) {
            /* Never start empty over a store that could not be read. */
            cr_log(CR_LOG_ERROR, "%s", err);
            fprintf(stderr, "crier serve: cannot open the message store: %s\n", err);
            free(srv);
            return 1;
        }
    }
    cr_pool_t *pool = NULL;
    if (cfg.threads > 1 && cfg.redis_urls[0]) {
        /* A node follows a Redis channel while it has subscribers on it, which the hub alone
         * would not see: not done yet. */
        cr_log(threads_asked ? CR_LOG_WARN : CR_LOG_INFO,
               "%u event loops (%s) with --redis are not supported yet: running one", cfg.threads,
               threads_asked ? "--threads" : "one per core, the default");
        cfg.threads = 1;
    }
    if (cfg.threads > 1)
        pool = cr_pool_new(cfg.threads, engine, &engine);
    if (cr_server_init(srv, loop, &cfg, engine) < 0 || (pool && cr_pool_start(pool, srv) < 0) ||
        cr_server_listen(srv) < 0) {
        cr_server_stop(srv);
        uv_run(loop, UV_RUN_DEFAULT);
        if (pool)
            cr_pool_join(pool);
        cr_server_free(srv);
        cr_pool_free(pool);
        free(srv);
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    if (pool)
        cr_pool_join(pool);
    cr_server_free(srv);
    cr_pool_free(pool);
    free(srv);
    uv_loop_close(loop);
    cr_log(CR_LOG_INFO, "stopped");
    return 0;
}
