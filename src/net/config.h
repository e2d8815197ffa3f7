/* The server's settings, with the embedded defaults `crier serve` starts with.
 * SPDX-License-Identifier: MIT */
#ifndef CR_NET_CONFIG_H
#define CR_NET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cr_config {
    char listen_host[64];
    int listen_port;
    char relay_host[64]; /* raw TCP relay address; empty: no relay (the default) */
    int relay_port;
    size_t max_head;           /* request head limit (431 above) */
    size_t max_body;           /* message size limit (413 above) */
    size_t max_channels;       /* channels per publish or subscription */
    size_t max_conns;          /* open connections (503 above) */
    int64_t header_timeout_ms; /* time to send a complete request head */
    int64_t idle_timeout_ms;   /* keep-alive idle time between requests */
    int64_t hold_ms;           /* long-poll hold */
    int64_t heartbeat_ms;      /* SSE/stream heartbeat interval */
    int64_t retry_ms;          /* SSE retry: sent to EventSource clients */
    char data_dir[1024];       /* the durable store's directory (--data) */
    int memory;                /* 1: pure in-memory store (--memory) */
    unsigned threads;          /* event loops (--threads; net/worker.c); 0: one per core */
    int sync_full;             /* 1: synchronous=FULL (survive a power cut), 0: NORMAL */
    size_t history_count;      /* messages kept per channel */
    int64_t history_age_ms;    /* oldest message kept */
    int64_t channel_idle_ms;   /* a channel with nothing retained and nobody subscribed is forgotten */
    int64_t max_ttl_ms;        /* the largest X-TTL accepted */
    size_t outq_hard;          /* per-connection output queue: hard cap (bytes) */
    size_t outq_soft;          /* soft cap, tolerated for outq_soft_ms */
    int64_t outq_soft_ms;
    int64_t ws_ping_ms;    /* WebSocket ping interval; no pong by the next ping: closed */
    size_t ws_max_message; /* largest message a WebSocket client may send (close 1009 above) */
    int ws_publish;        /* WebSocket clients may publish to the channels they subscribed to */
    char ws_origins[1024]; /* allowed Origin values, comma-separated; "": any */

    char redis_urls[4096];   /* --redis: the cluster store's servers (one per shard); "": off */
    char node_id[128];       /* --node-id: this node's name in the cluster; "": generated */
    int redis_tls;           /* --redis-tls */
    char redis_tls_ca[1024]; /* --redis-tls-ca FILE */
} cr_config_t;

void cr_config_defaults(cr_config_t *c);

#endif
