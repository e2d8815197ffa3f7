/* libFuzzer target for the small parsers of request header and parameter values
 * that come straight from clients: X-Delay / ?delay= and X-At / ?at= (scheduled
 * pushes), If-Modified-Since dates, message ids, and client ids (/pub/@id).
 * Checks: only the documented return codes, values in range, and each value
 * written back by its formatter parses to the same thing.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clients.h"
#include "core/err.h"
#include "core/msg.h"
#include "core/sched.h"
#include "proto/http1_write.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1); /* exactly sized so ASan sees a read past the end */
    memcpy(s, data, size);

    int64_t ms = -1;
    int r = cr_sched_parse_delay(s, size, &ms);
    check(r == 0 || r == CR_EPARAM);
    if (r == 0)
        check(ms >= 0);

    r = cr_sched_parse_at(s, size, &ms);
    check(r == 0 || r == CR_EPARAM);
    if (r == 0 && ms >= 0 && ms < 253402300800000LL) { /* before year 10000: RFC 3339 can say it */
        char buf[40];
        size_t n = cr_sched_format_rfc3339(ms, buf);
        int64_t again = -1;
        check(n < sizeof(buf) && cr_sched_parse_at(buf, n, &again) == 0 && again == ms);
    }

    int64_t t = -1;
    r = cr_http1_date_parse(s, size, &t);
    check(r == 0 || r == CR_EPARAM);
    if (r == 0 && t >= 0 && t < 253402300800LL) {
        cr_buf_t b = CR_BUF_INIT;
        cr_http1_date(&b, t);
        int64_t again = -1;
        check(cr_http1_date_parse(b.data, b.len, &again) == 0 && again == t);
        cr_buf_free(&b);
    }

    cr_msgid_t id;
    r = cr_msgid_parse(s, size, &id);
    check(r == 0 || r == CR_ECURSOR);
    if (r == 0) {
        char buf[CR_MSGID_MAX_LEN];
        size_t n = cr_msgid_format(id, buf);
        cr_msgid_t again;
        check(cr_msgid_parse(buf, n, &again) == 0 && cr_msgid_cmp(id, again) == 0);
    }

    uint64_t client = 0;
    r = cr_client_id_parse(s, size, &client);
    check(r == 0 || r == CR_ENOTFOUND);
    if (r == 0)
        check(client != 0);
    free(s);
    return 0;
}
