/* Redis URLs and shard choice for the cluster engine: pure string work, no I/O,
 * so that every bad --redis value is refused with a reason before anything connects.
 * SPDX-License-Identifier: MIT */
#ifndef CR_ENGINE_REDIS_URL_H
#define CR_ENGINE_REDIS_URL_H

#include <stddef.h>
#include <stdint.h>

#define CR_REDIS_MAX_SHARDS 64

typedef struct cr_redis_url {
    char host[256];
    int port;       /* default 6379 */
    int db;         /* SELECT this database when not 0 */
    char user[128]; /* ACL user name; "" for plain AUTH */
    char pass[256]; /* "" : no AUTH */
    int tls;        /* rediss:// */
} cr_redis_url_t;

/* Parses one "redis://[[user]:pass@]host[:port][/db]" (or rediss:// for TLS; an IPv6 host in
 * brackets). Returns 0, or CR_EPARAM with a reason in *why. */
int cr_redis_url_parse(const char *s, size_t len, cr_redis_url_t *out, const char **why);
/* Parses a comma-separated list into out[0..max). Returns the count (>= 1) or CR_EPARAM with
 * *why set (an empty entry, a bad URL, more than max, or the same server twice). */
int cr_redis_urls_parse(const char *list, cr_redis_url_t *out, size_t max, const char **why);
/* The shard that holds channel name[0..len): 32-bit FNV-1a of the name, modulo nshards. Stable
 * across nodes and restarts as long as every node lists the same URLs in the same order. */
size_t cr_redis_shard(const char *name, size_t len, size_t nshards);

#endif
