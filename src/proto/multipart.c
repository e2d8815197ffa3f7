/* MIME multipart encoding (RFC 2046 section 5.1).
 * SPDX-License-Identifier: MIT */
#include "proto/multipart.h"

#include <string.h>

size_t cr_multipart_boundary(char *out, const uint8_t *rnd)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    memcpy(out, "crier-", 6);
    n = 6;
    for (size_t i = 0; i < CR_MULTIPART_RANDOM; i++) {
        out[n++] = hex[rnd[i] >> 4];
        out[n++] = hex[rnd[i] & 15];
    }
    out[n] = '\0';
    return n;
}

void cr_multipart_delimiter(cr_buf_t *out, const char *boundary)
{
    cr_buf_puts(out, "\r\n--");
    cr_buf_puts(out, boundary);
    cr_buf_puts(out, "\r\n");
}

void cr_multipart_close(cr_buf_t *out, const char *boundary)
{
    cr_buf_puts(out, "\r\n--");
    cr_buf_puts(out, boundary);
    cr_buf_puts(out, "--\r\n");
}

void cr_multipart_headers(cr_buf_t *out, const cr_multipart_header_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!h[i].value)
            continue;
        cr_buf_puts(out, h[i].name);
        cr_buf_puts(out, ": ");
        for (size_t j = 0; j < h[i].len; j++) {
            char ch = h[i].value[j];
            if (ch != '\r' && ch != '\n' && ch != '\0')
                cr_buf_putc(out, ch);
        }
        cr_buf_puts(out, "\r\n");
    }
    cr_buf_puts(out, "\r\n");
}

int cr_multipart_collides(const char *data, size_t len, const char *boundary)
{
    return memmem(data, len, boundary, strlen(boundary)) != NULL;
}

int cr_multipart_type_valid(const char *s, size_t len)
{
    int slash = 0;
    if (len == 0 || len > 255)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch > 0x7e)
            return 0;
        slash |= ch == '/';
    }
    return slash;
}
