/* Growable output buffer.
 * SPDX-License-Identifier: MIT */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cr_buf_reserve(cr_buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra)
        cap *= 2;
    b->data = cr_xrealloc(b->data, cap);
    b->cap = cap;
}

void cr_buf_append(cr_buf_t *b, const void *data, size_t len)
{
    if (!len)
        return;
    cr_buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void cr_buf_puts(cr_buf_t *b, const char *s)
{
    cr_buf_append(b, s, strlen(s));
}

void cr_buf_putc(cr_buf_t *b, char c)
{
    cr_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

void cr_buf_printf(cr_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        cr_buf_append(b, small, (size_t)n);
        return;
    }
    cr_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cr_buf_free(cr_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

cr_bytes_t *cr_buf_to_bytes(cr_buf_t *b)
{
    cr_bytes_t *out = cr_bytes_copy(b->data, b->len);
    b->len = 0;
    return out;
}
