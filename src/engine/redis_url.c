/* Redis URL parsing and the channel -> shard hash.
 * SPDX-License-Identifier: MIT */
#include "engine/redis_url.h"

#include <string.h>

#include "core/err.h"

static int parse_uint(const char *s, size_t len, long max, long *out)
{
    long v = 0;
    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int copy(char *dst, size_t cap, const char *s, size_t len)
{
    /* A NUL inside would cut the field short unseen (found by fuzz_redis). */
    if (len >= cap || memchr(s, '\0', len))
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

int cr_redis_url_parse(const char *s, size_t len, cr_redis_url_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    const char *end = s + len;
    if (len >= 8 && !memcmp(s, "redis://", 8)) {
        s += 8;
    } else if (len >= 9 && !memcmp(s, "rediss://", 9)) {
        s += 9;
        out->tls = 1;
    } else {
        *why = "a Redis URL starts with redis:// or rediss://";
        return CR_EPARAM;
    }
    /* The password may hold ':' or '/', so the last '@' before the path ends the user info. */
    const char *path = memchr(s, '/', (size_t)(end - s));
    const char *auth_end = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@')
            auth_end = p;
    if (auth_end) {
        const char *colon = memchr(s, ':', (size_t)(auth_end - s));
        if (!colon) {
            *why = "Redis URL credentials are [user]:password@";
            return CR_EPARAM;
        }
        if (copy(out->user, sizeof(out->user), s, (size_t)(colon - s)) < 0 ||
            copy(out->pass, sizeof(out->pass), colon + 1, (size_t)(auth_end - colon - 1)) < 0) {
            *why = "Redis URL user or password too long";
            return CR_EPARAM;
        }
        s = auth_end + 1;
        path = memchr(s, '/', (size_t)(end - s));
    }
    const char *hp_end = path ? path : end;
    const char *port = NULL;
    if (s < hp_end && *s == '[') {
        const char *rb = memchr(s, ']', (size_t)(hp_end - s));
        if (!rb || copy(out->host, sizeof(out->host), s + 1, (size_t)(rb - s - 1)) < 0 || rb == s + 1) {
            *why = "bad IPv6 host in a Redis URL";
            return CR_EPARAM;
        }
        if (rb + 1 < hp_end) {
            if (rb[1] != ':') {
                *why = "bad IPv6 host in a Redis URL";
                return CR_EPARAM;
            }
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', (size_t)(hp_end - s));
        const char *h_end = colon ? colon : hp_end;
        if (h_end == s || copy(out->host, sizeof(out->host), s, (size_t)(h_end - s)) < 0) {
            *why = "a Redis URL needs a host";
            return CR_EPARAM;
        }
        if (colon)
            port = colon + 1;
    }
    long v;
    if (port) {
        if (parse_uint(port, (size_t)(hp_end - port), 65535, &v) < 0 || v == 0) {
            *why = "a Redis URL port is 1-65535";
            return CR_EPARAM;
        }
        out->port = (int)v;
    }
    if (path && path + 1 < end) {
        if (parse_uint(path + 1, (size_t)(end - path - 1), 1 << 20, &v) < 0) {
            *why = "a Redis URL path is a database number";
            return CR_EPARAM;
        }
        out->db = (int)v;
    }
    for (const char *p = out->host; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ',' || *p == '@' || *p == '/') {
            *why = "bad character in a Redis URL host";
            return CR_EPARAM;
        }
    return 0;
}

int cr_redis_urls_parse(const char *list, cr_redis_url_t *out, size_t max, const char **why)
{
    size_t n = 0;
    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0) {
            *why = "empty entry in the Redis URL list";
            return CR_EPARAM;
        }
        if (n == max) {
            *why = "too many Redis URLs (at most 64)";
            return CR_EPARAM;
        }
        if (cr_redis_url_parse(s, len, &out[n], why) < 0)
            return CR_EPARAM;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(out[i].host, out[n].host) && out[i].port == out[n].port && out[i].db == out[n].db) {
                *why = "the same Redis server and database is listed twice";
                return CR_EPARAM;
            }
        n++;
        if (!comma)
            break;
        s = comma + 1;
    }
    return (int)n;
}

size_t cr_redis_shard(const char *name, size_t len, size_t nshards)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 16777619u;
    }
    return nshards ? h % nshards : 0;
}
