/* JSON string escaping, base64, UTF-8 validation.
 * SPDX-License-Identifier: MIT */
#include "proto/json_out.h"

#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int cr_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

void cr_json_string(cr_buf_t *out, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    cr_buf_reserve(out, len + 2);
    cr_buf_putc(out, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (!n) {
                cr_buf_puts(out, "\\ufffd");
                i++;
            } else if (n == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
                cr_buf_puts(out, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
                i += 3;
            } else {
                cr_buf_append(out, s + i, n);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"':
            cr_buf_puts(out, "\\\"");
            break;
        case '\\':
            cr_buf_puts(out, "\\\\");
            break;
        case '\n':
            cr_buf_puts(out, "\\n");
            break;
        case '\r':
            cr_buf_puts(out, "\\r");
            break;
        case '\t':
            cr_buf_puts(out, "\\t");
            break;
        case '<':
        case '>':
        case '&':
            cr_buf_puts(out, "\\u00");
            cr_buf_putc(out, hex[c >> 4]);
            cr_buf_putc(out, hex[c & 15]);
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                cr_buf_puts(out, "\\u00");
                cr_buf_putc(out, hex[c >> 4]);
                cr_buf_putc(out, hex[c & 15]);
            } else {
                cr_buf_putc(out, (char)c);
            }
        }
        i++;
    }
    cr_buf_putc(out, '"');
}

void cr_base64(cr_buf_t *out, const unsigned char *s, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    cr_buf_reserve(out, (len + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
        cr_buf_append(out, q, 4);
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], i + 1 < len ? tbl[(v >> 6) & 63] : '=', '='};
        cr_buf_append(out, q, 4);
    }
}
