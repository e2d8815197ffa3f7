/* libFuzzer target for what a subscriber sends to say where it resumes and on
 * what: ?since= / Last-Event-ID values (ids, compound cursors, durations, unix
 * times, "all"), durations alone, and channel lists. Byte 0 gives the number of
 * channels (mod 9) and the list limit; the rest is the value. Checks: results
 * stay in bounds, a parsed cursor formats back to a value that parses to the
 * same ids, and every listed channel name is valid and inside the input.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "core/cursor.h"
#include "core/err.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nch = data[0] % 9, max = (data[0] >> 4) + 1;
    size_t len = size - 1;
    char *s = malloc(len ? len : 1); /* exactly sized so ASan sees a read past the end */
    memcpy(s, data + 1, len);

    cr_since_t since;
    cr_msgid_t ids[9], again[9];
    int r = cr_since_parse(s, len, 1700000000000, nch, &since, ids);
    check(r == 0 || r == CR_ECURSOR);
    if (r == 0 && since.kind == CR_SINCE_ID) {
        cr_buf_t out = CR_BUF_INIT;
        cr_cursor_format(ids, nch, &out);
        cr_since_t since2;
        check(cr_since_parse(out.data, out.len, 1700000000000, nch, &since2, again) == 0);
        check(since2.kind == CR_SINCE_ID);
        for (size_t i = 0; i < nch; i++)
            check(cr_msgid_cmp(ids[i], again[i]) == 0);
        cr_buf_free(&out);
    }
    if (r == 0 && since.kind == CR_SINCE_TIME)
        check(since.time_ms >= 0);

    int64_t ms = -1;
    int d = cr_duration_parse(s, len, &ms);
    check(d == 0 || d == CR_EPARAM);
    if (d == 0)
        check(ms >= 0);

    cr_span_t names[16];
    int n = cr_channel_list_parse((cr_span_t){s, len}, names, max);
    check(n > 0 || n == CR_ECHANNEL || n == CR_ETOOMANYCH);
    for (int i = 0; i < n; i++) {
        check((size_t)n <= max);
        check(names[i].ptr >= s && names[i].ptr + names[i].len <= s + len);
        check(cr_channel_name_valid(names[i].ptr, names[i].len));
    }
    free(s);
    return 0;
}
