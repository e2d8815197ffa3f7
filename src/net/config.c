/* Embedded defaults.
 * SPDX-License-Identifier: MIT */
#include "net/config.h"

#include <string.h>

void cr_config_defaults(cr_config_t *c)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->listen_host, "0.0.0.0");
    c->listen_port = 8080;
    c->threads = 0; /* one per core: cli/serve.c counts them */
    c->max_head = 16 * 1024;
    c->max_body = 1024 * 1024;
    c->max_channels = 64;
    c->max_conns = 1000000;
    c->header_timeout_ms = 10 * 1000;
    c->idle_timeout_ms = 60 * 1000;
    c->hold_ms = 30 * 1000;
    c->heartbeat_ms = 15 * 1000;
    c->retry_ms = 3000;
    strcpy(c->data_dir, "./crier-data");
    c->history_count = 1000;
    c->history_age_ms = 24LL * 3600 * 1000;
    c->channel_idle_ms = 60 * 1000;
    c->max_ttl_ms = 30LL * 86400 * 1000;
    c->outq_hard = 8 * 1024 * 1024;
    c->outq_soft = 1024 * 1024;
    c->outq_soft_ms = 10 * 1000;
    c->ws_ping_ms = 30 * 1000;
    c->ws_max_message = 1024 * 1024;
}
