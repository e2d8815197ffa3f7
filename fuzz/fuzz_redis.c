/* libFuzzer target for what crier reads back from Redis and from --redis: the
 * pub/sub notice another node sent (decoded into a message), a stream entry's
 * id and fields, and Redis URLs. Byte 0 picks the shard count; the rest is the
 * input for each parser. Checks: a decoded message holds exactly what fits in
 * the input, a parsed URL has a host and a port in range, a URL list never
 * reports more entries than it may, and the shard is always in range.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/redis_msg.h"
#include "engine/redis_url.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nshards = data[0] % CR_REDIS_MAX_SHARDS + 1;
    size_t len = size - 1;
    char *s = malloc(len + 1); /* one byte more for the NUL the list parser needs */
    memcpy(s, data + 1, len);
    s[len] = '\0';

    cr_bytes_t *ch = cr_bytes_copy("ch", 2);
    cr_msg_t *m = cr_redis_notice_decode(ch, s, len);
    if (m) {
        check(m->payload == NULL || m->payload->len <= len);
        cr_msg_unref(m);
    }
    /* The same bytes as a stream entry: the first line is the id, then field and value
     * spans split at NUL-free newlines, as hiredis would hand them over. */
    cr_span_t spans[16];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len && n < 16; i++) {
        if (i == len || s[i] == '\n') {
            spans[n++] = (cr_span_t){s + start, i - start};
            start = i + 1;
        }
    }
    if (n >= 1) {
        m = cr_redis_entry_decode(ch, spans[0], spans + 1, n - 1);
        if (m) {
            check(m->payload == NULL || m->payload->len <= len);
            cr_msg_unref(m);
        }
    }
    cr_bytes_unref(ch);

    cr_redis_url_t url;
    const char *why = NULL;
    int r = cr_redis_url_parse(s, len, &url, &why);
    check(r == 0 || (r == CR_EPARAM && why));
    if (r == 0)
        check(url.host[0] && url.port > 0 && url.port <= 65535 && url.db >= 0);
    if (!memchr(s, '\0', len)) {
        cr_redis_url_t urls[4];
        r = cr_redis_urls_parse(s, urls, 4, &why);
        check((r >= 1 && r <= 4) || (r == CR_EPARAM && why));
    }
    check(cr_redis_shard(s, len, nshards) < nshards);
    free(s);
    return 0;
}
