/* SSE field and event encoding.
 * SPDX-License-Identifier: MIT */
#include "proto/sse.h"

static void put_clean(cr_buf_t *out, const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (v[i] != '\r' && v[i] != '\n' && v[i] != '\0')
            cr_buf_putc(out, v[i]);
}

void cr_sse_field(cr_buf_t *out, const char *name, const char *value, size_t len)
{
    cr_buf_puts(out, name);
    cr_buf_append(out, ": ", 2);
    put_clean(out, value, len);
    cr_buf_putc(out, '\n');
}

void cr_sse_comment(cr_buf_t *out, const char *text, size_t len)
{
    cr_buf_append(out, ": ", 2);
    put_clean(out, text, len);
    cr_buf_putc(out, '\n');
}

void cr_sse_body(cr_buf_t *out, const char *event, size_t event_len, const char *data, size_t data_len)
{
    if (event_len)
        cr_sse_field(out, "event", event, event_len);
    cr_buf_reserve(out, data_len + 8);
    size_t start = 0;
    for (size_t i = 0; i <= data_len; i++) {
        if (i < data_len && data[i] != '\r' && data[i] != '\n')
            continue;
        /* "data: " always has its space, so a line starting with a space keeps it. */
        cr_buf_append(out, "data: ", 6);
        cr_buf_append(out, data + start, i - start);
        cr_buf_putc(out, '\n');
        if (i < data_len && data[i] == '\r' && i + 1 < data_len && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
}
